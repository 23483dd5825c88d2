//! Connecting to a remote with the request's credentials and deadline.
//!
//! gix's own `git://` connector has a fixed connect timeout and no read
//! timeout, so `git://` connections are opened here with both bound to the
//! request's deadline. HTTP gets the deadline as reqwest's per-request
//! timeout, credentials through gix's credential callback (never the
//! system's credential helpers) and bearer tokens as an extra header. SSH
//! runs the `ssh` binary with the key and `known_hosts` from the request and
//! `StrictHostKeyChecking=yes`, so unknown host keys are refused.

use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::{Arc, Mutex};

use gix::protocol::transport::client::blocking_io::Transport;
use gix::protocol::transport::client::blocking_io::http;

use crate::deadline::{Deadline, Stop};
use crate::error::Error;
use crate::request::Auth;

/// A boxed transport, whatever the scheme.
pub(crate) type BoxedTransport = Box<dyn Transport + Send>;

/// The URL with any `user:password@` removed, for messages and logs.
pub(crate) fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let user = &rest[..at];
            let user = user.split(':').next().unwrap_or_default();
            format!("{}{}@{}", &url[..scheme_end + 3], user, &rest[at + 1..])
        }
        None => url.to_owned(),
    }
}

/// Removes every secret of `auth` (and of the URL) from `message`.
pub(crate) fn redact_message(message: &str, url: &str, auth: &Auth) -> String {
    let mut out = message.replace(url, &redact_url(url));
    let mut secrets: Vec<&str> = Vec::new();
    match auth {
        Auth::Basic { password, .. } => secrets.push(password),
        Auth::Bearer(token) => secrets.push(token),
        Auth::Ssh { private_key, .. } => secrets.push(private_key),
        Auth::None => {}
    }
    if let Ok(parsed) = gix::url::parse(gix::bstr::BStr::new(url.as_bytes()))
        && let Some(password) = parsed.password()
    {
        out = out.replace(password, "<redacted>");
    }
    for secret in secrets.into_iter().filter(|s| s.len() >= 3) {
        out = out.replace(secret, "<redacted>");
    }
    out
}

/// The error chain of a gix error as one line.
pub(crate) fn error_chain(err: &gix::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for e in err.iter_errors() {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

/// Maps a gix failure to the crate error, putting the deadline first: a
/// read that failed because the deadline passed is a timeout, not a protocol error.
pub(crate) fn classify(err: &gix::Error, url: &str, auth: &Auth, deadline: &Deadline) -> Error {
    let shown = redact_url(url);
    match deadline.stopped() {
        Some(Stop::Cancelled) => return Error::Cancelled { url: shown },
        Some(Stop::TimedOut) => {
            return Error::Timeout {
                url: shown,
                seconds: deadline.timeout.as_secs_f64(),
            };
        }
        None => {}
    }
    let message = redact_message(&error_chain(err), url, auth);
    let lower = message.to_lowercase();
    let timed_out = err.iter_errors().any(|e| {
        e.downcast_ref::<std::io::Error>().is_some_and(|io| {
            matches!(
                io.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            )
        })
    }) || lower.contains("timed out");
    if timed_out {
        return Error::Timeout {
            url: shown,
            seconds: deadline.timeout.as_secs_f64(),
        };
    }
    if err.classify().is_unauthenticated()
        || lower.contains("authentication")
        || lower.contains("401")
        || lower.contains("403")
        || lower.contains("permission denied (publickey")
    {
        return Error::Authentication {
            url: shown,
            message,
        };
    }
    Error::Fetch {
        url: shown,
        message,
    }
}

/// Opens a `git://` connection whose connect and reads are bounded by the deadline.
pub(crate) fn connect_git_daemon(
    url: &gix::Url,
    deadline: &Deadline,
) -> std::io::Result<BoxedTransport> {
    let host = url.host().unwrap_or("localhost").to_owned();
    let port = url.port.unwrap_or(9418);
    let addr = (host.as_str(), port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("cannot resolve {host}"),
            )
        })?;
    let stream = TcpStream::connect_timeout(&addr, deadline.remaining())?;
    // gix writes a packet line in several small writes; with Nagle's algorithm
    // each request would wait for the server's delayed ACK (~40 ms).
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(deadline.remaining()))?;
    stream.set_write_timeout(Some(deadline.remaining()))?;
    let write = stream.try_clone()?;
    Ok(Box::new(
        gix::protocol::transport::client::git::blocking_io::Connection::new(
            stream,
            write,
            gix::protocol::transport::Protocol::V2,
            url.path.clone(),
            Some((host, url.port)),
            gix::protocol::transport::client::git::ConnectMode::Daemon,
            false,
        ),
    ))
}

/// HTTP options: bearer header, extra CA roots, connect timeout and a
/// per-request timeout that shrinks with the deadline.
pub(crate) fn http_options(
    auth: &Auth,
    extra_roots: Vec<reqwest::Certificate>,
    deadline_at: std::time::Instant,
    connect: std::time::Duration,
) -> http::Options {
    let mut options = http::Options {
        user_agent: Some(concat!("flotilla/", env!("CARGO_PKG_VERSION")).to_owned()),
        connect_timeout: Some(connect),
        ..Default::default()
    };
    if let Auth::Bearer(token) = auth {
        options
            .extra_headers
            .push(format!("Authorization: Bearer {token}"));
    }
    let configure_request: Box<http::reqwest::ConfigureRequestFn> =
        Box::new(move |request: &mut reqwest::blocking::Request| {
            let left = deadline_at
                .saturating_duration_since(std::time::Instant::now())
                .max(std::time::Duration::from_millis(1));
            *request.timeout_mut() = Some(left);
            Ok(())
        });
    let configure_client: Option<Box<http::reqwest::ConfigureClientFn>> = if extra_roots.is_empty()
    {
        None
    } else {
        Some(Box::new(
            move |builder: reqwest::blocking::ClientBuilder| {
                Ok(builder.tls_certs_merge(extra_roots.clone()))
            },
        ))
    };
    let backend = http::reqwest::Options {
        configure_client,
        configure_request: Some(configure_request),
    };
    options.backend = Some(Arc::new(Mutex::new(backend)));
    options
}

/// Parses PEM CA certificates for [`http_options`].
pub(crate) fn parse_ca_bundle(pem: &[u8]) -> Result<Vec<reqwest::Certificate>, String> {
    let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| e.to_string())?;
    if certs.is_empty() {
        return Err("no PEM certificate found".to_owned());
    }
    Ok(certs)
}

/// The `ssh` command line for `core.sshCommand`: only the given key, only
/// the given known hosts, never a prompt.
pub(crate) fn ssh_command(
    key: Option<&Path>,
    known_hosts: &Path,
    stderr_log: &Path,
    connect_timeout_secs: u64,
) -> String {
    let mut cmd = String::from("ssh -F /dev/null");
    if let Some(key) = key {
        cmd.push_str(&format!(" -i '{}' -o IdentitiesOnly=yes", key.display()));
    }
    cmd.push_str(&format!(
        " -o UserKnownHostsFile='{}' -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes \
         -o BatchMode=yes -o ConnectTimeout={connect_timeout_secs} -o ServerAliveInterval=5 -o ServerAliveCountMax=2",
        known_hosts.display()
    ));
    // gix runs the command through a shell, where a redirection may stand anywhere.
    cmd.push_str(&format!(" 2>'{}'", stderr_log.display()));
    cmd
}

/// The file in the ssh folder that receives ssh's stderr.
pub(crate) const SSH_STDERR: &str = "ssh-stderr";

/// Adds what ssh printed to a transport error, and reclassifies refused keys.
pub(crate) fn with_ssh_stderr(err: Error, log: &Path, url: &str, auth: &Auth) -> Error {
    let printed = std::fs::read_to_string(log).unwrap_or_default();
    let reason: Vec<&str> = printed
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with('@') && !l.starts_with("Warning: Permanently added")
        })
        .collect();
    if reason.is_empty() {
        return err;
    }
    let reason = redact_message(&reason.join(" "), url, auth);
    match err {
        Error::Fetch { url, message } | Error::Authentication { url, message } => {
            let message = format!("{message}; ssh: {reason}");
            if reason.contains("Permission denied") {
                Error::Authentication { url, message }
            } else {
                Error::Fetch { url, message }
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_removed_from_urls() {
        assert_eq!(
            redact_url("https://bob:s3cret@example.com/repo.git"),
            "https://bob@example.com/repo.git"
        );
        assert_eq!(
            redact_url("https://example.com/a@b"),
            "https://example.com/a@b"
        );
        assert_eq!(
            redact_url("git@example.com:repo.git"),
            "git@example.com:repo.git"
        );
    }

    #[test]
    fn secrets_are_removed_from_messages() {
        let auth = Auth::Bearer("tok-123456".into());
        let msg = redact_message(
            "header Authorization: Bearer tok-123456 refused",
            "https://h/r",
            &auth,
        );
        assert!(!msg.contains("tok-123456"), "{msg}");
    }
}
