//! The admin API's core: what the management pages and the tests call.
//!
//! Each operation names the administrator, is checked against the `admin`
//! policies (see [`crate::policy`]) and is audited. Token views never carry
//! the seed or the PIN hash.

use serde::Serialize;

use crate::audit::{AuditAction, AuditEntry, AuditResult, AuditSink};
use crate::directory::User;
use crate::hotp::Algorithm;
use crate::names::{Login, RealmName, Serial, UserRef};
use crate::policy::{admin, Policies};
use crate::service::Service;
use crate::store::{StoreError, TokenStore};
use crate::token::{ResyncOutcome, TokenError, TokenKind, TokenRecord};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("administrator {admin} may not {action} in realm {realm}")]
    Denied {
        admin: String,
        action: &'static str,
        realm: String,
    },
    #[error("token {0}: no such token")]
    NoToken(Serial),
    #[error("user {0}: not found in realm {1}")]
    NoUser(String, String),
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Directory(#[from] crate::directory::DirectoryError),
}

/// One row of the Token View.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TokenView {
    pub serial: Serial,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub user: Option<UserRef>,
    pub counter: u64,
    pub fail_count: u32,
    pub active: bool,
}

impl From<&TokenRecord> for TokenView {
    fn from(t: &TokenRecord) -> TokenView {
        TokenView {
            serial: t.serial.clone(),
            kind: t.kind.name(),
            user: t.owner.clone(),
            counter: t.counter,
            fail_count: t.fail_count,
            active: t.active,
        }
    }
}

/// A new token's parameters (the seed arrives from the enrolment page or
/// is generated there).
pub struct NewToken<'a> {
    pub serial: Serial,
    pub kind: TokenKind,
    pub algorithm: Algorithm,
    pub digits: u8,
    pub seed: &'a [u8],
}

impl<S: TokenStore, A: AuditSink> Service<S, A> {
    fn admin_audit(
        &self,
        now: u64,
        admin: &Login,
        action: AuditAction,
        result: AuditResult,
        serial: Option<&Serial>,
    ) {
        self.audit.record(AuditEntry {
            time: now,
            action,
            result,
            user: None,
            admin: Some(admin.clone()),
            serial: serial.cloned(),
        });
    }

    async fn allowed(
        &self,
        admin: &Login,
        action: &'static str,
        realm: &str,
    ) -> Result<(), AdminError> {
        if self
            .store
            .policies()
            .await?
            .admin_allows(admin.as_str(), action, realm)
        {
            Ok(())
        } else {
            Err(AdminError::Denied {
                admin: admin.to_string(),
                action,
                realm: realm.to_string(),
            })
        }
    }

    /// Runs an admin operation on one token and audits it.
    async fn on_token<F>(
        &self,
        now: u64,
        admin: &Login,
        action: &'static str,
        audit: AuditAction,
        serial: &Serial,
        change: F,
    ) -> Result<(), AdminError>
    where
        F: FnOnce(&mut TokenRecord) -> Result<(), TokenError> + Send,
    {
        let result: Result<(), AdminError> = async {
            let token = self
                .store
                .get(serial)
                .await?
                .ok_or_else(|| AdminError::NoToken(serial.clone()))?;
            let realm = token
                .owner
                .as_ref()
                .map_or("", |o| o.realm.as_str())
                .to_string();
            self.allowed(admin, action, &realm).await?;
            self.store
                .update(serial, change)
                .await?
                .ok_or_else(|| AdminError::NoToken(serial.clone()))??;
            Ok(())
        }
        .await;
        let verdict = match &result {
            Ok(()) => AuditResult::Success,
            Err(AdminError::Denied { .. }) => AuditResult::PolicyDenied,
            Err(AdminError::NoToken(_)) => AuditResult::NoToken,
            Err(_) => AuditResult::InternalError,
        };
        self.admin_audit(now, admin, audit, verdict, Some(serial));
        result
    }

    /// Creates a token (not yet assigned).
    pub async fn admin_init(
        &self,
        now: u64,
        admin: &Login,
        new: NewToken<'_>,
    ) -> Result<(), AdminError> {
        let serial = new.serial.clone();
        let result: Result<(), AdminError> = async {
            self.allowed(admin, admin::INIT, "").await?;
            let token = TokenRecord::new(
                &self.key,
                new.serial,
                new.kind,
                new.algorithm,
                new.digits,
                new.seed,
            )?;
            self.store.insert(token).await?;
            Ok(())
        }
        .await;
        let verdict = match &result {
            Ok(()) => AuditResult::Success,
            Err(AdminError::Denied { .. }) => AuditResult::PolicyDenied,
            Err(_) => AuditResult::BadRequest,
        };
        self.admin_audit(now, admin, AuditAction::AdminInit, verdict, Some(&serial));
        result
    }

    /// Assigns a token to a user of a realm (the user must exist).
    pub async fn admin_assign(
        &self,
        now: u64,
        admin: &Login,
        serial: &Serial,
        user: &str,
        realm: Option<&str>,
    ) -> Result<(), AdminError> {
        let Ok(owner) = self.resolve(user, realm) else {
            self.admin_audit(
                now,
                admin,
                AuditAction::AdminAssign,
                AuditResult::UnknownUser,
                Some(serial),
            );
            return Err(AdminError::NoUser(
                user.to_string(),
                realm.unwrap_or("(default)").to_string(),
            ));
        };
        // The target realm must be the administrator's too (`on_token`
        // checks the token's present realm).
        if let Err(denied) = self
            .allowed(admin, admin::ASSIGN, owner.realm.as_str())
            .await
        {
            self.admin_audit(
                now,
                admin,
                AuditAction::AdminAssign,
                AuditResult::PolicyDenied,
                Some(serial),
            );
            return Err(denied);
        }
        self.on_token(
            now,
            admin,
            admin::ASSIGN,
            AuditAction::AdminAssign,
            serial,
            move |t| {
                t.owner = Some(owner);
                Ok(())
            },
        )
        .await
    }

    pub async fn admin_set_pin(
        &self,
        now: u64,
        admin: &Login,
        serial: &Serial,
        pin: &str,
    ) -> Result<(), AdminError> {
        self.on_token(
            now,
            admin,
            admin::SET_PIN,
            AuditAction::AdminSetPin,
            serial,
            |t| t.set_pin(pin),
        )
        .await
    }

    pub async fn admin_set_active(
        &self,
        now: u64,
        admin: &Login,
        serial: &Serial,
        active: bool,
    ) -> Result<(), AdminError> {
        let (action, audit) = if active {
            (admin::ENABLE, AuditAction::AdminEnable)
        } else {
            (admin::DISABLE, AuditAction::AdminDisable)
        };
        self.on_token(now, admin, action, audit, serial, |t| {
            t.active = active;
            Ok(())
        })
        .await
    }

    pub async fn admin_reset_fail_counter(
        &self,
        now: u64,
        admin: &Login,
        serial: &Serial,
    ) -> Result<(), AdminError> {
        self.on_token(
            now,
            admin,
            admin::RESET,
            AuditAction::AdminResetFailCounter,
            serial,
            |t| {
                t.fail_count = 0;
                Ok(())
            },
        )
        .await
    }

    /// Resync by an administrator (same rule as self-service); `Ok(false)`
    /// when the two values are not consecutive OTPs in the sync window.
    pub async fn admin_resync(
        &self,
        now: u64,
        admin: &Login,
        serial: &Serial,
        otp1: &str,
        otp2: &str,
    ) -> Result<bool, AdminError> {
        let key = &self.key;
        let mut synced = false;
        let synced_ref = &mut synced;
        self.on_token(
            now,
            admin,
            admin::RESYNC,
            AuditAction::AdminResync,
            serial,
            move |t| {
                *synced_ref = t.resync(key, otp1, otp2)? == ResyncOutcome::Synced;
                Ok(())
            },
        )
        .await?;
        Ok(synced)
    }

    /// Deletes a token (checked against the token's realm).
    pub async fn admin_remove(
        &self,
        now: u64,
        admin: &Login,
        serial: &Serial,
    ) -> Result<(), AdminError> {
        let result: Result<(), AdminError> = async {
            let token = self
                .store
                .get(serial)
                .await?
                .ok_or_else(|| AdminError::NoToken(serial.clone()))?;
            let realm = token.owner.as_ref().map_or("", |o| o.realm.as_str());
            self.allowed(admin, admin::REMOVE, realm).await?;
            if !self.store.remove(serial).await? {
                return Err(AdminError::NoToken(serial.clone()));
            }
            Ok(())
        }
        .await;
        let verdict = match &result {
            Ok(()) => AuditResult::Success,
            Err(AdminError::Denied { .. }) => AuditResult::PolicyDenied,
            Err(AdminError::NoToken(_)) => AuditResult::NoToken,
            Err(_) => AuditResult::InternalError,
        };
        self.admin_audit(now, admin, AuditAction::AdminRemove, verdict, Some(serial));
        result
    }

    /// One token's view (checked against `show`).
    pub async fn admin_token(
        &self,
        admin: &Login,
        serial: &Serial,
    ) -> Result<TokenView, AdminError> {
        self.allowed(admin, admin::SHOW, "").await?;
        self.store
            .get(serial)
            .await?
            .map(|t| TokenView::from(&t))
            .ok_or_else(|| AdminError::NoToken(serial.clone()))
    }

    /// The realms, in their configured order (checked against `userlist`).
    pub async fn admin_realms(
        &self,
        admin: &Login,
    ) -> Result<Vec<crate::directory::Realm>, AdminError> {
        self.allowed(admin, admin::USERLIST, "").await?;
        Ok(self.directory.realms().to_vec())
    }

    /// Records an administrator's login attempt (the management pages'
    /// login; the password itself is never part of the entry).
    pub fn audit_admin_login(&self, now: u64, admin: &Login, ok: bool) {
        let result = if ok {
            AuditResult::Success
        } else {
            AuditResult::BadPassword
        };
        self.admin_audit(now, admin, AuditAction::AdminLogin, result, None);
    }

    /// The Token View, sorted by serial.
    pub async fn admin_tokens(&self, admin: &Login) -> Result<Vec<TokenView>, AdminError> {
        self.allowed(admin, admin::SHOW, "").await?;
        Ok(self
            .store
            .list()
            .await?
            .iter()
            .map(TokenView::from)
            .collect())
    }

    /// The User View: every user, sorted by realm.
    pub async fn admin_users(&self, admin: &Login) -> Result<Vec<(RealmName, User)>, AdminError> {
        self.allowed(admin, admin::USERLIST, "").await?;
        Ok(self.directory.users_by_realm()?)
    }

    pub async fn admin_policies(&self) -> Result<Policies, AdminError> {
        Ok(self.store.policies().await?)
    }

    pub async fn admin_set_policies(
        &self,
        now: u64,
        admin: &Login,
        policies: &Policies,
    ) -> Result<(), AdminError> {
        let result: Result<(), AdminError> = async {
            self.allowed(admin, admin::SET_POLICY, "").await?;
            self.store.set_policies(policies).await?;
            Ok(())
        }
        .await;
        let verdict = match &result {
            Ok(()) => AuditResult::Success,
            Err(AdminError::Denied { .. }) => AuditResult::PolicyDenied,
            Err(_) => AuditResult::InternalError,
        };
        self.admin_audit(now, admin, AuditAction::AdminSetPolicies, verdict, None);
        result
    }
}
