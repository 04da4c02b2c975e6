//! The GM contract's HTTP API: state reads for scoreboards, sessions for staff, scans from
//! player scanners (one, or an offline batch), the token catalogue and video control.
//!
//! Paths are the ones existing venue scanners and consoles already call (`/api/scan`,
//! `/api/scan/batch`, `/api/state`, `/api/session`, `/api/tokens`, `/api/video/control`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::domain::{
    DeviceKind, GmCommand, GmOutcome, ResetSource, ScanRequest, SessionControl, TransactionStatus,
    VideoControl,
};
use super::json;
use crate::auth::{Claims, Role};
use crate::domain::Millis;
use crate::wire::errors::{unexpected, ErrorCode, WireError};
use crate::wire::extract::{Admin, Body, IsStaff, Scanner};
use crate::wire::ratelimit::PerClient;
use crate::wire::{run, AppContext};

/// Most scans one `/api/scan/batch` call may carry.
pub const MAX_BATCH_SCANS: usize = 100;

type Ctx = State<Arc<AppContext>>;

/// Scans one token may send per second over HTTP, and at once: a whole offline batch.
pub const SCANS_PER_SECOND: u32 = 10;
pub const SCAN_BURST: u32 = 100;

/// HTTP scans per token (its role and subject), shared by the scan routes.
#[derive(Debug)]
pub struct ScanLimits(PerClient);

impl Default for ScanLimits {
    fn default() -> Self {
        Self(PerClient::new(
            SCAN_BURST,
            std::time::Duration::from_secs(u64::from(SCAN_BURST / SCANS_PER_SECOND)),
        ))
    }
}

impl ScanLimits {
    /// Counts `count` scans against the caller's token.
    fn take(&self, caller: &crate::auth::Claims, count: usize) -> Result<(), WireError> {
        if self
            .0
            .take(&format!("{}:{}", caller.role, caller.sub), count)
        {
            Ok(())
        } else {
            Err(WireError::new(
                ErrorCode::RateLimited,
                format!(
                    "this token scans at most {SCANS_PER_SECOND} times a second \
                     ({SCAN_BURST} at once); send again in a moment"
                ),
            ))
        }
    }
}

pub fn router() -> Router<Arc<AppContext>> {
    Router::new()
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
        .route("/api/session/reset", post(reset))
        .route("/api/state/status", get(status))
        .layer(Extension(Arc::new(ScanLimits::default())))
}

/// A session reset from the console: what the reset button does.
async fn reset(State(ctx): Ctx, _admin: Admin) -> Result<Json<Value>, WireError> {
    let outcome = super::session_reset::reset_session(
        &ctx.engine,
        &ctx.hardware_control,
        ResetSource::AdminApi,
    )
    .await?;
    session_reply(GmOutcome::try_from(outcome).map_err(unexpected)?)
}

/// What the venue's GM scanner probes before it connects: the box is up, which session runs,
/// how stations identify here. Anyone may ask (it is what a connection wizard shows).
async fn status(State(ctx): Ctx) -> Json<Value> {
    let published = ctx.engine.published();
    let session = published.views.gm.session.as_ref();
    Json(json!({
        "status": "online",
        "version": env!("CARGO_PKG_VERSION"),
        "sessionId": session.map(|s| s.id.clone()),
        "sessionStatus": session.map(|s| json::session_status(s.status)),
        "stationAuth": ctx.config.gm.station_auth.as_str(),
        "storageOk": published.storage_fault.is_none(),
        "videoDisplayReady": ctx.hardware.borrow().video_ready,
        "serverTime": json::iso_now(),
    }))
}

/// The game state. Anyone in the room may read it (scoreboards do), but the devices' network
/// addresses are for staff: a guest would learn where to aim at the stations.
async fn state(State(ctx): Ctx, IsStaff(staff): IsStaff) -> Json<Value> {
    let mut state = json::game_state_now(&ctx);
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
    Json(json::sessions(&ctx.engine.published().views.gm))
}

async fn current_session(State(ctx): Ctx) -> Result<Json<Value>, WireError> {
    let published = ctx.engine.published();
    let session = published
        .views
        .gm
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

pub(crate) fn session_reply(outcome: GmOutcome) -> Result<Json<Value>, WireError> {
    match outcome {
        GmOutcome::Session(session) => Ok(Json(
            serde_json::to_value(json::session(&session)).unwrap_or(Value::Null),
        )),
        other => Err(unexpected(other)),
    }
}

async fn create_session(
    State(ctx): Ctx,
    _admin: Admin,
    Body(body): Body<CreateSessionBody>,
) -> Result<(StatusCode, Json<Value>), WireError> {
    let outcome = run(
        &ctx.engine,
        GmCommand::CreateSession {
            session_id: uuid::Uuid::new_v4().to_string(),
            name: body.name,
            teams: body.teams,
        },
    )
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
    session_reply(run(&ctx.engine, GmCommand::ControlSession(control)).await?)
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
    fn into_command(self, caller: &Claims) -> Result<GmCommand, WireError> {
        let scanned_at = json::scan_time(self.timestamp.as_ref())?;
        Ok(GmCommand::Scan(ScanRequest {
            token_id: self.token_id,
            team_id: self.team_id,
            device_id: scanning_device(caller, self.device_id)?,
            device_kind: DeviceKind::Player,
            scanned_at,
            client_scan_id: self.scan_id,
        }))
    }
}

fn scan_result(outcome: GmOutcome, ctx: &AppContext) -> Result<(StatusCode, Value), WireError> {
    let GmOutcome::Transaction {
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
        "status": json::transaction(&transaction, &super::catalog(&ctx.engine)).status,
        "message": transaction.rejection_reason.clone().unwrap_or_else(|| "scan recorded".into()),
        "tokenId": transaction.token_id,
        "transactionId": transaction.id,
        "videoQueued": transaction.video_queued,
        "replayed": replayed,
        "transaction": json::transaction(&transaction, &super::catalog(&ctx.engine)),
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
    Extension(limits): Extension<Arc<ScanLimits>>,
    Scanner(caller): Scanner,
    Body(body): Body<ScanBody>,
) -> Result<(StatusCode, Json<Value>), WireError> {
    limits.take(&caller, 1)?;
    let command = body.into_command(&caller)?;
    let (status, body) = scan_result(run(&ctx.engine, command).await?, &ctx)?;
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
    Extension(limits): Extension<Arc<ScanLimits>>,
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
    limits.take(&caller, body.transactions.len())?;
    let mut parsed: Vec<(usize, Result<GmCommand, WireError>)> = body
        .transactions
        .into_iter()
        .enumerate()
        .map(|(i, raw)| {
            let command = serde_json::from_value::<ScanBody>(raw)
                .map_err(|e| WireError::new(ErrorCode::InvalidData, e.to_string()))
                .and_then(|scan| scan.into_command(&caller));
            (i, command)
        })
        .collect();
    parsed.sort_by_key(|(i, command)| match command {
        // A scan without a time of its own was taken in now: after every timed one.
        Ok(GmCommand::Scan(scan)) => (scan.scanned_at.unwrap_or(Millis::MAX), *i),
        _ => (0, *i),
    });
    let mut results = vec![Value::Null; parsed.len()];
    for (index, command) in parsed {
        let result = match command {
            Ok(command) => match run(&ctx.engine, command).await {
                Ok(outcome) => scan_result(outcome, &ctx).map(|(_, body)| body),
                Err(e) => Err(e),
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
    let catalog = &super::catalog(&ctx.engine);
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
        ("play" | "queue", Some(token_id)) => GmCommand::QueueVideo { token_id },
        ("queue", None) => {
            return Err(WireError::new(
                ErrorCode::InvalidData,
                "queue needs a tokenId",
            ))
        }
        ("play" | "resume", None) => GmCommand::ControlVideo(VideoControl::Resume),
        ("pause", _) => GmCommand::ControlVideo(VideoControl::Pause),
        ("skip", _) => GmCommand::ControlVideo(VideoControl::Skip),
        ("stop", _) => GmCommand::ControlVideo(VideoControl::Stop),
        (other, _) => {
            return Err(WireError::new(
                ErrorCode::InvalidData,
                format!("action {other:?} is not one of play, queue, pause, resume, skip, stop"),
            ))
        }
    };
    match run(&ctx.engine, command).await? {
        GmOutcome::Video(view) => Ok(json!({
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

/// Decodes `bytes` as the `which`-th body (modulo their number) this module's routes take, as
/// their extractor does, then through what the route checks before it asks the engine (the
/// fuzz target `rest_body`). Whether the body was taken.
pub(crate) fn decode_any_body(which: u8, bytes: &[u8]) -> bool {
    use crate::wire::extract::decode_body;
    match which % 5 {
        0 => decode_body::<BatchBody>(bytes).is_ok(),
        1 => decode_body::<CreateSessionBody>(bytes).is_ok(),
        2 => decode_body::<ScanBody>(bytes).is_ok_and(|scan| {
            let station = Claims::unexpiring(crate::auth::Role::Gm, "GM_FUZZ");
            scan.into_command(&station).is_ok()
        }),
        3 => decode_body::<UpdateSessionBody>(bytes).is_ok(),
        _ => decode_body::<VideoBody>(bytes).is_ok(),
    }
}
