//! `flotilla source fetch URL --out DIR`: fetch a Git repository into the
//! cache under DIR and export one commit as a content-addressed artifact.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{Context, bail};
use sources::{Auth, Cache, FetchRequest, Reference, Verification};

use crate::cli::{SourceCommand, SourceFetchArgs};

pub fn run(command: SourceCommand) -> anyhow::Result<ExitCode> {
    match command {
        SourceCommand::Fetch(args) => fetch(&args),
    }
}

fn fetch(args: &SourceFetchArgs) -> anyhow::Result<ExitCode> {
    let request = request_from(args)?;
    let cache =
        Cache::open(&args.out).with_context(|| format!("opening cache {}", args.out.display()))?;
    let artifact = cache.fetch(&request, &AtomicBool::new(false))?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let value = serde_json::json!({
            "revision": artifact.revision,
            "commit": artifact.commit,
            "digest": artifact.digest,
            "path": artifact.path,
            "changed": artifact.changed,
            "objectsReceived": artifact.stats.objects_received,
            "packBytes": artifact.stats.pack_bytes,
            "filesExported": artifact.stats.files_exported,
        });
        writeln!(out, "{value}").context("writing to stdout")?;
    } else {
        writeln!(out, "revision: {}", artifact.revision).context("writing to stdout")?;
        writeln!(out, "commit:   {}", artifact.commit).context("writing to stdout")?;
        writeln!(out, "digest:   {}", artifact.digest).context("writing to stdout")?;
        writeln!(out, "path:     {}", artifact.path.display()).context("writing to stdout")?;
        writeln!(out, "changed:  {}", artifact.changed).context("writing to stdout")?;
    }
    Ok(ExitCode::SUCCESS)
}

fn request_from(args: &SourceFetchArgs) -> anyhow::Result<FetchRequest> {
    let reference = if let Some(b) = &args.branch {
        Reference::Branch(b.clone())
    } else if let Some(t) = &args.tag {
        Reference::Tag(t.clone())
    } else if let Some(s) = &args.semver {
        Reference::Semver(s.clone())
    } else if let Some(c) = &args.commit {
        Reference::Commit(c.clone())
    } else if let Some(n) = &args.ref_name {
        Reference::Name(n.clone())
    } else {
        Reference::DefaultBranch
    };
    let mut request = FetchRequest::new(args.url.clone())
        .with_reference(reference)
        .with_auth(auth_from(args)?)
        .with_timeout(Duration::from_secs(args.timeout))
        .with_shallow(!args.full_history);
    if let Some(path) = &args.path {
        request = request.with_path(path.clone());
    }
    if let Some(ignore) = &args.ignore {
        request = request.with_ignore(ignore.clone());
    }
    if let Some(file) = &args.ca_file {
        request = request.with_ca_certificates(read(file)?.into_bytes());
    }
    if let Some(file) = &args.verify_keys {
        let keys = read(file)?.lines().map(str::to_owned).collect();
        request = request.with_verification(Verification { public_keys: keys });
    }
    Ok(request)
}

fn auth_from(args: &SourceFetchArgs) -> anyhow::Result<Auth> {
    let token = match &args.bearer_token_file {
        Some(file) => Some(read(file)?.trim().to_owned()),
        None => std::env::var("FLOTILLA_GIT_TOKEN")
            .ok()
            .filter(|t| !t.is_empty()),
    };
    if let Some(username) = &args.username {
        let password = match &args.password_file {
            Some(file) => read(file)?.trim_end_matches(['\r', '\n']).to_owned(),
            None => std::env::var("FLOTILLA_GIT_PASSWORD")
                .context("--username needs --password-file or FLOTILLA_GIT_PASSWORD")?,
        };
        if token.is_some() {
            bail!("use either --username or a bearer token, not both");
        }
        return Ok(Auth::Basic {
            username: username.clone(),
            password,
        });
    }
    if let Some(token) = token {
        return Ok(Auth::Bearer(token));
    }
    if let Some(key) = &args.ssh_key {
        let known_hosts = match &args.known_hosts {
            Some(file) => read(file)?,
            None => bail!("--ssh-key needs --known-hosts: unknown host keys are refused"),
        };
        return Ok(Auth::Ssh {
            private_key: read(key)?,
            known_hosts,
        });
    }
    if let Some(file) = &args.known_hosts {
        // No key (e.g. a public ssh:// mirror) but a known_hosts file: still check the host.
        return Ok(Auth::Ssh {
            private_key: String::new(),
            known_hosts: read(file)?,
        });
    }
    Ok(Auth::None)
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}
