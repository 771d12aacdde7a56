//! `build-controller`: the Knative Build controller, and its offline subcommands.
//!
//! - `validate PATH…`: check YAML files offline, one line per object.
//! - `render PATH…`: print the Pod each Build would get.
//! - `run`: reconcile Builds on a cluster, serving `/healthz`, `/readyz` and `/metrics` on
//!   `--metrics-address`; with `--leader-election`, only while holding the leader Lease.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use build_controller::{
    Config, Endpoints, Health, LeaderElector, Leadership, Leading, LeaseSettings, Offline,
    Telemetry, release_images,
};
use build_pod::Images;
use clap::{Args, Parser, Subcommand, ValueEnum};
use futures::FutureExt;

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
    Validate {
        /// YAML files, or directories searched for .yaml and .yml files.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        images: ImageArgs,
    },
    /// Print the Pod each Build in the files would get, exactly as the controller would create
    /// it. Exits 1 when a Build cannot be compiled.
    Render {
        /// YAML files, or directories searched for .yaml and .yml files.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Render only the Build of this name.
        #[arg(long)]
        build: Option<String>,
        /// The output format.
        #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Yaml)]
        output: Format,
        #[command(flatten)]
        images: ImageArgs,
    },
    /// Reconcile Builds on the cluster named by KUBECONFIG (or the in-cluster config).
    Run(RunArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Yaml,
    Json,
}

/// The images of the helper containers.
#[derive(Args)]
struct ImageArgs {
    /// The credential initializer image (build-auth's creds-init).
    #[arg(long, env = "BUILD_CREDS_INIT_IMAGE")]
    creds_init_image: Option<String>,
    /// The git source image (build-pod's git-init).
    #[arg(long, env = "BUILD_GIT_INIT_IMAGE")]
    git_init_image: Option<String>,
    /// The GCS source fetcher image.
    #[arg(long, env = "BUILD_GCS_FETCHER_IMAGE")]
    gcs_fetcher_image: Option<String>,
    /// The no-op image of the pod's one regular container.
    #[arg(long, env = "BUILD_NOP_IMAGE")]
    nop_image: Option<String>,
}

impl ImageArgs {
    fn images(self) -> Images {
        let release = release_images();
        Images {
            creds_init: self.creds_init_image.unwrap_or(release.creds_init),
            git_init: self.git_init_image.unwrap_or(release.git_init),
            gcs_fetcher: self.gcs_fetcher_image.unwrap_or(release.gcs_fetcher),
            nop: self.nop_image.unwrap_or(release.nop),
        }
    }
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
    #[arg(long, env = "BUILD_CONCURRENCY", default_value_t = build_controller::DEFAULT_CONCURRENCY)]
    concurrency: u16,
    /// How long an image pull or container configuration error may last before the Build
    /// fails with it, as a Go duration.
    #[arg(long, env = "BUILD_IMAGE_PULL_GRACE", default_value = "5m")]
    image_pull_grace: build_types::Duration,
    /// Log format.
    #[arg(long, env = "BUILD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Where /healthz, /readyz and /metrics are served.
    #[arg(long, env = "BUILD_METRICS_ADDRESS", default_value = build_controller::DEFAULT_METRICS_ADDRESS)]
    metrics_address: SocketAddr,
    /// Reconcile only while holding the leader Lease, so that of several replicas exactly one
    /// reconciles. Exits when the Lease is lost.
    #[arg(long, env = "BUILD_LEADER_ELECTION")]
    leader_election: bool,
    /// The namespace of the leader Lease: the controller's own.
    #[arg(long, env = "POD_NAMESPACE", default_value = build_controller::RELEASE_NAMESPACE)]
    leader_election_namespace: String,
    /// The name of the leader Lease.
    #[arg(long, env = "BUILD_LEADER_ELECTION_LEASE", default_value = build_controller::DEFAULT_LEASE_NAME)]
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
        Command::Validate { paths, images } => validate(&paths, &images.images()),
        Command::Render {
            paths,
            build,
            output,
            images,
        } => render(&paths, build.as_deref(), output, &images.images()),
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

/// Prints the load's errors and warnings; returns whether it had errors.
fn report_load(offline: &Offline) -> bool {
    let loaded = offline.loaded();
    for warning in &loaded.warnings {
        eprintln!("warning: {warning}");
    }
    for error in &loaded.errors {
        eprintln!("error: {error}");
    }
    !loaded.errors.is_empty()
}

fn validate(paths: &[PathBuf], images: &Images) -> anyhow::Result<ExitCode> {
    let offline = Offline::load(paths);
    let mut failed = report_load(&offline);
    let mut stdout = std::io::stdout().lock();
    for checked in offline.validate(images) {
        let subject = format!("{}: {} {}", checked.origin, checked.kind, checked.name);
        if checked.is_ok() {
            writeln!(stdout, "{subject}: ok")?;
        }
        for problem in &checked.problems {
            writeln!(stdout, "{subject}: {problem}")?;
        }
        for warning in &checked.warnings {
            writeln!(stdout, "{subject}: warning: {warning}")?;
        }
        failed |= !checked.is_ok();
    }
    if offline.loaded().objects.is_empty() && !failed {
        eprintln!("error: no objects found in {}", display_paths(paths));
        failed = true;
    }
    Ok(exit(failed))
}

fn render(
    paths: &[PathBuf],
    only: Option<&str>,
    format: Format,
    images: &Images,
) -> anyhow::Result<ExitCode> {
    let offline = Offline::load(paths);
    let mut failed = report_load(&offline);
    let rendered = offline.render(images, only);
    if rendered.is_empty() {
        match only {
            Some(name) => eprintln!("error: no Build named {name:?} in {}", display_paths(paths)),
            None => eprintln!("error: no Build in {}", display_paths(paths)),
        }
        return Ok(ExitCode::FAILURE);
    }
    let mut pods = Vec::new();
    for one in &rendered {
        match &one.result {
            Ok(composed) => {
                for warning in &composed.warnings {
                    eprintln!(
                        "{}: Build {}: warning: {warning}",
                        one.origin,
                        name(one.build)
                    );
                }
                pods.push(&composed.pod);
            }
            Err(error) => {
                failed = true;
                for line in build_controller::error_lines(error) {
                    eprintln!("{}: Build {}: {line}", one.origin, name(one.build));
                }
            }
        }
    }
    let mut stdout = std::io::stdout().lock();
    match format {
        Format::Yaml => {
            for (i, pod) in pods.iter().enumerate() {
                if i > 0 {
                    writeln!(stdout, "---")?;
                }
                write!(stdout, "{}", serde_yaml_ng::to_string(pod)?)?;
            }
        }
        Format::Json => {
            let text = if pods.len() == 1 {
                serde_json::to_string_pretty(pods[0])?
            } else {
                serde_json::to_string_pretty(&serde_json::json!({
                    "apiVersion": "v1",
                    "kind": "List",
                    "items": pods,
                }))?
            };
            writeln!(stdout, "{text}")?;
        }
    }
    Ok(exit(failed))
}

fn name(build: &build_types::Build) -> &str {
    build.metadata.name.as_deref().unwrap_or("<unnamed>")
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn exit(failed: bool) -> ExitCode {
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    init_logging(args.log_format);
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
        telemetry: Telemetry::new(config.concurrency),
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
        let server = tokio::spawn(build_controller::serve(
            listener,
            endpoints.clone(),
            shutdown.clone(),
        ));
        let client = connect(args.kubeconfig.as_deref()).await?;
        if !args.leader_election {
            endpoints.telemetry.set_leader(Leading::Yes);
            build_controller::run_observed(client, config, endpoints, shutdown).await?;
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
                build_controller::run_observed(client, config, endpoints, shutdown).await
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

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
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
    kube::Client::try_from(config).context("creating the API client")
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
