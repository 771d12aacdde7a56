//! [`CachedPod`]: a build pod as the controller's cache holds it.

use std::borrow::Cow;

use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStatus, Pod, PodCondition, PodSpec, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde::{Deserialize, Deserializer};

/// A build pod as the controller's cache holds it: only what a reconcile reads, in a compact
/// form; [`to_pod`](CachedPod::to_pod) gives it back as a `Pod`.
///
/// What is kept: the identity (name, namespace, UID, resource version, generation, owner
/// references, creation and deletion times), `spec.activeDeadlineSeconds`, the
/// containers' names (the order of the steps) and images, and the status the Build's status is
/// mapped from (phase, reason, message, start time, conditions, and per container its name,
/// image, image ID, readiness, restart count, state and last state, unless empty). Labels are
/// not kept: the watch selects build pods by label on the server, and nothing reads them after.
///
/// A build pod's spec (every step's arguments, environment, mounts and volumes) is most of its
/// size and is only ever written, never read back; with it goes what the kubelet adds (IPs, QoS
/// class, resources, mounts per container). And k8s-openapi's types are large even when
/// nearly empty: a `Container` is over 2 KiB inline and a `ContainerStatus` about 750 bytes,
/// so a cached `Pod` with four containers took over 14 KiB however little it kept. Here a
/// container is its name and image.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CachedPod {
    metadata: ObjectMeta,
    spec: Option<Spec>,
    status: Option<Box<Status>>,
}

/// What is kept of the pod's spec.
#[derive(Clone, Debug, Default, PartialEq)]
struct Spec {
    active_deadline_seconds: Option<i64>,
    init_containers: Option<Vec<Named>>,
    containers: Vec<Named>,
}

/// A container of the spec: its name and image.
#[derive(Clone, Debug, Default, PartialEq)]
struct Named {
    name: String,
    image: Option<String>,
}

/// What is kept of the pod's status.
#[derive(Clone, Debug, Default, PartialEq)]
struct Status {
    phase: Option<String>,
    reason: Option<String>,
    message: Option<String>,
    start_time: Option<Time>,
    conditions: Option<Vec<PodCondition>>,
    init_container_statuses: Option<Vec<ContainerKept>>,
    container_statuses: Option<Vec<ContainerKept>>,
}

/// What is kept of one container's status.
#[derive(Clone, Debug, Default, PartialEq)]
struct ContainerKept {
    name: String,
    image: String,
    image_id: String,
    ready: bool,
    restart_count: i32,
    started: Option<bool>,
    state: Option<Box<ContainerState>>,
    last_state: Option<Box<ContainerState>>,
}

impl From<Pod> for CachedPod {
    fn from(pod: Pod) -> Self {
        let meta = pod.metadata;
        let metadata = ObjectMeta {
            name: meta.name,
            namespace: meta.namespace,
            uid: meta.uid,
            resource_version: meta.resource_version,
            generation: meta.generation,
            owner_references: meta.owner_references,
            creation_timestamp: meta.creation_timestamp,
            deletion_timestamp: meta.deletion_timestamp,
            ..ObjectMeta::default()
        };
        let named = |containers: Vec<Container>| -> Vec<Named> {
            containers
                .into_iter()
                .map(|c| Named {
                    name: c.name,
                    image: c.image,
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
                    .into_iter()
                    .map(|s| ContainerKept {
                        name: s.name,
                        image: s.image,
                        image_id: s.image_id,
                        ready: s.ready,
                        restart_count: s.restart_count,
                        started: s.started,
                        state: s.state.map(Box::new),
                        // The API server sends `lastState: {}` for a container that never
                        // restarted: nothing to keep.
                        last_state: s
                            .last_state
                            .filter(|l| *l != ContainerState::default())
                            .map(Box::new),
                    })
                    .collect()
            })
        };
        let status = pod.status.map(|status| {
            Box::new(Status {
                phase: status.phase,
                reason: status.reason,
                message: status.message,
                start_time: status.start_time,
                conditions: status.conditions,
                init_container_statuses: kept(status.init_container_statuses),
                container_statuses: kept(status.container_statuses),
            })
        });
        CachedPod {
            metadata,
            spec,
            status,
        }
    }
}

impl CachedPod {
    /// The pod with what the cache keeps of it; every other field is empty.
    pub fn to_pod(&self) -> Pod {
        let containers = |named: &[Named]| -> Vec<Container> {
            named
                .iter()
                .map(|c| Container {
                    name: c.name.clone(),
                    image: c.image.clone(),
                    ..Container::default()
                })
                .collect()
        };
        let statuses = |kept: &[ContainerKept]| -> Vec<ContainerStatus> {
            kept.iter()
                .map(|s| ContainerStatus {
                    name: s.name.clone(),
                    image: s.image.clone(),
                    image_id: s.image_id.clone(),
                    ready: s.ready,
                    restart_count: s.restart_count,
                    started: s.started,
                    state: s.state.as_deref().cloned(),
                    last_state: s.last_state.as_deref().cloned(),
                    ..ContainerStatus::default()
                })
                .collect()
        };
        let spec = self.spec.as_ref().map(|spec| PodSpec {
            active_deadline_seconds: spec.active_deadline_seconds,
            init_containers: spec.init_containers.as_deref().map(containers),
            containers: containers(&spec.containers),
            ..PodSpec::default()
        });
        let status = self.status.as_deref().map(|status| PodStatus {
            phase: status.phase.clone(),
            reason: status.reason.clone(),
            message: status.message.clone(),
            start_time: status.start_time.clone(),
            conditions: status.conditions.clone(),
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

/// Decodes a `Pod` and keeps what [`CachedPod`] keeps.
impl<'de> Deserialize<'de> for CachedPod {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Pod::deserialize(deserializer).map(CachedPod::from)
    }
}

/// The Pod kind's identity, so that a watch of pods fills a cache of `CachedPod`s.
impl kube::Resource for CachedPod {
    type DynamicType = ();
    type Scope = k8s_openapi::NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        <Pod as kube::Resource>::kind(&())
    }

    fn group(_: &()) -> Cow<'_, str> {
        <Pod as kube::Resource>::group(&())
    }

    fn version(_: &()) -> Cow<'_, str> {
        <Pod as kube::Resource>::version(&())
    }

    fn plural(_: &()) -> Cow<'_, str> {
        <Pod as kube::Resource>::plural(&())
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}
