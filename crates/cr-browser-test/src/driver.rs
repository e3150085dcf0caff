//! Finding `chromedriver` and `chromium`, and the chromedriver process itself.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Error;

/// How long chromedriver may take to print its port (a cold start on a loaded 2-core CI
/// machine takes well under a second; this is only the give-up point).
const DRIVER_START: Duration = Duration::from_secs(60);

/// The two programs a session needs.
pub(crate) struct Tools {
    pub chromedriver: PathBuf,
    pub chromium: PathBuf,
}

/// Debian's paths first, then `PATH`.
pub(crate) fn find_tools() -> Option<Tools> {
    let chromedriver = find(&["/usr/bin/chromedriver"], &["chromedriver"])?;
    let chromium = find(&["/usr/bin/chromium"], &["chromium", "chromium-browser"])?;
    Some(Tools { chromedriver, chromium })
}

fn find(fixed: &[&str], names: &[&str]) -> Option<PathBuf> {
    if let Some(p) = fixed.iter().map(PathBuf::from).find(|p| p.is_file()) {
        return Some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).flat_map(|dir| names.iter().map(move |n| dir.join(n))).find(|p| p.is_file())
}

/// A running chromedriver; killed and reaped on drop.
pub(crate) struct Driver {
    child: Child,
    pub port: u16,
}

impl Driver {
    /// Starts `chromedriver --port=0` with its log in `scratch` and waits for the line
    /// `ChromeDriver was started successfully on port N.` on its standard output.
    pub fn start(chromedriver: &Path, scratch: &Path) -> Result<Driver, Error> {
        let out_path = scratch.join("chromedriver.out");
        let spawn_err = |source| Error::Spawn { path: chromedriver.to_path_buf(), source };
        let out = File::create(&out_path).map_err(spawn_err)?;
        let err = out.try_clone().map_err(spawn_err)?;
        let child = Command::new(chromedriver)
            .arg("--port=0")
            .arg(format!("--log-path={}", scratch.join("chromedriver.log").display()))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(spawn_err)?;
        // From here on the guard kills the child on every early return.
        let mut driver = Driver { child, port: 0 };
        let started = Instant::now();
        loop {
            let text = std::fs::read_to_string(&out_path).unwrap_or_default();
            if let Some(port) = reported_port(&text) {
                driver.port = port;
                return Ok(driver);
            }
            let exited = driver.child.try_wait().map_err(spawn_err)?;
            if exited.is_some() || started.elapsed() > DRIVER_START {
                return Err(Error::DriverNotReady {
                    path: chromedriver.to_path_buf(),
                    exited: exited.map(|s| s.to_string()),
                    output: text,
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The port in chromedriver's start-up line, if it has printed it yet.
fn reported_port(out: &str) -> Option<u16> {
    const MARK: &str = "started successfully on port ";
    let rest = &out[out.find(MARK)? + MARK.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    // A line still being written ends without the full stop: wait for it.
    if !rest[digits.len()..].starts_with('.') {
        return None;
    }
    digits.parse().ok().filter(|&p| p != 0)
}

#[cfg(test)]
mod tests {
    use super::reported_port;

    #[test]
    fn port_is_read_only_from_a_complete_start_up_line() {
        let line = "Starting ChromeDriver 156.0 on port 0\nChromeDriver was started successfully on port 36513.\n";
        assert_eq!(reported_port(line), Some(36513));
        assert_eq!(reported_port("ChromeDriver was started successfully on port 365"), None);
        assert_eq!(reported_port("Starting ChromeDriver 156.0 on port 0\n"), None);
        assert_eq!(reported_port("ChromeDriver was started successfully on port 0."), None);
        assert_eq!(reported_port("ChromeDriver was started successfully on port 99999."), None);
    }
}
