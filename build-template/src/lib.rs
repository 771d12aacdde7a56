//! Applies a Knative Build template to a Build: the Build and the BuildTemplate (or
//! ClusterBuildTemplate) it names go in, the fully resolved steps and volumes come out, with
//! every problem reported.
//!
//! This crate is pure: no I/O, no async, no cluster. It does not find the template a Build
//! names ([`resolve`] is given it), does not validate the rest of the Build (`build-types`), and
//! does not lay the steps out as a Pod (`build-pod`).
//!
//! # Entry points
//!
//! - [`resolve`]: a Build's steps and volumes, with the template applied, as a [`Resolved`] or
//!   a [`Report`](build_types::Report) listing every [`Error`] as a problem.
//! - [`lint_template`]: warnings about a template on its own (unknown references, unused
//!   parameters), for the `validate` CLI.
//! - The string engine, usable on its own: [`parse`] (into [`Segment`]s), [`references`],
//!   [`substitute`], [`is_parameter_name`].
//!
//! # The language
//!
//! - A reference is `${NAME}`, where a parameter name matches `[A-Za-z_][A-Za-z0-9_.-]*`.
//! - `$${NAME}` is an escape and yields the literal text `${NAME}`. Any other `$` is plain text
//!   (`$HOME`, `$$`, `$1`).
//! - Substitution is a single pass over the input: a substituted value is never scanned again,
//!   so a value containing `${OTHER}` stays literal, and the result never depends on the order
//!   of any map.
//! - A reference to a name that is not a declared parameter is left as written (shell scripts
//!   in `args` use `${HOME}` and friends) and reported as a warning.
//! - A `${` that no `}` follows is left as written, with a warning (`hello ${FOO`).
//! - A `${` not followed by a name and `}`, such as the shell's `${FOO:-default}` or `${1}`, is
//!   left as written, with a warning; the text after it is read as usual, so `${BAR}` in
//!   `${FOO:-${BAR}}` is substituted.
//! - A reference nested directly in a name, such as `${A${B}}`, is an error.
//!
//! # Applying a template
//!
//! - The template's steps replace the Build's steps; the volumes are the Build's followed by the
//!   template's.
//! - Each parameter's value is the Build's argument (`spec.template.arguments`) if it gives one,
//!   else the parameter's `default` (an empty `default: ""` counts as a default).
//! - Errors, all collected: an argument given twice; a required parameter (no default) without
//!   an argument, with its description; an argument that matches no parameter, listing the
//!   parameters that exist; a nested reference.
//! - The Build's `template.env` is substituted, then merged into every step: a step variable of
//!   the same name is replaced where it stands, the others are appended in order.
//! - A Build without a template gets no substitution at all: `${X}` in its own steps stays as
//!   written.
//! - A BuildTemplate and a ClusterBuildTemplate behave the same: both supply a
//!   [`BuildTemplateSpec`](build_types::BuildTemplateSpec).
//! - Warnings and errors say where: a field path relative to the template's spec
//!   (`steps[0].args[2]: unknown parameter ${FOO} left as written`) or, behind `build.`, to the
//!   Build's spec (`build.template.arguments[1]: argument IMAGEE matches no parameter …`).
//!
//! # Substituted fields
//!
//! | Where | Field |
//! |---|---|
//! | template `steps[i]` | `name` |
//! | | `image` |
//! | | `args[j]` |
//! | | `command[j]` |
//! | | `workingDir` |
//! | | `env[j].value` |
//! | | `env[j].valueFrom.configMapKeyRef.name`, `.key` |
//! | | `env[j].valueFrom.secretKeyRef.name`, `.key` |
//! | | `envFrom[j].configMapRef.name` |
//! | | `envFrom[j].secretRef.name` |
//! | | `volumeMounts[j].name`, `.mountPath`, `.subPath` |
//! | Build `template.env[j]` | `value` |
//! | | `valueFrom.configMapKeyRef.name`, `.key` |
//! | | `valueFrom.secretKeyRef.name`, `.key` |
//! | Build `volumes[i]`, then template `volumes[i]` | `name` |
//! | | `persistentVolumeClaim.claimName` |
//! | | `configMap.name` |
//! | | `secret.secretName` |
//! | | `hostPath.path` |
//!
//! Every other field is copied unchanged. The Build's own volumes are substituted only when it
//! names a template, as in Knative Build.
//!
//! # Differences from Knative Build v0.7
//!
//! Deliberate changes from the original `ApplyTemplate`:
//!
//! - **An argument that matches no parameter is an error.** The original ignored it, so a typo
//!   (`IMAGEE`) silently fell back to the parameter's default, or left `${IMAGE}` in the step.
//! - **A required parameter without an argument is an error**, and so is an argument given
//!   twice; the original left `${NAME}` in the step, or let the last argument win.
//! - **Substitution is a single pass.** The original replaced one parameter at a time, in Go's
//!   random map order, so a value containing `${OTHER}` was sometimes expanded and sometimes
//!   not.
//! - **`$${NAME}` escapes**, and unknown, unterminated or malformed references are reported as
//!   warnings; the original had no escape and said nothing.
//! - **More fields are substituted**: the names and keys in `env[].valueFrom`, `envFrom`
//!   references and `hostPath.path` are new, and the Build's `template.env` gets the same fields
//!   as a step's `env`.
//! - **`template.env` replaces a step variable where it stands** instead of removing it and
//!   appending the Build's at the end, so the order of the step's variables is kept.
//!
//! # Example
//!
//! ```
//! use std::collections::BTreeMap;
//!
//! let values = BTreeMap::from([("FOO".to_owned(), "world".to_owned())]);
//! let done = build_template::substitute("$BAR ${FOO} $${FOO} ${HOME}", &values);
//! assert_eq!(done.text, "$BAR world ${FOO} ${HOME}");
//! assert_eq!(done.warnings.len(), 1);
//! ```

mod error;
mod fields;
mod lint;
mod resolve;
mod syntax;
mod warning;

pub use error::Error;
pub use lint::lint_template;
pub use resolve::{Resolved, resolve};
pub use syntax::{Parsed, Segment, Substitution, is_parameter_name, parse, references, substitute};
pub use warning::WarningKind;
