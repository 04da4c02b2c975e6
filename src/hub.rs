//! Fan-out of what happened to everyone who listens.
//!
//! The engine publishes every committed event here, tagged with its log sequence number; the
//! video player publishes live progress (not logged, sequence 0). Listeners are wire adapters and
//! hardware outputs. Each listener has its own bounded queue (a `broadcast` receiver): a listener
//! that falls behind sees `Lagged` and must resynchronise from a snapshot; it never slows the
//! engine or other listeners.
//!
//! The hub also keeps the most recent committed messages so a GM station that reconnects can be
//! sent exactly what it missed.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

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
    recent: Mutex<VecDeque<Arc<HubMessage>>>,
    recent_capacity: usize,
}

impl Hub {
    /// `listener_queue` bounds each listener's backlog; `recent_capacity` bounds the resume buffer.
    pub fn new(listener_queue: usize, recent_capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(listener_queue.max(1));
        Self {
            sender,
            recent: Mutex::new(VecDeque::with_capacity(recent_capacity)),
            recent_capacity,
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<HubMessage>> {
        self.sender.subscribe()
    }

    pub fn publish_committed(&self, first_seq: u64, events: Vec<Event>) {
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        for (seq, event) in (first_seq..).zip(events) {
            let message = Arc::new(HubMessage {
                seq,
                body: HubBody::Committed(event),
            });
            if recent.len() == self.recent_capacity {
                recent.pop_front();
            }
            recent.push_back(message.clone());
            // No listeners is fine: nobody is connected yet.
            let _ = self.sender.send(message);
        }
    }

    pub fn publish_live(&self, body: HubBody) {
        let _ = self.sender.send(Arc::new(HubMessage { seq: 0, body }));
    }

    /// Sequence number of the newest committed message, 0 before the first.
    pub fn latest_seq(&self) -> u64 {
        let recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        recent.back().map_or(0, |m| m.seq)
    }

    /// Every committed message after `after_seq`, or `None` when some of them have already left
    /// the resume buffer (the caller must then send a full snapshot instead).
    pub fn committed_since(&self, after_seq: u64) -> Option<Vec<Arc<HubMessage>>> {
        let recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        match recent.front() {
            Some(oldest) if oldest.seq > after_seq + 1 => None,
            _ => Some(
                recent
                    .iter()
                    .filter(|m| m.seq > after_seq)
                    .cloned()
                    .collect(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::DisconnectReason;

    fn event(i: u64) -> Event {
        Event::DeviceDisconnected {
            device_id: format!("d{i}"),
            reason: DisconnectReason::Manual,
            at: i,
        }
    }

    #[tokio::test]
    async fn listeners_get_messages_in_order_and_resume_knows_its_limits() {
        let hub = Hub::new(16, 3);
        let mut rx = hub.subscribe();
        hub.publish_committed(10, vec![event(1), event(2)]);
        hub.publish_committed(12, vec![event(3), event(4)]);
        for expected in 10..14 {
            assert_eq!(rx.recv().await.unwrap().seq, expected);
        }
        assert_eq!(hub.latest_seq(), 13);
        // The buffer holds 11..=13: resuming after 10 works, after 9 does not.
        let seqs: Vec<u64> = hub
            .committed_since(10)
            .unwrap()
            .iter()
            .map(|m| m.seq)
            .collect();
        assert_eq!(seqs, vec![11, 12, 13]);
        assert!(hub.committed_since(9).is_none());
        assert_eq!(hub.committed_since(13).unwrap().len(), 0);
    }

    #[tokio::test]
    async fn a_slow_listener_is_told_it_lagged() {
        let hub = Hub::new(2, 10);
        let mut rx = hub.subscribe();
        hub.publish_committed(1, (0..5).map(event).collect());
        assert!(matches!(
            rx.recv().await,
            Err(broadcast::error::RecvError::Lagged(_))
        ));
    }
}
