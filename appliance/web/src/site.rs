//! The frame of the pages outside the wizard's steps — the activation's
//! progress, the confirmation of an address change, the sign-in and the
//! dashboard: one maud layout and its style sheet on `/assets/site.css`
//! (outside `/setup`, which ends with the set-up). No script: a page that
//! follows a change refreshes itself with `<meta http-equiv=refresh>`.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

/// The style sheet: the wizard's, and the dashboard's navigation.
pub const CSS: &str = concat!(include_str!("setup/wizard.css"), include_str!("site.css"));

/// `GET /assets/site.css`.
pub async fn css() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], CSS).into_response()
}

/// A page: `nav` above the title, and a refresh every `refresh` seconds.
pub fn layout(title: &str, nav: Option<Markup>, refresh: Option<u32>, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(s) = refresh { meta http-equiv="refresh" content=(s); }
                title { (title) " – Appliance" }
                link rel="stylesheet" href="/assets/site.css";
            }
            body {
                header { p.brand { "Appliance" } }
                @if let Some(n) = nav { (n) }
                main { h1 { (title) } (body) }
            }
        }
    }
    .into_string()
}

/// An HTML response.
pub fn page(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

/// A page with one message and an optional link.
pub fn message(
    status: StatusCode,
    title: &str,
    text: &str,
    link: Option<(&str, &str)>,
) -> Response {
    page(
        status,
        layout(
            title,
            None,
            None,
            html! {
                div.notice role="alert" { p { (text) } }
                @if let Some((href, label)) = link { p { a href=(href) { (label) } } }
            },
        ),
    )
}

/// The plain 404 of every unknown path.
pub fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "Not Found\n",
    )
        .into_response()
}
