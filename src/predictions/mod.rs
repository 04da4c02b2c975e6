//! Live predictions (seed 002): staff open a question, viewers log in with the venue PIN and
//! spend points on an option over HTTP, and every screen follows totals, results, balances and
//! notices over the `/realtime` WebSocket.
//!
//! | file | what |
//! |---|---|
//! | `domain.rs` | the pure state machine: predictions, votes, grants, viewer names, balances |
//! | `routes.rs` | the HTTP API: viewer login, predictions, votes, grants, balances, presence, notices |
//! | `realtime.rs` | `/realtime`: channels `streamer:`, `game:`, `user:`, the fan-out, resume from the log |
//! | `deadlines.rs` | closes each prediction when its `closesAt` passes |
//!
//! Tests: `domain.rs`, `tests/predictions_realtime.rs`, `tests/node/realtime.test.mjs`.

pub mod deadlines;
pub mod domain;
pub mod realtime;
pub mod routes;

use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::wire::AppContext;

/// Starts the contract's background tasks: the fan-out to its channels and the deadlines.
pub fn start(ctx: &Arc<AppContext>, tasks: &mut Vec<JoinHandle<()>>) {
    tasks.push(tokio::spawn(realtime::run_fanout(ctx.clone())));
    tasks.push(tokio::spawn(deadlines::run_prediction_deadlines(
        ctx.engine.clone(),
    )));
}

/// Tells every viewer the box is restarting and closes their sockets.
pub fn close_for_restart(ctx: &AppContext) {
    realtime::close_for_restart(&ctx.channels);
}
