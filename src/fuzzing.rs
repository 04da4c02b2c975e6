//! Entry points for the fuzz targets in `fuzz/`: each hands untrusted input to the decoder a
//! contract runs on what arrives from the room, the same function the server calls, and then
//! as far into the pure code behind it as needs no server. A panic anywhere is the finding;
//! what each returns says only whether the input was taken.

use axum::http::{HeaderMap, HeaderValue};
use serde_json::Value;

use crate::auth::{Claims, Role};
use crate::gm::domain::{GmCommand, GmState, Limits};
use crate::gm::tokens::{ScoringRules, TokenCatalog};

/// A GM station's Socket.IO event data (bare or in the seed's `{event, data}` envelope) as a
/// `transaction:submit`, decided by a game with the demo tokens and a session running.
pub fn gm_submit(bytes: &[u8]) -> bool {
    let Ok(raw) = serde_json::from_slice::<Value>(bytes) else {
        return false;
    };
    let data = crate::gm::socketio::event_data(raw);
    let Ok(scan) = crate::gm::socketio::scan_request(&data, "GM_FUZZ".into()) else {
        return false;
    };
    let mut game = GmState::new(
        TokenCatalog::demo(&ScoringRules::default()),
        Limits::default(),
    );
    let session = GmCommand::CreateSession {
        session_id: "fuzz".into(),
        name: "Fuzz".into(),
        teams: None,
    };
    if game.execute(&session, 1_000).is_err() {
        return false;
    }
    game.execute(&GmCommand::Scan(scan), 2_000).is_ok()
}

/// A `/realtime` text frame, and the channels it names checked against a viewer's rights.
pub fn realtime_frame(text: &str) -> bool {
    let Ok(command) = crate::predictions::realtime::decode_command(text) else {
        return false;
    };
    let viewer = Claims::unexpiring(Role::Viewer, "viewer-1");
    command
        .channels
        .iter()
        .all(|channel| crate::predictions::realtime::may_read(&viewer, channel).is_ok())
}

/// A `/ws/stream` (tournaments) text frame and the channels it names.
pub fn tournament_frame(text: &str) -> bool {
    match crate::tournaments::stream::read_frame(text) {
        Ok((_, frame)) => crate::tournaments::stream::named_channels(&frame).is_ok(),
        Err(_) => false,
    }
}

/// A sports-day socket's text frame, on an event's socket and on a team's.
pub fn sports_frame(text: &str) -> bool {
    use crate::sports::stream::{read_request, Follow};
    let on_event = read_request(text, Follow::Event(1)).is_ok();
    let on_team = read_request(text, Follow::Team(1)).is_ok();
    on_event || on_team
}

/// The `Last-Event-ID` header a reconnecting SSE client sends.
pub fn sse_last_event_id(bytes: &[u8]) -> bool {
    let Ok(value) = HeaderValue::from_bytes(bytes) else {
        return false;
    };
    let mut headers = HeaderMap::new();
    headers.insert("last-event-id", value);
    matches!(crate::wire::sse::last_event_id(&headers), Ok(Some(_)))
}

/// A REST request body: the first byte picks the route's body type (every one the box's routes
/// take), the rest is the body, decoded as the route's extractor does and checked as far as the
/// route checks it before the engine.
pub fn rest_body(bytes: &[u8]) -> bool {
    let Some((&which, body)) = bytes.split_first() else {
        return false;
    };
    let decoders: [fn(u8, &[u8]) -> bool; 9] = [
        crate::gm::routes::decode_any_body,
        crate::gm::tv::decode_any_body,
        crate::predictions::routes::decode_any_body,
        crate::drafts::routes::decode_any_body,
        crate::sports::routes::decode_any_body,
        crate::tournaments::routes::decode_any_body,
        crate::wire::clock::decode_any_body,
        crate::wire::hardware::decode_any_body,
        crate::wire::http::decode_any_body,
    ];
    let module = usize::from(which % 9);
    decoders[module](which / 9, body)
}

#[cfg(test)]
mod tests {
    /// The seeds of `rest_body` are bodies the routes take: the first byte picks the body type
    /// each seed's name says, so the fuzzer starts from inputs that reach past the decoder.
    #[test]
    fn every_rest_body_seed_is_taken() {
        let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
        let mut tried = 0;
        for entry in std::fs::read_dir(seeds).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with("rest_body-") {
                assert!(super::rest_body(&std::fs::read(&path).unwrap()), "{name}");
                tried += 1;
            }
        }
        assert!(tried >= 7, "{tried} seeds");
        assert!(!super::rest_body(b""));
        assert!(!super::rest_body(b"\x12{\"tokenId\": 7}"));
    }
}
