//! What `kubectl build describe` shows of the status extension: the commit each source was
//! fetched at, the image each container ran, the results the steps reported, and what was
//! dropped of them.

use std::fmt::Write as _;

use build_types::{Build, ContainerImage, RESULTS_REPORTED, SourceKind};

/// Appends the sections `Built from`, `Images run` and `Results` (and `Results dropped`), each
/// only when the status has something for it.
pub(crate) fn what_was_built(text: &mut String, build: &Build) {
    let Some(status) = build.status.as_ref() else {
        return;
    };
    if !status.sources.is_empty() {
        let _ = writeln!(text, "Built from:");
        for source in &status.sources {
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
    let images: Vec<(&String, &ContainerImage)> = status
        .sources
        .iter()
        .map(|s| (&s.step, &s.image))
        .chain(status.step_images.iter().map(|s| (&s.step, &s.image)))
        .collect();
    if !images.is_empty() {
        let _ = writeln!(text, "Images run:");
        for (step, image) in images {
            let written = image.image.as_deref().unwrap_or("-");
            let ran = image.image_id.as_deref().unwrap_or("not started");
            let _ = writeln!(text, "  {step}: {written} ({ran})");
        }
    }
    if !status.results.is_empty() {
        let _ = writeln!(text, "Results:");
        for result in &status.results {
            let _ = writeln!(text, "  {}: {}={}", result.step, result.name, result.value);
        }
    }
    if let Some(message) = status
        .condition(RESULTS_REPORTED)
        .and_then(|c| c.message.as_deref())
    {
        let _ = writeln!(text, "{:<17} {message}", "Results dropped:");
    }
}
