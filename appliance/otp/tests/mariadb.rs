//! The MariaDB token store against a real server: each test starts its own
//! `mariadbd` (Debian's mariadb-server) with a data directory and socket in
//! a temporary directory, and stops it at the end.

use std::collections::BTreeMap;
use std::sync::Arc;

use appliance_otp::admin::NewToken;
use appliance_otp::api::CheckRequest;
use appliance_otp::audit::MemoryAudit;
use appliance_otp::crypto::DbKey;
use appliance_otp::directory::{
    Directory, FlatFileResolver, Realm, SqlResolverConfig, SqlUserSource, UserResolver,
};
use appliance_otp::hotp::{self, Algorithm};
use appliance_otp::names::{Login, RealmName, Serial};
use appliance_otp::policy::{Match, Policies, Policy, Scope};
use appliance_otp::service::Service;
use appliance_otp::store::mariadb::MariaDbStore;
use appliance_otp::store::{StoreError, TokenStore};
use appliance_otp::token::TokenKind;

#[path = "support/mariadb_server.rs"]
mod mariadb_server;
use mariadb_server::Server;

const SEED: &[u8] = b"TEST-mariadb-seed-01";
const NOW: u64 = 1_700_000_000;

fn test_key(fill: u8) -> DbKey {
    // TEST key.
    DbKey::from_bytes(&[fill; 96]).expect("96-byte key")
}

fn directory() -> Directory {
    let flat: Arc<dyn UserResolver> = Arc::new(
        FlatFileResolver::parse("users", "alice:x:1000:1000:Alice\n").expect("users file"),
    );
    let realm = Realm {
        name: RealmName::new("staff").expect("realm name"),
        resolvers: vec!["flat".into()],
        default: true,
    };
    Directory::new(vec![realm], BTreeMap::from([("flat".to_string(), flat)])).expect("directory")
}

fn otp(counter: u64) -> String {
    hotp::hotp(Algorithm::Sha1, SEED, counter, 6)
}

async fn service(server: &Server, pool_size: u32) -> Service<MariaDbStore, MemoryAudit> {
    let store = MariaDbStore::open(&server.connection(), pool_size)
        .await
        .expect("open the store");
    Service::open(store, test_key(1), directory(), MemoryAudit::default())
        .await
        .expect("bind the key")
}

async fn enrol(service: &Service<MariaDbStore, MemoryAudit>, serial: &str) {
    let admin = Login::new("admin").expect("admin login");
    let serial = Serial::new(serial).expect("serial");
    let new = NewToken {
        serial: serial.clone(),
        kind: TokenKind::Hotp,
        algorithm: Algorithm::Sha1,
        digits: 6,
        seed: SEED,
    };
    service
        .admin_init(NOW, &admin, new)
        .await
        .expect("init token");
    service
        .admin_assign(NOW, &admin, &serial, "alice", None)
        .await
        .expect("assign token");
}

fn check(pass: &str) -> CheckRequest {
    CheckRequest {
        user: "alice".into(),
        pass: pass.into(),
        realm: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs mariadb-server (mariadbd, mariadb-install-db) and root"]
async fn schema_tokens_policies_and_key_check_on_mariadb() {
    let server = Server::start().await;
    let s = service(&server, 2).await;
    assert_eq!(s.store().schema_version().await.unwrap(), 2);
    enrol(&s, "DB1").await;
    assert!(s.check(&check(&otp(0)), NOW).await.result.value);
    assert!(!s.check(&check(&otp(0)), NOW).await.result.value, "replay");
    assert!(
        s.check(&check(&otp(10)), NOW).await.result.value,
        "counter 1 + 9"
    );
    assert!(
        !s.check(&check(&otp(21)), NOW).await.result.value,
        "counter 11 + 10"
    );
    let t = s
        .store()
        .get(&Serial::new("DB1").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((t.counter, t.fail_count), (11, 1));
    assert_ne!(
        t.seed.ciphertext[..SEED.len()],
        SEED[..],
        "the seed is stored sealed"
    );
    let policies = Policies(vec![Policy {
        name: "self".into(),
        scope: Scope::Selfservice,
        actions: vec!["resync".into()],
        realm: Match::Any,
        user: Match::Any,
        active: true,
    }]);
    s.store().set_policies(&policies).await.unwrap();
    assert_eq!(s.store().policies().await.unwrap(), policies);
    let err = s.store().insert(t.clone()).await.unwrap_err();
    assert!(matches!(err, StoreError::DuplicateSerial(_)), "{err}");
    drop(s);

    // Opening again migrates nothing, keeps the data, and refuses another key.
    let store = MariaDbStore::open(&server.connection(), 1).await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), 2);
    assert_eq!(store.list().await.unwrap().len(), 1);
    let err = Service::open(store, test_key(2), directory(), MemoryAudit::default())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::KeyMismatch), "{err}");

    // Without tokens, a regenerated key takes the store over (the set-up
    // wizard regenerates the key after the service bound the first one).
    let store = MariaDbStore::open(&server.connection(), 1).await.unwrap();
    assert!(store.remove(&Serial::new("DB1").unwrap()).await.unwrap());
    let s = Service::open(store, test_key(2), directory(), MemoryAudit::default())
        .await
        .expect("an empty store takes the new key");
    assert_eq!(
        s.store().key_check().await.unwrap(),
        Some(test_key(2).key_check())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs mariadb-server (mariadbd, mariadb-install-db) and root"]
async fn one_otp_sent_twice_at_once_is_accepted_once() {
    let server = Server::start().await;
    let s = Arc::new(service(&server, 8).await);
    enrol(&s, "RACE").await;
    for round in 0..20u64 {
        let pass = otp(round);
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let s = Arc::clone(&s);
                let pass = pass.clone();
                tokio::spawn(async move { s.check(&check(&pass), NOW).await.result.value })
            })
            .collect();
        let mut accepted = 0;
        for task in tasks {
            accepted += usize::from(task.await.unwrap());
        }
        assert_eq!(
            accepted, 1,
            "round {round}: {accepted} of 4 concurrent checks accepted the same OTP"
        );
    }
    let t = s
        .store()
        .get(&Serial::new("RACE").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.counter, 20);
    // The three losers of a round count failures; those after the round's
    // success remain until the next success resets them.
    assert!(t.fail_count <= 3, "fail count {}", t.fail_count);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs mariadb-server (mariadbd, mariadb-install-db) and root"]
async fn the_sql_resolver_reads_users_from_a_table() {
    let server = Server::start().await;
    let store = MariaDbStore::open(&server.connection(), 1)
        .await
        .expect("open the store");
    let phc = appliance_otp::crypto::hash_pin("TEST-password").expect("hash");
    sqlx::query("CREATE TABLE people (login VARCHAR(64) PRIMARY KEY, id INT NOT NULL, name VARCHAR(100), pw VARCHAR(255))")
        .execute(store.pool())
        .await
        .expect("create table");
    sqlx::query(
        "INSERT INTO people VALUES ('carol', 1002, 'Carol', ?), ('dave', 1003, NULL, NULL)",
    )
    .bind(&phc)
    .execute(store.pool())
    .await
    .expect("insert users");
    let config = SqlResolverConfig {
        table: "people".into(),
        login_column: "login".into(),
        uid_column: "id".into(),
        display_name_column: "name".into(),
        password_column: "pw".into(),
    };
    let carol = store
        .fetch_user(&config, &Login::new("carol").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((carol.uid, carol.display_name.as_str()), (1002, "Carol"));
    assert_eq!(carol.password_hash.as_deref(), Some(phc.as_str()));
    let dave = store
        .fetch_user(&config, &Login::new("dave").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((dave.display_name.as_str(), dave.password_hash), ("", None));
    assert!(store
        .fetch_user(&config, &Login::new("erin").unwrap())
        .await
        .unwrap()
        .is_none());
    let bad = SqlResolverConfig {
        uid_column: "nope".into(),
        ..config
    };
    let err = store
        .fetch_user(&bad, &Login::new("carol").unwrap())
        .await
        .unwrap_err();
    assert!(err.to_string().starts_with("resolver back end: "), "{err}");
}
