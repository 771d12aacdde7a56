//! The `~/.ssh` layout that `creds-init` writes and `git-init` (in `build-pod`) reads: one
//! place for the directory, the file names, their modes and the ssh command line that points
//! `ssh` at them, so that the two programs cannot drift apart.
//!
//! ```text
//! $HOME/.ssh/            DIR_MODE (0700)
//!     id_<secret>        FILE_MODE (0600), one private key per ssh-auth Secret
//!     config             FILE_MODE, one Host block per host
//!     known_hosts        FILE_MODE, the Secrets' known_hosts, concatenated
//! ```
//!
//! Pure: paths and command lines are computed here, never looked up on disk.

/// The directory, relative to `$HOME`.
pub const DIR: &str = ".ssh";

/// The ssh client configuration, in [`DIR`]: one `Host` block per host.
pub const CONFIG: &str = "config";

/// The known host keys, in [`DIR`]: those of every Secret that has a `known_hosts` key.
pub const KNOWN_HOSTS: &str = "known_hosts";

/// The mode of [`DIR`]: `ssh` refuses a configuration that others can write to. creds-init
/// creates every directory it writes into with it.
pub const DIR_MODE: u32 = 0o700;

/// The mode of the files in [`DIR`]: `ssh` refuses a private key that others can read.
/// creds-init writes every file with it.
pub const FILE_MODE: u32 = 0o600;

/// The file name of the private key of the ssh-auth Secret `secret`: `id_<secret>`.
pub fn key_file(secret: &str) -> String {
    format!("id_{secret}")
}

/// `file` (such as [`CONFIG`]) as a path relative to `$HOME`: `.ssh/<file>`.
pub fn relative_path(file: &str) -> String {
    format!("{DIR}/{file}")
}

/// `file` (such as [`KNOWN_HOSTS`]) as an absolute path under `home`: `<home>/.ssh/<file>`.
///
/// ```
/// use build_auth::ssh;
/// assert_eq!(ssh::path("/builder/home/", ssh::CONFIG), "/builder/home/.ssh/config");
/// ```
pub fn path(home: &str, file: &str) -> String {
    format!("{}/{}", home.trim_end_matches('/'), relative_path(file))
}

/// Which of the files creds-init may have written under `$HOME/.ssh` exist.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Files {
    /// `$HOME/.ssh/config` exists.
    pub config: bool,
    /// `$HOME/.ssh/known_hosts` exists.
    pub known_hosts: bool,
}

/// The ssh command line that makes `ssh` use the files creds-init wrote under `home`, for
/// `GIT_SSH_COMMAND` (git-init) or git's `core.sshCommand` (creds-init's `~/.gitconfig`).
///
/// `ssh` looks in the home directory of the user's passwd entry (`/root`), not in `$HOME`
/// (`/builder/home`); Knative Build's `git-init` worked around that by symlinking `/root/.ssh`.
/// Pointing `ssh` at the files is the same without touching the filesystem. The paths are
/// quoted for `sh`, which both git and its `GIT_SSH_COMMAND` run the command with. `None`
/// when there is nothing to point at.
///
/// ```
/// use build_auth::ssh;
/// let files = ssh::Files { config: true, known_hosts: true };
/// assert_eq!(
///     ssh::command("/builder/home", files).unwrap(),
///     "ssh -F '/builder/home/.ssh/config' -o 'UserKnownHostsFile=/builder/home/.ssh/known_hosts'"
/// );
/// assert_eq!(ssh::command("/builder/home", ssh::Files::default()), None);
/// ```
pub fn command(home: &str, files: Files) -> Option<String> {
    if !files.config && !files.known_hosts {
        return None;
    }
    let mut command = "ssh".to_owned();
    if files.config {
        command.push_str(&format!(" -F {}", shell_quote(&path(home, CONFIG))));
    }
    if files.known_hosts {
        command.push_str(&format!(
            " -o {}",
            shell_quote(&format!("UserKnownHostsFile={}", path(home, KNOWN_HOSTS)))
        ));
    }
    Some(command)
}

/// A word for `sh`, in single quotes.
fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_are_quoted() {
        assert_eq!(shell_quote("/home/x"), "'/home/x'");
        assert_eq!(shell_quote("/it's"), r"'/it'\''s'");
    }

    #[test]
    fn commands_name_the_files_that_exist() {
        let only = |config, known_hosts| {
            command(
                "/h/",
                Files {
                    config,
                    known_hosts,
                },
            )
        };
        assert_eq!(only(true, false).unwrap(), "ssh -F '/h/.ssh/config'");
        assert_eq!(
            only(false, true).unwrap(),
            "ssh -o 'UserKnownHostsFile=/h/.ssh/known_hosts'"
        );
        assert_eq!(
            command(
                "/it's",
                Files {
                    config: true,
                    known_hosts: false
                }
            )
            .unwrap(),
            r"ssh -F '/it'\''s/.ssh/config'"
        );
    }

    #[test]
    fn layout() {
        assert_eq!(key_file("deploy-key"), "id_deploy-key");
        assert_eq!(relative_path(&key_file("k")), ".ssh/id_k");
        assert_eq!(
            path("/builder/home", KNOWN_HOSTS),
            "/builder/home/.ssh/known_hosts"
        );
    }
}
