//! Scenario: a push reaches the cluster through the Receiver webhook, applied
//! and Ready within 2 seconds of `git push`.

use std::time::{Duration, Instant};

use e2e::{World, ks_spec, webhook};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;

const TOKEN: &str = "e2e-webhook-token";

fn settings(greeting: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: default\ndata:\n  greeting: {greeting}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_with_webhook_is_applied_and_ready_within_two_seconds() -> anyhow::Result<()> {
    let test = "push_with_webhook_is_applied_and_ready_within_two_seconds";
    let Some(world) = World::start(test).await? else {
        return Ok(());
    };
    // Long intervals: only the webhook can make the new commit land in time.
    let first = world
        .push(&[("app/settings.yaml", &settings("hello"))])
        .await?;
    world.apply_source("app", "10m").await?;
    let mut spec = ks_spec("app", "./app");
    spec["interval"] = "10m".into();
    world.apply_kustomization("app", spec).await?;
    let path = webhook::github_receiver(&world, "github", TOKEN, "app").await?;
    world
        .wait_for_revision("app", &first, Duration::from_secs(30))
        .await?;

    // Warm-up round through the webhook, so the measured one is steady state.
    let warm = world
        .push(&[("app/settings.yaml", &settings("warm"))])
        .await?;
    let base = world.receiver_url()?;
    let body = webhook::github_push_payload(&world.git.url(), &warm);
    webhook::post_github_push(&base, &path, TOKEN, body).await?;
    world
        .wait_for_revision("app", &warm, Duration::from_secs(30))
        .await?;

    let started = Instant::now();
    let commit = world
        .push(&[("app/settings.yaml", &settings("pushed"))])
        .await?;
    let body = webhook::github_push_payload(&world.git.url(), &commit);
    webhook::post_github_push(&base, &path, TOKEN, body).await?;
    world
        .wait_for_revision("app", &commit, Duration::from_secs(30))
        .await?;
    let elapsed = started.elapsed();

    let live = Api::<ConfigMap>::namespaced(world.client.clone(), "default")
        .get("settings")
        .await?;
    let greeting = live.data.and_then(|d| d.get("greeting").cloned());
    assert_eq!(greeting.as_deref(), Some("pushed"));
    eprintln!("push → applied and Ready via webhook: {elapsed:?}");
    assert!(
        elapsed <= Duration::from_secs(2),
        "push → Ready took {elapsed:?}, the requirement is at most 2 s"
    );
    Ok(())
}
