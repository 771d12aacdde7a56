//! Properties of the results format: reading any text never panics, keeps only what the rules
//! allow and says why when it keeps nothing; what `format_results` writes reads back.

use build_pod::{
    MAX_RESULT_VALUE_LEN, MAX_RESULTS_PER_STEP, format_results, is_result_name, parse_results,
};
use proptest::prelude::*;

proptest! {
    #[test]
    fn any_text_reads_within_the_rules(text in "(?s).{0,600}") {
        let parsed = parse_results(&text);
        prop_assert!(parsed.results.len() <= MAX_RESULTS_PER_STEP);
        for (key, value) in &parsed.results {
            prop_assert!(is_result_name(key), "{key:?}");
            prop_assert!(value.len() <= MAX_RESULT_VALUE_LEN);
            prop_assert!(!value.contains('\n'));
        }
        // Nothing vanishes: a text with a line that is not blank gives a result or a reason.
        if !text.trim().is_empty() {
            prop_assert!(!parsed.results.is_empty() || !parsed.dropped.is_empty());
        }
    }

    #[test]
    fn written_results_read_back(
        pairs in proptest::collection::btree_map("[A-Za-z_][A-Za-z0-9_]{0,20}", "[^\r\n]{0,80}", 0..MAX_RESULTS_PER_STEP)
    ) {
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let parsed = parse_results(&format_results(&pairs));
        prop_assert!(parsed.dropped.is_empty(), "{:?}", parsed.dropped);
        let got: Vec<(&str, &str)> = parsed.results.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        prop_assert_eq!(got, pairs);
    }
}
