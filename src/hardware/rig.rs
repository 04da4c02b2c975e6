//! Puts the box's hardware together from the config and runs it through the box's life.
//!
//! [`Rig::open`] claims the GPIO lines (so a wiring or config mistake stops the box before it
//! listens). [`Rig::start`] lights the LEDs for booting (or recovering, after an unclean
//! shutdown) before the log is replayed; [`Booting::take_player`] hands the video player to
//! whoever drives it before the engine's boot recovery; [`Booting::running`] switches to
//! normal patterns and arms the reset button once recovery is done, so a press during boot is
//! ignored. What a reset does, and what the game shows on the LEDs, is the contracts' business:
//! the rig hands out reset requests and takes a function that reads the lights from the state.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::button::run_reset_button;
use super::leds::{run_status_leds, ButtonFeedback, GameLights, LedInputs, Phase};
use super::mpv::{MpvPlayer, MpvSettings};
use super::sim::{SimButton, SimLeds, SimPlayer};
use super::{HardwareError, HardwareStatus, ResetButton, StatusLeds, StatusSender, VideoBackend};
use crate::config::ButtonTiming;
use crate::config::{Config, HardwareKind, PlayerKind};
use crate::engine::{EngineHandle, Published};

/// How long all LEDs stay on to confirm a reset.
const RESET_CONFIRM: Duration = Duration::from_secs(2);

/// LEDs and, when it is real, the button.
type GpioBackends = (Box<dyn StatusLeds>, Option<Box<dyn ResetButton>>);

/// The configured backends, opened, not yet running.
pub struct Rig {
    leds: Box<dyn StatusLeds>,
    button: Option<Box<dyn ResetButton>>,
    player: Box<dyn VideoBackend>,
    timing: ButtonTiming,
}

impl Rig {
    pub fn open(config: &Config) -> Result<Self, HardwareError> {
        let (leds, button): GpioBackends = match config.hardware {
            HardwareKind::Sim => (Box::new(SimLeds), None),
            HardwareKind::Gpio => (
                Box::new(super::gpio::GpioLeds::open(&config.gpio)?),
                Some(Box::new(super::gpio::GpioButton::open(&config.gpio)?)),
            ),
            HardwareKind::Rppal => rppal_backends(config)?,
        };
        let video = &config.video;
        let player: Box<dyn VideoBackend> = match video.player {
            PlayerKind::Sim => Box::new(SimPlayer {
                default_duration_secs: video.default_duration_secs,
            }),
            PlayerKind::Mpv => {
                let mut args = video.mpv_args.clone();
                args.push(format!("--hwdec={}", video.hwdec));
                Box::new(MpvPlayer {
                    settings: MpvSettings {
                        program: video.mpv_program.clone(),
                        ipc_socket: video
                            .ipc_socket
                            .clone()
                            .unwrap_or_else(|| config.data_dir.join("mpv.sock")),
                        args,
                        idle_loop: video.idle_loop.as_ref().map(|p| video.media_dir.join(p)),
                    },
                })
            }
        };
        Ok(Self {
            leds,
            button,
            player,
            timing: config.button,
        })
    }

    /// Blocks until `data_dir` is a mounted filesystem, with the fault on the LEDs, in the log
    /// and in `systemctl status`; returns at once when it already is. Nothing is written to
    /// `data_dir` before it returns.
    pub fn wait_for_data_partition(&mut self, data_dir: &Path) {
        const POLL: Duration = Duration::from_secs(2);
        const LOG_EVERY: Duration = Duration::from_secs(60);
        let mut last_log: Option<std::time::Instant> = None;
        let dir = data_dir.display().to_string();
        super::leds::show_until(
            self.leds.as_mut(),
            super::leds::NO_DATA_PARTITION,
            POLL,
            || {
                match crate::store::mount::is_mount_point(data_dir) {
                    Ok(true) => {
                        if last_log.is_some() {
                            tracing::info!(data_dir = %dir, "data partition mounted; starting");
                        }
                        return true;
                    }
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot read the mount table"),
                }
                if last_log.is_none_or(|at| at.elapsed() >= LOG_EVERY) {
                    tracing::error!(
                        data_dir = %dir,
                        "the data partition is not mounted: waiting for it, writing nothing \
                         (require_data_mount; see docs/technicians.md, \"The data partition\")"
                    );
                    last_log = Some(std::time::Instant::now());
                }
                // Still starting as far as systemd is concerned: keep the start from timing out
                // into a restart loop, and say why in `systemctl status venuebox`.
                crate::systemd::notify(&format!(
                    "STATUS=waiting for the data partition at {dir}\nEXTEND_TIMEOUT_USEC={}",
                    (POLL * 5).as_micros()
                ));
                false
            },
        );
    }

    /// Lights the LEDs for booting, or recovering after an unclean shutdown.
    pub fn start(self, unclean_shutdown: bool) -> Booting {
        let phase = if unclean_shutdown {
            Phase::Recovering
        } else {
            Phase::Booting
        };
        let (status, status_rx) = watch::channel(HardwareStatus::default());
        let status = Arc::new(status);
        let (inputs, inputs_rx) = watch::channel(LedInputs {
            phase,
            ..LedInputs::default()
        });
        let leds_task = tokio::spawn(run_status_leds(inputs_rx, self.leds, status.clone()));
        let (phase_tx, _) = watch::channel(phase);
        let (feedback, _) = watch::channel(ButtonFeedback::Idle);
        let (edges, edges_rx) = mpsc::channel(16);
        let control = Arc::new(HardwareControl {
            sim_button: self.button.is_none().then(|| SimButton::new(edges.clone())),
            feedback,
        });
        Booting {
            status,
            status_rx,
            inputs,
            phase: phase_tx,
            control,
            edges,
            edges_rx,
            button: self.button,
            player: Some(self.player),
            timing: self.timing,
            tasks: vec![leds_task],
        }
    }
}

#[cfg(feature = "rppal")]
fn rppal_backends(config: &Config) -> Result<GpioBackends, HardwareError> {
    let leds = super::rppal_gpio::RppalLeds::open(&config.gpio)?;
    let button = super::rppal_gpio::RppalButton::open(&config.gpio)?;
    Ok((Box::new(leds), Some(Box::new(button))))
}

#[cfg(not(feature = "rppal"))]
fn rppal_backends(_config: &Config) -> Result<GpioBackends, HardwareError> {
    Err(HardwareError::NotBuiltIn("rppal"))
}

/// The hardware while the box boots.
pub struct Booting {
    status: Arc<watch::Sender<HardwareStatus>>,
    status_rx: watch::Receiver<HardwareStatus>,
    inputs: watch::Sender<LedInputs>,
    phase: watch::Sender<Phase>,
    control: Arc<HardwareControl>,
    edges: mpsc::Sender<super::ButtonEdge>,
    edges_rx: mpsc::Receiver<super::ButtonEdge>,
    button: Option<Box<dyn ResetButton>>,
    player: Option<Box<dyn VideoBackend>>,
    timing: ButtonTiming,
    tasks: Vec<JoinHandle<()>>,
}

/// The hardware once the box runs: its tasks, and the resets the button asks for.
pub struct Running {
    pub tasks: Vec<JoinHandle<()>>,
    /// One message per long press; whoever owns sessions carries it out and then calls
    /// [`HardwareControl::confirm_reset`].
    pub reset_requests: mpsc::Receiver<()>,
}

impl Booting {
    pub fn status(&self) -> watch::Receiver<HardwareStatus> {
        self.status_rx.clone()
    }

    pub fn control(&self) -> Arc<HardwareControl> {
        self.control.clone()
    }

    /// The video player, to be driven from the log; take it before the engine's boot recovery
    /// so a video that was playing at power loss starts again. `None` once taken.
    pub fn take_player(&mut self) -> Option<(Box<dyn VideoBackend>, StatusSender)> {
        let player = self.player.take()?;
        Some((player, self.status.clone()))
    }

    /// Recovery is done: normal patterns, and the reset button is armed. `game_lights` reads
    /// what the game shows on the LEDs from the published state.
    pub fn running(
        mut self,
        engine: &EngineHandle,
        game_lights: fn(&Published) -> GameLights,
    ) -> Running {
        self.phase.send_replace(Phase::Running);
        let (resets, reset_requests) = mpsc::channel(4);
        if let Some(button) = self.button.take() {
            self.tasks.push(button.spawn(self.edges.clone()));
        }
        self.tasks.push(tokio::spawn(run_reset_button(
            self.edges_rx,
            self.timing,
            self.phase.subscribe(),
            self.control.feedback.clone(),
            resets,
        )));
        self.tasks.push(tokio::spawn(feed_led_inputs(
            engine.clone(),
            game_lights,
            self.status_rx.clone(),
            self.control.feedback.subscribe(),
            self.inputs,
            self.status,
        )));
        Running {
            tasks: self.tasks,
            reset_requests,
        }
    }
}

/// Keeps the LED inputs in step with the game, the player and the button.
async fn feed_led_inputs(
    engine: EngineHandle,
    game_lights: fn(&Published) -> GameLights,
    mut status: watch::Receiver<HardwareStatus>,
    mut feedback: watch::Receiver<ButtonFeedback>,
    inputs: watch::Sender<LedInputs>,
    status_tx: Arc<watch::Sender<HardwareStatus>>,
) {
    let mut game = engine.watch();
    loop {
        let button = *feedback.borrow_and_update();
        let video_down = status.borrow_and_update().video_fault;
        let published = game.borrow_and_update().clone();
        inputs.send_if_modified(|i| {
            let before = *i;
            i.phase = Phase::Running;
            i.storage_fault = published.storage_fault.is_some();
            i.set_game(game_lights(&published));
            i.video_down = video_down;
            i.button = button;
            *i != before
        });
        let held = button == ButtonFeedback::Held;
        status_tx.send_if_modified(|s| std::mem::replace(&mut s.button_held, held) != held);
        tokio::select! {
            changed = game.changed() => if changed.is_err() { break },
            changed = status.changed() => if changed.is_err() { break },
            changed = feedback.changed() => if changed.is_err() { break },
        }
    }
}

/// What the admin API may do with the hardware.
pub struct HardwareControl {
    /// Present when the button is simulated.
    sim_button: Option<SimButton>,
    feedback: watch::Sender<ButtonFeedback>,
}

impl HardwareControl {
    pub fn is_simulated(&self) -> bool {
        self.sim_button.is_some()
    }

    /// Holds the simulated button for `press`; false when the button is real.
    pub fn press_button(&self, press: Duration) -> bool {
        match &self.sim_button {
            Some(button) => {
                button.press(press);
                true
            }
            None => false,
        }
    }

    /// All LEDs on for a moment: a reset happened (button, console or admin socket).
    pub fn confirm_reset(self: &Arc<Self>) {
        self.feedback.send_replace(ButtonFeedback::Done);
        let control = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(RESET_CONFIRM).await;
            control.feedback.send_if_modified(|f| {
                std::mem::replace(f, ButtonFeedback::Idle) == ButtonFeedback::Done
            });
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "all LEDs light for 2 s" after a reset (docs/technicians.md, `reset_done` row).
    #[tokio::test(start_paused = true)]
    async fn the_reset_confirmation_lasts_as_long_as_the_docs_say() {
        let cell = super::super::leds::tests::documented("reset_done", super::super::Led::Red);
        let secs: u64 = cell
            .trim_start_matches("on (")
            .trim_end_matches(" s)")
            .parse()
            .unwrap_or_else(|_| panic!("a duration in {cell:?}"));
        assert_eq!(RESET_CONFIRM, Duration::from_secs(secs));

        let (feedback, watcher) = watch::channel(ButtonFeedback::Idle);
        let control = Arc::new(HardwareControl {
            sim_button: None,
            feedback,
        });
        control.confirm_reset();
        assert_eq!(*watcher.borrow(), ButtonFeedback::Done);
        tokio::time::sleep(RESET_CONFIRM - Duration::from_millis(1)).await;
        assert_eq!(*watcher.borrow(), ButtonFeedback::Done, "still confirming");
        tokio::time::sleep(Duration::from_millis(2)).await;
        assert_eq!(*watcher.borrow(), ButtonFeedback::Idle, "back to normal");
    }
}
