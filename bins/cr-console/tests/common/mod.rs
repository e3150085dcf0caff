//! A real installation behind a running cr-console: keystore, SQLite journal, operators
//! `root` (admin) and `aud` (auditor), one set sealed with the installation's key in the
//! spool, and a TLS certificate for 127.0.0.1 made by the openssl tool.
#![allow(clippy::unwrap_used, dead_code)]


use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use cr_journal::{Direction, FileEntry, Journal, NewCall, NewRecording, OpenOptions, Role};

pub const KEYSTORE_PW: &str = "keystore-pw-1234";
pub const PASSWORD: &str = "operator password 1";

pub fn have(tool: &str) -> bool {
    let found = Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(std::env::var_os("CALLREC_TEST_STRICT").is_none(), "{tool} is missing (CALLREC_TEST_STRICT is set)");
        eprintln!("SKIPPED: {tool} is not installed");
    }
    found
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The console's TLS certificate for 127.0.0.1 and its key, made by the openssl tool in
/// `root`: `console.crt`, `console.key`.
pub fn tls_certificate(root: &Path) -> (PathBuf, PathBuf) {
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
    (crt, key)
}

/// A `[console]` section listening on 127.0.0.1:`port` (other keys may follow it).
pub fn console_section(port: u16, crt: &Path, key: &Path) -> String {
    format!("[console]\nlisten = \"127.0.0.1:{port}\"\ncertificate = \"{}\"\nkey = \"{}\"\n", crt.display(), key.display())
}

/// The operators every console test has: `root` (admin) and `aud` (auditor), password
/// [`PASSWORD`].
pub fn add_operators(j: &Journal) {
    let now = Utc::now();
    j.add_operator("root", Role::Admin, PASSWORD, None, now).unwrap();
    j.add_operator("aud", Role::Auditor, PASSWORD, Some("root"), now).unwrap();
}

pub struct Console {
    pub dir: tempfile::TempDir,
    pub child: Child,
    pub url: String,
    pub client: reqwest::blocking::Client,
    pub set_dir: PathBuf,
    /// The console's TLS certificate (PEM).
    pub tls_cert: PathBuf,
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub const SET: &str = "20261126T090000000Z-0a1b2c3d";
/// The set of [`Console::add_stereo_set`].
pub const STEREO_SET: &str = "20261127T140000000Z-5e6f7a8b";

/// Seals set [`SET`] (a WAV and its metadata) into the spool and the chain, as the recorder does.
fn seal(j: &Journal, identity: &cr_sign::Identity, spool: &Path) -> PathBuf {
    let start = Utc.with_ymd_and_hms(2026, 11, 26, 9, 0, 0).unwrap();
    seal_set(j, identity, spool, &Sealed { set: SET, pbx_call_id: "pbx-1", caller: "+4930999888", start, channels: "mono", wav: &["-c", "1", "synth", "2", "sine", "440"], ..Sealed::DESK })
}

/// What [`seal_set`] seals: a call of 95 s and its WAV, made by `sox -n -r 8000 -b 16 WAV …`.
pub struct Sealed<'a> {
    pub set: &'a str,
    pub pbx_call_id: &'a str,
    pub caller: &'a str,
    pub start: chrono::DateTime<Utc>,
    pub channels: &'a str,
    pub wav: &'a [&'a str],
    pub configuration: &'a str,
    pub flags: &'a [&'a str],
    /// Targets it is owed to (pending delivery).
    pub targets: &'a [&'a str],
}

impl Sealed<'_> {
    /// A mono call from +4930999888 of configuration `desk`, delivered nowhere.
    pub const DESK: Sealed<'static> = Sealed {
        set: SET,
        pbx_call_id: "pbx-1",
        caller: "+4930999888",
        start: chrono::DateTime::UNIX_EPOCH,
        channels: "mono",
        wav: &["-c", "1", "synth", "0.1", "sine", "440"],
        configuration: "desk",
        flags: &[],
        targets: &[],
    };
}

fn seal_set(j: &Journal, identity: &cr_sign::Identity, spool: &Path, x: &Sealed<'_>) -> PathBuf {
    let (set, start) = (x.set, x.start);
    let end = start + chrono::Duration::seconds(95);
    let call = j
        .record_call(&NewCall {
            pbx_call_id: x.pbx_call_id.into(),
            direction: Direction::Incoming,
            caller: x.caller.into(),
            callee: "300".into(),
            diversions: vec![],
            started_at: start,
            record: true,
            configuration: Some(x.configuration.into()),
            reason: "incoming call to group trading (300)".into(),
        })
        .unwrap();
    j.end_call(call, end).unwrap();
    let dir = spool.join(set);
    std::fs::create_dir_all(&dir).unwrap();
    let wav = dir.join(format!("{set}.wav"));
    let (format, effects) = x.wav.split_at(2);
    let st = Command::new("sox").args(["-D", "-n", "-r", "8000", "-b", "16"]).args(format).arg(&wav).args(effects).status().unwrap();
    assert!(st.success());
    let mut hashed = cr_sign::HashedFiles::new(set).unwrap();
    hashed.add(std::slice::from_ref(&wav)).unwrap();
    let meta = dir.join(format!("{set}.json"));
    let cert = identity.certificate().fingerprint_sha256();
    cr_sign::seal_into_chain(
        j,
        identity,
        hashed,
        set,
        end,
        &meta,
        |link| serde_json::to_vec(&serde_json::json!({"id": set, "chain": {"seq": link.seq, "prev_sha256": link.prev_sha256}})).unwrap(),
        |res, sealed| {
            res.commit(
                &sealed.checksum_sha256,
                &NewRecording {
                    set_id: set.into(),
                    call,
                    configuration: x.configuration.into(),
                    started_at: start,
                    ended_at: end,
                    channels: x.channels.into(),
                    files: sealed.files.iter().map(|f| FileEntry { name: f.name.clone(), size: f.size, sha256: f.sha256.clone() }).collect(),
                    cert_fingerprint: cert.clone(),
                    flags: x.flags.iter().map(|f| (*f).to_owned()).collect(),
                    location: dir.display().to_string(),
                    targets: x.targets.iter().map(|t| (*t).to_owned()).collect(),
                    expires_at: None,
                },
            )
        },
    )
    .unwrap();
    dir
}

impl Console {
    pub fn start(lockout_failures: u32) -> Console {
        Self::start_with(lockout_failures, "")
    }

    /// As [`Console::start`], with `extra` appended to the configuration file (e.g.
    /// `[[users]]`, `[[groups]]`, `[[recordings]]`).
    pub fn start_with(lockout_failures: u32, extra: &str) -> Console {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let data = root.join("data");
        std::fs::create_dir_all(&data).unwrap();
        let (crt, key) = tls_certificate(root);
        let port = free_port();
        let config = root.join("callrec.toml");
        std::fs::write(
            &config,
            format!(
                "[installation]\nmodule_id = \"console-test\"\ndata_dir = \"{}\"\n\n[keystore]\npassword_env = \"CR_CONSOLE_TEST_PW\"\n\n\
                 [journal]\nurl = \"sqlite:journal.sqlite\"\n\n{}lockout_failures = {lockout_failures}\n{extra}",
                data.display(),
                console_section(port, &crt, &key)
            ),
        )
        .unwrap();
        let identity = cr_sign::Identity::generate("console-test", Utc::now()).unwrap();
        identity.save_keystore(&data.join("keystore.p12"), KEYSTORE_PW, cr_sign::Cipher::Aes256).unwrap();
        std::fs::write(data.join("cert.pem"), identity.certificate().pem()).unwrap();
        let j = Journal::open_sqlite(&data.join("journal.sqlite"), &OpenOptions::new()).unwrap();
        add_operators(&j);
        let set_dir = seal(&j, &identity, &data.join("spool"));
        drop(j);
        Console::launch(dir, port, crt, set_dir, ("CR_CONSOLE_TEST_PW", KEYSTORE_PW))
    }

    /// Runs cr-console on the installation in `dir` (its `callrec.toml`, whose `[console]`
    /// listens on `port` with the certificate `crt`; the keystore password in the variable
    /// `pw.0`) and waits until it answers.
    pub fn launch(dir: tempfile::TempDir, port: u16, crt: PathBuf, set_dir: PathBuf, pw: (&str, &str)) -> Console {
        let root = dir.path();
        let log = std::fs::File::create(root.join("console.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_cr-console"))
            .arg("--config")
            .arg(root.join("callrec.toml"))
            .env(pw.0, pw.1)
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
        Console { dir, child, url, client, set_dir, tls_cert: crt }
    }

    /// Seals a second set, [`STEREO_SET`]: 2 s of stereo, 440 Hz left at 0.9 of full scale, 1 kHz at 0.45
    /// right, a call from +4940111222 on 2026-11-27, in the spool of the running console.
    pub fn add_stereo_set(&self) -> PathBuf {
        let data = self.dir.path().join("data");
        let identity = cr_sign::Identity::open_keystore(&data.join("keystore.p12"), KEYSTORE_PW).unwrap();
        let start = Utc.with_ymd_and_hms(2026, 11, 27, 14, 0, 0).unwrap();
        let wav: &[&str] = &["-c", "2", "synth", "2", "sine", "440", "sine", "1000", "vol", "0.9", "remix", "1", "2v0.5"];
        let x = Sealed { set: STEREO_SET, pbx_call_id: "pbx-stereo", caller: "+4940111222", start, channels: "stereo", wav, ..Sealed::DESK };
        seal_set(&self.journal(), &identity, &data.join("spool"), &x)
    }

    /// Seals `sets` (see [`Sealed::DESK`] for the defaults) in the spool of the running console.
    pub fn add_sets(&self, sets: &[Sealed<'_>]) {
        let data = self.dir.path().join("data");
        let identity = cr_sign::Identity::open_keystore(&data.join("keystore.p12"), KEYSTORE_PW).unwrap();
        let j = self.journal();
        for x in sets {
            seal_set(&j, &identity, &data.join("spool"), x);
        }
    }

    pub fn journal(&self) -> Journal {
        Journal::open_sqlite(&self.dir.path().join("data/journal.sqlite"), &OpenOptions::new()).unwrap()
    }

    pub fn get(&self, path: &str, session: Option<&str>) -> reqwest::blocking::Response {
        let mut r = self.client.get(format!("{}{path}", self.url));
        if let Some(s) = session {
            r = r.header("Cookie", format!("callrec_session={s}"));
        }
        r.send().unwrap()
    }

    /// The sign-in form's token and the cookie that goes with it.
    pub fn login_token(&self) -> String {
        let r = self.get("/signin", None);
        let set = r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect::<Vec<_>>();
        let c = set.iter().find(|c| c.starts_with("callrec_login_csrf=")).unwrap();
        let token = c.trim_start_matches("callrec_login_csrf=").split(';').next().unwrap().to_owned();
        let body = r.text().unwrap();
        assert!(body.contains(&format!("name=\"csrf\" value=\"{token}\"")), "{body}");
        token
    }

    /// Signs in; returns the status and the Set-Cookie headers.
    pub fn sign_in(&self, name: &str, password: &str) -> (u16, Vec<String>, String) {
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

    pub fn session(&self, name: &str) -> String {
        let (status, cookies, body) = self.sign_in(name, PASSWORD);
        assert_eq!(status, 303, "{body}");
        let c = cookies.iter().find(|c| c.starts_with("callrec_session=")).unwrap();
        c.trim_start_matches("callrec_session=").split(';').next().unwrap().to_owned()
    }

    pub fn audit_kinds(&self) -> Vec<(String, Option<String>)> {
        self.journal().audit_events(0, 10_000).unwrap().into_iter().map(|e| (e.kind.as_str().to_owned(), e.actor)).collect()
    }
}


/// Supervisors for the actions' tests (holds, four-eyes requests): `sup1` and `sup2`.
pub const SUPERVISORS: [&str; 2] = ["sup1", "sup2"];

impl Console {
    /// Adds the operators of [`SUPERVISORS`] (role supervisor), as `root` would.
    pub fn add_supervisors(&self) {
        let j = self.journal();
        for name in SUPERVISORS {
            j.add_operator(name, Role::Supervisor, PASSWORD, Some("root"), Utc::now()).unwrap();
        }
    }

    /// The session's CSRF token, read from a page's sign-out form.
    pub fn csrf(&self, session: &str) -> String {
        let body = self.get("/search", Some(session)).text().unwrap();
        let at = body.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
        body[at..].split('"').next().unwrap().to_owned()
    }

    /// Posts a form as `session`.
    pub fn post(&self, path: &str, session: &str, form: &[(&str, &str)]) -> reqwest::blocking::Response {
        self.client
            .post(format!("{}{path}", self.url))
            .header("Cookie", format!("callrec_session={session}"))
            .form(form)
            .send()
            .unwrap()
    }

    /// The installation's certificate (`data/cert.pem`), as an auditor receives it.
    pub fn installation_cert(&self) -> PathBuf {
        self.dir.path().join("data/cert.pem")
    }
}

/// The built `cr-verify` beside this package's binary (built first when missing).
pub fn cr_verify_bin() -> PathBuf {
    workspace_bin("cr-verify")
}

/// The binary of workspace package `name` beside this package's binary (built first when
/// missing).
pub fn workspace_bin(name: &str) -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_cr-console")).with_file_name(name);
    if !bin.is_file() {
        let st = Command::new(env!("CARGO")).args(["build", "--locked", "-p", name]).status().unwrap();
        assert!(st.success(), "building {name} failed");
    }
    bin
}

/// The second factor (TOTP): enrolment through the journal, codes from `oathtool`.
impl Console {
    /// Enrolls `name` (by `root`); returns the base32 secret.
    pub fn enroll_totp(&self, name: &str) -> String {
        self.journal().enroll_totp(name, "root", Utc::now()).unwrap().secret_base32
    }

    /// Signs in with the password of an operator with a second factor; returns the pending
    /// sign-in's cookie value (`callrec_totp`) after checking that no session was given.
    pub fn sign_in_pending(&self, name: &str) -> String {
        let (status, cookies, body) = self.sign_in(name, PASSWORD);
        assert_eq!(status, 303, "{body}");
        assert!(!cookies.iter().any(|c| c.starts_with("callrec_session=")), "no session before the code: {cookies:?}");
        let c = cookies.iter().find(|c| c.starts_with("callrec_totp=")).unwrap();
        c.trim_start_matches("callrec_totp=").split(';').next().unwrap().to_owned()
    }

    /// The code form of pending sign-in `pending`: its CSRF token.
    pub fn code_form_token(&self, pending: &str) -> String {
        let r = self.client.get(format!("{}/signin/totp", self.url)).header("Cookie", format!("callrec_totp={pending}")).send().unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let body = r.text().unwrap();
        let at = body.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
        body[at..at + 64].to_owned()
    }

    /// Posts `code` for pending sign-in `pending` with form token `csrf`.
    pub fn post_code(&self, pending: &str, csrf: &str, code: &str) -> (u16, Vec<String>, String) {
        let r = self
            .client
            .post(format!("{}/signin/totp", self.url))
            .header("Cookie", format!("callrec_totp={pending}"))
            .form(&[("code", code), ("csrf", csrf)])
            .send()
            .unwrap();
        let status = r.status().as_u16();
        let cookies = r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
        (status, cookies, r.text().unwrap())
    }
}

/// `oathtool --totp -b SECRET`: the current 6-digit code (the independent tool).
pub fn oathtool(secret: &str) -> String {
    let out = Command::new("oathtool").args(["--totp", "-b", secret]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A 6-digit code that is not `code`.
pub fn other_code(code: &str) -> String {
    format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000)
}
// --- Status page (tests/console_status.rs, tests/browser_status.rs) ---

/// The pending upload, the given-up one and the active call of [`Console::add_status_state`].
pub struct StatusState {
    /// When [`SET`] was queued for target `nas` (and [`STEREO_SET`] for `archive`).
    pub queued_at: chrono::DateTime<Utc>,
    /// The error of `nas`'s one failed attempt at [`SET`] (markup in it, to check escaping).
    pub nas_error: &'static str,
    /// The error after which `archive` gave up [`STEREO_SET`].
    pub archive_error: &'static str,
}

impl Console {
    /// Known delivery state and an active call, written into the journal and the spool as
    /// the uploader and the recorder do: [`SET`] enqueued in the spool and queued 3 h ago for
    /// `nas` with one failed attempt (still pending), [`STEREO_SET`] queued for `archive` and given up after one attempt, and a
    /// recorded call `pbx-live` from +4930555111 that started 10 min ago and has not ended.
    pub fn add_status_state(&self) -> StatusState {
        self.add_stereo_set();
        let j = self.journal();
        let now = Utc::now();
        let queued_at = now - chrono::Duration::hours(3);
        let st = StatusState {
            queued_at,
            nas_error: "nas.example refused the connection <port 445>",
            archive_error: "archive: permission denied on /srv/archive",
        };
        // In the spool as the recorder hands a set over (the set's directory is there already).
        let spool = cr_storage::Spool::open(self.dir.path().join("data/spool")).unwrap();
        spool.enqueue(&self.set_dir, SET, &["nas".to_owned()], queued_at, queued_at).unwrap();
        j.queue_upload(SET, "nas", queued_at).unwrap();
        j.upload_failed(SET, "nas", st.nas_error, now - chrono::Duration::hours(1)).unwrap();
        j.queue_upload(STEREO_SET, "archive", queued_at).unwrap();
        j.upload_given_up(STEREO_SET, "archive", st.archive_error, now - chrono::Duration::minutes(30)).unwrap();
        j.record_call(&NewCall {
            pbx_call_id: "pbx-live".into(),
            direction: Direction::Outgoing,
            caller: "+4930555111".into(),
            callee: "+4940777666".into(),
            diversions: vec![],
            started_at: now - chrono::Duration::minutes(10),
            record: true,
            configuration: Some("desk".into()),
            reason: "outgoing call of group trading".into(),
        })
        .unwrap();
        st
    }

    /// The installation's configuration file.
    pub fn config(&self) -> PathBuf {
        self.dir.path().join("callrec.toml")
    }

    /// `crctl ARGS --config` of this installation: its standard output.
    pub fn crctl(&self, args: &[&str]) -> String {
        let bin = workspace_bin("crctl");
        let out = Command::new(bin).arg("--config").arg(self.config()).args(args).env("CR_CONSOLE_TEST_PW", KEYSTORE_PW).output().unwrap();
        assert!(out.status.success(), "crctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }
}

/// On the sign-in form the browser shows, signs `name` in with [`PASSWORD`] and waits for
/// the search page it leads to.
pub fn browser_sign_in(b: &cr_browser_test::Browser, name: &str) {
    let wait = Duration::from_secs(60);
    b.wait_for("h1", |t| t == "Sign in", wait).unwrap();
    b.fill("#name", name).unwrap();
    b.fill("#password", PASSWORD).unwrap();
    b.click("#signin").unwrap();
    b.wait_for("h1", |t| t == "Search", wait).unwrap();
}
