//! Compiles the seed's `kubeval-img` Build into its Pod with the library crates alone:
//! load, default, validate, resolve the template, plan credentials, compile.

use anyhow::{Context, bail};
use build_auth::PlanInputs;
use build_pod::{Images, PodInputs};
use build_types::load_path;

fn main() -> anyhow::Result<()> {
    let loaded = load_path(build_examples::seed_dir());
    if let Some(error) = loaded.errors.first() {
        bail!("{error}");
    }
    let mut build = loaded
        .builds()
        .map(|(_, build)| build.clone())
        .find(|build| build.metadata.name.as_deref() == Some("kubeval-img"))
        .context("the seed has a kubeval-img Build")?;
    build.spec.set_defaults();
    build.validate()?;

    let template_name = build
        .spec
        .template
        .as_ref()
        .map(|t| t.name.as_str())
        .context("kubeval-img names a template")?;
    let template = loaded
        .build_templates()
        .map(|(_, template)| template)
        .find(|template| template.metadata.name.as_deref() == Some(template_name))
        .with_context(|| format!("the seed has the {template_name} BuildTemplate"))?;
    let resolved = build_template::resolve(&build.spec, Some(&template.spec))?;

    let service_account = loaded
        .service_accounts()
        .map(|(_, account)| account)
        .find(|account| account.metadata.name.as_deref() == Some(build.spec.service_account()))
        .context("the seed has the build-bot ServiceAccount")?;
    let secrets: Vec<_> = loaded.secrets().map(|(_, s)| s.clone()).collect();
    let credentials = build_auth::plan(&PlanInputs {
        service_account,
        secrets: &secrets,
    })?;

    let images = Images {
        creds_init: "example.com/creds-init:dev".into(),
        git_init: "example.com/git-init:dev".into(),
        gcs_fetcher: "gcr.io/cloud-builders/gcs-fetcher".into(),
        nop: "example.com/nop:dev".into(),
    };
    let pod = build_pod::compile_pod(&PodInputs {
        build: &build,
        steps: &resolved.steps,
        volumes: &resolved.volumes,
        credentials: &credentials,
        images: &images,
    })?;

    let steps: Vec<_> = pod
        .spec
        .iter()
        .flat_map(|spec| spec.init_containers.iter().flatten())
        .map(|c| c.name.as_str())
        .collect();
    eprintln!(
        "compiled {} with init containers {steps:?}",
        pod.metadata.name.as_deref().unwrap_or_default()
    );
    print!("{}", serde_yaml_ng::to_string(&pod)?);
    Ok(())
}
