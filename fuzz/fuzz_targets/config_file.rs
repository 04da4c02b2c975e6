//! `/etc/venuebox/venuebox.toml` edited by hand: any text is a config or an error naming the key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use venuebox::config::Config;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = Config::from_toml(text);
    }
});
