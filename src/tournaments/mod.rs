//! Debate tournaments (seed 000): staff hold the tournament, draw the rounds, reveal motions and
//! run the round timer; participants check in from their phones and follow the draw, the
//! motion, the timer and the standings live.
//!
//! | file | what |
//! |---|---|
//! | `domain/mod.rs` | the pure state machine: tournaments, teams, adjudicators, rounds, check-ins, timer, ballots |
//! | `domain/draw.rs` | the draw: power pairing without repeats, sides, adjudicators; deterministic from a seed |
//! | `domain/standings.rs` | records and standings from draws and ballots |
//! | `routes.rs` | the HTTP API: tournaments, teams, adjudicators, rounds, check-ins, the draw job, publish, the timer, ballots, standings |
//! | `stream.rs` | `/ws/stream`: the JWT-subprotocol WebSocket, its channels, the fan-out, resume, check-ins |
//! | `timer.rs` | the round timer's monotonic clock and its checkpoints (the periodic `timers:sync`) |
//! | `page.rs` | `/tournament`: the page staff, participants and screens use |
//!
//! Tests: `domain/tests.rs`, `domain/draw.rs` (generated tournaments), `timer.rs`, `stream.rs`,
//! `tests/node/tournaments.test.mjs` (HTTP, the stream with `ws` and headless Chromium, power
//! cuts, the page).

pub mod domain;
pub mod page;
pub mod routes;
pub mod stream;
pub mod timer;

use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::wire::AppContext;

/// Starts the contract's fan-out from committed events to its channels. (Running timers need
/// no start: a restart brings every timer back paused.)
pub fn start(ctx: &Arc<AppContext>, tasks: &mut Vec<JoinHandle<()>>) {
    tasks.push(tokio::spawn(stream::run_fanout(ctx.clone())));
}

/// Tells every stream client the box is restarting and closes its socket.
pub fn close_for_restart(ctx: &AppContext) {
    stream::close_for_restart(ctx);
}
