//! Runs the Knative Build controller inside a program of your own.
//!
//! The controller is a library: give it a `kube::Client`, a `Config` and a future that says
//! when to stop. Here it watches one namespace and stops after `EMBED_SECONDS` seconds (default
//! 10) or on Ctrl-C. Without a cluster (no KUBECONFIG and not in a pod) it says so and exits 0,
//! so that CI can run it.

use std::time::Duration;

use build_controller::Config;
use build_controller::release::manifests::release_images;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let client = match kube::Client::try_default().await {
        Ok(client) => client,
        Err(error) => {
            eprintln!("no cluster to run against ({error}); set KUBECONFIG to try this example");
            return Ok(());
        }
    };

    let mut config = Config::new(release_images());
    config.namespace = Some(std::env::var("EMBED_NAMESPACE").unwrap_or_else(|_| "default".into()));
    config.concurrency = 8;

    let seconds = std::env::var("EMBED_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let stop = async move {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(seconds)) => {},
            _ = tokio::signal::ctrl_c() => {},
        }
    };
    eprintln!("running the controller for {seconds}s");
    build_controller::run(client, config, stop).await?;
    eprintln!("controller stopped");
    Ok(())
}
