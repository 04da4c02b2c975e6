//! A log record read back from a damaged SD card: decoding must answer an error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = venuebox::store::decode(1, bytes);
});
