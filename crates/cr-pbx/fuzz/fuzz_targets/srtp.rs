//! SDES crypto attributes and SRTP packets: the first line of the input is an `a=crypto:`
//! value; if it is usable, the rest (split on a 0xff byte) is fed to its receiver as
//! datagrams. Nothing may panic, and no random packet may authenticate.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (line, rest) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(line) = std::str::from_utf8(line) else {
        return;
    };
    let Ok(offer) = cr_pbx::SdesCrypto::parse(line) else {
        return;
    };
    let Some(mut rx) = cr_pbx::SrtpReceiver::new(&offer) else {
        return;
    };
    for packet in rest.split(|&b| b == 0xff) {
        assert!(
            rx.unprotect(packet).is_err(),
            "a random packet authenticated"
        );
    }
});
