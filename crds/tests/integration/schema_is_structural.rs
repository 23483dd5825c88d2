//! The generated schemas must be *structural* (Kubernetes rejects a CRD otherwise, and prunes
//! and defaults by the structure), documented field by field (for `kubectl explain`), and
//! their CEL rules must compile.
//! https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#specifying-a-structural-schema

use crate::support;

use serde_json::Value;

const KINDS: [&str; 3] = ["GitRepository", "Kustomization", "Receiver"];

/// Walks every schema node, calling `visit(path, node)`.
fn walk(schema: &Value, path: &str, visit: &mut dyn FnMut(&str, &Value)) {
    visit(path, schema);
    if let Some(properties) = schema["properties"].as_object() {
        for (name, sub) in properties {
            walk(sub, &format!("{path}.{name}"), visit);
        }
    }
    if schema["items"].is_object() {
        walk(&schema["items"], &format!("{path}[]"), visit);
    }
    if schema["additionalProperties"].is_object() {
        walk(
            &schema["additionalProperties"],
            &format!("{path}{{}}"),
            visit,
        );
    }
}

#[test]
fn every_node_has_a_type_and_no_forbidden_keyword() {
    for kind in KINDS {
        let mut problems = Vec::new();
        walk(&support::schema_of(kind), kind, &mut |path, node| {
            let preserves = node["x-kubernetes-preserve-unknown-fields"] == true
                || node["x-kubernetes-int-or-string"] == true;
            if node["type"].as_str().is_none() && !preserves {
                problems.push(format!("{path}: no type"));
            }
            for keyword in [
                "$ref",
                "anyOf",
                "oneOf",
                "allOf",
                "not",
                "definitions",
                "$defs",
            ] {
                if node.get(keyword).is_some() {
                    problems.push(format!("{path}: uses {keyword}"));
                }
            }
            if node.get("properties").is_some() && node["type"] != "object" {
                problems.push(format!("{path}: properties on a non-object"));
            }
            if node.get("properties").is_some() && node.get("additionalProperties").is_some() {
                problems.push(format!("{path}: both properties and additionalProperties"));
            }
            if node["type"] == "array" && !node["items"].is_object() {
                problems.push(format!("{path}: array without items schema"));
            }
            // Anything beyond this set is either not allowed in a CRD schema or not something
            // we mean to generate; a new keyword should be a conscious decision.
            let known = [
                "type",
                "description",
                "properties",
                "required",
                "items",
                "additionalProperties",
                "nullable",
                "default",
                "enum",
                "pattern",
                "format",
                "minLength",
                "maxLength",
                "minItems",
                "maxItems",
                "minimum",
                "maximum",
                "title",
                "x-kubernetes-validations",
                "x-kubernetes-list-type",
                "x-kubernetes-list-map-keys",
                "x-kubernetes-preserve-unknown-fields",
                "x-kubernetes-int-or-string",
                "x-kubernetes-map-type",
            ];
            for key in node.as_object().unwrap().keys() {
                if !known.contains(&key.as_str()) {
                    problems.push(format!("{path}: unexpected keyword {key}"));
                }
            }
        });
        assert!(problems.is_empty(), "{kind}:\n{}", problems.join("\n"));
    }
}

#[test]
fn list_map_keys_are_required_in_the_items() {
    for kind in KINDS {
        walk(&support::schema_of(kind), kind, &mut |path, node| {
            for key in node["x-kubernetes-list-map-keys"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let required = node["items"]["required"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                assert!(
                    required.contains(key),
                    "{path}: list map key {key} must be required in the items"
                );
            }
        });
    }
}

#[test]
fn every_field_has_a_description() {
    for kind in KINDS {
        let mut missing = Vec::new();
        walk(&support::schema_of(kind), kind, &mut |path, node| {
            // List items and map values are described by their field.
            let is_item = path.ends_with("[]") || path.ends_with("{}");
            let described = node["description"]
                .as_str()
                .is_some_and(|d| !d.trim().is_empty());
            if !described && !is_item {
                missing.push(path.to_owned());
            }
            // Doc comments become `kubectl explain` text: rustdoc links would show raw.
            let text = node["description"].as_str().unwrap_or_default();
            if text.contains("[`") || text.contains("](") {
                missing.push(format!("{path}: rustdoc link in {text:?}"));
            }
        });
        assert!(
            missing.is_empty(),
            "fields without description (doc comment):\n{}",
            missing.join("\n")
        );
    }
}

#[test]
fn defaults_satisfy_their_own_schema() {
    let mut defaults = 0;
    for kind in KINDS {
        walk(&support::schema_of(kind), kind, &mut |path, node| {
            if let Some(default) = node.get("default") {
                defaults += 1;
                let errors = check_scalar(node, default);
                assert!(
                    errors.is_empty(),
                    "{path}: default {default} is invalid: {errors:?}"
                );
            }
        });
    }
    assert!(
        defaults >= 2,
        "timeout and verify.mode have defaults; found {defaults}"
    );
}

/// The scalar constraints (pattern, enum) of one schema node that `value` violates.
fn check_scalar(node: &Value, value: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    if let Some(pattern) = node["pattern"].as_str()
        && !regex::Regex::new(pattern)
            .unwrap()
            .is_match(value.as_str().unwrap_or_default())
    {
        errors.push(format!("does not match {pattern}"));
    }
    if let Some(allowed) = node["enum"].as_array()
        && !allowed.contains(value)
    {
        errors.push(format!("not one of {allowed:?}"));
    }
    errors
}

#[test]
fn every_cel_rule_compiles() {
    let mut rules = Vec::new();
    for kind in KINDS {
        support::all_rules(&support::schema_of(kind), kind, &mut rules);
    }
    assert!(
        rules.len() >= 5,
        "expected the rules of ref, policies, path, resources; found {rules:?}"
    );
    for (path, rule) in rules {
        let env = policies::cel::Env::new(["self"]);
        if let Err(e) = policies::cel::compile(&rule, &env) {
            panic!("{path}: rule {rule:?} does not compile: {e}");
        }
    }
}

#[test]
fn crd_names_scopes_and_subresources_are_as_documented() {
    let crds = crds::all_crds();
    let summary: Vec<(String, String, Vec<String>, bool)> = crds
        .iter()
        .map(|crd| {
            let version = &crd.spec.versions[0];
            (
                crd.metadata.name.clone().unwrap(),
                crd.spec.scope.clone(),
                crd.spec.names.short_names.clone().unwrap_or_default(),
                version
                    .subresources
                    .as_ref()
                    .is_some_and(|s| s.status.is_some()),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "gitrepositories.flotilla.dev".into(),
                "Namespaced".into(),
                vec!["gitrepo".into()],
                true
            ),
            (
                "kustomizations.flotilla.dev".into(),
                "Namespaced".into(),
                vec!["ks".into()],
                true
            ),
            (
                "receivers.flotilla.dev".into(),
                "Namespaced".into(),
                vec![],
                true
            ),
        ]
    );
    for crd in &crds {
        assert_eq!(crd.spec.group, crds::GROUP);
        assert_eq!(crd.spec.versions.len(), 1);
        assert_eq!(crd.spec.versions[0].name, crds::VERSION);
        let columns: Vec<&str> = crd.spec.versions[0]
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| c.name.as_str())
            .collect();
        for column in ["Age", "Ready", "Status"] {
            assert!(
                columns.contains(&column),
                "{:?} lacks column {column}",
                crd.metadata.name
            );
        }
    }
}
