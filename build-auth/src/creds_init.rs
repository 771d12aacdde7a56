//! `creds-init`, the first container of every build pod: turns the Secrets mounted under
//! `/var/build-secrets/<secret>/` into the credential files of `$HOME`.
//!
//! This is the one part of the crate that does I/O (it reads the Secrets' files and writes
//! into `$HOME`); the `creds-init` binary only reads the environment, prints, and picks the
//! exit code from [`CredsInitError`].

use std::fs;
use std::io::{ErrorKind, Write as _};
use std::path::{Path, PathBuf};

use crate::error::{AuthError, Lines};
use crate::flag::parse_args;
use crate::render::{Need, RenderInputs, Rendered, SecretData, check_home, render, secret_files};
use crate::ssh::{DIR_MODE, FILE_MODE};

pub use crate::render::{Summary, WrittenFile};

/// The environment variable that overrides where creds-init looks for the Secrets'
/// directories (by default [`SECRET_MOUNT_BASE`](crate::SECRET_MOUNT_BASE)), for tests and
/// local runs.
pub const SECRETS_DIR_ENV: &str = "CREDS_INIT_SECRETS_DIR";

/// creds-init's help, printed for `-h`, `-help` or `--help` (see [`help_requested`]).
pub const USAGE: &str = "\
usage: creds-init [flags]

Writes the credentials of the Secrets mounted under /var/build-secrets/<secret>/ into $HOME.
Flags (repeatable; -flag=value, --flag=value or -flag value):
  -basic-docker=<secret>=<url>     basic-auth Secret for a Docker registry
  -docker-config=<secret>          dockerconfigjson Secret (key .dockerconfigjson)
  -docker-cfg=<secret>             dockercfg Secret (key .dockercfg)
  -basic-git=<secret>=<url>        basic-auth Secret for git over HTTPS
  -ssh-git=<secret>=<host[:port]>  ssh-auth Secret for git over SSH (port 22 by default)
Environment:
  HOME                     where to write (required)
  CREDS_INIT_SECRETS_DIR   where the Secrets are (default /var/build-secrets)
";

/// Whether the arguments ask for help ([`USAGE`]) rather than for credentials: any of `-h`,
/// `-help` or `--help`.
pub fn help_requested<S: AsRef<str>>(args: &[S]) -> bool {
    args.iter()
        .any(|arg| matches!(arg.as_ref(), "-h" | "-help" | "--help"))
}

/// Why creds-init wrote nothing: every problem found, and whether the command line or the
/// Secrets and `$HOME` are to blame. No message contains a Secret value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CredsInitError {
    /// The command line is malformed: unknown flags, or values not of the form a flag needs
    /// ([`AuthError::MalformedFlag`], [`AuthError::UnknownFlag`]). The binary exits 2.
    #[error("{}", Lines(.0))]
    Usage(Vec<AuthError>),
    /// The flags were understood, but the Secrets' files, `$HOME` or a write failed: two
    /// entries for one URL or host, missing or unusable files, an unusable `home`. The binary
    /// exits 1.
    #[error("{}", Lines(.0))]
    Failed(Vec<AuthError>),
}

impl CredsInitError {
    /// The problems, at least one, in a stable order.
    pub fn errors(&self) -> &[AuthError] {
        match self {
            CredsInitError::Usage(errors) | CredsInitError::Failed(errors) => errors,
        }
    }

    /// Whether the command line is to blame.
    pub fn is_usage(&self) -> bool {
        matches!(self, CredsInitError::Usage(_))
    }
}

impl From<AuthError> for CredsInitError {
    fn from(error: AuthError) -> Self {
        CredsInitError::Failed(vec![error])
    }
}

impl From<Vec<AuthError>> for CredsInitError {
    fn from(errors: Vec<AuthError>) -> Self {
        CredsInitError::Failed(errors)
    }
}

/// What [`run`] works from.
#[derive(Clone, Copy, Debug)]
pub struct RunInputs<'a> {
    /// The arguments, without the program name, such as `-basic-git=creds=https://github.com`.
    pub args: &'a [String],
    /// The directory holding one directory per Secret, each with one file per key
    /// (`/var/build-secrets` in a build pod).
    pub secrets_dir: &'a Path,
    /// The home directory to write into (`$HOME`); created if missing.
    pub home: &'a Path,
}

/// Runs creds-init: parses the flags, reads every Secret file they need, and writes
///
/// - `~/.docker/config.json`: `{"auths": {URL: {...}}}` from `.dockercfg` entries, then
///   `.dockerconfigjson` entries, then basic-auth entries (later wins);
/// - `~/.gitconfig` (`[credential] helper = store` and a `[credential "URL"]` block with the
///   user name per URL) and `~/.git-credentials` (`https://user:password@host`, both
///   percent-encoded);
/// - `~/.ssh/id_<secret>`, `~/.ssh/config` (one `Host` block per host with `HostName`,
///   `Port`, `IdentityFile`, `UserKnownHostsFile`, and `StrictHostKeyChecking yes` when the
///   Secret has `known_hosts`, `accept-new` when not) and `~/.ssh/known_hosts`. Because ssh
///   reads its configuration from the passwd home directory rather than `$HOME`, the
///   `~/.gitconfig` also sets `core.sshCommand = ssh -F <home>/.ssh/config`.
///
/// Files are mode 0600 ([`FILE_MODE`]) and directories 0700 ([`DIR_MODE`]); the `~/.ssh`
/// layout is [`crate::ssh`]'s. Existing files are replaced. Nothing is written unless every flag and file is usable. Output is
/// deterministic: entries are sorted.
///
/// # Errors
///
/// [`CredsInitError::Usage`] with every malformed or unknown flag; otherwise
/// [`CredsInitError::Failed`] with every other problem: two entries for one URL or host,
/// missing or unusable Secret files, an unusable `home`, or a failed write. No message
/// contains a Secret value.
pub fn run(inputs: &RunInputs<'_>) -> Result<Summary, CredsInitError> {
    let flags = parse_args(inputs.args).map_err(CredsInitError::Usage)?;
    let home = check_home(inputs.home)?;
    let data = load(&flags, inputs.secrets_dir)?;
    let rendered = render(&RenderInputs {
        flags: &flags,
        data: &data,
        home,
        secrets_dir: inputs.secrets_dir,
    })?;
    write(inputs.home, &rendered)?;
    Ok(rendered.summary)
}

fn load(
    flags: &[crate::flag::CredentialFlag],
    secrets_dir: &Path,
) -> Result<SecretData, Vec<AuthError>> {
    let mut data = SecretData::default();
    let mut errors = Vec::new();
    for (secret, key, need) in secret_files(flags) {
        let path = secrets_dir.join(&secret).join(key);
        match fs::read(&path) {
            Ok(contents) => data.insert(&secret, key, contents),
            Err(error) if error.kind() == ErrorKind::NotFound => {
                if need == Need::Required {
                    errors.push(AuthError::MissingSecretFile {
                        secret,
                        key: key.to_owned(),
                        path,
                    });
                }
            }
            Err(error) => errors.push(AuthError::io(path, &error)),
        }
    }
    if errors.is_empty() {
        Ok(data)
    } else {
        Err(errors)
    }
}

fn write(home: &Path, rendered: &Rendered) -> Result<(), AuthError> {
    if !home.exists() {
        create_dir(home)?;
    }
    for dir in &rendered.dirs {
        let path = home.join(dir);
        match fs::create_dir(&path) {
            Ok(()) => {}
            Err(error) if error.kind() == ErrorKind::AlreadyExists => {}
            Err(error) => return Err(AuthError::io(path, &error)),
        }
        set_mode(&path, DIR_MODE)?;
    }
    for file in &rendered.files {
        let path = home.join(&file.path);
        write_file(&path, &file.contents)?;
    }
    Ok(())
}

fn create_dir(path: &Path) -> Result<(), AuthError> {
    fs::create_dir_all(path).map_err(|error| AuthError::io(path, &error))?;
    set_mode(path, DIR_MODE)
}

fn write_file(path: &Path, contents: &[u8]) -> Result<(), AuthError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    let mut file = options
        .open(path)
        .map_err(|error| AuthError::io(path, &error))?;
    // An existing file keeps its mode on open; set it before writing anything into it.
    set_mode(path, FILE_MODE)?;
    file.write_all(contents)
        .and_then(|()| file.flush())
        .map_err(|error| AuthError::io(PathBuf::from(path), &error))
}

fn set_mode(path: &Path, mode: u32) -> Result<(), AuthError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .map_err(|error| AuthError::io(path, &error))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}
