//! The Receiver webhook over real HTTP against the local control plane: the status controller
//! publishes `status.webhookPath`, verified requests annotate the targeted GitRepositories, and
//! everything else is refused without touching them.

use std::collections::BTreeMap;
use std::time::Duration;

use apiserver::{Config, ControlPlane, RunningControlPlane};
use crds::conditions::{ConditionsExt, types};
use crds::{GitRepository, Receiver, annotations};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams, PostParams};
use reconcilers::receiver::verify::sign_sha256;
use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;

const NS: &str = "default";
const TOKEN: &str = "s3cret-token";

struct Env {
    _cp: RunningControlPlane,
    _dir: tempfile::TempDir,
    client: kube::Client,
    base: String,
    _stop: watch::Sender<bool>,
}

/// A control plane with Flotilla's CRDs, the Receiver controller and the webhook server.
async fn env() -> Env {
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
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in crds::all_crds() {
        crds.create(&PostParams::default(), &crd)
            .await
            .expect("create CRD");
    }
    // Served once discovery lists the kinds.
    eventually("CRDs served", || {
        let api: Api<Receiver> = Api::namespaced(client.clone(), NS);
        async move { api.list(&Default::default()).await.is_ok() }
    })
    .await;

    let (stop_tx, stop_rx) = watch::channel(false);
    let stop = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    tokio::spawn(reconcilers::receiver::run_status_controller(
        client.clone(),
        None,
        stop(),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(reconcilers::receiver::serve(
        listener,
        client.clone(),
        None,
        stop(),
    ));
    Env {
        _cp: cp,
        _dir: dir,
        client,
        base,
        _stop: stop_tx,
    }
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn create_secret(client: &kube::Client, name: &str, token: &str) {
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": NS},
        "stringData": {"token": token},
    }))
    .expect("secret");
    Api::<Secret>::namespaced(client.clone(), NS)
        .patch(
            name,
            &PatchParams::apply("test").force(),
            &Patch::Apply(&secret),
        )
        .await
        .expect("apply secret");
}

async fn create_repo(client: &kube::Client, name: &str, labels: BTreeMap<&str, &str>) {
    let repo = json!({
        "apiVersion": "flotilla.dev/v1alpha1",
        "kind": "GitRepository",
        "metadata": {"name": name, "namespace": NS, "labels": labels},
        "spec": {"url": "https://example.invalid/repo.git", "interval": "1h"},
    });
    Api::<GitRepository>::namespaced(client.clone(), NS)
        .patch(name, &PatchParams::apply("test"), &Patch::Apply(&repo))
        .await
        .expect("apply GitRepository");
}

/// Creates a Receiver and waits for its webhook path.
async fn create_receiver(client: &kube::Client, name: &str, spec: serde_json::Value) -> String {
    let receiver = json!({
        "apiVersion": "flotilla.dev/v1alpha1",
        "kind": "Receiver",
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    });
    let api: Api<Receiver> = Api::namespaced(client.clone(), NS);
    api.patch(name, &PatchParams::apply("test"), &Patch::Apply(&receiver))
        .await
        .expect("apply Receiver");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = api.get(name).await.expect("get Receiver");
        if let Some(path) = r.status.and_then(|s| s.webhook_path) {
            return path;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for webhookPath"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn requested_at(client: &kube::Client, name: &str) -> Option<String> {
    Api::<GitRepository>::namespaced(client.clone(), NS)
        .get(name)
        .await
        .expect("get GitRepository")
        .metadata
        .annotations
        .and_then(|a| a.get(annotations::RECONCILE_REQUESTED_AT).cloned())
}

async fn post(
    env: &Env,
    path: &str,
    headers: &[(&str, String)],
    body: &'static str,
) -> (u16, String) {
    let mut req = reqwest::Client::new()
        .post(format!("{}{path}", env.base))
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

const PUSH: &str = r#"{"ref":"refs/heads/main","after":"1f3c5d7e9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d","repository":{"full_name":"acme/fleet"}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_names_the_webhook_path_and_waits_for_the_secret() {
    let env = env().await;
    let api: Api<Receiver> = Api::namespaced(env.client.clone(), NS);
    let receiver = json!({
        "apiVersion": "flotilla.dev/v1alpha1",
        "kind": "Receiver",
        "metadata": {"name": "hook", "namespace": NS},
        "spec": {"type": "generic", "secretRef": {"name": "hook-token"},
                 "resources": [{"kind": "GitRepository", "name": "app"}]},
    });
    api.patch(
        "hook",
        &PatchParams::apply("test"),
        &Patch::Apply(&receiver),
    )
    .await
    .expect("apply");
    eventually("Ready=False naming the missing Secret", || {
        let api = api.clone();
        async move {
            let r = api.get("hook").await.expect("get");
            r.status.is_some_and(|s| {
                s.conditions.find_condition(types::READY).is_some_and(|c| {
                    c.status == "False"
                        && c.reason == "ReferenceNotFound"
                        && c.message.contains("default/hook-token")
                })
            })
        }
    })
    .await;

    // The Secret watch wakes the controller: no interval to wait for.
    create_secret(&env.client, "hook-token", TOKEN).await;
    let expected = crds::receiver::webhook_path(TOKEN, "hook", NS);
    eventually("Ready=True with the path", || {
        let api = api.clone();
        let expected = expected.clone();
        async move {
            let r = api.get("hook").await.expect("get");
            r.status.is_some_and(|s| {
                s.webhook_path.as_deref() == Some(expected.as_str())
                    && s.conditions.condition_is_true(types::READY)
            })
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_github_push_annotates_the_named_and_label_selected_repositories() {
    let env = env().await;
    create_secret(&env.client, "gh-token", TOKEN).await;
    create_repo(&env.client, "app", BTreeMap::new()).await;
    create_repo(&env.client, "prod-1", BTreeMap::from([("fleet", "prod")])).await;
    create_repo(&env.client, "dev-1", BTreeMap::from([("fleet", "dev")])).await;
    let path = create_receiver(
        &env.client,
        "github",
        json!({"type": "github", "events": ["push"], "secretRef": {"name": "gh-token"},
               "resources": [{"kind": "GitRepository", "name": "app"},
                             {"kind": "GitRepository", "name": "*", "matchLabels": {"fleet": "prod"}}]}),
    )
    .await;

    let (status, text) = post(
        &env,
        &path,
        &[
            ("X-GitHub-Event", "push".to_owned()),
            (
                "X-Hub-Signature-256",
                sign_sha256(TOKEN.as_bytes(), PUSH.as_bytes()),
            ),
            ("Content-Type", "application/json".to_owned()),
        ],
        PUSH,
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert!(
        text.contains("push from acme/fleet to refs/heads/main"),
        "{text}"
    );
    let app = requested_at(&env.client, "app").await;
    assert!(app.is_some(), "named target annotated");
    assert_eq!(
        requested_at(&env.client, "prod-1").await,
        app,
        "same request time"
    );
    assert_eq!(
        requested_at(&env.client, "dev-1").await,
        None,
        "labels not matching: untouched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_requests_annotate_nothing() {
    let env = env().await;
    create_secret(&env.client, "gh-token", TOKEN).await;
    create_repo(&env.client, "app", BTreeMap::new()).await;
    let path = create_receiver(
        &env.client,
        "github",
        json!({"type": "github", "events": ["push"], "secretRef": {"name": "gh-token"},
               "resources": [{"kind": "GitRepository", "name": "app"}]}),
    )
    .await;
    let signed = sign_sha256(TOKEN.as_bytes(), PUSH.as_bytes());

    // Signed with another key.
    let (status, text) = post(
        &env,
        &path,
        &[
            ("X-GitHub-Event", "push".to_owned()),
            (
                "X-Hub-Signature-256",
                sign_sha256(b"wrong", PUSH.as_bytes()),
            ),
        ],
        PUSH,
    )
    .await;
    assert_eq!(status, 401, "{text}");
    // No signature at all.
    let (status, _) = post(&env, &path, &[("X-GitHub-Event", "push".to_owned())], PUSH).await;
    assert_eq!(status, 401);
    // An event not in spec.events.
    let (status, text) = post(
        &env,
        &path,
        &[
            ("X-GitHub-Event", "release".to_owned()),
            ("X-Hub-Signature-256", signed.clone()),
        ],
        PUSH,
    )
    .await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("release"), "{text}");
    // GitHub's ping is answered and triggers nothing.
    let (status, text) = post(
        &env,
        &path,
        &[
            ("X-GitHub-Event", "ping".to_owned()),
            ("X-Hub-Signature-256", signed.clone()),
        ],
        PUSH,
    )
    .await;
    assert_eq!((status, text.as_str()), (200, "pong"));
    // A path no Receiver serves.
    let (status, _) = post(
        &env,
        "/hook/0000",
        &[
            ("X-GitHub-Event", "push".to_owned()),
            ("X-Hub-Signature-256", signed),
        ],
        PUSH,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(requested_at(&env.client, "app").await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlab_token_and_generic_hmac_receivers_authenticate_their_own_way() {
    let env = env().await;
    create_secret(&env.client, "token", TOKEN).await;
    create_repo(&env.client, "from-gitlab", BTreeMap::new()).await;
    create_repo(&env.client, "from-hmac", BTreeMap::new()).await;
    let gitlab = create_receiver(
        &env.client,
        "gitlab",
        json!({"type": "gitlab", "events": ["Push Hook"], "secretRef": {"name": "token"},
               "resources": [{"kind": "GitRepository", "name": "from-gitlab"}]}),
    )
    .await;
    let hmac = create_receiver(
        &env.client,
        "generic-hmac",
        json!({"type": "generic-hmac", "secretRef": {"name": "token"},
               "resources": [{"kind": "GitRepository", "name": "from-hmac"}]}),
    )
    .await;

    let gitlab_push = r#"{"object_kind":"push","ref":"refs/heads/main","repository":{"path_with_namespace":"acme/fleet"}}"#;
    let (status, _) = post(
        &env,
        &gitlab,
        &[
            ("X-Gitlab-Event", "Push Hook".to_owned()),
            ("X-Gitlab-Token", "not-it".to_owned()),
        ],
        gitlab_push,
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(requested_at(&env.client, "from-gitlab").await, None);
    let (status, text) = post(
        &env,
        &gitlab,
        &[
            ("X-Gitlab-Event", "Push Hook".to_owned()),
            ("X-Gitlab-Token", TOKEN.to_owned()),
        ],
        gitlab_push,
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert!(requested_at(&env.client, "from-gitlab").await.is_some());

    let body = "anything";
    let (status, _) = post(&env, &hmac, &[], body).await;
    assert_eq!(status, 401, "generic-hmac needs X-Signature");
    let (status, text) = post(
        &env,
        &hmac,
        &[(
            "X-Signature",
            sign_sha256(TOKEN.as_bytes(), body.as_bytes()),
        )],
        body,
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert!(requested_at(&env.client, "from-hmac").await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_receiver_answers_but_triggers_nothing() {
    let env = env().await;
    create_secret(&env.client, "token", TOKEN).await;
    create_repo(&env.client, "app", BTreeMap::new()).await;
    let path = create_receiver(
        &env.client,
        "paused",
        json!({"type": "generic", "suspend": true, "secretRef": {"name": "token"},
               "resources": [{"kind": "GitRepository", "name": "app"}]}),
    )
    .await;
    let (status, text) = post(&env, &path, &[], "").await;
    assert_eq!(status, 200);
    assert!(text.contains("suspended"), "{text}");
    assert_eq!(requested_at(&env.client, "app").await, None);
}
