//! Debian's Docker daemon (`docker.io`, 20.10) for the seed's BuildKit flow: the `buildkit`
//! template mounts the node's `/var/run/docker.sock` and runs `docker build` against it.
//!
//! The daemon runs in the caller's network namespace (the harness runs inside one of its own)
//! with no bridge, no iptables rules, no forwarding and no sysctl changes, and keeps its data,
//! exec root, containerd, key and pid file under one directory. What it still creates on the
//! host whatever its flags (its socket, the plugins' fixed `/run/docker`, its containerd's
//! `/opt/containerd`, runc's `/run/runc`, the `docker` cgroups of BuildKit's `RUN` steps) the
//! guard's `Drop` removes, when it did not exist before the daemon started. It does not pull
//! images (the node has no way out) and does not run containers of its own: builds only.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// The socket path the seed's `buildkit` template mounts (hostPath, type Socket).
pub(crate) const SOCKET: &str = "/var/run/docker.sock";

/// Debian's daemon.
const DOCKERD: &str = "/usr/sbin/dockerd";
/// Debian's client, of the daemon's version (`/usr/local/bin/docker` may be a newer one that
/// wants buildx).
const DOCKER: &str = "/usr/bin/docker";
/// How long [`Dockerd::start`] waits for `docker version` to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the daemon has to stop after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// Directories the daemon creates on the host whatever its flags: the plugins' sockets (a
/// fixed path, to keep socket paths short), its containerd's `opt` plugin, and runc's default
/// root (BuildKit's `RUN` steps).
const HOST_DIRS: &[&str] = &["/run/docker", "/opt/containerd", RUNC_ROOT];
/// runc's default root, where BuildKit's `RUN` steps keep their state (`ID/state.json`).
const RUNC_ROOT: &str = "/run/runc";
/// The cgroup the daemon puts containers (and BuildKit's `RUN` steps) under, in every
/// hierarchy, with the cgroupfs driver.
const CGROUP: &str = "docker";
/// The longest path a unix socket may have (`sun_path` holds 108 bytes with the NUL).
const MAX_SOCKET_PATH: usize = 107;

/// A running Docker daemon; dropping it stops the daemon and removes what it left.
pub(crate) struct Dockerd {
    /// All the daemon's state.
    dir: PathBuf,
    /// The daemon.
    child: Child,
    /// The `docker` cgroups and [`HOST_DIRS`] that existed before the daemon started.
    before: BTreeSet<PathBuf>,
}

impl Dockerd {
    /// Starts dockerd in the current network namespace with all its state under `dir`
    /// (created), listening on [`SOCKET`]; refuses (error) when [`SOCKET`] already exists
    /// (someone else's daemon); waits until `docker version` answers (at most 60 s). Its output
    /// goes to `log`, which is best kept outside `dir` (the guard removes `dir`). It pushes to
    /// `insecure_registries` (`host:port`) over plain HTTP.
    pub(crate) fn start(
        dir: &Path,
        log: fs::File,
        insecure_registries: &[&str],
    ) -> anyhow::Result<Dockerd> {
        preflight(dir)?;
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        fs::write(
            dir.join("daemon.json"),
            daemon_json(dir, insecure_registries),
        )?;
        let before = host_leftovers();
        let t = Instant::now();
        let child = Command::new(DOCKERD)
            .args(arguments(dir))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // its own process group: a Ctrl-C on the terminal reaches only xtask, whose guard
            // then stops the daemon in order
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {DOCKERD}"))?;
        // from here on the guard owns the daemon: an error below drops it, which cleans up
        let mut dockerd = Dockerd {
            dir: dir.to_path_buf(),
            child,
            before,
        };
        dockerd.wait_ready()?;
        eprintln!(
            "[dockerd] ready in {:.1}s on {SOCKET}, state under {}",
            t.elapsed().as_secs_f64(),
            dir.display()
        );
        Ok(dockerd)
    }

    /// `docker image ls` of this daemon, formatted `{{.Repository}}:{{.Tag}} {{.ID}}`, one
    /// line each.
    pub(crate) fn images(&self) -> anyhow::Result<String> {
        throwaway_cluster::run_quiet(self.docker().args([
            "image",
            "ls",
            "--format",
            "{{.Repository}}:{{.Tag}} {{.ID}}",
        ]))
    }

    /// Debian's `docker` client talking to this daemon, its configuration (`.buildNodeID`)
    /// under the daemon's directory instead of `~/.docker`.
    pub(crate) fn docker(&self) -> Command {
        client(&self.dir)
    }

    /// Polls `docker version` until it answers; fails when the daemon exits or after
    /// [`READY_TIMEOUT`].
    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("dockerd exited before answering ({status}); see its log");
            }
            let answered = self
                .docker()
                .arg("version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if answered {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "dockerd did not answer on {SOCKET} within {}s; see its log",
                    READY_TIMEOUT.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Stops the daemon and removes everything it left, in dependency order; returns what it
    /// did, one phrase per step.
    fn teardown(&mut self) -> Vec<String> {
        let mut steps = vec![stop(&mut self.child)];
        let created = created(&self.before, &host_leftovers());
        let cgroups: Vec<PathBuf> = created
            .iter()
            .filter(|path| path.starts_with("/sys/fs/cgroup"))
            .cloned()
            .collect();
        let killed = kill_leftovers(&self.dir, &cgroups);
        if !killed.is_empty() {
            steps.push(format!("killed {}", killed.join(", ")));
        }
        let unmounted = unmount_under(&self.dir);
        if unmounted > 0 {
            steps.push(format!("unmounted {unmounted}"));
        }
        let states = remove_runc_states(&self.dir);
        if states > 0 {
            steps.push(format!("removed {states} runc states under {RUNC_ROOT}"));
        }
        steps.extend(remove_created(&created));
        if fs::symlink_metadata(SOCKET).is_ok() && fs::remove_file(SOCKET).is_ok() {
            steps.push(format!("removed {SOCKET}"));
        }
        match fs::remove_dir_all(&self.dir) {
            Ok(()) => steps.push(format!("removed {}", self.dir.display())),
            Err(e) => steps.push(format!("could not remove {}: {e}", self.dir.display())),
        }
        steps
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let t = Instant::now();
        let steps = self.teardown();
        eprintln!(
            "[dockerd] {:.1}s: {}",
            t.elapsed().as_secs_f64(),
            steps.join("; ")
        );
    }
}

/// Refuses to start over someone else's daemon, without Debian's daemon, or with a state
/// directory whose containerd socket path would be too long.
fn preflight(dir: &Path) -> anyhow::Result<()> {
    if fs::symlink_metadata(SOCKET).is_ok() {
        bail!("{SOCKET} exists: another Docker daemon runs on this machine; stop it first");
    }
    for binary in [DOCKERD, DOCKER] {
        if !Path::new(binary).exists() {
            bail!("{binary} is missing: install Debian's docker.io");
        }
    }
    let longest = containerd_socket(dir);
    if longest.as_os_str().len() > MAX_SOCKET_PATH {
        bail!(
            "{} is longer than a unix socket path may be: use a shorter state directory",
            longest.display()
        );
    }
    Ok(())
}

/// The longest socket path under `dir`: the ttrpc socket of the daemon's containerd.
fn containerd_socket(dir: &Path) -> PathBuf {
    dir.join("exec/containerd/containerd.sock.ttrpc")
}

/// dockerd's command line: state under `dir` (its own configuration file, so
/// `/etc/docker/daemon.json` is not read), the vfs storage driver (no overlay mounts on the
/// host), and no networking of its own: no bridge, no iptables rules, no forwarding or
/// masquerading, no proxy.
fn arguments(dir: &Path) -> Vec<String> {
    let under = |name: &str| dir.join(name).display().to_string();
    [
        "--config-file",
        &under("daemon.json"),
        "--data-root",
        &under("data"),
        "--exec-root",
        &under("exec"),
        "--pidfile",
        &under("dockerd.pid"),
        "--storage-driver",
        "vfs",
        "--bridge=none",
        "--iptables=false",
        "--ip6tables=false",
        "--ip-forward=false",
        "--ip-masq=false",
        "--userland-proxy=false",
        "-H",
        &format!("unix://{SOCKET}"),
    ]
    .map(str::to_owned)
    .to_vec()
}

/// The daemon's configuration file: its key's path, under `dir` (20.10 writes an identity key
/// to `/etc/docker/key.json` otherwise, and has no command-line flag for it), and the
/// registries it reaches over plain HTTP.
fn daemon_json(dir: &Path, insecure_registries: &[&str]) -> String {
    serde_json::json!({
        "deprecated-key-path": dir.join("key.json"),
        "insecure-registries": insecure_registries,
    })
    .to_string()
}

/// Debian's client on [`SOCKET`], its configuration under `dir`.
fn client(dir: &Path) -> Command {
    let mut command = Command::new(DOCKER);
    command
        .env("DOCKER_HOST", format!("unix://{SOCKET}"))
        .env("DOCKER_CONFIG", dir.join("client"))
        .stdin(Stdio::null());
    command
}

/// SIGTERM, up to [`STOP_GRACE`], then SIGKILL; reaps the daemon and says which it took.
fn stop(child: &mut Child) -> String {
    if let Ok(Some(status)) = child.try_wait() {
        return format!("dockerd had exited ({status})");
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + STOP_GRACE;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return "stopped dockerd".to_owned();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    format!(
        "killed dockerd (still running {}s after SIGTERM)",
        STOP_GRACE.as_secs()
    )
}

/// The `docker` cgroup trees of every hierarchy and the [`HOST_DIRS`] that exist now, with
/// everything below them.
fn host_leftovers() -> BTreeSet<PathBuf> {
    let mut found = BTreeSet::new();
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for root in cgroup_roots(&mountinfo) {
        walk(&root.join(CGROUP), &mut found);
    }
    for dir in HOST_DIRS {
        walk(Path::new(dir), &mut found);
    }
    found
}

/// The cgroup hierarchies: the mount points of the `cgroup` and `cgroup2` file systems in a
/// `/proc/PID/mountinfo` text (one per v1 controller and the v1 host's `unified`, or the v2
/// root).
fn cgroup_roots(mountinfo: &str) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (mount, fs) = line.split_once(" - ")?;
            let fstype = fs.split(' ').next()?;
            let target = mount.split(' ').nth(4)?;
            matches!(fstype, "cgroup" | "cgroup2").then(|| PathBuf::from(unescape(target)))
        })
        .collect()
}

/// `path` and the directories below it, when it is a directory.
fn walk(path: &Path, out: &mut BTreeSet<PathBuf>) {
    if !path.is_dir() {
        return;
    }
    out.insert(path.to_path_buf());
    if let Ok(entries) = fs::read_dir(path) {
        for entry in entries.filter_map(|e| e.ok()) {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&entry.path(), out);
            }
        }
    }
}

/// The directories in `now` that were not in `before`, deepest first (the order `rmdir`
/// needs).
fn created(before: &BTreeSet<PathBuf>, now: &BTreeSet<PathBuf>) -> Vec<PathBuf> {
    let mut created: Vec<PathBuf> = now.difference(before).cloned().collect();
    created.sort_by(|a, b| {
        b.components()
            .count()
            .cmp(&a.components().count())
            .then_with(|| b.cmp(a))
    });
    created
}

/// SIGKILLs what the daemon left running: processes whose command line names a path under
/// `dir` (its containerd, the shims, BuildKit's runc) and processes in the cgroups it created
/// (the steps they ran); waits until they are gone. Returns `name pid` for each.
fn kill_leftovers(dir: &Path, cgroups: &[PathBuf]) -> Vec<String> {
    let me = std::process::id();
    let mut pids: BTreeSet<u32> = BTreeSet::new();
    for pid in throwaway_cluster::pids() {
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if pid != me && mentions(&cmdline, dir) {
            pids.insert(pid);
        }
    }
    for cgroup in cgroups {
        let procs = fs::read_to_string(cgroup.join("cgroup.procs")).unwrap_or_default();
        pids.extend(procs.lines().filter_map(|l| l.trim().parse::<u32>().ok()));
    }
    pids.remove(&me);
    let mut killed = Vec::new();
    for pid in &pids {
        let name = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .stderr(Stdio::null())
            .status();
        killed.push(format!("{} {pid}", name.trim()));
    }
    wait_gone(&pids);
    killed
}

/// Waits (at most 5 s) until each of `pids` has exited (gone, or a zombie its parent reaps).
fn wait_gone(pids: &BTreeSet<u32>) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let alive = |pid: &u32| {
        fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|stat| stat_state(&stat).is_some_and(|state| state != 'Z'))
    };
    while pids.iter().any(alive) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The state letter of a `/proc/PID/stat` line (after the parenthesised command name, which
/// may itself hold spaces and parentheses).
fn stat_state(stat: &str) -> Option<char> {
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Whether a NUL-separated command line names `dir` (an argument, or an option's value after
/// `=`) or a path under it anywhere in an argument (`--config=DIR/…`, `unix://DIR/…`).
fn mentions(cmdline: &[u8], dir: &Path) -> bool {
    let dir = dir.display().to_string();
    let below = format!("{dir}/");
    cmdline
        .split(|&b| b == 0)
        .map(String::from_utf8_lossy)
        .any(|arg| {
            arg.contains(&below)
                || arg == dir
                || arg.rsplit_once('=').is_some_and(|(_, v)| v == dir)
        })
}

/// Unmounts (lazily, deepest first) what is mounted at `dir` or under it; returns how many.
fn unmount_under(dir: &Path) -> usize {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mounts = mounts_under(&mountinfo, dir);
    for target in &mounts {
        // -n: no utab bookkeeping, which would create /run/mount on the host
        let _ = Command::new("umount")
            .args(["-l", "-n"])
            .arg(target)
            .stderr(Stdio::null())
            .status();
    }
    mounts.len()
}

/// The mount points of a `/proc/PID/mountinfo` text at `dir` or under it, deepest first.
fn mounts_under(mountinfo: &str, dir: &Path) -> Vec<PathBuf> {
    let mut targets: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|field| PathBuf::from(unescape(field)))
        .filter(|target| target.starts_with(dir))
        .collect();
    targets.sort_by(|a, b| b.cmp(a));
    targets.dedup();
    targets
}

/// Undoes the kernel's octal escapes in a mountinfo field (`\040` for a space, `\011`, `\012`,
/// `\134`).
fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut rest = field;
    while let Some(index) = rest.find('\\') {
        out.push_str(&rest[..index]);
        let code = rest.get(index + 1..index + 4);
        match code.and_then(|c| u8::from_str_radix(c, 8).ok()) {
            Some(byte) => {
                out.push(char::from(byte));
                rest = &rest[index + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[index + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Removes the state runc keeps under [`RUNC_ROOT`] of the steps that were killed: those whose
/// root file system is under `dir`. Returns how many.
fn remove_runc_states(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(RUNC_ROOT) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|entry| {
            let state = fs::read_to_string(entry.path().join("state.json")).unwrap_or_default();
            runc_state_is_under(&state, dir)
        })
        .filter(|entry| fs::remove_dir_all(entry.path()).is_ok())
        .count()
}

/// Whether a runc `state.json` names a root file system under `dir`.
fn runc_state_is_under(state: &str, dir: &Path) -> bool {
    serde_json::from_str::<serde_json::Value>(state).is_ok_and(|state| {
        state["config"]["rootfs"]
            .as_str()
            .is_some_and(|rootfs| Path::new(rootfs).starts_with(dir))
    })
}

/// Removes the cgroups and host directories the daemon created (deepest first, each only when
/// empty: a cgroup once its processes are gone, a directory when nobody else put files in it);
/// says what it removed and what it had to leave.
fn remove_created(created: &[PathBuf]) -> Vec<String> {
    let mut cgroups = 0;
    let mut dirs = Vec::new();
    let mut left = Vec::new();
    for path in created {
        let is_cgroup = path.starts_with("/sys/fs/cgroup");
        // a cgroup goes with rmdir once its last process has exited; retry briefly
        let attempts = if is_cgroup { 20 } else { 1 };
        let removed = (0..attempts).any(|attempt| {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(50));
            }
            fs::remove_dir(path).is_ok() || !path.exists()
        });
        match (removed, is_cgroup) {
            (true, true) => cgroups += 1,
            (true, false) if is_top_level(path) => dirs.push(path.display().to_string()),
            (true, false) => {}
            (false, _) => left.push(path.display().to_string()),
        }
    }
    let mut steps = Vec::new();
    if cgroups > 0 {
        steps.push(format!("removed {cgroups} cgroups ({CGROUP} and below)"));
    }
    if !dirs.is_empty() {
        steps.push(format!("removed {}", dirs.join(", ")));
    }
    if !left.is_empty() {
        steps.push(format!("left {} (not empty)", left.join(", ")));
    }
    steps
}

/// Whether `path` is one of [`HOST_DIRS`] itself (not a directory below one).
fn is_top_level(path: &Path) -> bool {
    HOST_DIRS.iter().any(|dir| path == Path::new(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daemon_keeps_its_state_under_its_directory_and_leaves_the_network_alone() {
        let arguments = arguments(Path::new("/tmp/x/dockerd")).join(" ");
        assert_eq!(
            arguments,
            "--config-file /tmp/x/dockerd/daemon.json --data-root /tmp/x/dockerd/data \
             --exec-root /tmp/x/dockerd/exec --pidfile /tmp/x/dockerd/dockerd.pid \
             --storage-driver vfs --bridge=none \
             --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
             --userland-proxy=false -H unix:///var/run/docker.sock"
        );
    }

    #[test]
    fn the_daemon_key_stays_under_its_directory() {
        assert_eq!(
            daemon_json(Path::new("/tmp/x/dockerd"), &["10.88.0.5:5000"]),
            r#"{"deprecated-key-path":"/tmp/x/dockerd/key.json","insecure-registries":["10.88.0.5:5000"]}"#
        );
    }

    #[test]
    fn a_state_directory_too_deep_for_a_socket_is_refused() {
        assert!(
            containerd_socket(Path::new("/tmp/xtask-e2e-4242/dockerd"))
                .as_os_str()
                .len()
                <= MAX_SOCKET_PATH
        );
        let deep = Path::new("/tmp").join("d".repeat(80));
        assert!(containerd_socket(&deep).as_os_str().len() > MAX_SOCKET_PATH);
    }

    #[test]
    fn leftover_processes_are_those_naming_the_directory() {
        let dir = Path::new("/tmp/x/dockerd");
        let check = |cmdline: &[u8], expected: bool| {
            assert_eq!(
                mentions(cmdline, dir),
                expected,
                "{}",
                String::from_utf8_lossy(cmdline)
            );
        };
        check(
            b"containerd\0--config\0/tmp/x/dockerd/exec/containerd/containerd.toml\0",
            true,
        );
        check(
            b"/usr/bin/containerd-shim-runc-v2\0-namespace\0moby\0-address\0/tmp/x/dockerd/exec/containerd/containerd.sock\0",
            true,
        );
        check(b"runc\0--root=/tmp/x/dockerd/data/runc\0run\0", true);
        check(b"tool\0unix:///tmp/x/dockerd/exec/x.sock\0", true);
        check(b"tool\0--root=/tmp/x/dockerd\0", true);
        check(b"tool\0/tmp/x/dockerd\0", true);
        // the same name alone, or a sibling directory, is not ours
        check(
            b"containerd\0--config\0/etc/containerd/config.toml\0",
            false,
        );
        check(b"containerd\0--root\0/tmp/x/dockerd2/data\0", false);
    }

    #[test]
    fn mounts_under_the_directory_deepest_first() {
        let mountinfo = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw
90 22 8:1 /tmp/x/dockerd/data /tmp/x/dockerd/data rw,relatime - ext4 /dev/vda rw
91 90 0:50 / /tmp/x/dockerd/data/vfs/dir/a\\040b rw - tmpfs tmpfs rw
92 22 0:51 / /tmp/x/dockerd2/data rw - tmpfs tmpfs rw
93 22 0:52 / /run/netns/xt rw - nsfs nsfs rw
";
        assert_eq!(
            mounts_under(mountinfo, Path::new("/tmp/x/dockerd")),
            [
                PathBuf::from("/tmp/x/dockerd/data/vfs/dir/a b"),
                PathBuf::from("/tmp/x/dockerd/data"),
            ]
        );
    }

    #[test]
    fn cgroup_hierarchies_are_the_cgroup_mounts() {
        let mountinfo = "\
30 22 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw
32 30 0:28 / /sys/fs/cgroup/cpu rw,nosuid shared:9 - cgroup cgroup rw,cpu
33 22 0:29 / /sys/fs/cgroup/x\\040y rw - cgroup cgroup rw,pids
34 22 0:30 / /run/netns rw - tmpfs tmpfs rw
";
        assert_eq!(
            cgroup_roots(mountinfo),
            [
                "/sys/fs/cgroup/unified",
                "/sys/fs/cgroup/cpu",
                "/sys/fs/cgroup/x y"
            ]
            .map(PathBuf::from)
        );
    }

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape("/a\\040b\\011c\\134d"), "/a b\tc\\d");
        assert_eq!(unescape("/plain"), "/plain");
        assert_eq!(unescape("/odd\\x"), "/odd\\x");
    }

    #[test]
    fn only_what_appeared_is_removed_deepest_first() {
        let set = |paths: &[&str]| paths.iter().map(PathBuf::from).collect::<BTreeSet<_>>();
        let before = set(&["/sys/fs/cgroup/cpu/docker", "/opt/containerd"]);
        let now = set(&[
            "/sys/fs/cgroup/cpu/docker",
            "/sys/fs/cgroup/cpu/docker/buildkit",
            "/sys/fs/cgroup/memory/docker",
            "/sys/fs/cgroup/memory/docker/buildkit",
            "/sys/fs/cgroup/memory/docker/buildkit/abc",
            "/opt/containerd",
            "/run/docker",
            "/run/docker/plugins",
        ]);
        assert_eq!(
            created(&before, &now),
            [
                "/sys/fs/cgroup/memory/docker/buildkit/abc",
                "/sys/fs/cgroup/memory/docker/buildkit",
                "/sys/fs/cgroup/cpu/docker/buildkit",
                "/sys/fs/cgroup/memory/docker",
                "/run/docker/plugins",
                "/run/docker",
            ]
            .map(PathBuf::from)
        );
    }

    #[test]
    fn runc_states_are_ours_by_their_root_file_system() {
        let dir = Path::new("/tmp/x/dockerd");
        let state = |rootfs: &str| format!(r#"{{"id":"abc","config":{{"rootfs":"{rootfs}"}}}}"#);
        let ours = state("/tmp/x/dockerd/data/buildkit/executor/abc/rootfs");
        assert!(runc_state_is_under(&ours, dir));
        assert!(!runc_state_is_under(&state("/tmp/x/dockerd2/rootfs"), dir));
        assert!(!runc_state_is_under(
            &state("/run/containerd/io/abc/rootfs"),
            dir
        ));
        assert!(!runc_state_is_under("not json", dir));
    }

    #[test]
    fn process_state_after_the_command_name() {
        assert_eq!(stat_state("42 (containerd) S 1 42"), Some('S'));
        assert_eq!(stat_state("43 (a) b) (c) Z 1 43"), Some('Z'));
        assert_eq!(stat_state("garbage"), None);
    }

    /// The seed's Dockerfile (the scenario repository's): nothing to pull.
    const SEED_DOCKERFILE: &str = "FROM scratch\nCOPY hello.txt /hello.txt\n";
    /// A build with a `RUN` step, which BuildKit runs with runc in the daemon's `docker`
    /// cgroups (host network: the daemon has no bridge).
    const RUN_DOCKERFILE: &str =
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"true\"]\n";

    /// Builds the seed's Dockerfile with BuildKit through the guard, and one with a `RUN`
    /// step, and checks that dropping the guard leaves nothing: run by hand as root inside a
    /// throw-away network namespace (see the ignore reason).
    #[test]
    #[ignore = "needs root, Debian's docker.io, busybox-static and no daemon on /var/run/docker.sock; run by hand inside a throw-away network namespace: ip netns add xtdock-test && nsenter --net=/run/netns/xtdock-test cargo test -p xtask dockerd -- --ignored --test-threads=1 --nocapture"]
    fn builds_with_buildkit_and_leaves_nothing_behind() {
        let base = std::env::temp_dir().join(format!("xtask-dockerd-{}", std::process::id()));
        let dir = base.join("dockerd");
        let host_before = host_leftovers();
        let key_before = Path::new("/etc/docker/key.json").exists();
        let log = fs::File::create(base.with_extension("log")).unwrap();
        let dockerd = Dockerd::start(&dir, log, &[]).unwrap();

        let log = fs::File::create(base.with_extension("second.log")).unwrap();
        let second = Dockerd::start(&base.join("second"), log, &[]);
        assert!(second.is_err(), "a second daemon on {SOCKET} was started");
        let seed = context(&base.join("seed"), SEED_DOCKERFILE);
        fs::write(seed.join("hello.txt"), "hello\n").unwrap();
        let output = build(&dockerd, &seed, "e2e.local/app:buildkit", &[]);
        assert!(output.contains("#1 [internal] load build definition from Dockerfile"));
        let run = context(&base.join("run"), RUN_DOCKERFILE);
        fs::copy("/bin/busybox", run.join("busybox")).unwrap();
        build(
            &dockerd,
            &run,
            "e2e.local/run:buildkit",
            &["--network", "host"],
        );
        let images = dockerd.images().unwrap();
        eprintln!("{images}");
        for tag in ["e2e.local/app:buildkit ", "e2e.local/run:buildkit "] {
            assert!(images.lines().any(|l| l.starts_with(tag)), "{tag}");
        }
        assert_ne!(
            host_leftovers(),
            host_before,
            "no docker cgroup to clean up"
        );
        drop(dockerd);

        assert_nothing_left(&dir);
        assert_eq!(host_leftovers(), host_before);
        assert_eq!(Path::new("/etc/docker/key.json").exists(), key_before);
        fs::remove_dir_all(&base).unwrap();
        fs::remove_file(base.with_extension("log")).unwrap();
        fs::remove_file(base.with_extension("second.log")).unwrap();
    }

    /// A `RUN` step that outlives a killed daemon, found by its command line.
    const SLEEP_DOCKERFILE: &str =
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"sleep\", \"617\"]\n";

    /// A daemon killed (SIGKILL) in the middle of a `RUN` step leaves the step running in its
    /// cgroup, its data root mounted and its socket in place: the guard still removes them.
    #[test]
    #[ignore = "needs root, Debian's docker.io, busybox-static and no daemon on /var/run/docker.sock; run by hand inside a throw-away network namespace: ip netns add xtdock-test && nsenter --net=/run/netns/xtdock-test cargo test -p xtask dockerd -- --ignored --test-threads=1 --nocapture"]
    fn a_killed_daemon_is_cleaned_up_after() {
        let base = std::env::temp_dir().join(format!("xtask-dockerd-{}", std::process::id()));
        let dir = base.join("dockerd");
        let host_before = host_leftovers();
        let log = fs::File::create(base.with_extension("log")).unwrap();
        let mut dockerd = Dockerd::start(&dir, log, &[]).unwrap();
        let run = context(&base.join("run"), SLEEP_DOCKERFILE);
        fs::copy("/bin/busybox", run.join("busybox")).unwrap();
        let mut client = dockerd
            .docker()
            .args([
                "build",
                "--network",
                "host",
                "-t",
                "e2e.local/sleep:buildkit",
                ".",
            ])
            .env("DOCKER_BUILDKIT", "1")
            .current_dir(&run)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let step = wait_for_step();
        dockerd.child.kill().unwrap();
        dockerd.child.wait().unwrap();
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert_ne!(mounts_under(&mountinfo, &dir), Vec::<PathBuf>::new());
        assert!(fs::symlink_metadata(SOCKET).is_ok());
        assert!(
            Path::new(&format!("/proc/{step}")).exists(),
            "the step ended with the daemon"
        );
        drop(dockerd);
        let _ = client.wait();

        assert_nothing_left(&dir);
        assert_eq!(step_pids(), Vec::<u32>::new());
        assert_eq!(host_leftovers(), host_before);
        fs::remove_dir_all(&base).unwrap();
        fs::remove_file(base.with_extension("log")).unwrap();
    }

    /// Waits (at most 60 s) for the `RUN` step of [`SLEEP_DOCKERFILE`]; its pid.
    fn wait_for_step() -> u32 {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(pid) = step_pids().first() {
                return *pid;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the RUN step did not start within 60 s");
    }

    /// The processes running the `RUN` step of [`SLEEP_DOCKERFILE`].
    fn step_pids() -> Vec<u32> {
        let cmdline = |pid: &u32| fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        throwaway_cluster::pids()
            .into_iter()
            .filter(|pid| cmdline(pid) == b"/bin/busybox\x00sleep\x00617\x00")
            .collect()
    }

    /// A build context at `path` holding `dockerfile`.
    fn context(path: &Path, dockerfile: &str) -> PathBuf {
        fs::create_dir_all(path).unwrap();
        fs::write(path.join("Dockerfile"), dockerfile).unwrap();
        path.to_path_buf()
    }

    /// `DOCKER_BUILDKIT=1 docker build -t TAG EXTRA .` in `context`, as the seed's template
    /// runs it; prints and returns BuildKit's output.
    fn build(dockerd: &Dockerd, context: &Path, tag: &str, extra: &[&str]) -> String {
        let build = dockerd
            .docker()
            .args(["build", "-t", tag])
            .args(extra)
            .arg(".")
            .env("DOCKER_BUILDKIT", "1")
            .current_dir(context)
            .output()
            .unwrap();
        let output = String::from_utf8_lossy(&build.stderr).into_owned();
        eprintln!("{output}");
        assert!(build.status.success(), "{output}");
        output
    }

    /// No socket, no state directory, no mount under it and no process naming it.
    fn assert_nothing_left(dir: &Path) {
        assert!(fs::symlink_metadata(SOCKET).is_err(), "{SOCKET} left");
        assert!(!dir.exists(), "{} left", dir.display());
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert_eq!(mounts_under(&mountinfo, dir), Vec::<PathBuf>::new());
        let cmdline = |pid: &u32| fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let leftovers: Vec<u32> = throwaway_cluster::pids()
            .into_iter()
            .filter(|pid| mentions(&cmdline(pid), dir))
            .collect();
        assert_eq!(leftovers, Vec::<u32>::new());
    }
}
