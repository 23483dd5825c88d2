//! Kubernetes format library: `format.dns1123Label()`,
//! `format.dns1123Subdomain()`, `format.dns1035Label()`,
//! `format.qualifiedName()`, `format.labelValue()`, `format.uuid()`,
//! `format.named(name)`, and `<format>.validate(string)`, which returns
//! `optional.none()` when the string is valid and `optional.of([errors])`
//! otherwise. Messages follow Kubernetes' `validation` package.

use std::sync::Arc;

use cel::common::types::{STRING_TYPE, Type};
use cel::objects::{Opaque, OptionalValue};
use cel::{ExecutionError, Value};

use super::{Registrar, fail, opaque_arg, str_arg, value_fn};

const TYPE_NAME: &str = "kubernetes.NamedFormat";

/// A named string format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Format(&'static str);

impl Opaque for Format {
    fn runtime_type_name(&self) -> &str {
        TYPE_NAME
    }
}

const NAMES: &[&str] = &[
    "dns1123Label",
    "dns1123Subdomain",
    "dns1035Label",
    "qualifiedName",
    "labelValue",
    "uuid",
];

fn t() -> Type {
    Type::new_opaque_type(TYPE_NAME)
}

pub(super) fn register(r: &mut Registrar<'_>) {
    r.global("format.dns1123Label", vec![], |a| {
        super::adapt(a, |_| Ok(format("dns1123Label")))
    });
    r.global("format.dns1123Subdomain", vec![], |a| {
        super::adapt(a, |_| Ok(format("dns1123Subdomain")))
    });
    r.global("format.dns1035Label", vec![], |a| {
        super::adapt(a, |_| Ok(format("dns1035Label")))
    });
    r.global("format.qualifiedName", vec![], |a| {
        super::adapt(a, |_| Ok(format("qualifiedName")))
    });
    r.global("format.labelValue", vec![], |a| {
        super::adapt(a, |_| Ok(format("labelValue")))
    });
    r.global("format.uuid", vec![], |a| {
        super::adapt(a, |_| Ok(format("uuid")))
    });
    r.global("format.named", vec![STRING_TYPE], named_fn);
    r.member("validate", t(), vec![STRING_TYPE], validate_fn);
}

fn format(name: &'static str) -> Value {
    Value::Opaque(Arc::new(Format(name)))
}

value_fn!(named_fn, |a: &[Value]| {
    let name = str_arg("format.named", a, 0)?;
    Ok(match NAMES.iter().find(|n| **n == name) {
        Some(n) => Value::Opaque(Arc::new(OptionalValue::of(format(n)))),
        None => Value::Opaque(Arc::new(OptionalValue::none())),
    })
});

value_fn!(validate_fn, |a: &[Value]| {
    let f = opaque_arg::<Format>("validate", a, 0)?;
    let s = str_arg("validate", a, 1)?;
    let errors = errors(f.0, s)?;
    Ok(Value::Opaque(Arc::new(if errors.is_empty() {
        OptionalValue::none()
    } else {
        OptionalValue::of(Value::List(Arc::new(
            errors
                .into_iter()
                .map(|e| Value::String(Arc::new(e)))
                .collect(),
        )))
    })))
});

fn is_label(s: &str, first_alpha: bool) -> bool {
    let b = s.as_bytes();
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    !b.is_empty()
        && (if first_alpha {
            b[0].is_ascii_lowercase()
        } else {
            alnum(&b[0])
        })
        && alnum(&b[b.len() - 1])
        && b.iter().all(|c| alnum(c) || *c == b'-')
}

/// Kubernetes' name part of a qualified name and label values:
/// alphanumerics, `-`, `_`, `.`, starting and ending alphanumeric.
fn is_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: &u8| c.is_ascii_alphanumeric();
    !b.is_empty()
        && alnum(&b[0])
        && alnum(&b[b.len() - 1])
        && b.iter().all(|c| alnum(c) || b"-_.".contains(c))
}

fn max_len(s: &str, n: usize, out: &mut Vec<String>) {
    if s.len() > n {
        out.push(format!("must be no more than {n} characters"));
    }
}

fn errors(format: &str, s: &str) -> Result<Vec<String>, ExecutionError> {
    let mut out = Vec::new();
    match format {
        "dns1123Label" => {
            max_len(s, 63, &mut out);
            if !is_label(s, false) {
                out.push("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character".into());
            }
        }
        "dns1035Label" => {
            max_len(s, 63, &mut out);
            if !is_label(s, true) {
                out.push("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character".into());
            }
        }
        "dns1123Subdomain" => {
            max_len(s, 253, &mut out);
            if !s.split('.').all(|p| is_label(p, false)) {
                out.push("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character".into());
            }
        }
        "qualifiedName" => {
            let (prefix, name) = match s.split_once('/') {
                Some((p, n)) => (Some(p), n),
                None => (None, s),
            };
            if let Some(p) = prefix
                && (p.is_empty() || p.len() > 253 || !p.split('.').all(|l| is_label(l, false)))
            {
                out.push("prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character".into());
            }
            if name.len() > 63 {
                out.push("name part must be no more than 63 characters".into());
            }
            if !is_name_part(name) {
                out.push("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character".into());
            }
        }
        "labelValue" => {
            max_len(s, 63, &mut out);
            if !s.is_empty() && !is_name_part(s) {
                out.push("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character".into());
            }
        }
        "uuid" => {
            let groups: Vec<&str> = s.split('-').collect();
            let ok = groups.len() == 5
                && groups
                    .iter()
                    .zip([8, 4, 4, 4, 12])
                    .all(|(g, n)| g.len() == n && g.bytes().all(|c| c.is_ascii_hexdigit()));
            if !ok {
                out.push("does not match the UUID format".into());
            }
        }
        other => return Err(fail("validate", format!("unknown format {other}"))),
    }
    Ok(out)
}
