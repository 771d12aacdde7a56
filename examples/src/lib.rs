//! Programs that embed the knative-build-rs crates, the seed's YAML (`examples/seed/`) and the
//! template catalog (`examples/templates/`, BuildTemplates to apply as they are; its README says
//! what each needs from the node and the cluster).
//!
//! - `cargo run -p build-examples --example compile_img` compiles the seed's img Build into a Pod
//!   using only the library crates: no cluster, no controller.
//! - `cargo run -p build-examples --example embed_controller` runs the controller inside a
//!   program of your own, against the cluster `KUBECONFIG` names.
//!
//! `cargo xtask test` runs both.

use std::path::{Path, PathBuf};

/// The directory holding the seed's YAML files.
pub fn seed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("seed")
}

/// The directory holding the template catalog: `buildkit.yaml`, `buildah-privileged.yaml` and
/// `buildah.yaml`.
pub fn templates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("templates")
}
