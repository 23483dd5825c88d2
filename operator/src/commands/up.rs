//! `flotilla up [REPO-OR-DIR]`: a whole GitOps setup in one process, for trying Flotilla and
//! for tests: the local control plane, simulated nodes that run the workloads, the operator,
//! and a GitRepository + Kustomization pointing at the directory.
//!
//! A directory inside a Git work tree is served as that repository (`file://` of its root, the
//! current branch, `spec.path` the directory relative to the root): commits to the branch are
//! picked up at every interval, exactly as a pushed commit would be. A plain directory (or one
//! whose content is not committed) is snapshotted into a repository under the data dir.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use crds::conditions::{Condition, ConditionsExt, reasons, types};
use crds::{GitRepository, Kustomization};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use tokio::sync::watch;

use crate::cli::UpArgs;

use super::operator::{runtime, signal, when};

/// Field manager of the objects `up` creates (the reconcilers apply as `flotilla`).
const FIELD_MANAGER: &str = "flotilla-up";

/// Where the GitRepository points.
#[derive(Debug)]
struct Served {
    url: String,
    /// `{"branch": …}` or `{"commit": …}`.
    reference: serde_json::Value,
    /// `spec.path` of the Kustomization.
    path: String,
    /// One line for the user.
    description: String,
}

pub fn run(args: UpArgs) -> anyhow::Result<ExitCode> {
    let timeout = crds::duration::parse(&args.timeout)
        .with_context(|| format!("--timeout {:?}", args.timeout))?;
    crds::duration::parse(&args.interval)
        .with_context(|| format!("--interval {:?}", args.interval))?;
    let source = args
        .source
        .canonicalize()
        .with_context(|| format!("{}: no such directory", args.source.display()))?;
    if !source.is_dir() {
        bail!("{}: not a directory", source.display());
    }
    let name = match &args.name {
        Some(n) => n.clone(),
        None => object_name(&source),
    };
    // A temporary data dir lives as long as this guard.
    let (data_dir, _temp) = match &args.data_dir {
        Some(dir) => (dir.clone(), None),
        None => {
            let temp = tempfile::Builder::new()
                .prefix("flotilla-up-")
                .tempdir()
                .context("creating a temporary data dir")?;
            (temp.path().to_path_buf(), Some(temp))
        }
    };
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating data dir {}", data_dir.display()))?;
    let served = serve_source(&source, &data_dir, &name)?;
    // A `policies/` folder beside the manifests gates every revision (as in examples/gitops).
    let policies = source
        .join("policies")
        .is_dir()
        .then(|| format!("{}/policies", served.path.trim_end_matches('/')));

    let cp = apiserver::ControlPlane::start(apiserver::Config {
        data_dir: data_dir.join("control-plane"),
        port: args.port,
    })
    .with_context(|| format!("starting the control plane in {}", data_dir.display()))?;
    let kubeconfig = cp.kubeconfig_path().to_path_buf();
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "► control plane on {}", cp.url())?;
        writeln!(out, "  export KUBECONFIG={}", kubeconfig.display())?;
        writeln!(out, "► source {}", served.description)?;
        if let Some(p) = &policies {
            writeln!(out, "► policies in {p} gate every revision")?;
        }
        out.flush()?;
    }
    let rt = runtime()?;
    let result = rt.block_on(up(
        &args,
        &name,
        &served,
        policies.as_deref(),
        &kubeconfig,
        &data_dir,
        timeout,
    ));
    // The control plane runs its own runtime; stop ours first so nothing still talks to it.
    rt.shutdown_timeout(Duration::from_secs(5));
    cp.shutdown();
    result
}

/// A DNS-1123 name from the directory's name.
fn object_name(dir: &Path) -> String {
    let raw = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let mut name: String = raw
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    name = name.trim_matches('-').chars().take(63).collect();
    let name = name.trim_end_matches('-').to_owned();
    if name.is_empty() {
        "flotilla".to_owned()
    } else {
        name
    }
}

/// The repository to point the GitRepository at: the enclosing Git repository when the
/// directory's content is committed there, else a snapshot.
fn serve_source(dir: &Path, data_dir: &Path, name: &str) -> anyhow::Result<Served> {
    if let Some(served) = in_work_tree(dir)? {
        return Ok(served);
    }
    snapshot(dir, &data_dir.join("repos").join(format!("{name}.git")))
}

fn in_work_tree(dir: &Path) -> anyhow::Result<Option<Served>> {
    let Ok(repo) = gix::discover(dir) else {
        return Ok(None);
    };
    let Some(workdir) = repo.workdir() else {
        return Ok(None);
    };
    let root = workdir
        .canonicalize()
        .with_context(|| format!("resolving {}", workdir.display()))?;
    let Ok(relative) = dir.strip_prefix(&root) else {
        return Ok(None);
    };
    let Ok(head) = repo.head_commit() else {
        return Ok(None); // no commit yet
    };
    let tree = head
        .tree()
        .map_err(|e| anyhow!("reading HEAD's tree: {e}"))?;
    let committed = relative.as_os_str().is_empty()
        || tree
            .lookup_entry_by_path(relative)
            .map_err(|e| anyhow!("reading HEAD's tree: {e}"))?
            .is_some();
    if !committed {
        return Ok(None);
    }
    let relative = relative.to_string_lossy().replace('\\', "/");
    let path = if relative.is_empty() {
        "./".to_owned()
    } else {
        format!("./{relative}")
    };
    let url = format!("file://{}", root.display());
    let (reference, shown) = match repo.head_name().ok().flatten() {
        Some(branch) => {
            let branch = branch.shorten().to_string();
            (json!({"branch": branch}), format!("branch {branch}"))
        }
        None => {
            let commit = head.id.to_string();
            (json!({"commit": commit}), format!("commit {commit}"))
        }
    };
    Ok(Some(Served {
        description: format!(
            "{url} ({shown}, path {path}); commit to apply changes, uncommitted edits are not seen"
        ),
        url,
        reference,
        path,
    }))
}

/// Commits the directory's files into a bare repository at `repo_dir` (creating it, or adding
/// a commit when the content changed since the last `up`), and serves its `main` branch.
fn snapshot(dir: &Path, repo_dir: &Path) -> anyhow::Result<Served> {
    if !repo_dir.exists() {
        if let Some(parent) = repo_dir.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        gix::init_bare(repo_dir).map_err(|e| anyhow!("creating {}: {e}", repo_dir.display()))?;
    }
    let repo = gix::open_opts(
        repo_dir,
        gix::open::Options::isolated()
            .config_overrides(["user.name=flotilla up", "user.email=flotilla@localhost"]),
    )
    .map_err(|e| anyhow!("opening {}: {e}", repo_dir.display()))?;
    let mut editor = repo
        .edit_tree(repo.empty_tree().id)
        .map_err(|e| anyhow!("editing a tree: {e}"))?;
    let mut files = BTreeSet::new();
    collect_files(dir, dir, &mut files)?;
    for relative in &files {
        let bytes = std::fs::read(dir.join(relative))
            .with_context(|| format!("reading {}", dir.join(relative).display()))?;
        let blob = repo
            .write_blob(bytes)
            .map_err(|e| anyhow!("storing {relative}: {e}"))?;
        editor
            .upsert(relative.as_str(), gix::object::tree::EntryKind::Blob, blob)
            .map_err(|e| anyhow!("adding {relative}: {e}"))?;
    }
    let tree = editor
        .write()
        .map_err(|e| anyhow!("writing the tree: {e}"))?;
    let reference = "refs/heads/main";
    let parent = repo
        .try_find_reference(reference)
        .map_err(|e| anyhow!("reading {reference}: {e}"))?
        .and_then(|mut r| r.peel_to_id().ok().map(|id| id.detach()));
    let unchanged = parent.is_some_and(|p| {
        repo.find_commit(p)
            .ok()
            .and_then(|c| c.tree_id().ok())
            .is_some_and(|t| t == tree)
    });
    if !unchanged {
        repo.commit(
            reference,
            format!("snapshot of {}", dir.display()),
            tree,
            parent,
        )
        .map_err(|e| anyhow!("committing the snapshot: {e}"))?;
    }
    let url = format!("file://{}", repo_dir.display());
    Ok(Served {
        description: format!(
            "{url} (snapshot of {}: {} files; run `flotilla up` again to pick up edits)",
            dir.display(),
            files.len()
        ),
        url,
        reference: json!({"branch": "main"}),
        path: "./".to_owned(),
    })
}

fn collect_files(root: &Path, dir: &Path, out: &mut BTreeSet<String>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let path = entry.path();
        if entry.file_name() == ".git" {
            continue;
        }
        let kind = entry
            .file_type()
            .with_context(|| format!("{}", path.display()))?;
        if kind.is_dir() {
            collect_files(root, &path, out)?;
        } else if kind.is_file() {
            let relative = path
                .strip_prefix(root)
                .map(|p| p.to_string_lossy().replace('\\', "/"))
                .with_context(|| format!("{}", path.display()))?;
            out.insert(relative);
        }
    }
    Ok(())
}

async fn up(
    args: &UpArgs,
    name: &str,
    served: &Served,
    policies: Option<&str>,
    kubeconfig: &Path,
    data_dir: &Path,
    timeout: Duration,
) -> anyhow::Result<ExitCode> {
    let client = super::operator::client(Some(kubeconfig)).await?;
    install_crds(&client).await?;
    let ns = &args.namespace;
    Api::<Namespace>::all(client.clone())
        .patch(
            ns,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            ),
        )
        .await
        .with_context(|| format!("creating namespace {ns}"))?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let simulation = (args.nodes > 0).then(|| {
        workloads::Simulation::start(
            client.clone(),
            workloads::SimConfig {
                nodes: args.nodes,
                ..workloads::SimConfig::default()
            },
        )
    });
    let mut config = reconcilers::OperatorConfig::new(data_dir.join("artifacts"));
    config.instance = Some("flotilla-up".to_owned());
    let operator =
        reconcilers::Operator::new(client.clone(), config).context("configuring the operator")?;
    let operator = tokio::spawn(operator.run(when(stop_rx.clone(), true)));
    let receivers = tokio::spawn(reconcilers::receiver::run_status_controller(
        client.clone(),
        None,
        when(stop_rx.clone(), true),
    ));
    let webhook = match args.receiver_addr {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding --receiver-addr {addr}"))?;
            println!("► receiver webhook on http://{}", listener.local_addr()?);
            Some(tokio::spawn(reconcilers::receiver::serve(
                listener,
                client.clone(),
                None,
                when(stop_rx.clone(), true),
            )))
        }
        None => None,
    };

    apply_objects(&client, args, name, served, policies).await?;
    let outcome = tokio::select! {
        outcome = follow(&client, ns, name, args.exit_when_ready, timeout) => outcome,
        () = signal() => Ok(ExitCode::SUCCESS),
    };

    stop_tx.send_replace(true);
    match operator.await {
        Ok(Err(e)) => eprintln!("operator: {e}"),
        Err(e) => eprintln!("operator task: {e}"),
        Ok(Ok(())) => {}
    }
    let _ = receivers.await;
    if let Some(w) = webhook {
        let _ = w.await;
    }
    if let Some(sim) = simulation {
        sim.shutdown().await;
    }
    outcome
}

/// Applies Flotilla's CRDs and waits until the API server serves them.
async fn install_crds(client: &kube::Client) -> anyhow::Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in crds::all_crds() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        api.patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&crd),
        )
        .await
        .with_context(|| format!("installing CRD {name}"))?;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for crd in crds::all_crds() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        loop {
            let live = api
                .get(&name)
                .await
                .with_context(|| format!("reading CRD {name}"))?;
            let established = live
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            if established {
                break;
            }
            if Instant::now() > deadline {
                bail!("CRD {name} was not Established within 30s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}

async fn apply_objects(
    client: &kube::Client,
    args: &UpArgs,
    name: &str,
    served: &Served,
    policies: Option<&str>,
) -> anyhow::Result<()> {
    let ns = &args.namespace;
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let repo = json!({
        "apiVersion": "flotilla.dev/v1alpha1",
        "kind": "GitRepository",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"url": served.url, "ref": served.reference, "interval": args.interval},
    });
    Api::<GitRepository>::namespaced(client.clone(), ns)
        .patch(name, &params, &Patch::Apply(&repo))
        .await
        .with_context(|| format!("creating GitRepository {ns}/{name}"))?;
    let mut ks = json!({
        "apiVersion": "flotilla.dev/v1alpha1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "sourceRef": {"kind": "GitRepository", "name": name},
            "path": served.path,
            "interval": args.interval,
            "prune": true,
            "wait": true,
            "timeout": "3m",
        },
    });
    if let Some(p) = policies {
        ks["spec"]["policies"] = json!({"from": "Both", "paths": [p]});
    }
    Api::<Kustomization>::namespaced(client.clone(), ns)
        .patch(name, &params, &Patch::Apply(&ks))
        .await
        .with_context(|| format!("creating Kustomization {ns}/{name}"))?;
    println!("► created GitRepository and Kustomization {ns}/{name}");
    Ok(())
}

/// Reasons after which waiting longer cannot help without a new commit or spec change.
const TERMINAL: [&str; 4] = [
    reasons::POLICY_DENIED,
    reasons::BUILD_FAILED,
    reasons::POLICY_INVALID,
    reasons::INVALID_SPEC,
];

/// Prints progress (source ready → applied → healthy) until Ready, then either returns (with
/// `exit_when_ready`) or keeps reporting new revisions until interrupted.
async fn follow(
    client: &kube::Client,
    ns: &str,
    name: &str,
    exit_when_ready: bool,
    timeout: Duration,
) -> anyhow::Result<ExitCode> {
    let repos: Api<GitRepository> = Api::namespaced(client.clone(), ns);
    let kss: Api<Kustomization> = Api::namespaced(client.clone(), ns);
    let deadline = Instant::now() + timeout;
    let mut printed: BTreeSet<String> = BTreeSet::new();
    let mut say = |line: String| {
        if printed.insert(line.clone()) {
            println!("{line}");
        }
    };
    let mut last = String::from("waiting for the first reconcile");
    loop {
        let repo = repos
            .get_opt(name)
            .await
            .context("reading the GitRepository")?;
        let ks = kss
            .get_opt(name)
            .await
            .context("reading the Kustomization")?;
        let repo_status = repo.and_then(|r| r.status).unwrap_or_default();
        let ks_status = ks.and_then(|k| k.status).unwrap_or_default();
        let source_rev = repo_status.artifact.as_ref().map(|a| a.revision.clone());

        if let Some(c) = ready(&repo_status.conditions) {
            if c.status == "True" {
                if let Some(rev) = &source_rev {
                    say(format!("✔ source ready: {rev}"));
                }
            } else if c.status == "False" {
                say(format!("✗ source: {}", c.message));
                last = format!("source: {}", c.message);
            }
        }
        if let Some(c) = ks_status.conditions.find_condition(types::RECONCILING)
            && c.status == "True"
        {
            say(format!("… {}", c.message));
        }
        let applied = ks_status.last_applied_revision.is_some()
            && ks_status.last_applied_revision == source_rev;
        let objects = ks_status
            .inventory
            .as_ref()
            .map(|i| i.entries.len())
            .unwrap_or(0);
        if applied {
            say(format!(
                "✔ applied {objects} objects at {}",
                source_rev.as_deref().unwrap_or_default()
            ));
        }
        if let Some(h) = ks_status.conditions.find_condition(types::HEALTHY)
            && h.status == "True"
            && applied
        {
            say(format!("✔ healthy: {}", h.message));
        }
        let stalled = ks_status.conditions.condition_is_true(types::STALLED);
        if let Some(c) = ready(&ks_status.conditions) {
            let current = ks_status.observed_generation.is_some();
            if c.status == "True" && applied && current {
                say(format!("✔ Ready: {}", c.message));
                if exit_when_ready {
                    return Ok(ExitCode::SUCCESS);
                }
            } else if c.status == "False" {
                last = format!("{}: {}", c.reason, c.message);
                // The source's own line says why it has no artifact; until the Kustomization
                // sees the first one, "artifact not found" is expected, not news.
                if c.reason != reasons::ARTIFACT_FAILED {
                    say(format!("✗ {}: {}", c.reason, c.message));
                }
                if exit_when_ready && (stalled || TERMINAL.contains(&c.reason.as_str())) {
                    eprintln!("error: Kustomization {ns}/{name} failed: {last}");
                    return Ok(ExitCode::from(1));
                }
            }
        }
        if exit_when_ready && Instant::now() > deadline {
            eprintln!(
                "error: Kustomization {ns}/{name} not Ready after {}: {last}",
                humantime(timeout)
            );
            return Ok(ExitCode::from(1));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn ready(conditions: &[Condition]) -> Option<&Condition> {
    conditions.iter().find(|c| c.type_ == types::READY)
}

fn humantime(d: Duration) -> String {
    format!("{}s", d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_are_dns_labels_from_the_directory() {
        assert_eq!(object_name(Path::new("/x/gitops")), "gitops");
        assert_eq!(object_name(Path::new("/x/My_App.v2")), "my-app-v2");
        assert_eq!(object_name(Path::new("/x/__")), "flotilla");
    }

    #[test]
    fn a_plain_directory_is_snapshotted_once_per_content() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("app")).unwrap();
        std::fs::write(dir.path().join("app/cm.yaml"), "kind: ConfigMap\n").unwrap();
        let repo_dir = dir.path().join("repo.git");
        let first = snapshot(&dir.path().join("app"), &repo_dir).unwrap();
        assert_eq!(first.path, "./");
        assert_eq!(first.reference, json!({"branch": "main"}));
        let repo = gix::open(&repo_dir).unwrap();
        let head = |repo: &gix::Repository| {
            repo.find_reference("refs/heads/main")
                .unwrap()
                .peel_to_id()
                .unwrap()
                .detach()
        };
        let commit1 = head(&repo);
        snapshot(&dir.path().join("app"), &repo_dir).unwrap();
        assert_eq!(head(&repo), commit1, "same content, no new commit");
        std::fs::write(dir.path().join("app/cm.yaml"), "kind: Secret\n").unwrap();
        snapshot(&dir.path().join("app"), &repo_dir).unwrap();
        let repo = gix::open(&repo_dir).unwrap();
        assert_ne!(head(&repo), commit1, "changed content, new commit");
    }
}
