//! The `paths` of a group-version document: one path item per collection,
//! item and subresource, with the operations the server implements.
//!
//! kubectl reads two things here: whether PATCH on an item declares the
//! `fieldValidation` query parameter (then it leaves validation to the
//! server), and whether PATCH accepts `application/strategic-merge-patch+json`
//! (then client-side apply sends strategic merge patches, else merge patches).
//! Both are matched through the operation's `x-kubernetes-group-version-kind`.

use serde_json::{Map, Value, json};

use super::schemas::definition_name;
use crate::registry::ResourceInfo;
use crate::schema::node::REF_PREFIX;

fn query_param(name: &str, description: &str, ty: &str) -> Value {
    json!({
        "name": name,
        "in": "query",
        "description": description,
        "schema": {"type": ty, "uniqueItems": true}
    })
}

fn dry_run() -> Value {
    query_param(
        "dryRun",
        "When present, indicates that modifications should not be persisted. Valid values are: - All: all dry run stages will be processed",
        "string",
    )
}

fn field_manager() -> Value {
    query_param(
        "fieldManager",
        "fieldManager is a name associated with the actor or entity that is making these changes.",
        "string",
    )
}

fn field_validation() -> Value {
    query_param(
        "fieldValidation",
        "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore - Warn (the default) - Strict",
        "string",
    )
}

fn force() -> Value {
    query_param(
        "force",
        "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.",
        "boolean",
    )
}

fn list_params() -> Vec<Value> {
    vec![
        query_param(
            "labelSelector",
            "A selector to restrict the list of returned objects by their labels.",
            "string",
        ),
        query_param(
            "fieldSelector",
            "A selector to restrict the list of returned objects by their fields.",
            "string",
        ),
        query_param(
            "limit",
            "limit is a maximum number of responses to return for a list call.",
            "integer",
        ),
        query_param(
            "continue",
            "The continue option should be set when retrieving more results from the server.",
            "string",
        ),
        query_param(
            "resourceVersion",
            "resourceVersion sets a constraint on what resource versions a request may be served from.",
            "string",
        ),
        query_param(
            "watch",
            "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications.",
            "boolean",
        ),
        query_param(
            "allowWatchBookmarks",
            "allowWatchBookmarks requests watch events with type \"BOOKMARK\".",
            "boolean",
        ),
        query_param(
            "timeoutSeconds",
            "Timeout for the list/watch call.",
            "integer",
        ),
    ]
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("{REF_PREFIX}{name}")})
}

fn json_response(schema: &Value, codes: &[&str]) -> Value {
    let mut responses = Map::new();
    for code in codes {
        responses.insert(
            (*code).to_string(),
            json!({"description": if *code == "201" { "Created" } else if *code == "202" { "Accepted" } else { "OK" },
                   "content": {"application/json": {"schema": schema}}}),
        );
    }
    responses.insert("401".into(), json!({"description": "Unauthorized"}));
    Value::Object(responses)
}

/// The operation id Kubernetes would generate: `patchNamespacedConfigMap`,
/// `listAppsV1DeploymentForAllNamespaces` is simplified to `listDeploymentForAllNamespaces`.
fn operation_id(verb: &str, info: &ResourceInfo, namespaced: bool, suffix: &str) -> String {
    format!(
        "{verb}{}{}{suffix}",
        if namespaced { "Namespaced" } else { "" },
        info.kind
    )
}

struct Op<'a> {
    info: &'a ResourceInfo,
    action: &'a str,
    id: String,
    params: Vec<Value>,
    body: Option<Vec<&'a str>>,
    response: Value,
    /// The kind the operation is about (a subresource may differ: Scale).
    gvk: Value,
}

impl Op<'_> {
    fn build(self) -> Value {
        let mut op = json!({
            "tags": [tag(self.info)],
            "operationId": self.id,
            "parameters": self.params,
            "responses": self.response,
            "x-kubernetes-action": self.action,
            "x-kubernetes-group-version-kind": self.gvk,
        });
        if let Some(types) = self.body {
            let schema = schema_ref(&definition_name(self.info));
            let content: Map<String, Value> = types
                .into_iter()
                .map(|t| {
                    let s = if t == "application/json-patch+json"
                        || t.ends_with("patch+json")
                        || t.ends_with("+yaml")
                    {
                        json!({"type": "object"})
                    } else {
                        schema.clone()
                    };
                    (t.to_string(), json!({"schema": s}))
                })
                .collect();
            op["requestBody"] = json!({"content": content, "required": true});
        }
        op
    }
}

fn tag(info: &ResourceInfo) -> String {
    if info.group.is_empty() {
        format!("core_{}", info.version)
    } else {
        format!("{}_{}", info.group.replace('.', "_"), info.version)
    }
}

fn gvk_of(info: &ResourceInfo) -> Value {
    json!({"group": info.group, "version": info.version, "kind": info.kind})
}

/// The media types PATCH accepts: strategic merge patch only for built-ins.
pub fn patch_media_types(info: &ResourceInfo) -> Vec<&'static str> {
    let mut types = vec![
        "application/json-patch+json",
        "application/merge-patch+json",
    ];
    if !info.is_custom() {
        types.push("application/strategic-merge-patch+json");
    }
    types.push("application/apply-patch+yaml");
    types
}

fn path_params(namespaced: bool, item: bool) -> Vec<Value> {
    let mut v = Vec::new();
    if item {
        v.push(json!({"name": "name", "in": "path", "required": true, "description": "name of the object", "schema": {"type": "string", "uniqueItems": true}}));
    }
    if namespaced {
        v.push(json!({"name": "namespace", "in": "path", "required": true, "description": "object name and auth scope, such as for teams and projects", "schema": {"type": "string", "uniqueItems": true}}));
    }
    v
}

/// Adds the path items of one resource to `paths`.
pub fn add_resource_paths(paths: &mut Map<String, Value>, info: &ResourceInfo) {
    let prefix = info.group_version_path();
    let collection = if info.namespaced {
        format!("{prefix}/namespaces/{{namespace}}/{}", info.plural)
    } else {
        format!("{prefix}/{}", info.plural)
    };
    let item = format!("{collection}/{{name}}");
    let def = definition_name(info);
    let obj = schema_ref(&def);
    let list = json!({"type": "object", "properties": {"items": {"type": "array", "items": obj}}});
    let ns = info.namespaced;
    let gvk = gvk_of(info);
    let op = |action: &'static str,
              id: String,
              params: Vec<Value>,
              body: Option<Vec<&'static str>>,
              response: Value| {
        Op {
            info,
            action,
            id,
            params,
            body,
            response,
            gvk: gvk.clone(),
        }
        .build()
    };

    let mut coll = json!({
        "get": op("list", operation_id("list", info, ns, ""), list_params(), None, json_response(&list, &["200"])),
        "post": op("post", operation_id("create", info, ns, ""), vec![dry_run(), field_manager(), field_validation()],
                   Some(vec!["application/json"]), json_response(&obj, &["200", "201", "202"])),
        "delete": op("deletecollection", operation_id("deletecollection", info, ns, ""), {
            let mut p = list_params(); p.push(dry_run()); p }, None, json_response(&json!({"type": "object"}), &["200"])),
    });
    coll["parameters"] = Value::Array(path_params(ns, false));
    paths.insert(collection.clone(), coll);

    let mut one = json!({
        "get": op("get", operation_id("read", info, ns, ""), vec![], None, json_response(&obj, &["200"])),
        "put": op("put", operation_id("replace", info, ns, ""), vec![dry_run(), field_manager(), field_validation()],
                  Some(vec!["application/json"]), json_response(&obj, &["200", "201"])),
        "patch": op("patch", operation_id("patch", info, ns, ""), vec![dry_run(), field_manager(), field_validation(), force()],
                    Some(patch_media_types(info)), json_response(&obj, &["200", "201"])),
        "delete": op("delete", operation_id("delete", info, ns, ""), vec![dry_run(),
                     query_param("propagationPolicy", "Whether and how garbage collection will be performed.", "string"),
                     query_param("gracePeriodSeconds", "The duration in seconds before the object should be deleted.", "integer")],
                     None, json_response(&obj, &["200", "202"])),
    });
    one["parameters"] = Value::Array(path_params(ns, true));
    paths.insert(item.clone(), one);

    if ns {
        let all = format!("{prefix}/{}", info.plural);
        let mut p = json!({"get": op("list", operation_id("list", info, false, "ForAllNamespaces"), list_params(), None,
                                     json_response(&list, &["200"]))});
        p["parameters"] = json!([]);
        paths.insert(all, p);
    }

    if info.status {
        let mut st = json!({
            "get": op("get", operation_id("read", info, ns, "Status"), vec![], None, json_response(&obj, &["200"])),
            "put": op("put", operation_id("replace", info, ns, "Status"), vec![dry_run(), field_manager(), field_validation()],
                      Some(vec!["application/json"]), json_response(&obj, &["200", "201"])),
            "patch": op("patch", operation_id("patch", info, ns, "Status"), vec![dry_run(), field_manager(), field_validation(), force()],
                        Some(patch_media_types(info)), json_response(&obj, &["200", "201"])),
        });
        st["parameters"] = Value::Array(path_params(ns, true));
        paths.insert(format!("{item}/status"), st);
    }

    if info.scale.is_some() {
        let scale = schema_ref(super::schemas::SCALE);
        let scale_gvk = json!({"group": "autoscaling", "version": "v1", "kind": "Scale"});
        let sop = |action: &'static str,
                   id: String,
                   params: Vec<Value>,
                   body: Option<Vec<&'static str>>| {
            let mut o = Op {
                info,
                action,
                id,
                params,
                body: None,
                response: json_response(&scale, &["200"]),
                gvk: scale_gvk.clone(),
            }
            .build();
            if let Some(types) = body {
                let content: Map<String, Value> = types
                    .into_iter()
                    .map(|t| (t.to_string(), json!({"schema": scale.clone()})))
                    .collect();
                o["requestBody"] = json!({"content": content, "required": true});
            }
            o
        };
        let mut sc = json!({
            "get": sop("get", operation_id("read", info, ns, "Scale"), vec![], None),
            "put": sop("put", operation_id("replace", info, ns, "Scale"), vec![dry_run(), field_manager(), field_validation()],
                       Some(vec!["application/json"])),
            "patch": sop("patch", operation_id("patch", info, ns, "Scale"), vec![dry_run(), field_manager(), field_validation(), force()],
                         Some(vec!["application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"])),
        });
        sc["parameters"] = Value::Array(path_params(ns, true));
        paths.insert(format!("{item}/scale"), sc);
    }
}
