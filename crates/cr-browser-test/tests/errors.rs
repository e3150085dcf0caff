//! Starting with broken programs fails with an error naming the program, and leaves no
//! chromedriver behind. One test (one process), so no other test's chromedriver is our child.

use std::path::Path;
use std::process::Command;

use cr_browser_test::{Browser, Error, Trust};

/// Our direct children named `name` (pgrep -P).
fn children_named(name: &str) -> Vec<String> {
    let out = Command::new("pgrep").arg("-P").arg(std::process::id().to_string()).arg("-l").output().expect("pgrep");
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.contains(name)).map(str::to_owned).collect()
}

#[test]
fn broken_programs_are_named_and_leave_nothing_running() {
    let chromedriver = Path::new("/usr/bin/chromedriver");
    if !chromedriver.is_file() {
        assert!(
            std::env::var("CALLREC_TEST_STRICT").as_deref() != Ok("1"),
            "chromium-driver is needed (CALLREC_TEST_STRICT=1)"
        );
        eprintln!("SKIPPED: chromium/chromedriver not installed (see scripts/install-deps.sh)");
        return;
    }

    // No such chromedriver.
    match Browser::with_programs(
        Path::new("/nonexistent/chromedriver"),
        Path::new("/usr/bin/chromium"),
        &Trust::AnyCertificate,
    ) {
        Err(e @ Error::Spawn { .. }) => assert!(e.to_string().contains("/nonexistent/chromedriver"), "{e}"),
        Err(e) => panic!("expected Spawn, got {e:?}"),
        Ok(_) => panic!("a missing chromedriver started"),
    }

    // A "chromedriver" that exits without reporting a port.
    match Browser::with_programs(Path::new("/bin/true"), Path::new("/usr/bin/chromium"), &Trust::AnyCertificate) {
        Err(e @ Error::DriverNotReady { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("/bin/true") && msg.contains("exited"), "{msg}");
        }
        Err(e) => panic!("expected DriverNotReady, got {e:?}"),
        Ok(_) => panic!("/bin/true served WebDriver"),
    }

    // A real chromedriver with a "browser" that exits at once: the session fails, naming the
    // binary, and chromedriver is killed with the half-built Browser.
    match Browser::with_programs(chromedriver, Path::new("/bin/false"), &Trust::AnyCertificate) {
        Err(e @ Error::Session { .. }) => assert!(e.to_string().contains("/bin/false"), "{e}"),
        Err(e) => panic!("expected Session, got {e:?}"),
        Ok(_) => panic!("/bin/false ran a browser session"),
    }
    // A certificate to trust that is missing or not a certificate: refused before anything
    // starts, naming the file.
    let dir = tempfile::tempdir().expect("tempdir");
    let not_pem = dir.path().join("not-a-cert.pem");
    std::fs::write(&not_pem, "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n")
        .expect("write");
    for path in [dir.path().join("missing.pem"), not_pem] {
        match Browser::with_programs(chromedriver, Path::new("/usr/bin/chromium"), &Trust::OnlyKeyOf(path.clone())) {
            Err(e @ Error::Certificate { .. }) => assert!(e.to_string().contains(&path.display().to_string()), "{e}"),
            Err(e) => panic!("expected Certificate for {}, got {e:?}", path.display()),
            Ok(_) => panic!("{} was trusted", path.display()),
        }
    }

    let left = children_named("chromedriver");
    assert!(left.is_empty(), "chromedriver still running: {left:?}");
}
