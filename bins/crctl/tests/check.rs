//! `crctl config check` across every part of the file: each problem with file, line, key.

use std::process::Command;

fn check(body: &str, files: &[(&str, &[u8])]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in files {
        let p = dir.path().join("data").join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    let text = format!(
        "[installation]\nmodule_id = \"x\"\ndata_dir = \"{}\"\n[keystore]\npassword_env = \"CRCTL_CHECK_PW\"\n{body}",
        dir.path().join("data").display()
    );
    let cfg = dir.path().join("callrec.toml");
    std::fs::write(&cfg, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_crctl"))
        .arg("--config")
        .arg(&cfg)
        .args(["config", "check"])
        .env("CRCTL_CHECK_PW", "pw")
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

const USERS: &str = "[[users]]\nid = \"alice\"\nnumbers = [\"201\"]\n"; // lines 6-8

#[test]
fn an_announcement_that_cannot_be_played_is_refused_at_check_time() {
    let body = format!(
        "{USERS}[[recordings]]\nname = \"r\"\nusers = [\"alice\"]\nannouncement_incoming = \"ann/hello.wav\"\ntargets = [\"t\"]\n[[targets]]\nname = \"t\"\nkind = \"folder\"\npath = \"/tmp\"\n"
    );
    let (code, err) = check(&body, &[("ann/hello.wav", b"RIFF\x10\x00\x00\x00WAVEjunk")]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(":12: key `recordings[0].announcement_incoming`: cannot be played"), "{err}");
}

#[test]
fn pbx_listen_addresses_and_port_ranges_are_checked() {
    let body = "[pbx.siprec]\nlisten = [\"udp:127.0.0.1:5060\", \"sctp:1.2.3.4:5\"]\nrtp_ports = \"40000-30000\"\n[pbx.api]\nlisten = \"localhost\"\n";
    let (code, err) = check(body, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(":7: key `pbx.siprec.listen[1]`"), "{err}");
    assert!(err.contains(":8: key `pbx.siprec.rtp_ports`"), "{err}");
    assert!(err.contains(":10: key `pbx.api.listen`"), "{err}");
}

#[test]
fn bad_target_settings_are_named() {
    let body = "[[targets]]\nname = \"nas\"\nkind = \"smb\"\nserver = \"smb://nas01\"\nshare = \"rec/sub\"\ndirectory = \"../up\"\n";
    let (code, err) = check(body, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("targets[0]"), "{err}");
    assert!(err.contains("..") || err.contains("directory"), "{err}");
}

// Guards against an srtp value the recorder would only refuse at start (or misread).
#[test]
fn pbx_srtp_value_is_checked() {
    let body = "[pbx.siprec]\nlisten = [\"udp:127.0.0.1:5060\"]\nsrtp = \"on\"\n";
    let (code, err) = check(body, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(":8: key `pbx.siprec.srtp`"), "{err}");
    assert!(err.contains("\"off\", \"allow\" or \"require\""), "{err}");
    for good in ["off", "allow", "require"] {
        let body = format!("[pbx.siprec]\nlisten = [\"udp:127.0.0.1:5060\"]\nsrtp = \"{good}\"\n");
        let (code, err) = check(&body, &[]);
        assert!(!err.contains("pbx.siprec.srtp"), "{good}: {err}");
        let _ = code;
    }
}

// Guards against a tls: listen address that passes the check and then cannot start.
#[test]
fn tls_listen_without_usable_certificate_files_is_refused() {
    let body = "[pbx.siprec]\nlisten = [\"tls:127.0.0.1:5061\"]\n";
    let (code, err) = check(body, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("key `pbx.siprec.listen`") && err.contains("tls_certificate and tls_key"), "{err}");
    let body = "[pbx.siprec]\nlisten = [\"tls:127.0.0.1:5061\"]\ntls_certificate = \"tls/missing.pem\"\ntls_key = \"tls/missing.key\"\n";
    let (code, err) = check(body, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(":8: key `pbx.siprec.tls_certificate`") && err.contains("missing.pem"), "{err}");
    let body = "[pbx.siprec]\nlisten = [\"tls:127.0.0.1:5061\"]\ntls_certificate = \"c.pem\"\ntls_key = \"k.pem\"\n";
    let (code, err) = check(body, &[("c.pem", b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"), ("k.pem", b"secret-key-bytes")]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("pbx.siprec.tls_"), "{err}");
    assert!(!err.contains("secret-key-bytes"), "the key file's content is never echoed: {err}");
}

// Guards against the check refusing TLS files the recorder would take.
#[test]
fn tls_listen_with_usable_certificate_files_passes() {
    let dir = tempfile::tempdir().unwrap();
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "30", "-subj", "/CN=srs"])
        .arg("-keyout")
        .arg(dir.path().join("k.pem"))
        .arg("-out")
        .arg(dir.path().join("c.pem"))
        .output();
    let Ok(made) = made else {
        assert!(std::env::var("CALLREC_TEST_STRICT").as_deref() != Ok("1"), "openssl is required");
        eprintln!("SKIPPED: openssl is not installed");
        return;
    };
    assert!(made.status.success());
    let (c, k) = (std::fs::read(dir.path().join("c.pem")).unwrap(), std::fs::read(dir.path().join("k.pem")).unwrap());
    let body = "[pbx.siprec]\nlisten = [\"tls:127.0.0.1:5061\"]\ntls_certificate = \"c.pem\"\ntls_key = \"k.pem\"\ntls_client_fingerprints = [\"sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"]\n";
    let (_, err) = check(body, &[("c.pem", &c), ("k.pem", &k)]);
    assert!(!err.contains("tls_"), "{err}");
    let bad = body.replace("sha256:0011", "sha1:0011");
    let (code, err) = check(&bad, &[("c.pem", &c), ("k.pem", &k)]);
    assert_eq!(code, 1);
    assert!(err.contains("key `pbx.siprec.tls_client_fingerprints`"), "{err}");
}
