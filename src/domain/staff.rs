//! Steps staff take that change no contract's state but belong in the log: the wall clock
//! confirmed or set, a notice sent to every phone, what the venue TVs show, a staff login.
//! The log keeps them under their own tag, each beside the trail entry that names who took it
//! (the engine adds that entry, as for any staff command). Replaying them changes no
//! contract's state.
//!
//! Setting the clock, sending the notice, switching the TVs happen in the wire before the
//! command: the command records that they happened. One of them is also kept: what the TVs
//! show ([`TvChoice`]), so that after a restart or a power cut they show it again.

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
    /// What every venue TV shows now (`PUT /api/tv/show`). A newtype of the choice the state
    /// keeps: its fields encode as the struct variant's did, in the log and in exports.
    TvShown(TvChoice),
    /// A member of staff logged in with the staff password.
    LoggedIn,
}

impl StaffStep {
    pub fn kind(&self) -> &'static str {
        match self {
            StaffStep::ClockConfirmed { .. } => "ClockConfirmed",
            StaffStep::ClockSet { .. } => "ClockSet",
            StaffStep::NoticeSent { .. } => "NoticeSent",
            StaffStep::TvShown(_) => "TvShown",
            StaffStep::LoggedIn => "StaffLoggedIn",
        }
    }
}

/// What staff last chose for the venue TVs: `scores`, or a tournament's, a draft's or a sports
/// day's screen by id. Whether the id still names something is the wire's to check when it
/// shows the choice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TvChoice {
    pub view: String,
    pub id: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The enum as the log first stored it, with `TvShown` a struct variant.
    #[derive(Serialize)]
    #[allow(dead_code)] // only the variant under test is built
    enum AsFirstLogged {
        ClockConfirmed { device_offset_ms: i64 },
        ClockSet { from_ms: Millis, to_ms: Millis },
        NoticeSent { message: String },
        TvShown { view: String, id: Option<u64> },
        LoggedIn,
    }

    #[test]
    fn a_tv_choice_encodes_as_the_struct_variant_the_log_first_stored() {
        let now = StaffStep::TvShown(TvChoice {
            view: "sports".into(),
            id: Some(4),
        });
        let before = AsFirstLogged::TvShown {
            view: "sports".into(),
            id: Some(4),
        };
        assert_eq!(
            postcard::to_allocvec(&now).unwrap(),
            postcard::to_allocvec(&before).unwrap()
        );
        assert_eq!(
            serde_json::to_value(&now).unwrap(),
            serde_json::to_value(&before).unwrap()
        );
        let read: StaffStep =
            postcard::from_bytes(&postcard::to_allocvec(&before).unwrap()).unwrap();
        assert_eq!(read, now);
    }
}
