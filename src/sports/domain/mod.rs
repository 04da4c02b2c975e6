//! A sports day (seed 003) as a pure state machine: events (public or private, with their
//! points per result), teams and their members, registrations, fixtures and their results,
//! each event's leaderboard (stored with the result that changed it, so a restart serves it
//! without recomputing), announcements, and tickets sold at the gate.
//!
//! Who may do what (staff, an event's managers, a buyer) is the adapter's to check; this state
//! keeps what it needs to answer (creators, managers, members, buyers).

pub mod leaderboard;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::domain::basics::{is_shown_name, ErrorKind, Millis};
use leaderboard::{Game, Points, Row};

/// Events, teams, fixtures, announcements and purchases on the box, each.
pub const MAX_ITEMS: usize = 10_000;
/// Members of one team.
pub const MAX_MEMBERS: usize = 64;
const MAX_NAME_LEN: usize = 120;
const MAX_TEXT_LEN: usize = 2_000;
/// Tickets in one purchase.
pub const MAX_QUANTITY: u32 = 50;
/// A score past this is a typo.
pub const MAX_SCORE: u32 = 1_000;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SportsError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("no {what} {id}")]
    NotFound { what: &'static str, id: u64 },
    #[error("{0}")]
    Conflict(String),
    #[error("at most {0} {1}")]
    Limit(usize, &'static str),
}

impl SportsError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Invalid { .. } => ErrorKind::Invalid,
            Self::NotFound { .. } => ErrorKind::NotFound,
            Self::Conflict(_) => ErrorKind::Conflict,
            Self::Limit(..) => ErrorKind::Conflict,
        }
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> SportsError {
    SportsError::Invalid {
        field,
        reason: reason.into(),
    }
}

/// A name or id: someone or something others pick out of a list, so nothing in it may hide.
fn check_name(field: &'static str, name: &str, max: usize) -> Result<(), SportsError> {
    if !is_shown_name(name, max) {
        return Err(invalid(field, format!("1-{max} visible characters")));
    }
    Ok(())
}

fn check_text(field: &'static str, text: &str, max: usize) -> Result<(), SportsError> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > max || text.chars().any(char::is_control) {
        return Err(invalid(
            field,
            format!("1-{max} characters, no control characters"),
        ));
    }
    Ok(())
}

/// An event in the seed's words (a sports day, a tournament of fixtures): called a meet here,
/// beside the log's events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meet {
    pub id: u64,
    pub name: String,
    pub public: bool,
    pub points: Points,
    /// Who created it (a token's `sub`): with its managers, who may announce for it.
    pub created_by: String,
    pub teams: BTreeSet<u64>,
    pub leaderboard: Vec<Row>,
    pub created_at: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum MemberRole {
    Manager,
    Coach,
    Player,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub user_id: String,
    pub role: MemberRole,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    pub id: u64,
    pub name: String,
    pub members: Vec<Member>,
}

impl Team {
    pub fn has_member(&self, user_id: &str) -> bool {
        self.members.iter().any(|m| m.user_id == user_id)
    }

    pub fn is_manager(&self, user_id: &str) -> bool {
        self.members
            .iter()
            .any(|m| m.user_id == user_id && m.role == MemberRole::Manager)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FixtureStatus {
    Scheduled,
    Rescheduled,
    Cancelled,
    Final,
    /// Removed: kept so the change can be told, never listed.
    Deleted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Score {
    pub home: u32,
    pub away: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fixture {
    pub id: u64,
    pub event_id: u64,
    pub home: u64,
    pub away: u64,
    pub starts_at: Millis,
    pub status: FixtureStatus,
    pub result: Option<Score>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AnnouncementType {
    General,
    ScheduleChange,
    ResultUpdate,
    WeatherAlert,
    Emergency,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Priority {
    Low,
    Normal,
    High,
    Urgent,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announcement {
    pub id: u64,
    pub event_id: u64,
    pub title: String,
    pub message: String,
    pub kind: AnnouncementType,
    pub priority: Priority,
    /// Empty: the whole event.
    pub target_teams: BTreeSet<u64>,
    pub expires_at: Option<Millis>,
    pub created_by: String,
    pub created_at: Millis,
    pub deleted: bool,
}

impl Announcement {
    /// Still to be shown at `now`: not deleted, not expired.
    pub fn is_live(&self, now: Millis) -> bool {
        !self.deleted && self.expires_at.is_none_or(|at| now < at)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PurchaseStatus {
    Pending,
    Confirmed,
    Cancelled,
    Refunded,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purchase {
    pub id: u64,
    pub event_id: u64,
    pub user_id: String,
    pub quantity: u32,
    pub status: PurchaseStatus,
    pub created_at: Millis,
}

/// A change to a fixture (`None`: unchanged).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FixtureChange {
    pub starts_at: Option<Millis>,
    pub cancelled: bool,
}

/// A change to an announcement (`None`: unchanged).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AnnouncementChange {
    pub title: Option<String>,
    pub message: Option<String>,
    pub priority: Option<Priority>,
    pub expires_at: Option<Option<Millis>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SportsCommand {
    CreateEvent {
        name: String,
        public: bool,
        points: Points,
        created_by: String,
    },
    CreateTeam {
        name: String,
        members: Vec<Member>,
    },
    Register {
        event_id: u64,
        team_id: u64,
    },
    AddFixture {
        event_id: u64,
        home: u64,
        away: u64,
        starts_at: Millis,
    },
    ChangeFixture {
        fixture_id: u64,
        change: FixtureChange,
    },
    DeleteFixture {
        fixture_id: u64,
    },
    RecordResult {
        fixture_id: u64,
        score: Score,
    },
    Announce {
        event_id: u64,
        title: String,
        message: String,
        kind: AnnouncementType,
        priority: Priority,
        target_teams: BTreeSet<u64>,
        expires_at: Option<Millis>,
        created_by: String,
    },
    ChangeAnnouncement {
        announcement_id: u64,
        change: AnnouncementChange,
    },
    DeleteAnnouncement {
        announcement_id: u64,
    },
    /// Sends an announcement again (staff's "broadcast").
    Rebroadcast {
        announcement_id: u64,
    },
    Purchase {
        event_id: u64,
        user_id: String,
        quantity: u32,
    },
    SetPurchaseStatus {
        purchase_id: u64,
        status: PurchaseStatus,
    },
}

/// The durable record. New variants go at the end: the log stores their position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SportsEvent {
    EventCreated(Meet),
    TeamCreated(Team),
    Registered {
        event_id: u64,
        team_id: u64,
    },
    /// A fixture as it now is (created, rescheduled, cancelled, deleted or final).
    FixtureSaved(Fixture),
    /// The leaderboard an event's results made, stored as computed.
    LeaderboardStored {
        event_id: u64,
        rows: Vec<Row>,
    },
    /// An announcement as it now is; `broadcast` when it goes out (created or sent again).
    AnnouncementSaved {
        announcement: Announcement,
        broadcast: bool,
    },
    PurchaseSaved(Purchase),
}

impl SportsEvent {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::EventCreated(_) => "MeetCreated",
            Self::TeamCreated(_) => "TeamCreated",
            Self::Registered { .. } => "TeamRegisteredToEvent",
            Self::FixtureSaved(_) => "FixtureSaved",
            Self::LeaderboardStored { .. } => "LeaderboardStored",
            Self::AnnouncementSaved { .. } => "AnnouncementSaved",
            Self::PurchaseSaved(_) => "PurchaseSaved",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum SportsOutcome {
    Meet(Box<Meet>),
    Team(Team),
    Fixture(Fixture),
    Announcement(Box<Announcement>),
    Purchase(Purchase),
}

/// The published read model.
pub type SportsView = SportsState;

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SportsState {
    pub events: BTreeMap<u64, Meet>,
    pub teams: BTreeMap<u64, Team>,
    pub fixtures: BTreeMap<u64, Fixture>,
    pub announcements: BTreeMap<u64, Announcement>,
    pub purchases: BTreeMap<u64, Purchase>,
}

fn next_id<T>(map: &BTreeMap<u64, T>) -> Result<u64, SportsError> {
    if map.len() >= MAX_ITEMS {
        return Err(SportsError::Limit(MAX_ITEMS, "of each on the box"));
    }
    Ok(map.keys().next_back().map_or(1, |id| id + 1))
}

fn found<'a, T>(
    map: &'a BTreeMap<u64, T>,
    what: &'static str,
    id: u64,
) -> Result<&'a T, SportsError> {
    map.get(&id).ok_or(SportsError::NotFound { what, id })
}

impl SportsState {
    pub fn meet(&self, id: u64) -> Result<&Meet, SportsError> {
        found(&self.events, "event", id)
    }

    pub fn team(&self, id: u64) -> Result<&Team, SportsError> {
        found(&self.teams, "team", id)
    }

    pub fn fixture(&self, id: u64) -> Result<&Fixture, SportsError> {
        found(&self.fixtures, "fixture", id).and_then(|f| match f.status {
            FixtureStatus::Deleted => Err(SportsError::NotFound {
                what: "fixture",
                id,
            }),
            _ => Ok(f),
        })
    }

    pub fn announcement(&self, id: u64) -> Result<&Announcement, SportsError> {
        found(&self.announcements, "announcement", id).and_then(|a| match a.deleted {
            true => Err(SportsError::NotFound {
                what: "announcement",
                id,
            }),
            false => Ok(a),
        })
    }

    pub fn purchase(&self, id: u64) -> Result<&Purchase, SportsError> {
        found(&self.purchases, "purchase", id)
    }

    /// Whether `user_id` is on a team registered to the event (a private event's audience).
    pub fn takes_part(&self, event_id: u64, user_id: &str) -> bool {
        self.events.get(&event_id).is_some_and(|e| {
            e.teams
                .iter()
                .filter_map(|t| self.teams.get(t))
                .any(|t| t.has_member(user_id))
        })
    }

    /// Whether `user_id` manages a team registered to the event.
    pub fn manages(&self, event_id: u64, user_id: &str) -> bool {
        self.events.get(&event_id).is_some_and(|e| {
            e.created_by == user_id
                || e.teams
                    .iter()
                    .filter_map(|t| self.teams.get(t))
                    .any(|t| t.is_manager(user_id))
        })
    }

    /// The events a team is registered to.
    pub fn events_of(&self, team_id: u64) -> impl Iterator<Item = &Meet> {
        self.events
            .values()
            .filter(move |e| e.teams.contains(&team_id))
    }

    /// The event's fixtures that are not deleted, by start.
    pub fn schedule(&self, event_id: u64) -> Vec<&Fixture> {
        let mut fixtures: Vec<&Fixture> = self
            .fixtures
            .values()
            .filter(|f| f.event_id == event_id && f.status != FixtureStatus::Deleted)
            .collect();
        fixtures.sort_by_key(|f| (f.starts_at, f.id));
        fixtures
    }

    /// A team's fixtures in every event it plays in, not deleted, by start.
    pub fn team_schedule(&self, team_id: u64) -> Vec<&Fixture> {
        let mut fixtures: Vec<&Fixture> = self
            .fixtures
            .values()
            .filter(|f| {
                (f.home == team_id || f.away == team_id) && f.status != FixtureStatus::Deleted
            })
            .collect();
        fixtures.sort_by_key(|f| (f.starts_at, f.id));
        fixtures
    }

    /// The live announcements for the whole event, or (with `team`) those targeted at it, in
    /// the order they were made.
    pub fn live_announcements(
        &self,
        event_id: Option<u64>,
        team: Option<u64>,
        now: Millis,
    ) -> Vec<&Announcement> {
        self.announcements
            .values()
            .filter(|a| a.is_live(now))
            .filter(|a| event_id.is_none_or(|id| a.event_id == id))
            .filter(|a| match team {
                Some(team) => a.target_teams.contains(&team),
                None => a.target_teams.is_empty(),
            })
            .collect()
    }

    fn recomputed(&self, event_id: u64, fixtures: &BTreeMap<u64, Fixture>) -> Vec<Row> {
        let Some(event) = self.events.get(&event_id) else {
            return Vec::new();
        };
        let games: Vec<Game> = fixtures
            .values()
            .filter(|f| f.event_id == event_id && f.status == FixtureStatus::Final)
            .filter_map(|f| {
                f.result.map(|s| Game {
                    home: f.home,
                    away: f.away,
                    home_score: s.home,
                    away_score: s.away,
                })
            })
            .collect();
        leaderboard::leaderboard(&event.teams, &games, event.points)
    }

    /// The leaderboard as a recomputation from the fixtures gives it (a check of the stored one).
    pub fn recompute(&self, event_id: u64) -> Vec<Row> {
        self.recomputed(event_id, &self.fixtures)
    }

    pub fn decide(
        &self,
        command: &SportsCommand,
        now: Millis,
    ) -> Result<(SportsOutcome, Vec<SportsEvent>), SportsError> {
        use SportsCommand as C;
        match command {
            C::CreateEvent {
                name,
                public,
                points,
                created_by,
            } => {
                check_name("name", name, MAX_NAME_LEN)?;
                let event = Meet {
                    id: next_id(&self.events)?,
                    name: name.trim().to_string(),
                    public: *public,
                    points: *points,
                    created_by: created_by.clone(),
                    teams: BTreeSet::new(),
                    leaderboard: Vec::new(),
                    created_at: now,
                };
                Ok((
                    SportsOutcome::Meet(Box::new(event.clone())),
                    vec![SportsEvent::EventCreated(event)],
                ))
            }
            C::CreateTeam { name, members } => {
                check_name("name", name, MAX_NAME_LEN)?;
                if members.len() > MAX_MEMBERS {
                    return Err(SportsError::Limit(MAX_MEMBERS, "members in a team"));
                }
                let mut seen = BTreeSet::new();
                for m in members {
                    check_name("members.user_id", &m.user_id, 64)?;
                    if !seen.insert(m.user_id.trim()) {
                        return Err(invalid("members", format!("{} is listed twice", m.user_id)));
                    }
                }
                let team = Team {
                    id: next_id(&self.teams)?,
                    name: name.trim().to_string(),
                    members: members
                        .iter()
                        .map(|m| Member {
                            user_id: m.user_id.trim().to_string(),
                            role: m.role,
                        })
                        .collect(),
                };
                Ok((
                    SportsOutcome::Team(team.clone()),
                    vec![SportsEvent::TeamCreated(team)],
                ))
            }
            C::Register { event_id, team_id } => {
                let event = self.meet(*event_id)?;
                self.team(*team_id)?;
                if event.teams.contains(team_id) {
                    return Err(SportsError::Conflict(
                        "the team is registered already".into(),
                    ));
                }
                let mut after = event.clone();
                after.teams.insert(*team_id);
                let mut changes = vec![SportsEvent::Registered {
                    event_id: *event_id,
                    team_id: *team_id,
                }];
                // A new team enters the leaderboard at once, on no points.
                let mut state = self.clone();
                state.events.insert(*event_id, after.clone());
                let rows = state.recompute(*event_id);
                after.leaderboard = rows.clone();
                changes.push(SportsEvent::LeaderboardStored {
                    event_id: *event_id,
                    rows,
                });
                Ok((SportsOutcome::Meet(Box::new(after)), changes))
            }
            C::AddFixture {
                event_id,
                home,
                away,
                starts_at,
            } => {
                let event = self.meet(*event_id)?;
                if home == away {
                    return Err(invalid("away_team_id", "a team does not play itself"));
                }
                for team in [home, away] {
                    if !event.teams.contains(team) {
                        return Err(invalid(
                            "team",
                            format!("team {team} is not registered to the event"),
                        ));
                    }
                }
                let fixture = Fixture {
                    id: next_id(&self.fixtures)?,
                    event_id: *event_id,
                    home: *home,
                    away: *away,
                    starts_at: *starts_at,
                    status: FixtureStatus::Scheduled,
                    result: None,
                };
                Ok((
                    SportsOutcome::Fixture(fixture.clone()),
                    vec![SportsEvent::FixtureSaved(fixture)],
                ))
            }
            C::ChangeFixture { fixture_id, change } => {
                let mut fixture = self.fixture(*fixture_id)?.clone();
                if fixture.status == FixtureStatus::Final {
                    return Err(SportsError::Conflict("the fixture has its result".into()));
                }
                if let Some(at) = change.starts_at {
                    if at != fixture.starts_at {
                        fixture.starts_at = at;
                        fixture.status = FixtureStatus::Rescheduled;
                    }
                }
                if change.cancelled {
                    fixture.status = FixtureStatus::Cancelled;
                }
                Ok((
                    SportsOutcome::Fixture(fixture.clone()),
                    vec![SportsEvent::FixtureSaved(fixture)],
                ))
            }
            C::DeleteFixture { fixture_id } => {
                let mut fixture = self.fixture(*fixture_id)?.clone();
                let was_final = fixture.status == FixtureStatus::Final;
                fixture.status = FixtureStatus::Deleted;
                let mut changes = vec![SportsEvent::FixtureSaved(fixture.clone())];
                if was_final {
                    changes.push(self.leaderboard_after(&fixture));
                }
                Ok((SportsOutcome::Fixture(fixture), changes))
            }
            C::RecordResult { fixture_id, score } => {
                let mut fixture = self.fixture(*fixture_id)?.clone();
                if fixture.status == FixtureStatus::Cancelled {
                    return Err(SportsError::Conflict("the fixture is cancelled".into()));
                }
                if score.home > MAX_SCORE || score.away > MAX_SCORE {
                    return Err(invalid("score", format!("at most {MAX_SCORE}")));
                }
                fixture.status = FixtureStatus::Final;
                fixture.result = Some(*score);
                let leaderboard = self.leaderboard_after(&fixture);
                Ok((
                    SportsOutcome::Fixture(fixture.clone()),
                    vec![SportsEvent::FixtureSaved(fixture), leaderboard],
                ))
            }
            C::Announce {
                event_id,
                title,
                message,
                kind,
                priority,
                target_teams,
                expires_at,
                created_by,
            } => {
                let event = self.meet(*event_id)?;
                check_text("title", title, MAX_NAME_LEN)?;
                check_text("message", message, MAX_TEXT_LEN)?;
                if let Some(team) = target_teams.iter().find(|t| !event.teams.contains(t)) {
                    return Err(invalid(
                        "target_teams",
                        format!("team {team} is not registered to the event"),
                    ));
                }
                if expires_at.is_some_and(|at| at <= now) {
                    return Err(invalid("expires_at", "already past"));
                }
                let announcement = Announcement {
                    id: next_id(&self.announcements)?,
                    event_id: *event_id,
                    title: title.trim().to_string(),
                    message: message.trim().to_string(),
                    kind: *kind,
                    priority: *priority,
                    target_teams: target_teams.clone(),
                    expires_at: *expires_at,
                    created_by: created_by.clone(),
                    created_at: now,
                    deleted: false,
                };
                Ok((
                    SportsOutcome::Announcement(Box::new(announcement.clone())),
                    vec![SportsEvent::AnnouncementSaved {
                        announcement,
                        broadcast: true,
                    }],
                ))
            }
            C::ChangeAnnouncement {
                announcement_id,
                change,
            } => {
                let mut a = self.announcement(*announcement_id)?.clone();
                if let Some(title) = &change.title {
                    check_text("title", title, MAX_NAME_LEN)?;
                    a.title = title.trim().to_string();
                }
                if let Some(message) = &change.message {
                    check_text("message", message, MAX_TEXT_LEN)?;
                    a.message = message.trim().to_string();
                }
                if let Some(priority) = change.priority {
                    a.priority = priority;
                }
                if let Some(expires_at) = change.expires_at {
                    a.expires_at = expires_at;
                }
                Ok((
                    SportsOutcome::Announcement(Box::new(a.clone())),
                    vec![SportsEvent::AnnouncementSaved {
                        announcement: a,
                        broadcast: false,
                    }],
                ))
            }
            C::DeleteAnnouncement { announcement_id } => {
                let mut a = self.announcement(*announcement_id)?.clone();
                a.deleted = true;
                Ok((
                    SportsOutcome::Announcement(Box::new(a.clone())),
                    vec![SportsEvent::AnnouncementSaved {
                        announcement: a,
                        broadcast: false,
                    }],
                ))
            }
            C::Rebroadcast { announcement_id } => {
                let a = self.announcement(*announcement_id)?.clone();
                if !a.is_live(now) {
                    return Err(SportsError::Conflict("the announcement has expired".into()));
                }
                Ok((
                    SportsOutcome::Announcement(Box::new(a.clone())),
                    vec![SportsEvent::AnnouncementSaved {
                        announcement: a,
                        broadcast: true,
                    }],
                ))
            }
            C::Purchase {
                event_id,
                user_id,
                quantity,
            } => {
                self.meet(*event_id)?;
                check_name("user_id", user_id, 64)?;
                if *quantity == 0 || *quantity > MAX_QUANTITY {
                    return Err(invalid("quantity", format!("1-{MAX_QUANTITY} tickets")));
                }
                let purchase = Purchase {
                    id: next_id(&self.purchases)?,
                    event_id: *event_id,
                    user_id: user_id.trim().to_string(),
                    quantity: *quantity,
                    status: PurchaseStatus::Pending,
                    created_at: now,
                };
                Ok((
                    SportsOutcome::Purchase(purchase.clone()),
                    vec![SportsEvent::PurchaseSaved(purchase)],
                ))
            }
            C::SetPurchaseStatus {
                purchase_id,
                status,
            } => {
                let mut purchase = self.purchase(*purchase_id)?.clone();
                use PurchaseStatus as P;
                let allowed = matches!(
                    (purchase.status, status),
                    (P::Pending, P::Confirmed | P::Cancelled)
                        | (P::Confirmed, P::Refunded | P::Cancelled)
                );
                if !allowed {
                    return Err(SportsError::Conflict(format!(
                        "a {:?} purchase cannot become {:?}",
                        purchase.status, status
                    )));
                }
                purchase.status = *status;
                Ok((
                    SportsOutcome::Purchase(purchase.clone()),
                    vec![SportsEvent::PurchaseSaved(purchase)],
                ))
            }
        }
    }

    /// The event's leaderboard once `fixture` is as given, to store with it.
    fn leaderboard_after(&self, fixture: &Fixture) -> SportsEvent {
        let mut fixtures = self.fixtures.clone();
        fixtures.insert(fixture.id, fixture.clone());
        SportsEvent::LeaderboardStored {
            event_id: fixture.event_id,
            rows: self.recomputed(fixture.event_id, &fixtures),
        }
    }

    pub fn apply(&mut self, change: &SportsEvent) {
        match change {
            SportsEvent::EventCreated(event) => {
                self.events.insert(event.id, event.clone());
            }
            SportsEvent::TeamCreated(team) => {
                self.teams.insert(team.id, team.clone());
            }
            SportsEvent::Registered { event_id, team_id } => {
                if let Some(event) = self.events.get_mut(event_id) {
                    event.teams.insert(*team_id);
                }
            }
            SportsEvent::FixtureSaved(fixture) => {
                self.fixtures.insert(fixture.id, fixture.clone());
            }
            SportsEvent::LeaderboardStored { event_id, rows } => {
                if let Some(event) = self.events.get_mut(event_id) {
                    event.leaderboard = rows.clone();
                }
            }
            SportsEvent::AnnouncementSaved { announcement, .. } => {
                self.announcements
                    .insert(announcement.id, announcement.clone());
            }
            SportsEvent::PurchaseSaved(purchase) => {
                self.purchases.insert(purchase.id, purchase.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests;
