//! Shuffle drafts (seed 001): captains draft players from a pool on the big screen, and every
//! spectator's phone follows each pick, tie roll and undo live, from the box's history.
//!
//! | file | what |
//! |---|---|
//! | `domain.rs` | the pure state machine: drafts, who is next, tie rolls, picks, undo, the history |
//! | `json.rs` | the seed's event payloads and the board as clients see them |
//! | `routes.rs` | the HTTP API: create, start, pick, undo, the board, the history; the dice |
//! | `stream.rs` | `/ws/draft/{id}/` and `/ws/tournament/{id}/`: the last 20 entries, then live |
//! | `page.rs` | `/drafts/{id}`: the spectators' board with its event history |
//!
//! Tests: `domain/tests.rs`, `json.rs`, `tests/node/drafts.test.mjs` (the sockets with `ws`,
//! a power cut), `tests/node/drafts_page.test.mjs` (the seed's own scenario in Chromium).

pub mod domain;
pub mod json;
pub mod page;
pub mod routes;
pub mod stream;

use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::wire::AppContext;

/// Starts the contract's fan-out from committed history entries to the spectators' sockets.
pub fn start(ctx: &Arc<AppContext>, tasks: &mut Vec<JoinHandle<()>>) {
    tasks.push(tokio::spawn(stream::run_fanout(ctx.clone())));
}

/// Closes every spectator's socket for a restart (their pages reconnect by themselves).
pub fn close_for_restart(ctx: &AppContext) {
    stream::close_for_restart(ctx);
}
