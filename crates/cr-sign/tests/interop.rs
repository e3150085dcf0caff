//! cr-sign against the independent tools: openssl, shasum, sha256sum, and examples/verify.sh.
//! Each test needs the tool it names; without it the test is skipped loudly, or fails when
//! CALLREC_TEST_STRICT=1 (as in CI).

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{TimeZone, Utc};
use cr_sign::{Cipher, Identity, ProblemKind, SignError, seal, verify_set};

const PW: &str = "correct horse battery staple";

fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CALLREC_TEST_STRICT").as_deref() != Ok("1"),
            "{tool} is required (CALLREC_TEST_STRICT=1)"
        );
        eprintln!("SKIPPED: {tool} is not installed");
    }
    found
}

/// Runs a command, returns (success, stdout + stderr).
fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().expect("spawn");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn identity(module: &str) -> Identity {
    Identity::generate(module, Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap()).unwrap()
}

/// A set of two files in `dir`: `<id>.json` and `<id>.wav`.
fn make_set(dir: &Path, id: &str, who: &Identity) -> cr_sign::SealedSet {
    let json = dir.join(format!("{id}.json"));
    let wav = dir.join(format!("{id}.wav"));
    std::fs::write(&json, format!("{{\"id\":\"{id}\",\"caller\":\"+4930555201\"}}\n")).unwrap();
    let audio: Vec<u8> = (0..200_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    std::fs::write(&wav, audio).unwrap();
    seal(id, &[json, wav], who).unwrap()
}

fn write_cert(dir: &Path, who: &Identity) -> PathBuf {
    let p = dir.join("cert.pem");
    std::fs::write(&p, who.certificate().pem()).unwrap();
    p
}

#[test]
fn keystore_3des_opens_with_openssl_with_and_without_legacy() {
    if !have("openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ks = dir.path().join("keystore.p12");
    let who = identity("pbx-berlin-01");
    who.save_keystore(&ks, PW, Cipher::TripleDes).unwrap();
    for legacy in [false, true] {
        let mut cmd = Command::new("openssl");
        cmd.args(["pkcs12", "-info", "-noout", "-passin", &format!("pass:{PW}"), "-in"]).arg(&ks);
        if legacy {
            cmd.arg("-legacy");
        }
        let (ok, out) = run(&mut cmd);
        assert!(ok, "{out}");
        // Both bags: the certificate's encrypted data and the shrouded key bag.
        assert_eq!(out.matches("pbeWithSHA1And3-KeyTripleDES-CBC").count(), 2, "{out}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&ks).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

#[test]
fn keystore_aes256_shows_pbes2_aes() {
    if !have("openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ks = dir.path().join("keystore.p12");
    identity("m").save_keystore(&ks, PW, Cipher::Aes256).unwrap();
    let (ok, out) = run(Command::new("openssl")
        .args(["pkcs12", "-info", "-noout", "-passin", &format!("pass:{PW}"), "-in"])
        .arg(&ks));
    assert!(ok, "{out}");
    assert!(out.contains("AES-256-CBC"), "{out}");
    assert!(!out.contains("TripleDES"), "{out}");
    // And it opens again with our code.
    Identity::open_keystore(&ks, PW).unwrap();
}

#[test]
fn signature_is_byte_identical_to_openssl_with_the_key_from_the_keystore() {
    if !have("openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ks = dir.path().join("keystore.p12");
    let who = identity("pbx");
    who.save_keystore(&ks, PW, Cipher::TripleDes).unwrap();
    let key = dir.path().join("key.pem");
    let (ok, out) = run(Command::new("openssl")
        .args(["pkcs12", "-nocerts", "-nodes", "-passin", &format!("pass:{PW}"), "-in"])
        .arg(&ks)
        .arg("-out")
        .arg(&key));
    assert!(ok, "{out}");
    let msg = dir.path().join("msg");
    std::fs::write(&msg, b"abc  x.wav\n").unwrap();
    let sig = dir.path().join("sig");
    let (ok, out) = run(Command::new("openssl").args(["dgst", "-sha256", "-sign"]).arg(&key).arg("-out").arg(&sig).arg(&msg));
    assert!(ok, "{out}");
    assert_eq!(std::fs::read(&sig).unwrap(), who.sign(b"abc  x.wav\n"));
}

#[test]
fn certificate_fields_as_openssl_reads_them() {
    if !have("openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let who = identity("Zentrale-München");
    let cert = write_cert(dir.path(), &who);
    let (ok, out) = run(Command::new("openssl")
        .args(["x509", "-noout", "-subject", "-issuer", "-enddate", "-startdate", "-nameopt", "utf8,sep_comma_plus"])
        .arg("-in")
        .arg(&cert));
    assert!(ok, "{out}");
    assert!(out.contains("subject=CN=Call Recording Zentrale-München"), "{out}");
    assert!(out.contains("issuer=CN=Call Recording Zentrale-München"), "{out}");
    // Generated 2026-11-26 12:00:00 UTC: valid until the same instant 100 years on, which is
    // past 2049 and so a GeneralizedTime.
    assert!(out.contains("notBefore=Nov 26 12:00:00 2026 GMT"), "{out}");
    assert!(out.contains("notAfter=Nov 26 12:00:00 2126 GMT"), "{out}");
    let (ok, text) = run(Command::new("openssl").args(["x509", "-noout", "-text", "-in"]).arg(&cert));
    assert!(ok);
    assert!(text.contains("Public-Key: (2048 bit)"), "{text}");
    assert!(text.contains("Version: 3"), "{text}");
    assert!(text.contains("sha256WithRSAEncryption"), "{text}");
    let (ok, out) = run(Command::new("openssl").arg("verify").arg("-CAfile").arg(&cert).arg(&cert));
    assert!(ok && out.contains(": OK"), "{out}");
    let (ok, out) = run(Command::new("openssl").args(["x509", "-noout", "-fingerprint", "-sha256", "-in"]).arg(&cert));
    assert!(ok);
    assert!(out.contains(&who.certificate().fingerprint_sha256()), "{out}");
}

#[test]
fn sealed_set_passes_shasum_sha256sum_openssl_and_verify_sh() {
    if !(have("openssl") && have("shasum") && have("sha256sum") && have("base64")) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let who = identity("pbx");
    let set = make_set(dir.path(), "20261126T120000Z-0001", &who);
    let cert = write_cert(dir.path(), &who);
    for tool in [vec!["shasum", "-a", "256", "-c"], vec!["sha256sum", "-c"]] {
        let (ok, out) = run(Command::new(tool[0]).args(&tool[1..]).arg(&set.checksum_file).current_dir(dir.path()));
        assert!(ok, "{tool:?}: {out}");
        assert_eq!(out.matches(": OK").count(), 2, "{out}");
    }
    let sig_bin = dir.path().join("sig.bin");
    let (ok, out) = run(Command::new("sh").arg("-c").arg(format!(
        "base64 -d < '{}' > '{}'",
        set.signature_file.display(),
        sig_bin.display()
    )));
    assert!(ok, "{out}");
    let pubkey = dir.path().join("pub.pem");
    let (ok, out) = run(Command::new("sh").arg("-c").arg(format!(
        "openssl x509 -in '{}' -pubkey -noout > '{}'",
        cert.display(),
        pubkey.display()
    )));
    assert!(ok, "{out}");
    let (ok, out) = run(Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(&pubkey)
        .arg("-signature")
        .arg(&sig_bin)
        .arg(&set.checksum_file));
    assert!(ok && out.contains("Verified OK"), "{out}");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/verify.sh");
    let (ok, out) = run(Command::new("sh").arg(&script).arg(&cert).arg(dir.path()));
    assert!(ok, "{out}");
    assert!(out.contains("OK 20261126T120000Z-0001"), "{out}");
    // The script is an honest judge: it fails an altered set.
    std::fs::write(dir.path().join("20261126T120000Z-0001.json"), "{}").unwrap();
    let (ok, out) = run(Command::new("sh").arg(&script).arg(&cert).arg(dir.path()));
    assert!(!ok && out.contains("FAILED 20261126T120000Z-0001"), "{out}");
}

#[test]
fn keystore_made_by_openssl_opens() {
    if !have("openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (ok, out) = run(Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=Call Recording ext"])
        .arg("-keyout")
        .arg(d.join("k.pem"))
        .arg("-out")
        .arg(d.join("c.pem")));
    assert!(ok, "{out}");
    let (ok, out) = run(Command::new("openssl")
        .args(["pkcs12", "-export", "-passout", &format!("pass:{PW}")])
        .arg("-inkey")
        .arg(d.join("k.pem"))
        .arg("-in")
        .arg(d.join("c.pem"))
        .arg("-out")
        .arg(d.join("ks.p12")));
    assert!(ok, "{out}");
    let who = Identity::open_keystore(&d.join("ks.p12"), PW).unwrap();
    assert_eq!(who.certificate().subject_cn(), "Call Recording ext");
}

#[test]
fn keystore_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let ks = dir.path().join("keystore.p12");
    identity("m").save_keystore(&ks, PW, Cipher::TripleDes).unwrap();
    let err = Identity::open_keystore(&ks, "wrong").unwrap_err();
    assert!(matches!(err, SignError::WrongPassword(_)), "{err}");
    assert_eq!(err.to_string(), format!("keystore password is wrong ({})", ks.display()));

    // Refuses to overwrite, and leaves the first keystore intact.
    let before = std::fs::read(&ks).unwrap();
    let err = identity("m").save_keystore(&ks, PW, Cipher::TripleDes).unwrap_err();
    assert!(matches!(err, SignError::KeystoreExists(_)), "{err}");
    assert_eq!(std::fs::read(&ks).unwrap(), before);

    // Truncated at several points: an error naming the file, never a panic.
    for cut in [0, 1, 10, before.len() / 2, before.len() - 1] {
        let t = dir.path().join(format!("trunc-{cut}.p12"));
        std::fs::write(&t, &before[..cut]).unwrap();
        let err = Identity::open_keystore(&t, PW).unwrap_err();
        assert!(err.to_string().contains(&t.display().to_string()), "cut {cut}: {err}");
    }
    let err = Identity::open_keystore(&dir.path().join("missing.p12"), PW).unwrap_err();
    assert!(err.to_string().contains("missing.p12"), "{err}");
}

#[test]
fn private_key_never_appears_in_debug_output() {
    let who = identity("m");
    let dbg = format!("{who:?}");
    assert!(dbg.contains("Call Recording m") && dbg.len() < 200, "{dbg}");
}

#[test]
fn every_tampering_is_detected_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let who = identity("pbx");
    let id = "20261126T120000Z-0002";
    let fresh = |name: &str| {
        let d = dir.path().join(name);
        std::fs::create_dir(&d).unwrap();
        make_set(&d, id, &who);
        d
    };
    let check = |d: &Path, cert: &cr_sign::Certificate| verify_set(&d.join(format!("{id}.sha256")), cert);
    let flip = |p: PathBuf, at: usize| {
        let mut b = std::fs::read(&p).unwrap();
        b[at] ^= 0x01;
        std::fs::write(&p, b).unwrap();
    };
    let cert = who.certificate();
    let expect = |d: &Path, file: &str, kind: ProblemKind| {
        let r = check(d, cert);
        assert!(!r.is_ok(), "{file}: tampering not detected");
        assert!(
            r.problems.iter().any(|p| p.file == file && p.kind == kind),
            "{file}: wanted {kind:?}, got {:?}",
            r.problems
        );
    };

    let d = fresh("clean");
    assert!(check(&d, cert).is_ok(), "{:?}", check(&d, cert).problems);

    let d = fresh("audio");
    flip(d.join(format!("{id}.wav")), 100_000);
    expect(&d, &format!("{id}.wav"), ProblemKind::Mismatch);

    let d = fresh("meta");
    flip(d.join(format!("{id}.json")), 3);
    expect(&d, &format!("{id}.json"), ProblemKind::Mismatch);

    let d = fresh("checksum");
    flip(d.join(format!("{id}.sha256")), 5);
    expect(&d, &format!("{id}.sha256"), ProblemKind::SignatureInvalid);

    let d = fresh("sig");
    let sig = d.join(format!("{id}.sha256.SHA256withRSA.sig"));
    let mut b64 = std::fs::read(&sig).unwrap();
    b64[10] = if b64[10] == b'A' { b'B' } else { b'A' };
    std::fs::write(&sig, b64).unwrap();
    expect(&d, &format!("{id}.sha256"), ProblemKind::SignatureInvalid);

    let d = fresh("deleted");
    std::fs::remove_file(d.join(format!("{id}.wav"))).unwrap();
    expect(&d, &format!("{id}.wav"), ProblemKind::Missing);

    let d = fresh("added");
    std::fs::write(d.join(format!("{id}-callee.wav")), b"RIFF").unwrap();
    expect(&d, &format!("{id}-callee.wav"), ProblemKind::Unlisted);

    let d = fresh("nosig");
    std::fs::remove_file(d.join(format!("{id}.sha256.SHA256withRSA.sig"))).unwrap();
    expect(&d, &format!("{id}.sha256.SHA256withRSA.sig"), ProblemKind::SignatureMissing);

    let d = fresh("notb64");
    std::fs::write(d.join(format!("{id}.sha256.SHA256withRSA.sig")), "not base64 at all!").unwrap();
    expect(&d, &format!("{id}.sha256.SHA256withRSA.sig"), ProblemKind::SignatureNotBase64);

    // Signed by another key: re-sealed with another identity, checked with ours.
    let other = identity("pbx");
    let d = dir.path().join("otherkey");
    std::fs::create_dir(&d).unwrap();
    make_set(&d, id, &other);
    expect(&d, &format!("{id}.sha256"), ProblemKind::SignatureInvalid);
    // Another installation's certificate does not verify our set either.
    let d = fresh("othercert");
    let r = check(&d, other.certificate());
    assert!(r.problems.iter().any(|p| p.kind == ProblemKind::SignatureInvalid));
}

#[test]
fn forged_manifest_cannot_make_the_verifier_read_outside_the_set() {
    let dir = tempfile::tempdir().unwrap();
    let who = identity("pbx");
    let outside = dir.path().join("secret.txt");
    std::fs::write(&outside, "outside").unwrap();
    let set_dir = dir.path().join("set");
    std::fs::create_dir(&set_dir).unwrap();
    let h = cr_sign::sha256_hex(b"outside");
    for (i, name) in ["../secret.txt", outside.to_str().unwrap(), "sub/x.wav"].iter().enumerate() {
        let id = format!("forged{i}");
        let sums = set_dir.join(format!("{id}.sha256"));
        let text = format!("{h}  {name}\n");
        std::fs::write(&sums, &text).unwrap();
        // Even correctly signed, the name is refused.
        let sig = base64_encode(&who.sign(text.as_bytes()));
        std::fs::write(set_dir.join(format!("{id}.sha256.SHA256withRSA.sig")), sig).unwrap();
        let r = verify_set(&sums, who.certificate());
        assert!(!r.is_ok());
        assert!(r.verified_files.is_empty(), "{name} was read");
        assert!(matches!(r.problems[0].kind, ProblemKind::Malformed(_)), "{:?}", r.problems);
    }
}

#[test]
fn bad_checksum_files_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let who = identity("pbx");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("garbage", b"\x00\x01\x02garbage\xff\xfe".to_vec()),
        ("huge", vec![b'0'; cr_sign::MAX_MANIFEST_BYTES + 10]),
        ("crlf", format!("{}  a.wav\r\n", "0".repeat(64)).into_bytes()),
    ];
    for (id, bytes) in cases {
        let p = dir.path().join(format!("{id}.sha256"));
        std::fs::write(&p, bytes).unwrap();
        let r = verify_set(&p, who.certificate());
        assert!(!r.is_ok(), "{id}");
        assert!(r.problems.iter().any(|p| matches!(p.kind, ProblemKind::Malformed(_))), "{id}: {:?}", r.problems);
    }
}

#[test]
fn certificates_that_are_not_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        ("empty.pem", b"".to_vec()),
        ("text.pem", b"hello".to_vec()),
        ("badpem.pem", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_vec()),
        ("random.der", (0..500u32).map(|i| (i * 7) as u8).collect()),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        let err = cr_sign::Certificate::load(&p).unwrap_err();
        assert!(err.to_string().contains(name), "{err}");
    }
}

#[test]
fn sealing_refuses_files_outside_one_directory_and_bad_ids() {
    let dir = tempfile::tempdir().unwrap();
    let who = identity("pbx");
    let a = dir.path().join("a.wav");
    std::fs::write(&a, b"a").unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let b = dir.path().join("sub/b.wav");
    std::fs::write(&b, b"b").unwrap();
    assert!(matches!(seal("x", &[a.clone(), b], &who), Err(SignError::BadSetFile(_))));
    assert!(matches!(seal("../x", &[a.clone()], &who), Err(SignError::BadId(_))));
    assert!(matches!(seal("a b", &[a.clone()], &who), Err(SignError::BadId(_))));
    assert!(seal("x", &[dir.path().join("missing.wav")], &who).is_err());
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[test]
fn hashes_files_past_4_gib_streaming_like_openssl() {
    if !have("openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("big.wav");
    // Sparse: no disk space used, but every byte is read and hashed.
    let f = std::fs::File::create(&p).unwrap();
    f.set_len((4u64 << 30) + 12_345).unwrap();
    drop(f);
    let (digest, len) = cr_sign::sha256_file(&p).unwrap();
    assert_eq!(len, (4u64 << 30) + 12_345);
    let (ok, out) = run(Command::new("openssl").args(["dgst", "-sha256", "-r"]).arg(&p));
    assert!(ok, "{out}");
    assert_eq!(out.split_whitespace().next().unwrap(), hex_of(&digest));
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn checksum_file_over_1_mib_is_reported_as_too_large_not_as_a_bad_signature() {
    // Regression: cr-verify read the first MiB only and called a checksum file that
    // openssl verifies "signature does not verify".
    if !have("openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let who = identity("big");
    let id = "20261202T101010-0001";
    // A checksum file of 1.1 MiB, signed with the set's key as the product signs.
    let line = format!("{}  {id}.wav\n", "0".repeat(64));
    let text = line.repeat((1 << 20) / line.len() + 1000);
    assert!(text.len() > 1 << 20);
    let sums = dir.path().join(format!("{id}.sha256"));
    std::fs::write(&sums, &text).unwrap();
    let sig = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, who.sign(text.as_bytes()));
    std::fs::write(dir.path().join(format!("{id}.sha256.SHA256withRSA.sig")), sig).unwrap();
    let cert = write_cert(dir.path(), &who);
    // openssl: the signature is good.
    let d = dir.path();
    let (ok, out) = run(Command::new("sh").current_dir(d).arg("-c").arg(format!(
        "base64 -d {id}.sha256.SHA256withRSA.sig > sig.bin && openssl x509 -in {} -pubkey -noout > pub.pem && openssl dgst -sha256 -verify pub.pem -signature sig.bin {id}.sha256",
        cert.display()
    )));
    assert!(ok, "{out}");
    let report = verify_set(&sums, who.certificate());
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    let p = &report.problems[0];
    assert!(matches!(p.kind, ProblemKind::Malformed(cr_sign::ManifestError::TooLarge(_))), "{p}");
    assert!(p.to_string().contains("larger than 1 MiB"), "{p}");
}
