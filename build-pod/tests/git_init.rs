//! The real `git-init` binary against real local repositories (file:// URLs), made in temporary
//! directories with the git CLI.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A temporary directory holding an upstream repository (and a submodule repository), with an
/// isolated git configuration.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let fixture = Fixture {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir(fixture.home()).unwrap();
        fixture
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn home(&self) -> PathBuf {
        self.path("home")
    }

    fn url(&self, rel: &str) -> String {
        format!("file://{}", self.path(rel).display())
    }

    /// A `git` with no system or user configuration but ours; file:// submodules allowed.
    fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        command
            .env("HOME", self.home())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_COUNT", "1")
            .env("GIT_CONFIG_KEY_0", "protocol.file.allow")
            .env("GIT_CONFIG_VALUE_0", "always")
            .env("GIT_AUTHOR_NAME", "Test")
            .env("GIT_AUTHOR_EMAIL", "test@example.com")
            .env("GIT_COMMITTER_NAME", "Test")
            .env("GIT_COMMITTER_EMAIL", "test@example.com")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE");
        // Connections to 127.0.0.1 must fail at once, not through a proxy.
        for proxy in [
            "http_proxy",
            "https_proxy",
            "all_proxy",
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
        ] {
            command.env_remove(proxy);
        }
        command
    }

    /// Runs git in `rel`, panicking on failure; returns its trimmed stdout.
    fn git(&self, rel: &str, args: &[&str]) -> String {
        let out = self
            .command(Path::new("git"))
            .arg("-C")
            .arg(self.path(rel))
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn commit_file(&self, rel: &str, file: &str, content: &str) -> String {
        std::fs::write(self.path(rel).join(file), content).unwrap();
        self.git(rel, &["add", file]);
        self.git(rel, &["commit", "-q", "-m", &format!("{file}: {content}")]);
        self.git(rel, &["rev-parse", "HEAD"])
    }

    fn init_repo(&self, rel: &str) {
        std::fs::create_dir_all(self.path(rel)).unwrap();
        self.git(rel, &["init", "-q", "-b", "main"]);
    }

    /// `upstream`: main (README v1 → v2 → v3), branch `feature`, annotated tag `v1` on the
    /// first commit, and `refs/pull/7/head` on a commit no branch contains.
    fn upstream(&self) -> Upstream {
        self.init_repo("upstream");
        let first = self.commit_file("upstream", "README", "v1");
        self.git("upstream", &["tag", "-a", "v1", "-m", "release 1"]);
        let second = self.commit_file("upstream", "README", "v2");
        self.git("upstream", &["checkout", "-q", "-b", "feature"]);
        let feature = self.commit_file("upstream", "FEATURE", "yes");
        self.git("upstream", &["checkout", "-q", "-b", "pr", "main"]);
        let pull = self.commit_file("upstream", "PR", "7");
        self.git("upstream", &["update-ref", "refs/pull/7/head", &pull]);
        self.git("upstream", &["checkout", "-q", "main"]);
        self.git("upstream", &["branch", "-q", "-D", "pr"]);
        let main = self.commit_file("upstream", "README", "v3");
        Upstream {
            first,
            second,
            feature,
            pull,
            main,
        }
    }

    fn git_init(&self, cwd: &str, args: &[&str]) -> Run {
        let cwd = self.path(cwd);
        std::fs::create_dir_all(&cwd).unwrap();
        let out = self
            .command(Path::new(env!("CARGO_BIN_EXE_git-init")))
            .current_dir(&cwd)
            .args(args)
            .output()
            .unwrap();
        Run { out }
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }
}

struct Upstream {
    first: String,
    second: String,
    feature: String,
    pull: String,
    main: String,
}

struct Run {
    out: Output,
}

impl Run {
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }

    /// Asserts success and that the commit was printed; returns stdout.
    fn succeeded_with(&self, commit: &str) -> String {
        assert!(
            self.out.status.success(),
            "git-init failed ({:?}):\n{}{}",
            self.out.status,
            self.stdout(),
            self.stderr()
        );
        let stdout = self.stdout();
        assert!(
            stdout.starts_with(&format!("checked out {commit} ")),
            "{stdout}"
        );
        stdout
    }
}

#[test]
fn branch() {
    let f = Fixture::new();
    let up = f.upstream();
    let run = f.git_init("ws", &["-url", &f.url("upstream"), "-revision", "feature"]);
    run.succeeded_with(&up.feature);
    assert_eq!(f.git("ws", &["rev-parse", "HEAD"]), up.feature);
    assert_eq!(f.read("ws/FEATURE"), "yes");
    assert_eq!(f.read("ws/README"), "v2");
    // shallow: only the one commit came over
    assert_eq!(f.git("ws", &["rev-list", "--count", "HEAD"]), "1");
}

#[test]
fn annotated_tag() {
    let f = Fixture::new();
    let up = f.upstream();
    let run = f.git_init("ws", &["--url", &f.url("upstream"), "--revision=v1"]);
    run.succeeded_with(&up.first);
    assert_eq!(f.read("ws/README"), "v1");
}

#[test]
fn full_sha_of_an_older_commit() {
    let f = Fixture::new();
    let up = f.upstream();
    let run = f.git_init("ws", &["-url", &f.url("upstream"), "-revision", &up.second]);
    run.succeeded_with(&up.second);
    assert_eq!(f.read("ws/README"), "v2");
}

#[test]
fn abbreviated_sha_falls_back_to_a_full_fetch() {
    let f = Fixture::new();
    let up = f.upstream();
    let run = f.git_init(
        "ws",
        &["-url", &f.url("upstream"), "-revision", &up.second[..10]],
    );
    run.succeeded_with(&up.second);
    assert!(
        run.stderr().contains("fetching every branch and tag"),
        "{}",
        run.stderr()
    );
    assert_eq!(f.read("ws/README"), "v2");
}

#[test]
fn pull_request_ref() {
    let f = Fixture::new();
    let up = f.upstream();
    let run = f.git_init(
        "ws",
        &["-url", &f.url("upstream"), "-revision", "refs/pull/7/head"],
    );
    run.succeeded_with(&up.pull);
    assert_eq!(f.read("ws/PR"), "7");
}

#[test]
fn default_revision_is_the_remote_head() {
    let f = Fixture::new();
    let up = f.upstream();
    let run = f.git_init("ws", &["-url", &f.url("upstream")]);
    run.succeeded_with(&up.main);
    assert_eq!(f.read("ws/README"), "v3");
}

#[test]
fn target_path() {
    let f = Fixture::new();
    let up = f.upstream();
    let run = f.git_init(
        "ws",
        &[
            "-url",
            &f.url("upstream"),
            "-revision",
            "main",
            "-path",
            "src/app",
        ],
    );
    run.succeeded_with(&up.main);
    assert_eq!(f.read("ws/src/app/README"), "v3");
    assert!(!f.path("ws/.git").exists());
}

#[test]
fn submodules() {
    let f = Fixture::new();
    f.init_repo("lib");
    let lib = f.commit_file("lib", "LIB", "library");
    f.commit_file("lib", "LIB", "library v2, not pinned");
    f.init_repo("app");
    f.commit_file("app", "APP", "application");
    f.git(
        "app",
        &["submodule", "add", "-q", &f.url("lib"), "vendor/lib"],
    );
    f.git("app/vendor/lib", &["checkout", "-q", &lib]);
    f.git("app", &["add", "vendor/lib"]);
    f.git("app", &["commit", "-q", "-m", "pin lib"]);
    let app = f.git("app", &["rev-parse", "HEAD"]);

    let run = f.git_init("ws", &["-url", &f.url("app"), "-revision", "main"]);
    run.succeeded_with(&app);
    assert_eq!(f.read("ws/APP"), "application");
    assert_eq!(f.read("ws/vendor/lib/LIB"), "library");
    assert_eq!(f.git("ws/vendor/lib", &["rev-parse", "HEAD"]), lib);
}

#[test]
fn missing_revision_fails() {
    let f = Fixture::new();
    f.upstream();
    let run = f.git_init(
        "ws",
        &["-url", &f.url("upstream"), "-revision", "no-such-branch"],
    );
    assert_eq!(run.out.status.code(), Some(1), "{}", run.stderr());
    assert_eq!(run.stdout(), "");
    let stderr = run.stderr();
    assert!(
        stderr.contains("git-init: error: cannot fetch revision \"no-such-branch\" from file://"),
        "{stderr}"
    );
    assert!(
        stderr.contains("no branch, tag or commit of that name"),
        "{stderr}"
    );
}

#[test]
fn missing_repository_fails() {
    let f = Fixture::new();
    let run = f.git_init("ws", &["-url", &f.url("nowhere"), "-revision", "main"]);
    assert_eq!(run.out.status.code(), Some(1), "{}", run.stderr());
    assert!(
        run.stderr().contains("cannot fetch revision \"main\""),
        "{}",
        run.stderr()
    );
}

#[test]
fn credentials_in_the_url_are_never_printed() {
    let f = Fixture::new();
    // Nothing listens on port 1: the fetch fails at once, and git must not prompt.
    let run = f.git_init(
        "ws",
        &[
            "-url",
            "https://robot:s3cr3t-t0ken@127.0.0.1:1/org/repo.git",
            "-revision",
            "main",
        ],
    );
    assert_eq!(run.out.status.code(), Some(1), "{}", run.stderr());
    let all = format!("{}{}", run.stdout(), run.stderr());
    assert!(!all.contains("s3cr3t-t0ken"), "{all}");
    assert!(
        all.contains("https://***@127.0.0.1:1/org/repo.git"),
        "{all}"
    );
}

#[test]
fn bad_command_line_exits_2() {
    let f = Fixture::new();
    let run = f.git_init("ws", &["-revision", "main"]);
    assert_eq!(run.out.status.code(), Some(2));
    assert!(
        run.stderr().contains("flag -url is required"),
        "{}",
        run.stderr()
    );
    assert!(run.stderr().contains("usage: git-init"), "{}", run.stderr());
}

/// An image with git but without `git-submodule` (distroless images often leave it out) still
/// fetches a repository that has no submodules.
#[test]
fn no_submodules_needs_no_git_submodule() {
    let f = Fixture::new();
    let up = f.upstream();
    // git's own helper programs, all but git-submodule.
    let exec_path = String::from_utf8(
        Command::new("git")
            .arg("--exec-path")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let helpers = f.path("git-core");
    std::fs::create_dir(&helpers).unwrap();
    for entry in std::fs::read_dir(exec_path.trim()).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != "git-submodule" {
            std::os::unix::fs::symlink(entry.path(), helpers.join(entry.file_name())).unwrap();
        }
    }
    let cwd = f.path("ws");
    std::fs::create_dir_all(&cwd).unwrap();
    let out = f
        .command(Path::new(env!("CARGO_BIN_EXE_git-init")))
        .env("GIT_EXEC_PATH", &helpers)
        .current_dir(&cwd)
        .args(["-url", &f.url("upstream"), "-revision", "main"])
        .output()
        .unwrap();
    Run { out }.succeeded_with(&up.main);
}

/// A failing git-init leaves git's reason in its termination message, where the Build's failure
/// message can quote it.
#[test]
fn failure_is_the_termination_message() {
    let f = Fixture::new();
    f.upstream();
    let log = f.path("termination-log");
    std::fs::write(&log, "").unwrap();
    let cwd = f.path("ws");
    std::fs::create_dir_all(&cwd).unwrap();
    let out = f
        .command(Path::new(env!("CARGO_BIN_EXE_git-init")))
        .env(build_auth::TERMINATION_LOG_ENV, &log)
        .current_dir(&cwd)
        .args(["-url", &f.url("upstream"), "-revision", "no-such-branch"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let message = std::fs::read_to_string(&log).unwrap();
    assert!(
        message.starts_with("git-init: cannot fetch revision \"no-such-branch\"")
            && message.contains("no branch, tag or commit of that name"),
        "{message}"
    );
}

/// A successful git-init reports the full SHA it checked out and the revision it was asked for
/// in its termination message, in the results format the Build's status is filled from; an
/// abbreviated SHA is reported as asked, with the full commit it resolved to.
#[test]
fn success_reports_the_commit_in_the_termination_message() {
    let f = Fixture::new();
    let up = f.upstream();
    for (revision, commit) in [
        ("feature", &up.feature),
        ("v1", &up.first),
        (&up.second[..10], &up.second),
    ] {
        let log = f.path("termination-log");
        std::fs::write(&log, "").unwrap();
        let ws = format!("ws-{revision}");
        let cwd = f.path(&ws);
        std::fs::create_dir_all(&cwd).unwrap();
        let out = f
            .command(Path::new(env!("CARGO_BIN_EXE_git-init")))
            .env(build_auth::TERMINATION_LOG_ENV, &log)
            .current_dir(&cwd)
            .args(["-url", &f.url("upstream"), "-revision", revision])
            .output()
            .unwrap();
        Run { out }.succeeded_with(commit);
        assert_eq!(f.git(&ws, &["rev-parse", "HEAD"]), *commit);
        let message = std::fs::read_to_string(&log).unwrap();
        assert_eq!(message, format!("commit={commit}\nrevision={revision}\n"));
        let parsed = build_pod::parse_results(&message);
        assert!(parsed.dropped.is_empty(), "{:?}", parsed.dropped);
        assert_eq!(parsed.results[0], ("commit".into(), commit.clone()));
        assert_eq!(commit.len(), 40, "a full SHA-1");
    }
}
