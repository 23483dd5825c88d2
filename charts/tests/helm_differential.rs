//! Differential test: every case rendered by `charts::template` and by the pinned `helm
//! template`, compared byte for byte, with a per-chart agreement count.
//!
//! Cases: `helm create` scaffolds (made by the oracle itself) with value files of ours, and
//! the public charts of `../shared/charts/` when present (each `chart/` with default values
//! and every `cases/*.values.yaml`). Without helm the test skips loudly, or fails when
//! `CI=true`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn oracle() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("FLOTILLA_ORACLES") {
        let p = Path::new(&dir).join("helm");
        return p.exists().then_some(p);
    }
    let home = std::env::var("HOME").unwrap_or_default();
    let p =
        Path::new(&home).join(".cache/flotilla/oracles/kubernetes-v1.37.2-helm-v4.3.2/bin/helm");
    if p.exists() {
        return Some(p);
    }
    std::env::var("PATH")
        .ok()?
        .split(':')
        .map(|d| Path::new(d).join("helm"))
        .find(|p| p.exists())
}

fn helm_or_skip() -> Option<PathBuf> {
    match oracle() {
        Some(h) => Some(h),
        None if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("helm oracle missing and CI=true")
        }
        None => {
            eprintln!(
                "SKIPPED: helm oracle not found ($FLOTILLA_ORACLES/helm, the default oracle dir, or PATH)"
            );
            None
        }
    }
}

struct Helm {
    bin: PathBuf,
    home: tempfile::TempDir,
}

impl Helm {
    fn cmd(&self) -> Command {
        let mut c = Command::new(&self.bin);
        for v in ["HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"] {
            c.env(v, self.home.path().join(v));
        }
        c
    }

    fn template(&self, chart: &Path, values: &[PathBuf]) -> String {
        let mut c = self.cmd();
        c.arg("template").arg(chart);
        for v in values {
            c.arg("-f").arg(v);
        }
        let out = c.output().expect("helm runs");
        if out.status.success() {
            String::from_utf8_lossy(&out.stdout).into_owned()
        } else {
            // Helm adds a hint after template errors; the error itself is what must agree.
            let err = String::from_utf8_lossy(&out.stderr);
            format!(
                "ERROR: {}",
                err.trim()
                    .trim_end_matches("Use --debug flag to render out invalid YAML")
                    .trim()
            )
        }
    }
}

fn ours(chart: &Path, values: &[PathBuf]) -> String {
    let opts = charts::TemplateOptions {
        values_files: values.to_vec(),
        ..Default::default()
    };
    match charts::template(chart, &opts) {
        Ok(s) => s,
        Err(e) => format!("ERROR: Error: {e}"),
    }
}

/// Runs the cases of one chart; returns (agreeing, total).
fn run_chart(helm: &Helm, label: &str, chart: &Path, cases: &[Vec<PathBuf>]) -> (usize, usize) {
    let mut agree = 0;
    for values in cases {
        let theirs = helm.template(chart, values);
        let mine = ours(chart, values);
        if theirs == mine {
            agree += 1;
        } else {
            let line = theirs
                .lines()
                .zip(mine.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(theirs.lines().count().min(mine.lines().count()));
            eprintln!(
                "DIFF {label} {:?} at line {}:\n  helm: {:?}\n  ours: {:?}",
                values
                    .iter()
                    .map(|v| v
                        .file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into_owned())
                    .collect::<Vec<_>>(),
                line + 1,
                theirs.lines().nth(line).unwrap_or("<end>"),
                mine.lines().nth(line).unwrap_or("<end>")
            );
        }
    }
    eprintln!("chart {label}: {agree}/{} cases agree", cases.len());
    (agree, cases.len())
}

const SCAFFOLD_VALUES: &[(&str, &str)] = &[
    (
        "ingress.values.yaml",
        "ingress:\n  enabled: true\n  className: nginx\n  annotations:\n    a.example/b: \"true\"\n  hosts:\n    - host: x.example\n      paths:\n        - path: /\n          pathType: Prefix\n  tls:\n    - secretName: x-tls\n      hosts: [x.example]\n",
    ),
    (
        "autoscaling.values.yaml",
        "replicaCount: 3\nautoscaling:\n  enabled: true\n  targetMemoryUtilizationPercentage: 70\nserviceAccount:\n  create: false\nimage:\n  tag: \"1.2.3\"\nresources:\n  limits:\n    cpu: 100m\n    memory: 128Mi\nnodeSelector:\n  disktype: ssd\ntolerations:\n  - key: k\n    operator: Exists\n",
    ),
    (
        "httproute.values.yaml",
        "httpRoute:\n  enabled: true\nfullnameOverride: my-full-name-that-is-quite-long-and-goes-on-beyond-sixty-three-characters\npodAnnotations:\n  x: \"1\"\npodLabels:\n  team: a\n",
    ),
];

fn value_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return vec![];
    };
    let mut vs: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".values.yaml"))
        .collect();
    vs.sort();
    vs
}

#[test]
fn charts_render_byte_identical_to_helm_template() {
    let Some(bin) = helm_or_skip() else { return };
    let helm = Helm {
        bin,
        home: tempfile::tempdir().expect("tempdir"),
    };
    let work = tempfile::tempdir().expect("tempdir");
    let mut total = (0, 0);

    // helm create scaffold.
    let st = helm
        .cmd()
        .current_dir(work.path())
        .args(["create", "scaffold"])
        .output()
        .expect("helm create");
    assert!(st.status.success(), "helm create failed");
    let scaffold = work.path().join("scaffold");
    let mut cases = vec![vec![]];
    for (name, text) in SCAFFOLD_VALUES {
        let p = work.path().join(name);
        std::fs::write(&p, text).expect("write values");
        cases.push(vec![p]);
    }
    let (a, n) = run_chart(&helm, "helm-create", &scaffold, &cases);
    total = (total.0 + a, total.1 + n);

    // Charts of our own, written to exercise template features.
    let own = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/charts");
    let mut own_dirs: Vec<PathBuf> = std::fs::read_dir(&own)
        .expect("tests/charts")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    own_dirs.sort();
    let mut own_total = (0, 0);
    for d in own_dirs {
        let mut cases = vec![vec![]];
        cases.extend(value_files(&d.join("cases")).into_iter().map(|v| vec![v]));
        let label = d
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let (a, n) = run_chart(&helm, &label, &d, &cases);
        own_total = (own_total.0 + a, own_total.1 + n);
    }
    total = (total.0 + own_total.0, total.1 + own_total.1);

    // The shared corpus of public charts.
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/charts");
    match std::fs::read_dir(&corpus) {
        Err(_) => eprintln!("SKIPPED: corpus {} not present", corpus.display()),
        Ok(rd) => {
            let mut dirs: Vec<PathBuf> = rd
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.join("chart").is_dir())
                .collect();
            dirs.sort();
            for d in dirs {
                let mut cases = vec![vec![]];
                if let Ok(rd) = std::fs::read_dir(d.join("cases")) {
                    let mut vs: Vec<PathBuf> = rd
                        .filter_map(Result::ok)
                        .map(|e| e.path())
                        .filter(|p| p.to_string_lossy().ends_with(".values.yaml"))
                        .collect();
                    vs.sort();
                    cases.extend(vs.into_iter().map(|v| vec![v]));
                }
                let label = d
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                let (a, n) = run_chart(&helm, &label, &d.join("chart"), &cases);
                total = (total.0 + a, total.1 + n);
            }
        }
    }
    eprintln!(
        "TOTAL: {}/{} cases byte-identical to helm template",
        total.0, total.1
    );
    // The scaffold is the floor this renderer must keep: every case of it agrees.
    assert_eq!(a, n, "helm create scaffold cases differ from helm template");
    assert_eq!(
        own_total.0, own_total.1,
        "our feature charts differ from helm template"
    );
}

#[test]
fn set_flags_release_name_and_namespace_render_like_helm() {
    let Some(bin) = helm_or_skip() else { return };
    let helm = Helm {
        bin,
        home: tempfile::tempdir().expect("tempdir"),
    };
    let work = tempfile::tempdir().expect("tempdir");
    let st = helm
        .cmd()
        .current_dir(work.path())
        .args(["create", "scaffold"])
        .output()
        .expect("helm create");
    assert!(st.status.success(), "helm create failed");
    let chart = work.path().join("scaffold");
    let out = helm
        .cmd()
        .arg("template")
        .arg("web")
        .arg(&chart)
        .args([
            "-n",
            "apps",
            "--set",
            "replicaCount=3,image.tag=v2,serviceAccount.create=false",
            "--set",
            "podLabels.tier=front",
            "--set-string",
            "podAnnotations.rev=42",
            "--kube-version",
            "1.31.4",
            "--skip-tests",
        ])
        .output()
        .expect("helm runs");
    let theirs = String::from_utf8_lossy(&out.stdout).into_owned();
    let opts = charts::TemplateOptions {
        release_name: "web".into(),
        namespace: "apps".into(),
        set_values: vec![
            "replicaCount=3,image.tag=v2,serviceAccount.create=false".into(),
            "podLabels.tier=front".into(),
        ],
        set_string_values: vec!["podAnnotations.rev=42".into()],
        kube_version: Some("1.31.4".into()),
        skip_tests: true,
        ..Default::default()
    };
    let mine = charts::template(&chart, &opts).expect("renders");
    assert_eq!(mine, theirs);
}

#[test]
fn include_crds_puts_crd_files_first_like_helm() {
    let Some(bin) = helm_or_skip() else { return };
    let helm = Helm {
        bin,
        home: tempfile::tempdir().expect("tempdir"),
    };
    let chart = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/charts/features");
    let out = helm
        .cmd()
        .arg("template")
        .arg(&chart)
        .arg("--include-crds")
        .output()
        .expect("helm runs");
    assert!(
        out.status.success(),
        "helm failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let opts = charts::TemplateOptions {
        include_crds: true,
        ..Default::default()
    };
    let mine = charts::template(&chart, &opts).expect("renders");
    assert_eq!(mine, String::from_utf8_lossy(&out.stdout));
}
