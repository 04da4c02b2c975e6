//! The box's HTTP router: its own routes (health, the local CA, the staff login) and every
//! contract's and shared part's routes merged into one. Every error is JSON `{code, message,
//! details?}` with a 4xx/5xx status; bodies over 64 KiB are refused with 413.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::errors::{ErrorCode, WireError};
use super::extract::{Body, ClientAddr, MAX_BODY_BYTES};
use super::AppContext;
use crate::domain::StaffStep;

type Ctx = State<Arc<AppContext>>;

/// The box's routes with `contract_routes` (every contract's, from `contracts::routes`).
pub fn router(ctx: Arc<AppContext>, contract_routes: Router<Arc<AppContext>>) -> Router {
    Router::new()
        .route("/healthz", get(health))
        // The name the venue's GM scanner probes.
        .route("/health", get(health))
        .route("/ca.crt", get(ca_certificate))
        .route("/api/admin/auth", post(admin_login))
        .merge(contract_routes)
        .merge(super::audit::router())
        .merge(super::clock::router())
        .merge(super::hardware::router())
        .merge(super::console::router())
        .merge(super::pages::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            ctx.clone(),
            super::audit::staff_scope,
        ))
        .layer(axum::middleware::from_fn_with_state(
            ctx.clone(),
            super::cors::cors,
        ))
        .with_state(ctx)
}

/// The box's local CA (generated with TLS on), for devices to install and trust.
async fn ca_certificate(State(ctx): Ctx) -> Result<impl IntoResponse, WireError> {
    let path = ctx.config.data_dir.join("tls").join("ca.crt");
    match tokio::fs::read(&path).await {
        Ok(pem) => Ok((
            [(axum::http::header::CONTENT_TYPE, "application/x-pem-file")],
            pem,
        )),
        Err(_) => Err(WireError::new(
            ErrorCode::NotFound,
            "this box has no generated certificate (TLS is off or uses a provided one)",
        )),
    }
}

async fn not_found() -> WireError {
    WireError::new(ErrorCode::NotFound, "no such endpoint")
}

/// A known path with the wrong method: still a JSON error a client can read, not axum's
/// empty 405.
async fn method_not_allowed(method: axum::http::Method) -> WireError {
    WireError::new(
        ErrorCode::InvalidData,
        format!("this endpoint does not take {method}"),
    )
    .with_http_status(StatusCode::METHOD_NOT_ALLOWED)
}

async fn health(State(ctx): Ctx) -> Response {
    let published = ctx.engine.published();
    let body = json!({
        "status": if published.storage_fault.is_none() { "ok" } else { "fault" },
        "storage": published.storage_fault.as_deref().unwrap_or("ok"),
        "lastEventSeq": published.seq,
        "version": env!("CARGO_PKG_VERSION"),
    });
    let status = if published.storage_fault.is_none() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

#[derive(Deserialize)]
struct LoginBody {
    password: String,
}

async fn admin_login(
    State(ctx): Ctx,
    ClientAddr(client): ClientAddr,
    Body(body): Body<LoginBody>,
) -> Result<Json<Value>, WireError> {
    ctx.logins.attempt(client)?;
    let token = ctx.staff_token(client, body.password).await?;
    // The login goes in the staff's trail, under the login it made (and is let in while the
    // card fails: staff must see the fault).
    let actor = ctx
        .secrets
        .verify(&token)
        .ok()
        .and_then(|claims| super::audit::staff_actor(&claims, Some(client)));
    crate::engine::acting_as_if(
        actor,
        super::audit::log_staff_step(&ctx, StaffStep::LoggedIn),
    )
    .await;
    let ttl = ctx.config.admin_token_ttl;
    Ok(Json(json!({ "token": token, "expiresIn": ttl.as_secs() })))
}

/// Decodes `bytes` as the `which`-th body (modulo their number) this module's routes take, as
/// their extractor does, then through what the route checks before it asks the engine (the
/// fuzz target `rest_body`). Whether the body was taken.
pub(crate) fn decode_any_body(_which: u8, bytes: &[u8]) -> bool {
    super::extract::decode_body::<LoginBody>(bytes).is_ok()
}
