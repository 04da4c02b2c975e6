//! The shuffle draft (seed 001) as a pure state machine: captains draft players from a pool,
//! the team with the lowest total MMR picks next, ties are settled by d6 rolls.
//!
//! The log is the draft's history: every change is a [`HistoryEntry`] (draft started, tie
//! roll, captain assigned, player picked, pick undone, draft completed), the same entries
//! spectators see, so replaying the log rebuilds the board and the history alike. Dice are
//! drawn by the adapter and handed in with the command ([`DRAFT_DICE`] of them); the rolls a
//! tie used are recorded in its entry, so a replay never rolls again.
//!
//! Rules: teams are equal in size (the pool divides by the number of captains); each round the
//! captain of the team with the lowest total MMR (captain and picks) that is not full picks
//! next; a tie among the lowest is rolled among the tied captains, re-rolled among those tied
//! on the highest roll until one wins. Only the captain on the clock or staff pick; a player is
//! picked once; the last pick completes the draft. Undo takes back the last pick and gives its
//! round back to the captain who had it (a completed draft reopens), so nobody is left on the
//! clock for a round that no longer exists.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::domain::basics::{is_shown_name, ErrorKind, Millis};

/// Captains (teams) in one draft.
pub const MAX_CAPTAINS: usize = 16;
/// Players in one draft's pool.
pub const MAX_PLAYERS: usize = 256;
/// Drafts on the box.
pub const MAX_DRAFTS: usize = 1_000;
/// History entries of one draft: picks and undos are staff's, but a loop of undos must not
/// grow the state without end.
pub const MAX_HISTORY: usize = 5_000;
/// Highest MMR accepted.
pub const MAX_MMR: u32 = 100_000;
/// Dice the adapter draws for a command that may have to settle a tie: a tie among 16
/// captains needs a few dozen at the very worst.
pub const DRAFT_DICE: usize = 256;
const MAX_NAME_LEN: usize = 80;
const MAX_ID_LEN: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DraftError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("no {what} {id}")]
    NotFound { what: &'static str, id: String },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("at most {0} {1}")]
    Limit(usize, &'static str),
    /// The tie rolls used every die the command carried: the adapter draws again.
    #[error("the tie rolls ran past the dice drawn; try again")]
    OutOfDice,
}

impl DraftError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Invalid { .. } => ErrorKind::Invalid,
            Self::NotFound { .. } => ErrorKind::NotFound,
            Self::Conflict(_) | Self::OutOfDice | Self::Limit(..) => ErrorKind::Conflict,
            Self::Forbidden(_) => ErrorKind::Forbidden,
        }
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> DraftError {
    DraftError::Invalid {
        field,
        reason: reason.into(),
    }
}

/// A captain or a player.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// A captain's id is the `sub` of the token they pick with.
    pub id: String,
    pub name: String,
    pub mmr: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DraftStatus {
    Created,
    Running,
    Completed,
}

/// A tie among the lowest teams and the rolls that settled it. Captains are named by their
/// position in the draft's list (team `i + 1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TieRoll {
    /// The tied captains and their teams' total MMR.
    pub tied: Vec<(usize, u32)>,
    /// One list per roll, of (captain, roll): the first among all tied, each next among those
    /// tied on the highest roll.
    pub roll_rounds: Vec<Vec<(usize, u8)>>,
    pub winner: usize,
}

/// What happened, as the log keeps it and spectators see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Entry {
    DraftStarted,
    /// Sent before the `CaptainAssigned` it decides.
    TieRoll(TieRoll),
    CaptainAssigned {
        round: u32,
        captain: usize,
        was_tie: bool,
    },
    PlayerPicked {
        round: u32,
        captain: usize,
        player: usize,
    },
    PickUndone {
        round: u32,
        captain: usize,
        player: usize,
    },
    DraftCompleted,
}

/// One entry of a draft's history. `id` is unique on the box and grows with time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub id: u64,
    pub draft_id: u64,
    pub entry: Entry,
    /// Who did it (a token's `sub`): staff, the captain who picked.
    pub actor: Option<String>,
    pub created_at: Millis,
}

/// Who is on the clock in a round, and how they got there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundCaptain {
    pub captain: usize,
    pub was_tie: bool,
    pub tie_roll: Option<TieRoll>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pick {
    pub round: u32,
    pub captain: usize,
    pub player: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draft {
    pub id: u64,
    pub tournament_id: u64,
    pub captains: Vec<Member>,
    pub players: Vec<Member>,
    pub status: DraftStatus,
    pub picks: Vec<Pick>,
    /// Round `i + 1`'s captain; the last one is on the clock while the draft runs.
    pub rounds: Vec<RoundCaptain>,
    pub history: Vec<HistoryEntry>,
    pub created_at: Millis,
}

impl Draft {
    /// Players each team drafts.
    pub fn team_size(&self) -> usize {
        self.players.len() / self.captains.len().max(1)
    }

    /// Team `captain`'s picks, in order.
    pub fn team_picks(&self, captain: usize) -> impl Iterator<Item = usize> + '_ {
        self.picks
            .iter()
            .filter(move |p| p.captain == captain)
            .map(|p| p.player)
    }

    /// The team's total MMR: its captain and its picks.
    pub fn team_mmr(&self, captain: usize) -> u32 {
        self.captains[captain].mmr
            + self
                .team_picks(captain)
                .map(|p| self.players[p].mmr)
                .sum::<u32>()
    }

    /// The captain on the clock, while the draft runs.
    pub fn on_the_clock(&self) -> Option<usize> {
        match self.status {
            DraftStatus::Running => self.rounds.last().map(|r| r.captain),
            _ => None,
        }
    }

    pub fn is_picked(&self, player: usize) -> bool {
        self.picks.iter().any(|p| p.player == player)
    }

    pub fn captain_name(&self, captain: usize) -> &str {
        self.captains.get(captain).map_or("", |c| c.name.as_str())
    }

    pub fn player_name(&self, player: usize) -> &str {
        self.players.get(player).map_or("", |p| p.name.as_str())
    }
}

/// Who asks: their token's `sub`, and whether they are staff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: String,
    pub staff: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DraftCommand {
    Create {
        tournament_id: u64,
        captains: Vec<Member>,
        players: Vec<Member>,
    },
    /// `dice`: d6 rolls drawn by the adapter, used in order by any tie.
    Start {
        draft_id: u64,
        actor: Actor,
        dice: Vec<u8>,
    },
    Pick {
        draft_id: u64,
        player_id: String,
        actor: Actor,
        dice: Vec<u8>,
    },
    Undo {
        draft_id: u64,
        actor: Actor,
    },
}

/// The durable record. New variants go at the end: the log stores their position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DraftEvent {
    Created { draft: Draft },
    Recorded(HistoryEntry),
}

impl DraftEvent {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Created { .. } => "DraftCreated",
            Self::Recorded(entry) => match entry.entry {
                Entry::DraftStarted => "DraftStarted",
                Entry::TieRoll(_) => "TieRoll",
                Entry::CaptainAssigned { .. } => "CaptainAssigned",
                Entry::PlayerPicked { .. } => "PlayerPicked",
                Entry::PickUndone { .. } => "PickUndone",
                Entry::DraftCompleted => "DraftCompleted",
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum DraftOutcome {
    Draft(Box<Draft>),
}

/// The published read model.
pub type DraftsView = DraftsState;

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DraftsState {
    pub drafts: BTreeMap<u64, Draft>,
    /// The last history id given out (box-wide).
    last_entry_id: u64,
}

impl DraftsState {
    pub fn draft(&self, id: u64) -> Result<&Draft, DraftError> {
        self.drafts.get(&id).ok_or_else(|| DraftError::NotFound {
            what: "draft",
            id: id.to_string(),
        })
    }

    /// The last `n` history entries of the tournament's drafts, oldest first.
    pub fn tournament_history(&self, tournament_id: u64, n: usize) -> Vec<&HistoryEntry> {
        let mut entries: Vec<&HistoryEntry> = self
            .drafts
            .values()
            .filter(|d| d.tournament_id == tournament_id)
            .flat_map(|d| d.history.iter().rev().take(n))
            .collect();
        entries.sort_by_key(|e| e.id);
        let skip = entries.len().saturating_sub(n);
        entries.split_off(skip)
    }

    /// `tournament_exists` answers for the tournaments contract, which this one does not see.
    pub fn decide(
        &self,
        command: &DraftCommand,
        now: Millis,
        tournament_exists: &dyn Fn(u64) -> bool,
    ) -> Result<(DraftOutcome, Vec<DraftEvent>), DraftError> {
        let (draft_id, events) = match command {
            DraftCommand::Create {
                tournament_id,
                captains,
                players,
            } => {
                if !tournament_exists(*tournament_id) {
                    return Err(DraftError::NotFound {
                        what: "tournament",
                        id: tournament_id.to_string(),
                    });
                }
                let draft = self.new_draft(*tournament_id, captains, players, now)?;
                (draft.id, vec![DraftEvent::Created { draft }])
            }
            DraftCommand::Start {
                draft_id,
                actor,
                dice,
            } => (*draft_id, self.decide_start(*draft_id, actor, dice, now)?),
            DraftCommand::Pick {
                draft_id,
                player_id,
                actor,
                dice,
            } => (
                *draft_id,
                self.decide_pick(*draft_id, player_id, actor, dice, now)?,
            ),
            DraftCommand::Undo { draft_id, actor } => {
                (*draft_id, self.decide_undo(*draft_id, actor, now)?)
            }
        };
        // The answer is the draft after the events: applied to a copy of it alone.
        let mut draft = match events.first() {
            Some(DraftEvent::Created { draft }) => draft.clone(),
            _ => self.draft(draft_id)?.clone(),
        };
        for event in &events {
            if let DraftEvent::Recorded(entry) = event {
                apply_entry(&mut draft, entry);
            }
        }
        Ok((DraftOutcome::Draft(Box::new(draft)), events))
    }

    /// Entries the rest of the draft may still need: a pick, a tie and an assignment per
    /// player left, and the completion. Undos may not eat into it, so a draft can always be
    /// finished however often it was undone.
    fn room_to_finish(draft: &Draft) -> usize {
        (draft.players.len() - draft.picks.len()) * 3 + 1
    }

    fn new_draft(
        &self,
        tournament_id: u64,
        captains: &[Member],
        players: &[Member],
        now: Millis,
    ) -> Result<Draft, DraftError> {
        if self.drafts.len() >= MAX_DRAFTS {
            return Err(DraftError::Limit(MAX_DRAFTS, "drafts on the box"));
        }
        if !(2..=MAX_CAPTAINS).contains(&captains.len()) {
            return Err(invalid(
                "captains",
                format!("2 to {MAX_CAPTAINS} captains, one per team"),
            ));
        }
        if players.is_empty() || players.len() > MAX_PLAYERS {
            return Err(invalid("players", format!("1 to {MAX_PLAYERS} players")));
        }
        if players.len() % captains.len() != 0 {
            return Err(invalid(
                "players",
                format!(
                    "{} players do not make {} equal teams",
                    players.len(),
                    captains.len()
                ),
            ));
        }
        let tidy = |m: &Member| Member {
            id: m.id.trim().to_string(),
            name: m.name.trim().to_string(),
            mmr: m.mmr,
        };
        let captains: Vec<Member> = captains.iter().map(tidy).collect();
        let players: Vec<Member> = players.iter().map(tidy).collect();
        // Checked as stored: " x" and "x" are the same id.
        let mut ids = BTreeSet::new();
        for (field, member) in captains
            .iter()
            .map(|c| ("captains", c))
            .chain(players.iter().map(|p| ("players", p)))
        {
            check_member(field, member)?;
            if !ids.insert(member.id.as_str()) {
                return Err(invalid(field, format!("{:?} is listed twice", member.id)));
            }
        }
        Ok(Draft {
            id: self.drafts.keys().next_back().map_or(1, |id| id + 1),
            tournament_id,
            captains,
            players,
            status: DraftStatus::Created,
            picks: Vec::new(),
            rounds: Vec::new(),
            history: Vec::new(),
            created_at: now,
        })
    }

    fn decide_start(
        &self,
        draft_id: u64,
        actor: &Actor,
        dice: &[u8],
        now: Millis,
    ) -> Result<Vec<DraftEvent>, DraftError> {
        let draft = self.draft(draft_id)?;
        require_staff(actor, "start a draft")?;
        if draft.status != DraftStatus::Created {
            return Err(DraftError::Conflict("the draft has started".into()));
        }
        let mut log = Recorder::new(self, draft, actor, now);
        log.push(Entry::DraftStarted);
        let mut after = draft.clone();
        after.status = DraftStatus::Running;
        log.assign(&after, 1, dice)?;
        Ok(log.events)
    }

    fn decide_pick(
        &self,
        draft_id: u64,
        player_id: &str,
        actor: &Actor,
        dice: &[u8],
        now: Millis,
    ) -> Result<Vec<DraftEvent>, DraftError> {
        let draft = self.draft(draft_id)?;
        let Some(captain) = draft.on_the_clock() else {
            return Err(DraftError::Conflict(match draft.status {
                DraftStatus::Created => "the draft has not started".into(),
                _ => "the draft is complete".into(),
            }));
        };
        if !actor.staff && actor.user_id != draft.captains[captain].id {
            return Err(DraftError::Forbidden(format!(
                "{} is on the clock, not you",
                draft.captains[captain].name
            )));
        }
        let player = draft
            .players
            .iter()
            .position(|p| p.id == player_id)
            .ok_or_else(|| DraftError::NotFound {
                what: "player",
                id: player_id.to_string(),
            })?;
        if draft.is_picked(player) {
            return Err(DraftError::Conflict(format!(
                "{} is already on a team",
                draft.players[player].name
            )));
        }
        let round = draft.picks.len() as u32 + 1;
        let mut log = Recorder::new(self, draft, actor, now);
        log.push(Entry::PlayerPicked {
            round,
            captain,
            player,
        });
        let mut after = draft.clone();
        after.picks.push(Pick {
            round,
            captain,
            player,
        });
        if after.picks.len() == after.players.len() {
            log.push(Entry::DraftCompleted);
        } else {
            log.assign(&after, round + 1, dice)?;
        }
        Ok(log.events)
    }

    fn decide_undo(
        &self,
        draft_id: u64,
        actor: &Actor,
        now: Millis,
    ) -> Result<Vec<DraftEvent>, DraftError> {
        let draft = self.draft(draft_id)?;
        require_staff(actor, "undo a pick")?;
        let Some(last) = draft.picks.last() else {
            return Err(DraftError::Conflict("no pick to undo".into()));
        };
        // The undo's two entries, and room to pick the player again and finish.
        if draft.history.len() + 2 + Self::room_to_finish(draft) + 3 > MAX_HISTORY {
            return Err(DraftError::Limit(
                MAX_HISTORY,
                "history entries in a draft; finish it without more undos",
            ));
        }
        let had_round = draft
            .rounds
            .get(last.round as usize - 1)
            .ok_or_else(|| DraftError::Conflict("the last pick's round is unknown".into()))?;
        let mut log = Recorder::new(self, draft, actor, now);
        log.push(Entry::PickUndone {
            round: last.round,
            captain: last.captain,
            player: last.player,
        });
        // The round goes back to the captain who had it, as they got it (no new roll).
        log.push(Entry::CaptainAssigned {
            round: last.round,
            captain: had_round.captain,
            was_tie: had_round.was_tie,
        });
        Ok(log.events)
    }

    pub fn apply(&mut self, event: &DraftEvent) {
        match event {
            DraftEvent::Created { draft } => {
                self.drafts.insert(draft.id, draft.clone());
            }
            DraftEvent::Recorded(entry) => {
                self.last_entry_id = self.last_entry_id.max(entry.id);
                if let Some(draft) = self.drafts.get_mut(&entry.draft_id) {
                    apply_entry(draft, entry);
                }
            }
        }
    }
}

fn apply_entry(draft: &mut Draft, entry: &HistoryEntry) {
    match &entry.entry {
        Entry::DraftStarted => draft.status = DraftStatus::Running,
        // Kept on the round it decides, which the next entry assigns.
        Entry::TieRoll(_) => {}
        Entry::CaptainAssigned {
            round,
            captain,
            was_tie,
        } => {
            let tie_roll = match draft.history.last().map(|e| &e.entry) {
                Some(Entry::TieRoll(tie)) => Some(tie.clone()),
                // Given back by an undo: the round keeps the roll that first decided it.
                _ => draft
                    .rounds
                    .get(*round as usize - 1)
                    .and_then(|r| r.tie_roll.clone()),
            };
            let decided = RoundCaptain {
                captain: *captain,
                was_tie: *was_tie,
                tie_roll: tie_roll.filter(|_| *was_tie),
            };
            let index = *round as usize - 1;
            draft.rounds.truncate(index);
            draft.rounds.push(decided);
            draft.status = DraftStatus::Running;
        }
        Entry::PlayerPicked {
            round,
            captain,
            player,
        } => draft.picks.push(Pick {
            round: *round,
            captain: *captain,
            player: *player,
        }),
        Entry::PickUndone { round, .. } => {
            draft.picks.pop();
            draft.rounds.truncate(*round as usize);
        }
        Entry::DraftCompleted => draft.status = DraftStatus::Completed,
    }
    draft.history.push(entry.clone());
}

fn require_staff(actor: &Actor, what: &str) -> Result<(), DraftError> {
    if actor.staff {
        Ok(())
    } else {
        Err(DraftError::Forbidden(format!("only staff {what}")))
    }
}

/// The actor staff act as: no captain may share it, or their picks would read as staff's.
const STAFF_ID: &str = "admin";

fn check_member(field: &'static str, member: &Member) -> Result<(), DraftError> {
    let id = member.id.as_str();
    if !is_shown_name(id, MAX_ID_LEN) {
        return Err(invalid(
            field,
            format!("an id is 1-{MAX_ID_LEN} visible characters"),
        ));
    }
    if id == STAFF_ID {
        return Err(invalid(field, format!("{STAFF_ID:?} is staff's id")));
    }
    let name = member.name.as_str();
    if !is_shown_name(name, MAX_NAME_LEN) {
        return Err(invalid(
            field,
            format!("a name is 1-{MAX_NAME_LEN} visible characters"),
        ));
    }
    if member.mmr > MAX_MMR {
        return Err(invalid(field, format!("mmr is at most {MAX_MMR}")));
    }
    Ok(())
}

/// Builds one command's history entries, numbered on from the box's last.
struct Recorder<'a> {
    draft: &'a Draft,
    actor: Option<String>,
    now: Millis,
    next_id: u64,
    events: Vec<DraftEvent>,
}

impl<'a> Recorder<'a> {
    fn new(state: &DraftsState, draft: &'a Draft, actor: &Actor, now: Millis) -> Self {
        Self {
            draft,
            actor: Some(actor.user_id.clone()),
            now,
            next_id: state.last_entry_id + 1,
            events: Vec::new(),
        }
    }

    fn push(&mut self, entry: Entry) {
        self.events.push(DraftEvent::Recorded(HistoryEntry {
            id: self.next_id,
            draft_id: self.draft.id,
            entry,
            actor: self.actor.clone(),
            created_at: self.now,
        }));
        self.next_id += 1;
    }

    /// Puts the captain of the lowest team that is not full on the clock for `round`, rolling
    /// `dice` among the tied when several are lowest.
    fn assign(&mut self, draft: &Draft, round: u32, dice: &[u8]) -> Result<(), DraftError> {
        let open: Vec<(usize, u32)> = (0..draft.captains.len())
            .filter(|c| draft.team_picks(*c).count() < draft.team_size())
            .map(|c| (c, draft.team_mmr(c)))
            .collect();
        let lowest = open.iter().map(|(_, mmr)| *mmr).min().unwrap_or(0);
        let tied: Vec<(usize, u32)> = open.into_iter().filter(|(_, m)| *m == lowest).collect();
        let (captain, was_tie) = match tied.as_slice() {
            [] => return Err(DraftError::Conflict("every team is full".into())),
            [(only, _)] => (*only, false),
            _ => {
                let tie = roll_off(&tied, dice)?;
                let winner = tie.winner;
                self.push(Entry::TieRoll(tie));
                (winner, true)
            }
        };
        self.push(Entry::CaptainAssigned {
            round,
            captain,
            was_tie,
        });
        Ok(())
    }
}

/// Rolls a d6 for each tied captain (from `dice`, in order), again among those on the highest
/// roll, until one is highest alone.
pub fn roll_off(tied: &[(usize, u32)], dice: &[u8]) -> Result<TieRoll, DraftError> {
    if let Some(bad) = dice.iter().find(|d| !(1..=6).contains(*d)) {
        return Err(invalid("dice", format!("{bad} is not a d6 roll")));
    }
    let mut dice = dice.iter().copied();
    let mut rolling: Vec<usize> = tied.iter().map(|(c, _)| *c).collect();
    let mut roll_rounds = Vec::new();
    loop {
        let rolls: Vec<(usize, u8)> = rolling
            .iter()
            .map(|c| dice.next().map(|d| (*c, d)).ok_or(DraftError::OutOfDice))
            .collect::<Result<_, _>>()?;
        let high = rolls.iter().map(|(_, r)| *r).max().unwrap_or(0);
        rolling = rolls
            .iter()
            .filter(|(_, r)| *r == high)
            .map(|(c, _)| *c)
            .collect();
        roll_rounds.push(rolls);
        if let [winner] = rolling.as_slice() {
            return Ok(TieRoll {
                tied: tied.to_vec(),
                roll_rounds,
                winner: *winner,
            });
        }
    }
}

#[cfg(test)]
mod tests;
