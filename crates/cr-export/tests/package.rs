//! Packages made from sealed sets, checked with the stock tools an auditor has (bash,
//! sha256sum, openssl, python3's html.parser) after being copied elsewhere.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, Duration, TimeZone, Utc};
use cr_export::{CallFacts, DirectorySource, PackageWriter, Request, SetOutcome};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 9, 0, 0).unwrap()
}

fn have(tool: &str) -> bool {
    let found = Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(std::env::var_os("CALLREC_TEST_STRICT").is_none(), "{tool} is missing (CALLREC_TEST_STRICT is set)");
        eprintln!("SKIPPED: {tool} is not installed");
    }
    found
}

/// A 16-bit mono 8 kHz PCM WAV of `samples` samples.
fn wav(samples: u32) -> Vec<u8> {
    let data = samples * 2;
    let mut v = Vec::new();
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(36 + data).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&8000u32.to_le_bytes());
    v.extend_from_slice(&16000u32.to_le_bytes());
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&16u16.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&data.to_le_bytes());
    for i in 0..samples {
        v.extend_from_slice(&((i % 200) as i16 * 100).to_le_bytes());
    }
    v
}

struct Fixture {
    dir: tempfile::TempDir,
    identity: cr_sign::Identity,
}

impl Fixture {
    fn new() -> Self {
        let identity = cr_sign::Identity::generate("pbx-berlin-01", t0()).unwrap();
        Self { dir: tempfile::tempdir().unwrap(), identity }
    }

    fn spool(&self) -> PathBuf {
        self.dir.path().join("spool")
    }

    /// Seals set `id` (two legs and metadata, chain number `seq`) in `spool/<id>/`.
    fn seal(&self, id: &str, seq: u64) -> CallFacts {
        let dir = self.spool().join(id);
        std::fs::create_dir_all(&dir).unwrap();
        let caller = dir.join(format!("{id}-caller.wav"));
        let callee = dir.join(format!("{id}-callee.wav"));
        std::fs::write(&caller, wav(8000)).unwrap();
        std::fs::write(&callee, wav(4000)).unwrap();
        let json = dir.join(format!("{id}.json"));
        std::fs::write(&json, format!("{{\"id\":\"{id}\",\"chain\":{{\"seq\":{seq},\"prev_sha256\":\"{}\"}}}}", "0".repeat(64))).unwrap();
        cr_sign::seal(id, &[caller, callee, json], &self.identity).unwrap();
        let start = t0() + Duration::minutes(seq as i64 * 10);
        let mut c = CallFacts::new(id, start, start + Duration::seconds(95));
        c.caller = "+49 30 999888".into();
        c.callee = "<300> & co".into();
        c.configuration = "trading-desk".into();
        c.direction = "incoming".into();
        c.channels = "separate".into();
        c.chain_seq = seq;
        c
    }

    fn request(&self) -> Request {
        let mut r = Request::new("REQ-2026-0042", "030 999888", t0() + Duration::days(3));
        r.from = Some(t0());
        r.operator = Some("alice".into());
        r
    }

    /// A package of sets `ids` (sealed first) at `out`.
    fn package(&self, out: &Path, ids: &[&str]) -> cr_export::PackageSummary {
        let calls: Vec<CallFacts> = ids.iter().enumerate().map(|(i, id)| self.seal(id, i as u64 + 1)).collect();
        let mut w = PackageWriter::new(out, self.request(), &self.identity).unwrap().time_zone(chrono_tz::Europe::Berlin);
        for c in calls {
            let mut src = DirectorySource::new("spool", self.spool().join(&c.id));
            assert!(matches!(w.add_set(c, &mut src).unwrap(), SetOutcome::Exported(_)));
        }
        w.finish().unwrap()
    }
}

fn run(dir: &Path, cmd: &str) -> (bool, String) {
    let out = Command::new("bash").arg("-c").arg(cmd).current_dir(dir).output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// Copies a package tree (as a customer would receive it) to `to`.
fn copy_tree(from: &Path, to: &Path) {
    let (ok, out) = run(from, &format!("cp -a . '{}'", to.display()));
    assert!(ok, "{out}");
}

const STOCK_SIGNATURE: &str = "openssl dgst -sha256 -verify <(openssl x509 -pubkey -in cert.pem -noout) -signature <(base64 -d SHA256SUMS.SHA256withRSA.sig) SHA256SUMS";

#[test]
fn a_package_copied_elsewhere_verifies_with_stock_tools() {
    if !(have("openssl") && have("sha256sum") && have("base64")) {
        return;
    }
    let f = Fixture::new();
    let out = f.dir.path().join("out");
    let summary = f.package(&out, &["20261126T091000Z-0001", "20261126T092000Z-0002"]);
    assert_eq!(summary.manifest.sets.len(), 2);
    let copy = f.dir.path().join("handed-over");
    std::fs::create_dir(&copy).unwrap();
    copy_tree(&out, &copy);
    let (ok, text) = run(&copy, "sha256sum -c SHA256SUMS");
    assert!(ok, "{text}");
    assert!(text.contains("sets/20261126T091000Z-0001/20261126T091000Z-0001-caller.wav: OK"), "{text}");
    let (ok, text) = run(&copy, STOCK_SIGNATURE);
    assert!(ok && text.contains("Verified OK"), "{text}");
    let (ok, text) = run(&copy, "bash verify.sh");
    assert!(ok, "{text}");
    assert!(text.contains("2 set(s): all OK"), "{text}");
    if have("shasum") {
        let (ok, text) = run(&copy, "shasum -a 256 -c SHA256SUMS");
        assert!(ok, "{text}");
    }
    // From another directory, too.
    let (ok, text) = run(f.dir.path(), "bash handed-over/verify.sh");
    assert!(ok, "{text}");
    assert!(cr_export::verify_package(&copy, f.identity.certificate()).is_ok());
    // Every file but the signature file is listed; the manifest names each set's checksum hash.
    let sums = std::fs::read_to_string(copy.join("SHA256SUMS")).unwrap();
    for name in ["cert.pem", "manifest.json", "index.html", "verify.sh", "README.txt"] {
        assert!(sums.contains(&format!("  {name}\n")), "{name}: {sums}");
    }
    assert!(!sums.contains("SHA256SUMS"), "{sums}");
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(copy.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["format"], "callrec-export");
    assert_eq!(m["version"], 1);
    assert_eq!(m["request"]["reference"], "REQ-2026-0042");
    assert_eq!(m["request"]["operator"], "alice");
    assert_eq!(m["sets"][0]["chain_seq"], 1);
    assert_eq!(m["sets"][0]["configuration"], "trading-desk");
    let sha = cr_sign::sha256_hex(&std::fs::read(copy.join("sets/20261126T091000Z-0001/20261126T091000Z-0001.sha256")).unwrap());
    assert_eq!(m["sets"][0]["checksum_sha256"], sha.as_str());
}

#[test]
fn one_flipped_byte_anywhere_is_caught_by_verify_sh_and_by_the_library() {
    if !(have("openssl") && have("sha256sum") && have("base64")) {
        return;
    }
    let f = Fixture::new();
    let out = f.dir.path().join("out");
    f.package(&out, &["set-a", "set-b"]);
    let files = [
        "sets/set-a/set-a-caller.wav",
        "sets/set-b/set-b.json",
        "sets/set-a/set-a.sha256",
        "sets/set-b/set-b.sha256.SHA256withRSA.sig",
        "manifest.json",
        "index.html",
        "verify.sh",
        "README.txt",
        "cert.pem",
        "SHA256SUMS",
        "SHA256SUMS.SHA256withRSA.sig",
    ];
    for (i, file) in files.iter().enumerate() {
        let copy = f.dir.path().join(format!("copy-{i}"));
        std::fs::create_dir(&copy).unwrap();
        copy_tree(&out, &copy);
        let path = copy.join(file);
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.len() / 2;
        bytes[at] ^= 0x01;
        std::fs::write(&path, &bytes).unwrap();
        // The original script, run from outside as an auditor with a trusted copy would,
        // and the package's own (unless it is the file altered).
        let (ok, text) = run(&copy, &format!("bash '{}' .", out.join("verify.sh").display()));
        assert!(!ok && text.contains("FAILED"), "{file}: the trusted verify.sh passed it:\n{text}");
        if *file != "verify.sh" {
            let (ok, text) = run(&copy, "bash verify.sh");
            assert!(!ok && text.contains("FAILED"), "{file}: verify.sh passed it:\n{text}");
        }
        let (ok, text) = run(&copy, &format!("sha256sum -c SHA256SUMS && {STOCK_SIGNATURE}"));
        assert!(!ok, "{file}: stock tools passed it:\n{text}");
        let report = cr_export::verify_package(&copy, f.identity.certificate());
        let sets_ok = cr_sign::find_checksum_files(&copy.join("sets"))
            .unwrap()
            .iter()
            .all(|s| cr_sign::verify_set(s, f.identity.certificate()).is_ok());
        assert!(!report.is_ok() || !sets_ok, "{file}: the library passed it");
    }
}

#[test]
fn a_set_broken_before_export_is_reported_and_left_out() {
    let f = Fixture::new();
    let good = f.seal("good-1", 1);
    let bad = f.seal("bad-2", 2);
    // Someone re-wrote the metadata after sealing: its signature no longer covers it.
    std::fs::write(f.spool().join("bad-2/bad-2.json"), "{\"id\":\"bad-2\",\"edited\":true}").unwrap();
    let out = f.dir.path().join("out");
    let mut w = PackageWriter::new(&out, f.request(), &f.identity).unwrap();
    let mut src = DirectorySource::new("spool", f.spool().join("good-1"));
    assert!(matches!(w.add_set(good, &mut src).unwrap(), SetOutcome::Exported(_)));
    let mut src = DirectorySource::new("spool", f.spool().join("bad-2"));
    let SetOutcome::Refused(n) = w.add_set(bad, &mut src).unwrap() else { panic!("bad-2 was exported") };
    assert!(n.problems[0].contains("bad-2.json: content does not match"), "{:?}", n.problems);
    // A set that is not where the journal says.
    let mut gone = CallFacts::new("gone-3", t0(), t0());
    gone.chain_seq = 3;
    let mut src = DirectorySource::new("spool", f.spool().join("gone-3"));
    assert!(matches!(w.add_set(gone, &mut src).unwrap(), SetOutcome::Refused(_)));
    let summary = w.finish().unwrap();
    assert_eq!(summary.manifest.sets.len(), 1);
    assert_eq!(summary.manifest.not_exported.len(), 2);
    assert!(!out.join("sets/bad-2").exists() && !out.join("sets/gone-3").exists());
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["not_exported"][0]["id"], "bad-2");
    assert!(m["not_exported"][1]["problems"][0].as_str().unwrap().contains("gone-3 is not there"), "{m}");
    assert!(cr_export::verify_package(&out, f.identity.certificate()).is_ok());
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(html.contains("Not in this package") && html.contains("bad-2"), "{html}");
}

#[test]
fn an_out_directory_that_is_not_empty_is_refused_and_left_as_it_was() {
    let f = Fixture::new();
    let out = f.dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("earlier.txt"), "keep me").unwrap();
    let err = PackageWriter::new(&out, f.request(), &f.identity).unwrap_err();
    assert!(matches!(err, cr_export::ExportError::OutNotEmpty(_)), "{err}");
    assert!(err.to_string().contains("not empty"), "{err}");
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 1);
    assert_eq!(std::fs::read_to_string(out.join("earlier.txt")).unwrap(), "keep me");
    // Nothing was staged beside it either.
    assert_eq!(std::fs::read_dir(f.dir.path()).unwrap().count(), 1);
    let file = f.dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    assert!(PackageWriter::new(&file, f.request(), &f.identity).is_err());
}

#[test]
fn an_empty_out_directory_is_filled_and_an_abandoned_package_leaves_nothing() {
    let f = Fixture::new();
    let out = f.dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    f.package(&out, &["only-1"]);
    assert!(cr_export::is_package(&out));
    let other = f.dir.path().join("other");
    let call = f.seal("only-2", 2);
    let mut w = PackageWriter::new(&other, f.request(), &f.identity).unwrap();
    let mut src = DirectorySource::new("spool", f.spool().join("only-2"));
    w.add_set(call, &mut src).unwrap();
    drop(w);
    assert!(!other.exists());
    let names: Vec<String> = std::fs::read_dir(f.dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(!names.iter().any(|n| n.contains("partial")), "{names:?}");
}

#[test]
fn a_file_added_to_the_package_is_caught() {
    if !(have("openssl") && have("sha256sum") && have("base64")) {
        return;
    }
    let f = Fixture::new();
    let out = f.dir.path().join("out");
    f.package(&out, &["set-a"]);
    std::fs::write(out.join("sets/set-a/set-a-extra.wav"), wav(10)).unwrap();
    let (ok, text) = run(&out, "bash verify.sh");
    assert!(!ok, "{text}");
    assert!(text.contains("FAILED sets/set-a/set-a-extra.wav: not listed in SHA256SUMS"), "{text}");
    let report = cr_export::verify_package(&out, f.identity.certificate());
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert_eq!(report.problems[0].to_string(), "sets/set-a/set-a-extra.wav: not listed in SHA256SUMS (added to the package)");
    // And another installation's certificate fails the signature.
    let other = cr_sign::Identity::generate("pbx-hamburg", t0()).unwrap();
    std::fs::remove_file(out.join("sets/set-a/set-a-extra.wav")).unwrap();
    let report = cr_export::verify_package(&out, other.certificate());
    let files: Vec<&str> = report.problems.iter().map(|p| p.file.as_str()).collect();
    assert_eq!(files, ["SHA256SUMS", "cert.pem"], "{:?}", report.problems);
}

const HTML_CHECK: &str = r#"
import html.parser, os, sys
VOID = {"meta", "br", "img", "input", "link", "hr", "source", "wbr"}
class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.audio, self.links, self.errors, self.scripts = [], [], [], [], 0
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "audio": self.audio.append(a.get("src"))
        if tag == "a": self.links.append(a.get("href"))
        if tag == "script": self.scripts += 1
        if tag == "link" or (tag in ("img", "script") and "src" in a): self.errors.append("external asset " + tag)
        if tag not in VOID: self.stack.append(tag)
    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append("unbalanced </%s> at %s" % (tag, self.getpos()))
        else:
            self.stack.pop()
p = P()
p.feed(open(sys.argv[1], encoding="utf-8").read()); p.close()
if p.stack: p.errors.append("unclosed " + ",".join(p.stack))
if p.scripts: p.errors.append("script")
from urllib.parse import unquote
for src in p.audio + p.links:
    if src is None or "://" in src or src.startswith("/"): p.errors.append("not relative: %r" % src)
    elif not os.path.exists(os.path.join(os.path.dirname(sys.argv[1]), unquote(src))): p.errors.append("missing: " + src)
print("audio", len(p.audio))
for e in p.errors: print("ERROR", e)
sys.exit(1 if p.errors else 0)
"#;

#[test]
fn index_html_is_well_formed_and_every_audio_src_is_in_the_package() {
    if !have("python3") {
        return;
    }
    let f = Fixture::new();
    let out = f.dir.path().join("out");
    f.package(&out, &["set-a", "set-b", "set-c"]);
    let script = f.dir.path().join("check.py");
    std::fs::write(&script, HTML_CHECK).unwrap();
    let o = Command::new("python3").arg(&script).arg(out.join("index.html")).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{text}{}", String::from_utf8_lossy(&o.stderr));
    assert!(text.contains("audio 6"), "{text}");
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    // Parties are escaped, times shown in the zone given, and the page says how to verify.
    assert!(html.contains("&lt;300&gt; &amp; co") && !html.contains("<300>"), "{html}");
    assert!(html.contains("2026-11-26 10:10:00 +01:00"), "{html}");
    assert!(html.contains("bash verify.sh"), "{html}");
    assert!(html.contains("0:01:35"), "{html}");
}
