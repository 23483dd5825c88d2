//! Kubernetes format library: `format.named(name)` and one constructor per
//! named format (`format.dns1123Label()`, `format.dns1123Subdomain()`,
//! `format.dns1035Label()`, `format.qualifiedName()`,
//! `format.dns1123LabelPrefix()`, `format.dns1123SubdomainPrefix()`,
//! `format.dns1035LabelPrefix()`, `format.labelValue()`, `format.uri()`,
//! `format.uuid()`, `format.byte()`, `format.date()`,
//! `format.datetime()`), and `<format>.validate(string)`, which returns
//! `optional.none()` when the string is valid and `optional.of([errors])`
//! otherwise. Messages follow Kubernetes' `validation` package and
//! kube-openapi's `strfmt` checks.

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
    "dns1123LabelPrefix",
    "dns1123SubdomainPrefix",
    "dns1035LabelPrefix",
    "labelValue",
    "uri",
    "uuid",
    "byte",
    "date",
    "datetime",
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
    r.global("format.dns1123LabelPrefix", vec![], |a| {
        super::adapt(a, |_| Ok(format("dns1123LabelPrefix")))
    });
    r.global("format.dns1123SubdomainPrefix", vec![], |a| {
        super::adapt(a, |_| Ok(format("dns1123SubdomainPrefix")))
    });
    r.global("format.dns1035LabelPrefix", vec![], |a| {
        super::adapt(a, |_| Ok(format("dns1035LabelPrefix")))
    });
    r.global("format.uri", vec![], |a| {
        super::adapt(a, |_| Ok(format("uri")))
    });
    r.global("format.byte", vec![], |a| {
        super::adapt(a, |_| Ok(format("byte")))
    });
    r.global("format.date", vec![], |a| {
        super::adapt(a, |_| Ok(format("date")))
    });
    r.global("format.datetime", vec![], |a| {
        super::adapt(a, |_| Ok(format("datetime")))
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

/// Kubernetes' `maskTrailingDash` for names a suffix will be appended to:
/// a trailing dash is allowed. (Upstream drops the last two characters and
/// appends `a`; reproduced as is, since it decides which names pass.)
fn mask_trailing_dash(s: &str) -> String {
    if s.len() > 1 && s.ends_with('-') {
        format!("{}a", &s[..s.len() - 2])
    } else {
        s.to_string()
    }
}

fn errors(format: &str, s: &str) -> Result<Vec<String>, ExecutionError> {
    let mut out = Vec::new();
    match format {
        "dns1123LabelPrefix" => return errors("dns1123Label", &mask_trailing_dash(s)),
        "dns1123SubdomainPrefix" => return errors("dns1123Subdomain", &mask_trailing_dash(s)),
        "dns1035LabelPrefix" => return errors("dns1035Label", &mask_trailing_dash(s)),
        "uri" => {
            if !is_request_uri(s) {
                out.push(format!("parse {s:?}: invalid URI for request"));
            }
        }
        "byte" => {
            use base64::Engine;
            if base64::engine::general_purpose::STANDARD.decode(s).is_err() {
                out.push("invalid base64".into());
            }
        }
        "date" => {
            if s.len() != 10 || chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_err() {
                out.push("invalid date".into());
            }
        }
        "datetime" => {
            if chrono::DateTime::parse_from_rfc3339(s).is_err() {
                out.push("invalid datetime".into());
            }
        }
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

/// Go's `url.ParseRequestURI`, which Kubernetes' `uri` format uses: an
/// absolute URI (`scheme:...`) or an absolute path.
fn is_request_uri(s: &str) -> bool {
    if s.starts_with('/') {
        return !s.contains(' ');
    }
    let Some((scheme, _)) = s.split_once(':') else {
        return false;
    };
    let valid_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    valid_scheme && url::Url::parse(s).is_ok()
}
