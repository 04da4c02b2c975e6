//! A GM station's `transaction:submit` data, bare or in the seed's envelope: decoded as the
//! Socket.IO adapter does and decided by a game, it is taken or refused, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = venuebox::fuzzing::gm_submit(bytes);
});
