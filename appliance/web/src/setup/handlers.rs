//! The wizard's routes. Every POST passes the same-origin rule and a form
//! token; every step page needs the session cookie; a step's form is only
//! taken on the step the wizard is at (the order is the server's).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use appliance_wizard::claim::ClaimForm;
use appliance_wizard::keys::{KeysChoice, KeysForm};
use appliance_wizard::radius::RadiusForm;
use appliance_wizard::state::{Completed, Step, StepResult, WizardState};
use appliance_wizard::time::TimeForm;
use appliance_wizard::{claim, keys, licence, network, radius, roles, summary, time};
use appliance_wizard::{Context, FieldError, Secret};
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::forms::{self, Fields};
use super::gate::{self, Refusal, Session, CLAIM_COOKIE, SESSION_COOKIE};
use super::pages::{self, step_of};
use super::respond::{html, internal, refused, see_other, step_url, with_cookie, ClientIp};
use super::{activate, activation, store, Setup};

/// `GET /setup`: the claim form, the session's current step, or "claimed".
pub async fn start(State(setup): State<Arc<Setup>>, headers: HeaderMap) -> Response {
    let now = Instant::now();
    let mut g = setup.gate.lock().await;
    if g.session(&headers, now).is_some() {
        drop(g);
        let current = setup.wizard.lock().await.current;
        return see_other(&step_url(current));
    }
    if g.claimed(now) {
        return refused(
            StatusCode::CONFLICT,
            "Set-up in progress",
            &Refusal::Claimed.message(),
        );
    }
    let notice = g.recently_rotated(now).then_some(ROTATED);
    drop(g);
    claim_form(StatusCode::OK, notice, &[])
}

/// What the claim page says after the code was changed.
const ROTATED: &str = "The setup code has changed after too many wrong entries: \
read the new code on the appliance's console and type it here.";

/// The claim page with a fresh double-submit token.
fn claim_form(status: StatusCode, notice: Option<&str>, errors: &[FieldError]) -> Response {
    let token = match gate::random_token() {
        Ok(t) => t,
        Err(e) => return internal("cannot read random bytes", e),
    };
    with_cookie(
        html(status, pages::claim(&token, notice, errors)),
        &gate::set_cookie(CLAIM_COOKIE, &token, None),
    )
}

/// `POST /setup/claim`: the setup code. Serialized: one claim at a time is
/// checked, so concurrent claims with the right code give one session.
pub async fn claim(
    State(setup): State<Arc<Setup>>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(e) = gate::same_origin(&headers) {
        return refused(StatusCode::FORBIDDEN, "Form refused", &e.0);
    }
    let fields = Fields::from_urlencoded(&body);
    let token_ok = gate::cookie(&headers, CLAIM_COOKIE)
        .is_some_and(|c| !c.is_empty() && gate::same_token(&c, &fields.get(gate::CSRF_FIELD)));
    if !token_ok {
        return refused(
            StatusCode::FORBIDDEN,
            "Form expired",
            "The form has expired or the browser did not send its cookie: open the set-up page again (cookies must be allowed for this address).",
        );
    }
    let mut g = setup.gate.lock().await;
    let now = Instant::now();
    if let Err(r) = g.attempt(ip, now) {
        return match r {
            Refusal::Claimed => refused(StatusCode::CONFLICT, "Set-up in progress", &r.message()),
            Refusal::ClientLimit(wait) | Refusal::GlobalLimit(wait) => {
                let mut resp = claim_form(StatusCode::TOO_MANY_REQUESTS, Some(&r.message()), &[]);
                if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
                    resp.headers_mut().insert(header::RETRY_AFTER, v);
                }
                resp
            }
        };
    }
    let typed = ClaimForm {
        setup_code: Secret(fields.get("setup_code")),
    };
    let code = match claim::validate(&typed) {
        Ok(code) => code,
        Err(errors) => return claim_form(StatusCode::UNPROCESSABLE_ENTITY, None, &errors),
    };
    let verifier = match store::read_verifier(&setup.cfg.verifier) {
        Ok(v) => v,
        // First boot makes the verifier after the login prompt is up.
        Err(store::StoreError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            let mut resp = refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "Still starting",
                "The appliance is still starting and cannot check setup codes yet: wait a few seconds, then send the code again.",
            );
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            return resp;
        }
        Err(e) => return internal("cannot read the setup code verifier", e),
    };
    let canonical = code.canonical().to_string();
    let check = canonical.clone();
    let verdict = tokio::task::spawn_blocking(move || {
        appliance_config::setup_code::verify(&verifier, &check)
    })
    .await;
    match verdict {
        Ok(Ok(true)) => {}
        Ok(Ok(false)) => {
            eprintln!("appliance-web: set-up: wrong setup code from {ip}");
            if !g.wrong_code(now) {
                return claim_form(
                    StatusCode::FORBIDDEN,
                    None,
                    &[FieldError::new(
                        "setup_code",
                        "Setup code is not the one the console shows now: compare it with the console and type it again",
                    )],
                );
            }
            let request = activation::Request::RotateCode {
                failures: gate::ROTATE_AFTER,
            };
            if let Err(e) = activation::write_request(&setup.cfg.requests_dir, &request) {
                return internal("cannot ask for a new setup code", e);
            }
            eprintln!(
                "appliance-web: set-up: {} wrong setup codes, a new code was requested",
                gate::ROTATE_AFTER
            );
            return claim_form(
                StatusCode::FORBIDDEN,
                Some(ROTATED),
                &[FieldError::new(
                    "setup_code",
                    "Setup code was wrong too many times and has been changed: read the new one on the console and type it",
                )],
            );
        }
        Ok(Err(e)) => return internal("cannot check the setup code", e),
        Err(e) => return internal("the setup code check stopped", e),
    }
    let session = match g.open(now, Secret(canonical)) {
        Ok(Some(s)) => s,
        Ok(None) => {
            return refused(
                StatusCode::CONFLICT,
                "Set-up in progress",
                &Refusal::Claimed.message(),
            )
        }
        Err(e) => return internal("cannot read random bytes", e),
    };
    drop(g);
    eprintln!("appliance-web: set-up claimed from {ip}");
    // The state file is the authority (the root side may have changed it).
    let current = match reread(&setup).await {
        Ok(s) => s.current,
        Err(e) => return internal("cannot read the wizard's progress", e),
    };
    let r = with_cookie(
        see_other(&step_url(current)),
        &gate::set_cookie(SESSION_COOKIE, &session.id, None),
    );
    with_cookie(
        r,
        &gate::set_cookie(CLAIM_COOKIE, "", Some(std::time::Duration::ZERO)),
    )
}

/// Reads the state file again (after a claim, and after Activate: the
/// root side removes the passwords from it).
async fn reread(setup: &Setup) -> Result<WizardState, store::StoreError> {
    let fresh = store::load_state(&setup.cfg.state_file)?;
    *setup.wizard.lock().await = fresh.clone();
    setup.reread.store(false, Ordering::SeqCst);
    Ok(fresh)
}

/// The wizard's state, read again first when Activate was requested.
async fn current_state(setup: &Setup) -> Result<(), Response> {
    if setup.reread.load(Ordering::SeqCst) {
        if let Err(e) = reread(setup).await {
            return Err(internal("cannot read the wizard's progress", e));
        }
    }
    Ok(())
}

async fn session_of(setup: &Setup, headers: &HeaderMap) -> Option<Session> {
    setup.gate.lock().await.session(headers, Instant::now())
}

/// A step's form as shown: posted values or the recorded step's.
enum Shown {
    Licence(licence::LicenceForm),
    Network(network::NetworkForm),
    Time(TimeForm),
    Roles(roles::RolesForm),
    Radius(RadiusForm, usize),
    Keys(KeysForm),
}

fn recorded(setup: &Setup, state: &WizardState, step: Step) -> Shown {
    let running = setup.cfg.running.as_ref();
    match step {
        Step::Licence => Shown::Licence(licence::LicenceForm {
            accept: if state.licence.is_some() { "on" } else { "" }.into(),
            licence: String::new(),
            update_key: state
                .licence
                .as_ref()
                .map(|l| l.update_key.clone())
                .unwrap_or_default(),
        }),
        Step::Network => Shown::Network(state.network.as_ref().map_or_else(
            || {
                running.map_or_else(
                    || network::NetworkForm {
                        mode: "dhcp".into(),
                        ..Default::default()
                    },
                    forms::network_running,
                )
            },
            forms::network_of,
        )),
        Step::Time => Shown::Time(state.time.as_ref().map_or_else(
            || TimeForm {
                time_zone: running.map_or_else(|| "UTC".into(), |r| r.time_zone.clone()),
                ntp: "on".into(),
                ..Default::default()
            },
            forms::time_of,
        )),
        Step::Roles => Shown::Roles(
            state
                .roles
                .as_ref()
                .map(forms::roles_of)
                .unwrap_or_default(),
        ),
        Step::Radius => {
            let f = state
                .radius
                .as_ref()
                .map(forms::radius_of)
                .unwrap_or_default();
            let rows = f.clients.len() + 1;
            Shown::Radius(f, rows.max(2))
        }
        Step::Keys => Shown::Keys(
            state
                .keys
                .as_ref()
                .map_or_else(KeysForm::initial, forms::keys_of),
        ),
    }
}

fn summary_with(state: &WizardState, k: KeysChoice) -> String {
    let c = (|| {
        Some(Completed {
            licence: state.licence.clone()?,
            network: state.network.clone()?,
            time: state.time.clone()?,
            roles: state.roles.clone()?,
            radius: state.radius.clone()?,
            keys: k,
        })
    })();
    c.map(|c| summary::render(&c)).unwrap_or_default()
}

fn render(
    setup: &Setup,
    state: &WizardState,
    csrf: &str,
    shown: &Shown,
    errors: &[FieldError],
) -> String {
    match shown {
        Shown::Licence(f) => pages::licence(
            state,
            csrf,
            f,
            state.licence.as_ref().map(|l| &l.licence),
            errors,
        ),
        Shown::Network(f) => pages::network(state, csrf, f, errors),
        Shown::Time(f) => pages::time(state, csrf, f, &setup.cfg.time_zones, errors),
        Shown::Roles(f) => pages::roles(state, csrf, f, errors),
        Shown::Radius(f, rows) => pages::radius(state, csrf, f, *rows, errors),
        Shown::Keys(f) => {
            let k = keys::validate(f).unwrap_or(KeysChoice {
                ssh: true,
                tls: true,
                db_key: true,
                db_passwords: true,
                shutdown: false,
            });
            pages::keys(state, csrf, f, &summary_with(state, k), errors)
        }
    }
}

/// `GET /setup/step/{step}`: the page of the current step; any other step
/// redirects there.
pub async fn show(
    State(setup): State<Arc<Setup>>,
    Path(step): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(session) = session_of(&setup, &headers).await else {
        return see_other("/setup");
    };
    let Some(step) = step_of(&step) else {
        return refused(
            StatusCode::NOT_FOUND,
            "No such step",
            "There is no such set-up step.",
        );
    };
    if let Err(r) = current_state(&setup).await {
        return r;
    }
    let state = setup.wizard.lock().await.clone();
    if step != state.current {
        return see_other(&step_url(state.current));
    }
    let shown = recorded(&setup, &state, step);
    html(
        StatusCode::OK,
        render(&setup, &state, &session.csrf, &shown, &[]),
    )
}

/// Reads a step's body: the licence step is multipart (a file upload),
/// the others URL-encoded.
async fn read_fields(request: Request) -> Result<Fields, String> {
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if !multipart {
        let body = axum::body::to_bytes(request.into_body(), usize::MAX)
            .await
            .map_err(|e| format!("the form could not be read: {e}"))?;
        return Ok(Fields::from_urlencoded(&body));
    }
    let mut m = Multipart::from_request(request, &())
        .await
        .map_err(|e| format!("the form could not be read: {e}"))?;
    let mut out = Vec::new();
    while let Some(field) = m
        .next_field()
        .await
        .map_err(|e| format!("the form could not be read: {e}"))?
    {
        let name = field.name().unwrap_or_default().to_string();
        let bytes = field
            .bytes()
            .await
            .map_err(|e| format!("the form field {name} could not be read: {e}"))?;
        out.push((name, String::from_utf8_lossy(&bytes).into_owned()));
    }
    Ok(Fields(out))
}

fn context(setup: &Setup, state: &WizardState, session: &Session) -> Context {
    Context {
        product: setup.cfg.product.clone(),
        today: setup.cfg.today.unwrap_or_else(store::today),
        time_zones: setup.cfg.time_zones.clone(),
        hostname: state.network.as_ref().map(|n| n.hostname.clone()),
        setup_code: Some(session.code.expose().to_string()),
    }
}

/// Checks the posted form of `step`: the shown form and the result.
fn check(
    setup: &Setup,
    state: &WizardState,
    ctx: &Context,
    step: Step,
    f: &Fields,
) -> (Shown, Result<StepResult, Vec<FieldError>>) {
    match step {
        Step::Licence => {
            let mut form = forms::licence(f);
            if form.licence.trim().is_empty() {
                if let Some(l) = &state.licence {
                    form.licence = licence::file_text(&l.licence);
                }
            }
            let r = licence::validate_signed(&form, ctx, &setup.cfg.licence_keys)
                .map(StepResult::Licence);
            form.licence = String::new();
            (Shown::Licence(form), r)
        }
        Step::Network => {
            let form = forms::network(f);
            let r = network::validate(&form).map(StepResult::Network);
            (Shown::Network(form), r)
        }
        Step::Time => {
            let form = forms::time(f);
            let r = time::validate(&form, ctx).map(StepResult::Time);
            (Shown::Time(form), r)
        }
        Step::Roles => {
            let form = forms::roles(f);
            let r = roles::validate(&form, ctx).map(StepResult::Roles);
            // Passwords are not sent back: the page shows them empty.
            let shown = roles::RolesForm {
                linotp_admin_user: form.linotp_admin_user.clone(),
                appliance_admin_user: form.appliance_admin_user.clone(),
                ..Default::default()
            };
            (Shown::Roles(shown), r)
        }
        Step::Radius => {
            let form = forms::radius(f);
            let r = radius::validate(&form).map(StepResult::Radius);
            let rows = form.clients.len().max(2);
            (Shown::Radius(form, rows), r)
        }
        Step::Keys => {
            let form = forms::keys(f);
            let r = keys::validate(&form).map(StepResult::Keys);
            (Shown::Keys(form), r)
        }
    }
}

/// `POST /setup/step/{step}`: Next (record and move on), Previous, Activate,
/// or "Add a row" on the RADIUS page.
pub async fn submit(
    State(setup): State<Arc<Setup>>,
    Path(step): Path<String>,
    request: Request,
) -> Response {
    if let Err(e) = gate::same_origin(request.headers()) {
        return refused(StatusCode::FORBIDDEN, "Form refused", &e.0);
    }
    let Some(session) = session_of(&setup, request.headers()).await else {
        return see_other("/setup");
    };
    let Some(step) = step_of(&step) else {
        return refused(
            StatusCode::NOT_FOUND,
            "No such step",
            "There is no such set-up step.",
        );
    };
    let fields = match read_fields(request).await {
        Ok(f) => f,
        Err(e) => return refused(StatusCode::BAD_REQUEST, "Form not readable", &e),
    };
    if !gate::same_token(&session.csrf, &fields.get(gate::CSRF_FIELD)) {
        return refused(
            StatusCode::FORBIDDEN,
            "Form expired",
            "The form's token does not belong to this set-up session: open the step again from the set-up page and send it from there.",
        );
    }
    if let Err(r) = current_state(&setup).await {
        return r;
    }
    let mut state = setup.wizard.lock().await;
    if step != state.current {
        let e = appliance_wizard::state::NavError::WrongStep {
            sent: step,
            current: state.current,
        };
        return html(
            StatusCode::CONFLICT,
            pages::message(
                "Not this step",
                &format!("{e}: the page was out of date."),
                Some((&step_url(state.current), "Go to the current step")),
            ),
        );
    }
    let ctx = context(&setup, &state, &session);
    let action = fields.get("action");
    let (shown, result) = check(&setup, &state, &ctx, step, &fields);
    match action.as_str() {
        "previous" => {
            let valid = step != Step::Roles || result.is_ok();
            if let Err(e) = state.back(valid) {
                let mut errors = result.err().unwrap_or_default();
                errors.push(FieldError::new("action", e.to_string()));
                return html(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    render(&setup, &state, &session.csrf, &shown, &errors),
                );
            }
        }
        "add_row" if step == Step::Radius => {
            let Shown::Radius(form, rows) = shown else {
                return internal("the RADIUS page", "unexpected form");
            };
            let more = Shown::Radius(form, rows + 1);
            return html(
                StatusCode::OK,
                render(&setup, &state, &session.csrf, &more, &[]),
            );
        }
        _ => match result {
            Err(errors) => {
                return html(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    render(&setup, &state, &session.csrf, &shown, &errors),
                )
            }
            Ok(r) => {
                if let Err(e) = state.complete(r) {
                    return internal("the wizard's order", e);
                }
            }
        },
    }
    if let Err(e) = store::save_state(&setup.cfg.state_file, &state) {
        return internal("cannot save the wizard's progress", e);
    }
    if step == Step::Keys && action == "activate" {
        return activate::request(&setup, &mut state, &ctx).await;
    }
    see_other(&step_url(state.current))
}

/// `GET /setup/assets/{file}`: the style sheet and the script.
pub async fn asset(Path(file): Path<String>) -> Response {
    let (ctype, body) = match file.as_str() {
        "wizard.css" => ("text/css; charset=utf-8", pages::CSS),
        "wizard.js" => ("text/javascript; charset=utf-8", pages::JS),
        _ => {
            return (
                StatusCode::NOT_FOUND,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "Not Found\n",
            )
                .into_response()
        }
    };
    ([(header::CONTENT_TYPE, ctype)], body).into_response()
}
