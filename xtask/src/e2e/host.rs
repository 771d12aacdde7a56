//! The proof that the host is as it was after `cargo xtask e2e`: [`HostSnapshot`] is what the
//! host looked like (network, mounts, cgroups, sysctls, the Docker socket), captured before the
//! network namespace ([`throwaway_cluster::Netns`]) is made and compared after it is gone.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};

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
