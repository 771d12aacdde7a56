//! The Knative Build controller, and the same composition offline.
//!
//! [`compose`] is the one place where the library crates meet: a Build and what it refers to
//! (looked up through [`Lookup`]) become the Pod that runs it. The controller ([`run`],
//! [`reconcile`]) answers lookups from its watch caches and writes the Pod and the Build's status
//! back to the cluster; [`Offline`] answers them from YAML files, for the `validate` and `render`
//! subcommands and for programs that compile Builds without a cluster. The `kubectl build` plugin
//! ([`PluginCli`], [`execute`]) follows, describes, starts and cancels Builds on a cluster.
//!
//! This crate holds no build logic of its own: substitution, credentials, pod layout and status
//! mapping live in `build-template`, `build-auth` and `build-pod`.

mod context;
mod controller;
mod error;
mod events;
mod http;
mod leader;
mod manifests;
mod metrics;
mod plugin;
mod rbac;
mod reconcile;
mod stores;

pub use context::{
    Clock, Config, Context, DEFAULT_CONCURRENCY, DEFAULT_CONTROLLER_NAME, DEFAULT_IMAGE_PULL_GRACE,
    Metrics,
};
pub use controller::{run, run_observed, run_with_metrics};
pub use error::Error;
pub use events::{REPEAT_WINDOW, Recorder};
pub use http::{DEFAULT_METRICS_ADDRESS, Endpoints, Health, serve};
pub use leader::{DEFAULT_LEASE_NAME, LeaderElector, Leadership, LeaseSettings};
pub use manifests::{
    CLUSTER_ROLE_NAME, CONTROLLER_NAME, IMAGE_REPOSITORY, LEADER_ELECTION_ROLE_NAME, RELEASE_FILE,
    RELEASE_HEADER, RELEASE_NAMESPACE, RELEASE_REPLICAS, ReleaseObject, controller_image,
    release_args, release_images, release_objects, release_yaml,
};
pub use metrics::{
    Leading, METRICS_CONTENT_TYPE, METRICS_PREFIX, OTHER, ReconcileGuard, Telemetry, reason_label,
};
pub use plugin::{
    CancelArgs, ClusterArgs, DEFAULT_POLL, DescribeArgs, Format, ImageArgs, Io, LogsArgs,
    PluginCli, PluginCommand, PluginError, PluginExit, RenderArgs, RunArgs, Session, ShowArgs,
    Style, ValidateArgs, execute, execute_offline, render_files, report, validate_files,
};
pub use rbac::{ApiRequest, PERMISSIONS, Permission, Scope, policy_rules};
pub use reconcile::{error_policy, reconcile};
pub use stores::{
    CachesSynced, Stores, ready_store, strip_build_for_cache, strip_for_cache, strip_pod_for_cache,
    strip_secret_for_cache,
};
