//! multipart/mixed splitting and SIPREC body splitting. The first line is the
//! Content-Type, the rest the body.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let nl = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let ct = String::from_utf8_lossy(&data[..nl]).into_owned();
    let body = data.get(nl + 1..).unwrap_or(&[]);
    let _ = cr_pbx::split_body(Some(&ct), body);
    if let Ok(c) = cr_pbx::ContentType::parse(&ct)
        && let Some(b) = c.param("boundary")
        && let Ok(parts) = cr_pbx::split_multipart(body, b)
    {
        for p in parts {
            let _ = p.mime();
        }
    }
});
