//! Certificates and credentials of the control plane.
//!
//! On first start a CA, a serving certificate for `127.0.0.1`/`localhost`, an
//! admin client certificate (`O=system:masters`) and a bearer token are
//! generated with rcgen and written under `DATA_DIR/pki/`; later starts reuse
//! them, so kubeconfigs handed out earlier keep working.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Failures while creating or loading credentials.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Reading or writing a file under `pki/` failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// rcgen could not generate a key or certificate.
    #[error("generating {what}: {source}")]
    Generate {
        what: &'static str,
        #[source]
        source: rcgen::Error,
    },
    /// A stored PEM file does not parse.
    #[error("{path}: not a valid PEM {what}")]
    Pem { path: PathBuf, what: &'static str },
    /// rustls rejected the certificates or settings.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client-certificate verifier could not be built.
    #[error("client certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

/// PEM-encoded credentials of one control plane.
#[derive(Debug, Clone)]
pub struct Pki {
    pub ca_cert: String,
    pub server_cert: String,
    pub server_key: String,
    pub admin_cert: String,
    pub admin_key: String,
    /// Bearer token accepted as the admin user.
    pub token: String,
    dir: PathBuf,
}

const FILES: [&str; 6] = [
    "ca.crt",
    "server.crt",
    "server.key",
    "admin.crt",
    "admin.key",
    "token",
];

impl Pki {
    /// Loads `DIR/pki/*`, generating everything when any file is missing.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, TlsError> {
        let dir = data_dir.join("pki");
        if FILES.iter().all(|f| dir.join(f).exists()) {
            let read = |f: &str| {
                let path = dir.join(f);
                std::fs::read_to_string(&path).map_err(|source| TlsError::Io { path, source })
            };
            return Ok(Self {
                ca_cert: read("ca.crt")?,
                server_cert: read("server.crt")?,
                server_key: read("server.key")?,
                admin_cert: read("admin.crt")?,
                admin_key: read("admin.key")?,
                token: read("token")?.trim().to_string(),
                dir,
            });
        }
        let pki = Self::generate(dir)?;
        pki.save()?;
        Ok(pki)
    }

    fn generate(dir: PathBuf) -> Result<Self, TlsError> {
        let gen_err = |what| move |source| TlsError::Generate { what, source };
        let ca_key = KeyPair::generate().map_err(gen_err("CA key"))?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(gen_err("CA"))?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "flotilla-ca");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params
            .self_signed(&ca_key)
            .map_err(gen_err("CA certificate"))?;
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate().map_err(gen_err("serving key"))?;
        let mut server_params = CertificateParams::new(vec!["localhost".to_string()])
            .map_err(gen_err("serving certificate"))?;
        server_params
            .subject_alt_names
            .push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
        server_params
            .distinguished_name
            .push(DnType::CommonName, "flotilla-apiserver");
        server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server_params
            .signed_by(&server_key, &issuer)
            .map_err(gen_err("serving certificate"))?;

        let admin_key = KeyPair::generate().map_err(gen_err("admin key"))?;
        let mut admin_params =
            CertificateParams::new(Vec::<String>::new()).map_err(gen_err("admin certificate"))?;
        admin_params
            .distinguished_name
            .push(DnType::CommonName, "flotilla-admin");
        admin_params
            .distinguished_name
            .push(DnType::OrganizationName, "system:masters");
        admin_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let admin_cert = admin_params
            .signed_by(&admin_key, &issuer)
            .map_err(gen_err("admin certificate"))?;

        Ok(Self {
            ca_cert: ca_cert.pem(),
            server_cert: server_cert.pem(),
            server_key: server_key.serialize_pem(),
            admin_cert: admin_cert.pem(),
            admin_key: admin_key.serialize_pem(),
            token: format!(
                "{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            ),
            dir,
        })
    }

    fn save(&self) -> Result<(), TlsError> {
        std::fs::create_dir_all(&self.dir).map_err(|source| TlsError::Io {
            path: self.dir.clone(),
            source,
        })?;
        for (file, content) in [
            ("ca.crt", &self.ca_cert),
            ("server.crt", &self.server_cert),
            ("server.key", &self.server_key),
            ("admin.crt", &self.admin_cert),
            ("admin.key", &self.admin_key),
            ("token", &self.token),
        ] {
            let path = self.dir.join(file);
            write_private(&path, content).map_err(|source| TlsError::Io { path, source })?;
        }
        Ok(())
    }

    /// The rustls configuration of the HTTPS listener: our serving certificate,
    /// client certificates optional (bearer tokens are the other way in) but
    /// verified against our CA when presented.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let ca_path = self.dir.join("ca.crt");
        let ca =
            CertificateDer::from_pem_slice(self.ca_cert.as_bytes()).map_err(|_| TlsError::Pem {
                path: ca_path.clone(),
                what: "certificate",
            })?;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.clone())?;
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .allow_unauthenticated()
        .build()?;
        let cert = CertificateDer::from_pem_slice(self.server_cert.as_bytes()).map_err(|_| {
            TlsError::Pem {
                path: self.dir.join("server.crt"),
                what: "certificate",
            }
        })?;
        let key = PrivateKeyDer::from_pem_slice(self.server_key.as_bytes()).map_err(|_| {
            TlsError::Pem {
                path: self.dir.join("server.key"),
                what: "private key",
            }
        })?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![cert, ca], key)?;
        // HTTP/1.1 only: watches are long-lived chunked responses, which every
        // client handles over HTTP/1.1.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// Writes a file readable only by its owner (keys and tokens).
/// Writes a file only its owner may read (0600), also when an older, wider file exists.
pub(crate) fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    f.write_all(content.as_bytes())?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_generated_once_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = Pki::load_or_create(dir.path()).expect("generate");
        let second = Pki::load_or_create(dir.path()).expect("reload");
        assert_eq!(first.ca_cert, second.ca_cert);
        assert_eq!(first.token, second.token);
        assert!(first.server_config().is_ok());
    }
}
