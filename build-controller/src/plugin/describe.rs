//! `kubectl build describe BUILD`: everything about one Build, in the spirit of
//! `kubectl describe`.

use std::fmt::Write as _;

use build_types::{Build, BuildTemplateSpec, ConditionStatus, SourceSpec, TemplateKind};
use clap::Args;
use k8s_openapi::api::core::v1::{Event, Pod, Secret, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::api::ListParams;

use super::PluginExit;
use super::error::PluginError;
use super::io::Io;
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
}

/// Describes the Build. Exit code 0 whatever the Build's state (2 when it cannot be read).
pub(crate) async fn describe(
    session: &Session,
    args: &DescribeArgs,
    io: &mut Io<'_>,
) -> Result<PluginExit, PluginError> {
    let build = session.build(&args.build).await?;
    let pod_name = pod_name_of(&build);
    let pod = session.pod(&pod_name).await?;
    let mut text = String::new();
    overview(&mut text, &build, &pod_name, pod.as_ref());
    credentials(&mut text, session, &build).await?;
    sources(&mut text, &build);
    let template = template(&mut text, session, &build).await?;
    steps(&mut text, &build, pod.as_ref(), template.as_ref());
    super::built::what_was_built(&mut text, &build);
    events(&mut text, session, &build).await?;
    if let Some(condition) = succeeded(&build)
        && condition.status == ConditionStatus::False
    {
        let step = failed_step(&build, pod.as_ref());
        let _ = writeln!(text);
        match (step, pod.is_some()) {
            (Some(step), true) => {
                let _ = writeln!(
                    text,
                    "The failing step's logs: kubectl build logs {} -n {} --step {step}",
                    build.name_any(),
                    session.namespace
                );
            }
            _ => {
                let _ = writeln!(
                    text,
                    "The Build's logs: kubectl build logs {} -n {} --all",
                    build.name_any(),
                    session.namespace
                );
            }
        }
    }
    io.out.write_all(text.as_bytes())?;
    Ok(PluginExit::Succeeded)
}

/// A `Label:   value` line, values aligned.
fn field(text: &mut String, label: &str, value: impl std::fmt::Display) {
    let _ = writeln!(text, "{:<17} {value}", format!("{label}:"));
}

fn time(time: Option<&Time>) -> String {
    time.map_or_else(|| "-".to_owned(), |t| t.0.to_string())
}

fn overview(text: &mut String, build: &Build, pod_name: &str, pod: Option<&Pod>) {
    field(text, "Name", build.name_any());
    field(text, "Namespace", build.namespace().unwrap_or_default());
    let condition = succeeded(build);
    let status = match condition.map(|c| c.status) {
        Some(ConditionStatus::True) => "Succeeded",
        Some(ConditionStatus::False) => "Failed",
        Some(ConditionStatus::Unknown) => "Running",
        None => "Not started",
    };
    field(text, "Status", status);
    if let Some(condition) = condition {
        field(text, "Reason", condition.reason.as_deref().unwrap_or("-"));
        field(text, "Message", condition.message.as_deref().unwrap_or("-"));
    }
    if build.spec.is_cancelled() {
        field(text, "Cancel", "requested (spec.status: BuildCancelled)");
    }
    let status = build.status.as_ref();
    let start = status.and_then(|s| s.start_time.as_ref());
    let end = status.and_then(|s| s.completion_time.as_ref());
    field(text, "Started", time(start));
    field(text, "Completed", time(end));
    if let (Some(start), Some(end)) = (start, end) {
        field(text, "Duration", elapsed(start, end));
    }
    field(text, "Timeout", build.spec.timeout_or_default());
    let pod_state = match pod {
        Some(pod) => pod
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_else(|| "Pending".to_owned()),
        None if status.and_then(|s| s.cluster.as_ref()).is_some() => "gone".to_owned(),
        None => "not created yet".to_owned(),
    };
    field(text, "Pod", format!("{pod_name} ({pod_state})"));
}

/// The ServiceAccount and the credentials it brings: Secret names, types and the URLs or hosts
/// they serve, from the credential planner. Secret values are cleared as soon as they arrive.
async fn credentials(
    text: &mut String,
    session: &Session,
    build: &Build,
) -> Result<(), PluginError> {
    let name = build.spec.service_account().to_owned();
    let account: Option<ServiceAccount> = session
        .optional(session.api(), &name, "serviceaccount")
        .await?;
    let Some(account) = account else {
        field(text, "Service Account", format!("{name} (not found)"));
        return Ok(());
    };
    field(text, "Service Account", &name);
    let listed: Vec<String> = account
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
    let (flags, problems) = match build_auth::plan(&build_auth::PlanInputs {
        service_account: &account,
        secrets: &secrets,
    }) {
        Ok(plan) => {
            let flags = build_auth::parse_args(&plan.args).unwrap_or_default();
            let warnings: Vec<String> = plan.warnings.iter().map(ToString::to_string).collect();
            (flags, warnings)
        }
        Err(report) => (
            Vec::new(),
            report.to_string().lines().map(str::to_owned).collect(),
        ),
    };
    let mut listed = listed;
    listed.sort();
    for secret_name in &listed {
        let secret = secrets.iter().find(|s| s.name_any() == *secret_name);
        let Some(secret) = secret else {
            let _ = writeln!(text, "  Secret {secret_name}: not found");
            continue;
        };
        let type_ = secret.type_.as_deref().unwrap_or("Opaque");
        let uses: Vec<String> = flags
            .iter()
            .filter(|flag| flag.secret() == secret_name)
            .map(|flag| match flag.target() {
                Some(target) => format!("{} {target}", flag.kind()),
                None => flag.kind().to_string(),
            })
            .collect();
        let uses = if uses.is_empty() {
            "not used by builds".to_owned()
        } else {
            uses.join(", ")
        };
        let _ = writeln!(text, "  Secret {secret_name} ({type_}): {uses}");
    }
    for problem in problems {
        let _ = writeln!(text, "  warning: {problem}");
    }
    Ok(())
}

fn source_line(source: &SourceSpec) -> String {
    let what = if let Some(git) = &source.git {
        let revision = if git.revision.is_empty() {
            build_pod::git_init::DEFAULT_REVISION
        } else {
            &git.revision
        };
        format!("git {} @ {revision}", git.url)
    } else if let Some(gcs) = &source.gcs {
        format!("gcs {} ({})", gcs.location, gcs.type_.as_str())
    } else if let Some(custom) = &source.custom {
        format!("custom image {}", custom.image.as_deref().unwrap_or("-"))
    } else {
        "empty".to_owned()
    };
    match (&source.name, &source.target_path, &source.sub_path) {
        (Some(name), _, _) => format!("{name}: {what}"),
        (None, Some(path), _) => format!("{what} into {path}"),
        (None, None, Some(path)) => format!("{what} (subPath {path})"),
        (None, None, None) => what,
    }
}

fn sources(text: &mut String, build: &Build) {
    let sources = build.spec.all_sources();
    if sources.is_empty() {
        field(text, "Source", "none");
        return;
    }
    let _ = writeln!(text, "Sources:");
    for source in sources {
        let _ = writeln!(text, "  {}", source_line(source));
    }
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

/// The template and its arguments after defaults.
async fn template(
    text: &mut String,
    session: &Session,
    build: &Build,
) -> Result<Option<BuildTemplateSpec>, PluginError> {
    let Some(instance) = &build.spec.template else {
        return Ok(None);
    };
    let kind = instance.kind.unwrap_or(TemplateKind::BuildTemplate);
    let spec = read_template(session, kind, &instance.name).await?;
    let Some(spec) = spec else {
        field(
            text,
            "Template",
            format!("{} {} (not found)", kind.as_str(), instance.name),
        );
        return Ok(None);
    };
    field(
        text,
        "Template",
        format!("{} {}", kind.as_str(), instance.name),
    );
    let _ = writeln!(text, "  Arguments:");
    for parameter in &spec.parameters {
        let given = instance.arguments.iter().find(|a| a.name == parameter.name);
        let value = match (given, &parameter.default) {
            (Some(argument), _) => argument.value.clone(),
            (None, Some(default)) => format!("{default} (default)"),
            (None, None) => "(missing: no argument and no default)".to_owned(),
        };
        let _ = writeln!(text, "    {} = {value}", parameter.name);
    }
    for argument in &instance.arguments {
        if !spec.parameters.iter().any(|p| p.name == argument.name) {
            let _ = writeln!(
                text,
                "    {} = {} (matches no parameter)",
                argument.name, argument.value
            );
        }
    }
    Ok(Some(spec))
}

fn steps(
    text: &mut String,
    build: &Build,
    pod: Option<&Pod>,
    template: Option<&BuildTemplateSpec>,
) {
    let mut rows = vec![[
        "NAME".to_owned(),
        "IMAGE".to_owned(),
        "STATE".to_owned(),
        "EXIT".to_owned(),
        "STARTED".to_owned(),
        "DURATION".to_owned(),
    ]];
    match pod {
        Some(pod) => {
            for container in step_containers(build, pod) {
                let status = container_status(pod, &container.container);
                let (state, exit) = match phase(status) {
                    Phase::NotStarted => ("Waiting".to_owned(), "-".to_owned()),
                    Phase::Stuck { reason, .. } => (format!("Waiting ({reason})"), "-".to_owned()),
                    Phase::Running => ("Running".to_owned(), "-".to_owned()),
                    Phase::Terminated { exit_code, reason } => {
                        let state = if reason.is_empty() {
                            "Terminated".to_owned()
                        } else {
                            format!("Terminated ({reason})")
                        };
                        (state, exit_code.to_string())
                    }
                };
                let (start, end) = times(status);
                let took = match (start, end) {
                    (Some(start), Some(end)) => elapsed(start, end),
                    _ => "-".to_owned(),
                };
                rows.push([
                    container.name,
                    container.image,
                    state,
                    exit,
                    time(start),
                    took,
                ]);
            }
        }
        None => {
            let steps = if build.spec.steps.is_empty() {
                template.map(|t| t.steps.as_slice()).unwrap_or_default()
            } else {
                &build.spec.steps
            };
            for step in steps {
                rows.push([
                    display_name(&step.name).to_owned(),
                    step.image.clone().unwrap_or_default(),
                    "Not started".to_owned(),
                    "-".to_owned(),
                    "-".to_owned(),
                    "-".to_owned(),
                ]);
            }
        }
    }
    let _ = writeln!(text, "Steps:");
    table(text, &rows);
}

/// Writes `rows` as a table indented by two spaces, columns separated by two spaces.
fn table<const N: usize>(text: &mut String, rows: &[[String; N]]) {
    let mut widths = [0; N];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in rows {
        let mut line = String::from(" ");
        for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
            if i + 1 == N {
                let _ = write!(line, " {cell}");
            } else {
                let _ = write!(line, " {cell:<width$} ");
            }
        }
        let _ = writeln!(text, "{}", line.trim_end());
    }
}

/// The Build's Events, oldest first.
async fn events(text: &mut String, session: &Session, build: &Build) -> Result<(), PluginError> {
    let mut selector = format!(
        "involvedObject.kind=Build,involvedObject.name={}",
        build.name_any()
    );
    if let Some(uid) = build.uid() {
        let _ = write!(selector, ",involvedObject.uid={uid}");
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
    let mut events: Vec<(String, Event)> = list
        .items
        .into_iter()
        .map(|event| (event_time(&event), event))
        .collect();
    events.sort_by(|a, b| a.0.cmp(&b.0));
    if events.is_empty() {
        let _ = writeln!(text, "Events:           <none>");
        return Ok(());
    }
    let mut rows = vec![[
        "TIME".to_owned(),
        "TYPE".to_owned(),
        "REASON".to_owned(),
        "MESSAGE".to_owned(),
    ]];
    for (at, event) in events {
        rows.push([
            at,
            event.type_.unwrap_or_default(),
            event.reason.unwrap_or_default(),
            event.message.unwrap_or_default(),
        ]);
    }
    let _ = writeln!(text, "Events:");
    table(text, &rows);
    Ok(())
}

/// When the event last happened: its series' last observation, last timestamp, event time or
/// first timestamp, whichever it has.
fn event_time(event: &Event) -> String {
    if let Some(series) = &event.series
        && let Some(last) = &series.last_observed_time
    {
        return last
            .0
            .round(k8s_openapi::jiff::Unit::Second)
            .map_or_else(|_| last.0.to_string(), |t| t.to_string());
    }
    if let Some(last) = &event.last_timestamp {
        return last.0.to_string();
    }
    if let Some(at) = &event.event_time {
        return at
            .0
            .round(k8s_openapi::jiff::Unit::Second)
            .map_or_else(|_| at.0.to_string(), |t| t.to_string());
    }
    time(event.first_timestamp.as_ref())
}
