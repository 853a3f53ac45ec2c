//! `validate/check` and `validate/simplecheck` as axum routes (GET with a
//! query string, POST with a form), for the HTTPS service to mount.
//!
//! A request the routes cannot read (a missing `user` or `pass`) is
//! answered `status: false, value: false`, as LinOTP answers a request it
//! could not handle; everything else goes to [`Service::check`].

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query, State};
use axum::routing::get;
use axum::{Json, Router};

use crate::api::{CheckRequest, Envelope};
use crate::audit::AuditSink;
use crate::service::Service;
use crate::store::TokenStore;

fn now() -> u64 {
    // A clock before 1970 is treated as 1970: TOTP values then fail.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

async fn answer<S: TokenStore, A: AuditSink>(
    service: &Service<S, A>,
    request: Option<CheckRequest>,
) -> Envelope {
    match request {
        Some(request) => service.check(&request, now()).await,
        None => Envelope::unreadable(),
    }
}

async fn check_get<S: TokenStore, A: AuditSink>(
    State(service): State<Arc<Service<S, A>>>,
    query: Result<Query<CheckRequest>, QueryRejection>,
) -> Json<Envelope> {
    Json(answer(&service, query.ok().map(|q| q.0)).await)
}

async fn check_post<S: TokenStore, A: AuditSink>(
    State(service): State<Arc<Service<S, A>>>,
    form: Result<Form<CheckRequest>, FormRejection>,
) -> Json<Envelope> {
    Json(answer(&service, form.ok().map(|f| f.0)).await)
}

async fn simple_get<S: TokenStore, A: AuditSink>(
    State(service): State<Arc<Service<S, A>>>,
    query: Result<Query<CheckRequest>, QueryRejection>,
) -> &'static str {
    answer(&service, query.ok().map(|q| q.0)).await.simple()
}

async fn simple_post<S: TokenStore, A: AuditSink>(
    State(service): State<Arc<Service<S, A>>>,
    form: Result<Form<CheckRequest>, FormRejection>,
) -> &'static str {
    answer(&service, form.ok().map(|f| f.0)).await.simple()
}

/// The routes, on top of a shared service.
pub fn router<S, A>(service: Arc<Service<S, A>>) -> Router
where
    S: TokenStore + 'static,
    A: AuditSink + 'static,
{
    Router::new()
        .route(
            "/validate/check",
            get(check_get::<S, A>).post(check_post::<S, A>),
        )
        .route(
            "/validate/simplecheck",
            get(simple_get::<S, A>).post(simple_post::<S, A>),
        )
        .with_state(service)
}
