//! What `kubectl build describe` shows, as data: the text view is written from it, and
//! `-o yaml|json` prints it. The field docs are the schema of that output (camelCase keys;
//! absent values are left out; times are RFC 3339, durations Go durations such as `1m30s`).

use std::fmt::Write as _;

use serde::Serialize;

use super::built::Built;

/// One Build described: the same content as the text view. Secret values are never part of
/// it: Secrets are read only for their names, types and annotations.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Description {
    /// The Build's name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// `Succeeded`, `Failed`, `Running` (its `Succeeded` condition is `Unknown`) or `Pending`
    /// (no condition yet).
    pub status: String,
    /// The `Succeeded` condition's reason, such as `StepFailed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The `Succeeded` condition's message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Whether a cancel was asked for (`spec.status: BuildCancelled`).
    pub cancel_requested: bool,
    /// When the Build started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
    /// When it finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed: Option<String>,
    /// How long it ran, once finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// Its timeout (`spec.timeout`, else the default).
    pub timeout: String,
    /// Its pod.
    pub pod: PodDescription,
    /// The ServiceAccount it runs as, and the credentials that brings.
    pub service_account: AccountDescription,
    /// Its sources (`spec.source` and `spec.sources`), in order.
    pub sources: Vec<SourceDescription>,
    /// What its status records of what it was built from and produced (the status extension;
    /// left out when empty).
    #[serde(skip_serializing_if = "Built::is_empty")]
    pub built: Built,
    /// Its template, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<TemplateDescription>,
    /// Its steps: the pod's init containers in order (helpers included) once there is a pod,
    /// else the steps of the Build or of its template.
    pub steps: Vec<StepDescription>,
    /// Its Events, oldest first.
    pub events: Vec<EventDescription>,
    /// For a failed Build whose pod says which: the step that failed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_step: Option<String>,
    /// For a failed Build: the command that shows the logs that explain it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logs_command: Option<String>,
}

/// The Build's pod.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PodDescription {
    /// Its name.
    pub name: String,
    /// Its phase (`Pending`, `Running`, `Succeeded`, `Failed`), `gone` (the Build had it, it is
    /// deleted) or `not created yet`.
    pub state: String,
}

/// The ServiceAccount a Build runs as.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AccountDescription {
    /// Its name.
    pub name: String,
    /// Whether it exists.
    pub found: bool,
    /// The Secrets it lists, by name.
    pub secrets: Vec<SecretDescription>,
    /// What the credential initializer would warn about (an annotation it cannot use).
    pub warnings: Vec<String>,
}

/// A Secret a ServiceAccount lists.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SecretDescription {
    /// Its name.
    pub name: String,
    /// Whether it exists.
    pub found: bool,
    /// Its type (`Opaque` when it has none), when it exists.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// What Builds use it for; empty when nothing.
    pub uses: Vec<CredentialUse>,
}

/// One use of a Secret by the credential initializer.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CredentialUse {
    /// Its kind: `basic-docker`, `docker-config`, `docker-cfg`, `basic-git` or `ssh-git`.
    pub kind: String,
    /// The registry URL or git host it serves, when it names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// One source of a Build.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SourceDescription {
    /// `git`, `gcs`, `custom` or `empty`.
    pub kind: String,
    /// Its name (sources in `spec.sources` have one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// git: the repository URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// git: the revision (`HEAD` when none is given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// gcs: the object's location.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// gcs: `Archive` or `Manifest`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive_type: Option<String>,
    /// custom: the image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Where it is fetched to, when not the workspace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_path: Option<String>,
    /// The part of it that is kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_path: Option<String>,
}

/// A Build's template.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TemplateDescription {
    /// `BuildTemplate` or `ClusterBuildTemplate`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// Whether it exists; the arguments are listed only when it does.
    pub found: bool,
    /// The template's parameters with their values, then the Build's arguments that match no
    /// parameter.
    pub arguments: Vec<ArgumentDescription>,
}

/// A template parameter and its value.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ArgumentDescription {
    /// The parameter's (or the argument's) name.
    pub name: String,
    /// Its value, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `given` (by the Build), `default` (the parameter's), `missing` (neither) or
    /// `unknown` (an argument that matches no parameter).
    pub source: String,
}

/// One container of the Build's pod, or one step before there is a pod.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StepDescription {
    /// The step's name (`build`), or a helper's (`credential-initializer`, `git-source-0`).
    pub name: String,
    /// Its image.
    pub image: String,
    /// `Not started` (no pod yet), `Waiting`, `Running` or `Terminated`.
    pub state: String,
    /// Why it waits (`ImagePullBackOff`) or how it ended (`Completed`, `Error`, `OOMKilled`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Its exit code, once terminated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// When it started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
    /// How long it ran, once terminated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
}

/// One Event about the Build.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EventDescription {
    /// When it last happened.
    pub time: String,
    /// `Normal` or `Warning`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Its reason, such as `Started`.
    pub reason: String,
    /// Its message.
    pub message: String,
}

impl Description {
    /// The text view: `Label:   value` lines, then tables of the steps and the Events.
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        self.overview(&mut text);
        self.service_account.write(&mut text);
        if self.sources.is_empty() {
            field(&mut text, "Source", "none");
        } else {
            let _ = writeln!(text, "Sources:");
            for source in &self.sources {
                let _ = writeln!(text, "  {}", source.line());
            }
        }
        if let Some(template) = &self.template {
            template.write(&mut text);
        }
        self.steps_table(&mut text);
        self.built.write(&mut text);
        self.events_table(&mut text);
        if let Some(command) = &self.logs_command {
            let what = if self.failed_step.is_some() {
                "The failing step's logs"
            } else {
                "The Build's logs"
            };
            let _ = writeln!(text, "\n{what}: {command}");
        }
        text
    }

    fn overview(&self, text: &mut String) {
        field(text, "Name", &self.name);
        field(text, "Namespace", &self.namespace);
        field(text, "Status", &self.status);
        if self.status != "Pending" {
            field(text, "Reason", or_dash(self.reason.as_deref()));
            field(text, "Message", or_dash(self.message.as_deref()));
        }
        if self.cancel_requested {
            field(text, "Cancel", "requested (spec.status: BuildCancelled)");
        }
        field(text, "Started", or_dash(self.started.as_deref()));
        field(text, "Completed", or_dash(self.completed.as_deref()));
        if let Some(duration) = &self.duration {
            field(text, "Duration", duration);
        }
        field(text, "Timeout", &self.timeout);
        field(
            text,
            "Pod",
            format!("{} ({})", self.pod.name, self.pod.state),
        );
    }

    fn steps_table(&self, text: &mut String) {
        let mut rows =
            vec![["NAME", "IMAGE", "STATE", "EXIT", "STARTED", "DURATION"].map(str::to_owned)];
        for step in &self.steps {
            let state = match &step.reason {
                Some(reason) if !reason.is_empty() => format!("{} ({reason})", step.state),
                _ => step.state.clone(),
            };
            rows.push([
                step.name.clone(),
                step.image.clone(),
                state,
                step.exit_code
                    .map_or_else(|| "-".to_owned(), |code| code.to_string()),
                or_dash(step.started.as_deref()).to_owned(),
                or_dash(step.duration.as_deref()).to_owned(),
            ]);
        }
        let _ = writeln!(text, "Steps:");
        table(text, &rows);
    }

    fn events_table(&self, text: &mut String) {
        if self.events.is_empty() {
            let _ = writeln!(text, "Events:           <none>");
            return;
        }
        let mut rows = vec![["TIME", "TYPE", "REASON", "MESSAGE"].map(str::to_owned)];
        for event in &self.events {
            rows.push([
                event.time.clone(),
                event.type_.clone(),
                event.reason.clone(),
                event.message.clone(),
            ]);
        }
        let _ = writeln!(text, "Events:");
        table(text, &rows);
    }
}

impl AccountDescription {
    fn write(&self, text: &mut String) {
        if !self.found {
            field(
                text,
                "Service Account",
                format!("{} (not found)", self.name),
            );
            return;
        }
        field(text, "Service Account", &self.name);
        for secret in &self.secrets {
            let Some(type_) = secret.type_.as_deref().filter(|_| secret.found) else {
                let _ = writeln!(text, "  Secret {}: not found", secret.name);
                continue;
            };
            let uses: Vec<String> = secret
                .uses
                .iter()
                .map(|u| match &u.target {
                    Some(target) => format!("{} {target}", u.kind),
                    None => u.kind.clone(),
                })
                .collect();
            let uses = if uses.is_empty() {
                "not used by builds".to_owned()
            } else {
                uses.join(", ")
            };
            let _ = writeln!(text, "  Secret {} ({type_}): {uses}", secret.name);
        }
        for warning in &self.warnings {
            let _ = writeln!(text, "  warning: {warning}");
        }
    }
}

impl SourceDescription {
    /// The source in one line: `git URL @ REVISION`, `gcs LOCATION (TYPE)`, `custom image
    /// IMAGE` or `empty`, after its name, or followed by where it goes.
    pub(crate) fn line(&self) -> String {
        let get = |value: &Option<String>| value.clone().unwrap_or_default();
        let what = match self.kind.as_str() {
            "git" => format!("git {} @ {}", get(&self.url), get(&self.revision)),
            "gcs" => format!("gcs {} ({})", get(&self.location), get(&self.archive_type)),
            "custom" => format!("custom image {}", or_dash(self.image.as_deref())),
            _ => "empty".to_owned(),
        };
        match (&self.name, &self.target_path, &self.sub_path) {
            (Some(name), _, _) => format!("{name}: {what}"),
            (None, Some(path), _) => format!("{what} into {path}"),
            (None, None, Some(path)) => format!("{what} (subPath {path})"),
            (None, None, None) => what,
        }
    }
}

impl TemplateDescription {
    fn write(&self, text: &mut String) {
        if !self.found {
            let value = format!("{} {} (not found)", self.kind, self.name);
            field(text, "Template", value);
            return;
        }
        field(text, "Template", format!("{} {}", self.kind, self.name));
        let _ = writeln!(text, "  Arguments:");
        for argument in &self.arguments {
            let value = argument.value.as_deref().unwrap_or_default();
            let shown = match argument.source.as_str() {
                "default" => format!("{value} (default)"),
                "missing" => "(missing: no argument and no default)".to_owned(),
                "unknown" => format!("{value} (matches no parameter)"),
                _ => value.to_owned(),
            };
            let _ = writeln!(text, "    {} = {shown}", argument.name);
        }
    }
}

/// A `Label:   value` line, values aligned.
fn field(text: &mut String, label: &str, value: impl std::fmt::Display) {
    let _ = writeln!(text, "{:<17} {value}", format!("{label}:"));
}

fn or_dash(value: Option<&str>) -> &str {
    value.unwrap_or("-")
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
