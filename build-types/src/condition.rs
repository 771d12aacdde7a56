//! Helpers for the `Succeeded` condition, the one that says how a build went.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::reason::Reason;

use crate::types::{BuildStatus, Condition, ConditionStatus};

/// The type of the condition that tells whether a build has succeeded.
pub const SUCCEEDED: &str = "Succeeded";

impl Condition {
    /// A `Succeeded` condition with the given status, reason and message, not yet stamped with a
    /// transition time (see [`BuildStatus::set_condition`]).
    pub fn succeeded(
        status: ConditionStatus,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let message = message.into();
        Condition {
            type_: SUCCEEDED.to_owned(),
            status,
            severity: None,
            last_transition_time: None,
            reason: Some(reason.into()),
            message: (!message.is_empty()).then_some(message),
        }
    }
}

impl BuildStatus {
    /// The condition of the given type, if present.
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }

    /// The `Succeeded` condition, if present.
    pub fn succeeded(&self) -> Option<&Condition> {
        self.condition(SUCCEEDED)
    }

    /// Whether the build has finished: `Succeeded` is `True` or `False`.
    pub fn is_done(&self) -> bool {
        self.succeeded()
            .is_some_and(|c| c.status != ConditionStatus::Unknown)
    }

    /// The `Succeeded` condition's reason, when it is one this release writes.
    pub fn reason(&self) -> Option<Reason> {
        self.succeeded()?.reason.as_deref()?.parse().ok()
    }

    /// Finishes the build as failed at `now`: `Succeeded` `False` with `reason` and `message`,
    /// and `completionTime`.
    pub fn fail(&mut self, reason: Reason, message: impl Into<String>, now: Time) {
        self.set_condition(
            Condition::succeeded(ConditionStatus::False, reason, message),
            now.clone(),
        );
        self.completion_time = Some(now);
    }

    /// Sets a condition, replacing any of the same type.
    ///
    /// `lastTransitionTime` is set to `now` only when the status value changes; a new reason or
    /// message alone keeps the old time, as Knative's condition manager does.
    ///
    /// ```
    /// use build_types::{BuildStatus, Condition, ConditionStatus};
    /// use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    /// use k8s_openapi::jiff::Timestamp;
    ///
    /// let t1 = Time(Timestamp::from_second(1).unwrap());
    /// let t2 = Time(Timestamp::from_second(2).unwrap());
    /// let mut status = BuildStatus::default();
    /// status.set_condition(Condition::succeeded(ConditionStatus::Unknown, "Pending", ""), t1.clone());
    /// status.set_condition(Condition::succeeded(ConditionStatus::Unknown, "Building", ""), t2.clone());
    /// assert_eq!(status.succeeded().unwrap().last_transition_time, Some(t1));
    /// status.set_condition(Condition::succeeded(ConditionStatus::True, "Succeeded", ""), t2.clone());
    /// assert_eq!(status.succeeded().unwrap().last_transition_time, Some(t2));
    /// ```
    pub fn set_condition(&mut self, mut condition: Condition, now: Time) {
        match self
            .conditions
            .iter_mut()
            .find(|c| c.type_ == condition.type_)
        {
            Some(existing) => {
                condition.last_transition_time = if existing.status == condition.status {
                    existing.last_transition_time.clone().or(Some(now))
                } else {
                    Some(now)
                };
                *existing = condition;
            }
            None => {
                condition.last_transition_time = Some(now);
                self.conditions.push(condition);
                self.conditions.sort_by(|a, b| a.type_.cmp(&b.type_));
            }
        }
    }
}
