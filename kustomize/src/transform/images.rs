//! `images`: rewrites container images (name, tag, digest).
//!
//! Like kustomize's image transformer, every `containers` and
//! `initContainers` list anywhere in an object is visited, so custom
//! resources embedding pod specs are covered too.

use serde_json::Value;

use crate::fieldspec::FieldSpec;
use crate::kustomization::Image;
use crate::resource::Resource;

/// Applies every `images` entry to every object.
pub fn apply(resources: &mut [Resource], images: &[Image]) {
    if images.is_empty() {
        return;
    }
    for res in resources.iter_mut() {
        walk(&mut res.object, images);
        // kustomize then runs its field-spec image filter over the usual pod
        // spec places as well. Every rewrite is idempotent except
        // `tagSuffix`, which therefore lands twice there, as in kustomize.
        for spec in FIELD_SPECS {
            spec.visit(res, &mut |v: &mut Value| {
                if let Value::String(image) = v {
                    rewrite_all(image, images);
                }
            });
        }
    }
}

/// kustomize's `images` field specs (any kind).
const FIELD_SPECS: &[FieldSpec] = &[
    FieldSpec::any("spec/containers/image", false),
    FieldSpec::any("spec/initContainers/image", false),
    FieldSpec::any("spec/template/spec/containers/image", false),
    FieldSpec::any("spec/template/spec/initContainers/image", false),
];

fn rewrite_all(image: &mut String, images: &[Image]) {
    for rule in images {
        if let Some(new) = rewrite(image, rule) {
            *image = new;
        }
    }
}

fn walk(v: &mut Value, images: &[Image]) {
    match v {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if (key == "containers" || key == "initContainers")
                    && let Value::Array(items) = child
                {
                    for item in items.iter_mut() {
                        if let Some(Value::String(image)) = item.get_mut("image") {
                            rewrite_all(image, images);
                        }
                    }
                }
                walk(child, images);
            }
        }
        Value::Array(items) => {
            for item in items {
                walk(item, images);
            }
        }
        _ => {}
    }
}

/// Splits `image` into name and the rest (`:tag`, `@digest` or both).
fn split(image: &str) -> (&str, &str) {
    if let Some(at) = image.find('@') {
        let name_tag = &image[..at];
        return match tag_start(name_tag) {
            Some(i) => (&image[..i], &image[i..]),
            None => (name_tag, &image[at..]),
        };
    }
    match tag_start(image) {
        Some(i) => (&image[..i], &image[i..]),
        None => (image, ""),
    }
}

/// Index of the `:` that starts a tag (after the last `/`, so a registry
/// port is not taken for a tag).
fn tag_start(s: &str) -> Option<usize> {
    let colon = s.rfind(':')?;
    match s.rfind('/') {
        Some(slash) if slash > colon => None,
        _ => Some(colon),
    }
}

/// The rewritten image when `rule` matches `image`.
fn rewrite(image: &str, rule: &Image) -> Option<String> {
    let (name, rest) = split(image);
    if name != rule.name {
        return None;
    }
    let name = if rule.new_name.is_empty() {
        name
    } else {
        rule.new_name.as_str()
    };
    // kustomize appends `tagSuffix` only when no new tag (or digest) is set.
    let rest = if !rule.digest.is_empty() {
        format!("@{}", rule.digest)
    } else if !rule.new_tag.is_empty() {
        format!(":{}", rule.new_tag)
    } else if !rule.tag_suffix.is_empty() && (rest.is_empty() || rest.starts_with(':')) {
        // An untagged image gets the suffix as its whole tag (`busybox:-y`).
        let tag = rest.strip_prefix(':').unwrap_or("");
        format!(":{tag}{}", rule.tag_suffix)
    } else {
        rest.to_string()
    };
    Some(format!("{name}{rest}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, new_name: &str, tag: &str, digest: &str) -> Image {
        Image {
            name: name.into(),
            new_name: new_name.into(),
            new_tag: tag.into(),
            digest: digest.into(),
            tag_suffix: String::new(),
        }
    }

    #[test]
    fn a_registry_port_is_not_a_tag() {
        assert_eq!(split("reg:5000/app:1.0"), ("reg:5000/app", ":1.0"));
        assert_eq!(split("reg:5000/app"), ("reg:5000/app", ""));
    }

    #[test]
    fn digest_wins_over_tag() {
        let r = rule("nginx", "", "1.2", "sha256:abc");
        assert_eq!(
            rewrite("nginx:1.0", &r).as_deref(),
            Some("nginx@sha256:abc")
        );
    }

    #[test]
    fn new_name_keeps_the_old_tag() {
        let r = rule("nginx", "reg/nginx", "", "");
        assert_eq!(rewrite("nginx:1.0", &r).as_deref(), Some("reg/nginx:1.0"));
        assert_eq!(rewrite("nginxx:1.0", &r), None);
    }
}
