//! `cargo xtask crds`: the CustomResourceDefinitions in `config/`.

use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use anyhow::{Context, bail};
use build_types::{CRD_HEADER, CrdFile};

/// Where the CRD files live, relative to the workspace root.
const DIR: &str = "config";

/// What it takes to bring one file in `config/` up to date.
#[derive(Debug)]
enum Change {
    /// The file does not exist yet.
    Create(CrdFile),
    /// The file exists with other contents.
    Update(CrdFile),
    /// A generated CRD file that no resource produces any more.
    Remove(String),
}

impl Change {
    fn describe(&self) -> String {
        match self {
            Change::Create(file) => format!("{DIR}/{} is missing", file.name),
            Change::Update(file) => format!("{DIR}/{} is stale", file.name),
            Change::Remove(name) => format!("{DIR}/{name} is left over"),
        }
    }
}

/// Writes every CRD file that is missing or stale, and removes left-over ones.
pub(crate) fn write(root: &Path) -> anyhow::Result<()> {
    let dir = root.join(DIR);
    let changes = changes(root)?;
    if changes.is_empty() {
        println!("{DIR}/ is up to date");
        return Ok(());
    }
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for change in changes {
        match change {
            Change::Create(file) | Change::Update(file) => {
                let path = dir.join(&file.name);
                fs::write(&path, &file.contents)
                    .with_context(|| format!("writing {}", path.display()))?;
                println!("wrote {DIR}/{}", file.name);
            }
            Change::Remove(name) => {
                let path = dir.join(&name);
                fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
                println!("removed {DIR}/{name}");
            }
        }
    }
    Ok(())
}

/// Fails, naming each file and the command that refreshes them, when `config/` is not what
/// [`write()`] would make it.
pub(crate) fn check(root: &Path) -> anyhow::Result<()> {
    let changes = changes(root)?;
    if changes.is_empty() {
        println!("{DIR}/ is up to date");
        return Ok(());
    }
    let problems: Vec<String> = changes.iter().map(Change::describe).collect();
    bail!("{}; run `cargo xtask crds`", problems.join(", "))
}

/// The changes that would bring `config/` up to date, in a stable order.
fn changes(root: &Path) -> anyhow::Result<Vec<Change>> {
    let dir = root.join(DIR);
    let files = build_types::crd_files();
    let mut changes = Vec::new();
    for file in &files {
        let path = dir.join(&file.name);
        match fs::read_to_string(&path) {
            Ok(contents) if contents == file.contents => {}
            Ok(_) => changes.push(Change::Update(file.clone())),
            Err(error) if error.kind() == ErrorKind::NotFound => {
                changes.push(Change::Create(file.clone()));
            }
            Err(error) => {
                return Err(error).with_context(|| format!("reading {}", path.display()));
            }
        }
    }
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(changes),
        Err(error) => return Err(error).with_context(|| format!("reading {}", dir.display())),
    };
    let mut left_over = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".yaml") || files.iter().any(|file| file.name == name) {
            continue;
        }
        let path = entry.path();
        let contents =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        if contents.lines().next() == Some(CRD_HEADER) {
            left_over.push(name);
        }
    }
    left_over.sort();
    changes.extend(left_over.into_iter().map(Change::Remove));
    Ok(changes)
}
