//! The admin API of the box's hardware: what the LEDs show and the (simulated) reset button.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::errors::{ErrorCode, WireError};
use super::extract::{Admin, Body};
use super::AppContext;
use crate::hardware::Led;

type Ctx = State<Arc<AppContext>>;

/// The longest simulated press: enough for any hold time the config allows.
const MAX_PRESS_MS: u64 = 60_000;

pub fn router() -> Router<Arc<AppContext>> {
    Router::new()
        .route("/api/hardware", get(hardware))
        .route("/api/hardware/button", post(press_button))
}

async fn hardware(State(ctx): Ctx, _admin: Admin) -> Json<Value> {
    let status = ctx.hardware.borrow().clone();
    let lit: serde_json::Map<String, Value> = Led::ALL
        .iter()
        .zip(status.lit)
        .map(|(led, on)| (led.as_str().to_string(), Value::Bool(on)))
        .collect();
    Json(json!({
        "backend": ctx.config.hardware.as_str(),
        "pattern": status.leds.as_str(),
        "leds": lit,
        "button": {
            "held": status.button_held,
            "simulated": ctx.hardware_control.is_simulated(),
            "holdSecs": ctx.config.button.hold.as_secs_f64(),
        },
        "video": {
            "player": ctx.config.video.player.as_str(),
            "ready": status.video_ready,
        },
        "memory": crate::memory::now(),
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
struct PressBody {
    press_ms: u64,
}

async fn press_button(
    State(ctx): Ctx,
    _admin: Admin,
    Body(body): Body<PressBody>,
) -> Result<Json<Value>, WireError> {
    if body.press_ms == 0 || body.press_ms > MAX_PRESS_MS {
        return Err(WireError::new(
            ErrorCode::InvalidData,
            format!("press_ms must be 1..={MAX_PRESS_MS}"),
        ));
    }
    if !ctx
        .hardware_control
        .press_button(Duration::from_millis(body.press_ms))
    {
        return Err(WireError::new(
            ErrorCode::Conflict,
            "this box has a real reset button; use POST /api/session/reset to reset remotely",
        ));
    }
    Ok(Json(json!({ "success": true, "pressMs": body.press_ms })))
}

/// Decodes `bytes` as the `which`-th body (modulo their number) this module's routes take, as
/// their extractor does, then through what the route checks before it asks the engine (the
/// fuzz target `rest_body`). Whether the body was taken.
pub(crate) fn decode_any_body(_which: u8, bytes: &[u8]) -> bool {
    super::extract::decode_body::<PressBody>(bytes).is_ok()
}
