//! `kubectl_complete-build`: what kubectl (1.26+) runs to complete `kubectl build …`, found on
//! PATH by that name. It gets the words typed after `kubectl build` (the last one being
//! completed) and prints one candidate a line, then cobra's `:<directive>`. The logic is
//! `build_controller::plugin::complete`; this file reads the words and prints the answer.
//! It always exits 0: kubectl ignores what a failed completion printed.

use std::process::ExitCode;

use build_controller::plugin::{Completions, DIRECTIVE_ERROR, Session, complete};

fn main() -> ExitCode {
    let words: Vec<String> = std::env::args().skip(1).collect();
    let mut stderr = std::io::stderr().lock();
    let completions = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(complete(
            &words,
            |cluster| async move { Session::connect(&cluster).await },
            &mut stderr,
        )),
        Err(_) => Completions {
            candidates: Vec::new(),
            directive: DIRECTIVE_ERROR,
        },
    };
    let _ = completions.write(&mut std::io::stdout().lock());
    ExitCode::SUCCESS
}
