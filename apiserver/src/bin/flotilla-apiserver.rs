//! A standalone control plane for tests and benchmarks that need a separate
//! process (the crash test kills it with SIGKILL). Users run
//! `flotilla control-plane` instead.
//!
//! Usage: `flotilla-apiserver DATA_DIR [PORT]`. Prints the URL on stdout once
//! serving, then runs until killed or stdin closes.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: flotilla-apiserver DATA_DIR [PORT]");
        return ExitCode::from(2);
    };
    let port = match args.next().map(|p| p.parse::<u16>()) {
        None => 0,
        Some(Ok(p)) => p,
        Some(Err(e)) => {
            eprintln!("invalid port: {e}");
            return ExitCode::from(2);
        }
    };
    let running = match apiserver::ControlPlane::start(apiserver::Config {
        data_dir: PathBuf::from(dir),
        port,
    }) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", running.url());
    let _ = out.flush();
    drop(out);
    // Serve until stdin closes (the parent went away) or the process is killed.
    for line in std::io::stdin().lock().lines() {
        if line.is_err() {
            break;
        }
    }
    running.shutdown();
    ExitCode::SUCCESS
}
