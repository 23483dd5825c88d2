//! The control plane's credentials, in kubeadm's layout under `DATA_DIR/pki/`: the cluster CA,
//! the API server's serving certificate, the front-proxy CA and its client, the
//! service-account key pair, and one client certificate per identity (admin, controller
//! manager, scheduler, the API server towards kubelets). Generated once; later starts reuse
//! them so handed-out kubeconfigs keep working.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

use crate::error::Error;

/// The first address of the service range: the `kubernetes` Service's ClusterIP, which the
/// serving certificate must name for in-cluster clients.
pub const SERVICE_CIDR: &str = "10.96.0.0/12";
const KUBERNETES_SERVICE_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 1);

/// Paths of the generated files.
#[derive(Debug, Clone)]
pub struct Pki {
    pub dir: PathBuf,
}

/// A client identity: file stem, common name, organisation.
struct Client {
    stem: &'static str,
    cn: &'static str,
    org: Option<&'static str>,
}

const CLIENTS: [Client; 4] = [
    Client {
        stem: "admin",
        cn: "kubernetes-admin",
        org: Some("system:masters"),
    },
    Client {
        stem: "controller-manager",
        cn: "system:kube-controller-manager",
        org: None,
    },
    Client {
        stem: "scheduler",
        cn: "system:kube-scheduler",
        org: None,
    },
    Client {
        stem: "apiserver-kubelet-client",
        cn: "kube-apiserver-kubelet-client",
        org: Some("kubeadm:cluster-admins"),
    },
];

impl Pki {
    /// Loads `DIR/pki`, generating everything when the last file written is missing.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, Error> {
        let pki = Self {
            dir: data_dir.join("pki"),
        };
        // `sa.pub` is written last: its presence means a complete set.
        if !pki.path("sa.pub").exists() {
            pki.generate()?;
        }
        Ok(pki)
    }

    /// A file under `pki/`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Reads a file under `pki/`.
    pub fn read(&self, name: &str) -> Result<String, Error> {
        let path = self.path(name);
        std::fs::read_to_string(&path).map_err(|source| Error::Io { path, source })
    }

    fn generate(&self) -> Result<(), Error> {
        create_private_dir(&self.dir)?;
        let (ca, ca_pem) = new_ca("kubernetes")?;
        self.write("ca.crt", &ca_pem)?;
        self.write("ca.key", &ca.key().serialize_pem())?;

        let mut serving = leaf("kube-apiserver", None, ExtendedKeyUsagePurpose::ServerAuth)?;
        for dns in [
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ] {
            let name = dns.try_into().map_err(|source| Error::Generate {
                what: format!("SAN {dns}"),
                source,
            })?;
            serving.subject_alt_names.push(SanType::DnsName(name));
        }
        for ip in [
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V4(KUBERNETES_SERVICE_IP),
        ] {
            serving.subject_alt_names.push(SanType::IpAddress(ip));
        }
        self.sign("apiserver", serving, &ca)?;

        for client in &CLIENTS {
            let params = leaf(client.cn, client.org, ExtendedKeyUsagePurpose::ClientAuth)?;
            self.sign(client.stem, params, &ca)?;
        }

        let (front_proxy_ca, front_proxy_pem) = new_ca("front-proxy-ca")?;
        self.write("front-proxy-ca.crt", &front_proxy_pem)?;
        self.write("front-proxy-ca.key", &front_proxy_ca.key().serialize_pem())?;
        let client = leaf(
            "front-proxy-client",
            None,
            ExtendedKeyUsagePurpose::ClientAuth,
        )?;
        self.sign("front-proxy-client", client, &front_proxy_ca)?;

        let sa = KeyPair::generate().map_err(gen_err("service-account key"))?;
        self.write("sa.key", &sa.serialize_pem())?;
        self.write("sa.pub", &sa.public_key_pem())?;
        Ok(())
    }

    fn sign(
        &self,
        stem: &str,
        params: CertificateParams,
        issuer: &Issuer<'static, KeyPair>,
    ) -> Result<(), Error> {
        let key = KeyPair::generate().map_err(|source| Error::Generate {
            what: format!("{stem} key"),
            source,
        })?;
        let cert = params
            .signed_by(&key, issuer)
            .map_err(|source| Error::Generate {
                what: format!("{stem} certificate"),
                source,
            })?;
        self.write(&format!("{stem}.crt"), &cert.pem())?;
        self.write(&format!("{stem}.key"), &key.serialize_pem())
    }

    fn write(&self, name: &str, content: &str) -> Result<(), Error> {
        let path = self.path(name);
        write_private(&path, content).map_err(|source| Error::Io { path, source })
    }
}

fn gen_err(what: &'static str) -> impl Fn(rcgen::Error) -> Error {
    move |source| Error::Generate {
        what: what.to_owned(),
        source,
    }
}

fn new_ca(cn: &str) -> Result<(Issuer<'static, KeyPair>, String), Error> {
    let key = KeyPair::generate().map_err(gen_err("CA key"))?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(gen_err("CA"))?;
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params
        .self_signed(&key)
        .map_err(gen_err("CA certificate"))?;
    Ok((Issuer::new(params, key), cert.pem()))
}

fn leaf(
    cn: &str,
    org: Option<&str>,
    usage: ExtendedKeyUsagePurpose,
) -> Result<CertificateParams, Error> {
    let mut params =
        CertificateParams::new(Vec::<String>::new()).map_err(gen_err("certificate"))?;
    params.distinguished_name.push(DnType::CommonName, cn);
    if let Some(org) = org {
        params
            .distinguished_name
            .push(DnType::OrganizationName, org);
    }
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![usage];
    Ok(params)
}

/// Keys and kubeconfigs are readable by their owner only, as kubeadm writes them.
pub fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(content.as_bytes())?;
    file.sync_all()
}

/// A directory only its owner can enter.
pub fn create_private_dir(path: &Path) -> Result<(), Error> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })
}
