//! `kubectl build logs [-f] BUILD`: the steps' logs in the order they run.

use build_types::{Build, ConditionStatus};
use clap::Args;
use futures::{AsyncBufReadExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::LogParams;

use super::error::PluginError;
use super::exit::PluginExit;
use super::io::Io;
use super::session::Session;
use super::steps::{
    Phase, StepContainer, container_status, elapsed, failed_step, has_had_pod, is_done, phase,
    pod_name_of, step_containers, succeeded, times,
};
use super::watch::Watched;

/// What `logs` shows, shared with `run`.
#[derive(Args, Clone, Debug, Default)]
pub struct ShowArgs {
    /// Also show the helper containers (credential initializer, source fetchers); their
    /// failures are always shown.
    #[arg(long)]
    pub all: bool,
    /// Prefix each line with the time it was written.
    #[arg(long)]
    pub timestamps: bool,
}

/// `kubectl build logs`.
#[derive(Args, Clone, Debug)]
pub struct LogsArgs {
    /// The Build's name.
    pub build: String,
    /// Follow: wait for the pod, stream each step as it starts, and exit when the Build
    /// finishes (0 succeeded, 1 failed).
    #[arg(short, long)]
    pub follow: bool,
    /// What is shown.
    #[command(flatten)]
    pub show: ShowArgs,
    /// Only this step (as the Build or template names it, or a helper such as
    /// `credential-initializer` or `git-source-0`).
    #[arg(long, value_name = "NAME")]
    pub step: Option<String>,
    /// Only the last N lines of each step.
    #[arg(long, value_name = "N")]
    pub tail: Option<i64>,
    /// Only lines newer than this Go duration, such as 10m or 1h30m.
    #[arg(long, value_name = "DURATION")]
    pub since: Option<build_types::Duration>,
}

impl LogsArgs {
    /// The arguments of `logs -f BUILD` with `show`, as `run` follows a Build it created.
    pub(crate) fn follow(build: String, show: ShowArgs) -> LogsArgs {
        LogsArgs {
            build,
            follow: true,
            show,
            step: None,
            tail: None,
            since: None,
        }
    }
}

/// Shows the Build's logs; with `-f`, follows it to its end.
pub(crate) async fn logs(
    session: &Session,
    args: &LogsArgs,
    io: &mut Io<'_>,
) -> Result<PluginExit, PluginError> {
    let build = session.build(&args.build).await?;
    let mut follower = Follower {
        session,
        args,
        cursor: 0,
        streamed: false,
        started: false,
        said: None,
        failed: false,
        seen_pod: false,
        gone: false,
    };
    if args.follow {
        return follower.follow(&build, io).await;
    }
    let pod = session.pod(&pod_name_of(&build)).await?;
    follower.look(&build, pod.as_ref(), io).await?;
    finish(&build, pod.as_ref(), io)
}

struct Follower<'a> {
    session: &'a Session,
    args: &'a LogsArgs,
    /// The container whose turn it is.
    cursor: usize,
    /// Whether the cursor's logs were shown already (followed while it ran).
    streamed: bool,
    /// Whether the cursor's start was announced.
    started: bool,
    /// The last waiting message, so that each is said once.
    said: Option<String>,
    /// Whether a container exited non-zero: none after it will start.
    failed: bool,
    seen_pod: bool,
    gone: bool,
}

/// How a log request ended.
enum Streamed {
    /// The stream ended (the container finished, or the request was not a follow).
    Ended,
    /// The pod is gone.
    PodGone,
}

impl Follower<'_> {
    /// Follows the Build to its end: its watch and its pod's wake a look at both, and the
    /// pod is read once more when the Build has finished, so that the last look sees every
    /// step's end.
    async fn follow(&mut self, first: &Build, io: &mut Io<'_>) -> Result<PluginExit, PluginError> {
        let session = self.session;
        let mut pod_name = pod_name_of(first);
        let mut builds = Watched::start(session.builds(), "build", &self.args.build);
        let mut pods = Watched::start(session.pods(), "pod", &pod_name);
        loop {
            let Some(build) = builds.current().await? else {
                return Err(PluginError::BuildNotFound {
                    namespace: session.namespace.clone(),
                    name: self.args.build.clone(),
                });
            };
            if pod_name_of(&build) != pod_name {
                pod_name = pod_name_of(&build);
                pods = Watched::start(session.pods(), "pod", &pod_name);
            }
            let pod = if is_done(&build) {
                session.pod(&pod_name).await?
            } else {
                pods.current().await?
            };
            self.look(&build, pod.as_ref(), io).await?;
            if is_done(&build) {
                return finish(&build, pod.as_ref(), io);
            }
            for trouble in [builds.trouble(), pods.trouble()].into_iter().flatten() {
                self.say(io, trouble)?;
            }
            tokio::select! {
                changed = builds.changed() => changed?,
                changed = pods.changed() => changed?,
            }
        }
    }

    /// One look at the Build and its pod: the logs of what has run since the last look, or
    /// why there is nothing to show yet.
    async fn look(
        &mut self,
        build: &Build,
        pod: Option<&Pod>,
        io: &mut Io<'_>,
    ) -> Result<(), PluginError> {
        let done = is_done(build);
        let pod_name = pod_name_of(build);
        match pod {
            Some(pod) => {
                self.seen_pod = true;
                self.advance(build, pod, done || !self.args.follow, io)
                    .await
            }
            None if self.seen_pod || has_had_pod(build) => self.pod_gone(&pod_name, io),
            None if done => Ok(()),
            None => {
                let why = match succeeded(build).and_then(|c| c.reason.as_deref()) {
                    Some(reason) if !reason.is_empty() => {
                        let message = succeeded(build)
                            .and_then(|c| c.message.clone())
                            .unwrap_or_default();
                        format!("waiting: {reason}: {message}")
                    }
                    _ => format!("waiting for pod {pod_name} to be created"),
                };
                self.say(io, why)
            }
        }
    }

    /// Says `message` on stderr, unless it was the last thing said.
    fn say(&mut self, io: &mut Io<'_>, message: String) -> Result<(), PluginError> {
        if self.said.as_ref() != Some(&message) {
            writeln!(io.err, "{message}")?;
            self.said = Some(message);
        }
        Ok(())
    }

    fn pod_gone(&mut self, pod_name: &str, io: &mut Io<'_>) -> Result<(), PluginError> {
        if !self.gone {
            self.gone = true;
            writeln!(
                io.err,
                "pod {pod_name} of build {:?} is gone (deleted by someone?): the logs it held are lost",
                self.args.build
            )?;
        }
        Ok(())
    }

    fn selected(&self, container: &StepContainer) -> bool {
        self.args
            .step
            .as_deref()
            .is_none_or(|step| step == container.name)
    }

    /// Whether the container's logs are shown: selected, and a step, a helper with `--all`, or
    /// a helper that failed.
    fn visible(&self, container: &StepContainer, failed: bool) -> bool {
        self.selected(container) && (!container.helper || self.args.show.all || failed)
    }

    /// Shows the logs of every container that has run since the last call, in order. A running
    /// container is followed to its end unless `last` (the Build is done, or this is no
    /// follow): then what it has written so far is shown.
    async fn advance(
        &mut self,
        build: &Build,
        pod: &Pod,
        last: bool,
        io: &mut Io<'_>,
    ) -> Result<(), PluginError> {
        let containers = step_containers(build, pod);
        while let Some(container) = containers.get(self.cursor) {
            let status = container_status(pod, &container.container);
            match phase(status) {
                Phase::NotStarted => {
                    // After the end, or after a failed step, nothing more will start.
                    if last || self.failed {
                        return Ok(());
                    }
                    if self.cursor == 0
                        && let Some(why) = unscheduled(pod)
                    {
                        self.say(io, why)?;
                    } else if io.style.progress && self.visible(container, false) {
                        let line = format!("waiting for {} to start", container.name);
                        if self.said.as_ref() != Some(&line) {
                            io.progress(&line)?;
                            self.said = Some(line);
                        }
                    }
                    return Ok(());
                }
                Phase::Stuck { reason, message } => {
                    let line = format!("[{}] waiting: {reason}: {message}", container.name);
                    self.say(io, line)?;
                    return Ok(());
                }
                Phase::Running => {
                    let shown = self.visible(container, false);
                    self.announce_start(container, shown, io)?;
                    if shown && !self.streamed {
                        let follow = !last;
                        self.streamed = true;
                        if let Streamed::PodGone = self.show(pod, container, follow, io).await? {
                            self.pod_gone(&pod_name_of(build), io)?;
                        }
                    }
                    return Ok(());
                }
                Phase::Terminated { exit_code, reason } => {
                    let shown = self.visible(container, exit_code != 0);
                    self.announce_start(container, shown, io)?;
                    if shown && !self.streamed {
                        self.show(pod, container, false, io).await?;
                    }
                    if shown {
                        let (start, end) = times(status);
                        let took = match (start, end) {
                            (Some(start), Some(end)) => format!(" ({})", elapsed(start, end)),
                            _ => String::new(),
                        };
                        let line = if exit_code == 0 {
                            format!("finished {}{took}", container.name)
                        } else {
                            let reason = if reason.is_empty() {
                                String::new()
                            } else {
                                format!(", {reason}")
                            };
                            io.red(&format!(
                                "failed {}: exit code {exit_code}{reason}{took}",
                                container.name
                            ))
                        };
                        io.progress(&line)?;
                    }
                    self.failed |= exit_code != 0;
                    self.cursor += 1;
                    self.streamed = false;
                    self.started = false;
                }
            }
        }
        Ok(())
    }

    fn announce_start(
        &mut self,
        container: &StepContainer,
        shown: bool,
        io: &mut Io<'_>,
    ) -> Result<(), PluginError> {
        if shown && !self.started {
            self.started = true;
            io.progress(&format!("started {} ({})", container.name, container.image))?;
        }
        Ok(())
    }

    /// Writes the container's log lines, each prefixed `[name]`.
    async fn show(
        &mut self,
        pod: &Pod,
        container: &StepContainer,
        follow: bool,
        io: &mut Io<'_>,
    ) -> Result<Streamed, PluginError> {
        let params = LogParams {
            container: Some(container.container.clone()),
            follow,
            tail_lines: self.args.tail,
            since_seconds: self.args.since.map(|since| since.as_secs_ceil()),
            timestamps: self.args.show.timestamps,
            ..LogParams::default()
        };
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        let stream = match self.session.pods().log_stream(&pod_name, &params).await {
            Ok(stream) => stream,
            Err(error) if crate::error::is_not_found(&error) => return Ok(Streamed::PodGone),
            // 400: the container has not started (or its logs were rotated away).
            Err(kube::Error::Api(status)) if status.code == 400 => {
                writeln!(io.err, "[{}] no logs: {}", container.name, status.message)?;
                return Ok(Streamed::Ended);
            }
            Err(error) => {
                return Err(PluginError::api(
                    format!("reading the logs of {pod_name} -c {}", container.container),
                    error,
                ));
            }
        };
        let index = self.cursor;
        let prefix = io.step_color(index, &format!("[{}]", container.name));
        let mut lines = stream.lines();
        // A broken connection ends the stream like the container's end does: the next look
        // at the pod tells which.
        while let Ok(Some(line)) = lines.try_next().await {
            writeln!(io.out, "{prefix} {line}")?;
        }
        Ok(Streamed::Ended)
    }
}

/// Why the pod has not started its first container, when the scheduler says.
fn unscheduled(pod: &Pod) -> Option<String> {
    let condition = pod
        .status
        .as_ref()?
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False")?;
    Some(format!(
        "waiting for pod {} to be scheduled: {}: {}",
        pod.metadata.name.as_deref().unwrap_or_default(),
        condition.reason.as_deref().unwrap_or("Unschedulable"),
        condition.message.as_deref().unwrap_or_default()
    ))
}

/// The last line: how the Build ended; and the exit code.
pub(crate) fn finish(
    build: &Build,
    pod: Option<&Pod>,
    io: &mut Io<'_>,
) -> Result<PluginExit, PluginError> {
    let name = build.metadata.name.as_deref().unwrap_or_default();
    let Some(condition) = succeeded(build) else {
        writeln!(io.err, "build {name:?} has not started")?;
        return Ok(PluginExit::Succeeded);
    };
    let reason = condition.reason.as_deref().unwrap_or_default();
    let message = condition.message.as_deref().unwrap_or_default();
    match condition.status {
        ConditionStatus::True => {
            let took = build
                .status
                .as_ref()
                .and_then(|s| Some(elapsed(s.start_time.as_ref()?, s.completion_time.as_ref()?)))
                .map(|took| format!(" in {took}"))
                .unwrap_or_default();
            writeln!(io.err, "build {name:?} succeeded{took}")?;
            Ok(PluginExit::Succeeded)
        }
        ConditionStatus::False => {
            let step = failed_step(build, pod)
                .map(|step| format!(" at step {step:?}"))
                .unwrap_or_default();
            let line = format!("build {name:?} failed{step}: {reason}: {message}");
            writeln!(io.err, "{}", io.red(&line))?;
            Ok(PluginExit::Failed)
        }
        ConditionStatus::Unknown => {
            writeln!(io.err, "build {name:?} is still running ({reason})")?;
            Ok(PluginExit::Succeeded)
        }
    }
}
