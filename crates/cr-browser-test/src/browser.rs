//! The browser session and the helpers tests use.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fantoccini::error::CmdError;
use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

use crate::Error;
use crate::driver::{Driver, find_tools};

/// How often [`Browser::wait_for`] looks again.
const POLL: Duration = Duration::from_millis(50);

/// One headless Chromium session behind its own chromedriver.
///
/// Every method blocks until chromedriver has answered. Dropping it ends the session, kills
/// chromedriver and removes the profile directory.
pub struct Browser {
    // Field order is drop order: the session is closed in `Drop::drop`, then chromedriver is
    // killed, then the runtime and the scratch directory (profile, logs) go.
    client: Option<Client>,
    driver: Driver,
    rt: tokio::runtime::Runtime,
    scratch: tempfile::TempDir,
}

/// A cookie as the browser holds it (WebDriver's cookie object).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Cookie {
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: String,
    /// Only sent over HTTPS.
    pub secure: bool,
    /// Hidden from page scripts (`document.cookie`).
    pub http_only: bool,
    /// Its `SameSite` attribute as the browser applies it, if reported.
    pub same_site: Option<SameSite>,
}

/// Which server certificates a session accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Trust {
    /// Any certificate, self-signed or for another name, for the whole session (the WebDriver
    /// capability `acceptInsecureCerts: true`; chromedriver carries it out by starting Chromium
    /// with `--ignore-certificate-errors`). What [`Browser::start`] uses.
    AnyCertificate,
    /// Only certificates carrying the public key of the certificate in this PEM file (the test
    /// server's); every other certificate is still checked as usual and a self-signed one
    /// refused (`--ignore-certificate-errors-spki-list` with the SHA-256 of its
    /// SubjectPublicKeyInfo). What [`Browser::start_trusting`] uses.
    OnlyKeyOf(PathBuf),
}

/// The `SameSite` attribute of a cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// `SameSite=Strict`.
    Strict,
    /// `SameSite=Lax` (Chromium's default when the server names none).
    Lax,
    /// `SameSite=None`.
    None,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session, or returns `None` (after printing
    /// `SKIPPED: chromium/chromedriver not installed`) when either program is missing.
    ///
    /// # Panics
    /// When the programs are missing and `CALLREC_TEST_STRICT=1` is set, and when they are
    /// installed but the session cannot be started (the message says why).
    pub fn start() -> Option<Browser> {
        Browser::start_with(&Trust::AnyCertificate)
    }

    /// As [`Browser::start`], but the session accepts only the test server's certificate
    /// `cert_pem` (by its public key), and still refuses every other self-signed one.
    ///
    /// # Panics
    /// As [`Browser::start`], and when `cert_pem` cannot be read as a PEM certificate.
    pub fn start_trusting(cert_pem: &Path) -> Option<Browser> {
        Browser::start_with(&Trust::OnlyKeyOf(cert_pem.to_path_buf()))
    }

    fn start_with(trust: &Trust) -> Option<Browser> {
        let Some(tools) = find_tools() else {
            assert!(
                std::env::var("CALLREC_TEST_STRICT").as_deref() != Ok("1"),
                "chromium and chromium-driver are needed (CALLREC_TEST_STRICT=1; see scripts/install-deps.sh)"
            );
            eprintln!("SKIPPED: chromium/chromedriver not installed (see scripts/install-deps.sh)");
            return None;
        };
        match Browser::with_programs(&tools.chromedriver, &tools.chromium, trust) {
            Ok(b) => Some(b),
            Err(e) => panic!("{e}"),
        }
    }

    /// Starts a session with the given `chromedriver` and Chromium binaries, accepting the
    /// server certificates `trust` names.
    pub fn with_programs(chromedriver: &Path, chromium: &Path, trust: &Trust) -> Result<Browser, Error> {
        let pin = match trust {
            Trust::AnyCertificate => None,
            Trust::OnlyKeyOf(pem) => Some(spki_pin(pem)?),
        };
        let scratch = tempfile::Builder::new()
            .prefix("cr-browser-")
            .tempdir()
            .map_err(|source| Error::Spawn { path: chromedriver.to_path_buf(), source })?;
        let driver = Driver::start(chromedriver, scratch.path())?;
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(Error::Runtime)?;
        let downloads = scratch.path().join("downloads");
        std::fs::create_dir_all(&downloads).map_err(|source| Error::Write { path: downloads.clone(), source })?;
        let caps = capabilities(chromium, &scratch.path().join("profile"), &downloads, pin.as_deref());
        let url = format!("http://127.0.0.1:{}", driver.port);
        let client = rt
            .block_on(ClientBuilder::new(HttpConnector::new()).capabilities(caps).connect(&url))
            .map_err(|e| Error::Session { chromium: chromium.to_path_buf(), detail: e.to_string() })?;
        Ok(Browser { client: Some(client), driver, rt, scratch })
    }

    /// Opens `url` and waits until the page has loaded.
    pub fn goto(&self, url: &str) -> Result<(), Error> {
        self.run(format!("goto {url}"), self.client().goto(url))
    }

    /// The URL of the current page.
    pub fn url(&self) -> Result<String, Error> {
        self.run("current URL", self.client().current_url()).map(String::from)
    }

    /// Clears the input matching `css` and types `text` into it.
    pub fn fill(&self, css: &str, text: &str) -> Result<(), Error> {
        let el = self.find(css)?;
        self.run(format!("clear {css}"), el.clear())?;
        self.run(format!("type into {css}"), el.send_keys(text))
    }

    /// Clicks the element matching `css` (a user gesture, so it may start media playback).
    pub fn click(&self, css: &str) -> Result<(), Error> {
        let el = self.find(css)?;
        self.run(format!("click {css}"), el.click())
    }

    /// The rendered text of the element matching `css`.
    pub fn text(&self, css: &str) -> Result<String, Error> {
        let el = self.find(css)?;
        self.run(format!("text of {css}"), el.text())
    }

    /// Polls the text of the element matching `css` until `ready` accepts it, and returns
    /// that text; gives up after `deadline` with [`Error::Timeout`] naming the last text
    /// seen. A missing element (a page still loading) and a replaced one count as not ready.
    pub fn wait_for(&self, css: &str, ready: impl Fn(&str) -> bool, deadline: Duration) -> Result<String, Error> {
        let started = Instant::now();
        let mut last = None;
        loop {
            let seen = self.rt.block_on(async {
                let el = self.client().find(Locator::Css(css)).await?;
                el.text().await
            });
            match seen {
                Ok(t) if ready(&t) => return Ok(t),
                Ok(t) => last = Some(t),
                Err(e) if e.is_no_such_element() || gone_with_its_document(&e) => {}
                Err(e) => return Err(Error::Command { action: format!("wait for {css}"), detail: e.to_string() }),
            }
            if started.elapsed() >= deadline {
                let url = self.url().unwrap_or_default();
                return Err(Error::Timeout { css: css.to_owned(), url, waited: deadline, last });
            }
            std::thread::sleep(POLL);
        }
    }

    /// Runs `js` in the page as the body of a function (so it should `return` its result)
    /// and gives back the returned value as JSON.
    pub fn eval(&self, js: &str) -> Result<Value, Error> {
        let head: String = js.chars().take(60).collect();
        self.run(format!("eval `{head}`"), self.client().execute(js, Vec::new()))
    }

    /// Every cookie the browser holds for the current page, with its flags.
    pub fn cookies(&self) -> Result<Vec<Cookie>, Error> {
        let all = self.run("get cookies", self.client().get_all_cookies())?;
        Ok(all
            .into_iter()
            .map(|c| Cookie {
                name: c.name().to_owned(),
                value: c.value().to_owned(),
                secure: c.secure().unwrap_or(false),
                http_only: c.http_only().unwrap_or(false),
                same_site: c.same_site().map(|s| match s.to_string().as_str() {
                    "Strict" => SameSite::Strict,
                    "Lax" => SameSite::Lax,
                    _ => SameSite::None,
                }),
            })
            .collect())
    }

    /// Saves a PNG screenshot of the window to `path`, creating its directory.
    pub fn screenshot(&self, path: &Path) -> Result<(), Error> {
        let png = self.run("screenshot", self.client().screenshot())?;
        let write_err = |source| Error::Write { path: path.to_path_buf(), source };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(write_err)?;
        }
        std::fs::write(path, png).map_err(write_err)
    }

    /// Saves a screenshot as `<name>.png` in [`shots_dir`] and returns its path.
    pub fn shot(&self, name: &str) -> Result<PathBuf, Error> {
        let path = shots_dir().join(format!("{name}.png"));
        self.screenshot(&path)?;
        Ok(path)
    }

    /// chromedriver's process id (Chromium runs as its child).
    pub fn driver_pid(&self) -> u32 {
        self.driver.pid()
    }

    /// The session's private directory: Chromium's profile and chromedriver's log
    /// (`chromedriver.log`), removed on drop. Both processes name it on their command line.
    pub fn scratch_dir(&self) -> &Path {
        self.scratch.path()
    }

    /// Where the session saves what a page downloads (an attachment, a link with
    /// `download`): `downloads/` in [`scratch_dir`](Self::scratch_dir), empty at the start;
    /// Chromium saves without asking (its preferences `download.default_directory` and
    /// `download.prompt_for_download: false`).
    pub fn download_dir(&self) -> PathBuf {
        self.scratch.path().join("downloads")
    }

    /// Polls [`download_dir`](Self::download_dir) until it holds a finished file (not
    /// Chromium's hidden temporary file, not a `.crdownload` one still being written) and
    /// returns its path; gives up after `deadline` with [`Error::DownloadTimeout`].
    pub fn wait_for_download(&self, deadline: Duration) -> Result<PathBuf, Error> {
        let dir = self.download_dir();
        let started = Instant::now();
        loop {
            let names: Vec<String> = std::fs::read_dir(&dir)
                .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
                .unwrap_or_default();
            // Chromium writes a hidden temporary file (`.org.chromium.Chromium.*`), then
            // `<name>.crdownload`, and renames that to the name once the download is whole.
            if let Some(done) = names.iter().find(|n| !n.ends_with(".crdownload") && !n.starts_with('.')) {
                return Ok(dir.join(done));
            }
            if started.elapsed() >= deadline {
                return Err(Error::DownloadTimeout { dir, waited: deadline, seen: names });
            }
            std::thread::sleep(POLL);
        }
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("the client is only taken in Drop")
    }

    fn find(&self, css: &str) -> Result<fantoccini::elements::Element, Error> {
        match self.rt.block_on(self.client().find(Locator::Css(css))) {
            Ok(el) => Ok(el),
            Err(e) if e.is_no_such_element() => {
                Err(Error::NoElement { css: css.to_owned(), url: self.url().unwrap_or_default() })
            }
            Err(e) => Err(Error::Command { action: format!("find {css}"), detail: e.to_string() }),
        }
    }

    fn run<T>(&self, action: impl Into<String>, fut: impl Future<Output = Result<T, CmdError>>) -> Result<T, Error> {
        self.rt.block_on(fut).map_err(|e| Error::Command { action: action.into(), detail: e.to_string() })
    }
}

/// Whether `e` says the element belonged to a document that has since been replaced (the
/// page navigated between finding it and using it): WebDriver's "stale element reference",
/// or chromedriver's "unknown error" for the same case when the new document's inspector
/// no longer knows the node ("Node with given id does not belong to the document").
fn gone_with_its_document(e: &CmdError) -> bool {
    e.is_stale_element_reference() || e.to_string().contains("does not belong to the document")
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            // DELETE /session: chromedriver quits Chromium and waits for it.
            let _ = self.rt.block_on(client.close());
        }
        // `driver` is dropped next: chromedriver is killed and reaped.
    }
}

/// Where [`Browser::shot`] saves screenshots: `browser-shots/` in the cargo target directory
/// of the running test (`target/browser-shots`, or under `CARGO_TARGET_DIR`).
pub fn shots_dir() -> PathBuf {
    // A test binary is <target>/<profile>/deps/<name>-<hash>.
    let from_exe = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.to_path_buf()))
        .filter(|t| t.join("debug").is_dir() || t.join("release").is_dir());
    from_exe.unwrap_or_else(|| PathBuf::from("target")).join("browser-shots")
}

/// base64 of the SHA-256 of the certificate's SubjectPublicKeyInfo (DER), the form of
/// Chromium's `--ignore-certificate-errors-spki-list` (and of HPKP pins).
fn spki_pin(pem: &Path) -> Result<String, Error> {
    use base64::Engine as _;
    use der::{DecodePem as _, Encode as _};
    use sha2::Digest as _;
    let bad = |detail: String| Error::Certificate { path: pem.to_path_buf(), detail };
    let text = std::fs::read_to_string(pem).map_err(|e| bad(e.to_string()))?;
    let cert =
        x509_cert::Certificate::from_pem(text.trim_start()).map_err(|e| bad(format!("not a PEM certificate: {e}")))?;
    let spki = cert.tbs_certificate().subject_public_key_info().to_der().map_err(|e| bad(e.to_string()))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&spki)))
}

fn capabilities(chromium: &Path, profile: &Path, downloads: &Path, pin: Option<&str>) -> Capabilities {
    let mut args = vec![
        "--headless=new".to_owned(),
        format!("--user-data-dir={}", profile.display()),
        "--window-size=1280,900".to_owned(),
        // Containers often give /dev/shm only 64 MiB, too little for Chromium.
        "--disable-dev-shm-usage".to_owned(),
        // No calls home: recorders run in closed networks, tests too.
        "--no-first-run".to_owned(),
        "--disable-background-networking".to_owned(),
        "--disable-component-update".to_owned(),
        "--disable-sync".to_owned(),
    ];
    if rustix::process::geteuid().is_root() {
        // Chromium's sandbox refuses to run as root.
        args.push("--no-sandbox".to_owned());
    }
    if let Some(pin) = pin {
        // Honoured only with a --user-data-dir of our own, which we always give.
        args.push(format!("--ignore-certificate-errors-spki-list={pin}"));
    }
    let caps = json!({
        "browserName": "chrome",
        // The test server's self-signed certificate: any, or only the pinned key's.
        "acceptInsecureCerts": pin.is_none(),
        "goog:chromeOptions": {
            "binary": chromium,
            "args": args,
            // Downloads land in the session's own directory, without a dialog.
            "prefs": {
                "download.default_directory": downloads,
                "download.prompt_for_download": false,
                "download.directory_upgrade": true,
            },
        },
    });
    match caps {
        Value::Object(map) => map,
        _ => unreachable!("a JSON object literal"),
    }
}
