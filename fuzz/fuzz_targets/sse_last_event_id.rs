//! The `Last-Event-ID` header of a reconnecting SSE client: a cursor or a refusal, never a
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = venuebox::fuzzing::sse_last_event_id(bytes);
});
