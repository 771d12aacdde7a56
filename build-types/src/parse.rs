//! Parsing YAML into [`Loaded`] objects: the loader's functions, behind the `yaml` feature
//! (on by default) so that users of the types alone do not build a YAML parser.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_yaml_ng::Value;

use k8s_openapi::api::core::v1::Secret;

use crate::diagnostics::Origin;
use crate::error::Error;
use crate::load::{LoadWarning, Loaded, LoadedObject, Object};

/// The `apiVersion` of Build, BuildTemplate and ClusterBuildTemplate.
const KNATIVE_API_VERSION: &str = "build.knative.dev/v1alpha1";

/// Loads a YAML file, or every `.yaml` and `.yml` file under a directory (recursively, sorted
/// by path; symbolic links to directories are not followed).
///
/// A file named directly is loaded whatever its extension. Files that cannot be read become
/// [`Error::Io`] in [`Loaded::errors`]; the other files still load.
///
/// ```no_run
/// let loaded = build_types::load_path("examples/seed");
/// for error in &loaded.errors {
///     eprintln!("{error}");
/// }
/// for object in &loaded.objects {
///     println!("{}: {} {}", object.origin, object.object.kind(), object.object.name());
/// }
/// ```
pub fn load_path(path: impl AsRef<Path>) -> Loaded {
    let path = path.as_ref();
    let mut loaded = Loaded::default();
    let mut files = Vec::new();
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => collect_yaml_files(path, &mut files, &mut loaded.errors),
        Ok(_) => files.push(path.to_path_buf()),
        Err(source) => loaded.errors.push(Error::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
    files.sort();
    for file in files {
        match std::fs::read(&file) {
            Ok(bytes) => loaded.append(load_bytes(&file.display().to_string(), &bytes)),
            Err(source) => loaded.errors.push(Error::Io { path: file, source }),
        }
    }
    loaded
}

fn collect_yaml_files(dir: &Path, files: &mut Vec<PathBuf>, errors: &mut Vec<Error>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(source) => {
            errors.push(Error::Io {
                path: dir.to_path_buf(),
                source,
            });
            return;
        }
    };
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(source) => {
                errors.push(Error::Io {
                    path: dir.to_path_buf(),
                    source,
                });
                continue;
            }
        };
        let path = entry.path();
        let is_dir = match entry.file_type() {
            Ok(file_type) => file_type.is_dir(),
            Err(source) => {
                errors.push(Error::Io { path, source });
                continue;
            }
        };
        if is_dir {
            collect_yaml_files(&path, files, errors);
        } else if path
            .extension()
            .is_some_and(|ext| ext == "yaml" || ext == "yml")
        {
            files.push(path);
        }
    }
}

/// Loads YAML bytes, such as standard input, under a display name used in origins and errors.
/// Input that is not UTF-8 gives one [`Error::NotUtf8`] and no objects. Never panics.
pub fn load_bytes(name: &str, bytes: &[u8]) -> Loaded {
    match std::str::from_utf8(bytes) {
        Ok(text) => load_str(name, text),
        Err(error) => {
            // The prefix up to the error is valid UTF-8 by definition.
            let valid = String::from_utf8_lossy(&bytes[..error.valid_up_to()]);
            let line = valid.matches('\n').count() + 1;
            let column = valid
                .rsplit('\n')
                .next()
                .unwrap_or_default()
                .chars()
                .count()
                + 1;
            Loaded {
                errors: vec![Error::NotUtf8 {
                    file: name.to_owned(),
                    line,
                    column,
                }],
                ..Loaded::default()
            }
        }
    }
}

/// Loads a YAML string under a display name used in origins and errors (a file name, or
/// `<stdin>`). Never panics.
///
/// ```
/// let loaded = build_types::load_str("inline.yaml", "\
/// apiVersion: build.knative.dev/v1alpha1
/// kind: Build
/// metadata:
///   name: hello
/// spec:
///   serviceAcountName: typo
///   steps:
///   - image: busybox
/// ---
/// ");
/// assert!(loaded.is_ok());
/// assert_eq!(loaded.objects[0].origin.to_string(), "inline.yaml:1");
/// assert_eq!(
///     loaded.warnings[0].to_string(),
///     "inline.yaml:1: document 1: unknown field spec.serviceAcountName, ignored"
/// );
/// ```
pub fn load_str(name: &str, text: &str) -> Loaded {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut loaded = Loaded::default();
    for (index, document) in split_documents(text).into_iter().enumerate() {
        let origin = Origin {
            file: name.to_owned(),
            document: index + 1,
            line: document.content_line.unwrap_or(document.first_line),
        };
        load_document(&document, origin, &mut loaded);
    }
    loaded
}

fn load_document(document: &Document<'_>, origin: Origin, loaded: &mut Loaded) {
    let line_offset = document.first_line - 1;
    let value: Value = match serde_yaml_ng::from_str(document.text) {
        Ok(value) => value,
        Err(error) => {
            loaded.errors.push(parse_error(origin, line_offset, &error));
            return;
        }
    };
    let mapping = match &value {
        Value::Null => return,
        Value::Mapping(mapping) => mapping,
        other => {
            loaded.errors.push(Error::NotAnObject {
                origin,
                found: describe(other),
            });
            return;
        }
    };
    let type_meta = |field: &'static str| {
        mapping
            .get(field)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or(field)
    };
    let (api_version, kind) = match (type_meta("apiVersion"), type_meta("kind")) {
        (Ok(api_version), Ok(kind)) => (api_version, kind),
        (api_version, kind) => {
            for field in [api_version.err(), kind.err()].into_iter().flatten() {
                loaded.errors.push(Error::MissingTypeMeta {
                    origin: origin.clone(),
                    field,
                });
            }
            return;
        }
    };

    let typed = Typed {
        text: document.text,
        origin: &origin,
        line_offset,
        loaded,
    };
    let object = match (api_version, kind) {
        (KNATIVE_API_VERSION, "Build") => typed.load().map(Object::Build),
        (KNATIVE_API_VERSION, "BuildTemplate") => typed.load().map(Object::BuildTemplate),
        (KNATIVE_API_VERSION, "ClusterBuildTemplate") => {
            typed.load().map(Object::ClusterBuildTemplate)
        }
        ("v1", "ServiceAccount") => typed.load().map(Object::ServiceAccount),
        ("v1", "Secret") => typed.load_secret().map(Object::Secret),
        _ => {
            loaded.errors.push(Error::UnsupportedKind {
                origin,
                api_version: api_version.to_owned(),
                kind: kind.to_owned(),
            });
            return;
        }
    };
    if let Some(object) = object {
        loaded.objects.push(LoadedObject { origin, object });
    }
}

/// What a typed deserialization of one document needs.
struct Typed<'a> {
    text: &'a str,
    origin: &'a Origin,
    line_offset: usize,
    loaded: &'a mut Loaded,
}

impl Typed<'_> {
    /// Deserializes the document as `T`, recording unknown fields as warnings and failures as
    /// errors.
    fn load<T: DeserializeOwned>(self) -> Option<T> {
        let mut unknown = Vec::new();
        let deserializer = serde_yaml_ng::Deserializer::from_str(self.text);
        let result: Result<T, _> = serde_ignored::deserialize(deserializer, |path| {
            let path = field_path(&path);
            // The derived custom resources ignore `apiVersion` and `kind`, which were checked
            // before choosing the type.
            if path != "apiVersion" && path != "kind" {
                unknown.push(path);
            }
        });
        self.loaded
            .warnings
            .extend(unknown.into_iter().map(|path| LoadWarning::UnknownField {
                origin: self.origin.clone(),
                path,
            }));
        match result {
            Ok(object) => Some(object),
            Err(error) => {
                self.loaded
                    .errors
                    .push(parse_error(self.origin.clone(), self.line_offset, &error));
                None
            }
        }
    }

    /// Like [`Typed::load`] for a Secret, except that an error inside `data` or `stringData`
    /// keeps only its field path: a parser message may quote the value.
    fn load_secret(self) -> Option<Secret> {
        let Typed {
            text,
            origin,
            line_offset,
            loaded,
        } = self;
        let errors_before = loaded.errors.len();
        let secret = Typed {
            text,
            origin,
            line_offset,
            loaded: &mut *loaded,
        }
        .load();
        for error in &mut loaded.errors[errors_before..] {
            if let Error::Parse { message, .. } = error {
                redact_secret_value(message);
            }
        }
        secret
    }
}

/// Replaces a message about a value under `data` or `stringData` (`data.password: invalid
/// type: ...`) with one that names only the field.
fn redact_secret_value(message: &mut String) {
    let Some((path, _)) = message.split_once(": ") else {
        return;
    };
    let field = path.split(['.', '[']).next().unwrap_or_default();
    if (field == "data" || field == "stringData") && path.len() > field.len() {
        *message = format!("{path}: invalid value (not shown, it may be secret)");
    }
}

/// A `serde_ignored` path in the same notation as validation paths: `spec.steps[0].imag`.
fn field_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path as P;
    match path {
        P::Root => String::new(),
        P::Seq { parent, index } => format!("{}[{index}]", field_path(parent)),
        P::Map { parent, key } => {
            let parent = field_path(parent);
            if parent.is_empty() {
                key.clone()
            } else {
                format!("{parent}.{key}")
            }
        }
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
            field_path(parent)
        }
    }
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a sequence",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// Turns a parser error on one document into an [`Error::Parse`] with the position in the
/// whole file: the document's text starts `line_offset` lines into the file.
fn parse_error(origin: Origin, line_offset: usize, error: &serde_yaml_ng::Error) -> Error {
    let mut message = error.to_string();
    let (line, column) = match error.location() {
        Some(location) => {
            // The message ends its first clause with the same position; drop it, since the
            // error carries it, and shift any other position (a context such as "while parsing
            // a block mapping at line 1 column 1") to file lines.
            for own in [
                format!(" at line {} column {}", location.line(), location.column()),
                format!(" at position {}", location.index()),
            ] {
                if let Some(at) = message.find(&own) {
                    message.replace_range(at..at + own.len(), "");
                    break;
                }
            }
            (location.line() + line_offset, location.column())
        }
        None => (origin.line, 1),
    };
    Error::Parse {
        line,
        column,
        message: shift_lines(&message, line_offset),
        origin,
    }
}

/// Adds `offset` to every `at line N column M` in a parser message.
fn shift_lines(message: &str, offset: usize) -> String {
    const MARK: &str = " at line ";
    if offset == 0 {
        return message.to_owned();
    }
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find(MARK) {
        let (before, after) = rest.split_at(at + MARK.len());
        out.push_str(before);
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        match after[..digits].parse::<usize>() {
            Ok(line) if after[digits..].starts_with(" column ") => {
                out.push_str(&line.saturating_add(offset).to_string());
                rest = &after[digits..];
            }
            _ => rest = after,
        }
    }
    out.push_str(rest);
    out
}

/// One document's text, cut out of the whole input.
struct Document<'a> {
    /// The text, from its `---` line (if any) to its end, line breaks included.
    text: &'a str,
    /// The line of the input `text` starts on, 1-based.
    first_line: usize,
    /// The first line with content (not blank, a comment, a directive or a bare `---`).
    content_line: Option<usize>,
}

/// Whether `line` is the marker `---` or `...`: the three characters, then a space, a tab or
/// the end of the line.
fn is_marker(line: &str, marker: &str) -> bool {
    line.strip_prefix(marker)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
}

/// Whether what follows a marker or starts a line is something other than blanks and a comment.
fn has_content(text: &str) -> bool {
    let text = text.trim_start_matches([' ', '\t']);
    !text.is_empty() && !text.starts_with('#')
}

/// Splits a YAML stream into its documents. A document starts at a `---` line and ends before
/// the next one, or after a `...` line. Leading blank lines, comments and directives belong to
/// the document that follows them. YAML forbids both markers at the start of a line inside any
/// scalar, so they are never cut out of one. Line breaks are `\n`, `\r\n` and `\r`, as the
/// parser counts them.
fn split_documents(text: &str) -> Vec<Document<'_>> {
    struct Current {
        start: usize,
        first_line: usize,
        has_marker: bool,
        content_line: Option<usize>,
    }
    impl Current {
        fn new(start: usize, first_line: usize) -> Self {
            Current {
                start,
                first_line,
                has_marker: false,
                content_line: None,
            }
        }
        fn is_document(&self) -> bool {
            self.has_marker || self.content_line.is_some()
        }
    }

    let mut documents = Vec::new();
    let mut current = Current::new(0, 1);
    let mut finish = |current: &Current, end: usize| {
        if current.is_document() {
            documents.push(Document {
                text: &text[current.start..end],
                first_line: current.first_line,
                content_line: current.content_line,
            });
        }
    };
    for (number, (start, line, end)) in lines(text).enumerate() {
        let number = number + 1;
        if is_marker(line, "---") {
            if current.is_document() {
                finish(&current, start);
                current = Current::new(start, number);
            }
            current.has_marker = true;
            if has_content(&line[3..]) {
                current.content_line.get_or_insert(number);
            }
        } else if is_marker(line, "...") {
            finish(&current, end);
            current = Current::new(end, number + 1);
        } else {
            // A `%` line before a document's content is a directive, not content.
            let is_directive = line.starts_with('%') && !current.is_document();
            if has_content(line) && !is_directive {
                current.content_line.get_or_insert(number);
            }
        }
    }
    finish(&current, text.len());
    documents
}

/// The lines of `text`: each line's start, its text without the line break, and the end of its
/// line break.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str, usize)> {
    let bytes = text.as_bytes();
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= bytes.len() {
            return None;
        }
        let line_start = start;
        let (line_end, next) = match bytes[start..]
            .iter()
            .position(|&b| b == b'\n' || b == b'\r')
        {
            Some(offset) => {
                let at = start + offset;
                let next = if bytes[at] == b'\r' && bytes.get(at + 1) == Some(&b'\n') {
                    at + 2
                } else {
                    at + 1
                };
                (at, next)
            }
            None => (bytes.len(), bytes.len()),
        };
        start = next;
        Some((line_start, &text[line_start..line_end], next))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> Vec<(&str, usize, Option<usize>)> {
        split_documents(text)
            .into_iter()
            .map(|d| (d.text, d.first_line, d.content_line))
            .collect()
    }

    #[test]
    fn one_document_without_markers() {
        assert_eq!(split("a: 1\nb: 2\n"), [("a: 1\nb: 2\n", 1, Some(1))]);
    }

    #[test]
    fn leading_marker_and_comments_belong_to_the_first_document() {
        assert_eq!(
            split("# hi\n\n---\na: 1\n---\nb: 2\n"),
            [
                ("# hi\n\n---\na: 1\n", 1, Some(4)),
                ("---\nb: 2\n", 5, Some(6))
            ]
        );
    }

    #[test]
    fn trailing_marker_gives_an_empty_document() {
        assert_eq!(
            split("a: 1\n---\n"),
            [("a: 1\n", 1, Some(1)), ("---\n", 2, None)]
        );
    }

    #[test]
    fn marker_with_content_on_its_line() {
        assert_eq!(
            split("--- {a: 1}\n--- # c\nb: 2"),
            [("--- {a: 1}\n", 1, Some(1)), ("--- # c\nb: 2", 2, Some(3))]
        );
    }

    #[test]
    fn document_end_marker_and_directives() {
        assert_eq!(
            split("a: 1\n...\n%YAML 1.2\n---\nb: 2\r\n...\r\n"),
            [
                ("a: 1\n...\n", 1, Some(1)),
                ("%YAML 1.2\n---\nb: 2\r\n...\r\n", 3, Some(5))
            ]
        );
    }

    #[test]
    fn not_markers() {
        assert_eq!(
            split("a: ---\n----\n b: --- x\n"),
            [("a: ---\n----\n b: --- x\n", 1, Some(1))]
        );
    }

    #[test]
    fn carriage_returns_break_lines() {
        assert_eq!(
            split("a: 1\r---\rb: 2"),
            [("a: 1\r", 1, Some(1)), ("---\rb: 2", 2, Some(3))]
        );
    }

    #[test]
    fn shift_lines_moves_every_position() {
        assert_eq!(
            shift_lines(
                "x, while parsing a block mapping at line 1 column 1 and at line 2 column 3",
                10
            ),
            "x, while parsing a block mapping at line 11 column 1 and at line 12 column 3"
        );
        assert_eq!(
            shift_lines("at line x column 1 at line 9", 1),
            "at line x column 1 at line 9"
        );
    }
}
