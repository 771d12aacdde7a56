//! The `${NAME}` string language: parsing, listing references and single-pass substitution.

use std::collections::BTreeMap;

use crate::warning::WarningKind;

/// One piece of a parsed string, in input order.
///
/// Concatenating what every segment yields (see [`Parsed::render_verbatim`]) gives the string
/// back with escapes applied; nothing is lost or reordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Segment<'a> {
    /// Text copied as is, including any `$` that does not start `${` or `$${NAME}`.
    Text(&'a str),
    /// A reference `${NAME}`; holds `NAME`.
    Reference(&'a str),
    /// An escape `$${NAME}`; holds `NAME`. It yields the literal text `${NAME}`.
    Escape(&'a str),
    /// A `${` that no `}` follows anywhere, with the name characters after it (`${FOO`).
    /// Copied as written and reported as a warning.
    Unterminated(&'a str),
    /// A `${` that is not followed by a parameter name and `}`, such as the shell's
    /// `${FOO:-default}` (holds `${FOO`) or `${1}` (holds `${1}`). Copied as written and
    /// reported as a warning; whatever follows is parsed as usual.
    Malformed(&'a str),
    /// A reference nested inside another, such as `${A${B}}`; holds the text from the outer
    /// `${` to its matching `}` (or the end of the input). An error when substituting.
    Nested(&'a str),
}

/// A string split into [`Segment`]s by [`parse`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parsed<'a> {
    segments: Vec<Segment<'a>>,
}

/// What one string became after [`substitute`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Substitution {
    /// The substituted text.
    pub text: String,
    /// References left as written: unknown names, unterminated or malformed `${`, in input order.
    pub warnings: Vec<WarningKind>,
    /// Nested references (`${A${B}}`), copied as written; each is an error when a template is
    /// applied.
    pub nested: Vec<String>,
}

/// What a name stands for while substituting.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Value<'v> {
    /// A declared parameter with a value.
    Known(&'v str),
    /// A declared parameter without a value (its missing argument is reported elsewhere): the
    /// reference stays as written, without a warning.
    Declared,
    /// Not a parameter: the reference stays as written, with a warning.
    Unknown,
}

/// A problem found while rendering one string.
#[derive(Clone, Debug)]
pub(crate) enum Finding {
    /// Left as written, worth a warning.
    Warning(WarningKind),
    /// A nested reference: an error.
    Nested(String),
}

/// Whether `name` is a valid parameter name: `[A-Za-z_][A-Za-z0-9_.-]*`.
///
/// ```
/// assert!(build_template::is_parameter_name("IMAGE"));
/// assert!(build_template::is_parameter_name("_a.b-1"));
/// assert!(!build_template::is_parameter_name("1A"));
/// assert!(!build_template::is_parameter_name(""));
/// ```
pub fn is_parameter_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(is_name_byte)
}

const fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

/// Splits `input` into text, references, escapes and problems. Never fails and never panics;
/// runs in time linear in the input's length.
///
/// ```
/// use build_template::{parse, Segment};
///
/// let parsed = parse("build -t ${IMAGE} $${HOME}");
/// assert_eq!(
///     parsed.segments(),
///     [
///         Segment::Text("build -t "),
///         Segment::Reference("IMAGE"),
///         Segment::Text(" "),
///         Segment::Escape("HOME"),
///     ]
/// );
/// ```
pub fn parse(input: &str) -> Parsed<'_> {
    let bytes = input.as_bytes();
    // A `${` after the last `}` can never be closed.
    let last_close = input.rfind('}');
    let mut segments = Vec::new();
    let mut text_start = 0;
    let mut at = 0;
    while let Some(offset) = input[at..].find('$') {
        let dollar = at + offset;
        let (segment, end) = match (bytes.get(dollar + 1), bytes.get(dollar + 2)) {
            (Some(b'$'), Some(b'{')) => match reference_at(input, dollar + 1) {
                Some((name, end)) => (Segment::Escape(name), end),
                None => {
                    // `$` then something that is not `${NAME}`: the first `$` is text, the
                    // `${` is looked at on its own.
                    at = dollar + 1;
                    continue;
                }
            },
            (Some(b'{'), _) => classify(input, dollar, last_close),
            _ => {
                at = dollar + 1;
                continue;
            }
        };
        if text_start < dollar {
            segments.push(Segment::Text(&input[text_start..dollar]));
        }
        segments.push(segment);
        at = end;
        text_start = end;
    }
    if text_start < input.len() {
        segments.push(Segment::Text(&input[text_start..]));
    }
    Parsed { segments }
}

/// The name characters starting at `start`.
fn name_run(input: &str, start: usize) -> usize {
    start
        + input.as_bytes()[start..]
            .iter()
            .take_while(|b| is_name_byte(**b))
            .count()
}

/// A well-formed `${NAME}` starting at `at`: its name and the index after its `}`.
fn reference_at(input: &str, at: usize) -> Option<(&str, usize)> {
    let start = at + 2;
    let end = name_run(input, start);
    let name = &input[start..end];
    (input.as_bytes().get(end) == Some(&b'}') && is_parameter_name(name)).then_some((name, end + 1))
}

/// Classifies the `${` at `dollar`: the segment and the index just after it.
fn classify(input: &str, dollar: usize, last_close: Option<usize>) -> (Segment<'_>, usize) {
    let bytes = input.as_bytes();
    let start = dollar + 2;
    let end = name_run(input, start);
    match (bytes.get(end), bytes.get(end + 1)) {
        (Some(b'}'), _) if is_parameter_name(&input[start..end]) => {
            (Segment::Reference(&input[start..end]), end + 1)
        }
        (Some(b'}'), _) => (Segment::Malformed(&input[dollar..=end]), end + 1),
        (Some(b'$'), Some(b'{')) => {
            let close = matching_close(input, dollar + 1);
            (Segment::Nested(&input[dollar..close]), close)
        }
        _ if last_close.is_none_or(|close| close < end) => {
            (Segment::Unterminated(&input[dollar..end]), end)
        }
        _ => (Segment::Malformed(&input[dollar..end]), end),
    }
}

/// The index after the `}` matching the `{` at `open`, or the input's length.
fn matching_close(input: &str, open: usize) -> usize {
    let mut depth = 0usize;
    for (i, b) in input.bytes().enumerate().skip(open) {
        match b {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
    }
    input.len()
}

impl<'a> Parsed<'a> {
    /// The segments, in input order.
    pub fn segments(&self) -> &[Segment<'a>] {
        &self.segments
    }

    /// The names of the `${NAME}` references, in input order, repeats included. Escapes are not
    /// references.
    pub fn references(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.segments.iter().filter_map(|segment| match segment {
            Segment::Reference(name) => Some(*name),
            _ => None,
        })
    }

    /// Whether the string has nothing to substitute, report or unescape.
    pub fn is_plain(&self) -> bool {
        self.segments
            .iter()
            .all(|segment| matches!(segment, Segment::Text(_)))
    }

    /// The string with escapes applied and every reference left as written: what
    /// [`substitute`] gives with no values.
    pub fn render_verbatim(&self) -> String {
        let mut out = String::new();
        self.render_into(&mut out, &mut |_| Value::Declared, &mut |_| {});
        out
    }

    /// Appends the rendered string to `out`, asking `lookup` for each reference and telling
    /// `report` of each problem.
    pub(crate) fn render_into<'v>(
        &self,
        out: &mut String,
        lookup: &mut dyn FnMut(&str) -> Value<'v>,
        report: &mut dyn FnMut(Finding),
    ) {
        for segment in &self.segments {
            match *segment {
                Segment::Text(text) => out.push_str(text),
                Segment::Reference(name) => match lookup(name) {
                    Value::Known(value) => out.push_str(value),
                    Value::Declared => push_reference(out, name),
                    Value::Unknown => {
                        push_reference(out, name);
                        report(Finding::Warning(WarningKind::UnknownParameter {
                            name: name.to_owned(),
                        }));
                    }
                },
                Segment::Escape(name) => push_reference(out, name),
                Segment::Unterminated(text) => {
                    out.push_str(text);
                    report(Finding::Warning(WarningKind::UnterminatedReference {
                        text: text.to_owned(),
                    }));
                }
                Segment::Malformed(text) => {
                    out.push_str(text);
                    report(Finding::Warning(WarningKind::MalformedReference {
                        text: text.to_owned(),
                    }));
                }
                Segment::Nested(text) => {
                    out.push_str(text);
                    report(Finding::Nested(text.to_owned()));
                }
            }
        }
    }
}

fn push_reference(out: &mut String, name: &str) {
    out.push_str("${");
    out.push_str(name);
    out.push('}');
}

/// The names `input` refers to as `${NAME}`, in order, repeats included.
///
/// ```
/// assert_eq!(build_template::references("${A}-$${B}-${A}-${C"), ["A", "A"]);
/// ```
pub fn references(input: &str) -> Vec<&str> {
    parse(input).references().collect()
}

/// Replaces every `${NAME}` whose `NAME` is in `values`, in a single pass: a substituted value is
/// never scanned again. `$${NAME}` yields `${NAME}`; references to other names, unterminated and
/// malformed `${` are left as written and listed in [`Substitution::warnings`].
///
/// ```
/// use std::collections::BTreeMap;
///
/// let values = BTreeMap::from([
///     ("FOO".to_owned(), "${BAR}".to_owned()),
///     ("BAR".to_owned(), "bar".to_owned()),
/// ]);
/// let done = build_template::substitute("$BAR ${FOO} $${FOO} ${HOME}", &values);
/// assert_eq!(done.text, "$BAR ${BAR} ${FOO} ${HOME}");
/// assert_eq!(done.warnings[0].to_string(), "unknown parameter ${HOME} left as written");
/// ```
pub fn substitute(input: &str, values: &BTreeMap<String, String>) -> Substitution {
    let mut done = Substitution {
        text: String::with_capacity(input.len()),
        ..Substitution::default()
    };
    parse(input).render_into(
        &mut done.text,
        &mut |name| values.get(name).map_or(Value::Unknown, |v| Value::Known(v)),
        &mut |finding| match finding {
            Finding::Warning(kind) => done.warnings.push(kind),
            Finding::Nested(text) => done.nested.push(text),
        },
    );
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &[Segment<'_>]) {
        assert_eq!(parse(input).segments(), expected, "parsing {input:?}");
    }

    #[test]
    fn segments() {
        use Segment::*;
        check("", &[]);
        check("plain", &[Text("plain")]);
        check("$", &[Text("$")]);
        check("$$", &[Text("$$")]);
        check("${A}", &[Reference("A")]);
        check("a${A}b", &[Text("a"), Reference("A"), Text("b")]);
        check("$${A}", &[Escape("A")]);
        check("$$${A}", &[Text("$"), Escape("A")]);
        check("$${1}", &[Text("$"), Malformed("${1}")]);
        check("${", &[Unterminated("${")]);
        check("x ${FOO", &[Text("x "), Unterminated("${FOO")]);
        check("${FOO bar", &[Unterminated("${FOO"), Text(" bar")]);
        check("${}", &[Malformed("${}")]);
        check("${-a}", &[Malformed("${-a}")]);
        check("${FOO:-x}", &[Malformed("${FOO"), Text(":-x}")]);
        check(
            "${FOO:-${BAR}}",
            &[Malformed("${FOO"), Text(":-"), Reference("BAR"), Text("}")],
        );
        check("${A${B}}", &[Nested("${A${B}}")]);
        check("${A${B}} x", &[Nested("${A${B}}"), Text(" x")]);
        check("${${B}}", &[Nested("${${B}}")]);
        check("${A${B", &[Nested("${A${B")]);
        check("$${A${B}}", &[Text("$"), Nested("${A${B}}")]);
        check(
            "é${É}${a.b-c_1}",
            &[Text("é"), Malformed("${"), Text("É}"), Reference("a.b-c_1")],
        );
    }

    #[test]
    fn render_verbatim_applies_only_escapes() {
        assert_eq!(parse("${A} $${B} ${C").render_verbatim(), "${A} ${B} ${C");
    }
}
