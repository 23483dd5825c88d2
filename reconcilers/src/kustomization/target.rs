//! The cluster a Kustomization applies to, and as whom.
//!
//! - `spec.kubeConfig.secretRef`: a client built from the kubeconfig in a Secret of the
//!   Kustomization's namespace (key `value`, else `value.yaml`, unless `key` is set), its
//!   current context. Clients are cached per Secret resourceVersion, with their discovery
//!   cache, so a reconcile does not open a new connection pool.
//! - `spec.serviceAccountName`: every request carries `Impersonate-User:
//!   system:serviceaccount:<namespace>:<name>` (and the service-account groups), so the API
//!   server authorises the apply as that account, as Flux does. An API server that does not
//!   implement impersonation (Flotilla's local control plane does not authorise at all)
//!   ignores the headers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crds::Kustomization;
use http::{HeaderValue, Request};
use k8s_openapi::api::core::v1::Secret;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, ResourceExt};

use super::resources::Resources;

/// Why the target cluster cannot be reached.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    /// The kubeconfig Secret does not exist or lacks the key.
    #[error("spec.kubeConfig.secretRef: {0}")]
    SecretNotFound(String),
    /// The kubeconfig does not parse or names no usable cluster.
    #[error("spec.kubeConfig.secretRef: Secret {secret}: invalid kubeconfig: {message}")]
    InvalidKubeconfig {
        /// `namespace/name` of the Secret.
        secret: String,
        /// What is wrong.
        message: String,
    },
    /// Reading the Secret failed.
    #[error("reading Secret {secret}: {source}")]
    Kube {
        /// `namespace/name` of the Secret.
        secret: String,
        /// The client's error.
        #[source]
        source: Box<kube::Error>,
    },
    /// `spec.serviceAccountName` does not make a valid header value.
    #[error("spec.serviceAccountName {0:?} is not a valid user name")]
    InvalidServiceAccount(String),
}

impl TargetError {
    /// Whether retrying later may help without a spec change.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            TargetError::Kube { .. } | TargetError::SecretNotFound(_)
        )
    }
}

/// A client for the target cluster and its discovery cache.
#[derive(Clone)]
pub struct Cluster {
    /// Talks to the target cluster (as the service account, if one is set).
    pub client: kube::Client,
    /// Discovery cache of the target cluster.
    pub resources: Arc<Resources>,
}

/// Remote clients by Secret `namespace/name`, with the resourceVersion they were built from.
#[derive(Default)]
pub struct Clusters {
    remote: Mutex<HashMap<String, (String, Cluster)>>,
}

impl Clusters {
    /// The cluster `ks` applies to. `local` is the operator's own cluster.
    pub async fn resolve(
        &self,
        local: &Cluster,
        ks: &Kustomization,
    ) -> Result<Cluster, TargetError> {
        let namespace = ks.namespace().unwrap_or_default();
        let impersonate = ks
            .spec
            .service_account_name
            .as_ref()
            .map(|sa| format!("system:serviceaccount:{namespace}:{sa}"));
        let Some(reference) = ks.spec.kube_config.as_ref().map(|k| &k.secret_ref) else {
            return match impersonate {
                None => Ok(local.clone()),
                Some(user) => Ok(Cluster {
                    client: impersonating(local.client.clone(), &user, &namespace)?,
                    resources: local.resources.clone(),
                }),
            };
        };
        let secret_id = format!("{namespace}/{}", reference.name);
        let secrets: Api<Secret> = Api::namespaced(local.client.clone(), &namespace);
        let secret = secrets
            .get_opt(&reference.name)
            .await
            .map_err(|source| TargetError::Kube {
                secret: secret_id.clone(),
                source: Box::new(source),
            })?
            .ok_or_else(|| TargetError::SecretNotFound(format!("Secret {secret_id} not found")))?;
        let version = format!(
            "{}|{}",
            secret.resource_version().unwrap_or_default(),
            impersonate.as_deref().unwrap_or("")
        );
        let cache_key = format!("{secret_id}|{}", reference.key.as_deref().unwrap_or(""));
        if let Some((cached_version, cluster)) = self
            .remote
            .lock()
            .ok()
            .and_then(|remote| remote.get(&cache_key).cloned())
            && cached_version == version
        {
            return Ok(cluster);
        }
        let data = secret.data.unwrap_or_default();
        let bytes = match &reference.key {
            Some(key) => data.get(key),
            None => data.get("value").or_else(|| data.get("value.yaml")),
        }
        .ok_or_else(|| {
            TargetError::SecretNotFound(format!(
                "Secret {secret_id} has no key {}",
                reference.key.as_deref().unwrap_or("value or value.yaml")
            ))
        })?;
        let invalid = |message: String| TargetError::InvalidKubeconfig {
            secret: secret_id.clone(),
            message,
        };
        let text = std::str::from_utf8(&bytes.0).map_err(|e| invalid(e.to_string()))?;
        let kubeconfig = Kubeconfig::from_yaml(text).map_err(|e| invalid(e.to_string()))?;
        let mut config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map_err(|e| invalid(e.to_string()))?;
        if let Some(user) = &impersonate {
            config.auth_info.impersonate = Some(user.clone());
            config.auth_info.impersonate_groups = Some(service_account_groups(&namespace));
        }
        let client = kube::Client::try_from(config).map_err(|e| invalid(e.to_string()))?;
        let cluster = Cluster {
            client,
            resources: Arc::new(Resources::default()),
        };
        if let Ok(mut remote) = self.remote.lock() {
            remote.insert(cache_key, (version, cluster.clone()));
        }
        Ok(cluster)
    }
}

fn service_account_groups(namespace: &str) -> Vec<String> {
    vec![
        "system:serviceaccounts".to_owned(),
        format!("system:serviceaccounts:{namespace}"),
        "system:authenticated".to_owned(),
    ]
}

/// `client`, with impersonation headers on every request. kube's own impersonation lives in
/// its `Config`, which a ready `Client` no longer exposes, so the headers are added by a
/// service wrapped around the client.
fn impersonating(
    client: kube::Client,
    user: &str,
    namespace: &str,
) -> Result<kube::Client, TargetError> {
    let user_header = HeaderValue::from_str(user)
        .map_err(|_| TargetError::InvalidServiceAccount(user.to_owned()))?;
    let mut group_headers = Vec::new();
    for group in service_account_groups(namespace) {
        group_headers.push(
            HeaderValue::from_str(&group)
                .map_err(|_| TargetError::InvalidServiceAccount(user.to_owned()))?,
        );
    }
    let default_namespace = client.default_namespace().to_owned();
    let service = tower::service_fn(move |mut request: Request<kube::client::Body>| {
        let client = client.clone();
        let headers = request.headers_mut();
        headers.insert("Impersonate-User", user_header.clone());
        for group in &group_headers {
            headers.append("Impersonate-Group", group.clone());
        }
        async move { client.send(request).await }
    });
    Ok(kube::Client::new(service, default_namespace))
}
