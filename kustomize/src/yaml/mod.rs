//! YAML in and out, with kustomize's conventions.
//!
//! [`parse`] reads (multi-document) YAML into `serde_json::Value` with
//! bounded alias expansion, through [`fast`] for the block-style subset
//! manifests are written in and serde-saphyr for everything else; [`emit`] writes values the way `kubectl kustomize`
//! prints them (go-yaml v2 style after a round trip through JSON).

#[cfg(test)]
mod agreement_tests;
mod emit;
mod fast;
mod parse;

pub use emit::{emit_document, emit_documents};
pub use parse::{parse_documents, parse_kustomization, parse_one};
