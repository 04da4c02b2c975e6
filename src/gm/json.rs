//! The JSON shapes of the GM-station contract (seed 004) and the admin/scanner HTTP API.
//!
//! Invariant: domain types are never serialised directly onto the wire; every shape a client
//! sees is defined here, so the domain can change without breaking a station.

use serde::Serialize;
use serde_json::{json, Value};

use super::domain::{
    Device, DeviceKind, DisconnectReason, GmView, PlaybackOutcome, Session, SessionStatus,
    TeamScore, Transaction, TransactionStatus,
};
use super::tokens::TokenCatalog;
use crate::domain::Millis;
use crate::engine::Published;
use crate::hardware::HardwareStatus;
use crate::hub::VideoProgress;
use crate::wire::errors::{ErrorCode, WireError};
use crate::wire::AppContext;

pub use crate::wire::time::{iso, iso_now, parse_time};

/// When a scan happened: the client's `timestamp` (ISO 8601 or epoch ms) if it sent one;
/// `None` leaves it to the engine's clock (see `ScanRequest::seen_at`).
pub fn scan_time(raw: Option<&Value>) -> Result<Option<Millis>, WireError> {
    match raw {
        None | Some(Value::Null) => Ok(None),
        Some(raw) => parse_time(raw).map(Some).ok_or_else(|| {
            WireError::new(
                ErrorCode::InvalidData,
                "`timestamp` must be ISO 8601 or epoch milliseconds",
            )
        }),
    }
}

/// The seed's envelope for server→client events: `{event, data, timestamp}`.
pub use crate::wire::channels::envelope;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionJson {
    pub id: String,
    pub name: String,
    pub status: &'static str,
    pub start_time: String,
    pub end_time: Option<String>,
    pub teams: Option<Vec<String>>,
}

pub fn session_status(status: SessionStatus) -> &'static str {
    match status {
        SessionStatus::Active => "active",
        SessionStatus::Paused => "paused",
        SessionStatus::Archived => "archived",
    }
}

pub fn session(s: &Session) -> SessionJson {
    SessionJson {
        id: s.id.clone(),
        name: s.name.clone(),
        status: session_status(s.status),
        start_time: iso(s.started_at),
        end_time: s.ended_at.map(iso),
        teams: s.teams.clone(),
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionJson {
    pub id: String,
    pub token_id: String,
    pub team_id: Option<String>,
    pub scanner_id: String,
    pub device_type: &'static str,
    pub session_id: String,
    pub timestamp: String,
    pub recorded_at: String,
    pub status: &'static str,
    pub rejection_reason: Option<String>,
    pub points: u64,
    pub memory_type: Option<&'static str>,
    pub value_rating: Option<u8>,
    pub group: Option<String>,
    pub client_scan_id: Option<String>,
    pub video_queued: bool,
}

pub fn device_type(kind: DeviceKind) -> &'static str {
    match kind {
        DeviceKind::Gm => "gm",
        DeviceKind::Player => "player",
    }
}

pub fn transaction(t: &Transaction, catalog: &TokenCatalog) -> TransactionJson {
    let token = catalog.get(&t.token_id);
    TransactionJson {
        id: t.id.clone(),
        token_id: t.token_id.clone(),
        team_id: t.team_id.clone(),
        scanner_id: t.device_id.clone(),
        device_type: device_type(t.device_kind),
        session_id: t.session_id.clone(),
        timestamp: iso(t.scanned_at),
        recorded_at: iso(t.recorded_at),
        status: match t.status {
            TransactionStatus::Accepted => "accepted",
            TransactionStatus::Duplicate => "duplicate",
            TransactionStatus::Rejected => "rejected",
        },
        rejection_reason: t.rejection_reason.clone(),
        points: t.points,
        memory_type: token.map(|t| t.memory_type.as_str()),
        value_rating: token.map(|t| t.rating),
        group: token.and_then(|t| t.group.clone()),
        client_scan_id: t.client_scan_id.clone(),
        video_queued: t.video_queued,
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamScoreJson {
    pub team_id: String,
    pub score: u64,
    pub base_score: u64,
    pub bonus_points: u64,
    pub tokens_scanned: u64,
    pub completed_groups: Vec<String>,
}

pub fn team_score(t: &TeamScore) -> TeamScoreJson {
    TeamScoreJson {
        team_id: t.team_id.clone(),
        score: t.score(),
        base_score: t.base_score,
        bonus_points: t.bonus_points,
        tokens_scanned: t.tokens_scanned,
        completed_groups: t.completed_groups.clone(),
    }
}

/// `transaction:result`, sent to the station that submitted: the outcome in the shape the
/// venue's scanner reads (`status` accepted, duplicate or rejected; `message` for the GM).
pub fn transaction_result(t: &Transaction, catalog: &TokenCatalog) -> Value {
    let status = match t.status {
        TransactionStatus::Accepted => "accepted",
        TransactionStatus::Duplicate => "duplicate",
        TransactionStatus::Rejected => "rejected",
    };
    let message = match (&t.rejection_reason, t.video_queued) {
        (Some(reason), _) => reason.clone(),
        (None, true) => format!("{} points; its video starts", t.points),
        (None, false) => format!("{} points", t.points),
    };
    let token = catalog.get(&t.token_id);
    json!({
        "status": status,
        "transactionId": t.id,
        "tokenId": t.token_id,
        "teamId": t.team_id,
        "points": t.points,
        "message": message,
        "videoQueued": t.video_queued,
        "memoryType": token.map(|tok| tok.memory_type.as_str()),
    })
}

/// A `DeviceConnection` of the seed.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceJson {
    pub device_id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub name: Option<String>,
    pub ip_address: Option<String>,
    pub connected: bool,
    pub connection_time: String,
    pub disconnected_at: Option<String>,
    pub disconnect_reason: Option<&'static str>,
    pub last_seen: String,
}

pub fn disconnect_reason(reason: DisconnectReason) -> &'static str {
    match reason {
        DisconnectReason::Timeout => "timeout",
        DisconnectReason::Manual => "manual",
        DisconnectReason::Error => "error",
    }
}

pub fn device(d: &Device) -> DeviceJson {
    DeviceJson {
        device_id: d.id.clone(),
        kind: device_type(d.kind),
        name: d.name.clone(),
        ip_address: d.ip.clone(),
        connected: d.connected,
        connection_time: iso(d.connected_at),
        disconnected_at: d.disconnected_at.map(iso),
        disconnect_reason: d.disconnect_reason.map(disconnect_reason),
        last_seen: iso(d.last_seen),
    }
}

/// How many transactions `GameState.recentTransactions` carries (sync:full carries 100).
const STATE_RECENT: usize = 10;

/// The seed's `GameState`.
pub fn game_state(published: &Published, hardware: &HardwareStatus) -> Value {
    let view: &GmView = &published.views.gm;
    let catalog = &view.catalog;
    let skip = view.recent_transactions.len().saturating_sub(STATE_RECENT);
    let current_video = view.video.current.as_ref().map(|c| {
        json!({
            "tokenId": c.token_id,
            "status": if c.paused { "paused" } else { "playing" },
            "startedAt": iso(c.started_at),
        })
    });
    json!({
        "sessionId": view.session.as_ref().map(|s| s.id.clone()),
        "session": view.session.as_ref().map(session),
        "scores": view.scores.iter().map(team_score).collect::<Vec<_>>(),
        "recentTransactions": view.recent_transactions[skip..]
            .iter()
            .map(|t| transaction(t, catalog))
            .collect::<Vec<_>>(),
        "currentVideo": current_video,
        "videoQueue": view.video.queue,
        "devices": view.devices.iter().map(device).collect::<Vec<_>>(),
        "systemStatus": {
            "storageOk": published.storage_fault.is_none(),
            "storageError": published.storage_fault,
            "videoDisplayReady": hardware.video_ready,
            "statusLeds": hardware.leds.as_str(),
        },
        "lastEventSeq": published.seq,
    })
}

/// `GET /api/sessions`: the running session (if any), then every archived one, newest first,
/// each with its final scores: the night's results, group after group.
pub fn sessions(view: &GmView) -> Value {
    let scores = |list: &[TeamScore]| list.iter().map(team_score).collect::<Vec<_>>();
    let archived: Vec<Value> = view
        .archived_sessions
        .iter()
        .rev()
        .map(|a| {
            json!({
                "session": session(&a.session),
                "scores": scores(&a.scores),
                "transactionCount": a.transaction_count,
            })
        })
        .collect();
    json!({
        "current": view.session.as_ref().map(|s| json!({
            "session": session(s),
            "scores": scores(&view.scores),
        })),
        "archived": archived,
    })
}

/// The JSON `GameState` as of now.
pub fn game_state_now(ctx: &AppContext) -> Value {
    game_state(&ctx.engine.published(), &ctx.hardware.borrow())
}

/// The `sync:full` payload as of now.
pub fn full_sync_now(ctx: &AppContext) -> Value {
    full_sync(&ctx.engine.published(), &ctx.hardware.borrow())
}

/// The `sync:full` payload: session, state, devices and the last 100 transactions.
pub fn full_sync(published: &Published, hardware: &HardwareStatus) -> Value {
    let view = &published.views.gm;
    let catalog = &view.catalog;
    json!({
        "session": view.session.as_ref().map(session),
        "state": game_state(published, hardware),
        "devices": view.devices.iter().map(device).collect::<Vec<_>>(),
        "transactions": view
            .recent_transactions
            .iter()
            .map(|t| transaction(t, catalog))
            .collect::<Vec<_>>(),
    })
}

/// `video:status` data for a playback outcome.
pub fn video_ended(token_id: &str, outcome: &PlaybackOutcome) -> Value {
    match outcome {
        PlaybackOutcome::Completed => {
            json!({ "status": "completed", "tokenId": token_id, "progress": 100 })
        }
        PlaybackOutcome::Failed(error) => {
            json!({ "status": "error", "tokenId": token_id, "error": error })
        }
        PlaybackOutcome::Skipped | PlaybackOutcome::Stopped | PlaybackOutcome::Interrupted => {
            json!({ "status": "idle", "tokenId": token_id })
        }
    }
}

pub fn video_progress(p: &VideoProgress) -> Value {
    let progress = p
        .duration_secs
        .filter(|d| *d > 0.0)
        .map(|d| ((p.position_secs / d) * 100.0).clamp(0.0, 100.0).round());
    json!({
        "status": "playing",
        "tokenId": p.token_id,
        "progress": progress,
        "duration": p.duration_secs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip() {
        let ms = 1_700_000_000_123;
        let text = iso(ms);
        assert_eq!(text, "2023-11-14T22:13:20.123Z");
        assert_eq!(parse_time(&json!(text)), Some(ms));
        assert_eq!(parse_time(&json!(ms)), Some(ms));
        assert_eq!(parse_time(&json!("yesterday")), None);
        assert_eq!(parse_time(&json!(-5)), None);
    }

    #[test]
    fn progress_is_a_percentage() {
        let p = VideoProgress {
            token_id: "v".into(),
            position_secs: 1.5,
            duration_secs: Some(6.0),
        };
        assert_eq!(video_progress(&p)["progress"], json!(25.0));
    }
}
