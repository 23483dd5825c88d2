//! A throwaway GnuPG home with keys made by the real `gpg` (2.2+), for tests that need real
//! OpenPGP signatures. Shared by the `sources` tests and the reconcilers' GitRepository tests
//! (included there with `#[path]`), so it uses nothing but `std` and `tempfile`.

use std::path::Path;
use std::process::{Command, Stdio};

/// A throwaway GnuPG home with keys made by the real `gpg`; its agent is stopped on drop.
pub struct Gpg {
    home: tempfile::TempDir,
}

impl Gpg {
    /// A new empty GnuPG home, or `None` (after printing `SKIPPED: …`) without `gpg`.
    pub fn new(test: &str) -> Option<Self> {
        let ok = Command::new("gpg")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            eprintln!("SKIPPED: {test}: gpg is not installed (apt-get install gnupg)");
            return None;
        }
        // A short path: gpg-agent's socket lives in the home and socket paths are limited.
        let home = tempfile::Builder::new()
            .prefix("gpg")
            .tempdir_in("/tmp")
            .expect("tempdir");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o700))
                .expect("chmod");
        }
        Some(Gpg { home })
    }

    /// The folder to pass as `GNUPGHOME`.
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// Runs gpg in batch mode in this home; returns stdout.
    pub fn run(&self, args: &[&str]) -> String {
        let out = Command::new("gpg")
            .env("GNUPGHOME", self.home())
            .args([
                "--batch",
                "--no-tty",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
            ])
            .args(args)
            .output()
            .expect("gpg runs");
        assert!(
            out.status.success(),
            "gpg {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Makes a signing-only primary key (`algo`: `ed25519`, `rsa2048`, …) for `uid`, without
    /// a passphrase; returns its fingerprint.
    pub fn generate(&self, uid: &str, algo: &str) -> String {
        self.run(&["--quick-gen-key", uid, algo, "sign", "never"]);
        self.fingerprints(uid)[0].clone()
    }

    /// Adds a signing subkey to the key `primary`; returns the subkey's fingerprint.
    pub fn add_signing_subkey(&self, primary: &str, algo: &str) -> String {
        self.run(&["--quick-add-key", primary, algo, "sign", "never"]);
        self.fingerprints(primary)
            .last()
            .expect("a subkey fingerprint")
            .clone()
    }

    /// The fingerprints of the primary key and subkeys matching `who`, primary first.
    pub fn fingerprints(&self, who: &str) -> Vec<String> {
        self.run(&["--with-colons", "--list-keys", who])
            .lines()
            .filter_map(|l| l.strip_prefix("fpr:"))
            .map(|rest| rest.trim_matches(':').to_owned())
            .collect()
    }

    /// The ASCII-armored public key of `who`, as `gpg --export --armor` writes it.
    pub fn export(&self, who: &str) -> String {
        self.run(&["--export", "--armor", who])
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home())
            .args(["--kill", "gpg-agent"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
