//! The in-memory token store (tests, and a model the MariaDB store must
//! behave like).

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{StoreError, TokenStore};
use crate::names::{Serial, UserRef};
use crate::policy::Policies;
use crate::token::TokenRecord;

#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    key_check: Option<String>,
    tokens: BTreeMap<Serial, TokenRecord>,
    policies: Policies,
}

impl MemoryStore {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves whole records behind (every
        // change is made on the record in place), so the data stays usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl TokenStore for MemoryStore {
    async fn key_check(&self) -> Result<Option<String>, StoreError> {
        Ok(self.state().key_check.clone())
    }

    async fn set_key_check(&self, value: &str) -> Result<(), StoreError> {
        self.state().key_check = Some(value.to_string());
        Ok(())
    }

    async fn rebind_key_check(&self, old: &str, new: &str) -> Result<bool, StoreError> {
        let mut state = self.state();
        if state.key_check.as_deref() == Some(old) && state.tokens.is_empty() {
            state.key_check = Some(new.to_string());
            return Ok(true);
        }
        Ok(false)
    }

    async fn insert(&self, token: TokenRecord) -> Result<(), StoreError> {
        let mut state = self.state();
        if state.tokens.contains_key(&token.serial) {
            return Err(StoreError::DuplicateSerial(token.serial));
        }
        state.tokens.insert(token.serial.clone(), token);
        Ok(())
    }

    async fn get(&self, serial: &Serial) -> Result<Option<TokenRecord>, StoreError> {
        Ok(self.state().tokens.get(serial).cloned())
    }

    async fn list(&self) -> Result<Vec<TokenRecord>, StoreError> {
        Ok(self.state().tokens.values().cloned().collect())
    }

    async fn remove(&self, serial: &Serial) -> Result<bool, StoreError> {
        Ok(self.state().tokens.remove(serial).is_some())
    }

    async fn tokens_of(&self, user: &UserRef) -> Result<Vec<Serial>, StoreError> {
        Ok(self
            .state()
            .tokens
            .values()
            .filter(|t| t.owner.as_ref() == Some(user))
            .map(|t| t.serial.clone())
            .collect())
    }

    async fn update<R, F>(&self, serial: &Serial, change: F) -> Result<Option<R>, StoreError>
    where
        R: Send,
        F: FnOnce(&mut TokenRecord) -> R + Send,
    {
        let mut state = self.state();
        Ok(state.tokens.get_mut(serial).map(change))
    }

    async fn policies(&self) -> Result<Policies, StoreError> {
        Ok(self.state().policies.clone())
    }

    async fn set_policies(&self, policies: &Policies) -> Result<(), StoreError> {
        self.state().policies = policies.clone();
        Ok(())
    }
}
