//! The network namespace a node cluster runs in ([`Netns`]), and the run of this very program
//! inside it ([`Inside`]).
//!
//! The caller creates a namespace (`ip netns add`), brings its loopback up and runs itself
//! again inside it with `nsenter --net=…`, which enters only the network namespace (`ip netns
//! exec` would also remount `/sys`, hiding the cgroup mounts the kubelet and dockerd need).
//! Everything the inner run starts — etcd, the control plane, containerd, the kubelet,
//! kube-proxy, the pod bridge and the harness's own clients — is then inside it, so the API
//! server can listen on an address pods reach, and kube-proxy can program the `kubernetes`
//! Service, without touching the host's interfaces, routes or firewall rules.
//!
//! [`Netns`] is the guard: dropping it kills whatever still runs in the namespace and deletes
//! it.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::process::run_quiet;
use crate::signals::interrupted;

/// The variable that tells the inner run which namespace it is in.
const INSIDE_VAR: &str = "XTASK_E2E_NETNS";
/// The variable that gives the inner run its state directory.
const DIR_VAR: &str = "XTASK_E2E_DIR";

/// What the inner run learns from the outer one.
#[derive(Debug, Clone)]
pub struct Inside {
    /// The namespace's name (under `/run/netns`).
    pub name: String,
    /// The run's state directory, made by the outer run (images already in it).
    pub dir: PathBuf,
}

impl Inside {
    /// `Some` when this process is the run inside the namespace.
    pub fn from_env() -> Option<Inside> {
        let name = std::env::var(INSIDE_VAR).ok()?;
        let dir = std::env::var_os(DIR_VAR)?;
        Some(Inside {
            name,
            dir: PathBuf::from(dir),
        })
    }
}

/// A network namespace this run created; dropping it kills what runs in it and deletes it,
/// and undoes what `ip netns add` did to the host the first time: the bind mount of
/// `/run/netns` on itself, and the directory.
pub struct Netns {
    name: String,
    /// `/run/netns` existed before.
    dir_existed: bool,
    /// `/run/netns` was a mount point before.
    dir_mounted: bool,
}

/// Where `ip netns` keeps the namespaces.
const RUN_NETNS: &str = "/run/netns";

/// Whether `path` is a mount point (`/proc/mounts`).
fn is_mount_point(path: &str) -> bool {
    std::fs::read_to_string("/proc/mounts")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some(path))
}

impl Netns {
    /// Creates `/run/netns/<name>` with its loopback up; fails when it exists already.
    pub fn create(name: &str) -> anyhow::Result<Netns> {
        if Path::new("/run/netns").join(name).exists() {
            bail!("network namespace {name} exists already: is another `cargo xtask e2e` running?");
        }
        let dir_existed = Path::new(RUN_NETNS).exists();
        let dir_mounted = is_mount_point(RUN_NETNS);
        run_quiet(Command::new("ip").args(["netns", "add", name]))?;
        let netns = Netns {
            name: name.to_owned(),
            dir_existed,
            dir_mounted,
        };
        run_quiet(Command::new("ip").args(["-n", name, "link", "set", "lo", "up"]))?;
        Ok(netns)
    }

    /// The namespace's file, for `nsenter --net=`.
    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// Runs this very program again with the same arguments inside the namespace, telling it
    /// the namespace and `dir`; waits for it. SIGINT and SIGTERM reach it too (a terminal's
    /// Ctrl-C reaches the whole process group; a SIGTERM to this process is passed on), and
    /// its own guards clean up before it exits.
    pub fn run_self(&self, dir: &Path) -> anyhow::Result<ExitStatus> {
        // a copy of this very program: cargo may have rebuilt the file it was started from
        let exe = dir.join("xtask");
        std::fs::copy("/proc/self/exe", &exe).context("copying this program")?;
        let mut child = Command::new("nsenter")
            .arg(format!("--net={}", self.path().display()))
            .arg("--")
            .arg(exe)
            .args(std::env::args_os().skip(1))
            .env(INSIDE_VAR, &self.name)
            .env(DIR_VAR, dir)
            .stdin(Stdio::null())
            .spawn()
            .context("starting the run inside the network namespace (nsenter)")?;
        let mut passed_on = false;
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            if interrupted() && !passed_on {
                passed_on = true;
                let _ = Command::new("kill")
                    .args(["-TERM", &child.id().to_string()])
                    .status();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The PIDs of the processes still in the namespace.
    fn pids(&self) -> Vec<String> {
        Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let left = self.pids();
        for pid in &left {
            let _ = Command::new("kill").args(["-KILL", pid]).status();
        }
        if !left.is_empty() {
            std::thread::sleep(Duration::from_millis(500));
        }
        let deleted = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        let empty = std::fs::read_dir(RUN_NETNS).is_ok_and(|mut d| d.next().is_none());
        if empty && !self.dir_mounted && is_mount_point(RUN_NETNS) {
            let _ = Command::new("umount").args(["-n", RUN_NETNS]).status();
        }
        if empty && !self.dir_existed {
            let _ = std::fs::remove_dir(RUN_NETNS);
        }
        eprintln!(
            "[netns] {} network namespace {}{}",
            if deleted {
                "deleted"
            } else {
                "could not delete"
            },
            self.name,
            if left.is_empty() {
                String::new()
            } else {
                format!(" (killed {} processes left in it)", left.len())
            }
        );
    }
}
