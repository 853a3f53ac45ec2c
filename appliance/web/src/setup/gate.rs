//! Who may use the wizard: the claim (setup code → one session), the
//! attempt limits, the session cookie, the CSRF token and the same-origin
//! check of every POST. Pure bookkeeping over a clock the caller passes in;
//! the Argon2 check runs in the handler.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap};

/// Name of the session cookie. `__Host-`: the browser sends it only to
/// this host, over HTTPS, with `Path=/` and no `Domain` (a page of another
/// host or port cannot set or read it).
pub const SESSION_COOKIE: &str = "__Host-setup";
/// Name of the claim form's double-submit cookie.
pub const CLAIM_COOKIE: &str = "__Host-claim";
/// Name of the hidden form field with the CSRF token.
pub const CSRF_FIELD: &str = "csrf";

/// The limits of the claim and the session.
#[derive(Debug, Clone)]
pub struct GateLimits {
    /// Claim attempts per client in [`GateLimits::window`].
    pub per_client: usize,
    /// Claim attempts from all clients together in the window.
    pub global: usize,
    /// The window of both counts.
    pub window: Duration,
    /// A session unused this long ends; the wizard can then be claimed again.
    pub idle: Duration,
}

impl Default for GateLimits {
    fn default() -> Self {
        GateLimits {
            per_client: 5,
            global: 20,
            window: Duration::from_secs(60),
            idle: Duration::from_secs(15 * 60),
        }
    }
}

/// 32 random bytes as 64 hex digits (session ids, CSRF tokens).
pub fn random_token() -> Result<String, getrandom::Error> {
    let mut b = [0u8; 32];
    getrandom::getrandom(&mut b)?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Compares two tokens in time independent of where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The one session of the claimed wizard.
#[derive(Debug, Clone)]
pub struct Session {
    /// The cookie value.
    pub id: String,
    /// The form token of this session.
    pub csrf: String,
    /// Last request.
    pub last_seen: Instant,
    /// The code that claimed the wizard, canonical (passwords must differ
    /// from it); never shown or logged.
    pub code: appliance_wizard::Secret,
}

/// Why a claim attempt is refused before the code is looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Another browser holds the session.
    Claimed,
    /// This client used up its attempts; retry after this long.
    ClientLimit(Duration),
    /// All clients together used up the attempts; retry after this long.
    GlobalLimit(Duration),
}

impl Refusal {
    /// The message shown on the claim page.
    pub fn message(&self) -> String {
        match self {
            Refusal::Claimed => {
                "Set-up is already in progress in another browser. Continue there; \
if that browser is lost, restart the web service on the appliance's console \
(systemctl restart appliance-web) to end its session, then enter the setup code again."
                    .to_string()
            }
            Refusal::ClientLimit(d) => format!(
                "Too many setup code attempts from your address: try again in {} seconds.",
                d.as_secs().max(1)
            ),
            Refusal::GlobalLimit(d) => format!(
                "Too many setup code attempts on this appliance: try again in {} seconds.",
                d.as_secs().max(1)
            ),
        }
    }
}

/// The claim state: the session, if any, the attempts of the window, and
/// the wrong codes since the code last changed.
#[derive(Debug, Default)]
pub struct Gate {
    limits: GateLimits,
    session: Option<Session>,
    attempts: Attempts,
    wrong_codes: usize,
    rotated: Option<Instant>,
}

/// Wrong setup codes (from all clients together) after which the code is
/// changed.
pub const ROTATE_AFTER: usize = 5;
/// How long the claim page says that the code has changed.
pub const ROTATED_NOTICE: Duration = Duration::from_secs(10 * 60);

/// Attempts of a password-like check (the claim, the confirmation of an
/// address change, the administrator's login) per client and in all,
/// over a sliding window.
#[derive(Debug, Default)]
pub struct Attempts {
    limits: GateLimits,
    per_client: HashMap<IpAddr, VecDeque<Instant>>,
    all: VecDeque<Instant>,
}

impl Attempts {
    /// No attempts yet; `limits`' `per_client`, `global` and `window` apply.
    pub fn new(limits: GateLimits) -> Attempts {
        Attempts {
            limits,
            ..Attempts::default()
        }
    }

    /// Counts one attempt of `client`, or refuses it when a limit is
    /// reached (nothing is counted then).
    pub fn attempt(&mut self, client: IpAddr, now: Instant) -> Result<(), Refusal> {
        let window = self.limits.window;
        let q = self.per_client.entry(client_key(client)).or_default();
        prune(q, now, window);
        if q.len() >= self.limits.per_client {
            let wait = window.saturating_sub(now.duration_since(q[0]));
            return Err(Refusal::ClientLimit(wait));
        }
        prune(&mut self.all, now, window);
        if self.all.len() >= self.limits.global {
            let wait = window.saturating_sub(now.duration_since(self.all[0]));
            return Err(Refusal::GlobalLimit(wait));
        }
        q.push_back(now);
        self.all.push_back(now);
        // Clients with no attempt left in the window are forgotten.
        self.per_client.retain(|_, q| {
            prune(q, now, window);
            !q.is_empty()
        });
        Ok(())
    }
}

/// The key a client's attempts count under: an IPv4 address, or an IPv6 /64.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

fn prune(q: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while q.front().is_some_and(|t| now.duration_since(*t) >= window) {
        q.pop_front();
    }
}

impl Gate {
    /// An unclaimed gate.
    pub fn new(limits: GateLimits) -> Gate {
        Gate {
            attempts: Attempts::new(limits.clone()),
            limits,
            ..Gate::default()
        }
    }

    /// The live session, dropping it when it has been idle too long.
    fn live(&mut self, now: Instant) -> Option<&mut Session> {
        let idle = self.limits.idle;
        if self
            .session
            .as_ref()
            .is_some_and(|s| now.duration_since(s.last_seen) >= idle)
        {
            self.session = None;
        }
        self.session.as_mut()
    }

    /// Whether someone holds the wizard now.
    pub fn claimed(&mut self, now: Instant) -> bool {
        self.live(now).is_some()
    }

    /// Counts one attempt of `client`, or refuses it (claimed, or a limit
    /// reached: nothing is counted then).
    pub fn attempt(&mut self, client: IpAddr, now: Instant) -> Result<(), Refusal> {
        if self.claimed(now) {
            return Err(Refusal::Claimed);
        }
        self.attempts.attempt(client, now)
    }

    /// Counts a wrong setup code; `true` when it is the
    /// [`ROTATE_AFTER`]th since the last change: the caller asks for a new
    /// code, and the count starts again.
    pub fn wrong_code(&mut self, now: Instant) -> bool {
        self.wrong_codes += 1;
        if self.wrong_codes < ROTATE_AFTER {
            return false;
        }
        self.wrong_codes = 0;
        self.rotated = Some(now);
        true
    }

    /// Whether the code was changed within [`ROTATED_NOTICE`].
    pub fn recently_rotated(&self, now: Instant) -> bool {
        self.rotated
            .is_some_and(|t| now.duration_since(t) < ROTATED_NOTICE)
    }

    /// Opens the one session (the code was right). `None` when a session
    /// exists already (a concurrent claim won).
    pub fn open(
        &mut self,
        now: Instant,
        code: appliance_wizard::Secret,
    ) -> Result<Option<Session>, getrandom::Error> {
        if self.claimed(now) {
            return Ok(None);
        }
        let s = Session {
            id: random_token()?,
            csrf: random_token()?,
            last_seen: now,
            code,
        };
        self.session = Some(s.clone());
        Ok(Some(s))
    }

    /// The session whose id the request's cookie carries, touched.
    pub fn session(&mut self, headers: &HeaderMap, now: Instant) -> Option<Session> {
        let id = cookie(headers, SESSION_COOKIE)?;
        let s = self.live(now)?;
        if !same_token(&s.id, &id) {
            return None;
        }
        s.last_seen = now;
        Some(s.clone())
    }

    /// Ends the session (activation, or a test).
    pub fn close(&mut self) {
        self.session = None;
    }
}

/// The value of cookie `name` in the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A `Set-Cookie` value for `name`: `Secure; HttpOnly; SameSite=Strict;
/// Path=/` (the `__Host-` prefix requires `Path=/` and no `Domain`), with
/// `Max-Age` when given (0 deletes it).
pub fn set_cookie(name: &str, value: &str, max_age: Option<Duration>) -> String {
    let mut c = format!("{name}={value}; Secure; HttpOnly; SameSite=Strict; Path=/");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={}", age.as_secs()));
    }
    c
}

/// Why a POST is refused as cross-site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrossSite(pub String);

/// The same-origin rule of every POST: `Origin` must be `https://<Host>`;
/// without `Origin` or with `Origin: null`, `Sec-Fetch-Site` must be
/// `same-origin`. Anything else (no header at all included) is refused.
pub fn same_origin(headers: &HeaderMap) -> Result<(), CrossSite> {
    let get = |h: &header::HeaderName| headers.get(h).and_then(|v| v.to_str().ok());
    let Some(host) = get(&header::HOST) else {
        return Err(CrossSite(
            "the request has no Host header: open the set-up page at https://<appliance address>:8443/setup".into(),
        ));
    };
    match get(&header::ORIGIN) {
        Some(origin) if origin == format!("https://{host}") => Ok(()),
        // Browsers send `Origin: null` for a form under `Referrer-Policy:
        // no-referrer`; then the browser's own Sec-Fetch-Site decides.
        Some(origin) if origin != "null" => Err(CrossSite(format!(
            "the form was sent from another site ({origin}, not https://{host}): open https://{host}/setup and send it from there"
        ))),
        _ => match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
            Some("same-origin") => Ok(()),
            _ => Err(CrossSite(
                "the browser did not say where the form came from (no Origin or Sec-Fetch-Site header): use a current browser".into(),
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse()
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
    }

    #[test]
    fn five_attempts_a_minute_per_client_then_a_wait() {
        let mut g = Gate::new(GateLimits::default());
        let t0 = Instant::now();
        for i in 0..5 {
            assert_eq!(
                g.attempt(ip("192.0.2.1"), t0 + Duration::from_secs(i)),
                Ok(())
            );
        }
        let r = g.attempt(ip("192.0.2.1"), t0 + Duration::from_secs(10));
        assert_eq!(r, Err(Refusal::ClientLimit(Duration::from_secs(50))));
        assert!(r.unwrap_err().message().contains("try again in 50 seconds"));
        // Another client is not affected; the first may try again after the window.
        assert_eq!(
            g.attempt(ip("192.0.2.2"), t0 + Duration::from_secs(10)),
            Ok(())
        );
        assert_eq!(
            g.attempt(ip("192.0.2.1"), t0 + Duration::from_secs(60)),
            Ok(())
        );
    }

    #[test]
    fn an_ipv6_64_is_one_client_and_the_global_limit_holds() {
        let mut g = Gate::new(GateLimits::default());
        let t0 = Instant::now();
        for i in 0..5 {
            assert_eq!(g.attempt(ip(&format!("2001:db8::{i}")), t0), Ok(()));
        }
        assert!(matches!(
            g.attempt(ip("2001:db8::99"), t0),
            Err(Refusal::ClientLimit(_))
        ));
        for i in 0..15 {
            assert_eq!(g.attempt(ip(&format!("192.0.2.{i}")), t0), Ok(()));
        }
        let r = g.attempt(ip("198.51.100.1"), t0 + Duration::from_secs(1));
        assert_eq!(r, Err(Refusal::GlobalLimit(Duration::from_secs(59))));
    }

    #[test]
    fn one_session_and_idle_expiry() {
        let mut g = Gate::new(GateLimits::default());
        let t0 = Instant::now();
        let s = g.open(t0, Default::default()).unwrap().unwrap();
        assert_eq!(s.id.len(), 64);
        assert_ne!(s.id, s.csrf);
        assert!(g.open(t0, Default::default()).unwrap().is_none());
        assert_eq!(g.attempt(ip("192.0.2.1"), t0), Err(Refusal::Claimed));
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("a=b; {SESSION_COOKIE}={}", s.id)).unwrap(),
        );
        assert!(g.session(&h, t0 + Duration::from_secs(14 * 60)).is_some());
        // Touched at 14 min: alive until 29 min.
        assert!(g.session(&h, t0 + Duration::from_secs(28 * 60)).is_some());
        assert!(g.session(&h, t0 + Duration::from_secs(44 * 60)).is_none());
        assert!(!g.claimed(t0 + Duration::from_secs(44 * 60)));
    }

    #[test]
    fn origin_rules() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("192.0.2.10:8443"));
        assert!(same_origin(&h).is_err());
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert_eq!(same_origin(&h), Ok(()));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        let e = same_origin(&h).unwrap_err();
        assert!(e.0.contains("https://evil.example"), "{e:?}");
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://192.0.2.10:8443"),
        );
        assert_eq!(same_origin(&h), Ok(()));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://192.0.2.10:8443"),
        );
        assert!(same_origin(&h).is_err());
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("abc", "ab"));
        assert_eq!(
            set_cookie("n", "v", None),
            "n=v; Secure; HttpOnly; SameSite=Strict; Path=/"
        );
    }
}
