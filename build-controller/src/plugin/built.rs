//! What `kubectl build describe` shows of the status extension: the commit each source was
//! fetched at, the image each container ran, the results the steps reported, and what was
//! dropped of them; the same in `-o yaml|json` as [`Built`].

use std::fmt::Write as _;

use build_types::{
    Build, ContainerImage, RESULTS_REPORTED, SourceKind, SourceStatus, StepImage, StepResult,
};
use serde::Serialize;

/// What a Build was built from and what it produced, as its status records them (the status
/// extension; empty for a Build that has not started or a controller that did not record it).
#[derive(Serialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Built {
    /// Each source as asked for and the commit its fetcher reported (`status.sources`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<SourceStatus>,
    /// Each step's image as written and the image ID that ran (`status.stepImages`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub step_images: Vec<StepImage>,
    /// The results the steps reported (`status.results`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<StepResult>,
    /// What was dropped of the results, and why (the `ResultsReported` condition's message).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results_dropped: Option<String>,
}

impl Built {
    /// What `build`'s status records.
    pub fn of(build: &Build) -> Built {
        let Some(status) = build.status.as_ref() else {
            return Built::default();
        };
        Built {
            sources: status.sources.clone(),
            step_images: status.step_images.clone(),
            results: status.results.clone(),
            results_dropped: status
                .condition(RESULTS_REPORTED)
                .and_then(|c| c.message.clone()),
        }
    }

    /// Whether the status recorded nothing of it.
    pub fn is_empty(&self) -> bool {
        *self == Built::default()
    }

    /// Appends the sections `Built from`, `Images run` and `Results` (and `Results dropped`),
    /// each only when there is something for it.
    pub(crate) fn write(&self, text: &mut String) {
        if !self.sources.is_empty() {
            let _ = writeln!(text, "Built from:");
            for source in &self.sources {
                let kind = match source.kind {
                    SourceKind::Git => "git",
                    SourceKind::Gcs => "gcs",
                    SourceKind::Custom => "custom",
                };
                let url = source.url.as_deref().unwrap_or("-");
                let revision = source.revision.as_deref().unwrap_or("-");
                let commit = source.commit.as_deref().unwrap_or("not reported");
                let _ = writeln!(
                    text,
                    "  {}: {kind} {url} @ {revision}: commit {commit}",
                    source.step
                );
            }
        }
        let images: Vec<(&String, &ContainerImage)> = self
            .sources
            .iter()
            .map(|s| (&s.step, &s.image))
            .chain(self.step_images.iter().map(|s| (&s.step, &s.image)))
            .collect();
        if !images.is_empty() {
            let _ = writeln!(text, "Images run:");
            for (step, image) in images {
                let written = image.image.as_deref().unwrap_or("-");
                let ran = image.image_id.as_deref().unwrap_or("not started");
                let _ = writeln!(text, "  {step}: {written} ({ran})");
            }
        }
        if !self.results.is_empty() {
            let _ = writeln!(text, "Results:");
            for result in &self.results {
                let _ = writeln!(text, "  {}: {}={}", result.step, result.name, result.value);
            }
        }
        if let Some(message) = &self.results_dropped {
            let _ = writeln!(text, "{:<17} {message}", "Results dropped:");
        }
    }
}
