//! Chooses the status LED pattern from the published state.

use crate::engine::{EngineHandle, Published};

use super::{LedPattern, StatusLeds, StatusSender};

/// The pattern for a state: a fault outranks everything, then video, then the session.
pub fn pattern_for(published: &Published) -> LedPattern {
    use crate::domain::SessionStatus;
    if published.storage_fault.is_some() {
        return LedPattern::Fault;
    }
    if published
        .view
        .video
        .current
        .as_ref()
        .is_some_and(|v| !v.paused)
    {
        return LedPattern::VideoPlaying;
    }
    match published.view.session.as_ref().map(|s| s.status) {
        Some(SessionStatus::Active) => LedPattern::SessionActive,
        Some(SessionStatus::Paused) => LedPattern::SessionPaused,
        _ => LedPattern::Idle,
    }
}

/// Shows the pattern for every new commit until the engine stops.
pub async fn run_status_leds(
    engine: EngineHandle,
    mut leds: Box<dyn StatusLeds>,
    status: StatusSender,
) {
    let mut watch = engine.watch();
    loop {
        let pattern = pattern_for(&watch.borrow_and_update());
        leds.show(pattern);
        status.send_modify(|s| s.leds = pattern);
        if watch.changed().await.is_err() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CurrentVideo, Session, SessionStatus};

    #[test]
    fn patterns_follow_priority() {
        let mut p = Published::default();
        assert_eq!(pattern_for(&p), LedPattern::Idle);
        p.view.session = Some(Session {
            id: "s".into(),
            name: "n".into(),
            status: SessionStatus::Active,
            teams: None,
            started_at: 0,
            ended_at: None,
        });
        assert_eq!(pattern_for(&p), LedPattern::SessionActive);
        p.view.video.current = Some(CurrentVideo {
            token_id: "v".into(),
            started_at: 0,
            paused: false,
        });
        assert_eq!(pattern_for(&p), LedPattern::VideoPlaying);
        p.storage_fault = Some("disk full".into());
        assert_eq!(pattern_for(&p), LedPattern::Fault);
    }
}
