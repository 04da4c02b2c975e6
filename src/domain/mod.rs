//! The game as pure state: sessions, teams, scans, scores, devices and the video queue.
//!
//! Invariant: nothing here does I/O or reads a clock. [`Domain::execute`] takes a command and the
//! current time, decides every event the command causes before changing anything, then applies
//! them with [`Domain::apply`] — the same function that replays the log at boot. So a command is
//! either applied whole or not at all, and replaying the log rebuilds identical state.

pub mod predictions;
pub mod tokens;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

pub use predictions::{PredictionCommand, PredictionEvent, PredictionOutcome, PredictionsState};
pub use tokens::{ScoringRules, Token, TokenCatalog};

/// Milliseconds since the Unix epoch. Time is always an argument, never read here.
pub type Millis = u64;

/// How many closed predictions the published view keeps beside the open ones.
pub const RECENT_CLOSED_PREDICTIONS: usize = 20;

/// How many transactions of the current session the published view keeps (`sync:full` sends them).
pub const RECENT_TRANSACTIONS: usize = 100;

/// Limits the domain enforces; set from the config.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    pub max_gm_stations: usize,
    pub max_player_scanners: usize,
    /// A disconnected device keeps its slot (and its identity) this long.
    pub reconnect_grace_ms: u64,
    /// A player scanner that has not scanned for this long is marked disconnected.
    pub player_idle_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_gm_stations: 5,
            max_player_scanners: 10,
            reconnect_grace_ms: 30_000,
            player_idle_ms: 120_000,
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
    /// The box went down while it played; see [`Command::Recover`] for what happens next.
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
    /// When the scanner saw the token (its own clock for offline-queued scans, else arrival).
    pub scanned_at: Millis,
    /// The scanner's own id for this scan: resending it returns the first result.
    pub client_scan_id: Option<String>,
}

/// Everything that can ask the game to change.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
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
    QueueVideo {
        token_id: String,
    },
    ControlVideo(VideoControl),
    /// The player reports that the current video ended.
    VideoEnded {
        token_id: String,
        outcome: PlaybackOutcome,
    },
    /// Sent once at boot after replay: devices come back disconnected, and a video that was
    /// playing when the power went is restarted from the beginning.
    Recover,
    /// Live predictions (seed 002).
    Prediction(PredictionCommand),
    /// Changes nothing: proves the engine answers (the systemd watchdog).
    Ping,
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
pub enum Event {
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
    ScanRecorded(Transaction),
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
    // New variants go at the end: records store the variant's position.
    Prediction(PredictionEvent),
    /// The current session was archived and a fresh one with the same setup started.
    SessionReset {
        ended_session_id: String,
        session_id: String,
        source: ResetSource,
        at: Millis,
    },
}

/// What a command produced, for the caller's reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
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
    Prediction(PredictionOutcome),
    Done,
}

/// Why a command was refused. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
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
    #[error("no prediction {0}")]
    PredictionNotFound(String),
    #[error("prediction {0} is closed")]
    PredictionClosed(String),
    #[error("balance {balance} is less than the {needed} points needed")]
    InsufficientBalance { balance: u64, needed: u64 },
    #[error("someone has already joined as {0}; pick another name, or log in from the phone that joined with it")]
    NameTaken(String),
    #[error("this box already has {0} viewers")]
    ViewerLimit(usize),
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
    /// Token ids this team holds (for group completion).
    held_tokens: BTreeSet<String>,
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

/// The read model the engine publishes after every commit. Its transactions are bounded;
/// archived sessions, predictions and balances grow with the box's history.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GameView {
    pub session: Option<Session>,
    pub scores: Vec<TeamScore>,
    /// The last [`RECENT_TRANSACTIONS`] transactions of the current session, oldest first.
    pub recent_transactions: Vec<Transaction>,
    pub devices: Vec<Device>,
    pub video: VideoView,
    pub archived_sessions: Vec<ArchivedSession>,
    /// Open predictions and the most recently closed ones (newest last).
    pub predictions: Vec<predictions::Prediction>,
    /// Points balance per viewer.
    pub balances: BTreeMap<String, u64>,
}

impl GameView {
    pub fn prediction(&self, id: &str) -> Option<&predictions::Prediction> {
        self.predictions.iter().find(|p| p.id == id)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SessionState {
    session: Session,
    teams: BTreeMap<String, TeamScore>,
    /// token id (canonical) → transaction id that scored it; first write wins.
    claimed_tokens: HashMap<String, String>,
    /// The last [`RECENT_TRANSACTIONS`]; the full history is the log's.
    recent: VecDeque<Transaction>,
    transaction_count: usize,
}

/// How many client scan ids the box remembers, to answer resends with the original result. A
/// scanner resends within minutes of a failure (its queue holds 100), so this covers hours of a
/// busy venue while keeping memory, snapshots (written every 10,000 events) and boot bounded.
pub const REMEMBERED_SCAN_IDS: usize = 10_000;

/// (device id, client scan id) → the transaction it produced, oldest forgotten first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct ScanIdMemory {
    results: HashMap<(String, String), Transaction>,
    order: VecDeque<(String, String)>,
}

impl ScanIdMemory {
    fn get(&self, key: &(String, String)) -> Option<&Transaction> {
        self.results.get(key)
    }

    fn remember(&mut self, key: (String, String), transaction: Transaction) {
        if self.results.insert(key.clone(), transaction).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > REMEMBERED_SCAN_IDS {
            if let Some(oldest) = self.order.pop_front() {
                self.results.remove(&oldest);
            }
        }
    }
}

/// Everything [`Domain::apply`] has built, without the catalogue and limits that come from the
/// configuration. The engine stores one now and then so boot replays only the tail of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainSnapshot {
    /// Fingerprint of the token catalogue the state was built with; another catalogue (the token
    /// file changed) makes the snapshot unusable and boot replays the whole log instead.
    catalog_fingerprint: u64,
    current: Option<SessionState>,
    archived: Vec<ArchivedSession>,
    devices: BTreeMap<String, Device>,
    video_current: Option<CurrentVideo>,
    video_queue: VecDeque<String>,
    client_scans: ScanIdMemory,
    transactions_recorded: u64,
    predictions: PredictionsState,
}

/// The whole game state. Owned by the engine's single writer task.
#[derive(Debug, Clone)]
pub struct Domain {
    catalog: TokenCatalog,
    catalog_fingerprint: u64,
    limits: Limits,
    current: Option<SessionState>,
    archived: Vec<ArchivedSession>,
    devices: BTreeMap<String, Device>,
    video_current: Option<CurrentVideo>,
    video_queue: VecDeque<String>,
    client_scans: ScanIdMemory,
    transactions_recorded: u64,
    predictions: PredictionsState,
}

const MAX_ID_LEN: usize = 64;

/// A device disconnected this long is dropped from the device table when another connects.
pub const FORGET_DEVICES_AFTER_MS: u64 = 60 * 60 * 1000;

/// Most teams one session may score for. A fixed team list holds at most this many; an open
/// session stops taking new team ids here, so no scanner can grow the scores (and every
/// `state:update` sent to every station) without bound.
pub const MAX_TEAMS: usize = 100;

pub(crate) fn validate_id(field: &'static str, value: &str) -> Result<(), DomainError> {
    let ok = !value.is_empty()
        && value.len() <= MAX_ID_LEN
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'));
    if ok {
        Ok(())
    } else {
        Err(DomainError::Invalid {
            field,
            reason: format!("must be 1-{MAX_ID_LEN} characters of A-Z, a-z, 0-9, _ - . :"),
        })
    }
}

/// Orders scans that reached the engine together so the earliest scan time wins a conflict.
///
/// Only runs of consecutive scans are reordered (stable, by scan time), so a scan never moves
/// across a session change or any other command it could depend on.
pub fn order_for_first_write_wins<T>(batch: &mut [T], command_of: impl Fn(&T) -> &Command) {
    let scan_time = |item: &T| match command_of(item) {
        Command::Scan(scan) => Some(scan.scanned_at),
        _ => None,
    };
    let mut start = 0;
    while start < batch.len() {
        if scan_time(&batch[start]).is_none() {
            start += 1;
            continue;
        }
        let mut end = start;
        while end < batch.len() && scan_time(&batch[end]).is_some() {
            end += 1;
        }
        batch[start..end].sort_by_key(|item| scan_time(item));
        start = end;
    }
}

impl Domain {
    pub fn new(catalog: TokenCatalog, limits: Limits) -> Self {
        Self {
            catalog_fingerprint: catalog.fingerprint(),
            catalog,
            limits,
            current: None,
            archived: Vec::new(),
            devices: BTreeMap::new(),
            video_current: None,
            video_queue: VecDeque::new(),
            client_scans: ScanIdMemory::default(),
            transactions_recorded: 0,
            predictions: PredictionsState::default(),
        }
    }

    /// The state as of now, for [`Domain::restore`].
    pub fn snapshot(&self) -> DomainSnapshot {
        DomainSnapshot {
            catalog_fingerprint: self.catalog_fingerprint,
            current: self.current.clone(),
            archived: self.archived.clone(),
            devices: self.devices.clone(),
            video_current: self.video_current.clone(),
            video_queue: self.video_queue.clone(),
            client_scans: self.client_scans.clone(),
            transactions_recorded: self.transactions_recorded,
            predictions: self.predictions.clone(),
        }
    }

    /// Rebuilds a domain from a snapshot, or `None` when it was made with another catalogue.
    pub fn restore(
        catalog: TokenCatalog,
        limits: Limits,
        snapshot: DomainSnapshot,
    ) -> Option<Self> {
        if snapshot.catalog_fingerprint != catalog.fingerprint() {
            return None;
        }
        Some(Self {
            catalog_fingerprint: snapshot.catalog_fingerprint,
            catalog,
            limits,
            current: snapshot.current,
            archived: snapshot.archived,
            devices: snapshot.devices,
            video_current: snapshot.video_current,
            video_queue: snapshot.video_queue,
            client_scans: snapshot.client_scans,
            transactions_recorded: snapshot.transactions_recorded,
            predictions: snapshot.predictions,
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
        command: &Command,
        now: Millis,
    ) -> Result<(Outcome, Vec<Event>), DomainError> {
        let (outcome, events) = self.decide(command, now)?;
        for event in &events {
            self.apply(event);
        }
        let outcome = self.finish_outcome(outcome);
        Ok((outcome, events))
    }

    /// Refreshes outcomes that describe state after the events were applied.
    fn finish_outcome(&self, outcome: Outcome) -> Outcome {
        match outcome {
            Outcome::Session(s) => Outcome::Session(
                self.current
                    .as_ref()
                    .filter(|c| c.session.id == s.id)
                    .map(|c| c.session.clone())
                    .or_else(|| {
                        self.archived
                            .iter()
                            .rev()
                            .find(|a| a.session.id == s.id)
                            .map(|a| a.session.clone())
                    })
                    .unwrap_or(s),
            ),
            Outcome::Device {
                device,
                reconnected,
            } => Outcome::Device {
                device: self.devices.get(&device.id).cloned().unwrap_or(device),
                reconnected,
            },
            Outcome::Video(_) => Outcome::Video(self.video_view()),
            other => other,
        }
    }

    fn decide(&self, command: &Command, now: Millis) -> Result<(Outcome, Vec<Event>), DomainError> {
        match command {
            Command::CreateSession {
                session_id,
                name,
                teams,
            } => self.decide_create_session(session_id, name, teams.as_ref(), now),
            Command::ControlSession(control) => self.decide_session_control(*control, now),
            Command::Ping => Ok((Outcome::Done, Vec::new())),
            Command::ResetSession { session_id, source } => {
                self.decide_reset(session_id, *source, now)
            }
            Command::Scan(scan) => self.decide_scan(scan, now),
            Command::ConnectDevice {
                device_id,
                kind,
                name,
                ip,
            } => self.decide_connect(device_id, *kind, name, ip, now),
            Command::DisconnectDevice { device_id, reason } => {
                let device = self
                    .devices
                    .get(device_id)
                    .ok_or_else(|| DomainError::UnknownDevice(device_id.clone()))?;
                let events = if device.connected {
                    vec![Event::DeviceDisconnected {
                        device_id: device_id.clone(),
                        reason: *reason,
                        at: now,
                    }]
                } else {
                    Vec::new()
                };
                Ok((
                    Outcome::Device {
                        device: device.clone(),
                        reconnected: false,
                    },
                    events,
                ))
            }
            Command::SweepIdleDevices => {
                let events = self
                    .devices
                    .values()
                    .filter(|d| {
                        d.kind == DeviceKind::Player
                            && d.connected
                            && now.saturating_sub(d.last_seen) > self.limits.player_idle_ms
                    })
                    .map(|d| Event::DeviceDisconnected {
                        device_id: d.id.clone(),
                        reason: DisconnectReason::Timeout,
                        at: now,
                    })
                    .collect();
                Ok((Outcome::Done, events))
            }
            Command::QueueVideo { token_id } => {
                let token = self
                    .catalog
                    .get(token_id)
                    .ok_or_else(|| DomainError::UnknownToken(token_id.clone()))?;
                if token.video.is_none() {
                    return Err(DomainError::TokenHasNoVideo(token.id.clone()));
                }
                let mut events = vec![Event::VideoQueued {
                    token_id: token.id.clone(),
                    at: now,
                }];
                if self.video_current.is_none() && self.video_queue.is_empty() {
                    events.push(Event::VideoStarted {
                        token_id: token.id.clone(),
                        at: now,
                    });
                }
                Ok((Outcome::Video(VideoView::default()), events))
            }
            Command::ControlVideo(control) => self.decide_video_control(*control, now),
            Command::VideoEnded { token_id, outcome } => {
                let events = match &self.video_current {
                    Some(current) if &current.token_id == token_id => {
                        self.end_current_video(outcome.clone(), now)
                    }
                    // A late report about a video we already moved past changes nothing.
                    _ => Vec::new(),
                };
                Ok((Outcome::Video(VideoView::default()), events))
            }
            Command::Prediction(command) => {
                let (outcome, events) = self.predictions.decide(command, now)?;
                Ok((
                    Outcome::Prediction(outcome),
                    events.into_iter().map(Event::Prediction).collect(),
                ))
            }
            Command::Recover => {
                let mut events: Vec<Event> = self
                    .devices
                    .values()
                    .filter(|d| d.connected)
                    .map(|d| Event::DeviceDisconnected {
                        device_id: d.id.clone(),
                        reason: DisconnectReason::Error,
                        at: now,
                    })
                    .collect();
                if let Some(current) = &self.video_current {
                    events.push(Event::VideoEnded {
                        token_id: current.token_id.clone(),
                        outcome: PlaybackOutcome::Interrupted,
                        at: now,
                    });
                    events.push(Event::VideoStarted {
                        token_id: current.token_id.clone(),
                        at: now,
                    });
                }
                Ok((Outcome::Done, events))
            }
        }
    }

    fn decide_create_session(
        &self,
        session_id: &str,
        name: &str,
        teams: Option<&Vec<String>>,
        now: Millis,
    ) -> Result<(Outcome, Vec<Event>), DomainError> {
        if self.current.is_some() {
            return Err(DomainError::SessionAlreadyRunning);
        }
        validate_id("sessionId", session_id)?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 120 {
            return Err(DomainError::Invalid {
                field: "name",
                reason: "must be 1-120 characters".into(),
            });
        }
        if let Some(teams) = teams {
            if teams.is_empty() || teams.len() > MAX_TEAMS {
                return Err(DomainError::Invalid {
                    field: "teams",
                    reason: format!("a fixed team list holds 1-{MAX_TEAMS} team ids"),
                });
            }
            for team in teams {
                validate_id("teams", team)?;
            }
        }
        let event = Event::SessionCreated {
            session_id: session_id.to_string(),
            name: name.to_string(),
            teams: teams.cloned(),
            at: now,
        };
        let session = Session {
            id: session_id.to_string(),
            name: name.to_string(),
            status: SessionStatus::Active,
            teams: teams.cloned(),
            started_at: now,
            ended_at: None,
        };
        Ok((Outcome::Session(session), vec![event]))
    }

    fn decide_reset(
        &self,
        session_id: &str,
        source: ResetSource,
        now: Millis,
    ) -> Result<(Outcome, Vec<Event>), DomainError> {
        let current = self.current.as_ref().ok_or(DomainError::NoSession)?;
        validate_id("sessionId", session_id)?;
        let used = current.session.id == session_id
            || self.archived.iter().any(|a| a.session.id == session_id);
        if used {
            return Err(DomainError::Invalid {
                field: "sessionId",
                reason: format!("{session_id} is already used"),
            });
        }
        let fresh = Session {
            id: session_id.to_string(),
            started_at: now,
            ended_at: None,
            status: SessionStatus::Active,
            ..current.session.clone()
        };
        let event = Event::SessionReset {
            ended_session_id: current.session.id.clone(),
            session_id: session_id.to_string(),
            source,
            at: now,
        };
        Ok((Outcome::Session(fresh), vec![event]))
    }

    fn decide_session_control(
        &self,
        control: SessionControl,
        now: Millis,
    ) -> Result<(Outcome, Vec<Event>), DomainError> {
        let current = self.current.as_ref().ok_or(DomainError::NoSession)?;
        let session_id = current.session.id.clone();
        let event = match (current.session.status, control) {
            (SessionStatus::Active, SessionControl::Pause) => Event::SessionPaused {
                session_id,
                at: now,
            },
            (SessionStatus::Paused, SessionControl::Resume) => Event::SessionResumed {
                session_id,
                at: now,
            },
            (SessionStatus::Active | SessionStatus::Paused, SessionControl::End) => {
                Event::SessionEnded {
                    session_id,
                    at: now,
                }
            }
            (status, control) => {
                return Err(DomainError::InvalidSessionTransition(status, control));
            }
        };
        Ok((Outcome::Session(current.session.clone()), vec![event]))
    }

    fn decide_connect(
        &self,
        device_id: &str,
        kind: DeviceKind,
        name: &Option<String>,
        ip: &Option<String>,
        now: Millis,
    ) -> Result<(Outcome, Vec<Event>), DomainError> {
        validate_id("deviceId", device_id)?;
        let existing = self.devices.get(device_id);
        if let Some(device) = existing.filter(|d| d.kind != kind) {
            return Err(DomainError::Invalid {
                field: "deviceId",
                reason: format!(
                    "{device_id} is already registered as a {:?} device",
                    device.kind
                ),
            });
        }
        let within_grace = |d: &Device| {
            d.disconnected_at
                .is_some_and(|at| now.saturating_sub(at) < self.limits.reconnect_grace_ms)
        };
        let reconnected = existing.is_some_and(|d| d.connected || within_grace(d));
        if let Some(device) = existing.filter(|d| d.connected) {
            return Ok((
                Outcome::Device {
                    device: device.clone(),
                    reconnected: true,
                },
                Vec::new(),
            ));
        }
        let max = match kind {
            DeviceKind::Gm => self.limits.max_gm_stations,
            DeviceKind::Player => self.limits.max_player_scanners,
        };
        let holding_slots = self
            .devices
            .values()
            .filter(|d| d.kind == kind && d.id != device_id && (d.connected || within_grace(d)))
            .count();
        if holding_slots >= max {
            return Err(DomainError::DeviceLimit { kind, max });
        }
        let clip = |s: &Option<String>| s.as_ref().map(|s| s.chars().take(120).collect::<String>());
        let event = Event::DeviceConnected {
            device_id: device_id.to_string(),
            kind,
            name: clip(name),
            ip: clip(ip),
            at: now,
        };
        let device = Device {
            id: device_id.to_string(),
            kind,
            name: clip(name),
            ip: clip(ip),
            connected: true,
            connected_at: now,
            disconnected_at: None,
            disconnect_reason: None,
            last_seen: now,
        };
        Ok((
            Outcome::Device {
                device,
                reconnected,
            },
            vec![event],
        ))
    }

    fn decide_scan(
        &self,
        scan: &ScanRequest,
        now: Millis,
    ) -> Result<(Outcome, Vec<Event>), DomainError> {
        validate_id("deviceId", &scan.device_id)?;
        if let Some(client_id) = &scan.client_scan_id {
            if client_id.is_empty() || client_id.len() > 128 {
                return Err(DomainError::Invalid {
                    field: "scanId",
                    reason: "must be 1-128 characters".into(),
                });
            }
            let key = (scan.device_id.clone(), client_id.clone());
            if let Some(original) = self.client_scans.get(&key) {
                return Ok((
                    Outcome::Transaction {
                        transaction: original.clone(),
                        replayed: true,
                    },
                    Vec::new(),
                ));
            }
        }
        // Every scan keeps its ids in the log, the recent transactions and the snapshot: an
        // oversized one (or no token id) is refused outright, whoever scans, and a player
        // scanner's must be well formed. A GM scan with a malformed but short id is still recorded (as
        // rejected: unknown token, invalid team), as stations expect.
        let ids = [
            ("tokenId", Some(&scan.token_id)),
            ("teamId", scan.team_id.as_ref()),
        ];
        for (field, id) in ids {
            let Some(id) = id else { continue };
            let unusable = id.len() > MAX_ID_LEN || (field == "tokenId" && id.is_empty());
            if unusable || scan.device_kind == DeviceKind::Player {
                validate_id(field, id)?;
            }
        }
        let current = self.current.as_ref().ok_or(DomainError::NoSession)?;
        let mut events = Vec::new();
        // A player scanner joins the device table on its first scan; GM stations identify first.
        let known = self.devices.get(&scan.device_id);
        if known.is_some_and(|d| d.kind != scan.device_kind) {
            return Err(DomainError::Invalid {
                field: "deviceId",
                reason: format!("{} belongs to another kind of device", scan.device_id),
            });
        }
        if scan.device_kind == DeviceKind::Player && !known.is_some_and(|d| d.connected) {
            let (_, connect) =
                self.decide_connect(&scan.device_id, DeviceKind::Player, &None, &None, now)?;
            events.extend(connect);
        }

        let token = self.catalog.get(&scan.token_id);
        let token_id = token.map_or_else(|| scan.token_id.clone(), |t| t.id.clone());
        let mut transaction = Transaction {
            id: format!("tx-{:08}", self.transactions_recorded + 1),
            session_id: current.session.id.clone(),
            token_id: token_id.clone(),
            team_id: scan.team_id.clone(),
            device_id: scan.device_id.clone(),
            device_kind: scan.device_kind,
            scanned_at: scan.scanned_at,
            recorded_at: now,
            status: TransactionStatus::Accepted,
            rejection_reason: None,
            points: 0,
            client_scan_id: scan.client_scan_id.clone(),
            video_queued: false,
        };
        let reject = |t: &mut Transaction, reason: &str| {
            t.status = TransactionStatus::Rejected;
            t.rejection_reason = Some(reason.to_string());
        };

        match (token, scan.device_kind) {
            _ if current.session.status == SessionStatus::Paused => {
                reject(&mut transaction, "session is paused")
            }
            (None, _) => reject(&mut transaction, "unknown token"),
            (Some(token), DeviceKind::Gm) => {
                let team = scan.team_id.as_deref().unwrap_or("");
                if validate_id("teamId", team).is_err() {
                    reject(&mut transaction, "invalid or missing team id");
                } else if current
                    .session
                    .teams
                    .as_ref()
                    .is_some_and(|teams| !teams.iter().any(|t| t == team))
                {
                    reject(&mut transaction, "team is not part of this session");
                } else if !current.teams.contains_key(team) && current.teams.len() >= MAX_TEAMS {
                    reject(
                        &mut transaction,
                        &format!("this session already scores {MAX_TEAMS} teams"),
                    );
                } else if current.claimed_tokens.contains_key(&token.id) {
                    transaction.status = TransactionStatus::Duplicate;
                    transaction.rejection_reason =
                        Some("token already scanned in this session".into());
                } else {
                    transaction.points = token.value;
                }
            }
            (Some(token), DeviceKind::Player) => {
                if token.video.is_some() {
                    if self.video_current.is_some() || !self.video_queue.is_empty() {
                        reject(
                            &mut transaction,
                            "a video is already playing, try again later",
                        );
                    } else {
                        transaction.video_queued = true;
                    }
                }
            }
        }

        let video_token = transaction.video_queued.then(|| token_id.clone());
        events.push(Event::ScanRecorded(transaction.clone()));
        if let Some(token_id) = video_token {
            events.push(Event::VideoQueued {
                token_id: token_id.clone(),
                at: now,
            });
            events.push(Event::VideoStarted { token_id, at: now });
        }
        Ok((
            Outcome::Transaction {
                transaction,
                replayed: false,
            },
            events,
        ))
    }

    fn decide_video_control(
        &self,
        control: VideoControl,
        now: Millis,
    ) -> Result<(Outcome, Vec<Event>), DomainError> {
        let current = self.video_current.as_ref();
        let events = match (control, current) {
            (VideoControl::Pause, Some(c)) if !c.paused => vec![Event::VideoPaused {
                token_id: c.token_id.clone(),
                at: now,
            }],
            (VideoControl::Resume, Some(c)) if c.paused => vec![Event::VideoResumed {
                token_id: c.token_id.clone(),
                at: now,
            }],
            (VideoControl::Pause | VideoControl::Resume, Some(_)) => Vec::new(),
            (VideoControl::Skip, Some(_)) => self.end_current_video(PlaybackOutcome::Skipped, now),
            (VideoControl::Stop, _) => {
                let mut events = Vec::new();
                if let Some(c) = current {
                    events.push(Event::VideoEnded {
                        token_id: c.token_id.clone(),
                        outcome: PlaybackOutcome::Stopped,
                        at: now,
                    });
                }
                if !self.video_queue.is_empty() {
                    events.push(Event::VideoQueueCleared { at: now });
                }
                events
            }
            (_, None) => return Err(DomainError::NoVideo),
        };
        Ok((Outcome::Video(VideoView::default()), events))
    }

    /// Ends the current video and starts the next queued one, if any.
    fn end_current_video(&self, outcome: PlaybackOutcome, now: Millis) -> Vec<Event> {
        let Some(current) = &self.video_current else {
            return Vec::new();
        };
        let mut events = vec![Event::VideoEnded {
            token_id: current.token_id.clone(),
            outcome,
            at: now,
        }];
        if let Some(next) = self.video_queue.front() {
            events.push(Event::VideoStarted {
                token_id: next.clone(),
                at: now,
            });
        }
        events
    }

    /// Applies one logged event. Used both live and when replaying the log at boot.
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::SessionCreated {
                session_id,
                name,
                teams,
                at,
            } => {
                self.current = Some(SessionState {
                    session: Session {
                        id: session_id.clone(),
                        name: name.clone(),
                        status: SessionStatus::Active,
                        teams: teams.clone(),
                        started_at: *at,
                        ended_at: None,
                    },
                    teams: teams
                        .iter()
                        .flatten()
                        .map(|t| {
                            (
                                t.clone(),
                                TeamScore {
                                    team_id: t.clone(),
                                    ..TeamScore::default()
                                },
                            )
                        })
                        .collect(),
                    claimed_tokens: HashMap::new(),
                    recent: VecDeque::new(),
                    transaction_count: 0,
                });
            }
            Event::SessionPaused { .. } => self.set_session_status(SessionStatus::Paused),
            Event::SessionResumed { .. } => self.set_session_status(SessionStatus::Active),
            Event::SessionEnded { at, .. } => {
                if let Some(mut state) = self.current.take() {
                    state.session.status = SessionStatus::Archived;
                    state.session.ended_at = Some(*at);
                    self.archived.push(ArchivedSession {
                        scores: state.teams.into_values().collect(),
                        transaction_count: state.transaction_count,
                        session: state.session,
                    });
                }
            }
            Event::ScanRecorded(transaction) => self.apply_scan(transaction),
            Event::DeviceConnected {
                device_id,
                kind,
                name,
                ip,
                at,
            } => {
                // Devices gone for long are forgotten when another arrives (timed by the
                // event, so replay forgets the same ones): the table, and every state:update
                // listing it, holds tonight's devices rather than every id ever seen.
                self.devices.retain(|_, d| {
                    d.connected
                        || d.disconnected_at
                            .is_none_or(|gone| at.saturating_sub(gone) < FORGET_DEVICES_AFTER_MS)
                });
                self.devices.insert(
                    device_id.clone(),
                    Device {
                        id: device_id.clone(),
                        kind: *kind,
                        name: name.clone(),
                        ip: ip.clone(),
                        connected: true,
                        connected_at: *at,
                        disconnected_at: None,
                        disconnect_reason: None,
                        last_seen: *at,
                    },
                );
            }
            Event::DeviceDisconnected {
                device_id,
                reason,
                at,
            } => {
                if let Some(device) = self.devices.get_mut(device_id) {
                    device.connected = false;
                    device.disconnected_at = Some(*at);
                    device.disconnect_reason = Some(*reason);
                }
            }
            Event::VideoQueued { token_id, .. } => self.video_queue.push_back(token_id.clone()),
            Event::VideoStarted { token_id, at } => {
                if self.video_queue.front() == Some(token_id) {
                    self.video_queue.pop_front();
                }
                self.video_current = Some(CurrentVideo {
                    token_id: token_id.clone(),
                    started_at: *at,
                    paused: false,
                });
            }
            Event::VideoPaused { .. } => {
                if let Some(c) = &mut self.video_current {
                    c.paused = true;
                }
            }
            Event::VideoResumed { .. } => {
                if let Some(c) = &mut self.video_current {
                    c.paused = false;
                }
            }
            Event::VideoEnded { .. } => self.video_current = None,
            Event::VideoQueueCleared { .. } => self.video_queue.clear(),
            Event::Prediction(event) => self.predictions.apply(event),
            Event::SessionReset { session_id, at, .. } => {
                let Some(old) = self.current.as_ref().map(|s| s.session.clone()) else {
                    return;
                };
                self.apply(&Event::SessionEnded {
                    session_id: old.id.clone(),
                    at: *at,
                });
                self.apply(&Event::SessionCreated {
                    session_id: session_id.clone(),
                    name: old.name,
                    teams: old.teams,
                    at: *at,
                });
            }
        }
    }

    fn set_session_status(&mut self, status: SessionStatus) {
        if let Some(state) = &mut self.current {
            state.session.status = status;
        }
    }

    fn apply_scan(&mut self, transaction: &Transaction) {
        self.transactions_recorded += 1;
        if let Some(client_id) = &transaction.client_scan_id {
            self.client_scans.remember(
                (transaction.device_id.clone(), client_id.clone()),
                transaction.clone(),
            );
        }
        if let Some(device) = self.devices.get_mut(&transaction.device_id) {
            device.last_seen = device.last_seen.max(transaction.recorded_at);
        }
        let Some(state) = &mut self.current else {
            return;
        };
        state.transaction_count += 1;
        if state.recent.len() == RECENT_TRANSACTIONS {
            state.recent.pop_front();
        }
        state.recent.push_back(transaction.clone());
        let scored = transaction.status == TransactionStatus::Accepted
            && transaction.device_kind == DeviceKind::Gm;
        let Some(team_id) = transaction.team_id.as_ref().filter(|_| scored) else {
            return;
        };
        state
            .claimed_tokens
            .insert(transaction.token_id.clone(), transaction.id.clone());
        let team = state
            .teams
            .entry(team_id.clone())
            .or_insert_with(|| TeamScore {
                team_id: team_id.clone(),
                ..TeamScore::default()
            });
        team.base_score = team.base_score.saturating_add(transaction.points);
        team.tokens_scanned += 1;
        team.held_tokens.insert(transaction.token_id.clone());
        let group = self
            .catalog
            .get(&transaction.token_id)
            .and_then(|t| t.group.as_ref())
            .and_then(|g| self.catalog.group(g));
        if let Some(group) = group {
            let complete = group
                .token_ids
                .iter()
                .all(|id| team.held_tokens.contains(id));
            if complete && !team.completed_groups.contains(&group.name) {
                team.completed_groups.push(group.name.clone());
                team.bonus_points = team.bonus_points.saturating_add(group.completion_bonus());
            }
        }
    }

    pub fn video_view(&self) -> VideoView {
        VideoView {
            current: self.video_current.clone(),
            queue: self.video_queue.iter().cloned().collect(),
        }
    }

    /// The bounded read model published after each commit.
    pub fn view(&self) -> GameView {
        let (session, scores, recent) = match &self.current {
            Some(state) => (
                Some(state.session.clone()),
                state.teams.values().cloned().collect(),
                state.recent.iter().cloned().collect(),
            ),
            None => (None, Vec::new(), Vec::new()),
        };
        GameView {
            session,
            scores,
            recent_transactions: recent,
            devices: self.devices.values().cloned().collect(),
            video: self.video_view(),
            archived_sessions: self.archived.clone(),
            predictions: self.predictions.recent(RECENT_CLOSED_PREDICTIONS),
            balances: self.predictions.balances(),
        }
    }

    /// Predictions, balances and remembered vote ids.
    pub fn predictions(&self) -> &PredictionsState {
        &self.predictions
    }

    /// How many transactions the current session has recorded.
    pub fn session_transaction_count(&self) -> usize {
        self.current.as_ref().map_or(0, |s| s.transaction_count)
    }
}

#[cfg(test)]
mod tests;
