//! The Appliance Administrator's sessions after set-up: in memory (a
//! restart signs everybody out), one `__Host-admin` cookie each (32 random
//! bytes; `Secure; HttpOnly; SameSite=Strict; Path=/`), a CSRF token per
//! session, ended after [`IDLE`] without a request or by signing out.
//! Pure bookkeeping over a clock the caller passes in.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;

use crate::setup::gate::{cookie, random_token, same_token};

/// The session cookie.
pub const ADMIN_COOKIE: &str = "__Host-admin";
/// The sign-in form's double-submit cookie.
pub const LOGIN_COOKIE: &str = "__Host-login";
/// A session unused this long ends.
pub const IDLE: Duration = Duration::from_secs(15 * 60);

/// A signed-in Appliance Administrator.
#[derive(Debug, Clone)]
pub struct AdminSession {
    /// The cookie value.
    pub id: String,
    /// The form token of this session.
    pub csrf: String,
    /// Who signed in.
    pub login: String,
    last_seen: Instant,
}

impl AdminSession {
    /// Whether `presented` is this session's form token.
    pub fn csrf_ok(&self, presented: &str) -> bool {
        same_token(&self.csrf, presented)
    }
}

/// The live sessions.
#[derive(Debug)]
pub struct Sessions {
    idle: Duration,
    live: HashMap<String, AdminSession>,
}

impl Sessions {
    /// No session; each ends after `idle` unused.
    pub fn new(idle: Duration) -> Sessions {
        Sessions {
            idle,
            live: HashMap::new(),
        }
    }

    /// A new session for `login` (expired ones are dropped).
    pub fn create(&mut self, login: &str, now: Instant) -> Result<AdminSession, getrandom::Error> {
        let idle = self.idle;
        self.live
            .retain(|_, s| now.duration_since(s.last_seen) < idle);
        let s = AdminSession {
            id: random_token()?,
            csrf: random_token()?,
            login: login.to_string(),
            last_seen: now,
        };
        self.live.insert(s.id.clone(), s.clone());
        Ok(s)
    }

    /// The live session the request's cookie names, touched.
    pub fn lookup(&mut self, headers: &HeaderMap, now: Instant) -> Option<AdminSession> {
        let id = cookie(headers, ADMIN_COOKIE)?;
        let s = self.live.get_mut(&id)?;
        if now.duration_since(s.last_seen) >= self.idle {
            self.live.remove(&id);
            return None;
        }
        s.last_seen = now;
        Some(s.clone())
    }

    /// Ends a session (sign-out).
    pub fn remove(&mut self, id: &str) {
        self.live.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{header, HeaderValue};

    #[test]
    fn sessions_are_found_by_cookie_and_expire_when_idle() {
        let mut all = Sessions::new(IDLE);
        let t0 = Instant::now();
        let s = all.create("admin", t0).unwrap();
        assert_eq!((s.id.len(), s.csrf.len()), (64, 64));
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("x=y; {ADMIN_COOKIE}={}", s.id)).unwrap(),
        );
        let found = all.lookup(&h, t0 + Duration::from_secs(14 * 60)).unwrap();
        assert!(found.csrf_ok(&s.csrf) && !found.csrf_ok("nope"));
        assert!(all.lookup(&h, t0 + Duration::from_secs(28 * 60)).is_some());
        assert!(all.lookup(&h, t0 + Duration::from_secs(44 * 60)).is_none());
        let s = all.create("admin", t0).unwrap();
        all.remove(&s.id);
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("{ADMIN_COOKIE}={}", s.id)).unwrap(),
        );
        assert!(all.lookup(&h, t0).is_none());
    }
}
