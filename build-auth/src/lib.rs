//! Credentials for build pods, from the annotated Secrets of a Build's ServiceAccount.
//! (being written)

mod plan;

pub use plan::{CredentialPlan, Warning};
