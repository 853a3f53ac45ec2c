//! The only module of this crate that starts processes: `chromedriver`
//! (kept running, killed on drop) and `npm pack` (run to its end).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};

/// A running chromedriver, stopped when dropped.
#[derive(Debug)]
pub struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    /// Starts `chromedriver` on a free loopback port and waits until it
    /// listens (20 s).
    #[allow(clippy::disallowed_methods)] // this is the crate's command module
    pub fn start(binary: &str) -> Result<Driver> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {binary}"))?;
        let mut driver = Driver { child, port };
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(driver);
            }
            if let Some(status) = driver.child.try_wait()? {
                bail!("{binary} exited with {status} before listening");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("{binary} did not listen on port {port} within 20 s")
    }

    /// Its WebDriver URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `npm pack <spec>` in `dir` (the tarball lands there).
#[allow(clippy::disallowed_methods)] // this is the crate's command module
pub fn npm_pack(spec: &str, dir: &Path) -> Result<()> {
    let out = Command::new("npm")
        .args(["pack", spec, "--silent"])
        .current_dir(dir)
        .output()
        .with_context(|| format!("npm is needed to fetch {spec} (install npm)"))?;
    ensure!(
        out.status.success(),
        "npm pack {spec} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}
