//! YAML in and out the way Helm does it.
//!
//! Reading: values files go YAML → JSON → Go values (`sigs.k8s.io/yaml`), so numbers are
//! float64. Writing (`toYaml`): Go value → JSON → `yaml.v2`, so integral numbers print as
//! integers, keys are sorted, sequences sit at their parent's indentation, and strings are
//! quoted only where YAML 1.1 would read them as something else.

use std::rc::Rc;

use crate::value::{Value, format_float_g, format_float_json};

/// Parses YAML text into a value (numbers as float64), `None` for an empty document.
pub fn parse(text: &str) -> Result<Value, String> {
    if text.trim().is_empty() {
        return Ok(Value::Nil);
    }
    let v: serde_json::Value = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
    Ok(Value::from_json(&v))
}

/// `toYaml` before Helm trims the final newline.
pub fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    block(v, 0, &mut out, false);
    out
}

/// Writes `v` as block YAML at `indent`; with `inline_first` the first line continues the
/// current one (after `- `). Every entry ends with a newline.
fn block(v: &Value, indent: usize, out: &mut String, inline_first: bool) {
    match v {
        Value::Map(m) if !m.is_empty() => {
            for (i, (k, x)) in m.iter().enumerate() {
                if !(i == 0 && inline_first) {
                    push_indent(out, indent);
                }
                out.push_str(&scalar_str(k, indent + 2));
                out.push(':');
                match x {
                    Value::Map(mm) if !mm.is_empty() => {
                        out.push('\n');
                        block(x, indent + 2, out, false);
                    }
                    Value::List(l) if !l.is_empty() => {
                        out.push('\n');
                        block(x, indent, out, false);
                    }
                    _ => {
                        out.push(' ');
                        let col = out.len() - out.rfind('\n').map(|i| i + 1).unwrap_or(0);
                        emit_scalar_at(x, indent + 2, col, out);
                        out.push('\n');
                    }
                }
            }
        }
        Value::List(l) if !l.is_empty() => {
            for (i, item) in l.iter().enumerate() {
                if !(i == 0 && inline_first) {
                    push_indent(out, indent);
                }
                out.push_str("- ");
                match item {
                    Value::Map(mm) if !mm.is_empty() => block(item, indent + 2, out, true),
                    Value::List(ll) if !ll.is_empty() => block(item, indent + 2, out, true),
                    _ => {
                        let col = out.len() - out.rfind('\n').map(|i| i + 1).unwrap_or(0);
                        emit_scalar_at(item, indent + 2, col, out);
                        out.push('\n');
                    }
                }
            }
        }
        _ => {
            emit_scalar(v, 2, out);
            out.push('\n');
        }
    }
}

fn push_indent(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push(' ');
    }
}

fn emit_scalar(v: &Value, indent: usize, out: &mut String) {
    emit_scalar_at(v, indent, 0, out);
}

fn emit_scalar_at(v: &Value, indent: usize, column: usize, out: &mut String) {
    match v {
        Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => {
            // Through JSON: integral values come back as YAML integers.
            let j = format_float_json(*f);
            if j.parse::<i64>().is_ok() {
                out.push_str(&j);
            } else {
                out.push_str(&format_float_g(*f));
            }
        }
        Value::Str(s) => out.push_str(&scalar_at(s, indent, column)),
        Value::Map(_) => out.push_str("{}"),
        Value::List(_) => out.push_str("[]"),
    }
}

/// A string as yaml.v2 writes it: plain, single-quoted, double-quoted or literal block.
fn scalar_str(s: &str, indent: usize) -> String {
    scalar_at(s, indent, 0)
}

/// [`scalar_str`] for a scalar starting at `column` of its line: plain and single-quoted
/// strings fold at spaces past column 80, as yaml.v2's emitter does.
fn scalar_at(s: &str, indent: usize, column: usize) -> String {
    if s.is_empty() {
        return "\"\"".into();
    }
    if resolves_to_non_string(s) {
        return format!("\"{}\"", s);
    }
    if s.contains('\n')
        && !s
            .chars()
            .any(|c| c != '\n' && c != '\t' && (c.is_control() || c == '\u{feff}'))
    {
        return literal_block(s, indent);
    }
    if needs_double(s) {
        return double_quoted(s);
    }
    if plain_ok(s) {
        return fold(s, indent, column);
    }
    fold(&format!("'{}'", s.replace('\'', "''")), indent, column)
}

/// yaml.v2 breaks a plain or single-quoted scalar at a single space once the line is past
/// 80 columns, continuing at `indent`.
fn fold(s: &str, indent: usize, mut column: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut spaces = false;
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let next_space = chars.get(i + 1) == Some(&' ');
            if !spaces && column > 80 && !next_space && i > 0 && i + 1 < chars.len() {
                out.push('\n');
                push_indent(&mut out, indent);
                column = indent;
            } else {
                out.push(c);
                column += 1;
            }
            spaces = true;
        } else {
            out.push(c);
            column += 1;
            spaces = false;
        }
    }
    out
}

fn literal_block(s: &str, indent: usize) -> String {
    let mut out = String::from("|");
    if s.starts_with(' ') || s.starts_with('\n') {
        out.push('2');
    }
    let trailing = s.len() - s.trim_end_matches('\n').len();
    match trailing {
        0 => out.push('-'),
        1 => {}
        _ => out.push('+'),
    }
    let body = if trailing > 0 { &s[..s.len() - 1] } else { s };
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            push_indent(&mut out, indent);
            out.push_str(line);
        }
    }
    out
}

fn needs_double(s: &str) -> bool {
    s.chars().any(|c| {
        (c.is_control() && c != '\n')
            || c == '\u{feff}'
            || c == '\u{85}'
            || c == '\u{2028}'
            || c == '\u{2029}'
    })
}

fn double_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if c.is_control() => out.push_str(&format!("\\x{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether a string may be written plain (libyaml's scalar analysis, block context).
fn plain_ok(s: &str) -> bool {
    let first = s.chars().next().unwrap_or(' ');
    let last = s.chars().last().unwrap_or(' ');
    if first == ' ' || last == ' ' || first == '\t' || last == '\t' {
        return false;
    }
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        // `-`, `?`, `:` may start a plain scalar when followed by a non-space.
        let second = s.chars().nth(1);
        let ok = matches!(first, '-' | '?' | ':') && second.is_some_and(|c| c != ' ');
        if !ok {
            return false;
        }
    }
    if s.starts_with("---") || s.starts_with("...") {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(':') {
        return false;
    }
    true
}

/// YAML 1.1 (yaml.v2) values that would not read back as strings.
fn resolves_to_non_string(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
        "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL", "~",
        ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
        ".NaN", ".NAN", "<<",
    ];
    if WORDS.contains(&s) {
        return true;
    }
    let t = s.replace('_', "");
    let body = t.strip_prefix(['-', '+']).unwrap_or(&t);
    if body.is_empty() {
        return false;
    }
    if body.bytes().all(|c| c.is_ascii_digit()) {
        return true;
    }
    if let Some(h) = body.strip_prefix("0x")
        && !h.is_empty()
        && h.bytes().all(|c| c.is_ascii_hexdigit())
    {
        return true;
    }
    if let Some(b) = body.strip_prefix("0b")
        && !b.is_empty()
        && b.bytes().all(|c| c == b'0' || c == b'1')
    {
        return true;
    }
    // Floats: digits with one dot and an optional exponent.
    let re_float = |x: &str| {
        let (m, e) = match x.find(['e', 'E']) {
            Some(i) => (&x[..i], Some(&x[i + 1..])),
            None => (x, None),
        };
        let m_ok = !m.is_empty()
            && m.matches('.').count() <= 1
            && m.bytes().all(|c| c.is_ascii_digit() || c == b'.')
            && m != ".";
        let e_ok = e.is_none_or(|e| {
            let e = e.strip_prefix(['-', '+']).unwrap_or(e);
            !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit())
        });
        m_ok && e_ok && (m.contains('.') || e.is_some())
    };
    if re_float(body) {
        return true;
    }
    // Timestamps (2001-12-14, 2001-12-14t21:59:43.10-05:00) are YAML 1.1 values too.
    if regex::Regex::new(r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)?$").is_ok_and(|re| re.is_match(s)) {
        return true;
    }
    // Sexagesimal integers (190:20:30) are YAML 1.1 numbers too.
    if body.contains(':')
        && body
            .split(':')
            .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
    {
        return true;
    }
    false
}

/// JSON as Go's `encoding/json` writes it (HTML characters escaped, keys sorted).
pub fn to_json(v: &Value, pretty: bool) -> String {
    let mut out = String::new();
    json(v, pretty, 0, &mut out);
    out
}

fn json(v: &Value, pretty: bool, depth: usize, out: &mut String) {
    let nl = |out: &mut String, d: usize| {
        if pretty {
            out.push('\n');
            push_indent(out, d * 2);
        }
    };
    match v {
        Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&format_float_json(*f)),
        Value::Str(s) => json_str(s, out),
        Value::List(l) => {
            out.push('[');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                nl(out, depth + 1);
                json(x, pretty, depth + 1, out);
            }
            if !l.is_empty() {
                nl(out, depth);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                nl(out, depth + 1);
                json_str(k, out);
                out.push(':');
                if pretty {
                    out.push(' ');
                }
                json(x, pretty, depth + 1, out);
            }
            if !m.is_empty() {
                nl(out, depth);
            }
            out.push('}');
        }
    }
}

fn json_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Wraps a list of values (helper for callers building lists).
pub fn list(v: Vec<Value>) -> Value {
    Value::List(Rc::new(v))
}
