//! Rules 3–5: a Build without a pod is composed ([`compose`]) and its pod created, or the
//! Build fails or waits for what it lacks, as [`assess_start`] decides.

use build_pod::{
    ComposeInputs, Composed, StartAttempt, StartDecision, Update, assess_start, compose,
};
use k8s_openapi::api::core::v1::Pod;
use kube::Resource;
use kube::api::PostParams;
use kube::runtime::events::EventType;
use tracing::{debug, info};

use super::io::Reconcile;
use crate::client::create_as;
use crate::error::{Error, is_api_reason};
use crate::stores::CachedPod;

/// How [`Reconcile::start`] ended.
// One value per reconcile, moved once: boxing the status would buy nothing.
#[allow(clippy::large_enum_variant)]
pub(super) enum Started {
    /// The Build's pod, created now or found created.
    Pod(Box<Pod>),
    /// No pod: the status to write instead (the Build fails, or waits for what it lacks).
    Not(Update),
}

impl Reconcile<'_> {
    /// Compiles the Build and creates its pod, or says which status to write instead.
    pub(super) async fn start(&self) -> Result<Started, Error> {
        let composed = compose(&ComposeInputs {
            build: self.build,
            lookup: &self.ctx.stores,
            images: &self.ctx.config.images,
        });
        let mut attempt = StartAttempt::Composed(composed);
        // At most twice round: composed, then created or not.
        loop {
            let composed = match assess_start(self.build, attempt, self.now) {
                StartDecision::CreatePod(composed) => composed,
                StartDecision::Update(update) => return Ok(Started::Not(update)),
                StartDecision::Retry(source) => {
                    return Err(Error::CreatePod {
                        namespace: self.namespace.clone(),
                        name: self.pod_name.clone(),
                        source,
                    });
                }
            };
            for warning in composed.warnings.warnings() {
                info!(warning = %warning, "build compiled with a warning");
            }
            // 5. Create the pod; AlreadyExists for our own pod is success.
            attempt = match self.create_pod(&composed.pod).await {
                Ok(created) => {
                    self.announce(&created, &composed).await;
                    return Ok(Started::Pod(Box::new(created.to_pod())));
                }
                Err(error) if is_api_reason(&error, "AlreadyExists") => {
                    let existing = self.existing_pod(error).await?;
                    return Ok(Started::Pod(Box::new(existing)));
                }
                // The API server says the pod itself is wrong: the same pod will never be
                // accepted.
                Err(kube::Error::Api(response)) if matches!(response.code, 400 | 422) => {
                    StartAttempt::Rejected(response.message)
                }
                // Anything else may pass (quota, a webhook, the network).
                Err(source) => StartAttempt::NotCreated(source),
            };
        }
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
        let own_writes = &self.ctx.own_writes;
        own_writes.creating_pod(&self.namespace, &self.pod_name);
        let created = create_as(&self.ctx.client, &url, &params, pod).await;
        if created.is_err() {
            own_writes.create_failed(&self.namespace, &self.pod_name);
        }
        created
    }

    /// Notes the pod just `created` (its create's watch event wakes no reconcile) and
    /// publishes the `Started` Event, with the warnings composing it gave.
    async fn announce(&self, created: &CachedPod, composed: &Composed) {
        self.ctx.own_writes.created_pod(created);
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
    }

    /// The pod that the create found already there (`error`, `AlreadyExists`), if this Build
    /// owns it.
    async fn existing_pod(&self, error: kube::Error) -> Result<Pod, Error> {
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
        Ok(existing)
    }
}
