//! Recording metadata parser and role resolution.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = cr_pbx::Metadata::parse(data) {
        for s in &m.streams {
            if let Some(l) = &s.label {
                let _ = m.role_of_label(l);
            }
        }
        let mut a = m.clone();
        a.merge(m);
    }
});
