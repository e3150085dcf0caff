//! Random and mutated checksum files through the parser and the verifier: errors, never
//! panics, and nothing outside the set's directory is read. (The same property as the
//! cargo-fuzz target in crates/cr-sign/fuzz, run on every `cargo test`.)

use proptest::prelude::*;

const H: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn seeds() -> Vec<Vec<u8>> {
    vec![
        format!("{H}  a.wav\n{H}  a.json\n").into_bytes(),
        format!("{H} *a.wav").into_bytes(),
        format!("{H}  ../x\n").into_bytes(),
        Vec::new(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = cr_sign::Manifest::parse(&bytes);
    }

    #[test]
    fn mutated_manifests_parse_to_plain_names_and_round_trip(
        seed in 0usize..4,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
    ) {
        let mut bytes = seeds()[seed].clone();
        for (at, b) in edits {
            if bytes.is_empty() || b % 3 == 0 {
                let at = if bytes.is_empty() { 0 } else { at % (bytes.len() + 1) };
                bytes.insert(at, b);
            } else if b % 3 == 1 {
                let at = at % bytes.len();
                bytes[at] = b;
            } else {
                let at = at % bytes.len();
                bytes.remove(at);
            }
        }
        if let Ok(m) = cr_sign::Manifest::parse(&bytes) {
            for e in m.entries() {
                prop_assert!(cr_sign::is_plain_file_name(&e.name), "{:?}", e.name);
            }
            prop_assert_eq!(cr_sign::Manifest::parse(m.to_text().as_bytes()).unwrap(), m);
        }
    }
}
