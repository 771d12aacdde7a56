//! The bodies of the fuzz targets, one function per target: `cargo fuzz` calls them from
//! `fuzz_targets/`, and `cargo xtask fuzz` (stable Rust, no libFuzzer) includes this file and
//! runs them over the seed corpus plus a fixed number of seeded mutations, so a crash found
//! there fails CI.
//!
//! Each function panics when its property fails; otherwise it returns.

use std::collections::BTreeMap;

/// At most this many `key=value` pairs are read by [`substitute`]; the rest of the input is
/// ignored.
pub const MAX_PAIRS: usize = 8;

/// `build_types::load_bytes` must never panic, whatever the bytes: bad YAML, bad UTF-8 and
/// invalid objects all come back as errors in the `Loaded` value.
pub fn load(data: &[u8]) {
    let _ = build_types::load_bytes("<fuzz>", data);
}

/// The `${NAME}` engine must never panic, and text without `$` must come back unchanged.
///
/// Input layout (UTF-8, other input is skipped): the template, then up to [`MAX_PAIRS`]
/// `NUL`-separated `key=value` pairs, split at the first `=` (a pair without `=` gets an empty
/// value).
pub fn substitute(data: &[u8]) {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = input.split('\0');
    let template = parts.next().unwrap_or_default();
    let values: BTreeMap<String, String> = parts
        .take(MAX_PAIRS)
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (key.to_owned(), value.to_owned())
        })
        .collect();

    let parsed = build_template::parse(template);
    let names = build_template::references(template);
    assert_eq!(
        names,
        parsed.references().collect::<Vec<_>>(),
        "references() disagrees with parse().references() for {template:?}"
    );
    let done = build_template::substitute(template, &values);

    // With no values, substitution is the verbatim rendering.
    let verbatim = build_template::substitute(template, &BTreeMap::new());
    assert_eq!(
        verbatim.text,
        parsed.render_verbatim(),
        "render_verbatim() disagrees with substitute(no values) for {template:?}"
    );

    if !template.contains('$') {
        assert!(
            parsed.is_plain(),
            "text without `$` is not plain: {template:?}"
        );
        assert!(
            names.is_empty(),
            "text without `$` has references: {template:?}"
        );
        assert_eq!(done.text, template, "text without `$` changed");
        assert!(
            done.warnings.is_empty(),
            "text without `$` gave warnings: {template:?}"
        );
        assert!(
            done.nested.is_empty(),
            "text without `$` gave nested references: {template:?}"
        );
    }
}
