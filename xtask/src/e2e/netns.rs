//! The network namespace the whole cluster runs in, and the proof that the host's network is
//! as it was.
//!
//! `cargo xtask e2e` creates a namespace (`ip netns add`), brings its loopback up and runs
//! itself again inside it with `nsenter --net=…`, which enters only the network namespace
//! (`ip netns exec` would also remount `/sys`, hiding the cgroup mounts the kubelet and dockerd
//! need). Everything the run starts — etcd, the control plane, containerd, the kubelet,
//! kube-proxy, the pod bridge, dockerd and the harness's own clients — is then inside it, so the
//! API server can listen on an address pods reach, and kube-proxy can program the `kubernetes`
//! Service, without touching the host's interfaces, routes or firewall rules.
//!
//! [`Netns`] is the guard: dropping it kills whatever still runs in the namespace and deletes
//! it. [`HostSnapshot`] is what the host looked like (network, mounts, cgroups, sysctls, the Docker
//! socket), compared before and after.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

use super::cluster::run_quiet;

/// The variable that tells the inner run which namespace it is in.
const INSIDE_VAR: &str = "XTASK_E2E_NETNS";
/// The variable that gives the inner run its state directory.
const DIR_VAR: &str = "XTASK_E2E_DIR";

/// What the inner run learns from the outer one.
#[derive(Debug, Clone)]
pub(crate) struct Inside {
    /// The namespace's name (under `/run/netns`).
    pub(crate) name: String,
    /// The run's state directory, made by the outer run (images already in it).
    pub(crate) dir: PathBuf,
}

impl Inside {
    /// `Some` when this process is the run inside the namespace.
    pub(crate) fn from_env() -> Option<Inside> {
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
pub(crate) struct Netns {
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
    pub(crate) fn create(name: &str) -> anyhow::Result<Netns> {
        if std::path::Path::new("/run/netns").join(name).exists() {
            bail!("network namespace {name} exists already: is another `cargo xtask e2e` running?");
        }
        let dir_existed = std::path::Path::new(RUN_NETNS).exists();
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
    pub(crate) fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// Runs this very program again with the same arguments inside the namespace, telling it
    /// the namespace and `dir`; waits for it. SIGINT and SIGTERM reach it too (a terminal's
    /// Ctrl-C reaches the whole process group; a SIGTERM to this process is passed on), and
    /// its own guards clean up before it exits.
    pub(crate) fn run_self(&self, dir: &std::path::Path) -> anyhow::Result<ExitStatus> {
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
            if super::interrupted() && !passed_on {
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

/// What the run must leave as it found it: the host's network as `ip` and `iptables-save` print
/// it (counters left out), its mounts, cgroups, the kubelet's sysctls and the Docker socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostSnapshot {
    /// Interfaces (`ip -o link`, without their statistics).
    links: BTreeSet<String>,
    /// Addresses (`ip -o addr`).
    addresses: BTreeSet<String>,
    /// Routes of every table, IPv4 and IPv6.
    routes: BTreeSet<String>,
    /// Firewall rules (`iptables-save`, `ip6tables-save`), without counters and comments.
    rules: BTreeSet<String>,
    /// The network namespaces under `/run/netns`.
    namespaces: BTreeSet<String>,
    /// Mount points (`/proc/mounts`).
    mounts: BTreeSet<String>,
    /// cgroups two levels deep under `/sys/fs/cgroup` (`kubepods`, `docker` and their kind).
    cgroups: BTreeSet<String>,
    /// The sysctls the kubelet changes, `key=value`.
    sysctls: BTreeSet<String>,
    /// The Docker daemon's socket, when it exists.
    docker_socket: BTreeSet<String>,
}

impl HostSnapshot {
    /// Reads the host's network now.
    pub(crate) fn capture() -> HostSnapshot {
        let lines = |program: &str, args: &[&str]| -> BTreeSet<String> {
            Command::new(program)
                .args(args)
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output()
                .map(|o| {
                    String::from_utf8_lossy(&o.stdout)
                        .lines()
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut routes = lines("ip", &["route", "show", "table", "all"]);
        routes.extend(lines("ip", &["-6", "route", "show", "table", "all"]));
        let mut rules = lines("iptables-save", &[]);
        rules.extend(lines("ip6tables-save", &[]));
        HostSnapshot {
            links: lines("ip", &["-o", "link"])
                .iter()
                .map(|l| without_link_noise(l))
                .collect(),
            addresses: lines("ip", &["-o", "addr"]),
            routes,
            rules: rules
                .iter()
                .filter(|l| !l.starts_with('#'))
                .map(|l| without_counters(l))
                .collect(),
            namespaces: lines("ip", &["netns", "list"]),
            mounts: std::fs::read_to_string("/proc/mounts")
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.split_whitespace().nth(1))
                .map(str::to_owned)
                .collect(),
            cgroups: cgroups(std::path::Path::new("/sys/fs/cgroup"), 2),
            sysctls: [
                "vm/overcommit_memory",
                "kernel/panic",
                "kernel/panic_on_oops",
            ]
            .iter()
            .map(|key| {
                let value = std::fs::read_to_string(std::path::Path::new("/proc/sys").join(key))
                    .unwrap_or_default();
                format!("{}={}", key.replace('/', "."), value.trim())
            })
            .collect(),
            docker_socket: [super::dockerd::SOCKET]
                .iter()
                .filter(|p| std::path::Path::new(p).exists())
                .map(|p| (*p).to_owned())
                .collect(),
        }
    }

    /// One line for the run's output: what was compared and whether it is the same.
    pub(crate) fn compare(&self, after: &HostSnapshot) -> Result<String, String> {
        let sets = [
            ("interfaces", &self.links, &after.links),
            ("addresses", &self.addresses, &after.addresses),
            ("routes", &self.routes, &after.routes),
            ("firewall rules", &self.rules, &after.rules),
            ("network namespaces", &self.namespaces, &after.namespaces),
            ("mounts", &self.mounts, &after.mounts),
            ("cgroups", &self.cgroups, &after.cgroups),
            ("sysctls", &self.sysctls, &after.sysctls),
            ("Docker sockets", &self.docker_socket, &after.docker_socket),
        ];
        let mut same = Vec::new();
        let mut changed = Vec::new();
        for (what, before, now) in sets {
            if before == now {
                same.push(format!("{} {what}", before.len()));
            } else {
                let gone: Vec<&String> = before.difference(now).collect();
                let new: Vec<&String> = now.difference(before).collect();
                changed.push(format!("{what}: gone {gone:?}, new {new:?}"));
            }
        }
        if changed.is_empty() {
            Ok(format!("host as before: {}", same.join(", ")))
        } else {
            Err(format!("host changed: {}", changed.join("; ")))
        }
    }
}

/// The cgroup directories under `root`, `depth` levels deep.
fn cgroups(root: &std::path::Path, depth: usize) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    if depth == 0 {
        return found;
    }
    for entry in std::fs::read_dir(root).into_iter().flatten().flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            let path = entry.path();
            found.insert(path.display().to_string());
            found.extend(cgroups(&path, depth - 1));
        }
    }
    found
}

/// An `ip -o link` line without what changes by itself (queue state, `link-netnsid`, alternate
/// names stay).
fn without_link_noise(line: &str) -> String {
    line.split_whitespace()
        .filter(|w| !w.starts_with("\\"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// An `iptables-save` line without its `[packets:bytes]` counters.
fn without_counters(line: &str) -> String {
    line.split_whitespace()
        .filter(|w| {
            !(w.starts_with('[')
                && w.ends_with(']')
                && w[1..w.len() - 1]
                    .split(':')
                    .all(|n| n.chars().all(|c| c.is_ascii_digit())))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network(rules: &[&str]) -> HostSnapshot {
        HostSnapshot {
            links: BTreeSet::from(["1: lo: <LOOPBACK,UP>".to_owned()]),
            addresses: BTreeSet::new(),
            routes: BTreeSet::from(["default via 10.0.0.1 dev eth0".to_owned()]),
            rules: rules.iter().map(|r| without_counters(r)).collect(),
            namespaces: BTreeSet::new(),
            mounts: BTreeSet::new(),
            cgroups: BTreeSet::new(),
            sysctls: BTreeSet::from(["kernel.panic=1".to_owned()]),
            docker_socket: BTreeSet::new(),
        }
    }

    #[test]
    fn counters_do_not_count_as_a_change() {
        let before = network(&[":INPUT ACCEPT [10:2000]", "-A INPUT -j ACCEPT"]);
        let after = network(&[":INPUT ACCEPT [99:8000]", "-A INPUT -j ACCEPT"]);
        assert_eq!(
            before.compare(&after).unwrap(),
            "host as before: 1 interfaces, 0 addresses, 1 routes, 2 firewall rules, 0 network namespaces, 0 mounts, 0 cgroups, 1 sysctls, 0 Docker sockets"
        );
    }

    #[test]
    fn a_new_rule_is_named() {
        let before = network(&["-A INPUT -j ACCEPT"]);
        let after = network(&["-A INPUT -j ACCEPT", "-A FORWARD -j DROP"]);
        let error = before.compare(&after).unwrap_err();
        assert!(
            error.contains(r#"firewall rules: gone [], new ["-A FORWARD -j DROP"]"#),
            "{error}"
        );
    }
}
