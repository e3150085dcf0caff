//! cr-console over HTTPS as a browser talks to it: a real installation (keystore, SQLite
//! journal, operators, a set sealed with the installation's key in the spool), a TLS
//! certificate made by the openssl tool, and an HTTP client that trusts only that
//! certificate and keeps cookies by hand so that their flags can be checked.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use cr_journal::{Direction, FileEntry, Journal, NewCall, NewRecording, OpenOptions, Role};

const KEYSTORE_PW: &str = "keystore-pw-1234";
const PASSWORD: &str = "operator password 1";

fn have(tool: &str) -> bool {
    let found = Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(std::env::var_os("CALLREC_TEST_STRICT").is_none(), "{tool} is missing (CALLREC_TEST_STRICT is set)");
        eprintln!("SKIPPED: {tool} is not installed");
    }
    found
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Console {
    dir: tempfile::TempDir,
    child: Child,
    url: String,
    client: reqwest::blocking::Client,
    set_dir: PathBuf,
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const SET: &str = "20261126T090000000Z-0a1b2c3d";

/// Seals set [`SET`] (a WAV and its metadata) into the spool and the chain, as the recorder does.
fn seal(j: &Journal, identity: &cr_sign::Identity, spool: &Path) -> PathBuf {
    let start = Utc.with_ymd_and_hms(2026, 11, 26, 9, 0, 0).unwrap();
    let end = start + chrono::Duration::seconds(95);
    let call = j
        .record_call(&NewCall {
            pbx_call_id: "pbx-1".into(),
            direction: Direction::Incoming,
            caller: "+4930999888".into(),
            callee: "300".into(),
            diversions: vec![],
            started_at: start,
            record: true,
            configuration: Some("desk".into()),
            reason: "incoming call to group trading (300)".into(),
        })
        .unwrap();
    j.end_call(call, end).unwrap();
    let dir = spool.join(SET);
    std::fs::create_dir_all(&dir).unwrap();
    let wav = dir.join(format!("{SET}.wav"));
    let st = Command::new("sox").args(["-D", "-n", "-r", "8000", "-c", "1", "-b", "16"]).arg(&wav).args(["synth", "2", "sine", "440"]).status().unwrap();
    assert!(st.success());
    let mut hashed = cr_sign::HashedFiles::new(SET).unwrap();
    hashed.add(std::slice::from_ref(&wav)).unwrap();
    let meta = dir.join(format!("{SET}.json"));
    let cert = identity.certificate().fingerprint_sha256();
    cr_sign::seal_into_chain(
        j,
        identity,
        hashed,
        SET,
        end,
        &meta,
        |link| serde_json::to_vec(&serde_json::json!({"id": SET, "chain": {"seq": link.seq, "prev_sha256": link.prev_sha256}})).unwrap(),
        |res, sealed| {
            res.commit(
                &sealed.checksum_sha256,
                &NewRecording {
                    set_id: SET.into(),
                    call,
                    configuration: "desk".into(),
                    started_at: start,
                    ended_at: end,
                    channels: "mono".into(),
                    files: sealed.files.iter().map(|f| FileEntry { name: f.name.clone(), size: f.size, sha256: f.sha256.clone() }).collect(),
                    cert_fingerprint: cert.clone(),
                    flags: vec![],
                    location: dir.display().to_string(),
                    targets: vec![],
                    expires_at: None,
                },
            )
        },
    )
    .unwrap();
    dir
}

impl Console {
    fn start(lockout_failures: u32) -> Console {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let data = root.join("data");
        std::fs::create_dir_all(&data).unwrap();
        // The console's TLS certificate, for 127.0.0.1, by the openssl tool.
        let (crt, key) = (root.join("console.crt"), root.join("console.key"));
        let ok = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
            // An end-entity certificate (rustls refuses a CA certificate as a server's).
            .args(["-addext", "basicConstraints=critical,CA:FALSE", "-addext", "extendedKeyUsage=serverAuth", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&crt)
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(ok.success());
        let port = free_port();
        let config = root.join("callrec.toml");
        std::fs::write(
            &config,
            format!(
                "[installation]\nmodule_id = \"console-test\"\ndata_dir = \"{}\"\n\n[keystore]\npassword_env = \"CR_CONSOLE_TEST_PW\"\n\n\
                 [journal]\nurl = \"sqlite:journal.sqlite\"\n\n[console]\nlisten = \"127.0.0.1:{port}\"\ncertificate = \"{}\"\nkey = \"{}\"\nlockout_failures = {lockout_failures}\n",
                data.display(),
                crt.display(),
                key.display()
            ),
        )
        .unwrap();
        let identity = cr_sign::Identity::generate("console-test", Utc::now()).unwrap();
        identity.save_keystore(&data.join("keystore.p12"), KEYSTORE_PW, cr_sign::Cipher::Aes256).unwrap();
        std::fs::write(data.join("cert.pem"), identity.certificate().pem()).unwrap();
        let j = Journal::open_sqlite(&data.join("journal.sqlite"), &OpenOptions::new()).unwrap();
        let now = Utc::now();
        j.add_operator("root", Role::Admin, PASSWORD, None, now).unwrap();
        j.add_operator("aud", Role::Auditor, PASSWORD, Some("root"), now).unwrap();
        let set_dir = seal(&j, &identity, &data.join("spool"));
        drop(j);
        let log = std::fs::File::create(root.join("console.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_cr-console"))
            .arg("--config")
            .arg(&config)
            .env("CR_CONSOLE_TEST_PW", KEYSTORE_PW)
            .stderr(log)
            .spawn()
            .unwrap();
        let client = reqwest::blocking::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&crt).unwrap()).unwrap())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let url = format!("https://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut child = child;
        while let Err(e) = client.get(format!("{url}/signin")).send() {
            let exited = child.try_wait().unwrap().is_some();
            let log = || std::fs::read_to_string(root.join("console.log")).unwrap_or_default();
            assert!(!exited && Instant::now() < deadline, "the console did not come up ({e:?}): {}", log());
            std::thread::sleep(Duration::from_millis(100));
        }
        Console { dir, child, url, client, set_dir }
    }

    fn journal(&self) -> Journal {
        Journal::open_sqlite(&self.dir.path().join("data/journal.sqlite"), &OpenOptions::new()).unwrap()
    }

    fn get(&self, path: &str, session: Option<&str>) -> reqwest::blocking::Response {
        let mut r = self.client.get(format!("{}{path}", self.url));
        if let Some(s) = session {
            r = r.header("Cookie", format!("callrec_session={s}"));
        }
        r.send().unwrap()
    }

    /// The sign-in form's token and the cookie that goes with it.
    fn login_token(&self) -> String {
        let r = self.get("/signin", None);
        let set = r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect::<Vec<_>>();
        let c = set.iter().find(|c| c.starts_with("callrec_login_csrf=")).unwrap();
        let token = c.trim_start_matches("callrec_login_csrf=").split(';').next().unwrap().to_owned();
        let body = r.text().unwrap();
        assert!(body.contains(&format!("name=\"csrf\" value=\"{token}\"")), "{body}");
        token
    }

    /// Signs in; returns the status and the Set-Cookie headers.
    fn sign_in(&self, name: &str, password: &str) -> (u16, Vec<String>, String) {
        let token = self.login_token();
        let r = self
            .client
            .post(format!("{}/signin", self.url))
            .header("Cookie", format!("callrec_login_csrf={token}"))
            .form(&[("name", name), ("password", password), ("csrf", &token)])
            .send()
            .unwrap();
        let status = r.status().as_u16();
        let cookies = r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
        (status, cookies, r.text().unwrap())
    }

    fn session(&self, name: &str) -> String {
        let (status, cookies, body) = self.sign_in(name, PASSWORD);
        assert_eq!(status, 303, "{body}");
        let c = cookies.iter().find(|c| c.starts_with("callrec_session=")).unwrap();
        c.trim_start_matches("callrec_session=").split(';').next().unwrap().to_owned()
    }

    fn audit_kinds(&self) -> Vec<(String, Option<String>)> {
        self.journal().audit_events(0, 10_000).unwrap().into_iter().map(|e| (e.kind.as_str().to_owned(), e.actor)).collect()
    }
}

#[test]
fn sign_in_sets_a_strict_cookie_wrong_passwords_lock_out_and_every_attempt_is_audited() {
    if !(have("openssl") && have("sox")) {
        return;
    }
    let c = Console::start(3);
    // Not signed in: every page leads to the sign-in form.
    let r = c.get("/search?number=999888", None);
    assert_eq!((r.status().as_u16(), r.headers()["location"].to_str().unwrap()), (303, "/signin"));

    let (status, _, body) = c.sign_in("aud", "not the password");
    assert_eq!(status, 401);
    assert!(body.contains("Wrong operator name or password."), "{body}");
    assert!(!body.contains("not the password"), "the password is never echoed");

    let (status, cookies, _) = c.sign_in("aud", PASSWORD);
    assert_eq!(status, 303);
    let session = cookies.iter().find(|c| c.starts_with("callrec_session=")).unwrap();
    for flag in ["; HttpOnly", "; SameSite=Strict", "; Secure", "; Path=/"] {
        assert!(session.contains(flag), "{flag} missing: {session}");
    }
    let kinds = c.audit_kinds();
    assert!(kinds.contains(&("login_failed".into(), Some("aud".into()))), "{kinds:?}");
    assert!(kinds.contains(&("signed_in".into(), Some("aud".into()))), "{kinds:?}");

    // Three wrong passwords lock the name: the right one is then refused too, and audited.
    for _ in 0..3 {
        assert_eq!(c.sign_in("root", "guess").0, 401);
    }
    let (status, cookies, body) = c.sign_in("root", PASSWORD);
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("locked"), "{body}");
    assert!(!cookies.iter().any(|c| c.starts_with("callrec_session=")), "no session for a locked name");
    assert!(c.audit_kinds().contains(&("login_locked".into(), Some("root".into()))));
    // Another name is not affected.
    assert_eq!(c.sign_in("aud", PASSWORD).0, 303);
}

#[test]
fn a_form_without_its_token_is_refused_and_sign_out_ends_the_session() {
    if !(have("openssl") && have("sox")) {
        return;
    }
    let c = Console::start(5);
    // Sign-in without the cookie's token (a cross-site form post): refused, nothing audited.
    let before = c.audit_kinds().len();
    let r = c.client.post(format!("{}/signin", c.url)).form(&[("name", "aud"), ("password", PASSWORD), ("csrf", "forged")]).send().unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(c.audit_kinds().len(), before);

    let s = c.session("aud");
    let page = c.get("/search", Some(&s)).text().unwrap();
    let csrf = page.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    // Sign-out without the session's token: refused, the session stands.
    let r = c.client.post(format!("{}/signout", c.url)).header("Cookie", format!("callrec_session={s}")).form(&[("csrf", "x")]).send().unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(c.get("/search", Some(&s)).status().as_u16(), 200);
    let r = c.client.post(format!("{}/signout", c.url)).header("Cookie", format!("callrec_session={s}")).form(&[("csrf", csrf.as_str())]).send().unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(c.get("/search", Some(&s)).status().as_u16(), 303, "the session is gone");
    assert!(c.audit_kinds().contains(&("signed_out".into(), Some("aud".into()))));
}

#[test]
fn search_finds_the_set_and_its_page_says_verified_until_a_file_is_changed() {
    if !(have("openssl") && have("sox")) {
        return;
    }
    let c = Console::start(5);
    let s = c.session("aud");
    let r = c.get("/search?number=030999888&from=2026-11-26&to=2026-11-26", Some(&s));
    assert_eq!(r.status().as_u16(), 200);
    let h = r.headers();
    assert!(h["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
    assert_eq!(h["cache-control"], "no-store");
    let body = r.text().unwrap();
    assert!(body.contains("1 recording(s).") && body.contains(&format!("href=\"/recordings/{SET}\"")), "{body}");
    assert!(body.contains("+4930999888 → 300"), "numbers are shown in full to a signed-in operator");
    assert!(c.audit_kinds().contains(&("searched".into(), Some("aud".into()))));
    let none = c.get("/search?number=1234567&from=2026-11-26", Some(&s)).text().unwrap();
    assert!(none.contains("No recording matches."), "{none}");
    let bad = c.get("/search?number=1&from=yesterday", Some(&s));
    assert_eq!(bad.status().as_u16(), 400);
    assert!(bad.text().unwrap().contains("is not a date"));
    // Markup in the query is shown as text.
    let xss = c.get("/search?number=%3Cscript%3E1", Some(&s)).text().unwrap();
    assert!(!xss.contains("<script>") && xss.contains("value=\"&lt;script&gt;1\""), "{xss}");
    let digitless = c.get("/search?number=%3Cscript%3E", Some(&s));
    assert_eq!(digitless.status().as_u16(), 400);
    let digitless = digitless.text().unwrap();
    assert!(digitless.contains("class=\"err\"") && !digitless.contains("<script>"), "{digitless}");

    let page = c.get(&format!("/recordings/{SET}"), Some(&s)).text().unwrap();
    assert!(page.contains("id=\"badge\" class=\"ok\">Verified: 2 file(s)"), "{page}");
    assert!(page.contains("#1 of the chain"), "{page}");
    // One byte of the audio changed on disk: the badge names the file.
    let wav = c.set_dir.join(format!("{SET}.wav"));
    let mut bytes = std::fs::read(&wav).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&wav, bytes).unwrap();
    let page = c.get(&format!("/recordings/{SET}"), Some(&s)).text().unwrap();
    let badge = page.split("id=\"badge\"").nth(1).unwrap().split("</p>").next().unwrap();
    assert!(badge.contains("class=\"bad\">FAILED") && badge.contains(&format!("{SET}.wav")), "{badge}");
    assert_eq!(c.get("/recordings/no-such-set", Some(&s)).status().as_u16(), 404);
}

#[test]
fn plain_http_on_a_public_address_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("callrec.toml");
    std::fs::write(&config, format!("[installation]\nmodule_id = \"m\"\ndata_dir = \"{}\"\n\n[console]\nlisten = \"0.0.0.0:8443\"\n", dir.path().display()))
        .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cr-console")).arg("--config").arg(&config).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("console.listen") && err.contains("not a loopback address") && err.contains("callrec.toml:"), "{err}");
}
