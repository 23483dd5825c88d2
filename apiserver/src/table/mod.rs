//! `Table` responses (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`): what
//! `kubectl get` prints.
//!
//! kube-apiserver converts objects to rows on the server, with columns per kind
//! (`printers.rs`) or, for custom resources, from the CRD's `additionalPrinterColumns`
//! (`jsonpath.rs`); kinds without a printer get `Name` and `Created At`. Rows carry the
//! object as `includeObject` asks: `Metadata` (the default) as `PartialObjectMetadata`,
//! `Object` whole, `None` not at all. Priority-1 columns are always computed; kubectl
//! shows them with `-o wide`.

mod jsonpath;
mod printers;

use axum::http::{HeaderMap, header};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::error::Error;
use crate::registry::ResourceInfo;

/// What a request asked of its Table: the meta.k8s.io version and what rows carry.
#[derive(Debug, Clone, PartialEq)]
pub struct TableRequest {
    /// `v1` or `v1beta1` (both are served, as by kube-apiserver).
    pub version: &'static str,
    pub include: Include,
}

/// `includeObject`: what each row's `object` holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Include {
    None,
    Metadata,
    Object,
}

/// Reads the `Accept` header: the first media type the server can produce wins, as in
/// kube-apiserver's negotiation. `None` means an ordinary JSON answer.
pub fn negotiate(
    headers: &HeaderMap,
    include_object: Option<&str>,
) -> Result<Option<TableRequest>, Error> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    for media in accept.split(',') {
        let mut parts = media.split(';').map(str::trim);
        let base = parts.next().unwrap_or("");
        let mut params = std::collections::HashMap::new();
        for p in parts {
            if let Some((k, v)) = p.split_once('=') {
                params.insert(k.trim(), v.trim());
            }
        }
        let json_like = matches!(
            base,
            "application/json" | "application/yaml" | "*/*" | "application/*"
        );
        if !json_like {
            continue;
        }
        match params.get("as") {
            None => return Ok(None),
            Some(&"Table") if params.get("g") == Some(&"meta.k8s.io") => {
                let version = match params.get("v") {
                    Some(&"v1") => "v1",
                    Some(&"v1beta1") => "v1beta1",
                    _ => continue,
                };
                let include = match include_object.unwrap_or("") {
                    "" | "Metadata" => Include::Metadata,
                    "Object" => Include::Object,
                    "None" => Include::None,
                    other => {
                        return Err(Error::BadRequest(format!(
                            "unrecognized includeObject value: {other:?}"
                        )));
                    }
                };
                return Ok(Some(TableRequest { version, include }));
            }
            // PartialObjectMetadata and other transformations are not served: try the next.
            Some(_) => continue,
        }
    }
    Ok(None)
}

/// One column of a Table.
pub struct Column {
    pub name: String,
    pub kind: String,
    pub format: String,
    pub description: String,
    pub priority: i64,
}

impl Column {
    fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.kind,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

/// The columns and the row function for one resource.
pub struct Printer {
    columns: Vec<Column>,
    rows: RowFn,
}

enum RowFn {
    BuiltIn(fn(&Value, DateTime<Utc>) -> Vec<Value>),
    Default,
    Crd(Vec<(String, String)>),
}

impl Printer {
    /// The printer kube-apiserver uses for `info`.
    pub fn for_resource(info: &ResourceInfo) -> Printer {
        if info.is_custom() {
            return crd_printer(&info.printer_columns);
        }
        match printers::builtin(&info.group, &info.kind) {
            Some((columns, f)) => Printer {
                columns: columns
                    .iter()
                    .map(|c| Column {
                        name: c.0.into(),
                        kind: c.1.into(),
                        format: c.2.into(),
                        description: c.4.into(),
                        priority: c.3,
                    })
                    .collect(),
                rows: RowFn::BuiltIn(f),
            },
            None => Printer {
                columns: vec![
                    name_column(),
                    Column {
                        name: "Created At".into(),
                        kind: "date".into(),
                        format: String::new(),
                        description: printers::CREATED.into(),
                        priority: 0,
                    },
                ],
                rows: RowFn::Default,
            },
        }
    }

    fn cells(&self, obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
        match &self.rows {
            RowFn::BuiltIn(f) => f(obj, now),
            RowFn::Default => {
                let created = obj
                    .pointer("/metadata/creationTimestamp")
                    .and_then(Value::as_str)
                    .and_then(parse_time)
                    .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                    .unwrap_or_else(|| "0001-01-01T00:00:00Z".into());
                vec![json!(crate::objects::name(obj)), json!(created)]
            }
            RowFn::Crd(paths) => {
                let mut cells = vec![json!(crate::objects::name(obj))];
                for (kind, path) in paths {
                    cells.push(jsonpath::cell(obj, path, kind, now));
                }
                cells
            }
        }
    }
}

fn name_column() -> Column {
    Column {
        name: "Name".into(),
        kind: "string".into(),
        format: "name".into(),
        description: printers::NAME.into(),
        priority: 0,
    }
}

/// CRD columns: `Name`, then `additionalPrinterColumns` (an `Age` column when none are given).
fn crd_printer(given: &[Value]) -> Printer {
    let default_age = [json!({
        "name": "Age",
        "type": "date",
        "jsonPath": ".metadata.creationTimestamp",
        "description": printers::CREATED,
    })];
    let specs = if given.is_empty() {
        &default_age[..]
    } else {
        given
    };
    let mut columns = vec![name_column()];
    let mut paths = Vec::new();
    for c in specs {
        let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let path = s("jsonPath");
        let description = match s("description") {
            d if d.is_empty() => {
                format!("Custom resource definition column (in JSONPath format): {path}")
            }
            d => d,
        };
        columns.push(Column {
            name: s("name"),
            kind: s("type"),
            format: s("format"),
            description,
            priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
        });
        paths.push((s("type"), path));
    }
    Printer {
        columns,
        rows: RowFn::Crd(paths),
    }
}

/// The Table of `items` (already presented in the served version).
pub fn table(
    info: &ResourceInfo,
    req: &TableRequest,
    items: &[Value],
    resource_version: &str,
    continue_token: Option<&str>,
    headers: bool,
) -> Value {
    let printer = Printer::for_resource(info);
    let now = Utc::now();
    let rows: Vec<Value> = items.iter().map(|o| row(&printer, req, o, now)).collect();
    let mut metadata = Map::new();
    metadata.insert("resourceVersion".into(), json!(resource_version));
    if let Some(c) = continue_token {
        metadata.insert("continue".into(), json!(c));
    }
    let mut out = json!({
        "kind": "Table",
        "apiVersion": format!("meta.k8s.io/{}", req.version),
        "metadata": metadata,
        "rows": rows,
    });
    if headers {
        out["columnDefinitions"] =
            Value::Array(printer.columns.iter().map(Column::to_json).collect());
    } else {
        out["columnDefinitions"] = Value::Null;
    }
    out
}

fn row(printer: &Printer, req: &TableRequest, obj: &Value, now: DateTime<Utc>) -> Value {
    let mut row = json!({ "cells": printer.cells(obj, now) });
    if let Some(conditions) = printers::row_conditions(obj) {
        row["conditions"] = conditions;
    }
    match req.include {
        Include::None => row["object"] = Value::Null,
        Include::Object => row["object"] = obj.clone(),
        Include::Metadata => {
            row["object"] = json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": format!("meta.k8s.io/{}", req.version),
                "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
            })
        }
    }
    row
}

/// RFC 3339 timestamps as Kubernetes writes them (seconds or fractions, `Z` or offset).
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The age of `timestamp` as kubectl prints it (`<unknown>` when absent or unreadable).
pub fn age(timestamp: Option<&Value>, now: DateTime<Utc>) -> String {
    match timestamp.and_then(Value::as_str).and_then(parse_time) {
        Some(t) => human_duration(now.signed_duration_since(t)),
        None => "<unknown>".into(),
    }
}

/// Kubernetes' approximate human duration: two significant units at most, fewer as it grows.
pub fn human_duration(d: chrono::TimeDelta) -> String {
    let seconds = d.num_seconds();
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        return if days == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{days}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).expect("header"));
        h
    }

    #[test]
    fn kubectl_get_accept_header_asks_for_a_v1_table() {
        let h = accept(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json",
        );
        let t = negotiate(&h, None).expect("valid").expect("a table");
        assert_eq!(t.version, "v1");
        assert_eq!(t.include, Include::Metadata);
    }

    #[test]
    fn plain_json_first_means_no_table() {
        let h = accept("application/json, application/json;as=Table;v=v1;g=meta.k8s.io");
        assert_eq!(negotiate(&h, None).expect("valid"), None);
    }

    #[test]
    fn an_unknown_include_object_is_a_bad_request() {
        let h = accept("application/json;as=Table;v=v1;g=meta.k8s.io");
        assert!(negotiate(&h, Some("Everything")).is_err());
    }

    #[test]
    fn human_durations_follow_kubernetes_rounding() {
        let d = chrono::TimeDelta::seconds;
        assert_eq!(human_duration(d(5)), "5s");
        assert_eq!(human_duration(d(119)), "119s");
        assert_eq!(human_duration(d(150)), "2m30s");
        assert_eq!(human_duration(d(600)), "10m");
        assert_eq!(human_duration(d(3 * 3600 + 5 * 60)), "3h5m");
        assert_eq!(human_duration(d(10 * 3600)), "10h");
        assert_eq!(human_duration(d(50 * 3600)), "2d2h");
        assert_eq!(human_duration(d(30 * 86400)), "30d");
        assert_eq!(human_duration(d(-5)), "<invalid>");
    }
}
