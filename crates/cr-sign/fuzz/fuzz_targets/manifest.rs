//! Fuzzes the checksum-file parser: any bytes give a manifest or an error, never a panic,
//! and what parses prints back to text that parses to the same manifest.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = cr_sign::Manifest::parse(data) {
        let again = cr_sign::Manifest::parse(m.to_text().as_bytes()).expect("printed manifest parses");
        assert_eq!(again, m);
        for e in m.entries() {
            assert!(cr_sign::is_plain_file_name(&e.name));
        }
    }
});
