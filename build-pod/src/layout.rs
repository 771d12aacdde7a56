//! Which container of a build pod is which: the one description of the pod's layout that the
//! compiler, the status mapping and the `kubectl build` plugin share.

use std::ops::Range;

use build_types::{Build, SourceSpec};
use k8s_openapi::api::core::v1::{Container, ContainerStatus, Pod};

/// The prefix of every init container's name, as `kubectl logs POD -c build-step-build` expects.
pub const STEP_CONTAINER_PREFIX: &str = "build-step-";
/// The first init container, which runs `creds-init`.
pub const CREDS_INIT_CONTAINER: &str = "build-step-credential-initializer";
/// The one regular container of a build pod, which runs this crate's [`nop`](crate::nop).
pub const NOP_CONTAINER: &str = "nop";

/// The layout of a Build's pod. Its init containers run one at a time, in this order:
///
/// 1. the credential initializer, [`CREDS_INIT_CONTAINER`];
/// 2. one container per source (`spec.source`, then `spec.sources`), named by
///    [`PodLayout::source_container_name`];
/// 3. one container per step, named by [`PodLayout::step_container_name`].
///
/// The first two kinds are the helpers ([`PodLayout::helpers`]), the last the steps
/// ([`PodLayout::steps`]). The pod's one regular container, [`NOP_CONTAINER`], comes after them
/// all.
///
/// ```
/// use build_pod::PodLayout;
/// use build_types::{Build, BuildSpec, GitSourceSpec, SourceSpec};
///
/// let source = SourceSpec {
///     git: Some(GitSourceSpec { url: "https://example.com/r.git".into(), revision: "main".into() }),
///     ..SourceSpec::default()
/// };
/// let build = Build::new("b", BuildSpec { source: Some(source.clone()), ..BuildSpec::default() });
/// let layout = PodLayout::of(&build);
/// assert_eq!(layout.helpers(), 0..2);
/// assert_eq!(layout.steps(5), 2..5);
/// assert_eq!(
///     PodLayout::source_container_name(&source, 0).as_deref(),
///     Some("build-step-git-source-0")
/// );
/// assert_eq!(PodLayout::display_name("build-step-git-source-0"), "git-source-0");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PodLayout {
    /// How many sources the Build has (`spec.source` and `spec.sources` together).
    sources: usize,
}

impl PodLayout {
    /// The layout of `build`'s pod, which depends only on how many sources it has.
    pub fn of(build: &Build) -> Self {
        PodLayout {
            sources: build.spec.all_sources().len(),
        }
    }

    /// The indices of the helper init containers: the credential initializer at 0, then one
    /// per source.
    pub fn helpers(&self) -> Range<usize> {
        0..1 + self.sources
    }

    /// The indices of the steps' init containers in a pod with `init_containers` of them: all
    /// those after the helpers (none when there are no more).
    pub fn steps(&self, init_containers: usize) -> Range<usize> {
        let first = self.helpers().end;
        first..init_containers.max(first)
    }

    /// Whether the init container at `index` is a helper (the credential initializer or a
    /// source's) rather than a step.
    pub fn is_helper(&self, index: usize) -> bool {
        self.helpers().contains(&index)
    }

    /// The statuses of the steps' init containers of `pod`, in the order they run: matched by
    /// name to the pod's spec, or, for a pod without one, in the order the kubelet reports
    /// them (which is the spec's).
    pub fn step_statuses<'a>(&self, pod: &'a Pod) -> Vec<&'a ContainerStatus> {
        let statuses = pod
            .status
            .as_ref()
            .and_then(|s| s.init_container_statuses.as_deref())
            .unwrap_or_default();
        let specs = pod
            .spec
            .as_ref()
            .and_then(|s| s.init_containers.as_deref())
            .unwrap_or_default();
        if specs.is_empty() {
            let steps = statuses.get(self.steps(statuses.len()));
            return steps.unwrap_or_default().iter().collect();
        }
        let steps = specs.get(self.steps(specs.len())).unwrap_or_default();
        steps
            .iter()
            .filter_map(|spec| init_container_status(pod, &spec.name))
            .collect()
    }

    /// The name of the init container that fetches `source`, the `index`th of the Build's
    /// sources (counting `spec.source` and `spec.sources` together, from 0):
    /// `build-step-git-source-<name or index>`, `build-step-gcs-source-<name or index>` or
    /// `build-step-custom-source[-<name>]`. `None` for a source of no kind, which validation
    /// refuses.
    pub fn source_container_name(source: &SourceSpec, index: usize) -> Option<String> {
        let name = source.name.as_deref().filter(|name| !name.is_empty());
        let suffix = || name.map_or_else(|| index.to_string(), str::to_owned);
        let kind = if source.git.is_some() {
            format!("git-source-{}", suffix())
        } else if source.gcs.is_some() {
            format!("gcs-source-{}", suffix())
        } else if source.custom.is_some() {
            match name {
                Some(name) => format!("custom-source-{name}"),
                None => "custom-source".to_owned(),
            }
        } else {
            return None;
        };
        Some(format!("{STEP_CONTAINER_PREFIX}{kind}"))
    }

    /// The name of the init container of `step`, the `index`th resolved step (from 0):
    /// `build-step-<name>`, or `build-step-unnamed-<index>` for a step without a name.
    pub fn step_container_name(step: &Container, index: usize) -> String {
        if step.name.is_empty() {
            format!("{STEP_CONTAINER_PREFIX}unnamed-{index}")
        } else {
            format!("{STEP_CONTAINER_PREFIX}{}", step.name)
        }
    }

    /// What a user calls an init container: its name without the `build-step-` prefix
    /// (`build`, `git-source-0`, `credential-initializer`); another name as it is.
    pub fn display_name(container: &str) -> &str {
        container
            .strip_prefix(STEP_CONTAINER_PREFIX)
            .unwrap_or(container)
    }
}

/// The status the kubelet reports for the init container `name` of `pod`, if any yet.
pub fn init_container_status<'a>(pod: &'a Pod, name: &str) -> Option<&'a ContainerStatus> {
    pod.status
        .as_ref()?
        .init_container_statuses
        .iter()
        .flatten()
        .find(|status| status.name == name)
}
