//! The SQL that `search` runs implements the documented rule (`numbers_match`, or
//! `number_found` when searching by any part, on the normalized forms) for arbitrary
//! numbers in arbitrary notations.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::seal;
use cr_journal::{Journal, SearchQuery, normalize_number, number_found, numbers_match};
use proptest::prelude::*;

/// Base numbers (4 to 18 digits) that the parties and queries are made from, so that
/// equal numbers and numbers ending with one another, around the suffix threshold, are
/// frequent.
fn bases() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(
        proptest::collection::vec(prop_oneof![Just('1'), Just('2'), Just('3')], 4..19)
            .prop_map(|d| d.into_iter().collect::<String>()),
        3,
    )
}

/// A number made from base `i`: some digits put in front of it, written as a PBX might
/// (optional "+", "0", "00", "tel:+" prefix, optional separators).
fn variant() -> impl Strategy<Value = (usize, String, &'static str, bool)> {
    (
        0..3usize,
        proptest::collection::vec(prop_oneof![Just('4'), Just('9'), Just('1')], 0..3)
            .prop_map(|d| d.into_iter().collect::<String>()),
        prop_oneof![Just(""), Just("+"), Just("0"), Just("00"), Just("tel:+")],
        any::<bool>(),
    )
}

fn render(
    bases: &[String],
    (i, front, prefix, spaced): &(usize, String, &'static str, bool),
) -> String {
    let digits = format!("{front}{}", bases[*i]);
    let mut s = (*prefix).to_owned();
    for (k, d) in digits.chars().enumerate() {
        if *spaced && k % 3 == 2 {
            s.push(' ');
        }
        s.push(d);
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn search_agrees_with_numbers_match_and_number_found(
        bases in bases(),
        party_forms in proptest::collection::vec((variant(), variant()), 1..12),
        query_forms in proptest::collection::vec(variant(), 1..6),
        exact in any::<bool>(),
        any_part in any::<bool>(),
    ) {
        let parties: Vec<(String, String)> =
            party_forms.iter().map(|(a, b)| (render(&bases, a), render(&bases, b))).collect();
        let mut queries: Vec<String> = query_forms.iter().map(|q| render(&bases, q)).collect();
        // Middle parts, starts and ends of the stored numbers (some longer than a stored
        // part of 16 digits, some shorter than 3).
        for (a, _) in parties.iter().take(3) {
            let d = normalize_number(a);
            let n = d.len();
            queries.extend([d[1..n - 1].to_owned(), d[2..n.min(5)].to_owned(), d[..2].to_owned(), d[1..].to_owned(), d[n - 4..].to_owned()]);
        }
        queries.push("anonymous".to_owned());
        let j = Journal::open_in_memory().unwrap();
        for (i, (caller, callee)) in parties.iter().enumerate() {
            seal(&j, &format!("s{i:02}"), caller, callee, i64::try_from(i).unwrap() * 100, 10, &[]);
        }
        for q in &queries {
            let qd = normalize_number(q);
            let expected: BTreeSet<String> = parties
                .iter()
                .enumerate()
                .filter(|(_, (a, b))| {
                    [a, b].iter().any(|p| {
                        let p = normalize_number(p);
                        if any_part && !exact { number_found(&p, &qd) } else { numbers_match(&p, &qd, exact) }
                    })
                })
                .map(|(i, _)| format!("s{i:02}"))
                .collect();
            let res = j.search(&SearchQuery { number: Some(q.clone()), exact, any_part, ..Default::default() });
            if qd.is_empty() {
                prop_assert!(res.is_err(), "a number without digits must be refused: {q:?}");
                continue;
            }
            let got: BTreeSet<String> = res.unwrap().into_iter().map(|h| h.set_id).collect();
            prop_assert_eq!(got, expected, "query {:?} ({})", q, qd);
        }
    }

    #[test]
    fn normalizing_is_idempotent_and_digits_only(n in ".{0,30}") {
        let d = normalize_number(&n);
        prop_assert!(d.bytes().all(|b| b.is_ascii_digit()));
        prop_assert!(!d.starts_with('0'));
        prop_assert_eq!(normalize_number(&d), d.clone());
    }
}
