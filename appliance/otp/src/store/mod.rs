//! Where tokens, policies and the key-check value live.
//!
//! [`TokenStore`] is the one interface the core uses; [`memory`] keeps
//! everything in a mutex (the pure tests), [`mariadb`] in MariaDB. A token
//! changes only through [`TokenStore::update`], which runs the pure rules
//! on the record while the record is locked (a row lock in MariaDB), so two
//! requests with the same OTP cannot both see the old counter.

pub mod mariadb;
pub mod memory;
mod migrations;

use std::future::Future;

use crate::crypto::DbKey;
use crate::names::{Serial, UserRef};
use crate::policy::Policies;
use crate::token::TokenRecord;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("token {0} already exists")]
    DuplicateSerial(Serial),
    #[error("the database key does not belong to this token database (key-check value differs)")]
    KeyMismatch,
    #[error("token database: column {column}: {reason}")]
    Corrupt {
        column: &'static str,
        reason: String,
    },
    #[error("token database schema version {found} is newer than this program's ({known})")]
    SchemaTooNew { found: i64, known: i64 },
    #[error("token database: {0}")]
    Database(#[from] sqlx::Error),
}

pub trait TokenStore: Send + Sync {
    /// The key-check value stored with the data, if any.
    fn key_check(&self) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
    /// Stores the key-check value (first use of an empty database).
    fn set_key_check(&self, value: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Replaces the key-check value `old` by `new` in one step, only while
    /// the store holds no token; whether it did.
    fn rebind_key_check(
        &self,
        old: &str,
        new: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    fn insert(&self, token: TokenRecord) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn get(
        &self,
        serial: &Serial,
    ) -> impl Future<Output = Result<Option<TokenRecord>, StoreError>> + Send;
    /// Every token, sorted by serial (the Token View).
    fn list(&self) -> impl Future<Output = Result<Vec<TokenRecord>, StoreError>> + Send;
    /// Deletes a token; `false` when there was none.
    fn remove(&self, serial: &Serial) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Serials of the tokens assigned to `user`, sorted.
    fn tokens_of(
        &self,
        user: &UserRef,
    ) -> impl Future<Output = Result<Vec<Serial>, StoreError>> + Send;
    /// Runs `change` on the locked record and stores what it left; `None`
    /// when there is no such token.
    fn update<R, F>(
        &self,
        serial: &Serial,
        change: F,
    ) -> impl Future<Output = Result<Option<R>, StoreError>> + Send
    where
        R: Send,
        F: FnOnce(&mut TokenRecord) -> R + Send;
    fn policies(&self) -> impl Future<Output = Result<Policies, StoreError>> + Send;
    fn set_policies(
        &self,
        policies: &Policies,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Binds `key` to the store: a store without a check value takes the
/// key's; a store with another check value is refused with
/// [`StoreError::KeyMismatch`] while it holds a token (its seeds are sealed
/// under the other key), and takes the new key's value when it holds none
/// (nothing is sealed, so nothing is lost: the set-up wizard regenerates
/// the key of an appliance whose service already bound the first one).
pub async fn bind_key(store: &impl TokenStore, key: &DbKey) -> Result<(), StoreError> {
    let ours = key.key_check();
    match store.key_check().await? {
        None => store.set_key_check(&ours).await,
        Some(stored) if stored == ours => Ok(()),
        Some(stored) => {
            if store.rebind_key_check(&stored, &ours).await? {
                Ok(())
            } else {
                Err(StoreError::KeyMismatch)
            }
        }
    }
}

/// Config keys (LinOTP keeps policies and settings in its Config table too).
pub(crate) const KEY_CHECK_CONFIG: &str = "key_check";
pub(crate) const POLICIES_CONFIG: &str = "policies";
