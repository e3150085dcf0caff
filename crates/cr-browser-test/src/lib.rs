//! A real browser for callrec's tests: Debian's headless Chromium driven through
//! `chromedriver` (W3C WebDriver), with a blocking API for plain `#[test]` functions.
//!
//! This crate is a test harness, never shipped (`publish = false`); the web console's tests
//! take it as a dev-dependency. [`Browser::start`] finds `chromedriver` and `chromium`, starts
//! chromedriver on a loopback port it picks itself (`--port=0`, the port read back from its
//! start-up line), and opens one headless session:
//!
//! - `--headless=new` and a fresh profile (`--user-data-dir`) in a private temporary
//!   directory, which also holds chromedriver's log;
//! - `--no-sandbox` only when the tests run as root (Chromium refuses to start as root
//!   with its sandbox);
//! - the test server's self-signed certificate is accepted through the WebDriver capability
//!   `acceptInsecureCerts: true` for this session only ([`Trust::AnyCertificate`]; note that
//!   chromedriver carries the capability out by starting Chromium with
//!   `--ignore-certificate-errors`, so the session accepts *any* certificate). For a test
//!   that knows its server's certificate, [`Browser::start_trusting`] accepts only that
//!   certificate's public key ([`Trust::OnlyKeyOf`]) and still refuses every other
//!   self-signed one;
//! - nothing is fetched from the internet (background networking, sync and component updates
//!   are off), as on a recorder in a closed network;
//! - downloads are saved without a dialog into the session's own directory
//!   ([`Browser::download_dir`], Chromium's `download.default_directory` preference), where
//!   [`Browser::wait_for_download`] waits for a finished file.
//!
//! When the two programs are missing, [`Browser::start`] prints
//! `SKIPPED: chromium/chromedriver not installed` and returns `None`, unless
//! `CALLREC_TEST_STRICT=1` is set (as in CI), where it panics. Dropping the [`Browser`] ends
//! the session and kills chromedriver, so no process outlives the test.
//!
//! The async WebDriver client ([`fantoccini`]) runs on a private current-thread tokio runtime
//! inside the `Browser`. Waiting is done by polling ([`Browser::wait_for`]) up to a generous
//! deadline, never by a fixed sleep.
//!
//! ```no_run
//! use std::time::Duration;
//! let Some(browser) = cr_browser_test::Browser::start() else { return }; // skipped
//! browser.goto("https://127.0.0.1:8443/login").unwrap();
//! browser.fill("input[name=user]", "alice").unwrap();
//! browser.click("button[type=submit]").unwrap();
//! let greeting = browser
//!     .wait_for("#greeting", |t| t.contains("alice"), Duration::from_secs(30))
//!     .unwrap();
//! let cookies = browser.cookies().unwrap();
//! let shot = browser.shot("login").unwrap(); // <target>/browser-shots/login.png
//! # let _ = (greeting, cookies, shot);
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod browser;
mod driver;
mod error;

pub use browser::{Browser, Cookie, SameSite, Trust, shots_dir};
pub use error::Error;
