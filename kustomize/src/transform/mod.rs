//! kustomize's built-in transformers that are not patches, generators or
//! replacements: namespace, name prefix/suffix, labels, annotations, images,
//! replicas; plus the name-reference fix-up run once at the end and the
//! legacy output order.

pub mod annotations;
pub mod images;
pub mod labels;
pub mod name_reference;
pub mod namespace;
pub mod order;
pub mod prefix_suffix;
pub mod replicas;
pub mod scope;
