//! Lease leader election against the local control plane: one leader at a time, takeover
//! after the holder stops (crashed: after the lease duration; gracefully: at once), and the
//! Lease record carries what client-go tools (`kubectl get lease`) expect.

use std::time::Duration;

use apiserver::{Config, ControlPlane, RunningControlPlane};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use reconcilers::leader::{LeaderElector, LeaseConfig};
use tokio::sync::watch;
use tokio::time::Instant;

struct Cluster {
    cp: RunningControlPlane,
    _dir: tempfile::TempDir,
}

async fn cluster() -> (Cluster, kube::Client) {
    let dir = tempfile::tempdir().expect("tempdir");
    let cp = ControlPlane::start(Config {
        data_dir: dir.path().to_path_buf(),
        port: 0,
    })
    .expect("control plane starts");
    let kc = kube::config::Kubeconfig::read_from(cp.kubeconfig_path()).expect("kubeconfig");
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .expect("kubeconfig usable");
    let client = kube::Client::try_from(config).expect("client");
    let ns: Namespace = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "flotilla-system"}
    }))
    .expect("namespace");
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
    (Cluster { cp, _dir: dir }, client)
}

/// Short timings so takeovers happen within seconds.
fn fast(identity: &str) -> LeaseConfig {
    let mut c = LeaseConfig::new("flotilla-system", "flotilla-leader", identity);
    c.lease_duration = Duration::from_secs(2);
    c.renew_deadline = Duration::from_millis(1500);
    c.retry_period = Duration::from_millis(100);
    c
}

/// Polls `check` until it holds or 20 s pass.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn never() -> impl std::future::Future<Output = ()> + Send + 'static {
    std::future::pending()
}

fn on(rx: &watch::Receiver<()>) -> impl std::future::Future<Output = ()> + Send + 'static {
    let mut rx = rx.clone();
    async move {
        let _ = rx.changed().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_one_of_two_candidates_leads_and_the_other_takes_over_after_a_crash() {
    let (c, client) = cluster().await;
    let a = LeaderElector::new(client.clone(), fast("a")).expect("elector a");
    let b = LeaderElector::new(client.clone(), fast("b")).expect("elector b");
    let (a_leads, a_task) = a.spawn(never());
    let (b_leads, b_task) = b.spawn(never());

    eventually("one candidate leads", || {
        *a_leads.borrow() || *b_leads.borrow()
    })
    .await;
    // Watch both for several lease durations' worth of renewals: never both at once.
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        assert!(
            !(*a_leads.borrow() && *b_leads.borrow()),
            "both candidates lead at once"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (leader_task, leader_rx, other_rx, other_id) = if *a_leads.borrow() {
        (a_task, a_leads.clone(), b_leads.clone(), "b")
    } else {
        (b_task, b_leads.clone(), a_leads.clone(), "a")
    };
    assert!(*leader_rx.borrow(), "the first leader kept the Lease");

    // A crash: the holder stops renewing without releasing.
    leader_task.abort();
    let stopped_at = Instant::now();
    eventually("the other candidate takes over", || *other_rx.borrow()).await;
    assert!(
        stopped_at.elapsed() >= Duration::from_millis(1500),
        "takeover waited for the lease to expire (took {:?})",
        stopped_at.elapsed()
    );
    let lease = Api::<Lease>::namespaced(client.clone(), "flotilla-system")
        .get("flotilla-leader")
        .await
        .expect("lease");
    let spec = lease.spec.expect("spec");
    assert_eq!(spec.holder_identity.as_deref(), Some(other_id));
    assert_eq!(spec.lease_transitions, Some(1), "one change of holder");
    c.cp.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_releases_the_lease_for_an_immediate_takeover() {
    let (c, client) = cluster().await;
    let mut slow = fast("first");
    // Long enough that a takeover before expiry can only come from the release.
    slow.lease_duration = Duration::from_secs(60);
    slow.renew_deadline = Duration::from_secs(40);
    let (stop_tx, stop_rx) = watch::channel(());
    let (first_leads, first_task) = LeaderElector::new(client.clone(), slow.clone())
        .expect("elector")
        .spawn(on(&stop_rx));
    eventually("first leads", || *first_leads.borrow()).await;

    let mut second_cfg = slow;
    second_cfg.identity = "second".to_owned();
    let (second_leads, _second_task) = LeaderElector::new(client.clone(), second_cfg)
        .expect("elector")
        .spawn(never());
    stop_tx.send_replace(());
    first_task.await.expect("first stops");
    assert!(!*first_leads.borrow(), "a stopped candidate does not lead");
    eventually("second takes over well before 60 s", || {
        *second_leads.borrow()
    })
    .await;
    c.cp.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lease_record_names_holder_duration_and_renew_time() {
    let (c, client) = cluster().await;
    let mut elector = LeaderElector::new(client.clone(), fast("solo")).expect("elector");
    assert!(elector.try_acquire_or_renew().await.expect("acquire"));
    let api = Api::<Lease>::namespaced(client.clone(), "flotilla-system");
    let first = api.get("flotilla-leader").await.expect("lease");
    let spec = first.spec.clone().expect("spec");
    assert_eq!(spec.holder_identity.as_deref(), Some("solo"));
    assert_eq!(spec.lease_duration_seconds, Some(2));
    assert!(spec.acquire_time.is_some() && spec.renew_time.is_some());

    assert!(elector.try_acquire_or_renew().await.expect("renew"));
    let renewed = api.get("flotilla-leader").await.expect("lease");
    let renewed_spec = renewed.spec.expect("spec");
    assert!(
        renewed_spec.renew_time > spec.renew_time,
        "a renewal moves renewTime"
    );
    assert_eq!(
        renewed_spec.acquire_time, spec.acquire_time,
        "a renewal keeps acquireTime"
    );
    assert_ne!(
        renewed.metadata.resource_version, first.metadata.resource_version,
        "each renewal is a write"
    );

    // Another candidate cannot take an unexpired Lease.
    let mut other = LeaderElector::new(client.clone(), fast("other")).expect("elector");
    assert!(!other.try_acquire_or_renew().await.expect("try"));
    c.cp.shutdown();
}

#[test]
fn timings_that_let_two_leaders_overlap_are_refused() {
    let mut bad = fast("x");
    bad.renew_deadline = Duration::from_secs(5); // longer than the 2 s lease
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let client = kube::Client::try_from(kube::Config::new(
            "http://127.0.0.1:1".parse().expect("uri"),
        ))
        .expect("client");
        assert!(matches!(
            LeaderElector::new(client, bad),
            Err(reconcilers::leader::Error::Timings { .. })
        ));
    });
}
