//! The Knative Build pod compiler. The forward leg is one composition, [`compose`]: a Build and
//! what it refers to (its template, ServiceAccount and Secrets, found through [`Lookup`]) go
//! in — defaults, validation, the template, the credential plan — and [`compile_pod`] lays out
//! the Pod that runs it, in Knative Build's layout ([`PodLayout`]: `build-step-*` init
//! containers, `/workspace`, `HOME=/builder/home`) so that users' habits (`kubectl logs POD -c
//! build-step-build`) and tools keep working. The way back is one decision, [`assess`]: what
//! the pod (mapped by [`status_from_pod`]) means for the Build — the status to write, whether
//! to stop the pod, when to look again; [`assess_start`] decides for a Build whose pod is not
//! there yet. The controller only fetches the inputs and carries out the decisions.
//! The status also records what was built from what: each source's commit, each step's
//! image digest and the results steps write to their termination message (the format
//! [`parse_results`] reads, [`format_results`] writes).
//!
//! The crate also ships two of the programs that run inside the pod, each a thin binary over a
//! module with its own error type: [`git_init`], which fetches a git source (its decisions,
//! [`git_init::fetch`], go through a [`Git`](git_init::Git) trait that tests fake;
//! [`git_init::run`] adds the real `git` CLI, and it reports the commit it checked out), and
//! [`nop`], the pod's last container.
//! (`creds-init` is `build-auth`'s, with the `~/.ssh` layout both share: `build_auth::ssh`.)
//!
//! Deliberately absent: async, I/O outside the in-pod programs' `run` functions, and any
//! knowledge of where a Build's template, ServiceAccount and Secrets come from: the caller
//! answers [`Lookup`] (the controller from its watch caches, [`Offline`] from loaded files).
//! Templates are resolved by `build-template` and credentials planned by `build-auth`; the
//! compiler only lays out what they return.
//!
//! ```
//! use build_auth::CredentialPlan;
//! use build_pod::{compile_pod, Images, PodInputs};
//! use build_types::{Build, BuildSpec};
//! use k8s_openapi::api::core::v1::Container;
//!
//! let steps = [Container {
//!     name: "say".into(),
//!     image: Some("busybox".into()),
//!     args: Some(vec!["echo".into(), "hello".into()]),
//!     ..Container::default()
//! }];
//! let mut build = Build::new("hello", BuildSpec { steps: steps.to_vec(), ..BuildSpec::default() });
//! build.metadata.namespace = Some("default".into());
//! build.spec.set_defaults();
//! let images = Images {
//!     creds_init: "creds-init".into(),
//!     git_init: "git-init".into(),
//!     gcs_fetcher: "gcs-fetcher".into(),
//!     nop: "nop".into(),
//! };
//! let pod = compile_pod(&PodInputs {
//!     build: &build.into_valid().unwrap(),
//!     steps: &steps,
//!     volumes: &[],
//!     credentials: &CredentialPlan::default(),
//!     images: &images,
//! })
//! .unwrap();
//! let spec = pod.spec.unwrap();
//! let names: Vec<_> = spec.init_containers.unwrap().into_iter().map(|c| c.name).collect();
//! assert_eq!(names, ["build-step-credential-initializer", "build-step-say"]);
//! assert_eq!(spec.active_deadline_seconds, Some(600));
//! ```

mod assess;
mod compile;
mod compose;
mod error;
pub mod git_init;
mod images;
mod layout;
mod name;
pub mod nop;
mod offline;
mod record;
mod results;
mod start;
mod status;

pub use assess::{
    Assessment, Policy, STOPPED_DEADLINE_SECONDS, Stop, Update, assess, creation_deadline,
    is_stopped,
};
pub use compile::{
    BUILD_NAME_LABEL, HELPER_USER, HOME_DIR, HOME_VOLUME, ISTIO_INJECT_ANNOTATION,
    MAX_CONTAINER_NAME_LEN, PodInputs, TERMINATION_GRACE_SECONDS, TERMINATION_MESSAGE_POLICY,
    WORKSPACE_DIR, WORKSPACE_VOLUME, compile_pod,
};
pub use compose::{
    ComposeError, ComposeInputs, Composed, DEFAULT_NAMESPACE, IMPLICIT_SERVICE_ACCOUNT, Lookup,
    compose,
};
pub use error::PodError;
pub use images::Images;
pub use layout::{
    CREDS_INIT_CONTAINER, NOP_CONTAINER, PodLayout, STEP_CONTAINER_PREFIX, init_container_status,
};
pub use name::{MAX_POD_NAME_LEN, OFFLINE_UID, pod_name, pod_name_of};
pub use offline::{Checked, Offline, Rendered, error_lines};
pub use record::CONTROLLER_VERSION;
pub use results::{
    KUBELET_CONTAINER_MESSAGE_LIMIT, KUBELET_POD_MESSAGE_LIMIT, MAX_RESULT_NAME_LEN,
    MAX_RESULT_VALUE_LEN, MAX_RESULTS_PER_STEP, ParsedResults, SOURCE_COMMIT, SOURCE_REVISION,
    SOURCE_URL, format_results, is_result_name, parse_results, termination_budget,
};
pub use start::{StartAttempt, StartDecision, assess_start};
pub use status::{has_ended, is_settled, status_from_pod, timeout_message};
