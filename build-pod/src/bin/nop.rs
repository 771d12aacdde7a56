//! `nop`: the one regular container of a build pod. It runs once every step (an init
//! container) has succeeded, prints "Build successful" and exits 0. The logic is
//! `build_pod::nop`; this file only picks the exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    match build_pod::nop::run(&mut std::io::stdout()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("nop: error: {err}");
            ExitCode::FAILURE
        }
    }
}
