//! A private `mariadbd` for the benchmarks (`bench backup`, `bench otp`):
//! its own data directory and socket under the bench's directory, no
//! network, killed when dropped.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::cmd::{Background, Cmd};

/// A running private server.
pub struct Mariadb {
    /// Killed and reaped on drop.
    _server: Background,
    /// Its Unix socket.
    pub socket: PathBuf,
}

/// Where a MariaDB program is (`/usr/sbin/mariadbd` is not on every PATH).
fn tool(name: &str) -> Result<PathBuf> {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return Ok(p);
        }
    }
    bail!("{name} not found: install mariadb-server (bash .ci/install-deps)")
}

impl Mariadb {
    /// Makes a data directory in `dir` and starts a server on it; waits up
    /// to 120 s for it to answer.
    pub fn start(dir: &Path) -> Result<Mariadb> {
        let data = dir.join("data");
        let tmp = dir.join("tmp");
        fs::create_dir_all(&tmp)?;
        Cmd::new(tool("mariadb-install-db")?)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args([
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--user=root",
            ])
            .env("TMPDIR", &tmp)
            .read()?;
        let socket = dir.join("mysqld.sock");
        let log = dir.join("mariadbd.log");
        let server = Cmd::new(tool("mariadbd")?)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--pid-file={}", dir.join("mysqld.pid").display()))
            .args([
                "--skip-networking",
                "--user=root",
                "--innodb-buffer-pool-size=256M",
            ])
            .arg(format!("--tmpdir={}", tmp.display()))
            .spawn(&log)?;
        let db = Mariadb {
            _server: server,
            socket,
        };
        let start = Instant::now();
        while db.sql("SELECT 1").is_err() {
            if start.elapsed() > Duration::from_secs(120) {
                bail!(
                    "mariadbd did not answer within 120 s (log: {})",
                    log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        Ok(db)
    }

    /// A client program (`mariadb`, `mariadb-dump`) connected as root
    /// through the socket.
    pub fn client(&self, program: &str) -> Cmd {
        Cmd::new(program)
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.socket.display()))
            .arg("--user=root")
    }

    /// Runs `statements`; the result rows, tab-separated, without headers.
    pub fn sql(&self, statements: &str) -> Result<String> {
        Ok(self
            .client("mariadb")
            .args(["--batch", "--skip-column-names", "-e", statements])
            .read()?
            .stdout)
    }
}
