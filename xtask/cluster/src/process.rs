//! Processes and ports: what every guard needs to stop what it started, by handle or PID and
//! never by name, and to find what is left.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A free TCP port on 127.0.0.1 (the kernel's choice; free when this returns).
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Runs a short command to completion and returns its stdout; its stderr goes into the error
/// when it fails.
pub fn run_quiet(command: &mut Command) -> anyhow::Result<String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Whether `pid` runs (a zombie does not).
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// SIGTERM, up to 10 s, then SIGKILL; reaps the child.
pub fn terminate(child: &mut Child) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The process ids in `/proc`.
pub fn pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_string_lossy().parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The command line of `pid`, its arguments joined by spaces (empty when it is gone).
pub fn command_line(pid: u32) -> String {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    String::from_utf8_lossy(&cmdline).replace('\0', " ")
}

/// The processes whose command line names `dir` or a path under it (this process aside), as
/// `PID command…`.
pub fn processes_naming(dir: &Path) -> Vec<String> {
    let own = std::process::id();
    let needle = dir.display().to_string();
    pids()
        .into_iter()
        .filter(|pid| *pid != own)
        .filter_map(|pid| {
            let text = command_line(pid);
            text.contains(&needle)
                .then(|| format!("{pid} {}", text.trim()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_process_is_alive_and_an_exited_one_is_not() {
        assert!(process_alive(std::process::id()));
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!process_alive(pid));
    }

    #[test]
    fn a_process_naming_the_directory_is_found() {
        let dir = std::env::temp_dir().join(format!("xtask-netns-test-{}", std::process::id()));
        // `read`, a builtin: the shell forks nothing that would show the same command line
        let mut child = Command::new("sh")
            .args(["-c", "read line"])
            .arg(&dir)
            .stdin(Stdio::piped())
            .spawn()
            .expect("sh");
        // a loaded machine may show the child's new command line a moment late
        let mut found = Vec::new();
        for _ in 0..50 {
            found = processes_naming(&dir);
            if !found.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with(&format!("{} sh -c read line ", child.id())));
        assert!(processes_naming(&dir).is_empty());
    }

    #[test]
    fn a_failing_command_says_why() {
        let error = run_quiet(Command::new("sh").args(["-c", "echo oops >&2; exit 2"]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("oops"), "{error}");
        assert_eq!(run_quiet(Command::new("echo").arg("hi")).unwrap(), "hi\n");
    }
}
