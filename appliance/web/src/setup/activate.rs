//! Activate, the progress page and the confirmation of an address change
//! (docs/wizard.md, "Activation"), and the guard that closes `/setup` for
//! good once `/etc/appliance/setup-done` exists (read at every request).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use appliance_wizard::state::WizardState;
use appliance_wizard::{Context, FieldError};
use axum::extract::{RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use maud::{html, Markup};

use super::activation::{self, State as Phase, Status};
use super::forms::Fields;
use super::gate::{self, Refusal};
use super::respond::{internal, see_other, step_url, with_cookie, ClientIp};
use super::{store, Setup};
use crate::credentials::Credentials;
use crate::site::{self, layout, message, page};

/// The confirmation form's double-submit cookie.
pub const CONFIRM_COOKIE: &str = "__Host-confirm";
/// Seconds between two looks of the progress page at the status, when
/// the user asked it to follow.
pub const REFRESH: u32 = 3;

fn status(setup: &Setup) -> Option<Status> {
    activation::read_status(&setup.cfg.status_file)
        .map_err(|e| eprintln!("appliance-web: activation status: {e}"))
        .ok()
        .flatten()
}

fn confirm_open(setup: &Setup) -> bool {
    status(setup).is_some_and(|s| s.state == Phase::PendingConfirm)
}

/// Every `/setup` route: 404 once the appliance is set up, except
/// `/setup/confirm` while an address change waits for its confirmation.
pub async fn guard(State(setup): State<Arc<Setup>>, request: Request, next: Next) -> Response {
    if setup.cfg.setup_done.exists()
        && !(request.uri().path() == "/setup/confirm" && confirm_open(&setup))
    {
        return site::not_found();
    }
    next.run(request).await
}

/// Activate (the keys step was just recorded): refused while an activation
/// runs, or with the step to fix when the final check fails; otherwise the
/// request for the root side, and the progress page.
pub async fn request(setup: &Setup, state: &mut WizardState, ctx: &Context) -> Response {
    if let Some(s) = status(setup) {
        if matches!(s.state, Phase::Running | Phase::PendingConfirm) {
            return message(
                StatusCode::CONFLICT,
                "Activation under way",
                "An activation is already under way: follow it on its progress page.",
                Some(("/activation", "Show the progress")),
            );
        }
    }
    let dir = &setup.cfg.requests_dir;
    if activation::pending(dir, &activation::Request::Activate) {
        return see_other("/activation");
    }
    if let Err(fix) = activation::recheck(state, ctx, &setup.cfg.licence_keys) {
        // The step to fix becomes the current one: its link leads there.
        let _ = state.open(fix.step);
        if let Err(e) = store::save_state(&setup.cfg.state_file, state) {
            return internal("cannot save the wizard's progress", e);
        }
        let body = html! {
            div.error-summary role="alert" {
                h2 { "Step " (fix.step.index() + 1) ", " (fix.step.title()) ", needs fixing" }
                ul { @for e in &fix.errors { li { (e.message) } } }
            }
            p { "Nothing was changed on the appliance." }
            p { a href=(step_url(fix.step)) { "Go to step " (fix.step.index() + 1) ", " (fix.step.title()) } }
        };
        return page(
            StatusCode::UNPROCESSABLE_ENTITY,
            layout("Activation refused", None, None, body),
        );
    }
    if let Err(e) = activation::write_request(dir, &activation::Request::Activate) {
        return internal("cannot hand the activation to the system", e);
    }
    setup.reread.store(true, Ordering::SeqCst);
    eprintln!("appliance-web: set-up: activation requested");
    see_other("/activation")
}

fn fingerprints(s: &Status) -> Markup {
    html! {
        dl.facts {
            dt { "New address" } dd { a href=(s.new_url) { (s.new_url) } }
            dt { "TLS certificate SHA-256" } dd { code id="new-cert-sha256" { (s.tls_sha256) } }
            dt { "Public key SHA-256" } dd { code id="new-spki-sha256" { (s.spki_sha256) } }
        }
    }
}

fn confirm_url(s: &Status) -> String {
    format!("{}/setup/confirm", s.new_url.trim_end_matches('/'))
}

/// The progress page's title, body and refresh for a status.
fn progress_view(s: Option<&Status>, requested: bool) -> (&'static str, Markup, Option<u32>) {
    let Some(s) = s.filter(|s| s.state != Phase::Idle || !requested) else {
        return if requested {
            (
                "Activation requested",
                html! {
                    p role="status" { "Every step is recorded and checked. The appliance is about to \
                        start the activation; this page shows how it goes." }
                },
                Some(REFRESH),
            )
        } else {
            (
                "No activation",
                html! { p { "No activation has been started. " a href="/setup" { "Go to the set-up" } } },
                None,
            )
        };
    };
    let shutdown = html! {
        @if s.shutdown { p.notice { "The appliance will power off when the activation is done." } }
    };
    match s.state {
        Phase::Idle => (
            "No activation",
            html! { p { "No activation is running. " a href="/setup" { "Go to the set-up" } } },
            None,
        ),
        Phase::Running => (
            "Activating",
            html! {
                p role="status" { "Step: " strong { (s.step) } }
                @if !s.message.is_empty() { p { (s.message) } }
                (shutdown)
            },
            Some(REFRESH),
        ),
        Phase::PendingConfirm => (
            "Confirm the new address",
            html! {
                div.notice role="alert" {
                    p { "The appliance now has a new address. Open "
                        a href=(confirm_url(s)) { (confirm_url(s)) }
                        " and sign in as the Appliance Administrator before "
                        strong { (s.confirm_deadline) }
                        ", or the old configuration comes back." }
                    p { "This browser session ends with the old address. The new address has a new \
                         certificate: compare its fingerprints with these and with the console." }
                }
                (fingerprints(s))
                @if !s.message.is_empty() { p { (s.message) } }
            },
            Some(10),
        ),
        Phase::Done => (
            "Activation complete",
            html! {
                p role="status" { "The appliance runs the new configuration." }
                @if !s.message.is_empty() { p { (s.message) } }
                (shutdown)
                @if !s.shutdown {
                    @if s.new_url.is_empty() {
                        p { a href="/" { "Sign in as the Appliance Administrator" } }
                    } @else {
                        (fingerprints(s))
                        p { a href=(s.new_url) { "Sign in as the Appliance Administrator at " (s.new_url) } }
                    }
                }
            },
            None,
        ),
        Phase::RolledBack => (
            "Old configuration restored",
            html! {
                div.notice role="alert" {
                    p { "The address change was not confirmed in time, so the appliance went back to its \
                         previous configuration." }
                    @if !s.message.is_empty() { p { (s.message) } }
                }
                p { "Open " a href="/setup" { "the set-up" } " again to check the settings and activate them." }
            },
            None,
        ),
        Phase::Failed => (
            "Activation failed",
            html! {
                div.error-summary role="alert" {
                    p { (if s.step.is_empty() { "The activation stopped." } else { "The activation stopped at: " }) (s.step) }
                    @if !s.message.is_empty() { p { (s.message) } }
                }
                p { "The appliance keeps its previous configuration. Fix what the message names in "
                    a href="/setup" { "the set-up" }
                    " and press Activate again; the console's log (journalctl -u appliance-request) has the details." }
            },
            None,
        ),
    }
}

/// The links under a page that moves: refresh by hand, or follow (a timed
/// refresh the user turns on, and off again).
fn follow_links(following: bool, every: u32) -> Markup {
    html! {
        div.buttons.secondary {
            @if following {
                p { "This page refreshes itself every " (every) " seconds. "
                    a href="/activation" { "Stop refreshing" } }
            } @else {
                p { a href="/activation" { "Refresh now" } " · "
                    a href="/activation?follow=on" { "Refresh automatically every " (every) " seconds" } }
            }
        }
    }
}

/// `GET /activation[?follow=on]`: the activation's progress as the root
/// side reports it. While it moves, `follow=on` adds a timed refresh
/// (`<meta http-equiv=refresh>`, no script); it is the user's choice, not
/// the default, because a refresh the user did not ask for moves the focus
/// and interrupts screen readers (WCAG 2.2.1, axe's `meta-refresh`).
pub async fn progress(State(setup): State<Arc<Setup>>, RawQuery(query): RawQuery) -> Response {
    let requested = activation::pending(&setup.cfg.requests_dir, &activation::Request::Activate);
    let s = status(&setup);
    let (title, body, every) = progress_view(s.as_ref(), requested);
    let following = query.as_deref() == Some("follow=on");
    let refresh = every.filter(|_| following);
    let body = html! {
        (body)
        @if let Some(every) = every { (follow_links(following, every)) }
    };
    page(StatusCode::OK, layout(title, None, refresh, body))
}

fn not_pending() -> Response {
    message(
        StatusCode::CONFLICT,
        "Nothing to confirm",
        "No address change is waiting for its confirmation.",
        Some(("/activation", "Show the activation's progress")),
    )
}

fn confirm_page(status: StatusCode, errors: &[FieldError], notice: Option<&str>) -> Response {
    let token = match gate::random_token() {
        Ok(t) => t,
        Err(e) => return internal("cannot read random bytes", e),
    };
    let err = |field: &str| -> Vec<&str> {
        errors
            .iter()
            .filter(|e| e.field == field)
            .map(|e| e.message.as_str())
            .collect()
    };
    let field = |name: &str, label: &str, kind: &str, auto: &str| {
        let errs = err(name);
        let err_id = format!("{name}-error");
        html! {
            div.field.invalid[!errs.is_empty()] {
                label for=(name) { (label) }
                input type=(kind) id=(name) name=(name) autocomplete=(auto) spellcheck="false"
                    aria-invalid=[(!errs.is_empty()).then_some("true")]
                    aria-describedby=[(!errs.is_empty()).then_some(&err_id)];
                @if !errs.is_empty() { div.field-error id=(err_id) { @for m in errs { p { (m) } } } }
            }
        }
    };
    let body = html! {
        p { "Sign in as the Appliance Administrator you chose in the wizard to keep the new address." }
        @if let Some(n) = notice { div.notice role="alert" { p { (n) } } }
        form method="post" action="/setup/confirm" novalidate {
            input type="hidden" name="csrf" value=(token);
            (field("login", "Appliance Administrator", "text", "username"))
            (field("password", "Password", "password", "current-password"))
            div.buttons { button type="submit" { "Confirm the new address" } }
        }
    };
    with_cookie(
        page(status, layout("Confirm the new address", None, None, body)),
        &gate::set_cookie(CONFIRM_COOKIE, &token, None),
    )
}

/// `GET /setup/confirm`: the form, while an address change waits.
pub async fn confirm_form(State(setup): State<Arc<Setup>>) -> Response {
    if !confirm_open(&setup) {
        return not_pending();
    }
    confirm_page(StatusCode::OK, &[], None)
}

/// `POST /setup/confirm`: the Appliance Administrator's login and
/// password; right, `confirm.json` for the root side.
pub async fn confirm(
    State(setup): State<Arc<Setup>>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(e) = gate::same_origin(&headers) {
        return message(StatusCode::FORBIDDEN, "Form refused", &e.0, None);
    }
    let fields = Fields::from_urlencoded(&body);
    let token_ok = gate::cookie(&headers, CONFIRM_COOKIE)
        .is_some_and(|c| !c.is_empty() && gate::same_token(&c, &fields.get(gate::CSRF_FIELD)));
    if !token_ok {
        return message(
            StatusCode::FORBIDDEN,
            "Form expired",
            "The form has expired or the browser did not send its cookie: open the confirmation page again (cookies must be allowed for this address).",
            Some(("/setup/confirm", "Open the confirmation page")),
        );
    }
    if !confirm_open(&setup) {
        return not_pending();
    }
    if let Err(r) = setup.confirms.lock().await.attempt(ip, Instant::now()) {
        let wait = match r {
            Refusal::ClientLimit(w) | Refusal::GlobalLimit(w) => w,
            Refusal::Claimed => std::time::Duration::from_secs(60),
        };
        let secs = wait.as_secs().max(1);
        let mut resp = confirm_page(
            StatusCode::TOO_MANY_REQUESTS,
            &[],
            Some(&format!(
                "Too many sign-in attempts: try again in {secs} seconds."
            )),
        );
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return resp;
    }
    let creds = match Credentials::read(&setup.cfg.admin_credentials) {
        Ok(c) => c,
        Err(e) => return internal("cannot read the Appliance Administrator's credentials", e),
    };
    let (login, password) = (fields.get("login"), fields.get("password"));
    let who = login.clone();
    let verdict = tokio::task::spawn_blocking(move || creds.verify(&login, &password)).await;
    match verdict {
        Ok(true) => {}
        Ok(false) => {
            eprintln!(
                "appliance-web: wrong Appliance Administrator sign-in from {ip} (confirmation)"
            );
            return confirm_page(
                StatusCode::FORBIDDEN,
                &[FieldError::new(
                    "password",
                    "Login or password is not the Appliance Administrator's: type both again as chosen in the wizard's roles step",
                )],
                None,
            );
        }
        Err(e) => return internal("the password check stopped", e),
    }
    let request = activation::Request::Confirm { login: who };
    if let Err(e) = activation::write_request(&setup.cfg.requests_dir, &request) {
        return internal("cannot hand the confirmation to the system", e);
    }
    eprintln!("appliance-web: address change confirmed from {ip}");
    let r = message(
        StatusCode::OK,
        "New address confirmed",
        "The appliance keeps its new address and configuration.",
        Some(("/activation", "Show the activation's progress")),
    );
    with_cookie(
        r,
        &gate::set_cookie(CONFIRM_COOKIE, "", Some(std::time::Duration::ZERO)),
    )
}
