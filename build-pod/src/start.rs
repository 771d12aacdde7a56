//! What happens to a Build whose pod is not there yet: create it, wait for what it lacks, try
//! again, or fail. Pure, like [`assess`](crate::assess): the Build, how far starting its pod
//! got and the time in, a decision out; the controller composes, creates and writes.

use std::fmt::Display;

use build_types::{Build, Condition, ConditionStatus, Reason};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use crate::assess::{Update, creation_deadline};
use crate::compose::{ComposeError, Composed};
use crate::name::pod_name;
use crate::status::timeout_message;

/// How far starting a Build's pod got, after [`assess`](crate::assess) said
/// [`CreatePod`](crate::Assessment::CreatePod): what [`assess_start`] decides on. `E` is the
/// caller's error of a failed pod create.
// One value per reconcile, moved once: boxing the pod would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum StartAttempt<E> {
    /// What [`compose`](crate::compose) made of the Build: its pod, or why there is none (the
    /// Build is invalid, or a template, ServiceAccount or Secret it needs is missing).
    Composed(Result<Composed, ComposeError>),
    /// The API server refused the pod itself (400 Bad Request, 422 Unprocessable Entity), with
    /// this message: the same pod will never be accepted.
    Rejected(String),
    /// Creating the pod failed in a way that may pass (quota, an admission webhook, the
    /// network).
    NotCreated(E),
}

/// What to do about a Build without a pod, as [`assess_start`] decides.
// One value per reconcile, moved once: boxing the pod or the status would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum StartDecision<E> {
    /// Create the composed pod.
    CreatePod(Composed),
    /// Fail this attempt with the create's error, to try again with the caller's backoff: the
    /// failure may pass, and the Build's timeout has not.
    Retry(E),
    /// Write the status, without a pod to stop: the Build fails, or (with a `recheck_at`, its
    /// timeout) waits for a template, ServiceAccount or Secret.
    Update(Update),
}

/// Decides what happens to a Build that has no pod yet, at `now`, by the controller's rules 3–5
/// (those of [`assess`](crate::assess) are 1, 2 and 6–9). The Build's timeout runs from its
/// creation ([`creation_deadline`]) while it has no pod:
///
/// 3. An invalid Build fails with `BuildValidationFailed` (or `CredentialsInvalid`), every
///    problem in the message.
/// 4. A missing template, ServiceAccount or Secret sets `Unknown` with `TemplateNotFound`,
///    `ServiceAccountNotFound` or `SecretNotFound`, to look again at the timeout; past it, the
///    Build fails with `BuildTimeout`, also when what it waited for appeared only after the
///    timeout (while the controller was down, or a wake-up was missed).
/// 5. Otherwise its pod is created. A pod the API server rejects fails the Build with
///    `BuildExecuteFailed`; any other failure to create it is retried until the timeout, then
///    fails the Build with `BuildTimeout`.
///
/// ```
/// use build_pod::{Composed, StartAttempt, StartDecision, assess_start};
/// use build_types::{Build, BuildSpec, Report};
///
/// let build = Build::new("b", BuildSpec::default());
/// let now = "2024-01-01T00:00:00Z".parse().unwrap();
/// let composed = Composed { pod: Default::default(), warnings: Report::new() };
/// let attempt = StartAttempt::<String>::Composed(Ok(composed));
/// let decision = assess_start(&build, attempt, now);
/// assert!(matches!(decision, StartDecision::CreatePod(_)));
/// let attempt = StartAttempt::NotCreated("connection refused".to_owned());
/// let decision = assess_start(&build, attempt, now);
/// assert!(matches!(decision, StartDecision::Retry(_)));
/// ```
pub fn assess_start<E: Display>(
    build: &Build,
    attempt: StartAttempt<E>,
    now: Timestamp,
) -> StartDecision<E> {
    let deadline = creation_deadline(build, now);
    let timed_out = now >= deadline;
    let fail = |reason: Reason, message: String| {
        let mut status = build.status.clone().unwrap_or_default();
        status.fail(reason, message, Time(now));
        StartDecision::Update(Update::new(status))
    };
    let timeout = |why: String| {
        let message = format!("{}; {why}", timeout_message(build));
        fail(Reason::BuildTimeout, message)
    };
    match attempt {
        StartAttempt::Composed(Ok(composed)) => match waited_for(build) {
            Some(waited) if timed_out => timeout(format!("it waited for: {waited}")),
            _ => StartDecision::CreatePod(composed),
        },
        StartAttempt::Composed(Err(missing)) if missing.is_missing_dependency() => {
            if timed_out {
                return timeout(format!("still waiting: {missing}"));
            }
            let mut status = build.status.clone().unwrap_or_default();
            let condition = Condition::succeeded(
                ConditionStatus::Unknown,
                missing.reason(),
                missing.to_string(),
            );
            status.set_condition(condition, Time(now));
            StartDecision::Update(Update {
                recheck_at: Some(deadline),
                ..Update::new(status)
            })
        }
        StartAttempt::Composed(Err(invalid)) => fail(invalid.reason(), invalid.to_string()),
        StartAttempt::Rejected(message) => fail(
            Reason::BuildExecuteFailed,
            format!(
                "the API server rejected pod {:?}: {message}",
                pod_name(build)
            ),
        ),
        StartAttempt::NotCreated(error) if timed_out => {
            timeout(format!("its pod could not be created: {error}"))
        }
        StartAttempt::NotCreated(error) => StartDecision::Retry(error),
    }
}

/// What a Build that has waited for a template, ServiceAccount or Secret waited for: the
/// message of its `Succeeded` condition, `Unknown` with a waiting reason.
fn waited_for(build: &Build) -> Option<String> {
    let status = build.status.as_ref()?;
    let condition = status.succeeded()?;
    let waiting = condition.status == ConditionStatus::Unknown
        && status.reason().is_some_and(Reason::is_waiting);
    waiting.then(|| condition.message.clone().unwrap_or_default())
}
