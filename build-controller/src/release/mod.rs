//! The release: the manifests that install the controller ([`manifests`]) and the
//! least-privilege permissions they grant it ([`rbac`]).

pub mod manifests;
pub mod rbac;
