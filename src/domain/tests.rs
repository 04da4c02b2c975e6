//! The domain core's promises over every contract at once, on generated games: a refused
//! command changes nothing, and replaying the events (or restoring a snapshot and replaying the
//! tail) rebuilds exactly the live state.

use super::*;
use crate::drafts::domain::{Actor as DraftActor, DraftCommand, Member as DraftMember};
use crate::gm::domain::tests::{catalog, limits, T0};
use crate::gm::domain::{
    DeviceKind, DisconnectReason, PlaybackOutcome, ResetSource, ScanRequest, SessionControl,
    VideoControl,
};
use crate::predictions::domain::{CloseReason, NewPrediction, PredictionOption};
use crate::sports::domain::leaderboard::Points as SportsPoints;
use crate::sports::domain::{
    AnnouncementType, Member as SportsMember, MemberRole, Priority, Score, SportsCommand,
};
use crate::tournaments::domain::{
    Adjudicator, Ballot, Draw, Room, Side, Speaker, TimerAction, TournamentCommand,
};

/// xorshift64: the same seed plays the same game on every machine.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

fn generated_command(dice: &mut Dice, n: usize, now: Millis) -> Command {
    let tokens = ["tok1", "tok2", "grpA", "grpB", "vid1", "vid2", "nope"];
    let teams = ["TEAM_A", "TEAM_B", "TEAM_C", "bad team!"];
    let scan_ids = ["c1", "c2", "c3", "c4"];
    let users = ["ada", "bob", "cy"];
    let predictions = ["p1", "p2", "p3"];
    match dice.below(23) {
        0 => Command::Gm(GmCommand::CreateSession {
            session_id: format!("s{n}"),
            name: "night".into(),
            teams: (dice.below(2) == 0).then(|| vec!["TEAM_A".into(), "TEAM_B".into()]),
        }),
        1 => Command::Gm(GmCommand::ControlSession(
            [
                SessionControl::Pause,
                SessionControl::Resume,
                SessionControl::End,
            ][dice.below(3)],
        )),
        2..=4 => Command::Gm(GmCommand::Scan(ScanRequest {
            token_id: dice.pick(&tokens).into(),
            team_id: Some(dice.pick(&teams).into()),
            device_id: dice.pick(&["GM_1", "GM_2", "GM_3"]).into(),
            device_kind: DeviceKind::Gm,
            scanned_at: Some(now.saturating_sub(dice.below(10_000) as u64)),
            client_scan_id: (dice.below(2) == 0).then(|| dice.pick(&scan_ids).into()),
        })),
        5 => Command::Gm(GmCommand::Scan(ScanRequest {
            token_id: dice.pick(&tokens).into(),
            team_id: None,
            device_id: dice.pick(&["P1", "P2"]).into(),
            device_kind: DeviceKind::Player,
            scanned_at: Some(now),
            client_scan_id: (dice.below(2) == 0).then(|| dice.pick(&scan_ids).into()),
        })),
        6 => Command::Gm(GmCommand::ConnectDevice {
            device_id: dice.pick(&["GM_1", "GM_2", "GM_3", "P1", "P2"]).into(),
            kind: if dice.below(2) == 0 {
                DeviceKind::Gm
            } else {
                DeviceKind::Player
            },
            name: None,
            ip: Some("10.42.0.7".into()),
        }),
        7 => Command::Gm(GmCommand::DisconnectDevice {
            device_id: dice.pick(&["GM_1", "GM_2", "P1", "ghost"]).into(),
            reason: [
                DisconnectReason::Timeout,
                DisconnectReason::Manual,
                DisconnectReason::Error,
            ][dice.below(3)],
        }),
        8 => Command::Gm(GmCommand::QueueVideo {
            token_id: dice.pick(&tokens).into(),
        }),
        9 => Command::Gm(GmCommand::ControlVideo(
            [
                VideoControl::Pause,
                VideoControl::Resume,
                VideoControl::Skip,
                VideoControl::Stop,
            ][dice.below(4)],
        )),
        10 => Command::Gm(GmCommand::VideoEnded {
            token_id: dice.pick(&["vid1", "vid2"]).into(),
            outcome: [
                PlaybackOutcome::Completed,
                PlaybackOutcome::Failed("cannot play".into()),
            ][dice.below(2)]
            .clone(),
        }),
        11 => [
            Command::Recover,
            Command::Gm(GmCommand::SweepIdleDevices),
            Command::Ping,
            Command::Gm(GmCommand::SeenDevice {
                device_id: dice.pick(&["GM_1", "P1", "ghost"]).into(),
            }),
        ][dice.below(4)]
        .clone(),
        12 => Command::Gm(GmCommand::ResetSession {
            session_id: format!("r{n}"),
            source: if dice.below(2) == 0 {
                ResetSource::Button
            } else {
                ResetSource::AdminApi
            },
        }),
        13 => Command::Predictions(PredictionCommand::Create(NewPrediction {
            id: dice.pick(&predictions).into(),
            streamer_id: "stage".into(),
            game_id: None,
            title: "Who wins?".into(),
            options: ["a", "b"]
                .iter()
                .map(|id| PredictionOption {
                    id: (*id).into(),
                    label: id.to_uppercase(),
                })
                .collect(),
            cost_per_vote: 1 + dice.below(20) as u64,
            // Sometimes already past: refused.
            closes_at: (now + 60_000).saturating_sub(dice.below(2) as u64 * 120_000),
            prompt_versions: Default::default(),
        })),
        14 => Command::Predictions(if dice.below(3) == 0 {
            PredictionCommand::Close {
                prediction_id: dice.pick(&predictions).into(),
                reason: CloseReason::Manual,
            }
        } else {
            PredictionCommand::Grant {
                user_id: dice.pick(&users).into(),
                amount: dice.below(200) as u64,
                reason: "gift".into(),
                client_grant_id: (dice.below(2) == 0).then(|| format!("g{}", dice.below(5))),
            }
        }),
        15 | 16 => Command::Tournaments(tournament_command(dice, n)),
        17 | 18 => Command::Drafts(draft_command(dice)),
        19 | 20 => Command::Sports(sports_command(dice, now)),
        21 => Command::Staff(StaffStep::TvShown(TvChoice {
            view: dice.pick(&["scores", "sports", "draft"]).into(),
            id: (dice.below(2) == 0).then(|| dice.below(3) as u64),
        })),
        _ => Command::Predictions(PredictionCommand::Vote {
            prediction_id: dice.pick(&predictions).into(),
            user_id: dice.pick(&users).into(),
            ticket: None,
            option_id: dice.pick(&["a", "b", "zzz"]).into(),
            votes: dice.below(6) as u64,
            client_vote_id: format!("v{}", dice.below(8)),
        }),
    }
}

/// Sports-day commands over a small pool of ids: events, teams, fixtures with results that
/// move the stored leaderboard, announcements, tickets.
fn sports_command(dice: &mut Dice, now: Millis) -> SportsCommand {
    let id = |dice: &mut Dice| 1 + dice.below(4) as u64;
    match dice.below(9) {
        0 => SportsCommand::CreateEvent {
            name: format!("Day {}", dice.below(3)),
            public: dice.below(2) == 0,
            points: SportsPoints::default(),
            created_by: "admin".into(),
        },
        1 => SportsCommand::CreateTeam {
            name: format!("Team {}", dice.below(9)),
            members: vec![SportsMember {
                user_id: format!("u{}", dice.below(5)),
                role: MemberRole::Manager,
            }],
        },
        2 => SportsCommand::Register {
            event_id: id(dice),
            team_id: id(dice),
        },
        3 => SportsCommand::AddFixture {
            event_id: id(dice),
            home: id(dice),
            away: id(dice),
            starts_at: now + 3_600_000,
        },
        4 | 5 => SportsCommand::RecordResult {
            fixture_id: id(dice),
            score: Score {
                home: dice.below(4) as u32,
                away: dice.below(4) as u32,
            },
        },
        6 => SportsCommand::DeleteFixture {
            fixture_id: id(dice),
        },
        7 => SportsCommand::Announce {
            event_id: id(dice),
            title: "Notice".into(),
            message: "Read this".into(),
            kind: AnnouncementType::General,
            priority: Priority::Normal,
            target_teams: [id(dice)].into(),
            expires_at: None,
            created_by: "admin".into(),
        },
        _ => SportsCommand::Purchase {
            event_id: id(dice),
            user_id: "buyer".into(),
            quantity: dice.below(4) as u32,
        },
    }
}

/// Draft commands over a small pool of ids: drafts in the generated tournaments, picks by
/// captains in and out of turn, undos, starts with ties.
fn draft_command(dice: &mut Dice) -> DraftCommand {
    let draft_id = 1 + dice.below(2) as u64;
    let actor = if dice.below(3) == 0 {
        DraftActor {
            user_id: "admin".into(),
            staff: true,
        }
    } else {
        DraftActor {
            user_id: format!("cap{}", dice.below(3)),
            staff: false,
        }
    };
    let rolls = |dice: &mut Dice| {
        (0..dice.below(40))
            .map(|_| 1 + dice.below(6) as u8)
            .collect()
    };
    match dice.below(6) {
        0 => DraftCommand::Create {
            tournament_id: 1 + dice.below(2) as u64,
            captains: (0..3)
                .map(|i| DraftMember {
                    id: format!("cap{i}"),
                    name: format!("Captain {i}"),
                    mmr: 5000 - 100 * dice.below(2) as u32,
                })
                .collect(),
            players: (0..6)
                .map(|i| DraftMember {
                    id: format!("pl{i}"),
                    name: format!("Player {i}"),
                    mmr: 100 * dice.below(4) as u32,
                })
                .collect(),
        },
        1 => DraftCommand::Start {
            draft_id,
            actor,
            dice: rolls(dice),
        },
        2 => DraftCommand::Undo { draft_id, actor },
        _ => DraftCommand::Pick {
            draft_id,
            player_id: format!("pl{}", dice.below(7)),
            actor,
            dice: rolls(dice),
        },
    }
}

/// Tournament commands over a small pool of ids, so that many of them meet (and many are
/// refused).
fn tournament_command(dice: &mut Dice, n: usize) -> TournamentCommand {
    let person = |k: usize| format!("00000000-0000-4000-8000-{k:012}");
    let round_id = 1 + dice.below(3) as u64;
    match dice.below(11) {
        0 => TournamentCommand::Create {
            name: format!("Open {n}"),
        },
        1 | 2 => TournamentCommand::RegisterTeam {
            tournament_id: 1,
            name: format!("Team {n}"),
            speakers: (0..2 + dice.below(2))
                .map(|_| Speaker {
                    id: person(dice.below(30)),
                    name: "Speaker".into(),
                })
                .collect(),
        },
        3 => TournamentCommand::RegisterAdjudicator {
            tournament_id: 1,
            adjudicator: Adjudicator {
                id: person(100 + dice.below(5)),
                name: "Judge".into(),
            },
        },
        4 => TournamentCommand::CreateRound {
            tournament_id: 1,
            motion: "This house would".into(),
        },
        5 => TournamentCommand::CheckIn {
            round_id,
            user_id: person(dice.below(30)),
            present: dice.below(4) != 0,
        },
        6 => TournamentCommand::StartDraw { round_id },
        7 => TournamentCommand::RecordDraw {
            round_id,
            seed: n as u64,
            draw: Draw {
                rooms: vec![Room {
                    number: 1,
                    proposition: 1 + dice.below(4) as u64,
                    opposition: 1 + dice.below(4) as u64,
                    adjudicator: None,
                }],
                bye: None,
            },
        },
        8 => TournamentCommand::Publish { round_id },
        9 => TournamentCommand::Timer {
            round_id,
            action: [
                TimerAction::Start { seconds: 300 },
                TimerAction::Pause {
                    remaining_secs: dice.below(300) as u32,
                },
                TimerAction::Resume,
                TimerAction::Reset { seconds: 60 },
                TimerAction::Checkpoint {
                    remaining_secs: dice.below(300) as u32,
                },
            ][dice.below(5)],
        },
        _ => TournamentCommand::EnterBallot {
            round_id,
            ballot: Ballot {
                room: 1,
                winner: Side::Proposition,
                scores: [(person(dice.below(30)), 60 + dice.below(50) as u32)].into(),
            },
        },
    }
}

#[test]
fn generated_games_refuse_without_change_and_replay_to_the_same_state() {
    for seed in 1..=24u64 {
        let mut dice = Dice(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut live = Domain::new(catalog(), limits());
        let mut log: Vec<Event> = Vec::new();
        let mut midway = None;
        let mut now = T0;
        let (mut accepted, mut refused) = (0, 0);
        for n in 0..400 {
            now += dice.below(5_000) as u64;
            let command = generated_command(&mut dice, n, now);
            let before = live.snapshot();
            match live.execute(&command, now) {
                Ok((_, events)) => {
                    accepted += 1;
                    log.extend(events);
                }
                Err(_) => {
                    refused += 1;
                    assert_eq!(
                        live.snapshot(),
                        before,
                        "seed {seed}: the refused {command:?} changed the state"
                    );
                }
            }
            if n == 200 {
                midway = Some((live.snapshot(), log.len()));
            }
        }
        assert!(
            accepted > 50 && refused > 20,
            "seed {seed}: the game exercises both paths ({accepted} accepted, {refused} refused)"
        );

        let mut replayed = Domain::new(catalog(), limits());
        for event in &log {
            replayed.apply(event);
        }
        assert_eq!(replayed.views().gm, live.views().gm, "seed {seed}: replay");
        assert_eq!(replayed.snapshot(), live.snapshot(), "seed {seed}: replay");

        let (snapshot, covered) = midway.expect("a midway snapshot");
        let mut restored = Domain::restore(catalog(), limits(), snapshot).expect("same catalogue");
        for event in &log[covered..] {
            restored.apply(event);
        }
        assert_eq!(
            restored.snapshot(),
            live.snapshot(),
            "seed {seed}: snapshot and tail"
        );
    }
}

#[test]
fn the_tvs_choice_is_kept_through_a_snapshot_and_the_last_one_wins() {
    let mut live = Domain::new(catalog(), limits());
    assert_eq!(
        live.tv_shown(),
        None,
        "nothing chosen: the TVs show the scores"
    );
    let show = |view: &str, id: Option<u64>| {
        Command::Staff(StaffStep::TvShown(TvChoice {
            view: view.into(),
            id,
        }))
    };
    live.execute(&show("sports", Some(4)), T0).unwrap();
    let snapshot = live.snapshot();
    let mut restored = Domain::restore(catalog(), limits(), snapshot).expect("same catalogue");
    let sports = TvChoice {
        view: "sports".into(),
        id: Some(4),
    };
    assert_eq!(restored.tv_shown().as_deref(), Some(&sports));
    // Other staff steps leave the choice alone; a later choice replaces it.
    let (_, events) = live
        .execute(&Command::Staff(StaffStep::LoggedIn), T0)
        .unwrap();
    restored.apply(&events[0]);
    assert_eq!(restored.tv_shown().as_deref(), Some(&sports));
    let (_, events) = live.execute(&show("scores", None), T0).unwrap();
    restored.apply(&events[0]);
    assert_eq!(
        restored.tv_shown().map(|c| c.view.clone()).as_deref(),
        Some("scores")
    );
    assert_eq!(restored.snapshot(), live.snapshot());
}
