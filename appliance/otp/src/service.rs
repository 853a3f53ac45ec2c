//! The `validate/check` core and self-service resync.
//!
//! [`Service`] ties the store, the database key, the users and the audit
//! log together. It knows nothing of HTTP: a server turns requests into
//! [`CheckRequest`]s and sends back the [`Envelope`].

use crate::api::{CheckRequest, Envelope};
use crate::audit::{AuditAction, AuditEntry, AuditResult, AuditSink};
use crate::crypto::DbKey;
use crate::directory::Directory;
use crate::names::{Login, Serial, UserRef};
use crate::policy::selfservice;
use crate::store::{bind_key, StoreError, TokenStore};
use crate::token::{CheckOutcome, ResyncOutcome, TokenError};

pub struct Service<S, A> {
    pub(crate) store: S,
    pub(crate) key: DbKey,
    pub(crate) directory: Directory,
    pub(crate) audit: A,
}

/// Why a request ended as it did (the audit result; callers of
/// `validate/check` see only the envelope).
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    #[error("{0:?}")]
    Refused(AuditResult),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    Directory(#[from] crate::directory::DirectoryError),
}

impl Failure {
    fn audit_result(&self) -> AuditResult {
        match self {
            Failure::Refused(result) => *result,
            _ => AuditResult::InternalError,
        }
    }
}

/// A self-service resync: the user logs in with the resolver password and
/// gives two consecutive OTPs of one of their tokens.
#[derive(Clone)]
pub struct ResyncRequest {
    pub user: String,
    pub realm: Option<String>,
    pub password: String,
    pub serial: String,
    pub otp1: String,
    pub otp2: String,
}

/// What a self-service resync did. Unlike `validate/check` the portal may
/// tell the user why (they logged in first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResyncReply {
    Synced,
    NotSynced,
    LoginFailed,
    PolicyDenied,
    NotYourToken,
    Failed,
}

impl<S: TokenStore, A: AuditSink> Service<S, A> {
    /// Binds the key to the store (refusing a key that does not belong to
    /// it) and returns the service.
    pub async fn open(
        store: S,
        key: DbKey,
        directory: Directory,
        audit: A,
    ) -> Result<Service<S, A>, StoreError> {
        bind_key(&store, &key).await?;
        Ok(Service {
            store,
            key,
            directory,
            audit,
        })
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn audit(&self) -> &A {
        &self.audit
    }

    pub(crate) fn record(
        &self,
        now: u64,
        action: AuditAction,
        result: AuditResult,
        user: Option<UserRef>,
        serial: Option<Serial>,
    ) {
        self.audit.record(AuditEntry {
            time: now,
            action,
            result,
            user,
            admin: None,
            serial,
        });
    }

    /// Resolves `user` in `realm` (or the default realm) to a known user.
    pub(crate) fn resolve(&self, user: &str, realm: Option<&str>) -> Result<UserRef, Failure> {
        let realm = self
            .directory
            .realm(realm)
            .map_err(|_| Failure::Refused(AuditResult::UnknownRealm))?;
        let login = Login::new(user).map_err(|_| Failure::Refused(AuditResult::UnknownUser))?;
        match self.directory.find_user(realm, &login)? {
            Some(_) => Ok(UserRef {
                realm: realm.name.clone(),
                login,
            }),
            None => Err(Failure::Refused(AuditResult::UnknownUser)),
        }
    }

    /// `validate/check`: never fails, every problem is `value: false`.
    pub async fn check(&self, request: &CheckRequest, now: u64) -> Envelope {
        let mut who = None;
        let result = self.check_inner(request, now, &mut who).await;
        let (value, audit, serial) = match result {
            Ok((outcome, serial)) => (
                outcome == CheckOutcome::Accepted,
                outcome_result(outcome),
                Some(serial),
            ),
            Err(failure) => (false, failure.audit_result(), None),
        };
        self.record(now, AuditAction::ValidateCheck, audit, who, serial);
        Envelope::verdict(value)
    }

    /// `validate/simplecheck`: `:-)` or `:-(`.
    pub async fn simplecheck(&self, request: &CheckRequest, now: u64) -> &'static str {
        self.check(request, now).await.simple()
    }

    async fn check_inner(
        &self,
        request: &CheckRequest,
        now: u64,
        who: &mut Option<UserRef>,
    ) -> Result<(CheckOutcome, Serial), Failure> {
        let user = self.resolve(&request.user, request.realm.as_deref())?;
        *who = Some(user.clone());
        let serials = self.store.tokens_of(&user).await?;
        if serials.is_empty() {
            return Err(Failure::Refused(AuditResult::NoToken));
        }
        let key = &self.key;
        let pass = request.pass.as_str();
        if serials.len() > 1 {
            // Several tokens: find the one the pass belongs to without
            // counting a failure on the others.
            for serial in &serials {
                let outcome = self
                    .store
                    .update(serial, |t| {
                        let mut trial = t.clone();
                        let outcome = trial.check(key, pass, now);
                        if matches!(outcome, Ok(CheckOutcome::Accepted)) {
                            *t = trial;
                        }
                        outcome
                    })
                    .await?;
                if let Some(Ok(CheckOutcome::Accepted)) = outcome {
                    return Ok((CheckOutcome::Accepted, serial.clone()));
                }
            }
        }
        // No token accepted (or only one token): the real check, which
        // counts the failure on every token.
        let mut last = None;
        for serial in &serials {
            if let Some(outcome) = self
                .store
                .update(serial, |t| t.check(key, pass, now))
                .await?
            {
                let outcome = outcome?;
                if outcome == CheckOutcome::Accepted {
                    return Ok((outcome, serial.clone()));
                }
                last = Some((outcome, serial.clone()));
            }
        }
        last.ok_or(Failure::Refused(AuditResult::NoToken))
    }

    /// Self-service resync, allowed by a `selfservice` policy with `resync`.
    pub async fn selfservice_resync(&self, request: &ResyncRequest, now: u64) -> ResyncReply {
        let mut who = None;
        let mut serial = None;
        let result = self.resync_inner(request, &mut who, &mut serial).await;
        let (reply, audit) = match result {
            Ok(ResyncOutcome::Synced) => (ResyncReply::Synced, AuditResult::Success),
            Ok(ResyncOutcome::Disabled) => (ResyncReply::NotSynced, AuditResult::Disabled),
            Ok(_) => (ResyncReply::NotSynced, AuditResult::Refused),
            Err(failure) => {
                let audit = failure.audit_result();
                let reply = match audit {
                    AuditResult::BadPassword
                    | AuditResult::UnknownUser
                    | AuditResult::UnknownRealm => ResyncReply::LoginFailed,
                    AuditResult::PolicyDenied => ResyncReply::PolicyDenied,
                    AuditResult::NotOwner => ResyncReply::NotYourToken,
                    _ => ResyncReply::Failed,
                };
                (reply, audit)
            }
        };
        self.record(now, AuditAction::SelfserviceResync, audit, who, serial);
        reply
    }

    async fn resync_inner(
        &self,
        request: &ResyncRequest,
        who: &mut Option<UserRef>,
        serial_out: &mut Option<Serial>,
    ) -> Result<ResyncOutcome, Failure> {
        let realm = self
            .directory
            .realm(request.realm.as_deref())
            .map_err(|_| Failure::Refused(AuditResult::UnknownRealm))?;
        let login =
            Login::new(&request.user).map_err(|_| Failure::Refused(AuditResult::UnknownUser))?;
        let Some((_, resolver)) = self.directory.find_user(realm, &login)? else {
            return Err(Failure::Refused(AuditResult::UnknownUser));
        };
        let user = UserRef {
            realm: realm.name.clone(),
            login,
        };
        *who = Some(user.clone());
        if !resolver.check_password(&user.login, &request.password)? {
            return Err(Failure::Refused(AuditResult::BadPassword));
        }
        if !self
            .store
            .policies()
            .await?
            .selfservice_allows(selfservice::RESYNC, &user)
        {
            return Err(Failure::Refused(AuditResult::PolicyDenied));
        }
        let serial =
            Serial::new(&request.serial).map_err(|_| Failure::Refused(AuditResult::BadRequest))?;
        if !self.store.tokens_of(&user).await?.contains(&serial) {
            return Err(Failure::Refused(AuditResult::NotOwner));
        }
        *serial_out = Some(serial.clone());
        let key = &self.key;
        let outcome = self
            .store
            .update(&serial, |t| t.resync(key, &request.otp1, &request.otp2))
            .await?;
        outcome
            .ok_or(Failure::Refused(AuditResult::NotOwner))?
            .map_err(Failure::from)
    }
}

fn outcome_result(outcome: CheckOutcome) -> AuditResult {
    match outcome {
        CheckOutcome::Accepted => AuditResult::Success,
        CheckOutcome::Refused => AuditResult::Refused,
        CheckOutcome::Locked => AuditResult::Locked,
        CheckOutcome::Disabled => AuditResult::Disabled,
    }
}
