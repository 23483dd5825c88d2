//! URL → route: Kubernetes' API paths parsed against the live registry.

use std::sync::Arc;

use crate::error::Error;
use crate::registry::{Registry, ResourceInfo};

/// A parsed request path.
#[derive(Debug)]
pub enum Route {
    Version,
    Health,
    Api,
    Apis,
    Group(String),
    GroupVersion(String, String),
    OpenApiV2,
    OpenApiV3Index,
    /// `/openapi/v3/<rest>`, rest like `api/v1` or `apis/apps/v1`.
    OpenApiV3(String),
    Resource(ResourcePath),
}

/// A resource URL.
#[derive(Debug)]
pub struct ResourcePath {
    pub info: Arc<ResourceInfo>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// Parses `path` (no query string).
pub fn parse(path: &str, registry: &Registry) -> Result<Route, Error> {
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    match segs.as_slice() {
        ["version"] => Ok(Route::Version),
        ["healthz" | "livez" | "readyz", ..] => Ok(Route::Health),
        ["api"] => Ok(Route::Api),
        ["apis"] => Ok(Route::Apis),
        ["apis", g] => Ok(Route::Group((*g).to_string())),
        ["openapi", "v2"] => Ok(Route::OpenApiV2),
        ["openapi", "v3"] => Ok(Route::OpenApiV3Index),
        ["openapi", "v3", rest @ ..] => Ok(Route::OpenApiV3(rest.join("/"))),
        ["api", v, rest @ ..] => resource("", v, rest, registry),
        ["apis", g, v, rest @ ..] => resource(g, v, rest, registry),
        _ => Err(Error::NoSuchResource),
    }
}

fn resource(
    group: &str,
    version: &str,
    rest: &[&str],
    registry: &Registry,
) -> Result<Route, Error> {
    let lookup = |plural: &str| {
        registry
            .lookup(group, version, plural)
            .ok_or(Error::NoSuchResource)
    };
    let owned = |s: &&str| (*s).to_string();
    let (info, namespace, name, sub) = match rest {
        [] => return Ok(Route::GroupVersion(group.into(), version.into())),
        // Namespaced resources inside a namespace.
        ["namespaces", ns, plural, tail @ ..]
            if !(group.is_empty() && matches!(*plural, "status" | "finalize")) =>
        {
            let info = lookup(plural)?;
            if !info.namespaced {
                return Err(Error::NoSuchResource);
            }
            (
                info,
                Some((*ns).to_string()),
                tail.first().map(owned),
                tail.get(1).map(owned),
            )
        }
        [plural, tail @ ..] => {
            let info = lookup(plural)?;
            if info.namespaced && !tail.is_empty() {
                return Err(Error::NoSuchResource);
            }
            (info, None, tail.first().map(owned), tail.get(1).map(owned))
        }
    };
    if rest.len() > 5 {
        return Err(Error::NoSuchResource);
    }
    if let Some(s) = &sub {
        let ok = match s.as_str() {
            "status" => info.status,
            "scale" => info.scale.is_some(),
            "finalize" => info.group.is_empty() && info.plural == "namespaces",
            // Served with a Status saying why they cannot work (see `server::pod_process`).
            "exec" | "attach" | "portforward" | "log" => {
                info.group.is_empty() && info.plural == "pods"
            }
            _ => false,
        };
        if !ok {
            return Err(Error::NoSuchResource);
        }
    }
    Ok(Route::Resource(ResourcePath {
        info,
        namespace,
        name,
        subresource: sub,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(path: &str) -> Route {
        parse(path, &Registry::builtin()).expect("parses")
    }

    #[test]
    fn namespaced_object_urls_carry_namespace_name_and_subresource() {
        let Route::Resource(r) = route("/apis/apps/v1/namespaces/ns/deployments/web/scale") else {
            panic!("not a resource route")
        };
        assert_eq!(r.info.kind, "Deployment");
        assert_eq!(r.namespace.as_deref(), Some("ns"));
        assert_eq!(r.name.as_deref(), Some("web"));
        assert_eq!(r.subresource.as_deref(), Some("scale"));
    }

    #[test]
    fn a_namespace_url_is_the_namespace_object_itself() {
        let Route::Resource(r) = route("/api/v1/namespaces/ns") else {
            panic!("not a resource route")
        };
        assert_eq!(r.info.kind, "Namespace");
        assert_eq!(r.name.as_deref(), Some("ns"));
        let Route::Resource(r) = route("/api/v1/namespaces/ns/status") else {
            panic!("not a resource route")
        };
        assert_eq!(r.subresource.as_deref(), Some("status"));
    }

    #[test]
    fn unknown_resources_are_not_found() {
        assert!(parse("/api/v1/widgets", &Registry::builtin()).is_err());
        assert!(
            parse(
                "/api/v1/namespaces/ns/configmaps/x/scale",
                &Registry::builtin()
            )
            .is_err()
        );
    }
}
