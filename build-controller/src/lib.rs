//! The Knative Build controller, and the same composition offline.
//!
//! The controller ([`run`]) watches Builds and what they refer to, and for each Build calls the
//! library crates: `build_pod::compose` turns a Build and what it refers to (looked up in the
//! controller's watch caches, [`stores`]) into the Pod that runs it, and `build_pod::assess`
//! decides what the pod means for the Build; [`reconcile`] reads the caches and writes the Pod,
//! its stop and the Build's status back to the cluster.
//!
//! The root holds what embedding the controller takes: [`run`], its [`Config`], the
//! [`Context`] reconciles share, and the [`Error`]. The rest is in modules:
//!
//! - [`ops`]: running it in production — `/healthz`, `/readyz` and `/metrics`
//!   ([`ops::http`], [`ops::metrics`]), leader election ([`ops::leader`]), Events
//!   ([`ops::events`]);
//! - [`release`]: the release manifests ([`release::manifests`]) and the least-privilege RBAC
//!   they grant ([`release::rbac`]);
//! - [`plugin`]: the `kubectl build` plugin, which lists, follows, describes, starts and cancels
//!   Builds, validates and renders them offline, and completes its own arguments;
//! - [`stores`], [`reconcile`]: the watch caches and one reconcile, for programs that drive
//!   the reconcile themselves;
//! - [`client`](mod@client): the API client the controller and the plugin use (kube's, over
//!   HTTP/2 where the server offers it).
//!
//! This crate holds no build logic of its own: substitution, credentials, pod layout and status
//! mapping live in `build-template`, `build-auth` and `build-pod`.

mod backoff;
pub mod client;
pub mod context;
mod controller;
mod error;
pub mod ops;
mod own_writes;
mod per_build;
pub mod plugin;
pub mod reconcile;
pub mod release;
mod sparse;
pub mod stores;

pub use client::client;
pub use context::{Config, Context};
pub use controller::{RUNNING_PODS, UNSETTLED_BUILDS, run};
pub use error::Error;
