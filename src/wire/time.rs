//! Time on the wire: ISO 8601 (RFC 3339, milliseconds, UTC) out, ISO 8601 or epoch
//! milliseconds in, as every contract's clients send and read it.

use std::time::{Duration, UNIX_EPOCH};

use serde_json::Value;

use crate::domain::Millis;

/// The last instant RFC 3339 can write (9999-12-31T23:59:59.999Z).
const LATEST_WRITABLE_MS: Millis = 253_402_300_799_999;

/// ISO 8601 (RFC 3339, milliseconds, UTC) for a domain timestamp. A time past the year 9999
/// (a client's, say) is written as the last one RFC 3339 has rather than not at all.
pub fn iso(ms: Millis) -> String {
    let ms = ms.min(LATEST_WRITABLE_MS);
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

pub fn iso_now() -> String {
    iso(crate::clock::wall_clock_ms())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_past_the_year_9999_are_written_not_a_panic() {
        assert_eq!(iso(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso(u64::MAX), "9999-12-31T23:59:59.999Z");
        assert_eq!(iso(253_402_300_800_000), "9999-12-31T23:59:59.999Z");
    }
}
