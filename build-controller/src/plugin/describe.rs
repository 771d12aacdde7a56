//! `kubectl build describe BUILD [-o yaml|json]`: everything about one Build, in the spirit of
//! `kubectl describe`; gathered into a [`Description`], printed as text or as data.

use build_types::{Build, BuildTemplateSpec, ConditionStatus, SourceSpec, TemplateKind};
use clap::Args;
use k8s_openapi::api::core::v1::{Event, Pod, Secret, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::api::ListParams;

use super::built::Built;
use super::description::{
    AccountDescription, ArgumentDescription, CredentialUse, Description, EventDescription,
    PodDescription, SecretDescription, SourceDescription, StepDescription, TemplateDescription,
};
use super::error::PluginError;
use super::exit::PluginExit;
use super::io::Io;
use super::list::status_word;
use super::offline::Format;
use super::session::Session;
use super::steps::{
    Phase, container_status, display_name, elapsed, failed_step, phase, pod_name_of,
    step_containers, succeeded, times,
};

/// `kubectl build describe`.
#[derive(Args, Clone, Debug)]
pub struct DescribeArgs {
    /// The Build's name.
    pub build: String,
    /// Print the description as data instead of text: the same content, in the schema
    /// README's "Use it" gives (Secret values are never part of it).
    #[arg(short = 'o', long = "output", value_enum, value_name = "FORMAT")]
    pub output: Option<Format>,
}

/// Describes the Build. Exit code 0 whatever the Build's state (2 when it cannot be read).
pub(crate) async fn describe(
    session: &Session,
    args: &DescribeArgs,
    io: &mut Io<'_>,
) -> Result<PluginExit, PluginError> {
    let build = session.build(&args.build).await?;
    let description = gather(session, &build).await?;
    let text = match args.output {
        None => description.to_text(),
        Some(Format::Yaml) => {
            serde_yaml_ng::to_string(&description).map_err(std::io::Error::other)?
        }
        Some(Format::Json) => {
            serde_json::to_string_pretty(&description).map_err(std::io::Error::other)? + "\n"
        }
    };
    io.out.write_all(text.as_bytes())?;
    Ok(PluginExit::Succeeded)
}

/// Reads what describes `build`: its pod, ServiceAccount and Secrets (their values cleared as
/// they arrive), template and Events.
async fn gather(session: &Session, build: &Build) -> Result<Description, PluginError> {
    let pod_name = pod_name_of(build);
    let pod = session.pod(&pod_name).await?;
    let template = match &build.spec.template {
        Some(instance) => {
            let kind = instance.kind.unwrap_or(TemplateKind::BuildTemplate);
            read_template(session, kind, &instance.name).await?
        }
        None => None,
    };
    let failed = succeeded(build).is_some_and(|c| c.status == ConditionStatus::False);
    let failed_step = failed.then(|| failed_step(build, pod.as_ref())).flatten();
    let logs_command = failed.then(|| {
        let base = format!(
            "kubectl build logs {} -n {}",
            build.name_any(),
            session.namespace
        );
        match &failed_step {
            Some(step) => format!("{base} --step {step}"),
            None => format!("{base} --all"),
        }
    });
    let condition = succeeded(build);
    let status = build.status.as_ref();
    let start = status.and_then(|s| s.start_time.as_ref());
    let end = status.and_then(|s| s.completion_time.as_ref());
    Ok(Description {
        name: build.name_any(),
        namespace: build.namespace().unwrap_or_default(),
        status: status_word(build).to_owned(),
        reason: condition.and_then(|c| non_empty(c.reason.as_deref())),
        message: condition.and_then(|c| non_empty(c.message.as_deref())),
        cancel_requested: build.spec.is_cancelled(),
        started: start.map(time),
        completed: end.map(time),
        duration: start.zip(end).map(|(start, end)| elapsed(start, end)),
        timeout: build.spec.timeout_or_default().to_string(),
        pod: pod_description(build, pod_name, pod.as_ref()),
        service_account: credentials(session, build).await?,
        sources: build.spec.all_sources().into_iter().map(source).collect(),
        template: build
            .spec
            .template
            .as_ref()
            .map(|_| template_description(build, template.as_ref())),
        steps: steps(build, pod.as_ref(), template.as_ref()),
        events: events(session, build).await?,
        built: Built::of(build),
        failed_step,
        logs_command,
    })
}

fn non_empty(value: Option<&str>) -> Option<String> {
    value.filter(|v| !v.is_empty()).map(str::to_owned)
}

fn time(time: &Time) -> String {
    time.0.to_string()
}

fn pod_description(build: &Build, name: String, pod: Option<&Pod>) -> PodDescription {
    let has_had_one = build
        .status
        .as_ref()
        .and_then(|s| s.cluster.as_ref())
        .is_some();
    let state = match pod {
        Some(pod) => pod
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_else(|| "Pending".to_owned()),
        None if has_had_one => "gone".to_owned(),
        None => "not created yet".to_owned(),
    };
    PodDescription { name, state }
}

/// The ServiceAccount and the credentials it brings: Secret names, types and the URLs or hosts
/// they serve, from the credential planner. Secret values are cleared as soon as they arrive.
async fn credentials(session: &Session, build: &Build) -> Result<AccountDescription, PluginError> {
    let name = build.spec.service_account().to_owned();
    let account: Option<ServiceAccount> = session
        .optional(session.api(), &name, "serviceaccount")
        .await?;
    let Some(account) = account else {
        return Ok(AccountDescription {
            name,
            found: false,
            secrets: Vec::new(),
            warnings: Vec::new(),
        });
    };
    let mut listed: Vec<String> = account
        .secrets
        .iter()
        .flatten()
        .filter_map(|r| r.name.clone())
        .collect();
    let mut secrets = Vec::new();
    for secret_name in &listed {
        let secret: Option<Secret> = session
            .optional(session.api(), secret_name, "secret")
            .await?;
        if let Some(mut secret) = secret {
            crate::stores::strip_secret_for_cache(&mut secret);
            secrets.push(secret);
        }
    }
    let (flags, warnings) = match build_auth::plan(&build_auth::PlanInputs {
        service_account: &account,
        secrets: &secrets,
    }) {
        Ok(plan) => (
            build_auth::parse_args(&plan.args).unwrap_or_default(),
            plan.warnings.iter().map(ToString::to_string).collect(),
        ),
        Err(report) => (
            Vec::new(),
            report.to_string().lines().map(str::to_owned).collect(),
        ),
    };
    listed.sort();
    let secrets = listed
        .iter()
        .map(|secret_name| {
            let secret = secrets.iter().find(|s| s.name_any() == *secret_name);
            SecretDescription {
                name: secret_name.clone(),
                found: secret.is_some(),
                type_: secret.map(|s| s.type_.clone().unwrap_or_else(|| "Opaque".to_owned())),
                uses: flags
                    .iter()
                    .filter(|flag| flag.secret() == secret_name)
                    .map(|flag| CredentialUse {
                        kind: flag.kind().to_string(),
                        target: flag.target().map(ToString::to_string),
                    })
                    .collect(),
            }
        })
        .collect();
    Ok(AccountDescription {
        name,
        found: true,
        secrets,
        warnings,
    })
}

fn source(source: &SourceSpec) -> SourceDescription {
    let mut described = SourceDescription {
        kind: "empty".to_owned(),
        name: source.name.clone(),
        url: None,
        revision: None,
        location: None,
        archive_type: None,
        image: None,
        target_path: source.target_path.clone(),
        sub_path: source.sub_path.clone(),
    };
    if let Some(git) = &source.git {
        let revision = if git.revision.is_empty() {
            build_pod::git_init::DEFAULT_REVISION
        } else {
            &git.revision
        };
        described.kind = "git".to_owned();
        // a URL written with `user:password@` shows `***@`: describe never prints a credential
        described.url = Some(build_pod::git_init::redact_url(&git.url));
        described.revision = Some(revision.to_owned());
    } else if let Some(gcs) = &source.gcs {
        described.kind = "gcs".to_owned();
        described.location = Some(gcs.location.clone());
        described.archive_type = Some(gcs.type_.as_str().to_owned());
    } else if let Some(custom) = &source.custom {
        described.kind = "custom".to_owned();
        described.image = custom.image.clone();
    }
    described
}

/// Reads the Build's template, if it has one.
pub(crate) async fn read_template(
    session: &Session,
    kind: TemplateKind,
    name: &str,
) -> Result<Option<BuildTemplateSpec>, PluginError> {
    Ok(match kind {
        TemplateKind::BuildTemplate => session
            .optional(session.templates(), name, "buildtemplate")
            .await?
            .map(|t| t.spec),
        TemplateKind::ClusterBuildTemplate => session
            .optional(session.cluster_templates(), name, "clusterbuildtemplate")
            .await?
            .map(|t| t.template_spec().clone()),
    })
}

/// The template and its arguments after defaults (`spec` is the template, when found).
fn template_description(build: &Build, spec: Option<&BuildTemplateSpec>) -> TemplateDescription {
    let instance = build.spec.template.clone().unwrap_or_default();
    let kind = instance.kind.unwrap_or(TemplateKind::BuildTemplate);
    let mut arguments = Vec::new();
    for parameter in spec.map(|s| s.parameters.as_slice()).unwrap_or_default() {
        let given = instance.arguments.iter().find(|a| a.name == parameter.name);
        let (value, source) = match (given, &parameter.default) {
            (Some(argument), _) => (Some(argument.value.clone()), "given"),
            (None, Some(default)) => (Some(default.clone()), "default"),
            (None, None) => (None, "missing"),
        };
        arguments.push(ArgumentDescription {
            name: parameter.name.clone(),
            value,
            source: source.to_owned(),
        });
    }
    if let Some(spec) = spec {
        for argument in &instance.arguments {
            if !spec.parameters.iter().any(|p| p.name == argument.name) {
                arguments.push(ArgumentDescription {
                    name: argument.name.clone(),
                    value: Some(argument.value.clone()),
                    source: "unknown".to_owned(),
                });
            }
        }
    }
    TemplateDescription {
        kind: kind.as_str().to_owned(),
        name: instance.name,
        found: spec.is_some(),
        arguments,
    }
}

/// The pod's containers in order with their state; before there is a pod, the steps of the
/// Build, or of its template.
fn steps(
    build: &Build,
    pod: Option<&Pod>,
    template: Option<&BuildTemplateSpec>,
) -> Vec<StepDescription> {
    let Some(pod) = pod else {
        let steps = if build.spec.steps.is_empty() {
            template.map(|t| t.steps.as_slice()).unwrap_or_default()
        } else {
            &build.spec.steps
        };
        return steps
            .iter()
            .map(|step| StepDescription {
                name: display_name(&step.name).to_owned(),
                image: step.image.clone().unwrap_or_default(),
                state: "Not started".to_owned(),
                reason: None,
                exit_code: None,
                started: None,
                duration: None,
            })
            .collect();
    };
    step_containers(build, pod)
        .into_iter()
        .map(|container| {
            let status = container_status(pod, &container.container);
            let (state, reason, exit_code) = match phase(status) {
                Phase::NotStarted => ("Waiting", None, None),
                Phase::Stuck { reason, .. } => ("Waiting", Some(reason), None),
                Phase::Running => ("Running", None, None),
                Phase::Terminated { exit_code, reason } => {
                    ("Terminated", Some(reason), Some(exit_code))
                }
            };
            let (start, end) = times(status);
            StepDescription {
                name: container.name,
                image: container.image,
                state: state.to_owned(),
                reason: reason.filter(|r| !r.is_empty()),
                exit_code,
                started: start.map(time),
                duration: start.zip(end).map(|(start, end)| elapsed(start, end)),
            }
        })
        .collect()
}

/// The Build's Events, oldest first.
async fn events(session: &Session, build: &Build) -> Result<Vec<EventDescription>, PluginError> {
    let mut selector = format!(
        "involvedObject.kind=Build,involvedObject.name={}",
        build.name_any()
    );
    if let Some(uid) = build.uid() {
        selector.push_str(&format!(",involvedObject.uid={uid}"));
    }
    let list = session
        .api::<Event>()
        .list(&ListParams::default().fields(&selector))
        .await
        .map_err(|e| {
            PluginError::api(
                format!("listing the events of build {:?}", build.name_any()),
                e,
            )
        })?;
    let mut events: Vec<EventDescription> = list
        .items
        .into_iter()
        .map(|event| EventDescription {
            time: event_time(&event),
            type_: event.type_.unwrap_or_default(),
            reason: event.reason.unwrap_or_default(),
            message: event.message.unwrap_or_default(),
        })
        .collect();
    events.sort_by(|a, b| a.time.cmp(&b.time));
    Ok(events)
}

/// When the event last happened: its series' last observation, last timestamp, event time or
/// first timestamp, whichever it has.
fn event_time(event: &Event) -> String {
    let rounded = |at: &k8s_openapi::jiff::Timestamp| {
        at.round(k8s_openapi::jiff::Unit::Second)
            .map_or_else(|_| at.to_string(), |t| t.to_string())
    };
    if let Some(series) = &event.series
        && let Some(last) = &series.last_observed_time
    {
        return rounded(&last.0);
    }
    if let Some(last) = &event.last_timestamp {
        return last.0.to_string();
    }
    if let Some(at) = &event.event_time {
        return rounded(&at.0);
    }
    event
        .first_timestamp
        .as_ref()
        .map_or_else(|| "-".to_owned(), time)
}

#[cfg(test)]
mod tests {
    use build_types::{GitSourceSpec, SourceSpec};

    #[test]
    fn a_git_url_with_a_password_is_described_without_it() {
        let spec = SourceSpec {
            git: Some(GitSourceSpec {
                url: "https://robot:t0ken@github.com/a/b.git".into(),
                revision: "main".into(),
            }),
            ..SourceSpec::default()
        };
        let described = super::source(&spec);
        assert_eq!(
            described.url.as_deref(),
            Some("https://***@github.com/a/b.git")
        );
        assert!(!described.line().contains("t0ken"));
    }
}
