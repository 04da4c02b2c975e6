//! A REST request body for any route of the box (the first byte picks which): decoded as the
//! route's extractor does and checked as far as the route checks it, taken or refused with a
//! contract error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = venuebox::fuzzing::rest_body(bytes);
});
