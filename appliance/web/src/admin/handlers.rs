//! The dashboard's routes. Every POST passes the same-origin rule and a
//! form token (the sign-in's a double-submit cookie, the others the
//! session's); every page needs the session cookie.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::sessions::{AdminSession, ADMIN_COOKIE, LOGIN_COOKIE};
use super::{facts, pages, ssh, Site};
use crate::credentials::Credentials;
use crate::setup::forms::Fields;
use crate::setup::gate::{self, Refusal};
use crate::site::{self, message, page};

fn with_cookie(mut r: Response, cookie: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

pub(super) fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}

pub(super) fn internal(what: &str, e: impl std::fmt::Display) -> Response {
    eprintln!("appliance-web: dashboard: {what}: {e}");
    message(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Error",
        &format!("{what}: {e}. The appliance's log has the details."),
        Some(("/", "Back to the start page")),
    )
}

/// The dashboard's routes answer 404 until the appliance is set up.
pub async fn guard(State(site): State<Arc<Site>>, request: Request, next: Next) -> Response {
    if !site.set_up() {
        return site::not_found();
    }
    next.run(request).await
}

/// The sign-in page with a fresh double-submit token.
fn login_page(status: StatusCode, notice: Option<&str>, error: Option<&str>) -> Response {
    let token = match gate::random_token() {
        Ok(t) => t,
        Err(e) => return internal("cannot read random bytes", e),
    };
    with_cookie(
        page(status, pages::login(&token, notice, error)),
        &gate::set_cookie(LOGIN_COOKIE, &token, None),
    )
}

pub(super) async fn session_of(site: &Site, headers: &HeaderMap) -> Option<AdminSession> {
    site.sessions.lock().await.lookup(headers, Instant::now())
}

/// `GET /` once set up: the dashboard when signed in, else the sign-in.
pub async fn home(site: &Site, headers: &HeaderMap) -> Response {
    if session_of(site, headers).await.is_some() {
        return see_other("/system/status");
    }
    login_page(StatusCode::OK, None, None)
}

/// `POST /login`: the Appliance Administrator's login and password.
pub async fn login(
    State(site): State<Arc<Site>>,
    crate::setup::ClientIp(ip): crate::setup::ClientIp,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(e) = gate::same_origin(&headers) {
        return message(
            StatusCode::FORBIDDEN,
            "Form refused",
            &e.0,
            Some(("/", "Sign in")),
        );
    }
    let fields = Fields::from_urlencoded(&body);
    let token_ok = gate::cookie(&headers, LOGIN_COOKIE)
        .is_some_and(|c| !c.is_empty() && gate::same_token(&c, &fields.get(gate::CSRF_FIELD)));
    if !token_ok {
        return login_page(
            StatusCode::FORBIDDEN,
            Some("The form has expired or the browser did not send its cookie: sign in again (cookies must be allowed for this address)."),
            None,
        );
    }
    if let Err(r) = site.logins.lock().await.attempt(ip, Instant::now()) {
        let wait = match r {
            Refusal::ClientLimit(w) | Refusal::GlobalLimit(w) => w,
            Refusal::Claimed => Duration::from_secs(60),
        };
        let secs = wait.as_secs().max(1);
        let mut resp = login_page(
            StatusCode::TOO_MANY_REQUESTS,
            Some(&format!(
                "Too many sign-in attempts: try again in {secs} seconds."
            )),
            None,
        );
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return resp;
    }
    let creds = match Credentials::read(&site.cfg.credentials) {
        Ok(c) => c,
        Err(e) => return internal("cannot read the Appliance Administrator's credentials", e),
    };
    let (login, password) = (fields.get("login"), fields.get("password"));
    let who = login.clone();
    match tokio::task::spawn_blocking(move || creds.verify(&login, &password)).await {
        Ok(true) => {}
        Ok(false) => {
            eprintln!("appliance-web: wrong Appliance Administrator sign-in from {ip}");
            return login_page(
                StatusCode::FORBIDDEN,
                None,
                Some("Login or password is not the Appliance Administrator's: type both again"),
            );
        }
        Err(e) => return internal("the password check stopped", e),
    }
    let session = match site.sessions.lock().await.create(&who, Instant::now()) {
        Ok(s) => s,
        Err(e) => return internal("cannot read random bytes", e),
    };
    eprintln!("appliance-web: Appliance Administrator signed in from {ip}");
    let r = with_cookie(
        see_other("/system/status"),
        &gate::set_cookie(ADMIN_COOKIE, &session.id, None),
    );
    with_cookie(r, &gate::set_cookie(LOGIN_COOKIE, "", Some(Duration::ZERO)))
}

/// `POST /logout`: ends the session.
pub async fn logout(
    State(site): State<Arc<Site>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(e) = gate::same_origin(&headers) {
        return message(
            StatusCode::FORBIDDEN,
            "Form refused",
            &e.0,
            Some(("/", "Back")),
        );
    }
    let Some(s) = session_of(&site, &headers).await else {
        return see_other("/");
    };
    if !s.csrf_ok(&Fields::from_urlencoded(&body).get(gate::CSRF_FIELD)) {
        return message(
            StatusCode::FORBIDDEN,
            "Form expired",
            "The form's token does not belong to this session: open the page again and sign out from there.",
            Some(("/system/status", "Back to the dashboard")),
        );
    }
    site.sessions.lock().await.remove(&s.id);
    with_cookie(
        see_other("/"),
        &gate::set_cookie(ADMIN_COOKIE, "", Some(Duration::ZERO)),
    )
}

/// `GET /system/status`.
pub async fn status(State(site): State<Arc<Site>>, headers: HeaderMap) -> Response {
    let Some(s) = session_of(&site, &headers).await else {
        return see_other("/");
    };
    let (root, certs) = (site.cfg.root.clone(), site.certs.clone());
    match tokio::task::spawn_blocking(move || facts::gather(&root, &certs)).await {
        Ok(f) => page(StatusCode::OK, pages::status(&f, &s.login, &s.csrf)),
        Err(e) => internal("reading the status stopped", e),
    }
}

/// `GET /system/advanced/ssh`.
pub async fn ssh(State(site): State<Arc<Site>>, headers: HeaderMap) -> Response {
    let Some(s) = session_of(&site, &headers).await else {
        return see_other("/");
    };
    let dir = appliance_config::fsutil::under(&site.cfg.root, "/etc/ssh");
    let keys = ssh::host_keys(&dir);
    page(StatusCode::OK, pages::ssh(&keys, &s.login, &s.csrf))
}
