//! The kubeconfig written next to the data: `DATA_DIR/kubeconfig`.
//!
//! Credentials are embedded (`*-data` fields) rather than referenced by path,
//! so the file can be copied elsewhere and still work with kubectl and kube.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::tls::Pki;

/// The kubeconfig YAML for `url` with the admin client certificate.
///
/// Hand-written rather than serialised: the format is fixed and small, and
/// this keeps field order identical to what kubectl writes.
pub fn render(url: &str, pki: &Pki) -> String {
    let ca = STANDARD.encode(&pki.ca_cert);
    let cert = STANDARD.encode(&pki.admin_cert);
    let key = STANDARD.encode(&pki.admin_key);
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: flotilla
  cluster:
    server: {url}
    certificate-authority-data: {ca}
users:
- name: flotilla-admin
  user:
    client-certificate-data: {cert}
    client-key-data: {key}
- name: flotilla-token
  user:
    token: {token}
contexts:
- name: flotilla
  context:
    cluster: flotilla
    user: flotilla-admin
    namespace: default
- name: flotilla-token
  context:
    cluster: flotilla
    user: flotilla-token
    namespace: default
current-context: flotilla
preferences: {{}}
",
        token = pki.token
    )
}
