//! `deploy/install.yaml`, the manifest for real clusters: it parses, its CRDs are exactly the
//! generated ones in `crds/yaml/`, its RBAC and Deployment say what the docs promise, and a
//! Kubernetes API server accepts it (`kubectl apply --server-side --dry-run=server`).
//!
//! `FLOTILLA_BLESS=1 cargo test -p flotilla --test install_manifest` rewrites the CRD block
//! between the `BEGIN CRDs`/`END CRDs` markers from `crds/yaml/all.yaml`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const BEGIN: &str = "# --- BEGIN CRDs (generated: do not edit between the markers)\n";
const END: &str = "# --- END CRDs\n";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn manifest_text() -> String {
    std::fs::read_to_string(root().join("deploy/install.yaml")).expect("deploy/install.yaml")
}

fn documents(text: &str) -> Vec<Value> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).expect("valid multi-document YAML");
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn named<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind} {name} missing from deploy/install.yaml"))
}

#[test]
fn crds_equal_the_generated_ones() {
    let generated = std::fs::read_to_string(root().join("crds/yaml/all.yaml")).expect("all.yaml");
    let body = generated
        .strip_prefix(crds::GENERATED_HEADER)
        .expect("all.yaml starts with the generated header");
    let text = manifest_text();
    let (start, end) = (
        text.find(BEGIN).expect("BEGIN CRDs marker") + BEGIN.len(),
        text.find(END).expect("END CRDs marker"),
    );
    if std::env::var_os("FLOTILLA_BLESS").is_some() {
        let blessed = format!("{}{body}{}", &text[..start], &text[end..]);
        std::fs::write(root().join("deploy/install.yaml"), blessed).expect("write install.yaml");
        return;
    }
    let in_manifest = documents(&text[start..end]);
    let expected = documents(body);
    assert_eq!(
        in_manifest.len(),
        crds::all_crds().len(),
        "one CRD per Flotilla kind"
    );
    assert!(
        in_manifest == expected,
        "the CRDs in deploy/install.yaml differ from crds/yaml/all.yaml; run \
         FLOTILLA_BLESS=1 cargo test -p flotilla --test install_manifest"
    );
    // And nowhere else in the file: no second, stale copy.
    assert_eq!(
        of_kind(&documents(&text), "CustomResourceDefinition").len(),
        expected.len()
    );
}

#[test]
fn namespaced_objects_live_in_flotilla_system() {
    let docs = documents(&manifest_text());
    named(&docs, "Namespace", "flotilla-system");
    for kind in [
        "ServiceAccount",
        "Deployment",
        "Service",
        "Role",
        "RoleBinding",
    ] {
        for doc in of_kind(&docs, kind) {
            assert_eq!(
                doc["metadata"]["namespace"], "flotilla-system",
                "{kind} {}",
                doc["metadata"]["name"]
            );
        }
    }
}

#[test]
fn the_manager_role_is_least_privilege_and_only_the_applier_has_wildcards() {
    let docs = documents(&manifest_text());
    let manager = named(&docs, "ClusterRole", "flotilla-manager");
    for rule in manager["rules"].as_array().expect("rules") {
        let strings = |key: &str| -> Vec<String> {
            rule[key]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        assert!(
            !strings("apiGroups").contains(&"*".to_owned())
                && !strings("resources").contains(&"*".to_owned())
                && !strings("verbs").contains(&"*".to_owned()),
            "no wildcard in flotilla-manager: {rule}"
        );
        if strings("resources").contains(&"secrets".to_owned()) {
            assert_eq!(
                strings("verbs"),
                ["get", "list", "watch"],
                "Secrets are read-only"
            );
        }
    }
    // The Lease is granted by a Role in flotilla-system, not cluster-wide.
    let lease_role = named(&docs, "Role", "flotilla-leader-election");
    assert_eq!(lease_role["rules"][0]["resources"][0], "leases");
    assert!(
        of_kind(&docs, "ClusterRole")
            .iter()
            .filter(|r| r["metadata"]["name"] != "flotilla-applier")
            .all(|r| !r.to_string().contains("leases")),
        "leases only through the namespaced Role"
    );
    // Every binding names the flotilla ServiceAccount.
    for kind in ["ClusterRoleBinding", "RoleBinding"] {
        for binding in of_kind(&docs, kind) {
            assert_eq!(binding["subjects"][0]["name"], "flotilla");
            assert_eq!(binding["subjects"][0]["namespace"], "flotilla-system");
        }
    }
}

#[test]
fn the_deployment_runs_the_operator_with_probes() {
    let docs = documents(&manifest_text());
    let deployment = named(&docs, "Deployment", "flotilla");
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "flotilla");
    let container = &pod["containers"][0];
    assert_eq!(container["args"][0], "operator");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    // The args parse with the real CLI: clap reads them in order, so an unknown flag or a bad
    // value fails before the trailing `--help` prints the help and exits 0.
    let args: Vec<String> = container["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("string arg").to_owned())
        .collect();
    let out = Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args(&args)
        .arg("--help")
        .output()
        .expect("run flotilla");
    assert!(
        out.status.success(),
        "flotilla {args:?} --help: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn kubectl_server_side_dry_run_accepts_the_manifest() {
    let Some(kubectl) = which("kubectl") else {
        eprintln!("SKIPPED: kubectl_server_side_dry_run_accepts_the_manifest: kubectl not on PATH");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let cp = apiserver::ControlPlane::start(apiserver::Config {
        data_dir: dir.path().to_path_buf(),
        port: 0,
    })
    .expect("control plane starts");
    let kubectl_run = |args: &[&str]| {
        let out = Command::new(&kubectl)
            .arg("--kubeconfig")
            .arg(cp.kubeconfig_path())
            .args(args)
            .env("HOME", dir.path())
            .output()
            .expect("run kubectl");
        assert!(
            out.status.success(),
            "kubectl {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // A dry run persists nothing, so objects in a namespace the same dry run creates are
    // refused on any API server; the namespace exists in a real cluster by then.
    let namespace = dir.path().join("namespace.yaml");
    std::fs::write(
        &namespace,
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: flotilla-system\n",
    )
    .expect("write namespace.yaml");
    kubectl_run(&[
        "apply",
        "--server-side",
        "-f",
        namespace.to_str().expect("utf-8 path"),
    ]);
    let manifest = root().join("deploy/install.yaml");
    let printed = kubectl_run(&[
        "apply",
        "--server-side",
        "--dry-run=server",
        "-f",
        manifest.to_str().expect("utf-8 path"),
    ]);
    let docs = documents(&manifest_text());
    for doc in &docs {
        let name = doc["metadata"]["name"].as_str().expect("name");
        assert!(
            printed.contains(&format!("/{name} serverside-applied (server dry run)")),
            "kubectl did not report {} {name}:\n{printed}",
            doc["kind"]
        );
    }
    // Nothing was stored.
    let crds = kubectl_run(&["get", "crds", "-o", "name"]);
    assert!(
        !crds.contains("flotilla.dev"),
        "dry run created CRDs: {crds}"
    );
    cp.shutdown();
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|p| p.join(tool))
        .find(|p| p.is_file())
}
