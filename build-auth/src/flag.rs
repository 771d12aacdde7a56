//! The creds-init command line: one flag per credential, shared by the planner (which writes
//! them) and creds-init (which reads them).

use std::fmt;

use crate::error::AuthError;
use crate::target::{GitUrl, SshHost, check_docker_url, check_secret_name};

/// The kinds of credentials creds-init sets up, one per flag, in the order the planner emits
/// them (Docker before git).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CredentialKind {
    /// `-basic-docker=<secret>=<url>`: a `kubernetes.io/basic-auth` Secret for a registry.
    BasicDocker,
    /// `-docker-cfg=<secret>`: a `kubernetes.io/dockercfg` Secret.
    DockerCfg,
    /// `-docker-config=<secret>`: a `kubernetes.io/dockerconfigjson` Secret.
    DockerConfig,
    /// `-basic-git=<secret>=<url>`: a `kubernetes.io/basic-auth` Secret for git over HTTPS.
    BasicGit,
    /// `-ssh-git=<secret>=<host>`: a `kubernetes.io/ssh-auth` Secret for git over SSH.
    SshGit,
}

impl CredentialKind {
    /// Every kind, in order.
    pub const ALL: [CredentialKind; 5] = [
        CredentialKind::BasicDocker,
        CredentialKind::DockerCfg,
        CredentialKind::DockerConfig,
        CredentialKind::BasicGit,
        CredentialKind::SshGit,
    ];

    /// The flag name without dashes, such as `basic-docker`.
    pub fn flag_name(self) -> &'static str {
        match self {
            CredentialKind::BasicDocker => "basic-docker",
            CredentialKind::DockerCfg => "docker-cfg",
            CredentialKind::DockerConfig => "docker-config",
            CredentialKind::BasicGit => "basic-git",
            CredentialKind::SshGit => "ssh-git",
        }
    }

    /// Whether the flag's value is `<secret>=<url or host>` rather than just `<secret>`.
    pub fn has_target(self) -> bool {
        matches!(
            self,
            CredentialKind::BasicDocker | CredentialKind::BasicGit | CredentialKind::SshGit
        )
    }

    fn from_flag_name(name: &str) -> Option<Self> {
        CredentialKind::ALL
            .into_iter()
            .find(|kind| kind.flag_name() == name)
    }
}

impl fmt::Display for CredentialKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.flag_name())
    }
}

/// One creds-init flag: a Secret and, for some kinds, the URL or host it is for.
///
/// Displays as the argument the planner emits, such as
/// `-basic-git=github-creds=https://github.com`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CredentialFlag {
    /// Basic authentication for a Docker registry.
    BasicDocker {
        /// The Secret.
        secret: String,
        /// The registry URL, used verbatim as the key in `~/.docker/config.json`.
        url: String,
    },
    /// A legacy `.dockercfg` file.
    DockerCfg {
        /// The Secret.
        secret: String,
    },
    /// A `.dockerconfigjson` file.
    DockerConfig {
        /// The Secret.
        secret: String,
    },
    /// Basic authentication for git over HTTP(S).
    BasicGit {
        /// The Secret.
        secret: String,
        /// The URL, such as `https://github.com` (the scheme defaults to `https`).
        url: String,
    },
    /// An SSH key for git over SSH.
    SshGit {
        /// The Secret.
        secret: String,
        /// The host, `host` or `host:port` (port 22 by default).
        host: String,
    },
}

impl CredentialFlag {
    /// The kind of credentials.
    pub fn kind(&self) -> CredentialKind {
        match self {
            CredentialFlag::BasicDocker { .. } => CredentialKind::BasicDocker,
            CredentialFlag::DockerCfg { .. } => CredentialKind::DockerCfg,
            CredentialFlag::DockerConfig { .. } => CredentialKind::DockerConfig,
            CredentialFlag::BasicGit { .. } => CredentialKind::BasicGit,
            CredentialFlag::SshGit { .. } => CredentialKind::SshGit,
        }
    }

    /// The Secret's name.
    pub fn secret(&self) -> &str {
        match self {
            CredentialFlag::BasicDocker { secret, .. }
            | CredentialFlag::DockerCfg { secret }
            | CredentialFlag::DockerConfig { secret }
            | CredentialFlag::BasicGit { secret, .. }
            | CredentialFlag::SshGit { secret, .. } => secret,
        }
    }

    /// The URL or host, for the kinds that have one.
    pub fn target(&self) -> Option<&str> {
        match self {
            CredentialFlag::BasicDocker { url, .. } | CredentialFlag::BasicGit { url, .. } => {
                Some(url)
            }
            CredentialFlag::SshGit { host, .. } => Some(host),
            CredentialFlag::DockerCfg { .. } | CredentialFlag::DockerConfig { .. } => None,
        }
    }

    /// The order of the planner's arguments: by kind, then by URL or host, then by Secret.
    pub(crate) fn sort_key(&self) -> (CredentialKind, &str, &str) {
        (
            self.kind(),
            self.target().unwrap_or(self.secret()),
            self.secret(),
        )
    }

    /// Builds a flag of `kind` from the value after `-<flag>=`, checking it.
    fn from_value(kind: CredentialKind, argument: &str, value: &str) -> Result<Self, AuthError> {
        let malformed = |reason: String| AuthError::MalformedFlag {
            argument: argument.to_owned(),
            reason,
        };
        let parts: Vec<&str> = value.split('=').collect();
        let target = match (kind.has_target(), parts.as_slice()) {
            (true, [_, target]) => *target,
            (false, [_]) => "",
            (true, _) => {
                return Err(malformed(format!(
                    "-{kind} expects <secret>=<{}>",
                    target_word(kind)
                )));
            }
            (false, _) => return Err(malformed(format!("-{kind} expects <secret>"))),
        };
        let secret = parts[0];
        check_secret_name(secret).map_err(malformed)?;
        let secret = secret.to_owned();
        Ok(match kind {
            CredentialKind::BasicDocker => {
                check_docker_url(target).map_err(malformed)?;
                CredentialFlag::BasicDocker {
                    secret,
                    url: target.to_owned(),
                }
            }
            CredentialKind::BasicGit => {
                GitUrl::parse(target).map_err(malformed)?;
                CredentialFlag::BasicGit {
                    secret,
                    url: target.to_owned(),
                }
            }
            CredentialKind::SshGit => {
                SshHost::parse(target).map_err(malformed)?;
                CredentialFlag::SshGit {
                    secret,
                    host: target.to_owned(),
                }
            }
            CredentialKind::DockerCfg => CredentialFlag::DockerCfg { secret },
            CredentialKind::DockerConfig => CredentialFlag::DockerConfig { secret },
        })
    }
}

fn target_word(kind: CredentialKind) -> &'static str {
    match kind {
        CredentialKind::SshGit => "host",
        _ => "url",
    }
}

impl fmt::Display for CredentialFlag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "-{}={}", self.kind(), self.secret())?;
        if let Some(target) = self.target() {
            write!(f, "={target}")?;
        }
        Ok(())
    }
}

/// Parses creds-init's arguments (without the program name).
///
/// Flags may start with `-` or `--`, repeat, and take their value after `=` or as the next
/// argument, as Go's `flag` package allows: `-basic-docker=a=https://r.example.com`,
/// `--basic-docker=a=https://r.example.com` and `-basic-docker a=https://r.example.com` are
/// the same. Every malformed argument is reported, not only the first.
///
/// ```
/// use build_auth::{CredentialFlag, parse_args};
///
/// let flags = parse_args(&["--ssh-git=deploy-key=github.com:22"]).unwrap();
/// assert_eq!(
///     flags,
///     [CredentialFlag::SshGit { secret: "deploy-key".into(), host: "github.com:22".into() }]
/// );
/// assert!(parse_args(&["-basic-git=a=b=c"]).is_err());
/// ```
pub fn parse_args<S: AsRef<str>>(args: &[S]) -> Result<Vec<CredentialFlag>, Vec<AuthError>> {
    let mut flags = Vec::new();
    let mut errors = Vec::new();
    let mut args = args.iter().map(AsRef::as_ref);
    while let Some(argument) = args.next() {
        let Some((name, value)) = crate::go_flag::split(argument) else {
            errors.push(AuthError::MalformedFlag {
                argument: argument.to_owned(),
                reason: "expected a flag such as -basic-docker=<secret>=<url>".to_owned(),
            });
            continue;
        };
        let Some(kind) = CredentialKind::from_flag_name(name) else {
            errors.push(AuthError::UnknownFlag {
                flag: name.to_owned(),
            });
            continue;
        };
        let (shown, value) = match value {
            Some(value) => (argument.to_owned(), value.to_owned()),
            None => match args.next() {
                Some(value) => (format!("{argument} {value}"), value.to_owned()),
                None => {
                    errors.push(AuthError::MalformedFlag {
                        argument: argument.to_owned(),
                        reason: "missing value".to_owned(),
                    });
                    continue;
                }
            },
        };
        match CredentialFlag::from_value(kind, &shown, &value) {
            Ok(flag) => flags.push(flag),
            Err(error) => errors.push(error),
        }
    }
    if errors.is_empty() {
        Ok(flags)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn err(args: &[&str]) -> String {
        crate::error::Lines(&parse_args(args).unwrap_err()).to_string()
    }

    #[test]
    fn go_and_gnu_styles_are_the_same() {
        let expected = vec![CredentialFlag::BasicDocker {
            secret: "a".into(),
            url: "https://r.example.com".into(),
        }];
        for args in [
            &["-basic-docker=a=https://r.example.com"][..],
            &["--basic-docker=a=https://r.example.com"],
            &["-basic-docker", "a=https://r.example.com"],
            &["--basic-docker", "a=https://r.example.com"],
        ] {
            assert_eq!(parse_args(args).unwrap(), expected, "{args:?}");
        }
    }

    #[test]
    fn every_kind_round_trips() {
        let flags = vec![
            CredentialFlag::BasicDocker {
                secret: "a".into(),
                url: "https://index.docker.io/v1/".into(),
            },
            CredentialFlag::DockerCfg { secret: "b".into() },
            CredentialFlag::DockerConfig { secret: "c".into() },
            CredentialFlag::BasicGit {
                secret: "d".into(),
                url: "https://github.com".into(),
            },
            CredentialFlag::SshGit {
                secret: "e".into(),
                host: "github.com:2222".into(),
            },
        ];
        let args: Vec<String> = flags.iter().map(ToString::to_string).collect();
        assert_eq!(
            args,
            [
                "-basic-docker=a=https://index.docker.io/v1/",
                "-docker-cfg=b",
                "-docker-config=c",
                "-basic-git=d=https://github.com",
                "-ssh-git=e=github.com:2222",
            ]
        );
        assert_eq!(parse_args(&args).unwrap(), flags);
    }

    #[test]
    fn malformed_arguments_are_all_reported() {
        let report = parse_args(&[
            "a",
            "-basic-docker=a",
            "-basic-git=a=b=c",
            "-docker-config=a=b",
            "-ssh-git=a=ssh://github.com",
            "-nope=x",
            "-basic-git=Bad=https://github.com",
            "-",
            "---basic-git=a=b",
            "-basic-git",
        ])
        .unwrap_err();
        assert_eq!(report.len(), 10, "{report:?}");
        insta::assert_snapshot!(crate::error::Lines(&report).to_string(), @r#"
        argument "a": expected a flag such as -basic-docker=<secret>=<url>
        argument "-basic-docker=a": -basic-docker expects <secret>=<url>
        argument "-basic-git=a=b=c": -basic-git expects <secret>=<url>
        argument "-docker-config=a=b": -docker-config expects <secret>
        argument "-ssh-git=a=ssh://github.com": an ssh host must be given as host or host:port, without scheme, user or path
        unknown flag "nope" (expected -basic-docker, -basic-git, -ssh-git, -docker-config or -docker-cfg)
        argument "-basic-git=Bad=https://github.com": secret name "Bad" is not a valid Kubernetes name (lower-case letters, digits, '-' and '.')
        argument "-": expected a flag such as -basic-docker=<secret>=<url>
        argument "---basic-git=a=b": expected a flag such as -basic-docker=<secret>=<url>
        argument "-basic-git": missing value
        "#);
    }

    #[test]
    fn empty_arguments_are_no_flags() {
        assert_eq!(parse_args::<&str>(&[]).unwrap(), []);
        assert!(err(&[""]).contains("expected a flag"));
    }

    proptest! {
        #[test]
        fn parse_never_panics(args in proptest::collection::vec(".{0,40}", 0..5)) {
            let _ = parse_args(&args);
        }

        #[test]
        fn displayed_flags_parse_back(
            secret in "[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?",
            host in "[a-z0-9][a-z0-9.-]{0,20}",
            port in 1u16..=u16::MAX,
            kind in 0usize..5,
        ) {
            let flag = match kind {
                0 => CredentialFlag::BasicDocker { secret, url: format!("https://{host}/v1/") },
                1 => CredentialFlag::DockerCfg { secret },
                2 => CredentialFlag::DockerConfig { secret },
                3 => CredentialFlag::BasicGit { secret, url: format!("https://{host}:{port}/org") },
                _ => CredentialFlag::SshGit { secret, host: format!("{host}:{port}") },
            };
            prop_assert_eq!(parse_args(&[flag.to_string()]).unwrap(), vec![flag]);
        }
    }
}
