//! The URLs and hosts that credentials are for, as written in annotations and flags.
//!
//! The planner and creds-init share these checks so that a plan the planner accepts is one
//! creds-init can carry out.

/// Why a Docker registry URL cannot be used, if it cannot.
pub(crate) fn check_docker_url(value: &str) -> Result<(), String> {
    check_common(value)
}

/// The one `build.knative.dev/docker-*` value Knative Build refused: its reconciler failed the
/// Build with `BadSecretAnnotation` when a Secret of the ServiceAccount had it
/// (`pkg/reconciler/build/validate_build.go`, `validateSecrets`). Every other value it passed
/// to creds-init as written.
pub(crate) const REFUSED_DOCKER_HUB_VALUE: &str = "index.docker.io";

/// Whether a Docker registry URL names Docker Hub in another form than the one Docker clients
/// look up (`https://index.docker.io/v1/`), such as `https://index.docker.io` or `docker.io`.
///
/// Such a value is used as written, as Knative Build did; the planner only warns about it.
/// [`REFUSED_DOCKER_HUB_VALUE`] is one of these too, but it is refused before this is asked.
pub(crate) fn is_other_docker_hub_spelling(value: &str) -> bool {
    if value == crate::consts::DOCKER_HUB_URL {
        return false;
    }
    let lower = value.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .unwrap_or(&lower);
    let host = rest.split('/').next().unwrap_or(rest);
    matches!(host, "index.docker.io" | "docker.io")
}

/// A git URL for basic authentication: `scheme://host[:port][/path]`, the scheme
/// defaulting to `https`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GitUrl {
    scheme: String,
    authority: String,
    path: String,
}

impl GitUrl {
    /// Parses an annotation or flag value.
    pub(crate) fn parse(value: &str) -> Result<Self, String> {
        check_common(value)?;
        // Written into `[credential "<url>"]` of `~/.gitconfig`: a quote or backslash would end
        // or escape the section name (Knative Build wrote it as given; this refuses it).
        if value.contains('"') || value.contains('\\') {
            return Err("a git URL must not contain '\"' or '\\'".to_owned());
        }
        // Any scheme, as Knative Build's creds-init took any URL Go's `url.Parse` takes; git
        // asks the credential store only for http(s), so other schemes are written but unused.
        let (scheme, rest) = match value.split_once("://") {
            Some((scheme, rest)) if is_scheme(scheme) => (scheme.to_ascii_lowercase(), rest),
            Some((scheme, _)) => return Err(format!("{scheme:?} is not a URL scheme")),
            None => ("https".to_owned(), value),
        };
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        // A user name is replaced by the Secret's, as Knative Build did.
        let authority = authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host);
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        check_host(host)?;
        if let Some(port) = port {
            parse_port(port)?;
        }
        Ok(GitUrl {
            scheme,
            authority: authority.to_owned(),
            path: path.trim_end_matches('/').to_owned(),
        })
    }

    /// The normalized URL: scheme, host, port and path without a trailing `/`.
    pub(crate) fn normalized(&self) -> String {
        format!("{}://{}{}", self.scheme, self.authority, self.path)
    }

    /// The URL with user information, for `~/.git-credentials`. Both parts must already be
    /// percent-encoded.
    pub(crate) fn with_userinfo(&self, user: &str, password: &str) -> String {
        format!(
            "{}://{}:{}@{}{}",
            self.scheme, user, password, self.authority, self.path
        )
    }
}

/// An SSH host, `host` or `host:port`, the port defaulting to 22.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SshHost {
    pub(crate) host: String,
    pub(crate) port: u16,
}

impl SshHost {
    /// Parses an annotation or flag value.
    pub(crate) fn parse(value: &str) -> Result<Self, String> {
        check_common(value)?;
        if value.contains("://") || value.contains('/') || value.contains('@') {
            return Err(
                "an ssh host must be given as host or host:port, without scheme, user or path"
                    .to_owned(),
            );
        }
        let (host, port) = match value.split_once(':') {
            Some((host, port)) => (host, parse_port(port)?),
            None => (value, 22),
        };
        check_host(host)?;
        Ok(SshHost {
            host: host.to_owned(),
            port,
        })
    }
}

/// Whether `text` is a URL scheme: a letter, then letters, digits, `+`, `-` or `.`.
fn is_scheme(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

fn check_common(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("the value is empty".to_owned());
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the value must not contain white space or control characters".to_owned());
    }
    if value.contains('=') {
        return Err(
            "the value must not contain '=' (creds-init flags are <secret>=<url>)".to_owned(),
        );
    }
    Ok(())
}

fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("the host is empty".to_owned());
    }
    if !host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return Err(format!(
            "host {host:?} may contain only letters, digits, '.', '-' and '_'"
        ));
    }
    Ok(())
}

fn parse_port(port: &str) -> Result<u16, String> {
    match port.parse::<u16>() {
        Ok(p) if p > 0 && port.chars().all(|c| c.is_ascii_digit()) => Ok(p),
        _ => Err(format!("port {port:?} is not a number from 1 to 65535")),
    }
}

/// Whether `name` is a Kubernetes Secret name (an RFC 1123 DNS subdomain), which also makes
/// it safe as a file name.
pub(crate) fn check_secret_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if valid {
        Ok(())
    } else {
        Err(format!(
            "secret name {name:?} is not a valid Kubernetes name (lower-case letters, digits, '-' and '.')"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_urls_normalize() {
        let check = |input: &str, expected: &str| {
            assert_eq!(
                GitUrl::parse(input).unwrap().normalized(),
                expected,
                "{input}"
            );
        };
        check("github.com", "https://github.com");
        check("https://github.com/", "https://github.com");
        check("http://git.local:8080/org/", "http://git.local:8080/org");
        check(
            "https://gitlab.example.com/a/b",
            "https://gitlab.example.com/a/b",
        );
        // What Knative Build took as well: other schemes, a user name (replaced by the
        // Secret's), a query.
        check("ssh://github.com/org", "ssh://github.com/org");
        check("https://someone@github.com/org", "https://github.com/org");
        check("https://github.com/?a", "https://github.com/?a");
    }

    #[test]
    fn git_urls_rejected() {
        for bad in [
            "",
            "1https://github.com",
            "https://github.com:x",
            "https://github.com:0",
            "https://git hub.com",
            "https://github.com/\"",
            "https:///path",
        ] {
            assert!(GitUrl::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn ssh_hosts() {
        assert_eq!(
            SshHost::parse("github.com").unwrap(),
            SshHost {
                host: "github.com".into(),
                port: 22
            }
        );
        assert_eq!(SshHost::parse("git.local:2222").unwrap().port, 2222);
        for bad in [
            "",
            "ssh://github.com",
            "git@github.com",
            "github.com:",
            "github.com:70000",
            "github.com:22:22",
            "*.github.com",
            "github.com/org",
        ] {
            assert!(SshHost::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn other_docker_hub_spellings() {
        assert!(!is_other_docker_hub_spelling("https://index.docker.io/v1/"));
        assert!(!is_other_docker_hub_spelling("gcr.io"));
        assert!(!is_other_docker_hub_spelling(
            "https://index.docker.io.example.com/v1/"
        ));
        for spelling in [
            "index.docker.io",
            "https://index.docker.io",
            "https://index.docker.io/",
            "https://index.docker.io/v2/",
            "index.docker.io/v1/",
            "HTTPS://Index.Docker.IO/v1/",
            "docker.io",
        ] {
            assert!(is_other_docker_hub_spelling(spelling), "{spelling}");
        }
    }

    #[test]
    fn secret_names() {
        assert!(check_secret_name("docker-hub").is_ok());
        assert!(check_secret_name("a.b-c").is_ok());
        for bad in ["", "..", "a/b", "A", "-a", "a..b", "a_b", &"a".repeat(254)] {
            assert!(check_secret_name(bad).is_err(), "{bad:?} accepted");
        }
    }
}
