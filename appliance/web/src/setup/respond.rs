//! The responses the wizard's handlers share: HTML pages, redirects,
//! refusals, cookies, and the client's address.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use appliance_wizard::state::Step;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::pages::{self, slug};

/// The client's address (from the connection; tests may leave it out).
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip()),
        ))
    }
}

pub fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

pub fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}

pub fn step_url(step: Step) -> String {
    format!("/setup/step/{}", slug(step))
}

pub fn refused(status: StatusCode, title: &str, text: &str) -> Response {
    html(
        status,
        pages::message(title, text, Some(("/setup", "Back to the set-up page"))),
    )
}

pub fn internal(what: &str, e: impl std::fmt::Display) -> Response {
    eprintln!("appliance-web: set-up: {what}: {e}");
    refused(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Set-up error",
        &format!("{what}: {e}. The appliance's log has the details; restart the web service from the console (systemctl restart appliance-web) after fixing it."),
    )
}

pub fn with_cookie(mut r: Response, cookie: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}
