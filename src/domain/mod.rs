//! The domain core: the box's one state, made of each contract's pure state machine, and the
//! list of contracts the engine and the log know.
//!
//! Invariant: nothing here or in a contract's `domain` does I/O or reads a clock.
//! [`Domain::execute`] takes a command and the current time; the contract it belongs to decides
//! every event it causes before changing anything, then applies them with the same `apply` that
//! replays the log at boot. So a command is applied whole or not at all, and replaying the log
//! rebuilds identical state.
//!
//! [`Command`], [`Event`], [`Outcome`] and [`DomainError`] have one variant per contract (plus
//! the engine's own `Ping` and `Recover`); a contract's own enums live in its folder. Each event
//! is stored under its contract's [`Contract::tag`], so adding a contract never moves the
//! records of another.

pub mod audit;
pub mod basics;
pub mod remembered;
pub mod staff;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use audit::{Actor, AuditEntry};
pub use basics::{ErrorKind, Millis};
pub use staff::{StaffStep, TvChoice};

use crate::drafts::domain::{
    DraftCommand, DraftError, DraftEvent, DraftOutcome, DraftsState, DraftsView,
};
use crate::gm::domain::{
    GmCommand, GmError, GmEvent, GmOutcome, GmSnapshot, GmState, GmView, Limits,
};
use crate::gm::tokens::TokenCatalog;
use crate::predictions::domain::{
    PredictionCommand, PredictionError, PredictionEvent, PredictionOutcome, PredictionsState,
    PredictionsView,
};
use crate::sports::domain::{
    SportsCommand, SportsError, SportsEvent, SportsOutcome, SportsState, SportsView,
};
use crate::tournaments::domain::{
    TournamentCommand, TournamentError, TournamentEvent, TournamentOutcome, TournamentsState,
    TournamentsView,
};

/// The contracts whose state lives in the log. Their tags are stored in every record: never
/// reuse or renumber one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Contract {
    /// GM stations and player scanners (seed 004): sessions, scans, devices, the video queue.
    Gm,
    /// Live predictions (seed 002): predictions, votes, balances, viewer names.
    Predictions,
    /// Debate tournaments (seed 000): teams, rounds, draws, timers, ballots.
    Tournaments,
    /// Shuffle drafts (seed 001) in a tournament: captains, pools, picks and their history.
    Drafts,
    /// A sports day (seed 003): events, teams, fixtures, results, announcements, tickets.
    Sports,
}

impl Contract {
    pub const ALL: [Contract; 5] = [
        Contract::Gm,
        Contract::Predictions,
        Contract::Tournaments,
        Contract::Drafts,
        Contract::Sports,
    ];

    /// The contract's stable tag in log records (record version 2).
    pub fn tag(self) -> u8 {
        match self {
            Contract::Gm => 1,
            Contract::Predictions => 2,
            Contract::Tournaments => 3,
            Contract::Drafts => 4,
            Contract::Sports => 5,
        }
    }

    pub fn from_tag(tag: u8) -> Option<Contract> {
        Contract::ALL.into_iter().find(|c| c.tag() == tag)
    }
}

/// The log tag of the staff's trail ([`Event::Audit`]), after the contracts' tags.
pub const AUDIT_TAG: u8 = 6;
/// The log tag of staff's steps that change no contract's state ([`Event::Staff`]).
pub const STAFF_TAG: u8 = 7;

/// Everything that can ask the box's state to change.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Gm(GmCommand),
    Predictions(PredictionCommand),
    Tournaments(TournamentCommand),
    Drafts(DraftCommand),
    Sports(SportsCommand),
    /// Records a step staff took that changes no contract's state (already taken).
    Staff(StaffStep),
    /// Sent once at boot after replay: each contract settles what a power cut left half done.
    Recover,
    /// Changes nothing: proves the engine answers (the systemd watchdog).
    Ping,
}

impl Command {
    /// Whether the command is a device playing the game (a scan, a station coming and going, a
    /// vote) rather than running it. Play is never in the staff's trail, whoever's token it
    /// came with: in the default station mode every GM scanner holds a staff token.
    pub fn is_play(&self) -> bool {
        matches!(
            self,
            Command::Gm(
                GmCommand::Scan(_)
                    | GmCommand::ConnectDevice { .. }
                    | GmCommand::DisconnectDevice { .. }
                    | GmCommand::SweepIdleDevices
                    | GmCommand::SeenDevice { .. }
                    | GmCommand::VideoEnded { .. }
            ) | Command::Predictions(
                PredictionCommand::Vote { .. } | PredictionCommand::Join { .. }
            )
        )
    }

    /// When the scanner saw the token, for a scan (`now` being the batch's clock); `None` for
    /// anything else. The engine orders the scans of one batch by it (first write wins).
    pub fn scan_time(&self, now: Millis) -> Option<Millis> {
        match self {
            Command::Gm(GmCommand::Scan(scan)) => Some(scan.seen_at(now)),
            _ => None,
        }
    }
}

impl From<GmCommand> for Command {
    fn from(command: GmCommand) -> Self {
        Command::Gm(command)
    }
}

impl From<TournamentCommand> for Command {
    fn from(command: TournamentCommand) -> Self {
        Command::Tournaments(command)
    }
}

impl From<DraftCommand> for Command {
    fn from(command: DraftCommand) -> Self {
        Command::Drafts(command)
    }
}

impl From<SportsCommand> for Command {
    fn from(command: SportsCommand) -> Self {
        Command::Sports(command)
    }
}

impl From<PredictionCommand> for Command {
    fn from(command: PredictionCommand) -> Self {
        Command::Predictions(command)
    }
}

/// The durable record of what happened. Appended to the log; replayed at boot.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Gm(GmEvent),
    Predictions(PredictionEvent),
    Tournaments(TournamentEvent),
    Drafts(DraftEvent),
    Sports(SportsEvent),
    /// Staff did something: logged with the events it caused, belonging to no contract.
    Audit(AuditEntry),
    /// Staff confirmed or set the wall clock, sent a notice, switched the TVs, logged in.
    Staff(StaffStep),
}

impl Event {
    /// The contract whose state the event changes; `None` for the staff's trail.
    pub fn contract(&self) -> Option<Contract> {
        match self {
            Event::Gm(_) => Some(Contract::Gm),
            Event::Predictions(_) => Some(Contract::Predictions),
            Event::Tournaments(_) => Some(Contract::Tournaments),
            Event::Drafts(_) => Some(Contract::Drafts),
            Event::Sports(_) => Some(Contract::Sports),
            Event::Audit(_) | Event::Staff(_) => None,
        }
    }

    /// The tag its record is stored under.
    pub fn tag(&self) -> u8 {
        match self {
            Event::Audit(_) => AUDIT_TAG,
            Event::Staff(_) => STAFF_TAG,
            _ => self.contract().map_or(AUDIT_TAG, Contract::tag),
        }
    }

    /// The event's name, as `venuebox check` counts records.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Gm(event) => event.kind(),
            Event::Predictions(event) => event.kind(),
            Event::Tournaments(event) => event.kind(),
            Event::Drafts(event) => event.kind(),
            Event::Sports(event) => event.kind(),
            Event::Audit(_) => "StaffAction",
            Event::Staff(step) => step.kind(),
        }
    }

    /// The event's own record body (postcard of the contract's event), stored after its tag.
    pub fn encode_body(&self) -> Result<Vec<u8>, postcard::Error> {
        match self {
            Event::Gm(event) => postcard::to_allocvec(event),
            Event::Predictions(event) => postcard::to_allocvec(event),
            Event::Tournaments(event) => postcard::to_allocvec(event),
            Event::Drafts(event) => postcard::to_allocvec(event),
            Event::Sports(event) => postcard::to_allocvec(event),
            Event::Audit(entry) => postcard::to_allocvec(entry),
            Event::Staff(step) => postcard::to_allocvec(step),
        }
    }

    /// Reads a record body written by [`Event::encode_body`] under `tag`; `None` for a tag this
    /// build does not know.
    pub fn decode_body(tag: u8, body: &[u8]) -> Option<Result<Event, postcard::Error>> {
        match tag {
            AUDIT_TAG => return Some(postcard::from_bytes(body).map(Event::Audit)),
            STAFF_TAG => return Some(postcard::from_bytes(body).map(Event::Staff)),
            _ => {}
        }
        let decoded = match Contract::from_tag(tag)? {
            Contract::Gm => postcard::from_bytes(body).map(Event::Gm),
            Contract::Predictions => postcard::from_bytes(body).map(Event::Predictions),
            Contract::Tournaments => postcard::from_bytes(body).map(Event::Tournaments),
            Contract::Drafts => postcard::from_bytes(body).map(Event::Drafts),
            Contract::Sports => postcard::from_bytes(body).map(Event::Sports),
        };
        Some(decoded)
    }
}

/// `venuebox export` writes each event as the log's JSON always showed it: a GM event by its
/// own name, a predictions event under `Prediction`.
impl Serialize for Event {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Event::Gm(event) => event.serialize(serializer),
            Event::Predictions(event) => {
                serializer.serialize_newtype_variant("Event", 1, "Prediction", event)
            }
            Event::Tournaments(event) => {
                serializer.serialize_newtype_variant("Event", 2, "Tournament", event)
            }
            Event::Drafts(event) => {
                serializer.serialize_newtype_variant("Event", 3, "Draft", event)
            }
            Event::Sports(event) => {
                serializer.serialize_newtype_variant("Event", 4, "Sports", event)
            }
            Event::Audit(entry) => serializer.serialize_newtype_variant("Event", 5, "Audit", entry),
            Event::Staff(step) => serializer.serialize_newtype_variant("Event", 6, "Staff", step),
        }
    }
}

/// What a command produced, for the caller's reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Gm(GmOutcome),
    Predictions(PredictionOutcome),
    Tournaments(TournamentOutcome),
    Drafts(DraftOutcome),
    Sports(SportsOutcome),
    /// `Ping` and `Recover`.
    Done,
}

impl TryFrom<Outcome> for GmOutcome {
    type Error = Outcome;
    fn try_from(outcome: Outcome) -> Result<Self, Outcome> {
        match outcome {
            Outcome::Gm(outcome) => Ok(outcome),
            other => Err(other),
        }
    }
}

impl TryFrom<Outcome> for PredictionOutcome {
    type Error = Outcome;
    fn try_from(outcome: Outcome) -> Result<Self, Outcome> {
        match outcome {
            Outcome::Predictions(outcome) => Ok(outcome),
            other => Err(other),
        }
    }
}

impl TryFrom<Outcome> for TournamentOutcome {
    type Error = Outcome;
    fn try_from(outcome: Outcome) -> Result<Self, Outcome> {
        match outcome {
            Outcome::Tournaments(outcome) => Ok(outcome),
            other => Err(other),
        }
    }
}

impl TryFrom<Outcome> for DraftOutcome {
    type Error = Outcome;
    fn try_from(outcome: Outcome) -> Result<Self, Outcome> {
        match outcome {
            Outcome::Drafts(outcome) => Ok(outcome),
            other => Err(other),
        }
    }
}

impl TryFrom<Outcome> for SportsOutcome {
    type Error = Outcome;
    fn try_from(outcome: Outcome) -> Result<Self, Outcome> {
        match outcome {
            Outcome::Sports(outcome) => Ok(outcome),
            other => Err(other),
        }
    }
}

/// Why a command was refused. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error(transparent)]
    Gm(#[from] GmError),
    #[error(transparent)]
    Predictions(#[from] PredictionError),
    #[error(transparent)]
    Tournaments(#[from] TournamentError),
    #[error(transparent)]
    Drafts(#[from] DraftError),
    #[error(transparent)]
    Sports(#[from] SportsError),
}

impl DomainError {
    /// How the wire reports it.
    pub fn kind(&self) -> ErrorKind {
        match self {
            DomainError::Gm(e) => e.kind(),
            DomainError::Predictions(e) => e.kind(),
            DomainError::Tournaments(e) => e.kind(),
            DomainError::Drafts(e) => e.kind(),
            DomainError::Sports(e) => e.kind(),
        }
    }
}

/// What each contract publishes after a commit: its read model, shared by every reader. A
/// commit rebuilds only the views of the contracts it changed; the others are the same `Arc`.
#[derive(Debug, Clone, Default)]
pub struct Views {
    pub gm: Arc<GmView>,
    pub predictions: Arc<PredictionsView>,
    pub tournaments: Arc<TournamentsView>,
    pub drafts: Arc<DraftsView>,
    pub sports: Arc<SportsView>,
}

/// Orders scans that reached the engine together so the earliest scan time wins a conflict.
/// `scan_time` answers the scan time of a scan and `None` for any other command.
///
/// Only runs of consecutive scans are reordered (stable, by scan time), so a scan never moves
/// across a session change or any other command it could depend on.
pub fn order_for_first_write_wins<T>(batch: &mut [T], scan_time: impl Fn(&T) -> Option<Millis>) {
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

/// Everything [`Domain::apply`] has built, without the catalogue and limits that come from the
/// configuration. The engine stores one now and then so boot replays only the tail of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainSnapshot {
    gm: GmSnapshot,
    predictions: PredictionsState,
    tournaments: TournamentsState,
    drafts: DraftsState,
    sports: SportsState,
    tv_shown: Option<TvChoice>,
}

/// The box's whole state. Owned by the engine's single writer task.
#[derive(Debug, Clone)]
pub struct Domain {
    gm: GmState,
    predictions: PredictionsState,
    tournaments: TournamentsState,
    drafts: DraftsState,
    sports: SportsState,
    /// What staff last chose for the venue TVs; shared with every published state.
    tv_shown: Option<Arc<TvChoice>>,
}

impl Domain {
    pub fn new(catalog: TokenCatalog, limits: Limits) -> Self {
        Self {
            gm: GmState::new(catalog, limits),
            predictions: PredictionsState::default(),
            tournaments: TournamentsState::default(),
            drafts: DraftsState::default(),
            sports: SportsState::default(),
            tv_shown: None,
        }
    }

    /// The state as of now, for [`Domain::restore`].
    pub fn snapshot(&self) -> DomainSnapshot {
        DomainSnapshot {
            gm: self.gm.snapshot(),
            predictions: self.predictions.clone(),
            tournaments: self.tournaments.clone(),
            drafts: self.drafts.clone(),
            sports: self.sports.clone(),
            tv_shown: self.tv_shown.as_deref().cloned(),
        }
    }

    /// Rebuilds the state from a snapshot, or `None` when a contract cannot use its part (the
    /// GM part was made with another token catalogue).
    pub fn restore(
        catalog: TokenCatalog,
        limits: Limits,
        snapshot: DomainSnapshot,
    ) -> Option<Self> {
        Some(Self {
            gm: GmState::restore(catalog, limits, snapshot.gm)?,
            predictions: snapshot.predictions,
            tournaments: snapshot.tournaments,
            drafts: snapshot.drafts,
            sports: snapshot.sports,
            tv_shown: snapshot.tv_shown.map(Arc::new),
        })
    }

    pub fn gm(&self) -> &GmState {
        &self.gm
    }

    pub fn predictions(&self) -> &PredictionsState {
        &self.predictions
    }

    pub fn tournaments(&self) -> &TournamentsState {
        &self.tournaments
    }

    pub fn drafts(&self) -> &DraftsState {
        &self.drafts
    }

    /// What staff last chose for the venue TVs, if they chose.
    pub fn tv_shown(&self) -> Option<Arc<TvChoice>> {
        self.tv_shown.clone()
    }

    pub fn sports(&self) -> &SportsState {
        &self.sports
    }

    pub fn catalog(&self) -> &TokenCatalog {
        self.gm.catalog()
    }

    /// Decides what `command` does at time `now`, applies it, and returns the events to log.
    /// On error nothing changed.
    pub fn execute(
        &mut self,
        command: &Command,
        now: Millis,
    ) -> Result<(Outcome, Vec<Event>), DomainError> {
        match command {
            Command::Gm(command) => {
                let (outcome, events) = self.gm.execute(command, now)?;
                Ok((
                    Outcome::Gm(outcome),
                    events.into_iter().map(Event::Gm).collect(),
                ))
            }
            Command::Predictions(command) => {
                let (outcome, events) = self.predictions.decide(command, now)?;
                for event in &events {
                    self.predictions.apply(event);
                }
                Ok((
                    Outcome::Predictions(outcome),
                    events.into_iter().map(Event::Predictions).collect(),
                ))
            }
            Command::Tournaments(command) => {
                let (outcome, events) = self.tournaments.decide(command, now)?;
                for event in &events {
                    self.tournaments.apply(event);
                }
                Ok((
                    Outcome::Tournaments(outcome),
                    events.into_iter().map(Event::Tournaments).collect(),
                ))
            }
            Command::Drafts(command) => {
                // A draft belongs to a tournament: asked of the tournaments, which the drafts
                // contract does not see.
                let tournaments = &self.tournaments;
                let exists = |id: u64| tournaments.tournament(id).is_ok();
                let (outcome, events) = self.drafts.decide(command, now, &exists)?;
                for event in &events {
                    self.drafts.apply(event);
                }
                Ok((
                    Outcome::Drafts(outcome),
                    events.into_iter().map(Event::Drafts).collect(),
                ))
            }
            Command::Sports(command) => {
                let (outcome, events) = self.sports.decide(command, now)?;
                for event in &events {
                    self.sports.apply(event);
                }
                Ok((
                    Outcome::Sports(outcome),
                    events.into_iter().map(Event::Sports).collect(),
                ))
            }
            Command::Recover => {
                let events: Vec<Event> = self
                    .gm
                    .recover(now)
                    .into_iter()
                    .map(Event::Gm)
                    .chain(
                        self.tournaments
                            .recover()
                            .into_iter()
                            .map(Event::Tournaments),
                    )
                    .collect();
                for event in &events {
                    self.apply(event);
                }
                Ok((Outcome::Done, events))
            }
            Command::Ping => Ok((Outcome::Done, Vec::new())),
            Command::Staff(step) => {
                let event = Event::Staff(step.clone());
                self.apply(&event);
                Ok((Outcome::Done, vec![event]))
            }
        }
    }

    /// Every contract's view, built afresh.
    pub fn views(&self) -> Views {
        Views {
            gm: Arc::new(self.gm.view()),
            predictions: Arc::new(self.predictions.view()),
            tournaments: Arc::new(self.tournaments.clone()),
            drafts: Arc::new(self.drafts.clone()),
            sports: Arc::new(self.sports.clone()),
        }
    }

    /// `previous` with the views of the contracts in `changed` rebuilt.
    pub fn views_after(&self, previous: &Views, changed: &[Contract]) -> Views {
        let mut views = previous.clone();
        for contract in changed {
            match contract {
                Contract::Gm => views.gm = Arc::new(self.gm.view()),
                Contract::Predictions => views.predictions = Arc::new(self.predictions.view()),
                Contract::Tournaments => views.tournaments = Arc::new(self.tournaments.clone()),
                Contract::Drafts => views.drafts = Arc::new(self.drafts.clone()),
                Contract::Sports => views.sports = Arc::new(self.sports.clone()),
            }
        }
        views
    }

    /// Applies one logged event. Used both live and when replaying the log at boot.
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::Gm(event) => self.gm.apply(event),
            Event::Predictions(event) => self.predictions.apply(event),
            Event::Tournaments(event) => self.tournaments.apply(event),
            Event::Drafts(event) => self.drafts.apply(event),
            Event::Sports(event) => self.sports.apply(event),
            // The trail and staff's steps are read from the log itself (`GET /api/audit`,
            // `venuebox export`); only the TVs' choice is kept, for them to show it again.
            Event::Staff(StaffStep::TvShown(choice)) => {
                self.tv_shown = Some(Arc::new(choice.clone()));
            }
            Event::Staff(_) | Event::Audit(_) => {}
        }
    }
}

/// A small event for tests of the log and the hub: device `GM_<i>` left, at `i`.
#[cfg(test)]
pub(crate) fn sample_event(i: u64) -> Event {
    Event::Gm(GmEvent::DeviceDisconnected {
        device_id: format!("GM_{i}"),
        reason: crate::gm::domain::DisconnectReason::Timeout,
        at: i,
    })
}

#[cfg(test)]
mod tests;
