//! The deterministic name of a Build's pod.

use build_types::Build;
use sha2::{Digest, Sha256};

/// The UID used for a Build that has none, as when rendering a Build offline from a file.
///
/// A Build read from the API server always has a UID; this placeholder keeps [`pod_name`] and
/// the owner reference stable for one that does not. It is the nil UUID, which the API server
/// never assigns.
pub const OFFLINE_UID: &str = "00000000-0000-0000-0000-000000000000";

/// The longest pod name [`pod_name`] returns: a DNS label, so the pod's hostname is its name.
pub const MAX_POD_NAME_LEN: usize = 63;

const POD_INFIX: &str = "-pod-";
const HASH_HEX_LEN: usize = 6;

/// The name of the Pod that runs `build`: `<build>-pod-<6 hex>`.
///
/// The six hex digits are the start of the SHA-256 of the Build's name and UID (or
/// [`OFFLINE_UID`] when it has none), so the same Build always gives the same name — creating
/// its pod twice gives `AlreadyExists` rather than a second pod — while a Build deleted and
/// created again under the same name (a new UID) gets a new pod. The Build's name is shortened
/// when needed so that the whole is at most [`MAX_POD_NAME_LEN`] characters, and never ends the
/// shortened part on `-` or `.`.
///
/// ```
/// use build_types::{Build, BuildSpec};
/// let mut build = Build::new("kubeval-img", BuildSpec::default());
/// build.metadata.uid = Some("6a1e2c1c-0c4e-4f39-9b5d-3b0c9d3b7a11".into());
/// let name = build_pod::pod_name(&build);
/// assert!(name.starts_with("kubeval-img-pod-"));
/// assert_eq!(name.len(), "kubeval-img-pod-".len() + 6);
/// assert_eq!(name, build_pod::pod_name(&build));
/// ```
pub fn pod_name(build: &Build) -> String {
    pod_name_of(
        build.metadata.name.as_deref().unwrap_or_default(),
        build.metadata.uid.as_deref(),
    )
}

/// [`pod_name`] from a Build's name and UID alone, for a caller that holds only those (a
/// cached finished Build).
pub fn pod_name_of(name: &str, uid: Option<&str>) -> String {
    let uid = uid.filter(|uid| !uid.is_empty()).unwrap_or(OFFLINE_UID);
    let digest = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update(b"/")
        .chain_update(uid.as_bytes())
        .finalize();
    let hex: String = digest
        .iter()
        .take(HASH_HEX_LEN / 2)
        .map(|byte| format!("{byte:02x}"))
        .collect();

    let room = MAX_POD_NAME_LEN - POD_INFIX.len() - HASH_HEX_LEN;
    let mut prefix = name;
    if prefix.len() > room {
        let mut end = room;
        while !prefix.is_char_boundary(end) {
            end -= 1;
        }
        prefix = prefix[..end].trim_end_matches(['-', '.']);
    }
    if prefix.is_empty() {
        format!("pod-{hex}")
    } else {
        format!("{prefix}{POD_INFIX}{hex}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use build_types::BuildSpec;

    fn build(name: &str, uid: Option<&str>) -> Build {
        let mut build = Build::new(name, BuildSpec::default());
        build.metadata.uid = uid.map(str::to_owned);
        build
    }

    #[test]
    fn stable_and_uid_dependent() {
        let a = pod_name(&build("b", Some("uid-1")));
        assert_eq!(a, pod_name(&build("b", Some("uid-1"))));
        assert_ne!(a, pod_name(&build("b", Some("uid-2"))));
        assert_ne!(a, pod_name(&build("c", Some("uid-1"))));
        assert!(a.starts_with("b-pod-"), "{a}");
    }

    #[test]
    fn missing_uid_uses_the_placeholder() {
        assert_eq!(
            pod_name(&build("b", None)),
            pod_name(&build("b", Some(OFFLINE_UID)))
        );
        assert_eq!(pod_name(&build("b", None)), pod_name(&build("b", Some(""))));
    }

    #[test]
    fn long_names_are_shortened() {
        let long = format!("{}-{}", "a".repeat(51), "b".repeat(40));
        let name = pod_name(&build(&long, Some("u")));
        assert_eq!(name.len(), 51 + "-pod-".len() + 6, "{name}");
        assert!(name.starts_with(&"a".repeat(51)), "{name}");
        assert!(!name.contains("--"), "{name}");

        let exact = "x".repeat(52);
        assert_eq!(pod_name(&build(&exact, Some("u"))).len(), MAX_POD_NAME_LEN);
    }

    #[test]
    fn empty_name() {
        let name = pod_name(&build("", Some("u")));
        assert!(name.starts_with("pod-") && name.len() == 10, "{name}");
    }
}
