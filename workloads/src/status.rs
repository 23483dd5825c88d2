//! Writing status only when it changed, so a steady cluster writes nothing.

use serde::Serialize;
use serde_json::Value;

/// Whether `current` already holds everything in `desired`: every field of
/// `desired` is present in `current` with the same value (objects compared
/// field by field, everything else exactly). Fields only `current` has (set
/// by other writers) do not count as a difference, so two writers never
/// fight over them.
pub(crate) fn contains(current: &Value, desired: &Value) -> bool {
    match (current, desired) {
        (Value::Object(c), Value::Object(d)) => d.iter().all(|(k, dv)| match c.get(k) {
            Some(cv) => contains(cv, dv),
            None => dv.is_null(),
        }),
        (c, d) => c == d,
    }
}

/// Whether a status patch to `desired` would change `current`.
pub(crate) fn differs<S: Serialize>(current: Option<&S>, desired: &S) -> bool {
    let current = current
        .and_then(|c| serde_json::to_value(c).ok())
        .unwrap_or(Value::Null);
    let desired = serde_json::to_value(desired).unwrap_or(Value::Null);
    !contains(&current, &desired)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extra_fields_in_current_are_not_a_difference() {
        let current = json!({"replicas": 3, "readyReplicas": 3, "other": 1});
        assert!(contains(
            &current,
            &json!({"replicas": 3, "readyReplicas": 3})
        ));
        assert!(!contains(&current, &json!({"replicas": 2})));
    }

    #[test]
    fn lists_compare_whole() {
        let current = json!({"conditions": [{"type": "Ready"}, {"type": "X"}]});
        assert!(!contains(
            &current,
            &json!({"conditions": [{"type": "Ready"}]})
        ));
    }
}
