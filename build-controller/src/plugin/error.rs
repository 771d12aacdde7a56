//! The plugin's errors: everything that ends a command with exit code 2.

use std::path::PathBuf;

/// Why a `kubectl build` command could not do its work (exit code 2). A Build that fails is not
/// an error: it is [`PluginExit::Failed`](crate::plugin::PluginExit::Failed). No message ever contains a
/// Secret's value.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The kubeconfig could not be read, or names no usable context.
    #[error("kubeconfig: {0}")]
    Kubeconfig(String),

    /// The Build does not exist.
    #[error(
        "build {name:?} not found in namespace {namespace:?} (list them with: kubectl get builds -n {namespace})"
    )]
    BuildNotFound {
        /// The namespace looked in.
        namespace: String,
        /// The Build's name.
        name: String,
    },

    /// The template a new Build names does not exist.
    #[error("{kind} {name:?} not found{}", in_namespace(.namespace))]
    TemplateNotFound {
        /// `BuildTemplate` or `ClusterBuildTemplate`.
        kind: &'static str,
        /// The template's name.
        name: String,
        /// Where a BuildTemplate was looked for; `None` for a ClusterBuildTemplate.
        namespace: Option<String>,
    },

    /// A request to the API server failed.
    #[error("{what}: {source}")]
    Api {
        /// What the request was for, such as `reading build "x"`.
        what: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },

    /// A watch failed before it could read its object (its first list), such as when listing
    /// is not allowed.
    #[error("{what}: {source}")]
    Watch {
        /// What the watch was for, such as `reading build "x"`.
        what: String,
        /// The watch's error.
        #[source]
        source: std::sync::Arc<kube::runtime::watcher::Error>,
    },

    /// A watch stopped for good (its task panicked).
    #[error("the watch of {0} ended")]
    WatchEnded(String),

    /// A file given to `run -f` or `provenance --key` could not be read.
    #[error("reading {}: {source}", .path.display())]
    ReadFile {
        /// The file (`-` for standard input).
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The file given to `provenance --key` holds no key that can sign.
    #[error("key {}: {source}", .path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// Why it cannot sign.
        #[source]
        source: super::provenance::dsse::KeyError,
    },

    /// The Build given to `run` is not acceptable: no Build in the file, a malformed flag, an
    /// argument that matches no parameter of its template. One problem per line.
    #[error("{0}")]
    InvalidBuild(String),

    /// Writing the output failed (a closed pipe).
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
}

fn in_namespace(namespace: &Option<String>) -> String {
    match namespace {
        Some(namespace) => format!(" in namespace {namespace:?}"),
        None => String::new(),
    }
}

impl PluginError {
    /// An API error, with what the request was for.
    pub(crate) fn api(what: impl Into<String>, source: kube::Error) -> PluginError {
        PluginError::Api {
            what: what.into(),
            source,
        }
    }
}
