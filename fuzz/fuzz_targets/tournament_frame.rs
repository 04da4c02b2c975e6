//! A `/ws/stream` (tournaments) text frame: its id, its shape and its channels are read or
//! refused, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = venuebox::fuzzing::tournament_frame(text);
    }
});
