//! The box's physical side behind traits: the video player on the HDMI output, the status LEDs
//! and the reset button. Each has a simulated backend so the whole box runs on a laptop
//! (`hardware = "sim"`); the real ones are mpv (`mpv.rs`) and GPIO through the kernel character
//! device (`gpio.rs`, gpiocdev) or rppal (`rppal_gpio.rs`, cargo feature `rppal`).
//!
//! Outputs are event consumers and inputs are command sources:
//! - a [`VideoBackend`] plays what it is told and reports progress and ends (the GM contract's
//!   `gm::video_driver` tells it what the log says is playing);
//! - [`leds::run_status_leds`] blinks the LEDs from a pure function of the box state;
//! - [`button::run_reset_button`] turns a long press into a reset request, which the GM
//!   contract carries out (`gm::session_reset`).

pub mod button;
pub mod gpio;
pub mod leds;
pub mod mpv;
pub mod rig;
#[cfg(feature = "rppal")]
pub mod rppal_gpio;
pub mod sim;

use std::path::PathBuf;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// What the video driver asks of a player.
#[derive(Debug, Clone, PartialEq)]
pub enum PlayerCommand {
    Play {
        token_id: String,
        path: PathBuf,
        /// Known length, if the token file gives one.
        duration_secs: Option<f64>,
    },
    Pause,
    Resume,
    Stop,
}

/// How a video the player was asked to play came to its end by itself (a stop the box asked
/// for is not reported: whoever asked knows why).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaybackEnd {
    Completed,
    /// The player could not play it; the text says why, for the staff.
    Failed(String),
}

/// What a player reports back.
#[derive(Debug, Clone, PartialEq)]
pub enum PlayerReport {
    Progress {
        token_id: String,
        position_secs: f64,
        duration_secs: Option<f64>,
    },
    Ended {
        token_id: String,
        outcome: PlaybackEnd,
    },
    /// The player process came up (true) or went down (false).
    Available(bool),
}

/// A video player backend: it runs as its own task, takes commands and sends reports.
pub trait VideoBackend: Send + 'static {
    fn spawn(
        self: Box<Self>,
        commands: mpsc::Receiver<PlayerCommand>,
        reports: mpsc::Sender<PlayerReport>,
    ) -> JoinHandle<()>;
}

/// What the LEDs show, by name. Meaning and staff action per pattern are tabled in the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedPattern {
    Booting,
    /// Replaying the log after an unclean shutdown (power cut, crash).
    Recovering,
    /// Ready, no active session.
    Ready,
    SessionActive,
    SessionPaused,
    VideoPlaying,
    /// Storage failing: writes are refused until it clears.
    StorageFault,
    /// The video player is down and being restarted.
    VideoFault,
    /// The reset button has been held for a second: keep holding to reset.
    ResetHeld,
    /// The session was just reset.
    ResetDone,
}

impl LedPattern {
    pub const ALL: [LedPattern; 10] = [
        LedPattern::Booting,
        LedPattern::Recovering,
        LedPattern::Ready,
        LedPattern::SessionActive,
        LedPattern::SessionPaused,
        LedPattern::VideoPlaying,
        LedPattern::StorageFault,
        LedPattern::VideoFault,
        LedPattern::ResetHeld,
        LedPattern::ResetDone,
    ];

    /// The pattern's name, as the technicians' table and `/api/hardware` give it.
    pub fn as_str(self) -> &'static str {
        match self {
            LedPattern::Booting => "booting",
            LedPattern::Recovering => "recovering",
            LedPattern::Ready => "ready",
            LedPattern::SessionActive => "session_active",
            LedPattern::SessionPaused => "session_paused",
            LedPattern::VideoPlaying => "video_playing",
            LedPattern::StorageFault => "storage_fault",
            LedPattern::VideoFault => "video_fault",
            LedPattern::ResetHeld => "reset_held",
            LedPattern::ResetDone => "reset_done",
        }
    }
}

/// The three status LEDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Led {
    /// Box and session state.
    Green,
    /// GM stations and video.
    Amber,
    /// Faults.
    Red,
}

impl Led {
    pub fn as_str(self) -> &'static str {
        match self {
            Led::Green => "green",
            Led::Amber => "amber",
            Led::Red => "red",
        }
    }
}

impl Led {
    pub const ALL: [Led; 3] = [Led::Green, Led::Amber, Led::Red];
}

/// What the reset button reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ButtonEdge {
    Pressed,
    Released,
}

/// What the physical side reports about itself, for `GameState.systemStatus` and
/// `GET /api/hardware`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HardwareStatus {
    /// The video player is running and can take a video.
    pub video_ready: bool,
    /// The player reported itself down (not merely still starting).
    pub video_fault: bool,
    pub leds: LedPattern,
    /// Each LED as lit right now.
    pub lit: [bool; 3],
    pub button_held: bool,
}

impl Default for HardwareStatus {
    fn default() -> Self {
        Self {
            video_ready: false,
            video_fault: false,
            leds: LedPattern::Booting,
            lit: [false; 3],
            button_held: false,
        }
    }
}

/// Shared writer of [`HardwareStatus`]; each part updates its own fields.
pub type StatusSender = std::sync::Arc<tokio::sync::watch::Sender<HardwareStatus>>;

/// Status LEDs backend: switches one LED on or off. Blinking is timed by the caller.
pub trait StatusLeds: Send + 'static {
    fn set(&mut self, led: Led, on: bool);
}

/// Reset button backend: sends its edges (debounced) until the receiver is gone.
pub trait ResetButton: Send + 'static {
    fn spawn(self: Box<Self>, edges: mpsc::Sender<ButtonEdge>) -> JoinHandle<()>;
}

#[derive(Debug, thiserror::Error)]
pub enum HardwareError {
    #[error("config key `{key}` = {line:?}: {reason}")]
    Line {
        /// The config key that names the line (`gpio.green`), so the technician knows what to
        /// change.
        key: &'static str,
        line: String,
        reason: String,
    },
    #[error("GPIO: {0}")]
    Gpio(String),
    #[error("backend {0} is not built in: rebuild with `--features {0}`")]
    NotBuiltIn(&'static str),
}

impl HardwareError {
    /// The same error, said of config key `key`.
    pub fn for_key(self, key: &'static str) -> Self {
        match self {
            Self::Line { line, reason, .. } => Self::Line { key, line, reason },
            other => other,
        }
    }
}
