//! A private MariaDB server for tests (`mariadb_process.rs`) with a
//! database `otp` and its user; killed on drop. Shared by the
//! core's and the HTTP service's MariaDB tests (`#[path]` module).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use appliance_otp::store::mariadb::Connection;
use sqlx::mysql::MySqlConnectOptions;
use sqlx::{ConnectOptions, Connection as _, Executor};

/// TEST password of the test server's database user.
pub const DB_PASSWORD: &str = "TEST-db-password";

#[path = "mariadb_process.rs"]
mod mariadb_process;
use mariadb_process::Process;

/// A private MariaDB server with the database `otp` and its user, killed
/// on drop.
pub struct Server {
    process: Process,
}

impl Server {
    pub fn socket(&self) -> PathBuf {
        self.process.socket()
    }

    pub async fn start() -> Server {
        let server = Server {
            process: Process::start("32M"),
        };
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
                let log = self.process.error_log();
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
