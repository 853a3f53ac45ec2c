//! A browser for the handler tests: cookies, client address, same-origin
//! form posts, sent with `tower::ServiceExt::oneshot` (no socket).

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::setup::HOST;

/// One browser: its cookies and its address.
pub struct Browser {
    pub app: Router,
    pub cookies: Vec<(String, String)>,
    pub ip: SocketAddr,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .expect("a form token")
            + 19;
        self.body[at..at + 64].to_string()
    }
}

impl Browser {
    pub fn new(app: &Router, ip: &str) -> Browser {
        Browser {
            app: app.clone(),
            cookies: Vec::new(),
            ip: format!("{ip}:40000").parse().unwrap(),
        }
    }

    pub async fn send(&mut self, mut req: Request<Body>) -> Reply {
        let jar: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if !jar.is_empty() {
            req.headers_mut()
                .insert(header::COOKIE, jar.join("; ").parse().unwrap());
        }
        req.extensions_mut().insert(ConnectInfo(self.ip));
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        for c in headers.get_all(header::SET_COOKIE) {
            let c = c.to_str().unwrap();
            let (pair, _) = c.split_once(';').unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != k);
            if !c.contains("Max-Age=0") {
                self.cookies.push((k.into(), v.into()));
            }
        }
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body: String::from_utf8(body.to_vec()).unwrap(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Reply {
        self.send(
            Request::get(path)
                .header(header::HOST, HOST)
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.send(
            Request::post(path)
                .header(header::HOST, HOST)
                .header(header::ORIGIN, format!("https://{HOST}"))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .unwrap(),
        )
        .await
    }

    pub async fn post_multipart(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let b = "----TESTBOUNDARY7MA4YWxkTrZu0gW";
        let mut body = String::new();
        for (k, v) in fields {
            if *k == "licence" {
                body.push_str(&format!("--{b}\r\nContent-Disposition: form-data; name=\"licence\"; filename=\"test.lic\"\r\nContent-Type: text/plain\r\n\r\n{v}\r\n"));
            } else {
                body.push_str(&format!(
                    "--{b}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                ));
            }
        }
        body.push_str(&format!("--{b}--\r\n"));
        self.send(
            Request::post(path)
                .header(header::HOST, HOST)
                .header(header::ORIGIN, format!("https://{HOST}"))
                .header(
                    header::CONTENT_TYPE,
                    format!("multipart/form-data; boundary={b}"),
                )
                .body(Body::from(body))
                .unwrap(),
        )
        .await
    }

    /// Opens the claim page and sends `code`.
    pub async fn claim(&mut self, code: &str) -> Reply {
        let page = self.get("/setup").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let csrf = page.csrf();
        self.post("/setup/claim", &[("csrf", &csrf), ("setup_code", code)])
            .await
    }
}
