//! Video on the HDMI output through a supervised mpv process, driven over mpv's JSON IPC by a
//! small client of our own.
//!
//! mpv runs `--idle` with `--input-ipc-server` on a Unix socket; we observe `time-pos`,
//! `duration` and `pause`, and read `end-file` events. Each `loadfile` is matched to the
//! playlist entry id mpv answers it with, so the `end-file` of a video we replaced or stopped is
//! never taken for the end of the next one, however quickly loads follow each other. Only a natural end (`eof`) or a failure (`error`,
//! with mpv's `file_error`) is reported: stops and skips were decided by the domain already.
//!
//! If mpv exits, the video it was playing is reported as failed, the player as unavailable, and
//! mpv is started again with a growing backoff (0.5 s up to 10 s, reset after a minute of
//! uptime). A `Play` that arrives while it is down is kept and started once it is back.
//! Between token videos an idle loop plays when one is configured.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{PlaybackEnd, PlayerCommand, PlayerReport, VideoBackend};

/// How mpv is started (`[video]` in the config).
#[derive(Debug, Clone, PartialEq)]
pub struct MpvSettings {
    pub program: PathBuf,
    /// Where the IPC socket goes.
    pub ipc_socket: PathBuf,
    /// Output arguments: on a Pi `--vo=gpu --gpu-context=drm --hwdec=...`, in tests
    /// `--vo=null --ao=null`.
    pub args: Vec<String>,
    /// Played in a loop between token videos.
    pub idle_loop: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum MpvError {
    #[error("cannot start {program}: {cause} (install mpv, e.g. `apt install mpv`)")]
    Spawn {
        program: String,
        cause: std::io::Error,
    },
    #[error("mpv did not open its IPC socket {0} in time")]
    NoSocket(String),
    #[error("mpv IPC: {0}")]
    Io(#[from] std::io::Error),
}

/// Progress is reported at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(1000);
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Uptime after which the backoff starts again from the first step.
const STABLE_AFTER: Duration = Duration::from_secs(60);

/// See the module docs.
pub struct MpvPlayer {
    pub settings: MpvSettings,
}

impl VideoBackend for MpvPlayer {
    fn spawn(
        self: Box<Self>,
        commands: mpsc::Receiver<PlayerCommand>,
        reports: mpsc::Sender<PlayerReport>,
    ) -> JoinHandle<()> {
        tokio::spawn(supervise(self.settings, commands, reports))
    }
}

/// What the supervisor carries across mpv restarts.
struct Supervisor {
    settings: MpvSettings,
    commands: mpsc::Receiver<PlayerCommand>,
    reports: mpsc::Sender<PlayerReport>,
    /// A token video to start as soon as mpv is up.
    pending: Option<(String, PathBuf)>,
}

async fn supervise(
    settings: MpvSettings,
    commands: mpsc::Receiver<PlayerCommand>,
    reports: mpsc::Sender<PlayerReport>,
) {
    let mut sup = Supervisor {
        settings,
        commands,
        reports,
        pending: None,
    };
    let mut backoff = FIRST_BACKOFF;
    loop {
        let started = Instant::now();
        match start_mpv(&sup.settings).await {
            Ok((child, stream)) => {
                let _ = sup.reports.send(PlayerReport::Available(true)).await;
                match run_session(&mut sup, child, stream).await {
                    SessionEnd::Shutdown => return,
                    SessionEnd::Died(why) => {
                        tracing::error!(%why, "video player stopped; restarting it");
                    }
                }
                let _ = sup.reports.send(PlayerReport::Available(false)).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "video player could not start");
                let _ = sup.reports.send(PlayerReport::Available(false)).await;
            }
        }
        if started.elapsed() > STABLE_AFTER {
            backoff = FIRST_BACKOFF;
        }
        // Wait out the backoff, keeping the latest Play for when mpv is back.
        let until = Instant::now() + backoff;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => break,
                command = sup.commands.recv() => match command {
                    None => return,
                    Some(command) => sup.remember_while_down(command),
                },
            }
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

impl Supervisor {
    fn remember_while_down(&mut self, command: PlayerCommand) {
        match command {
            PlayerCommand::Play { token_id, path, .. } => self.pending = Some((token_id, path)),
            PlayerCommand::Stop => self.pending = None,
            PlayerCommand::Pause | PlayerCommand::Resume => {}
        }
    }
}

async fn start_mpv(settings: &MpvSettings) -> Result<(Child, UnixStream), MpvError> {
    let _ = std::fs::remove_file(&settings.ipc_socket);
    let mut command = Command::new(&settings.program);
    command
        .arg("--idle=yes")
        .arg("--no-terminal")
        .arg("--keep-open=no")
        .arg("--input-default-bindings=no")
        .arg(format!(
            "--input-ipc-server={}",
            settings.ipc_socket.display()
        ))
        .args(&settings.args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    // The unit gives the box one capability, to set the clock; mpv plays files and gets none.
    // SAFETY: prctl is async-signal-safe and touches only the child's own capability sets.
    #[cfg(target_os = "linux")]
    unsafe {
        command.pre_exec(|| {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL,
                0,
                0,
                0,
            );
            Ok(())
        });
    }
    let mut child = command.spawn().map_err(|cause| MpvError::Spawn {
        program: settings.program.display().to_string(),
        cause,
    })?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(stream) = UnixStream::connect(&settings.ipc_socket).await {
            return Ok((child, stream));
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(MpvError::Io(std::io::Error::other(format!(
                "mpv exited at start ({status})"
            ))));
        }
        if Instant::now() > deadline {
            let _ = child.kill().await;
            return Err(MpvError::NoSocket(
                settings.ipc_socket.display().to_string(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

enum SessionEnd {
    Shutdown,
    Died(String),
}

/// What the running mpv is doing, as far as we know.
#[derive(Default)]
struct Playback {
    /// `loadfile` requests not yet answered: request id → token (`None` = idle loop). mpv's
    /// answer names the playlist entry, which its `end-file` event names again.
    loading: HashMap<u64, Option<String>>,
    /// Playlist entry id → token (`None` for the idle loop).
    entries: HashMap<i64, Option<String>>,
    /// The token video on screen.
    current: Option<String>,
    position: Option<f64>,
    duration: Option<f64>,
    last_progress: Option<Instant>,
}

struct Ipc {
    writer: tokio::net::unix::OwnedWriteHalf,
    next_request: u64,
}

impl Ipc {
    /// Sends a command; returns its request id.
    async fn send(&mut self, command: Value) -> Result<u64, std::io::Error> {
        self.next_request += 1;
        let mut line = json!({ "command": command, "request_id": self.next_request }).to_string();
        line.push('\n');
        self.writer.write_all(line.as_bytes()).await?;
        Ok(self.next_request)
    }
}

async fn run_session(sup: &mut Supervisor, mut child: Child, stream: UnixStream) -> SessionEnd {
    let (reader, writer) = stream.into_split();
    let mut lines = BufReader::new(reader).lines();
    let mut ipc = Ipc {
        writer,
        next_request: 0,
    };
    let mut playback = Playback::default();
    let setup = async {
        for (id, name) in [(1, "time-pos"), (2, "duration"), (3, "pause")] {
            ipc.send(json!(["observe_property", id, name])).await?;
        }
        Ok::<(), std::io::Error>(())
    };
    if let Err(e) = setup.await {
        return SessionEnd::Died(format!("IPC setup failed: {e}"));
    }
    let first = match sup.pending.take() {
        Some((token, path)) => load(&mut ipc, &mut playback, Some(token), &path).await,
        None => play_idle_loop(&mut ipc, &mut playback, &sup.settings).await,
    };
    if let Err(e) = first {
        return SessionEnd::Died(format!("IPC write failed: {e}"));
    }
    loop {
        tokio::select! {
            status = child.wait() => {
                let why = status.map_or_else(|e| e.to_string(), |s| s.to_string());
                fail_current(sup, &mut playback, "the video player stopped unexpectedly").await;
                return SessionEnd::Died(format!("mpv exited: {why}"));
            }
            line = lines.next_line() => match line {
                Ok(Some(line)) => {
                    if let Err(e) = on_message(sup, &mut ipc, &mut playback, &line).await {
                        let _ = child.kill().await;
                        fail_current(sup, &mut playback, "the video player stopped answering").await;
                        return SessionEnd::Died(format!("IPC write failed: {e}"));
                    }
                }
                Ok(None) | Err(_) => {
                    let _ = child.kill().await;
                    fail_current(sup, &mut playback, "the video player stopped unexpectedly").await;
                    return SessionEnd::Died("IPC socket closed".into());
                }
            },
            command = sup.commands.recv() => {
                let Some(command) = command else {
                    let _ = ipc.send(json!(["quit"])).await;
                    let _ = tokio::time::timeout(Duration::from_secs(2), child.wait()).await;
                    return SessionEnd::Shutdown;
                };
                if let Err(e) = on_command(sup, &mut ipc, &mut playback, command).await {
                    let _ = child.kill().await;
                    fail_current(sup, &mut playback, "the video player stopped answering").await;
                    return SessionEnd::Died(format!("IPC write failed: {e}"));
                }
            }
        }
    }
}

async fn fail_current(sup: &Supervisor, playback: &mut Playback, reason: &str) {
    if let Some(token_id) = playback.current.take() {
        let _ = sup
            .reports
            .send(PlayerReport::Ended {
                token_id,
                outcome: PlaybackEnd::Failed(reason.to_string()),
            })
            .await;
    }
}

async fn load(
    ipc: &mut Ipc,
    playback: &mut Playback,
    token: Option<String>,
    path: &std::path::Path,
) -> Result<(), std::io::Error> {
    let looping = if token.is_some() { "no" } else { "inf" };
    ipc.send(json!(["set_property", "loop-file", looping]))
        .await?;
    ipc.send(json!(["set_property", "pause", false])).await?;
    playback.current = token.clone();
    playback.position = None;
    playback.duration = None;
    playback.last_progress = None;
    let request = ipc
        .send(json!(["loadfile", path.to_string_lossy(), "replace"]))
        .await?;
    playback.loading.insert(request, token);
    Ok(())
}

async fn play_idle_loop(
    ipc: &mut Ipc,
    playback: &mut Playback,
    settings: &MpvSettings,
) -> Result<(), std::io::Error> {
    playback.current = None;
    match &settings.idle_loop {
        Some(path) => load(ipc, playback, None, path).await,
        None => ipc.send(json!(["stop"])).await.map(|_| ()),
    }
}

async fn on_command(
    sup: &mut Supervisor,
    ipc: &mut Ipc,
    playback: &mut Playback,
    command: PlayerCommand,
) -> Result<(), std::io::Error> {
    match command {
        PlayerCommand::Play { token_id, path, .. } => {
            load(ipc, playback, Some(token_id), &path).await
        }
        PlayerCommand::Pause => ipc
            .send(json!(["set_property", "pause", true]))
            .await
            .map(|_| ()),
        PlayerCommand::Resume => ipc
            .send(json!(["set_property", "pause", false]))
            .await
            .map(|_| ()),
        PlayerCommand::Stop => play_idle_loop(ipc, playback, &sup.settings).await,
    }
}

/// Handles one line from mpv: a reply, a property change or an event.
async fn on_message(
    sup: &mut Supervisor,
    ipc: &mut Ipc,
    playback: &mut Playback,
    line: &str,
) -> Result<(), std::io::Error> {
    let Ok(message) = serde_json::from_str::<Value>(line) else {
        tracing::debug!(line, "mpv sent something that is not JSON");
        return Ok(());
    };
    if let Some(error) = message.get("error").and_then(Value::as_str) {
        if error != "success" {
            tracing::warn!(error, reply = %message, "mpv refused a command");
        }
        let request = message.get("request_id").and_then(Value::as_u64);
        if let Some(token) = request.and_then(|id| playback.loading.remove(&id)) {
            let entry = message["data"]["playlist_entry_id"].as_i64();
            if let Some(entry) = entry {
                playback.entries.insert(entry, token);
            }
        }
        return Ok(());
    }
    let entry = message.get("playlist_entry_id").and_then(Value::as_i64);
    match message.get("event").and_then(Value::as_str) {
        Some("end-file") => {
            let token = entry.and_then(|id| playback.entries.remove(&id)).flatten();
            let reason = message.get("reason").and_then(Value::as_str).unwrap_or("");
            let outcome = match reason {
                "eof" => PlaybackEnd::Completed,
                "error" => {
                    let detail = message
                        .get("file_error")
                        .and_then(Value::as_str)
                        .unwrap_or("unknown error");
                    PlaybackEnd::Failed(format!("cannot play the video: {detail}"))
                }
                // Stopped or replaced on our request: the domain already recorded why.
                _ => return Ok(()),
            };
            if let Some(token_id) = token.filter(|t| playback.current.as_ref() == Some(t)) {
                playback.current = None;
                let _ = sup
                    .reports
                    .send(PlayerReport::Ended { token_id, outcome })
                    .await;
                if playback.loading.is_empty() {
                    play_idle_loop(ipc, playback, &sup.settings).await?;
                }
            }
        }
        Some("property-change") => {
            let value = message.get("data").and_then(Value::as_f64);
            match message.get("name").and_then(Value::as_str) {
                Some("time-pos") => playback.position = value,
                Some("duration") => playback.duration = value,
                _ => {}
            }
            report_progress(sup, playback).await;
        }
        _ => {}
    }
    Ok(())
}

async fn report_progress(sup: &Supervisor, playback: &mut Playback) {
    let (Some(token_id), Some(position)) = (&playback.current, playback.position) else {
        return;
    };
    if playback
        .last_progress
        .is_some_and(|at| at.elapsed() < PROGRESS_EVERY)
    {
        return;
    }
    playback.last_progress = Some(Instant::now());
    let _ = sup
        .reports
        .send(PlayerReport::Progress {
            token_id: token_id.clone(),
            position_secs: position,
            duration_secs: playback.duration,
        })
        .await;
}
