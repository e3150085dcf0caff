//! `crctl config check` across every part of the file: each problem with file, line, key.

use std::process::Command;

fn check(body: &str, files: &[(&str, &[u8])]) -> (i32, String) {
    check_modes(body, files, None)
}

/// `check`, with the files' mode set to `mode` when given.
fn check_modes(body: &str, files: &[(&str, &[u8])], mode: Option<u32>) -> (i32, String) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in files {
        let p = dir.path().join("data").join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
        if let Some(m) = mode {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(m)).unwrap();
        }
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

/// A self-signed certificate and its key (PEM) made by `openssl req -x509 -nodes -days 30
/// ARGS`, or `None` (skipped loudly; a failure under CALLREC_TEST_STRICT=1) without openssl.
fn self_signed(args: &[&str]) -> Option<(Vec<u8>, Vec<u8>)> {
    let dir = tempfile::tempdir().unwrap();
    let made = Command::new("openssl")
        .args(["req", "-x509", "-nodes", "-days", "30"])
        .args(args)
        .arg("-keyout")
        .arg(dir.path().join("k.pem"))
        .arg("-out")
        .arg(dir.path().join("c.pem"))
        .output();
    let Ok(made) = made else {
        assert!(std::env::var("CALLREC_TEST_STRICT").as_deref() != Ok("1"), "openssl is required");
        eprintln!("SKIPPED: openssl is not installed");
        return None;
    };
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    Some((std::fs::read(dir.path().join("c.pem")).unwrap(), std::fs::read(dir.path().join("k.pem")).unwrap()))
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

// Guards against a per-source INVITE limit of 0, which would refuse every call.
#[test]
fn a_per_source_invite_limit_of_zero_is_refused() {
    let body = "[pbx.siprec]\nlisten = [\"udp:127.0.0.1:5060\"]\nmax_pending_invites_per_source = 0\n";
    let (code, err) = check(body, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(":8: key `pbx.siprec.max_pending_invites_per_source`"), "{err}");
    let (code, err) = check(&body.replace("= 0", "= 5"), &[]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn bad_target_settings_are_named() {
    let body = "[[targets]]\nname = \"nas\"\nkind = \"smb\"\nserver = \"smb://nas01\"\nshare = \"rec/sub\"\ndirectory = \"../up\"\n";
    let (code, err) = check(body, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("targets[0]"), "{err}");
    assert!(err.contains("..") || err.contains("directory"), "{err}");
}

#[test]
fn a_folder_target_whose_path_does_not_exist_is_refused() {
    // Regression: config check said OK, and every set then waited in the spool.
    let body = "[[targets]]\nname = \"nas\"\nkind = \"folder\"\npath = \"/nonexistent/callrec-archive\"\n";
    let (code, err) = check(body, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(":9: key `targets[0].path`: /nonexistent/callrec-archive is not an existing folder"), "{err}");
}

#[test]
fn siprec_without_a_listen_address_and_bad_tcp_limits_are_refused() {
    // Regression: `listen = []` passed config check; the recorder then took no call.
    let body = "[pbx.siprec]\nlisten = []\ntcp_idle_timeout = \"soon\"\ntcp_max_connections = 0\n";
    let (code, err) = check(body, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(":7: key `pbx.siprec.listen`: no listen address"), "{err}");
    assert!(err.contains(":8: key `pbx.siprec.tcp_idle_timeout`"), "{err}");
    assert!(err.contains(":9: key `pbx.siprec.tcp_max_connections`"), "{err}");
}

#[test]
fn rtp_ports_inside_the_ephemeral_range_are_warned_about() {
    let Ok(range) = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range") else {
        eprintln!("SKIPPED: no /proc/sys/net/ipv4/ip_local_port_range");
        return;
    };
    let lo: u16 = range.split_whitespace().next().unwrap().parse().unwrap();
    let body = format!("[pbx.siprec]\nlisten = [\"udp:127.0.0.1:5060\"]\nrtp_ports = \"{}-{}\"\n", lo + 2, lo + 100);
    let (code, err) = check(&body, &[]);
    assert_eq!(code, 0, "a warning, not an error: {err}");
    assert!(err.contains("warning") && err.contains("overlaps the kernel's ephemeral ports"), "{err}");
    // The default range (16384-32766) does not, where the kernel has its usual range.
    if lo > 32766 {
        let (code, err) = check("[pbx.siprec]\nlisten = [\"udp:127.0.0.1:5060\"]\n", &[]);
        assert_eq!(code, 0, "{err}");
        assert!(!err.contains("ephemeral"), "{err}");
    }
}

#[test]
fn a_directory_template_with_an_unknown_placeholder_is_refused_by_config_check() {
    // Reported: `$Q` was refused by the uploader only, when it first delivered.
    let body = "[[targets]]\nname = \"t\"\nkind = \"folder\"\npath = \"/tmp\"\ndirectory = \"$Y/$Q\"\n";
    let (code, err) = check(body, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(":10: key `targets[0].directory`") && err.contains("unknown placeholder $Q"), "{err}");
}

// Guards against: an ingest API open to the network without authentication (issue 11).
#[test]
fn api_on_a_network_address_without_tokens_is_refused() {
    let (code, err) = check("[pbx.api]\nlisten = \"0.0.0.0:8640\"\n", &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(":7: key `pbx.api.listen`") && err.contains("bearer token"), "{err}");
    // On loopback it passes, with notes saying what is refused.
    let (code, err) = check("[pbx.api]\nlisten = \"127.0.0.1:8640\"\n", &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("note:") && err.contains("leg_dirs"), "{err}");
}

// Guards against: a token file that is missing, empty or readable by every local user.
#[test]
fn token_file_missing_empty_or_world_readable_is_refused() {
    let body = "[pbx.api]\nlisten = \"0.0.0.0:8640\"\ntoken_file = \"api-tokens\"\n";
    let (code, err) = check(body, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(":8: key `pbx.api.token_file`"), "{err}");
    let (code, err) = check_modes(body, &[("api-tokens", b"# none yet\n")], Some(0o600));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("pbx.api.token_file") && err.contains("no token"), "{err}");
    let secret: &[u8] = b"s3cr3t-t0ken-0123456789\n";
    let (code, err) = check_modes(body, &[("api-tokens", secret)], Some(0o644));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("pbx.api.token_file") && err.contains("chmod o-rwx"), "{err}");
    assert!(!err.contains("s3cr3t"), "the token must not be echoed: {err}");
    // The same file, private: accepted, on a network address too.
    let (code, err) = check_modes(body, &[("api-tokens", secret)], Some(0o640));
    assert_eq!(code, 0, "{err}");
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
    let Some((c, k)) = self_signed(&["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-subj", "/CN=srs"]) else { return };
    let body = "[pbx.siprec]\nlisten = [\"tls:127.0.0.1:5061\"]\ntls_certificate = \"c.pem\"\ntls_key = \"k.pem\"\ntls_client_fingerprints = [\"sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"]\n";
    let (_, err) = check(body, &[("c.pem", &c), ("k.pem", &k)]);
    assert!(!err.contains("tls_"), "{err}");
    let bad = body.replace("sha256:0011", "sha1:0011");
    let (code, err) = check(&bad, &[("c.pem", &c), ("k.pem", &k)]);
    assert_eq!(code, 1);
    assert!(err.contains("key `pbx.siprec.tls_client_fingerprints`"), "{err}");
}

// Guards against: an unknown target printed twice (by the policy and by the targets).
#[test]
fn an_unknown_target_is_reported_once() {
    let body = format!(
        "{USERS}[[recordings]]\nname = \"r\"\nusers = [\"alice\"]\ntargets = [\"ofsite\"]\n[[targets]]\nname = \"nas\"\nkind = \"folder\"\npath = \"/tmp\"\n"
    );
    let (code, err) = check(&body, &[]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(err.matches("ofsite").count(), 1, "{err}");
    assert!(err.contains(":12: key `recordings[0].targets[0]`: unknown target \"ofsite\""), "{err}");
}

// Guards against: `decline` checked by `config check` only (the recorder's own test is in
// bins/cr-recorder/tests/config.rs).
#[test]
fn a_bad_decline_is_refused() {
    let (code, err) = check("[pbx.siprec]\nlisten = [\"udp:127.0.0.1:5060\"]\ndecline = \"drop\"\n", &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(":8: key `pbx.siprec.decline`: \"drop\": use \"reject\" or \"accept\""), "{err}");
}

#[test]
fn timestamping_url_certificate_and_timeout_are_checked_naming_file_and_key() {
    let body = "[timestamping]\ntsa_url = \"ftp://tsa.example\"\ntsa_cert = \"missing.pem\"\ntimeout = \"0s\"\n";
    let (code, err) = check(body, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(":7: key `timestamping.tsa_url`"), "{err}");
    assert!(err.contains(":8: key `timestamping.tsa_cert`: not a readable certificate") && err.contains("missing.pem"), "{err}");
    assert!(err.contains(":9: key `timestamping.timeout`"), "{err}");
    // A file that is there but holds no certificate (its content is not echoed).
    let body = "[timestamping]\ntsa_url = \"http://user:secret@tsa.example/\"\ntsa_cert = \"tsa.pem\"\n";
    let (code, err) = check(body, &[("tsa.pem", b"-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleQ==\n-----END PRIVATE KEY-----\n")]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(":8: key `timestamping.tsa_cert`") && err.contains("tsa.pem"), "{err}");
    assert!(err.contains(":7: key `timestamping.tsa_url`") && !err.contains("secret@"), "{err}");
    assert!(!err.contains("c2VjcmV0"), "{err}");
}

#[test]
fn timestamping_with_a_real_tsa_certificate_passes() {
    let Some((c, _)) = self_signed(&["-newkey", "rsa:2048", "-subj", "/CN=tsa", "-addext", "extendedKeyUsage=critical,timeStamping"]) else { return };
    let body = "[timestamping]\ntsa_url = \"https://tsa.example/tsr\"\ntsa_cert = \"tsa.pem\"\n";
    let (_, err) = check(body, &[("tsa.pem", &c)]);
    assert!(!err.contains("timestamping"), "{err}");
}

// Guards against: `crctl config check` passing a `[reconcile]` section that cr-uploader
// then refuses at start (only the uploader checked it).
#[test]
fn reconcile_section_is_checked_naming_file_and_key() {
    let body = "[reconcile]\ncdr = \"Master.csv\"\nformat = \"asterix\"\ninterval = \"10s\"\ntz = \"Mars/Olympus\"\n";
    let (code, err) = check(body, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(":8: key `reconcile.format`"), "{err}");
    assert!(err.contains(":9: key `reconcile.interval`"), "{err}");
    assert!(err.contains(":10: key `reconcile.tz`"), "{err}");
    let body = "[reconcile]\ncdr = \"Master.csv\"\nformat = \"asterisk\"\ntz = \"Europe/Berlin\"\n";
    let (code, err) = check(body, &[]);
    assert_eq!(code, 0, "{err}");
}
