//! Writing values as `kubectl kustomize` prints them.
//!
//! kustomize v5.5.0 turns each object into JSON and then into YAML with
//! go-yaml v2 (`sigs.k8s.io/yaml.JSONToYAML`). So the output style is go-yaml
//! v2's: keys in its "natural" order, sequences not indented under their key,
//! strings quoted only when go-yaml v2 would read them back as something else,
//! multi-line strings as literal blocks, long lines folded at spaces past
//! column 80. No Rust crate reproduces that style exactly (serde-saphyr and
//! serde_yaml differ in quoting, wrapping and sequence indentation), and byte
//! identity is the point, so this module mirrors go-yaml v2's emitter rules.

use std::borrow::Borrow;
use std::cmp::Ordering;

use serde_json::{Map, Number, Value};

/// go-yaml v2's preferred line width.
const BEST_WIDTH: usize = 80;

/// Longest key (in bytes) go-yaml v2 writes as a simple `key: value`.
const MAX_SIMPLE_KEY: usize = 128;

/// Documents joined the way kustomize joins them (`---` between).
///
/// Given owned documents, each is dropped as soon as it is written, while it
/// is still in cache: freeing a large render in a separate pass afterwards
/// walks every object again from memory, which grew faster than the object
/// count in the render benchmark.
pub fn emit_documents<D: Borrow<Value>>(docs: impl IntoIterator<Item = D>) -> String {
    // One buffer for the whole stream: no per-document string to copy.
    let mut w = Writer {
        out: String::new(),
        column: 0,
    };
    for (i, doc) in docs.into_iter().enumerate() {
        if i > 0 {
            w.out.push_str("---\n");
        }
        w.document(doc.borrow());
    }
    w.out
}

/// One document, ending in a newline.
pub fn emit_document(doc: &Value) -> String {
    let mut w = Writer {
        out: String::new(),
        column: 0,
    };
    w.document(doc);
    w.out
}

struct Writer {
    out: String,
    column: usize,
}

impl Writer {
    fn document(&mut self, doc: &Value) {
        self.column = 0;
        match doc {
            Value::Object(m) if !m.is_empty() => self.map(m, 0),
            Value::Array(a) if !a.is_empty() => self.seq(a, 0),
            other => {
                self.inline_value(other, 0);
                self.newline();
            }
        }
    }

    fn push(&mut self, s: &str) {
        self.out.push_str(s);
        self.column += if s.is_ascii() {
            s.len()
        } else {
            s.chars().count()
        };
    }

    fn push_char(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn newline(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    fn indent(&mut self, n: usize) {
        for _ in 0..n {
            self.out.push(' ');
        }
        self.column += n;
    }

    /// A block mapping whose first key goes at the current position (already
    /// indented to `indent`) and the rest on new lines at `indent`.
    fn map(&mut self, m: &Map<String, Value>, indent: usize) {
        let mut entries: Vec<(&String, &Value)> = m.iter().collect();
        entries.sort_by(|a, b| natural_cmp(a.0, b.0));
        for (i, (key, value)) in entries.into_iter().enumerate() {
            if i > 0 {
                self.indent(indent);
            }
            if key.len() > MAX_SIMPLE_KEY {
                self.complex_entry(key, value, indent);
                continue;
            }
            self.scalar_str(key, indent, true);
            self.push_char(':');
            match value {
                Value::Object(child) if !child.is_empty() => {
                    self.newline();
                    self.indent(indent + 2);
                    self.map(child, indent + 2);
                }
                Value::Array(items) if !items.is_empty() => {
                    self.newline();
                    self.indent(indent);
                    self.seq(items, indent);
                }
                other => {
                    self.push_char(' ');
                    self.inline_value(other, indent + 2);
                    self.newline();
                }
            }
        }
    }

    /// A mapping entry whose key is too long for a simple key: go-yaml
    /// writes `? key` and then `: value`, the value laid out like a
    /// sequence item (its first line after `: `, the rest indented by 2).
    fn complex_entry(&mut self, key: &str, value: &Value, indent: usize) {
        self.push("? ");
        self.scalar_str(key, indent + 2, false);
        self.newline();
        self.indent(indent);
        self.push(": ");
        match value {
            Value::Object(m) if !m.is_empty() => self.map(m, indent + 2),
            Value::Array(a) if !a.is_empty() => self.seq(a, indent + 2),
            other => {
                self.inline_value(other, indent + 2);
                self.newline();
            }
        }
    }

    /// A block sequence whose first `- ` goes at the current position.
    fn seq(&mut self, items: &[Value], indent: usize) {
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.indent(indent);
            }
            self.push("- ");
            match item {
                Value::Object(m) if !m.is_empty() => self.map(m, indent + 2),
                Value::Array(a) if !a.is_empty() => self.seq(a, indent + 2),
                other => {
                    self.inline_value(other, indent + 2);
                    self.newline();
                }
            }
        }
    }

    /// A scalar or empty collection; `indent` is where continuation lines go.
    fn inline_value(&mut self, v: &Value, indent: usize) {
        match v {
            Value::Null => self.push("null"),
            Value::Bool(b) => self.push(if *b { "true" } else { "false" }),
            Value::Number(n) => self.push(&format_number(n)),
            Value::String(s) => self.scalar_str(s, indent, false),
            Value::Object(_) => self.push("{}"),
            Value::Array(_) => self.push("[]"),
        }
    }

    fn scalar_str(&mut self, s: &str, indent: usize, simple_key: bool) {
        // Fast path for the common case (names, keys, images): a letter
        // first, then only characters that never need quoting, no spaces
        // (so nothing to fold) and not a YAML 1.1 keyword.
        let bytes = s.as_bytes();
        if bytes.first().is_some_and(u8::is_ascii_alphabetic)
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'/' | b'-'))
            && resolves_to_string(s)
        {
            self.push(s);
            return;
        }
        let a = analyze(s);
        let style = if s.contains('\n') {
            if a.block_allowed && !simple_key {
                Style::Literal
            } else {
                Style::Double
            }
        } else if !resolves_to_string(s) || s.is_empty() && simple_key {
            Style::Double
        } else if a.plain_allowed {
            Style::Plain
        } else if a.single_allowed {
            Style::Single
        } else {
            Style::Double
        };
        let style = match style {
            Style::Single if !a.single_allowed => Style::Double,
            Style::Plain if !a.single_allowed && !a.plain_allowed => Style::Double,
            other => other,
        };
        let allow_breaks = !simple_key;
        match style {
            Style::Plain => self.write_plain(s, indent, allow_breaks),
            Style::Single => self.write_single(s, indent, allow_breaks),
            Style::Double => self.write_double(s, indent, allow_breaks),
            Style::Literal => self.write_literal(s, indent),
        }
    }

    fn write_plain(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let next_space = chars.get(i + 1) == Some(&' ');
                if allow_breaks && !spaces && self.column > BEST_WIDTH && !next_space {
                    self.newline();
                    self.indent(indent);
                } else {
                    self.push_char(c);
                }
                spaces = true;
            } else {
                self.push_char(c);
                spaces = false;
            }
        }
    }

    fn write_single(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        self.push_char('\'');
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let next_space = chars.get(i + 1) == Some(&' ');
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i > 0
                    && i + 1 < chars.len()
                    && !next_space
                {
                    self.newline();
                    self.indent(indent);
                } else {
                    self.push_char(c);
                }
                spaces = true;
            } else {
                if c == '\'' {
                    self.push_char('\'');
                }
                self.push_char(c);
                spaces = false;
            }
        }
        self.push_char('\'');
    }

    fn write_double(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        self.push_char('"');
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if !is_printable(c) || is_break(c) || c == '"' || c == '\\' || c == '\u{feff}' {
                self.push(&escape(c));
                spaces = false;
            } else if c == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i != 0
                    && i + 1 != chars.len()
                {
                    self.newline();
                    self.indent(indent);
                    if chars.get(i + 1) == Some(&' ') {
                        self.push_char('\\');
                    }
                } else {
                    self.push_char(c);
                }
                spaces = true;
            } else {
                self.push_char(c);
                spaces = false;
            }
        }
        self.push_char('"');
    }

    fn write_literal(&mut self, s: &str, indent: usize) {
        self.push_char('|');
        let first = s.chars().next();
        if first == Some(' ') || first.is_some_and(is_break) {
            self.push("2");
        }
        let mut rev = s.chars().rev();
        match (rev.next(), rev.next()) {
            (Some(last), _) if !is_break(last) => self.push_char('-'),
            (None, _) => self.push_char('-'),
            (Some(_), None) => self.push_char('+'),
            (Some(_), Some(prev)) if is_break(prev) => self.push_char('+'),
            _ => {}
        }
        self.newline();
        let mut at_line_start = true;
        for c in s.chars() {
            if is_break(c) {
                self.newline();
                at_line_start = true;
            } else {
                if at_line_start {
                    self.indent(indent);
                    at_line_start = false;
                }
                self.push_char(c);
            }
        }
        // The caller ends the line; a string ending in a break already did.
        if s.ends_with(is_break) {
            self.out.pop();
            self.column = 0;
        }
    }
}

#[derive(Clone, Copy)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

struct Analysis {
    plain_allowed: bool,
    single_allowed: bool,
    block_allowed: bool,
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_blank_or_end(c: Option<char>) -> bool {
    match c {
        None => true,
        Some(c) => c == ' ' || c == '\t' || is_break(c) || c == '\0',
    }
}

/// go-yaml's `is_printable` (it counts characters outside the BMP as not
/// printable, so they get escaped in double quotes).
fn is_printable(c: char) -> bool {
    let u = c as u32;
    u == 0x0A
        || (0x20..=0x7E).contains(&u)
        || (0xA0..=0xD7FF).contains(&u)
        || ((0xE000..=0xFFFD).contains(&u) && u != 0xFEFF)
}

fn escape(c: char) -> String {
    match c {
        '\0' => "\\0".into(),
        '\u{7}' => "\\a".into(),
        '\u{8}' => "\\b".into(),
        '\t' => "\\t".into(),
        '\n' => "\\n".into(),
        '\u{b}' => "\\v".into(),
        '\u{c}' => "\\f".into(),
        '\r' => "\\r".into(),
        '\u{1b}' => "\\e".into(),
        '"' => "\\\"".into(),
        '\\' => "\\\\".into(),
        '\u{85}' => "\\N".into(),
        '\u{a0}' => "\\_".into(),
        '\u{2028}' => "\\L".into(),
        '\u{2029}' => "\\P".into(),
        c if (c as u32) <= 0xFF => format!("\\x{:02X}", c as u32),
        c if (c as u32) <= 0xFFFF => format!("\\u{:04X}", c as u32),
        c => format!("\\U{:08X}", c as u32),
    }
}

/// go-yaml v2's `yaml_emitter_analyze_scalar`, for block context.
fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            plain_allowed: true,
            single_allowed: true,
            block_allowed: false,
        };
    }
    let chars: Vec<char> = s.chars().collect();
    let mut block_indicators = s.starts_with("---") || s.starts_with("...");
    let mut preceded_by_whitespace = true;
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break, mut previous_space, mut previous_break) =
        (false, false, false, false);
    let mut line_breaks = false;
    let mut special = false;
    for (i, &c) in chars.iter().enumerate() {
        let followed_by_whitespace = is_blank_or_end(chars.get(i + 1).copied());
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_indicators = true,
                '?' | ':' | '-' if followed_by_whitespace => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_whitespace => block_indicators = true,
                '#' if preceded_by_whitespace => block_indicators = true,
                _ => {}
            }
        }
        if !is_printable(c) {
            special = true;
        }
        let last = i + 1 == chars.len();
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if last {
                trailing_space = true;
            }
            if previous_break {
                break_space = true;
            }
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            line_breaks = true;
            if i == 0 {
                leading_break = true;
            }
            if last {
                trailing_break = true;
            }
            if previous_space {
                space_break = true;
            }
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = is_blank_or_end(Some(c));
    }
    let mut a = Analysis {
        plain_allowed: true,
        single_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.plain_allowed = false;
        a.single_allowed = false;
    }
    if space_break || special {
        a.plain_allowed = false;
        a.single_allowed = false;
        a.block_allowed = false;
    }
    if line_breaks || block_indicators {
        a.plain_allowed = false;
    }
    a
}

/// Whether go-yaml v2 reads the plain scalar `s` back as a string (and not a
/// bool, null, number or timestamp). Strings that would not must be quoted.
fn resolves_to_string(s: &str) -> bool {
    const NON_STRINGS: &[&str] = &[
        "", "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
        "true", "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
        ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
        ".NaN", ".NAN",
    ];
    // The longest word above has five characters.
    if s.len() <= 5 && NON_STRINGS.contains(&s) {
        return false;
    }
    let Some(first) = s.chars().next() else {
        return false;
    };
    if !matches!(first, '+' | '-' | '.' | '0'..='9') {
        return true;
    }
    let plain = s.replace('_', "");
    if is_go_int(&plain) || is_yaml_float(&plain) {
        return false;
    }
    if first.is_ascii_digit() && is_timestamp(s) {
        return false;
    }
    true
}

/// `strconv.ParseInt(s, 0, 64)` succeeds (sign, 0x/0o/0b/leading-0 octal).
fn is_go_int(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    if body.is_empty() {
        return false;
    }
    let (digits, radix) = if let Some(r) = body.strip_prefix("0x").or(body.strip_prefix("0X")) {
        (r, 16)
    } else if let Some(r) = body.strip_prefix("0b").or(body.strip_prefix("0B")) {
        (r, 2)
    } else if let Some(r) = body.strip_prefix("0o").or(body.strip_prefix("0O")) {
        (r, 8)
    } else if body.len() > 1 && body.starts_with('0') {
        (&body[1..], 8)
    } else {
        (body, 10)
    };
    !digits.is_empty() && i64::from_str_radix(digits, radix).is_ok()
        || (radix == 10 && digits.chars().all(|c| c.is_ascii_digit()) && !digits.is_empty())
}

/// go-yaml v2's float pattern `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// go-yaml v2's timestamp formats: a date, optionally with a time.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let date = b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit);
    if !date {
        return false;
    }
    if b.len() == 10 {
        return true;
    }
    // "2006-1-2T15:4:5.999999999Z07:00", "2006-1-2t15:4:5.999999999Z07:00",
    // "2006-1-2 15:4:5.999999999": accept the common shapes.
    let rest = &s[10..];
    let Some(rest) = rest
        .strip_prefix('T')
        .or(rest.strip_prefix('t'))
        .or(rest.strip_prefix(' '))
    else {
        return false;
    };
    let rb = rest.as_bytes();
    rb.len() >= 8
        && rb[..2].iter().all(u8::is_ascii_digit)
        && rb[2] == b':'
        && rb[3..5].iter().all(u8::is_ascii_digit)
        && rb[5] == b':'
        && rb[6..8].iter().all(u8::is_ascii_digit)
}

/// go-yaml v2's key order: runs of digits compare as numbers, non-letters sort
/// before letters, otherwise by code point.
pub(crate) fn natural_cmp(a: &str, b: &str) -> Ordering {
    // Keys are nearly always ASCII: compare bytes without allocating.
    if a.is_ascii() && b.is_ascii() {
        return natural_cmp_units(a.as_bytes(), b.as_bytes());
    }
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    natural_cmp_units(&ar, &br)
}

/// A character of a key: a `char`, or an ASCII byte.
trait Unit: Copy + Eq + Ord {
    fn is_letter(self) -> bool;
    fn digit(self) -> Option<u8>;
}

impl Unit for char {
    fn is_letter(self) -> bool {
        self.is_alphabetic()
    }
    fn digit(self) -> Option<u8> {
        self.is_ascii_digit().then(|| self as u8 - b'0')
    }
}

impl Unit for u8 {
    fn is_letter(self) -> bool {
        self.is_ascii_alphabetic()
    }
    fn digit(self) -> Option<u8> {
        self.is_ascii_digit().then(|| self - b'0')
    }
}

fn natural_cmp_units<U: Unit>(ar: &[U], br: &[U]) -> Ordering {
    let n = ar.len().min(br.len());
    for i in 0..n {
        if ar[i] == br[i] {
            continue;
        }
        let al = ar[i].is_letter();
        let bl = br[i].is_letter();
        if al && bl {
            return ar[i].cmp(&br[i]);
        }
        if al || bl {
            return if bl {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        let (mut an, mut bn): (i64, i64) = (0, 0);
        if ar[i].digit() == Some(0) || br[i].digit() == Some(0) {
            let mut j = i;
            while j > 0 && ar[j - 1].digit().is_some() {
                j -= 1;
                if ar[j].digit() != Some(0) {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while let Some(d) = ar.get(ai).and_then(|u| u.digit()) {
            an = an.wrapping_mul(10).wrapping_add(i64::from(d));
            ai += 1;
        }
        let mut bi = i;
        while let Some(d) = br.get(bi).and_then(|u| u.digit()) {
            bn = bn.wrapping_mul(10).wrapping_add(i64::from(d));
            bi += 1;
        }
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return ar[i].cmp(&br[i]);
    }
    ar.len().cmp(&br.len())
}

/// Numbers as go-yaml v2 prints a JSON number: integers in decimal, floats
/// in Go's `%g` shortest form (`1e-06`, `1.5e+07`).
fn format_number(n: &Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    let Some(f) = n.as_f64() else {
        return n.to_string();
    };
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            ".inf".into()
        } else {
            "-.inf".into()
        };
    }
    // Rust's `{:e}` gives the shortest round-trip digits, like Go's -1 precision.
    let sci = format!("{f:e}");
    let Some((mantissa, exp)) = sci.split_once('e') else {
        return sci;
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..21).contains(&exp) || (exp >= 6 && f.fract() != 0.0) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    format!("{f}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_that_read_back_as_other_types_are_double_quoted() {
        let doc = json!({"a": "true", "b": "1", "c": "yes", "d": "", "e": "1.5", "f": "plain"});
        assert_eq!(
            emit_document(&doc),
            "a: \"true\"\nb: \"1\"\nc: \"yes\"\nd: \"\"\ne: \"1.5\"\nf: plain\n"
        );
    }

    #[test]
    fn indicators_force_single_quotes() {
        let doc = json!({"a": "*", "b": "- x", "c": "a: b", "d": "it's"});
        assert_eq!(
            emit_document(&doc),
            "a: '*'\nb: '- x'\nc: 'a: b'\nd: it's\n"
        );
    }

    #[test]
    fn sequences_sit_at_their_key_column() {
        let doc = json!({"spec": {"items": [{"a": 1, "b": [1, 2]}, "x"]}});
        assert_eq!(
            emit_document(&doc),
            "spec:\n  items:\n  - a: 1\n    b:\n    - 1\n    - 2\n  - x\n"
        );
    }

    #[test]
    fn multi_line_strings_are_literal_blocks() {
        let doc = json!({"a": "x\ny\n", "b": "x\ny", "c": "x\n\n"});
        assert_eq!(
            emit_document(&doc),
            "a: |\n  x\n  y\nb: |-\n  x\n  y\nc: |+\n  x\n\n"
        );
    }

    #[test]
    fn natural_order_compares_digit_runs_as_numbers() {
        let mut keys = vec!["a10", "a9", "a_b", "aB", "b"];
        keys.sort_by(|a, b| natural_cmp(a, b));
        // `_` against `9`: both non-letters, so go-yaml compares the digit
        // runs, and "no digits" (0) is less than 9.
        assert_eq!(keys, vec!["a_b", "a9", "a10", "aB", "b"]);
    }
}
