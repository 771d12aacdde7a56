//! Every reason a Build's `Succeeded` condition can carry, as one type.

use std::fmt;
use std::str::FromStr;

use crate::types::ConditionStatus;

/// A reason of a Build's `Succeeded` condition: what the pod compiler's status mapping, the
/// controller and the metrics write and read. On the wire it stays a string ([`Reason::as_str`]);
/// [`Reason::from_str`] reads one back, `None`-like (`Err`) for a reason this release does not
/// write, such as one set by another controller.
///
/// ```
/// use build_types::Reason;
///
/// assert_eq!(Reason::ImagePullBackOff.as_str(), "ImagePullBackOff");
/// assert!("ImagePullBackOff".parse::<Reason>().unwrap().is_fail_fast());
/// assert!(Reason::SecretNotFound.is_waiting());
/// assert!("SomethingElse".parse::<Reason>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Reason {
    /// `Unknown`: the pod waits to be scheduled or for its first step to start.
    Pending,
    /// `Unknown`: a step (or the final no-op container) is running.
    Building,
    /// `Unknown`: the Build's template does not exist (yet).
    TemplateNotFound,
    /// `Unknown`: the Build's ServiceAccount does not exist (yet).
    ServiceAccountNotFound,
    /// `Unknown`: a Secret the ServiceAccount lists does not exist (yet).
    SecretNotFound,
    /// Kubelet waiting reason: the image cannot be pulled.
    ErrImagePull,
    /// Kubelet waiting reason: pulling the image failed and is backing off.
    ImagePullBackOff,
    /// Kubelet waiting reason: the image name is not a valid reference.
    InvalidImageName,
    /// Kubelet waiting reason: the image is absent and the pull policy is `Never`.
    ErrImageNeverPull,
    /// Kubelet waiting reason: the registry cannot be reached.
    RegistryUnavailable,
    /// Kubelet waiting reason: the container refers to a missing ConfigMap or Secret.
    CreateContainerConfigError,
    /// Kubelet waiting reason: the runtime cannot create the container.
    CreateContainerError,
    /// `True`: every step exited with code 0.
    Succeeded,
    /// `False`: a step exited with a non-zero code.
    StepFailed,
    /// `False`: a step was killed for exceeding its memory limit.
    #[allow(clippy::upper_case_acronyms)]
    StepOOMKilled,
    /// `False`: the Build ran past its timeout.
    BuildTimeout,
    /// `False`: the kubelet evicted the pod (node pressure, drain).
    PodEvicted,
    /// `False` for a reason the pod does not tell.
    BuildFailed,
    /// `False`: the Build was cancelled (`spec.status: BuildCancelled`).
    BuildCancelled,
    /// `False`: the Build's spec, its template or its arguments are invalid.
    BuildValidationFailed,
    /// `False`: the ServiceAccount's Secrets cannot serve as credentials.
    CredentialsInvalid,
    /// `False`: the API server rejected the Build's pod as invalid.
    BuildExecuteFailed,
    /// `False`: the pod was deleted before the Build finished.
    PodDeleted,
}

impl Reason {
    /// Every reason, in declaration order.
    pub const ALL: &'static [Reason] = &[
        Reason::Pending,
        Reason::Building,
        Reason::TemplateNotFound,
        Reason::ServiceAccountNotFound,
        Reason::SecretNotFound,
        Reason::ErrImagePull,
        Reason::ImagePullBackOff,
        Reason::InvalidImageName,
        Reason::ErrImageNeverPull,
        Reason::RegistryUnavailable,
        Reason::CreateContainerConfigError,
        Reason::CreateContainerError,
        Reason::Succeeded,
        Reason::StepFailed,
        Reason::StepOOMKilled,
        Reason::BuildTimeout,
        Reason::PodEvicted,
        Reason::BuildFailed,
        Reason::BuildCancelled,
        Reason::BuildValidationFailed,
        Reason::CredentialsInvalid,
        Reason::BuildExecuteFailed,
        Reason::PodDeleted,
    ];

    /// The reason as written in the condition: the variant's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Pending => "Pending",
            Reason::Building => "Building",
            Reason::TemplateNotFound => "TemplateNotFound",
            Reason::ServiceAccountNotFound => "ServiceAccountNotFound",
            Reason::SecretNotFound => "SecretNotFound",
            Reason::ErrImagePull => "ErrImagePull",
            Reason::ImagePullBackOff => "ImagePullBackOff",
            Reason::InvalidImageName => "InvalidImageName",
            Reason::ErrImageNeverPull => "ErrImageNeverPull",
            Reason::RegistryUnavailable => "RegistryUnavailable",
            Reason::CreateContainerConfigError => "CreateContainerConfigError",
            Reason::CreateContainerError => "CreateContainerError",
            Reason::Succeeded => "Succeeded",
            Reason::StepFailed => "StepFailed",
            Reason::StepOOMKilled => "StepOOMKilled",
            Reason::BuildTimeout => "BuildTimeout",
            Reason::PodEvicted => "PodEvicted",
            Reason::BuildFailed => "BuildFailed",
            Reason::BuildCancelled => "BuildCancelled",
            Reason::BuildValidationFailed => "BuildValidationFailed",
            Reason::CredentialsInvalid => "CredentialsInvalid",
            Reason::BuildExecuteFailed => "BuildExecuteFailed",
            Reason::PodDeleted => "PodDeleted",
        }
    }

    /// Whether the Build waits for an object that may still appear: a template, its
    /// ServiceAccount or a Secret. The Build is woken when it does, and times out otherwise.
    pub fn is_waiting(self) -> bool {
        matches!(
            self,
            Reason::TemplateNotFound | Reason::ServiceAccountNotFound | Reason::SecretNotFound
        )
    }

    /// Whether this is a container waiting reason that will not get better by waiting (a bad
    /// image, an image that cannot be pulled, a missing ConfigMap or Secret): the status
    /// mapping surfaces it with `Unknown`, and the controller fails the Build with it once it
    /// outlasts the image pull grace period.
    pub fn is_fail_fast(self) -> bool {
        matches!(
            self,
            Reason::ErrImagePull
                | Reason::ImagePullBackOff
                | Reason::InvalidImageName
                | Reason::ErrImageNeverPull
                | Reason::RegistryUnavailable
                | Reason::CreateContainerConfigError
                | Reason::CreateContainerError
        )
    }

    /// Whether a Build can finish with this reason (`Succeeded` `True` or `False`). The
    /// fail-fast reasons are terminal too: a Build fails with them after the grace period.
    pub fn is_terminal(self) -> bool {
        !matches!(self, Reason::Pending | Reason::Building) && !self.is_waiting()
    }

    /// The reason of the Event published when the `Succeeded` condition takes `status` with
    /// this reason, or `None` when such a change deserves no Event. `True` gives a `Normal`
    /// Event, everything else a `Warning` one.
    ///
    /// A success is `Succeeded`; a timeout, a cancel and an invalid Build keep their own reason
    /// and every other failure is `Failed`; waiting for a missing object keeps its reason; the
    /// other `Unknown` reasons (progress, an image error within its grace) publish nothing.
    pub fn event_reason(self, status: ConditionStatus) -> Option<&'static str> {
        match status {
            ConditionStatus::True => Some("Succeeded"),
            ConditionStatus::False => Some(match self {
                Reason::BuildTimeout | Reason::BuildCancelled | Reason::BuildValidationFailed => {
                    self.as_str()
                }
                _ => "Failed",
            }),
            ConditionStatus::Unknown => self.is_waiting().then(|| self.as_str()),
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A reason this release does not write.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown reason {0:?}")]
pub struct UnknownReason(pub String);

impl FromStr for Reason {
    type Err = UnknownReason;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Reason::ALL
            .iter()
            .copied()
            .find(|reason| reason.as_str() == text)
            .ok_or_else(|| UnknownReason(text.to_owned()))
    }
}

impl From<Reason> for String {
    fn from(reason: Reason) -> String {
        reason.as_str().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_reads_back_from_its_string() {
        for &reason in Reason::ALL {
            assert_eq!(reason.as_str().parse::<Reason>(), Ok(reason));
            assert_eq!(format!("{reason:?}"), reason.as_str());
        }
    }

    #[test]
    fn kinds_do_not_overlap() {
        for &reason in Reason::ALL {
            assert!(!(reason.is_waiting() && reason.is_fail_fast()), "{reason}");
            assert!(!(reason.is_waiting() && reason.is_terminal()), "{reason}");
        }
        let fail_fast = Reason::ALL.iter().filter(|r| r.is_fail_fast()).count();
        assert_eq!(fail_fast, 7);
    }

    #[test]
    fn events() {
        use ConditionStatus::{False, True, Unknown};
        assert_eq!(Reason::Succeeded.event_reason(True), Some("Succeeded"));
        assert_eq!(
            Reason::BuildTimeout.event_reason(False),
            Some("BuildTimeout")
        );
        assert_eq!(
            Reason::BuildCancelled.event_reason(False),
            Some("BuildCancelled")
        );
        assert_eq!(
            Reason::BuildValidationFailed.event_reason(False),
            Some("BuildValidationFailed")
        );
        assert_eq!(Reason::PodDeleted.event_reason(False), Some("Failed"));
        assert_eq!(Reason::ImagePullBackOff.event_reason(False), Some("Failed"));
        assert_eq!(
            Reason::SecretNotFound.event_reason(Unknown),
            Some("SecretNotFound")
        );
        assert_eq!(Reason::ImagePullBackOff.event_reason(Unknown), None);
        assert_eq!(Reason::Building.event_reason(Unknown), None);
    }
}
