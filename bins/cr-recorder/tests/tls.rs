//! cr-recorder with `listen = ["tls:..."]` from its configuration file: certificates made
//! by the openssl command (paths relative to data_dir), a client in Python's `ssl`.

mod support;

use std::path::Path;
use std::process::Command;

use support::*;

fn make_cert(dir: &Path, name: &str, cn: &str) {
    run(Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "30"])
        .args(["-subj", &format!("/CN={cn}"), "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(dir.join(format!("{name}.key")))
        .arg("-out")
        .arg(dir.join(format!("{name}.pem"))));
}

fn fingerprint(cert: &Path) -> String {
    let out = run(Command::new("openssl").args(["x509", "-noout", "-fingerprint", "-sha256", "-in"]).arg(cert));
    format!("sha256:{}", out.trim().split_once('=').unwrap().1)
}

fn options(port: u16, dir: &Path, client: &str) -> (i32, String, String) {
    let out = Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/tls/sip_options.py"))
        .args(["--port", &port.to_string()])
        .arg("--ca")
        .arg(dir.join("srs.pem"))
        .arg("--cert")
        .arg(dir.join(format!("{client}.pem")))
        .arg("--key")
        .arg(dir.join(format!("{client}.key")))
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

// Guards against TLS settings the recorder ignores or resolves wrongly: from the file, the
// pinned SBC is answered and an unknown one refused.
#[test]
fn recorder_serves_sip_over_tls_to_pinned_sbcs_only() {
    if !(have("openssl") && have("python3")) {
        return;
    }
    let probe = tempfile::tempdir().unwrap();
    let tls_port = free_port();
    let tls = probe.path().join("tls");
    std::fs::create_dir_all(&tls).unwrap();
    make_cert(&tls, "sbc", "sbc-allowed");
    let pin = fingerprint(&tls.join("sbc.pem"));
    let rtp = 21_000 + (std::process::id() % 500) as u16 * 2;
    let body = format!(
        "[pbx.siprec]\nlisten = [\"tls:127.0.0.1:{tls_port}\"]\nrtp_ports = \"{rtp}-{}\"\ntls_certificate = \"tls/srs.pem\"\ntls_key = \"tls/srs.key\"\ntls_client_fingerprints = [\"{pin}\"]\n",
        rtp + 40
    );
    let inst = Install::new(&body, false);
    let data_tls = inst.path("data/tls");
    std::fs::create_dir_all(&data_tls).unwrap();
    make_cert(&data_tls, "srs", "localhost");
    make_cert(&data_tls, "other", "sbc-allowed");
    for f in ["sbc.pem", "sbc.key"] {
        std::fs::copy(tls.join(f), data_tls.join(f)).unwrap();
    }
    let rec = inst.start();
    let (code, out, err) = options(tls_port, &data_tls, "sbc");
    assert_eq!((code, out.trim()), (0, "SIP/2.0 200 OK"), "{err}");
    let (code, out, err) = options(tls_port, &data_tls, "other");
    assert_eq!(code, 2, "unknown SBC refused: {out}{err}");
    assert!(err.contains("TLS refused"), "{err}");
    rec.stop();
}
