//! The schemas of the built-in resources.
//!
//! Shapes and descriptions come from k8s-openapi's `schemars` schemas. Those
//! leave out Kubernetes' vendor extensions (list types, list-map keys, patch
//! strategies, merge keys, map types), which decide how patches and
//! server-side apply merge; `k8s_extensions.json` adds them back. It is
//! generated from the upstream OpenAPI spec by `gen_k8s_extensions.py` (no
//! crate ships these extensions as data; k8s-openapi only has them compiled
//! into its `DeepMerge` impls).

use std::collections::HashMap;
use std::sync::OnceLock;

use k8s_openapi::api::{
    admissionregistration, apps, autoscaling, batch, coordination, core, discovery, networking,
    rbac, scheduling, storage,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions;
use schemars::generate::SchemaSettings;
use serde_json::Value;

use super::node::{Catalog, Node};

static EXTENSIONS: &str = include_str!("k8s_extensions.json");

/// The catalog of every built-in definition, built once.
pub fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(build)
}

/// A cursor at built-in definition `name` (e.g. `io.k8s.api.core.v1.Pod`).
pub fn node(name: &str) -> Option<Node<'static>> {
    catalog().node(name)
}

/// The definition name of ObjectMeta, which every object's `metadata` uses.
pub const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

macro_rules! register {
    ($gen:expr, $($t:ty),* $(,)?) => {
        $( let _ = $gen.subschema_for::<$t>(); )*
    };
}

fn build() -> Catalog {
    let mut settings = SchemaSettings::openapi3();
    settings.transforms.clear();
    let mut generator = settings.into_generator();
    register!(
        generator,
        core::v1::Namespace,
        core::v1::Node,
        core::v1::Pod,
        core::v1::Service,
        core::v1::Endpoints,
        core::v1::ComponentStatus,
        core::v1::ConfigMap,
        core::v1::Secret,
        core::v1::ServiceAccount,
        core::v1::PersistentVolume,
        core::v1::PersistentVolumeClaim,
        core::v1::Event,
        discovery::v1::EndpointSlice,
        coordination::v1::Lease,
        apps::v1::Deployment,
        apps::v1::ReplicaSet,
        apps::v1::StatefulSet,
        apps::v1::DaemonSet,
        apps::v1::ControllerRevision,
        batch::v1::Job,
        batch::v1::CronJob,
        networking::v1::Ingress,
        networking::v1::IngressClass,
        networking::v1::NetworkPolicy,
        rbac::v1::Role,
        rbac::v1::RoleBinding,
        rbac::v1::ClusterRole,
        rbac::v1::ClusterRoleBinding,
        storage::v1::StorageClass,
        scheduling::v1::PriorityClass,
        autoscaling::v2::HorizontalPodAutoscaler,
        autoscaling::v1::Scale,
        apiextensions::v1::CustomResourceDefinition,
        admissionregistration::v1::ValidatingAdmissionPolicy,
        admissionregistration::v1::ValidatingAdmissionPolicyBinding,
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Status,
        k8s_openapi::apimachinery::pkg::apis::meta::v1::DeleteOptions,
    );
    let mut defs: HashMap<String, Value> = generator.take_definitions(false).into_iter().collect();
    overlay_extensions(&mut defs);
    for def in defs.values_mut() {
        drop_required_metadata(def);
    }
    Catalog::new(defs)
}

/// Adds the vendor extensions of `k8s_extensions.json` to the definitions.
fn overlay_extensions(defs: &mut HashMap<String, Value>) {
    let Ok(Value::Object(table)) = serde_json::from_str::<Value>(EXTENSIONS) else {
        // The file is compiled in and covered by a test; an unreadable table
        // would only lose merge semantics, never fail requests.
        tracing::error!("k8s_extensions.json is not a JSON object");
        return;
    };
    for (name, fields) in table {
        let (Some(def), Value::Object(fields)) = (defs.get_mut(&name), fields) else {
            continue;
        };
        for (field, ext) in fields {
            let Value::Object(ext) = ext else { continue };
            let slot = if field == "." {
                Some(&mut *def)
            } else {
                def.get_mut("properties").and_then(|p| p.get_mut(&field))
            };
            if let Some(Value::Object(slot)) = slot {
                slot.extend(ext);
            }
        }
    }
}

/// k8s-openapi marks `metadata` required on every object because its Rust
/// field is not optional; Kubernetes' own schemas do not require it.
fn drop_required_metadata(def: &mut Value) {
    if let Some(Value::Array(required)) = def.get_mut("required") {
        required.retain(|r| r != "metadata");
        if required.is_empty()
            && let Some(obj) = def.as_object_mut()
        {
            obj.remove("required");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::node::ListType;

    #[test]
    fn the_extension_table_is_valid_json() {
        assert!(serde_json::from_str::<Value>(EXTENSIONS).is_ok_and(|v| v.is_object()));
    }

    #[test]
    fn every_registry_definition_is_in_the_catalog() {
        for info in crate::registry::Registry::builtin().resources() {
            if let crate::registry::SchemaSource::BuiltIn { definition } = &info.schema {
                assert!(node(definition).is_some(), "{definition} missing");
            }
        }
    }

    #[test]
    fn pod_containers_merge_by_name() {
        let containers = node("io.k8s.api.core.v1.Pod")
            .and_then(|p| p.property("spec"))
            .and_then(|s| s.property("containers"))
            .expect("declared");
        assert_eq!(containers.patch_merge_key(), Some("name"));
        assert_eq!(containers.patch_strategies(), vec!["merge"]);
        assert_eq!(containers.list_type(), ListType::Map(vec!["name".into()]));
    }

    #[test]
    fn deployment_strategy_retains_keys() {
        let strategy = node("io.k8s.api.apps.v1.Deployment")
            .and_then(|d| d.property("spec"))
            .and_then(|s| s.property("strategy"))
            .expect("declared");
        assert_eq!(strategy.patch_strategies(), vec!["retainKeys"]);
    }

    #[test]
    fn quantities_are_int_or_string() {
        let limits = node("io.k8s.api.core.v1.ResourceRequirements")
            .and_then(|r| r.property("limits"))
            .and_then(|l| l.additional_properties())
            .expect("declared");
        assert!(limits.int_or_string());
    }

    #[test]
    fn metadata_is_not_required() {
        let cm = catalog()
            .get("io.k8s.api.core.v1.ConfigMap")
            .expect("defined");
        assert!(cm.get("required").is_none());
    }
}
