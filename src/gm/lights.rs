//! What the GM game shows on the box's status LEDs: green for the session, amber for the
//! connected GM stations or a playing video (docs/technicians.md has the table).

use super::domain::{DeviceKind, SessionStatus};
use crate::engine::Published;
use crate::hardware::leds::{GameLights, SessionLight};

pub fn game_lights(published: &Published) -> GameLights {
    let gm = &published.views.gm;
    GameLights {
        session: gm.session.as_ref().and_then(|s| match s.status {
            SessionStatus::Active => Some(SessionLight::Active),
            SessionStatus::Paused => Some(SessionLight::Paused),
            SessionStatus::Archived => None,
        }),
        video_playing: gm.video.current.as_ref().is_some_and(|v| !v.paused),
        gm_stations: gm
            .devices
            .iter()
            .filter(|d| d.kind == DeviceKind::Gm && d.connected)
            .count(),
    }
}
