//! The pieces the browser tests share: a blocking HTTPS server (rustls) with a form page, a
//! result page that sets cookies and holds an <audio> element, and a WAV served with HTTP
//! range support; certificates made by the `openssl` CLI.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Generous: a loaded CI machine may be slow, and a passing run never waits this long.
pub const DEADLINE: Duration = Duration::from_secs(60);

pub fn have(bin: &str) -> bool {
    let found =
        Command::new("sh").arg("-c").arg(format!("command -v {bin}")).output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CALLREC_TEST_STRICT").as_deref() != Ok("1"),
            "{bin} is not installed and CALLREC_TEST_STRICT=1"
        );
        eprintln!("SKIPPED: {bin} is not installed (see scripts/install-deps.sh)");
    }
    found
}

pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub range: Option<String>,
    pub status: u16,
    pub body: String,
}

/// A blocking HTTPS server on a loopback port; each connection on its own thread.
pub struct Server {
    pub port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    pub fn start(cert: &Path, key: &Path, wav: Vec<u8>) -> Server {
        use rustls::pki_types::pem::PemObject as _;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(cert).expect("cert.pem").collect::<Result<_, _>>().expect("cert.pem parses");
        let key = PrivateKeyDer::from_pem_file(key).expect("key.pem parses");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("certificate and key match");
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (seen2, wav) = (Arc::clone(&seen), Arc::new(wav));
        std::thread::spawn(move || {
            for tcp in listener.incoming().flatten() {
                let (config, seen, wav) = (Arc::clone(&config), Arc::clone(&seen2), Arc::clone(&wav));
                std::thread::spawn(move || {
                    let Ok(conn) = rustls::ServerConnection::new(config) else { return };
                    let tls = rustls::StreamOwned::new(conn, tcp);
                    let _ = serve(tls, &seen, &wav);
                });
            }
        });
        Server { port, seen }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

type Tls = rustls::StreamOwned<rustls::ServerConnection, TcpStream>;

/// Answers the requests of one connection (keep-alive) until the client closes it.
fn serve(tls: Tls, seen: &Mutex<Vec<Seen>>, wav: &[u8]) -> std::io::Result<()> {
    let mut r = BufReader::new(tls);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (parts.next().unwrap_or("").to_owned(), parts.next().unwrap_or("").to_owned());
        let (mut length, mut range) = (0usize, None);
        loop {
            let mut h = String::new();
            if r.read_line(&mut h)? == 0 {
                return Ok(());
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (name, value) = h.split_once(':').unwrap_or((h, ""));
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "range" => range = Some(value.trim().to_owned()),
                _ => {}
            }
        }
        let mut body = vec![0; length];
        r.read_exact(&mut body)?;
        let body = String::from_utf8_lossy(&body).into_owned();
        let (status, headers, content) = respond(&method, &path, range.as_deref(), &body, wav);
        seen.lock().expect("lock").push(Seen { path: path.clone(), range, status, body });
        let reason = match status {
            200 => "OK",
            206 => "Partial Content",
            416 => "Range Not Satisfiable",
            _ => "Not Found",
        };
        let w = r.get_mut();
        write!(w, "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\n{headers}\r\n", content.len())?;
        w.write_all(&content)?;
        w.flush()?;
    }
}

const FORM: &str = r#"<!doctype html><html><head><meta charset="utf-8"><title>harness</title></head><body>
<form method="post" action="/submit"><input id="caller" name="caller"><button id="send" type="submit">Search</button></form>
<p id="late"></p>
<script>setTimeout(function () { document.getElementById('late').textContent = 'arrived'; }, 400);</script>
</body></html>"#;

fn respond(method: &str, path: &str, range: Option<&str>, body: &str, wav: &[u8]) -> (u16, String, Vec<u8>) {
    let html = "Content-Type: text/html; charset=utf-8\r\n".to_owned();
    match (method, path) {
        ("GET", "/") => (200, html, FORM.as_bytes().to_vec()),
        ("POST", "/submit") => {
            let caller = form_value(body, "caller").unwrap_or_default();
            let page = format!(
                r#"<!doctype html><html><head><meta charset="utf-8"><title>result</title></head><body>
<p id="result">Searching for {}</p>
<audio id="player" src="/tone.wav" preload="metadata"
  onloadedmetadata="document.getElementById('meta').textContent = 'loaded'"
  onended="document.getElementById('state').textContent = 'ended'"></audio>
<button id="play" onclick="document.getElementById('player').play()">Play</button>
<p id="meta">loading</p><p id="state">idle</p>
</body></html>"#,
                escape(&caller)
            );
            let cookies = "Set-Cookie: sid=s3cr3t; Path=/; Secure; HttpOnly; SameSite=Strict\r\n\
                           Set-Cookie: plain=visible; Path=/\r\n";
            (200, format!("{html}{cookies}"), page.into_bytes())
        }
        // A page that reloads itself 30 ms after it has loaded (late enough for `goto` to return): the document is replaced
        // again and again, so an element found in one is gone when asked for its text.
        ("GET", "/churn") => (
            200,
            html,
            b"<!doctype html><html><head><title>churn</title></head><body><h1>churn</h1><script>setTimeout(function () { location.reload(); }, 30);</script></body></html>".to_vec(),
        ),
        ("GET", "/tone.wav") => {
            let wav_headers = "Content-Type: audio/wav\r\nAccept-Ranges: bytes\r\n";
            match range.map(|r| byte_range(r, wav.len())) {
                None => (200, wav_headers.to_owned(), wav.to_vec()),
                Some(Some((from, to))) => (
                    206,
                    format!("{wav_headers}Content-Range: bytes {from}-{to}/{}\r\n", wav.len()),
                    wav[from..=to].to_vec(),
                ),
                Some(None) => (416, format!("Content-Range: bytes */{}\r\n", wav.len()), Vec::new()),
            }
        }
        _ => (404, html, b"not found".to_vec()),
    }
}

/// One `bytes=FROM-[TO]` range within `len` bytes (inclusive bounds), as RFC 9110 §14.1.2.
pub fn byte_range(header: &str, len: usize) -> Option<(usize, usize)> {
    let (from, to) = header.strip_prefix("bytes=")?.split_once('-')?;
    let from: usize = from.parse().ok()?;
    let to = if to.is_empty() { len.checked_sub(1)? } else { to.parse::<usize>().ok()?.min(len.checked_sub(1)?) };
    (from <= to).then_some((from, to))
}

/// The value of `name` in an `application/x-www-form-urlencoded` body.
pub fn form_value(body: &str, name: &str) -> Option<String> {
    let raw = body.split('&').find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))?;
    let bytes = raw.as_bytes();
    let (mut out, mut i) = (Vec::new(), 0);
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                out.push(u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A self-signed certificate for 127.0.0.1 (P-256), made by `openssl req`: (cert.pem, key.pem)
/// in `dir`, named after `name`.
pub fn self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join(format!("{name}.pem")), dir.join(format!("{name}.key")));
    run(Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .args(["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert));
    (cert, key)
}
