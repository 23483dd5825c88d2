//! The CustomResourceDefinitions generated from the types, and their YAML form as checked in
//! under `crds/yaml/` and printed by `flotilla crds`.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

use crate::error::{Error, Result};
use crate::{GitRepository, Kustomization, Receiver};

/// Every Flotilla CRD, in install order (sources before their consumers).
pub fn all_crds() -> Vec<CustomResourceDefinition> {
    vec![GitRepository::crd(), Kustomization::crd(), Receiver::crd()]
}

/// First line of every generated file, so nobody edits them by hand.
pub const GENERATED_HEADER: &str = "# Generated from the Rust types in crds/src by `FLOTILLA_BLESS=1 cargo test -p flotilla-crds`. Do not edit.\n";

/// One CRD as a YAML document (without header or `---`).
pub fn crd_yaml(crd: &CustomResourceDefinition) -> Result<String> {
    serde_saphyr::to_string(crd).map_err(|source| Error::Yaml {
        name: crd.metadata.name.clone().unwrap_or_default(),
        source,
    })
}

/// File name of a CRD under `crds/yaml/`, in the kubebuilder convention
/// `<group>_<plural>.yaml`, e.g. `flotilla.dev_gitrepositories.yaml`.
pub fn crd_file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}_{}.yaml", crd.spec.group, crd.spec.names.plural)
}

/// The file `crds/yaml/<group>_<plural>.yaml` for one CRD: header and document.
pub fn crd_file(crd: &CustomResourceDefinition) -> Result<String> {
    Ok(format!("{GENERATED_HEADER}---\n{}", crd_yaml(crd)?))
}

/// All CRDs as one multi-document YAML stream (the content of `crds/yaml/all.yaml`), ready
/// for `kubectl apply -f`.
pub fn all_crds_yaml() -> Result<String> {
    let mut out = String::from(GENERATED_HEADER);
    for crd in all_crds() {
        out.push_str("---\n");
        out.push_str(&crd_yaml(&crd)?);
    }
    Ok(out)
}
