//! A sports day through the state machine: registrations, fixtures, results and the stored
//! leaderboard, announcements and their expiry, tickets at the gate, replay.

use super::*;

const T0: Millis = 1_780_000_000_000;

struct Day {
    state: SportsState,
    log: Vec<SportsEvent>,
}

impl Day {
    fn new() -> Self {
        Day {
            state: SportsState::default(),
            log: Vec::new(),
        }
    }

    fn try_run(&mut self, command: SportsCommand) -> Result<SportsOutcome, SportsError> {
        let (outcome, events) = self.state.decide(&command, T0)?;
        for event in &events {
            self.state.apply(event);
        }
        self.log.extend(events);
        Ok(outcome)
    }

    fn run(&mut self, command: SportsCommand) -> SportsOutcome {
        self.try_run(command.clone())
            .unwrap_or_else(|e| panic!("{command:?}: {e}"))
    }

    /// Event 1 with teams 1-4 registered, each with a manager `m<i>` and a player `p<i>`.
    fn with_teams() -> Self {
        let mut day = Day::new();
        day.run(SportsCommand::CreateEvent {
            name: "Sports Day".into(),
            public: false,
            points: Points::default(),
            created_by: "admin".into(),
        });
        for i in 1..=4 {
            day.run(SportsCommand::CreateTeam {
                name: format!("Team {i}"),
                members: vec![
                    Member {
                        user_id: format!("m{i}"),
                        role: MemberRole::Manager,
                    },
                    Member {
                        user_id: format!("p{i}"),
                        role: MemberRole::Player,
                    },
                ],
            });
            day.run(SportsCommand::Register {
                event_id: 1,
                team_id: i,
            });
        }
        day
    }

    fn fixture(&mut self, home: u64, away: u64) -> u64 {
        match self.run(SportsCommand::AddFixture {
            event_id: 1,
            home,
            away,
            starts_at: T0 + 3_600_000,
        }) {
            SportsOutcome::Fixture(f) => f.id,
            other => panic!("{other:?}"),
        }
    }

    fn result(&mut self, fixture_id: u64, home: u32, away: u32) {
        self.run(SportsCommand::RecordResult {
            fixture_id,
            score: Score { home, away },
        });
    }

    fn ranked(&self) -> Vec<u64> {
        self.state.events[&1]
            .leaderboard
            .iter()
            .map(|r| r.team_id)
            .collect()
    }
}

#[test]
fn a_result_stores_the_leaderboard_a_recomputation_gives_and_replay_keeps_it() {
    let mut day = Day::with_teams();
    assert_eq!(day.ranked(), [1, 2, 3, 4], "registered teams on no points");
    let a = day.fixture(1, 2);
    let b = day.fixture(3, 4);
    day.result(a, 0, 2);
    day.result(b, 1, 1);
    assert_eq!(day.ranked(), [2, 3, 4, 1]);
    assert_eq!(day.state.events[&1].leaderboard, day.state.recompute(1));
    // A corrected result moves it; deleting a final fixture takes its result out.
    day.result(a, 3, 0);
    assert_eq!(day.ranked()[0], 1);
    day.run(SportsCommand::DeleteFixture { fixture_id: a });
    assert_eq!(day.ranked(), [3, 4, 1, 2]);
    assert_eq!(day.state.events[&1].leaderboard, day.state.recompute(1));
    let mut replayed = SportsState::default();
    for event in &day.log {
        replayed.apply(event);
    }
    assert_eq!(replayed, day.state);
}

#[test]
fn fixtures_are_rescheduled_cancelled_and_deleted_as_changes() {
    let mut day = Day::with_teams();
    let f = day.fixture(1, 2);
    let moved = day.run(SportsCommand::ChangeFixture {
        fixture_id: f,
        change: FixtureChange {
            starts_at: Some(T0 + 7_200_000),
            cancelled: false,
        },
    });
    assert!(
        matches!(moved, SportsOutcome::Fixture(ref x) if x.status == FixtureStatus::Rescheduled)
    );
    day.run(SportsCommand::ChangeFixture {
        fixture_id: f,
        change: FixtureChange {
            starts_at: None,
            cancelled: true,
        },
    });
    let refused = day
        .try_run(SportsCommand::RecordResult {
            fixture_id: f,
            score: Score { home: 1, away: 0 },
        })
        .unwrap_err();
    assert_eq!(
        refused.kind(),
        ErrorKind::Conflict,
        "no result for a cancelled fixture"
    );
    day.run(SportsCommand::DeleteFixture { fixture_id: f });
    assert!(day.state.schedule(1).is_empty());
    assert_eq!(
        day.try_run(SportsCommand::DeleteFixture { fixture_id: f })
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    // Refusals, as a table.
    let table = [
        // A team name that shows as another ("\u{202E}" turns the rest around).
        (
            SportsCommand::CreateTeam {
                name: "\u{202E}1 maeT".into(),
                members: Vec::new(),
            },
            ErrorKind::Invalid,
        ),
        (
            SportsCommand::AddFixture {
                event_id: 1,
                home: 1,
                away: 1,
                starts_at: T0,
            },
            ErrorKind::Invalid,
        ),
        (
            SportsCommand::AddFixture {
                event_id: 1,
                home: 1,
                away: 9,
                starts_at: T0,
            },
            ErrorKind::Invalid,
        ),
        (
            SportsCommand::AddFixture {
                event_id: 7,
                home: 1,
                away: 2,
                starts_at: T0,
            },
            ErrorKind::NotFound,
        ),
        (
            SportsCommand::Register {
                event_id: 1,
                team_id: 1,
            },
            ErrorKind::Conflict,
        ),
    ];
    for (command, kind) in table {
        assert_eq!(
            day.try_run(command.clone()).unwrap_err().kind(),
            kind,
            "{command:?}"
        );
    }
}

#[test]
fn announcements_expire_and_target_registered_teams_only() {
    let mut day = Day::with_teams();
    let announce = |target: &[u64], expires_at: Option<Millis>| SportsCommand::Announce {
        event_id: 1,
        title: "Lightning".into(),
        message: "Everyone indoors".into(),
        kind: AnnouncementType::WeatherAlert,
        priority: Priority::Urgent,
        target_teams: target.iter().copied().collect(),
        expires_at,
        created_by: "m1".into(),
    };
    let SportsOutcome::Announcement(a) = day.run(announce(&[1], Some(T0 + 60_000))) else {
        panic!()
    };
    assert!(a.is_live(T0 + 59_999));
    assert!(!a.is_live(T0 + 60_000), "expired at its time");
    assert!(matches!(
        day.try_run(announce(&[9], None)),
        Err(SportsError::Invalid { .. })
    ));
    assert!(matches!(
        day.try_run(announce(&[], Some(T0))),
        Err(SportsError::Invalid { .. })
    ));
    day.run(SportsCommand::DeleteAnnouncement {
        announcement_id: a.id,
    });
    assert!(day.state.announcement(a.id).is_err());
    assert!(matches!(
        day.try_run(SportsCommand::Rebroadcast {
            announcement_id: a.id
        }),
        Err(SportsError::NotFound { .. })
    ));
}

#[test]
fn a_purchase_goes_pending_confirmed_refunded_and_never_back() {
    let mut day = Day::with_teams();
    let SportsOutcome::Purchase(p) = day.run(SportsCommand::Purchase {
        event_id: 1,
        user_id: "guest-7".into(),
        quantity: 2,
    }) else {
        panic!()
    };
    assert_eq!(p.status, PurchaseStatus::Pending);
    use PurchaseStatus as S;
    // (to, accepted) in order from pending
    let table = [
        (S::Refunded, false),
        (S::Confirmed, true),
        (S::Pending, false),
        (S::Refunded, true),
        (S::Confirmed, false),
        (S::Cancelled, false),
    ];
    for (status, accepted) in table {
        let answer = day.try_run(SportsCommand::SetPurchaseStatus {
            purchase_id: p.id,
            status,
        });
        assert_eq!(answer.is_ok(), accepted, "{status:?}: {answer:?}");
    }
    for quantity in [0, MAX_QUANTITY + 1] {
        let refused = day.try_run(SportsCommand::Purchase {
            event_id: 1,
            user_id: "guest-7".into(),
            quantity,
        });
        assert!(matches!(refused, Err(SportsError::Invalid { .. })));
    }
}

#[test]
fn who_takes_part_and_who_manages() {
    let day = Day::with_teams();
    assert!(day.state.takes_part(1, "p3"));
    assert!(!day.state.takes_part(1, "stranger"));
    assert!(day.state.manages(1, "m2"));
    assert!(day.state.manages(1, "admin"), "its creator");
    assert!(!day.state.manages(1, "p2"), "a player does not manage");
}
