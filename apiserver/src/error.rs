//! The crate's error type and its mapping to Kubernetes `Status` objects.
//!
//! Every failure a client can see is an [`Error`]; the HTTP layer turns it
//! into a `Status` with the reason and code a real API server would send, so
//! `kubectl` and `kube` react the same way (e.g. retry on 409, re-list on 410).

use serde_json::{Value, json};

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One field-level problem, as in `Status.details.causes`.
#[derive(Debug, Clone, PartialEq)]
pub struct Cause {
    /// Machine reason, e.g. `FieldValueInvalid`, `FieldValueRequired`, `FieldManagerConflict`.
    pub reason: String,
    /// The field path, e.g. `spec.replicas` (or `.spec.replicas` for apply conflicts).
    pub field: String,
    pub message: String,
}

impl Cause {
    pub fn new(reason: &str, field: &str, message: impl Into<String>) -> Self {
        Self {
            reason: reason.to_string(),
            field: field.to_string(),
            message: message.into(),
        }
    }
}

/// `Deployment.apps "web" is invalid: spec.x: …`, with the causes in brackets when there
/// are several (and repeated ones once), as Kubernetes aggregates field errors.
fn invalid_message(target: &Target, causes: &[Cause]) -> String {
    let kind = if target.group.is_empty() {
        target.kind.clone()
    } else {
        format!("{}.{}", target.kind, target.group)
    };
    let mut parts: Vec<String> = Vec::new();
    for c in causes {
        let text = if c.field.is_empty() {
            c.message.clone()
        } else {
            format!("{}: {}", c.field, c.message)
        };
        if !parts.contains(&text) {
            parts.push(text);
        }
    }
    match parts.len() {
        0 => format!("{kind} \"{}\" is invalid", target.name),
        1 => format!("{kind} \"{}\" is invalid: {}", target.name, parts[0]),
        _ => format!(
            "{kind} \"{}\" is invalid: [{}]",
            target.name,
            parts.join(", ")
        ),
    }
}

/// What the object in an error is: used for `details` and the message.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Target {
    /// API group, `""` for core.
    pub group: String,
    /// Plural resource name (`configmaps`) — Kubernetes' messages name the resource.
    pub resource: String,
    /// The kind, used by `Invalid` messages (`ConfigMap "x" is invalid`).
    pub kind: String,
    pub name: String,
}

impl Target {
    pub fn new(group: &str, resource: &str, kind: &str, name: &str) -> Self {
        Self {
            group: group.into(),
            resource: resource.into(),
            kind: kind.into(),
            name: name.into(),
        }
    }

    /// `configmaps` or `deployments.apps`, as Kubernetes prints a group-resource.
    pub fn group_resource(&self) -> String {
        if self.group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }
}

/// An admission denial: boxed in [`Error::Denied`] to keep `Error` small.
#[derive(Debug, Clone, PartialEq)]
pub struct Denial {
    pub target: Target,
    /// The full message, e.g. `deployments.apps "web" is forbidden: ValidatingAdmissionPolicy ...`.
    pub message: String,
    /// `Status.reason`, usually `Invalid` (or `Forbidden`, per the policy).
    pub reason: String,
    /// HTTP code, usually 422 (or 403).
    pub code: u16,
    /// `details.causes`: kubectl prints these after "is invalid", so without
    /// them users would not see why the policy denied the request.
    pub causes: Vec<Cause>,
}

/// Every way a request can fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object or resource does not exist (404 NotFound).
    #[error("{} \"{}\" not found", .0.group_resource(), .0.name)]
    NotFound(Target),
    /// The URL names no served resource (404 NotFound, no details).
    #[error("the server could not find the requested resource")]
    NoSuchResource,
    /// Create of a name that exists (409 AlreadyExists).
    #[error("{} \"{}\" already exists", .0.group_resource(), .0.name)]
    AlreadyExists(Target),
    /// Stale resourceVersion or other optimistic-concurrency failure (409 Conflict).
    #[error("Operation cannot be fulfilled on {} \"{}\": {message}", .target.group_resource(), .target.name)]
    Conflict { target: Target, message: String },
    /// Server-side apply conflicts with other field managers (409 Conflict with causes).
    #[error("Apply failed with {} conflict{}: {}", .causes.len(), if .causes.len() == 1 { "" } else { "s" },
        .causes.iter().map(|c| c.message.clone()).collect::<Vec<_>>().join("\n"))]
    ApplyConflict { target: Target, causes: Vec<Cause> },
    /// The object fails validation (422 Invalid with causes).
    #[error("{}", invalid_message(.target, .causes))]
    Invalid { target: Target, causes: Vec<Cause> },
    /// An admission policy denied the request (422 Invalid by default, or the
    /// policy's own reason/code), message already in Kubernetes' shape.
    #[error("{}", .0.message)]
    Denied(Box<Denial>),
    /// The request is malformed: bad body, bad query parameter, bad patch (400 BadRequest).
    #[error("{0}")]
    BadRequest(String),
    /// The verb is not supported on this resource (405 MethodNotAllowed).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The content type of the body is not supported (415 UnsupportedMediaType).
    #[error("the body of the request was in an unknown format - accepted media types include: {0}")]
    UnsupportedMediaType(String),
    /// A watch or continue token refers to history the server no longer has (410 Gone / Expired).
    #[error("{0}")]
    Gone(String),
    /// No valid credentials (401 Unauthorized).
    #[error("Unauthorized")]
    Unauthorized,
    /// A namespace is terminating, or another state forbids the write (403 Forbidden).
    #[error("{message}")]
    Forbidden { target: Target, message: String },
    /// The storage backend failed (500 InternalError).
    #[error("storage: {0}")]
    Storage(#[from] crate::store::StoreError),
    /// Anything else that is the server's fault (500 InternalError).
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// The HTTP status code Kubernetes uses for this error.
    pub fn code(&self) -> u16 {
        match self {
            Error::NotFound(_) | Error::NoSuchResource => 404,
            Error::AlreadyExists(_) | Error::Conflict { .. } | Error::ApplyConflict { .. } => 409,
            Error::Invalid { .. } => 422,
            Error::Denied(d) => d.code,
            Error::BadRequest(_) => 400,
            Error::MethodNotAllowed(_) => 405,
            Error::UnsupportedMediaType(_) => 415,
            Error::Gone(_) => 410,
            Error::Unauthorized => 401,
            Error::Forbidden { .. } => 403,
            Error::Storage(_) | Error::Internal(_) => 500,
        }
    }

    /// The `Status.reason` Kubernetes uses for this error.
    pub fn reason(&self) -> &str {
        match self {
            Error::NotFound(_) | Error::NoSuchResource => "NotFound",
            Error::AlreadyExists(_) => "AlreadyExists",
            Error::Conflict { .. } | Error::ApplyConflict { .. } => "Conflict",
            Error::Invalid { .. } => "Invalid",
            Error::Denied(d) => &d.reason,
            Error::BadRequest(_) => "BadRequest",
            Error::MethodNotAllowed(_) => "MethodNotAllowed",
            Error::UnsupportedMediaType(_) => "UnsupportedMediaType",
            Error::Gone(_) => "Expired",
            Error::Unauthorized => "Unauthorized",
            Error::Forbidden { .. } => "Forbidden",
            Error::Storage(_) | Error::Internal(_) => "InternalError",
        }
    }

    fn target(&self) -> Option<&Target> {
        match self {
            Error::NotFound(t) | Error::AlreadyExists(t) => Some(t),
            Error::Conflict { target, .. }
            | Error::ApplyConflict { target, .. }
            | Error::Invalid { target, .. }
            | Error::Forbidden { target, .. } => Some(target),
            Error::Denied(d) => Some(&d.target),
            _ => None,
        }
    }

    fn causes(&self) -> &[Cause] {
        match self {
            Error::ApplyConflict { causes, .. } | Error::Invalid { causes, .. } => causes,
            Error::Denied(d) => &d.causes,
            _ => &[],
        }
    }

    /// The `Status` object (JSON) a Kubernetes API server sends for this error.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "code": self.code(),
        });
        if let Some(t) = self.target() {
            let mut details = json!({ "name": t.name, "kind": t.resource });
            if !t.group.is_empty() {
                details["group"] = json!(t.group);
            }
            if matches!(self, Error::Invalid { .. }) {
                details["kind"] = json!(t.kind);
            }
            let causes = self.causes();
            if !causes.is_empty() {
                details["causes"] = causes
                    .iter()
                    .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                    .collect();
            }
            status["details"] = details;
        }
        status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_names_the_group_resource_like_kubernetes() {
        let err = Error::NotFound(Target::new("apps", "deployments", "Deployment", "web"));
        let status = err.to_status();
        assert_eq!(status["message"], "deployments.apps \"web\" not found");
        assert_eq!(status["reason"], "NotFound");
        assert_eq!(status["code"], 404);
        assert_eq!(status["details"]["group"], "apps");
    }

    #[test]
    fn invalid_lists_each_cause_in_the_message_and_details() {
        let err = Error::Invalid {
            target: Target::new("", "configmaps", "ConfigMap", "x"),
            causes: vec![Cause::new(
                "FieldValueRequired",
                "metadata.name",
                "Required value",
            )],
        };
        let status = err.to_status();
        assert_eq!(status["code"], 422);
        assert_eq!(
            status["message"],
            "ConfigMap \"x\" is invalid: metadata.name: Required value"
        );
        assert_eq!(status["details"]["kind"], "ConfigMap");
        assert_eq!(status["details"]["causes"][0]["field"], "metadata.name");
    }

    #[test]
    fn invalid_names_the_group_qualified_kind_and_brackets_several_causes() {
        let err = Error::Invalid {
            target: Target::new("apps", "deployments", "Deployment", "web"),
            causes: vec![
                Cause::new("FieldValueRequired", "spec.selector", "Required value"),
                Cause::new(
                    "FieldValueInvalid",
                    "spec.replicas",
                    "Invalid value: -1: must be greater than or equal to 0",
                ),
            ],
        };
        assert_eq!(
            err.to_string(),
            "Deployment.apps \"web\" is invalid: [spec.selector: Required value, spec.replicas: Invalid value: -1: must be greater than or equal to 0]"
        );
        assert_eq!(err.to_status()["details"]["kind"], "Deployment");
    }

    #[test]
    fn stale_writes_are_conflicts_with_reason_conflict() {
        let err = Error::Conflict {
            target: Target::new("", "configmaps", "ConfigMap", "x"),
            message: "the object has been modified; please apply your changes to the latest version and try again".into(),
        };
        assert_eq!(err.code(), 409);
        assert_eq!(err.to_status()["reason"], "Conflict");
    }
}
