//! A `/realtime` viewer's text frame and the channels it names: a command or a refusal, never a
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = venuebox::fuzzing::realtime_frame(text);
    }
});
