//! The token store on MariaDB (sqlx, over the server's Unix socket).
//!
//! Counter and fail-counter changes run in a transaction that reads the
//! row with `SELECT … FOR UPDATE`: a second request for the same token
//! waits until the first committed and then sees its counter.

use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions, MySqlRow};
use sqlx::{Executor, Row};

use super::migrations::{self, MIGRATIONS};
use super::{StoreError, TokenStore, KEY_CHECK_CONFIG, POLICIES_CONFIG};
use crate::crypto::SealedSeed;
use crate::directory::{DirectoryError, SqlResolverConfig, SqlUserSource, User};
use crate::hotp::Algorithm;
use crate::names::{Login, RealmName, Serial, UserRef};
use crate::policy::Policies;
use crate::token::{TokenKind, TokenRecord};

const COLUMNS: &str =
    "serial, kind, time_step, time_window, algorithm, digits, seed_nonce, seed_sealed, counter, \
     count_window, sync_window, fail_count, max_fail, active, pin_hash, owner_realm, owner_login";

/// Where the database is and who logs in. The password is never logged
/// (`Debug` hides it).
#[derive(Clone)]
pub struct Connection {
    pub socket: std::path::PathBuf,
    pub database: String,
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("socket", &self.socket)
            .field("database", &self.database)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

pub struct MariaDbStore {
    pool: MySqlPool,
}

impl MariaDbStore {
    /// Connects (a pool of up to `max_connections`) and brings the schema
    /// to the newest version.
    pub async fn open(
        connection: &Connection,
        max_connections: u32,
    ) -> Result<MariaDbStore, StoreError> {
        let options = MySqlConnectOptions::new()
            .socket(&connection.socket)
            .username(&connection.user)
            .password(&connection.password)
            .database(&connection.database);
        let pool = MySqlPoolOptions::new()
            .max_connections(max_connections)
            .connect_with(options)
            .await?;
        let store = MariaDbStore { pool };
        store.migrate().await?;
        Ok(store)
    }

    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    /// The schema version in the database.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        let version: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_version")
            .fetch_one(&self.pool)
            .await?;
        Ok(version.unwrap_or(0))
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        // One connection holds the named lock for the whole run.
        let mut conn = self.pool.acquire().await?;
        let locked: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, 60)")
            .bind(migrations::LOCK_NAME)
            .fetch_one(&mut *conn)
            .await?;
        if locked != Some(1) {
            return Err(StoreError::Database(sqlx::Error::Protocol(
                "could not take the migration lock in 60 s".into(),
            )));
        }
        let result: Result<(), StoreError> = async {
            (&mut *conn)
                .execute(migrations::CREATE_VERSION_TABLE)
                .await?;
            let current: Option<i64> =
                sqlx::query_scalar("SELECT MAX(version) FROM schema_version")
                    .fetch_one(&mut *conn)
                    .await?;
            let current = current.unwrap_or(0);
            if current > migrations::latest() {
                return Err(StoreError::SchemaTooNew {
                    found: current,
                    known: migrations::latest(),
                });
            }
            for migration in MIGRATIONS.iter().filter(|m| m.version > current) {
                for statement in migration.statements {
                    (&mut *conn).execute(*statement).await?;
                }
                sqlx::query("INSERT INTO schema_version (version) VALUES (?)")
                    .bind(migration.version)
                    .execute(&mut *conn)
                    .await?;
            }
            Ok(())
        }
        .await;
        sqlx::query("SELECT RELEASE_LOCK(?)")
            .bind(migrations::LOCK_NAME)
            .execute(&mut *conn)
            .await?;
        result
    }

    async fn config(&self, name: &str) -> Result<Option<String>, StoreError> {
        let value: Option<Vec<u8>> = sqlx::query_scalar("SELECT value FROM config WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        value.map(|v| utf8("config.value", v)).transpose()
    }

    async fn set_config(&self, name: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO config (name, value) VALUES (?, ?) ON DUPLICATE KEY UPDATE value = VALUES(value)")
            .bind(name)
            .bind(value)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

fn corrupt(column: &'static str, reason: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        column,
        reason: reason.to_string(),
    }
}

/// Text columns use binary collations (exact, case-sensitive comparison,
/// like the in-memory store), which the driver reports as binary: they are
/// read as bytes and checked to be UTF-8 here.
fn utf8(column: &'static str, bytes: Vec<u8>) -> Result<String, StoreError> {
    String::from_utf8(bytes).map_err(|_| corrupt(column, "not UTF-8"))
}

fn text(row: &MySqlRow, column: &'static str) -> Result<String, StoreError> {
    utf8(column, row.try_get(column)?)
}

fn optional_text(row: &MySqlRow, column: &'static str) -> Result<Option<String>, StoreError> {
    let bytes: Option<Vec<u8>> = row.try_get(column)?;
    bytes.map(|b| utf8(column, b)).transpose()
}

fn decode(row: &MySqlRow) -> Result<TokenRecord, StoreError> {
    let serial = text(row, "serial")?;
    let serial = Serial::new(&serial).map_err(|e| corrupt("serial", e))?;
    let kind = text(row, "kind")?;
    let kind = match kind.as_str() {
        "hotp" => TokenKind::Hotp,
        "totp" => {
            let step: u64 = row.try_get("time_step")?;
            if step == 0 {
                return Err(corrupt("time_step", "0"));
            }
            TokenKind::Totp {
                step,
                window: row.try_get("time_window")?,
            }
        }
        other => return Err(corrupt("kind", format!("unknown token type {other:?}"))),
    };
    let algorithm = text(row, "algorithm")?;
    let algorithm = Algorithm::parse(&algorithm)
        .ok_or_else(|| corrupt("algorithm", format!("unknown {algorithm:?}")))?;
    let owner_realm = optional_text(row, "owner_realm")?;
    let owner_login = optional_text(row, "owner_login")?;
    let owner = match (owner_realm, owner_login) {
        (Some(realm), Some(login)) => Some(UserRef {
            realm: RealmName::new(&realm).map_err(|e| corrupt("owner_realm", e))?,
            login: Login::new(&login).map_err(|e| corrupt("owner_login", e))?,
        }),
        (None, None) => None,
        _ => {
            return Err(corrupt(
                "owner_login",
                "realm and login must both be set or both be empty",
            ))
        }
    };
    Ok(TokenRecord {
        serial,
        kind,
        algorithm,
        digits: row.try_get("digits")?,
        seed: SealedSeed {
            nonce: row.try_get("seed_nonce")?,
            ciphertext: row.try_get("seed_sealed")?,
        },
        counter: row.try_get("counter")?,
        count_window: row.try_get("count_window")?,
        sync_window: row.try_get("sync_window")?,
        fail_count: row.try_get("fail_count")?,
        max_fail: row.try_get("max_fail")?,
        active: row.try_get("active")?,
        pin_hash: optional_text(row, "pin_hash")?,
        owner,
    })
}

fn kind_columns(kind: TokenKind) -> (u64, u64) {
    match kind {
        TokenKind::Hotp => (0, 0),
        TokenKind::Totp { step, window } => (step, window),
    }
}

impl TokenStore for MariaDbStore {
    async fn key_check(&self) -> Result<Option<String>, StoreError> {
        self.config(KEY_CHECK_CONFIG).await
    }

    async fn set_key_check(&self, value: &str) -> Result<(), StoreError> {
        // INSERT without update: of two first starts, only one value lands.
        sqlx::query("INSERT INTO config (name, value) VALUES (?, ?)")
            .bind(KEY_CHECK_CONFIG)
            .bind(value)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn rebind_key_check(&self, old: &str, new: &str) -> Result<bool, StoreError> {
        // One statement: the value changes only if it is still `old` and no
        // token exists at that moment.
        let done = sqlx::query(
            "UPDATE config SET value = ? WHERE name = ? AND value = ? AND NOT EXISTS (SELECT 1 FROM token)",
        )
        .bind(new)
        .bind(KEY_CHECK_CONFIG)
        .bind(old)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert(&self, t: TokenRecord) -> Result<(), StoreError> {
        let (step, window) = kind_columns(t.kind);
        let result = sqlx::query(&format!(
            "INSERT INTO token ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(t.serial.as_str())
        .bind(t.kind.name())
        .bind(step)
        .bind(window)
        .bind(t.algorithm.name())
        .bind(t.digits)
        .bind(&t.seed.nonce)
        .bind(&t.seed.ciphertext)
        .bind(t.counter)
        .bind(t.count_window)
        .bind(t.sync_window)
        .bind(t.fail_count)
        .bind(t.max_fail)
        .bind(t.active)
        .bind(&t.pin_hash)
        .bind(t.owner.as_ref().map(|o| o.realm.as_str()))
        .bind(t.owner.as_ref().map(|o| o.login.as_str()))
        .execute(&self.pool)
        .await;
        match result {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(StoreError::DuplicateSerial(t.serial))
            }
            other => other.map(|_| ()).map_err(StoreError::from),
        }
    }

    async fn get(&self, serial: &Serial) -> Result<Option<TokenRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM token WHERE serial = ?"))
            .bind(serial.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(decode).transpose()
    }

    async fn list(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM token ORDER BY serial"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(decode).collect()
    }

    async fn remove(&self, serial: &Serial) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM token WHERE serial = ?")
            .bind(serial.as_str())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn tokens_of(&self, user: &UserRef) -> Result<Vec<Serial>, StoreError> {
        let serials: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT serial FROM token WHERE owner_realm = ? AND owner_login = ? ORDER BY serial",
        )
        .bind(user.realm.as_str())
        .bind(user.login.as_str())
        .fetch_all(&self.pool)
        .await?;
        serials
            .into_iter()
            .map(|s| Serial::new(&utf8("serial", s)?).map_err(|e| corrupt("serial", e)))
            .collect()
    }

    async fn update<R, F>(&self, serial: &Serial, change: F) -> Result<Option<R>, StoreError>
    where
        R: Send,
        F: FnOnce(&mut TokenRecord) -> R + Send,
    {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM token WHERE serial = ? FOR UPDATE"
        ))
        .bind(serial.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let before = decode(&row)?;
        let mut after = before.clone();
        let result = change(&mut after);
        if after != before {
            if after.serial != before.serial
                || after.seed != before.seed
                || after.kind != before.kind
            {
                return Err(corrupt(
                    "serial",
                    "an update may not change serial, seed or type",
                ));
            }
            sqlx::query(
                "UPDATE token SET digits = ?, algorithm = ?, counter = ?, count_window = ?, sync_window = ?, \
                 fail_count = ?, max_fail = ?, active = ?, pin_hash = ?, owner_realm = ?, owner_login = ? \
                 WHERE serial = ?",
            )
            .bind(after.digits)
            .bind(after.algorithm.name())
            .bind(after.counter)
            .bind(after.count_window)
            .bind(after.sync_window)
            .bind(after.fail_count)
            .bind(after.max_fail)
            .bind(after.active)
            .bind(&after.pin_hash)
            .bind(after.owner.as_ref().map(|o| o.realm.as_str()))
            .bind(after.owner.as_ref().map(|o| o.login.as_str()))
            .bind(serial.as_str())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Some(result))
    }

    async fn policies(&self) -> Result<Policies, StoreError> {
        match self.config(POLICIES_CONFIG).await? {
            None => Ok(Policies::default()),
            Some(text) => serde_json::from_str(&text).map_err(|e| corrupt("config.policies", e)),
        }
    }

    async fn set_policies(&self, policies: &Policies) -> Result<(), StoreError> {
        let text = serde_json::to_string(policies).map_err(|e| corrupt("config.policies", e))?;
        self.set_config(POLICIES_CONFIG, &text).await
    }
}

/// The built-in SQL resolver: users from a table of the same server.
impl SqlUserSource for MariaDbStore {
    async fn fetch_user(
        &self,
        config: &SqlResolverConfig,
        login: &Login,
    ) -> Result<Option<User>, DirectoryError> {
        let statement = config.select_one()?;
        let backend = |e: sqlx::Error| DirectoryError::Backend(e.to_string());
        let Some(row) = sqlx::query(&statement)
            .bind(login.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
        else {
            return Ok(None);
        };
        let column = |name: &str| -> Result<Option<String>, DirectoryError> {
            let bytes: Option<Vec<u8>> = row.try_get(name).map_err(backend)?;
            bytes
                .map(|b| {
                    String::from_utf8(b)
                        .map_err(|_| DirectoryError::Backend(format!("column {name}: not UTF-8")))
                })
                .transpose()
        };
        let stored_login = column(&config.login_column)?.unwrap_or_default();
        let login = Login::new(&stored_login)
            .map_err(|e| DirectoryError::Backend(format!("column {}: {e}", config.login_column)))?;
        let uid: i64 = row.try_get(config.uid_column.as_str()).map_err(backend)?;
        let uid = u32::try_from(uid).map_err(|_| {
            DirectoryError::Backend(format!(
                "column {}: {uid} is not a user id",
                config.uid_column
            ))
        })?;
        let password_hash =
            column(&config.password_column)?.filter(|p| p.starts_with("$argon2id$"));
        Ok(Some(User {
            login,
            uid,
            display_name: column(&config.display_name_column)?.unwrap_or_default(),
            password_hash,
        }))
    }
}
