//! Builds composed from files instead of a cluster: an index of loaded objects that answers a
//! Build's lookups ([`Offline`]), and validation and rendering of every loaded Build exactly as
//! the controller would compose it.

use std::collections::BTreeMap;
use std::path::Path;

use build_types::{Build, BuildTemplateSpec, Loaded, Object, Origin, Report};
use k8s_openapi::api::core::v1::{Pod, Secret, ServiceAccount};

use crate::compose::{ComposeError, ComposeInputs, Composed, DEFAULT_NAMESPACE, Lookup, compose};
use crate::images::Images;

/// Objects loaded from files, answering a Build's lookups as the controller's caches would.
///
/// Objects without a namespace are taken to be in `default`, as `kubectl apply` would put them.
#[derive(Debug, Default)]
pub struct Offline {
    loaded: Loaded,
    templates: BTreeMap<(String, String), usize>,
    cluster_templates: BTreeMap<String, usize>,
    service_accounts: BTreeMap<(String, String), usize>,
    secrets: BTreeMap<(String, String), usize>,
}

fn namespace_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    meta.namespace
        .clone()
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned())
}

impl Offline {
    /// Loads every path (files, or directories of `.yaml`/`.yml` files) in order.
    #[cfg(feature = "yaml")]
    pub fn load<P: AsRef<Path>>(paths: &[P]) -> Offline {
        let mut loaded = Loaded::default();
        for path in paths {
            loaded.append(build_types::load_path(path));
        }
        Offline::from_loaded(loaded)
    }

    /// Indexes objects that were already loaded. Where two objects share a kind, namespace and
    /// name, the later one wins, as a later `kubectl apply` would.
    pub fn from_loaded(loaded: Loaded) -> Offline {
        let mut offline = Offline::default();
        for (index, loaded_object) in loaded.objects.iter().enumerate() {
            let object = &loaded_object.object;
            let key = (namespace_of(object.metadata()), object.name().to_owned());
            match object {
                Object::Build(_) => {}
                Object::BuildTemplate(_) => {
                    offline.templates.insert(key, index);
                }
                Object::ClusterBuildTemplate(_) => {
                    offline.cluster_templates.insert(key.1, index);
                }
                Object::ServiceAccount(_) => {
                    offline.service_accounts.insert(key, index);
                }
                Object::Secret(_) => {
                    offline.secrets.insert(key, index);
                }
            }
        }
        offline.loaded = loaded;
        offline
    }

    /// Everything that was loaded, with the load's warnings and errors.
    pub fn loaded(&self) -> &Loaded {
        &self.loaded
    }

    fn object(&self, index: Option<&usize>) -> Option<&Object> {
        index.map(|&i| &self.loaded.objects[i].object)
    }

    /// Compiles every Build (or only those named `only`) into its Pod, in load order.
    pub fn render(&self, images: &Images, only: Option<&str>) -> Vec<Rendered<'_>> {
        self.loaded
            .builds()
            .filter(|(_, build)| {
                only.is_none_or(|name| build.metadata.name.as_deref() == Some(name))
            })
            .map(|(origin, build)| Rendered {
                origin,
                build,
                result: compose(&ComposeInputs {
                    build,
                    lookup: self,
                    images,
                }),
            })
            .collect()
    }

    /// Checks every loaded object: its own validation rules, and for a Build everything the
    /// controller would check before creating its Pod (template, ServiceAccount, Secrets,
    /// arguments). Templates also get their lint warnings (unknown references, unused
    /// parameters).
    pub fn validate(&self, images: &Images) -> Vec<Checked<'_>> {
        let mut checked = Vec::new();
        for loaded_object in &self.loaded.objects {
            let object = &loaded_object.object;
            let mut report = object.validate().err().unwrap_or_default();
            match object {
                Object::Build(build) if !report.has_errors() => {
                    match compose(&ComposeInputs {
                        build,
                        lookup: self,
                        images,
                    }) {
                        Ok(composed) => report.append(composed.warnings),
                        Err(error) => report.append(error.report()),
                    }
                }
                Object::BuildTemplate(template) => {
                    report.append(build_template::lint_template(&template.spec));
                }
                Object::ClusterBuildTemplate(template) => {
                    report.append(build_template::lint_template(template.template_spec()));
                }
                _ => {}
            }
            checked.push(Checked {
                origin: &loaded_object.origin,
                kind: object.kind(),
                name: object.name(),
                report,
            });
        }
        checked
    }
}

/// The lines of a composition error, one problem each.
pub fn error_lines(error: &ComposeError) -> Vec<String> {
    error.report().errors().map(ToString::to_string).collect()
}

impl Lookup for Offline {
    fn build_template(&self, namespace: &str, name: &str) -> Option<BuildTemplateSpec> {
        let index = self.templates.get(&(namespace.to_owned(), name.to_owned()));
        Some(self.object(index)?.as_build_template()?.spec.clone())
    }

    fn cluster_build_template(&self, name: &str) -> Option<BuildTemplateSpec> {
        let index = self.cluster_templates.get(name);
        Some(
            self.object(index)?
                .as_cluster_build_template()?
                .template_spec()
                .clone(),
        )
    }

    fn service_account(&self, namespace: &str, name: &str) -> Option<ServiceAccount> {
        let index = self
            .service_accounts
            .get(&(namespace.to_owned(), name.to_owned()));
        self.object(index)?.as_service_account().cloned()
    }

    fn secret(&self, namespace: &str, name: &str) -> Option<Secret> {
        let index = self.secrets.get(&(namespace.to_owned(), name.to_owned()));
        self.object(index)?.as_secret().cloned()
    }
}

/// One Build's rendering: its Pod, or why it has none.
#[derive(Debug)]
pub struct Rendered<'a> {
    /// Where the Build was loaded from.
    pub origin: &'a Origin,
    /// The Build as loaded.
    pub build: &'a Build,
    /// Its Pod and warnings, or the reason it cannot run.
    pub result: Result<Composed, ComposeError>,
}

impl Rendered<'_> {
    /// The Pod, if the Build compiled.
    pub fn pod(&self) -> Option<&Pod> {
        self.result.as_ref().ok().map(|composed| &composed.pod)
    }
}

/// One object's validation: every problem and warning, with where it came from.
#[derive(Debug)]
pub struct Checked<'a> {
    /// Where the object was loaded from.
    pub origin: &'a Origin,
    /// Its kind.
    pub kind: &'static str,
    /// Its name.
    pub name: &'a str,
    /// What stops it from being applied or run (errors), and what is worth a look but does
    /// not stop it (warnings).
    pub report: Report,
}

impl Checked<'_> {
    /// Whether the object has no errors (warnings aside).
    pub fn is_ok(&self) -> bool {
        !self.report.has_errors()
    }
}
