//! Realistic policies (registry allow-list, replica ceiling from params,
//! required labels, TLS and host patterns on Ingress, storage classes on
//! volumeClaimTemplates, resource limits with quantities) over realistic
//! manifests: a compliant set passes, a non-compliant one fails with the
//! messages a user would read.

use policies::{ObjectSet, PolicySet, Request, Verdict};

const POLICIES: &str = include_str!("fixtures/realistic/policies.yaml");

fn load() -> (PolicySet, ObjectSet) {
    let mut set = PolicySet::new();
    let mut params = Vec::new();
    for doc in policies::parse_documents(POLICIES).unwrap() {
        if !set.add(&doc).unwrap() {
            params.push(doc);
        }
    }
    (set, ObjectSet::new(params))
}

/// `(kind/name, policy, message)` of every failure.
fn failures(manifests: &str) -> Vec<(String, String, String)> {
    let (set, lookup) = load();
    let mut out = Vec::new();
    for doc in policies::parse_documents(manifests).unwrap() {
        let req = Request::create(doc).unwrap();
        let verdicts: Vec<Verdict> = set.evaluate(&req, &lookup).unwrap();
        assert!(!verdicts.is_empty(), "no policy matched {}", req.name);
        for v in verdicts {
            for f in v.failures {
                out.push((
                    format!("{}/{}", req.kind.kind, req.name),
                    v.policy.clone(),
                    f.message,
                ));
            }
        }
    }
    out
}

#[test]
fn all_realistic_policies_compile() {
    let (set, _) = load();
    assert_eq!(set.policy_count(), 6);
    assert_eq!(set.binding_count(), 6);
}

#[test]
fn compliant_manifests_pass_every_policy() {
    assert_eq!(
        failures(include_str!("fixtures/realistic/good.yaml")),
        vec![]
    );
}

#[test]
fn non_compliant_manifests_fail_with_readable_messages() {
    let got = failures(include_str!("fixtures/realistic/bad.yaml"));
    let expected = [
        (
            "Deployment/web",
            "registry-allow-list",
            "images from unapproved registries: docker.io/library/nginx:latest",
        ),
        (
            "Deployment/web",
            "replica-ceiling",
            "replicas 25 exceed the ceiling of 10",
        ),
        (
            "Deployment/web",
            "required-labels",
            "missing labels: app.kubernetes.io/name",
        ),
        (
            "Deployment/web",
            "resource-limits",
            "every container needs cpu and memory limits",
        ),
        (
            "Deployment/web",
            "resource-limits",
            "memory limit above 4Gi",
        ),
        ("Deployment/web", "resource-limits", "cpu limit above 2"),
        (
            "Ingress/web",
            "ingress-tls",
            "every Ingress host must be covered by spec.tls",
        ),
        (
            "Ingress/web",
            "ingress-tls",
            "hosts outside *.example.com: admin.example.org",
        ),
        (
            "StatefulSet/db",
            "statefulset-storage-class",
            "volumeClaimTemplates must use storage class fast-ssd or standard",
        ),
    ];
    let mut got_sorted = got.clone();
    got_sorted.sort();
    let mut want: Vec<(String, String, String)> = expected
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    want.sort();
    assert_eq!(got_sorted, want);
}
