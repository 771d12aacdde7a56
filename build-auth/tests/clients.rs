//! Real clients read what the real `creds-init` wrote: `git credential fill` finds the user
//! name and password, and `ssh -G` shows the identity file, port and host key policy.
//!
//! These tests need `git`, `ssh` and `ssh-keygen`. When one is missing they fail, saying so,
//! rather than pass without checking anything (CI installs them).
//!
//! OpenSSH reads `~/.ssh/config` from the passwd home directory, never from `$HOME`, so
//! `ssh -G` alone would not see creds-init's files; creds-init therefore sets git's
//! `core.sshCommand` to `ssh -F $HOME/.ssh/config`, and these tests run ssh the way git
//! does, with that command.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use build_auth::creds_init::SECRETS_DIR_ENV;

/// The path of a client program, or a failure that says it is missing.
fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/bin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} is not installed (looked on PATH and in /usr/local/bin, /usr/bin, /bin); \
                 these tests check creds-init's files with the real client, so install it \
                 (Debian: apt-get install git openssh-client)"
            )
        })
}

/// A clean environment for a client: only `HOME`, a short `PATH` and what the test adds.
fn client(program: &Path, home: &Path) -> Command {
    let mut command = Command::new(program);
    command
        .env_clear()
        .env("HOME", home)
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null());
    command
}

struct Fixture {
    dir: tempfile::TempDir,
    home: PathBuf,
    secrets: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let secrets = dir.path().join("secrets");
        std::fs::create_dir(&secrets).unwrap();
        Fixture { dir, home, secrets }
    }

    fn secret(&self, name: &str, keys: &[(&str, &[u8])]) -> &Self {
        let dir = self.secrets.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for (key, value) in keys {
            std::fs::write(dir.join(key), value).unwrap();
        }
        self
    }

    fn creds_init(&self, args: &[&str]) {
        let output = Command::new(env!("CARGO_BIN_EXE_creds-init"))
            .args(args)
            .env_clear()
            .env("HOME", &self.home)
            .env(SECRETS_DIR_ENV, &self.secrets)
            .output()
            .unwrap();
        assert!(output.status.success(), "creds-init failed: {output:?}");
    }
}

/// `git credential fill` with `input`, as git asks its helpers.
fn credential_fill(home: &Path, input: &str) -> Output {
    let mut child = client(&tool("git"), home)
        .args(["credential", "fill"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn filled(home: &Path, input: &str) -> String {
    let output = credential_fill(home, input);
    assert!(
        output.status.success(),
        "git credential fill failed for {input:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

const TRICKY_PASSWORD: &str = "fake-p@ss:w/rd%20 ~!";

fn git_fixture() -> Fixture {
    let f = Fixture::new();
    f.secret(
        "github",
        &[
            ("username", b"fake-bot@example.com"),
            ("password", TRICKY_PASSWORD.as_bytes()),
        ],
    )
    .secret(
        "internal",
        &[
            ("username", b"fake-internal"),
            ("password", b"fake-internal-pass"),
        ],
    );
    f.creds_init(&[
        "-basic-git=github=https://github.example.com",
        "-basic-git=internal=http://git.internal.example.com:8080/team",
    ]);
    f
}

#[test]
fn git_fills_user_and_password_by_host() {
    let f = git_fixture();
    let expected = format!(
        "protocol=https\nhost=github.example.com\nusername=fake-bot@example.com\npassword={TRICKY_PASSWORD}\n"
    );
    assert_eq!(
        filled(&f.home, "protocol=https\nhost=github.example.com\n\n"),
        expected
    );
}

#[test]
fn git_fills_user_and_password_by_url() {
    let f = git_fixture();
    let out = filled(&f.home, "url=https://github.example.com/org/repo.git\n\n");
    assert!(out.contains("username=fake-bot@example.com\n"), "{out}");
    assert!(
        out.contains(&format!("password={TRICKY_PASSWORD}\n")),
        "{out}"
    );
}

#[test]
fn git_fills_a_url_with_port_and_path() {
    let f = git_fixture();
    let out = filled(
        &f.home,
        "url=http://git.internal.example.com:8080/team/repo.git\n\n",
    );
    assert!(out.contains("username=fake-internal\n"), "{out}");
    assert!(out.contains("password=fake-internal-pass\n"), "{out}");
}

#[test]
fn git_finds_nothing_for_other_hosts() {
    let f = git_fixture();
    let output = credential_fill(&f.home, "protocol=https\nhost=elsewhere.example.com\n\n");
    assert!(
        !output.status.success(),
        "credentials for a host nobody configured: {}",
        String::from_utf8_lossy(&output.stdout)
    );
}

/// `ssh -G host` run as git runs ssh: with the `core.sshCommand` creds-init configured.
fn ssh_settings(home: &Path, host: &str) -> String {
    let output = client(&tool("git"), home)
        .args(["config", "--global", "--get", "core.sshCommand"])
        .output()
        .unwrap();
    assert!(output.status.success(), "no core.sshCommand: {output:?}");
    let command = String::from_utf8(output.stdout).unwrap();
    let command = command.trim_end();
    assert!(command.starts_with("ssh -F "), "{command}");
    // git runs the command through the shell; so do we, finding ssh on the same PATH.
    let ssh = tool("ssh");
    let output = client(Path::new("/bin/sh"), home)
        .env("PATH", ssh.parent().unwrap())
        .args(["-c", &format!("{command} -G {host}")])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "ssh -G {host}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn setting<'a>(settings: &'a str, name: &str) -> Vec<&'a str> {
    settings
        .lines()
        .filter_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .collect()
}

fn ssh_fixture() -> Fixture {
    let f = Fixture::new();
    // A real throwaway key, so that ssh-keygen can prove the file is intact and private.
    let key = f.dir.path().join("generated");
    let output = Command::new(tool("ssh-keygen"))
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "fake-test-key", "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(output.status.success(), "ssh-keygen: {output:?}");
    let private = std::fs::read(&key).unwrap();
    f.secret("deploy-key", &[("ssh-privatekey", &private)]).secret(
        "github-key",
        &[
            ("ssh-privatekey", &private),
            (
                "known_hosts",
                b"github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n",
            ),
        ],
    );
    f.creds_init(&[
        "-ssh-git=deploy-key=git.example.com:2222",
        "-ssh-git=github-key=github.com",
    ]);
    f
}

#[test]
fn ssh_uses_the_identity_file_and_port() {
    let f = ssh_fixture();
    let home = f.home.to_str().unwrap();
    let settings = ssh_settings(&f.home, "git.example.com");
    assert_eq!(setting(&settings, "hostname"), ["git.example.com"]);
    assert_eq!(setting(&settings, "port"), ["2222"]);
    assert_eq!(
        setting(&settings, "identityfile"),
        [format!("{home}/.ssh/id_deploy-key")]
    );
    assert_eq!(setting(&settings, "identitiesonly"), ["yes"]);
    assert_eq!(setting(&settings, "stricthostkeychecking"), ["accept-new"]);
    assert_eq!(
        setting(&settings, "userknownhostsfile"),
        [format!("{home}/.ssh/known_hosts")]
    );
}

#[test]
fn ssh_checks_host_keys_strictly_when_the_secret_has_known_hosts() {
    let f = ssh_fixture();
    let home = f.home.to_str().unwrap();
    let settings = ssh_settings(&f.home, "github.com");
    assert_eq!(setting(&settings, "port"), ["22"]);
    assert_eq!(
        setting(&settings, "identityfile"),
        [format!("{home}/.ssh/id_github-key")]
    );
    assert_eq!(setting(&settings, "stricthostkeychecking"), ["true"]);
}

#[test]
fn ssh_does_not_apply_the_config_to_other_hosts() {
    let f = ssh_fixture();
    let settings = ssh_settings(&f.home, "elsewhere.example.com");
    let home = f.home.to_str().unwrap();
    assert!(
        !setting(&settings, "identityfile")
            .iter()
            .any(|file| file.starts_with(home)),
        "{settings}"
    );
}

#[test]
fn ssh_keygen_reads_the_written_key() {
    let f = ssh_fixture();
    let output = client(&tool("ssh-keygen"), &f.home)
        .arg("-y")
        .arg("-f")
        .arg(f.home.join(".ssh/id_deploy-key"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "ssh-keygen -y: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let public = std::fs::read_to_string(f.dir.path().join("generated.pub")).unwrap();
    let derived = String::from_utf8(output.stdout).unwrap();
    let key_of = |line: &str| {
        line.split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(key_of(&derived), key_of(&public));
}
