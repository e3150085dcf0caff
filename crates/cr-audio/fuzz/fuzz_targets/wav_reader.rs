//! Fuzz target: any bytes through the WAV/RF64 header parser, and (when the header is
//! accepted) through the streaming reader, announcement loader and leg recovery.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = cr_audio::parse_header_bytes(data);
    let Ok(dir) = std::env::temp_dir().join(format!("cr-audio-fuzz-{}", std::process::id())).canonicalize().or_else(|_| {
        let d = std::env::temp_dir().join(format!("cr-audio-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&d).map(|_| d)
    }) else {
        return;
    };
    let path = dir.join("input.wav");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Ok(mut r) = cr_audio::WavReader::open(&path) {
        let mut buf = vec![0i16; 4096];
        while let Ok(n) = r.read_mono(&mut buf) {
            if n == 0 {
                break;
            }
        }
    }
    let _ = cr_audio::Announcement::load(&path);
    let _ = cr_audio::recover_file(&path);
});
