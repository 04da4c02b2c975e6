//! What staff did to the box's wall clock, as the log keeps it. Setting the clock is I/O and
//! happens before the command; the command only records the step, so the log says when the
//! times it holds were vouched for and by whom (the staff's trail names them). No contract's
//! state holds it: replaying it changes nothing.

use serde::{Deserialize, Serialize};

use super::Millis;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClockStep {
    /// Staff's device agreed with the box's clock and vouched for it; `device_offset_ms` is how
    /// far the device's clock was ahead of the box's (negative: behind).
    Confirmed { device_offset_ms: i64 },
    /// Staff set the box's clock from their device's.
    Set { from_ms: Millis, to_ms: Millis },
}

impl ClockStep {
    pub fn kind(&self) -> &'static str {
        match self {
            ClockStep::Confirmed { .. } => "ClockConfirmed",
            ClockStep::Set { .. } => "ClockSet",
        }
    }
}
