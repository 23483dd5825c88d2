//! The Kubernetes authorizer library, offline: `authorizer` answers from a
//! rule set given by the caller (RBAC-like allow rules) instead of a
//! cluster's authorizer. Supported: `authorizer.group(g).resource(r)`
//! `.subresource(s).namespace(ns).name(n).check(verb)`,
//! `authorizer.path(p).check(verb)`, `authorizer.serviceAccount(ns, name)`,
//! and on decisions `allowed()`, `reason()`, `errored()`, `error()`.
//! Not supported: `authorizer.requestResource` (a field, which opaque
//! values of the `cel` crate cannot carry).

use std::sync::Arc;

use cel::common::types::{STRING_TYPE, Type};
use cel::objects::Opaque;
use cel::{ExecutionError, Value};

use super::{Registrar, fail, opaque_arg, str_arg, value_fn};

/// One allow rule, like an RBAC `PolicyRule` with the subjects and
/// namespaces it applies to. Empty lists mean "any"; `*` matches all.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizerRule {
    /// User names the rule applies to (`system:serviceaccount:NS:NAME` for
    /// service accounts); empty: everyone.
    #[serde(default)]
    pub users: Vec<String>,
    /// Verbs allowed.
    #[serde(default)]
    pub verbs: Vec<String>,
    /// API groups (`""` core).
    #[serde(default)]
    pub api_groups: Vec<String>,
    /// Resources, `res` or `res/sub`.
    #[serde(default)]
    pub resources: Vec<String>,
    /// Object names.
    #[serde(default)]
    pub resource_names: Vec<String>,
    /// Namespaces; empty: all.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Non-resource URL paths (`/healthz`, `/api/*`).
    #[serde(default)]
    pub non_resource_urls: Vec<String>,
}

const AUTHZ: &str = "kubernetes.authorization.Authorizer";
const RESOURCE: &str = "kubernetes.authorization.ResourceCheck";
const PATH: &str = "kubernetes.authorization.PathCheck";
const DECISION: &str = "kubernetes.authorization.Decision";

/// The `authorizer` value: the rules and the user they are checked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorizer {
    rules: Arc<Vec<AuthorizerRule>>,
    user: String,
}

impl Authorizer {
    /// An authorizer answering for `user` from `rules`.
    pub fn new(rules: Arc<Vec<AuthorizerRule>>, user: &str) -> Self {
        Authorizer {
            rules,
            user: user.to_string(),
        }
    }

    /// As a CEL value.
    pub fn into_value(self) -> Value {
        Value::Opaque(Arc::new(self))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct ResourceCheck {
    authz: Option<Authorizer>,
    group: String,
    resource: String,
    subresource: String,
    namespace: String,
    name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct PathCheck {
    authz: Authorizer,
    path: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Decision {
    allowed: bool,
    reason: String,
}

impl Opaque for Authorizer {
    fn runtime_type_name(&self) -> &str {
        AUTHZ
    }
}
impl Opaque for ResourceCheck {
    fn runtime_type_name(&self) -> &str {
        RESOURCE
    }
}
impl Opaque for PathCheck {
    fn runtime_type_name(&self) -> &str {
        PATH
    }
}
impl Opaque for Decision {
    fn runtime_type_name(&self) -> &str {
        DECISION
    }
}

fn ty(name: &'static str) -> Type {
    Type::new_opaque_type(name)
}

pub(super) fn register(r: &mut Registrar<'_>) {
    r.member("group", ty(AUTHZ), vec![STRING_TYPE], group_fn);
    r.member(
        "serviceAccount",
        ty(AUTHZ),
        vec![STRING_TYPE, STRING_TYPE],
        service_account_fn,
    );
    r.member("path", ty(AUTHZ), vec![STRING_TYPE], path_fn);
    r.member("resource", ty(RESOURCE), vec![STRING_TYPE], |a| {
        super::adapt(a, |a| set(a, "resource"))
    });
    r.member("subresource", ty(RESOURCE), vec![STRING_TYPE], |a| {
        super::adapt(a, |a| set(a, "subresource"))
    });
    r.member("namespace", ty(RESOURCE), vec![STRING_TYPE], |a| {
        super::adapt(a, |a| set(a, "namespace"))
    });
    r.member("name", ty(RESOURCE), vec![STRING_TYPE], |a| {
        super::adapt(a, |a| set(a, "name"))
    });
    r.member("check", ty(RESOURCE), vec![STRING_TYPE], check_resource_fn);
    r.member("check", ty(PATH), vec![STRING_TYPE], check_path_fn);
    r.member("allowed", ty(DECISION), vec![], |a| {
        super::adapt(a, |a| Ok(Value::Bool(decision(a)?.allowed)))
    });
    r.member("reason", ty(DECISION), vec![], |a| {
        super::adapt(a, |a| {
            Ok(Value::String(Arc::new(decision(a)?.reason.clone())))
        })
    });
    r.member("errored", ty(DECISION), vec![], |a| {
        super::adapt(a, |a| decision(a).map(|_| Value::Bool(false)))
    });
    r.member("error", ty(DECISION), vec![], |a| {
        super::adapt(a, |a| {
            decision(a).map(|_| Value::String(Arc::new(String::new())))
        })
    });
}

fn decision(a: &[Value]) -> Result<&Decision, ExecutionError> {
    opaque_arg::<Decision>("decision", a, 0)
}

value_fn!(group_fn, |a: &[Value]| {
    let authz = opaque_arg::<Authorizer>("group", a, 0)?;
    Ok(Value::Opaque(Arc::new(ResourceCheck {
        authz: Some(authz.clone()),
        group: str_arg("group", a, 1)?.to_string(),
        ..ResourceCheck::default()
    })))
});
value_fn!(service_account_fn, |a: &[Value]| {
    let authz = opaque_arg::<Authorizer>("serviceAccount", a, 0)?;
    let user = format!(
        "system:serviceaccount:{}:{}",
        str_arg("serviceAccount", a, 1)?,
        str_arg("serviceAccount", a, 2)?
    );
    Ok(Authorizer::new(Arc::clone(&authz.rules), &user).into_value())
});
value_fn!(path_fn, |a: &[Value]| {
    let authz = opaque_arg::<Authorizer>("path", a, 0)?;
    Ok(Value::Opaque(Arc::new(PathCheck {
        authz: authz.clone(),
        path: str_arg("path", a, 1)?.to_string(),
    })))
});

fn set(a: &[Value], field: &str) -> Result<Value, ExecutionError> {
    let mut c = opaque_arg::<ResourceCheck>(field, a, 0)?.clone();
    let v = str_arg(field, a, 1)?.to_string();
    match field {
        "resource" => c.resource = v,
        "subresource" => c.subresource = v,
        "namespace" => c.namespace = v,
        _ => c.name = v,
    }
    Ok(Value::Opaque(Arc::new(c)))
}

fn any_or(list: &[String], v: &str) -> bool {
    list.is_empty() || list.iter().any(|x| x == "*" || x == v)
}

fn user_matches(rule: &AuthorizerRule, user: &str) -> bool {
    rule.users.is_empty() || rule.users.iter().any(|u| u == user)
}

fn allow(reason: &str, allowed: bool) -> Value {
    Value::Opaque(Arc::new(Decision {
        allowed,
        reason: reason.to_string(),
    }))
}

value_fn!(check_resource_fn, |a: &[Value]| {
    let c = opaque_arg::<ResourceCheck>("check", a, 0)?;
    let verb = str_arg("check", a, 1)?;
    let authz = c
        .authz
        .as_ref()
        .ok_or_else(|| fail("check", "no authorizer"))?;
    let resource = if c.subresource.is_empty() {
        c.resource.clone()
    } else {
        format!("{}/{}", c.resource, c.subresource)
    };
    let ok = authz.rules.iter().any(|r| {
        user_matches(r, &authz.user)
            && r.non_resource_urls.is_empty()
            && !r.verbs.is_empty()
            && any_or(&r.verbs, verb)
            && any_or(&r.api_groups, &c.group)
            && !r.resources.is_empty()
            && any_or(&r.resources, &resource)
            && any_or(&r.resource_names, &c.name)
            && any_or(&r.namespaces, &c.namespace)
    });
    Ok(allow(
        if ok {
            "allowed by rule set"
        } else {
            "no rule allows it"
        },
        ok,
    ))
});
value_fn!(check_path_fn, |a: &[Value]| {
    let c = opaque_arg::<PathCheck>("check", a, 0)?;
    let verb = str_arg("check", a, 1)?;
    let ok = c.authz.rules.iter().any(|r| {
        user_matches(r, &c.authz.user)
            && any_or(&r.verbs, verb)
            && r.non_resource_urls
                .iter()
                .any(|u| match u.strip_suffix('*') {
                    Some(prefix) => c.path.starts_with(prefix),
                    None => *u == c.path,
                })
    });
    Ok(allow(
        if ok {
            "allowed by rule set"
        } else {
            "no rule allows it"
        },
        ok,
    ))
});
