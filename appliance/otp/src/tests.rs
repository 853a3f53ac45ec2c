//! The core end to end on the in-memory store.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::admin::NewToken;
use crate::api::CheckRequest;
use crate::audit::{AuditAction, AuditResult, MemoryAudit};
use crate::crypto::{self, DbKey};
use crate::directory::{Directory, FlatFileResolver, Realm, UserResolver};
use crate::hotp::{self, Algorithm};
use crate::names::{Login, RealmName, Serial};
use crate::policy::{Match, Policies, Policy, Scope};
use crate::service::{ResyncReply, ResyncRequest, Service};
use crate::store::memory::MemoryStore;
use crate::store::{StoreError, TokenStore};
use crate::token::{TokenKind, TokenRecord};

/// TEST seed and key; nothing here is used outside tests.
const SEED: &[u8] = b"TEST-seed-0123456789";
const PIN: &str = "4711";
const PASSWORD: &str = "TEST-password";
const NOW: u64 = 1_700_000_000;

fn test_key() -> DbKey {
    DbKey::from_bytes(&[0x5a; 96]).unwrap()
}

fn directory() -> Directory {
    let phc = crypto::hash_pin(PASSWORD).unwrap();
    let text = format!("alice:{phc}:1000:1000:Alice\nbob:x:1001:1001:Bob\n");
    let flat: Arc<dyn UserResolver> = Arc::new(FlatFileResolver::parse("users", &text).unwrap());
    let realm = Realm {
        name: RealmName::new("staff").unwrap(),
        resolvers: vec!["flat".into()],
        default: true,
    };
    Directory::new(vec![realm], BTreeMap::from([("flat".to_string(), flat)])).unwrap()
}

fn admin() -> Login {
    Login::new("admin").unwrap()
}

fn serial(s: &str) -> Serial {
    Serial::new(s).unwrap()
}

fn otp(counter: u64) -> String {
    hotp::hotp(Algorithm::Sha1, SEED, counter, 6)
}

/// A service with alice's HOTP token `T1` (PIN 4711).
async fn service() -> Service<MemoryStore, MemoryAudit> {
    let service = Service::open(
        MemoryStore::default(),
        test_key(),
        directory(),
        MemoryAudit::default(),
    )
    .await
    .unwrap();
    let new = NewToken {
        serial: serial("T1"),
        kind: TokenKind::Hotp,
        algorithm: Algorithm::Sha1,
        digits: 6,
        seed: SEED,
    };
    service.admin_init(NOW, &admin(), new).await.unwrap();
    service
        .admin_assign(NOW, &admin(), &serial("T1"), "alice", None)
        .await
        .unwrap();
    service
        .admin_set_pin(NOW, &admin(), &serial("T1"), PIN)
        .await
        .unwrap();
    service
}

fn req(user: &str, pass: &str) -> CheckRequest {
    CheckRequest {
        user: user.into(),
        pass: pass.into(),
        realm: None,
    }
}

async fn value(service: &Service<MemoryStore, MemoryAudit>, user: &str, pass: &str) -> bool {
    service.check(&req(user, pass), NOW).await.result.value
}

#[tokio::test]
async fn check_accepts_pin_and_otp_once() {
    let s = service().await;
    assert!(value(&s, "alice", &format!("{PIN}{}", otp(0))).await);
    assert!(
        !value(&s, "alice", &format!("{PIN}{}", otp(0))).await,
        "replay"
    );
    assert!(
        value(&s, "alice", &format!("{PIN}{}", otp(9 + 1))).await,
        "counter 1 + 9"
    );
    assert_eq!(
        s.simplecheck(&req("alice", &format!("{PIN}{}", otp(11))), NOW)
            .await,
        ":-)"
    );
    assert_eq!(
        s.simplecheck(&req("alice", &format!("{PIN}{}", otp(11))), NOW)
            .await,
        ":-("
    );
}

#[tokio::test]
async fn wrong_pin_with_right_otp_is_refused_and_counted() {
    let s = service().await;
    assert!(!value(&s, "alice", &format!("0000{}", otp(0))).await);
    let t = s.store().get(&serial("T1")).await.unwrap().unwrap();
    assert_eq!((t.fail_count, t.counter), (1, 1));
}

#[tokio::test]
async fn ten_failures_lock_and_an_admin_reset_unlocks() {
    let s = service().await;
    for _ in 0..10 {
        assert!(!value(&s, "alice", &format!("{PIN}000000")).await);
    }
    assert!(
        !value(&s, "alice", &format!("{PIN}{}", otp(0))).await,
        "locked"
    );
    assert_eq!(
        s.audit().entries().last().unwrap().result,
        AuditResult::Locked
    );
    s.admin_reset_fail_counter(NOW, &admin(), &serial("T1"))
        .await
        .unwrap();
    assert!(value(&s, "alice", &format!("{PIN}{}", otp(0))).await);
}

#[tokio::test]
async fn disabled_tokens_unknown_users_and_realms_answer_false() {
    let s = service().await;
    s.admin_set_active(NOW, &admin(), &serial("T1"), false)
        .await
        .unwrap();
    assert!(!value(&s, "alice", &format!("{PIN}{}", otp(0))).await);
    s.admin_set_active(NOW, &admin(), &serial("T1"), true)
        .await
        .unwrap();
    assert!(!value(&s, "carol", &format!("{PIN}{}", otp(0))).await);
    assert!(!value(&s, "bob", "123456").await, "bob has no token");
    let other_realm = CheckRequest {
        realm: Some("nope".into()),
        ..req("alice", &format!("{PIN}{}", otp(0)))
    };
    let envelope = s.check(&other_realm, NOW).await;
    assert!(envelope.result.status && !envelope.result.value);
    let results: Vec<AuditResult> = s.audit().entries().iter().map(|e| e.result).collect();
    assert!(results.ends_with(&[
        AuditResult::Disabled,
        AuditResult::Success, // enable
        AuditResult::UnknownUser,
        AuditResult::NoToken,
        AuditResult::UnknownRealm
    ]));
    // None of these consumed the OTP.
    assert!(value(&s, "alice", &format!("{PIN}{}", otp(0))).await);
}

#[tokio::test]
async fn internal_errors_answer_value_false() {
    let s = service().await;
    s.store()
        .update(&serial("T1"), |t| t.pin_hash = Some("garbage".into()))
        .await
        .unwrap();
    let envelope = s
        .check(&req("alice", &format!("{PIN}{}", otp(0))), NOW)
        .await;
    assert!(envelope.result.status);
    assert!(!envelope.result.value);
    assert_eq!(
        s.audit().entries().last().unwrap().result,
        AuditResult::InternalError
    );
}

#[tokio::test]
async fn a_key_that_does_not_belong_to_the_store_is_refused() {
    let store = MemoryStore::default();
    crate::store::bind_key(&store, &test_key()).await.unwrap();
    let token = TokenRecord::new(
        &test_key(),
        serial("T1"),
        TokenKind::Hotp,
        Algorithm::Sha1,
        6,
        SEED,
    )
    .unwrap();
    store.insert(token).await.unwrap();
    let other = DbKey::from_bytes(&[0xa5; 96]).unwrap();
    let err = Service::open(store, other, directory(), MemoryAudit::default())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::KeyMismatch), "{err}");
}

#[tokio::test]
async fn a_store_without_tokens_takes_a_regenerated_key() {
    let store = MemoryStore::default();
    crate::store::bind_key(&store, &test_key()).await.unwrap();
    let other = DbKey::from_bytes(&[0xa5; 96]).unwrap();
    crate::store::bind_key(&store, &other).await.unwrap();
    assert_eq!(store.key_check().await.unwrap(), Some(other.key_check()));
    // With a token sealed under the new key, the old key is refused.
    let token = TokenRecord::new(
        &other,
        serial("T9"),
        TokenKind::Hotp,
        Algorithm::Sha1,
        6,
        SEED,
    )
    .unwrap();
    store.insert(token).await.unwrap();
    let err = crate::store::bind_key(&store, &test_key())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::KeyMismatch), "{err}");
}

#[tokio::test]
async fn a_pass_for_the_second_token_does_not_count_against_the_first() {
    let s = service().await;
    let seed2 = b"TEST-second-seed-000";
    let new = NewToken {
        serial: serial("T2"),
        kind: TokenKind::Hotp,
        algorithm: Algorithm::Sha1,
        digits: 6,
        seed: seed2,
    };
    s.admin_init(NOW, &admin(), new).await.unwrap();
    s.admin_assign(NOW, &admin(), &serial("T2"), "alice", None)
        .await
        .unwrap();
    s.admin_set_pin(NOW, &admin(), &serial("T2"), PIN)
        .await
        .unwrap();
    let otp2 = hotp::hotp(Algorithm::Sha1, seed2, 0, 6);
    assert!(value(&s, "alice", &format!("{PIN}{otp2}")).await);
    let t1 = s.store().get(&serial("T1")).await.unwrap().unwrap();
    assert_eq!(t1.fail_count, 0);
    assert!(!value(&s, "alice", &format!("{PIN}000000")).await);
    let views = s.admin_tokens(&admin()).await.unwrap();
    assert_eq!(
        views.iter().map(|v| v.fail_count).collect::<Vec<_>>(),
        [1, 1],
        "a failure counts on every token"
    );
}

fn resync(serial: &str, password: &str, otp1: u64, otp2: u64) -> ResyncRequest {
    ResyncRequest {
        user: "alice".into(),
        realm: None,
        password: password.into(),
        serial: serial.into(),
        otp1: otp(otp1),
        otp2: otp(otp2),
    }
}

fn resync_policy() -> Policies {
    Policies(vec![Policy {
        name: "self".into(),
        scope: Scope::Selfservice,
        actions: vec!["resync".into()],
        realm: Match::Any,
        user: Match::Any,
        active: true,
    }])
}

#[tokio::test]
async fn selfservice_resync_needs_the_policy() {
    let s = service().await;
    assert_eq!(
        s.selfservice_resync(&resync("T1", PASSWORD, 500, 501), NOW)
            .await,
        ResyncReply::PolicyDenied
    );
    assert_eq!(
        s.store().get(&serial("T1")).await.unwrap().unwrap().counter,
        0
    );
    assert_eq!(
        s.audit().entries().last().unwrap().result,
        AuditResult::PolicyDenied
    );
}

#[tokio::test]
async fn selfservice_resync_with_two_consecutive_otps() {
    let s = service().await;
    s.admin_set_policies(NOW, &admin(), &resync_policy())
        .await
        .unwrap();
    assert_eq!(
        s.selfservice_resync(&resync("T1", "wrong", 500, 501), NOW)
            .await,
        ResyncReply::LoginFailed
    );
    assert_eq!(
        s.selfservice_resync(&resync("T2", PASSWORD, 500, 501), NOW)
            .await,
        ResyncReply::NotYourToken
    );
    assert_eq!(
        s.selfservice_resync(&resync("T1", PASSWORD, 1000, 1001), NOW)
            .await,
        ResyncReply::NotSynced
    );
    assert_eq!(
        s.selfservice_resync(&resync("T1", PASSWORD, 999, 1000), NOW)
            .await,
        ResyncReply::Synced
    );
    assert!(
        !value(&s, "alice", &format!("{PIN}{}", otp(1000))).await,
        "used by the resync"
    );
    assert!(value(&s, "alice", &format!("{PIN}{}", otp(1001))).await);
}

#[tokio::test]
async fn the_audit_log_never_holds_pin_otp_password_or_seed() {
    let s = service().await;
    s.admin_set_policies(NOW, &admin(), &resync_policy())
        .await
        .unwrap();
    value(&s, "alice", &format!("{PIN}{}", otp(0))).await;
    value(&s, "alice", &format!("9999{}", otp(1))).await;
    value(&s, "4711", &otp(2)).await; // a PIN typed as user name
    s.selfservice_resync(&resync("T1", PASSWORD, 600, 601), NOW)
        .await;
    let entries = s.audit().entries();
    assert!(entries
        .iter()
        .any(|e| e.action == AuditAction::ValidateCheck));
    assert!(entries
        .iter()
        .any(|e| e.action == AuditAction::SelfserviceResync));
    let log: String = entries.iter().map(|e| e.to_line() + "\n").collect();
    let seed_hex = hex::encode(SEED);
    let secrets = [
        PIN.to_string(),
        otp(0),
        otp(1),
        otp(2),
        otp(600),
        PASSWORD.into(),
        seed_hex,
        "TEST-seed".into(),
    ];
    for secret in secrets {
        assert!(
            !log.contains(&secret),
            "audit log contains {secret:?}:\n{log}"
        );
    }
}

#[tokio::test]
async fn admin_policies_limit_administrators() {
    let s = service().await;
    let policies = Policies(vec![Policy {
        name: "helpdesk".into(),
        scope: Scope::Admin,
        actions: vec!["reset".into(), "show".into()],
        realm: Match::Any,
        user: Match::Names(vec!["helpdesk".into()]),
        active: true,
    }]);
    s.admin_set_policies(NOW, &admin(), &policies)
        .await
        .unwrap();
    let helpdesk = Login::new("helpdesk").unwrap();
    s.admin_reset_fail_counter(NOW, &helpdesk, &serial("T1"))
        .await
        .unwrap();
    let err = s
        .admin_set_active(NOW, &helpdesk, &serial("T1"), false)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "administrator helpdesk may not disable in realm staff"
    );
    assert_eq!(
        s.audit().entries().last().unwrap().result,
        AuditResult::PolicyDenied
    );
    let view = s.admin_tokens(&helpdesk).await.unwrap();
    assert_eq!(
        serde_json::to_string(&view).unwrap(),
        r#"[{"serial":"T1","type":"hotp","user":{"realm":"staff","login":"alice"},"counter":0,"fail_count":0,"active":true}]"#
    );
    assert!(
        s.admin_users(&helpdesk).await.is_err(),
        "no userlist action"
    );
    let err = s
        .admin_assign(NOW, &helpdesk, &serial("T1"), "bob", None)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "administrator helpdesk may not assign in realm staff"
    );
    let owner = s
        .store()
        .get(&serial("T1"))
        .await
        .unwrap()
        .unwrap()
        .owner
        .unwrap();
    assert_eq!(owner.login.as_str(), "alice");
}

#[tokio::test]
async fn admin_errors_name_the_problem() {
    let s = service().await;
    let err = s
        .admin_assign(NOW, &admin(), &serial("T1"), "carol", None)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "user carol: not found in realm (default)");
    assert_eq!(
        s.audit().entries().last().unwrap().result,
        AuditResult::UnknownUser
    );
    let err = s
        .admin_set_pin(NOW, &admin(), &serial("NOPE"), "1")
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "token NOPE: no such token");
    let dup = NewToken {
        serial: serial("T1"),
        kind: TokenKind::Hotp,
        algorithm: Algorithm::Sha1,
        digits: 6,
        seed: SEED,
    };
    let err = s.admin_init(NOW, &admin(), dup).await.unwrap_err();
    assert_eq!(err.to_string(), "token T1 already exists");
    let resynced = s
        .admin_resync(NOW, &admin(), &serial("T1"), &otp(20), &otp(21))
        .await
        .unwrap();
    assert!(resynced);
    assert_eq!(
        s.store().get(&serial("T1")).await.unwrap().unwrap().counter,
        22
    );
}

async fn call(app: &axum::Router, request: axum::http::Request<axum::body::Body>) -> (u16, String) {
    use tower::ServiceExt;
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

fn get(uri: &str) -> axum::http::Request<axum::body::Body> {
    axum::http::Request::get(uri)
        .body(axum::body::Body::empty())
        .unwrap()
}

fn post(uri: &str, form: &str) -> axum::http::Request<axum::body::Body> {
    axum::http::Request::post(uri)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from(form.to_string()))
        .unwrap()
}

fn envelope(body: &str) -> crate::api::EnvelopeResult {
    serde_json::from_str::<crate::api::Envelope>(body)
        .unwrap()
        .result
}

#[tokio::test]
async fn validate_routes_answer_get_and_post() {
    let app = crate::http::router(Arc::new(service().await));
    let (status, body) = call(
        &app,
        get(&format!("/validate/check?user=alice&pass={PIN}{}", otp(0))),
    )
    .await;
    assert_eq!(status, 200);
    assert!(envelope(&body).value, "{body}");
    let (_, body) = call(
        &app,
        post(
            "/validate/check",
            &format!("user=alice&pass={PIN}{}&realm=staff", otp(1)),
        ),
    )
    .await;
    assert!(envelope(&body).value, "{body}");
    let (_, body) = call(
        &app,
        get(&format!("/validate/check?user=alice&pass={PIN}{}", otp(1))),
    )
    .await;
    let result = envelope(&body);
    assert!(result.status && !result.value, "replay: {body}");
    let (_, body) = call(
        &app,
        get(&format!(
            "/validate/simplecheck?user=alice&pass={PIN}{}",
            otp(2)
        )),
    )
    .await;
    assert_eq!(body, ":-)");
    let (_, body) = call(
        &app,
        post(
            "/validate/simplecheck",
            &format!("user=alice&pass={PIN}{}", otp(2)),
        ),
    )
    .await;
    assert_eq!(body, ":-(");
    let (status, body) = call(&app, get("/validate/check?user=alice")).await;
    assert_eq!(status, 200);
    let result = envelope(&body);
    assert!(!result.status && !result.value, "missing pass: {body}");
}
