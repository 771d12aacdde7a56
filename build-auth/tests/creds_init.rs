//! The real `creds-init` binary against a temporary `$HOME` and Secret directory; every file
//! it writes is snapshotted (with the temporary `$HOME` shown as `[HOME]`).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use build_auth::creds_init::SECRETS_DIR_ENV;

/// A temporary `$HOME` and Secret directory.
struct Fixture {
    _dir: tempfile::TempDir,
    home: PathBuf,
    secrets: PathBuf,
}

/// What one run shows: exit code, output and every file in `$HOME`.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    files: BTreeMap<String, Entry>,
}

struct Entry {
    mode: String,
    /// `None` for a directory.
    contents: Option<String>,
}

impl std::fmt::Display for Run {
    /// A plain-text view for snapshots: the exit code, the output, then each file under a
    /// `=== path (mode)` header.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "exit code: {:?}", self.code)?;
        for (name, text) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            writeln!(f, "=== {name}")?;
            f.write_str(text)?;
            if !text.is_empty() && !text.ends_with('\n') {
                f.write_str("\n")?;
            }
        }
        for (path, entry) in &self.files {
            writeln!(f, "=== ~/{path} ({})", entry.mode)?;
            if let Some(contents) = &entry.contents {
                f.write_str(contents)?;
            }
        }
        Ok(())
    }
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let secrets = dir.path().join("secrets");
        std::fs::create_dir(&home).unwrap();
        std::fs::create_dir(&secrets).unwrap();
        Fixture {
            _dir: dir,
            home,
            secrets,
        }
    }

    /// A Secret's directory with one file per key, as a Secret volume mounts it.
    fn secret(&self, name: &str, keys: &[(&str, &str)]) -> &Self {
        let dir = self.secrets.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for (key, value) in keys {
            std::fs::write(dir.join(key), value).unwrap();
        }
        self
    }

    fn output(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_creds-init"))
            .args(args)
            .env_clear()
            .env("HOME", &self.home)
            .env(SECRETS_DIR_ENV, &self.secrets)
            .output()
            .unwrap()
    }

    fn run(&self, args: &[&str]) -> Run {
        let output = self.output(args);
        Run {
            code: output.status.code(),
            stdout: self.scrub(&output.stdout),
            stderr: self.scrub(&output.stderr),
            files: self.files(),
        }
    }

    /// Output with the temporary paths replaced.
    fn scrub(&self, bytes: &[u8]) -> String {
        String::from_utf8(bytes.to_vec())
            .unwrap()
            .replace(self.home.to_str().unwrap(), "[HOME]")
            .replace(self.secrets.to_str().unwrap(), "[SECRETS]")
    }

    /// Every file and directory under `$HOME`, by relative path.
    fn files(&self) -> BTreeMap<String, Entry> {
        fn walk(fixture: &Fixture, dir: &Path, out: &mut BTreeMap<String, Entry>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                let meta = std::fs::symlink_metadata(&path).unwrap();
                let relative = path
                    .strip_prefix(&fixture.home)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                let mode = format!("{:04o}", meta.permissions().mode() & 0o7777);
                if meta.is_dir() {
                    out.insert(
                        format!("{relative}/"),
                        Entry {
                            mode,
                            contents: None,
                        },
                    );
                    walk(fixture, &path, out);
                } else {
                    let contents = fixture.scrub(&std::fs::read(&path).unwrap());
                    out.insert(
                        relative,
                        Entry {
                            mode,
                            contents: Some(contents),
                        },
                    );
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(self, &self.home, &mut out);
        out
    }
}

#[test]
fn basic_auth_for_docker_and_git() {
    let f = Fixture::new();
    f.secret(
        "registry-creds",
        &[
            ("username", "fake-registry-user"),
            ("password", "fake-registry-pass"),
        ],
    )
    .secret(
        "git-creds",
        &[
            ("username", "fake git user"),
            ("password", "fake:p@ss/word%"),
        ],
    );
    let run = f.run(&[
        "-basic-docker=registry-creds=https://index.docker.io/v1/",
        "--basic-docker=registry-creds=gcr.io",
        "-basic-git=git-creds=https://github.com",
        "-basic-git",
        "git-creds=gitlab.example.com/group/",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    insta::assert_snapshot!(run.to_string());
}

#[test]
fn docker_configs_merge_later_wins() {
    let f = Fixture::new();
    f.secret(
        "legacy",
        &[(
            ".dockercfg",
            r#"{"a.example.com": {"auth": "ZmFrZTpsZWdhY3k=", "email": "none@example.com"},
                "b.example.com": {"auth": "ZmFrZTpsZWdhY3k="}}"#,
        )],
    )
    .secret(
        "config",
        &[(
            ".dockerconfigjson",
            r#"{"auths": {"c.example.com": {"auth": "ZmFrZTpjb25maWc="},
                          "b.example.com": {"auth": "ZmFrZTpjb25maWc="}},
                "credsStore": "not-copied"}"#,
        )],
    )
    .secret(
        "basic",
        &[("username", "fake-user"), ("password", "fake-basic")],
    );
    let run = f.run(&[
        "-basic-docker=basic=c.example.com",
        "-docker-config=config",
        "-docker-cfg=legacy",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    insta::assert_snapshot!(run.to_string());
}

#[test]
fn ssh_keys_config_and_known_hosts() {
    let f = Fixture::new();
    f.secret(
        "github-key",
        &[
            ("ssh-privatekey", "-----BEGIN OPENSSH PRIVATE KEY-----\nfake-test-key-1\n-----END OPENSSH PRIVATE KEY-----"),
            ("known_hosts", "github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"),
        ],
    )
    .secret(
        "internal-key",
        &[("ssh-privatekey", "-----BEGIN OPENSSH PRIVATE KEY-----\nfake-test-key-2\n-----END OPENSSH PRIVATE KEY-----\n")],
    );
    let run = f.run(&[
        "-ssh-git=internal-key=git.example.com:2222",
        "-ssh-git=github-key=github.com",
        "-ssh-git=internal-key=git2.example.com",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    insta::assert_snapshot!(run.to_string());
}

#[test]
fn no_flags_write_nothing() {
    let f = Fixture::new();
    let run = f.run(&[]);
    assert_eq!(run.code, Some(0));
    assert!(run.files.is_empty());
    assert_eq!(
        run.stdout,
        "creds-init: no credentials given; nothing written\n"
    );
}

#[test]
fn help_is_not_an_error() {
    let f = Fixture::new();
    let run = f.run(&["-help"]);
    assert_eq!(run.code, Some(0));
    assert!(run.stdout.contains("-basic-docker=<secret>=<url>"));
    assert!(run.stdout.contains(SECRETS_DIR_ENV));
}

#[test]
fn existing_files_and_dirs_get_private_modes() {
    let f = Fixture::new();
    f.secret(
        "git-creds",
        &[("username", "fake-user"), ("password", "fake-pass")],
    );
    std::fs::write(f.home.join(".gitconfig"), "[user]\n\tname = old\n").unwrap();
    std::fs::set_permissions(
        f.home.join(".gitconfig"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    std::fs::create_dir(f.home.join(".docker")).unwrap();
    std::fs::set_permissions(
        f.home.join(".docker"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    f.secret(
        "reg",
        &[("username", "fake-user"), ("password", "fake-pass")],
    );
    let run = f.run(&[
        "-basic-git=git-creds=github.com",
        "-basic-docker=reg=quay.io",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    for (path, entry) in &run.files {
        let expected = if path.ends_with('/') { "0700" } else { "0600" };
        assert_eq!(entry.mode, expected, "{path}");
    }
    assert!(
        !run.files[".gitconfig"]
            .contents
            .as_ref()
            .unwrap()
            .contains("old")
    );
}

#[test]
fn a_missing_home_is_created() {
    let f = Fixture::new();
    f.secret(
        "reg",
        &[("username", "fake-user"), ("password", "fake-pass")],
    );
    std::fs::remove_dir(&f.home).unwrap();
    let run = f.run(&["-basic-docker=reg=quay.io"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let mode = std::fs::metadata(&f.home).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    assert!(run.files.contains_key(".docker/config.json"));
}

/// Error cases: each exits non-zero, says what is wrong, and writes nothing.
#[test]
fn errors() {
    let cases: &[(&str, &[&str])] = &[
        (
            "malformed",
            &[
                "a",
                "-basic-docker=a",
                "-basic-git=a=b=c",
                "-docker-cfg=a=b",
                "-nope=x",
            ],
        ),
        (
            "duplicate",
            &[
                "-basic-docker=reg=quay.io",
                "-basic-docker=other=quay.io",
                "-ssh-git=key=github.com",
                "-ssh-git=key=github.com:2222",
            ],
        ),
        (
            "missing-files",
            &[
                "-basic-git=absent=github.com",
                "-ssh-git=nokey=github.com",
                "-docker-config=reg",
            ],
        ),
        (
            "bad-files",
            &[
                "-docker-config=broken",
                "-docker-cfg=wrong-shape",
                "-basic-docker=binary=quay.io",
            ],
        ),
        (
            "duplicate-in-docker-configs",
            &["-docker-config=config-a", "-docker-config=config-b"],
        ),
    ];
    for (name, args) in cases {
        let f = Fixture::new();
        f.secret(
            "reg",
            &[("username", "fake-user"), ("password", "fake-pass")],
        )
        .secret(
            "other",
            &[("username", "fake-user"), ("password", "fake-pass")],
        )
        .secret("key", &[("ssh-privatekey", "fake-key")])
        .secret("nokey", &[("known_hosts", "github.com ssh-ed25519 AAAA")])
        .secret("broken", &[(".dockerconfigjson", "{\"auths\": {")])
        .secret("wrong-shape", &[(".dockercfg", "[\"fake\"]")])
        .secret(
            "config-a",
            &[(
                ".dockerconfigjson",
                r#"{"auths": {"quay.io": {"auth": "ZmFrZTph"}}}"#,
            )],
        )
        .secret(
            "config-b",
            &[(
                ".dockerconfigjson",
                r#"{"auths": {"quay.io": {"auth": "ZmFrZTpi"}}}"#,
            )],
        );
        std::fs::create_dir(f.secrets.join("binary")).unwrap();
        std::fs::write(f.secrets.join("binary/username"), b"fake-\xff-user").unwrap();
        std::fs::write(f.secrets.join("binary/password"), b"fake-pass").unwrap();
        let run = f.run(args);
        assert_ne!(run.code, Some(0), "{name}");
        assert!(run.files.is_empty(), "{name}: wrote {:?}", run.files.keys());
        assert!(run.stdout.is_empty(), "{name}: {}", run.stdout);
        insta::assert_snapshot!(*name, run.to_string());
    }
}

/// A failing creds-init leaves why in its termination message, which the kubelet copies into
/// the container's status and the controller into the Build's failure message; a successful
/// one leaves it empty.
#[test]
fn failure_is_the_termination_message() {
    let f = Fixture::new();
    f.secret("key", &[("ssh-privatekey", "fake-key")]);
    let log = f.home.parent().unwrap().join("termination-log");
    let run = |args: &[&str]| {
        std::fs::write(&log, "").unwrap();
        Command::new(env!("CARGO_BIN_EXE_creds-init"))
            .args(args)
            .env_clear()
            .env("HOME", &f.home)
            .env(SECRETS_DIR_ENV, &f.secrets)
            .env(build_auth::TERMINATION_LOG_ENV, &log)
            .output()
            .unwrap();
        f.scrub(&std::fs::read(&log).unwrap())
    };
    let message = run(&["-basic-git=absent=github.com"]);
    assert!(
        message.starts_with("creds-init: ") && message.contains("absent"),
        "{message:?}"
    );
    assert!(!message.contains("fake-key"), "{message:?}");
    assert_eq!(run(&["-ssh-git=key=github.com"]), "");
}
