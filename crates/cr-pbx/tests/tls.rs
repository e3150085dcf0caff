//! SIP over TLS against the real driver: certificates made by the openssl command, a client
//! in Python's `ssl` (OpenSSL), client certificates pinned by the fingerprint openssl prints.

use cr_pbx::driver::{SrsDriverConfig, TlsSettings, start_srs};
use std::path::{Path, PathBuf};
use std::process::Command;

fn have(tool: &str, arg: &str) -> bool {
    let ok = Command::new(tool).arg(arg).output().is_ok();
    if !ok {
        assert!(
            std::env::var("CALLREC_TEST_STRICT").as_deref() != Ok("1"),
            "{tool} is required (CALLREC_TEST_STRICT=1)"
        );
        eprintln!("SKIPPED: {tool} is not installed; SIP over TLS not tested");
    }
    ok
}

/// A self-signed EC certificate and key for `cn` (with localhost/127.0.0.1 names).
fn make_cert(dir: &Path, name: &str, cn: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "30", "-subj", &format!("/CN={cn}")])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// A client certificate for `cn` issued by the CA `ca` (`ca.pem`, `ca.key` in `dir`).
fn make_issued(dir: &Path, ca: &str, name: &str, cn: &str) -> (PathBuf, PathBuf) {
    let (cert, key, csr) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.csr")),
    );
    let ext = dir.join("client.ext");
    std::fs::write(
        &ext,
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n",
    )
    .expect("ext");
    let run = |cmd: &mut Command| {
        let out = cmd.output().expect("openssl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(Command::new("openssl")
        .args([
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ])
        .args(["-subj", &format!("/CN={cn}")])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&csr));
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "30", "-in"])
        .arg(&csr)
        .arg("-CA")
        .arg(dir.join(format!("{ca}.pem")))
        .arg("-CAkey")
        .arg(dir.join(format!("{ca}.key")))
        .args(["-set_serial", "7", "-extfile"])
        .arg(&ext)
        .arg("-out")
        .arg(&cert));
    (cert, key)
}

/// `sha256:AB:CD:...` as `openssl x509 -fingerprint -sha256` prints it.
fn fingerprint(cert: &Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(cert)
        .output()
        .expect("openssl");
    let text = String::from_utf8_lossy(&out.stdout);
    let hex = text.trim().split_once('=').expect("Fingerprint=...").1;
    format!("sha256:{hex}")
}

struct Tls {
    _rt: tokio::runtime::Runtime,
    port: u16,
    _dir: tempfile::TempDir,
    server_cert: PathBuf,
}

fn start(client_pins: &[&Path]) -> Tls {
    start_with(client_pins, None)
}

fn start_with(client_pins: &[&Path], client_ca: Option<&Path>) -> Tls {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = make_cert(dir.path(), "server", "localhost");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let k = std::process::id() % 200;
    let lo = 26000 + k as u16 * 10;
    // UDP first: our Contact over TLS must still name the TLS port.
    let mut cfg = SrsDriverConfig::new(
        vec!["udp:127.0.0.1:0".into(), "tls:127.0.0.1:0".into()],
        format!("{lo}-{}", lo + 9),
    );
    cfg.tls = Some(TlsSettings {
        certificate: cert.clone(),
        key,
        client_ca: client_ca.map(Path::to_path_buf),
        client_fingerprints: client_pins.iter().map(|p| fingerprint(p)).collect(),
    });
    let h = rt.block_on(start_srs(cfg)).expect("start srs over TLS");
    let port = h.local_addrs[1].addr.port();
    rt.spawn(async move {
        let mut h = h;
        while let Some(e) = h.events.recv().await {
            if let cr_pbx::Event::NewSession { id, .. } = e {
                let _ = h.commands.send(cr_pbx::driver::Command::Accept(id));
            }
        }
    });
    Tls {
        _rt: rt,
        port,
        _dir: dir,
        server_cert: cert,
    }
}

/// Runs the Python TLS client; returns its exit status, stdout and stderr.
fn options(srv: &Tls, client: Option<(&Path, &Path)>) -> (i32, String, String) {
    request(srv, client, None)
}

fn request(srv: &Tls, client: Option<(&Path, &Path)>, sdp: Option<&Path>) -> (i32, String, String) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/tls/sip_options.py"
    );
    let mut cmd = Command::new("python3");
    cmd.arg(script)
        .args(["--port", &srv.port.to_string()])
        .arg("--ca")
        .arg(&srv.server_cert);
    if let Some((c, k)) = client {
        cmd.arg("--cert").arg(c).arg("--key").arg(k);
    }
    if let Some(f) = sdp {
        cmd.arg("--sdp").arg(f);
    }
    let out = cmd.output().expect("python3");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

// Guards against TLS that shuts out the SBCs it should admit: a pinned certificate is served.
#[test]
fn sip_over_tls_answers_a_client_with_a_pinned_certificate() {
    if !(have("openssl", "version") && have("python3", "--version")) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (sbc, sbc_key) = make_cert(dir.path(), "sbc", "sbc-allowed");
    let srv = start(&[&sbc]);
    let (code, out, err) = options(&srv, Some((&sbc, &sbc_key)));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.trim(), "SIP/2.0 200 OK", "{err}");
    // A SIPREC INVITE over TLS: answered, with a Contact for TLS on the TLS port.
    let sdp = dir.path().join("offer.sdp");
    std::fs::write(
        &sdp,
        "v=0\r\no=SBC 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/AVP 0\r\na=sendonly\r\n",
    )
    .expect("sdp");
    let (code, out, err) = request(&srv, Some((&sbc, &sbc_key)), Some(&sdp));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("SIP/2.0 200 OK"), "{out}");
    let contact = format!(":{};transport=tls>", srv.port);
    assert!(out.contains(&contact), "Contact names the TLS port: {out}");
}

// Guards against any host that can reach the port recording (or probing) over TLS.
#[test]
fn sip_over_tls_refuses_unknown_and_missing_client_certificates() {
    if !(have("openssl", "version") && have("python3", "--version")) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (sbc, _) = make_cert(dir.path(), "sbc", "sbc-allowed");
    let (other, other_key) = make_cert(dir.path(), "other", "sbc-allowed");
    let srv = start(&[&sbc]);
    let (code, out, err) = options(&srv, Some((&other, &other_key)));
    assert_eq!(
        code, 2,
        "an unknown certificate (same name, other key) is refused: {out}{err}"
    );
    assert!(!out.contains("SIP/2.0"), "{out}");
    assert!(err.contains("TLS refused"), "{err}");
    eprintln!("unknown certificate: {err}");
    let (code, out, err) = options(&srv, None);
    assert_eq!(code, 2, "no certificate is refused: {out}{err}");
    assert!(err.contains("TLS refused"), "{err}");
    eprintln!("no certificate: {err}");
}

// Guards against TLS set up with files that are not there: the driver refuses to start.
#[test]
fn sip_over_tls_without_usable_certificate_files_does_not_start() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let cfg = SrsDriverConfig::new(vec!["tls:127.0.0.1:0".into()], "26900-26909");
    let e = rt.block_on(start_srs(cfg)).expect_err("no TLS settings");
    assert!(e.to_string().contains("tls_certificate"), "{e}");
    let mut cfg = SrsDriverConfig::new(vec!["tls:127.0.0.1:0".into()], "26900-26909");
    cfg.tls = Some(TlsSettings {
        certificate: "/nonexistent/cert.pem".into(),
        key: "/nonexistent/key.pem".into(),
        ..TlsSettings::default()
    });
    let e = rt.block_on(start_srs(cfg)).expect_err("missing files");
    assert!(e.to_string().contains("/nonexistent/cert.pem"), "{e}");
}

// Guards against a CA setting that admits anyone: only certificates the CA issued are served.
#[test]
fn sip_over_tls_with_a_client_ca_admits_only_what_it_issued() {
    if !(have("openssl", "version") && have("python3", "--version")) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (ca, _) = make_cert(dir.path(), "ca", "callrec test SBC CA");
    let (sbc, sbc_key) = make_issued(dir.path(), "ca", "sbc", "sbc-1");
    let (other, other_key) = make_cert(dir.path(), "other", "sbc-1");
    let srv = start_with(&[], Some(&ca));
    let (code, out, err) = options(&srv, Some((&sbc, &sbc_key)));
    assert_eq!((code, out.trim()), (0, "SIP/2.0 200 OK"), "{err}");
    let (code, out, err) = options(&srv, Some((&other, &other_key)));
    assert_eq!(
        code, 2,
        "a certificate the CA did not issue is refused: {out}{err}"
    );
    assert!(err.contains("TLS refused"), "{err}");
}
