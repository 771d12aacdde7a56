//! Compiling a Build into the Pod that runs it, in Knative Build's layout.

use std::collections::BTreeMap;

use build_auth::CredentialPlan;
use build_types::{Build, FieldPath, GcsSourceSpec, GitSourceSpec, Report, SourceSpec, Valid};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, EmptyDirVolumeSource, EnvVar, Pod, PodSpec, SeccompProfile,
    SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::error::PodError;
use crate::images::Images;
use crate::layout::{CREDS_INIT_CONTAINER, NOP_CONTAINER, PodLayout};
use crate::name::{OFFLINE_UID, pod_name};

/// Where the sources are fetched and the steps start: the implicit `workspace` volume's mount.
pub const WORKSPACE_DIR: &str = "/workspace";
/// `$HOME` of every container: the implicit `home` volume's mount.
pub const HOME_DIR: &str = "/builder/home";
/// The name of the implicit emptyDir volume mounted at [`WORKSPACE_DIR`].
pub const WORKSPACE_VOLUME: &str = "workspace";
/// The name of the implicit emptyDir volume mounted at [`HOME_DIR`].
pub const HOME_VOLUME: &str = "home";
/// The label every build pod carries, with the Build's name as its value.
pub const BUILD_NAME_LABEL: &str = "build.knative.dev/buildName";
/// The annotation that keeps Istio from injecting a sidecar, which would keep the pod running.
pub const ISTIO_INJECT_ANNOTATION: &str = "sidecar.istio.io/inject";
/// The longest name a container may have (a DNS label).
pub const MAX_CONTAINER_NAME_LEN: usize = 63;

/// How long a stopped build's containers get between SIGTERM and SIGKILL: the pod's
/// `terminationGracePeriodSeconds`. A Build reports `BuildTimeout` or `BuildCancelled` the moment
/// its pod is stopped, and a step that ignores SIGTERM runs on for at most this long afterwards
/// (Kubernetes' default, which Knative Build kept, is 30 s).
pub const TERMINATION_GRACE_SECONDS: i64 = 5;
/// The `terminationMessagePolicy` of every init container: a container that fails without
/// writing `/dev/termination-log` reports the tail of its log instead, so the Build's failure
/// message can say why a step failed.
pub const TERMINATION_MESSAGE_POLICY: &str = "FallbackToLogsOnError";

/// The user and group the controller's own containers (the credential initializer, git-init,
/// the nop container) run as: the release images' `nonroot` user. With no privilege escalation,
/// no capability and RuntimeDefault seccomp, they meet Pod Security `restricted`, so a Build
/// whose steps meet it too runs in a namespace at that level.
pub const HELPER_USER: i64 = 65532;

/// `kubectl apply`'s record of the Build, meaningless on the pod; not copied.
const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// What [`compile_pod`] turns into a Pod.
#[derive(Clone, Copy, Debug)]
pub struct PodInputs<'a> {
    /// The Build, with its defaults applied (`BuildSpec::set_defaults`) and validated
    /// ([`Build::into_valid`]): its name, namespace, UID, labels and annotations, sources,
    /// ServiceAccount, node selector, affinity and timeout are used. Its `spec.steps` and
    /// `spec.volumes` are not: see `steps` and `volumes`. The rules validation enforces (one
    /// kind per source, a URL, location or image for each, one `subPath`) are not checked
    /// again.
    pub build: &'a Valid<Build>,
    /// The steps to run, already resolved: the Build's own steps, or its template's with the
    /// arguments substituted (`build_template::resolve`).
    pub steps: &'a [Container],
    /// The volumes the steps may mount, already resolved: the Build's volumes, then its
    /// template's, as `build_template::resolve` returns them.
    pub volumes: &'a [Volume],
    /// The credentials (`build_auth::plan`): arguments and mounts for the credential
    /// initializer, volumes for the pod.
    pub credentials: &'a CredentialPlan,
    /// The images of the helper containers.
    pub images: &'a Images,
}

/// Compiles a resolved Build into the Pod that runs it. Pure and deterministic: the same
/// inputs give the same Pod.
///
/// The layout is Knative Build's:
///
/// - Every container that does work is an init container, so they run one at a time, in
///   [`PodLayout`]'s order: [`CREDS_INIT_CONTAINER`]; then one per source —
///   `build-step-git-source-<name or index>` (`git-init -url U -revision R [-path P]`),
///   `build-step-gcs-source-<name or index>` (`--type T --location L [--dest_dir
///   /workspace/P]`) or `build-step-custom-source[-<name>]` (the user's container); then the
///   steps as `build-step-<name>`, or `build-step-unnamed-<i>` (`i` counting the steps from 0).
///   The source index counts `spec.source` and `spec.sources` together, from 0.
/// - The implicit emptyDir volumes `workspace` and `home` are mounted at [`WORKSPACE_DIR`] and
///   [`HOME_DIR`] in every init container, `HOME=/builder/home` comes first in every env, and
///   `workingDir` defaults to [`WORKSPACE_DIR`]. A step or custom source that mounts one of its
///   own volumes at one of those paths keeps its own mount. A source's `subPath` applies to the
///   steps' workspace mount only, not to the containers that fetch the sources (a custom
///   source is one of those).
/// - The one regular container is [`NOP_CONTAINER`]; `restartPolicy: Never`;
///   `activeDeadlineSeconds` is the Build's timeout, rounded up to a second, so the kubelet stops
///   an overdue build even while the controller is down;
///   `terminationGracePeriodSeconds` is [`TERMINATION_GRACE_SECONDS`], and every init container
///   without a policy of its own gets [`TERMINATION_MESSAGE_POLICY`].
/// - The pod is named by [`pod_name`], in the Build's namespace, with a controller owner
///   reference to the Build (UID [`OFFLINE_UID`] when it has none), the Build's labels plus
///   [`BUILD_NAME_LABEL`], and the Build's annotations (but `kubectl`'s
///   last-applied-configuration) over `sidecar.istio.io/inject: "false"`.
/// - Volumes: the resolved ones, then `workspace` and `home`, then the credential plan's. Its
///   mounts go to the credential initializer only.
///
/// Fails with [`PodError::Invalid`], listing every problem with its field path: colliding
/// volume names (a volume named `workspace`, the same name in the Build and its template),
/// mounts of volumes that do not exist, colliding or over-long container names, sources without
/// a URL, revision or location, a step without an image, a non-positive timeout.
pub fn compile_pod(inputs: &PodInputs<'_>) -> Result<Pod, PodError> {
    let build: &Build = inputs.build;
    let build_name = build.metadata.name.clone().unwrap_or_default();
    let mut problems = Report::new();
    if build_name.is_empty() {
        problems.error("metadata.name", "missing");
    }
    let containers = init_containers(inputs, &mut problems);
    let volumes = collect_volumes(inputs, &mut problems);
    check_mounts(inputs, &volumes, &mut problems);
    let timeout = build.spec.timeout_or_default();
    if timeout.as_nanos() <= 0 {
        problems.error(
            "spec.timeout",
            format!("must be positive, got {:?}", timeout.to_string()),
        );
    }
    if let Err(problems) = problems.check() {
        return Err(PodError::Invalid {
            build: build_name,
            problems,
        });
    }
    Ok(Pod {
        metadata: pod_metadata(build, build_name),
        spec: Some(PodSpec {
            restart_policy: Some("Never".to_owned()),
            active_deadline_seconds: Some(timeout.as_secs_ceil()),
            termination_grace_period_seconds: Some(TERMINATION_GRACE_SECONDS),
            init_containers: Some(containers.into_containers()),
            containers: vec![Container {
                name: NOP_CONTAINER.to_owned(),
                image: Some(inputs.images.nop.clone()),
                security_context: Some(helper_security(true)),
                ..Container::default()
            }],
            service_account_name: Some(build.spec.service_account().to_owned()),
            node_selector: build.spec.node_selector.clone(),
            affinity: build.spec.affinity.clone(),
            volumes: Some(volumes),
            ..PodSpec::default()
        }),
        status: None,
    })
}

/// The init containers in [`PodLayout`]'s order — the credential initializer, one per source,
/// the steps — with the problems of their sources, images and names.
fn init_containers(inputs: &PodInputs<'_>, problems: &mut Report) -> Containers {
    let mut containers = Containers::default();
    let mut creds_mounts = implicit_mounts(None);
    creds_mounts.extend(inputs.credentials.volume_mounts.iter().cloned());
    containers.push(
        FieldPath::within("credential initializer"),
        Container {
            name: CREDS_INIT_CONTAINER.to_owned(),
            image: Some(inputs.images.creds_init.clone()),
            args: non_empty(inputs.credentials.args.clone()),
            env: Some(implicit_env()),
            volume_mounts: Some(creds_mounts),
            working_dir: Some(WORKSPACE_DIR.to_owned()),
            security_context: Some(helper_security(true)),
            ..Container::default()
        },
    );
    let sub_path = push_sources(inputs, &mut containers, problems);
    for (index, step) in inputs.steps.iter().enumerate() {
        let path = step_path(inputs.build, index);
        let name = PodLayout::step_container_name(step, index);
        check_image(step, &path, problems);
        containers.push(path, step_container(step, name, sub_path.as_deref()));
    }
    containers.check_names(problems);
    containers
}

/// Adds one container per source, which fetches it; returns the `subPath` of the steps'
/// workspace mount, if a source sets one. Validation guarantees that each source has exactly
/// one kind, and that at most one sets `subPath`.
fn push_sources(
    inputs: &PodInputs<'_>,
    containers: &mut Containers,
    problems: &mut Report,
) -> Option<String> {
    let build: &Build = inputs.build;
    let mut workspace_sub_path: Option<String> = None;
    for (index, source) in build.spec.all_sources().into_iter().enumerate() {
        if let Some(sub_path) = source.sub_path.as_deref().filter(|s| !s.is_empty()) {
            workspace_sub_path.get_or_insert_with(|| sub_path.to_owned());
        }
        let Some(name) = PodLayout::source_container_name(source, index) else {
            continue;
        };
        let path = source_path(build, index);
        if let Some(git) = &source.git {
            check_git(git, &path, problems);
            containers.push(path, git_container(inputs.images, source, git, name));
        } else if let Some(gcs) = &source.gcs {
            containers.push(path, gcs_container(inputs.images, source, gcs, name));
        } else if let Some(custom) = &source.custom {
            containers.push(path.join("custom"), step_container(custom, name, None));
        }
    }
    workspace_sub_path
}

/// Every mount of the credential plan, a custom source or a step must name one of `volumes`.
fn check_mounts(inputs: &PodInputs<'_>, volumes: &[Volume], problems: &mut Report) {
    let build: &Build = inputs.build;
    let volume_names: Vec<&str> = volumes.iter().map(|v| v.name.as_str()).collect();
    let mut check = |mounts: &[VolumeMount], path: FieldPath| {
        for (index, mount) in mounts.iter().enumerate() {
            if !volume_names.contains(&mount.name.as_str()) {
                problems.error(
                    path.join(index).join("name"),
                    format!("no volume named {:?}", mount.name),
                );
            }
        }
    };
    let credentials = FieldPath::new("credentials").join("volumeMounts");
    check(&inputs.credentials.volume_mounts, credentials);
    let custom_sources =
        build
            .spec
            .all_sources()
            .into_iter()
            .enumerate()
            .filter_map(|(index, source)| {
                let custom = source.custom.as_deref()?;
                Some((source_path(build, index).join("custom"), custom))
            });
    let steps = (0..inputs.steps.len()).map(|index| step_path(build, index));
    for (path, container) in custom_sources.chain(steps.zip(inputs.steps)) {
        let mounts = container.volume_mounts.as_deref().unwrap_or_default();
        check(mounts, path.join("volumeMounts"));
    }
}

/// The pod's name, namespace, labels, annotations and controller owner reference.
fn pod_metadata(build: &Build, build_name: String) -> ObjectMeta {
    let mut labels = build.metadata.labels.clone().unwrap_or_default();
    labels.insert(BUILD_NAME_LABEL.to_owned(), build_name.clone());
    let mut annotations =
        BTreeMap::from([(ISTIO_INJECT_ANNOTATION.to_owned(), "false".to_owned())]);
    annotations.extend(
        build
            .metadata
            .annotations
            .iter()
            .flatten()
            .filter(|(key, _)| key.as_str() != LAST_APPLIED_ANNOTATION)
            .map(|(key, value)| (key.clone(), value.clone())),
    );
    let uid = build
        .metadata
        .uid
        .clone()
        .filter(|uid| !uid.is_empty())
        .unwrap_or_else(|| OFFLINE_UID.to_owned());
    ObjectMeta {
        name: Some(pod_name(build)),
        namespace: build.metadata.namespace.clone(),
        labels: Some(labels),
        annotations: Some(annotations),
        owner_references: Some(vec![OwnerReference {
            api_version: format!("{}/{}", build_types::GROUP, build_types::VERSION),
            kind: "Build".to_owned(),
            name: build_name,
            uid,
            controller: Some(true),
            block_owner_deletion: Some(true),
        }]),
        ..ObjectMeta::default()
    }
}

/// Whether `name` is an RFC 1123 label, as Kubernetes requires of container names (length is
/// checked separately).
fn is_dns_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    let inner = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-';
    let edge = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.iter().all(inner)
        && bytes.first().is_some_and(edge)
        && bytes.last().is_some_and(edge)
}

/// The init containers in order, each with the field path it came from.
#[derive(Default)]
struct Containers {
    entries: Vec<(FieldPath, Container)>,
}

impl Containers {
    fn push(&mut self, path: FieldPath, container: Container) {
        self.entries.push((path, container));
    }

    fn check_names(&self, problems: &mut Report) {
        let mut seen: BTreeMap<&str, &FieldPath> = BTreeMap::new();
        for (path, container) in &self.entries {
            let name = container.name.as_str();
            if name.len() > MAX_CONTAINER_NAME_LEN {
                problems.error(
                    path.join("name"),
                    format!(
                        "container name {name:?} is longer than {MAX_CONTAINER_NAME_LEN} characters"
                    ),
                );
            }
            if !is_dns_label(name) {
                problems.error(
                    path.join("name"),
                    format!(
                        "container name {name:?} is not a DNS label (lower-case letters, digits and '-', starting and ending with a letter or digit): the API server would reject the pod"
                    ),
                );
            }
            if let Some(first) = seen.insert(name, path) {
                problems.error(
                    path.join("name"),
                    format!("container name {name:?} is already used by {first}"),
                );
            }
        }
    }

    /// The containers, each reporting the tail of its log as its termination message when it
    /// fails without writing one (unless it chose a policy of its own).
    fn into_containers(self) -> Vec<Container> {
        self.entries
            .into_iter()
            .map(|(_, mut container)| {
                container
                    .termination_message_policy
                    .get_or_insert_with(|| TERMINATION_MESSAGE_POLICY.to_owned());
                container
            })
            .collect()
    }
}

fn git_container(
    images: &Images,
    source: &SourceSpec,
    git: &GitSourceSpec,
    name: String,
) -> Container {
    let mut args = vec![
        "-url".to_owned(),
        git.url.clone(),
        "-revision".to_owned(),
        git.revision.clone(),
    ];
    if let Some(target) = source.target_path.as_deref().filter(|t| !t.is_empty()) {
        args.extend(["-path".to_owned(), target.to_owned()]);
    }
    fetcher(name, &images.git_init, args, true)
}

fn gcs_container(
    images: &Images,
    source: &SourceSpec,
    gcs: &GcsSourceSpec,
    name: String,
) -> Container {
    let mut args = vec![
        "--type".to_owned(),
        gcs.type_.as_str().to_owned(),
        "--location".to_owned(),
        gcs.location.clone(),
    ];
    if let Some(target) = source.target_path.as_deref().filter(|t| !t.is_empty()) {
        args.extend([
            "--dest_dir".to_owned(),
            format!("{WORKSPACE_DIR}/{}", target.trim_start_matches('/')),
        ]);
    }
    fetcher(name, &images.gcs_fetcher, args, false)
}

/// A source's fetcher; `ours` for git-init (see [`helper_security`]).
fn fetcher(name: String, image: &str, args: Vec<String>, ours: bool) -> Container {
    Container {
        name,
        image: Some(image.to_owned()),
        args: Some(args),
        env: Some(implicit_env()),
        volume_mounts: Some(implicit_mounts(None)),
        working_dir: Some(WORKSPACE_DIR.to_owned()),
        security_context: Some(helper_security(ours)),
        ..Container::default()
    }
}

/// The securityContext of a container the controller adds: no privilege escalation, no
/// capability, RuntimeDefault seccomp; and for the controller's own images (`ours`), user and
/// group [`HELPER_USER`], so that Pod Security `restricted` admits them whatever user the image
/// names. The GCS fetcher's image is Google's, so its user is left to it.
fn helper_security(ours: bool) -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_owned()]),
            add: None,
        }),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".to_owned(),
            localhost_profile: None,
        }),
        run_as_non_root: ours.then_some(true),
        run_as_user: ours.then_some(HELPER_USER),
        run_as_group: ours.then_some(HELPER_USER),
        ..SecurityContext::default()
    }
}

/// A user's container (a step or a custom source) with the implicit env, mounts and working
/// directory added.
fn step_container(step: &Container, name: String, workspace_sub_path: Option<&str>) -> Container {
    let mut container = step.clone();
    container.name = name;

    let mut env = implicit_env();
    env.extend(step.env.iter().flatten().cloned());
    container.env = Some(env);

    let mut mounts = step.volume_mounts.clone().unwrap_or_default();
    let taken: Vec<String> = mounts.iter().map(|m| clean_path(&m.mount_path)).collect();
    for implicit in implicit_mounts(workspace_sub_path) {
        if !taken.contains(&clean_path(&implicit.mount_path)) {
            mounts.push(implicit);
        }
    }
    container.volume_mounts = Some(mounts);

    if container.working_dir.as_deref().is_none_or(str::is_empty) {
        container.working_dir = Some(WORKSPACE_DIR.to_owned());
    }
    container
}

fn implicit_env() -> Vec<EnvVar> {
    vec![EnvVar {
        name: "HOME".to_owned(),
        value: Some(HOME_DIR.to_owned()),
        value_from: None,
    }]
}

fn implicit_mounts(workspace_sub_path: Option<&str>) -> Vec<VolumeMount> {
    vec![
        VolumeMount {
            name: WORKSPACE_VOLUME.to_owned(),
            mount_path: WORKSPACE_DIR.to_owned(),
            sub_path: workspace_sub_path.map(str::to_owned),
            ..VolumeMount::default()
        },
        VolumeMount {
            name: HOME_VOLUME.to_owned(),
            mount_path: HOME_DIR.to_owned(),
            ..VolumeMount::default()
        },
    ]
}

fn implicit_volumes() -> [Volume; 2] {
    [WORKSPACE_VOLUME, HOME_VOLUME].map(|name| Volume {
        name: name.to_owned(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Volume::default()
    })
}

/// The resolved volumes, the implicit ones and the credential volumes, in that order; every
/// name clash is a problem.
fn collect_volumes(inputs: &PodInputs<'_>, problems: &mut Report) -> Vec<Volume> {
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for (index, volume) in inputs.volumes.iter().enumerate() {
        let path = volume_path(inputs.build, index);
        if volume.name == WORKSPACE_VOLUME || volume.name == HOME_VOLUME {
            problems.error(
                path.join("name"),
                format!(
                    "{:?} is reserved for the implicit volume mounted at {}",
                    volume.name,
                    if volume.name == WORKSPACE_VOLUME {
                        WORKSPACE_DIR
                    } else {
                        HOME_DIR
                    }
                ),
            );
        } else if let Some(first) = seen.get(&volume.name) {
            problems.error(
                path.join("name"),
                format!("{:?} is already used by {first}", volume.name),
            );
        } else {
            seen.insert(volume.name.clone(), path.to_string());
        }
    }
    for name in [WORKSPACE_VOLUME, HOME_VOLUME] {
        seen.entry(name.to_owned())
            .or_insert_with(|| "the implicit volumes".to_owned());
    }
    for (index, volume) in inputs.credentials.volumes.iter().enumerate() {
        let path = FieldPath::new("credentials").join("volumes").join(index);
        if let Some(first) = seen.get(&volume.name) {
            problems.error(
                path.join("name"),
                format!("{:?} is already used by {first}", volume.name),
            );
        } else {
            seen.insert(volume.name.clone(), path.to_string());
        }
    }

    let mut volumes = inputs.volumes.to_vec();
    volumes.extend(implicit_volumes());
    volumes.extend(inputs.credentials.volumes.iter().cloned());
    volumes
}

fn check_git(git: &GitSourceSpec, path: &FieldPath, problems: &mut Report) {
    if git.revision.trim().is_empty() {
        problems.error(path.join("git").join("revision"), "missing");
    }
}

fn check_image(container: &Container, path: &FieldPath, problems: &mut Report) {
    if container
        .image
        .as_deref()
        .is_none_or(|i| i.trim().is_empty())
    {
        problems.error(path.join("image"), "missing");
    }
}

/// The field path of the `index`th of `BuildSpec::all_sources`.
fn source_path(build: &Build, index: usize) -> FieldPath {
    let spec = FieldPath::new("spec");
    match (&build.spec.source, index) {
        (Some(_), 0) => spec.join("source"),
        (Some(_), i) => spec.join("sources").join(i - 1),
        (None, i) => spec.join("sources").join(i),
    }
}

/// The field path of the `index`th resolved step: the template's when the Build names one.
fn step_path(build: &Build, index: usize) -> FieldPath {
    let steps = match &build.spec.template {
        Some(template) => FieldPath::within(format!("template {:?}", template.name)).join("steps"),
        None => FieldPath::new("spec").join("steps"),
    };
    steps.join(index)
}

/// The field path of the `index`th resolved volume: the Build's come first, then the template's.
fn volume_path(build: &Build, index: usize) -> FieldPath {
    let own = build.spec.volumes.len();
    match &build.spec.template {
        Some(template) if index >= own => {
            let template = FieldPath::within(format!("template {:?}", template.name));
            template.join("volumes").join(index - own)
        }
        _ => FieldPath::new("spec").join("volumes").join(index),
    }
}

fn non_empty<T>(items: Vec<T>) -> Option<Vec<T>> {
    (!items.is_empty()).then_some(items)
}

/// A mount path with `.` segments, repeated and trailing slashes removed and `..` resolved, as
/// Go's `filepath.Clean` does, so `/workspace/` and `/workspace` are the same mount point.
fn clean_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    let joined = parts.join("/");
    if path.starts_with('/') {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".to_owned()
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::clean_path;

    #[test]
    fn cleans_paths_like_go() {
        for (input, cleaned) in [
            ("/workspace", "/workspace"),
            ("/workspace/", "/workspace"),
            ("//workspace//", "/workspace"),
            ("/workspace/./", "/workspace"),
            ("/builder/x/../home", "/builder/home"),
            ("/", "/"),
            ("a/b/", "a/b"),
            ("", "."),
        ] {
            assert_eq!(clean_path(input), cleaned, "{input:?}");
        }
    }
}
