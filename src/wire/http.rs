//! The HTTP API: admin controls, player scanners, state reads and health.
//!
//! Paths are the ones existing venue scanners and consoles already call (`/api/scan`,
//! `/api/scan/batch`, `/api/state`, `/api/session`, `/api/tokens`, `/api/video/control`,
//! `/api/admin/auth`). Every error is JSON `{code, message, details?}` with a 4xx/5xx status;
//! bodies over 64 KiB are refused with 413.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::errors::{ErrorCode, WireError};
use super::json;
use super::AppContext;
use crate::auth::{Claims, Role};
use crate::domain::{
    Command, DeviceKind, Millis, Outcome, ScanRequest, SessionControl, TransactionStatus,
    VideoControl,
};
use crate::engine::wall_clock_ms;

/// Largest request body the API reads.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// How long a request body (at most [`MAX_BODY_BYTES`]) may take to arrive.
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Most scans one `/api/scan/batch` call may carry.
pub const MAX_BATCH_SCANS: usize = 100;

type Ctx = State<Arc<AppContext>>;

pub fn router(ctx: Arc<AppContext>) -> Router {
    Router::new()
        .route("/healthz", get(health))
        .route("/ca.crt", get(ca_certificate))
        .route("/api/admin/auth", post(admin_login))
        .route("/api/state", get(state))
        .route(
            "/api/session",
            get(current_session)
                .post(create_session)
                .put(update_session),
        )
        .route("/api/sessions", get(sessions))
        .route("/api/scan", post(scan))
        .route("/api/scan/batch", post(scan_batch))
        .route("/api/tokens", get(tokens))
        .route("/api/video/control", post(video_control))
        .route("/realtime", get(super::realtime::upgrade))
        .merge(super::predictions::router())
        .merge(super::hardware::router())
        .merge(super::console::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
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

/// A JSON body whose rejections are contract errors rather than axum's plain text.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = WireError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // A body trickled a byte at a time would hold its connection (and a slot under the
        // connection caps) for as long as the client likes: it has this long to arrive.
        match tokio::time::timeout(BODY_TIMEOUT, Json::<T>::from_request(req, state)).await {
            Ok(Ok(Json(value))) => Ok(Body(value)),
            Ok(Err(rejection)) => Err(body_error(rejection)),
            Err(_) => Err(WireError::new(
                ErrorCode::InvalidData,
                format!(
                    "the request body did not arrive within {} s",
                    BODY_TIMEOUT.as_secs()
                ),
            )
            .with_http_status(StatusCode::REQUEST_TIMEOUT)),
        }
    }
}

fn body_error(rejection: JsonRejection) -> WireError {
    let too_large = rejection.status() == StatusCode::PAYLOAD_TOO_LARGE;
    let message = if too_large {
        format!("request body is larger than {MAX_BODY_BYTES} bytes")
    } else {
        rejection.body_text()
    };
    let mut error = WireError::new(ErrorCode::InvalidData, message);
    if too_large {
        error = error
            .with_details(json!({ "limitBytes": MAX_BODY_BYTES }))
            .with_http_status(StatusCode::PAYLOAD_TOO_LARGE);
    }
    error
}

/// The address the request came from (both ports record it for every connection).
pub struct ClientAddr(pub std::net::IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip());
        // A router served without connection info (none in the box) counts as one client.
        Ok(ClientAddr(peer.unwrap_or(std::net::IpAddr::V4(
            std::net::Ipv4Addr::UNSPECIFIED,
        ))))
    }
}

/// The caller's verified token, from `Authorization: Bearer …`.
pub struct Caller(pub Claims);

impl FromRequestParts<Arc<AppContext>> for Caller {
    type Rejection = WireError;

    async fn from_request_parts(
        parts: &mut Parts,
        ctx: &Arc<AppContext>,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                WireError::new(
                    ErrorCode::AuthRequired,
                    "send Authorization: Bearer <token>",
                )
            })?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| {
                WireError::new(
                    ErrorCode::AuthRequired,
                    "send Authorization: Bearer <token>",
                )
            })?;
        Ok(Caller(ctx.secrets.verify(token)?))
    }
}

/// A caller that may scan ([`Claims::require_scanner`]).
pub struct Scanner(pub Claims);

impl FromRequestParts<Arc<AppContext>> for Scanner {
    type Rejection = WireError;

    async fn from_request_parts(
        parts: &mut Parts,
        ctx: &Arc<AppContext>,
    ) -> Result<Self, Self::Rejection> {
        let Caller(claims) = Caller::from_request_parts(parts, ctx).await?;
        claims.require_scanner()?;
        Ok(Scanner(claims))
    }
}

/// Whether the request carries a valid staff token; for reads whose answer depends on who
/// asks, rather than being refused.
pub struct IsStaff(pub bool);

impl FromRequestParts<Arc<AppContext>> for IsStaff {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        ctx: &Arc<AppContext>,
    ) -> Result<Self, Self::Rejection> {
        let staff = Caller::from_request_parts(parts, ctx)
            .await
            .is_ok_and(|Caller(claims)| claims.role == Role::Admin);
        Ok(IsStaff(staff))
    }
}

/// A caller holding the admin role.
pub struct Admin(pub Claims);

impl FromRequestParts<Arc<AppContext>> for Admin {
    type Rejection = WireError;

    async fn from_request_parts(
        parts: &mut Parts,
        ctx: &Arc<AppContext>,
    ) -> Result<Self, Self::Rejection> {
        let Caller(claims) = Caller::from_request_parts(parts, ctx).await?;
        claims.require_admin()?;
        Ok(Admin(claims))
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
    let ttl = ctx.config.admin_token_ttl;
    Ok(Json(json!({ "token": token, "expiresIn": ttl.as_secs() })))
}

/// The game state. Anyone in the room may read it (scoreboards do), but the devices' network
/// addresses are for staff: a guest would learn where to aim at the stations.
async fn state(State(ctx): Ctx, IsStaff(staff): IsStaff) -> Json<Value> {
    let mut state = ctx.game_state();
    if !staff {
        if let Some(devices) = state.get_mut("devices").and_then(Value::as_array_mut) {
            for device in devices {
                if let Some(device) = device.as_object_mut() {
                    device.remove("ipAddress");
                }
            }
        }
    }
    Json(state)
}

async fn sessions(State(ctx): Ctx, _admin: Admin) -> Json<Value> {
    Json(json::sessions(&ctx.engine.published().view))
}

async fn current_session(State(ctx): Ctx) -> Result<Json<Value>, WireError> {
    let published = ctx.engine.published();
    let session = published
        .view
        .session
        .as_ref()
        .ok_or_else(|| WireError::new(ErrorCode::SessionNotFound, "no active session"))?;
    Ok(Json(
        serde_json::to_value(json::session(session)).unwrap_or(Value::Null),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateSessionBody {
    name: String,
    #[serde(default)]
    teams: Option<Vec<String>>,
}

pub(crate) fn session_reply(outcome: Outcome) -> Result<Json<Value>, WireError> {
    match outcome {
        Outcome::Session(session) => Ok(Json(
            serde_json::to_value(json::session(&session)).unwrap_or(Value::Null),
        )),
        other => Err(unexpected(other)),
    }
}

fn unexpected(outcome: Outcome) -> WireError {
    WireError::new(
        ErrorCode::ServerError,
        format!("unexpected engine answer {outcome:?}"),
    )
}

async fn create_session(
    State(ctx): Ctx,
    _admin: Admin,
    Body(body): Body<CreateSessionBody>,
) -> Result<(StatusCode, Json<Value>), WireError> {
    let outcome = ctx
        .engine
        .execute(Command::CreateSession {
            session_id: uuid::Uuid::new_v4().to_string(),
            name: body.name,
            teams: body.teams,
        })
        .await?;
    Ok((StatusCode::CREATED, session_reply(outcome)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateSessionBody {
    status: String,
}

async fn update_session(
    State(ctx): Ctx,
    _admin: Admin,
    Body(body): Body<UpdateSessionBody>,
) -> Result<Json<Value>, WireError> {
    let control = match body.status.as_str() {
        "paused" => SessionControl::Pause,
        "active" => SessionControl::Resume,
        "ended" | "archived" | "completed" => SessionControl::End,
        other => {
            return Err(WireError::new(
                ErrorCode::InvalidData,
                format!("status {other:?} is not one of paused, active, ended"),
            ))
        }
    };
    session_reply(ctx.engine.execute(Command::ControlSession(control)).await?)
}

/// One scan as scanners post it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScanBody {
    token_id: String,
    #[serde(default)]
    device_id: Option<String>,
    #[serde(default)]
    team_id: Option<String>,
    /// ISO 8601 or epoch milliseconds; the scanner's clock for offline-queued scans.
    #[serde(default)]
    timestamp: Option<Value>,
    /// The scanner's own id for this scan; resending it returns the first answer.
    #[serde(default)]
    scan_id: Option<String>,
}

/// The device a scan is recorded for: a scanner's or station's own token names it (its `sub`),
/// so no token can fill another device's slot or answer for its scan ids; staff may name any.
fn scanning_device(caller: &Claims, named: Option<String>) -> Result<String, WireError> {
    match named {
        Some(named) if caller.role == Role::Admin => Ok(named),
        Some(named) if named != caller.sub => Err(WireError::new(
            ErrorCode::Forbidden,
            format!(
                "this token scans as device {}; it cannot scan for another device",
                caller.sub
            ),
        )),
        _ => Ok(caller.sub.clone()),
    }
}

impl ScanBody {
    fn into_command(self, caller: &Claims, now: Millis) -> Result<Command, WireError> {
        let scanned_at = json::scan_time(self.timestamp.as_ref(), now)?;
        Ok(Command::Scan(ScanRequest {
            token_id: self.token_id,
            team_id: self.team_id,
            device_id: scanning_device(caller, self.device_id)?,
            device_kind: DeviceKind::Player,
            scanned_at,
            client_scan_id: self.scan_id,
        }))
    }
}

fn scan_result(outcome: Outcome, ctx: &AppContext) -> Result<(StatusCode, Value), WireError> {
    let Outcome::Transaction {
        transaction,
        replayed,
    } = outcome
    else {
        return Err(unexpected(outcome));
    };
    let busy = transaction.status == TransactionStatus::Rejected
        && transaction
            .rejection_reason
            .as_deref()
            .is_some_and(|r| r.contains("try again later"));
    let mut body = json!({
        "status": json::transaction(&transaction, ctx.engine.catalog()).status,
        "message": transaction.rejection_reason.clone().unwrap_or_else(|| "scan recorded".into()),
        "tokenId": transaction.token_id,
        "transactionId": transaction.id,
        "videoQueued": transaction.video_queued,
        "replayed": replayed,
        "transaction": json::transaction(&transaction, ctx.engine.catalog()),
    });
    // Existing scanners expect 409 when a video is already playing; the scan result stays (the
    // scan was recorded), with the `code` every other refusal carries.
    let status = if busy {
        body["code"] = json!(ErrorCode::Conflict.as_str());
        StatusCode::CONFLICT
    } else {
        StatusCode::OK
    };
    Ok((status, body))
}

async fn scan(
    State(ctx): Ctx,
    Scanner(caller): Scanner,
    Body(body): Body<ScanBody>,
) -> Result<(StatusCode, Json<Value>), WireError> {
    ctx.take_scans(&caller, 1)?;
    let command = body.into_command(&caller, wall_clock_ms())?;
    let (status, body) = scan_result(ctx.engine.execute(command).await?, &ctx)?;
    Ok((status, Json(body)))
}

#[derive(Deserialize)]
struct BatchBody {
    transactions: Vec<Value>,
}

/// Up to 100 offline-queued scans, applied in chronological order. Each scan gets its own
/// result; one bad scan does not stop the others.
async fn scan_batch(
    State(ctx): Ctx,
    Scanner(caller): Scanner,
    Body(body): Body<BatchBody>,
) -> Result<Json<Value>, WireError> {
    if body.transactions.len() > MAX_BATCH_SCANS {
        return Err(WireError::new(
            ErrorCode::InvalidData,
            format!("a batch holds at most {MAX_BATCH_SCANS} scans"),
        )
        .with_details(json!({ "received": body.transactions.len() })));
    }
    // Whole or not at all: a refused batch stays in the scanner's queue for its next try.
    ctx.take_scans(&caller, body.transactions.len())?;
    let now = wall_clock_ms();
    let mut parsed: Vec<(usize, Result<Command, WireError>)> = body
        .transactions
        .into_iter()
        .enumerate()
        .map(|(i, raw)| {
            let command = serde_json::from_value::<ScanBody>(raw)
                .map_err(|e| WireError::new(ErrorCode::InvalidData, e.to_string()))
                .and_then(|scan| scan.into_command(&caller, now));
            (i, command)
        })
        .collect();
    parsed.sort_by_key(|(i, command)| match command {
        Ok(Command::Scan(scan)) => (scan.scanned_at, *i),
        _ => (0, *i),
    });
    let mut results = vec![Value::Null; parsed.len()];
    for (index, command) in parsed {
        let result = match command {
            Ok(command) => match ctx.engine.execute(command).await {
                Ok(outcome) => scan_result(outcome, &ctx).map(|(_, body)| body),
                Err(e) => Err(e.into()),
            },
            Err(e) => Err(e),
        };
        results[index] = match result {
            Ok(body) => body,
            Err(error) => json!({ "status": "error", "error": error.body() }),
        };
    }
    Ok(Json(json!({ "results": results })))
}

/// The token catalogue: ids, values and groups. Scanners, stations and staff only: for a guest
/// it is the answer sheet (which item is worth most, which completes a group).
async fn tokens(State(ctx): Ctx, _scanner: Scanner) -> Json<Value> {
    let catalog = ctx.engine.catalog();
    let tokens: Vec<Value> = catalog
        .tokens()
        .map(|t| {
            json!({
                "id": t.id,
                "valueRating": t.rating,
                "memoryType": t.memory_type.as_str(),
                "group": t.group,
                "value": t.value,
                "image": t.image,
                "audio": t.audio,
                "video": t.video.as_ref().map(|v| v.path.clone()),
                "videoDuration": t.video.as_ref().and_then(|v| v.duration_secs),
            })
        })
        .collect();
    let groups: Vec<Value> = catalog
        .groups()
        .map(|g| {
            json!({
                "name": g.name,
                "multiplier": g.multiplier,
                "tokenIds": g.token_ids,
                "completionBonus": g.completion_bonus(),
            })
        })
        .collect();
    Json(json!({ "count": tokens.len(), "tokens": tokens, "groups": groups }))
}

/// A video control request, from `POST /api/video/control` or an admin's `video:control`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct VideoBody {
    action: String,
    #[serde(default)]
    token_id: Option<String>,
}

async fn video_control(
    State(ctx): Ctx,
    _admin: Admin,
    Body(body): Body<VideoBody>,
) -> Result<Json<Value>, WireError> {
    control_video(&ctx, body).await.map(Json)
}

/// Runs a video control request; answers with the player's queue.
pub(crate) async fn control_video(ctx: &AppContext, body: VideoBody) -> Result<Value, WireError> {
    let command = match (body.action.as_str(), body.token_id) {
        ("play" | "queue", Some(token_id)) => Command::QueueVideo { token_id },
        ("queue", None) => {
            return Err(WireError::new(
                ErrorCode::InvalidData,
                "queue needs a tokenId",
            ))
        }
        ("play" | "resume", None) => Command::ControlVideo(VideoControl::Resume),
        ("pause", _) => Command::ControlVideo(VideoControl::Pause),
        ("skip", _) => Command::ControlVideo(VideoControl::Skip),
        ("stop", _) => Command::ControlVideo(VideoControl::Stop),
        (other, _) => {
            return Err(WireError::new(
                ErrorCode::InvalidData,
                format!("action {other:?} is not one of play, queue, pause, resume, skip, stop"),
            ))
        }
    };
    match ctx.engine.execute(command).await? {
        Outcome::Video(view) => Ok(json!({
            "success": true,
            "current": view.current.as_ref().map(|c| json!({
                "tokenId": c.token_id,
                "status": if c.paused { "paused" } else { "playing" },
            })),
            "queue": view.queue,
        })),
        other => Err(unexpected(other)),
    }
}
