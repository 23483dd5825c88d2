//! Executing parsed templates, with Go's `text/template` semantics and Helm's options
//! (`missingkey=zero`: a missing map key is nil and prints as `<no value>`).

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use super::parse::{self, Arg, BranchKind, Cmd, Node, ParseError, Pipe, Pos, Tree};
use crate::funcs;
use crate::value::Value;

/// Nested `include`/`template` calls allowed before giving up, as Helm bounds recursion.
const MAX_DEPTH: usize = 1000;

/// An execution failure, laid out as Helm 4 prints Go's: `NAME:LINE:COL`, then
/// `executing "NAME" at <EXPR>:` and the message (the column is Go's, counted from 0).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{col}\n  executing \"{template}\" at <{expr}>:\n    {message}")]
pub struct ExecError {
    /// The file holding the failing expression.
    pub file: String,
    /// The template (file or defined name) executing.
    pub template: String,
    /// Line of the failing command.
    pub line: usize,
    /// Column of the failing command.
    pub col: usize,
    /// The failing expression's text.
    pub expr: String,
    /// What went wrong.
    pub message: String,
}

/// A failure of parsing or execution.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The source does not parse.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// Execution failed.
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// `fail` or `required` stopped the render (Helm prints these bare).
    #[error("{0}")]
    Fail(String),
}

/// A set of templates sharing one namespace of `define`d names, as a Helm render does.
#[derive(Default)]
pub struct Templates {
    defs: HashMap<String, Tree>,
    /// Offline `lookup` and friends could be configured here later; unused today.
    _private: (),
}

enum Flow {
    Normal,
    Break,
    Continue,
}

/// Function results that are errors, carrying how Helm reports them.
pub enum FuncError {
    /// `error calling NAME: message`.
    Call(String),
    /// A message reported without decoration (`fail`, `required`).
    Fail(String),
    /// An error from a nested template, passed through whole.
    Nested(TemplateError),
}

impl Templates {
    /// Parses `src` as template `name`, adding its `define`s; later definitions win, as in Go.
    pub fn add(&mut self, name: &str, src: &str) -> Result<(), ParseError> {
        let mut defs = HashMap::new();
        let tree = parse::parse(name, src, &mut defs)?;
        for (k, v) in defs {
            self.defs.insert(k, v);
        }
        self.defs.insert(name.to_string(), tree);
        Ok(())
    }

    /// Whether `name` is defined.
    pub fn has(&self, name: &str) -> bool {
        self.defs.contains_key(name)
    }

    /// Executes template `name` with `data` as dot.
    pub fn execute(&self, name: &str, data: &Value) -> Result<String, TemplateError> {
        let tree = self.defs.get(name).ok_or_else(|| {
            TemplateError::Fail(format!(
                "template: no template {name:?} associated with template"
            ))
        })?;
        let mut st = State {
            t: self,
            name: name.to_string(),
            file: tree.file.clone(),
            vars: vec![("$".into(), data.clone())],
            out: String::new(),
            depth: 0,
            extra: None,
        };
        st.list(&tree.root.clone(), data)?;
        Ok(st.out)
    }

    /// Helm's `tpl`: parses `src` as a template beside the existing definitions and runs it.
    pub fn execute_source(
        &self,
        name: &str,
        src: &str,
        data: &Value,
        depth: usize,
    ) -> Result<String, TemplateError> {
        let mut defs = HashMap::new();
        let tree = parse::parse(name, src, &mut defs)?;
        let mut st = State {
            t: self,
            name: name.to_string(),
            file: tree.file.clone(),
            vars: vec![("$".into(), data.clone())],
            out: String::new(),
            depth,
            extra: Some(defs),
        };
        st.list(&tree.root.clone(), data)?;
        Ok(st.out)
    }
}

struct State<'t> {
    t: &'t Templates,
    name: String,
    /// The file the executing template came from, for error positions.
    file: String,
    vars: Vec<(String, Value)>,
    out: String,
    depth: usize,
    /// Definitions made inside a `tpl` string, visible only to it.
    extra: Option<HashMap<String, Tree>>,
}

impl State<'_> {
    fn err(&self, pos: Pos, expr: &str, message: impl Into<String>) -> TemplateError {
        TemplateError::Exec(ExecError {
            file: self.file.clone(),
            template: self.name.clone(),
            line: pos.line,
            col: pos.col.saturating_sub(1),
            expr: expr.to_string(),
            message: message.into(),
        })
    }

    fn lookup_def(&self, name: &str) -> Option<Tree> {
        if let Some(e) = &self.extra
            && let Some(t) = e.get(name)
        {
            return Some(t.clone());
        }
        self.t.defs.get(name).cloned()
    }

    fn list(&mut self, nodes: &[Node], dot: &Value) -> Result<Flow, TemplateError> {
        for n in nodes {
            match self.node(n, dot)? {
                Flow::Normal => {}
                f => return Ok(f),
            }
        }
        Ok(Flow::Normal)
    }

    fn node(&mut self, n: &Node, dot: &Value) -> Result<Flow, TemplateError> {
        match n {
            Node::Text(t) => self.out.push_str(t),
            Node::Action(p) => {
                let v = self.pipe(p, dot)?;
                if p.vars.is_empty() {
                    self.out.push_str(&v.to_go_string());
                }
            }
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
            Node::Template { name, pipe, pos } => {
                let data = match pipe {
                    Some(p) => self.pipe(p, dot)?,
                    None => Value::Nil,
                };
                let s = self.call_template(name, &data, *pos, &format!("template {name:?}"))?;
                self.out.push_str(&s);
            }
            Node::Branch {
                kind,
                pipe,
                list,
                else_list,
            } => {
                let mark = self.vars.len();
                let r = self.branch(*kind, pipe, list, else_list, dot);
                self.vars.truncate(mark);
                return r;
            }
        }
        Ok(Flow::Normal)
    }

    fn call_template(
        &mut self,
        name: &str,
        data: &Value,
        pos: Pos,
        expr: &str,
    ) -> Result<String, TemplateError> {
        let Some(tree) = self.lookup_def(name) else {
            return Err(self.err(pos, expr, format!("template {name:?} not defined")));
        };
        if self.depth >= MAX_DEPTH {
            return Err(self.err(pos, expr, "exceeded max template depth (100000)"));
        }
        let mut st = State {
            t: self.t,
            name: name.to_string(),
            file: tree.file.clone(),
            vars: vec![("$".into(), data.clone())],
            out: String::new(),
            depth: self.depth + 1,
            extra: self.extra.clone(),
        };
        st.list(&tree.root, data)?;
        Ok(st.out)
    }

    fn branch(
        &mut self,
        kind: BranchKind,
        pipe: &Pipe,
        list: &[Node],
        else_list: &[Node],
        dot: &Value,
    ) -> Result<Flow, TemplateError> {
        match kind {
            BranchKind::If => {
                let v = self.pipe(pipe, dot)?;
                if v.truthy() {
                    self.list(list, dot)
                } else {
                    self.list(else_list, dot)
                }
            }
            BranchKind::With => {
                let v = self.pipe(pipe, dot)?;
                if v.truthy() {
                    self.list(list, &v)
                } else {
                    self.list(else_list, dot)
                }
            }
            BranchKind::Range => {
                // The range variables are bound per element, not by `pipe` itself.
                let bare = Pipe {
                    vars: vec![],
                    assign: false,
                    cmds: pipe.cmds.clone(),
                    pos: pipe.pos,
                };
                let v = self.pipe(&bare, dot)?;
                let items: Vec<(Value, Value)> = match &v {
                    Value::Nil => vec![],
                    Value::List(l) => l
                        .iter()
                        .enumerate()
                        .map(|(i, x)| (Value::Int(i as i64), x.clone()))
                        .collect(),
                    Value::Map(m) => m
                        .iter()
                        .map(|(k, x)| (Value::str(k.as_str()), x.clone()))
                        .collect(),
                    Value::Int(n) => (0..*n).map(|i| (Value::Int(i), Value::Int(i))).collect(),
                    other => {
                        let c = pipe.cmds.first();
                        return Err(self.err(
                            pipe.pos,
                            c.map(|c| c.text.as_str()).unwrap_or(""),
                            format!("range can't iterate over {}", other.to_go_string()),
                        ));
                    }
                };
                if items.is_empty() {
                    return self.list(else_list, dot);
                }
                let mark = self.vars.len();
                for (k, x) in items {
                    self.vars.truncate(mark);
                    match pipe.vars.len() {
                        0 => {}
                        1 => self.vars.push((pipe.vars[0].clone(), x.clone())),
                        _ => {
                            self.vars.push((pipe.vars[0].clone(), k));
                            self.vars.push((pipe.vars[1].clone(), x.clone()));
                        }
                    }
                    if let Flow::Break = self.list(list, &x)? {
                        break;
                    }
                }
                self.vars.truncate(mark);
                Ok(Flow::Normal)
            }
        }
    }

    fn pipe(&mut self, p: &Pipe, dot: &Value) -> Result<Value, TemplateError> {
        let mut last: Option<Value> = None;
        for c in &p.cmds {
            last = Some(self.cmd(c, dot, last)?);
        }
        let v = last.unwrap_or(Value::Nil);
        if p.assign {
            for name in &p.vars {
                match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 = v.clone(),
                    None => {
                        return Err(self.err(p.pos, name, format!("undefined variable: {name}")));
                    }
                }
            }
        } else {
            for name in &p.vars {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn cmd(&mut self, c: &Cmd, dot: &Value, last: Option<Value>) -> Result<Value, TemplateError> {
        let first = &c.args[0];
        match first {
            Arg::Func(name) => self.call(name, &c.args[1..], c, dot, last),
            Arg::Field(path)
                if path.len() >= 2 && is_method_receiver(dot, &path[..path.len() - 1]) =>
            {
                let recv = self.walk(dot.clone(), &path[..path.len() - 1], c)?;
                let mut args = Vec::new();
                for a in &c.args[1..] {
                    args.push(self.arg(a, dot, c)?);
                }
                args.extend(last);
                self.method(&recv, &path[path.len() - 1], args, c)
            }
            _ => {
                if c.args.len() > 1 || last.is_some() {
                    let shown = match first {
                        Arg::Field(p) => {
                            format!("can't give argument to non-function .{}", p.join("."))
                        }
                        _ => "can't give argument to non-function".to_string(),
                    };
                    return Err(self.err(c.pos, &c.text, shown));
                }
                self.arg(first, dot, c)
            }
        }
    }

    fn arg(&mut self, a: &Arg, dot: &Value, c: &Cmd) -> Result<Value, TemplateError> {
        match a {
            Arg::Dot => Ok(dot.clone()),
            Arg::Nil => Ok(Value::Nil),
            Arg::Lit(v) => Ok(v.clone()),
            Arg::Field(p) => self.walk(dot.clone(), p, c),
            Arg::Var(n, p) => {
                let Some((_, v)) = self.vars.iter().rev().find(|(k, _)| k == n) else {
                    return Err(self.err(c.pos, &c.text, format!("undefined variable: {n}")));
                };
                let v = v.clone();
                self.walk(v, p, c)
            }
            Arg::Func(name) => self.call(name, &[], c, dot, None),
            Arg::Sub(p, fields) => {
                let v = self.pipe(p, dot)?;
                self.walk(v, fields, c)
            }
        }
    }

    fn walk(&self, mut v: Value, path: &[String], c: &Cmd) -> Result<Value, TemplateError> {
        // Go reports a field chain at its second element (the chain node), a lone field at
        // itself, and names the whole chain.
        let chain = format!(".{}", path.join("."));
        let at = || {
            let off = c.text.find(&chain).unwrap_or(0)
                + if path.len() > 1 { path[0].len() + 1 } else { 0 };
            Pos {
                line: c.pos.line,
                col: c.pos.col + off,
            }
        };
        let (c_pos, c_text) = (at(), chain.clone());
        let c = &Cmd {
            args: vec![],
            text: c_text,
            pos: c_pos,
        };
        for f in path {
            v = match &v {
                Value::Map(m) => {
                    if let Some(x) = m.get(f) {
                        x.clone()
                    } else if let Some(special) = special_field(m, f) {
                        special
                    } else {
                        Value::Nil
                    }
                }
                Value::Nil => {
                    return Err(self.err(
                        c.pos,
                        &c.text,
                        format!("nil pointer evaluating interface {{}}.{f}"),
                    ));
                }
                other => {
                    return Err(self.err(
                        c.pos,
                        &c.text,
                        format!("can't evaluate field {f} in type {}", other.type_name()),
                    ));
                }
            };
        }
        Ok(v)
    }

    fn method(
        &self,
        recv: &Value,
        name: &str,
        args: Vec<Value>,
        c: &Cmd,
    ) -> Result<Value, TemplateError> {
        funcs::method(recv, name, &args).map_err(|m| self.err(c.pos, &c.text, m))
    }

    fn call(
        &mut self,
        name: &str,
        raw: &[Arg],
        c: &Cmd,
        dot: &Value,
        last: Option<Value>,
    ) -> Result<Value, TemplateError> {
        // `and`/`or` evaluate lazily, as Go 1.18+ does.
        if name == "and" || name == "or" {
            let mut v = Value::Nil;
            let n = raw.len() + usize::from(last.is_some());
            if n == 0 {
                return Err(self.err(
                    c.pos,
                    &c.text,
                    format!("wrong number of args for {name}: want at least 1 got 0"),
                ));
            }
            for a in raw {
                v = self.arg(a, dot, c)?;
                if (name == "and") != v.truthy() {
                    return Ok(v);
                }
            }
            if let Some(l) = last {
                v = l;
            }
            return Ok(v);
        }
        let mut args = Vec::with_capacity(raw.len() + 1);
        for a in raw {
            args.push(self.arg(a, dot, c)?);
        }
        args.extend(last);
        match name {
            "include" => {
                let (Some(Value::Str(n)), Some(data)) = (args.first(), args.get(1)) else {
                    return Err(self.err(
                        c.pos,
                        &c.text,
                        "error calling include: wrong number of args for include: want 2",
                    ));
                };
                let n = n.to_string();
                if self.lookup_def(&n).is_none() {
                    let message = format!(
                        "error calling include:\ntemplate: no template {n:?} associated with template \"gotpl\""
                    );
                    return Err(self.err(c.pos, &c.text, message));
                }
                self.call_template(&n, data, c.pos, &c.text)
                    .map(Value::str)
                    .map_err(|e| match e {
                        TemplateError::Exec(_) | TemplateError::Parse(_) => {
                            self.err(c.pos, &c.text, format!("error calling include:\n{e}"))
                        }
                        f => f,
                    })
            }
            "tpl" => {
                let (Some(Value::Str(src)), Some(data)) = (args.first(), args.get(1)) else {
                    return Err(self.err(
                        c.pos,
                        &c.text,
                        "error calling tpl: wrong number of args for tpl: want 2",
                    ));
                };
                let tname = self.name.clone();
                let r = self.t.execute_source(&tname, src, data, self.depth + 1);
                r.map(|s| Value::str(s.replace("<no value>", "")))
                    .map_err(|e| match e {
                        TemplateError::Fail(f) => TemplateError::Fail(f),
                        e => self.err(c.pos, &c.text, format!("error calling tpl: {e}")),
                    })
            }
            _ => match funcs::call(name, args) {
                Ok(v) => Ok(v),
                Err(FuncError::Call(m)) => {
                    Err(self.err(c.pos, &c.text, format!("error calling {name}: {m}")))
                }
                Err(FuncError::Fail(m)) => Err(TemplateError::Fail(format!(
                    "execution error at ({}:{}:{}): {m}",
                    self.name,
                    c.pos.line,
                    c.pos.col.saturating_sub(1)
                ))),
                Err(FuncError::Nested(e)) => Err(e),
            },
        }
    }
}

/// Whether `dot.path` names an object with methods (`.Files`, `.Capabilities.APIVersions`).
fn is_method_receiver(dot: &Value, path: &[String]) -> bool {
    let mut v = dot;
    for p in path {
        match v {
            Value::Map(m) => match m.get(p) {
                Some(x) => v = x,
                None => return false,
            },
            _ => return false,
        }
    }
    matches!(v, Value::Map(m) if m.contains_key(funcs::OBJECT_KIND))
}

/// Fields of Helm's objects that are computed (none yet beyond stored keys).
fn special_field(_m: &BTreeMap<String, Value>, _f: &str) -> Option<Value> {
    None
}

/// Convenience: a map value from pairs.
pub fn map_of(pairs: Vec<(&str, Value)>) -> Value {
    Value::Map(Rc::new(
        pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
    ))
}
