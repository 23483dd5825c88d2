//! YAML in and out, with kustomize's conventions.
//!
//! [`parse`] reads (multi-document) YAML into `serde_json::Value` with
//! bounded alias expansion; [`emit`] writes values the way `kubectl kustomize`
//! prints them (go-yaml v2 style after a round trip through JSON).

mod emit;
mod parse;

pub use emit::{emit_document, emit_documents};
pub use parse::{parse_documents, parse_one};
