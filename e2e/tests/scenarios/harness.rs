//! The harness itself: a world serves Flotilla's CRDs and a pushable repository.

use e2e::World;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn world_serves_crds_and_accepts_pushes_over_git_daemon() -> anyhow::Result<()> {
    let test = "world_serves_crds_and_accepts_pushes_over_git_daemon";
    let Some(world) = World::start(test).await? else {
        return Ok(());
    };
    let commit = world.push(&[("app/cm.yaml", "kind: ConfigMap\n")]).await?;
    let remote = e2e::git::git(
        world.git.work_dir(),
        &["ls-remote", &world.git.url(), "refs/heads/main"],
    )
    .await?;
    assert!(
        remote.starts_with(&commit),
        "daemon serves {remote:?}, pushed {commit}"
    );

    let Some(out) = world.kubectl(test, &["get", "crds", "-o", "name"]).await? else {
        return Ok(());
    };
    let crds = String::from_utf8_lossy(&out.stdout);
    for crd in [
        "gitrepositories.flotilla.dev",
        "kustomizations.flotilla.dev",
        "receivers.flotilla.dev",
    ] {
        assert!(crds.contains(crd), "{crd} missing from:\n{crds}");
    }
    Ok(())
}
