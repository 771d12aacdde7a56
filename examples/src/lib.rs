//! Programs that embed the knative-build-rs crates, and the seed's YAML (`examples/seed/`).
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
