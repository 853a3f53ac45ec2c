//! The token's life through the HTTP API, the same on every store and
//! transport: enrol → URI → OTPs → validate/check; replay; counter+9 and
//! +10; wrong PIN; lock after 10 failures; reset; resync (self-service
//! without and with a policy, and by the administrator); disable/enable;
//! simplecheck and the RADIUS route; removal; the audit log.

use appliance_otp::audit::{AuditAction, AuditResult, MemoryAudit};
use axum::http::StatusCode;
use serde_json::Value;

use super::{Client, OtpAuth, ALICE_PASSWORD};

const PIN: &str = "TEST-4711";

fn token_row(show: &Value, serial: &str) -> Value {
    show.as_array()
        .expect("token list")
        .iter()
        .find(|t| t["serial"] == serial)
        .unwrap_or_else(|| panic!("{serial} not in {show}"))
        .clone()
}

/// A six-digit value that is none of the token's next `window` OTPs.
fn wrong_otp(otp: &OtpAuth, from: u64, window: u64) -> String {
    let taken: Vec<String> = (from..from + window).map(|c| otp.hotp(c)).collect();
    (0..)
        .map(|n: u32| format!("{:06}", n * 7919 % 1_000_000))
        .find(|v| !taken.contains(v))
        .expect("a free value")
}

pub async fn hotp_lifecycle(c: &mut Client, audit: &MemoryAudit) {
    // Without a session the admin API refuses; without CSRF too.
    let r = c.get("/admin/show").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    assert_eq!(c.login("TEST-wrong").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(c.login(super::ADMIN_PASSWORD).await.status, StatusCode::OK);
    let no_csrf = c
        .send(
            axum::http::Method::POST,
            "/admin/init",
            Some(&[("type", "hotp")]),
            false,
        )
        .await;
    assert_eq!(no_csrf.status, StatusCode::FORBIDDEN, "{}", no_csrf.body);
    assert!(no_csrf.body.contains("X-CSRF-Token"), "{}", no_csrf.body);

    // Enrol for alice with a PIN; the URI is what the QR code carries.
    let r = c
        .post(
            "/admin/init",
            &[("type", "hotp"), ("user", "alice"), ("pin", PIN)],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let enrolled = r.value();
    let serial = enrolled["serial"].as_str().expect("serial").to_string();
    let otp = OtpAuth::parse(enrolled["otpauth"].as_str().expect("uri"));
    assert_eq!((otp.kind.as_str(), otp.digits), ("hotp", 6));
    assert_eq!(otp.label, "OTP%20test:alice%40staff");
    assert_eq!(otp.seed.len(), 20);
    let pass = |counter: u64| format!("{PIN}{}", otp.hotp(counter));

    assert!(c.check("alice", &pass(0)).await, "first OTP");
    assert!(!c.check("alice", &pass(0)).await, "replay refused");
    // The right OTP without the PIN is a wrong PIN: refused, and OTP 1
    // is used up (counter 2).
    assert!(!c.check("alice", &otp.hotp(1)).await, "OTP without the PIN");
    assert!(c.check("alice", &pass(2 + 9)).await, "counter + 9 accepted");
    // A success reset the fail counter; counter 12.
    assert!(
        !c.check("alice", &pass(12 + 10)).await,
        "counter + 10 refused"
    );
    assert!(
        !c.check("alice", &format!("TEST-0000{}", otp.hotp(12)))
            .await,
        "wrong PIN with the right OTP refused"
    );
    let show = c.get("/admin/show").await.value();
    let row = token_row(&show, &serial);
    assert_eq!(row["type"], "hotp");
    assert_eq!(row["user"]["login"], "alice");
    assert_eq!(row["counter"], 13, "{row}");
    let fails = row["fail_count"].as_u64().expect("fail count");
    assert_eq!(fails, 2, "{row}");

    // Lock after 10 failures: then even the right pass is refused.
    let wrong = wrong_otp(&otp, 13, 10);
    for _ in fails..10 {
        assert!(!c.check("alice", &format!("{PIN}{wrong}")).await);
    }
    assert!(!c.check("alice", &pass(13)).await, "locked token refuses");
    let row = token_row(&c.get("/admin/show").await.value(), &serial);
    assert_eq!(
        (row["fail_count"].as_u64(), row["counter"].as_u64()),
        (Some(10), Some(13))
    );
    let r = c.post("/admin/reset", &[("serial", &serial)]).await;
    assert_eq!(r.value(), true, "{}", r.body);
    assert!(c.check("alice", &pass(13)).await, "accepted after reset");

    // Counter fell behind (e.g. after a restore): far ahead values fail.
    assert!(!c.check("alice", &pass(100)).await, "outside the window");
    let resync = |o1: String, o2: String| {
        vec![
            ("user".to_string(), "alice".to_string()),
            ("password".to_string(), ALICE_PASSWORD.to_string()),
            ("serial".to_string(), serial.clone()),
            ("otp1".to_string(), o1),
            ("otp2".to_string(), o2),
        ]
    };
    let form = resync(otp.hotp(100), otp.hotp(101));
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = c.post("/userservice/resync", &pairs).await;
    assert_eq!(r.json()["detail"], "policy-denied", "{}", r.body);
    assert_eq!(r.value(), false);
    let policies =
        r#"[{"name":"self","scope":"selfservice","actions":["resync"],"realm":"*","user":"*"}]"#;
    let r = c
        .post("/admin/setPolicies", &[("policies", policies)])
        .await;
    assert_eq!(r.value(), true, "{}", r.body);
    let bad = resync(otp.hotp(100), otp.hotp(101));
    let mut bad_pairs: Vec<(&str, &str)> =
        bad.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    bad_pairs[1].1 = "TEST-not-her-password";
    let r = c.post("/userservice/resync", &bad_pairs).await;
    assert_eq!(r.json()["detail"], "login-failed", "{}", r.body);
    let r = c.post("/userservice/resync", &pairs).await;
    assert_eq!(r.json()["detail"], "synced", "{}", r.body);
    assert!(c.check("alice", &pass(102)).await, "in sync again");

    // The administrator's resync: two consecutive OTPs up to 1000 ahead.
    let r = c
        .post(
            "/admin/resync",
            &[
                ("serial", &serial),
                ("otp1", &otp.hotp(600)),
                ("otp2", &otp.hotp(602)),
            ],
        )
        .await;
    assert_eq!(r.value(), false, "not consecutive: {}", r.body);
    let r = c
        .post(
            "/admin/resync",
            &[
                ("serial", &serial),
                ("otp1", &otp.hotp(600)),
                ("otp2", &otp.hotp(601)),
            ],
        )
        .await;
    assert_eq!(r.value(), true, "{}", r.body);
    assert!(c.check("alice", &pass(602)).await);

    // Disabled tokens refuse and change nothing.
    assert_eq!(
        c.post("/admin/disable", &[("serial", &serial)])
            .await
            .value(),
        true
    );
    assert!(!c.check("alice", &pass(603)).await, "disabled");
    assert_eq!(
        c.post("/admin/enable", &[("serial", &serial)])
            .await
            .value(),
        true
    );
    let simple = c
        .send(
            axum::http::Method::GET,
            &format!("/validate/simplecheck?user=alice&pass={}", pass(603)),
            None,
            false,
        )
        .await;
    assert_eq!(simple.body, ":-)");
    let radius = |p: String| {
        let c = &*c;
        async move {
            c.send(
                axum::http::Method::POST,
                "/validate/radius",
                Some(&[("user", "alice"), ("pass", &p)]),
                false,
            )
            .await
            .status
        }
    };
    assert_eq!(radius(pass(604)).await, StatusCode::NO_CONTENT);
    assert_eq!(radius(pass(604)).await, StatusCode::UNAUTHORIZED, "replay");

    // Bad admin input is named.
    let r = c.post("/admin/init", &[("type", "sms")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json()["result"]["error"]["message"],
        "type: must be hotp or totp"
    );
    let r = c
        .post("/admin/assign", &[("serial", &serial), ("user", "nobody")])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let r = c
        .post("/admin/setPolicies", &[("policies", "[{\"name\":1}]")])
        .await;
    assert!(
        r.json()["result"]["error"]["message"]
            .as_str()
            .expect("message")
            .starts_with("policies: at [0].name"),
        "{}",
        r.body
    );

    // Removal.
    assert_eq!(
        c.post("/admin/remove", &[("serial", &serial)])
            .await
            .value(),
        true
    );
    assert!(!c.check("alice", &pass(605)).await, "no token");
    let r = c.post("/admin/remove", &[("serial", &serial)]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // The audit log has the story and none of the secrets.
    let entries = audit.entries();
    let lines: Vec<String> = entries.iter().map(|e| e.to_line()).collect();
    let text = lines.join("\n");
    for secret in [
        PIN,
        ALICE_PASSWORD,
        super::ADMIN_PASSWORD,
        &otp.hotp(0),
        &otp.hotp(600),
    ] {
        assert!(!text.contains(secret), "audit log contains {secret:?}");
    }
    let count = |action, result| {
        entries
            .iter()
            .filter(|e| e.action == action && e.result == result)
            .count()
    };
    assert_eq!(count(AuditAction::AdminLogin, AuditResult::BadPassword), 1);
    assert_eq!(
        count(AuditAction::SelfserviceResync, AuditResult::PolicyDenied),
        1
    );
    assert_eq!(
        count(AuditAction::SelfserviceResync, AuditResult::Success),
        1
    );
    assert_eq!(count(AuditAction::ValidateCheck, AuditResult::Locked), 1);
    assert_eq!(count(AuditAction::AdminRemove, AuditResult::Success), 1);
}

/// A TOTP token enrolled for a user of another realm.
pub async fn totp_for_another_realm(c: &Client, now: u64) {
    let r = c
        .post(
            "/admin/init",
            &[
                ("type", "totp"),
                ("hashlib", "sha256"),
                ("otplen", "8"),
                ("user", "carol"),
                ("realm", "guests"),
            ],
        )
        .await;
    let otp = OtpAuth::parse(r.value()["otpauth"].as_str().expect("uri"));
    assert_eq!((otp.kind.as_str(), otp.digits, otp.period), ("totp", 8, 30));
    let check = |pass: String| {
        let c = &*c;
        async move {
            c.send(
                axum::http::Method::POST,
                "/validate/check",
                Some(&[("user", "carol"), ("realm", "guests"), ("pass", &pass)]),
                false,
            )
            .await
            .value()
        }
    };
    assert_eq!(check(otp.totp(now)).await, true);
    assert_eq!(check(otp.totp(now)).await, false, "replay");
    // carol is not in the default realm.
    assert!(!c.check("carol", &otp.totp(now + 30)).await);
}
