//! The mix of Builds the fault scenarios run, and the objects around them: pure values, so
//! that what each Build must end as is known before it is created.
//!
//! Each Build's kind is in its name (`b-017-times-out`), so the stand-in kubelet and the
//! checker know from a name alone what the pod must do and how the Build must end.

use build_types::{Build, BuildTemplate};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use serde_json::{Value, json};

use super::checker::Pods;
use crate::harness::inputs::Rng;

/// The ServiceAccount whose Secret exists from the start.
pub(crate) const ACCOUNT: &str = "chaos-bot";
/// Its Secret.
pub(crate) const SECRET: &str = "chaos-docker";
/// The ServiceAccount whose Secret is created late.
pub(crate) const LATE_ACCOUNT: &str = "chaos-late-bot";
/// The Secret created late.
pub(crate) const LATE_SECRET: &str = "chaos-late-docker";
/// The BuildTemplate that exists from the start.
pub(crate) const TEMPLATE: &str = "chaos-template";
/// The BuildTemplate created late.
pub(crate) const LATE_TEMPLATE: &str = "chaos-late-template";

/// What a Build of the mix does, and so how it must end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Kind {
    /// Its pod succeeds (half of them from [`TEMPLATE`]).
    Succeeds,
    /// Its second step exits 1.
    StepFails,
    /// A 3 s timeout; its pod runs until it is stopped.
    TimesOut,
    /// Cancelled (`spec.status: BuildCancelled`) once its pod runs.
    Cancelled,
    /// Names [`LATE_TEMPLATE`], which appears a few seconds into the run; then succeeds.
    LateTemplate,
    /// Runs as [`LATE_ACCOUNT`], whose Secret appears a few seconds into the run; then succeeds.
    LateSecret,
}

impl Kind {
    /// Every kind, in the order the mix cycles through them.
    pub(crate) const ALL: [Kind; 6] = [
        Kind::Succeeds,
        Kind::StepFails,
        Kind::TimesOut,
        Kind::Cancelled,
        Kind::LateTemplate,
        Kind::LateSecret,
    ];

    /// The kind's part of a Build's name.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Kind::Succeeds => "succeeds",
            Kind::StepFails => "step-fails",
            Kind::TimesOut => "times-out",
            Kind::Cancelled => "cancelled",
            Kind::LateTemplate => "late-template",
            Kind::LateSecret => "late-secret",
        }
    }

    /// The kind of a Build of the mix, from its name.
    pub(crate) fn of(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| {
            name.strip_suffix(kind.label())
                .is_some_and(|rest| rest.ends_with('-'))
        })
    }

    /// The `Succeeded` condition's final status and reason.
    pub(crate) fn expected(self) -> (&'static str, &'static str) {
        match self {
            Kind::Succeeds | Kind::LateTemplate | Kind::LateSecret => ("True", "Succeeded"),
            Kind::StepFails => ("False", "StepFailed"),
            Kind::TimesOut => ("False", "BuildTimeout"),
            Kind::Cancelled => ("False", "BuildCancelled"),
        }
    }

    /// How many pods it must have had: a 3 s timeout can pass while the API server is down,
    /// before the pod could be created; the controller then fails the Build with
    /// `BuildTimeout` and no pod, by design (it retries a pod create only until the timeout).
    pub(crate) fn pods(self) -> Pods {
        match self {
            Kind::TimesOut => Pods::OneUnlessTimedOutFirst,
            _ => Pods::One,
        }
    }

    /// How the stand-in kubelet ends the pod on its own, once it runs; `None` while it is left
    /// running until the controller stops it.
    pub(crate) fn pod_ends(self) -> Option<crate::harness::kubelet::Outcome> {
        match self {
            Kind::Succeeds | Kind::LateTemplate | Kind::LateSecret => {
                Some(crate::harness::kubelet::Outcome::Succeeded)
            }
            Kind::StepFails => Some(crate::harness::kubelet::Outcome::LastStepFailed(1)),
            Kind::TimesOut | Kind::Cancelled => None,
        }
    }
}

/// The names and kinds of `count` Builds: the kinds in equal shares (round robin), in an order
/// shuffled by `rng`.
pub(crate) fn plan(count: usize, rng: &mut Rng) -> Vec<(String, Kind)> {
    let mut kinds: Vec<Kind> = (0..count).map(|i| Kind::ALL[i % Kind::ALL.len()]).collect();
    rng.shuffle(&mut kinds);
    kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| (format!("b-{i:03}-{}", kind.label()), kind))
        .collect()
}

fn step(name: &str, args: &[&str]) -> Value {
    json!({"name": name, "image": "busybox", "command": ["sh", "-c"], "args": args})
}

/// The Build named `name` of kind `kind`.
pub(crate) fn build(name: &str, kind: Kind) -> anyhow::Result<Build> {
    let from_template = name
        .strip_prefix("b-")
        .and_then(|rest| rest.get(..3))
        .and_then(|n| n.parse::<usize>().ok())
        .is_some_and(|n| n % 2 == 1);
    let spec = match kind {
        Kind::Succeeds if from_template => json!({
            "serviceAccountName": ACCOUNT,
            "template": {"name": TEMPLATE, "arguments": [{"name": "MESSAGE", "value": name}]},
        }),
        Kind::Succeeds => json!({
            "serviceAccountName": ACCOUNT,
            "steps": [step("build", &["echo ok"])],
        }),
        Kind::StepFails => json!({
            "serviceAccountName": ACCOUNT,
            "steps": [step("fetch", &["true"]), step("build", &["exit 1"])],
        }),
        Kind::TimesOut => json!({
            "serviceAccountName": ACCOUNT,
            "timeout": "3s",
            "steps": [step("build", &["sleep 3600"])],
        }),
        Kind::Cancelled => json!({
            "serviceAccountName": ACCOUNT,
            "steps": [step("build", &["sleep 3600"])],
        }),
        Kind::LateTemplate => json!({
            "serviceAccountName": ACCOUNT,
            "template": {"name": LATE_TEMPLATE, "arguments": [{"name": "MESSAGE", "value": name}]},
        }),
        Kind::LateSecret => json!({
            "serviceAccountName": LATE_ACCOUNT,
            "steps": [step("build", &["echo ok"])],
        }),
    };
    Ok(serde_json::from_value(json!({
        "apiVersion": "build.knative.dev/v1alpha1",
        "kind": "Build",
        "metadata": {"name": name},
        "spec": spec,
    }))?)
}

/// A BuildTemplate with one `MESSAGE` parameter.
pub(crate) fn template(name: &str) -> anyhow::Result<BuildTemplate> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "build.knative.dev/v1alpha1",
        "kind": "BuildTemplate",
        "metadata": {"name": name},
        "spec": {
            "parameters": [{"name": "MESSAGE", "description": "what to echo"}],
            "steps": [step("build", &["echo ${MESSAGE}"])],
        },
    }))?)
}

/// A ServiceAccount that lists `secret`.
pub(crate) fn account(name: &str, secret: &str) -> anyhow::Result<ServiceAccount> {
    Ok(serde_json::from_value(json!({
        "metadata": {"name": name},
        "secrets": [{"name": secret}],
    }))?)
}

/// A Docker registry basic-auth Secret whose password is `sentinel`.
pub(crate) fn secret(name: &str, sentinel: &str) -> anyhow::Result<Secret> {
    Ok(serde_json::from_value(json!({
        "metadata": {
            "name": name,
            "annotations": {"build.knative.dev/docker-0": "https://registry.chaos.invalid/v1/"},
        },
        "type": "kubernetes.io/basic-auth",
        "stringData": {"username": "chaos", "password": sentinel},
    }))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_has_every_kind_in_equal_shares_and_names_them() {
        let plan = plan(200, &mut Rng::new(7));
        assert_eq!(plan.len(), 200);
        for kind in Kind::ALL {
            let count = plan.iter().filter(|(_, k)| *k == kind).count();
            assert!((33..=34).contains(&count), "{kind:?}: {count}");
        }
        for (name, kind) in &plan {
            assert_eq!(Kind::of(name), Some(*kind), "{name}");
        }
        // shuffled, and the same for the same seed
        assert_ne!(
            plan[..6].iter().map(|(_, k)| *k).collect::<Vec<_>>(),
            Kind::ALL
        );
        assert_eq!(plan, super::plan(200, &mut Rng::new(7)));
        assert_eq!(Kind::of("b-001-nothing"), None);
    }

    #[test]
    fn every_build_is_valid_and_named_as_planned() {
        for (name, kind) in plan(12, &mut Rng::new(1)) {
            let build = build(&name, kind).unwrap();
            assert_eq!(build.metadata.name.as_deref(), Some(name.as_str()));
            if let Err(report) = build.validate() {
                panic!("{name}: {report}");
            }
        }
        let timing_out = build("b-002-times-out", Kind::TimesOut).unwrap();
        assert_eq!(
            timing_out.spec.timeout_or_default().to_std(),
            Some(std::time::Duration::from_secs(3))
        );
    }

    #[test]
    fn the_secret_carries_the_sentinel_only_as_its_password() {
        let secret = secret(SECRET, "s3ntinel").unwrap();
        let data = secret.string_data.unwrap();
        assert_eq!(data["password"], "s3ntinel");
        assert_eq!(data["username"], "chaos");
    }

    #[test]
    fn expected_endings() {
        assert_eq!(Kind::TimesOut.expected(), ("False", "BuildTimeout"));
        assert_eq!(Kind::LateSecret.expected(), ("True", "Succeeded"));
        assert_eq!(Kind::TimesOut.pod_ends(), None);
        assert_eq!(
            Kind::StepFails.pod_ends(),
            Some(crate::harness::kubelet::Outcome::LastStepFailed(1))
        );
    }
}
