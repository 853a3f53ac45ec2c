//! A private MariaDB server for tests: `mariadb-install-db` and `mariadbd`
//! (Debian's mariadb-server) with data directory and socket in a temporary
//! directory, a database `otp` and its user; killed on drop. Shared by the
//! core's and the HTTP service's MariaDB tests (`#[path]` module).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use appliance_otp::store::mariadb::Connection;
use sqlx::mysql::MySqlConnectOptions;
use sqlx::{ConnectOptions, Connection as _, Executor};

/// TEST password of the test server's database user.
pub const DB_PASSWORD: &str = "TEST-db-password";

pub fn tool(name: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] {
        let path = Path::new(dir).join(name);
        if path.exists() {
            return path;
        }
    }
    panic!("{name} not found: install mariadb-server (bash .ci/install-deps)");
}

fn command(program: &Path) -> Command {
    // Tests may start reference tools directly.
    #[allow(clippy::disallowed_methods)]
    Command::new(program)
}

/// A private MariaDB server, killed on drop.
pub struct Server {
    child: Child,
    dir: tempfile::TempDir,
}

impl Server {
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("mysqld.sock")
    }

    pub async fn start() -> Server {
        let dir = tempfile::tempdir().expect("temporary directory");
        let data = dir.path().join("data");
        // Each server its own temporary directory: two bootstraps sharing
        // /tmp collide on their temporary tables.
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp).expect("server tmpdir");
        let out = command(&tool("mariadb-install-db"))
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
        let child = command(&tool("mariadbd"))
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!(
                "--socket={}",
                dir.path().join("mysqld.sock").display()
            ))
            .arg(format!(
                "--pid-file={}",
                dir.path().join("mysqld.pid").display()
            ))
            .arg(format!(
                "--log-error={}",
                dir.path().join("error.log").display()
            ))
            .arg("--skip-networking")
            .arg("--user=root")
            .arg("--innodb-buffer-pool-size=32M")
            .arg(format!("--tmpdir={}", tmp.display()))
            .env("TMPDIR", &tmp)
            .stdin(Stdio::null())
            .spawn()
            .expect("start mariadbd");
        let server = Server { child, dir };
        server.wait_ready().await;
        server.create_database().await;
        server
    }

    pub fn root_options(&self) -> MySqlConnectOptions {
        MySqlConnectOptions::new()
            .socket(self.socket())
            .username("root")
    }

    async fn wait_ready(&self) {
        let start = Instant::now();
        loop {
            if let Ok(conn) = self.root_options().connect().await {
                conn.close().await.expect("close");
                return;
            }
            if start.elapsed() > Duration::from_secs(90) {
                let log =
                    std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default();
                panic!("mariadbd did not accept connections within 90 s; error log:\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn create_database(&self) {
        let mut conn = self
            .root_options()
            .connect()
            .await
            .expect("connect as root");
        conn.execute("CREATE DATABASE otp")
            .await
            .expect("create database");
        conn.execute(
            format!("CREATE USER 'otp'@'localhost' IDENTIFIED BY '{DB_PASSWORD}'").as_str(),
        )
        .await
        .expect("create user");
        conn.execute("GRANT ALL ON otp.* TO 'otp'@'localhost'")
            .await
            .expect("grant");
        conn.close().await.expect("close");
    }

    pub fn connection(&self) -> Connection {
        Connection {
            socket: self.socket(),
            database: "otp".into(),
            user: "otp".into(),
            password: DB_PASSWORD.into(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
