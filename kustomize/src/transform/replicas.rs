//! `replicas`: sets `spec.replicas` of workloads found by name (current or
//! any earlier name, so overlays can use the base's name).

use serde_json::Value;

use crate::kustomization::Replica;
use crate::resource::Resource;

/// Kinds with a `spec.replicas`.
const KINDS: &[&str] = &[
    "Deployment",
    "ReplicationController",
    "ReplicaSet",
    "StatefulSet",
];

/// kustomize refuses a `replicas` entry that names no workload (by current
/// or earlier name); returns the first such name.
pub fn check_targets<'a>(resources: &[Resource], replicas: &'a [Replica]) -> Result<(), &'a str> {
    for replica in replicas {
        let found = resources.iter().any(|res| {
            let kind = res.kind();
            KINDS.contains(&kind) && res.was_named(res.group(), kind, &replica.name)
        });
        if !found {
            return Err(&replica.name);
        }
    }
    Ok(())
}

/// Applies every `replicas` entry.
pub fn apply(resources: &mut [Resource], replicas: &[Replica]) {
    for replica in replicas {
        for res in resources.iter_mut() {
            let kind = res.kind().to_string();
            if !KINDS.contains(&kind.as_str()) || !res.was_named(res.group(), &kind, &replica.name)
            {
                continue;
            }
            let spec = crate::resource::object_mut(&mut res.object)
                .entry("spec")
                .or_insert_with(|| Value::Object(serde_json::Map::new()));
            crate::resource::object_mut(spec).insert("replicas".into(), Value::from(replica.count));
        }
    }
}
