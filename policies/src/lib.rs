//! The CEL policy engine.
//!
//! Loads `ValidatingAdmissionPolicy` and `ValidatingAdmissionPolicyBinding`
//! objects (admissionregistration.k8s.io/v1), matches them against objects,
//! evaluates them with Kubernetes semantics and reports the verdicts.
//!
//! Boundaries: no I/O and no cluster access; callers hand in objects, params
//! and namespaces. The same engine serves `flotilla validate`, the
//! reconcilers' policy gate and the local control plane's admission.
//!
//! Layout: [`cel`] is the general CEL layer (compile, evaluate, cost limit,
//! Kubernetes libraries), usable alone for CRD validation rules; [`vap`]
//! holds the admission-policy semantics; [`report`] turns verdicts into
//! JSON results and PolicyReports.

pub mod cel;
pub mod report;
pub mod vap;

pub use vap::{
    CompiledPolicy, Failure, FailureKind, Lookup, ObjectSet, Operation, PolicySet, Request,
    ValidationAction, Verdict,
};

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A policy expression does not compile.
    #[error("ValidatingAdmissionPolicy {policy}: {field}: {error}")]
    Compile {
        /// The policy name.
        policy: String,
        /// The field, e.g. `spec.validations[0].expression`.
        field: String,
        /// What is wrong, with the position in the expression.
        #[source]
        error: cel::CompileError,
    },
    /// A policy or binding does not have the shape of its kind.
    #[error("{kind} {name}: {message}")]
    Decode {
        /// The kind.
        kind: String,
        /// The object name.
        name: String,
        /// The decoder's message, naming the field.
        message: String,
    },
    /// A document without `apiVersion` or `kind`.
    #[error("object {name:?} has no apiVersion or kind")]
    NotAnObject {
        /// `metadata.name`, if any.
        name: String,
    },
    /// An object could not be handed to CEL.
    #[error("evaluation: {0}")]
    Evaluation(#[source] cel::EvalError),
    /// A YAML or JSON document could not be parsed.
    #[error("document {index}: {message}")]
    Parse {
        /// 1-based index of the document in its stream.
        index: usize,
        /// The parser's message.
        message: String,
    },
}

/// This crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Parses a stream of YAML (or JSON) documents into JSON values, skipping
/// empty documents and flattening `kind: List` objects into their items.
pub fn parse_documents(text: &str) -> Result<Vec<serde_json::Value>> {
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(text).map_err(|e| Error::Parse {
            index: 0,
            message: e.to_string(),
        })?;
    let mut out = Vec::new();
    for (i, doc) in docs.into_iter().enumerate() {
        match doc {
            serde_json::Value::Null => {}
            serde_json::Value::Object(ref o)
                if o.get("kind")
                    .and_then(|k| k.as_str())
                    .is_some_and(|k| k.ends_with("List"))
                    && o.get("items").is_some_and(|i| i.is_array()) =>
            {
                if let Some(serde_json::Value::Array(items)) = o.get("items") {
                    out.extend(items.iter().cloned());
                }
            }
            serde_json::Value::Object(_) => out.push(doc),
            other => {
                return Err(Error::Parse {
                    index: i + 1,
                    message: format!("expected a mapping, found {other}"),
                });
            }
        }
    }
    Ok(out)
}
