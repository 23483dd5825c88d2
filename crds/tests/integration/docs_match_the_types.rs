//! The user-facing specs in `docs/crds/` must stay true: every complete example in them is
//! valid against the generated schema and reads into the Rust types, and every spec field has
//! a section (every status field a mention).

use crate::support;

use std::path::Path;

use serde_json::Value;

const PAGES: [(&str, &str); 3] = [
    ("GitRepository", "gitrepository.md"),
    ("Kustomization", "kustomization.md"),
    ("Receiver", "receiver.md"),
];

fn page(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/crds")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The ```yaml blocks of a page that are whole Flotilla objects.
fn complete_examples(markdown: &str) -> Vec<String> {
    yaml_blocks(markdown, "apiVersion: flotilla.dev/")
}

/// The ```yaml blocks of a page that start with `prefix`.
fn yaml_blocks(markdown: &str, prefix: &str) -> Vec<String> {
    let mut examples = Vec::new();
    let mut block: Option<String> = None;
    for line in markdown.lines() {
        match (&mut block, line.trim_end()) {
            (None, "```yaml") => block = Some(String::new()),
            (Some(text), "```") => {
                if text.starts_with(prefix) {
                    examples.push(text.clone());
                }
                block = None;
            }
            (Some(text), _) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, _) => {}
        }
    }
    examples
}

#[test]
fn every_complete_example_is_valid() {
    let mut checked = 0;
    for (kind, file) in PAGES {
        for example in complete_examples(&page(file)) {
            let object: Value = serde_saphyr::from_str(&example).unwrap();
            assert_eq!(object["kind"], kind, "{file}: example of another kind");
            let errors = support::violations(&object);
            assert!(
                errors.is_empty(),
                "{file}: example is invalid: {errors:#?}\n{example}"
            );
            let typed = match kind {
                "GitRepository" => serde_json::from_value::<crds::GitRepository>(object).map(drop),
                "Kustomization" => serde_json::from_value::<crds::Kustomization>(object).map(drop),
                _ => serde_json::from_value::<crds::Receiver>(object).map(drop),
            };
            assert!(
                typed.is_ok(),
                "{file}: example does not deserialize: {typed:?}"
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 7,
        "expected the pages' examples, found {checked}"
    );
}

#[test]
fn every_status_example_is_valid() {
    for (kind, file) in PAGES {
        let examples = yaml_blocks(&page(file), "status:");
        assert_eq!(examples.len(), 1, "{file}: expected one status example");
        let example: Value = serde_saphyr::from_str(&examples[0]).unwrap();
        let schema = support::schema_of(kind);
        let errors = support::violations_of(&schema["properties"]["status"], &example["status"]);
        assert!(
            errors.is_empty(),
            "{file}: status example is invalid: {errors:#?}"
        );
        let typed = match kind {
            "GitRepository" => {
                serde_json::from_value::<crds::GitRepositoryStatus>(example["status"].clone())
                    .map(drop)
            }
            "Kustomization" => {
                serde_json::from_value::<crds::KustomizationStatus>(example["status"].clone())
                    .map(drop)
            }
            _ => {
                serde_json::from_value::<crds::ReceiverStatus>(example["status"].clone()).map(drop)
            }
        };
        assert!(
            typed.is_ok(),
            "{file}: status example does not deserialize: {typed:?}"
        );
    }
}

#[test]
fn every_spec_field_has_a_section_and_every_status_field_a_mention() {
    for (kind, file) in PAGES {
        let text = page(file);
        let headings: Vec<&str> = text.lines().filter(|l| l.starts_with("### ")).collect();
        let schema = support::schema_of(kind);
        for field in schema["properties"]["spec"]["properties"]
            .as_object()
            .unwrap()
            .keys()
        {
            let has_section = headings
                .iter()
                .any(|h| h[4..].split([',', ' ', '(', ')']).any(|word| word == field));
            assert!(
                has_section,
                "{file}: no `### {field}` section for spec.{field}"
            );
        }
        for field in schema["properties"]["status"]["properties"]
            .as_object()
            .unwrap()
            .keys()
        {
            assert!(
                text.contains(&format!("`{field}`")) || text.contains(&format!("{field}:")),
                "{file}: status.{field} is not described"
            );
        }
    }
}
