//! Post-build substitution through `build()`: variables from `postBuild.substitute` and from
//! ConfigMaps/Secrets in a real control plane, precedence, defaults, the opt-out annotation,
//! and errors that name the object, field and variable.

use crate::source_fixtures;

use reconcilers::kustomization::build::{BuildError, build};
use serde_json::Value;
use source_fixtures::{Cluster, kustomization, tree};

const DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: ${namespace:=apps}
spec:
  replicas: ${replicas}
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:${tag}
        env:
        - name: REGION
          value: ${region:-eu-west-1}
        - name: LITERAL
          value: $${kept} and $HOME
"#;

fn source() -> tempfile::TempDir {
    tree(&[
        ("kustomization.yaml", "resources: [deployment.yaml]\n"),
        ("deployment.yaml", DEPLOYMENT),
    ])
}

fn ks_with(post_build: &str) -> crds::Kustomization {
    kustomization(&format!(
        "metadata: {{name: app, namespace: default}}\nspec:\n  sourceRef: {{kind: GitRepository, name: repo}}\n  interval: 5m\n  prune: true\n  postBuild:\n{post_build}"
    ))
}

fn container(objects: &[Value]) -> &Value {
    &objects[0]["spec"]["template"]["spec"]["containers"][0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_variables_and_defaults_are_substituted() {
    let cluster = Cluster::start().await;
    let source = source();
    let ks = ks_with("    substitute:\n      replicas: \"3\"\n      tag: \"1.27\"\n");
    let built = build(&cluster.client, &ks, source.path())
        .await
        .expect("builds");
    let d = &built.objects[0];
    assert_eq!(
        d["metadata"]["namespace"], "apps",
        "default of ${{namespace:=apps}}"
    );
    assert_eq!(
        d["spec"]["replicas"], 3,
        "a lone ${{replicas}} becomes a number"
    );
    assert_eq!(container(&built.objects)["image"], "nginx:1.27");
    assert_eq!(container(&built.objects)["env"][0]["value"], "eu-west-1");
    assert_eq!(
        container(&built.objects)["env"][1]["value"],
        "${kept} and $HOME",
        "$${{…}} escapes and bare $VAR is left alone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn substitute_from_configmaps_and_secrets_with_flux_precedence() {
    let cluster = Cluster::start().await;
    cluster
        .apply(
            r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: cluster-vars, namespace: default}
data: {replicas: "2", tag: "from-configmap", region: "us-east-1"}
---
apiVersion: v1
kind: Secret
metadata: {name: secret-vars, namespace: default}
stringData: {tag: "from-secret"}
"#,
        )
        .await;
    let source = source();
    let ks = ks_with(
        r#"    substitute:
      region: inline
    substituteFrom:
    - {kind: ConfigMap, name: cluster-vars}
    - {kind: Secret, name: secret-vars}
    - {kind: ConfigMap, name: not-there, optional: true}
"#,
    );
    let built = build(&cluster.client, &ks, source.path())
        .await
        .expect("builds");
    assert_eq!(built.objects[0]["spec"]["replicas"], 2);
    // A later substituteFrom entry overrides an earlier one…
    assert_eq!(container(&built.objects)["image"], "nginx:from-secret");
    // …and postBuild.substitute overrides them all.
    assert_eq!(container(&built.objects)["env"][0]["value"], "inline");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_required_configmap_is_named() {
    let cluster = Cluster::start().await;
    let source = source();
    let ks = ks_with("    substituteFrom:\n    - {kind: ConfigMap, name: vars}\n");
    let err = build(&cluster.client, &ks, source.path())
        .await
        .unwrap_err();
    assert!(matches!(err, BuildError::VariablesNotFound { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("spec.postBuild.substituteFrom[0]"),
        "{message}"
    );
    assert!(message.contains("ConfigMap default/vars"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unset_variable_names_object_field_and_variable() {
    let cluster = Cluster::start().await;
    let source = source();
    let ks = ks_with("    substitute:\n      replicas: \"1\"\n");
    let err = build(&cluster.client, &ks, source.path())
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("Deployment apps/web"), "{message}");
    assert!(
        message.contains("spec.template.spec.containers[0].image"),
        "{message}"
    );
    assert!(message.contains("\"tag\""), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_opt_out_annotation_leaves_an_object_untouched() {
    let cluster = Cluster::start().await;
    let source = tree(&[
        ("kustomization.yaml", "resources: [script.yaml]\n"),
        (
            "script.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: script\n  annotations:\n    flotilla.dev/substitute: disabled\ndata:\n  run.sh: echo ${USER}\n",
        ),
    ]);
    let ks = ks_with("    substitute:\n      USER: root\n");
    let built = build(&cluster.client, &ks, source.path())
        .await
        .expect("builds");
    assert_eq!(built.objects[0]["data"]["run.sh"], "echo ${USER}");
}
