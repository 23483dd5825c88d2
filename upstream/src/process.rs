//! Child processes of the control plane: spawned in their own process group with output in
//! `DATA_DIR/logs/<name>.log`, and stopped (SIGTERM, then SIGKILL after a grace period) when
//! their guard goes, so a failing test leaves nothing running.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

use crate::error::Error;

/// A running component; dropping it stops the process.
#[derive(Debug)]
pub struct Component {
    pub name: &'static str,
    pub log: PathBuf,
    child: Child,
}

impl Component {
    /// Starts `binary args…`, appending its output to `logs/<name>.log`.
    pub fn spawn(
        name: &'static str,
        binary: &Path,
        args: &[String],
        logs: &Path,
    ) -> Result<Self, Error> {
        let log = logs.join(format!("{name}.log"));
        let open = || {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .map_err(|source| Error::Io {
                    path: log.clone(),
                    source,
                })
        };
        let stdout = open()?;
        let stderr = open()?;
        use std::os::unix::process::CommandExt;
        let child = Command::new(binary)
            .args(args)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            // Its own group: a Ctrl-C in the terminal reaches us, and we stop it in order.
            .process_group(0)
            .spawn()
            .map_err(|source| Error::Spawn {
                component: name,
                path: binary.to_path_buf(),
                source,
            })?;
        tracing::debug!(component = name, pid = child.id(), "started");
        Ok(Self { name, log, child })
    }

    /// `Err` with the log's tail when the process has exited.
    pub fn check_running(&mut self) -> Result<(), Error> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(self.exited(status.to_string())),
            Err(e) => Err(self.exited(e.to_string())),
        }
    }

    fn exited(&self, status: String) -> Error {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n");
        Error::Exited {
            component: self.name,
            status,
            log: self.log.clone(),
            tail,
        }
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`.
    pub fn stop(&mut self, grace: Duration) {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        if let Some(pid) = i32::try_from(self.child.id()).ok().and_then(Pid::from_raw) {
            let _ = kill_process(pid, Signal::TERM);
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        tracing::warn!(
            component = self.name,
            "killed after {grace:?} without exiting"
        );
    }
}

impl Drop for Component {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(5));
    }
}

/// A free TCP port on 127.0.0.1 (bound and released; the component binds it right after).
pub fn free_port() -> Result<u16, Error> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(Error::Port)?;
    Ok(listener.local_addr().map_err(Error::Port)?.port())
}
