//! The export in a real browser (headless Chromium through WebDriver): an auditor fills the
//! export form, Chromium saves the ZIP it answers with into the session's download
//! directory, and the stock tools judge the file Chromium wrote: `unzip -t` tests every
//! entry, `sha256sum -c` checks the package's checksums inside, `cr-verify` the sets.
//! Screenshots go to `<target>/browser-shots/`.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Console, SET, browser_sign_in, cr_verify_bin, have};
use cr_browser_test::Browser;

const WAIT: Duration = Duration::from_secs(120);

/// `sh -c CMD` in `dir`: success and its output.
fn sh(dir: &Path, cmd: &str) -> (bool, String) {
    let out = Command::new("sh").arg("-c").arg(cmd).current_dir(dir).output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn an_export_downloaded_by_chromium_passes_unzip_t_and_sha256sum_c() {
    if !(have("openssl") && have("sox") && have("unzip") && have("sha256sum")) {
        return;
    }
    let c = Console::start(5);
    let Some(b) = Browser::start_trusting(&c.tls_cert) else { return };
    b.goto(&format!("{}/export", c.url)).unwrap();
    browser_sign_in(&b, "aud");
    b.goto(&format!("{}/export", c.url)).unwrap();
    b.wait_for("h1", |t| t.starts_with("Export"), WAIT).unwrap();
    b.fill("#party", "+49 30 999888").unwrap();
    b.fill("#request", "SAR 2026/113").unwrap();
    b.fill("#reason", "subject access request").unwrap();
    b.shot("console-export").unwrap();
    b.click("#do-export").unwrap();
    let zip = b.wait_for_download(WAIT).unwrap();
    assert_eq!(zip.file_name().unwrap().to_str().unwrap(), "export-SAR_2026_113.zip", "the name the console gave");

    let (ok, text) = sh(zip.parent().unwrap(), &format!("unzip -t '{}'", zip.display()));
    assert!(ok && text.contains("No errors detected"), "{text}");
    let out = tempfile::tempdir().unwrap();
    let (ok, text) = sh(out.path(), &format!("unzip -q '{}'", zip.display()));
    assert!(ok, "{text}");
    let pkg = out.path().join("export-SAR_2026_113");
    let (ok, text) = sh(&pkg, "sha256sum -c SHA256SUMS");
    assert!(ok && text.contains(&format!("sets/{SET}/{SET}.wav: OK")), "{text}");
    // The recorded WAV, byte for byte, and a package cr-verify accepts.
    assert_eq!(std::fs::read(pkg.join(format!("sets/{SET}/{SET}.wav"))).unwrap(), std::fs::read(c.set_dir.join(format!("{SET}.wav"))).unwrap());
    let v = Command::new(cr_verify_bin()).arg("--cert").arg(c.installation_cert()).arg(&pkg).output().unwrap();
    assert!(v.status.success(), "{}{}", String::from_utf8_lossy(&v.stdout), String::from_utf8_lossy(&v.stderr));

    let events = c.journal().audit_events(0, 10_000).unwrap();
    let e = events.iter().find(|e| e.kind.as_str() == "exported").unwrap();
    assert_eq!(e.actor.as_deref(), Some("aud"));
    assert!(serde_json::to_string(&e.details).unwrap().contains("SAR 2026/113"));
}
