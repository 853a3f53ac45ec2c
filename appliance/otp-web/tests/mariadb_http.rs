//! The OTP service against a real MariaDB server (started by the test,
//! Debian's mariadb-server) over a real TCP socket: the token's life
//! through the API, and one OTP sent many times at once accepted once.

mod common;
#[path = "../../otp/tests/support/mariadb_server.rs"]
mod mariadb_server;

use std::sync::Arc;

use appliance_otp::store::mariadb::MariaDbStore;
use common::{scenario, Client, OtpAuth, Transport, ADMIN_PASSWORD};
use mariadb_server::Server;

/// Serves the app on 127.0.0.1 (a free port) and returns its base URL.
async fn serve(server: &Server) -> (String, Arc<appliance_otp::audit::MemoryAudit>) {
    let store = MariaDbStore::open(&server.connection(), 16)
        .await
        .expect("open the store");
    let (app, audit) = common::app(store).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        axum::serve(listener, appliance_otp_web::router(app))
            .await
            .expect("serve");
    });
    (format!("http://{addr}"), audit)
}

fn socket_client(base: &str) -> Client {
    Client::new(Transport::Socket {
        base: base.to_string(),
        client: reqwest::Client::new(),
    })
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs mariadb-server (mariadbd, mariadb-install-db) and root"]
async fn token_life_over_a_socket_on_mariadb() {
    let server = Server::start().await;
    let (base, audit) = serve(&server).await;
    let mut c = socket_client(&base);
    scenario::hotp_lifecycle(&mut c, &audit).await;
    scenario::totp_for_another_realm(&c, now()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs mariadb-server (mariadbd, mariadb-install-db) and root"]
async fn one_otp_sent_sixteen_times_at_once_is_accepted_once() {
    let server = Server::start().await;
    let (base, _audit) = serve(&server).await;
    let mut c = socket_client(&base);
    assert_eq!(
        c.login(ADMIN_PASSWORD).await.status,
        axum::http::StatusCode::OK
    );
    let r = c.post("/admin/init", &[("user", "bob")]).await;
    let serial = r.value()["serial"].as_str().expect("serial").to_string();
    let otp = OtpAuth::parse(r.value()["otpauth"].as_str().expect("uri"));
    let c = Arc::new(c);
    for counter in 0..5u64 {
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let c = Arc::clone(&c);
                let pass = otp.hotp(counter);
                tokio::spawn(async move { c.check("bob", &pass).await })
            })
            .collect();
        let mut accepted = 0;
        for task in tasks {
            accepted += usize::from(task.await.expect("task"));
        }
        assert_eq!(
            accepted, 1,
            "OTP {counter}: accepted {accepted} times of 16"
        );
        // The 15 replays counted as failures (more than the 10 that lock
        // the token): the administrator resets the fail counter.
        let r = c.post("/admin/reset", &[("serial", &serial)]).await;
        assert_eq!(r.value(), true, "{}", r.body);
    }
}
