//! A throw-away Kubernetes cluster on this machine, for the tests and harnesses that need real
//! components: a control plane alone ([`ControlPlane`]: etcd and kube-apiserver, optionally
//! kube-controller-manager, started by the envtest scripts in this crate's `envtest/`), or with
//! a node around it ([`Cluster`]: containerd, a CNI bridge, a kubelet, kube-proxy and
//! kube-scheduler), run inside a network namespace of its own ([`Netns`]) so that the host's
//! interfaces, routes and firewall are never touched.
//!
//! The binaries come from the directory `KUBEBUILDER_ASSETS` names (the envtest convention);
//! when some are missing, [`assets_or_skip`] prints one line naming them, for the caller to
//! skip. Every process started here is stopped by a guard's `Drop`, by handle or PID file and
//! never by name, also after SIGINT or SIGTERM once [`watch_signals`] runs.
//!
//! Used by `build-controller`'s envtest tests and by `cargo xtask e2e`, `chaos` and
//! `bench-controller`. It deliberately knows nothing of Knative Build (no `build-*` crate is a
//! dependency), so the controller's tests can depend on it. Test tooling, never published: as
//! the rest of xtask, it reports errors with `anyhow`.

mod api;
mod assets;
mod control_plane;
mod netns;
mod node;
mod process;
mod signals;

pub use api::{client_from, create_namespace, kubeconfig, wait_established};
pub use assets::{assets_or_skip, missing_line};
pub use control_plane::{ControlPlane, ControlPlaneInputs};
pub use netns::{Inside, Netns};
pub use node::{
    BRIDGE, Cluster, ClusterInputs, GATEWAY, KUBERNETES_SERVICE_IP, NODE, NodePart, POD_SUBNET,
    ctr, node_ready,
};
pub use process::{
    command_line, free_port, pids, process_alive, processes_naming, run_quiet, terminate,
};
pub use signals::{interrupted, until_interrupted, watch_signals};
