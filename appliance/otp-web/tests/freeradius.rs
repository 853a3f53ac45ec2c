//! FreeRADIUS (Debian's freeradius, freeradius-rest, freeradius-utils)
//! with the rendered configuration: `freeradius -XC` accepts it, and
//! `radtest` against a freeradius started by the test on a high port is
//! answered Access-Accept for the right PIN+OTP and Access-Reject for a
//! replay, through `rlm_rest` and the service's `/validate/radius`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use appliance_otp::store::memory::MemoryStore;
use appliance_otp_web::radius::{render_all, RadiusSetup};
use appliance_wizard::radius::{Client, RadiusClients, Subnet};
use appliance_wizard::Secret;
use common::{OtpAuth, Transport, ADMIN_PASSWORD};

/// TEST shared secret.
const SECRET: &str = "TEST-radius-secret-0123";

fn tool(name: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!("{name} not found: install freeradius, freeradius-rest and freeradius-utils (bash .ci/install-deps)");
}

fn command(program: &Path) -> Command {
    // Tests may start reference tools directly.
    #[allow(clippy::disallowed_methods)]
    Command::new(program)
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A private configuration directory: a small radiusd.conf around the
/// three rendered files and the `expr` module (`urlquote`).
fn raddb(dir: &Path, setup: &RadiusSetup) {
    for sub in ["mods-enabled", "sites-enabled"] {
        std::fs::create_dir_all(dir.join(sub)).expect("test set-up");
    }
    let d = dir.display();
    std::fs::write(
        dir.join("radiusd.conf"),
        format!(
            "prefix = /usr\nexec_prefix = /usr\nlocalstatedir = {d}\nsbindir = /usr/sbin\nlogdir = {d}\n\
             raddbdir = {d}\nconfdir = {d}\nrun_dir = {d}\ndb_dir = {d}\nlibdir = /usr/lib/freeradius\n\
             pidfile = {d}/radiusd.pid\nmax_request_time = 30\ncleanup_delay = 5\nmax_requests = 1024\n\
             hostname_lookups = no\nlog {{\n\tdestination = stdout\n}}\n\
             security {{\n\tallow_core_dumps = no\n}}\n\
             thread pool {{\n\tstart_servers = 2\n\tmax_servers = 4\n\tmin_spare_servers = 1\n\tmax_spare_servers = 2\n}}\n\
             $INCLUDE clients.conf\nmodules {{\n\t$INCLUDE mods-enabled/\n}}\npolicy {{\n}}\n$INCLUDE sites-enabled/\n"
        ),
    )
    .expect("test set-up");
    std::fs::write(dir.join("dictionary"), "").expect("test set-up");
    std::fs::write(dir.join("mods-enabled/expr"), "expr {\n}\n").expect("test set-up");
    let clients = RadiusClients {
        clients: vec![Client {
            name: "test-nas".into(),
            network: Subnet {
                addr: "127.0.0.1".parse().expect("test set-up"),
                prefix: 32,
            },
            secret: Secret(SECRET.into()),
            short_name: None,
            legacy: false,
        }],
        warnings: vec![],
    };
    for (path, text) in render_all(setup, &clients).expect("test set-up") {
        std::fs::write(dir.join(path), text).expect("test set-up");
    }
}

fn radtest(user: &str, pass: &str, port: u16) -> Output {
    command(&tool("radtest"))
        .args([user, pass, &format!("127.0.0.1:{port}"), "0", SECRET])
        .stdin(Stdio::null())
        .output()
        .expect("run radtest")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs freeradius, freeradius-rest, freeradius-utils"]
async fn radtest_through_freeradius_and_rlm_rest() {
    // The OTP service on a loopback port, a token for alice.
    let (app, _audit) = common::app(MemoryStore::default()).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("test set-up");
    let addr = listener.local_addr().expect("test set-up");
    tokio::spawn(async move {
        axum::serve(listener, appliance_otp_web::router(app))
            .await
            .expect("test set-up");
    });
    let mut c = common::Client::new(Transport::Socket {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
    });
    c.login(ADMIN_PASSWORD).await;
    let r = c
        .post("/admin/init", &[("user", "alice"), ("pin", "TEST-12")])
        .await;
    let otp = OtpAuth::parse(r.value()["otpauth"].as_str().expect("test set-up"));

    let dir = tempfile::tempdir().expect("test set-up");
    // A port of its own (the process id keeps parallel runs apart).
    let port = 20000 + (std::process::id() % 20000) as u16;
    let setup = RadiusSetup {
        otp_url: format!("http://{addr}"),
        auth_port: port,
        timeout_seconds: 10,
    };
    raddb(dir.path(), &setup);
    let d = dir.path().to_str().expect("test set-up");
    let check = command(&tool("freeradius"))
        .args(["-XC", "-d", d, "-n", "radiusd"])
        .stdin(Stdio::null())
        .output()
        .expect("test set-up");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(
        check.status.success(),
        "freeradius -XC refused the configuration:\n{text}"
    );
    assert!(text.contains("Configuration appears to be OK"), "{text}");

    let log = dir.path().join("freeradius.out");
    let server = Killed(
        command(&tool("freeradius"))
            .args(["-f", "-X", "-d", d, "-n", "radiusd"])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).expect("test set-up"))
            .stderr(Stdio::null())
            .spawn()
            .expect("test set-up"),
    );
    let start = Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("Ready to process requests")
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "freeradius did not start:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let pass = format!("TEST-12{}", otp.hotp(0));
    let out = tokio::task::spawn_blocking(move || radtest("alice", &pass, port))
        .await
        .expect("test set-up");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let server_log = || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        stdout.contains("Received Access-Accept"),
        "radtest:\n{stdout}\nserver:\n{}",
        server_log()
    );
    let replay = format!("TEST-12{}", otp.hotp(0));
    let out = tokio::task::spawn_blocking(move || radtest("alice", &replay, port))
        .await
        .expect("test set-up");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        stdout.contains("Received Access-Reject"),
        "replay: radtest:\n{stdout}\nserver:\n{}",
        server_log()
    );
    drop(server);
}
