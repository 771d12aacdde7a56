//! SIGINT and SIGTERM for the programs that start a cluster (`cargo xtask e2e`, `cargo xtask
//! chaos`): caught, so that the guards run instead of the process dying with the machine left
//! dirty. The waits of this crate give up once [`interrupted`] says so.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Whether SIGINT or SIGTERM arrived.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Catches SIGINT and SIGTERM for good (run it as a task), saying once, prefixed `[harness]`,
/// that `what` is being stopped.
pub async fn watch_signals(harness: &'static str, what: &'static str) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return;
    };
    loop {
        let name = tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        };
        if !INTERRUPTED.swap(true, Ordering::SeqCst) {
            eprintln!("[{harness}] {name}: {what}");
        } else {
            eprintln!("[{harness}] {name}: cleanup is under way, it finishes by itself");
        }
    }
}

/// Returns once SIGINT or SIGTERM has arrived.
pub async fn until_interrupted() {
    while !interrupted() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
