//! The OTP service's paths on 8443: a reverse proxy to `appliance-otp
//! serve` on the loopback port ([`UPSTREAM`]), so browsers and clients
//! reach `validate/check`, the admin API, the management and self-service
//! pages over the appliance's HTTPS with its certificate, while the
//! database key and the token database stay in the OTP service's process
//! (this service runs as another user and never reads them).
//!
//! Only the OTP service's path prefixes ([`PATHS`]) are forwarded; the
//! wizard's `/setup` and the dashboard's paths stay this service's. The
//! request keeps its method, path, query, `Host`, cookies and the browser's
//! `Origin`/`Sec-Fetch-Site` (the OTP service checks them itself); the
//! hop-by-hop headers are dropped both ways. The body is capped and the
//! whole exchange has a deadline, as every route of this service; the
//! OTP service's answers carry its own security headers.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::limits::Limits;

/// Where `appliance-otp serve` listens (its default).
pub const UPSTREAM: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 5000));

/// The OTP service's paths (LinOTP's plus its pages).
pub const PATHS: &[&str] = &[
    "/validate/{*rest}",
    "/admin/{*rest}",
    "/userservice/{*rest}",
    "/manage",
    "/manage/{*rest}",
    "/selfservice",
    "/selfservice/{*rest}",
];

/// Headers of one connection, never forwarded (RFC 9110 7.6.1).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

struct Proxy {
    client: Client<HttpConnector, Body>,
    upstream: SocketAddr,
    body_limit: usize,
    deadline: Duration,
}

/// The forwarding routes for `upstream`, with `limits`' body cap and
/// request deadline.
pub fn routes(upstream: SocketAddr, limits: &Limits) -> Router {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(Duration::from_secs(5)));
    let proxy = Arc::new(Proxy {
        client: Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector),
        upstream,
        body_limit: limits.body,
        deadline: limits.request,
    });
    let mut router = Router::new();
    for path in PATHS {
        router = router.route(path, any(forward));
    }
    router.with_state(proxy)
}

/// Removes the hop-by-hop headers and those the `Connection` header names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
}

/// Whether `path` is one of the OTP service's pages (a browser reads the
/// answer) rather than its API (a program reads the status).
fn is_page(path: &str) -> bool {
    ["/manage", "/selfservice"]
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")))
}

/// An answer of the proxy itself, with this service's headers: an HTML
/// page for the OTP service's pages, plain text for its API.
fn refuse(status: StatusCode, text: &'static str, page: bool) -> Response {
    let mut response = if page {
        crate::site::message(
            status,
            "OTP service unavailable",
            text.trim_end(),
            Some(("/", "Start page")),
        )
    } else {
        (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            text,
        )
            .into_response()
    };
    let headers = response.headers_mut();
    for (name, value) in crate::app::SECURITY_HEADERS {
        headers.insert(name.clone(), HeaderValue::from_static(value));
    }
    response
}

async fn forward(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let page = is_page(parts.uri.path());
    let Ok(bytes) = axum::body::to_bytes(body, proxy.body_limit).await else {
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request body too large\n",
            page,
        );
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let Ok(uri) = format!("http://{}{path}", proxy.upstream).parse::<Uri>() else {
        return refuse(StatusCode::BAD_REQUEST, "Bad request target\n", page);
    };
    let mut upstream = Request::new(Body::from(bytes));
    *upstream.method_mut() = parts.method;
    *upstream.uri_mut() = uri;
    *upstream.headers_mut() = parts.headers;
    strip_hop_by_hop(upstream.headers_mut());
    upstream.headers_mut().insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static("https"),
    );
    match tokio::time::timeout(proxy.deadline, proxy.client.request(upstream)).await {
        Ok(Ok(answer)) => {
            let (mut parts, body) = answer.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            Response::from_parts(parts, Body::new(body))
        }
        Ok(Err(e)) => {
            eprintln!(
                "appliance-web: the OTP service at {} does not answer: {e}",
                proxy.upstream
            );
            refuse(
                StatusCode::BAD_GATEWAY,
                "The OTP service is not running (appliance-otp.service); try again in a moment\n",
                page,
            )
        }
        Err(_) => refuse(
            StatusCode::GATEWAY_TIMEOUT,
            "The OTP service did not answer in time\n",
            page,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_dropped() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("close, x-private"),
        );
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("__Host-otp-admin=abc"),
        );
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        strip_hop_by_hop(&mut h);
        let left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["cookie", "sec-fetch-site"]);
    }

    #[test]
    fn the_wizard_and_the_dashboard_paths_are_not_forwarded() {
        for p in PATHS {
            assert!(!p.starts_with("/setup") && !p.starts_with("/system") && *p != "/login");
        }
        assert!(UPSTREAM.ip().is_loopback());
    }
}
