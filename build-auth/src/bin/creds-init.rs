//! `creds-init`: the first container of every build pod. Turns the Secrets mounted under
//! `/var/build-secrets/<secret>/` into credential files in `$HOME`.
//!
//! Usage: `creds-init [-basic-docker=<secret>=<url>] [-docker-config=<secret>]
//! [-docker-cfg=<secret>] [-basic-git=<secret>=<url>] [-ssh-git=<secret>=<host[:port]>]…`
//!
//! The environment variable `CREDS_INIT_SECRETS_DIR` overrides `/var/build-secrets`.
//! Exits 0 after printing what it wrote (file names and URLs or hosts, never values),
//! 1 after printing every error to standard error, 2 for a malformed command line.
//! The logic is `build_auth::creds_init`; this file reads the environment and prints.

use std::path::PathBuf;
use std::process::ExitCode;

use build_auth::creds_init::{RunInputs, SECRETS_DIR_ENV, USAGE, help_requested, run};
use build_auth::{SECRET_MOUNT_BASE, write_termination_message};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    if help_requested(&args) {
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
        Err(error) => {
            let mut message = String::new();
            for problem in error.errors() {
                eprintln!("creds-init: error: {problem}");
                message.push_str(&format!("creds-init: {problem}\n"));
            }
            write_termination_message(&message);
            if error.is_usage() {
                eprintln!("creds-init: run creds-init -help for usage");
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
