//! The LinOTP Administrator's login: credentials from a file (an Argon2id
//! hash, never the password), sessions in memory behind a cookie, a CSRF
//! token per session, and a limit on failed logins.
//!
//! The cookie is `__Host-otp-admin`: `Secure`, `HttpOnly`,
//! `SameSite=Strict`, `Path=/`, no domain. Every state-changing request
//! carries the session's CSRF token (a form field on the pages, the
//! `X-CSRF-Token` header on the JSON API) and is refused when the browser
//! says it came from another site (`Sec-Fetch-Site`).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use appliance_otp::names::Login;
use axum::http::{header, HeaderMap};
use serde::Deserialize;
use subtle::ConstantTimeEq;

/// The session cookie's name (`__Host-`: only set over HTTPS, for this host).
pub const COOKIE: &str = "__Host-otp-admin";
/// The JSON API's CSRF header.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// A session ends after this long without a request.
pub const IDLE: Duration = Duration::from_secs(15 * 60);
/// Failed logins allowed per [`FAILURE_WINDOW`] before logins wait.
pub const MAX_FAILURES: usize = 5;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("{file}: {path}: {reason}")]
    Field {
        file: String,
        path: String,
        reason: String,
    },
    #[error("{file}: password_hash: must be an Argon2id PHC string ($argon2id$…); write it with `appliance-otp hash-password`")]
    NotArgon2id { file: String },
}

/// The administrator's login name and password hash.
#[derive(Clone)]
pub struct AdminCredentials {
    pub login: Login,
    phc: String,
}

impl std::fmt::Debug for AdminCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminCredentials")
            .field("login", &self.login)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialsFile {
    login: Login,
    password_hash: String,
}

impl AdminCredentials {
    /// Reads `{"login": "...", "password_hash": "$argon2id$..."}`; errors
    /// name the file and the field.
    pub fn parse(file: &str, text: &str) -> Result<AdminCredentials, CredentialsError> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let parsed: CredentialsFile =
            serde_path_to_error::deserialize(de).map_err(|e| CredentialsError::Field {
                file: file.to_string(),
                path: e.path().to_string(),
                reason: e.inner().to_string(),
            })?;
        if !parsed.password_hash.starts_with("$argon2id$") {
            return Err(CredentialsError::NotArgon2id {
                file: file.to_string(),
            });
        }
        Ok(AdminCredentials {
            login: parsed.login,
            phc: parsed.password_hash,
        })
    }

    /// No administrator yet (the credentials file is written when the
    /// appliance is set up): every login is refused.
    pub fn unset(login: Login) -> AdminCredentials {
        AdminCredentials {
            login,
            phc: String::new(),
        }
    }

    /// The file's text for a login and a password hash.
    pub fn render(login: &Login, phc: &str) -> String {
        let value = serde_json::json!({"login": login.as_str(), "password_hash": phc});
        let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Whether `login` and `password` are the administrator's. The hash is
    /// checked even for a wrong login, so both cost the same time.
    /// Argon2id is slow on purpose: call it off the async threads.
    pub fn verify(&self, login: &str, password: &str) -> bool {
        let hash_ok = appliance_otp::crypto::verify_pin(password, &self.phc).unwrap_or(false);
        let login_ok: bool = login
            .as_bytes()
            .ct_eq(self.login.as_str().as_bytes())
            .into();
        hash_ok && login_ok
    }
}

/// A logged-in administrator.
#[derive(Clone, Debug)]
pub struct AdminSession {
    pub id: String,
    pub admin: Login,
    pub csrf: String,
}

impl AdminSession {
    /// Whether `presented` is this session's CSRF token.
    pub fn csrf_ok(&self, presented: &str) -> bool {
        presented.as_bytes().ct_eq(self.csrf.as_bytes()).into()
    }
}

struct Entry {
    admin: Login,
    csrf: String,
    seen: Instant,
}

/// Sessions in memory (a restart logs everybody out).
pub struct Sessions {
    entries: Mutex<HashMap<String, Entry>>,
    failures: Mutex<VecDeque<Instant>>,
    idle: Duration,
}

impl Default for Sessions {
    fn default() -> Sessions {
        Sessions::new(IDLE)
    }
}

/// 32 random bytes as hex.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // The operating system's generator; without it no secret can be made.
    getrandom::getrandom(&mut bytes).expect("the operating system's random generator");
    hex::encode(bytes)
}

impl Sessions {
    pub fn new(idle: Duration) -> Sessions {
        Sessions {
            entries: Mutex::new(HashMap::new()),
            failures: Mutex::new(VecDeque::new()),
            idle,
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn create(&self, admin: Login) -> AdminSession {
        let id = random_token();
        let csrf = random_token();
        let mut entries = self.entries();
        let idle = self.idle;
        entries.retain(|_, e| e.seen.elapsed() < idle);
        entries.insert(
            id.clone(),
            Entry {
                admin: admin.clone(),
                csrf: csrf.clone(),
                seen: Instant::now(),
            },
        );
        AdminSession { id, admin, csrf }
    }

    /// The session the request's cookie names, if it is alive (and marks
    /// it used).
    pub fn lookup(&self, headers: &HeaderMap) -> Option<AdminSession> {
        let id = cookie(headers, COOKIE)?;
        let mut entries = self.entries();
        let entry = entries.get_mut(id)?;
        if entry.seen.elapsed() >= self.idle {
            entries.remove(id);
            return None;
        }
        entry.seen = Instant::now();
        Some(AdminSession {
            id: id.to_string(),
            admin: entry.admin.clone(),
            csrf: entry.csrf.clone(),
        })
    }

    pub fn remove(&self, id: &str) {
        self.entries().remove(id);
    }

    /// `Err(seconds)` while too many logins failed recently.
    pub fn login_allowed(&self) -> Result<(), u64> {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        while failures
            .front()
            .is_some_and(|t| t.elapsed() >= FAILURE_WINDOW)
        {
            failures.pop_front();
        }
        match failures.front() {
            Some(first) if failures.len() >= MAX_FAILURES => {
                Err(FAILURE_WINDOW.saturating_sub(first.elapsed()).as_secs() + 1)
            }
            _ => Ok(()),
        }
    }

    pub fn login_failed(&self) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(Instant::now());
    }
}

/// A cookie's value from the `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// The `Set-Cookie` value that starts a session.
pub fn set_cookie(session: &AdminSession) -> String {
    format!(
        "{COOKIE}={}; Path=/; Secure; HttpOnly; SameSite=Strict",
        session.id
    )
}

/// The `Set-Cookie` value that ends one.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// Whether the browser says the request came from another site.
pub fn cross_site(headers: &HeaderMap) -> bool {
    headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "cross-site" || v == "same-site")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn credentials_need_an_argon2id_hash_and_name_the_field() {
        let err = AdminCredentials::parse("admin.json", r#"{"login":"admin"}"#).unwrap_err();
        assert!(
            err.to_string().contains("missing field `password_hash`"),
            "{err}"
        );
        let err = AdminCredentials::parse(
            "admin.json",
            r#"{"login":"admin","password_hash":"secret"}"#,
        )
        .unwrap_err();
        assert!(
            err.to_string().starts_with("admin.json: password_hash"),
            "{err}"
        );
        let err = AdminCredentials::parse(
            "admin.json",
            r#"{"login":"a b","password_hash":"$argon2id$x"}"#,
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("admin.json: login: "), "{err}");
    }

    #[test]
    fn verify_checks_login_and_password() {
        let phc = appliance_otp::crypto::hash_pin("TEST-admin-password").unwrap();
        let login = Login::new("admin").unwrap();
        let text = AdminCredentials::render(&login, &phc);
        let creds = AdminCredentials::parse("admin.json", &text).unwrap();
        assert!(creds.verify("admin", "TEST-admin-password"));
        assert!(!creds.verify("admin", "TEST-admin-passwor"));
        assert!(!creds.verify("root", "TEST-admin-password"));
        assert!(!format!("{creds:?}").contains("argon2"));
    }

    #[test]
    fn sessions_expire_and_failures_are_limited() {
        let sessions = Sessions::new(Duration::from_millis(50));
        let s = sessions.create(Login::new("admin").unwrap());
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("a=b; {COOKIE}={}", s.id)).unwrap(),
        );
        let found = sessions.lookup(&headers).unwrap();
        assert!(found.csrf_ok(&s.csrf));
        assert!(!found.csrf_ok("nope"));
        std::thread::sleep(Duration::from_millis(60));
        assert!(sessions.lookup(&headers).is_none());
        for _ in 0..MAX_FAILURES {
            assert!(sessions.login_allowed().is_ok());
            sessions.login_failed();
        }
        let wait = sessions.login_allowed().unwrap_err();
        assert!((1..=60).contains(&wait), "{wait}");
    }
}
