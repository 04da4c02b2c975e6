//! Drives the video player from the committed video events and feeds its reports back.
//!
//! The domain decides what plays (the queue lives in the log); this driver only makes the
//! player follow. Progress goes to the hub as a live message; the end of a video goes back to
//! the engine as [`Command::VideoEnded`], which starts the next queued one.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::{broadcast, mpsc};

use super::domain::{GmCommand, GmEvent, PlaybackOutcome};
use super::tokens::TokenCatalog;
use crate::domain::Event;
use crate::engine::EngineHandle;
use crate::hardware::{PlaybackEnd, PlayerCommand, PlayerReport, StatusSender, VideoBackend};
use crate::hub::{HubBody, VideoProgress};

fn play_command(catalog: &TokenCatalog, media_dir: &Path, token_id: &str) -> Option<PlayerCommand> {
    let video = catalog.get(token_id)?.video.as_ref()?;
    Some(PlayerCommand::Play {
        token_id: token_id.to_string(),
        path: media_dir.join(&video.path),
        duration_secs: video.duration_secs,
    })
}

/// What the player must do for one committed event, given the token it is playing.
fn follow(
    catalog: &TokenCatalog,
    media_dir: &Path,
    event: &Event,
    playing: &Option<String>,
) -> Option<PlayerCommand> {
    let Event::Gm(event) = event else {
        return None;
    };
    match event {
        GmEvent::VideoStarted { token_id, .. } => play_command(catalog, media_dir, token_id),
        GmEvent::VideoPaused { .. } => Some(PlayerCommand::Pause),
        GmEvent::VideoResumed { .. } => Some(PlayerCommand::Resume),
        // Ended by the domain (skip, stop) rather than by the player itself.
        GmEvent::VideoEnded { token_id, .. } if playing.as_ref() == Some(token_id) => {
            Some(PlayerCommand::Stop)
        }
        _ => None,
    }
}

/// Runs until the hub closes. Spawn it before the engine's boot recovery so a video that was
/// playing at power loss is picked up again.
pub async fn run_video_driver(
    engine: EngineHandle,
    catalog: Arc<TokenCatalog>,
    backend: Box<dyn VideoBackend>,
    media_dir: PathBuf,
    status: StatusSender,
) {
    let mut events = engine.hub().subscribe();
    let (command_tx, command_rx) = mpsc::channel(16);
    let (report_tx, mut reports) = mpsc::channel(64);
    let _player = backend.spawn(command_rx, report_tx);
    let mut playing: Option<String> = None;

    loop {
        tokio::select! {
            message = events.recv() => {
                let command = match message {
                    Ok(message) => match &message.body {
                        HubBody::Committed(event) => follow(&catalog, &media_dir, event, &playing),
                        HubBody::VideoProgress(_) => None,
                    },
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "video driver fell behind; following the current state");
                        let current = engine.published().views.gm.video.current.clone();
                        match current {
                            Some(c) if playing.as_ref() != Some(&c.token_id) => {
                                play_command(&catalog, &media_dir, &c.token_id)
                            }
                            None if playing.is_some() => Some(PlayerCommand::Stop),
                            _ => None,
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                };
                if let Some(command) = command {
                    match &command {
                        PlayerCommand::Play { token_id, .. } => playing = Some(token_id.clone()),
                        PlayerCommand::Stop => playing = None,
                        _ => {}
                    }
                    if command_tx.send(command).await.is_err() {
                        tracing::error!("video player task ended");
                        break;
                    }
                }
            }
            report = reports.recv() => {
                let Some(report) = report else { break };
                handle_report(&engine, &status, &mut playing, report).await;
            }
        }
    }
    status.send_modify(|s| s.video_ready = false);
}

async fn handle_report(
    engine: &EngineHandle,
    status: &StatusSender,
    playing: &mut Option<String>,
    report: PlayerReport,
) {
    match report {
        PlayerReport::Available(ready) => {
            if !ready {
                tracing::warn!("video player down; GM stations see videoDisplayReady: false");
            }
            status.send_if_modified(|s| {
                let before = (s.video_ready, s.video_fault);
                s.video_ready = ready;
                s.video_fault = !ready;
                before != (ready, !ready)
            });
        }
        PlayerReport::Progress {
            token_id,
            position_secs,
            duration_secs,
        } => engine
            .hub()
            .publish_live(HubBody::VideoProgress(VideoProgress {
                token_id,
                position_secs,
                duration_secs,
            })),
        PlayerReport::Ended { token_id, outcome } => {
            if playing.as_ref() == Some(&token_id) {
                *playing = None;
            }
            let outcome = match outcome {
                PlaybackEnd::Completed => PlaybackOutcome::Completed,
                PlaybackEnd::Failed(why) => PlaybackOutcome::Failed(why),
            };
            let ended = GmCommand::VideoEnded { token_id, outcome };
            if let Err(e) = engine.execute(ended.into()).await {
                tracing::error!(error = %e, "could not record the end of a video");
            }
        }
    }
}
