//! `build-controller`: the Knative Build controller, and its offline subcommands.
//!
//! - `validate PATH…`: check YAML files offline, one line per object.
//! - `render PATH…`: print the Pod each Build would get.
//! - `run`: reconcile Builds on a cluster, serving `/healthz`, `/readyz` and `/metrics` on
//!   `--metrics-address`; with `--leader-election`, only while holding the leader Lease.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use build_controller::Config;
use build_controller::ops::http::{Endpoints, Health};
use build_controller::ops::leader::{LeaderElector, Leadership, LeaseSettings};
use build_controller::ops::metrics::{Leading, Telemetry};
use build_controller::plugin::{
    ImageArgs, Io, PluginError, PluginExit, RenderArgs, Style, ValidateArgs,
};
use clap::{Args, Parser, Subcommand, ValueEnum};
use futures::FutureExt;

/// mimalloc gives the pages of freed objects back to the system after a short delay; glibc's
/// malloc keeps the pages a backlog of Builds once needed (docs/PERFORMANCE.md).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "build-controller", version, about = "Knative Build, in Rust")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check Builds, BuildTemplates, ClusterBuildTemplates, ServiceAccounts and Secrets in YAML
    /// files or directories, without a cluster. Prints one line per object; exits 1 on any
    /// problem.
    Validate(ValidateArgs),
    /// Print the Pod each Build in the files would get, exactly as the controller would create
    /// it. Exits 1 when a Build cannot be compiled.
    Render(RenderArgs),
    /// Reconcile Builds on the cluster named by KUBECONFIG (or the in-cluster config).
    Run(RunArgs),
}

#[derive(Args)]
struct RunArgs {
    /// The kubeconfig file to use; without it, the in-cluster configuration when running in a
    /// pod, else the default kubeconfig (~/.kube/config).
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// Watch and reconcile only this namespace (default: all namespaces).
    #[arg(long, env = "BUILD_NAMESPACE")]
    namespace: Option<String>,
    /// How many Builds are reconciled at once.
    #[arg(long, env = "BUILD_CONCURRENCY", default_value_t = build_controller::context::DEFAULT_CONCURRENCY)]
    concurrency: u16,
    /// How long an image pull or container configuration error may last before the Build
    /// fails with it, as a Go duration.
    #[arg(long, env = "BUILD_IMAGE_PULL_GRACE", default_value = "5m")]
    image_pull_grace: build_types::Duration,
    /// Log format.
    #[arg(long, env = "BUILD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Where /healthz, /readyz and /metrics are served.
    #[arg(long, env = "BUILD_METRICS_ADDRESS", default_value = build_controller::ops::http::DEFAULT_METRICS_ADDRESS)]
    metrics_address: SocketAddr,
    /// Reconcile only while holding the leader Lease, so that of several replicas exactly one
    /// reconciles. Exits when the Lease is lost.
    #[arg(long, env = "BUILD_LEADER_ELECTION")]
    leader_election: bool,
    /// The namespace of the leader Lease: the controller's own.
    #[arg(long, env = "POD_NAMESPACE", default_value = build_controller::release::manifests::RELEASE_NAMESPACE)]
    leader_election_namespace: String,
    /// The name of the leader Lease.
    #[arg(long, env = "BUILD_LEADER_ELECTION_LEASE", default_value = build_controller::ops::leader::DEFAULT_LEASE_NAME)]
    leader_election_lease: String,
    /// This replica's name, for the Lease and the Events' reportingInstance (default: the host
    /// name).
    #[arg(long, env = "POD_NAME")]
    instance: Option<String>,
    /// Threads that run the controller: 1 runs everything on one thread (tokio's
    /// current-thread runtime), more starts a multi-threaded runtime with that many workers.
    /// The controller mostly waits for the API server; one thread keeps up with hundreds of
    /// Builds a second and keeps memory lowest.
    #[arg(long, env = "BUILD_WORKER_THREADS", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    worker_threads: u16,
    #[command(flatten)]
    images: ImageArgs,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate(args) => {
            offline(|io| build_controller::plugin::validate_files(&args, io))
        }
        Command::Render(args) => offline(|io| build_controller::plugin::render_files(&args, io)),
        Command::Run(args) => run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs an offline command on stdout and stderr; its exit code.
fn offline(
    command: impl FnOnce(&mut Io<'_>) -> Result<PluginExit, PluginError>,
) -> anyhow::Result<ExitCode> {
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    let mut io = Io {
        out: &mut out,
        err: &mut err,
        style: Style::default(),
    };
    Ok(ExitCode::from(command(&mut io)?.code()))
}

fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    init_logging(args.log_format);
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        namespace = args.namespace.as_deref().unwrap_or("<all>"),
        "starting build-controller"
    );
    let mut config = Config::new(args.images.images());
    config.namespace = args.namespace;
    config.concurrency = args.concurrency;
    config.image_pull_grace = args
        .image_pull_grace
        .to_std()
        .context("--image-pull-grace must not be negative")?;
    let instance = args
        .instance
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| format!("build-controller-{}", std::process::id()));
    config.instance = Some(instance.clone());
    let endpoints = Endpoints {
        telemetry: Telemetry::new(),
        health: Health::default(),
    };
    let runtime = match args.worker_threads {
        1 => tokio::runtime::Builder::new_current_thread(),
        threads => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(usize::from(threads));
            builder
        }
    }
    .enable_all()
    .build()
    .context("starting the tokio runtime")?;
    runtime.block_on(async move {
        let shutdown = shutdown_signal().shared();
        let listener = tokio::net::TcpListener::bind(args.metrics_address)
            .await
            .with_context(|| format!("listening on --metrics-address {}", args.metrics_address))?;
        let server = tokio::spawn(build_controller::ops::http::serve(
            listener,
            endpoints.clone(),
            shutdown.clone(),
        ));
        let client = connect(args.kubeconfig.as_deref()).await?;
        if !args.leader_election {
            endpoints.telemetry.set_leader(Leading::Yes);
            build_controller::ops::run_observed(client, config, endpoints, shutdown).await?;
            return anyhow::Ok(());
        }
        let mut settings = LeaseSettings::new(args.leader_election_namespace, instance);
        settings.name = args.leader_election_lease;
        let elector = LeaderElector::new(client.clone(), settings);
        endpoints.health.standby();
        endpoints.telemetry.set_leader(Leading::No);
        let work = {
            let endpoints = endpoints.clone();
            let shutdown = shutdown.clone();
            async move {
                endpoints.telemetry.set_leader(Leading::Yes);
                build_controller::ops::run_observed(client, config, endpoints, shutdown).await
            }
        };
        match elector.run(shutdown, work).await {
            Leadership::Stopped => {}
            Leadership::Finished(result) => result?,
            Leadership::Lost => {
                server.abort();
                anyhow::bail!("lost the leader lease; exiting so that a fresh replica stands by");
            }
        }
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Logs go to stdout, as text (coloured only on a terminal, and never with `NO_COLOR` set) or
/// as JSON lines.
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // The plugin's rule: colour on a terminal only, never with NO_COLOR.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(Style::detect(false).color);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// A client for the cluster the kubeconfig names, or the in-cluster (then default) one.
async fn connect(kubeconfig: Option<&std::path::Path>) -> anyhow::Result<kube::Client> {
    let config = match kubeconfig {
        Some(path) => {
            let file = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(file, &kube::config::KubeConfigOptions::default())
                .await
                .with_context(|| format!("using kubeconfig {}", path.display()))?
        }
        None => kube::Config::infer()
            .await
            .context("finding the cluster (in-cluster config or ~/.kube/config)")?,
    };
    build_controller::client(config).context("creating the API client")
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
