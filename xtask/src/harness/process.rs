//! The controller under test as a process: one a harness started (the benchmark, the chaos
//! scenarios), or any running process the benchmark attached to by pid, measured from `/proc`:
//! its `/readyz`, `/metrics`, CPU and RSS.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// CPU time and resident memory of a process at one moment.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Usage {
    /// User plus system CPU time so far.
    pub(crate) cpu: Duration,
    /// Resident set size, KiB.
    pub(crate) rss_kib: u64,
}

/// The CPU time and resident memory of a running process, from `/proc`.
pub(crate) fn usage(pid: u32) -> anyhow::Result<Usage> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat (has the process exited?)"))?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_usage(&stat, &status)
}

fn parse_usage(stat: &str, status: &str) -> anyhow::Result<Usage> {
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields.get(11).context("utime")?.parse::<u64>()?
        + fields.get(12).context("stime")?.parse::<u64>()?;
    let rss_kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .context("VmRSS")?
        .parse()?;
    // USER_HZ is 100 on every Linux this runs on.
    Ok(Usage {
        cpu: Duration::from_millis(ticks * 10),
        rss_kib,
    })
}

/// The controller being measured.
pub(crate) enum Target {
    /// Started by the benchmark; its output goes to `log`.
    Started {
        /// The process.
        child: Child,
        /// Its stdout and stderr.
        log: PathBuf,
        /// Where it serves `/readyz`.
        metrics_port: u16,
    },
    /// A process the benchmark did not start (`--attach-pid`).
    Attached {
        /// Its pid.
        pid: u32,
    },
    /// Running somewhere the benchmark cannot see (`--attach`): not measured.
    Unmeasured,
}

/// How a started controller is run.
pub(crate) struct Launch<'a> {
    /// The binary.
    pub(crate) binary: &'a Path,
    /// The namespace it reconciles.
    pub(crate) namespace: &'a str,
    /// Where its output goes.
    pub(crate) log: PathBuf,
    /// Extra arguments after `run --namespace NS --metrics-address ADDR`.
    pub(crate) extra_args: &'a [String],
    /// Its `--kubeconfig`; without it, the one `KUBECONFIG` names.
    pub(crate) kubeconfig: Option<&'a Path>,
    /// Its `RUST_LOG`; without it, `BENCH_RUST_LOG`, else `warn`.
    pub(crate) rust_log: Option<&'a str>,
}

impl Target {
    /// Starts `launch.binary run` on a free loopback metrics port, in the allocator environment
    /// the release gives it (`ALLOCATOR_ENV`).
    pub(crate) fn start(launch: &Launch<'_>) -> anyhow::Result<Self> {
        let metrics_port = throwaway_cluster::free_port()?;
        let log = std::fs::File::create(&launch.log)
            .with_context(|| format!("creating {}", launch.log.display()))?;
        let child = Command::new(launch.binary)
            .args(["run", "--namespace", launch.namespace, "--metrics-address"])
            .arg(format!("127.0.0.1:{metrics_port}"))
            .args(launch.extra_args)
            .args(
                launch
                    .kubeconfig
                    .map(|k| format!("--kubeconfig={}", k.display())),
            )
            .env(
                "RUST_LOG",
                match launch.rust_log {
                    Some(level) => level.to_owned(),
                    None => std::env::var("BENCH_RUST_LOG").unwrap_or("warn".into()),
                },
            )
            // The allocator's settings of the release's Deployment, unless set here already.
            .envs(
                build_controller::release::manifests::ALLOCATOR_ENV
                    .into_iter()
                    .filter(|(name, _)| std::env::var_os(name).is_none()),
            )
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("starting {}", launch.binary.display()))?;
        Ok(Target::Started {
            child,
            log: launch.log.clone(),
            metrics_port,
        })
    }

    /// The pid measured, if any.
    pub(crate) fn pid(&self) -> Option<u32> {
        match self {
            Target::Started { child, .. } => Some(child.id()),
            Target::Attached { pid } => Some(*pid),
            Target::Unmeasured => None,
        }
    }

    /// Fails at once when the controller has exited, with its last output.
    pub(crate) fn check_alive(&mut self) -> anyhow::Result<()> {
        match self {
            Target::Started { child, log, .. } => match child.try_wait()? {
                None => Ok(()),
                Some(status) => bail!(
                    "the controller exited during the run ({status}); its last output ({}):\n{}",
                    log.display(),
                    tail(log, 20)
                ),
            },
            Target::Attached { pid } => {
                if Path::new(&format!("/proc/{pid}")).exists() {
                    Ok(())
                } else {
                    bail!("the attached controller (pid {pid}) exited during the run")
                }
            }
            Target::Unmeasured => Ok(()),
        }
    }

    /// Current CPU and RSS; `None` when not measured.
    pub(crate) fn usage(&mut self) -> anyhow::Result<Option<Usage>> {
        self.check_alive()?;
        self.pid().map(usage).transpose()
    }

    /// Waits until a started controller answers `/readyz` with 200 (its caches are synced),
    /// failing at once if it exits; an attached one gets two seconds to sync.
    pub(crate) async fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let port = match self {
            Target::Started { metrics_port, .. } => *metrics_port,
            Target::Attached { .. } | Target::Unmeasured => {
                tokio::time::sleep(Duration::from_secs(2)).await;
                return self.check_alive();
            }
        };
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            self.check_alive()?;
            if get(port, "/readyz")
                .await
                .is_ok_and(|r| r.starts_with("HTTP/1.1 200"))
            {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!("the controller was not ready after {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A started controller's counters of reconciles, errors and started Builds, from its
    /// `/metrics`: what it did to get there.
    pub(crate) async fn counters(&self) -> Option<String> {
        let Target::Started { metrics_port, .. } = self else {
            return None;
        };
        let text = get(*metrics_port, "/metrics").await.ok()?;
        let wanted = [
            "build_controller_reconcile_duration_seconds_count",
            "build_controller_reconcile_errors_total",
            "build_controller_builds_started_total",
            "build_controller_builds_finished_total",
        ];
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| wanted.iter().any(|w| l.starts_with(w)))
            .collect();
        Some(lines.join("\n"))
    }

    /// How many reconciles a started controller has run (its
    /// `build_controller_reconcile_duration_seconds_count`); `None` when it has no such metric.
    pub(crate) async fn reconciles(&self) -> Option<u64> {
        let Target::Started { metrics_port, .. } = self else {
            return None;
        };
        reconcile_count(&get(*metrics_port, "/metrics").await.ok()?)
    }

    /// Stops a started controller with SIGKILL, as a crash would, and reaps it (an attached
    /// one is left running).
    pub(crate) fn stop(&mut self) {
        if let Target::Started { child, .. } = self {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Samples a process's RSS every second until dropped.
pub(crate) struct RssSampler {
    samples: Arc<Mutex<Vec<u64>>>,
    task: tokio::task::JoinHandle<()>,
}

impl RssSampler {
    /// Starts sampling `pid`.
    pub(crate) fn start(pid: u32) -> Self {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let task = {
            let samples = samples.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tick.tick().await;
                    match usage(pid) {
                        Ok(now) => samples
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(now.rss_kib),
                        Err(_) => return,
                    }
                }
            })
        };
        RssSampler { samples, task }
    }

    /// The samples so far, oldest first.
    pub(crate) fn samples(&self) -> Vec<u64> {
        self.samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The sum of `build_controller_reconcile_duration_seconds_count` in a `/metrics` answer.
fn reconcile_count(metrics: &str) -> Option<u64> {
    let counts: Vec<f64> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("build_controller_reconcile_duration_seconds_count"))
        .filter_map(|rest| rest.rsplit_once(' ')?.1.parse().ok())
        .collect();
    (!counts.is_empty()).then(|| counts.iter().sum::<f64>() as u64)
}

/// A plain HTTP/1.1 GET of `path` on the loopback `port`: the whole response.
async fn get(port: u16, path: &str) -> std::io::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    Ok(String::from_utf8_lossy(&response).into_owned())
}

/// The last `lines` lines of a file.
fn tail(path: &Path, lines: usize) -> String {
    let Ok(mut file) = std::fs::File::open(path) else {
        return "<no output>".into();
    };
    let length = file.metadata().map_or(0, |m| m.len());
    let _ = file.seek(SeekFrom::Start(length.saturating_sub(64 * 1024)));
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    let all: Vec<&str> = text.lines().collect();
    let shown = all[all.len().saturating_sub(lines)..].join("\n");
    if shown.is_empty() {
        "<no output>".into()
    } else {
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_from_proc_text() {
        let stat = "1234 (build (contr)) S 1 1234 1234 0 -1 4194560 900 0 0 0 150 25 0 0 20 0 \
                    3 0 100 0 0";
        let status = "Name:\tbuild-controller\nVmPeak:\t  99999 kB\nVmRSS:\t   12345 kB\n";
        let usage = parse_usage(stat, status).unwrap();
        assert_eq!(usage.cpu, Duration::from_millis(1750));
        assert_eq!(usage.rss_kib, 12345);
        assert!(parse_usage("1 (x) S", status).is_err());
    }

    #[test]
    fn reconciles_from_metrics_text() {
        let text = "HTTP/1.1 200 OK\r\n\r\n# TYPE x counter\n\
                    build_controller_reconcile_duration_seconds_count 10002\n\
                    build_controller_reconcile_duration_seconds_sum 1.5\n";
        assert_eq!(reconcile_count(text), Some(10002));
        let labelled = "build_controller_reconcile_duration_seconds_count{a=\"b c\"} 3\n";
        assert_eq!(reconcile_count(labelled), Some(3));
        assert_eq!(reconcile_count("other_metric 1\n"), None);
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        let dir = std::env::temp_dir().join(format!("xtask-tail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log");
        std::fs::write(&path, "one\ntwo\nthree\n").unwrap();
        assert_eq!(tail(&path, 2), "two\nthree");
        std::fs::write(&path, "").unwrap();
        assert_eq!(tail(&path, 2), "<no output>");
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(tail(&path, 2), "<no output>");
    }

    #[test]
    fn a_started_process_that_exits_fails_with_its_output() {
        let dir = std::env::temp_dir().join(format!("xtask-exit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("log");
        let child = Command::new("sh")
            .args([
                "-c",
                "echo 'error: listening on --metrics-address: in use' >&2; exit 1",
            ])
            .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
            .spawn()
            .unwrap();
        let mut target = Target::Started {
            child,
            log: log.clone(),
            metrics_port: 0,
        };
        let error = loop {
            match target.check_alive() {
                Ok(()) => std::thread::sleep(Duration::from_millis(10)),
                Err(error) => break error.to_string(),
            }
        };
        assert!(error.contains("exited during the run"), "{error}");
        assert!(error.contains("in use"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
