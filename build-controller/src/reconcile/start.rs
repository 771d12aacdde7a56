//! Rules 3–5: a Build without a pod is composed ([`compose`]) and its pod created, or the
//! Build fails or waits for what it lacks.

use build_pod::{ComposeError, ComposeInputs, compose, creation_deadline};
use build_types::{Build, Condition, ConditionStatus, Reason};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
use kube::Resource;
use kube::api::PostParams;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use tracing::{debug, info};

use super::io::Reconcile;
use crate::client::create_as;
use crate::error::{Error, is_api_reason};
use crate::stores::CachedPod;

/// How [`Reconcile::start`] ended.
pub(super) enum Started {
    /// The Build's pod, created now or found created.
    Pod(Box<Pod>),
    /// No pod: the status says why; what to do next.
    Not(Action),
}

impl Reconcile<'_> {
    /// Compiles the Build and creates its pod, or records why it cannot.
    pub(super) async fn start(&self) -> Result<Started, Error> {
        let composed = compose(&ComposeInputs {
            build: self.build,
            lookup: &self.ctx.stores,
            images: &self.ctx.config.images,
        });
        let composed = match composed {
            Ok(composed) => composed,
            Err(error) if error.is_missing_dependency() => {
                return self.wait_for(&error).await.map(Started::Not);
            }
            // 3. Invalid: every problem is in the message.
            Err(error) => {
                return self
                    .fail(error.reason(), error.to_string())
                    .await
                    .map(Started::Not);
            }
        };
        // 4. It waited for a template, ServiceAccount or Secret that appeared only after the
        // timeout passed (while the controller was down, or a wake-up was missed): too late.
        let waited = self.old.succeeded().is_some_and(|c| {
            c.status == ConditionStatus::Unknown
                && self.old.reason().is_some_and(Reason::is_waiting)
        });
        if waited && self.now >= self.deadline() {
            let waited_for = self
                .old
                .succeeded()
                .and_then(|c| c.message.clone())
                .unwrap_or_default();
            let message = format!("{}; it waited for: {waited_for}", self.timeout_message());
            return self
                .fail(Reason::BuildTimeout, message)
                .await
                .map(Started::Not);
        }
        for warning in composed.warnings.warnings() {
            info!(warning = %warning, "build compiled with a warning");
        }
        let mut pod = composed.pod;
        self.adopt(&mut pod);

        // 5. Create the pod; AlreadyExists for our own pod is success.
        let pod = match self.create_pod(&pod).await {
            Ok(created) => {
                self.ctx.own_writes.created_pod(&created);
                self.ctx.telemetry.pod_created(self.build, self.now);
                info!(pod = %self.pod_name, "created build pod");
                let warnings: Vec<String> = composed
                    .warnings
                    .warnings()
                    .map(ToString::to_string)
                    .collect();
                let note = match warnings.as_slice() {
                    [] => format!("Created pod {:?}", self.pod_name),
                    warnings => format!(
                        "Created pod {:?}; warnings: {}",
                        self.pod_name,
                        warnings.join("; ")
                    ),
                };
                self.publish(EventType::Normal, "Started", note).await;
                created.to_pod()
            }
            Err(error) if is_api_reason(&error, "AlreadyExists") => {
                debug!(pod = %self.pod_name, "build pod already exists");
                let existing = match self.cached_pod() {
                    Some(pod) => Some(pod),
                    None => self.get_pod().await?,
                };
                let Some(existing) = existing else {
                    // Deleted again between the create and the read: start over.
                    return Err(Error::CreatePod {
                        namespace: self.namespace.clone(),
                        name: self.pod_name.clone(),
                        source: error,
                    });
                };
                self.check_owner(&existing)?;
                existing
            }
            // The API server says the pod itself is wrong: the same pod will never be accepted.
            Err(kube::Error::Api(response)) if matches!(response.code, 400 | 422) => {
                let message = format!(
                    "the API server rejected pod {:?}: {}",
                    self.pod_name, response.message
                );
                return self
                    .fail(Reason::BuildExecuteFailed, message)
                    .await
                    .map(Started::Not);
            }
            // Anything else may pass (quota, a webhook, the network): retry with backoff, but
            // not past the timeout.
            Err(source) => {
                if self.now >= self.deadline() {
                    let message = format!(
                        "{}; its pod could not be created: {source}",
                        self.timeout_message()
                    );
                    return self
                        .fail(Reason::BuildTimeout, message)
                        .await
                        .map(Started::Not);
                }
                return Err(Error::CreatePod {
                    namespace: self.namespace.clone(),
                    name: self.pod_name.clone(),
                    source,
                });
            }
        };
        Ok(Started::Pod(Box::new(pod)))
    }

    /// Creates `pod`, and reads the API server's answer as the pod cache would hold it: what
    /// the reconcile reads of the created pod is what it reads of a cached one, and decoding
    /// the whole answer (every step's arguments, environment and mounts, now with the API
    /// server's defaults) was most of the work of a pod create on the controller's side.
    async fn create_pod(&self, pod: &Pod) -> Result<CachedPod, kube::Error> {
        let params = PostParams {
            field_manager: Some(self.ctx.config.controller_name.clone()),
            ..PostParams::default()
        };
        let url = Pod::url_path(&(), Some(&self.namespace));
        create_as(&self.ctx.client, &url, &params, pod).await
    }

    /// 4. A template, ServiceAccount or Secret is missing: wait for it, until the timeout.
    async fn wait_for(&self, missing: &ComposeError) -> Result<Action, Error> {
        let deadline = self.deadline();
        if self.now >= deadline {
            let message = format!("{}; still waiting: {missing}", self.timeout_message());
            return self.fail(Reason::BuildTimeout, message).await;
        }
        let mut status = self.old.clone();
        status.set_condition(
            Condition::succeeded(
                ConditionStatus::Unknown,
                missing.reason(),
                missing.to_string(),
            ),
            Time(self.now),
        );
        self.write_status(status).await?;
        Ok(self.requeue_at(deadline))
    }

    /// Fails the Build, which has no pod, with `reason` and `message`.
    async fn fail(&self, reason: Reason, message: String) -> Result<Action, Error> {
        let mut status = self.old.clone();
        status.fail(reason, message, Time(self.now));
        self.write_status(status).await?;
        Ok(Action::await_change())
    }

    /// The deadline while the Build has no pod: its creation plus its timeout.
    fn deadline(&self) -> k8s_openapi::jiff::Timestamp {
        creation_deadline(self.build, self.now)
    }

    fn timeout_message(&self) -> String {
        build_pod::timeout_message(self.build)
    }

    /// Makes sure the compiled pod has our name, namespace and controller owner reference.
    fn adopt(&self, pod: &mut Pod) {
        pod.metadata.name = Some(self.pod_name.clone());
        pod.metadata.namespace = Some(self.namespace.clone());
        let owners = pod.metadata.owner_references.get_or_insert_with(Vec::new);
        if !owners.iter().any(|o| o.uid == self.uid) {
            owners.push(OwnerReference {
                api_version: Build::api_version(&()).into_owned(),
                kind: Build::kind(&()).into_owned(),
                name: self.name.clone(),
                uid: self.uid.clone(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            });
        }
    }
}
