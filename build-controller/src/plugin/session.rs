//! The cluster a plugin command talks to: a client, the namespace, and the clock.

use build_types::{Build, BuildTemplate, ClusterBuildTemplate};
use clap::Args;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};

use super::error::PluginError;

/// Where the cluster is, as kubectl takes it.
#[derive(Args, Clone, Debug, Default)]
pub struct ClusterArgs {
    /// The kubeconfig file (default: KUBECONFIG, else ~/.kube/config, else the in-cluster
    /// configuration).
    #[arg(long, global = true)]
    pub kubeconfig: Option<std::path::PathBuf>,
    /// The kubeconfig context to use (default: its current context).
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// The namespace (default: the context's namespace, else `default`).
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
}

/// A client, the namespace every command works in, and the clock ages are counted by.
#[derive(Clone)]
pub struct Session {
    /// The API client.
    pub client: Client,
    /// The namespace of the Builds.
    pub namespace: String,
    /// What time it is, for the ages and durations `list` shows (tests fix it).
    pub clock: fn() -> Timestamp,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A session over `client` in `namespace`, on the system's clock.
    pub fn new(client: Client, namespace: impl Into<String>) -> Session {
        Session {
            client,
            namespace: namespace.into(),
            clock: Timestamp::now,
        }
    }

    /// Connects as kubectl would: `--kubeconfig`, else `KUBECONFIG` (several files merged),
    /// else `~/.kube/config`, else the in-cluster configuration; `--context` or the current
    /// context; `-n` or the context's namespace.
    ///
    /// # Errors
    ///
    /// [`PluginError::Kubeconfig`] when no configuration can be found or used.
    pub async fn connect(args: &ClusterArgs) -> Result<Session, PluginError> {
        let options = KubeConfigOptions {
            context: args.context.clone(),
            cluster: None,
            user: None,
        };
        let kubeconfig = match &args.kubeconfig {
            Some(path) => Some(Kubeconfig::read_from(path).map_err(|e| {
                PluginError::Kubeconfig(format!("reading {}: {e}", path.display()))
            })?),
            None => Kubeconfig::read().ok(),
        };
        let config = match kubeconfig {
            Some(kubeconfig) => kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| PluginError::Kubeconfig(e.to_string()))?,
            None if args.context.is_some() => {
                return Err(PluginError::Kubeconfig(
                    "--context given but no kubeconfig found (KUBECONFIG, ~/.kube/config)".into(),
                ));
            }
            None => kube::Config::incluster().map_err(|e| {
                PluginError::Kubeconfig(format!(
                    "no kubeconfig found (--kubeconfig, KUBECONFIG, ~/.kube/config) and not in a cluster: {e}"
                ))
            })?,
        };
        let namespace = args
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        let client = crate::client(config).map_err(|e| PluginError::Kubeconfig(e.to_string()))?;
        Ok(Session::new(client, namespace))
    }

    pub(crate) fn builds(&self) -> Api<Build> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    pub(crate) fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    pub(crate) fn templates(&self) -> Api<BuildTemplate> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    pub(crate) fn cluster_templates(&self) -> Api<ClusterBuildTemplate> {
        Api::all(self.client.clone())
    }

    pub(crate) fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// The Build `name`; [`PluginError::BuildNotFound`] when there is none.
    pub(crate) async fn build(&self, name: &str) -> Result<Build, PluginError> {
        match self.builds().get(name).await {
            Ok(build) => Ok(build),
            Err(error) if crate::error::is_not_found(&error) => Err(PluginError::BuildNotFound {
                namespace: self.namespace.clone(),
                name: name.to_owned(),
            }),
            Err(error) => Err(PluginError::api(format!("reading build {name:?}"), error)),
        }
    }

    /// The pod `name`, or `None` when there is none.
    pub(crate) async fn pod(&self, name: &str) -> Result<Option<Pod>, PluginError> {
        self.optional(self.pods(), name, "pod").await
    }

    /// The object `name`, or `None` on a 404.
    pub(crate) async fn optional<K>(
        &self,
        api: Api<K>,
        name: &str,
        what: &str,
    ) -> Result<Option<K>, PluginError>
    where
        K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        match api.get(name).await {
            Ok(object) => Ok(Some(object)),
            Err(error) if crate::error::is_not_found(&error) => Ok(None),
            Err(error) => Err(PluginError::api(format!("reading {what} {name:?}"), error)),
        }
    }
}
