//! Kubernetes JSON patch library: `jsonpatch.escapeKey(key)` escapes a map
//! key for use in a JSON Pointer path (`~` becomes `~0`, `/` becomes
//! `~1`, RFC 6901), as mutating policies build patch paths with it.

use std::sync::Arc;

use cel::common::types::STRING_TYPE;
use cel::{ExecutionError, Value};

use super::{Arg, Direct, Registrar, str_arg, value_fn};

pub(super) fn register(r: &mut Registrar<'_>) {
    r.global("jsonpatch.escapeKey", vec![STRING_TYPE], escape_key_fn);
}

value_fn!(escape_key_fn, escape_key);

/// The functions the compiled evaluator calls directly.
pub(super) const DIRECT: &[Direct] = &[Direct::global(
    "jsonpatch.escapeKey",
    &[Arg::String],
    escape_key,
)];

fn escape_key(a: &[Value]) -> Result<Value, ExecutionError> {
    let key = str_arg("jsonpatch.escapeKey", a, 0)?;
    Ok(Value::String(Arc::new(
        key.replace('~', "~0").replace('/', "~1"),
    )))
}
