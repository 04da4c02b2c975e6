//! The box's physical outputs behind traits: the video player on the HDMI output and the
//! status LEDs. Each has a simulated backend so the whole box runs on a laptop
//! (`--hardware sim`); the real backends (mpv, GPIO) plug into the same seams.
//!
//! Outputs are event consumers: [`video::run_video_driver`] follows committed video events and
//! reports playback back to the engine as commands; [`leds::run_status_leds`] shows the state.

pub mod leds;
pub mod sim;
pub mod video;

use std::path::PathBuf;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::domain::PlaybackOutcome;

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
        outcome: PlaybackOutcome,
    },
}

/// A video player backend: it runs as its own task, takes commands and sends reports.
pub trait VideoBackend: Send + 'static {
    fn spawn(
        self: Box<Self>,
        commands: mpsc::Receiver<PlayerCommand>,
        reports: mpsc::Sender<PlayerReport>,
    ) -> JoinHandle<()>;
}

/// A status light pattern. Meaning and staff action per pattern are tabled in the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LedPattern {
    Booting,
    /// Ready, no active session.
    Idle,
    SessionActive,
    SessionPaused,
    VideoPlaying,
    /// Storage failing: writes are refused until it clears.
    Fault,
}

/// What the physical outputs report about themselves, for `GameState.systemStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HardwareStatus {
    /// The video player is running and can take a video.
    pub video_ready: bool,
    pub leds: LedPattern,
}

impl Default for HardwareStatus {
    fn default() -> Self {
        Self {
            video_ready: false,
            leds: LedPattern::Booting,
        }
    }
}

/// Shared writer of [`HardwareStatus`]; each output updates its own field.
pub type StatusSender = std::sync::Arc<tokio::sync::watch::Sender<HardwareStatus>>;

/// Status LEDs backend.
pub trait StatusLeds: Send + 'static {
    fn show(&mut self, pattern: LedPattern);
}
