//! Test support: a temporary installation, the recorder as a child process, a tiny HTTP
//! client, and the independent tools (sox, shasum).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const PASSWORD: &str = "e2e-keystore-password";
/// The API's bearer token in every test installation (`[pbx.api] token_env`).
pub const API_TOKEN: &str = "e2e-api-token-0123456789abcdef";

/// True when `tool` is on the PATH; otherwise a loud skip, or a failure under
/// CALLREC_TEST_STRICT=1.
pub fn have(tool: &str) -> bool {
    let found = Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(std::env::var("CALLREC_TEST_STRICT").as_deref() != Ok("1"), "{tool} is required (CALLREC_TEST_STRICT=1)");
        eprintln!("SKIPPED: {tool} is not installed");
    }
    found
}

/// The cr-recorder binary: cargo's for this package's tests; for the tests of another
/// package that include this file (cr-console's, on sets the recorder sealed), the one in
/// the same target directory, built first when missing.
pub fn recorder_bin() -> PathBuf {
    if let Some(bin) = option_env!("CARGO_BIN_EXE_cr-recorder") {
        return PathBuf::from(bin);
    }
    // A test binary is <target>/<profile>/deps/<name>-<hash>.
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().and_then(Path::parent).unwrap().join("cr-recorder");
    if !bin.is_file() {
        let st = Command::new(env!("CARGO")).args(["build", "--locked", "-p", "cr-recorder"]).status().unwrap();
        assert!(st.success(), "building cr-recorder failed");
    }
    bin
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A temporary installation with a keystore.
pub struct Install {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub api_port: u16,
    pub sip_port: u16,
}

impl Install {
    /// `body` is appended after [installation], [keystore] and [pbx.api]; `$ROOT` in it is
    /// replaced by the temporary directory.
    pub fn new(body: &str, siprec: bool) -> Self {
        Self::with_api(body, siprec, "")
    }

    /// [`Install::new`] with more `[pbx.api]` keys (`api`, one a line; `$ROOT` replaced).
    /// The API takes token [`API_TOKEN`] and legs from `$ROOT/pbx`.
    pub fn with_api(body: &str, siprec: bool, api: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_str().unwrap().to_owned();
        let api_port = free_port();
        let sip_port = free_udp_port();
        // Below the kernel's ephemeral ports (32768-60999), which the SIPREC client uses;
        // a range of its own for every installation of this process (tests of one file
        // run in parallel) and, as far as it goes, of other test processes.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let slot = (std::process::id().wrapping_mul(7) + NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) % 30;
        let rtp = 20_000 + slot as u16 * 420;
        // `api` may set its own listen address (`$API_PORT` is the port) and leg_dirs.
        let listen = if api.contains("listen") { String::new() } else { format!("listen = \"127.0.0.1:{api_port}\"\n") };
        let legs = if api.contains("leg_dirs") { String::new() } else { format!("leg_dirs = [\"{root}/pbx\"]\n") };
        let mut text = format!(
            "[installation]\nmodule_id = \"e2e\"\ndata_dir = \"{root}/data\"\n\n[keystore]\npassword_env = \"CR_E2E_PW\"\n\n[pbx.api]\n{listen}token_env = \"CR_E2E_API_TOKENS\"\n{legs}{}\n\n",
            api.replace("$ROOT", &root).replace("$API_PORT", &api_port.to_string())
        );
        if siprec {
            text.push_str(&format!(
                "[pbx.siprec]\nlisten = [\"udp:127.0.0.1:{sip_port}\"]\nrtp_ports = \"{rtp}-{}\"\n\n",
                rtp + 400
            ));
        }
        text.push_str(&body.replace("$ROOT", &root));
        let config = dir.path().join("callrec.toml");
        std::fs::write(&config, text).unwrap();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        std::fs::create_dir_all(dir.path().join("pbx")).unwrap();
        let who = cr_sign::Identity::generate("e2e", chrono::Utc::now()).unwrap();
        who.save_keystore(&dir.path().join("data/keystore.p12"), PASSWORD, cr_sign::Cipher::TripleDes).unwrap();
        std::fs::write(dir.path().join("data/cert.pem"), who.certificate().pem()).unwrap();
        Self { dir, config, api_port, sip_port }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn cert(&self) -> cr_sign::Certificate {
        cr_sign::Certificate::load(self.path("data/cert.pem")).unwrap()
    }

    /// Runs cr-recorder on this installation until it exits by itself (a start that must
    /// fail), with stdin closed.
    pub fn run_to_exit(&self) -> std::process::Output {
        Command::new(recorder_bin())
            .arg("--config")
            .arg(&self.config)
            .env("CR_E2E_PW", PASSWORD)
            .env("CR_E2E_API_TOKENS", API_TOKEN)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Starts cr-recorder and waits until /v1/health answers 200.
    pub fn start(&self) -> Recorder {
        self.start_wrapped(&[])
    }

    /// Starts cr-recorder and waits until /v1/health answers at all (200 or 503): for a
    /// recorder that is meant to say it cannot record.
    pub fn start_answering(&self) -> Recorder {
        self.start_until(&[], |status| status == 200 || status == 503)
    }

    /// Starts cr-recorder under `wrapper` (e.g. `["prlimit", "--nofile=64"]`) and waits
    /// until /v1/health answers 200.
    pub fn start_wrapped(&self, wrapper: &[&str]) -> Recorder {
        self.start_until(wrapper, |status| status == 200)
    }

    fn start_until(&self, wrapper: &[&str], ready: impl Fn(u16) -> bool) -> Recorder {
        let log = std::fs::File::create(self.path(&format!("recorder-{}.log", free_port()))).unwrap();
        let bin = recorder_bin();
        let mut cmd = match wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        let child = cmd
            .arg("--config")
            .arg(&self.config)
            .env("CR_E2E_PW", PASSWORD)
            .env("CR_E2E_API_TOKENS", API_TOKEN)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut rec = Recorder { child: Some(child), port: self.api_port };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok((status, _)) = rec.try_http("GET", "/v1/health", "")
                && ready(status)
            {
                return rec;
            }
            if let Some(status) = rec.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("cr-recorder exited with {status} at start");
            }
            assert!(Instant::now() < deadline, "cr-recorder did not become healthy");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Delivers the spool to the folder targets with cr-storage's uploader core, as
    /// cr-uploader does.
    pub fn deliver(&self, targets: &[(&str, &str)]) -> usize {
        use cr_storage::*;
        let spool = Spool::open(self.path("data/spool")).unwrap();
        let mut up = Uploader::new(spool, Box::new(FileDeliveryLog::new(self.path("data/spool"))), Zone::parse(Some("UTC")).unwrap());
        for (name, dir) in targets {
            std::fs::create_dir_all(self.path(dir)).unwrap();
            up.add_target(
                Box::new(StoreTarget::new(FolderStore::new(*name, self.path(dir)))),
                DirTemplate::parse("$Y/$M/$D", PathRules::Folder).unwrap(),
            );
        }
        let now = chrono::Utc::now();
        let report = up.pass(&|| now, &|_| {});
        assert!(report.failed.is_empty() && report.spool_errors.is_empty(), "{:?} {:?}", report.failed, report.spool_errors);
        report.delivered
    }
}

/// The recorder child process; killed (SIGKILL) when dropped.
pub struct Recorder {
    pub child: Option<Child>,
    pub port: u16,
}

impl Recorder {
    /// A request with the installation's token: status and body.
    pub fn http(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        self.try_http(method, path, body).unwrap()
    }

    fn try_http(&self, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
        let (status, _, body) = self.http_raw(method, path, body, Some(&format!("Bearer {API_TOKEN}")))?;
        Ok((status, body))
    }

    /// A request with `authorization` as the Authorization header (none: no header):
    /// status, response head, body.
    pub fn http_raw(&self, method: &str, path: &str, body: &str, authorization: Option<&str>) -> std::io::Result<(u16, String, String)> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port))?;
        s.set_read_timeout(Some(Duration::from_secs(120)))?;
        let auth = authorization.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        let mut resp = String::new();
        s.read_to_string(&mut resp)?;
        let status = resp.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        let (head, body) = resp.split_once("\r\n\r\n").map(|(h, b)| (h.to_owned(), b.to_owned())).unwrap_or_default();
        Ok((status, head, body))
    }

    /// SIGTERM and wait: calls in progress are sealed.
    pub fn stop(mut self) {
        let mut child = self.child.take().unwrap();
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        let _ = child.wait();
    }

    /// SIGKILL: what a crash looks like.
    pub fn kill(mut self) {
        let mut child = self.child.take().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Another binary of the workspace, built beside cr-recorder (`cargo build -p NAME`);
/// `None` with a loud skip when it is not there, a failure under CALLREC_TEST_STRICT=1.
pub fn sibling_bin(name: &str) -> Option<PathBuf> {
    let p = recorder_bin().with_file_name(name);
    if p.exists() {
        return Some(p);
    }
    assert!(std::env::var("CALLREC_TEST_STRICT").as_deref() != Ok("1"), "{} is required (CALLREC_TEST_STRICT=1): cargo build -p {name}", p.display());
    eprintln!("SKIPPED: {} is not built (cargo build -p {name})", p.display());
    None
}

/// Runs a command and returns its stdout and stderr; panics when it fails.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{cmd:?}: {text}");
    text
}

/// `soxi -c` / `soxi -s` / `soxi -r`: channels, samples, rate.
pub fn soxi(file: &Path) -> (u32, u64, u32) {
    let q = |flag: &str| run(Command::new("soxi").arg(flag).arg(file)).trim().parse::<u64>().unwrap();
    (q("-c") as u32, q("-s"), q("-r") as u32)
}

/// RMS level in dB of one channel, as `sox ... stats` prints it.
pub fn rms_db(file: &Path, channel: u32) -> f64 {
    let out = run(Command::new("sox").arg(file).arg("-n").arg("remix").arg(channel.to_string()).arg("stats"));
    let line = out.lines().find(|l| l.starts_with("RMS lev dB")).unwrap_or_else(|| panic!("{out}"));
    let v = line.split_whitespace().last().unwrap();
    if v == "-inf" { f64::NEG_INFINITY } else { v.parse().unwrap() }
}

/// Every call recording (`<id>.sha256`) below `root`, decision-log sets left out.
pub fn sets_below(root: &Path) -> Vec<PathBuf> {
    checksum_files_below(root)
        .into_iter()
        .filter(|c| decision_entries_of(c).is_none())
        .collect()
}

/// The entries file (`<id>.decisions.jsonl`) beside a checksum file, when the set is a
/// decision log.
pub fn decision_entries_of(checksum: &Path) -> Option<PathBuf> {
    let id = checksum.file_stem()?.to_str()?;
    Some(checksum.with_file_name(format!("{id}.decisions.jsonl"))).filter(|p| p.exists())
}

/// The checksum files of every sealed set below `root`: recordings and the decision-log
/// sets a declined or failed call leads to ([`sets_below`] leaves those out).
pub fn checksum_files_below(root: &Path) -> Vec<PathBuf> {
    cr_sign::find_checksum_files(root).unwrap_or_default()
}

/// A configuration that records, in stereo into the folder target `archive`
/// (`$ROOT/archive`), every call to one of `numbers` (user "desk").
pub fn desk_config(numbers: &[&str]) -> String {
    let numbers: Vec<String> = numbers.iter().map(|n| format!("\"{n}\"")).collect();
    format!(
        "\n[[users]]\nid = \"desk\"\nnumbers = [{}]\n\n[[recordings]]\nname = \"desk\"\nusers = [\"desk\"]\nchannels = \"stereo\"\ntargets = [\"archive\"]\n\n\
         [[targets]]\nname = \"archive\"\nkind = \"folder\"\npath = \"$ROOT/archive\"\ndirectory = \"$Y/$M/$D\"\n",
        numbers.join(", ")
    )
}

/// Starts `calls` SIPREC calls of `secs` seconds from cr-pbx's client in the background.
pub fn siprec_calls(inst: &Install, calls: usize, secs: u64) -> std::thread::JoinHandle<()> {
    let target = format!("127.0.0.1:{}", inst.sip_port).parse().unwrap();
    let mut spec = cr_pbx::driver::LoadSpec::new(target, calls, Duration::from_secs(secs));
    spec.callee_prefix = "7".into();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        rt.block_on(cr_pbx::driver::run_calls(spec)).unwrap();
    })
}

pub fn wait_for_active(rec: &Recorder, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, m) = rec.http("GET", "/metrics", "");
        if m.contains(&format!("callrec_active_calls {n}\n")) {
            return;
        }
        assert!(Instant::now() < deadline, "calls did not start: {m}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A configuration that records, in stereo into the folder target `archive`
/// (`$ROOT/archive`), every incoming call to group `trading` (number 300).
pub const CONFIG: &str = r#"
[[groups]]
id = "trading"
number = "300"

[[recordings]]
name = "trading-desk"
groups = ["trading"]
channels = "stereo"
targets = ["archive"]

[[targets]]
name = "archive"
kind = "folder"
path = "$ROOT/archive"
"#;

/// A start time the API accepts: ten minutes before the first call (`[pbx.api] max_age`
/// refuses old ones), the same for the whole test run.
pub fn recent() -> chrono::DateTime<chrono::Utc> {
    use chrono::Timelike;
    static START: std::sync::OnceLock<chrono::DateTime<chrono::Utc>> = std::sync::OnceLock::new();
    *START.get_or_init(|| (chrono::Utc::now() - chrono::Duration::minutes(10)).with_nanosecond(0).unwrap())
}

/// POST /v1/recordings with `body`: status and the answer as JSON.
pub fn ingest_json(rec: &Recorder, body: serde_json::Value) -> (u16, serde_json::Value) {
    let (status, text) = rec.http("POST", "/v1/recordings", &body.to_string());
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
}

