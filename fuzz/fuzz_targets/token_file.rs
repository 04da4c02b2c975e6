//! A venue's token file as a technician might hand it over: any text is refused with a reason
//! or loaded, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use venuebox::gm::tokens::{ScoringRules, TokenCatalog};

fuzz_target!(|bytes: &[u8]| {
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = TokenCatalog::from_venue_json(text, &ScoringRules::default());
    }
});
