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
//! | `page.rs` | `/join` and `/play`: the viewers' phone pages (`assets/play/`) |
//!
//! Tests: `domain.rs`, `tests/predictions_realtime.rs`, `tests/node/realtime.test.mjs`.

pub mod deadlines;
pub mod domain;
pub mod page;
pub mod realtime;
pub mod routes;

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::auth::{Claims, Role};
use crate::wire::errors::WireError;
use crate::wire::ratelimit::PerClient;
use crate::wire::AppContext;
use domain::PredictionsView;

/// Votes one viewer may send per second before being told to slow down.
pub const VOTES_PER_SECOND: u32 = 20;
/// Resumes from the log one `/realtime` viewer may ask for per minute; past that a resume gets
/// the channel's current state instead, which costs no read of the card.
pub const LOG_RESUMES_PER_MINUTE: u32 = 6;

/// What each viewer may cost the box, counted per viewer (its token's `sub`), not per
/// connection: reconnecting does not renew a budget. Shared by the contract's routes.
#[derive(Debug)]
pub struct ViewerLimits {
    /// Votes; a refused vote is told on the viewer's `user:` channel too.
    pub votes: PerClient,
    /// `/realtime` catch-ups read from the log.
    pub log_resumes: PerClient,
}

impl Default for ViewerLimits {
    fn default() -> Self {
        Self {
            votes: PerClient::new(VOTES_PER_SECOND, Duration::from_secs(1)),
            log_resumes: PerClient::new(LOG_RESUMES_PER_MINUTE, Duration::from_secs(60)),
        }
    }
}

/// Whether a viewer's token still speaks for the name it was given for: not once the full
/// table let the name go (a token with a ticket names a holder, and nobody holds the name),
/// nor once another phone holds it (another ticket). Staff speak for all.
pub(crate) fn speaks_for_name(view: &PredictionsView, claims: &Claims) -> bool {
    claims.role != Role::Viewer || domain::is_holder(&view.viewers, &claims.sub, claims.tkt)
}

/// The refusal for a token whose name another phone holds now, as the engine words it for a
/// vote: the page logs in again, and is told the name is taken.
pub(crate) fn name_held_by_another(user_id: &str) -> WireError {
    crate::domain::DomainError::from(domain::PredictionError::NotTheHolder(user_id.into())).into()
}

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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use domain::Viewer;

    fn held_by(ticket: Option<u64>) -> PredictionsView {
        let viewer = Viewer {
            name: "Target".into(),
            joined_at: 1,
            ticket,
        };
        PredictionsView {
            predictions: Vec::new(),
            balances: BTreeMap::new(),
            viewers: Arc::new(BTreeMap::from([("target".to_string(), viewer)])),
        }
    }

    fn token(ticket: Option<u64>) -> Claims {
        let mut claims = Claims::unexpiring(Role::Viewer, "target");
        claims.tkt = ticket;
        claims
    }

    #[test]
    fn a_token_speaks_for_its_holder_only() {
        assert!(speaks_for_name(&held_by(Some(3)), &token(Some(3))));
        assert!(
            !speaks_for_name(&held_by(Some(4)), &token(Some(3))),
            "a later holder"
        );
        assert!(
            !speaks_for_name(&held_by(Some(4)), &token(None)),
            "a token from before"
        );
        assert!(
            speaks_for_name(&held_by(None), &token(None)),
            "a name from before tickets"
        );
        let unheld = PredictionsView {
            viewers: Arc::new(BTreeMap::new()),
            ..held_by(None)
        };
        assert!(
            !speaks_for_name(&unheld, &token(Some(3))),
            "let go, held by nobody"
        );
        assert!(speaks_for_name(
            &unheld,
            &Claims::unexpiring(Role::Admin, "admin")
        ));
    }
}
