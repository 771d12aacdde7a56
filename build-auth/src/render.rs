//! What creds-init writes into `$HOME`, computed from the flags and the Secrets' files
//! without touching the file system.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::AuthError;
use crate::flag::CredentialFlag;
use crate::ssh;
use crate::target::{GitUrl, SshHost};

/// Characters of a user name or password that `~/.git-credentials` keeps as they are; git
/// percent-decodes the rest.
const USERINFO: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Whether creds-init fails when a Secret lacks a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Need {
    Required,
    Optional,
}

/// The Secret files the flags need: (secret, key, need), sorted, without repeats.
pub(crate) fn secret_files(flags: &[CredentialFlag]) -> Vec<(String, &'static str, Need)> {
    let mut files = BTreeSet::new();
    for flag in flags {
        let keys: &[(&'static str, Need)] = match flag {
            CredentialFlag::BasicDocker { .. } | CredentialFlag::BasicGit { .. } => {
                &[("username", Need::Required), ("password", Need::Required)]
            }
            CredentialFlag::SshGit { .. } => &[
                ("ssh-privatekey", Need::Required),
                ("known_hosts", Need::Optional),
            ],
            CredentialFlag::DockerConfig { .. } => &[(".dockerconfigjson", Need::Required)],
            CredentialFlag::DockerCfg { .. } => &[(".dockercfg", Need::Required)],
        };
        for (key, need) in keys {
            files.insert((flag.secret().to_owned(), *key, *need));
        }
    }
    files.into_iter().collect()
}

/// The contents of the Secrets' files, by Secret and key. `Debug` shows sizes, never values.
#[derive(Default)]
pub(crate) struct SecretData {
    files: BTreeMap<(String, String), Vec<u8>>,
}

impl SecretData {
    pub(crate) fn insert(&mut self, secret: &str, key: &str, contents: Vec<u8>) {
        self.files
            .insert((secret.to_owned(), key.to_owned()), contents);
    }

    fn get(&self, secret: &str, key: &str) -> Option<&[u8]> {
        self.files
            .get(&(secret.to_owned(), key.to_owned()))
            .map(Vec::as_slice)
    }
}

impl fmt::Debug for SecretData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                self.files.iter().map(|((secret, key), value)| {
                    (format!("{secret}/{key}"), Redacted(value.len()))
                }),
            )
            .finish()
    }
}

/// Stands in for a value in `Debug` output.
struct Redacted(usize);

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes redacted>", self.0)
    }
}

/// A file to write, its path relative to `$HOME`. `Debug` shows its size, never its contents.
pub(crate) struct HomeFile {
    pub(crate) path: String,
    pub(crate) contents: Vec<u8>,
}

impl fmt::Debug for HomeFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HomeFile")
            .field("path", &self.path)
            .field("contents", &Redacted(self.contents.len()))
            .finish()
    }
}

/// Everything creds-init writes.
#[derive(Debug)]
pub(crate) struct Rendered {
    /// Directories to create (mode 0700), relative to `$HOME`.
    pub(crate) dirs: Vec<&'static str>,
    /// Files to write (mode 0600), sorted by path.
    pub(crate) files: Vec<HomeFile>,
    pub(crate) summary: Summary,
}

/// What creds-init wrote: file names and the URLs or hosts they hold credentials for, never
/// a value. Displays one line per file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// The files written, sorted by path.
    pub files: Vec<WrittenFile>,
}

/// One file creds-init wrote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WrittenFile {
    /// The path, relative to `$HOME` and written as `~/…`, such as `~/.docker/config.json`.
    pub path: String,
    /// The URLs or hosts it holds credentials for, sorted (empty for files such as
    /// `~/.ssh/known_hosts`).
    pub targets: Vec<String>,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.files.is_empty() {
            return f.write_str("no credentials given; nothing written");
        }
        for (i, file) in self.files.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "wrote {}", file.path)?;
            if !file.targets.is_empty() {
                write!(f, " ({})", file.targets.join(", "))?;
            }
        }
        Ok(())
    }
}

/// What [`render`] works from.
pub(crate) struct RenderInputs<'a> {
    pub(crate) flags: &'a [CredentialFlag],
    pub(crate) data: &'a SecretData,
    /// `$HOME`, absolute and checked by [`check_home`].
    pub(crate) home: &'a str,
    /// Only for error messages.
    pub(crate) secrets_dir: &'a Path,
}

/// Checks that `home` can be written into `~/.ssh/config` and `core.sshCommand`.
pub(crate) fn check_home(home: &Path) -> Result<&str, AuthError> {
    let invalid = |reason: &str| AuthError::InvalidHome {
        home: home.to_string_lossy().into_owned(),
        reason: reason.to_owned(),
    };
    let text = home.to_str().ok_or_else(|| invalid("not valid UTF-8"))?;
    if text.is_empty() {
        return Err(invalid("not set"));
    }
    if !home.is_absolute() {
        return Err(invalid("not an absolute path"));
    }
    if text.chars().any(|c| c.is_control() || c == '"') {
        return Err(invalid("contains a control character or '\"'"));
    }
    Ok(text.trim_end_matches('/'))
}

/// Computes every file creds-init writes, or every problem.
pub(crate) fn render(inputs: &RenderInputs<'_>) -> Result<Rendered, Vec<AuthError>> {
    let mut r = Renderer {
        inputs,
        errors: Vec::new(),
        files: Vec::new(),
        dirs: Vec::new(),
        summary: Vec::new(),
    };
    r.docker();
    let ssh_command = r.ssh();
    r.git(ssh_command);
    if !r.errors.is_empty() {
        return Err(r.errors);
    }
    let mut files = r.files;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let mut summary = r.summary;
    summary.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Rendered {
        dirs: r.dirs,
        files,
        summary: Summary { files: summary },
    })
}

struct Renderer<'a> {
    inputs: &'a RenderInputs<'a>,
    errors: Vec<AuthError>,
    files: Vec<HomeFile>,
    dirs: Vec<&'static str>,
    summary: Vec<WrittenFile>,
}

/// A user name and password from a basic-auth Secret.
struct Basic<'a> {
    username: &'a str,
    password: &'a str,
}

impl<'a> Renderer<'a> {
    fn error(&mut self, error: AuthError) {
        // A Secret used by several flags would otherwise report the same problem twice.
        if !self.errors.contains(&error) {
            self.errors.push(error);
        }
    }

    fn write(&mut self, path: &str, contents: Vec<u8>, targets: Vec<String>) {
        self.summary.push(WrittenFile {
            path: format!("~/{path}"),
            targets,
        });
        self.files.push(HomeFile {
            path: path.to_owned(),
            contents,
        });
    }

    fn file(&mut self, secret: &str, key: &str) -> Option<&'a [u8]> {
        let data: &'a SecretData = self.inputs.data;
        let found = data.get(secret, key);
        if found.is_none() {
            self.error(AuthError::MissingSecretFile {
                secret: secret.to_owned(),
                key: key.to_owned(),
                path: self.inputs.secrets_dir.join(secret).join(key),
            });
        }
        found
    }

    fn invalid(&mut self, secret: &str, key: &str, reason: impl Into<String>) {
        self.error(AuthError::InvalidSecretFile {
            secret: secret.to_owned(),
            key: key.to_owned(),
            reason: reason.into(),
        });
    }

    fn text(&mut self, secret: &str, key: &str, bytes: &'a [u8]) -> Option<&'a str> {
        match std::str::from_utf8(bytes) {
            Ok(text) => Some(text),
            Err(_) => {
                self.invalid(secret, key, "not valid UTF-8");
                None
            }
        }
    }

    fn basic(&mut self, secret: &str) -> Option<Basic<'a>> {
        let username = self.file(secret, "username");
        let password = self.file(secret, "password");
        let (username, password) = (username?, password?);
        let username = self.text(secret, "username", username);
        let password = self.text(secret, "password", password);
        let (username, password) = (username?, password?);
        if username.chars().any(char::is_control) {
            self.invalid(
                secret,
                "username",
                "contains a line break or another control character",
            );
            return None;
        }
        Some(Basic { username, password })
    }

    /// Parses a Docker config file into its entries by registry.
    fn docker_entries(
        &mut self,
        secret: &str,
        key: &str,
        auths_member: Option<&str>,
    ) -> Vec<(String, Value)> {
        let Some(bytes) = self.file(secret, key) else {
            return Vec::new();
        };
        let value: Value = match serde_json::from_slice(bytes) {
            Ok(value) => value,
            Err(error) => {
                // serde_json's messages can quote the input; keep only where and what kind.
                let what = match error.classify() {
                    serde_json::error::Category::Eof => "unexpected end",
                    serde_json::error::Category::Syntax => "syntax error",
                    serde_json::error::Category::Data => "unexpected data",
                    serde_json::error::Category::Io => "read error",
                };
                let reason = format!(
                    "not valid JSON ({what} at line {} column {})",
                    error.line(),
                    error.column()
                );
                self.invalid(secret, key, reason);
                return Vec::new();
            }
        };
        let auths = match (value, auths_member) {
            (Value::Object(mut object), Some(member)) => match object.remove(member) {
                None | Some(Value::Null) => Map::new(),
                Some(Value::Object(auths)) => auths,
                Some(_) => {
                    self.invalid(secret, key, format!("{member:?} is not a JSON object"));
                    return Vec::new();
                }
            },
            (Value::Object(object), None) => object,
            _ => {
                self.invalid(secret, key, "not a JSON object");
                return Vec::new();
            }
        };
        let mut entries = Vec::new();
        for (registry, entry) in auths {
            if entry.is_object() {
                entries.push((registry, sorted(entry)));
            } else {
                self.invalid(
                    secret,
                    key,
                    format!("the entry for {registry:?} is not a JSON object"),
                );
            }
        }
        entries
    }

    fn docker(&mut self) {
        let flags = self.inputs.flags;
        let mut layers: [BTreeMap<String, (Value, String)>; 3] = Default::default();
        let mut any = false;
        let mut sources: Vec<(usize, &CredentialFlag)> = flags
            .iter()
            .filter_map(|flag| match flag {
                CredentialFlag::DockerCfg { .. } => Some((0, flag)),
                CredentialFlag::DockerConfig { .. } => Some((1, flag)),
                CredentialFlag::BasicDocker { .. } => Some((2, flag)),
                _ => None,
            })
            .collect();
        sources.sort_by(|(la, a), (lb, b)| (la, a.sort_key()).cmp(&(lb, b.sort_key())));
        sources.dedup_by(|a, b| a.1 == b.1);
        for (layer, flag) in sources {
            any = true;
            let secret = flag.secret();
            let entries = match flag {
                CredentialFlag::DockerCfg { .. } => self.docker_entries(secret, ".dockercfg", None),
                CredentialFlag::DockerConfig { .. } => {
                    self.docker_entries(secret, ".dockerconfigjson", Some("auths"))
                }
                CredentialFlag::BasicDocker { url, .. } => match self.basic(secret) {
                    Some(Basic { username, password }) => {
                        let auth = BASE64.encode(format!("{username}:{password}"));
                        let entry = serde_json::json!({
                            "auth": auth,
                            "password": password,
                            "username": username,
                        });
                        vec![(url.clone(), sorted(entry))]
                    }
                    None => Vec::new(),
                },
                _ => Vec::new(),
            };
            for (registry, entry) in entries {
                match layers[layer].get(&registry) {
                    Some((_, first)) => {
                        let error = AuthError::DuplicateEntry {
                            kind: flag.kind().to_string(),
                            target: registry,
                            first_secret: first.clone(),
                            second_secret: secret.to_owned(),
                        };
                        self.error(error);
                    }
                    None => {
                        layers[layer].insert(registry, (entry, secret.to_owned()));
                    }
                }
            }
        }
        if !any {
            return;
        }
        // Later layers win: .dockercfg, then .dockerconfigjson, then basic-auth.
        let mut auths = BTreeMap::new();
        for layer in layers {
            for (registry, (entry, _)) in layer {
                auths.insert(registry, entry);
            }
        }
        let targets = auths.keys().cloned().collect();
        let config = serde_json::json!({ "auths": auths });
        let mut contents = serde_json::to_vec_pretty(&sorted(config)).unwrap_or_default();
        contents.push(b'\n');
        self.dirs.push(".docker");
        self.write(".docker/config.json", contents, targets);
    }

    /// Writes the SSH files; returns the ssh command line that uses them, if there are any.
    fn ssh(&mut self) -> Option<String> {
        let home = self.inputs.home;
        let mut hosts: BTreeMap<String, (SshHost, &str)> = BTreeMap::new();
        for flag in self.inputs.flags {
            let CredentialFlag::SshGit { secret, host } = flag else {
                continue;
            };
            let Ok(parsed) = SshHost::parse(host) else {
                continue; // parse_args already checked it
            };
            match hosts.get(&parsed.host) {
                Some((existing, first)) if *first == secret.as_str() && *existing == parsed => {}
                Some((_, first)) => {
                    let error = AuthError::DuplicateEntry {
                        kind: flag.kind().to_string(),
                        target: parsed.host.clone(),
                        first_secret: (*first).to_owned(),
                        second_secret: secret.clone(),
                    };
                    self.error(error);
                }
                None => {
                    hosts.insert(parsed.host.clone(), (parsed, secret));
                }
            }
        }
        if hosts.is_empty() {
            return None;
        }
        let secrets: BTreeSet<&str> = hosts.values().map(|(_, secret)| *secret).collect();
        let mut known_hosts = Vec::new();
        let mut has_known_hosts = BTreeSet::new();
        for secret in &secrets {
            if let Some(mut key) = self.file(secret, "ssh-privatekey").map(<[u8]>::to_vec) {
                if !key.ends_with(b"\n") {
                    key.push(b'\n');
                }
                let targets = hosts
                    .values()
                    .filter(|(_, s)| s == secret)
                    .map(|(h, _)| h.host.clone())
                    .collect();
                self.write(&ssh::relative_path(&ssh::key_file(secret)), key, targets);
            }
            if let Some(known) = self.inputs.data.get(secret, "known_hosts") {
                known_hosts.extend_from_slice(known);
                if !known.is_empty() && !known.ends_with(b"\n") {
                    known_hosts.push(b'\n');
                }
                has_known_hosts.insert(*secret);
            }
        }
        let escaped_home = home.replace('%', "%%");
        let mut config = String::new();
        let mut targets = Vec::new();
        for (host, secret) in hosts.values() {
            let checking = if has_known_hosts.contains(secret) {
                "yes"
            } else {
                "accept-new"
            };
            config.push_str(&format!(
                "Host {name}\n    HostName {name}\n    Port {port}\n    \
                 IdentityFile \"{key}\"\n    IdentitiesOnly yes\n    \
                 UserKnownHostsFile \"{known_hosts}\"\n    \
                 StrictHostKeyChecking {checking}\n",
                name = host.host,
                port = host.port,
                key = ssh::path(&escaped_home, &ssh::key_file(secret)),
                known_hosts = ssh::path(&escaped_home, ssh::KNOWN_HOSTS),
            ));
            targets.push(format!("{}:{}", host.host, host.port));
        }
        self.dirs.push(ssh::DIR);
        self.write(
            &ssh::relative_path(ssh::CONFIG),
            config.into_bytes(),
            targets,
        );
        self.write(
            &ssh::relative_path(ssh::KNOWN_HOSTS),
            known_hosts,
            Vec::new(),
        );
        ssh::command(
            home,
            ssh::Files {
                config: true,
                known_hosts: false,
            },
        )
    }

    /// Writes `~/.gitconfig` and `~/.git-credentials`; `ssh_command` is the ssh command line
    /// for `core.sshCommand`, if there are SSH files.
    fn git(&mut self, ssh_command: Option<String>) {
        let mut urls: BTreeMap<String, (GitUrl, &str)> = BTreeMap::new();
        for flag in self.inputs.flags {
            let CredentialFlag::BasicGit { secret, url } = flag else {
                continue;
            };
            let Ok(parsed) = GitUrl::parse(url) else {
                continue; // parse_args already checked it
            };
            let key = parsed.normalized();
            match urls.get(&key) {
                Some((_, first)) if *first == secret.as_str() => {}
                Some((_, first)) => {
                    let error = AuthError::DuplicateEntry {
                        kind: flag.kind().to_string(),
                        target: key,
                        first_secret: (*first).to_owned(),
                        second_secret: secret.clone(),
                    };
                    self.error(error);
                }
                None => {
                    urls.insert(key, (parsed, secret));
                }
            }
        }
        if urls.is_empty() && ssh_command.is_none() {
            return;
        }
        let mut gitconfig = String::new();
        let mut credentials = String::new();
        if !urls.is_empty() {
            gitconfig.push_str("[credential]\n\thelper = store\n");
        }
        for (key, (url, secret)) in &urls {
            let Some(Basic { username, password }) = self.basic(secret) else {
                continue;
            };
            gitconfig.push_str(&format!(
                "[credential \"{key}\"]\n\tusername = {}\n",
                git_config_value(username)
            ));
            credentials.push_str(&url.with_userinfo(
                &utf8_percent_encode(username, USERINFO).to_string(),
                &utf8_percent_encode(password, USERINFO).to_string(),
            ));
            credentials.push('\n');
        }
        let mut targets: Vec<String> = urls.keys().cloned().collect();
        if let Some(command) = ssh_command {
            // ssh reads ~/.ssh/config from the passwd home directory, not $HOME; point git's
            // ssh at the file written here.
            gitconfig.push_str(&format!(
                "[core]\n\tsshCommand = {}\n",
                git_config_value(&command)
            ));
            targets.push("core.sshCommand".to_owned());
        }
        if !urls.is_empty() {
            self.write(
                ".git-credentials",
                credentials.into_bytes(),
                urls.keys().cloned().collect(),
            );
        }
        self.write(".gitconfig", gitconfig.into_bytes(), targets);
    }
}

/// A JSON value with every object's members in key order, whatever `serde_json`'s map type.
fn sorted(value: Value) -> Value {
    match value {
        Value::Object(object) => {
            let members: BTreeMap<String, Value> =
                object.into_iter().map(|(k, v)| (k, sorted(v))).collect();
            Value::Object(members.into_iter().collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// A git config value in double quotes, with `\`, `"` and the escapes git reads.
fn git_config_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_config_values_are_quoted() {
        assert_eq!(git_config_value("plain"), r#""plain""#);
        assert_eq!(git_config_value(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(git_config_value("a\tb"), r#""a\tb""#);
    }

    #[test]
    fn userinfo_is_percent_encoded() {
        let encoded = utf8_percent_encode("p@ss:w/rd %~._-", USERINFO).to_string();
        assert_eq!(encoded, "p%40ss%3Aw%2Frd%20%25~._-");
    }

    #[test]
    fn homes_are_checked() {
        assert_eq!(
            check_home(Path::new("/builder/home/")).unwrap(),
            "/builder/home"
        );
        for bad in ["", "relative", "/a\"b", "/a\nb"] {
            assert!(check_home(Path::new(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn debug_never_shows_contents() {
        let mut data = SecretData::default();
        data.insert("s", "password", b"hunter2-sentinel".to_vec());
        let debug = format!("{data:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("s/password"), "{debug}");
        let file = HomeFile {
            path: ".git-credentials".into(),
            contents: b"hunter2-sentinel".to_vec(),
        };
        assert!(!format!("{file:?}").contains("hunter2"));
    }
}
