//! Render benchmark against `kubectl kustomize`.
//!
//! Generates a tree like the ones the issue measures: N apps of 14 objects
//! each in a base, a component whose patch targets every Deployment, and
//! three overlay levels (prefix, suffix + namespace, images + labels). It
//! times Flotilla (median of several runs) and `kubectl kustomize` (once) on
//! the same tree, prints both and the ratio, then does the same at double
//! size and prints how Flotilla's time grew. Peak memory is read from
//! `VmHWM` of a child process (this binary re-run) that renders once.
//!
//! Run: `cargo bench -p flotilla-kustomize --bench render`
//! (`FLOTILLA_BENCH_NO_KUBECTL=1` skips kubectl and `FLOTILLA_BENCH_APPS=N`
//! runs one size only, e.g. for profiling; `FLOTILLA_BENCH_WRITE=DIR` only
//! writes that size's tree to DIR, so a profiler can run
//! `FLOTILLA_BENCH_RENDER_ONCE=DIR/overlays/three` on a fixed tree).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
// The same allocator as the `flotilla` binary, so the figures are the CLI's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

const CHILD_ENV: &str = "FLOTILLA_BENCH_RENDER_ONCE";
const OBJECTS_PER_APP: usize = 14;

fn app_yaml(i: usize) -> String {
    let n = format!("app{i:03}");
    let mut s = String::new();
    let _ = write!(
        s,
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {n}
spec:
  replicas: 2
  selector:
    matchLabels:
      app: {n}
  template:
    metadata:
      labels:
        app: {n}
    spec:
      serviceAccountName: {n}
      containers:
      - name: web
        image: registry.example.com/{n}:1.0.0
        ports:
        - containerPort: 8080
        envFrom:
        - configMapRef:
            name: {n}-config
        env:
        - name: TOKEN
          valueFrom:
            secretKeyRef:
              name: {n}-secret
              key: token
      volumes:
      - name: data
        persistentVolumeClaim:
          claimName: {n}-data
---
apiVersion: v1
kind: Service
metadata:
  name: {n}
spec:
  selector:
    app: {n}
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {n}-config
data:
  LOG_LEVEL: info
  FEATURE: "on"
---
apiVersion: v1
kind: Secret
metadata:
  name: {n}-secret
type: Opaque
stringData:
  token: t0ken
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {n}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {n}
spec:
  rules:
  - host: {n}.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: {n}
            port:
              number: 80
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {n}-data
spec:
  accessModes:
  - ReadWriteOnce
  resources:
    requests:
      storage: 1Gi
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {n}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {n}
  minReplicas: 2
  maxReplicas: 5
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {n}
spec:
  minAvailable: 1
  selector:
    matchLabels:
      app: {n}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {n}
rules:
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {n}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {n}
subjects:
- kind: ServiceAccount
  name: {n}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {n}
spec:
  podSelector:
    matchLabels:
      app: {n}
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: {n}-cleanup
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          serviceAccountName: {n}
          containers:
          - name: cleanup
            image: registry.example.com/tools:2.0
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {n}-cache
spec:
  serviceName: {n}
  selector:
    matchLabels:
      app: {n}-cache
  template:
    metadata:
      labels:
        app: {n}-cache
    spec:
      containers:
      - name: cache
        image: registry.example.com/cache:7
"#
    );
    s
}

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .unwrap_or_else(|e| panic!("mkdir {}: {e}", parent.display()));
    }
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Writes the tree for `apps` apps under `root`; returns the top overlay.
fn generate(root: &Path, apps: usize) -> PathBuf {
    let mut base = String::from("resources:\n");
    for i in 0..apps {
        let dir = format!("apps/app{i:03}");
        write(
            &root.join(&dir).join("kustomization.yaml"),
            "resources:\n- objects.yaml\n",
        );
        write(&root.join(&dir).join("objects.yaml"), &app_yaml(i));
        base.push_str(&format!("- ../{dir}\n"));
    }
    write(&root.join("base/kustomization.yaml"), &base);
    write(
        &root.join("component/kustomization.yaml"),
        r#"apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
patches:
- target:
    kind: Deployment
  patch: |-
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: any
    spec:
      template:
        metadata:
          annotations:
            prometheus.io/scrape: "true"
        spec:
          containers:
          - name: web
            resources:
              requests:
                cpu: 100m
"#,
    );
    write(
        &root.join("overlays/one/kustomization.yaml"),
        "resources:\n- ../../base\ncomponents:\n- ../../component\nnamePrefix: team-\n",
    );
    write(
        &root.join("overlays/two/kustomization.yaml"),
        "resources:\n- ../one\nnameSuffix: -v2\nnamespace: staging\n",
    );
    write(
        &root.join("overlays/three/kustomization.yaml"),
        "resources:\n- ../two\nnamespace: production\nimages:\n- name: registry.example.com/tools\n  newTag: \"2.1\"\nlabels:\n- pairs:\n    env: production\n  includeSelectors: false\n  includeTemplates: true\n",
    );
    root.join("overlays/three")
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time_flotilla(dir: &Path) -> (Duration, usize) {
    let mut times = Vec::new();
    let mut docs = 0;
    for _ in 0..7 {
        let start = Instant::now();
        let out = kustomize::build(dir).unwrap_or_else(|e| panic!("flotilla render: {e}"));
        times.push(start.elapsed());
        docs = out.matches("\n---\n").count() + 1;
    }
    (median(times), docs)
}

fn time_kubectl(dir: &Path) -> Option<(Duration, String)> {
    if std::env::var_os("FLOTILLA_BENCH_NO_KUBECTL").is_some() {
        return None;
    }
    let start = Instant::now();
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .ok()?;
    let elapsed = start.elapsed();
    if !out.status.success() {
        eprintln!(
            "kubectl kustomize failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    Some((elapsed, String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// Peak resident memory (VmHWM, kB) of a child that renders `dir` once.
fn peak_memory_kb(dir: &Path) -> Option<u64> {
    let exe = std::env::current_exe().ok()?;
    let out = Command::new(exe).env(CHILD_ENV, dir).output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

fn child_render_once(dir: &str) {
    let out = kustomize::build(Path::new(dir)).unwrap_or_else(|e| panic!("render: {e}"));
    std::hint::black_box(out);
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .map(|v| v.trim().trim_end_matches("kB").trim().to_string())
        .unwrap_or_default();
    println!("{hwm}");
}

fn run(apps: usize) -> Duration {
    let tmp = tempfile::tempdir().expect("temp dir");
    let top = generate(tmp.path(), apps);
    let (ours, docs) = time_flotilla(&top);
    println!(
        "{} apps, {docs} objects: flotilla {:.1} ms (median of 7)",
        apps,
        ours.as_secs_f64() * 1e3
    );
    match time_kubectl(&top) {
        Some((theirs, text)) => {
            let same = kustomize::build(&top).is_ok_and(|o| o == text);
            println!(
                "  kubectl kustomize {:.0} ms; flotilla is {:.0}x faster; output identical: {same}",
                theirs.as_secs_f64() * 1e3,
                theirs.as_secs_f64() / ours.as_secs_f64()
            );
        }
        None => println!("  kubectl not available: no comparison"),
    }
    match peak_memory_kb(&top) {
        Some(kb) => println!(
            "  peak memory of one render (VmHWM): {:.1} MB",
            kb as f64 / 1024.0
        ),
        None => println!("  peak memory: could not measure"),
    }
    ours
}

fn main() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child_render_once(&dir);
        return;
    }
    let apps = 100;
    println!("render benchmark ({OBJECTS_PER_APP} objects per app)");
    if let Some(only) = std::env::var("FLOTILLA_BENCH_APPS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        if let Some(dir) = std::env::var_os("FLOTILLA_BENCH_WRITE") {
            let top = generate(Path::new(&dir), only);
            println!("wrote {}", top.display());
            return;
        }
        run(only);
        return;
    }
    let small = run(apps);
    let large = run(apps * 2);
    println!(
        "doubling the tree took {:.2}x the time (target at most 2.2x)",
        large.as_secs_f64() / small.as_secs_f64()
    );
}
