//! A sports day (seed 003): staff enter fixtures and results, the leaderboard follows on every
//! phone and screen, announcements reach the right teams, and tickets sold at the gate show
//! their status to the buyer.
//!
//! | file | what |
//! |---|---|
//! | `domain/mod.rs` | the pure state machine: events (meets), teams, registrations, fixtures, results, announcements, purchases |
//! | `domain/leaderboard.rs` | the leaderboard and its tie-breaks |
//! | `routes.rs` | the HTTP API: events, teams, registrations, fixtures, results, leaderboards, announcements, purchases |
//!
//! Tests: `domain/tests.rs`, `domain/leaderboard.rs`.
//!
//! Built so far: recipe steps 1-3 (the state machine; the core's variants, log tag 5; the
//! HTTP API). Not yet: the WebSocket topics, the SSE streams, the scoreboard page
//! (ARCHITECTURE.md, "Left to do").

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
