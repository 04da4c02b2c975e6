//! Fan-out of what happened to everyone who listens.
//!
//! The engine publishes every committed event here, tagged with its log sequence number; the
//! video player publishes live progress (not logged, sequence 0). Listeners are wire adapters and
//! hardware outputs. Each listener has its own bounded queue (a `broadcast` receiver): a listener
//! that falls behind sees `Lagged` and must resynchronise from a snapshot; it never slows the
//! engine or other listeners.
//!
//! Resuming clients is the channel layer's job (`wire/channels.rs`): the hub keeps no history.

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::domain::Event;

/// Live playback progress from the video player. Not logged: the next report supersedes it.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoProgress {
    pub token_id: String,
    pub position_secs: f64,
    pub duration_secs: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum HubBody {
    Committed(Event),
    VideoProgress(VideoProgress),
}

#[derive(Debug, Clone, PartialEq)]
pub struct HubMessage {
    /// Log sequence number of a committed event; 0 for live-only messages.
    pub seq: u64,
    pub body: HubBody,
}

/// See the module docs.
#[derive(Debug)]
pub struct Hub {
    sender: broadcast::Sender<Arc<HubMessage>>,
}

impl Hub {
    /// `listener_queue` bounds each listener's backlog.
    pub fn new(listener_queue: usize) -> Self {
        let (sender, _) = broadcast::channel(listener_queue.max(1));
        Self { sender }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<HubMessage>> {
        self.sender.subscribe()
    }

    /// Calls `on_commit(seq, event)` for each committed event, in order, until the hub closes.
    /// A listener this far behind has lost events for good: it logs how many (`what` names it)
    /// and goes on, for fan-outs whose next message carries the whole state it concerns.
    pub async fn follow_commits(&self, what: &'static str, mut on_commit: impl FnMut(u64, &Event)) {
        let mut listener = self.subscribe();
        loop {
            match listener.recv().await {
                Ok(msg) => {
                    if let HubBody::Committed(event) = &msg.body {
                        on_commit(msg.seq, event);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, listener = what, "a fan-out fell behind");
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    }

    pub fn publish_committed(&self, first_seq: u64, events: Vec<Event>) {
        for (seq, event) in (first_seq..).zip(events) {
            let message = Arc::new(HubMessage {
                seq,
                body: HubBody::Committed(event),
            });
            // No listeners is fine: nobody is connected yet.
            let _ = self.sender.send(message);
        }
    }

    pub fn publish_live(&self, body: HubBody) {
        let _ = self.sender.send(Arc::new(HubMessage { seq: 0, body }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::sample_event as event;

    #[tokio::test]
    async fn listeners_get_messages_in_order() {
        let hub = Hub::new(16);
        let mut rx = hub.subscribe();
        hub.publish_committed(10, vec![event(1), event(2)]);
        hub.publish_committed(12, vec![event(3), event(4)]);
        for expected in 10..14 {
            assert_eq!(rx.recv().await.unwrap().seq, expected);
        }
    }

    #[tokio::test]
    async fn a_slow_listener_is_told_it_lagged() {
        let hub = Hub::new(2);
        let mut rx = hub.subscribe();
        hub.publish_committed(1, (0..5).map(event).collect());
        assert!(matches!(
            rx.recv().await,
            Err(broadcast::error::RecvError::Lagged(_))
        ));
    }
}
