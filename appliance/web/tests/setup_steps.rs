//! The set-up wizard's steps without a socket (`tower::ServiceExt::oneshot`):
//! the licence's failures each with its message, the step order, field
//! errors next to their fields, Previous blocked on the roles page, and the
//! progress kept 0600.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod support;

use std::os::unix::fs::PermissionsExt;

use appliance_web::setup::gate::GateLimits;
use axum::http::StatusCode;
use support::oneshot::{Browser, Reply};
use support::setup::Wizard;

#[tokio::test]
async fn the_licence_step_tells_each_failure_apart() {
    let w = Wizard::new(GateLimits::default());
    let mut b = Browser::new(&w.app, "192.0.2.1");
    b.claim(&w.code).await;
    let csrf = b.get("/setup/step/licence").await.csrf();
    let cases = [
        (w.licence.replace("token-num = 50", "token-num = 500"), "is not signed by this product's vendor licence key"),
        (w.other_vendor_licence.clone(), "is not signed by this product's vendor licence key"),
        (w.expired_licence.clone(), "Licence file expired on 2026-01-31"),
        (w.future_licence.clone(), "Licence file is not valid yet: it starts on 2027-01-01"),
        (w.wrong_product_licence.clone(), "Licence file is for the product \"other-appliance\""),
        ("hello".to_string(), "Licence file is not in the licence format: the first line must be -----BEGIN LICENSE-----"),
    ];
    for (text, want) in cases {
        let r = b
            .post_multipart(
                "/setup/step/licence",
                &[
                    ("csrf", &csrf),
                    ("accept", "on"),
                    ("licence", &text),
                    ("update_key", support::setup::UPDATE_KEY),
                    ("action", "next"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        let want = want.replace('"', "&quot;").replace('\'', "&#39;");
        assert!(
            r.body.contains(&want) || r.body.contains(&want.replace("&#39;", "'")),
            "{want}\n{}",
            r.body
        );
        assert!(
            r.body.contains("id=\"licence-error\""),
            "the error sits at its field"
        );
    }
}

#[tokio::test]
async fn the_steps_go_in_order_and_the_state_is_kept_0600() {
    let w = Wizard::new(GateLimits::default());
    let mut b = Browser::new(&w.app, "192.0.2.1");
    b.claim(&w.code).await;
    // A later step redirects to the current one; its form is refused.
    let r = b.get("/setup/step/time").await;
    assert_eq!(
        (r.status, r.location()),
        (StatusCode::SEE_OTHER, "/setup/step/licence")
    );
    let csrf = b.get("/setup/step/licence").await.csrf();
    let r = b
        .post(
            "/setup/step/network",
            &[
                ("csrf", &csrf),
                ("mode", "dhcp"),
                ("hostname", "otp1"),
                ("action", "next"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body.contains("the wizard is at"), "{}", r.body);
    assert_eq!(
        b.get("/setup/step/nope").await.status,
        StatusCode::NOT_FOUND
    );

    let next = |r: &Reply, to: &str| {
        assert_eq!(
            (r.status, r.location()),
            (StatusCode::SEE_OTHER, to),
            "{}",
            r.body
        );
    };
    let r = b
        .post_multipart(
            "/setup/step/licence",
            &[
                ("csrf", &csrf),
                ("accept", "on"),
                ("licence", &w.licence),
                ("update_key", support::setup::UPDATE_KEY),
                ("action", "next"),
            ],
        )
        .await;
    next(&r, "/setup/step/network");
    // Bad network values: errors at their fields, values kept.
    let r = b
        .post(
            "/setup/step/network",
            &[
                ("csrf", &csrf),
                ("mode", "static"),
                ("address", "192.0.2.10"),
                ("netmask", "24"),
                ("gateway", "198.51.100.1"),
                ("hostname", "-bad-"),
                ("dns", ""),
                ("action", "next"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    for id in ["gateway-error", "hostname-error", "dns-error"] {
        assert!(r.body.contains(&format!("id=\"{id}\"")), "{id}: {}", r.body);
    }
    assert!(r.body.contains("value=\"-bad-\""), "values are kept");
    assert!(r.body.contains("aria-describedby=\"hostname-error\""));
    let r = b
        .post(
            "/setup/step/network",
            &[
                ("csrf", &csrf),
                ("mode", "static"),
                ("address", "192.0.2.10"),
                ("netmask", "24"),
                ("gateway", "192.0.2.1"),
                ("hostname", "otp1"),
                ("domain", "example.com"),
                ("dns", "192.0.2.53"),
                ("action", "next"),
            ],
        )
        .await;
    next(&r, "/setup/step/time");
    // Previous goes back and the recorded values are shown again.
    let r = b
        .post(
            "/setup/step/time",
            &[("csrf", &csrf), ("action", "previous")],
        )
        .await;
    next(&r, "/setup/step/network");
    let page = b.get("/setup/step/network").await;
    assert!(
        page.body.contains("value=\"192.0.2.10\"")
            && page.body.contains("https://192.0.2.10:8443/"),
        "{}",
        page.body
    );
    let r = b
        .post(
            "/setup/step/network",
            &[
                ("csrf", &csrf),
                ("mode", "static"),
                ("address", "192.0.2.10"),
                ("netmask", "24"),
                ("gateway", "192.0.2.1"),
                ("hostname", "otp1"),
                ("domain", "example.com"),
                ("dns", "192.0.2.53"),
                ("action", "next"),
            ],
        )
        .await;
    next(&r, "/setup/step/time");
    let r = b
        .post(
            "/setup/step/time",
            &[
                ("csrf", &csrf),
                ("time_zone", "Europe/Berlin"),
                ("ntp", "on"),
                ("ntp_servers", "pool.ntp.org"),
                ("action", "next"),
            ],
        )
        .await;
    next(&r, "/setup/step/roles");
    // Roles: Previous is blocked while the form is incomplete.
    let r = b
        .post(
            "/setup/step/roles",
            &[
                ("csrf", &csrf),
                ("linotp_admin_user", "admin"),
                ("action", "previous"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.body
            .contains("Previous is blocked until every field is complete and valid"),
        "{}",
        r.body
    );
    assert!(!r.body.contains("Lin0tp"), "passwords are not sent back");
    let roles = [
        ("csrf", csrf.as_str()),
        ("linotp_admin_user", "admin"),
        ("linotp_admin_password", "Lin0tp-Admin!"),
        ("linotp_admin_repeat", "Lin0tp-Admin!"),
        ("root_password", "R00t-Password#"),
        ("root_repeat", "R00t-Password#"),
        ("appliance_admin_user", "appadmin"),
        ("appliance_admin_password", "Appliance-Adm1n"),
        ("appliance_admin_repeat", "Appliance-Adm1n"),
        ("action", "next"),
    ];
    let r = b.post("/setup/step/roles", &roles).await;
    next(&r, "/setup/step/radius");
    let r = b
        .post(
            "/setup/step/radius",
            &[("csrf", &csrf), ("action", "add_row")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("clients[2].name"), "a third row");
    let r = b
        .post(
            "/setup/step/radius",
            &[
                ("csrf", &csrf),
                ("clients[0].name", "vpn"),
                ("clients[0].address", "192.0.2.0/24"),
                ("clients[0].secret", "Xk9#mP2$vL7qR4wZ"),
                ("action", "next"),
            ],
        )
        .await;
    next(&r, "/setup/step/keys");
    let page = b.get("/setup/step/keys").await;
    assert!(
        page.body.contains("Licensee: Example Corp"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("Xk9#mP2"), "no secret in the summary");
    let r = b
        .post(
            "/setup/step/keys",
            &[
                ("csrf", &csrf),
                ("regenerate_ssh", "on"),
                ("regenerate_tls", "on"),
                ("action", "activate"),
            ],
        )
        .await;
    // Activate hands the (checked) settings to the root side.
    next(&r, "/activation");
    assert_eq!(w.request("activate.json").unwrap()["request"], "activate");

    let mode = std::fs::metadata(&w.state_file)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let saved = appliance_web::setup::store::load_state(&w.state_file).unwrap();
    let done = saved.completed().expect("every step recorded");
    assert!(done.keys.ssh && done.keys.tls && !done.keys.db_key);
    assert_eq!(done.radius.clients[0].name, "vpn");
    assert_eq!(done.network.hostname, "otp1");
}
