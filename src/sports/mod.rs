//! A sports day (seed 003): staff enter fixtures and results, the leaderboard follows on every
//! phone and screen, announcements reach the right teams, and tickets sold at the gate show
//! their status to the buyer.
//!
//! | file | what |
//! |---|---|
//! | `domain/mod.rs` | the pure state machine: events (meets), teams, registrations, fixtures, results, announcements, purchases |
//! | `domain/leaderboard.rs` | the leaderboard and its tie-breaks |
//! | `access.rs` | who may see and do what: members, managers, buyers, staff |
//! | `json.rs` | the JSON every client sees, over HTTP and live |
//! | `routes.rs` | the HTTP API: events, teams, registrations, fixtures, results, leaderboards, announcements, purchases |
//! | `stream.rs` | the seed's topics: the fan-out, the event, team and purchase sockets, the SSE streams |
//! | `page.rs` | `/sports/{id}`: the venue TV's scoreboard |
//!
//! Tests: `domain/tests.rs`, `domain/leaderboard.rs`, `stream.rs`, `tests/node/sports.test.mjs`
//! (HTTP, a power cut), `tests/node/sports_live.test.mjs` (sockets and streams),
//! `tests/node/sports_page.test.mjs` (the seed's snippets and the scoreboard in Chromium).

pub mod access;
pub mod domain;
pub mod json;
pub mod page;
pub mod routes;
pub mod stream;

use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::wire::AppContext;

/// Starts the fan-out from committed changes to the topics' sockets and streams.
pub fn start(ctx: &Arc<AppContext>, tasks: &mut Vec<JoinHandle<()>>) {
    tasks.push(tokio::spawn(stream::run_fanout(ctx.clone())));
}

/// Closes every socket and stream for a restart (clients reconnect by themselves).
pub fn close_for_restart(ctx: &AppContext) {
    stream::close_for_restart(ctx);
}
