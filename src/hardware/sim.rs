//! Simulated hardware for laptops, tests and CI.
//!
//! The simulated player "plays" a video for its known length (or the configured default),
//! reporting progress every second on tokio time, so tests can pause and advance the clock.
//! The simulated LEDs log what they show; the simulated button is pressed through the admin API.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{interval, Instant, MissedTickBehavior};

use super::{ButtonEdge, Led, PlaybackEnd, PlayerCommand, PlayerReport, StatusLeds, VideoBackend};

const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// See the module docs.
pub struct SimPlayer {
    pub default_duration_secs: f64,
}

struct Playing {
    token_id: String,
    duration: f64,
    /// Seconds played before the current run (pauses split a video into runs).
    played_before: f64,
    /// Start of the current run; `None` while paused.
    running_since: Option<Instant>,
}

impl Playing {
    fn position(&self) -> f64 {
        let running = self
            .running_since
            .map_or(0.0, |since| since.elapsed().as_secs_f64());
        (self.played_before + running).min(self.duration)
    }
}

impl VideoBackend for SimPlayer {
    fn spawn(
        self: Box<Self>,
        mut commands: mpsc::Receiver<PlayerCommand>,
        reports: mpsc::Sender<PlayerReport>,
    ) -> JoinHandle<()> {
        tokio::spawn(async move {
            let _ = reports.send(PlayerReport::Available(true)).await;
            let mut current: Option<Playing> = None;
            let mut ticker = interval(PROGRESS_EVERY);
            ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    command = commands.recv() => {
                        let Some(command) = command else { break };
                        match command {
                            PlayerCommand::Play { token_id, duration_secs, .. } => {
                                current = Some(Playing {
                                    token_id,
                                    duration: duration_secs.unwrap_or(self.default_duration_secs),
                                    played_before: 0.0,
                                    running_since: Some(Instant::now()),
                                });
                                ticker.reset_immediately();
                            }
                            PlayerCommand::Pause => {
                                if let Some(p) = &mut current {
                                    p.played_before = p.position();
                                    p.running_since = None;
                                }
                            }
                            PlayerCommand::Resume => {
                                if let Some(p) = current.as_mut().filter(|p| p.running_since.is_none()) {
                                    p.running_since = Some(Instant::now());
                                }
                            }
                            PlayerCommand::Stop => current = None,
                        }
                    }
                    _ = ticker.tick(), if current.as_ref().is_some_and(|p| p.running_since.is_some()) => {
                        let Some(p) = &current else { continue };
                        let position = p.position();
                        let report = if position >= p.duration {
                            let ended = PlayerReport::Ended {
                                token_id: p.token_id.clone(),
                                outcome: PlaybackEnd::Completed,
                            };
                            current = None;
                            ended
                        } else {
                            PlayerReport::Progress {
                                token_id: p.token_id.clone(),
                                position_secs: position,
                                duration_secs: Some(p.duration),
                            }
                        };
                        if reports.send(report).await.is_err() {
                            break;
                        }
                    }
                }
            }
        })
    }
}

/// LEDs that only log what they would show; the state is in [`super::HardwareStatus::lit`].
#[derive(Debug, Clone, Default)]
pub struct SimLeds;

impl StatusLeds for SimLeds {
    fn set(&mut self, led: Led, on: bool) {
        tracing::trace!(?led, on, "status LED (simulated)");
    }
}

/// The simulated reset button: `POST /api/hardware/button {press_ms}` holds it that long.
#[derive(Debug, Clone)]
pub struct SimButton {
    edges: mpsc::Sender<ButtonEdge>,
}

impl SimButton {
    pub fn new(edges: mpsc::Sender<ButtonEdge>) -> Self {
        Self { edges }
    }

    /// Presses the button for `press`, on tokio time, without waiting for the release.
    pub fn press(&self, press: Duration) {
        let edges = self.edges.clone();
        tracing::info!(
            press_ms = press.as_millis() as u64,
            "reset button pressed (simulated)"
        );
        tokio::spawn(async move {
            if edges.send(ButtonEdge::Pressed).await.is_ok() {
                tokio::time::sleep(press).await;
                let _ = edges.send(ButtonEdge::Released).await;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn plays_for_its_duration_with_progress_and_honours_pause() {
        let (commands, command_rx) = mpsc::channel(8);
        let (report_tx, mut reports) = mpsc::channel(64);
        Box::new(SimPlayer {
            default_duration_secs: 30.0,
        })
        .spawn(command_rx, report_tx);
        commands
            .send(PlayerCommand::Play {
                token_id: "v".into(),
                path: "v.mp4".into(),
                duration_secs: Some(3.0),
            })
            .await
            .unwrap();
        assert_eq!(reports.recv().await, Some(PlayerReport::Available(true)));
        let first = reports.recv().await.unwrap();
        assert!(
            matches!(first, PlayerReport::Progress { position_secs, .. } if position_secs < 0.5)
        );
        commands.send(PlayerCommand::Pause).await.unwrap();
        // Paused for a long time: nothing ends.
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(reports.try_recv().is_err());
        commands.send(PlayerCommand::Resume).await.unwrap();
        let mut last = None;
        while let Some(report) = reports.recv().await {
            if matches!(report, PlayerReport::Ended { .. }) {
                last = Some(report);
                break;
            }
        }
        assert_eq!(
            last,
            Some(PlayerReport::Ended {
                token_id: "v".into(),
                outcome: PlaybackEnd::Completed
            })
        );
    }
}
