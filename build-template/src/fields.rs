//! The table of substituted fields, as code: every string field of a step, volume or
//! environment variable that `${NAME}` is substituted in, with its path.
//!
//! Keep in step with the table in the crate documentation (a test compares them).

use std::fmt;

use build_types::FieldPath;
use k8s_openapi::api::core::v1::{Container, EnvVar, Volume};

/// A field path such as `steps[0].args[2]`, extended while walking (a
/// [`FieldPath`], which shares its prefix) and formatted only when a problem is reported.
#[derive(Clone, Debug, Default)]
pub(crate) struct Path(FieldPath);

impl Path {
    /// Runs `f` with `name` appended to the path.
    pub(crate) fn field<R>(&mut self, name: &'static str, f: impl FnOnce(&mut Self) -> R) -> R {
        f(&mut Path(self.0.join(name)))
    }

    /// Runs `f` with `[index]` appended to the path.
    pub(crate) fn index<R>(&mut self, index: usize, f: impl FnOnce(&mut Self) -> R) -> R {
        f(&mut Path(self.0.join(index)))
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Called with each substituted field and its path.
pub(crate) type Visit<'f> = dyn FnMut(&Path, &mut String) + 'f;

fn string(path: &mut Path, name: &'static str, value: &mut String, visit: &mut Visit<'_>) {
    path.field(name, |path| visit(path, value));
}

fn optional(
    path: &mut Path,
    name: &'static str,
    value: &mut Option<String>,
    visit: &mut Visit<'_>,
) {
    if let Some(value) = value {
        string(path, name, value, visit);
    }
}

fn list<T>(
    path: &mut Path,
    name: &'static str,
    items: &mut Option<Vec<T>>,
    visit: &mut Visit<'_>,
    mut each: impl FnMut(&mut Path, &mut T, &mut Visit<'_>),
) {
    if let Some(items) = items {
        path.field(name, |path| {
            for (i, item) in items.iter_mut().enumerate() {
                path.index(i, |path| each(path, item, visit));
            }
        });
    }
}

/// The fields of a step.
pub(crate) fn container(step: &mut Container, path: &mut Path, visit: &mut Visit<'_>) {
    string(path, "name", &mut step.name, visit);
    optional(path, "image", &mut step.image, visit);
    list(path, "args", &mut step.args, visit, |path, arg, visit| {
        visit(path, arg)
    });
    list(
        path,
        "command",
        &mut step.command,
        visit,
        |path, arg, visit| visit(path, arg),
    );
    optional(path, "workingDir", &mut step.working_dir, visit);
    list(path, "env", &mut step.env, visit, |path, var, visit| {
        env_var(var, path, visit)
    });
    list(
        path,
        "envFrom",
        &mut step.env_from,
        visit,
        |path, from, visit| {
            if let Some(source) = &mut from.config_map_ref {
                path.field("configMapRef", |path| {
                    string(path, "name", &mut source.name, visit)
                });
            }
            if let Some(source) = &mut from.secret_ref {
                path.field("secretRef", |path| {
                    string(path, "name", &mut source.name, visit)
                });
            }
        },
    );
    list(
        path,
        "volumeMounts",
        &mut step.volume_mounts,
        visit,
        |path, mount, visit| {
            string(path, "name", &mut mount.name, visit);
            string(path, "mountPath", &mut mount.mount_path, visit);
            optional(path, "subPath", &mut mount.sub_path, visit);
        },
    );
}

/// The fields of an environment variable, of a step or of the Build's `template.env`.
pub(crate) fn env_var(var: &mut EnvVar, path: &mut Path, visit: &mut Visit<'_>) {
    optional(path, "value", &mut var.value, visit);
    if let Some(from) = &mut var.value_from {
        path.field("valueFrom", |path| {
            if let Some(selector) = &mut from.config_map_key_ref {
                path.field("configMapKeyRef", |path| {
                    string(path, "name", &mut selector.name, visit);
                    string(path, "key", &mut selector.key, visit);
                });
            }
            if let Some(selector) = &mut from.secret_key_ref {
                path.field("secretKeyRef", |path| {
                    string(path, "name", &mut selector.name, visit);
                    string(path, "key", &mut selector.key, visit);
                });
            }
        });
    }
}

/// The fields of a volume.
pub(crate) fn volume(volume: &mut Volume, path: &mut Path, visit: &mut Visit<'_>) {
    string(path, "name", &mut volume.name, visit);
    if let Some(source) = &mut volume.persistent_volume_claim {
        path.field("persistentVolumeClaim", |path| {
            string(path, "claimName", &mut source.claim_name, visit)
        });
    }
    if let Some(source) = &mut volume.config_map {
        path.field("configMap", |path| {
            string(path, "name", &mut source.name, visit)
        });
    }
    if let Some(source) = &mut volume.secret {
        path.field("secret", |path| {
            optional(path, "secretName", &mut source.secret_name, visit)
        });
    }
    if let Some(source) = &mut volume.host_path {
        path.field("hostPath", |path| {
            string(path, "path", &mut source.path, visit)
        });
    }
}

/// Every field of a list of items, under `name[i]`.
pub(crate) fn each<T>(
    items: &mut [T],
    name: &'static str,
    path: &mut Path,
    visit: &mut Visit<'_>,
    fields: fn(&mut T, &mut Path, &mut Visit<'_>),
) {
    path.field(name, |path| {
        for (i, item) in items.iter_mut().enumerate() {
            path.index(i, |path| fields(item, path, visit));
        }
    });
}
