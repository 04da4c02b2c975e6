//! Steps staff take that change no contract's state but belong in the log: the wall clock
//! confirmed or set, a notice sent to every phone, what the venue TVs show, a staff login.
//! The log keeps them under their own tag, each beside the trail entry that names who took it
//! (the engine adds that entry, as for any staff command). Replaying them changes nothing.
//!
//! Setting the clock, sending the notice, switching the TVs happen in the wire before the
//! command: the command records that they happened.

use serde::{Deserialize, Serialize};

use super::Millis;

/// Append variants at the end only: records store their position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StaffStep {
    /// Staff's device agreed with the box's clock and vouched for it; `device_offset_ms` is how
    /// far the device's clock was ahead of the box's (negative: behind).
    ClockConfirmed { device_offset_ms: i64 },
    /// Staff set the box's clock from their device's.
    ClockSet { from_ms: Millis, to_ms: Millis },
    /// A notice to every viewer connection (`POST /api/notices`), as sent.
    NoticeSent { message: String },
    /// What every venue TV shows now (`PUT /api/tv/show`): `scores`, or a tournament's, a
    /// draft's or a sports day's screen by id.
    TvShown { view: String, id: Option<u64> },
    /// A member of staff logged in with the staff password.
    LoggedIn,
}

impl StaffStep {
    pub fn kind(&self) -> &'static str {
        match self {
            StaffStep::ClockConfirmed { .. } => "ClockConfirmed",
            StaffStep::ClockSet { .. } => "ClockSet",
            StaffStep::NoticeSent { .. } => "NoticeSent",
            StaffStep::TvShown { .. } => "TvShown",
            StaffStep::LoggedIn => "StaffLoggedIn",
        }
    }
}
