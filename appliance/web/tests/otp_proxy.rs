//! The OTP service's paths forwarded to its loopback port: a real
//! upstream on 127.0.0.1 (an axum echo standing in for `appliance-otp
//! serve`) receives method, path, query, body, `Host`, cookies and the
//! browser's fetch metadata, not the hop-by-hop headers; its answer comes
//! back with its headers; nothing listening is a 502, a body over the
//! cap a 413, and `/setup` is never forwarded.

use std::net::SocketAddr;

use appliance_web::limits::Limits;
use appliance_web::otp_proxy;
use axum::body::{to_bytes, Body};
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Router;
use tower::ServiceExt;

/// An upstream that answers every request with what it received.
async fn echo_upstream() -> SocketAddr {
    async fn echo(request: Request) -> axum::response::Response {
        let (parts, body) = request.into_parts();
        let body = to_bytes(body, 1 << 20).await.unwrap_or_default();
        let mut seen = vec![
            format!("{} {}", parts.method, parts.uri),
            format!("body={}", String::from_utf8_lossy(&body)),
        ];
        let mut names: Vec<_> = parts
            .headers
            .keys()
            .map(|k| k.as_str().to_string())
            .collect();
        names.sort();
        for name in names {
            let value = parts.headers[name.as_str()].to_str().unwrap_or("?");
            seen.push(format!("{name}: {value}"));
        }
        (
            [
                (
                    header::SET_COOKIE,
                    "__Host-otp-admin=s1; Secure; HttpOnly; Path=/",
                ),
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'self'; form-action 'self'",
                ),
            ],
            seen.join("\n"),
        )
            .into_response()
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        axum::serve(listener, Router::new().fallback(echo))
            .await
            .expect("serve");
    });
    addr
}

async fn send(app: &Router, request: Request) -> (StatusCode, axum::http::HeaderMap, String) {
    let response = app.clone().oneshot(request).await.expect("answer");
    let status = response.status();
    let headers = response.headers().clone();
    let body = to_bytes(response.into_body(), 1 << 20).await.expect("body");
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn requests_and_answers_pass_through() {
    let upstream = echo_upstream().await;
    let app = otp_proxy::routes(upstream, &Limits::default());
    let request = Request::builder()
        .method("POST")
        .uri("/validate/check?realm=staff")
        .header(header::HOST, "192.0.2.10:8443")
        .header(header::COOKIE, "__Host-otp-admin=s0")
        .header("sec-fetch-site", "same-origin")
        .header(header::ORIGIN, "https://192.0.2.10:8443")
        .header(header::CONNECTION, "keep-alive, x-hop")
        .header("x-hop", "drop me")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("user=alice&pass=TEST-12123456"))
        .unwrap();
    let (status, headers, body) = send(&app, request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines[0], "POST /validate/check?realm=staff");
    assert_eq!(lines[1], "body=user=alice&pass=TEST-12123456");
    for want in [
        "host: 192.0.2.10:8443",
        "cookie: __Host-otp-admin=s0",
        "sec-fetch-site: same-origin",
        "origin: https://192.0.2.10:8443",
        "x-forwarded-proto: https",
    ] {
        assert!(lines.contains(&want), "{want} not forwarded: {body}");
    }
    assert!(
        !body.contains("x-hop") && !body.contains("connection:"),
        "{body}"
    );
    assert_eq!(
        headers[header::SET_COOKIE],
        "__Host-otp-admin=s1; Secure; HttpOnly; Path=/"
    );
    assert_eq!(
        headers[header::CONTENT_SECURITY_POLICY],
        "default-src 'self'; form-action 'self'"
    );

    for path in [
        "/admin/show",
        "/userservice/resync",
        "/manage",
        "/manage/tokens",
        "/selfservice",
        "/selfservice/resync",
    ] {
        let request = Request::builder().uri(path).body(Body::empty()).unwrap();
        let (status, _, body) = send(&app, request).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(body.starts_with(&format!("GET {path}\n")), "{path}: {body}");
    }
    for path in ["/setup", "/", "/healthz", "/validatex"] {
        let request = Request::builder().uri(path).body(Body::empty()).unwrap();
        let (status, _, _) = send(&app, request).await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "{path} must not be forwarded"
        );
    }
}

#[tokio::test]
async fn a_stopped_service_is_a_502_and_a_large_body_a_413() {
    // A port nothing listens on: bind, note it, close.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let app = otp_proxy::routes(closed, &Limits::default());
    let request = Request::builder()
        .uri("/validate/check?user=a&pass=1")
        .body(Body::empty())
        .unwrap();
    let (status, headers, body) = send(&app, request).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(body.contains("appliance-otp.service"), "{body}");
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert!(headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    // A page of the service gets a page (title, language, heading).
    let request = Request::builder()
        .uri("/manage/login")
        .body(Body::empty())
        .unwrap();
    let (status, headers, body) = send(&app, request).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(
        body.contains("<html lang=\"en\">")
            && body.contains("<title>OTP service unavailable")
            && body.contains("<h1>OTP service unavailable</h1>")
            && body.contains("appliance-otp.service"),
        "{body}"
    );
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");

    let upstream = echo_upstream().await;
    let limits = Limits::default();
    let app = otp_proxy::routes(upstream, &limits);
    let request = Request::builder()
        .method("POST")
        .uri("/validate/check")
        .body(Body::from(vec![b'a'; limits.body + 1]))
        .unwrap();
    let (status, _, _) = send(&app, request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}
