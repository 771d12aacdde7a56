//! Compiles the seed's `kubeval-img` Build into its Pod with the library crates alone, as the
//! controller and `render` do: load the seed, look the template and credentials up among the
//! loaded objects, compose.

use anyhow::{Context, anyhow, bail};
use build_pod::{Images, Offline};

fn main() -> anyhow::Result<()> {
    let seed = Offline::load(&[build_examples::seed_dir()]);
    if let Some(error) = seed.loaded().errors.first() {
        bail!("{error}");
    }
    let images = Images {
        creds_init: "example.com/creds-init:dev".into(),
        git_init: "example.com/git-init:dev".into(),
        gcs_fetcher: "gcr.io/cloud-builders/gcs-fetcher".into(),
        nop: "example.com/nop:dev".into(),
    };
    let rendered = seed.render(&images, Some("kubeval-img"));
    let composed = rendered
        .first()
        .context("the seed has a kubeval-img Build")?;
    let pod = &composed.result.as_ref().map_err(|e| anyhow!("{e}"))?.pod;
    print!("{}", serde_yaml_ng::to_string(pod)?);
    Ok(())
}
