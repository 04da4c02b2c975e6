//! The video queue: a player scan of a video token queues it, staff pause, resume, skip and
//! stop it, and the player reports when it ended.

use super::{
    CurrentVideo, GmError, GmEvent, GmOutcome, GmState, PlaybackOutcome, VideoControl, VideoView,
};
use crate::domain::basics::Millis;

impl GmState {
    pub(super) fn decide_queue_video(
        &self,
        token_id: &str,
        now: Millis,
    ) -> Result<(GmOutcome, Vec<GmEvent>), GmError> {
        let token = self
            .catalog
            .get(token_id)
            .ok_or_else(|| GmError::UnknownToken(token_id.to_string()))?;
        if token.video.is_none() {
            return Err(GmError::TokenHasNoVideo(token.id.clone()));
        }
        let mut events = vec![GmEvent::VideoQueued {
            token_id: token.id.clone(),
            at: now,
        }];
        if self.data.video_current.is_none() && self.data.video_queue.is_empty() {
            events.push(GmEvent::VideoStarted {
                token_id: token.id.clone(),
                at: now,
            });
        }
        Ok((GmOutcome::Video(VideoView::default()), events))
    }

    /// The player reports the end of `token_id`; a late report changes nothing.
    pub(super) fn video_ended(
        &self,
        token_id: &str,
        outcome: &PlaybackOutcome,
        now: Millis,
    ) -> Vec<GmEvent> {
        match &self.data.video_current {
            Some(current) if current.token_id == token_id => {
                self.end_current_video(outcome.clone(), now)
            }
            // A late report about a video we already moved past changes nothing.
            _ => Vec::new(),
        }
    }

    pub(super) fn decide_video_control(
        &self,
        control: VideoControl,
        now: Millis,
    ) -> Result<(GmOutcome, Vec<GmEvent>), GmError> {
        let current = self.data.video_current.as_ref();
        let events = match (control, current) {
            (VideoControl::Pause, Some(c)) if !c.paused => vec![GmEvent::VideoPaused {
                token_id: c.token_id.clone(),
                at: now,
            }],
            (VideoControl::Resume, Some(c)) if c.paused => vec![GmEvent::VideoResumed {
                token_id: c.token_id.clone(),
                at: now,
            }],
            (VideoControl::Pause | VideoControl::Resume, Some(_)) => Vec::new(),
            (VideoControl::Skip, Some(_)) => self.end_current_video(PlaybackOutcome::Skipped, now),
            (VideoControl::Stop, _) => {
                let mut events = Vec::new();
                if let Some(c) = current {
                    events.push(GmEvent::VideoEnded {
                        token_id: c.token_id.clone(),
                        outcome: PlaybackOutcome::Stopped,
                        at: now,
                    });
                }
                if !self.data.video_queue.is_empty() {
                    events.push(GmEvent::VideoQueueCleared { at: now });
                }
                events
            }
            (_, None) => return Err(GmError::NoVideo),
        };
        Ok((GmOutcome::Video(VideoView::default()), events))
    }

    /// Ends the current video and starts the next queued one, if any.
    pub(super) fn end_current_video(&self, outcome: PlaybackOutcome, now: Millis) -> Vec<GmEvent> {
        let Some(current) = &self.data.video_current else {
            return Vec::new();
        };
        let mut events = vec![GmEvent::VideoEnded {
            token_id: current.token_id.clone(),
            outcome,
            at: now,
        }];
        if let Some(next) = self.data.video_queue.front() {
            events.push(GmEvent::VideoStarted {
                token_id: next.clone(),
                at: now,
            });
        }
        events
    }

    /// Applies a video event.
    pub(super) fn apply_video(&mut self, event: &GmEvent) {
        match event {
            GmEvent::VideoQueued { token_id, .. } => {
                self.data.video_queue.push_back(token_id.clone())
            }
            GmEvent::VideoStarted { token_id, at } => {
                if self.data.video_queue.front() == Some(token_id) {
                    self.data.video_queue.pop_front();
                }
                self.data.video_current = Some(CurrentVideo {
                    token_id: token_id.clone(),
                    started_at: *at,
                    paused: false,
                });
            }
            GmEvent::VideoPaused { .. } => {
                if let Some(c) = &mut self.data.video_current {
                    c.paused = true;
                }
            }
            GmEvent::VideoResumed { .. } => {
                if let Some(c) = &mut self.data.video_current {
                    c.paused = false;
                }
            }
            GmEvent::VideoEnded { .. } => self.data.video_current = None,
            GmEvent::VideoQueueCleared { .. } => self.data.video_queue.clear(),
            _ => {}
        }
    }
}
