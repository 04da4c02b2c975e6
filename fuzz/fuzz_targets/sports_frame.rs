//! A sports-day socket's text frame, on an event's socket and a team's: a request or a
//! refusal, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = venuebox::fuzzing::sports_frame(text);
    }
});
