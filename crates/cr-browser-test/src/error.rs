//! What can go wrong while starting or driving the browser.

use std::path::PathBuf;
use std::time::Duration;

/// An error of the harness; each names the program, URL, CSS selector or file involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// chromedriver could not be started (or its output file not created).
    #[error("could not start chromedriver ({path}): {source}")]
    Spawn {
        /// The chromedriver binary.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// chromedriver exited or never reported its port.
    #[error("chromedriver ({path}) did not report its port ({}); its output:\n{output}",
        exited.as_deref().map_or("still running at the deadline".to_owned(), |s| format!("it exited: {s}")))]
    DriverNotReady {
        /// The chromedriver binary.
        path: PathBuf,
        /// Its exit status, if it exited.
        exited: Option<String>,
        /// What it printed.
        output: String,
    },
    /// chromedriver could not open a Chromium session.
    #[error("chromedriver could not start {chromium} in a headless session: {detail}")]
    Session {
        /// The Chromium binary given to chromedriver.
        chromium: PathBuf,
        /// chromedriver's answer.
        detail: String,
    },
    /// The certificate to trust could not be read.
    #[error("cannot trust the certificate {path}: {detail}")]
    Certificate {
        /// The PEM file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// The private tokio runtime could not be built.
    #[error("could not build the WebDriver client's runtime: {0}")]
    Runtime(std::io::Error),
    /// No element on the current page matches the selector.
    #[error("no element matches the CSS selector `{css}` on {url}")]
    NoElement {
        /// The selector.
        css: String,
        /// The page's URL.
        url: String,
    },
    /// [`Browser::wait_for`](crate::Browser::wait_for) gave up.
    #[error("`{css}` on {url} did not reach the expected state within {waited:?}; {}",
        last.as_deref().map_or("no element matched".to_owned(), |t| format!("its last text: {t:?}")))]
    Timeout {
        /// The selector.
        css: String,
        /// The page's URL when it gave up.
        url: String,
        /// How long it polled.
        waited: Duration,
        /// The element's last text, if one matched.
        last: Option<String>,
    },
    /// A WebDriver command failed.
    #[error("{action}: {detail}")]
    Command {
        /// What was asked, with its selector or URL (`click #submit`).
        action: String,
        /// chromedriver's answer.
        detail: String,
    },
    /// [`Browser::wait_for_download`](crate::Browser::wait_for_download) gave up: no
    /// finished file appeared in the download directory.
    #[error("no download finished in {dir} within {waited:?}; it holds: {seen:?}")]
    DownloadTimeout {
        /// The session's download directory.
        dir: PathBuf,
        /// How long it polled.
        waited: Duration,
        /// The names it held at the deadline (unfinished downloads end in `.crdownload`).
        seen: Vec<String>,
    },
    /// A screenshot could not be written.
    #[error("could not write the screenshot {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}
