//! `validate` and `render`: the offline commands, shared by `build-controller` and
//! `kubectl build`.

use std::path::PathBuf;

use build_pod::Images;
use clap::{Args, ValueEnum};

use super::error::PluginError;
use super::exit::PluginExit;
use super::io::Io;
use build_pod::{Offline, error_lines};

use crate::release::manifests::release_images;

/// The images of the helper containers.
#[derive(Args, Clone, Debug, Default)]
pub struct ImageArgs {
    /// The credential initializer image (build-auth's creds-init).
    #[arg(long, env = "BUILD_CREDS_INIT_IMAGE")]
    pub creds_init_image: Option<String>,
    /// The git source image (build-pod's git-init).
    #[arg(long, env = "BUILD_GIT_INIT_IMAGE")]
    pub git_init_image: Option<String>,
    /// The GCS source fetcher image.
    #[arg(long, env = "BUILD_GCS_FETCHER_IMAGE")]
    pub gcs_fetcher_image: Option<String>,
    /// The no-op image of the pod's one regular container.
    #[arg(long, env = "BUILD_NOP_IMAGE")]
    pub nop_image: Option<String>,
}

impl ImageArgs {
    /// The images given, and this release's for the others.
    pub fn images(&self) -> Images {
        let release = release_images();
        Images {
            creds_init: self.creds_init_image.clone().unwrap_or(release.creds_init),
            git_init: self.git_init_image.clone().unwrap_or(release.git_init),
            gcs_fetcher: self
                .gcs_fetcher_image
                .clone()
                .unwrap_or(release.gcs_fetcher),
            nop: self.nop_image.clone().unwrap_or(release.nop),
        }
    }
}

/// `validate PATH…`.
#[derive(Args, Clone, Debug)]
pub struct ValidateArgs {
    /// YAML files, or directories searched for .yaml and .yml files.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The helper images.
    #[command(flatten)]
    pub images: ImageArgs,
}

/// `render PATH…`.
#[derive(Args, Clone, Debug)]
pub struct RenderArgs {
    /// YAML files, or directories searched for .yaml and .yml files.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Render only the Build of this name.
    #[arg(long)]
    pub build: Option<String>,
    /// The output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Yaml)]
    pub output: Format,
    /// The helper images.
    #[command(flatten)]
    pub images: ImageArgs,
}

/// An output format for objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// YAML documents separated by `---`.
    Yaml,
    /// One JSON object, or a `List` of several.
    Json,
}

/// Prints the load's errors and warnings; returns whether it had errors.
fn report_load(offline: &Offline, io: &mut Io<'_>) -> std::io::Result<bool> {
    let loaded = offline.loaded();
    for warning in &loaded.warnings {
        writeln!(io.err, "warning: {warning}")?;
    }
    for error in &loaded.errors {
        writeln!(io.err, "error: {error}")?;
    }
    Ok(!loaded.errors.is_empty())
}

fn exit(failed: bool) -> PluginExit {
    if failed {
        PluginExit::Failed
    } else {
        PluginExit::Succeeded
    }
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks the files offline, one line per object on stdout; [`PluginExit::Failed`] on any
/// problem.
///
/// # Errors
///
/// Only when the output cannot be written.
pub fn validate_files(args: &ValidateArgs, io: &mut Io<'_>) -> Result<PluginExit, PluginError> {
    let offline = Offline::load(&args.paths);
    let mut failed = report_load(&offline, io)?;
    for checked in offline.validate(&args.images.images()) {
        let subject = format!("{}: {} {}", checked.origin, checked.kind, checked.name);
        if checked.is_ok() {
            writeln!(io.out, "{subject}: ok")?;
        }
        for problem in checked.report.errors() {
            writeln!(io.out, "{subject}: {problem}")?;
        }
        for warning in checked.report.warnings() {
            writeln!(io.out, "{subject}: warning: {warning}")?;
        }
        failed |= !checked.is_ok();
    }
    if offline.loaded().objects.is_empty() && !failed {
        writeln!(
            io.err,
            "error: no objects found in {}",
            display_paths(&args.paths)
        )?;
        failed = true;
    }
    Ok(exit(failed))
}

/// Prints the Pod of each Build in the files; [`PluginExit::Failed`] when one cannot be
/// compiled or none is found.
///
/// # Errors
///
/// Only when the output cannot be written.
pub fn render_files(args: &RenderArgs, io: &mut Io<'_>) -> Result<PluginExit, PluginError> {
    let offline = Offline::load(&args.paths);
    let mut failed = report_load(&offline, io)?;
    let rendered = offline.render(&args.images.images(), args.build.as_deref());
    if rendered.is_empty() {
        match &args.build {
            Some(name) => writeln!(
                io.err,
                "error: no Build named {name:?} in {}",
                display_paths(&args.paths)
            )?,
            None => writeln!(io.err, "error: no Build in {}", display_paths(&args.paths))?,
        }
        return Ok(PluginExit::Failed);
    }
    let mut pods = Vec::new();
    for one in &rendered {
        let name = one.build.metadata.name.as_deref().unwrap_or("<unnamed>");
        match &one.result {
            Ok(composed) => {
                for warning in composed.warnings.warnings() {
                    writeln!(io.err, "{}: Build {name}: warning: {warning}", one.origin)?;
                }
                pods.push(&composed.pod);
            }
            Err(error) => {
                failed = true;
                for line in error_lines(error) {
                    writeln!(io.err, "{}: Build {name}: {line}", one.origin)?;
                }
            }
        }
    }
    match args.output {
        Format::Yaml => {
            for (i, pod) in pods.iter().enumerate() {
                if i > 0 {
                    writeln!(io.out, "---")?;
                }
                let text = serde_yaml_ng::to_string(pod)
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                write!(io.out, "{text}")?;
            }
        }
        Format::Json => {
            let text = if pods.len() == 1 {
                serde_json::to_string_pretty(pods[0])
            } else {
                serde_json::to_string_pretty(&serde_json::json!({
                    "apiVersion": "v1",
                    "kind": "List",
                    "items": pods,
                }))
            }
            .map_err(std::io::Error::other)?;
            writeln!(io.out, "{text}")?;
        }
    }
    Ok(exit(failed))
}
