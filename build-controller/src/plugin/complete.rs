//! Shell completion, two ways.
//!
//! - `kubectl build completion bash|zsh|fish|…` prints clap's script for `kubectl-build`
//!   typed directly: subcommands, flags and their fixed values.
//! - `kubectl_complete-build` is what kubectl (1.26+) runs to complete `kubectl build …`: it
//!   gets the words typed after `kubectl build` (the last one being completed, empty when a new
//!   word starts) and answers as cobra's `__complete` does: one candidate a line (`value`, or
//!   `value<TAB>description`), then `:<directive>`, cobra's `ShellCompDirective` bits, which
//!   kubectl hands to the shell. Besides subcommands and flags it completes from the cluster
//!   the words name (`-n`, `--context`, `--kubeconfig`): Build names, template names for
//!   `--template` (ClusterBuildTemplates with `--cluster-template`), the steps of the Build
//!   for `--step`, namespaces for `-n`; and contexts from the kubeconfig for `--context`.

use std::future::Future;
use std::time::Duration;

use build_types::{Build, BuildTemplate, ClusterBuildTemplate, TemplateKind};
use clap::{Arg, Command, CommandFactory};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::ListParams;
use kube::config::Kubeconfig;
use kube::{Api, ResourceExt};

use super::cli::{CompletionArgs, PluginCli};
use super::describe::read_template;
use super::error::PluginError;
use super::exit::PluginExit;
use super::io::Io;
use super::list::status_word;
use super::session::{ClusterArgs, Session};
use super::steps::{display_name, pod_name_of, step_containers};

/// Prints the completion script of `kubectl-build` for the shell.
///
/// # Errors
///
/// Only when the output cannot be written.
pub fn completion_script(
    args: &CompletionArgs,
    io: &mut Io<'_>,
) -> Result<PluginExit, PluginError> {
    let mut command = PluginCli::command();
    clap_complete::generate(args.shell, &mut command, "kubectl-build", io.out);
    io.out.flush()?;
    Ok(PluginExit::Succeeded)
}

/// cobra's `ShellCompDirectiveError`: something went wrong; the shell completes nothing.
pub const DIRECTIVE_ERROR: u32 = 1;
/// cobra's `ShellCompDirectiveNoFileComp`: no file names when there is no candidate.
pub const DIRECTIVE_NO_FILE_COMP: u32 = 4;
/// cobra's `ShellCompDirectiveDefault`: the shell's own completion (file names) when there is
/// no candidate.
pub const DIRECTIVE_DEFAULT: u32 = 0;

/// How long a completion may wait for the cluster: a shell waits on it.
pub const COMPLETION_TIMEOUT: Duration = Duration::from_secs(5);

/// The answer to a completion request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completions {
    /// The candidates, each `value` or `value\tdescription`.
    pub candidates: Vec<String>,
    /// cobra's `ShellCompDirective` bits ([`DIRECTIVE_NO_FILE_COMP`] and friends).
    pub directive: u32,
}

impl Completions {
    /// Writes the answer as cobra's `__complete` does: a candidate a line, then
    /// `:<directive>`.
    ///
    /// # Errors
    ///
    /// When the output cannot be written.
    pub fn write(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        for candidate in &self.candidates {
            writeln!(out, "{candidate}")?;
        }
        writeln!(out, ":{}", self.directive)
    }

    fn of(candidates: Vec<String>) -> Completions {
        Completions {
            candidates,
            directive: DIRECTIVE_NO_FILE_COMP,
        }
    }
}

/// What the word being completed asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Wanted {
    /// Fixed candidates (subcommands, flags, a flag's values), with their descriptions.
    Fixed(Vec<(String, String)>),
    /// File names: the shell's own completion.
    Files,
    /// The names of the Builds in the namespace.
    Builds,
    /// The names of the BuildTemplates, or of the ClusterBuildTemplates.
    Templates(TemplateKind),
    /// The steps of this Build.
    Steps(String),
    /// The namespaces.
    Namespaces,
    /// The kubeconfig's contexts.
    Contexts,
    /// Nothing to offer (a free value, a word after the last positional).
    Nothing,
}

/// The words typed so far, understood.
#[derive(Clone, Debug)]
struct Typed {
    /// The cluster the words name.
    cluster: ClusterArgs,
    wanted: Wanted,
    /// What is typed of the word being completed (for `--flag=value`, the value).
    prefix: String,
    /// What every candidate starts with in the answer (`--flag=`), so that the shell
    /// replaces the whole word.
    lead: String,
}

/// Completes the last of `words`, the words typed after `kubectl build`. Names come from the
/// cluster the words name (through `connect`, called only when names are needed, at most
/// [`COMPLETION_TIMEOUT`]); a failure to reach it answers no candidate and
/// [`DIRECTIVE_ERROR`], and its reason goes to `err`.
pub async fn complete<F, Fut>(
    words: &[String],
    connect: F,
    err: &mut dyn std::io::Write,
) -> Completions
where
    F: FnOnce(ClusterArgs) -> Fut,
    Fut: Future<Output = Result<Session, PluginError>>,
{
    let typed = understand(words);
    let names = match typed.wanted {
        Wanted::Fixed(candidates) => {
            let candidates = candidates
                .into_iter()
                .filter(|(value, _)| value.starts_with(&typed.prefix))
                .map(|(value, about)| with_about(&typed.lead, &value, &about))
                .collect();
            return Completions::of(candidates);
        }
        Wanted::Files => {
            return Completions {
                candidates: Vec::new(),
                directive: DIRECTIVE_DEFAULT,
            };
        }
        Wanted::Nothing => return Completions::of(Vec::new()),
        Wanted::Contexts => Ok(contexts(&typed.cluster)),
        wanted => {
            let cluster = typed.cluster.clone();
            let asked = async { names(&connect(cluster).await?, wanted).await };
            match tokio::time::timeout(COMPLETION_TIMEOUT, asked).await {
                Ok(names) => names,
                Err(_) => Err(PluginError::Kubeconfig(format!(
                    "the cluster did not answer within {COMPLETION_TIMEOUT:?}"
                ))),
            }
        }
    };
    match names {
        Ok(names) => Completions::of(
            names
                .into_iter()
                .filter(|(name, _)| name.starts_with(&typed.prefix))
                .map(|(name, about)| with_about(&typed.lead, &name, &about))
                .collect(),
        ),
        Err(error) => {
            let _ = writeln!(err, "error: {error}");
            Completions {
                candidates: Vec::new(),
                directive: DIRECTIVE_ERROR,
            }
        }
    }
}

fn with_about(lead: &str, value: &str, about: &str) -> String {
    if about.is_empty() {
        format!("{lead}{value}")
    } else {
        format!("{lead}{value}\t{about}")
    }
}

/// The names `wanted` asks for, with a description each (a Build's status).
async fn names(session: &Session, wanted: Wanted) -> Result<Vec<(String, String)>, PluginError> {
    let listed = |what: &str, error| PluginError::api(format!("listing {what}"), error);
    let plain = |names: Vec<String>| names.into_iter().map(|n| (n, String::new())).collect();
    Ok(match wanted {
        Wanted::Builds => {
            let builds = session.builds().list(&ListParams::default()).await;
            let builds = builds.map_err(|e| listed("builds", e))?.items;
            builds
                .iter()
                .map(|b| (b.name_any(), status_word(b).to_owned()))
                .collect()
        }
        Wanted::Templates(TemplateKind::BuildTemplate) => {
            let api: Api<BuildTemplate> = session.templates();
            let list = api.list(&ListParams::default()).await;
            plain(names_of(
                list.map_err(|e| listed("buildtemplates", e))?.items,
            ))
        }
        Wanted::Templates(TemplateKind::ClusterBuildTemplate) => {
            let api: Api<ClusterBuildTemplate> = session.cluster_templates();
            let list = api.list(&ListParams::default()).await;
            plain(names_of(
                list.map_err(|e| listed("clusterbuildtemplates", e))?.items,
            ))
        }
        Wanted::Namespaces => {
            let api: Api<Namespace> = Api::all(session.client.clone());
            let list = api.list(&ListParams::default()).await;
            plain(names_of(list.map_err(|e| listed("namespaces", e))?.items))
        }
        Wanted::Steps(build) => plain(steps(session, &build).await?),
        Wanted::Fixed(_) | Wanted::Files | Wanted::Contexts | Wanted::Nothing => Vec::new(),
    })
}

fn names_of<K: kube::Resource>(objects: Vec<K>) -> Vec<String> {
    objects.iter().map(ResourceExt::name_any).collect()
}

/// The steps of Build `name` as `--step` takes them: its pod's containers (helpers included)
/// once it has a pod, else the steps of the Build or of its template.
async fn steps(session: &Session, name: &str) -> Result<Vec<String>, PluginError> {
    let build: Build = session.build(name).await?;
    if let Some(pod) = session.pod(&pod_name_of(&build)).await? {
        return Ok(step_containers(&build, &pod)
            .into_iter()
            .map(|c| c.name)
            .collect());
    }
    let steps = match (&build.spec.template, build.spec.steps.is_empty()) {
        (Some(instance), true) => {
            let kind = instance.kind.unwrap_or(TemplateKind::BuildTemplate);
            read_template(session, kind, &instance.name)
                .await?
                .map(|t| t.steps)
                .unwrap_or_default()
        }
        _ => build.spec.steps.clone(),
    };
    Ok(steps
        .iter()
        .map(|s| display_name(&s.name).to_owned())
        .collect())
}

/// The contexts of the kubeconfig the words name (or the default one).
fn contexts(cluster: &ClusterArgs) -> Vec<(String, String)> {
    let kubeconfig = match &cluster.kubeconfig {
        Some(path) => Kubeconfig::read_from(path).ok(),
        None => Kubeconfig::read().ok(),
    };
    kubeconfig
        .map(|k| k.contexts)
        .unwrap_or_default()
        .into_iter()
        .map(|c| (c.name, String::new()))
        .collect()
}

/// Reads `words` as clap would: the subcommand, the flags given (and the cluster flags'
/// values), the positionals; then what the last word asks for.
fn understand(words: &[String]) -> Typed {
    let mut root = PluginCli::command();
    root.build();
    let (typed, before) = match words.split_last() {
        Some((typed, before)) => (typed.as_str(), before),
        None => ("", words),
    };
    let mut walk = Walk {
        command: &root,
        cluster: ClusterArgs::default(),
        given: Vec::new(),
        positionals: Vec::new(),
        pending: None,
        dashdash: false,
    };
    for word in before {
        walk.step(word);
    }
    walk.wanted(typed)
}

/// The state of reading the words.
struct Walk<'a> {
    command: &'a Command,
    cluster: ClusterArgs,
    /// The ids of the flags given.
    given: Vec<String>,
    positionals: Vec<String>,
    /// A flag whose value is the next word.
    pending: Option<&'a Arg>,
    /// After `--`: only positionals.
    dashdash: bool,
}

impl<'a> Walk<'a> {
    fn step(&mut self, word: &str) {
        if let Some(arg) = self.pending.take() {
            self.value(arg, word);
            return;
        }
        if self.dashdash || !word.starts_with('-') || word == "-" {
            match self.command.find_subcommand(word) {
                Some(sub) if !self.dashdash && self.positionals.is_empty() => self.command = sub,
                _ => self.positionals.push(word.to_owned()),
            }
            return;
        }
        if word == "--" {
            self.dashdash = true;
            return;
        }
        if let Some(long) = word.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (long, None),
            };
            if let Some(arg) = find_long(self.command, name) {
                self.flag(arg, value);
            }
            return;
        }
        // Short flags, clustered (`-fA`), a value attached (`-nfoo`, `-n=foo`) or next.
        let shorts = &word[1..];
        for (i, short) in shorts.char_indices() {
            let Some(arg) = self
                .command
                .get_arguments()
                .find(|a| a.get_short() == Some(short))
            else {
                return;
            };
            if takes_value(arg) {
                let rest = &shorts[i + short.len_utf8()..];
                let rest = rest.strip_prefix('=').unwrap_or(rest);
                self.flag(arg, Some(rest).filter(|r| !r.is_empty()));
                return;
            }
            self.flag(arg, None);
        }
    }

    fn flag(&mut self, arg: &'a Arg, value: Option<&str>) {
        self.given.push(arg.get_id().to_string());
        match value {
            Some(value) => self.value(arg, value),
            None if takes_value(arg) => self.pending = Some(arg),
            None => {}
        }
    }

    /// Notes a flag's value; those of the cluster flags are kept.
    fn value(&mut self, arg: &Arg, value: &str) {
        match arg.get_id().as_str() {
            "namespace" => self.cluster.namespace = Some(value.to_owned()),
            "context" => self.cluster.context = Some(value.to_owned()),
            "kubeconfig" => self.cluster.kubeconfig = Some(value.into()),
            _ => {}
        }
    }

    /// What the word being typed asks for.
    fn wanted(self, typed: &str) -> Typed {
        let mut answer = Typed {
            cluster: self.cluster.clone(),
            wanted: Wanted::Nothing,
            prefix: typed.to_owned(),
            lead: String::new(),
        };
        if let Some(arg) = self.pending {
            answer.wanted = self.value_of(arg);
            return answer;
        }
        if !self.dashdash && typed.starts_with('-') {
            if let Some((name, value)) = typed.strip_prefix("--").and_then(|t| t.split_once('=')) {
                if let Some(arg) = find_long(self.command, name) {
                    answer.wanted = self.value_of(arg);
                }
                answer.prefix = value.to_owned();
                answer.lead = format!("--{name}=");
                return answer;
            }
            answer.wanted = Wanted::Fixed(self.flags(typed));
            return answer;
        }
        answer.wanted = if self.command.has_subcommands() && self.positionals.is_empty() {
            Wanted::Fixed(subcommands(self.command))
        } else {
            self.positional()
        };
        answer
    }

    /// What a flag's value can be.
    fn value_of(&self, arg: &Arg) -> Wanted {
        match arg.get_id().as_str() {
            "namespace" => Wanted::Namespaces,
            "context" => Wanted::Contexts,
            "kubeconfig" | "filename" => Wanted::Files,
            "template" if self.given.iter().any(|g| g == "cluster_template") => {
                Wanted::Templates(TemplateKind::ClusterBuildTemplate)
            }
            "template" => Wanted::Templates(TemplateKind::BuildTemplate),
            "step" => match self.positionals.first() {
                Some(build) => Wanted::Steps(build.clone()),
                None => Wanted::Nothing,
            },
            _ => fixed_values(arg),
        }
    }

    /// The flags of the command not given yet (unless they repeat); short ones too when only
    /// `-` is typed.
    fn flags(&self, typed: &str) -> Vec<(String, String)> {
        let mut flags = Vec::new();
        for arg in self.command.get_arguments() {
            if arg.is_positional() || arg.is_hide_set() {
                continue;
            }
            let repeats = matches!(arg.get_action(), clap::ArgAction::Append);
            if !repeats && self.given.iter().any(|g| g == arg.get_id().as_str()) {
                continue;
            }
            let about = first_line(arg.get_help());
            if let Some(long) = arg.get_long() {
                flags.push((format!("--{long}"), about.clone()));
            }
            if let Some(short) = arg.get_short().filter(|_| typed == "-") {
                flags.push((format!("-{short}"), about));
            }
        }
        flags
    }

    /// What the next positional of the command can be.
    fn positional(&self) -> Wanted {
        let Some(arg) = self.command.get_positionals().nth(self.positionals.len()) else {
            return match self.command.get_positionals().last() {
                Some(last) if matches!(last.get_action(), clap::ArgAction::Append) => {
                    self.positional_of(last)
                }
                _ => Wanted::Nothing,
            };
        };
        self.positional_of(arg)
    }

    fn positional_of(&self, arg: &Arg) -> Wanted {
        match arg.get_id().as_str() {
            "build" => Wanted::Builds,
            "paths" => Wanted::Files,
            _ => fixed_values(arg),
        }
    }
}

fn find_long<'a>(command: &'a Command, name: &str) -> Option<&'a Arg> {
    command.get_arguments().find(|a| a.get_long() == Some(name))
}

fn takes_value(arg: &Arg) -> bool {
    arg.get_action().takes_values()
}

/// A help text's first sentence: up to the first `.` or `;` that ends a clause (followed by a
/// space, outside parentheses), as a description next to a candidate.
fn first_line(text: Option<&clap::builder::StyledStr>) -> String {
    let text = text.map(ToString::to_string).unwrap_or_default();
    let line = text.lines().next().unwrap_or_default();
    let mut depth = 0usize;
    let mut chars = line.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            '.' | ';' if depth == 0 && chars.peek().is_none_or(|(_, next)| *next == ' ') => {
                return line[..i].to_owned();
            }
            _ => {}
        }
    }
    line.to_owned()
}

/// An argument's possible values (an enum's), with their help; nothing for a free value.
fn fixed_values(arg: &Arg) -> Wanted {
    let values: Vec<(String, String)> = arg
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| (v.get_name().to_owned(), first_line(v.get_help())))
        .collect();
    if values.is_empty() {
        Wanted::Nothing
    } else {
        Wanted::Fixed(values)
    }
}

/// The command's subcommands, with the first line of their help.
fn subcommands(command: &Command) -> Vec<(String, String)> {
    command
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| (s.get_name().to_owned(), first_line(s.get_about())))
        .collect()
}
