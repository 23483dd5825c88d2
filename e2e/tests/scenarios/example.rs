//! The bundled example repository (`examples/gitops`, what `flotilla up`
//! serves by default) renders exactly as kubectl's kustomize renders it.

use std::path::Path;

#[tokio::test]
async fn bundled_example_renders_like_kubectl_kustomize() -> anyhow::Result<()> {
    let test = "bundled_example_renders_like_kubectl_kustomize";
    let Some(kubectl) = e2e::kubectl::find(test) else {
        return Ok(());
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/gitops");
    let ours = kustomize::build(&dir)?;
    let out = tokio::process::Command::new(kubectl)
        .arg("kustomize")
        .arg(&dir)
        .output()
        .await?;
    anyhow::ensure!(
        out.status.success(),
        "kubectl kustomize failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(ours, String::from_utf8_lossy(&out.stdout));
    for kind in [
        "kind: Namespace",
        "kind: StatefulSet",
        "kind: DaemonSet",
        "kind: CronJob",
        "kind: NetworkPolicy",
    ] {
        assert!(ours.contains(kind), "the example lost its {kind}");
    }
    Ok(())
}
