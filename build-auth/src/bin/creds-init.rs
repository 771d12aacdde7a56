//! `creds-init`: the first container of every build pod. Turns the Secrets mounted under
//! `/var/build-secrets/<secret>/` into credential files in `$HOME`.
//!
//! Usage: `creds-init [-basic-docker=<secret>=<url>] [-docker-config=<secret>]
//! [-docker-cfg=<secret>] [-basic-git=<secret>=<url>] [-ssh-git=<secret>=<host[:port]>]…`
//!
//! The environment variable `CREDS_INIT_SECRETS_DIR` overrides `/var/build-secrets`.
//! Exits 0 after printing what it wrote (file names and URLs or hosts, never values),
//! 1 after printing every error to standard error, 2 for a malformed command line.

use std::path::PathBuf;
use std::process::ExitCode;

use build_auth::{
    AuthError, RunInputs, SECRET_MOUNT_BASE, SECRETS_DIR_ENV, run, write_termination_message,
};

const USAGE: &str = "\
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

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    if args
        .iter()
        .any(|arg| matches!(arg.as_str(), "-h" | "-help" | "--help"))
    {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let home = PathBuf::from(std::env::var_os("HOME").unwrap_or_default());
    let secrets_dir = std::env::var_os(SECRETS_DIR_ENV)
        .filter(|dir| !dir.is_empty())
        .map_or_else(|| PathBuf::from(SECRET_MOUNT_BASE), PathBuf::from);
    match run(&RunInputs {
        args: &args,
        secrets_dir: &secrets_dir,
        home: &home,
    }) {
        Ok(summary) => {
            for line in summary.to_string().lines() {
                println!("creds-init: {line}");
            }
            ExitCode::SUCCESS
        }
        Err(report) => {
            let mut message = String::new();
            for error in &report {
                eprintln!("creds-init: error: {error}");
                message.push_str(&format!("creds-init: {error}\n"));
            }
            write_termination_message(&message);
            let usage = report.errors().iter().any(|error| {
                matches!(
                    error,
                    AuthError::MalformedFlag { .. } | AuthError::UnknownFlag { .. }
                )
            });
            if usage {
                eprintln!("creds-init: run creds-init -help for usage");
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
