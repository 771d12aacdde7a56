//! What the host looked like before the node started, and the stages that put it back: the
//! mounts, network namespaces, cgroups and fixed paths the kubelet, containerd's shims and the
//! CNI plugins create whatever their configuration says, and the sysctls the kubelet rewrites.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::process::pids;

/// The sysctls the kubelet rewrites (`vm.overcommit_memory=1`, `kernel.panic=10`,
/// `kernel.panic_on_oops=1`) and those it may: restored on cleanup.
const SYSCTLS: &[&str] = &[
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
];

/// Fixed host paths the kubelet, containerd's shims and the CNI plugins create whatever their
/// configuration says; removed on cleanup when they did not exist before.
const HOST_PATHS: &[&str] = &[
    "/var/lib/kubelet",
    "/var/log/containers",
    "/var/log/pods",
    "/var/lib/cni",
    "/run/containerd",
    "/run/netns",
    "/etc/cni",
    "/opt/cni",
];

/// What the machine looked like before the run.
#[derive(Debug, Default)]
pub(super) struct HostState {
    sysctls: Vec<(String, String)>,
    existing_paths: BTreeSet<String>,
    netns: BTreeSet<String>,
    cgroups: BTreeSet<PathBuf>,
}

impl HostState {
    /// Reads the host now, before the node starts.
    pub(super) fn capture() -> HostState {
        let sysctls = SYSCTLS
            .iter()
            .filter_map(|key| {
                let value = fs::read_to_string(Path::new("/proc/sys").join(key)).ok()?;
                Some(((*key).to_owned(), value.trim().to_owned()))
            })
            .collect();
        HostState {
            sysctls,
            existing_paths: HOST_PATHS
                .iter()
                .filter(|path| Path::new(path).exists())
                .map(|path| (*path).to_owned())
                .collect(),
            netns: list_dir("/run/netns"),
            cgroups: kube_cgroups(),
        }
    }

    /// The network namespaces under `/run/netns` that were not there before (the pods').
    pub(super) fn new_netns(&self) -> Vec<String> {
        list_dir("/run/netns")
            .difference(&self.netns)
            .cloned()
            .collect()
    }

    /// SIGKILLs the processes still in the pods' cgroups.
    pub(super) fn kill_new_cgroups(&self) {
        for cgroup in kube_cgroups().difference(&self.cgroups) {
            kill_cgroup_tree(cgroup);
        }
    }

    /// Unmounts (lazily, the deepest first) what is mounted under the state directory `dir`,
    /// under the fixed host paths that are new, and the new network namespaces.
    pub(super) fn unmount_new(&self, dir: &Path) -> Option<String> {
        let mut prefixes = vec![format!("{}/", dir.display())];
        for path in HOST_PATHS {
            if !self.existing_paths.contains(*path) {
                prefixes.push(format!("{path}/"));
            }
        }
        let mounts = fs::read_to_string("/proc/mounts").unwrap_or_default();
        let mut targets: Vec<String> = mounts
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .map(|m| m.replace("\\040", " "))
            .filter(|m| {
                prefixes.iter().any(|p| m.starts_with(p.as_str()))
                    || m.strip_prefix("/run/netns/")
                        .is_some_and(|name| !self.netns.contains(name))
            })
            .collect();
        targets.sort_by(|a, b| b.cmp(a));
        for target in &targets {
            let _ = Command::new("umount")
                // -n: no /run/mount on the host for the utab
                .args(["-l", "-n", target])
                .stderr(Stdio::null())
                .status();
        }
        (!targets.is_empty()).then(|| format!("unmounted {}", targets.len()))
    }

    /// Deletes the files of the new network namespaces (unmounted by [`Self::unmount_new`]).
    pub(super) fn remove_new_netns(&self) {
        for netns in self.new_netns() {
            let _ = fs::remove_file(Path::new("/run/netns").join(netns));
        }
    }

    /// Removes the new cgroups, the deepest first.
    pub(super) fn remove_new_cgroups(&self) -> Option<String> {
        let removed: usize = kube_cgroups()
            .difference(&self.cgroups)
            .map(|cgroup| remove_cgroup_tree(cgroup))
            .sum();
        (removed > 0).then(|| format!("removed {removed} cgroups"))
    }

    /// Removes the fixed host paths that are new; `/run/containerd` stays while another
    /// containerd on the machine runs (ours is stopped by now), which may use the shims' fixed
    /// paths under it.
    pub(super) fn remove_new_paths(&self) -> Vec<String> {
        let others = other_containerds();
        let mut steps = Vec::new();
        for path in HOST_PATHS {
            if self.existing_paths.contains(*path) || !Path::new(path).exists() {
                continue;
            }
            if *path == "/run/containerd" && !others.is_empty() {
                steps.push(format!(
                    "left {path}: in use by containerd pid {}",
                    others.join(", ")
                ));
                continue;
            }
            let _ = fs::remove_dir_all(path);
            steps.push(format!("removed {path}"));
        }
        steps
    }

    /// Writes back the sysctls that changed.
    pub(super) fn restore_sysctls(&self) -> Option<String> {
        let mut restored = Vec::new();
        for (key, value) in &self.sysctls {
            let file = Path::new("/proc/sys").join(key);
            let now = fs::read_to_string(&file).unwrap_or_default();
            if now.trim() != value {
                if let Ok(mut f) = fs::OpenOptions::new().write(true).open(&file) {
                    let _ = writeln!(f, "{value}");
                }
                restored.push(format!("{}={value}", key.replace('/', ".")));
            }
        }
        (!restored.is_empty()).then(|| format!("restored {}", restored.join(" ")))
    }
}

/// The names of the entries of the directory `path` (none when it cannot be read).
fn list_dir(path: &str) -> BTreeSet<String> {
    fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// `kubepods` and `k8s.io` under every cgroup hierarchy (v1 controllers or the v2 root).
fn kube_cgroups() -> BTreeSet<PathBuf> {
    let mut found = BTreeSet::new();
    let mut roots = vec![PathBuf::from("/sys/fs/cgroup")];
    if let Ok(entries) = fs::read_dir("/sys/fs/cgroup") {
        roots.extend(entries.filter_map(|e| e.ok()).map(|e| e.path()));
    }
    for root in roots {
        for name in ["kubepods", "kubepods.slice", "k8s.io"] {
            let path = root.join(name);
            if path.is_dir() {
                found.insert(path);
            }
        }
    }
    found
}

/// containerd processes still running (after ours stopped: someone else's).
fn other_containerds() -> Vec<String> {
    pids()
        .into_iter()
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "containerd")
        })
        .map(|pid| pid.to_string())
        .collect()
}

/// `root` and every cgroup below it.
fn cgroup_dirs(root: &Path, out: &mut Vec<PathBuf>) {
    out.push(root.to_path_buf());
    if let Ok(entries) = fs::read_dir(root) {
        for entry in entries.filter_map(|e| e.ok()) {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                cgroup_dirs(&entry.path(), out);
            }
        }
    }
}

/// SIGKILLs every process in the cgroup `root` and below.
fn kill_cgroup_tree(root: &Path) {
    let mut dirs = Vec::new();
    cgroup_dirs(root, &mut dirs);
    for dir in dirs {
        for pid in fs::read_to_string(dir.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
        {
            let _ = Command::new("kill").args(["-KILL", pid]).status();
        }
    }
}

/// Removes the cgroup `root` and those below it, the deepest first; returns how many went.
fn remove_cgroup_tree(root: &Path) -> usize {
    let mut dirs = Vec::new();
    cgroup_dirs(root, &mut dirs);
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    let mut removed = 0;
    for dir in dirs {
        // a cgroup goes with rmdir once its processes are gone; retry briefly while they exit
        for _ in 0..20 {
            if fs::remove_dir(&dir).is_ok() || !dir.exists() {
                removed += 1;
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    removed
}
