//! Debate tournaments (seed 000), the pure state machine: tournaments with their teams and
//! adjudicators, rounds with a secret motion, check-ins, the draw, the round timer, ballots and
//! the standings they make. [`TournamentsState::decide`] checks a command and returns the
//! events; [`TournamentsState::apply`] applies one, live and on replay.
//!
//! Randomness and time are arguments: the draw's seed is drawn by the adapter and recorded in
//! the event with the draw itself (`draw.rs` makes it), and the timer's remaining seconds are
//! measured by the adapter on the box's monotonic clock and persisted at each change. After a
//! power cut a running timer comes back paused at its last persisted value ([`recover`]): the
//! box has no real-time clock, so time across a cut is not trusted.
//!
//! Tournaments are what the draft contract (seed 001) builds on too: it reads them from the
//! published [`TournamentsView`], never from this contract's internals.
//!
//! [`recover`]: TournamentsState::recover

pub mod draw;
pub mod standings;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::domain::basics::{is_shown_name, ErrorKind, Millis};
pub use draw::{Draw, DrawTeam, Room};
pub use standings::Standing;

/// The longest name (tournament, team, speaker) and motion accepted.
pub const MAX_NAME_LEN: usize = 120;
pub const MAX_MOTION_LEN: usize = 500;
/// Speakers per team, as the seed's format has them.
pub const SPEAKERS_PER_TEAM: std::ops::RangeInclusive<usize> = 2..=3;
/// Bounds that keep one tournament's state (and a draw's search) small on a Pi.
pub const MAX_TEAMS: usize = 128;
pub const MAX_ADJUDICATORS: usize = 128;
pub const MAX_ROUNDS: usize = 32;
pub const MAX_TOURNAMENTS: usize = 64;
/// A speaker's score on a ballot.
pub const SPEAKER_SCORES: std::ops::RangeInclusive<u32> = 0..=100;
/// The longest round timer.
pub const MAX_TIMER_SECS: u32 = 4 * 3600;

/// Why a tournaments command was refused. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TournamentError {
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("no {what} {id}")]
    NotFound { what: &'static str, id: String },
    #[error("{0}")]
    Conflict(String),
    #[error("at most {0} {1} (a bound that keeps the box small)")]
    Limit(usize, &'static str),
}

impl TournamentError {
    /// How the wire reports it.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Invalid { .. } => ErrorKind::Invalid,
            Self::NotFound { .. } => ErrorKind::NotFound,
            // Not a device limit and nothing to retry: the request cannot be done.
            Self::Conflict(_) | Self::Limit(..) => ErrorKind::Conflict,
        }
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> TournamentError {
    TournamentError::Invalid {
        field,
        reason: reason.into(),
    }
}

fn not_found(what: &'static str, id: impl ToString) -> TournamentError {
    TournamentError::NotFound {
        what,
        id: id.to_string(),
    }
}

/// A name others pick someone out by: nothing in it may hide, or one could pass for another.
fn check_name(field: &'static str, name: &str, max: usize) -> Result<(), TournamentError> {
    if !is_shown_name(name, max) {
        return Err(invalid(
            field,
            format!("must be 1-{max} visible characters"),
        ));
    }
    Ok(())
}

fn check_length(field: &'static str, text: &str, max: usize) -> Result<(), TournamentError> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > max {
        return Err(invalid(field, format!("must be 1-{max} characters")));
    }
    Ok(())
}

/// A participant's id: a UUID, as the box's tokens name them (`sub`).
fn check_uuid(field: &'static str, id: &str) -> Result<(), TournamentError> {
    let hex = |s: &str, n: usize| s.len() == n && s.chars().all(|c| c.is_ascii_hexdigit());
    let parts: Vec<&str> = id.split('-').collect();
    let ok = parts.len() == 5
        && [8, 4, 4, 4, 12]
            .iter()
            .zip(&parts)
            .all(|(n, part)| hex(part, *n));
    if ok {
        Ok(())
    } else {
        Err(invalid(field, "must be a UUID"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Speaker {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    /// Unique within the box (draws and ballots name teams by it).
    pub id: u64,
    pub name: String,
    pub speakers: Vec<Speaker>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adjudicator {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tournament {
    pub id: u64,
    pub name: String,
    pub teams: Vec<Team>,
    pub adjudicators: Vec<Adjudicator>,
    /// Its rounds' ids, in order.
    pub rounds: Vec<u64>,
    pub created_at: Millis,
}

impl Tournament {
    /// Whether `user_id` speaks or adjudicates here.
    pub fn has_participant(&self, user_id: &str) -> bool {
        self.adjudicators.iter().any(|a| a.id == user_id)
            || self
                .teams
                .iter()
                .any(|t| t.speakers.iter().any(|s| s.id == user_id))
    }

    pub fn team_of(&self, user_id: &str) -> Option<&Team> {
        self.teams
            .iter()
            .find(|t| t.speakers.iter().any(|s| s.id == user_id))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Side {
    Proposition,
    Opposition,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DrawState {
    NotStarted,
    /// The draw job is running.
    Running,
    Done(Draw),
    /// The job failed; staff may start it again.
    Failed(String),
}

/// The round timer: remaining seconds as persisted at its last change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Timer {
    pub remaining_secs: u32,
    pub running: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ballot {
    pub room: u32,
    pub winner: Side,
    /// Speaker id → score.
    pub scores: BTreeMap<String, u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Round {
    pub id: u64,
    pub tournament_id: u64,
    /// 1, 2, … within the tournament.
    pub number: u32,
    /// Secret until `published`: only staff may see it before.
    pub motion: String,
    pub published: bool,
    /// Participants (speakers and adjudicators) present for the round.
    pub checked_in: BTreeSet<String>,
    pub draw: DrawState,
    pub timer: Timer,
    /// By room number.
    pub ballots: BTreeMap<u32, Ballot>,
}

impl Round {
    pub fn draw(&self) -> Option<&Draw> {
        match &self.draw {
            DrawState::Done(draw) => Some(draw),
            _ => None,
        }
    }
}

/// What can ask the tournaments to change.
#[derive(Debug, Clone, PartialEq)]
pub enum TournamentCommand {
    Create {
        name: String,
    },
    RegisterTeam {
        tournament_id: u64,
        name: String,
        speakers: Vec<Speaker>,
    },
    RegisterAdjudicator {
        tournament_id: u64,
        adjudicator: Adjudicator,
    },
    CreateRound {
        tournament_id: u64,
        motion: String,
    },
    CheckIn {
        round_id: u64,
        user_id: String,
        present: bool,
    },
    /// Staff start the draw job.
    StartDraw {
        round_id: u64,
    },
    /// The draw job's result, made by `draw::make_draw` from [`TournamentsState::draw_inputs`].
    RecordDraw {
        round_id: u64,
        seed: u64,
        draw: Draw,
    },
    DrawFailed {
        round_id: u64,
        reason: String,
    },
    Publish {
        round_id: u64,
    },
    /// `remaining_secs` is measured by the adapter (pause) or set by staff (start, reset).
    Timer {
        round_id: u64,
        action: TimerAction,
    },
    EnterBallot {
        round_id: u64,
        ballot: Ballot,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimerAction {
    Start {
        seconds: u32,
    },
    Pause {
        remaining_secs: u32,
    },
    Resume,
    Reset {
        seconds: u32,
    },
    /// What the running clock shows now: persisted every few seconds, so a power cut costs
    /// the room at most that much of the round's time.
    Checkpoint {
        remaining_secs: u32,
    },
}

/// The durable record. New variants go at the end: the log stores their position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TournamentEvent {
    Created {
        tournament: Tournament,
    },
    TeamRegistered {
        tournament_id: u64,
        team: Team,
    },
    AdjudicatorRegistered {
        tournament_id: u64,
        adjudicator: Adjudicator,
    },
    RoundCreated {
        round_id: u64,
        tournament_id: u64,
        number: u32,
        motion: String,
    },
    CheckedIn {
        round_id: u64,
        user_id: String,
        present: bool,
    },
    DrawStarted {
        round_id: u64,
    },
    DrawCompleted {
        round_id: u64,
        seed: u64,
        draw: Draw,
    },
    DrawFailed {
        round_id: u64,
        reason: String,
    },
    RoundPublished {
        round_id: u64,
    },
    /// The timer's state after a change: what a restart comes back to (paused).
    TimerChanged {
        round_id: u64,
        remaining_secs: u32,
        running: bool,
    },
    BallotEntered {
        round_id: u64,
        ballot: Ballot,
    },
}

impl TournamentEvent {
    /// The event's name, as `venuebox check` counts records.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Created { .. } => "TournamentCreated",
            Self::TeamRegistered { .. } => "TeamRegistered",
            Self::AdjudicatorRegistered { .. } => "AdjudicatorRegistered",
            Self::RoundCreated { .. } => "RoundCreated",
            Self::CheckedIn { .. } => "CheckedIn",
            Self::DrawStarted { .. } => "DrawStarted",
            Self::DrawCompleted { .. } => "DrawCompleted",
            Self::DrawFailed { .. } => "DrawFailed",
            Self::RoundPublished { .. } => "RoundPublished",
            Self::TimerChanged { .. } => "TimerChanged",
            Self::BallotEntered { .. } => "BallotEntered",
        }
    }
}

/// What a command produced, for the caller's reply.
#[derive(Debug, Clone, PartialEq)]
pub enum TournamentOutcome {
    Tournament(Tournament),
    Team(Team),
    Adjudicator(Adjudicator),
    Round(Round),
}

/// The published read model: the whole state (small: bounded per tournament), shared.
pub type TournamentsView = TournamentsState;

/// Every tournament and round on the box.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TournamentsState {
    pub tournaments: BTreeMap<u64, Tournament>,
    pub rounds: BTreeMap<u64, Round>,
    /// The last team id given out (team ids are box-wide).
    last_team_id: u64,
}

impl TournamentsState {
    pub fn tournament(&self, id: u64) -> Result<&Tournament, TournamentError> {
        self.tournaments
            .get(&id)
            .ok_or_else(|| not_found("tournament", id))
    }

    pub fn round(&self, id: u64) -> Result<&Round, TournamentError> {
        self.rounds.get(&id).ok_or_else(|| not_found("round", id))
    }

    /// The standings of a tournament, best first.
    pub fn standings(&self, tournament_id: u64) -> Result<Vec<Standing>, TournamentError> {
        let tournament = self.tournament(tournament_id)?;
        let rounds: Vec<&Round> = tournament
            .rounds
            .iter()
            .filter_map(|id| self.rounds.get(id))
            .collect();
        Ok(standings::compute(tournament, &rounds))
    }

    /// What the draw job needs for `round_id`: the checked-in teams (a team is in when any of
    /// its speakers checked in) with their record so far, the checked-in adjudicators, and the
    /// round's number.
    pub fn draw_inputs(
        &self,
        round_id: u64,
    ) -> Result<(u32, Vec<DrawTeam>, Vec<String>), TournamentError> {
        let round = self.round(round_id)?;
        let tournament = self.tournament(round.tournament_id)?;
        let earlier: Vec<&Round> = tournament
            .rounds
            .iter()
            .filter_map(|id| self.rounds.get(id))
            .filter(|r| r.number < round.number)
            .collect();
        let records = standings::records(tournament, &earlier);
        let teams = tournament
            .teams
            .iter()
            .filter(|t| t.speakers.iter().any(|s| round.checked_in.contains(&s.id)))
            .map(|t| {
                let record = records.get(&t.id).cloned().unwrap_or_default();
                DrawTeam {
                    id: t.id,
                    wins: record.wins,
                    speaker_points: record.speaker_points,
                    members: t.speakers.iter().map(|s| s.id.clone()).collect(),
                    times_proposition: record.times_proposition,
                    times_opposition: record.times_opposition,
                    met: record.met,
                    had_bye: record.had_bye,
                }
            })
            .collect();
        let adjudicators = tournament
            .adjudicators
            .iter()
            .filter(|a| round.checked_in.contains(&a.id))
            .map(|a| a.id.clone())
            .collect();
        Ok((round.number, teams, adjudicators))
    }

    pub fn decide(
        &self,
        command: &TournamentCommand,
        now: Millis,
    ) -> Result<(TournamentOutcome, Vec<TournamentEvent>), TournamentError> {
        match command {
            TournamentCommand::Create { name } => self.decide_create(name, now),
            TournamentCommand::RegisterTeam {
                tournament_id,
                name,
                speakers,
            } => self.decide_team(*tournament_id, name, speakers),
            TournamentCommand::RegisterAdjudicator {
                tournament_id,
                adjudicator,
            } => self.decide_adjudicator(*tournament_id, adjudicator),
            TournamentCommand::CreateRound {
                tournament_id,
                motion,
            } => self.decide_round(*tournament_id, motion),
            TournamentCommand::CheckIn {
                round_id,
                user_id,
                present,
            } => {
                let round = self.round(*round_id)?;
                if !self
                    .tournament(round.tournament_id)?
                    .has_participant(user_id)
                {
                    return Err(not_found("participant", user_id));
                }
                if round.checked_in.contains(user_id) == *present {
                    // Already so: nothing to log (a phone tapping twice, or a flood, costs
                    // the card nothing).
                    return self.answer_round(*round_id, Vec::new());
                }
                let event = TournamentEvent::CheckedIn {
                    round_id: *round_id,
                    user_id: user_id.clone(),
                    present: *present,
                };
                self.answer_round(*round_id, vec![event])
            }
            TournamentCommand::StartDraw { round_id } => {
                let round = self.round(*round_id)?;
                if round.draw == DrawState::Running {
                    return Err(TournamentError::Conflict(
                        "the draw is already running".into(),
                    ));
                }
                if round.published {
                    return Err(TournamentError::Conflict(
                        "the round is published; its draw stands".into(),
                    ));
                }
                if !round.ballots.is_empty() {
                    // Ballots name rooms of the draw they were judged in: a new draw would
                    // credit them to other teams.
                    return Err(TournamentError::Conflict(
                        "ballots are entered for this draw; it stands".into(),
                    ));
                }
                let (_, teams, _) = self.draw_inputs(*round_id)?;
                if teams.len() < 2 {
                    return Err(TournamentError::Conflict(format!(
                        "{} team(s) checked in; a draw needs two",
                        teams.len()
                    )));
                }
                self.answer_round(
                    *round_id,
                    vec![TournamentEvent::DrawStarted {
                        round_id: *round_id,
                    }],
                )
            }
            TournamentCommand::RecordDraw {
                round_id,
                seed,
                draw,
            } => {
                let round = self.round(*round_id)?;
                if round.draw != DrawState::Running {
                    return Err(TournamentError::Conflict(
                        "no draw is running for this round".into(),
                    ));
                }
                check_draw(self.tournament(round.tournament_id)?, draw)?;
                let event = TournamentEvent::DrawCompleted {
                    round_id: *round_id,
                    seed: *seed,
                    draw: draw.clone(),
                };
                self.answer_round(*round_id, vec![event])
            }
            TournamentCommand::DrawFailed { round_id, reason } => {
                if self.round(*round_id)?.draw != DrawState::Running {
                    return Err(TournamentError::Conflict(
                        "no draw is running for this round".into(),
                    ));
                }
                let event = TournamentEvent::DrawFailed {
                    round_id: *round_id,
                    reason: reason.chars().take(200).collect(),
                };
                self.answer_round(*round_id, vec![event])
            }
            TournamentCommand::Publish { round_id } => {
                let round = self.round(*round_id)?;
                if round.published {
                    return Err(TournamentError::Conflict(
                        "the round is already published".into(),
                    ));
                }
                if round.draw().is_none() {
                    return Err(TournamentError::Conflict(
                        "make the draw before publishing the round".into(),
                    ));
                }
                self.answer_round(
                    *round_id,
                    vec![TournamentEvent::RoundPublished {
                        round_id: *round_id,
                    }],
                )
            }
            TournamentCommand::Timer { round_id, action } => self.decide_timer(*round_id, *action),
            TournamentCommand::EnterBallot { round_id, ballot } => {
                self.decide_ballot(*round_id, ballot)
            }
        }
    }

    /// Applies `events` to a copy to answer the round as it will be.
    fn answer_round(
        &self,
        round_id: u64,
        events: Vec<TournamentEvent>,
    ) -> Result<(TournamentOutcome, Vec<TournamentEvent>), TournamentError> {
        let mut round = self.round(round_id)?.clone();
        for event in &events {
            apply_to_round(&mut round, event);
        }
        Ok((TournamentOutcome::Round(round), events))
    }

    fn decide_create(
        &self,
        name: &str,
        now: Millis,
    ) -> Result<(TournamentOutcome, Vec<TournamentEvent>), TournamentError> {
        check_name("name", name, MAX_NAME_LEN)?;
        if self.tournaments.len() >= MAX_TOURNAMENTS {
            return Err(TournamentError::Limit(
                MAX_TOURNAMENTS,
                "tournaments on the box",
            ));
        }
        let tournament = Tournament {
            id: self.tournaments.keys().next_back().map_or(1, |id| id + 1),
            name: name.trim().to_string(),
            teams: Vec::new(),
            adjudicators: Vec::new(),
            rounds: Vec::new(),
            created_at: now,
        };
        Ok((
            TournamentOutcome::Tournament(tournament.clone()),
            vec![TournamentEvent::Created { tournament }],
        ))
    }

    fn decide_team(
        &self,
        tournament_id: u64,
        name: &str,
        speakers: &[Speaker],
    ) -> Result<(TournamentOutcome, Vec<TournamentEvent>), TournamentError> {
        let tournament = self.tournament(tournament_id)?;
        check_name("name", name, MAX_NAME_LEN)?;
        if !SPEAKERS_PER_TEAM.contains(&speakers.len()) {
            return Err(invalid("speakers", "a team has 2 or 3 speakers"));
        }
        if tournament.teams.len() >= MAX_TEAMS {
            return Err(TournamentError::Limit(MAX_TEAMS, "teams in a tournament"));
        }
        // Ids as tokens name them: lower case.
        let speakers: Vec<Speaker> = speakers
            .iter()
            .map(|s| Speaker {
                id: s.id.to_ascii_lowercase(),
                name: s.name.trim().to_string(),
            })
            .collect();
        let mut ids = BTreeSet::new();
        for speaker in &speakers {
            check_uuid("speakers.id", &speaker.id)?;
            check_name("speakers.name", &speaker.name, MAX_NAME_LEN)?;
            if !ids.insert(&speaker.id) || tournament.team_of(&speaker.id).is_some() {
                return Err(TournamentError::Conflict(format!(
                    "speaker {} is already on a team",
                    speaker.id
                )));
            }
        }
        let team = Team {
            id: self.last_team_id + 1,
            name: name.trim().to_string(),
            speakers,
        };
        Ok((
            TournamentOutcome::Team(team.clone()),
            vec![TournamentEvent::TeamRegistered {
                tournament_id,
                team,
            }],
        ))
    }

    fn decide_adjudicator(
        &self,
        tournament_id: u64,
        adjudicator: &Adjudicator,
    ) -> Result<(TournamentOutcome, Vec<TournamentEvent>), TournamentError> {
        let tournament = self.tournament(tournament_id)?;
        check_uuid("id", &adjudicator.id)?;
        check_name("name", &adjudicator.name, MAX_NAME_LEN)?;
        if tournament.adjudicators.len() >= MAX_ADJUDICATORS {
            return Err(TournamentError::Limit(
                MAX_ADJUDICATORS,
                "adjudicators in a tournament",
            ));
        }
        let id = adjudicator.id.to_ascii_lowercase();
        if tournament.adjudicators.iter().any(|a| a.id == id) {
            return Err(TournamentError::Conflict(format!(
                "adjudicator {id} is already registered"
            )));
        }
        let adjudicator = Adjudicator {
            id,
            name: adjudicator.name.trim().to_string(),
        };
        Ok((
            TournamentOutcome::Adjudicator(adjudicator.clone()),
            vec![TournamentEvent::AdjudicatorRegistered {
                tournament_id,
                adjudicator,
            }],
        ))
    }

    fn decide_round(
        &self,
        tournament_id: u64,
        motion: &str,
    ) -> Result<(TournamentOutcome, Vec<TournamentEvent>), TournamentError> {
        let tournament = self.tournament(tournament_id)?;
        check_length("motion", motion, MAX_MOTION_LEN)?;
        if tournament.rounds.len() >= MAX_ROUNDS {
            return Err(TournamentError::Limit(MAX_ROUNDS, "rounds in a tournament"));
        }
        let round = new_round(
            self.rounds.keys().next_back().map_or(1, |id| id + 1),
            tournament_id,
            tournament.rounds.len() as u32 + 1,
            motion.trim(),
        );
        let event = TournamentEvent::RoundCreated {
            round_id: round.id,
            tournament_id,
            number: round.number,
            motion: round.motion.clone(),
        };
        Ok((TournamentOutcome::Round(round), vec![event]))
    }

    fn decide_timer(
        &self,
        round_id: u64,
        action: TimerAction,
    ) -> Result<(TournamentOutcome, Vec<TournamentEvent>), TournamentError> {
        let round = self.round(round_id)?;
        let timer = round.timer;
        let check = |seconds: u32| {
            if seconds == 0 || seconds > MAX_TIMER_SECS {
                Err(invalid("seconds", format!("must be 1-{MAX_TIMER_SECS}")))
            } else {
                Ok(seconds)
            }
        };
        let (remaining_secs, running) = match action {
            TimerAction::Start { seconds } if !timer.running => (check(seconds)?, true),
            TimerAction::Pause { remaining_secs } if timer.running => {
                (remaining_secs.min(timer.remaining_secs), false)
            }
            TimerAction::Resume if !timer.running && timer.remaining_secs > 0 => {
                (timer.remaining_secs, true)
            }
            TimerAction::Reset { seconds } => (check(seconds)?, false),
            TimerAction::Checkpoint { remaining_secs } if timer.running && remaining_secs > 0 => {
                (remaining_secs.min(timer.remaining_secs), true)
            }
            _ => {
                return Err(TournamentError::Conflict(format!(
                    "the timer is {}",
                    if timer.running { "running" } else { "stopped" }
                )))
            }
        };
        let event = TournamentEvent::TimerChanged {
            round_id,
            remaining_secs,
            running,
        };
        self.answer_round(round_id, vec![event])
    }

    fn decide_ballot(
        &self,
        round_id: u64,
        ballot: &Ballot,
    ) -> Result<(TournamentOutcome, Vec<TournamentEvent>), TournamentError> {
        let round = self.round(round_id)?;
        let tournament = self.tournament(round.tournament_id)?;
        let draw = round
            .draw()
            .ok_or_else(|| TournamentError::Conflict("this round has no draw yet".into()))?;
        let room = draw
            .rooms
            .iter()
            .find(|r| r.number == ballot.room)
            .ok_or_else(|| not_found("room", ballot.room))?;
        let in_room: BTreeSet<&str> = tournament
            .teams
            .iter()
            .filter(|t| t.id == room.proposition || t.id == room.opposition)
            .flat_map(|t| t.speakers.iter().map(|s| s.id.as_str()))
            .collect();
        if ballot.scores.is_empty() {
            return Err(invalid("speakers", "give each speaker's score"));
        }
        for (speaker, score) in &ballot.scores {
            if !in_room.contains(speaker.as_str()) {
                return Err(invalid(
                    "speakers",
                    format!("{speaker} does not speak in room {}", ballot.room),
                ));
            }
            if !SPEAKER_SCORES.contains(score) {
                return Err(invalid(
                    "speakers",
                    format!(
                        "scores are {}-{}",
                        SPEAKER_SCORES.start(),
                        SPEAKER_SCORES.end()
                    ),
                ));
            }
        }
        let event = TournamentEvent::BallotEntered {
            round_id,
            ballot: ballot.clone(),
        };
        self.answer_round(round_id, vec![event])
    }

    pub fn apply(&mut self, event: &TournamentEvent) {
        match event {
            TournamentEvent::Created { tournament } => {
                self.tournaments.insert(tournament.id, tournament.clone());
            }
            TournamentEvent::TeamRegistered {
                tournament_id,
                team,
            } => {
                self.last_team_id = self.last_team_id.max(team.id);
                if let Some(t) = self.tournaments.get_mut(tournament_id) {
                    t.teams.push(team.clone());
                }
            }
            TournamentEvent::AdjudicatorRegistered {
                tournament_id,
                adjudicator,
            } => {
                if let Some(t) = self.tournaments.get_mut(tournament_id) {
                    t.adjudicators.push(adjudicator.clone());
                }
            }
            TournamentEvent::RoundCreated {
                round_id,
                tournament_id,
                number,
                motion,
            } => {
                if let Some(t) = self.tournaments.get_mut(tournament_id) {
                    t.rounds.push(*round_id);
                }
                self.rounds.insert(
                    *round_id,
                    new_round(*round_id, *tournament_id, *number, motion),
                );
            }
            TournamentEvent::CheckedIn { round_id, .. }
            | TournamentEvent::DrawStarted { round_id }
            | TournamentEvent::DrawCompleted { round_id, .. }
            | TournamentEvent::DrawFailed { round_id, .. }
            | TournamentEvent::RoundPublished { round_id }
            | TournamentEvent::TimerChanged { round_id, .. }
            | TournamentEvent::BallotEntered { round_id, .. } => {
                if let Some(round) = self.rounds.get_mut(round_id) {
                    apply_to_round(round, event);
                }
            }
        }
    }

    /// At boot, after replay: a running timer comes back paused at its last persisted value,
    /// and a draw job the power cut stopped is reported failed (staff start it again).
    pub fn recover(&self) -> Vec<TournamentEvent> {
        let mut events = Vec::new();
        for round in self.rounds.values() {
            if round.timer.running {
                events.push(TournamentEvent::TimerChanged {
                    round_id: round.id,
                    remaining_secs: round.timer.remaining_secs,
                    running: false,
                });
            }
            if round.draw == DrawState::Running {
                events.push(TournamentEvent::DrawFailed {
                    round_id: round.id,
                    reason: "the box restarted during the draw; start it again".into(),
                });
            }
        }
        events
    }
}

/// A recorded draw names the tournament's teams and adjudicators, each at most once.
fn check_draw(tournament: &Tournament, draw: &Draw) -> Result<(), TournamentError> {
    let mut teams = BTreeSet::new();
    let mut judges = BTreeSet::new();
    let sitting = draw
        .rooms
        .iter()
        .flat_map(|r| [r.proposition, r.opposition]);
    for team in sitting.chain(draw.bye) {
        if !tournament.teams.iter().any(|t| t.id == team) || !teams.insert(team) {
            return Err(invalid(
                "draw",
                format!("team {team} is unknown or drawn twice"),
            ));
        }
    }
    for judge in draw.rooms.iter().filter_map(|r| r.adjudicator.as_ref()) {
        if !tournament.adjudicators.iter().any(|a| &a.id == judge) || !judges.insert(judge) {
            return Err(invalid(
                "draw",
                format!("adjudicator {judge} is unknown or drawn twice"),
            ));
        }
    }
    Ok(())
}

/// A round as it is created: secret, undrawn, nobody checked in.
fn new_round(id: u64, tournament_id: u64, number: u32, motion: &str) -> Round {
    Round {
        id,
        tournament_id,
        number,
        motion: motion.to_string(),
        published: false,
        checked_in: BTreeSet::new(),
        draw: DrawState::NotStarted,
        timer: Timer::default(),
        ballots: BTreeMap::new(),
    }
}

fn apply_to_round(round: &mut Round, event: &TournamentEvent) {
    match event {
        TournamentEvent::CheckedIn {
            user_id, present, ..
        } => {
            if *present {
                round.checked_in.insert(user_id.clone());
            } else {
                round.checked_in.remove(user_id);
            }
        }
        TournamentEvent::DrawStarted { .. } => round.draw = DrawState::Running,
        TournamentEvent::DrawCompleted { draw, .. } => round.draw = DrawState::Done(draw.clone()),
        TournamentEvent::DrawFailed { reason, .. } => {
            round.draw = DrawState::Failed(reason.clone())
        }
        TournamentEvent::RoundPublished { .. } => round.published = true,
        TournamentEvent::TimerChanged {
            remaining_secs,
            running,
            ..
        } => {
            round.timer = Timer {
                remaining_secs: *remaining_secs,
                running: *running,
            }
        }
        TournamentEvent::BallotEntered { ballot, .. } => {
            round.ballots.insert(ballot.room, ballot.clone());
        }
        TournamentEvent::Created { .. }
        | TournamentEvent::TeamRegistered { .. }
        | TournamentEvent::AdjudicatorRegistered { .. }
        | TournamentEvent::RoundCreated { .. } => {}
    }
}

#[cfg(test)]
pub(crate) mod tests;
