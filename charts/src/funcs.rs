//! The function map: Go's built-ins, the Sprig functions charts use, and Helm's own.
//!
//! `include` and `tpl` need the template set and live in the executor; everything else is
//! here. Semantics follow Sprig v3 and Helm's `engine/funcs.go`: most Sprig functions
//! convert their arguments leniently (`strval`, `toInt64`), as the Go code does.

use std::collections::BTreeMap;
use std::rc::Rc;

use base64::Engine as _;
use sha2::Digest as _;

use crate::template::FuncError;
use crate::value::Value;
use crate::yaml;

/// The key that marks a map as one of Helm's objects with methods (`.Files`, APIVersions).
pub const OBJECT_KIND: &str = "\u{1}kind";
/// Where such an object keeps its data.
pub const OBJECT_DATA: &str = "\u{1}data";

type R = Result<Value, FuncError>;

fn call_err(m: impl Into<String>) -> FuncError {
    FuncError::Call(m.into())
}

/// Sprig's `strval`: strings as they are, everything else as `%v` prints it.
pub fn strval(v: &Value) -> String {
    match v {
        Value::Str(s) => s.to_string(),
        Value::Nil => String::new(),
        other => {
            let s = other.to_go_string();
            if s == "<no value>" { "<nil>".into() } else { s }
        }
    }
}

fn to_i64(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        Value::Float(f) => *f as i64,
        Value::Bool(b) => i64::from(*b),
        Value::Str(s) => s
            .trim()
            .parse::<i64>()
            .or_else(|_| s.trim().parse::<f64>().map(|f| f as i64))
            .unwrap_or(0),
        _ => 0,
    }
}

fn to_f64(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Str(s) => s.trim().parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

fn list_of(v: &Value) -> Result<Vec<Value>, FuncError> {
    match v {
        Value::List(l) => Ok(l.to_vec()),
        Value::Nil => Ok(vec![]),
        other => Err(call_err(format!(
            "Cannot find first on type {}",
            other.type_name()
        ))),
    }
}

fn map_v(m: BTreeMap<String, Value>) -> Value {
    Value::Map(Rc::new(m))
}

fn list_v(l: Vec<Value>) -> Value {
    Value::List(Rc::new(l))
}

fn arg(args: &[Value], i: usize) -> Value {
    args.get(i).cloned().unwrap_or(Value::Nil)
}

fn want(name: &str, args: &[Value], n: usize) -> Result<(), FuncError> {
    if args.len() != n {
        return Err(call_err(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        )));
    }
    Ok(())
}

/// Go's `%q` of a string (strconv.Quote).
pub fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Sprig's `empty`.
fn empty(v: &Value) -> bool {
    !v.truthy()
}

/// Go's comparison rules for `eq`, `ne`, `lt`...: basic kinds only, ints with ints.
fn basic_cmp(a: &Value, b: &Value) -> Result<Option<std::cmp::Ordering>, FuncError> {
    use Value::*;
    Ok(match (a, b) {
        (Int(x), Int(y)) => Some(x.cmp(y)),
        (Float(x), Float(y)) => x.partial_cmp(y),
        (Str(x), Str(y)) => Some(x.cmp(y)),
        (Bool(x), Bool(y)) => Some(x.cmp(y)),
        (Nil, Nil) => Some(std::cmp::Ordering::Equal),
        _ => return Err(call_err("incompatible types for comparison")),
    })
}

fn eq(a: &Value, b: &Value) -> Result<bool, FuncError> {
    match (a, b) {
        (Value::Nil, _) | (_, Value::Nil) => Ok(matches!((a, b), (Value::Nil, Value::Nil))),
        (Value::Bool(_), _) | (Value::Int(_), _) | (Value::Float(_), _) | (Value::Str(_), _) => {
            Ok(basic_cmp(a, b)? == Some(std::cmp::Ordering::Equal))
        }
        _ => Err(call_err("non-comparable type")),
    }
}

/// Calls function `name`.
pub fn call(name: &str, args: Vec<Value>) -> R {
    let a = &args;
    let s = |i: usize| strval(&arg(a, i));
    Ok(match name {
        // Go built-ins.
        "not" => {
            want(name, a, 1)?;
            Value::Bool(!a[0].truthy())
        }
        "len" => {
            want(name, a, 1)?;
            Value::Int(match &a[0] {
                Value::Str(x) => x.len() as i64,
                Value::List(l) => l.len() as i64,
                Value::Map(m) => m.len() as i64,
                other => return Err(call_err(format!("len of type {}", other.type_name()))),
            })
        }
        "index" => {
            let mut v = arg(a, 0);
            for k in a.iter().skip(1) {
                v = match (&v, k) {
                    (Value::Map(m), Value::Str(key)) => {
                        m.get(&**key).cloned().unwrap_or(Value::Nil)
                    }
                    (Value::List(l), Value::Int(_) | Value::Float(_)) => {
                        let i = to_i64(k);
                        if i < 0 || i as usize >= l.len() {
                            return Err(call_err(format!(
                                "error calling index: index out of range: {i}"
                            )));
                        }
                        l[i as usize].clone()
                    }
                    (Value::Nil, _) => return Err(call_err("index of untyped nil")),
                    (Value::Map(_), _) => {
                        return Err(call_err("value has type int; should be string"));
                    }
                    (other, _) => {
                        return Err(call_err(format!(
                            "can't index item of type {}",
                            other.type_name()
                        )));
                    }
                };
            }
            v
        }
        "print" => Value::str(go_print(a)),
        "println" => Value::str(format!(
            "{}\n",
            a.iter()
                .map(|x| x.to_go_string().replace("<no value>", "<nil>"))
                .collect::<Vec<_>>()
                .join(" ")
        )),
        "printf" => Value::str(sprintf(&s(0), &a[1.min(a.len())..])),
        "eq" => {
            if a.len() < 2 {
                return Err(call_err("missing argument for comparison"));
            }
            let mut r = false;
            for b in &a[1..] {
                if eq(&a[0], b)? {
                    r = true;
                }
            }
            Value::Bool(r)
        }
        "ne" => {
            want(name, a, 2)?;
            Value::Bool(!eq(&a[0], &a[1])?)
        }
        "lt" | "le" | "gt" | "ge" => {
            want(name, a, 2)?;
            let o = basic_cmp(&a[0], &a[1])?;
            use std::cmp::Ordering::*;
            Value::Bool(matches!(
                (name, o),
                ("lt", Some(Less))
                    | ("le", Some(Less | Equal))
                    | ("gt", Some(Greater))
                    | ("ge", Some(Greater | Equal))
            ))
        }
        "html" => Value::str(
            s(0).replace('&', "&amp;")
                .replace('\'', "&#39;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&#34;"),
        ),
        "urlquery" => Value::str(
            s(0).bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                        (b as char).to_string()
                    } else if b == b' ' {
                        "+".into()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect::<String>(),
        ),
        // Sprig: defaults and flow.
        "default" => {
            if a.len() < 2 || empty(&a[1]) {
                arg(a, 0)
            } else {
                a[1].clone()
            }
        }
        "empty" => Value::Bool(empty(&arg(a, 0))),
        "coalesce" => a.iter().find(|x| !empty(x)).cloned().unwrap_or(Value::Nil),
        "ternary" => {
            if arg(a, 2).truthy() {
                arg(a, 0)
            } else {
                arg(a, 1)
            }
        }
        "fail" => return Err(FuncError::Fail(s(0))),
        "required" => {
            let v = arg(a, 1);
            if matches!(&v, Value::Nil) || matches!(&v, Value::Str(x) if x.is_empty()) {
                return Err(FuncError::Fail(s(0)));
            }
            v
        }
        "lookup" => map_v(BTreeMap::new()),
        // Strings.
        "quote" => Value::str(
            a.iter()
                .filter(|x| !matches!(x, Value::Nil))
                .map(|x| go_quote(&strval(x)))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "squote" => Value::str(
            a.iter()
                .filter(|x| !matches!(x, Value::Nil))
                .map(|x| format!("'{}'", strval(x)))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "upper" => Value::str(s(0).to_uppercase()),
        "lower" => Value::str(s(0).to_lowercase()),
        "title" => Value::str(title(&s(0))),
        "trim" => Value::str(s(0).trim()),
        "trimSuffix" => Value::str(
            s(1).strip_suffix(s(0).as_str())
                .map(str::to_string)
                .unwrap_or_else(|| s(1)),
        ),
        "trimPrefix" => Value::str(
            s(1).strip_prefix(s(0).as_str())
                .map(str::to_string)
                .unwrap_or_else(|| s(1)),
        ),
        "trimAll" => {
            let cut = s(0);
            Value::str(s(1).trim_matches(|c| cut.contains(c)))
        }
        "replace" => Value::str(s(2).replace(s(0).as_str(), &s(1))),
        "contains" => Value::Bool(s(1).contains(s(0).as_str())),
        "hasPrefix" => Value::Bool(s(1).starts_with(s(0).as_str())),
        "hasSuffix" => Value::Bool(s(1).ends_with(s(0).as_str())),
        "indent" => Value::str(indent(to_i64(&arg(a, 0)), &s(1))),
        "nindent" => Value::str(format!("\n{}", indent(to_i64(&arg(a, 0)), &s(1)))),
        "trunc" => {
            let n = to_i64(&arg(a, 0));
            let st = s(1);
            let len = st.len() as i64;
            Value::str(if n < 0 && -n < len {
                st[(len + n) as usize..].to_string()
            } else if n >= 0 && n < len {
                st[..n as usize].to_string()
            } else {
                st
            })
        }
        "substr" => {
            let (st, en, x) = (to_i64(&arg(a, 0)), to_i64(&arg(a, 1)), s(2));
            let l = x.len() as i64;
            let st = if st < 0 { 0 } else { st.min(l) };
            let en = if en < 0 || en > l { l } else { en };
            Value::str(if st > en {
                String::new()
            } else {
                x[st as usize..en as usize].to_string()
            })
        }
        "repeat" => Value::str(s(1).repeat(to_i64(&arg(a, 0)).max(0) as usize)),
        "cat" => Value::str(
            a.iter()
                .filter(|x| !matches!(x, Value::Nil))
                .map(strval)
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "nospace" => Value::str(s(0).split_whitespace().collect::<String>()),
        "toString" => Value::str(s(0)),
        "toStrings" => list_v(
            list_of(&arg(a, 0))?
                .iter()
                .map(|x| Value::str(strval(x)))
                .collect(),
        ),
        "snakecase" => Value::str(snake(&s(0), '_')),
        "kebabcase" => Value::str(snake(&s(0), '-')),
        "camelcase" => Value::str(s(0).split(['_', '-', ' ']).map(title).collect::<String>()),
        "join" => {
            let sep = s(0);
            let items = match arg(a, 1) {
                Value::List(l) => l.iter().map(strval).collect::<Vec<_>>(),
                Value::Nil => vec![],
                other => vec![strval(&other)],
            };
            Value::str(items.join(&sep))
        }
        "splitList" => list_v(s(1).split(s(0).as_str()).map(Value::str).collect()),
        "split" => map_v(
            s(1).split(s(0).as_str())
                .enumerate()
                .map(|(i, p)| (format!("_{i}"), Value::str(p)))
                .collect(),
        ),
        "sortAlpha" => {
            let mut l: Vec<String> = list_of(&arg(a, 0))?.iter().map(strval).collect();
            l.sort();
            list_v(l.into_iter().map(Value::str).collect())
        }
        "regexMatch" => Value::Bool(regex(&s(0))?.is_match(&s(1))),
        "regexReplaceAll" => Value::str(
            regex(&s(0))?
                .replace_all(&s(1), go_repl(&s(2)).as_str())
                .to_string(),
        ),
        "regexReplaceAllLiteral" => Value::str(
            regex(&s(0))?
                .replace_all(&s(1), regex::NoExpand(&s(2)))
                .to_string(),
        ),
        "regexFind" => Value::str(
            regex(&s(0))?
                .find(&s(1))
                .map(|m| m.as_str().to_string())
                .unwrap_or_default(),
        ),
        "regexFindAll" => {
            let n = to_i64(&arg(a, 2));
            let re = regex(&s(0))?;
            let t = s(1);
            let all: Vec<Value> = re.find_iter(&t).map(|m| Value::str(m.as_str())).collect();
            list_v(if n >= 0 {
                all.into_iter().take(n as usize).collect()
            } else {
                all
            })
        }
        "b64enc" => Value::str(base64::engine::general_purpose::STANDARD.encode(s(0))),
        "b64dec" => Value::str(
            match base64::engine::general_purpose::STANDARD.decode(s(0)) {
                Ok(b) => String::from_utf8_lossy(&b).into_owned(),
                Err(e) => e.to_string(),
            },
        ),
        "sha256sum" => Value::str(hex::encode(sha2::Sha256::digest(s(0).as_bytes()))),
        // Conversions and maths.
        "int" | "int64" | "atoi" => Value::Int(to_i64(&arg(a, 0))),
        "float64" => Value::Float(to_f64(&arg(a, 0))),
        "toDecimal" => Value::Int(i64::from_str_radix(&s(0), 8).unwrap_or(0)),
        "add" => Value::Int(a.iter().map(to_i64).sum()),
        "add1" => Value::Int(to_i64(&arg(a, 0)) + 1),
        "sub" => Value::Int(to_i64(&arg(a, 0)) - to_i64(&arg(a, 1))),
        "mul" => Value::Int(a.iter().map(to_i64).product()),
        "div" => {
            let d = to_i64(&arg(a, 1));
            if d == 0 {
                return Err(call_err("runtime error: integer divide by zero"));
            }
            Value::Int(to_i64(&arg(a, 0)) / d)
        }
        "mod" => {
            let d = to_i64(&arg(a, 1));
            if d == 0 {
                return Err(call_err("runtime error: integer divide by zero"));
            }
            Value::Int(to_i64(&arg(a, 0)) % d)
        }
        "max" => Value::Int(a.iter().map(to_i64).max().unwrap_or(0)),
        "min" => Value::Int(a.iter().map(to_i64).min().unwrap_or(0)),
        "floor" => Value::Float(to_f64(&arg(a, 0)).floor()),
        "ceil" => Value::Float(to_f64(&arg(a, 0)).ceil()),
        "until" => list_v((0..to_i64(&arg(a, 0)).max(0)).map(Value::Int).collect()),
        "untilStep" => {
            let (st, en, step) = (to_i64(&arg(a, 0)), to_i64(&arg(a, 1)), to_i64(&arg(a, 2)));
            let mut v = vec![];
            let mut i = st;
            while step != 0 && ((step > 0 && i < en) || (step < 0 && i > en)) {
                v.push(Value::Int(i));
                i += step;
            }
            list_v(v)
        }
        // Types.
        "kindOf" => Value::str(arg(a, 0).kind_name()),
        "kindIs" => Value::Bool(arg(a, 1).kind_name() == s(0)),
        "typeOf" => Value::str(arg(a, 0).type_name()),
        "typeIs" => Value::Bool(arg(a, 1).type_name() == s(0)),
        "deepCopy" => arg(a, 0),
        // Lists.
        "list" => list_v(a.clone()),
        "first" => list_of(&arg(a, 0))?.first().cloned().unwrap_or(Value::Nil),
        "last" => list_of(&arg(a, 0))?.last().cloned().unwrap_or(Value::Nil),
        "rest" => list_v(list_of(&arg(a, 0))?.into_iter().skip(1).collect()),
        "initial" => {
            let mut l = list_of(&arg(a, 0))?;
            l.pop();
            list_v(l)
        }
        "append" | "push" => {
            let mut l = list_of(&arg(a, 0))?;
            l.push(arg(a, 1));
            list_v(l)
        }
        "prepend" => {
            let mut l = list_of(&arg(a, 0))?;
            l.insert(0, arg(a, 1));
            list_v(l)
        }
        "concat" => {
            let mut l = vec![];
            for x in a {
                l.extend(list_of(x)?);
            }
            list_v(l)
        }
        "has" => Value::Bool(list_of(&arg(a, 1))?.iter().any(|x| x == &a[0])),
        "without" => {
            let l = list_of(&arg(a, 0))?;
            list_v(l.into_iter().filter(|x| !a[1..].contains(x)).collect())
        }
        "uniq" => {
            let mut out: Vec<Value> = vec![];
            for x in list_of(&arg(a, 0))? {
                if !out.contains(&x) {
                    out.push(x);
                }
            }
            list_v(out)
        }
        "compact" => list_v(
            list_of(&arg(a, 0))?
                .into_iter()
                .filter(|x| !empty(x))
                .collect(),
        ),
        "reverse" => {
            let mut l = list_of(&arg(a, 0))?;
            l.reverse();
            list_v(l)
        }
        // Dicts.
        "dict" => {
            let mut m = BTreeMap::new();
            let mut i = 0;
            while i < a.len() {
                m.insert(strval(&a[i]), arg(a, i + 1));
                i += 2;
            }
            map_v(m)
        }
        "set" => {
            let mut m = arg(a, 0).as_map().cloned().unwrap_or_default();
            m.insert(s(1), arg(a, 2));
            map_v(m)
        }
        "unset" => {
            let mut m = arg(a, 0).as_map().cloned().unwrap_or_default();
            m.remove(&s(1));
            map_v(m)
        }
        "hasKey" => Value::Bool(arg(a, 0).as_map().is_some_and(|m| m.contains_key(&s(1)))),
        "get" => arg(a, 0)
            .as_map()
            .and_then(|m| m.get(&s(1)).cloned())
            .unwrap_or(Value::str("")),
        "keys" => {
            let mut k = vec![];
            for m in a {
                if let Some(m) = m.as_map() {
                    k.extend(m.keys().map(|x| Value::str(x.as_str())));
                }
            }
            list_v(k)
        }
        "values" => list_v(
            arg(a, 0)
                .as_map()
                .map(|m| m.values().cloned().collect())
                .unwrap_or_default(),
        ),
        "pluck" => {
            let k = s(0);
            list_v(
                a[1..]
                    .iter()
                    .filter_map(|m| m.as_map().and_then(|m| m.get(&k).cloned()))
                    .collect(),
            )
        }
        "pick" => {
            let m = arg(a, 0).as_map().cloned().unwrap_or_default();
            let ks: Vec<String> = a[1..].iter().map(strval).collect();
            map_v(m.into_iter().filter(|(k, _)| ks.contains(k)).collect())
        }
        "omit" => {
            let m = arg(a, 0).as_map().cloned().unwrap_or_default();
            let ks: Vec<String> = a[1..].iter().map(strval).collect();
            map_v(m.into_iter().filter(|(k, _)| !ks.contains(k)).collect())
        }
        "merge" | "mergeOverwrite" => {
            let mut dst = arg(a, 0);
            for src in &a[1..] {
                dst = merge(&dst, src, name == "mergeOverwrite");
            }
            dst
        }
        // Encodings.
        "toYaml" => Value::str(yaml::to_yaml(&arg(a, 0)).trim_end_matches('\n')),
        "toJson" => Value::str(yaml::to_json(&arg(a, 0), false)),
        "toPrettyJson" => Value::str(yaml::to_json(&arg(a, 0), true)),
        "toRawJson" => Value::str(
            yaml::to_json(&arg(a, 0), false)
                .replace("\\u003c", "<")
                .replace("\\u003e", ">")
                .replace("\\u0026", "&"),
        ),
        "fromYaml" => yaml::parse(&s(0))
            .unwrap_or_else(|e| map_v(BTreeMap::from([("Error".to_string(), Value::str(e))]))),
        "fromJson" => match serde_json::from_str::<serde_json::Value>(&s(0)) {
            Ok(j) => Value::from_json(&j),
            Err(e) => map_v(BTreeMap::from([(
                "Error".to_string(),
                Value::str(e.to_string()),
            )])),
        },
        "semverCompare" => Value::Bool(crate::semver::matches(&s(0), &s(1)).map_err(call_err)?),
        _ => return Err(FuncError::Call(format!("function {name:?} not defined"))),
    })
}

/// Go's `fmt.Sprint`: spaces only between operands when neither is a string.
fn go_print(a: &[Value]) -> String {
    let mut out = String::new();
    for (i, x) in a.iter().enumerate() {
        if i > 0 && !matches!(x, Value::Str(_)) && !matches!(a[i - 1], Value::Str(_)) {
            out.push(' ');
        }
        out.push_str(&x.to_go_string().replace("<no value>", "<nil>"));
    }
    out
}

/// The subset of Go's `fmt.Sprintf` verbs charts use: %s %d %v %q %f %t %x %%, widths.
pub fn sprintf(f: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut it = f.chars().peekable();
    let mut n = 0;
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = String::new();
        while let Some(&d) = it.peek() {
            if d.is_ascii_digit() || d == '.' || d == '-' || d == '+' || d == '#' || d == ' ' {
                spec.push(d);
                it.next();
            } else {
                break;
            }
        }
        let Some(verb) = it.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(v) = args.get(n) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        n += 1;
        let body = match (verb, v) {
            ('s' | 'v', Value::Nil) => {
                if verb == 's' {
                    "%!s(<nil>)".to_string()
                } else {
                    "<nil>".into()
                }
            }
            ('s', Value::Int(_) | Value::Float(_) | Value::Bool(_)) => {
                format!("%!s({}={})", v.type_name(), v.to_go_string())
            }
            ('s' | 'v', x) => x.to_go_string(),
            ('d', Value::Int(i)) => i.to_string(),
            ('d', Value::Float(x)) => format!("%!d(float64={})", crate::value::format_float_g(*x)),
            ('d', x) => format!("%!d({}={})", x.type_name(), x.to_go_string()),
            ('q', x) => go_quote(&strval(x)),
            ('t', Value::Bool(b)) => b.to_string(),
            ('f', x) => {
                let prec = spec
                    .split_once('.')
                    .and_then(|(_, p)| p.parse::<usize>().ok())
                    .unwrap_or(6);
                spec = spec
                    .split_once('.')
                    .map(|(w, _)| w.to_string())
                    .unwrap_or(spec);
                format!("{:.*}", prec, to_f64(x))
            }
            ('x', Value::Int(i)) => format!("{i:x}"),
            ('x', x) => hex::encode(strval(x)),
            (_, x) => x.to_go_string(),
        };
        let width: usize = spec
            .trim_start_matches(['-', '+', '#', ' ', '0'])
            .parse()
            .unwrap_or(0);
        let pad = width.saturating_sub(body.chars().count());
        if spec.starts_with('-') {
            out.push_str(&body);
            out.push_str(&" ".repeat(pad));
        } else {
            let fill = if spec.starts_with('0') { "0" } else { " " };
            out.push_str(&fill.repeat(pad));
            out.push_str(&body);
        }
    }
    if n < args.len() {
        out.push_str("%!(EXTRA ");
        out.push_str(
            &args[n..]
                .iter()
                .map(|x| format!("{}={}", x.type_name(), x.to_go_string()))
                .collect::<Vec<_>>()
                .join(", "),
        );
        out.push(')');
    }
    out
}

fn title(s: &str) -> String {
    let mut out = String::new();
    let mut prev_letter = false;
    for c in s.chars() {
        if !prev_letter {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_letter = c.is_alphanumeric() || c == '_' || c == '\'';
    }
    out
}

fn snake(s: &str, sep: char) -> String {
    let mut out = String::new();
    let chars: Vec<char> = s.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            if i > 0
                && (chars[i - 1].is_lowercase()
                    || chars.get(i + 1).is_some_and(|n| n.is_lowercase()))
                && !out.ends_with(sep)
            {
                out.push(sep);
            }
            out.extend(c.to_lowercase());
        } else if *c == '_' || *c == '-' || *c == ' ' {
            out.push(sep);
        } else {
            out.push(*c);
        }
    }
    out
}

fn indent(n: i64, s: &str) -> String {
    let pad = " ".repeat(n.max(0) as usize);
    format!("{pad}{}", s.replace('\n', &format!("\n{pad}")))
}

fn regex(p: &str) -> Result<regex::Regex, FuncError> {
    regex::Regex::new(p).map_err(|e| call_err(e.to_string()))
}

/// Go's `$1`/`${name}` expansion is the regex crate's too, except that Go reads `$1a` as a
/// group named `1a`; charts write `${1}` when that matters, so the syntax carries over.
fn go_repl(r: &str) -> String {
    r.to_string()
}

/// Sprig's `merge` (mergo without overwrite) and `mergeOverwrite`: maps merge deeply.
fn merge(dst: &Value, src: &Value, overwrite: bool) -> Value {
    match (dst, src) {
        (Value::Map(d), Value::Map(s)) => {
            let mut out = (**d).clone();
            for (k, sv) in s.iter() {
                let nv = match out.get(k) {
                    Some(dv @ Value::Map(_)) if matches!(sv, Value::Map(_)) => {
                        merge(dv, sv, overwrite)
                    }
                    Some(dv) if !overwrite && !empty(dv) => dv.clone(),
                    Some(dv)
                        if overwrite
                            && empty(sv)
                            && !matches!(sv, Value::Bool(_) | Value::Int(_) | Value::Float(_)) =>
                    {
                        dv.clone()
                    }
                    _ => sv.clone(),
                };
                out.insert(k.clone(), nv);
            }
            Value::Map(Rc::new(out))
        }
        (Value::Nil, s) => s.clone(),
        (d, _) => d.clone(),
    }
}

/// Methods of Helm's objects: `.Files.Get`, `.Files.Glob`, `.Files.AsConfig`,
/// `.Files.AsSecrets`, `.Files.Lines`, `.Capabilities.APIVersions.Has`.
pub fn method(recv: &Value, name: &str, args: &[Value]) -> Result<Value, String> {
    let Some(m) = recv.as_map() else {
        return Err(format!("can't evaluate field {name}"));
    };
    let kind = m.get(OBJECT_KIND).map(strval).unwrap_or_default();
    let data = m.get(OBJECT_DATA).cloned().unwrap_or(Value::Nil);
    let a0 = args.first().map(strval).unwrap_or_default();
    match (kind.as_str(), name) {
        ("apiversions", "Has") => Ok(Value::Bool(match &data {
            Value::List(l) => l.iter().any(|v| strval(v) == a0),
            _ => false,
        })),
        ("files", "Get") => Ok(data
            .as_map()
            .and_then(|f| f.get(&a0).cloned())
            .unwrap_or(Value::str(""))),
        ("files", "GetBytes") => Ok(data
            .as_map()
            .and_then(|f| f.get(&a0).cloned())
            .unwrap_or(Value::str(""))),
        ("files", "Lines") => {
            let t = data
                .as_map()
                .and_then(|f| f.get(&a0).map(strval))
                .unwrap_or_default();
            Ok(list_v(t.split('\n').map(Value::str).collect()))
        }
        ("files", "Glob") => {
            let files = data.as_map().cloned().unwrap_or_default();
            let pat = crate::chart::glob_regex(&a0);
            let picked: BTreeMap<String, Value> = files
                .into_iter()
                .filter(|(k, _)| pat.as_ref().is_some_and(|p| p.is_match(k)))
                .collect();
            Ok(files_object(picked))
        }
        ("files", "AsConfig" | "AsSecrets") => {
            let files = data.as_map().cloned().unwrap_or_default();
            let mut out = BTreeMap::new();
            for (k, v) in files {
                let base = k.rsplit('/').next().unwrap_or(&k).to_string();
                let v = if name == "AsSecrets" {
                    Value::str(base64::engine::general_purpose::STANDARD.encode(strval(&v)))
                } else {
                    v
                };
                out.insert(base, v);
            }
            if out.is_empty() {
                return Ok(Value::str(""));
            }
            Ok(Value::str(
                yaml::to_yaml(&map_v(out)).trim_end_matches('\n'),
            ))
        }
        _ => Err(format!("can't evaluate field {name} in type {kind}")),
    }
}

/// A `.Files` object over `files` (path → content).
pub fn files_object(files: BTreeMap<String, Value>) -> Value {
    map_v(BTreeMap::from([
        (OBJECT_KIND.to_string(), Value::str("files")),
        (OBJECT_DATA.to_string(), map_v(files)),
    ]))
}

/// A `.Capabilities.APIVersions` object.
pub fn api_versions_object(list: Vec<String>) -> Value {
    map_v(BTreeMap::from([
        (OBJECT_KIND.to_string(), Value::str("apiversions")),
        (
            OBJECT_DATA.to_string(),
            list_v(list.into_iter().map(Value::str).collect()),
        ),
    ]))
}
