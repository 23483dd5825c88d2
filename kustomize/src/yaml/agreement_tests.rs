//! The fast reader must agree with serde-saphyr wherever it answers: on
//! every YAML file of the conformance suite (inputs and kubectl's outputs)
//! and on scalars whose type is easy to get wrong.

use std::path::{Path, PathBuf};

use super::fast;
use super::parse::{parse_documents_full, resolve_scalar};

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

/// Whether the fast reader answered, after checking it answered right.
fn agrees(text: &str, what: &str) -> bool {
    let Some(fast) = fast::parse_documents(text, &resolve_scalar) else {
        return false;
    };
    match parse_documents_full(text, Path::new(what)) {
        Ok(full) => assert_eq!(fast, full, "{what}: fast reader differs from serde-saphyr"),
        Err(e) => panic!("{what}: fast reader accepted what serde-saphyr rejects: {e}"),
    }
    true
}

#[test]
fn fast_reader_agrees_on_every_conformance_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let mut files = Vec::new();
    yaml_files(&root, &mut files);
    assert!(
        files.len() > 100,
        "conformance files not found under {}",
        root.display()
    );
    let mut read = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if agrees(&text, &file.display().to_string()) {
            read += 1;
        }
    }
    // Most manifests are in the subset; if this drops, the fast path broke.
    assert!(
        read * 10 >= files.len() * 9,
        "fast reader took only {read} of {} files",
        files.len()
    );
}

#[test]
fn fast_reader_types_scalars_like_serde_saphyr() {
    let scalars = [
        "0",
        "7",
        "-7",
        "007",
        "0644",
        "0o644",
        "0x1F",
        "1_000",
        "1.0",
        "1.5",
        "-0",
        "1e3",
        "1E3",
        ".5",
        ".inf",
        "-.inf",
        ".nan",
        "nan",
        "NaN",
        "inf",
        "Infinity",
        "true",
        "True",
        "TRUE",
        "false",
        "yes",
        "no",
        "on",
        "off",
        "y",
        "n",
        "Y",
        "null",
        "Null",
        "~",
        "100m",
        "1Gi",
        "8080/TCP",
        "12h",
        "2001-12-14",
        "2001-12-14t21:59:43.10-05:00",
        "1:30",
        "190:20:30",
        "+1",
        "+.5",
        "123456789012345678",
        "1234567890123456789012",
        "-foo",
        "/healthz",
        "a b c",
        "a:b",
        "é",
        "0 3 * * *",
        "1.0.0",
        "v1",
        "-",
        "$patch",
        "=",
    ];
    let mut read = 0;
    for s in scalars {
        for text in [
            format!("k: {s}\n"),
            format!("l:\n- {s}\n"),
            format!("m: [{s}]\n"),
        ] {
            if agrees(&text, &text) {
                read += 1;
            }
        }
    }
    // The fast reader must answer for most of them, or this tests nothing.
    assert!(read > scalars.len() * 2, "fast reader took only {read}");
}

#[test]
fn fast_reader_takes_quoted_and_block_scalars() {
    let text = concat!(
        "a: \"tab\\there \\u00e9 \\\" \\\\ \\x41\"\n",
        "b: 'it''s # not a comment'\n",
        "c: |\n  line one\n    indented\n\n  after blank\n",
        "d: |-\n  stripped\n",
        "e: |+\n  kept\n\n",
        "f: plain # comment\n",
        "\"g h\": {x: 1, 'y': [a, \"b\"]}\n",
        "i: []\nj: {}\n",
    );
    assert!(
        agrees(text, "quoted and block scalars"),
        "fast reader declined"
    );
}

#[test]
fn fast_reader_takes_a_typical_manifest() {
    let text = concat!(
        "# a comment\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n",
        "  name: web\n  labels:\n    app.kubernetes.io/name: web\nspec:\n  replicas: 2\n",
        "  template:\n    spec:\n      containers:\n      - name: web\n",
        "        image: nginx:1.27\n        args: [\"--port\", \"8080\"]\n",
        "        ports:\n        - containerPort: 8080\n          protocol: TCP\n",
        "        resources:\n          limits: {cpu: 100m, memory: 128Mi}\n",
        "---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n",
        "  script.sh: |\n    #!/bin/sh\n    echo hi\n",
    );
    assert!(agrees(text, "typical manifest"), "fast reader declined");
}

/// Small edits of real files (a character dropped, doubled or replaced by
/// one that matters to YAML) land in the corners of the syntax; wherever the
/// fast reader still answers, it must answer like serde-saphyr.
#[test]
fn fast_reader_agrees_on_mutated_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let mut files = Vec::new();
    yaml_files(&root, &mut files);
    files.sort();
    let texts: Vec<String> = files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .filter(|t| !t.is_empty() && t.is_ascii())
        .collect();
    // A fixed linear congruential sequence: the same edits on every run.
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |n: usize| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        usize::try_from(state >> 33).unwrap_or(0) % n.max(1)
    };
    let noise = [
        " ", "  ", "-", "- ", ":", ": ", "#", "\n", "'", "\"", "|", "[", "{", "0", "\t",
    ];
    let mut answered = 0;
    for _ in 0..3000 {
        let text = &texts[next(texts.len())];
        let at = next(text.len());
        let mut edited = text[..at].to_string();
        match next(3) {
            0 => edited.push_str(&text[at + 1..]),
            1 => {
                edited.push_str(noise[next(noise.len())]);
                edited.push_str(&text[at..]);
            }
            _ => {
                edited.push_str(noise[next(noise.len())]);
                edited.push_str(&text[at + 1..]);
            }
        }
        if agrees(
            &edited,
            &format!("mutation of {text:?} at {at}: {edited:?}"),
        ) {
            answered += 1;
        }
    }
    assert!(
        answered > 1000,
        "fast reader answered only {answered} edits"
    );
}
