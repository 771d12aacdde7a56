//! Property tests for the string engine.

use std::collections::BTreeMap;

use build_template::{Segment, parse, substitute};
use proptest::prelude::*;

/// Strings made mostly of the characters the parser cares about.
fn dollar_heavy() -> impl Strategy<Value = String> {
    proptest::string::string_regex(r"[${}A-Za-z0-9_.\- é:]{0,64}").unwrap()
}

/// One piece of a generated input and what substitution with no values must make of it.
fn piece() -> impl Strategy<Value = (String, String)> {
    let name = || proptest::string::string_regex(r"[A-Za-z_][A-Za-z0-9_.\-]{0,8}").unwrap();
    prop_oneof![
        proptest::string::string_regex(r"[^$]{0,12}")
            .unwrap()
            .prop_map(|text| (text.clone(), text)),
        name().prop_map(|n| (format!("${{{n}}}"), format!("${{{n}}}"))),
        name().prop_map(|n| (format!("$${{{n}}}"), format!("${{{n}}}"))),
        Just(("$ ".to_owned(), "$ ".to_owned())),
    ]
}

fn values() -> impl Strategy<Value = BTreeMap<String, String>> {
    proptest::collection::btree_map(
        proptest::string::string_regex(r"[A-Z]{1,3}").unwrap(),
        dollar_heavy(),
        0..6,
    )
}

proptest! {
    #[test]
    fn parser_never_panics(input in any::<String>()) {
        let _ = parse(&input);
        let _ = substitute(&input, &BTreeMap::new());
    }

    #[test]
    fn parser_never_panics_on_dollar_heavy_strings(input in dollar_heavy(), values in values()) {
        let parsed = parse(&input);
        let _ = parsed.render_verbatim();
        let _ = substitute(&input, &values);
    }

    #[test]
    fn text_without_dollar_is_unchanged(input in "[^$]*", values in values()) {
        prop_assert_eq!(parse(&input).segments().len(), usize::from(!input.is_empty()));
        let done = substitute(&input, &values);
        prop_assert_eq!(done.text, input);
        prop_assert!(done.warnings.is_empty());
        prop_assert!(done.nested.is_empty());
    }

    #[test]
    fn no_values_returns_the_input_without_escapes(input in dollar_heavy()) {
        let done = substitute(&input, &BTreeMap::new());
        if !input.contains("$${") {
            prop_assert_eq!(&done.text, &input);
        }
        prop_assert_eq!(done.text, parse(&input).render_verbatim());
    }

    #[test]
    fn no_values_only_unescapes(pieces in proptest::collection::vec(piece(), 0..12)) {
        let input: String = pieces.iter().map(|(input, _)| input.as_str()).collect();
        let expected: String = pieces.iter().map(|(_, output)| output.as_str()).collect();
        prop_assert_eq!(substitute(&input, &BTreeMap::new()).text, expected);
    }

    #[test]
    fn values_are_never_rescanned(name in "[A-Z]{1,3}", value in dollar_heavy()) {
        let values = BTreeMap::from([(name.clone(), value.clone())]);
        let done = substitute(&format!("<${{{name}}}>"), &values);
        prop_assert_eq!(done.text, format!("<{value}>"));
        prop_assert!(done.warnings.is_empty());
    }

    #[test]
    fn segments_cover_the_input(input in dollar_heavy()) {
        // Text, unterminated, malformed and nested segments are slices of the input; together
        // with the references and escapes they account for every byte, in order.
        let mut rebuilt = String::new();
        for segment in parse(&input).segments() {
            match segment {
                Segment::Text(text)
                | Segment::Unterminated(text)
                | Segment::Malformed(text)
                | Segment::Nested(text) => rebuilt.push_str(text),
                Segment::Reference(name) => rebuilt.push_str(&format!("${{{name}}}")),
                Segment::Escape(name) => rebuilt.push_str(&format!("$${{{name}}}")),
            }
        }
        prop_assert_eq!(rebuilt, input);
    }
}
