//! `kubectl build list [-A] [-l SELECTOR] [-w] [-o wide|yaml|json|name]`: the Builds, newest
//! first, with what `kubectl get builds` does not show: how long each took and the step that
//! failed it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use build_types::{Build, ConditionStatus, TemplateKind};
use clap::{Args, ValueEnum};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::ListParams;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, ResourceExt};

use super::error::PluginError;
use super::exit::PluginExit;
use super::io::Io;
use super::session::Session;
use super::steps::{display_name, failed_step, succeeded};

/// `kubectl build list`.
#[derive(Args, Clone, Debug, Default)]
pub struct ListArgs {
    /// List the Builds of every namespace (a NAMESPACE column comes first).
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Only the Builds whose labels match this selector, as kubectl takes it (`app=web`,
    /// `tier!=test`, `env in (a,b)`, `!key`).
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// After the list, print a line each time a Build changes (or goes), as `kubectl get -w`
    /// does, until interrupted.
    #[arg(short = 'w', long)]
    pub watch: bool,
    /// The output format: `wide` adds the pod, the template and the ServiceAccount; `yaml` and
    /// `json` print the Builds as a List; `name` prints `build.build.knative.dev/NAME`.
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT")]
    pub output: Option<ListFormat>,
}

/// How `list` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// The table, with POD, TEMPLATE and SERVICE ACCOUNT columns.
    Wide,
    /// The Builds as a YAML List (with -w: one document per change).
    Yaml,
    /// The Builds as a JSON List (with -w: one object per change).
    Json,
    /// One `build.build.knative.dev/NAME` per line.
    Name,
}

/// A status in one word: `Succeeded`, `Failed`, `Running` (the condition is `Unknown`, which
/// covers waiting for a template or a pod) or `Pending` (no condition yet: the controller has
/// not seen the Build).
pub(crate) fn status_word(build: &Build) -> &'static str {
    match succeeded(build).map(|c| c.status) {
        Some(ConditionStatus::True) => "Succeeded",
        Some(ConditionStatus::False) => "Failed",
        Some(ConditionStatus::Unknown) => "Running",
        None => "Pending",
    }
}

/// Lists the Builds; with `-w`, then prints their changes until interrupted.
pub(crate) async fn list(
    session: &Session,
    args: &ListArgs,
    io: &mut Io<'_>,
) -> Result<PluginExit, PluginError> {
    let mut printer = Printer::new(session, args);
    if args.watch {
        return watch(session, args, &mut printer, io).await;
    }
    let mut params = ListParams::default();
    if let Some(selector) = &args.selector {
        params = params.labels(selector);
    }
    let builds = api(session, args)
        .list(&params)
        .await
        .map_err(|e| PluginError::api("listing builds", e))?
        .items;
    let pods = build_pods(session, args, &builds).await?;
    printer.table(sorted(builds, args.all_namespaces), &pods, io)?;
    Ok(PluginExit::Succeeded)
}

/// The Builds' API: the session's namespace, or every namespace with `-A`.
fn api(session: &Session, args: &ListArgs) -> Api<Build> {
    if args.all_namespaces {
        Api::all(session.client.clone())
    } else {
        session.builds()
    }
}

/// The key of a Build in maps: namespace and name.
type Key = (String, String);

fn key(build: &Build) -> Key {
    (build.namespace().unwrap_or_default(), build.name_any())
}

/// The pods of the failed Builds, by Build, read in one list (build pods carry the Build's
/// name as a label), to name the step that failed each; none when there is no failed Build.
/// Without the right to list pods, the failed step is taken from the Builds' status alone.
async fn build_pods(
    session: &Session,
    args: &ListArgs,
    builds: &[Build],
) -> Result<BTreeMap<Key, Pod>, PluginError> {
    if !builds.iter().any(|b| status_word(b) == "Failed") {
        return Ok(BTreeMap::new());
    }
    let api: Api<Pod> = if args.all_namespaces {
        Api::all(session.client.clone())
    } else {
        session.pods()
    };
    let params = ListParams::default().labels(build_pod::BUILD_NAME_LABEL);
    let pods = match api.list(&params).await {
        Ok(list) => list.items,
        Err(kube::Error::Api(status)) if status.code == 403 => Vec::new(),
        Err(error) => return Err(PluginError::api("listing the builds' pods", error)),
    };
    Ok(pods
        .into_iter()
        .filter_map(|pod| {
            let build = pod.labels().get(build_pod::BUILD_NAME_LABEL)?.clone();
            Some(((pod.namespace().unwrap_or_default(), build), pod))
        })
        .collect())
}

/// The Builds in tkn's order: by namespace with `-A`; then those not started yet; then by
/// start time, newest first; then (for a stable order) newest created first, and by name.
fn sorted(mut builds: Vec<Build>, all_namespaces: bool) -> Vec<Build> {
    builds.sort_by(|a, b| {
        let namespace = |x: &Build| {
            if all_namespaces {
                x.namespace().unwrap_or_default()
            } else {
                String::new()
            }
        };
        let start = |x: &Build| x.status.as_ref().and_then(|s| s.start_time.clone());
        let created = |x: &Build| x.metadata.creation_timestamp.clone();
        namespace(a)
            .cmp(&namespace(b))
            .then_with(|| start(a).is_some().cmp(&start(b).is_some()))
            .then_with(|| start(b).cmp(&start(a)))
            .then_with(|| created(b).cmp(&created(a)))
            .then_with(|| a.name_any().cmp(&b.name_any()))
    });
    builds
}

/// The step that failed a failed Build: from its pod as `logs` and `describe` find it, else
/// from its status (the first step that exited non-zero).
fn failing_step(build: &Build, pod: Option<&Pod>) -> Option<String> {
    if status_word(build) != "Failed" {
        return None;
    }
    if let Some(step) = failed_step(build, pod) {
        return Some(step);
    }
    let status = build.status.as_ref()?;
    let index = status
        .step_states
        .iter()
        .position(|state| state.terminated.as_ref().is_some_and(|t| t.exit_code != 0))?;
    let container = status.steps_completed.get(index)?;
    Some(display_name(container).to_owned())
}

/// kubectl's way of writing an age (`duration.HumanDuration`): `42s`, `3m12s`, `15m`, `5h2m`,
/// `3d4h`, `2y10d`.
pub(crate) fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".to_owned();
    }
    let seconds = seconds.max(0);
    let (minutes, hours) = (seconds / 60, seconds / 3600);
    let (days, years) = (hours / 24, hours / (24 * 365));
    let with = |big: i64, unit: &str, small: i64, small_unit: &str| {
        if small == 0 {
            format!("{big}{unit}")
        } else {
            format!("{big}{unit}{small}{small_unit}")
        }
    };
    match () {
        () if seconds < 120 => format!("{seconds}s"),
        () if minutes < 10 => with(minutes, "m", seconds % 60, "s"),
        () if minutes < 180 => format!("{minutes}m"),
        () if hours < 8 => with(hours, "h", minutes % 60, "m"),
        () if hours < 48 => format!("{hours}h"),
        () if hours < 24 * 8 => with(days, "d", hours % 24, "h"),
        () if hours < 24 * 365 * 2 => format!("{days}d"),
        () if hours < 24 * 365 * 8 => with(years, "y", days % 365, "d"),
        () => format!("{years}y"),
    }
}

fn seconds_between(start: &Timestamp, end: &Timestamp) -> i64 {
    end.as_second() - start.as_second()
}

/// Prints Builds as `list` was asked to, keeping the widths of the first table for the lines
/// of later changes.
struct Printer {
    format: Option<ListFormat>,
    all_namespaces: bool,
    namespace: String,
    now: fn() -> Timestamp,
    /// The column widths of the table printed so far; empty before the header.
    widths: Vec<usize>,
}

const NONE: &str = "<none>";

impl Printer {
    fn new(session: &Session, args: &ListArgs) -> Printer {
        Printer {
            format: args.output,
            all_namespaces: args.all_namespaces,
            namespace: session.namespace.clone(),
            now: session.clock,
            widths: Vec::new(),
        }
    }

    fn is_table(&self) -> bool {
        matches!(self.format, None | Some(ListFormat::Wide))
    }

    fn header(&self) -> Vec<String> {
        let mut header = Vec::new();
        if self.all_namespaces {
            header.push("NAMESPACE");
        }
        header.extend(["NAME", "STATUS", "REASON", "AGE", "DURATION", "FAILED STEP"]);
        if self.format == Some(ListFormat::Wide) {
            header.extend(["POD", "TEMPLATE", "SERVICE ACCOUNT"]);
        }
        header.into_iter().map(str::to_owned).collect()
    }

    /// The cells of one Build's line.
    fn row(&self, build: &Build, pod: Option<&Pod>) -> Vec<String> {
        let now = (self.now)();
        let status = build.status.as_ref();
        let condition = succeeded(build);
        let age = build
            .metadata
            .creation_timestamp
            .as_ref()
            .map_or_else(|| "<unknown>".to_owned(), |t| age(&t.0, &now));
        let duration = status.and_then(|s| s.start_time.as_ref()).map_or_else(
            || NONE.to_owned(),
            |start: &Time| {
                let end = status
                    .and_then(|s| s.completion_time.as_ref())
                    .map_or(now, |t| t.0);
                human_duration(seconds_between(&start.0, &end))
            },
        );
        let mut row = Vec::new();
        if self.all_namespaces {
            row.push(build.namespace().unwrap_or_default());
        }
        row.extend([
            build.name_any(),
            status_word(build).to_owned(),
            or_none(condition.and_then(|c| c.reason.clone())),
            age,
            duration,
            or_none(failing_step(build, pod)),
        ]);
        if self.format == Some(ListFormat::Wide) {
            row.extend(wide_cells(build));
        }
        row
    }

    /// Prints the first table (or the objects, in another format), or says there are none.
    fn table(
        &mut self,
        builds: Vec<Build>,
        pods: &BTreeMap<Key, Pod>,
        io: &mut Io<'_>,
    ) -> Result<(), PluginError> {
        let list = matches!(self.format, Some(ListFormat::Yaml | ListFormat::Json));
        if builds.is_empty() && !list {
            return self.none_found(io);
        }
        if !self.is_table() {
            return self.objects(&builds, io);
        }
        let mut rows = vec![self.header()];
        rows.extend(builds.iter().map(|b| self.row(b, pods.get(&key(b)))));
        self.widths = widths(&rows);
        for row in &rows {
            self.line(row, io)?;
        }
        Ok(())
    }

    fn none_found(&self, io: &mut Io<'_>) -> Result<(), PluginError> {
        if self.all_namespaces {
            writeln!(io.err, "No Builds found.")?;
        } else {
            writeln!(io.err, "No Builds found in namespace {}.", self.namespace)?;
        }
        Ok(())
    }

    /// Prints one line of the table; the header first if none was printed yet (`-w` after an
    /// empty list).
    fn change(
        &mut self,
        build: &Build,
        pod: Option<&Pod>,
        io: &mut Io<'_>,
    ) -> Result<(), PluginError> {
        if !self.is_table() {
            return self.object(build, io);
        }
        let row = self.row(build, pod);
        if self.widths.is_empty() {
            let header = self.header();
            self.widths = widths(&[header.clone(), row.clone()]);
            self.line(&header, io)?;
        }
        self.line(&row, io)
    }

    /// Writes `cells`, each padded to its column's width and three spaces (kubectl's
    /// tabwriter), the last one not padded.
    fn line(&mut self, cells: &[String], io: &mut Io<'_>) -> Result<(), PluginError> {
        let mut line = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                line.push_str(cell);
            } else {
                let width = self.widths.get(i).copied().unwrap_or(0);
                self.widths[i] = width.max(cell.chars().count() + 3);
                let _ = write!(line, "{cell:<width$}", width = self.widths[i]);
            }
        }
        writeln!(io.out, "{}", line.trim_end())?;
        Ok(())
    }

    /// The Builds as a List, or one name per line.
    fn objects(&self, builds: &[Build], io: &mut Io<'_>) -> Result<(), PluginError> {
        if self.format == Some(ListFormat::Name) {
            for build in builds {
                self.object(build, io)?;
            }
            return Ok(());
        }
        let items: Vec<Build> = builds.iter().map(without_managed_fields).collect();
        let list = serde_json::json!({
            "apiVersion": "v1",
            "kind": "List",
            "metadata": {"resourceVersion": ""},
            "items": items,
        });
        write_value(&list, self.format, io)
    }

    /// One Build, as a change of `-w` prints it in a format other than the table.
    fn object(&self, build: &Build, io: &mut Io<'_>) -> Result<(), PluginError> {
        if self.format == Some(ListFormat::Name) {
            writeln!(io.out, "build.build.knative.dev/{}", build.name_any())?;
            return Ok(());
        }
        if self.format == Some(ListFormat::Yaml) {
            writeln!(io.out, "---")?;
        }
        let value = serde_json::to_value(without_managed_fields(build))
            .map_err(|e| PluginError::Output(std::io::Error::other(e)))?;
        write_value(&value, self.format, io)
    }
}

fn or_none(value: Option<String>) -> String {
    value
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| NONE.to_owned())
}

fn age(created: &Timestamp, now: &Timestamp) -> String {
    human_duration(seconds_between(created, now))
}

/// The cells `-o wide` adds: the pod, the template (`buildtemplate/NAME` or
/// `clusterbuildtemplate/NAME`) and the ServiceAccount.
fn wide_cells(build: &Build) -> [String; 3] {
    let pod = build
        .status
        .as_ref()
        .and_then(|s| s.cluster.as_ref())
        .map(|c| c.pod_name.clone());
    let template = build.spec.template.as_ref().map(|t| {
        let kind = match t.kind.unwrap_or(TemplateKind::BuildTemplate) {
            TemplateKind::BuildTemplate => "buildtemplate",
            TemplateKind::ClusterBuildTemplate => "clusterbuildtemplate",
        };
        format!("{kind}/{}", t.name)
    });
    [
        or_none(pod),
        or_none(template),
        build.spec.service_account().to_owned(),
    ]
}

/// The widths of the columns of `rows`: the widest cell and three spaces, at least six
/// (kubectl's tabwriter).
fn widths(rows: &[Vec<String>]) -> Vec<usize> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    (0..columns)
        .map(|i| {
            let widest = rows
                .iter()
                .filter_map(|row| row.get(i))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0);
            (widest + 3).max(6)
        })
        .collect()
}

fn without_managed_fields(build: &Build) -> Build {
    let mut build = build.clone();
    build.metadata.managed_fields = None;
    build
}

fn write_value(
    value: &serde_json::Value,
    format: Option<ListFormat>,
    io: &mut Io<'_>,
) -> Result<(), PluginError> {
    let text = if format == Some(ListFormat::Json) {
        serde_json::to_string_pretty(value)
            .map(|t| t + "\n")
            .map_err(std::io::Error::other)?
    } else {
        serde_yaml_ng::to_string(value).map_err(std::io::Error::other)?
    };
    io.out.write_all(text.as_bytes())?;
    Ok(())
}

/// `list -w`: the list, then a line for each change, from a watch that resumes where it left
/// off and lists again when its version expired (printing then only what changed meanwhile).
async fn watch(
    session: &Session,
    args: &ListArgs,
    printer: &mut Printer,
    io: &mut Io<'_>,
) -> Result<PluginExit, PluginError> {
    let mut config = watcher::Config::default();
    if let Some(selector) = &args.selector {
        config = config.labels(selector);
    }
    config.list_semantic = watcher::ListSemantic::MostRecent;
    let mut events = kube::runtime::watcher(api(session, args), config)
        .default_backoff()
        .boxed();
    // The Builds as last printed; `None` before the first list.
    let mut shown: Option<BTreeMap<Key, Build>> = None;
    let mut listing: Vec<Build> = Vec::new();
    let mut trouble = None;
    while let Some(event) = events.next().await {
        match event {
            Ok(Event::Init) => listing.clear(),
            Ok(Event::InitApply(build)) => listing.push(build),
            Ok(Event::InitDone) => {
                let listed = std::mem::take(&mut listing);
                shown = Some(match shown.take() {
                    None => first_list(session, args, printer, listed, io).await?,
                    Some(before) => relisted(session, printer, before, listed, io).await?,
                });
            }
            Ok(Event::Apply(build)) => {
                if let Some(shown) = &mut shown {
                    printer.change(&build, pod_of(session, &build).await.as_ref(), io)?;
                    shown.insert(key(&build), build);
                }
            }
            Ok(Event::Delete(build)) => {
                if let Some(shown) = &mut shown {
                    printer.change(&build, None, io)?;
                    shown.remove(&key(&build));
                }
            }
            Err(watcher::Error::WatchError(status)) if status.code == 410 => {}
            Err(watcher::Error::InitialListFailed(error)) if shown.is_none() => {
                return Err(PluginError::api("listing builds", error));
            }
            Err(error) => {
                let line = format!("watching builds: {error} (retrying)");
                if trouble.as_ref() != Some(&line) {
                    writeln!(io.err, "{line}")?;
                    trouble = Some(line);
                }
            }
        }
        io.out.flush()?;
    }
    Ok(PluginExit::Succeeded)
}

/// Prints the first list of `-w`; returns the Builds shown.
async fn first_list(
    session: &Session,
    args: &ListArgs,
    printer: &mut Printer,
    listed: Vec<Build>,
    io: &mut Io<'_>,
) -> Result<BTreeMap<Key, Build>, PluginError> {
    let pods = build_pods(session, args, &listed).await?;
    let listed = sorted(listed, args.all_namespaces);
    let shown = listed.iter().map(|b| (key(b), b.clone())).collect();
    printer.table(listed, &pods, io)?;
    Ok(shown)
}

/// After a list again (the watch's version expired): a line for each Build that changed or
/// went meanwhile. Returns the Builds shown.
async fn relisted(
    session: &Session,
    printer: &mut Printer,
    mut before: BTreeMap<Key, Build>,
    listed: Vec<Build>,
    io: &mut Io<'_>,
) -> Result<BTreeMap<Key, Build>, PluginError> {
    let mut shown = BTreeMap::new();
    for build in listed {
        let old = before.remove(&key(&build));
        if old.and_then(|o| o.resource_version()) != build.resource_version() {
            printer.change(&build, pod_of(session, &build).await.as_ref(), io)?;
        }
        shown.insert(key(&build), build);
    }
    for gone in before.values() {
        printer.change(gone, None, io)?;
    }
    Ok(shown)
}

/// The pod of a failed Build, to name its failed step; `None` for any other Build, or when the
/// pod cannot be read.
async fn pod_of(session: &Session, build: &Build) -> Option<Pod> {
    if status_word(build) != "Failed" {
        return None;
    }
    let pods: Api<Pod> = Api::namespaced(
        session.client.clone(),
        &build.namespace().unwrap_or_default(),
    );
    pods.get_opt(&super::steps::pod_name_of(build))
        .await
        .ok()
        .flatten()
}
