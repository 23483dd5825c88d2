//! Building a Kustomization from an artifact tree: the Kustomization's overrides merged as
//! Flux merges them, generated kustomizations for plain manifest folders, `commonMetadata`,
//! and what errors say.

use crate::source_fixtures;

use reconcilers::kustomization::build::{BuildError, render_all};
use serde_json::Value;
use source_fixtures::{kustomization, tree};

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.25
";

const SERVICE: &str = "apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - port: 80
";

fn find<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {objects:#?}"))
}

#[test]
fn overrides_are_merged_into_the_kustomization_as_flux_does() {
    let source = tree(&[
        (
            "app/kustomization.yaml",
            "resources: [deployment.yaml, service.yaml]\nnamespace: from-file\nnamePrefix: file-\n",
        ),
        ("app/deployment.yaml", DEPLOYMENT),
        ("app/service.yaml", SERVICE),
        (
            "app/extra/kustomization.yaml",
            "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\ncommonLabels:\n  extra: \"yes\"\n",
        ),
    ]);
    let ks = kustomization(
        r#"
apiVersion: flotilla.dev/v1alpha1
kind: Kustomization
metadata: {name: app, namespace: default}
spec:
  sourceRef: {kind: GitRepository, name: repo}
  path: ./app
  interval: 5m
  prune: true
  targetNamespace: prod
  namePrefix: team-
  nameSuffix: -v2
  components: [extra]
  images:
  - name: nginx
    newTag: "1.27"
  patches:
  - target: {kind: Deployment}
    patch: |
      - op: replace
        path: /spec/replicas
        value: 3
"#,
    );
    let built = render_all(&ks.spec, source.path(), None).expect("builds");
    assert_eq!(built.objects.len(), 2);
    let deployment = find(&built.objects, "Deployment");
    // targetNamespace and namePrefix replace the file's values; they do not stack.
    assert_eq!(deployment["metadata"]["namespace"], "prod");
    assert_eq!(deployment["metadata"]["name"], "team-web-v2");
    assert_eq!(deployment["spec"]["replicas"], 3);
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.27"
    );
    assert_eq!(deployment["metadata"]["labels"]["extra"], "yes");
    let service = find(&built.objects, "Service");
    assert_eq!(service["metadata"]["name"], "team-web-v2");
    assert_eq!(service["metadata"]["labels"]["extra"], "yes");
}

#[test]
fn without_overrides_the_artifact_renders_like_kustomize() {
    let source = tree(&[
        (
            "kustomization.yaml",
            "resources: [deployment.yaml, service.yaml]\nnamespace: apps\n",
        ),
        ("deployment.yaml", DEPLOYMENT),
        ("service.yaml", SERVICE),
    ]);
    let ks = kustomization(
        "metadata: {name: app, namespace: default}\nspec: {sourceRef: {kind: GitRepository, name: repo}, interval: 5m, prune: true}\n",
    );
    let built = render_all(&ks.spec, source.path(), None).expect("builds");
    let expected: Vec<Value> = kustomize::render(source.path())
        .expect("renders")
        .into_iter()
        .map(|r| r.object)
        .collect();
    assert_eq!(built.objects, expected);
}

#[test]
fn a_folder_without_kustomization_renders_every_manifest_below_it() {
    let source = tree(&[
        ("deploy/web/deployment.yaml", DEPLOYMENT),
        ("deploy/web/service.yml", SERVICE),
        ("deploy/values.yaml", "replicas: 3\n"),
        ("deploy/notes.txt", "not YAML"),
        (
            "deploy/db/kustomization.yaml",
            "resources: [cm.yaml]\nnamePrefix: db-\n",
        ),
        (
            "deploy/db/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n",
        ),
    ]);
    let ks = kustomization(
        "metadata: {name: app, namespace: default}\nspec: {sourceRef: {kind: GitRepository, name: repo}, path: deploy, interval: 5m, prune: true}\n",
    );
    let built = render_all(&ks.spec, source.path(), None).expect("builds");
    let mut names: Vec<String> = built
        .objects
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap(),
                o["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    names.sort();
    // The sub-folder with its own kustomization is rendered as a whole (its prefix applies);
    // values.yaml is not a Kubernetes object and is left out.
    assert_eq!(
        names,
        ["ConfigMap/db-settings", "Deployment/web", "Service/web"]
    );
}

#[test]
fn common_metadata_goes_on_object_metadata_only() {
    let source = tree(&[
        ("kustomization.yaml", "resources: [deployment.yaml]\n"),
        ("deployment.yaml", DEPLOYMENT),
    ]);
    let ks = kustomization(
        r#"
metadata: {name: app, namespace: default}
spec:
  sourceRef: {kind: GitRepository, name: repo}
  interval: 5m
  prune: true
  commonMetadata:
    labels: {team: payments}
    annotations: {owner: "alice"}
"#,
    );
    let built = render_all(&ks.spec, source.path(), None).expect("builds");
    let deployment = find(&built.objects, "Deployment");
    assert_eq!(deployment["metadata"]["labels"]["team"], "payments");
    assert_eq!(deployment["metadata"]["labels"]["app"], "web");
    assert_eq!(deployment["metadata"]["annotations"]["owner"], "alice");
    assert!(deployment["spec"]["selector"]["matchLabels"]["team"].is_null());
    assert!(deployment["spec"]["template"]["metadata"]["labels"]["team"].is_null());
}

#[test]
fn a_path_leaving_the_artifact_is_refused() {
    let source = tree(&[("kustomization.yaml", "resources: []\n")]);
    let mut ks = kustomization(
        "metadata: {name: app, namespace: default}\nspec: {sourceRef: {kind: GitRepository, name: repo}, interval: 5m, prune: true}\n",
    );
    ks.spec.path = Some("../etc".to_owned());
    let err = render_all(&ks.spec, source.path(), None).unwrap_err();
    assert!(
        matches!(&err, BuildError::InvalidPath { field, .. } if field == "spec.path"),
        "{err}"
    );
}

#[test]
fn render_errors_name_the_file_relative_to_the_repository() {
    let source = tree(&[("apps/kustomization.yaml", "resources: [missing.yaml]\n")]);
    let ks = kustomization(
        "metadata: {name: app, namespace: default}\nspec: {sourceRef: {kind: GitRepository, name: repo}, path: apps, interval: 5m, prune: true, targetNamespace: x}\n",
    );
    let err = render_all(&ks.spec, source.path(), None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("apps/missing.yaml"), "{err}");
    assert!(
        !err.contains("flotilla-build-"),
        "temporary paths leak: {err}"
    );
    assert!(
        !err.contains(&source.path().display().to_string()),
        "absolute paths leak: {err}"
    );
}

#[test]
fn policies_from_the_source_are_returned_and_not_applied() {
    let policy = "apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: replicas-limit
spec:
  matchConstraints:
    resourceRules:
    - apiGroups: [apps]
      apiVersions: [v1]
      operations: [CREATE, UPDATE]
      resources: [deployments]
  validations:
  - expression: object.spec.replicas <= 5
";
    let source = tree(&[
        ("deployment.yaml", DEPLOYMENT),
        ("policies/policy.yaml", policy),
    ]);
    let ks = kustomization(
        r#"
metadata: {name: app, namespace: default}
spec:
  sourceRef: {kind: GitRepository, name: repo}
  interval: 5m
  prune: true
  policies:
    from: Source
    paths: [policies]
"#,
    );
    let built = render_all(&ks.spec, source.path(), None).expect("builds");
    assert_eq!(built.source_policies.len(), 1);
    assert_eq!(
        built.source_policies[0]["kind"],
        "ValidatingAdmissionPolicy"
    );
    let kinds: Vec<&str> = built
        .objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["Deployment"],
        "the policy under spec.path is not applied"
    );
}

/// The same overrides, written by hand into the kustomization the way Flux merges them, built
/// by `kubectl kustomize` (the reference): Flotilla's build must give the same objects.
#[test]
fn overrides_build_like_kubectl_kustomize_on_the_flux_merged_file() {
    let Ok(kubectl) = which_kubectl() else {
        eprintln!(
            "SKIPPED: overrides_build_like_kubectl_kustomize_on_the_flux_merged_file: kubectl is not installed"
        );
        return;
    };
    let files = [
        ("app/deployment.yaml", DEPLOYMENT),
        ("app/service.yaml", SERVICE),
        (
            "app/extra/kustomization.yaml",
            "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\ncommonLabels:\n  extra: \"yes\"\n",
        ),
    ];
    let mut with_file = files.to_vec();
    with_file.push((
        "app/kustomization.yaml",
        "resources: [deployment.yaml, service.yaml]\nnamePrefix: file-\nimages:\n- name: nginx\n  newTag: \"1.0\"\n",
    ));
    let source = tree(&with_file);
    let mut merged = files.to_vec();
    merged.push((
        "app/kustomization.yaml",
        r#"resources: [deployment.yaml, service.yaml]
namePrefix: team-
namespace: prod
images:
- name: nginx
  newTag: "1.27"
components: [extra]
patches:
- target: {kind: Deployment}
  patch: |
    - op: replace
      path: /spec/replicas
      value: 3
"#,
    ));
    let reference = tree(&merged);
    let ks = kustomization(
        r#"
metadata: {name: app, namespace: default}
spec:
  sourceRef: {kind: GitRepository, name: repo}
  path: ./app
  interval: 5m
  prune: true
  targetNamespace: prod
  namePrefix: team-
  components: [extra]
  images:
  - name: nginx
    newTag: "1.27"
  patches:
  - target: {kind: Deployment}
    patch: |
      - op: replace
        path: /spec/replicas
        value: 3
"#,
    );
    let built = render_all(&ks.spec, source.path(), None).expect("builds");
    let out = std::process::Command::new(kubectl)
        .arg("kustomize")
        .arg(reference.path().join("app"))
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl kustomize: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected: Vec<Value> =
        serde_saphyr::from_multiple(&String::from_utf8_lossy(&out.stdout)).expect("YAML");
    assert_eq!(built.objects, expected);
}

fn which_kubectl() -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("kubectl"))
        .find(|p| p.is_file())
        .ok_or(())
}
