//! What the GM contract publishes after a commit that changed it: the current session, scores,
//! recent transactions, devices, the video queue and the archived sessions.

use std::sync::Arc;

use super::{ArchivedSession, Device, GmState, Session, TeamScore, Transaction, VideoView};
use crate::gm::tokens::TokenCatalog;

/// How many transactions of the current session the published view keeps (`sync:full` sends them).
pub const RECENT_TRANSACTIONS: usize = 100;

/// The GM contract's read model, published after every commit that changed it. Its
/// transactions are bounded; archived sessions grow with the box's history and are shared
/// with the state, not copied.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GmView {
    pub session: Option<Session>,
    pub scores: Vec<TeamScore>,
    /// The last [`RECENT_TRANSACTIONS`] transactions of the current session, oldest first.
    pub recent_transactions: Vec<Arc<Transaction>>,
    pub devices: Vec<Device>,
    pub video: VideoView,
    pub archived_sessions: Arc<Vec<ArchivedSession>>,
    /// The token catalogue the box scores with (shared, never copied: it does not change while
    /// the box runs).
    pub catalog: Arc<TokenCatalog>,
}

impl GmState {
    pub fn video_view(&self) -> VideoView {
        VideoView {
            current: self.data.video_current.clone(),
            queue: self.data.video_queue.iter().cloned().collect(),
        }
    }

    /// The bounded read model published after each commit.
    pub fn view(&self) -> GmView {
        let (session, scores, recent) = match &self.data.current {
            Some(state) => (
                Some(state.session.clone()),
                state.teams.values().cloned().collect(),
                state.recent.iter().cloned().collect(),
            ),
            None => (None, Vec::new(), Vec::new()),
        };
        GmView {
            session,
            scores,
            recent_transactions: recent,
            devices: self.data.devices.values().cloned().collect(),
            video: self.video_view(),
            archived_sessions: self.data.archived.clone(),
            catalog: self.catalog.clone(),
        }
    }
}
