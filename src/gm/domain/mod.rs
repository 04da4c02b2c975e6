//! The GM contract's game as pure state: sessions, teams, scans, scores, devices and the video
//! queue. This file holds the types and the dispatch; each responsibility decides and applies
//! its own commands and events in its own file (`sessions.rs`, `scans.rs`, `devices.rs`,
//! `video.rs`), and `view.rs` builds what is published.
//!
//! Invariant: nothing here does I/O or reads a clock. [`GmState::execute`] takes a command and the
//! current time, decides every event the command causes before changing anything, then applies
//! them with [`GmState::apply`] — the same function that replays the log at boot. So a command is
//! either applied whole or not at all, and replaying the log rebuilds identical state.

mod devices;
mod scans;
mod sessions;
mod video;
mod view;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use scans::REMEMBERED_SCAN_IDS;
pub use view::{GmView, RECENT_TRANSACTIONS};

use super::tokens::TokenCatalog;
use crate::domain::basics::{ErrorKind, Invalid, Millis};
use scans::ScanIdMemory;

/// Limits the domain enforces; set from the config.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    pub max_gm_stations: usize,
    pub max_player_scanners: usize,
    /// A disconnected device keeps its slot (and its identity) this long.
    pub reconnect_grace_ms: u64,
    /// A player scanner that has not scanned for this long is marked disconnected.
    pub player_idle_ms: u64,
    /// A GM station's scan of a token with a video starts it too (when none plays), as in the
    /// system the GM contract comes from; off, only player scanners start videos.
    pub gm_scans_play_videos: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_gm_stations: 5,
            max_player_scanners: 10,
            reconnect_grace_ms: 30_000,
            player_idle_ms: 120_000,
            gm_scans_play_videos: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DeviceKind {
    Gm,
    Player,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DisconnectReason {
    Timeout,
    Manual,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionStatus {
    Active,
    Paused,
    /// Ended: the session's log is kept and it is listed among the archived sessions.
    Archived,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionControl {
    Pause,
    Resume,
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransactionStatus {
    Accepted,
    Duplicate,
    Rejected,
}

/// Why a video stopped playing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PlaybackOutcome {
    Completed,
    Skipped,
    Stopped,
    /// The box went down while it played; see [`GmCommand::Recover`] for what happens next.
    Interrupted,
    Failed(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VideoControl {
    Pause,
    Resume,
    Skip,
    /// Ends the current video and empties the queue.
    Stop,
}

/// A scan as a scanner reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanRequest {
    pub token_id: String,
    pub team_id: Option<String>,
    pub device_id: String,
    pub device_kind: DeviceKind,
    /// When the scanner saw the token, by its own clock (offline-queued scans); `None`: when
    /// the box took it in, by the engine's clock.
    pub scanned_at: Option<Millis>,
    /// The scanner's own id for this scan: resending it returns the first result.
    pub client_scan_id: Option<String>,
}

impl ScanRequest {
    /// When the token was seen, `now` being the engine's clock for the batch: a scanner's
    /// clock ahead of the box's counts as now, so it cannot jump ahead of other scans.
    pub fn seen_at(&self, now: Millis) -> Millis {
        self.scanned_at.map_or(now, |at| at.min(now))
    }
}

/// Everything that can ask the game to change.
#[derive(Debug, Clone, PartialEq)]
pub enum GmCommand {
    CreateSession {
        session_id: String,
        name: String,
        /// `None` accepts any well-formed team id.
        teams: Option<Vec<String>>,
    },
    ControlSession(SessionControl),
    Scan(ScanRequest),
    ConnectDevice {
        device_id: String,
        kind: DeviceKind,
        name: Option<String>,
        ip: Option<String>,
    },
    DisconnectDevice {
        device_id: String,
        reason: DisconnectReason,
    },
    /// Marks player scanners that went quiet as disconnected (sent by a timer).
    SweepIdleDevices,
    /// A station said it is alive (its heartbeat): its "last seen" moves, logged at most every
    /// [`devices::SEEN_EVERY_MS`] so a room of heartbeats costs the card little.
    SeenDevice {
        device_id: String,
    },
    QueueVideo {
        token_id: String,
    },
    ControlVideo(VideoControl),
    /// The player reports that the current video ended.
    VideoEnded {
        token_id: String,
        outcome: PlaybackOutcome,
    },
    /// Ends the current session (archived) and starts a fresh one with the same name and teams.
    ResetSession {
        session_id: String,
        source: ResetSource,
    },
}

/// Who asked for a session reset; kept in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResetSource {
    /// The hardware reset button, held past its hold time.
    Button,
    /// `POST /api/session/reset` or the simulated button.
    AdminApi,
}

/// A recorded scan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transaction {
    pub id: String,
    pub session_id: String,
    pub token_id: String,
    pub team_id: Option<String>,
    pub device_id: String,
    pub device_kind: DeviceKind,
    pub scanned_at: Millis,
    pub recorded_at: Millis,
    pub status: TransactionStatus,
    pub rejection_reason: Option<String>,
    pub points: u64,
    pub client_scan_id: Option<String>,
    /// The scan started the token's video.
    pub video_queued: bool,
}

/// The durable record of what happened. Appended to the log; replayed at boot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum GmEvent {
    SessionCreated {
        session_id: String,
        name: String,
        teams: Option<Vec<String>>,
        at: Millis,
    },
    SessionPaused {
        session_id: String,
        at: Millis,
    },
    SessionResumed {
        session_id: String,
        at: Millis,
    },
    SessionEnded {
        session_id: String,
        at: Millis,
    },
    /// Shared by the live and the committed state, their recent transactions and scan ids.
    ScanRecorded(Arc<Transaction>),
    DeviceConnected {
        device_id: String,
        kind: DeviceKind,
        name: Option<String>,
        ip: Option<String>,
        at: Millis,
    },
    DeviceDisconnected {
        device_id: String,
        reason: DisconnectReason,
        at: Millis,
    },
    VideoQueued {
        token_id: String,
        at: Millis,
    },
    VideoStarted {
        token_id: String,
        at: Millis,
    },
    VideoPaused {
        token_id: String,
        at: Millis,
    },
    VideoResumed {
        token_id: String,
        at: Millis,
    },
    VideoEnded {
        token_id: String,
        outcome: PlaybackOutcome,
        at: Millis,
    },
    VideoQueueCleared {
        at: Millis,
    },
    // New variants go at the end: records store the variant's position within the contract.
    /// The current session was archived and a fresh one with the same setup started.
    SessionReset {
        ended_session_id: String,
        session_id: String,
        source: ResetSource,
        at: Millis,
    },
    /// A team holds every token of a group: recorded after the scan that completed it. The
    /// bonus itself is counted when that scan is applied (logs from before this event existed
    /// score the same); this event is for the screens.
    GroupCompleted {
        team_id: String,
        group: String,
        multiplier: u64,
        bonus: u64,
        at: Millis,
    },
    /// A connected station was heard from (a heartbeat) at `at`.
    DeviceSeen {
        device_id: String,
        at: Millis,
    },
}

impl GmEvent {
    /// The event's name, as `venuebox check` counts records.
    pub fn kind(&self) -> &'static str {
        match self {
            GmEvent::SessionCreated { .. } => "SessionCreated",
            GmEvent::SessionPaused { .. } => "SessionPaused",
            GmEvent::SessionResumed { .. } => "SessionResumed",
            GmEvent::SessionEnded { .. } => "SessionEnded",
            GmEvent::SessionReset { .. } => "SessionReset",
            GmEvent::ScanRecorded(_) => "ScanRecorded",
            GmEvent::DeviceConnected { .. } => "DeviceConnected",
            GmEvent::DeviceDisconnected { .. } => "DeviceDisconnected",
            GmEvent::VideoQueued { .. } => "VideoQueued",
            GmEvent::VideoStarted { .. } => "VideoStarted",
            GmEvent::VideoPaused { .. } => "VideoPaused",
            GmEvent::VideoResumed { .. } => "VideoResumed",
            GmEvent::VideoEnded { .. } => "VideoEnded",
            GmEvent::VideoQueueCleared { .. } => "VideoQueueCleared",
            GmEvent::GroupCompleted { .. } => "GroupCompleted",
            GmEvent::DeviceSeen { .. } => "DeviceSeen",
        }
    }
}

/// What a command produced, for the caller's reply.
#[derive(Debug, Clone, PartialEq)]
pub enum GmOutcome {
    Session(Session),
    /// `replayed` is true when the scan id was seen before and this is the original result.
    Transaction {
        transaction: Transaction,
        replayed: bool,
    },
    Device {
        device: Device,
        /// The device was already known and is taking its slot back.
        reconnected: bool,
    },
    Video(VideoView),
    Done,
}

/// Why a command was refused. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GmError {
    #[error("no active session")]
    NoSession,
    #[error("a session is already running; end it before creating another")]
    SessionAlreadyRunning,
    #[error("session is {0:?} and cannot {1:?}")]
    InvalidSessionTransition(SessionStatus, SessionControl),
    #[error("{kind:?} device limit of {max} reached")]
    DeviceLimit { kind: DeviceKind, max: usize },
    #[error("unknown device {0}")]
    UnknownDevice(String),
    #[error("unknown token {0}")]
    UnknownToken(String),
    #[error("token {0} has no video")]
    TokenHasNoVideo(String),
    #[error("no video is playing")]
    NoVideo,
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}

impl From<Invalid> for GmError {
    fn from(Invalid { field, reason }: Invalid) -> Self {
        Self::Invalid { field, reason }
    }
}

impl GmError {
    /// How the wire reports it.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NoSession => ErrorKind::NoSession,
            Self::DeviceLimit { .. } => ErrorKind::Limit,
            Self::SessionAlreadyRunning | Self::InvalidSessionTransition(..) | Self::NoVideo => {
                ErrorKind::Conflict
            }
            Self::UnknownDevice(_) | Self::UnknownToken(_) => ErrorKind::NotFound,
            Self::TokenHasNoVideo(_) | Self::Invalid { .. } => ErrorKind::Invalid,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    pub name: String,
    pub status: SessionStatus,
    pub teams: Option<Vec<String>>,
    pub started_at: Millis,
    pub ended_at: Option<Millis>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TeamScore {
    pub team_id: String,
    pub base_score: u64,
    pub bonus_points: u64,
    pub tokens_scanned: u64,
    pub completed_groups: Vec<String>,
}

impl TeamScore {
    pub fn score(&self) -> u64 {
        self.base_score.saturating_add(self.bonus_points)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    pub id: String,
    pub kind: DeviceKind,
    pub name: Option<String>,
    pub ip: Option<String>,
    pub connected: bool,
    pub connected_at: Millis,
    pub disconnected_at: Option<Millis>,
    pub disconnect_reason: Option<DisconnectReason>,
    pub last_seen: Millis,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VideoView {
    pub current: Option<CurrentVideo>,
    pub queue: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurrentVideo {
    pub token_id: String,
    pub started_at: Millis,
    pub paused: bool,
}

/// A finished session, kept for the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchivedSession {
    pub session: Session,
    pub scores: Vec<TeamScore>,
    pub transaction_count: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SessionState {
    session: Session,
    teams: BTreeMap<String, TeamScore>,
    /// token id (canonical) → transaction id that scored it; first write wins.
    claimed_tokens: HashMap<String, String>,
    /// team id → the token ids it holds, for group completion. Kept here, not in the team's
    /// score: the published view and the archive copy scores, and need none of it.
    held_tokens: HashMap<String, BTreeSet<String>>,
    /// The last [`RECENT_TRANSACTIONS`]; the full history is the log's.
    recent: VecDeque<Arc<Transaction>>,
    transaction_count: usize,
}

/// Everything [`GmState::apply`] has built, without the catalogue and limits that come from the
/// configuration. The engine stores one now and then so boot replays only the tail of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GmSnapshot {
    /// Fingerprint of the token catalogue the state was built with; another catalogue (the token
    /// file changed) makes the snapshot unusable and boot replays the whole log instead.
    catalog_fingerprint: u64,
    data: GmData,
}

/// What the events have built: everything of [`GmState`] but its configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct GmData {
    current: Option<SessionState>,
    /// Shared with the published view: copied only when a session ends, not at every commit.
    archived: Arc<Vec<ArchivedSession>>,
    devices: BTreeMap<String, Device>,
    video_current: Option<CurrentVideo>,
    video_queue: VecDeque<String>,
    client_scans: ScanIdMemory,
    transactions_recorded: u64,
}

/// The whole game state. Owned by the engine's single writer task.
#[derive(Debug, Clone)]
pub struct GmState {
    catalog: Arc<TokenCatalog>,
    catalog_fingerprint: u64,
    limits: Limits,
    data: GmData,
}

/// A device disconnected this long is dropped from the device table when another connects.
pub const FORGET_DEVICES_AFTER_MS: u64 = 60 * 60 * 1000;

/// Most teams one session may score for. A fixed team list holds at most this many; an open
/// session stops taking new team ids here, so no scanner can grow the scores (and every
/// `state:update` sent to every station) without bound.
pub const MAX_TEAMS: usize = 100;

impl GmState {
    pub fn new(catalog: TokenCatalog, limits: Limits) -> Self {
        Self {
            catalog_fingerprint: catalog.fingerprint(),
            catalog: Arc::new(catalog),
            limits,
            data: GmData::default(),
        }
    }

    /// The state as of now, for [`GmState::restore`].
    pub fn snapshot(&self) -> GmSnapshot {
        GmSnapshot {
            catalog_fingerprint: self.catalog_fingerprint,
            data: self.data.clone(),
        }
    }

    /// Rebuilds a domain from a snapshot, or `None` when it was made with another catalogue.
    pub fn restore(catalog: TokenCatalog, limits: Limits, snapshot: GmSnapshot) -> Option<Self> {
        if snapshot.catalog_fingerprint != catalog.fingerprint() {
            return None;
        }
        Some(Self {
            catalog_fingerprint: snapshot.catalog_fingerprint,
            catalog: Arc::new(catalog),
            limits,
            data: snapshot.data,
        })
    }

    pub fn catalog(&self) -> &TokenCatalog {
        &self.catalog
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Decides what `command` does at time `now`, applies it, and returns the events to log.
    /// On error nothing changed.
    pub fn execute(
        &mut self,
        command: &GmCommand,
        now: Millis,
    ) -> Result<(GmOutcome, Vec<GmEvent>), GmError> {
        let (outcome, events) = self.decide(command, now)?;
        for event in &events {
            self.apply(event);
        }
        let outcome = self.finish_outcome(outcome);
        Ok((outcome, events))
    }

    /// Refreshes outcomes that describe state after the events were applied.
    fn finish_outcome(&self, outcome: GmOutcome) -> GmOutcome {
        match outcome {
            GmOutcome::Session(s) => GmOutcome::Session(
                self.data
                    .current
                    .as_ref()
                    .filter(|c| c.session.id == s.id)
                    .map(|c| c.session.clone())
                    .or_else(|| {
                        self.data
                            .archived
                            .iter()
                            .rev()
                            .find(|a| a.session.id == s.id)
                            .map(|a| a.session.clone())
                    })
                    .unwrap_or(s),
            ),
            GmOutcome::Device {
                device,
                reconnected,
            } => GmOutcome::Device {
                device: self.data.devices.get(&device.id).cloned().unwrap_or(device),
                reconnected,
            },
            GmOutcome::Video(_) => GmOutcome::Video(self.video_view()),
            other => other,
        }
    }

    fn decide(
        &self,
        command: &GmCommand,
        now: Millis,
    ) -> Result<(GmOutcome, Vec<GmEvent>), GmError> {
        match command {
            GmCommand::CreateSession {
                session_id,
                name,
                teams,
            } => self.decide_create_session(session_id, name, teams.as_ref(), now),
            GmCommand::ControlSession(control) => self.decide_session_control(*control, now),
            GmCommand::ResetSession { session_id, source } => {
                self.decide_reset(session_id, *source, now)
            }
            GmCommand::Scan(scan) => self.decide_scan(scan, now),
            GmCommand::ConnectDevice {
                device_id,
                kind,
                name,
                ip,
            } => self.decide_connect(device_id, *kind, name, ip, now),
            GmCommand::DisconnectDevice { device_id, reason } => {
                self.decide_disconnect(device_id, *reason, now)
            }
            GmCommand::SweepIdleDevices => Ok((GmOutcome::Done, self.idle_players(now))),
            GmCommand::SeenDevice { device_id } => Ok((GmOutcome::Done, self.seen(device_id, now))),
            GmCommand::QueueVideo { token_id } => self.decide_queue_video(token_id, now),
            GmCommand::ControlVideo(control) => self.decide_video_control(*control, now),
            GmCommand::VideoEnded { token_id, outcome } => Ok((
                GmOutcome::Video(VideoView::default()),
                self.video_ended(token_id, outcome, now),
            )),
        }
    }

    /// Applies one logged event. Used both live and when replaying the log at boot.
    pub fn apply(&mut self, event: &GmEvent) {
        match event {
            GmEvent::SessionCreated { .. }
            | GmEvent::SessionPaused { .. }
            | GmEvent::SessionResumed { .. }
            | GmEvent::SessionEnded { .. }
            | GmEvent::SessionReset { .. } => self.apply_session(event),
            GmEvent::ScanRecorded(transaction) => self.apply_scan(transaction),
            GmEvent::DeviceConnected { .. }
            | GmEvent::DeviceDisconnected { .. }
            | GmEvent::DeviceSeen { .. } => self.apply_device(event),
            GmEvent::VideoQueued { .. }
            | GmEvent::VideoStarted { .. }
            | GmEvent::VideoPaused { .. }
            | GmEvent::VideoResumed { .. }
            | GmEvent::VideoEnded { .. }
            | GmEvent::VideoQueueCleared { .. } => self.apply_video(event),
            GmEvent::GroupCompleted { .. } => {}
        }
    }

    /// At boot, after replay: devices come back disconnected, and a video that was playing when
    /// the power went is restarted from the beginning.
    pub fn recover(&self, now: Millis) -> Vec<GmEvent> {
        let mut events: Vec<GmEvent> = self
            .data
            .devices
            .values()
            .filter(|d| d.connected)
            .map(|d| GmEvent::DeviceDisconnected {
                device_id: d.id.clone(),
                reason: DisconnectReason::Error,
                at: now,
            })
            .collect();
        if let Some(current) = &self.data.video_current {
            events.push(GmEvent::VideoEnded {
                token_id: current.token_id.clone(),
                outcome: PlaybackOutcome::Interrupted,
                at: now,
            });
            events.push(GmEvent::VideoStarted {
                token_id: current.token_id.clone(),
                at: now,
            });
        }
        events
    }

    /// How many transactions the current session has recorded.
    pub fn session_transaction_count(&self) -> usize {
        self.data
            .current
            .as_ref()
            .map_or(0, |s| s.transaction_count)
    }
}

#[cfg(test)]
pub(crate) mod tests;
