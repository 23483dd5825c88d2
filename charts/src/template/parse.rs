//! Lexing and parsing Go `text/template` source into a tree.
//!
//! Follows `text/template/parse`: `{{- ` and ` -}}` trim the adjoining white space,
//! `{{/* */}}` comments, pipelines with `|`, variable declarations and assignments,
//! parenthesised pipelines with field chains, and the control actions `if`, `else if`,
//! `range`, `with`, `else with`, `define`, `template`, `block`, `break`, `continue`.

use std::collections::HashMap;
use std::rc::Rc;

use crate::value::Value;

/// A position in a template: line and column (1-based, column in bytes from line start).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Pos {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub col: usize,
}

/// A parse failure, formatted as Go's: `template: NAME:LINE: message`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("template: {name}:{line}: {message}")]
pub struct ParseError {
    /// The template (file) name.
    pub name: String,
    /// The line of the failure.
    pub line: usize,
    /// What was wrong.
    pub message: String,
}

/// One argument or operand of a command.
#[derive(Clone, Debug)]
pub enum Arg {
    /// `.` itself.
    Dot,
    /// `.a.b` (a chain from dot).
    Field(Vec<String>),
    /// `$x.a.b`.
    Var(String, Vec<String>),
    /// A function name.
    Func(String),
    /// A literal.
    Lit(Value),
    /// `nil`.
    Nil,
    /// `(pipeline).a.b`.
    Sub(Box<Pipe>, Vec<String>),
}

/// One command of a pipeline: an operand or function followed by arguments.
#[derive(Clone, Debug)]
pub struct Cmd {
    /// The operands, the first one being the function or value.
    pub args: Vec<Arg>,
    /// Source text of the command, for error messages (`at <...>`).
    pub text: String,
    /// Where it starts.
    pub pos: Pos,
}

/// A pipeline, optionally declaring or assigning variables.
#[derive(Clone, Debug)]
pub struct Pipe {
    /// Variables declared (`:=`) or assigned (`=`).
    pub vars: Vec<String>,
    /// True for `=`.
    pub assign: bool,
    /// The commands, joined by `|`.
    pub cmds: Vec<Cmd>,
    /// Where it starts.
    pub pos: Pos,
}

/// A node of the tree.
#[derive(Clone, Debug)]
pub enum Node {
    /// Literal text.
    Text(Rc<str>),
    /// `{{ pipeline }}`.
    Action(Pipe),
    /// `if`/`range`/`with`.
    Branch {
        /// Which control.
        kind: BranchKind,
        /// The condition or range pipeline.
        pipe: Pipe,
        /// The body.
        list: Vec<Node>,
        /// The `else` part.
        else_list: Vec<Node>,
    },
    /// `{{ template "name" pipeline }}`.
    Template {
        /// Name called.
        name: String,
        /// The data passed.
        pipe: Option<Pipe>,
        /// Where.
        pos: Pos,
    },
    /// `{{ break }}`.
    Break,
    /// `{{ continue }}`.
    Continue,
}

/// The control actions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BranchKind {
    /// `if`.
    If,
    /// `range`.
    Range,
    /// `with`.
    With,
}

/// A parsed template: a name, its body and the file it came from.
#[derive(Clone, Debug)]
pub struct Tree {
    /// The template name.
    pub name: String,
    /// The file it was parsed from (Go's ParseName), which error positions name.
    pub file: String,
    /// The body.
    pub root: Rc<Vec<Node>>,
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Dot,
    Field(Vec<String>),
    Var(String, Vec<String>),
    Ident(String),
    Lit(Value),
    Bool(bool),
    Nil,
    LParen,
    RParen,
    FieldsAfterParen(Vec<String>),
    Pipe,
    Declare,
    Assign,
    Comma,
}

/// Parses `src` as template `name`; `define`d templates go into `defs`, the body is returned.
pub fn parse(name: &str, src: &str, defs: &mut HashMap<String, Tree>) -> Result<Tree, ParseError> {
    let mut p = Parser {
        name,
        src,
        pos: 0,
        defs,
        trim_next: false,
    };
    let (root, end) = p.list(&[])?;
    match end {
        Some(Stop::End) => return Err(p.err_at(p.pos, "unexpected {{end}}")),
        Some(Stop::Else(_)) => return Err(p.err_at(p.pos, "unexpected {{else}}")),
        None => {}
    }
    Ok(Tree {
        name: name.to_string(),
        file: name.to_string(),
        root: Rc::new(root),
    })
}

struct Parser<'a, 'd> {
    name: &'a str,
    src: &'a str,
    pos: usize,
    defs: &'d mut HashMap<String, Tree>,
    trim_next: bool,
}

/// An action read from the source: its tokens (or a keyword and tokens) and position.
struct Action {
    toks: Vec<(Tok, usize)>,
    start: usize,
    text_start: usize,
}

impl<'a, 'd> Parser<'a, 'd> {
    fn line_of(&self, off: usize) -> usize {
        self.src[..off.min(self.src.len())].matches('\n').count() + 1
    }

    fn pos_of(&self, off: usize) -> Pos {
        let off = off.min(self.src.len());
        let line_start = self.src[..off].rfind('\n').map(|i| i + 1).unwrap_or(0);
        Pos {
            line: self.line_of(off),
            col: off - line_start + 1,
        }
    }

    fn err_at(&self, off: usize, msg: &str) -> ParseError {
        ParseError {
            name: self.name.to_string(),
            line: self.line_of(off),
            message: msg.to_string(),
        }
    }

    /// Reads nodes until EOF or one of `stops` (`end`, `else`); returns the stop met
    /// (keyword and the rest of the action's tokens for `else if`).
    fn list(&mut self, stops: &[&str]) -> Result<(Vec<Node>, Option<Stop>), ParseError> {
        let mut nodes = Vec::new();
        loop {
            let rest = &self.src[self.pos..];
            let Some(open) = rest.find("{{") else {
                let mut text = rest;
                if self.trim_next {
                    text = text.trim_start_matches(is_go_space);
                }
                if !text.is_empty() {
                    nodes.push(Node::Text(text.into()));
                }
                self.pos = self.src.len();
                if !stops.is_empty() {
                    return Err(self.err_at(self.pos, "unexpected EOF"));
                }
                return Ok((nodes, None));
            };
            let mut text = &rest[..open];
            let after = &rest[open + 2..];
            let trim_left = after.starts_with("- ")
                || after.starts_with("-\t")
                || after.starts_with("-\n")
                || after.starts_with("-\r");
            if self.trim_next {
                text = text.trim_start_matches(is_go_space);
            }
            if trim_left {
                text = text.trim_end_matches(is_go_space);
            }
            if !text.is_empty() {
                nodes.push(Node::Text(text.into()));
            }
            let action_start = self.pos + open;
            self.pos = action_start + 2 + if trim_left { 2 } else { 0 };
            // Comments.
            let inner = &self.src[self.pos..];
            let ws = inner.len() - inner.trim_start_matches(is_go_space).len();
            if inner[ws..].starts_with("/*") {
                let Some(close) = inner.find("*/") else {
                    return Err(self.err_at(action_start, "unclosed comment"));
                };
                let after_c = &inner[close + 2..];
                let (trim_r, skip) = if let Some(r) = after_c.strip_prefix(" -}}") {
                    let _ = r;
                    (true, 4)
                } else if after_c.starts_with("}}") {
                    (false, 2)
                } else {
                    return Err(self.err_at(action_start, "comment ends before closing delimiter"));
                };
                self.pos += close + 2 + skip;
                self.trim_next = trim_r;
                continue;
            }
            let act = self.lex_action(action_start)?;
            if act.toks.is_empty() {
                return Err(self.err_at(action_start, "missing value for command"));
            }
            if let (Tok::Ident(kw), _) = &act.toks[0] {
                match kw.as_str() {
                    "end" => {
                        if stops.contains(&"end") {
                            return Ok((nodes, Some(Stop::End)));
                        }
                        return Err(self.err_at(action_start, "unexpected {{end}}"));
                    }
                    "else" => {
                        if stops.contains(&"else") {
                            // `else if ...`/`else with ...` hands the rest of the action on.
                            let mut act = act;
                            act.toks.remove(0);
                            return Ok((nodes, Some(Stop::Else(act))));
                        }
                        return Err(self.err_at(action_start, "unexpected {{else}}"));
                    }
                    "if" | "range" | "with" => {
                        let kind = match kw.as_str() {
                            "if" => BranchKind::If,
                            "range" => BranchKind::Range,
                            _ => BranchKind::With,
                        };
                        nodes.push(self.branch(kind, act, 1)?);
                        continue;
                    }
                    "define" | "block" => {
                        let Some((Tok::Lit(Value::Str(n)), _)) = act.toks.get(1) else {
                            return Err(self.err_at(
                                action_start,
                                &format!("unexpected token in {kw} clause"),
                            ));
                        };
                        let n = n.to_string();
                        let pipe = if kw == "block" {
                            Some(self.pipe(&act, 2, action_start)?)
                        } else {
                            None
                        };
                        let (body, end) = self.list(&["end"])?;
                        if !matches!(end, Some(Stop::End)) {
                            return Err(self.err_at(action_start, "unexpected EOF"));
                        }
                        self.defs.insert(
                            n.clone(),
                            Tree {
                                name: n.clone(),
                                file: self.name.to_string(),
                                root: Rc::new(body),
                            },
                        );
                        if kw == "block" {
                            nodes.push(Node::Template {
                                name: n,
                                pipe,
                                pos: self.pos_of(action_start),
                            });
                        }
                        continue;
                    }
                    "template" => {
                        let Some((Tok::Lit(Value::Str(n)), _)) = act.toks.get(1) else {
                            return Err(
                                self.err_at(action_start, "unexpected token in template clause")
                            );
                        };
                        let pipe = if act.toks.len() > 2 {
                            Some(self.pipe(&act, 2, action_start)?)
                        } else {
                            None
                        };
                        nodes.push(Node::Template {
                            name: n.to_string(),
                            pipe,
                            pos: self.pos_of(action_start),
                        });
                        continue;
                    }
                    "break" => {
                        nodes.push(Node::Break);
                        continue;
                    }
                    "continue" => {
                        nodes.push(Node::Continue);
                        continue;
                    }
                    _ => {}
                }
            }
            let pipe = self.pipe(&act, 0, action_start)?;
            nodes.push(Node::Action(pipe));
        }
    }

    fn branch(&mut self, kind: BranchKind, act: Action, from: usize) -> Result<Node, ParseError> {
        let pipe = self.pipe(&act, from, act.start)?;
        let (list, end) = self.list(&["end", "else"])?;
        let else_list = match end {
            Some(Stop::End) => Vec::new(),
            Some(Stop::Else(rest)) if rest.toks.is_empty() => {
                let (l, e) = self.list(&["end"])?;
                if !matches!(e, Some(Stop::End)) {
                    return Err(self.err_at(self.pos, "expected end; found EOF"));
                }
                l
            }
            Some(Stop::Else(rest)) => {
                // `else if`/`else with`: the nested branch consumes the single `end`.
                let kind2 = match &rest.toks[0].0 {
                    Tok::Ident(k) if k == "if" => BranchKind::If,
                    Tok::Ident(k) if k == "with" => BranchKind::With,
                    _ => return Err(self.err_at(rest.start, "unexpected token after else")),
                };
                vec![self.branch(kind2, rest, 1)?]
            }
            None => return Err(self.err_at(self.pos, "unexpected EOF")),
        };
        Ok(Node::Branch {
            kind,
            pipe,
            list,
            else_list,
        })
    }

    /// Lexes one action from `self.pos` up to and including `}}`.
    fn lex_action(&mut self, start: usize) -> Result<Action, ParseError> {
        let b = self.src.as_bytes();
        let text_start = self.pos;
        let mut toks = Vec::new();
        let mut i = self.pos;
        let mut depth = 0usize;
        loop {
            if i >= b.len() {
                return Err(self.err_at(start, "unclosed action"));
            }
            let c = b[i];
            if c == b' ' || c == b'\t' || c == b'\n' || c == b'\r' {
                if self.src[i..]
                    .trim_start_matches(is_go_space)
                    .starts_with("-}}")
                {
                    let j = i
                        + (self.src[i..].len()
                            - self.src[i..].trim_start_matches(is_go_space).len());
                    self.pos = j + 3;
                    self.trim_next = true;
                    break;
                }
                i += 1;
                continue;
            }
            if self.src[i..].starts_with("}}") {
                self.pos = i + 2;
                self.trim_next = false;
                break;
            }
            let tok_start = i;
            let tok = match c {
                b'(' => {
                    depth += 1;
                    i += 1;
                    Tok::LParen
                }
                b')' => {
                    if depth == 0 {
                        return Err(self.err_at(i, "unexpected right paren"));
                    }
                    depth -= 1;
                    i += 1;
                    Tok::RParen
                }
                b'|' => {
                    i += 1;
                    Tok::Pipe
                }
                b',' => {
                    i += 1;
                    Tok::Comma
                }
                b':' if b.get(i + 1) == Some(&b'=') => {
                    i += 2;
                    Tok::Declare
                }
                b'=' => {
                    i += 1;
                    Tok::Assign
                }
                b'"' => {
                    let mut j = i + 1;
                    let mut out = String::new();
                    loop {
                        match b.get(j) {
                            None | Some(b'\n') => {
                                return Err(self.err_at(i, "unterminated quoted string"));
                            }
                            Some(b'"') => break,
                            Some(b'\\') => {
                                let (ch, len) = unescape(&self.src[j..])
                                    .ok_or_else(|| self.err_at(j, "invalid syntax"))?;
                                out.push_str(&ch);
                                j += len;
                            }
                            Some(_) => {
                                let ch = self.src[j..].chars().next().unwrap_or(' ');
                                out.push(ch);
                                j += ch.len_utf8();
                            }
                        }
                    }
                    i = j + 1;
                    Tok::Lit(Value::str(out))
                }
                b'`' => {
                    let Some(end) = self.src[i + 1..].find('`') else {
                        return Err(self.err_at(i, "unterminated raw quoted string"));
                    };
                    let s = &self.src[i + 1..i + 1 + end];
                    i = i + 2 + end;
                    Tok::Lit(Value::str(s))
                }
                b'\'' => {
                    let rest = &self.src[i + 1..];
                    let (ch, len) = if rest.starts_with('\\') {
                        unescape(rest).ok_or_else(|| self.err_at(i, "invalid char"))?
                    } else {
                        let c = rest
                            .chars()
                            .next()
                            .ok_or_else(|| self.err_at(i, "unterminated character constant"))?;
                        (c.to_string(), c.len_utf8())
                    };
                    if rest.as_bytes().get(len) != Some(&b'\'') {
                        return Err(self.err_at(i, "unterminated character constant"));
                    }
                    i += len + 2;
                    Tok::Lit(Value::Int(ch.chars().next().map(|c| c as i64).unwrap_or(0)))
                }
                b'.' if !b.get(i + 1).is_some_and(|c| c.is_ascii_digit()) => {
                    let (path, j) = read_path(self.src, i);
                    i = j;
                    if path.is_empty() {
                        Tok::Dot
                    } else {
                        Tok::Field(path)
                    }
                }
                b'$' => {
                    let mut j = i + 1;
                    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                        j += 1;
                    }
                    let name = self.src[i..j].to_string();
                    let (path, k) = read_path(self.src, j);
                    i = k;
                    Tok::Var(name, path)
                }
                c if c.is_ascii_digit() || c == b'-' || c == b'+' || c == b'.' => {
                    let mut j = i + 1;
                    while j < b.len()
                        && (b[j].is_ascii_alphanumeric()
                            || b[j] == b'.'
                            || b[j] == b'_'
                            || ((b[j] == b'-' || b[j] == b'+')
                                && matches!(b[j - 1], b'e' | b'E' | b'p' | b'P')))
                    {
                        j += 1;
                    }
                    let lit = &self.src[i..j];
                    i = j;
                    Tok::Lit(parse_number(lit).ok_or_else(|| {
                        self.err_at(tok_start, &format!("bad number syntax: \"{lit}\""))
                    })?)
                }
                c if c.is_ascii_alphabetic() || c == b'_' => {
                    let mut j = i + 1;
                    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                        j += 1;
                    }
                    let w = &self.src[i..j];
                    i = j;
                    match w {
                        "true" => Tok::Bool(true),
                        "false" => Tok::Bool(false),
                        "nil" => Tok::Nil,
                        _ => Tok::Ident(w.to_string()),
                    }
                }
                _ => {
                    let ch = self.src[i..].chars().next().unwrap_or(' ');
                    return Err(self.err_at(i, &format!("unexpected {ch:?} in command")));
                }
            };
            // A field chain after `)` belongs to the parenthesised pipeline.
            if tok == Tok::RParen && b.get(i) == Some(&b'.') {
                let (path, j) = read_path(self.src, i);
                toks.push((tok, tok_start));
                toks.push((Tok::FieldsAfterParen(path), i));
                i = j;
                continue;
            }
            toks.push((tok, tok_start));
        }
        Ok(Action {
            toks,
            start,
            text_start,
        })
    }

    /// Parses tokens `from..` of an action as a pipeline.
    fn pipe(&self, act: &Action, from: usize, start: usize) -> Result<Pipe, ParseError> {
        let toks = &act.toks[from..];
        let mut idx = 0;
        let mut vars = Vec::new();
        let mut assign = false;
        // Declarations: `$x :=`, `$i, $v :=`, `$x =`.
        let mut look = 0;
        let mut names = Vec::new();
        while let Some((Tok::Var(n, p), _)) = toks.get(look) {
            if !p.is_empty() {
                break;
            }
            names.push(n.clone());
            look += 1;
            match toks.get(look) {
                Some((Tok::Comma, _)) => look += 1,
                Some((Tok::Declare, _)) => {
                    vars = names.clone();
                    idx = look + 1;
                    break;
                }
                Some((Tok::Assign, _)) => {
                    vars = names.clone();
                    assign = true;
                    idx = look + 1;
                    break;
                }
                _ => break,
            }
        }
        let (p, _) = self.pipe_tokens(&toks[idx..], start, act)?;
        Ok(Pipe {
            vars,
            assign,
            cmds: p,
            pos: self.pos_of(start),
        })
    }

    fn pipe_tokens(
        &self,
        toks: &[(Tok, usize)],
        start: usize,
        act: &Action,
    ) -> Result<(Vec<Cmd>, usize), ParseError> {
        let mut cmds = Vec::new();
        let mut args = Vec::new();
        let mut i = 0;
        let mut cmd_start = toks.first().map(|t| t.1).unwrap_or(start);
        let end_of = |toks: &[(Tok, usize)], i: usize| toks.get(i).map(|t| t.1).unwrap_or(self.pos);
        while i < toks.len() {
            let (t, off) = &toks[i];
            match t {
                Tok::Pipe => {
                    if args.is_empty() {
                        return Err(self.err_at(*off, "missing value for command"));
                    }
                    cmds.push(Cmd {
                        args: std::mem::take(&mut args),
                        text: self.cmd_text(cmd_start, *off),
                        pos: self.pos_of(cmd_start),
                    });
                    i += 1;
                    cmd_start = end_of(toks, i);
                    continue;
                }
                Tok::RParen => break,
                Tok::LParen => {
                    let (sub, used) = self.pipe_tokens(&toks[i + 1..], *off, act)?;
                    i += 1 + used;
                    if !matches!(toks.get(i), Some((Tok::RParen, _))) {
                        return Err(self.err_at(*off, "unclosed left paren"));
                    }
                    i += 1;
                    let mut fields = Vec::new();
                    if let Some((Tok::FieldsAfterParen(f), _)) = toks.get(i) {
                        fields = f.clone();
                        i += 1;
                    }
                    args.push(Arg::Sub(
                        Box::new(Pipe {
                            vars: vec![],
                            assign: false,
                            cmds: sub,
                            pos: self.pos_of(*off),
                        }),
                        fields,
                    ));
                    continue;
                }
                Tok::Dot => args.push(Arg::Dot),
                Tok::Field(p) => args.push(Arg::Field(p.clone())),
                Tok::Var(n, p) => args.push(Arg::Var(n.clone(), p.clone())),
                Tok::Ident(n) => args.push(Arg::Func(n.clone())),
                Tok::Lit(v) => args.push(Arg::Lit(v.clone())),
                Tok::Bool(b) => args.push(Arg::Lit(Value::Bool(*b))),
                Tok::Nil => args.push(Arg::Nil),
                Tok::FieldsAfterParen(_) | Tok::Comma | Tok::Declare | Tok::Assign => {
                    return Err(self.err_at(*off, "unexpected token in operand"));
                }
            }
            i += 1;
        }
        if args.is_empty() {
            return Err(self.err_at(start, "missing value for command"));
        }
        let end = end_of(toks, i);
        cmds.push(Cmd {
            args,
            text: self.cmd_text(cmd_start, end),
            pos: self.pos_of(cmd_start),
        });
        let _ = act.text_start;
        Ok((cmds, i))
    }

    fn cmd_text(&self, from: usize, to: usize) -> String {
        let t = self.src.get(from..to.min(self.src.len())).unwrap_or("");
        let t = t.trim_matches(|c: char| c.is_whitespace() || c == '|');
        t.trim_end_matches("}}")
            .trim_end_matches('-')
            .trim()
            .to_string()
    }
}

/// Where a list stopped.
enum Stop {
    End,
    Else(Action),
}

fn is_go_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// Reads `.a.b.c` from `i`; returns the names and the offset after them.
fn read_path(src: &str, mut i: usize) -> (Vec<String>, usize) {
    let b = src.as_bytes();
    let mut out = Vec::new();
    while i < b.len() && b[i] == b'.' {
        let mut j = i + 1;
        while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
            j += 1;
        }
        if j == i + 1 {
            // A lone dot: `.` itself.
            i = j;
            break;
        }
        out.push(src[i + 1..j].to_string());
        i = j;
    }
    (out, i)
}

fn unescape(s: &str) -> Option<(String, usize)> {
    let b = s.as_bytes();
    let c = *b.get(1)?;
    let simple = match c {
        b'n' => Some('\n'),
        b't' => Some('\t'),
        b'r' => Some('\r'),
        b'\\' => Some('\\'),
        b'"' => Some('"'),
        b'\'' => Some('\''),
        b'a' => Some('\x07'),
        b'b' => Some('\x08'),
        b'f' => Some('\x0c'),
        b'v' => Some('\x0b'),
        b'0' => Some('\0'),
        _ => None,
    };
    if let Some(ch) = simple {
        return Some((ch.to_string(), 2));
    }
    let (len, radix) = match c {
        b'x' => (2, 16),
        b'u' => (4, 16),
        b'U' => (8, 16),
        _ => return None,
    };
    let hex = s.get(2..2 + len)?;
    let n = u32::from_str_radix(hex, radix).ok()?;
    Some((char::from_u32(n)?.to_string(), 2 + len))
}

fn parse_number(lit: &str) -> Option<Value> {
    let clean = lit.replace('_', "");
    let (neg, body) = match clean.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean)),
    };
    let int = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()
    } else if let Some(o) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
        i64::from_str_radix(o, 8).ok()
    } else if let Some(bn) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
        i64::from_str_radix(bn, 2).ok()
    } else if body.len() > 1 && body.starts_with('0') && body.bytes().all(|c| c.is_ascii_digit()) {
        i64::from_str_radix(&body[1..], 8).ok()
    } else {
        body.parse::<i64>().ok()
    };
    if let Some(i) = int {
        return Some(Value::Int(if neg { -i } else { i }));
    }
    let f: f64 = body.parse().ok()?;
    Some(Value::Float(if neg { -f } else { f }))
}
