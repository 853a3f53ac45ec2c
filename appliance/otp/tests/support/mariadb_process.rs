//! A private MariaDB server process for tests: `mariadb-install-db` and
//! `mariadbd` (Debian's mariadb-server) with data directory, socket and
//! temporary directory in a temporary directory, no TCP port; killed on
//! drop. Shared through `#[path]` by the OTP core's and HTTP service's
//! tests (`mariadb_server.rs`, which adds the `otp` database and user) and
//! the backup command's tests (`appliance/backup-cli/tests/common`).

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A reference tool of mariadb-server or mariadb-client; a missing tool
/// fails the test with the way to install it.
pub fn tool(name: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] {
        let path = Path::new(dir).join(name);
        if path.exists() {
            return path;
        }
    }
    panic!("{name} not found: install mariadb-server and mariadb-client (bash .ci/install-deps)");
}

/// Runs a program (reference tools and the crates' own binaries).
pub fn command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    #[allow(clippy::disallowed_methods)] // reference tools in integration tests
    Command::new(program)
}

/// The running server; root logs in over [`Process::socket`] without a
/// password.
pub struct Process {
    child: Child,
    pub dir: tempfile::TempDir,
}

impl Process {
    /// Bootstraps a data directory and starts `mariadbd` on it with an
    /// InnoDB buffer pool of `buffer_pool` (e.g. `"64M"`); returns once the
    /// socket accepts connections (at most 120 s).
    pub fn start(buffer_pool: &str) -> Process {
        let dir = tempfile::tempdir().expect("temporary directory");
        let data = dir.path().join("data");
        // Each server its own temporary directory: two bootstraps sharing
        // /tmp collide on their temporary tables.
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp).expect("server tmpdir");
        let out = command(tool("mariadb-install-db"))
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg("--auth-root-authentication-method=normal")
            .arg("--skip-test-db")
            .arg("--user=root")
            .env("TMPDIR", &tmp)
            .stdin(Stdio::null())
            .output()
            .expect("run mariadb-install-db");
        assert!(
            out.status.success(),
            "mariadb-install-db failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let path = |name: &str| dir.path().join(name).display().to_string();
        let child = command(tool("mariadbd"))
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", path("mysqld.sock")))
            .arg(format!("--pid-file={}", path("mysqld.pid")))
            .arg(format!("--log-error={}", path("error.log")))
            .arg("--skip-networking")
            .arg("--user=root")
            .arg(format!("--innodb-buffer-pool-size={buffer_pool}"))
            .arg(format!("--tmpdir={}", tmp.display()))
            .env("TMPDIR", &tmp)
            .stdin(Stdio::null())
            .spawn()
            .expect("start mariadbd");
        let process = Process { child, dir };
        let start = Instant::now();
        // mariadbd creates its socket once it is ready for connections.
        while UnixStream::connect(process.socket()).is_err() {
            if start.elapsed() > Duration::from_secs(120) {
                panic!(
                    "mariadbd did not accept connections within 120 s; error log:\n{}",
                    process.error_log()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        process
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("mysqld.sock")
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
