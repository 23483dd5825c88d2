//! Render benchmark against `kubectl kustomize`.
//!
//! Generates a tree like the ones the issue measures: N apps of 14 objects
//! each in a base, a component whose patch targets every Deployment, and
//! three overlay levels (prefix, suffix + namespace, images + labels). It
//! times Flotilla on that tree and on one of double size, the renders of the
//! two interleaved so load from other processes hits both alike (median,
//! minimum and every run printed), then `kubectl kustomize` once per size on
//! the same trees, and prints the ratios and how Flotilla's time grew. Peak
//! memory is read from `VmHWM` of a child process (this binary re-run) that
//! renders once.
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

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Renders of each tree, interleaved (small, large, small, ...) so that load
/// from other processes drifting over the run hits both sizes alike.
const RUNS: usize = 15;

fn render_once(dir: &Path) -> (Duration, String) {
    let start = Instant::now();
    let out = kustomize::build(dir).unwrap_or_else(|e| panic!("flotilla render: {e}"));
    (start.elapsed(), out)
}

/// Times for each of `dirs`, interleaved, after one warm-up render each.
fn time_flotilla(dirs: &[&Path]) -> Vec<Vec<Duration>> {
    for dir in dirs {
        render_once(dir);
    }
    let mut times = vec![Vec::new(); dirs.len()];
    for _ in 0..RUNS {
        for (i, dir) in dirs.iter().enumerate() {
            times[i].push(render_once(dir).0);
        }
    }
    times
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

/// Prints one size's figures; returns the median.
fn report(apps: usize, dir: &Path, times: &[Duration]) -> Duration {
    let (_, out) = render_once(dir);
    let docs = out.matches("\n---\n").count() + 1;
    let mid = median(times.to_vec());
    let min = times.iter().min().copied().unwrap_or_default();
    println!(
        "{apps} apps, {docs} objects: flotilla {:.1} ms (median of {RUNS}, min {:.1} ms)",
        ms(mid),
        ms(min)
    );
    let all: Vec<String> = times.iter().map(|t| format!("{:.1}", ms(*t))).collect();
    println!("  runs (ms): {}", all.join(" "));
    match time_kubectl(dir) {
        Some((theirs, text)) => println!(
            "  kubectl kustomize {:.0} ms; flotilla is {:.0}x faster; output identical: {}",
            ms(theirs),
            theirs.as_secs_f64() / mid.as_secs_f64(),
            out == text
        ),
        None => println!("  kubectl not available: no comparison"),
    }
    match peak_memory_kb(dir) {
        Some(kb) => println!(
            "  peak memory of one render (VmHWM): {:.1} MB",
            kb as f64 / 1024.0
        ),
        None => println!("  peak memory: could not measure"),
    }
    mid
}

fn main() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child_render_once(&dir);
        return;
    }
    println!("render benchmark ({OBJECTS_PER_APP} objects per app)");
    let only = std::env::var("FLOTILLA_BENCH_APPS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok());
    if let (Some(apps), Some(dir)) = (only, std::env::var_os("FLOTILLA_BENCH_WRITE")) {
        let top = generate(Path::new(&dir), apps);
        println!("wrote {}", top.display());
        return;
    }
    let sizes = match only {
        Some(apps) => vec![apps],
        None => vec![100, 200],
    };
    let tmp = tempfile::tempdir().expect("temp dir");
    let tops: Vec<PathBuf> = sizes
        .iter()
        .map(|&apps| generate(&tmp.path().join(apps.to_string()), apps))
        .collect();
    let dirs: Vec<&Path> = tops.iter().map(PathBuf::as_path).collect();
    let times = time_flotilla(&dirs);
    let medians: Vec<Duration> = sizes
        .iter()
        .zip(&dirs)
        .zip(&times)
        .map(|((&apps, dir), t)| report(apps, dir, t))
        .collect();
    if let [small, large] = medians[..] {
        let pairs: Vec<String> = times[0]
            .iter()
            .zip(&times[1])
            .map(|(s, l)| format!("{:.2}", l.as_secs_f64() / s.as_secs_f64()))
            .collect();
        println!(
            "  doubling ratio of each interleaved pair: {}",
            pairs.join(" ")
        );
        println!(
            "doubling the tree took {:.2}x the time (medians; target at most 2.2x)",
            large.as_secs_f64() / small.as_secs_f64()
        );
    }
}
