//! `cargo xtask manifests`: the release manifests in `config/release.yaml`.

use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use anyhow::{Context, bail};
use build_controller::release::manifests::{RELEASE_FILE, release_yaml};

/// Writes `config/release.yaml` when it is missing or stale.
pub(crate) fn write(root: &Path) -> anyhow::Result<()> {
    let path = root.join(RELEASE_FILE);
    let contents = release_yaml();
    if current(&path)?.as_deref() == Some(contents.as_str()) {
        println!("{RELEASE_FILE} is up to date");
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {RELEASE_FILE}");
    Ok(())
}

/// Fails, naming the command that refreshes it, when `config/release.yaml` is missing or stale.
pub(crate) fn check(root: &Path) -> anyhow::Result<()> {
    let path = root.join(RELEASE_FILE);
    match current(&path)? {
        Some(contents) if contents == release_yaml() => {
            println!("{RELEASE_FILE} is up to date");
            Ok(())
        }
        Some(_) => bail!("{RELEASE_FILE} is stale; run `cargo xtask manifests`"),
        None => bail!("{RELEASE_FILE} is missing; run `cargo xtask manifests`"),
    }
}

/// The file's contents, or `None` when it does not exist.
fn current(path: &Path) -> anyhow::Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(contents) => Ok(Some(contents)),
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
    }
}
