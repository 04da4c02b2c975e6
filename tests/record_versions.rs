//! Logs written by earlier record versions must keep loading. `tests/fixtures/` holds one log per
//! record version, written by the build that introduced it (`log-record-v1.redb`: a short game
//! with every kind of event), and one per group of event variants appended within a version
//! (`log-record-v1-predictions.redb`: a session reset and a whole prediction round, written
//! through the HTTP API of the build that added them). When the record format changes, the new
//! build must still replay every fixture here to the same state.
//!
//! Record version 2 (each event under its contract's tag) came with one folder per contract:
//! `log-record-v2.redb` and `log-record-v2-predictions.redb` hold the same games as the v1
//! fixtures, written by that build (`VENUEBOX_WRITE_FIXTURES=1 cargo test --test
//! record_versions` writes them again), and must replay to the same state.
//!
//! `log-record-v2-tournaments.redb` came with the tournament contract (tag 3) and the GM
//! contract's `GroupCompleted`: a tournament round from registration to ballots, and a team
//! completing a group. Written by that build the same way.
//!
//! `log-record-v2-drafts.redb` came with the draft contract (tag 4): a tournament with a
//! shuffle draft of four equal captains (so a tie is rolled), picks, an undo and the draft to
//! its end. `log-record-v2-sports.redb` came with the sports-day contract (tag 5): an event,
//! teams, fixtures and results with their stored leaderboard, an announcement, a ticket.
//!
//! Record version 3 added a flags byte (whether the wall clock was confirmed when the event was
//! stamped). `log-record-v3-staff.redb` came with it: the staff's trail (tag 6) and a clock
//! step (tag 7, staff's steps) beside the events they account for, records of both flags.

use std::collections::BTreeMap;
use std::path::PathBuf;

use venuebox::domain::{Actor, AuditEntry, Command, Domain, Event, Outcome, StaffStep};
use venuebox::drafts::domain::{Actor as DraftActor, DraftCommand, DraftStatus, Entry, Member};
use venuebox::gm::domain::{
    DeviceKind, GmCommand, GmOutcome, Limits, ResetSource, ScanRequest, SessionStatus,
    TransactionStatus,
};
use venuebox::gm::tokens::{ScoringRules, TokenCatalog};
use venuebox::predictions::domain::{CloseReason, PredictionCommand, PredictionOutcome};
use venuebox::sports::domain::{
    leaderboard::Points, AnnouncementType, Member as SportsMember, MemberRole, Priority,
    PurchaseStatus, Score, SportsCommand,
};
use venuebox::store::{maintenance, Store};
use venuebox::tournaments::domain::{
    draw::make_draw, Adjudicator, Ballot, Side, Speaker, TimerAction, TournamentCommand,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
}

fn replay_fixture(name: &str) -> (Domain, u64) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("venuebox.redb");
    std::fs::copy(fixture(name), &path).expect("fixture present");
    let store = Store::open(&path).expect("an old log opens");
    let mut domain = Domain::new(
        TokenCatalog::demo(&ScoringRules::default()),
        Limits::default(),
    );
    let count = store
        .replay(|_, event| domain.apply(&event))
        .expect("every record decodes");
    (domain, count)
}

#[test]
fn a_record_v1_log_replays_to_the_game_it_recorded() {
    the_first_fixture_game_is_back("log-record-v1.redb");
}

#[test]
fn a_record_v2_log_replays_to_the_same_game() {
    the_first_fixture_game_is_back("log-record-v2.redb");
}

fn the_first_fixture_game_is_back(name: &str) {
    let (mut domain, count) = replay_fixture(name);
    assert_eq!(count, 20);
    let views = domain.views();
    let view = &views.gm;

    let archived = &view.archived_sessions[0];
    assert_eq!(archived.session.name, "Record v1 fixture");
    assert_eq!(archived.session.status, SessionStatus::Archived);
    assert_eq!(archived.transaction_count, 6);
    let team_a = archived
        .scores
        .iter()
        .find(|s| s.team_id == "TEAM_A")
        .unwrap();
    assert_eq!(
        team_a.completed_groups,
        vec!["Boardroom Secrets".to_string()]
    );
    assert_eq!(
        team_a.bonus_points,
        2 * team_a.base_score,
        "a x3 group adds twice its points"
    );
    let team_b = archived
        .scores
        .iter()
        .find(|s| s.team_id == "TEAM_B")
        .unwrap();
    assert_eq!(
        team_b.score(),
        0,
        "a duplicate and an unknown token score nothing"
    );

    let session = view.session.as_ref().unwrap();
    assert_eq!(session.name, "Second game");
    assert_eq!(view.recent_transactions.len(), 1);
    assert_eq!(
        view.recent_transactions[0].status,
        TransactionStatus::Accepted
    );
    assert!(view.devices.iter().any(|d| d.kind == DeviceKind::Player));

    // Idempotency keys written by v1 still answer resends.
    let again = domain
        .execute(
            &Command::Gm(GmCommand::Scan(ScanRequest {
                token_id: "mem001".into(),
                team_id: Some("TEAM_C".into()),
                device_id: "GM_FIX".into(),
                device_kind: DeviceKind::Gm,
                scanned_at: Some(0),
                client_scan_id: Some("f-6".into()),
            })),
            0,
        )
        .unwrap();
    assert!(matches!(
        again.0,
        Outcome::Gm(GmOutcome::Transaction { replayed: true, .. })
    ));
}

#[test]
fn a_record_v1_log_with_a_reset_and_a_prediction_round_replays() {
    the_predictions_fixture_game_is_back("log-record-v1-predictions.redb");
}

#[test]
fn a_record_v2_log_with_a_reset_and_a_prediction_round_replays() {
    the_predictions_fixture_game_is_back("log-record-v2-predictions.redb");
}

fn the_predictions_fixture_game_is_back(name: &str) {
    let (mut domain, count) = replay_fixture(name);
    assert_eq!(count, 9);
    let views = domain.views();
    let view = &views.gm;

    // The session reset archived the first session and started one with the same setup.
    let archived = &view.archived_sessions[0];
    assert_eq!(archived.session.status, SessionStatus::Archived);
    assert_eq!(archived.transaction_count, 1);
    let session = view.session.as_ref().unwrap();
    assert_eq!(session.name, "Record v1 predictions fixture");
    assert_ne!(session.id, archived.session.id);
    assert_eq!(session.status, SessionStatus::Active);
    assert_eq!(
        session.teams,
        Some(vec!["TEAM_A".to_string(), "TEAM_B".to_string()])
    );

    let prediction = views
        .predictions
        .prediction("pred-fx")
        .expect("the prediction is back");
    assert_eq!(prediction.spec.title, "Who wins?");
    assert_eq!(prediction.spec.game_id.as_deref(), Some("g1"));
    assert_eq!(prediction.spec.cost_per_vote, 10);
    assert_eq!(prediction.spec.prompt_versions["session"], "v12");
    assert_eq!(prediction.totals["a"], 10);
    assert_eq!(prediction.totals["b"], 30);
    let result = prediction.result.as_ref().expect("closed");
    assert_eq!(result.winner.as_deref(), Some("b"));
    assert_eq!(result.reason, CloseReason::Manual);
    assert_eq!(
        views.predictions.balances["ada"], 460,
        "500 granted, 30 + 10 spent"
    );

    // Remembered vote ids still answer resends, spending nothing.
    let (outcome, events) = domain
        .execute(
            &Command::Predictions(PredictionCommand::Vote {
                prediction_id: "pred-fx".into(),
                user_id: "ada".into(),
                ticket: None,
                option_id: "b".into(),
                votes: 3,
                client_vote_id: "v-fx-1".into(),
            }),
            0,
        )
        .unwrap();
    assert!(events.is_empty());
    assert!(matches!(
        outcome,
        Outcome::Predictions(PredictionOutcome::Receipt { replayed: true, .. })
    ));
}

/// Each v2 fixture holds the events of its v1 twin, every one of them as a version 2 record;
/// `venuebox check` counts both versions.
#[test]
fn the_v2_fixtures_are_the_v1_games_in_record_version_2() {
    for (v1, v2) in [
        ("log-record-v1.redb", "log-record-v2.redb"),
        (
            "log-record-v1-predictions.redb",
            "log-record-v2-predictions.redb",
        ),
    ] {
        let events = events_of(v1);
        if std::env::var_os("VENUEBOX_WRITE_FIXTURES").is_some() {
            let _ = std::fs::remove_file(fixture(v2));
            Store::open(&fixture(v2))
                .unwrap()
                .append(1, &events)
                .unwrap();
            // redb reserves room to grow; a fixture needs none.
            let mut written = redb::Database::open(fixture(v2)).unwrap();
            while written.compact().unwrap() {}
        }
        assert_eq!(events_of(v2), events, "{v2} holds the game of {v1}");
        let old = maintenance::check(&fixture(v1)).unwrap();
        assert_eq!(
            old.record_versions,
            BTreeMap::from([(1, events.len() as u64)])
        );
        let new = maintenance::check(&fixture(v2)).unwrap();
        assert_eq!(
            new.record_versions,
            BTreeMap::from([(2, events.len() as u64)])
        );
        assert_eq!(new.kinds, old.kinds, "check names the events the same way");
    }
}

fn events_of(name: &str) -> Vec<Event> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("venuebox.redb");
    std::fs::copy(fixture(name), &path).expect("fixture present");
    let mut events = Vec::new();
    Store::open(&path)
        .unwrap()
        .replay(|_, event| events.push(event))
        .unwrap();
    events
}

const TOURNAMENT_FIXTURE: &str = "log-record-v2-tournaments.redb";

/// The game of the tournaments fixture: a round of four teams drawn, published, timed and
/// judged, and a GM team completing a group. Only run to write the fixture: the fixture, not
/// this code, is what later builds must read.
fn tournament_night() -> Vec<Event> {
    let mut domain = Domain::new(
        TokenCatalog::demo(&ScoringRules::default()),
        Limits::default(),
    );
    let mut events = Vec::new();
    let mut now = 1_767_000_000_000;
    let mut run = |domain: &mut Domain, command: Command| {
        now += 1_000;
        let (_, mut logged) = domain.execute(&command, now).expect("accepted");
        events.append(&mut logged);
    };
    let person = |n: u32| format!("00000000-0000-4000-8000-{n:012}");
    run(
        &mut domain,
        TournamentCommand::Create {
            name: "Fixture Open".into(),
        }
        .into(),
    );
    for t in 0..4 {
        let speakers = (1..=2)
            .map(|s| Speaker {
                id: person(t * 2 + s),
                name: format!("Speaker {}", t * 2 + s),
            })
            .collect();
        run(
            &mut domain,
            TournamentCommand::RegisterTeam {
                tournament_id: 1,
                name: format!("Team {t}"),
                speakers,
            }
            .into(),
        );
    }
    run(
        &mut domain,
        TournamentCommand::RegisterAdjudicator {
            tournament_id: 1,
            adjudicator: Adjudicator {
                id: person(101),
                name: "Judge".into(),
            },
        }
        .into(),
    );
    run(
        &mut domain,
        TournamentCommand::CreateRound {
            tournament_id: 1,
            motion: "This house would".into(),
        }
        .into(),
    );
    for n in [1, 3, 5, 7, 101] {
        run(
            &mut domain,
            TournamentCommand::CheckIn {
                round_id: 1,
                user_id: person(n),
                present: true,
            }
            .into(),
        );
    }
    run(
        &mut domain,
        TournamentCommand::StartDraw { round_id: 1 }.into(),
    );
    let (number, teams, judges) = domain.tournaments().draw_inputs(1).unwrap();
    let draw = make_draw(number, &teams, &judges, 7);
    run(
        &mut domain,
        TournamentCommand::RecordDraw {
            round_id: 1,
            seed: 7,
            draw: draw.clone(),
        }
        .into(),
    );
    run(
        &mut domain,
        TournamentCommand::Publish { round_id: 1 }.into(),
    );
    run(
        &mut domain,
        TournamentCommand::Timer {
            round_id: 1,
            action: TimerAction::Start { seconds: 420 },
        }
        .into(),
    );
    let tournament = domain.tournaments().tournament(1).unwrap().clone();
    for room in &draw.rooms {
        let scores = tournament
            .teams
            .iter()
            .filter(|t| t.id == room.proposition || t.id == room.opposition)
            .flat_map(|t| t.speakers.iter().map(|s| (s.id.clone(), 75)))
            .collect();
        run(
            &mut domain,
            TournamentCommand::EnterBallot {
                round_id: 1,
                ballot: Ballot {
                    room: room.number,
                    winner: Side::Proposition,
                    scores,
                },
            }
            .into(),
        );
    }
    run(
        &mut domain,
        GmCommand::CreateSession {
            session_id: "s1".into(),
            name: "Night".into(),
            teams: None,
        }
        .into(),
    );
    let group = domain
        .catalog()
        .groups()
        .find(|g| g.multiplier > 1)
        .unwrap()
        .clone();
    for token in &group.token_ids {
        run(
            &mut domain,
            GmCommand::Scan(ScanRequest {
                token_id: token.clone(),
                team_id: Some("TEAM_G".into()),
                device_id: "GM_1".into(),
                device_kind: DeviceKind::Gm,
                scanned_at: None,
                client_scan_id: None,
            })
            .into(),
        );
    }
    events
}

#[test]
fn a_record_v2_log_with_a_tournament_round_and_a_group_completion_replays() {
    if std::env::var_os("VENUEBOX_WRITE_FIXTURES").is_some() {
        let _ = std::fs::remove_file(fixture(TOURNAMENT_FIXTURE));
        Store::open(&fixture(TOURNAMENT_FIXTURE))
            .unwrap()
            .append(1, &tournament_night())
            .unwrap();
        let mut written = redb::Database::open(fixture(TOURNAMENT_FIXTURE)).unwrap();
        while written.compact().unwrap() {}
    }
    let (domain, count) = replay_fixture(TOURNAMENT_FIXTURE);
    let events = events_of(TOURNAMENT_FIXTURE);
    assert_eq!(count as usize, events.len());
    let views = domain.views();
    let state = &views.tournaments;
    let tournament = state.tournament(1).expect("the tournament is back");
    assert_eq!(tournament.teams.len(), 4);
    let round = state.round(1).unwrap();
    assert!(round.published);
    assert_eq!(round.checked_in.len(), 5);
    assert_eq!(round.draw().expect("the draw is back").rooms.len(), 2);
    assert!(
        round.timer.running,
        "replay alone keeps it running; recovery pauses it"
    );
    assert_eq!(round.timer.remaining_secs, 420);
    let standings = state.standings(1).unwrap();
    assert_eq!(standings.iter().map(|s| s.wins).sum::<u32>(), 2);
    let team = views
        .gm
        .scores
        .iter()
        .find(|s| s.team_id == "TEAM_G")
        .unwrap();
    assert_eq!(team.completed_groups.len(), 1);
    assert!(team.bonus_points > 0);
    let kinds = maintenance::check(&fixture(TOURNAMENT_FIXTURE))
        .unwrap()
        .kinds;
    for kind in [
        "TournamentCreated",
        "DrawCompleted",
        "BallotEntered",
        "TimerChanged",
        "GroupCompleted",
    ] {
        assert!(kinds.contains_key(kind), "check counts {kind}: {kinds:?}");
    }
}

const DRAFT_FIXTURE: &str = "log-record-v2-drafts.redb";

/// The game of the drafts fixture: four captains at 5000 MMR drafting eight players, a tie
/// on the first assignment, an undo, and the draft completed. Only run to write the fixture.
fn draft_night() -> Vec<Event> {
    let mut domain = Domain::new(
        TokenCatalog::demo(&ScoringRules::default()),
        Limits::default(),
    );
    let mut events = Vec::new();
    let mut now = 1_768_000_000_000;
    let mut run = |domain: &mut Domain, command: Command| {
        now += 1_000;
        let (_, mut logged) = domain.execute(&command, now).expect("accepted");
        events.append(&mut logged);
    };
    let staff = DraftActor {
        user_id: "admin".into(),
        staff: true,
    };
    // Fixed rolls: a fixture is written once, and its ties are whatever these settle.
    let dice: Vec<u8> = (0..256).map(|i| (i * 7 % 6 + 1) as u8).collect();
    run(
        &mut domain,
        TournamentCommand::Create {
            name: "Draft Night".into(),
        }
        .into(),
    );
    let member = |id: String, mmr: u32| Member {
        name: format!("Name {id}"),
        id,
        mmr,
    };
    run(
        &mut domain,
        DraftCommand::Create {
            tournament_id: 1,
            captains: (1..=4).map(|i| member(format!("c{i}"), 5000)).collect(),
            players: (1..=8).map(|i| member(format!("p{i}"), 1000 * i)).collect(),
        }
        .into(),
    );
    run(
        &mut domain,
        DraftCommand::Start {
            draft_id: 1,
            actor: staff.clone(),
            dice: dice.clone(),
        }
        .into(),
    );
    let pick = |player: &str| DraftCommand::Pick {
        draft_id: 1,
        player_id: player.into(),
        actor: staff.clone(),
        dice: dice.clone(),
    };
    let first = pick("p8");
    run(&mut domain, first.into());
    run(
        &mut domain,
        DraftCommand::Undo {
            draft_id: 1,
            actor: staff.clone(),
        }
        .into(),
    );
    for player in ["p8", "p7", "p6", "p5", "p4", "p3", "p2", "p1"] {
        let next = pick(player);
        run(&mut domain, next.into());
    }
    events
}

#[test]
fn a_record_v2_log_with_a_shuffle_draft_replays() {
    if std::env::var_os("VENUEBOX_WRITE_FIXTURES").is_some() {
        let _ = std::fs::remove_file(fixture(DRAFT_FIXTURE));
        Store::open(&fixture(DRAFT_FIXTURE))
            .unwrap()
            .append(1, &draft_night())
            .unwrap();
        let mut written = redb::Database::open(fixture(DRAFT_FIXTURE)).unwrap();
        while written.compact().unwrap() {}
    }
    let (domain, count) = replay_fixture(DRAFT_FIXTURE);
    assert_eq!(count as usize, events_of(DRAFT_FIXTURE).len());
    let draft = domain.drafts().draft(1).expect("the draft is back");
    assert_eq!(draft.status, DraftStatus::Completed);
    assert_eq!(draft.picks.len(), 8);
    assert!((0..4).all(|c| draft.team_picks(c).count() == 2));
    assert!(draft.rounds[0].was_tie, "four captains at 5000 rolled");
    assert!(draft.rounds[0].tie_roll.is_some());
    let kinds: Vec<&str> = draft
        .history
        .iter()
        .map(|e| match e.entry {
            Entry::DraftStarted => "started",
            Entry::TieRoll(_) => "tie",
            Entry::CaptainAssigned { .. } => "assigned",
            Entry::PlayerPicked { .. } => "picked",
            Entry::PickUndone { .. } => "undone",
            Entry::DraftCompleted => "completed",
        })
        .collect();
    assert_eq!(kinds[..3], ["started", "tie", "assigned"]);
    assert!(kinds.contains(&"undone"));
    assert_eq!(kinds.last(), Some(&"completed"));
    let checked = maintenance::check(&fixture(DRAFT_FIXTURE)).unwrap().kinds;
    for kind in [
        "DraftCreated",
        "DraftStarted",
        "TieRoll",
        "PickUndone",
        "DraftCompleted",
    ] {
        assert!(checked.contains_key(kind), "{kind} in {checked:?}");
    }
}

const SPORTS_FIXTURE: &str = "log-record-v2-sports.redb";

/// The game of the sports fixture: an event of three teams, three results (one corrected),
/// a rescheduled and a deleted fixture, an announcement to one team, a ticket confirmed.
fn sports_day() -> Vec<Event> {
    let mut domain = Domain::new(
        TokenCatalog::demo(&ScoringRules::default()),
        Limits::default(),
    );
    let mut events = Vec::new();
    let mut now = 1_769_000_000_000;
    let mut run = |domain: &mut Domain, command: SportsCommand| {
        now += 1_000;
        let (_, mut logged) = domain.execute(&command.into(), now).expect("accepted");
        events.append(&mut logged);
    };
    run(
        &mut domain,
        SportsCommand::CreateEvent {
            name: "Fixture Games".into(),
            public: true,
            points: Points::default(),
            created_by: "admin".into(),
        },
    );
    for t in 1..=3u64 {
        run(
            &mut domain,
            SportsCommand::CreateTeam {
                name: format!("Team {t}"),
                members: vec![SportsMember {
                    user_id: format!("m{t}"),
                    role: MemberRole::Manager,
                }],
            },
        );
        run(
            &mut domain,
            SportsCommand::Register {
                event_id: 1,
                team_id: t,
            },
        );
    }
    for (home, away) in [(1, 2), (2, 3), (3, 1), (1, 3)] {
        run(
            &mut domain,
            SportsCommand::AddFixture {
                event_id: 1,
                home,
                away,
                starts_at: 1_769_100_000_000,
            },
        );
    }
    for (fixture_id, home, away) in [(1, 2, 0), (2, 1, 1), (3, 0, 3), (1, 2, 1)] {
        run(
            &mut domain,
            SportsCommand::RecordResult {
                fixture_id,
                score: Score { home, away },
            },
        );
    }
    run(&mut domain, SportsCommand::DeleteFixture { fixture_id: 4 });
    run(
        &mut domain,
        SportsCommand::Announce {
            event_id: 1,
            title: "Rain".into(),
            message: "Team 2 to the hall".into(),
            kind: AnnouncementType::WeatherAlert,
            priority: Priority::Urgent,
            target_teams: [2].into(),
            expires_at: None,
            created_by: "admin".into(),
        },
    );
    run(
        &mut domain,
        SportsCommand::Purchase {
            event_id: 1,
            user_id: "guest".into(),
            quantity: 2,
        },
    );
    run(
        &mut domain,
        SportsCommand::SetPurchaseStatus {
            purchase_id: 1,
            status: PurchaseStatus::Confirmed,
        },
    );
    events
}

#[test]
fn a_record_v2_log_with_a_sports_day_replays() {
    if std::env::var_os("VENUEBOX_WRITE_FIXTURES").is_some() {
        let _ = std::fs::remove_file(fixture(SPORTS_FIXTURE));
        Store::open(&fixture(SPORTS_FIXTURE))
            .unwrap()
            .append(1, &sports_day())
            .unwrap();
        let mut written = redb::Database::open(fixture(SPORTS_FIXTURE)).unwrap();
        while written.compact().unwrap() {}
    }
    let (domain, count) = replay_fixture(SPORTS_FIXTURE);
    assert_eq!(count as usize, events_of(SPORTS_FIXTURE).len());
    let sports = domain.sports();
    let event = sports.meet(1).expect("the event is back");
    assert_eq!(event.teams.len(), 3);
    // The stored leaderboard is what the results make.
    assert_eq!(event.leaderboard, sports.recompute(1));
    let order: Vec<u64> = event.leaderboard.iter().map(|r| r.team_id).collect();
    assert_eq!(order, [1, 2, 3]);
    assert_eq!(sports.schedule(1).len(), 3, "one fixture deleted");
    assert_eq!(
        sports.purchase(1).unwrap().status,
        PurchaseStatus::Confirmed
    );
    assert_eq!(sports.announcement(1).unwrap().target_teams.len(), 1);
    let checked = maintenance::check(&fixture(SPORTS_FIXTURE)).unwrap().kinds;
    for kind in [
        "MeetCreated",
        "FixtureSaved",
        "LeaderboardStored",
        "PurchaseSaved",
    ] {
        assert!(checked.contains_key(kind), "{kind} in {checked:?}");
    }
}

const STAFF_FIXTURE: &str = "log-record-v3-staff.redb";

/// The staff's side of a night in record version 3, which came with the flags byte (whether
/// the wall clock was confirmed): on a box back from a cut with its clock in 1970, staff start
/// a session (its trail entry under tag 6 beside it, both unconfirmed), set the clock (tag 7)
/// and reset the session. Only run to write the fixture.
fn staff_night() -> Vec<(Event, bool)> {
    let mut domain = Domain::new(
        TokenCatalog::demo(&ScoringRules::default()),
        Limits::default(),
    );
    let staff = Actor {
        role: "admin".into(),
        who: "admin".into(),
        since: Some(1_767_000_000),
        address: Some("192.168.4.23".into()),
    };
    let mut logged = Vec::new();
    let mut run = |command: Command, at: u64, confirmed: bool| {
        let (_, events) = domain.execute(&command, at).expect("accepted");
        let kinds = events.iter().map(Event::kind);
        logged.push((Event::Audit(AuditEntry::new(&staff, at, kinds)), confirmed));
        logged.extend(events.into_iter().map(|e| (e, confirmed)));
    };
    let create = GmCommand::CreateSession {
        session_id: "s1".into(),
        name: "Staff night".into(),
        teams: None,
    };
    run(create.into(), 86_400_000, false);
    let set = StaffStep::ClockSet {
        from_ms: 86_400_000,
        to_ms: 1_767_003_600_000,
    };
    run(Command::Staff(set), 1_767_003_600_000, true);
    let reset = GmCommand::ResetSession {
        session_id: "s2".into(),
        source: ResetSource::AdminApi,
    };
    run(reset.into(), 1_767_003_601_000, true);
    logged
}

#[test]
fn a_record_v3_log_keeps_the_staff_trail_the_clock_steps_and_the_clock_flags() {
    if std::env::var_os("VENUEBOX_WRITE_FIXTURES").is_some() {
        let _ = std::fs::remove_file(fixture(STAFF_FIXTURE));
        let store = Store::open(&fixture(STAFF_FIXTURE)).unwrap();
        for (seq, (event, confirmed)) in (1..).zip(staff_night()) {
            store
                .append_with_snapshot(seq, &[event], None, confirmed)
                .unwrap();
        }
        drop(store);
        let mut written = redb::Database::open(fixture(STAFF_FIXTURE)).unwrap();
        while written.compact().unwrap() {}
    }
    let (domain, count) = replay_fixture(STAFF_FIXTURE);
    let events = events_of(STAFF_FIXTURE);
    assert_eq!(count as usize, events.len());
    let views = domain.views();
    let session = views.gm.session.as_ref().expect("the reset's session");
    assert_eq!(session.id, "s2");
    assert_eq!(session.name, "Staff night");
    assert!(events.contains(&Event::Staff(StaffStep::ClockSet {
        from_ms: 86_400_000,
        to_ms: 1_767_003_600_000,
    })));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("venuebox.redb");
    std::fs::copy(fixture(STAFF_FIXTURE), &path).unwrap();
    let trail = Store::open(&path)
        .unwrap()
        .read_audit(u64::MAX, 10)
        .unwrap();
    let did: Vec<(&str, Option<bool>)> = trail
        .iter()
        .map(|(_, entry, confirmed)| (entry.did[0].as_str(), *confirmed))
        .collect();
    assert_eq!(
        did,
        [
            ("SessionReset", Some(true)),
            ("ClockSet", Some(true)),
            ("SessionCreated", Some(false)),
        ]
    );
    assert_eq!(trail[2].1.address.as_deref(), Some("192.168.4.23"));

    let mut exported = Vec::new();
    let report = maintenance::export(&fixture(STAFF_FIXTURE), &mut exported).unwrap();
    assert_eq!(
        report.record_versions,
        BTreeMap::from([(3, events.len() as u64)])
    );
    let flags: Vec<bool> = String::from_utf8(exported)
        .unwrap()
        .lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).unwrap()["clockConfirmed"] == true
        })
        .collect();
    assert_eq!(
        flags.iter().filter(|f| !**f).count(),
        2,
        "the session started before the clock was set, and its entry"
    );
    assert!(!flags[0] && flags[2], "{flags:?}");
}
