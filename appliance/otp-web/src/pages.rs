//! The management pages under `/manage/` (server-rendered with maud,
//! which escapes every value; no script; the style sheet is embedded in
//! the program): login, User View sorted by realm, Token View with its
//! actions, enrolment with the `otpauth://` QR code, Policies; and the
//! self-service resync page under `/selfservice`.

use std::sync::Arc;

use appliance_otp::store::TokenStore;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use serde::Deserialize;

use crate::api::{self, ApiError, LoginForm, ResyncForm, TokenAction, TokenForm};
use crate::enrol::{qr_svg, InitForm};
use crate::session::{self, AdminSession};
use crate::App;

const CSS: &str = include_str!("../assets/otp.css");

fn layout(title: &str, session: Option<&AdminSession>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — OTP management" }
                link rel="stylesheet" href="/manage/static/otp.css";
            }
            body {
                header {
                    strong { "OTP management" }
                    @if let Some(s) = session {
                        nav aria-label="Main" {
                            a href="/manage/users" { "Users" }
                            a href="/manage/tokens" { "Tokens" }
                            a href="/manage/enrol" { "Enrol" }
                            a href="/manage/policies" { "Policies" }
                        }
                        form method="post" action="/manage/logout" class="inline" {
                            input type="hidden" name="csrf" value=(s.csrf);
                            span { (s.admin) " " }
                            button type="submit" { "Log out" }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

fn message(text: Option<&str>, error: bool) -> Markup {
    html! {
        @if let Some(text) = text {
            p class=(if error { "error" } else { "done" }) role=(if error { "alert" } else { "status" }) { (text) }
        }
    }
}

fn html_response(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}

fn login_page(error: Option<&str>, status: StatusCode) -> Response {
    html_response(
        status,
        layout(
            "Log in",
            None,
            html! {
                (message(error, true))
                form method="post" action="/manage/login" {
                    label for="login" { "Administrator" }
                    input id="login" name="login" autocomplete="username" required;
                    label for="password" { "Password" }
                    input id="password" name="password" type="password" autocomplete="current-password" required;
                    button type="submit" { "Log in" }
                }
            },
        ),
    )
}

/// The page's session, or the login page.
fn page_session<S>(app: &App<S>, headers: &HeaderMap) -> Result<AdminSession, Box<Response>> {
    app.sessions
        .lookup(headers)
        .ok_or_else(|| Box::new(Redirect::to("/manage/login").into_response()))
}

/// The session of a form POST, with its CSRF field checked.
fn post_session<S>(
    app: &App<S>,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<AdminSession, Box<Response>> {
    let session = page_session(app, headers)?;
    if session::cross_site(headers) || !session.csrf_ok(csrf) {
        return Err(Box::new(html_response(
            StatusCode::FORBIDDEN,
            layout(
                "Request refused",
                Some(&session),
                html! { p class="error" { "The form was not sent from this page (its CSRF token is missing or old). Go back, reload the page and send it again." } },
            ),
        )));
    }
    Ok(session)
}

#[derive(Deserialize)]
struct WithCsrf<T> {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    inner: T,
}

fn form_or_400<T>(form: Result<Form<T>, FormRejection>) -> Result<T, Box<Response>> {
    form.map(|f| f.0).map_err(|e| {
        Box::new(html_response(
            StatusCode::BAD_REQUEST,
            layout(
                "Bad request",
                None,
                html! { p class="error" { (e.body_text()) } },
            ),
        ))
    })
}

async fn css() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], CSS).into_response()
}

async fn login_get() -> Response {
    login_page(None, StatusCode::OK)
}

async fn login_post<S: TokenStore + 'static>(
    State(app): State<App<S>>,
    body: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let form = match form_or_400(body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    match api::log_in(&app, form).await {
        Ok(session) => (
            [(header::SET_COOKIE, session::set_cookie(&session))],
            Redirect::to("/manage/tokens"),
        )
            .into_response(),
        Err(e) => login_page(Some(&e.message), e.status),
    }
}

async fn logout<S: TokenStore + 'static>(
    State(app): State<App<S>>,
    headers: HeaderMap,
    body: Result<Form<WithCsrf<()>>, FormRejection>,
) -> Response {
    let body = match form_or_400(body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    match post_session(&app, &headers, &body.csrf) {
        Ok(s) => {
            app.sessions.remove(&s.id);
            (
                [(header::SET_COOKIE, session::clear_cookie())],
                Redirect::to("/manage/login"),
            )
                .into_response()
        }
        Err(r) => *r,
    }
}

fn api_error_page(session: &AdminSession, title: &str, e: &ApiError) -> Response {
    html_response(
        e.status,
        layout(title, Some(session), message(Some(&e.message), true)),
    )
}

async fn users<S: TokenStore + 'static>(State(app): State<App<S>>, headers: HeaderMap) -> Response {
    let s = match page_session(&app, &headers) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let users = match app.service.admin_users(&s.admin).await {
        Ok(u) => u,
        Err(e) => return api_error_page(&s, "User View", &e.into()),
    };
    html_response(
        StatusCode::OK,
        layout(
            "User View",
            Some(&s),
            html! {
                table id="users" {
                    thead { tr { th scope="col" { "Realm" } th scope="col" { "Login" } th scope="col" { "UID" } th scope="col" { "Name" } } }
                    tbody {
                        @for (realm, user) in &users {
                            tr { td { (realm) } td { (user.login) } td { (user.uid) } td { (user.display_name) } }
                        }
                    }
                }
                @if users.is_empty() { p { "No users: the realms' resolvers are empty." } }
            },
        ),
    )
}

async fn tokens_page<S: TokenStore + 'static>(
    app: &App<S>,
    s: &AdminSession,
    note: Option<(&str, bool)>,
    status: StatusCode,
) -> Response {
    let tokens = match app.service.admin_tokens(&s.admin).await {
        Ok(t) => t,
        Err(e) => return api_error_page(s, "Token View", &e.into()),
    };
    let action_button = |serial: &str, action: &str, label: &str| {
        html! {
            form method="post" action={ "/manage/token/" (action) } class="inline" {
                input type="hidden" name="csrf" value=(s.csrf);
                input type="hidden" name="serial" value=(serial);
                button type="submit" aria-label={ (label) " " (serial) } { (label) }
            }
        }
    };
    html_response(
        status,
        layout(
            "Token View",
            Some(s),
            html! {
                (message(note.map(|n| n.0), note.is_some_and(|n| n.1)))
                table id="tokens" {
                    thead { tr {
                        th scope="col" { "Serial" } th scope="col" { "Type" } th scope="col" { "User" }
                        th scope="col" { "Counter" } th scope="col" { "Fail count" } th scope="col" { "Active" }
                        th scope="col" { "Actions" }
                    } }
                    tbody {
                        @for t in &tokens {
                            tr data-serial=(t.serial) {
                                td { (t.serial) }
                                td { (t.kind) }
                                td { @if let Some(u) = &t.user { (u.login) "@" (u.realm) } @else { "—" } }
                                td { (t.counter) }
                                td { (t.fail_count) }
                                td { @if t.active { "yes" } @else { "no" } }
                                td {
                                    @if t.active { (action_button(t.serial.as_str(), "disable", "Disable")) }
                                    @else { (action_button(t.serial.as_str(), "enable", "Enable")) }
                                    (action_button(t.serial.as_str(), "reset", "Reset fail counter"))
                                    (action_button(t.serial.as_str(), "remove", "Delete"))
                                }
                            }
                        }
                    }
                }
                @if tokens.is_empty() { p { "No tokens yet: " a href="/manage/enrol" { "enrol one" } "." } }
                h2 { "Assign, set PIN, resynchronise" }
                form method="post" action="/manage/token/assign" {
                    input type="hidden" name="csrf" value=(s.csrf);
                    label for="as-serial" { "Serial" } input id="as-serial" name="serial" required;
                    label for="as-user" { "User" } input id="as-user" name="user" required;
                    label for="as-realm" { "Realm (empty: default)" } input id="as-realm" name="realm";
                    button type="submit" { "Assign" }
                }
                form method="post" action="/manage/token/setPin" {
                    input type="hidden" name="csrf" value=(s.csrf);
                    label for="pin-serial" { "Serial" } input id="pin-serial" name="serial" required;
                    label for="pin-pin" { "New PIN" } input id="pin-pin" name="pin" type="password" autocomplete="off";
                    button type="submit" { "Set PIN" }
                }
                form method="post" action="/manage/token/resync" {
                    input type="hidden" name="csrf" value=(s.csrf);
                    label for="rs-serial" { "Serial" } input id="rs-serial" name="serial" required;
                    label for="rs-otp1" { "First OTP" } input id="rs-otp1" name="otp1" inputmode="numeric" autocomplete="off" required;
                    label for="rs-otp2" { "Next OTP" } input id="rs-otp2" name="otp2" inputmode="numeric" autocomplete="off" required;
                    button type="submit" { "Resynchronise" }
                }
            },
        ),
    )
}

async fn tokens<S: TokenStore + 'static>(
    State(app): State<App<S>>,
    headers: HeaderMap,
) -> Response {
    match page_session(&app, &headers) {
        Ok(s) => tokens_page(&app, &s, None, StatusCode::OK).await,
        Err(r) => *r,
    }
}

async fn token_action<S: TokenStore + 'static>(
    State(app): State<App<S>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Form<WithCsrf<TokenForm>>, FormRejection>,
) -> Response {
    let body = match form_or_400(body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let s = match post_session(&app, &headers, &body.csrf) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let Some(action) = TokenAction::parse(&name) else {
        return tokens_page(
            &app,
            &s,
            Some(("No such action.", true)),
            StatusCode::NOT_FOUND,
        )
        .await;
    };
    let serial = body.inner.serial.clone();
    match api::token_action(&app, &s.admin, action, &body.inner).await {
        Ok(serde_json::Value::Bool(false)) => {
            let text = format!("{serial}: not resynchronised: the two values are not consecutive OTPs within the sync window.");
            tokens_page(&app, &s, Some((&text, true)), StatusCode::OK).await
        }
        Ok(_) => {
            let text = format!("{serial}: {name} done.");
            tokens_page(&app, &s, Some((&text, false)), StatusCode::OK).await
        }
        Err(e) => tokens_page(&app, &s, Some((&e.message, true)), e.status).await,
    }
}

fn enrol_form(s: &AdminSession, error: Option<&str>, status: StatusCode) -> Response {
    html_response(
        status,
        layout(
            "Enrol a token",
            Some(s),
            html! {
                (message(error, true))
                form method="post" action="/manage/enrol" {
                    input type="hidden" name="csrf" value=(s.csrf);
                    label for="type" { "Type" }
                    select id="type" name="type" { option value="hotp" { "HOTP (counter)" } option value="totp" { "TOTP (time, 30 s)" } }
                    label for="hashlib" { "Algorithm" }
                    select id="hashlib" name="hashlib" { option value="sha1" { "SHA-1" } option value="sha256" { "SHA-256" } option value="sha512" { "SHA-512" } }
                    label for="otplen" { "Digits" }
                    select id="otplen" name="otplen" { option { "6" } option { "7" } option { "8" } }
                    label for="serial" { "Serial (empty: generated)" } input id="serial" name="serial";
                    label for="user" { "User (optional)" } input id="user" name="user";
                    label for="realm" { "Realm (empty: default)" } input id="realm" name="realm";
                    label for="pin" { "PIN (optional)" } input id="pin" name="pin" type="password" autocomplete="off";
                    button type="submit" { "Enrol" }
                }
            },
        ),
    )
}

async fn enrol_get<S: TokenStore + 'static>(
    State(app): State<App<S>>,
    headers: HeaderMap,
) -> Response {
    match page_session(&app, &headers) {
        Ok(s) => enrol_form(&s, None, StatusCode::OK),
        Err(r) => *r,
    }
}

async fn enrol_post<S: TokenStore + 'static>(
    State(app): State<App<S>>,
    headers: HeaderMap,
    body: Result<Form<WithCsrf<InitForm>>, FormRejection>,
) -> Response {
    let body = match form_or_400(body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let s = match post_session(&app, &headers, &body.csrf) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let enrolled = match api::enrol(&app, &s.admin, &body.inner).await {
        Ok(e) => e,
        Err(e) => return enrol_form(&s, Some(&e.message), e.status),
    };
    let qr = match qr_svg(&enrolled.otpauth) {
        // The SVG from the qrcode crate starts with an XML declaration,
        // which does not belong inside HTML.
        Ok(svg) => PreEscaped(
            svg.split_once("<svg")
                .map_or(String::new(), |(_, rest)| format!("<svg{rest}")),
        ),
        Err(e) => html! {
            p class="error" { "The QR code could not be drawn (" (e.to_string()) "); use the URI below." }
        },
    };
    html_response(
        StatusCode::OK,
        layout(
            "Token enrolled",
            Some(&s),
            html! {
                p { "Token " strong id="serial" { (enrolled.serial) } " is ready. Scan the code with the authenticator app; it is shown only now." }
                figure id="qr" role="img" aria-label="QR code of the otpauth URI" { (qr) }
                p { label for="otpauth-uri" { "otpauth URI" } }
                textarea id="otpauth-uri" readonly rows="3" cols="80" { (enrolled.otpauth) }
                p { a href="/manage/tokens" { "Back to the Token View" } }
            },
        ),
    )
}

async fn policies_page<S: TokenStore + 'static>(
    app: &App<S>,
    s: &AdminSession,
    note: Option<(&str, bool)>,
    text: Option<&str>,
    status: StatusCode,
) -> Response {
    let policies = match app.service.admin_policies().await {
        Ok(p) => p,
        Err(e) => return api_error_page(s, "Policies", &e.into()),
    };
    let json = serde_json::to_string_pretty(&policies).unwrap_or_default();
    let show = |m: &appliance_otp::policy::Match| match m {
        appliance_otp::policy::Match::Any => "*".to_string(),
        appliance_otp::policy::Match::Names(n) => n.join(", "),
    };
    html_response(
        status,
        layout(
            "Policies",
            Some(s),
            html! {
                (message(note.map(|n| n.0), note.is_some_and(|n| n.1)))
                table id="policies" {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Scope" } th scope="col" { "Actions" } th scope="col" { "Realm" } th scope="col" { "User" } th scope="col" { "Active" } } }
                    tbody {
                        @for p in &policies.0 {
                            tr { td { (p.name) } td { (format!("{:?}", p.scope).to_lowercase()) } td { (p.actions.join(", ")) } td { (show(&p.realm)) } td { (show(&p.user)) } td { @if p.active { "yes" } @else { "no" } } }
                        }
                    }
                }
                @if policies.0.is_empty() { p { "No policies: administrators may do everything, users nothing (no self-service resync)." } }
                form method="post" action="/manage/policies" {
                    input type="hidden" name="csrf" value=(s.csrf);
                    label for="policies-json" { "Policies (JSON)" }
                    textarea id="policies-json" name="policies" rows="12" cols="80" { (text.unwrap_or(&json)) }
                    button type="submit" { "Save policies" }
                }
            },
        ),
    )
}

async fn policies_get<S: TokenStore + 'static>(
    State(app): State<App<S>>,
    headers: HeaderMap,
) -> Response {
    match page_session(&app, &headers) {
        Ok(s) => policies_page(&app, &s, None, None, StatusCode::OK).await,
        Err(r) => *r,
    }
}

async fn policies_post<S: TokenStore + 'static>(
    State(app): State<App<S>>,
    headers: HeaderMap,
    body: Result<Form<WithCsrf<api::PoliciesForm>>, FormRejection>,
) -> Response {
    let body = match form_or_400(body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let s = match post_session(&app, &headers, &body.csrf) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let text = body.inner.policies;
    let result = match api::parse_policies(&text) {
        Ok(p) => app
            .service
            .admin_set_policies(crate::now(), &s.admin, &p)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => {
            policies_page(
                &app,
                &s,
                Some(("Policies saved.", false)),
                None,
                StatusCode::OK,
            )
            .await
        }
        Err(e) => policies_page(&app, &s, Some((&e.message, true)), Some(&text), e.status).await,
    }
}

fn selfservice_page(note: Option<(&str, bool)>, status: StatusCode) -> Response {
    html_response(
        status,
        layout(
            "Resynchronise your token",
            None,
            html! {
                (message(note.map(|n| n.0), note.is_some_and(|n| n.1)))
                p { "If your token's codes are refused, enter two codes that follow each other." }
                form method="post" action="/selfservice/resync" {
                    label for="user" { "User name" } input id="user" name="user" autocomplete="username" required;
                    label for="realm" { "Realm (empty: default)" } input id="realm" name="realm";
                    label for="password" { "Password" } input id="password" name="password" type="password" autocomplete="current-password" required;
                    label for="serial" { "Token serial" } input id="serial" name="serial" required;
                    label for="otp1" { "First code" } input id="otp1" name="otp1" inputmode="numeric" autocomplete="off" required;
                    label for="otp2" { "Next code" } input id="otp2" name="otp2" inputmode="numeric" autocomplete="off" required;
                    button type="submit" { "Resynchronise" }
                }
            },
        ),
    )
}

async fn selfservice_get() -> Response {
    selfservice_page(None, StatusCode::OK)
}

async fn selfservice_post<S: TokenStore + 'static>(
    State(app): State<App<S>>,
    headers: HeaderMap,
    body: Result<Form<ResyncForm>, FormRejection>,
) -> Response {
    if session::cross_site(&headers) {
        return selfservice_page(
            Some(("Cross-site request refused.", true)),
            StatusCode::FORBIDDEN,
        );
    }
    let form = match form_or_400(body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let service = Arc::clone(&app.service);
    let reply = service
        .selfservice_resync(&form.request(), crate::now())
        .await;
    use appliance_otp::service::ResyncReply as R;
    let (text, error, status) = match reply {
        R::Synced => ("Your token is synchronised again.", false, StatusCode::OK),
        R::NotSynced => (
            "Not synchronised: the two codes are not consecutive codes of this token.",
            true,
            StatusCode::OK,
        ),
        R::LoginFailed => (
            "User name or password wrong.",
            true,
            StatusCode::UNAUTHORIZED,
        ),
        R::PolicyDenied => (
            "Self-service resynchronisation is not allowed for you; ask your administrator.",
            true,
            StatusCode::FORBIDDEN,
        ),
        R::NotYourToken => (
            "This token is not assigned to you.",
            true,
            StatusCode::FORBIDDEN,
        ),
        R::Failed => (
            "The token could not be synchronised (internal error); ask your administrator.",
            true,
            StatusCode::INTERNAL_SERVER_ERROR,
        ),
    };
    selfservice_page(Some((text, error)), status)
}

pub fn routes<S: TokenStore + 'static>(app: App<S>) -> Router {
    Router::new()
        .route("/manage", get(|| async { Redirect::to("/manage/tokens") }))
        .route("/manage/", get(|| async { Redirect::to("/manage/tokens") }))
        .route("/manage/static/otp.css", get(css))
        .route("/manage/login", get(login_get).post(login_post::<S>))
        .route("/manage/logout", post(logout::<S>))
        .route("/manage/users", get(users::<S>))
        .route("/manage/tokens", get(tokens::<S>))
        .route("/manage/token/{action}", post(token_action::<S>))
        .route("/manage/enrol", get(enrol_get::<S>).post(enrol_post::<S>))
        .route(
            "/manage/policies",
            get(policies_get::<S>).post(policies_post::<S>),
        )
        .route("/selfservice", get(selfservice_get))
        .route("/selfservice/resync", post(selfservice_post::<S>))
        .with_state(app)
}
