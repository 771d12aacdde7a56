//! Events on Builds, readable by old and new clients alike.
//!
//! kube's `Recorder` writes `events.k8s.io/v1` Events with only `eventTime`, so the
//! `core/v1` view of them (what `kubectl get events` and `kubectl describe` read) has no
//! `firstTimestamp`, `lastTimestamp` or `count`: `kubectl get events
//! --sort-by=.lastTimestamp` then lists a Build's `Succeeded` before its `Started`. The
//! `events.k8s.io/v1` API refuses those legacy fields ("needs to be unset"), so this recorder
//! writes through `core/v1`, with both the legacy fields and the newer ones (`eventTime`,
//! `action`, `reportingComponent`, `reportingInstance`). A repeat within [`REPEAT_WINDOW`]
//! patches the first Event's `count` and `lastTimestamp` instead of creating another, as
//! client-go's recorder does.

use std::collections::HashMap;
use std::sync::Mutex;

use build_types::{BuildStatus, Condition, ConditionStatus, Reason, SUCCEEDED};
use k8s_openapi::api::core::v1::{Event as K8sEvent, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType};
use kube::{Client, Resource};
use serde::de::IgnoredAny;
use serde_json::json;

use crate::client::create_as;

/// How long after an Event the same Event (same type, action, reason and object) counts as a
/// repeat of it: kube's and client-go's window.
pub const REPEAT_WINDOW: SignedDuration = SignedDuration::from_mins(6);

/// Publishes Events as one controller (and one replica of it).
pub struct Recorder {
    client: Client,
    controller: String,
    instance: String,
    /// The Events published in the last [`REPEAT_WINDOW`], by what makes a repeat.
    recent: Mutex<HashMap<Key, Published>>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("controller", &self.controller)
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

/// What makes two Events one Event seen twice.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    type_: &'static str,
    action: String,
    reason: String,
    kind: Option<String>,
    namespace: Option<String>,
    name: Option<String>,
    uid: Option<String>,
}

/// An Event as it was last written.
#[derive(Clone, Debug)]
struct Published {
    name: String,
    namespace: String,
    count: i32,
    last: Timestamp,
}

impl Recorder {
    /// A recorder reporting as `controller` (the Events' `reportingController` and legacy
    /// `source.component`), from replica `instance` (`reportingInstance`; the controller's name
    /// when `None`).
    pub fn new(client: Client, controller: String, instance: Option<String>) -> Self {
        Recorder {
            client,
            instance: instance.unwrap_or_else(|| controller.clone()),
            controller,
            recent: Mutex::default(),
        }
    }

    /// Publishes `event` about `regarding`, as observed at `now`, and remembers it for
    /// [`REPEAT_WINDOW`]: a new `core/v1` Event (with `firstTimestamp`, `lastTimestamp`,
    /// `count` and `eventTime`), or a patch of the `count` and `lastTimestamp` of the same Event
    /// published less than [`REPEAT_WINDOW`] ago. For Events that may repeat (a Build waiting for
    /// a template, ServiceAccount or Secret).
    pub async fn publish(
        &self,
        event: &Event,
        regarding: &ObjectReference,
        now: Timestamp,
    ) -> Result<(), kube::Error> {
        let key = Key {
            type_: type_name(event.type_),
            action: event.action.clone(),
            reason: event.reason.clone(),
            kind: regarding.kind.clone(),
            namespace: regarding.namespace.clone(),
            name: regarding.name.clone(),
            uid: regarding.uid.clone(),
        };
        // The lock is never held across a request: Events of other Builds do not wait.
        let repeat = {
            let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
            recent.retain(|_, published| published.last + REPEAT_WINDOW > now);
            recent.get_mut(&key).map(|published| {
                published.count += 1;
                published.last = now;
                published.clone()
            })
        };
        if let Some(published) = repeat {
            let patch = json!({
                "count": published.count,
                "lastTimestamp": Time(now),
            });
            let api: Api<K8sEvent> = Api::namespaced(self.client.clone(), &published.namespace);
            api.patch(
                &published.name,
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await?;
            return Ok(());
        }
        let published = self.create(event, regarding, now).await?;
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.insert(key, published);
        Ok(())
    }

    /// Publishes `event` about `regarding` as a new Event, remembering nothing: for Events a
    /// Build gets once (`Started`, its verdict), so that holding many Builds costs no memory.
    pub async fn publish_one_off(
        &self,
        event: &Event,
        regarding: &ObjectReference,
        now: Timestamp,
    ) -> Result<(), kube::Error> {
        self.create(event, regarding, now).await.map(|_| ())
    }

    /// Creates a new `core/v1` Event.
    async fn create(
        &self,
        event: &Event,
        regarding: &ObjectReference,
        now: Timestamp,
    ) -> Result<Published, kube::Error> {
        let namespace = regarding
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_owned());
        // Named by the wall clock, not `now`: one reconcile may publish two Events at one `now`.
        let name = format!(
            "{}.{:x}",
            regarding.name.as_deref().unwrap_or(&self.controller),
            Timestamp::now().as_nanosecond()
        );
        let object = K8sEvent {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace.clone()),
                ..ObjectMeta::default()
            },
            involved_object: regarding.clone(),
            related: event.secondary.clone(),
            reason: Some(event.reason.clone()),
            message: event.note.clone(),
            type_: Some(type_name(event.type_).to_owned()),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            count: Some(1),
            source: Some(EventSource {
                component: Some(self.controller.clone()),
                host: None,
            }),
            event_time: Some(MicroTime(now)),
            action: Some(event.action.clone()),
            reporting_component: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            series: None,
        };
        // The answer (the Event as created) is not read: skipped, not decoded.
        let url = K8sEvent::url_path(&(), Some(&namespace));
        create_as::<IgnoredAny>(&self.client, &url, &PostParams::default(), &object).await?;
        Ok(Published {
            name,
            namespace,
            count: 1,
            last: now,
        })
    }
}

fn type_name(type_: EventType) -> &'static str {
    match type_ {
        EventType::Normal => "Normal",
        EventType::Warning => "Warning",
    }
}

/// The Event for a change of the `Succeeded` condition's status or reason, if it deserves one
/// ([`Reason::event_reason`]): its type, reason and note. A reason this release does not write
/// counts as [`Reason::BuildFailed`]; the note of a `Failed` Event names the condition's reason.
pub(crate) fn condition_event(
    old: Option<&Condition>,
    new: Option<&Condition>,
) -> Option<(EventType, &'static str, String)> {
    let new = new.filter(|c| c.type_ == SUCCEEDED)?;
    let key = |c: &Condition| (c.status, c.reason.clone());
    if old.map(key) == Some(key(new)) {
        return None;
    }
    let reason = new.reason.as_deref().unwrap_or_default();
    let event_reason = reason
        .parse()
        .unwrap_or(Reason::BuildFailed)
        .event_reason(new.status)?;
    let message = new.message.clone().unwrap_or_default();
    let note = match message.is_empty() {
        true => reason.to_owned(),
        false => message,
    };
    let note = if event_reason == "Failed" && !reason.is_empty() && note != reason {
        format!("{reason}: {note}")
    } else {
        note
    };
    let type_ = match new.status {
        ConditionStatus::True => EventType::Normal,
        _ => EventType::Warning,
    };
    Some((type_, event_reason, note))
}

/// The note of a Build's `Succeeded` Event: what succeeded, how long it took and how many steps
/// it ran (`Build "app" succeeded in 1m23s (3 steps)`).
pub(crate) fn success_note(name: &str, status: &BuildStatus) -> String {
    let took = match (&status.start_time, &status.completion_time) {
        (Some(start), Some(end)) => {
            let nanos = end.0.duration_since(start.0).as_nanos().max(0);
            // Whole seconds: the pod's timestamps have no finer grain.
            let seconds = std::time::Duration::from_secs(
                u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX),
            );
            format!(" in {}", build_types::Duration::from(seconds))
        }
        _ => String::new(),
    };
    let steps = match status.step_states.len() {
        1 => " (1 step)".to_owned(),
        n => format!(" ({n} steps)"),
    };
    format!("Build {name:?} succeeded{took}{steps}")
}

/// `text`, cut to at most `max` bytes on a character boundary, ending in `...` when cut.
pub(crate) fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max.saturating_sub(3);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("...");
    }
    text
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn condition(status: ConditionStatus, reason: &str) -> Condition {
        Condition::succeeded(status, reason, format!("{reason} happened"))
    }

    #[test]
    fn events_only_on_a_change_of_status_or_reason() {
        let waiting = condition(ConditionStatus::Unknown, "TemplateNotFound");
        assert_eq!(
            condition_event(None, Some(&waiting)).map(|(t, r, _)| (t, r)),
            Some((EventType::Warning, "TemplateNotFound"))
        );
        assert_eq!(condition_event(Some(&waiting), Some(&waiting)), None);
        let mut reworded = waiting.clone();
        reworded.message = Some("other words".into());
        assert_eq!(condition_event(Some(&waiting), Some(&reworded)), None);

        let building = condition(ConditionStatus::Unknown, "Building");
        assert_eq!(condition_event(Some(&waiting), Some(&building)), None);
    }

    #[test]
    fn event_reasons() {
        let check = |status, reason: &str, expected: (EventType, &str)| {
            let got = condition_event(None, Some(&condition(status, reason)));
            assert_eq!(got.map(|(t, r, _)| (t, r)), Some(expected), "{reason}");
        };
        check(
            ConditionStatus::True,
            "Succeeded",
            (EventType::Normal, "Succeeded"),
        );
        check(
            ConditionStatus::False,
            Reason::BuildTimeout.as_str(),
            (EventType::Warning, Reason::BuildTimeout.as_str()),
        );
        check(
            ConditionStatus::False,
            Reason::BuildCancelled.as_str(),
            (EventType::Warning, Reason::BuildCancelled.as_str()),
        );
        check(
            ConditionStatus::False,
            Reason::BuildValidationFailed.as_str(),
            (EventType::Warning, Reason::BuildValidationFailed.as_str()),
        );
        check(
            ConditionStatus::False,
            Reason::PodDeleted.as_str(),
            (EventType::Warning, "Failed"),
        );
        check(
            ConditionStatus::False,
            "ImagePullBackOff",
            (EventType::Warning, "Failed"),
        );
        check(
            ConditionStatus::Unknown,
            "SecretNotFound",
            (EventType::Warning, "SecretNotFound"),
        );
    }

    #[test]
    fn failed_event_note_names_the_reason() {
        let (_, _, note) =
            condition_event(None, Some(&condition(ConditionStatus::False, "PodDeleted"))).unwrap();
        assert_eq!(note, "PodDeleted: PodDeleted happened");
    }

    #[test]
    fn success_note_says_what_succeeded_and_how_long_it_took() {
        let status: BuildStatus = serde_json::from_value(json!({
            "startTime": "2024-01-01T00:00:05Z",
            "completionTime": "2024-01-01T00:01:28Z",
            "stepStates": [{"terminated": {"exitCode": 0}}, {"terminated": {"exitCode": 0}}],
        }))
        .unwrap();
        assert_eq!(
            success_note("app", &status),
            "Build \"app\" succeeded in 1m23s (2 steps)"
        );
        assert_eq!(
            success_note("app", &BuildStatus::default()),
            "Build \"app\" succeeded (0 steps)"
        );
    }

    #[test]
    fn truncation_keeps_char_boundaries() {
        assert_eq!(truncate("abcdef".into(), 10), "abcdef");
        assert_eq!(truncate("abcdef".into(), 5), "ab...");
        assert_eq!(truncate("ééééé".into(), 6), "é...");
    }
}
