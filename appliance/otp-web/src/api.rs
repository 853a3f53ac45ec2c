//! The JSON API: the administrator's (`/admin/…`, LinOTP's names, form
//! parameters, session cookie and `X-CSRF-Token`) and the self-service
//! resync (`/userservice/resync`).
//!
//! Answers use LinOTP's envelope: `result.status` true with the data in
//! `result.value`, or `result.status` false with `result.error.message`
//! naming what was wrong (and an HTTP status that says the same).

use std::sync::Arc;

use appliance_otp::admin::{AdminError, NewToken};
use appliance_otp::api::{CheckRequest, JSONRPC, VERSION};
use appliance_otp::names::{Login, Serial};
use appliance_otp::policy::Policies;
use appliance_otp::service::{ResyncReply, ResyncRequest};
use appliance_otp::store::{StoreError, TokenStore};
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::enrol::{otpauth_uri, InitForm};
use crate::session::{self, AdminSession};
use crate::{now, App};

/// A refused or failed admin request.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> ApiError {
        let status = match &e {
            AdminError::Denied { .. } => StatusCode::FORBIDDEN,
            AdminError::NoToken(_) | AdminError::NoUser(..) => StatusCode::NOT_FOUND,
            AdminError::Token(_) => StatusCode::BAD_REQUEST,
            AdminError::Store(StoreError::DuplicateSerial(_)) => StatusCode::CONFLICT,
            AdminError::Store(_) | AdminError::Directory(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<crate::enrol::FieldError> for ApiError {
    fn from(e: crate::enrol::FieldError) -> ApiError {
        ApiError::bad(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "jsonrpc": JSONRPC,
            "result": {"status": false, "error": {"code": self.status.as_u16(), "message": self.message}},
            "version": VERSION,
            "id": 0,
        });
        (self.status, Json(body)).into_response()
    }
}

fn ok(value: impl Serialize) -> Response {
    Json(json!({
        "jsonrpc": JSONRPC,
        "result": {"status": true, "value": value},
        "version": VERSION,
        "id": 0,
    }))
    .into_response()
}

type ApiResult = Result<Response, ApiError>;

/// The session of an API request; POSTs must also carry its CSRF token in
/// `X-CSRF-Token` and must not come from another site.
fn api_session<S>(app: &App<S>, headers: &HeaderMap, post: bool) -> Result<AdminSession, ApiError> {
    let session = app.sessions.lookup(headers).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "not logged in: POST login and password to /admin/login first",
        )
    })?;
    if post {
        let token = headers
            .get(session::CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if session::cross_site(headers) || !session.csrf_ok(token) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "X-CSRF-Token: missing or not this session's token (it is in /admin/login's answer)",
            ));
        }
    }
    Ok(session)
}

fn form<T>(form: Result<Form<T>, FormRejection>) -> Result<T, ApiError> {
    form.map(|f| f.0)
        .map_err(|e| ApiError::bad(format!("form: {}", e.body_text())))
}

fn serial(text: &str) -> Result<Serial, ApiError> {
    Serial::new(text).map_err(|e| ApiError::bad(e.to_string()))
}

fn optional(text: &str) -> Option<&str> {
    Some(text.trim()).filter(|t| !t.is_empty())
}

#[derive(Deserialize)]
pub struct LoginForm {
    pub login: String,
    pub password: String,
}

impl std::fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginForm")
            .field("login", &self.login)
            .finish_non_exhaustive()
    }
}

/// Checks the administrator's password (rate-limited, off the async
/// threads) and opens a session.
pub(crate) async fn log_in<S: TokenStore + 'static>(
    app: &App<S>,
    login: LoginForm,
) -> Result<AdminSession, ApiError> {
    if let Err(wait) = app.sessions.login_allowed() {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many failed logins: try again in {wait} s"),
        ));
    }
    let checker = Arc::clone(app);
    let name = login.login.clone();
    let verified =
        tokio::task::spawn_blocking(move || checker.admin.verify(&login.login, &login.password))
            .await
            .unwrap_or(false);
    if name == app.admin.login.as_str() {
        app.service
            .audit_admin_login(now(), &app.admin.login, verified);
    }
    if !verified {
        app.sessions.login_failed();
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "login or password wrong",
        ));
    }
    Ok(app.sessions.create(app.admin.login.clone()))
}

async fn login<S: TokenStore + 'static>(
    State(app): State<App<S>>,
    body: Result<Form<LoginForm>, FormRejection>,
) -> ApiResult {
    let session = log_in(&app, form(body)?).await?;
    let mut response = ok(json!({"csrf": session.csrf}));
    let cookie = session::set_cookie(&session)
        .parse()
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "cookie"))?;
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

async fn logout<S: TokenStore + 'static>(
    State(app): State<App<S>>,
    headers: HeaderMap,
) -> ApiResult {
    let session = api_session(&app, &headers, true)?;
    app.sessions.remove(&session.id);
    Ok(ok(true))
}

/// A token made by `admin/init` (and the management pages).
#[derive(Serialize)]
pub struct Enrolled {
    pub serial: Serial,
    /// The Key URI for the authenticator app (it carries the seed).
    pub otpauth: String,
}

/// Creates the token, and assigns it and sets its PIN when asked; if a
/// later step fails, the token is removed again.
pub(crate) async fn enrol<S: TokenStore + 'static>(
    app: &App<S>,
    admin: &Login,
    init: &InitForm,
) -> Result<Enrolled, ApiError> {
    let e = init.parse()?;
    let service = &app.service;
    service
        .admin_init(
            now(),
            admin,
            NewToken {
                serial: e.serial.clone(),
                kind: e.kind,
                algorithm: e.algorithm,
                digits: e.digits,
                seed: &e.seed,
            },
        )
        .await?;
    let mut label = e.serial.to_string();
    let rest: Result<(), AdminError> = async {
        if let Some(user) = optional(&init.user) {
            service
                .admin_assign(now(), admin, &e.serial, user, optional(&init.realm))
                .await?;
            if let Some(token) = service.store().get(&e.serial).await? {
                if let Some(owner) = token.owner {
                    label = format!("{}@{}", owner.login, owner.realm);
                }
            }
        }
        if !init.pin.is_empty() {
            service
                .admin_set_pin(now(), admin, &e.serial, &init.pin)
                .await?;
        }
        Ok(())
    }
    .await;
    if let Err(err) = rest {
        let _ = service.admin_remove(now(), admin, &e.serial).await;
        return Err(err.into());
    }
    Ok(Enrolled {
        otpauth: otpauth_uri(&app.issuer, &label, &e),
        serial: e.serial,
    })
}

async fn init<S: TokenStore + 'static>(
    State(app): State<App<S>>,
    headers: HeaderMap,
    body: Result<Form<InitForm>, FormRejection>,
) -> ApiResult {
    let session = api_session(&app, &headers, true)?;
    Ok(ok(enrol(&app, &session.admin, &form(body)?).await?))
}

/// The fields of the token actions (each uses those it needs).
#[derive(Default, Deserialize)]
#[serde(default)]
pub struct TokenForm {
    pub serial: String,
    pub user: String,
    pub realm: String,
    pub pin: String,
    pub otp1: String,
    pub otp2: String,
}

/// The token actions of the admin API and the Token View.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenAction {
    Assign,
    SetPin,
    Enable,
    Disable,
    Reset,
    Resync,
    Remove,
}

impl TokenAction {
    pub fn parse(name: &str) -> Option<TokenAction> {
        Some(match name {
            "assign" => TokenAction::Assign,
            "setPin" => TokenAction::SetPin,
            "enable" => TokenAction::Enable,
            "disable" => TokenAction::Disable,
            "reset" => TokenAction::Reset,
            "resync" => TokenAction::Resync,
            "remove" => TokenAction::Remove,
            _ => return None,
        })
    }
}

/// Runs one token action; the value is what the API answers.
pub(crate) async fn token_action<S: TokenStore + 'static>(
    app: &App<S>,
    admin: &Login,
    action: TokenAction,
    f: &TokenForm,
) -> Result<Value, ApiError> {
    let serial = serial(&f.serial)?;
    let s = &app.service;
    let t = now();
    match action {
        TokenAction::Assign => {
            let user = optional(&f.user).ok_or_else(|| ApiError::bad("user: missing"))?;
            s.admin_assign(t, admin, &serial, user, optional(&f.realm))
                .await?
        }
        TokenAction::SetPin => s.admin_set_pin(t, admin, &serial, &f.pin).await?,
        TokenAction::Enable => s.admin_set_active(t, admin, &serial, true).await?,
        TokenAction::Disable => s.admin_set_active(t, admin, &serial, false).await?,
        TokenAction::Reset => s.admin_reset_fail_counter(t, admin, &serial).await?,
        TokenAction::Resync => {
            return Ok(json!(
                s.admin_resync(t, admin, &serial, &f.otp1, &f.otp2).await?
            ))
        }
        TokenAction::Remove => s.admin_remove(t, admin, &serial).await?,
    }
    Ok(json!(true))
}

async fn action<S: TokenStore + 'static>(
    State(app): State<App<S>>,
    axum::extract::Path(name): axum::extract::Path<String>,
    headers: HeaderMap,
    body: Result<Form<TokenForm>, FormRejection>,
) -> ApiResult {
    let session = api_session(&app, &headers, true)?;
    let action = TokenAction::parse(&name).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("admin/{name}: no such action (init, assign, setPin, enable, disable, reset, resync, remove, setPolicies)"),
        )
    })?;
    Ok(ok(
        token_action(&app, &session.admin, action, &form(body)?).await?
    ))
}

async fn show<S: TokenStore + 'static>(State(app): State<App<S>>, headers: HeaderMap) -> ApiResult {
    let session = api_session(&app, &headers, false)?;
    Ok(ok(app.service.admin_tokens(&session.admin).await?))
}

async fn userlist<S: TokenStore + 'static>(
    State(app): State<App<S>>,
    headers: HeaderMap,
) -> ApiResult {
    let session = api_session(&app, &headers, false)?;
    let users: Vec<Value> = app
        .service
        .admin_users(&session.admin)
        .await?
        .into_iter()
        .map(|(realm, user)| json!({"realm": realm, "login": user.login, "uid": user.uid, "name": user.display_name}))
        .collect();
    Ok(ok(users))
}

async fn realms<S: TokenStore + 'static>(
    State(app): State<App<S>>,
    headers: HeaderMap,
) -> ApiResult {
    let session = api_session(&app, &headers, false)?;
    Ok(ok(app.service.admin_realms(&session.admin).await?))
}

async fn policies<S: TokenStore + 'static>(
    State(app): State<App<S>>,
    headers: HeaderMap,
) -> ApiResult {
    api_session(&app, &headers, false)?;
    Ok(ok(app.service.admin_policies().await?))
}

#[derive(Deserialize)]
pub struct PoliciesForm {
    /// The policies as JSON (docs/otp.md shows the shape).
    pub policies: String,
}

/// Parses policies from JSON, naming the place of an error.
pub fn parse_policies(text: &str) -> Result<Policies, ApiError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de)
        .map_err(|e| ApiError::bad(format!("policies: at {}: {}", e.path(), e.inner())))
}

async fn set_policies<S: TokenStore + 'static>(
    State(app): State<App<S>>,
    headers: HeaderMap,
    body: Result<Form<PoliciesForm>, FormRejection>,
) -> ApiResult {
    let session = api_session(&app, &headers, true)?;
    let policies = parse_policies(&form(body)?.policies)?;
    app.service
        .admin_set_policies(now(), &session.admin, &policies)
        .await?;
    Ok(ok(true))
}

/// `userservice/resync`'s fields: the user's login and resolver password,
/// the token and two consecutive OTPs.
#[derive(Deserialize)]
pub struct ResyncForm {
    pub user: String,
    #[serde(default)]
    pub realm: String,
    pub password: String,
    pub serial: String,
    pub otp1: String,
    pub otp2: String,
}

impl ResyncForm {
    pub fn request(&self) -> ResyncRequest {
        ResyncRequest {
            user: self.user.clone(),
            realm: optional(&self.realm).map(str::to_string),
            password: self.password.clone(),
            serial: self.serial.clone(),
            otp1: self.otp1.clone(),
            otp2: self.otp2.clone(),
        }
    }
}

pub fn resync_detail(reply: ResyncReply) -> &'static str {
    match reply {
        ResyncReply::Synced => "synced",
        ResyncReply::NotSynced => "not-synced",
        ResyncReply::LoginFailed => "login-failed",
        ResyncReply::PolicyDenied => "policy-denied",
        ResyncReply::NotYourToken => "not-your-token",
        ResyncReply::Failed => "failed",
    }
}

async fn selfservice_resync<S: TokenStore + 'static>(
    State(app): State<App<S>>,
    headers: HeaderMap,
    body: Result<Form<ResyncForm>, FormRejection>,
) -> ApiResult {
    if session::cross_site(&headers) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "cross-site request refused",
        ));
    }
    let request = form(body)?.request();
    let service = Arc::clone(&app.service);
    let reply = service.selfservice_resync(&request, now()).await;
    Ok(Json(json!({
        "jsonrpc": JSONRPC,
        "result": {"status": true, "value": reply == ResyncReply::Synced},
        "detail": resync_detail(reply),
        "version": VERSION,
        "id": 0,
    }))
    .into_response())
}

/// `validate/check` for FreeRADIUS's `rlm_rest`: the verdict as HTTP
/// status (204 accept, 401 reject, 400 unreadable request).
async fn validate_radius<S: TokenStore + 'static>(
    State(app): State<App<S>>,
    body: Result<Form<CheckRequest>, FormRejection>,
) -> StatusCode {
    let Ok(Form(request)) = body else {
        return StatusCode::BAD_REQUEST;
    };
    if app.service.check(&request, now()).await.result.value {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::UNAUTHORIZED
    }
}

pub fn routes<S: TokenStore + 'static>(app: App<S>) -> Router {
    Router::new()
        .route("/validate/radius", post(validate_radius::<S>))
        .route("/admin/login", post(login::<S>))
        .route("/admin/logout", post(logout::<S>))
        .route("/admin/init", post(init::<S>))
        .route("/admin/show", get(show::<S>))
        .route("/admin/userlist", get(userlist::<S>))
        .route("/admin/realms", get(realms::<S>))
        .route("/admin/policies", get(policies::<S>))
        .route("/admin/setPolicies", post(set_policies::<S>))
        .route("/admin/{action}", post(action::<S>))
        .route("/userservice/resync", post(selfservice_resync::<S>))
        .with_state(app)
}
