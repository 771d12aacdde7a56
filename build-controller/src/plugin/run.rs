//! `kubectl build run`: create a Build (from a file, or from a template and flags) and follow it.

use std::io::Read;
use std::path::PathBuf;

use build_types::{
    ArgumentSpec, Build, BuildSpec, GitSourceSpec, SourceSpec, TemplateInstantiationSpec,
    TemplateKind,
};
use clap::Args;
use kube::ResourceExt;
use kube::api::PostParams;

use super::describe::read_template;
use super::error::PluginError;
use super::exit::PluginExit;
use super::io::Io;
use super::logs::{LogsArgs, ShowArgs, logs};
use super::session::Session;

/// `kubectl build run`.
#[derive(Args, Clone, Debug)]
pub struct RunArgs {
    /// The file holding the Build to create (`-` for standard input).
    #[arg(short = 'f', long = "filename", value_name = "FILE",
          conflicts_with_all = ["template", "args", "git", "service_account", "timeout"])]
    pub filename: Option<PathBuf>,
    /// The BuildTemplate to run (with --cluster-template, the ClusterBuildTemplate).
    #[arg(long, required_unless_present = "filename")]
    pub template: Option<String>,
    /// The template is a ClusterBuildTemplate.
    #[arg(long, requires = "template")]
    pub cluster_template: bool,
    /// A template argument, NAME=VALUE; repeat for each. Names that match no parameter of the
    /// template are refused before anything is created.
    #[arg(long = "arg", value_name = "NAME=VALUE")]
    pub args: Vec<String>,
    /// A git source: URL, or URL@REVISION (a branch, tag or commit; default HEAD).
    #[arg(long, value_name = "URL[@REVISION]")]
    pub git: Option<String>,
    /// The ServiceAccount the Build runs as (default: default).
    #[arg(long, value_name = "NAME")]
    pub service_account: Option<String>,
    /// The Build's timeout, a Go duration such as 20m (default 10m).
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<build_types::Duration>,
    /// Only create the Build and print its name; do not follow it.
    #[arg(long)]
    pub detach: bool,
    /// What is shown while following.
    #[command(flatten)]
    pub show: ShowArgs,
}

/// Creates the Build, prints its name, and (unless `--detach`) follows it like `logs -f`.
pub(crate) async fn run(
    session: &Session,
    args: &RunArgs,
    io: &mut Io<'_>,
) -> Result<PluginExit, PluginError> {
    let mut build = match &args.filename {
        Some(path) => from_file(path)?,
        None => from_flags(args)?,
    };
    match build.metadata.namespace.as_deref() {
        Some(namespace) if namespace != session.namespace => {
            return Err(PluginError::InvalidBuild(format!(
                "the Build is in namespace {namespace:?}, not {:?}: use -n {namespace}",
                session.namespace
            )));
        }
        _ => build.metadata.namespace = Some(session.namespace.clone()),
    }
    check_template(session, &build).await?;
    let created = session
        .builds()
        .create(&PostParams::default(), &build)
        .await
        .map_err(|e| PluginError::api("creating the build", e))?;
    let name = created.name_any();
    writeln!(io.out, "build.build.knative.dev/{name} created")?;
    io.out.flush()?;
    if args.detach {
        return Ok(PluginExit::Succeeded);
    }
    logs(session, &LogsArgs::follow(name, args.show.clone()), io).await
}

fn from_file(path: &PathBuf) -> Result<Build, PluginError> {
    let read_error = |source| PluginError::ReadFile {
        path: path.clone(),
        source,
    };
    let (name, bytes) = if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(read_error)?;
        ("<stdin>".to_owned(), bytes)
    } else {
        (
            path.display().to_string(),
            std::fs::read(path).map_err(read_error)?,
        )
    };
    let loaded = build_types::load_bytes(&name, &bytes);
    if !loaded.is_ok() {
        let lines: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
        return Err(PluginError::InvalidBuild(lines.join("\n")));
    }
    let builds: Vec<&Build> = loaded.builds().map(|(_, build)| build).collect();
    match builds.as_slice() {
        [build] => Ok((*build).clone()),
        [] => Err(PluginError::InvalidBuild(format!("{name}: no Build found"))),
        more => Err(PluginError::InvalidBuild(format!(
            "{name}: {} Builds found; run creates one",
            more.len()
        ))),
    }
}

/// `URL@REVISION` split at its last `@`, when what follows names a revision (no `/` or `:`,
/// so that `git@github.com:org/repo.git` stays whole).
fn split_git(text: &str) -> (String, String) {
    match text.rsplit_once('@') {
        Some((url, revision))
            if !url.is_empty() && !revision.is_empty() && !revision.contains(['/', ':']) =>
        {
            (url.to_owned(), revision.to_owned())
        }
        _ => (
            text.to_owned(),
            build_pod::git_init::DEFAULT_REVISION.to_owned(),
        ),
    }
}

fn from_flags(args: &RunArgs) -> Result<Build, PluginError> {
    let Some(template) = &args.template else {
        return Err(PluginError::InvalidBuild(
            "give a Build file (-f FILE) or a template (--template NAME)".into(),
        ));
    };
    let mut arguments = Vec::new();
    let mut problems = Vec::new();
    for arg in &args.args {
        match arg.split_once('=') {
            Some((name, value)) if !name.is_empty() => arguments.push(ArgumentSpec {
                name: name.to_owned(),
                value: value.to_owned(),
            }),
            _ => problems.push(format!("--arg {arg:?}: expected NAME=VALUE")),
        }
    }
    if !problems.is_empty() {
        return Err(PluginError::InvalidBuild(problems.join("\n")));
    }
    let source = args.git.as_deref().map(|git| {
        let (url, revision) = split_git(git);
        SourceSpec {
            git: Some(GitSourceSpec { url, revision }),
            ..SourceSpec::default()
        }
    });
    let mut build = Build::new(
        "",
        BuildSpec {
            source,
            service_account_name: args.service_account.clone(),
            timeout: args.timeout,
            template: Some(TemplateInstantiationSpec {
                name: template.clone(),
                kind: args
                    .cluster_template
                    .then_some(TemplateKind::ClusterBuildTemplate),
                arguments,
                ..TemplateInstantiationSpec::default()
            }),
            ..BuildSpec::default()
        },
    );
    build.metadata.name = None;
    build.metadata.generate_name = Some(format!("{template}-"));
    Ok(build)
}

/// Refuses a Build whose template does not exist or does not take its arguments, naming the
/// parameters the cluster's template has.
async fn check_template(session: &Session, build: &Build) -> Result<(), PluginError> {
    let Some(instance) = &build.spec.template else {
        return Ok(());
    };
    let kind = instance.kind.unwrap_or(TemplateKind::BuildTemplate);
    let Some(spec) = read_template(session, kind, &instance.name).await? else {
        return Err(PluginError::TemplateNotFound {
            kind: kind.as_str(),
            name: instance.name.clone(),
            namespace: (kind == TemplateKind::BuildTemplate).then(|| session.namespace.clone()),
        });
    };
    build_template::resolve(&build.spec, Some(&spec))
        .map(|_| ())
        .map_err(|report| PluginError::InvalidBuild(report.to_string()))
}

#[cfg(test)]
mod tests {
    use super::split_git;

    #[test]
    fn git_revisions_split_at_the_last_at() {
        let check = |text: &str, url: &str, revision: &str| {
            assert_eq!(
                split_git(text),
                (url.to_owned(), revision.to_owned()),
                "{text}"
            );
        };
        check(
            "https://github.com/garethr/kubeval.git@master",
            "https://github.com/garethr/kubeval.git",
            "master",
        );
        check(
            "https://github.com/garethr/kubeval.git",
            "https://github.com/garethr/kubeval.git",
            "HEAD",
        );
        check(
            "git@github.com:garethr/kubeval.git",
            "git@github.com:garethr/kubeval.git",
            "HEAD",
        );
        check(
            "git@github.com:garethr/kubeval.git@v1.0",
            "git@github.com:garethr/kubeval.git",
            "v1.0",
        );
    }
}
