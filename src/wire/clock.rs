//! The box's wall clock, for staff. The console sends the time of the device it runs on when
//! staff log in: a box within a minute of it counts its clock as confirmed; one further off is
//! offered to be set from it. Either step is logged (an [`Event::Staff`], in the staff's trail
//! with who took it), and every record after it says its time was confirmed.
//!
//! `GET /api/clock` shows the clock; `POST /api/clock {time, set?}` confirms it or sets it.
//!
//! [`Event::Staff`]: crate::domain::Event::Staff

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::errors::{ErrorCode, WireError};
use super::extract::{Admin, Body};
use super::time::{iso, parse_time};
use super::AppContext;
use crate::clock::{self, ClockError};
use crate::domain::{Millis, StaffStep};

type Ctx = State<Arc<AppContext>>;

/// How far a device's clock may be from the box's and still confirm it as it is: the time a
/// request takes on a crowded Wi-Fi, and a laptop that last synchronised a while ago.
pub const AGREEMENT_MS: u64 = 60_000;

/// No device that says it is earlier than this has a good clock (the box was built later).
const EARLIEST_TRUSTED_MS: Millis = 1_767_225_600_000; // 2026-01-01T00:00:00Z
/// Nor one that says it is later than this (a century on).
const LATEST_TRUSTED_MS: Millis = 4_922_899_200_000; // 2126-01-01T00:00:00Z

pub fn router() -> Router<Arc<AppContext>> {
    Router::new().route("/api/clock", get(show).post(confirm_or_set))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FromDevice {
    /// The device's time: epoch milliseconds or ISO 8601.
    time: Value,
    /// Set the box's clock to it when the two disagree by more than [`AGREEMENT_MS`].
    #[serde(default)]
    set: bool,
}

fn clock_json() -> Value {
    let now = clock::wall_clock_ms();
    json!({
        "now": iso(now),
        "nowMs": now,
        "confirmed": clock::is_confirmed(),
        "agreementMs": AGREEMENT_MS,
    })
}

/// `GET /api/clock`: the box's time and whether staff confirmed it.
async fn show(_admin: Admin) -> Json<Value> {
    Json(clock_json())
}

/// `POST /api/clock {time, set?}`: confirms the box's clock when `time` agrees with it,
/// sets it to `time` when asked, refuses otherwise.
async fn confirm_or_set(
    State(ctx): Ctx,
    _admin: Admin,
    Body(body): Body<FromDevice>,
) -> Result<Json<Value>, WireError> {
    let device = parse_time(&body.time).ok_or_else(|| {
        WireError::new(
            ErrorCode::InvalidData,
            "time is the device's time, in epoch milliseconds or ISO 8601",
        )
    })?;
    if !(EARLIEST_TRUSTED_MS..LATEST_TRUSTED_MS).contains(&device) {
        return Err(WireError::new(
            ErrorCode::InvalidData,
            format!(
                "this device's clock says {}: it is no better than the box's",
                iso(device)
            ),
        ));
    }
    let box_now = clock::wall_clock_ms();
    let offset = i64::try_from(i128::from(device) - i128::from(box_now)).unwrap_or(i64::MAX);
    let step = if offset.unsigned_abs() <= AGREEMENT_MS {
        clock::confirm();
        StaffStep::ClockConfirmed {
            device_offset_ms: offset,
        }
    } else if body.set {
        let step = clock::set(device).map_err(|e| {
            let code = match e {
                ClockError::NotPermitted(_) => ErrorCode::Forbidden,
                _ => ErrorCode::ServerError,
            };
            WireError::new(code, e.to_string())
        })?;
        tracing::warn!(from = %iso(step.from_ms), to = %iso(step.to_ms), "staff set the clock");
        StaffStep::ClockSet {
            from_ms: step.from_ms,
            to_ms: step.to_ms,
        }
    } else {
        return Err(WireError::new(
            ErrorCode::Conflict,
            format!(
                "the box's clock ({}) is {} s {} this device's; send \"set\": true to set it",
                iso(box_now),
                offset.unsigned_abs() / 1000,
                if offset > 0 { "behind" } else { "ahead of" },
            ),
        )
        .with_details(json!({ "offsetMs": offset })));
    };
    // The clock has moved (or was vouched for) whatever the card says: the answer says whether
    // the step is in the log.
    let logged = super::audit::log_staff_step(&ctx, step.clone()).await;
    let mut answer = clock_json();
    answer["logged"] = logged.into();
    answer["step"] = match step {
        StaffStep::ClockConfirmed { device_offset_ms } => {
            json!({ "kind": "confirmed", "deviceOffsetMs": device_offset_ms })
        }
        StaffStep::ClockSet { from_ms, to_ms } => {
            json!({ "kind": "set", "from": iso(from_ms), "to": iso(to_ms) })
        }
        other => return Err(super::errors::unexpected(other)),
    };
    Ok(Json(answer))
}

/// Decodes `bytes` as the `which`-th body (modulo their number) this module's routes take, as
/// their extractor does, then through what the route checks before it asks the engine (the
/// fuzz target `rest_body`). Whether the body was taken.
pub(crate) fn decode_any_body(_which: u8, bytes: &[u8]) -> bool {
    super::extract::decode_body::<FromDevice>(bytes)
        .is_ok_and(|body| parse_time(&body.time).is_some())
}
