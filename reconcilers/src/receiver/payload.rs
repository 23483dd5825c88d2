//! What a webhook request says: its event type (from the Git host's header) and, for push
//! events, the ref and commit pushed. The summary only feeds logs and the response; targets
//! fetch whatever their `spec.ref` selects, as Flux does.

use axum::http::HeaderMap;
use crds::receiver::ReceiverType;
use serde::Deserialize;

/// GitHub's event header.
pub const GITHUB_EVENT: &str = "X-GitHub-Event";
/// GitLab's event header.
pub const GITLAB_EVENT: &str = "X-Gitlab-Event";

/// Why a payload was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// GitHub and GitLab always name the event; a request without it is not theirs.
    #[error("missing header {0}")]
    MissingEvent(&'static str),
    /// GitHub and GitLab send JSON (`Content type: application/json` on GitHub).
    #[error("body is not a JSON object: {0}")]
    NotJson(String),
}

/// The parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// The event type (`push`, `ping`, `Push Hook`, …); `None` for generic receivers.
    pub event: Option<String>,
    /// For push events: the ref pushed, e.g. `refs/heads/main`.
    pub git_ref: Option<String>,
    /// For push events: the commit the ref now points to.
    pub after: Option<String>,
    /// The repository, as the host names it (`org/repo`, GitLab's `path_with_namespace`).
    pub repository: Option<String>,
}

impl Payload {
    /// GitHub's `ping`, sent once when a webhook is created: answered, never a trigger.
    pub fn is_ping(&self) -> bool {
        self.event.as_deref() == Some("ping")
    }

    /// A one-line description for logs and the response.
    pub fn summary(&self) -> String {
        let mut out = self.event.clone().unwrap_or_else(|| "request".to_owned());
        if let Some(repo) = &self.repository {
            out.push_str(&format!(" from {repo}"));
        }
        if let Some(r) = &self.git_ref {
            out.push_str(&format!(" to {r}"));
        }
        if let Some(after) = &self.after {
            out.push_str(&format!(" at {}", &after[..after.len().min(12)]));
        }
        out
    }
}

#[derive(Deserialize)]
struct PushBody {
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    after: Option<String>,
    repository: Option<Repository>,
}

#[derive(Deserialize)]
struct Repository {
    full_name: Option<String>,
    path_with_namespace: Option<String>,
}

/// Reads the event header and, for GitHub and GitLab, the JSON body.
pub fn parse(
    type_: ReceiverType,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Payload, PayloadError> {
    let header = match type_ {
        ReceiverType::Generic | ReceiverType::GenericHmac => {
            return Ok(Payload {
                event: None,
                git_ref: None,
                after: None,
                repository: None,
            });
        }
        ReceiverType::Github => GITHUB_EVENT,
        ReceiverType::Gitlab => GITLAB_EVENT,
    };
    let event = headers
        .get(header)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or(PayloadError::MissingEvent(header))?;
    let parsed: PushBody =
        serde_json::from_slice(body).map_err(|e| PayloadError::NotJson(e.to_string()))?;
    Ok(Payload {
        event: Some(event),
        git_ref: parsed.git_ref,
        after: parsed.after,
        repository: parsed
            .repository
            .and_then(|r| r.full_name.or(r.path_with_namespace)),
    })
}

/// Whether `spec.events` lets this event through: an empty list lets every event through,
/// generic receivers ignore the list, and names compare case-insensitively (Flux does too).
pub fn event_allowed(events: &[String], payload: &Payload) -> bool {
    match &payload.event {
        None => true,
        Some(event) => events.is_empty() || events.iter().any(|e| e.eq_ignore_ascii_case(event)),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(name: &'static str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn github_push_names_ref_commit_and_repository() {
        let body = br#"{"ref":"refs/heads/main","before":"0000","after":"1f3c5d7e9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d","repository":{"full_name":"acme/fleet"}}"#;
        let p = parse(ReceiverType::Github, &headers(GITHUB_EVENT, "push"), body).unwrap();
        assert_eq!(p.event.as_deref(), Some("push"));
        assert_eq!(p.git_ref.as_deref(), Some("refs/heads/main"));
        assert_eq!(p.repository.as_deref(), Some("acme/fleet"));
        assert_eq!(
            p.summary(),
            "push from acme/fleet to refs/heads/main at 1f3c5d7e9a0b"
        );
        assert!(!p.is_ping());
    }

    #[test]
    fn github_ping_is_recognised() {
        let body = br#"{"zen":"Keep it logically awesome.","hook_id":1}"#;
        let p = parse(ReceiverType::Github, &headers(GITHUB_EVENT, "ping"), body).unwrap();
        assert!(p.is_ping());
    }

    #[test]
    fn gitlab_push_reads_path_with_namespace() {
        let body = br#"{"object_kind":"push","ref":"refs/heads/main","after":"abc","project":{},"repository":{"path_with_namespace":"acme/fleet"}}"#;
        let p = parse(
            ReceiverType::Gitlab,
            &headers(GITLAB_EVENT, "Push Hook"),
            body,
        )
        .unwrap();
        assert_eq!(p.event.as_deref(), Some("Push Hook"));
        assert_eq!(p.repository.as_deref(), Some("acme/fleet"));
    }

    #[test]
    fn github_requests_need_the_event_header_and_json() {
        assert_eq!(
            parse(ReceiverType::Github, &HeaderMap::new(), b"{}"),
            Err(PayloadError::MissingEvent(GITHUB_EVENT))
        );
        assert!(matches!(
            parse(
                ReceiverType::Github,
                &headers(GITHUB_EVENT, "push"),
                b"payload=%7B%7D"
            ),
            Err(PayloadError::NotJson(_))
        ));
    }

    #[test]
    fn generic_bodies_are_not_read() {
        let p = parse(ReceiverType::Generic, &HeaderMap::new(), b"not json").unwrap();
        assert_eq!(p.event, None);
        assert!(event_allowed(&["push".to_owned()], &p));
    }

    #[test]
    fn events_filter_case_insensitively_and_empty_allows_all() {
        let p = parse(
            ReceiverType::Gitlab,
            &headers(GITLAB_EVENT, "Tag Push Hook"),
            b"{}",
        )
        .unwrap();
        assert!(event_allowed(&[], &p));
        assert!(event_allowed(&["tag push hook".to_owned()], &p));
        assert!(!event_allowed(&["Push Hook".to_owned()], &p));
    }
}
