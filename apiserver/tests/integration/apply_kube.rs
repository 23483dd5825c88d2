//! Server-side apply through kube-rs (`Patch::Apply`), as controllers use
//! it: field managers, conflicts, `force`, and managedFields that kube's
//! own types read back.

use apiserver::{Config, ControlPlane};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::json;

fn with_client(test: impl AsyncFnOnce(kube::Client)) {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = ControlPlane::start(Config {
        data_dir: dir.path().join("data"),
        port: 0,
    })
    .expect("control plane starts");
    let kubeconfig = running.kubeconfig_path().to_path_buf();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let kc = Kubeconfig::read_from(&kubeconfig).expect("kubeconfig");
        let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .expect("config");
        let client = kube::Client::try_from(config).expect("client");
        test(client).await;
    });
    drop(rt);
    running.shutdown();
}

fn cm(value: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"mode": value}})
}

#[test]
fn apply_creates_and_records_the_field_manager() {
    with_client(async |client| {
        let api: Api<ConfigMap> = Api::namespaced(client, "default");
        let out = api
            .patch(
                "settings",
                &PatchParams::apply("controller"),
                &Patch::Apply(cm("fast")),
            )
            .await
            .expect("apply creates");
        assert_eq!(
            out.data.and_then(|d| d.get("mode").cloned()).as_deref(),
            Some("fast")
        );
        let mf = out.metadata.managed_fields.unwrap_or_default();
        assert_eq!(mf.len(), 1);
        assert_eq!(mf[0].manager.as_deref(), Some("controller"));
        assert_eq!(mf[0].operation.as_deref(), Some("Apply"));
        assert_eq!(
            mf[0].fields_v1.as_ref().map(|f| f.0.clone()),
            Some(json!({"f:data": {"f:mode": {}}}))
        );
    });
}

#[test]
fn a_second_manager_conflicts_until_it_forces() {
    with_client(async |client| {
        let api: Api<ConfigMap> = Api::namespaced(client, "default");
        api.patch(
            "settings",
            &PatchParams::apply("controller"),
            &Patch::Apply(cm("fast")),
        )
        .await
        .expect("apply creates");
        let err = api
            .patch(
                "settings",
                &PatchParams::apply("intruder"),
                &Patch::Apply(cm("slow")),
            )
            .await
            .expect_err("conflict");
        match err {
            kube::Error::Api(status) => {
                assert_eq!(status.code, 409);
                assert_eq!(
                    status.message,
                    "Apply failed with 1 conflict: conflict with \"controller\" using v1: .data.mode"
                );
            }
            other => panic!("expected a 409, got {other:?}"),
        }
        let out = api
            .patch(
                "settings",
                &PatchParams::apply("intruder").force(),
                &Patch::Apply(cm("slow")),
            )
            .await
            .expect("forced apply");
        assert_eq!(
            out.data.and_then(|d| d.get("mode").cloned()).as_deref(),
            Some("slow")
        );
        let managers: Vec<String> = out
            .metadata
            .managed_fields
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| m.manager)
            .collect();
        assert_eq!(
            managers,
            vec!["intruder"],
            "the forced field left the controller with nothing"
        );
    });
}

#[test]
fn a_manager_that_stops_applying_a_field_removes_it() {
    with_client(async |client| {
        let api: Api<ConfigMap> = Api::namespaced(client, "default");
        let both = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"},
                          "data": {"mode": "fast", "level": "3"}});
        api.patch(
            "settings",
            &PatchParams::apply("controller"),
            &Patch::Apply(both),
        )
        .await
        .expect("apply creates");
        let out = api
            .patch(
                "settings",
                &PatchParams::apply("controller"),
                &Patch::Apply(cm("fast")),
            )
            .await
            .expect("apply updates");
        let data = out.data.unwrap_or_default();
        assert_eq!(data.get("mode").map(String::as_str), Some("fast"));
        assert!(!data.contains_key("level"), "{data:?}");
    });
}
