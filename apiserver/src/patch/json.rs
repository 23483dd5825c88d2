//! JSON patch (RFC 6902) and JSON merge patch (RFC 7386), through the
//! `json-patch` crate, with Kubernetes' split of errors into malformed
//! patches (400) and patches that do not apply (422).

use serde_json::Value;

use super::{PatchError, Result};

/// Applies an RFC 6902 JSON patch (a list of operations) to `live`.
/// Operations apply all or nothing.
pub fn json_patch(live: &Value, patch: &Value) -> Result<Value> {
    let ops: json_patch::Patch = serde_json::from_value(patch.clone())
        .map_err(|e| PatchError::Malformed(format!("invalid JSON patch: {e}")))?;
    let mut doc = live.clone();
    for (index, op) in ops.0.iter().enumerate() {
        // Kubernetes' JSON patch library lets `test` of `null` pass on a missing path, and
        // clients rely on it (kube-runtime's finalizer helper tests `/metadata/finalizers`
        // for null before adding the first one). RFC 6902 and the `json-patch` crate would
        // fail it, so that one case is skipped here.
        if let json_patch::PatchOperation::Test(test) = op
            && test.value.is_null()
            && doc.pointer(test.path.as_str()).is_none()
        {
            continue;
        }
        json_patch::patch(&mut doc, std::slice::from_ref(op)).map_err(|e| {
            PatchError::Failed(format!(
                "the JSON patch operation {index} on {:?} failed: {}",
                e.path.to_string(),
                e.kind
            ))
        })?;
    }
    Ok(doc)
}

/// Applies an RFC 7386 merge patch: objects merge key by key, `null`
/// deletes, everything else (lists included) replaces.
pub fn merge_patch(live: &Value, patch: &Value) -> Value {
    let mut doc = live.clone();
    json_patch::merge(&mut doc, patch);
    doc
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn testing_null_on_a_missing_path_passes_as_in_kubernetes() {
        let live = json!({"metadata": {"name": "a"}});
        let patch = json!([
            {"op": "test", "path": "/metadata/finalizers", "value": null},
            {"op": "add", "path": "/metadata/finalizers", "value": ["x"]}
        ]);
        assert_eq!(
            json_patch(&live, &patch),
            Ok(json!({"metadata": {"name": "a", "finalizers": ["x"]}}))
        );
    }

    #[test]
    fn testing_null_on_a_present_value_fails() {
        let live = json!({"metadata": {"finalizers": ["x"]}});
        let patch = json!([{"op": "test", "path": "/metadata/finalizers", "value": null}]);
        assert!(matches!(
            json_patch(&live, &patch),
            Err(PatchError::Failed(_))
        ));
    }

    #[test]
    fn json_patch_adds_replaces_and_removes() {
        let live = json!({"data": {"a": "1", "b": "2"}, "list": [1, 2]});
        let patch = json!([
            {"op": "replace", "path": "/data/a", "value": "x"},
            {"op": "remove", "path": "/data/b"},
            {"op": "add", "path": "/list/-", "value": 3}
        ]);
        assert_eq!(
            json_patch(&live, &patch),
            Ok(json!({"data": {"a": "x"}, "list": [1, 2, 3]}))
        );
    }

    #[test]
    fn a_failed_test_operation_leaves_nothing_applied() {
        let live = json!({"a": 1});
        let patch = json!([
            {"op": "replace", "path": "/a", "value": 2},
            {"op": "test", "path": "/a", "value": 5}
        ]);
        assert!(matches!(
            json_patch(&live, &patch),
            Err(PatchError::Failed(_))
        ));
    }

    #[test]
    fn a_json_patch_that_is_not_a_list_is_malformed() {
        assert!(matches!(
            json_patch(&json!({}), &json!({"op": "add"})),
            Err(PatchError::Malformed(_))
        ));
    }

    #[test]
    fn merge_patch_null_deletes_and_lists_replace() {
        let live = json!({"a": {"b": 1, "c": 2}, "l": [1, 2]});
        let patch = json!({"a": {"b": null, "d": 3}, "l": [9]});
        assert_eq!(
            merge_patch(&live, &patch),
            json!({"a": {"c": 2, "d": 3}, "l": [9]})
        );
    }
}
