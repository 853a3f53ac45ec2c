//! What the HTTP tests share: a service with TEST users and a TEST
//! administrator, a client that speaks to the router either without a
//! socket (`oneshot`) or over a real TCP connection, and the OTPs of an
//! `otpauth://` URI.

#![allow(dead_code)]

pub mod scenario;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use appliance_otp::audit::{AuditSink, MemoryAudit};
use appliance_otp::crypto::DbKey;
use appliance_otp::directory::{Directory, FlatFileResolver, Realm, UserResolver};
use appliance_otp::hotp::{self, Algorithm};
use appliance_otp::names::{Login, RealmName};
use appliance_otp::service::Service;
use appliance_otp::store::TokenStore;
use appliance_otp_web::session::AdminCredentials;
use appliance_otp_web::{Audit, OtpWeb};
use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

pub const ADMIN_PASSWORD: &str = "TEST-admin-password";
pub const ALICE_PASSWORD: &str = "TEST-alice-password";

fn phc(password: &str) -> String {
    appliance_otp::crypto::hash_pin(password).expect("hash")
}

/// The Argon2id hashes, made once per test binary (they are slow on purpose).
fn hashes() -> &'static (String, String) {
    static HASHES: OnceLock<(String, String)> = OnceLock::new();
    HASHES.get_or_init(|| (phc(ADMIN_PASSWORD), phc(ALICE_PASSWORD)))
}

/// Realm `staff` (default): alice (with a password), bob, and a user
/// whose display name is markup; realm `guests`: carol.
pub fn directory() -> Directory {
    let (_, alice) = hashes();
    let staff: Arc<dyn UserResolver> = Arc::new(
        FlatFileResolver::parse(
            "staff-users",
            &format!(
                "alice:{alice}:1000:1000:Alice\nbob:x:1001:1001:Bob\nmallory:x:1002:1002:<script>alert(1)</script>\n"
            ),
        )
        .expect("users file"),
    );
    let guests: Arc<dyn UserResolver> = Arc::new(
        FlatFileResolver::parse("guest-users", "carol:x:2000:2000:Carol\n").expect("users file"),
    );
    let realms = vec![
        Realm {
            name: RealmName::new("staff").expect("realm"),
            resolvers: vec!["staff".into()],
            default: true,
        },
        Realm {
            name: RealmName::new("guests").expect("realm"),
            resolvers: vec!["guests".into()],
            default: false,
        },
    ];
    Directory::new(
        realms,
        BTreeMap::from([("staff".to_string(), staff), ("guests".to_string(), guests)]),
    )
    .expect("directory")
}

/// The service on `store` with a TEST key; the audit entries stay readable.
pub async fn app<S: TokenStore + 'static>(store: S) -> (Arc<OtpWeb<S>>, Arc<MemoryAudit>) {
    let audit = Arc::new(MemoryAudit::default());
    let sink: Audit = audit.clone() as Arc<dyn AuditSink>;
    // TEST key.
    let key = DbKey::from_bytes(&[7; 96]).expect("key");
    let service = Service::open(store, key, directory(), sink)
        .await
        .expect("service");
    let (admin_phc, _) = hashes();
    let creds = AdminCredentials::parse(
        "admin.json",
        &AdminCredentials::render(&Login::new("admin").expect("login"), admin_phc),
    )
    .expect("credentials");
    (Arc::new(OtpWeb::new(service, creds, "OTP test")), audit)
}

/// Where requests go.
pub enum Transport {
    /// The router itself, one `oneshot` per request.
    Router(Router),
    /// A server on a real socket.
    Socket {
        base: String,
        client: reqwest::Client,
    },
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// `result.value` of a LinOTP envelope.
    pub fn value(&self) -> Value {
        let json = self.json();
        assert_eq!(json["result"]["status"], true, "{}", self.body);
        json["result"]["value"].clone()
    }
}

/// A browser-like client: keeps the session cookie and the CSRF token.
pub struct Client {
    pub transport: Transport,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
}

fn encode(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

impl Client {
    pub fn new(transport: Transport) -> Client {
        Client {
            transport,
            cookie: None,
            csrf: None,
        }
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        form: Option<&[(&str, &str)]>,
        csrf: bool,
    ) -> Reply {
        let mut headers = vec![];
        if let Some(c) = &self.cookie {
            headers.push((header::COOKIE.as_str(), c.clone()));
        }
        if csrf {
            if let Some(t) = &self.csrf {
                headers.push(("x-csrf-token", t.clone()));
            }
        }
        let body = form.map(encode);
        match &self.transport {
            Transport::Router(router) => {
                let mut request = Request::builder().method(method).uri(path);
                for (k, v) in &headers {
                    request = request.header(*k, v);
                }
                if body.is_some() {
                    request =
                        request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
                }
                let request = request
                    .body(Body::from(body.unwrap_or_default()))
                    .expect("request");
                let response = router.clone().oneshot(request).await.expect("response");
                let status = response.status();
                let headers = response.headers().clone();
                let bytes = response
                    .into_body()
                    .collect()
                    .await
                    .expect("body")
                    .to_bytes();
                Reply {
                    status,
                    headers,
                    body: String::from_utf8_lossy(&bytes).into_owned(),
                }
            }
            Transport::Socket { base, client } => {
                let method =
                    reqwest::Method::from_bytes(method.as_str().as_bytes()).expect("method");
                let mut request = client.request(method, format!("{base}{path}"));
                for (k, v) in &headers {
                    request = request.header(*k, v);
                }
                if let Some(body) = body {
                    request = request
                        .header(
                            header::CONTENT_TYPE.as_str(),
                            "application/x-www-form-urlencoded",
                        )
                        .body(body);
                }
                let response = request.send().await.expect("HTTP request over the socket");
                let status = StatusCode::from_u16(response.status().as_u16()).expect("status");
                let mut headers = HeaderMap::new();
                for (k, v) in response.headers() {
                    headers.append(
                        header::HeaderName::from_bytes(k.as_str().as_bytes()).expect("name"),
                        header::HeaderValue::from_bytes(v.as_bytes()).expect("value"),
                    );
                }
                let body = response.text().await.expect("body");
                Reply {
                    status,
                    headers,
                    body,
                }
            }
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None, false).await
    }

    /// A POST with the session's CSRF header.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Reply {
        self.send(Method::POST, path, Some(form), true).await
    }

    /// Logs in through the JSON API and keeps cookie and CSRF token.
    pub async fn login(&mut self, password: &str) -> Reply {
        let reply = self
            .send(
                Method::POST,
                "/admin/login",
                Some(&[("login", "admin"), ("password", password)]),
                false,
            )
            .await;
        if reply.status == StatusCode::OK {
            let set = reply.headers[header::SET_COOKIE].to_str().expect("cookie");
            self.cookie = Some(set.split(';').next().expect("pair").to_string());
            self.csrf = Some(
                reply.value()["csrf"]
                    .as_str()
                    .expect("csrf token")
                    .to_string(),
            );
        }
        reply
    }

    /// `validate/check` with user and pass: the verdict.
    pub async fn check(&self, user: &str, pass: &str) -> bool {
        let reply = self
            .send(
                Method::POST,
                "/validate/check",
                Some(&[("user", user), ("pass", pass)]),
                false,
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.value().as_bool().expect("boolean value")
    }
}

/// What an authenticator app takes from an `otpauth://` URI.
pub struct OtpAuth {
    pub kind: String,
    pub label: String,
    pub seed: Vec<u8>,
    pub algorithm: Algorithm,
    pub digits: u8,
    pub period: u64,
}

impl OtpAuth {
    pub fn parse(uri: &str) -> OtpAuth {
        let url = url::Url::parse(uri).expect("otpauth URI");
        assert_eq!(url.scheme(), "otpauth");
        let kind = url.host_str().expect("type").to_string();
        let label = url.path().trim_start_matches('/').to_string();
        let query: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
        let seed = data_encoding::BASE32_NOPAD
            .decode(query["secret"].as_bytes())
            .expect("base32 secret");
        OtpAuth {
            kind,
            label,
            seed,
            algorithm: Algorithm::parse(&query["algorithm"]).expect("algorithm"),
            digits: query["digits"].parse().expect("digits"),
            period: query
                .get("period")
                .map_or(30, |p| p.parse().expect("period")),
        }
    }

    pub fn hotp(&self, counter: u64) -> String {
        hotp::hotp(self.algorithm, &self.seed, counter, self.digits)
    }

    pub fn totp(&self, now: u64) -> String {
        hotp::totp(self.algorithm, &self.seed, now, self.period, self.digits)
    }
}
