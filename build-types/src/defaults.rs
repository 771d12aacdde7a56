//! Defaulting, as an explicit step: what the original webhook filled in before a Build was stored.

use crate::duration::Duration;

use crate::types::{BuildSpec, TemplateKind};

/// The ServiceAccount a Build runs as when it names none.
pub const DEFAULT_SERVICE_ACCOUNT: &str = "default";

/// How long a Build may run when it sets no `timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_mins(10);

/// The longest `timeout` a Build may set.
pub const MAX_TIMEOUT: Duration = Duration::from_hours(24);

impl BuildSpec {
    /// Fills in the defaults: `serviceAccountName: default`, `timeout: 10m`, and
    /// `template.kind: BuildTemplate`. Fields already set are kept. Idempotent.
    ///
    /// ```
    /// use build_types::{BuildSpec, TemplateKind};
    /// let mut spec = BuildSpec::default();
    /// spec.set_defaults();
    /// assert_eq!(spec.service_account_name.as_deref(), Some("default"));
    /// assert_eq!(spec.timeout.unwrap().to_string(), "10m0s");
    /// ```
    pub fn set_defaults(&mut self) {
        if self
            .service_account_name
            .as_deref()
            .is_none_or(str::is_empty)
        {
            self.service_account_name = Some(DEFAULT_SERVICE_ACCOUNT.to_owned());
        }
        if self.timeout.is_none() {
            self.timeout = Some(DEFAULT_TIMEOUT);
        }
        if let Some(template) = &mut self.template {
            template.kind.get_or_insert(TemplateKind::BuildTemplate);
        }
    }

    /// The ServiceAccount name, defaulted.
    pub fn service_account(&self) -> &str {
        self.service_account_name
            .as_deref()
            .filter(|s| !s.is_empty())
            .unwrap_or(DEFAULT_SERVICE_ACCOUNT)
    }

    /// The timeout, defaulted.
    pub fn timeout_or_default(&self) -> Duration {
        self.timeout.unwrap_or(DEFAULT_TIMEOUT)
    }

    /// Whether the user asked for this build to be cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_some()
    }

    /// The sources in order: `source` if set, otherwise `sources`.
    pub fn all_sources(&self) -> Vec<&crate::types::SourceSpec> {
        match &self.source {
            Some(source) => std::iter::once(source).chain(&self.sources).collect(),
            None => self.sources.iter().collect(),
        }
    }
}
