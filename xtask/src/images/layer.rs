//! Deterministic tar layers: entries sorted by path, every timestamp 0, owners by number only.
//!
//! A [`Layer`] is a map from a relative path to what is there; [`Layer::to_tar`] writes it the
//! same way whatever order the entries were added in and whatever the input files' timestamps
//! were, so the same contents always give the same bytes and the same digest.

use std::collections::BTreeMap;
use std::io::Read;

use anyhow::{Context, bail};
use tar::{EntryType, Header};

/// The mode of the directories a layer adds implicitly (the parents of its entries).
const PARENT_MODE: u32 = 0o755;

/// Who owns an entry: a numeric user and group, the only thing a container runtime reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Owner {
    /// The numeric user id.
    pub(crate) uid: u64,
    /// The numeric group id.
    pub(crate) gid: u64,
}

impl Owner {
    /// `root:root` (0:0), the owner of everything that is not a user's home.
    pub(crate) const ROOT: Owner = Owner { uid: 0, gid: 0 };
}

/// What one path of a layer is.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Node {
    Dir,
    File(Vec<u8>),
    Symlink(String),
}

/// One path of a layer: what it is, its permission bits and its owner.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    node: Node,
    mode: u32,
    owner: Owner,
}

/// The files of one image layer, by path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Layer {
    entries: BTreeMap<String, Entry>,
}

impl Layer {
    /// Adds a directory (replacing the mode and owner of one already there).
    pub(crate) fn dir(&mut self, path: &str, mode: u32, owner: Owner) {
        self.insert(path, Node::Dir, mode, owner);
    }

    /// Adds a file owned by root.
    pub(crate) fn file(&mut self, path: &str, mode: u32, data: impl Into<Vec<u8>>) {
        self.insert(path, Node::File(data.into()), mode, Owner::ROOT);
    }

    /// Adds a symbolic link owned by root.
    pub(crate) fn symlink(&mut self, path: &str, target: &str) {
        self.insert(path, Node::Symlink(target.to_owned()), 0o777, Owner::ROOT);
    }

    /// The contents of the regular file at `path`, if there is one.
    pub(crate) fn file_data(&self, path: &str) -> Option<&[u8]> {
        match &self.entries.get(&normalize(path))?.node {
            Node::File(data) => Some(data),
            Node::Dir | Node::Symlink(_) => None,
        }
    }

    /// The paths of the regular files under the directory `dir`, in order.
    pub(crate) fn files_under<'a>(&'a self, dir: &str) -> impl Iterator<Item = &'a str> {
        let prefix = format!("{}/", normalize(dir));
        self.entries
            .range(prefix.clone()..)
            .take_while(move |(path, _)| path.starts_with(&prefix))
            .filter(|(_, entry)| matches!(entry.node, Node::File(_)))
            .map(|(path, _)| path.as_str())
    }

    /// Reads a tar stream (a Debian package's data), keeping the entries `keep` accepts.
    ///
    /// Owners and timestamps are dropped (everything becomes root's, at time 0), as are
    /// set-user-ID and set-group-ID bits; hard links become copies of their target.
    pub(crate) fn from_tar(reader: impl Read, keep: impl Fn(&str) -> bool) -> anyhow::Result<Self> {
        let mut layer = Layer::default();
        let mut archive = tar::Archive::new(reader);
        for entry in archive.entries().context("reading tar stream")? {
            let mut entry = entry.context("reading tar entry")?;
            let path = entry.path().context("tar entry path")?;
            let path = normalize(&path.to_string_lossy());
            if path.is_empty() || !keep(&path) {
                continue;
            }
            let mode = entry.header().mode().context("tar entry mode")? & 0o1777;
            let link = entry.link_name().context("tar link name")?;
            let link = link.map(|link| link.to_string_lossy().into_owned());
            match (entry.header().entry_type(), link) {
                (EntryType::Directory, _) => layer.dir(&path, mode, Owner::ROOT),
                (EntryType::Regular | EntryType::Continuous, _) => {
                    let mut data = Vec::new();
                    entry
                        .read_to_end(&mut data)
                        .with_context(|| format!("reading {path}"))?;
                    layer.file(&path, mode, data);
                }
                (EntryType::Symlink, Some(target)) => layer.symlink(&path, &target),
                (EntryType::Link, Some(target)) => {
                    let Some(data) = layer.file_data(&target).map(<[u8]>::to_vec) else {
                        bail!("{path}: hard link to {target}, which is not a file before it");
                    };
                    layer.file(&path, mode, data);
                }
                (other, _) => bail!("{path}: unsupported tar entry type {other:?}"),
            }
        }
        Ok(layer)
    }

    /// Adds every entry of `other`. Directories may repeat; a path that is a file or link in
    /// both must be the same in both (as two Debian packages sharing a file would be).
    pub(crate) fn merge(&mut self, other: Layer) -> anyhow::Result<()> {
        for (path, entry) in other.entries {
            match self.entries.get(&path) {
                Some(existing) if existing.node == Node::Dir && entry.node == Node::Dir => {}
                Some(existing) if *existing != entry => bail!("{path}: two different contents"),
                _ => {
                    self.entries.insert(path, entry);
                }
            }
        }
        Ok(())
    }

    /// The layer as an uncompressed tar stream: entries in path order (parents first), mtime
    /// 0, numeric owners only, no user or group names. A file identical (contents, mode and
    /// owner) to one before it becomes a hard link to that one: Debian's git ships the same
    /// binaries under several names.
    pub(crate) fn to_tar(&self) -> anyhow::Result<Vec<u8>> {
        let mut builder = tar::Builder::new(Vec::new());
        let mut first_copies: BTreeMap<(&[u8], u32, u64, u64), &str> = BTreeMap::new();
        for (path, entry) in &self.entries {
            let mut header = Header::new_gnu();
            header.set_mode(entry.mode);
            header.set_uid(entry.owner.uid);
            header.set_gid(entry.owner.gid);
            header.set_mtime(0);
            match &entry.node {
                Node::Dir => {
                    header.set_entry_type(EntryType::Directory);
                    header.set_size(0);
                    builder.append_data(&mut header, format!("{path}/"), std::io::empty())
                }
                Node::File(data) if !data.is_empty() => {
                    let key = (
                        data.as_slice(),
                        entry.mode,
                        entry.owner.uid,
                        entry.owner.gid,
                    );
                    if let Some(first) = first_copies.get(&key) {
                        header.set_entry_type(EntryType::Link);
                        header.set_size(0);
                        builder.append_link(&mut header, path, first)
                    } else {
                        first_copies.insert(key, path);
                        header.set_entry_type(EntryType::Regular);
                        header.set_size(data.len() as u64);
                        builder.append_data(&mut header, path, data.as_slice())
                    }
                }
                Node::File(data) => {
                    header.set_entry_type(EntryType::Regular);
                    header.set_size(data.len() as u64);
                    builder.append_data(&mut header, path, data.as_slice())
                }
                Node::Symlink(target) => {
                    header.set_entry_type(EntryType::Symlink);
                    header.set_size(0);
                    builder.append_link(&mut header, path, target)
                }
            }
            .with_context(|| format!("writing {path} to a tar stream"))?;
        }
        builder.into_inner().context("finishing a tar stream")
    }

    /// Inserts an entry and, as root's 0755 directories, any parent not yet there.
    fn insert(&mut self, path: &str, node: Node, mode: u32, owner: Owner) {
        let path = normalize(path);
        let mut parent = path.as_str();
        while let Some((dir, _)) = parent.rsplit_once('/') {
            self.entries.entry(dir.to_owned()).or_insert(Entry {
                node: Node::Dir,
                mode: PARENT_MODE,
                owner: Owner::ROOT,
            });
            parent = dir;
        }
        self.entries.insert(path, Entry { node, mode, owner });
    }
}

/// A path relative to the image's root: no leading `./` or `/`, no trailing `/`.
fn normalize(path: &str) -> String {
    let path = path.strip_prefix("./").unwrap_or(path);
    path.trim_matches('/').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar stream with the given (path, mtime, contents) files in the given order.
    fn tar_of(files: &[(&str, u64, &str)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, mtime, data) in files {
            let mut header = Header::new_gnu();
            header.set_mode(0o4755);
            header.set_uid(1000);
            header.set_mtime(*mtime);
            header.set_size(data.len() as u64);
            builder
                .append_data(&mut header, path, data.as_bytes())
                .unwrap();
        }
        builder.into_inner().unwrap()
    }

    /// The (path, type, mode, uid, mtime) of each entry of a tar stream, in stream order.
    fn listing(tar: &[u8]) -> Vec<(String, EntryType, u32, u64, u64)> {
        tar::Archive::new(tar)
            .entries()
            .unwrap()
            .map(|entry| {
                let entry = entry.unwrap();
                let header = entry.header();
                (
                    entry.path().unwrap().to_string_lossy().into_owned(),
                    header.entry_type(),
                    header.mode().unwrap(),
                    header.uid().unwrap(),
                    header.mtime().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn same_bytes_whatever_the_input_order_and_timestamps() {
        let one = tar_of(&[
            ("./usr/bin/git", 1_700_000_000, "git"),
            ("./etc/gitconfig", 1_700_000_001, "[core]"),
        ]);
        let other = tar_of(&[
            ("./etc/gitconfig", 42, "[core]"),
            ("./usr/bin/git", 7, "git"),
        ]);
        let keep_all = |_: &str| true;
        let one = Layer::from_tar(one.as_slice(), keep_all).unwrap();
        let other = Layer::from_tar(other.as_slice(), keep_all).unwrap();
        assert_eq!(one.to_tar().unwrap(), other.to_tar().unwrap());
    }

    #[test]
    fn entries_sorted_parents_first_with_fixed_owner_and_time() {
        let mut layer = Layer::default();
        layer.file("usr/bin/b", 0o755, "b");
        layer.symlink("/usr/bin/a", "b");
        layer.dir(
            "home/nonroot",
            0o700,
            Owner {
                uid: 65532,
                gid: 65532,
            },
        );
        let listing = listing(&layer.to_tar().unwrap());
        let expected = [
            ("home/", EntryType::Directory, 0o755, 0),
            ("home/nonroot/", EntryType::Directory, 0o700, 65532),
            ("usr/", EntryType::Directory, 0o755, 0),
            ("usr/bin/", EntryType::Directory, 0o755, 0),
            ("usr/bin/a", EntryType::Symlink, 0o777, 0),
            ("usr/bin/b", EntryType::Regular, 0o755, 0),
        ];
        let expected: Vec<_> = expected
            .iter()
            .map(|(path, kind, mode, uid)| (path.to_string(), *kind, *mode, *uid, 0))
            .collect();
        assert_eq!(listing, expected);
    }

    #[test]
    fn identical_files_become_hard_links_to_the_first() {
        let mut layer = Layer::default();
        layer.file("usr/lib/git-core/git", 0o755, "elf");
        layer.file("usr/bin/git", 0o755, "elf");
        layer.file("usr/bin/other", 0o644, "elf");
        let tar = layer.to_tar().unwrap();
        let links: Vec<_> = tar::Archive::new(tar.as_slice())
            .entries()
            .unwrap()
            .map(Result::unwrap)
            .filter(|entry| entry.header().entry_type() == EntryType::Link)
            .map(|entry| {
                let path = entry.path().unwrap().to_string_lossy().into_owned();
                let target = entry.link_name().unwrap().unwrap();
                (path, target.to_string_lossy().into_owned())
            })
            .collect();
        assert_eq!(
            links,
            [("usr/lib/git-core/git".to_owned(), "usr/bin/git".to_owned())]
        );
    }

    #[test]
    fn from_tar_drops_setuid_and_owners_and_skips_what_keep_rejects() {
        let tar = tar_of(&[
            ("./usr/share/doc/git/README", 1, "docs"),
            ("./usr/lib/ssh-keysign", 1, "elf"),
        ]);
        let layer =
            Layer::from_tar(tar.as_slice(), |path| !path.starts_with("usr/share/doc")).unwrap();
        let listing = listing(&layer.to_tar().unwrap());
        let paths: Vec<_> = listing.iter().map(|entry| entry.0.as_str()).collect();
        assert_eq!(paths, ["usr/", "usr/lib/", "usr/lib/ssh-keysign"]);
        assert_eq!((listing[2].2, listing[2].3), (0o755, 0));
    }

    #[test]
    fn merge_accepts_shared_directories_and_refuses_different_files() {
        let mut one = Layer::default();
        one.file("etc/a", 0o644, "a");
        let mut other = Layer::default();
        other.file("etc/b", 0o644, "b");
        one.merge(other).unwrap();
        assert_eq!(
            one.files_under("etc").collect::<Vec<_>>(),
            ["etc/a", "etc/b"]
        );
        let mut clash = Layer::default();
        clash.file("etc/a", 0o644, "not a");
        let error = one.merge(clash).unwrap_err();
        assert_eq!(error.to_string(), "etc/a: two different contents");
    }
}
