//! [`CachedPod`]: a build pod as the controller's cache holds it.

use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, Pod, PodCondition, PodSpec, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use serde::{Deserialize, Deserializer};

use super::intern::Sym;

/// A build pod as the controller's cache holds it: only what a reconcile reads, in a compact
/// form; [`to_pod`](CachedPod::to_pod) gives it back as a `Pod`.
///
/// What is kept: the identity (name, namespace, UID, resource version, generation, owner
/// references, creation and deletion times), `spec.activeDeadlineSeconds`, the
/// containers' names (the order of the steps) and images, and the status the Build's status is
/// mapped from (phase, reason, message, start time, conditions but their probe times, and per
/// container its name, image, image ID, readiness, restart count, state and last state, unless
/// empty). Labels are not kept: the watch selects build pods by label on the server, and
/// nothing reads them after.
///
/// A build pod's spec (every step's arguments, environment, mounts and volumes) is most of its
/// size and is only ever written, never read back; with it goes what the kubelet adds (IPs, QoS
/// class, resources, mounts per container). And k8s-openapi's types are large even when
/// nearly empty: a `Container` is over 2 KiB inline, a `ContainerStatus` 752 bytes and a
/// `PodCondition` 160, so a cached `Pod` with four containers took over 14 KiB however little
/// it kept. Here a container is its name and image, and the texts that repeat from pod to pod
/// (phases, condition types and reasons, container names, images) are shared between all
/// cached pods instead of copied into each.
///
/// Decoding (the watch's) goes straight from the API server's JSON to this form: the fields not
/// kept are skipped, never allocated, so a pod costs 27 allocations to decode instead of the
/// 269 of a whole `Pod` (measured on a finished bench pod).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CachedPod {
    metadata: ObjectMeta,
    spec: Option<Box<Spec>>,
    status: Option<Box<Status>>,
}

/// What is kept of the pod's metadata.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Meta {
    name: Option<String>,
    namespace: Option<String>,
    uid: Option<String>,
    resource_version: Option<String>,
    generation: Option<i64>,
    owner_references: Option<Vec<OwnerReference>>,
    creation_timestamp: Option<Time>,
    deletion_timestamp: Option<Time>,
}

impl From<Meta> for ObjectMeta {
    fn from(meta: Meta) -> Self {
        ObjectMeta {
            name: meta.name,
            namespace: meta.namespace,
            uid: meta.uid,
            resource_version: meta.resource_version,
            generation: meta.generation,
            owner_references: meta.owner_references,
            creation_timestamp: meta.creation_timestamp,
            deletion_timestamp: meta.deletion_timestamp,
            ..ObjectMeta::default()
        }
    }
}

/// What is kept of the pod's spec.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Spec {
    active_deadline_seconds: Option<i64>,
    init_containers: Option<Box<[Named]>>,
    containers: Box<[Named]>,
}

/// A container of the spec: its name and image.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
struct Named {
    name: Sym,
    image: Option<Sym>,
}

/// What is kept of the pod's status.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Status {
    phase: Option<Sym>,
    reason: Option<Sym>,
    message: Option<Box<str>>,
    start_time: Option<Time>,
    conditions: Option<Box<[Condition]>>,
    init_container_statuses: Option<Box<[ContainerKept]>>,
    container_statuses: Option<Box<[ContainerKept]>>,
}

/// What is kept of a pod condition: all but its probe time and observed generation.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Condition {
    #[serde(rename = "type")]
    type_: Sym,
    status: Sym,
    reason: Option<Sym>,
    message: Option<Box<str>>,
    last_transition_time: Option<Time>,
}

/// What is kept of one container's status.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct ContainerKept {
    name: Sym,
    image: Sym,
    #[serde(rename = "imageID")]
    image_id: Sym,
    ready: bool,
    restart_count: i32,
    started: Option<bool>,
    state: Option<Box<State>>,
    last_state: Option<Box<State>>,
}

/// A container's state, whole.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
struct State {
    waiting: Option<Waiting>,
    running: Option<Running>,
    terminated: Option<Terminated>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
struct Waiting {
    reason: Option<Sym>,
    message: Option<Box<str>>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Running {
    started_at: Option<Time>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Terminated {
    #[serde(rename = "containerID")]
    container_id: Option<Box<str>>,
    exit_code: i32,
    signal: Option<i32>,
    reason: Option<Sym>,
    message: Option<Box<str>>,
    started_at: Option<Time>,
    finished_at: Option<Time>,
}

/// A pod as the API server sends it, decoded into what is kept; every other field is skipped
/// without being allocated.
#[derive(Deserialize)]
struct Wire {
    #[serde(default)]
    metadata: Meta,
    spec: Option<Spec>,
    status: Option<Status>,
}

impl From<Wire> for CachedPod {
    fn from(wire: Wire) -> Self {
        CachedPod {
            metadata: wire.metadata.into(),
            spec: wire.spec.map(Box::new),
            status: wire.status.map(|status| Box::new(status.tidied())),
        }
    }
}

impl Status {
    /// The API server sends `lastState: {}` for a container that never restarted: nothing to
    /// keep.
    fn tidied(mut self) -> Self {
        let statuses = [
            self.init_container_statuses.iter_mut(),
            self.container_statuses.iter_mut(),
        ];
        for kept in statuses.into_iter().flatten().flat_map(|s| s.iter_mut()) {
            if kept.last_state.as_deref() == Some(&State::default()) {
                kept.last_state = None;
            }
        }
        self
    }
}

/// Keeps what [`CachedPod`] keeps of a decoded `Pod`: the same as decoding it straight into a
/// `CachedPod`.
impl From<Pod> for CachedPod {
    fn from(pod: Pod) -> Self {
        let meta = pod.metadata;
        let metadata = Meta {
            name: meta.name,
            namespace: meta.namespace,
            uid: meta.uid,
            resource_version: meta.resource_version,
            generation: meta.generation,
            owner_references: meta.owner_references,
            creation_timestamp: meta.creation_timestamp,
            deletion_timestamp: meta.deletion_timestamp,
        };
        let named = |containers: Vec<Container>| -> Box<[Named]> {
            containers
                .iter()
                .map(|c| Named {
                    name: Sym::new(&c.name),
                    image: c.image.as_deref().map(Sym::new),
                })
                .collect()
        };
        let spec = pod.spec.map(|spec| Spec {
            active_deadline_seconds: spec.active_deadline_seconds,
            init_containers: spec.init_containers.map(named),
            containers: named(spec.containers),
        });
        let kept = |statuses: Option<Vec<ContainerStatus>>| {
            statuses.map(|statuses| {
                statuses
                    .iter()
                    .map(|s| ContainerKept {
                        name: Sym::new(&s.name),
                        image: Sym::new(&s.image),
                        image_id: Sym::new(&s.image_id),
                        ready: s.ready,
                        restart_count: s.restart_count,
                        started: s.started,
                        state: s.state.as_ref().map(|state| Box::new(state.into())),
                        last_state: s.last_state.as_ref().map(|state| Box::new(state.into())),
                    })
                    .collect()
            })
        };
        let status = pod.status.map(|status| Status {
            phase: status.phase.as_deref().map(Sym::new),
            reason: status.reason.as_deref().map(Sym::new),
            message: status.message.map(String::into_boxed_str),
            start_time: status.start_time,
            conditions: status.conditions.map(|conditions| {
                conditions
                    .into_iter()
                    .map(|c| Condition {
                        type_: Sym::new(&c.type_),
                        status: Sym::new(&c.status),
                        reason: c.reason.as_deref().map(Sym::new),
                        message: c.message.map(String::into_boxed_str),
                        last_transition_time: c.last_transition_time,
                    })
                    .collect()
            }),
            init_container_statuses: kept(status.init_container_statuses),
            container_statuses: kept(status.container_statuses),
        });
        CachedPod::from(Wire {
            metadata,
            spec,
            status,
        })
    }
}

impl From<&ContainerState> for State {
    fn from(state: &ContainerState) -> Self {
        State {
            waiting: state.waiting.as_ref().map(|w| Waiting {
                reason: w.reason.as_deref().map(Sym::new),
                message: w.message.as_deref().map(Box::from),
            }),
            running: state.running.as_ref().map(|r| Running {
                started_at: r.started_at.clone(),
            }),
            terminated: state.terminated.as_ref().map(|t| Terminated {
                container_id: t.container_id.as_deref().map(Box::from),
                exit_code: t.exit_code,
                signal: t.signal,
                reason: t.reason.as_deref().map(Sym::new),
                message: t.message.as_deref().map(Box::from),
                started_at: t.started_at.clone(),
                finished_at: t.finished_at.clone(),
            }),
        }
    }
}

impl From<&State> for ContainerState {
    fn from(state: &State) -> Self {
        let text = |sym: &Option<Sym>| sym.as_deref().map(str::to_owned);
        let owned = |text: &Option<Box<str>>| text.as_deref().map(str::to_owned);
        ContainerState {
            waiting: state.waiting.as_ref().map(|w| ContainerStateWaiting {
                reason: text(&w.reason),
                message: owned(&w.message),
            }),
            running: state.running.as_ref().map(|r| ContainerStateRunning {
                started_at: r.started_at.clone(),
            }),
            terminated: state.terminated.as_ref().map(|t| ContainerStateTerminated {
                container_id: owned(&t.container_id),
                exit_code: t.exit_code,
                signal: t.signal,
                reason: text(&t.reason),
                message: owned(&t.message),
                started_at: t.started_at.clone(),
                finished_at: t.finished_at.clone(),
            }),
        }
    }
}

impl CachedPod {
    /// The pod with what the cache keeps of it; every other field is empty.
    pub fn to_pod(&self) -> Pod {
        let text = |sym: &Option<Sym>| sym.as_deref().map(str::to_owned);
        let owned = |text: &Option<Box<str>>| text.as_deref().map(str::to_owned);
        let containers = |named: &[Named]| -> Vec<Container> {
            named
                .iter()
                .map(|c| Container {
                    name: c.name.to_string(),
                    image: text(&c.image),
                    ..Container::default()
                })
                .collect()
        };
        let statuses = |kept: &[ContainerKept]| -> Vec<ContainerStatus> {
            kept.iter()
                .map(|s| ContainerStatus {
                    name: s.name.to_string(),
                    image: s.image.to_string(),
                    image_id: s.image_id.to_string(),
                    ready: s.ready,
                    restart_count: s.restart_count,
                    started: s.started,
                    state: s.state.as_deref().map(ContainerState::from),
                    last_state: s.last_state.as_deref().map(ContainerState::from),
                    ..ContainerStatus::default()
                })
                .collect()
        };
        let spec = self.spec.as_deref().map(|spec| PodSpec {
            active_deadline_seconds: spec.active_deadline_seconds,
            init_containers: spec.init_containers.as_deref().map(containers),
            containers: containers(&spec.containers),
            ..PodSpec::default()
        });
        let status = self.status.as_deref().map(|status| PodStatus {
            phase: text(&status.phase),
            reason: text(&status.reason),
            message: owned(&status.message),
            start_time: status.start_time.clone(),
            conditions: status.conditions.as_deref().map(|conditions| {
                conditions
                    .iter()
                    .map(|c| PodCondition {
                        type_: c.type_.to_string(),
                        status: c.status.to_string(),
                        reason: text(&c.reason),
                        message: owned(&c.message),
                        last_transition_time: c.last_transition_time.clone(),
                        ..PodCondition::default()
                    })
                    .collect()
            }),
            init_container_statuses: status.init_container_statuses.as_deref().map(statuses),
            container_statuses: status.container_statuses.as_deref().map(statuses),
            ..PodStatus::default()
        });
        Pod {
            metadata: self.metadata.clone(),
            spec,
            status,
        }
    }
}

/// Decodes a pod straight into what [`CachedPod`] keeps.
impl<'de> Deserialize<'de> for CachedPod {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Wire::deserialize(deserializer).map(CachedPod::from)
    }
}

/// The Pod kind's identity, so that a watch of pods fills a cache of `CachedPod`s.
impl kube::Resource for CachedPod {
    type DynamicType = ();
    type Scope = k8s_openapi::NamespaceResourceScope;

    super::projection::identity_of!(Pod);

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}
