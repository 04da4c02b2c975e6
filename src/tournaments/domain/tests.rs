//! A tournament night through the state machine: registration, check-ins, the draw, the reveal,
//! the timer, ballots and standings; replay and recovery; refusals that change nothing. The
//! night's helpers serve the stream's tests too.

use super::*;

const T0: Millis = 1_700_000_000_000;

pub(crate) fn uuid(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

pub(crate) fn run(
    state: &mut TournamentsState,
    log: &mut Vec<TournamentEvent>,
    command: TournamentCommand,
) -> TournamentOutcome {
    let (outcome, events) = state
        .decide(&command, T0)
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    for event in &events {
        state.apply(event);
    }
    log.extend(events);
    outcome
}

fn refused(state: &TournamentsState, command: TournamentCommand) -> TournamentError {
    match state.decide(&command, T0) {
        Err(e) => e,
        Ok(answer) => panic!("{command:?} was accepted: {answer:?}"),
    }
}

/// A tournament with four teams of two (speakers 1-8), two adjudicators (101, 102) and round 1.
pub(crate) fn night() -> (TournamentsState, Vec<TournamentEvent>, u64) {
    let mut state = TournamentsState::default();
    let mut log = Vec::new();
    run(
        &mut state,
        &mut log,
        TournamentCommand::Create {
            name: "Spring Open".into(),
        },
    );
    for t in 0..4u32 {
        run(
            &mut state,
            &mut log,
            TournamentCommand::RegisterTeam {
                tournament_id: 1,
                name: format!("Team {t}"),
                speakers: (1..=2)
                    .map(|s| Speaker {
                        id: uuid(t * 2 + s),
                        name: format!("Speaker {}", t * 2 + s),
                    })
                    .collect(),
            },
        );
    }
    for a in [101, 102] {
        run(
            &mut state,
            &mut log,
            TournamentCommand::RegisterAdjudicator {
                tournament_id: 1,
                adjudicator: Adjudicator {
                    id: uuid(a),
                    name: format!("Judge {a}"),
                },
            },
        );
    }
    let TournamentOutcome::Round(round) = run(
        &mut state,
        &mut log,
        TournamentCommand::CreateRound {
            tournament_id: 1,
            motion: "This house would abolish homework".into(),
        },
    ) else {
        panic!("a round")
    };
    (state, log, round.id)
}

pub(crate) fn check_in_everyone(
    state: &mut TournamentsState,
    log: &mut Vec<TournamentEvent>,
    round_id: u64,
) {
    for n in (1..=8).chain([101, 102]) {
        run(
            state,
            log,
            TournamentCommand::CheckIn {
                round_id,
                user_id: uuid(n),
                present: true,
            },
        );
    }
}

/// Runs the draw job's steps: start, make the draw from the state, record it.
pub(crate) fn draw(
    state: &mut TournamentsState,
    log: &mut Vec<TournamentEvent>,
    round_id: u64,
    seed: u64,
) -> Draw {
    run(state, log, TournamentCommand::StartDraw { round_id });
    let (number, teams, adjudicators) = state.draw_inputs(round_id).unwrap();
    let made = draw::make_draw(number, &teams, &adjudicators, seed);
    run(
        state,
        log,
        TournamentCommand::RecordDraw {
            round_id,
            seed,
            draw: made.clone(),
        },
    );
    made
}

#[test]
fn a_round_from_check_in_to_standings() {
    let (mut state, mut log, round_id) = night();
    let err = refused(&state, TournamentCommand::StartDraw { round_id });
    assert!(
        matches!(err, TournamentError::Conflict(_)),
        "no team checked in: {err}"
    );
    check_in_everyone(&mut state, &mut log, round_id);
    assert!(matches!(
        refused(&state, TournamentCommand::Publish { round_id }),
        TournamentError::Conflict(_)
    ));
    let made = draw(&mut state, &mut log, round_id, 99);
    assert_eq!(made.rooms.len(), 2);
    assert!(made.rooms.iter().all(|r| r.adjudicator.is_some()));
    assert!(!state.round(round_id).unwrap().published);
    run(
        &mut state,
        &mut log,
        TournamentCommand::Publish { round_id },
    );
    assert!(state.round(round_id).unwrap().published);

    // Ballots: proposition wins room 1, opposition room 2.
    let tournament = state.tournament(1).unwrap().clone();
    let speakers_of = |team: u64| -> Vec<String> {
        tournament
            .teams
            .iter()
            .find(|t| t.id == team)
            .unwrap()
            .speakers
            .iter()
            .map(|s| s.id.clone())
            .collect()
    };
    for (room, winner) in made.rooms.iter().zip([Side::Proposition, Side::Opposition]) {
        let mut scores = BTreeMap::new();
        for (i, id) in speakers_of(room.proposition).into_iter().enumerate() {
            scores.insert(id, 70 + i as u32);
        }
        for (i, id) in speakers_of(room.opposition).into_iter().enumerate() {
            scores.insert(id, 72 + i as u32);
        }
        run(
            &mut state,
            &mut log,
            TournamentCommand::EnterBallot {
                round_id,
                ballot: Ballot {
                    room: room.number,
                    winner,
                    scores,
                },
            },
        );
    }
    let standings = state.standings(1).unwrap();
    assert_eq!(standings.len(), 4);
    assert_eq!(standings.iter().filter(|s| s.wins == 1).count(), 2);
    assert_eq!(standings[0].rank, 1);
    assert!(standings[0].wins >= standings[3].wins);
    let winners: BTreeSet<u64> = standings.iter().take(2).map(|s| s.team_id).collect();
    let expected: BTreeSet<u64> = [made.rooms[0].proposition, made.rooms[1].opposition].into();
    assert_eq!(winners, expected, "the two winners lead");

    // Replaying the log gives the same state, draw included, without drawing again.
    let mut replayed = TournamentsState::default();
    for event in &log {
        replayed.apply(event);
    }
    assert_eq!(replayed, state);
}

#[test]
fn check_ins_are_for_participants_and_can_be_undone() {
    let (mut state, mut log, round_id) = night();
    let stranger = refused(
        &state,
        TournamentCommand::CheckIn {
            round_id,
            user_id: uuid(999),
            present: true,
        },
    );
    assert!(matches!(stranger, TournamentError::NotFound { .. }));
    for present in [true, false] {
        run(
            &mut state,
            &mut log,
            TournamentCommand::CheckIn {
                round_id,
                user_id: uuid(1),
                present,
            },
        );
        assert_eq!(
            state.round(round_id).unwrap().checked_in.contains(&uuid(1)),
            present
        );
    }
    // A team is in the draw when one of its speakers is present.
    run(
        &mut state,
        &mut log,
        TournamentCommand::CheckIn {
            round_id,
            user_id: uuid(2),
            present: true,
        },
    );
    let (_, teams, adjudicators) = state.draw_inputs(round_id).unwrap();
    assert_eq!(teams.len(), 1);
    assert!(adjudicators.is_empty());
}

#[test]
fn a_running_timer_comes_back_paused_at_its_last_persisted_value() {
    let (mut state, mut log, round_id) = night();
    run(
        &mut state,
        &mut log,
        TournamentCommand::Timer {
            round_id,
            action: TimerAction::Start { seconds: 420 },
        },
    );
    run(
        &mut state,
        &mut log,
        TournamentCommand::Timer {
            round_id,
            action: TimerAction::Pause {
                remaining_secs: 300,
            },
        },
    );
    run(
        &mut state,
        &mut log,
        TournamentCommand::Timer {
            round_id,
            action: TimerAction::Resume,
        },
    );
    // The running clock is persisted every few seconds: the cut costs at most that much.
    run(
        &mut state,
        &mut log,
        TournamentCommand::Timer {
            round_id,
            action: TimerAction::Checkpoint {
                remaining_secs: 295,
            },
        },
    );
    assert_eq!(
        state.round(round_id).unwrap().timer,
        Timer {
            remaining_secs: 295,
            running: true
        }
    );
    // A power cut: replay, then recovery.
    let mut after_cut = TournamentsState::default();
    for event in &log {
        after_cut.apply(event);
    }
    for event in after_cut.recover() {
        after_cut.apply(&event);
    }
    assert_eq!(
        after_cut.round(round_id).unwrap().timer,
        Timer {
            remaining_secs: 295,
            running: false
        }
    );
    // After the cut the timer is stopped: neither a checkpoint nor a pause applies to it.
    for (action, kind) in [
        (
            TimerAction::Pause { remaining_secs: 10 },
            ErrorKind::Conflict,
        ),
        (
            TimerAction::Checkpoint { remaining_secs: 10 },
            ErrorKind::Conflict,
        ),
        (TimerAction::Start { seconds: 0 }, ErrorKind::Invalid),
    ] {
        let refusal = refused(&after_cut, TournamentCommand::Timer { round_id, action });
        assert_eq!(refusal.kind(), kind, "{action:?}");
    }
}

#[test]
fn a_draw_cut_by_a_power_failure_is_reported_failed_and_can_run_again() {
    let (mut state, mut log, round_id) = night();
    check_in_everyone(&mut state, &mut log, round_id);
    run(
        &mut state,
        &mut log,
        TournamentCommand::StartDraw { round_id },
    );
    assert!(matches!(
        refused(&state, TournamentCommand::StartDraw { round_id }),
        TournamentError::Conflict(_)
    ));
    for event in state.recover() {
        state.apply(&event);
    }
    assert!(matches!(
        state.round(round_id).unwrap().draw,
        DrawState::Failed(_)
    ));
    draw(&mut state, &mut log, round_id, 5);
    assert!(state.round(round_id).unwrap().draw().is_some());
}

/// Each refusal says what kind it is (the wire's error code follows from it). Nothing more to
/// check here: `decide` cannot change the state, and the engine logs nothing for a refusal.
#[test]
fn each_refusal_names_its_kind() {
    let (mut state, mut log, round_id) = night();
    check_in_everyone(&mut state, &mut log, round_id);
    let made = draw(&mut state, &mut log, round_id, 1);
    let judged = uuid_of_room(&state, &made.rooms[0]);
    run(
        &mut state,
        &mut log,
        TournamentCommand::EnterBallot {
            round_id,
            ballot: Ballot {
                room: made.rooms[0].number,
                winner: Side::Opposition,
                scores: [(judged, 75)].into(),
            },
        },
    );
    let from_other_room = uuid_of_room(&state, &made.rooms[1]);
    let speaker = |n: u32, name: &str| Speaker {
        id: uuid(n),
        name: name.into(),
    };
    let ballot = |room: u32, scores: BTreeMap<String, u32>| TournamentCommand::EnterBallot {
        round_id,
        ballot: Ballot {
            room,
            winner: Side::Proposition,
            scores,
        },
    };
    let bad = [
        (
            TournamentCommand::Create { name: "  ".into() },
            ErrorKind::Invalid,
        ),
        (
            TournamentCommand::RegisterTeam {
                tournament_id: 1,
                name: "Solo".into(),
                speakers: vec![speaker(50, "One")],
            },
            ErrorKind::Invalid,
        ),
        // A name that shows as another ("\u{202E}" turns the rest around) is refused.
        (
            TournamentCommand::RegisterTeam {
                tournament_id: 1,
                name: "Fresh".into(),
                speakers: vec![speaker(52, "\u{202E}1 rekaepS"), speaker(53, "New")],
            },
            ErrorKind::Invalid,
        ),
        (
            TournamentCommand::RegisterTeam {
                tournament_id: 1,
                name: "Twice".into(),
                speakers: vec![speaker(1, "Again"), speaker(51, "New")],
            },
            ErrorKind::Conflict,
        ),
        (
            TournamentCommand::RegisterAdjudicator {
                tournament_id: 1,
                adjudicator: Adjudicator {
                    id: "not-a-uuid".into(),
                    name: "X".into(),
                },
            },
            ErrorKind::Invalid,
        ),
        (
            TournamentCommand::CreateRound {
                tournament_id: 9,
                motion: "THW".into(),
            },
            ErrorKind::NotFound,
        ),
        (
            ballot(made.rooms[0].number, [(from_other_room, 75)].into()),
            ErrorKind::Invalid,
        ),
        (ballot(99, BTreeMap::new()), ErrorKind::NotFound),
        // A draw with ballots stands: a new one would credit them to other teams.
        (
            TournamentCommand::StartDraw { round_id },
            ErrorKind::Conflict,
        ),
    ];
    for (command, kind) in bad {
        let error = refused(&state, command.clone());
        assert_eq!(error.kind(), kind, "{command:?}: {error}");
    }
}

/// A speaker of the room's proposition.
fn uuid_of_room(state: &TournamentsState, room: &Room) -> String {
    let tournament = state.tournament(1).unwrap();
    let team = tournament
        .teams
        .iter()
        .find(|t| t.id == room.proposition)
        .unwrap();
    team.speakers[0].id.clone()
}

#[test]
fn a_running_timer_only_counts_down() {
    let (mut state, mut log, round_id) = night();
    let timer = |action| TournamentCommand::Timer { round_id, action };
    run(
        &mut state,
        &mut log,
        timer(TimerAction::Start { seconds: 300 }),
    );
    let kind_of = |state: &TournamentsState, action| refused(state, timer(action)).kind();
    assert_eq!(
        kind_of(&state, TimerAction::Checkpoint { remaining_secs: 0 }),
        ErrorKind::Conflict,
        "zero is a pause, not a checkpoint"
    );
    assert_eq!(kind_of(&state, TimerAction::Resume), ErrorKind::Conflict);
    assert_eq!(
        kind_of(&state, TimerAction::Start { seconds: 60 }),
        ErrorKind::Conflict
    );
    // A checkpoint or a pause later than the persisted value cannot add time.
    run(
        &mut state,
        &mut log,
        timer(TimerAction::Checkpoint {
            remaining_secs: 400,
        }),
    );
    assert_eq!(state.round(round_id).unwrap().timer.remaining_secs, 300);
    run(
        &mut state,
        &mut log,
        timer(TimerAction::Pause {
            remaining_secs: 999,
        }),
    );
    assert_eq!(
        state.round(round_id).unwrap().timer,
        Timer {
            remaining_secs: 300,
            running: false
        }
    );
    assert_eq!(
        kind_of(
            &state,
            TimerAction::Reset {
                seconds: MAX_TIMER_SECS + 1
            }
        ),
        ErrorKind::Invalid
    );
    // Run out: a pause at 0, and nothing to resume.
    run(&mut state, &mut log, timer(TimerAction::Resume));
    run(
        &mut state,
        &mut log,
        timer(TimerAction::Pause { remaining_secs: 0 }),
    );
    assert_eq!(kind_of(&state, TimerAction::Resume), ErrorKind::Conflict);
}

#[test]
fn a_check_in_that_changes_nothing_logs_nothing() {
    let (mut state, mut log, round_id) = night();
    let check_in = |present| TournamentCommand::CheckIn {
        round_id,
        user_id: uuid(1),
        present,
    };
    run(&mut state, &mut log, check_in(true));
    let logged = log.len();
    let (_, events) = state.decide(&check_in(true), T0).unwrap();
    assert!(events.is_empty(), "checked in twice");
    let (_, events) = state.decide(&check_in(false), T0).unwrap();
    assert_eq!(events.len(), 1, "checking out changes something");
    run(&mut state, &mut log, check_in(false));
    let (_, events) = state.decide(&check_in(false), T0).unwrap();
    assert!(events.is_empty(), "checked out twice");
    assert_eq!(log.len(), logged + 1);
}
