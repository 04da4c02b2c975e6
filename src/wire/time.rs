//! Time on the wire: ISO 8601 (RFC 3339, milliseconds, UTC) out, ISO 8601 or epoch
//! milliseconds in, as every contract's clients send and read it.

use std::time::{Duration, UNIX_EPOCH};

use serde_json::Value;

use crate::domain::Millis;

/// ISO 8601 (RFC 3339, milliseconds, UTC) for a domain timestamp.
pub fn iso(ms: Millis) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

pub fn iso_now() -> String {
    humantime::format_rfc3339_millis(crate::clock::wall_clock()).to_string()
}

/// Parses a client's ISO 8601 timestamp or epoch milliseconds.
pub fn parse_time(value: &Value) -> Option<Millis> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => humantime::parse_rfc3339_weak(s.trim())
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .and_then(|d| u64::try_from(d.as_millis()).ok()),
        _ => None,
    }
}
