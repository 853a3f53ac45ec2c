//! After set-up: `/setup` answers 404 (read at each request), `/` asks for
//! the Appliance Administrator, and the dashboard (System → Status, System
//! → Advanced → SSH configuration) needs the session; without a socket.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod support;

use appliance_web::setup::gate::GateLimits;
use axum::http::StatusCode;
use support::oneshot::Browser;
use support::setup::{Wizard, ADMIN};

/// TEST host keys (public halves only) and what `ssh-keygen -l -f` printed
/// for them.
const HOST_KEYS: [(&str, &str, &str); 3] = [
    (
        "ssh_host_ed25519_key.pub",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMWyRYD3hDzU1RXqoQ8BafWKpaP218xU8HYT2FME6YOX TEST key\n",
        "256 SHA256:xLWw48JeiFkv4vzENkmdyq2pRkf+nelqSqdtpEtb9ec TEST key (ED25519)",
    ),
    (
        "ssh_host_ecdsa_key.pub",
        "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBIzEX4KvGIo8/GOfA/qPgpxNgTIEGqjt/EASihRz9x/8ygtrk8vyjW6xpC0iy1QXRs/2t73Hj0BnUnA7tOUhzVg= TEST key\n",
        "256 SHA256:fl84Vuljxd0qn4HLMOOCcDkMyG++kG4AdSXYmk2XHoo TEST key (ECDSA)",
    ),
    (
        "ssh_host_rsa_key.pub",
        "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQCXBJZm1+d77T1WUoO+8wNSUQnV2t7p8FV7kl0Le89fzUqZJCQDyEJZsQ0yWiw3hXpUwAGhbZMcRT0ZsV4ay7OWMvJ/AOVQI9LFWZ3KZixO0QO6qon8F2BIaJhk+JwV1tVXUGolTeoDryDb5yH9NcZfEr2B1RepQWvok+tKuNpFdH+PpIVYpUeK0ZjUFH9O0jvbGjTp/Y5jljv0d7iMygDegZQE740vomdgYXC/BsZ6lnJQf8sOJskyzIkmxDrlg/+EamIe+uIpIVR1NQbW/T0KwklPo3qAkPIZVNmiBXbexXgFshaPwRE1Ij0Y435qe8EGUwe80SCm0SKZIzYz7BT+300KbXYLYmR/JyzNfKbhn98QvW2DM7pZ4Tvg1SWzvyUrlFnQ8/ZxAcykYM9qVKMcOaiiYPqZZAMwwVvwIm3P9QW2QuZmxlOByZ8/Od2Y8bXzdzVdKzIIYJk9DuKcheYvQjWLl4xcoBSbptyFKQZeKQS5aJ3blkgVYAd1Yf2dMY0= TEST key\n",
        "3072 SHA256:ad8z0zswLc32DYaWzUnp6/jDh4N+MLzHYq62P1RU9Q4 TEST key (RSA)",
    ),
];

#[test]
fn fingerprints_match_ssh_keygen() {
    for (file, line, keygen) in HOST_KEYS {
        let k = appliance_web::admin::ssh::fingerprint(file, line).unwrap();
        let words: Vec<&str> = keygen.split_whitespace().collect();
        assert_eq!(k.bits.to_string(), words[0], "{file}");
        assert_eq!(k.sha256, words[1], "{file}");
        assert_eq!(format!("({})", k.kind), words[words.len() - 1], "{file}");
    }
}

#[tokio::test]
async fn setup_answers_404_once_set_up_read_at_each_request() {
    let w = Wizard::new(GateLimits::default());
    let mut b = Browser::new(&w.app, "192.0.2.1");
    assert_eq!(b.get("/setup").await.status, StatusCode::OK);
    assert_eq!(
        b.get("/system/status").await.status,
        StatusCode::NOT_FOUND,
        "no dashboard before"
    );
    w.set_up(true);
    for path in [
        "/setup",
        "/setup/step/licence",
        "/setup/assets/wizard.css",
        "/setup/confirm",
        "/setup/anything",
    ] {
        assert_eq!(b.get(path).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    let r = b
        .post("/setup/claim", &[("csrf", "x"), ("setup_code", &w.code)])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = b.get("/").await;
    assert!(r.body.contains("action=\"/login\""), "{}", r.body);
    assert!(
        !r.body.contains("/setup"),
        "no way to the wizard: {}",
        r.body
    );
    // Read at each request, not at start.
    w.set_up(false);
    assert_eq!(b.get("/setup").await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_dashboard_needs_the_appliance_administrator() {
    let w = Wizard::new(GateLimits::default());
    w.write_admin_credentials();
    w.set_up(true);
    let ssh = w.dir.path().join("root/etc/ssh");
    std::fs::create_dir_all(&ssh).unwrap();
    for (file, line, _) in HOST_KEYS {
        std::fs::write(ssh.join(file), line).unwrap();
    }
    std::fs::write(
        ssh.join("ssh_host_ed25519_key"),
        "TEST private half: never read",
    )
    .unwrap();
    let chrony = w.dir.path().join("root/etc/chrony/sources.d");
    std::fs::create_dir_all(&chrony).unwrap();
    std::fs::write(
        chrony.join("appliance.sources"),
        "server ntp1.example.test iburst\n",
    )
    .unwrap();

    let mut st = appliance_config::state::fallback();
    st.hostname = "otp1".into();
    st.domain = Some("example.test".into());
    st.time_zone = "Europe/Berlin".into();
    st.identity.version = "TEST-1.2.3".into();
    st.network.dns = vec!["192.0.2.53".parse().unwrap()];
    appliance_config::generation::Store::new(&w.dir.path().join("root"))
        .commit(&st)
        .unwrap();

    let mut b = Browser::new(&w.app, "192.0.2.1");
    for path in ["/system/status", "/system/advanced/ssh"] {
        let r = b.get(path).await;
        assert_eq!(
            (r.status, r.location()),
            (StatusCode::SEE_OTHER, "/"),
            "{path}"
        );
    }
    let page = b.get("/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("<label for=\"login\">"), "{}", page.body);
    let csrf = page.csrf();
    let r = b
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("login", ADMIN.0),
                ("password", "wrong-Passw0rd"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(r.body.contains("id=\"password-error\""), "{}", r.body);
    assert_eq!(b.get("/system/status").await.status, StatusCode::SEE_OTHER);
    // No form token (the login CSRF cookie's pair): refused.
    let r = b
        .post(
            "/login",
            &[("csrf", "x"), ("login", ADMIN.0), ("password", ADMIN.1)],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let csrf = b.get("/").await.csrf();
    let r = b
        .post(
            "/login",
            &[("csrf", &csrf), ("login", ADMIN.0), ("password", ADMIN.1)],
        )
        .await;
    assert_eq!(
        (r.status, r.location()),
        (StatusCode::SEE_OTHER, "/system/status"),
        "{}",
        r.body
    );
    let cookie = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("__Host-admin="))
        .unwrap();
    assert!(
        cookie.ends_with("; Secure; HttpOnly; SameSite=Strict; Path=/"),
        "{cookie}"
    );
    assert_eq!(b.get("/").await.location(), "/system/status");

    let r = b.get("/system/status").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let id = (w.certs.current().cert_sha256.clone(),);
    for want in [
        "System → ",
        "href=\"/system/advanced/ssh\"",
        "href=\"/system/backup\"",
        "href=\"/system/restore\"",
        &format!("<code id=\"cert-sha256\">{}</code>", id.0),
        "ntp1.example.test",
        "Uptime",
        "<dd id=\"hostname\">otp1.example.test</dd>",
        "<dd id=\"version\">TEST-1.2.3</dd>",
        "<dd id=\"time-zone\">Europe/Berlin</dd>",
        "192.0.2.53",
        "DHCP",
        "action=\"/logout\"",
    ] {
        assert!(r.body.contains(want), "{want}\n{}", r.body);
    }
    assert!(!r.body.contains("<script"), "no script");
    let r = b.get("/system/advanced/ssh").await;
    assert_eq!(r.status, StatusCode::OK);
    for (_, _, keygen) in HOST_KEYS {
        let fp = keygen.split_whitespace().nth(1).unwrap();
        assert!(r.body.contains(fp), "{fp}\n{}", r.body);
    }
    assert!(!r.body.contains("TEST private half"));

    // Sign out: the session ends.
    let csrf = r.csrf();
    let r = b.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/"));
    assert!(!b.cookies.iter().any(|(k, _)| k == "__Host-admin"));
    assert_eq!(b.get("/system/status").await.status, StatusCode::SEE_OTHER);
}
