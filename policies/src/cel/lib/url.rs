//! Kubernetes URL library: `url`, `isURL`, and on URLs `getScheme`,
//! `getHost`, `getHostname`, `getPort`, `getEscapedPath`, `getQuery`.
//!
//! Kubernetes accepts absolute URLs and absolute paths (Go's
//! `url.ParseRequestURI`). Validation uses the `url` crate (WHATWG), but the
//! accessors read the authority from the text as written, because the
//! WHATWG parser normalises it (it drops default ports such as `:443`,
//! which Go keeps).

use std::collections::HashMap;
use std::sync::Arc;

use cel::common::types::{STRING_TYPE, Type};
use cel::objects::{Key, Map, Opaque};
use cel::{ExecutionError, Value};

use super::{Registrar, fail, opaque_arg, str_arg, value_fn};

const TYPE_NAME: &str = "kubernetes.URL";

/// A parsed URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    scheme: String,
    authority: String,
    path: String,
    query: Vec<(String, String)>,
}

impl Opaque for Url {
    fn runtime_type_name(&self) -> &str {
        TYPE_NAME
    }
}

fn t() -> Type {
    Type::new_opaque_type(TYPE_NAME)
}

pub(super) fn register(r: &mut Registrar<'_>) {
    r.global("url", vec![STRING_TYPE], url_fn);
    r.global("isURL", vec![STRING_TYPE], is_url_fn);
    r.member("getScheme", t(), vec![], scheme_fn);
    r.member("getHost", t(), vec![], host_fn);
    r.member("getHostname", t(), vec![], hostname_fn);
    r.member("getPort", t(), vec![], port_fn);
    r.member("getEscapedPath", t(), vec![], path_fn);
    r.member("getQuery", t(), vec![], query_fn);
}

fn string(s: &str) -> Value {
    Value::String(Arc::new(s.to_string()))
}

value_fn!(url_fn, |a: &[Value]| {
    let u = parse(str_arg("url", a, 0)?).map_err(|e| fail("url", e))?;
    Ok(Value::Opaque(Arc::new(u)))
});
value_fn!(is_url_fn, |a: &[Value]| Ok(Value::Bool(
    parse(str_arg("isURL", a, 0)?).is_ok()
)));
value_fn!(scheme_fn, |a: &[Value]| Ok(string(
    &opaque_arg::<Url>("getScheme", a, 0)?.scheme
)));
value_fn!(host_fn, |a: &[Value]| Ok(string(
    &opaque_arg::<Url>("getHost", a, 0)?.authority
)));
value_fn!(hostname_fn, |a: &[Value]| {
    let (host, _) = split_host_port(&opaque_arg::<Url>("getHostname", a, 0)?.authority);
    Ok(string(host.trim_start_matches('[').trim_end_matches(']')))
});
value_fn!(port_fn, |a: &[Value]| {
    let (_, port) = split_host_port(&opaque_arg::<Url>("getPort", a, 0)?.authority);
    Ok(string(port))
});
value_fn!(path_fn, |a: &[Value]| Ok(string(
    &opaque_arg::<Url>("getEscapedPath", a, 0)?.path
)));
value_fn!(query_fn, query);

fn query(args: &[Value]) -> Result<Value, ExecutionError> {
    let u = opaque_arg::<Url>("getQuery", args, 0)?;
    let mut grouped: HashMap<Key, Vec<Value>> = HashMap::new();
    for (k, v) in &u.query {
        grouped
            .entry(Key::String(Arc::new(k.clone())))
            .or_default()
            .push(string(v));
    }
    let map = grouped
        .into_iter()
        .map(|(k, v)| (k, Value::List(Arc::new(v))))
        .collect();
    Ok(Value::Map(Map { map: Arc::new(map) }))
}

/// `host[:port]` → (`host`, `port`), IPv6 brackets kept on the host.
fn split_host_port(authority: &str) -> (&str, &str) {
    if authority.starts_with('[') {
        return match authority.find("]:") {
            Some(i) => (&authority[..=i], &authority[i + 2..]),
            None => (authority, ""),
        };
    }
    match authority.rsplit_once(':') {
        Some((h, p)) => (h, p),
        None => (authority, ""),
    }
}

fn parse(raw: &str) -> Result<Url, String> {
    if raw.starts_with('/') {
        let base = url::Url::parse("http://localhost").map_err(|e| e.to_string())?;
        let u = base
            .join(raw)
            .map_err(|e| format!("URL parse error during conversion from string: {e}"))?;
        return Ok(Url {
            scheme: String::new(),
            authority: String::new(),
            path: u.path().to_string(),
            query: u
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        });
    }
    let u = url::Url::parse(raw)
        .map_err(|e| format!("URL parse error during conversion from string: {e}"))?;
    // The authority as written: after `scheme://`, up to the path, query or
    // fragment, without user info.
    let authority = raw
        .split_once("://")
        .map(|(_, rest)| {
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let auth = &rest[..end];
            auth.rsplit_once('@').map_or(auth, |(_, h)| h).to_string()
        })
        .unwrap_or_default();
    let after_authority = raw
        .split_once("://")
        .map(|(_, rest)| &rest[rest.find(['/', '?', '#']).unwrap_or(rest.len())..])
        .unwrap_or("");
    // Go keeps an empty path empty; the WHATWG parser turns it into "/".
    let path = if after_authority.starts_with('/') {
        u.path().to_string()
    } else {
        String::new()
    };
    Ok(Url {
        scheme: u.scheme().to_string(),
        authority,
        path,
        query: u
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
    })
}
