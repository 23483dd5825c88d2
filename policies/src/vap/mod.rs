//! ValidatingAdmissionPolicy semantics: load policies and bindings, match
//! requests, resolve params, evaluate match conditions, variables,
//! validations and audit annotations, and decide by `failurePolicy` and
//! `validationActions` as the Kubernetes API server does.

mod compile;
mod evaluate;
pub mod matching;
pub mod request;
pub mod types;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value as Json;

use crate::Error;
use crate::cel::DEFAULT_COST_LIMIT;
pub use crate::cel::lib::authz::AuthorizerRule;

pub use compile::CompiledPolicy;
pub use evaluate::{Failure, FailureKind, Verdict};
pub use request::{GroupVersionKind, GroupVersionResource, Operation, Request, UserInfo};
pub use types::{ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding, ValidationAction};

/// Where params and namespaces come from: a cluster's store, or the
/// objects handed to `flotilla validate`.
pub trait Lookup {
    /// The Namespace object named `name`, if known.
    fn namespace(&self, name: &str) -> Option<&Json>;
    /// All objects of `apiVersion`/`kind` (candidates for params).
    fn objects_of_kind(&self, api_version: &str, kind: &str) -> Vec<&Json>;
}

/// A [`Lookup`] over a list of objects.
#[derive(Debug, Default, Clone)]
pub struct ObjectSet {
    objects: Vec<Json>,
}

impl ObjectSet {
    /// A lookup over `objects`.
    pub fn new(objects: Vec<Json>) -> Self {
        ObjectSet { objects }
    }
}

impl Lookup for ObjectSet {
    fn namespace(&self, name: &str) -> Option<&Json> {
        self.objects.iter().find(|o| {
            o["kind"] == "Namespace" && o["apiVersion"] == "v1" && o["metadata"]["name"] == name
        })
    }

    fn objects_of_kind(&self, api_version: &str, kind: &str) -> Vec<&Json> {
        self.objects
            .iter()
            .filter(|o| o["kind"] == kind && o["apiVersion"] == api_version)
            .collect()
    }
}

/// A set of compiled policies and their bindings.
#[derive(Debug)]
pub struct PolicySet {
    policies: BTreeMap<String, Arc<CompiledPolicy>>,
    /// Bindings sorted by name, each with its policy when the set has it,
    /// resolved when either is added rather than on every request.
    bindings: Vec<(
        ValidatingAdmissionPolicyBinding,
        Option<Arc<CompiledPolicy>>,
    )>,
    cost_limit: u64,
    authorizer: Option<Arc<Vec<AuthorizerRule>>>,
}

impl Default for PolicySet {
    fn default() -> Self {
        PolicySet {
            policies: BTreeMap::new(),
            bindings: Vec::new(),
            cost_limit: DEFAULT_COST_LIMIT,
            authorizer: None,
        }
    }
}

const API_VERSION: &str = "admissionregistration.k8s.io/v1";

impl PolicySet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the per-expression cost limit for policies added afterwards.
    pub fn with_cost_limit(mut self, limit: u64) -> Self {
        self.cost_limit = limit;
        self
    }

    /// Answers `authorizer` checks from `rules` (allow rules) for policies
    /// added afterwards; without, a policy using `authorizer` does not load.
    pub fn with_authorizer(mut self, rules: Vec<AuthorizerRule>) -> Self {
        self.authorizer = Some(Arc::new(rules));
        self
    }

    /// Adds `doc` if it is a ValidatingAdmissionPolicy or binding
    /// (admissionregistration.k8s.io/v1); returns whether it was one.
    /// A policy is compiled now: a policy that does not compile is an error.
    pub fn add(&mut self, doc: &Json) -> Result<bool, Error> {
        if doc["apiVersion"] != API_VERSION {
            return Ok(false);
        }
        let name = doc["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let decode = |e: serde_json::Error, kind: &str| Error::Decode {
            kind: kind.to_string(),
            name: name.clone(),
            message: e.to_string(),
        };
        match doc["kind"].as_str() {
            Some("ValidatingAdmissionPolicy") => {
                let policy: ValidatingAdmissionPolicy = serde_json::from_value(doc.clone())
                    .map_err(|e| decode(e, "ValidatingAdmissionPolicy"))?;
                self.add_policy(policy)?;
                Ok(true)
            }
            Some("ValidatingAdmissionPolicyBinding") => {
                let binding: ValidatingAdmissionPolicyBinding = serde_json::from_value(doc.clone())
                    .map_err(|e| decode(e, "ValidatingAdmissionPolicyBinding"))?;
                self.add_binding(binding);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Compiles and adds a policy, replacing one of the same name.
    pub fn add_policy(&mut self, policy: ValidatingAdmissionPolicy) -> Result<(), Error> {
        let compiled = Arc::new(CompiledPolicy::compile(
            policy,
            self.cost_limit,
            self.authorizer.is_some(),
        )?);
        for (binding, resolved) in &mut self.bindings {
            if binding.spec.policy_name == compiled.name() {
                *resolved = Some(Arc::clone(&compiled));
            }
        }
        self.policies.insert(compiled.name().to_string(), compiled);
        Ok(())
    }

    /// Adds a binding, replacing one of the same name.
    pub fn add_binding(&mut self, binding: ValidatingAdmissionPolicyBinding) {
        self.bindings
            .retain(|(b, _)| b.metadata.name != binding.metadata.name);
        let policy = self.policies.get(&binding.spec.policy_name).cloned();
        self.bindings.push((binding, policy));
        self.bindings
            .sort_by(|a, b| a.0.metadata.name.cmp(&b.0.metadata.name));
    }

    /// Number of policies.
    pub fn policy_count(&self) -> usize {
        self.policies.len()
    }

    /// Number of bindings.
    pub fn binding_count(&self) -> usize {
        self.bindings.len()
    }

    /// Bindings whose policy is not in the set (they never apply).
    pub fn dangling_bindings(&self) -> Vec<&str> {
        self.bindings
            .iter()
            .filter(|(_, policy)| policy.is_none())
            .map(|(b, _)| b.metadata.name.as_str())
            .collect()
    }
}
