//! The shuffle draft's rules as tables: who is next, ties and their rolls, picks, undo,
//! completion, replay.

use super::*;

const T0: Millis = 1_700_000_000_000;

fn member(id: &str, mmr: u32) -> Member {
    Member {
        id: id.into(),
        name: format!("Name {id}"),
        mmr,
    }
}

fn staff() -> Actor {
    Actor {
        user_id: "admin".into(),
        staff: true,
    }
}

fn captain(id: &str) -> Actor {
    Actor {
        user_id: id.into(),
        staff: false,
    }
}

/// The state, its log, and commands run against both.
struct Night {
    state: DraftsState,
    log: Vec<DraftEvent>,
}

impl Night {
    /// A draft of `captains` (id, mmr) over `players` (id, mmr), in tournament 1.
    fn new(captains: &[(&str, u32)], players: &[(&str, u32)]) -> Self {
        let mut night = Night {
            state: DraftsState::default(),
            log: Vec::new(),
        };
        night.run(DraftCommand::Create {
            tournament_id: 1,
            captains: captains.iter().map(|(id, m)| member(id, *m)).collect(),
            players: players.iter().map(|(id, m)| member(id, *m)).collect(),
        });
        night
    }

    fn try_run(&mut self, command: DraftCommand) -> Result<Draft, DraftError> {
        let (DraftOutcome::Draft(draft), events) =
            self.state.decide(&command, T0, &|id| id == 1)?;
        for event in &events {
            self.state.apply(event);
        }
        self.log.extend(events);
        assert_eq!(
            &*draft,
            self.state.draft(draft.id).unwrap(),
            "the answer is the state after"
        );
        Ok(*draft)
    }

    fn run(&mut self, command: DraftCommand) -> Draft {
        self.try_run(command.clone())
            .unwrap_or_else(|e| panic!("{command:?}: {e}"))
    }

    fn draft(&self) -> &Draft {
        self.state.draft(1).unwrap()
    }

    fn start(&mut self, dice: &[u8]) -> Draft {
        self.run(DraftCommand::Start {
            draft_id: 1,
            actor: staff(),
            dice: dice.to_vec(),
        })
    }

    fn pick(&mut self, by: Actor, player: &str, dice: &[u8]) -> Result<Draft, DraftError> {
        self.try_run(DraftCommand::Pick {
            draft_id: 1,
            player_id: player.into(),
            actor: by,
            dice: dice.to_vec(),
        })
    }

    fn on_the_clock(&self) -> Option<&str> {
        let draft = self.draft();
        draft.on_the_clock().map(|c| draft.captains[c].id.as_str())
    }

    fn kinds(&self) -> Vec<&'static str> {
        self.log.iter().skip(1).map(DraftEvent::kind).collect()
    }
}

#[test]
fn the_lowest_team_picks_next_and_a_full_team_never_does() {
    // (captain mmrs, players, picks in order with who must be on the clock before each)
    let mut night = Night::new(
        &[("a", 1000), ("b", 2000), ("c", 3000)],
        &[
            ("p1", 5000),
            ("p2", 100),
            ("p3", 100),
            ("p4", 50),
            ("p5", 10),
            ("p6", 10),
        ],
    );
    night.start(&[]);
    let table = [
        ("a", "p1"), // a 1000 lowest → a 6000
        ("b", "p2"), // b 2000 → 2100
        ("b", "p3"), // b 2100 lowest again → 2200; b is full (2 each)
        ("c", "p4"), // c 3000 < a 6000 (b full) → 3050
        ("c", "p5"), // c 3050 → 3060, full
        ("a", "p6"), // only a is open
    ];
    for (expected, player) in table {
        assert_eq!(night.on_the_clock(), Some(expected), "before {player}");
        night.pick(captain(expected), player, &[]).unwrap();
    }
    assert_eq!(night.draft().status, DraftStatus::Completed);
    assert_eq!(night.on_the_clock(), None);
    let picks = ["CaptainAssigned", "PlayerPicked"].repeat(6);
    let expected: Vec<&str> = [&["DraftStarted"][..], &picks, &["DraftCompleted"]].concat();
    assert_eq!(night.kinds(), expected);
}

#[test]
fn a_tie_is_rolled_and_rerolled_among_the_highest_until_one_wins() {
    let captains = [("a", 5000), ("b", 5000), ("c", 5000), ("d", 5000)];
    let players = [("p1", 1), ("p2", 1), ("p3", 1), ("p4", 1)];
    // (dice, the roll rounds recorded, the winner)
    type Rolls = Vec<Vec<(usize, u8)>>;
    let table: [(&[u8], Rolls, &str); 3] = [
        (
            &[1, 6, 2, 3],
            vec![vec![(0, 1), (1, 6), (2, 2), (3, 3)]],
            "b",
        ),
        (
            &[3, 5, 5, 2, 4, 6],
            vec![vec![(0, 3), (1, 5), (2, 5), (3, 2)], vec![(1, 4), (2, 6)]],
            "c",
        ),
        (
            &[6, 6, 6, 6, 2, 2, 2, 2, 1, 1, 5, 1],
            vec![
                vec![(0, 6), (1, 6), (2, 6), (3, 6)],
                vec![(0, 2), (1, 2), (2, 2), (3, 2)],
                vec![(0, 1), (1, 1), (2, 5), (3, 1)],
            ],
            "c",
        ),
    ];
    for (dice, rounds, winner) in table {
        let mut night = Night::new(&captains, &players);
        let draft = night.start(dice);
        assert_eq!(night.on_the_clock(), Some(winner));
        let round = &draft.rounds[0];
        assert!(round.was_tie);
        let tie = round.tie_roll.as_ref().unwrap();
        assert_eq!(tie.roll_rounds, rounds);
        assert_eq!(tie.tied, vec![(0, 5000), (1, 5000), (2, 5000), (3, 5000)]);
        assert_eq!(
            night.kinds(),
            ["DraftStarted", "TieRoll", "CaptainAssigned"]
        );
    }
    // Not enough dice: refused, nothing recorded; the adapter draws again.
    let mut night = Night::new(&captains, &players);
    let short = night.try_run(DraftCommand::Start {
        draft_id: 1,
        actor: staff(),
        dice: vec![6, 6],
    });
    assert_eq!(short.unwrap_err(), DraftError::OutOfDice);
    assert_eq!(night.draft().status, DraftStatus::Created);
    let bad = night.try_run(DraftCommand::Start {
        draft_id: 1,
        actor: staff(),
        dice: vec![7, 0, 1, 2],
    });
    assert!(matches!(bad, Err(DraftError::Invalid { .. })));
}

#[test]
fn only_the_captain_on_the_clock_or_staff_picks_and_never_twice() {
    let mut night = Night::new(&[("a", 1), ("b", 2)], &[("p1", 10), ("p2", 20)]);
    let early = night.pick(staff(), "p1", &[]);
    assert!(matches!(early, Err(DraftError::Conflict(_))), "{early:?}");
    night.start(&[]);
    let table = [
        (captain("b"), "p1", ErrorKind::Forbidden),
        (captain("stranger"), "p1", ErrorKind::Forbidden),
        (captain("a"), "p9", ErrorKind::NotFound),
    ];
    for (by, player, kind) in table {
        let refused = night.pick(by.clone(), player, &[]).unwrap_err();
        assert_eq!(refused.kind(), kind, "{by:?} {player}");
    }
    night.pick(captain("a"), "p1", &[]).unwrap();
    let twice = night.pick(staff(), "p1", &[]).unwrap_err();
    assert_eq!(twice.kind(), ErrorKind::Conflict);
    // Staff pick for the captain on the clock (b), which completes the draft.
    let done = night.pick(staff(), "p2", &[]).unwrap();
    assert_eq!(done.status, DraftStatus::Completed);
    let after = night.pick(staff(), "p2", &[]).unwrap_err();
    assert_eq!(after.kind(), ErrorKind::Conflict);
}

#[test]
fn undo_gives_the_round_back_to_its_captain_and_reopens_a_completed_draft() {
    let captains = [("a", 5000), ("b", 5000)];
    let mut night = Night::new(&captains, &[("p1", 100), ("p2", 100)]);
    night.start(&[2, 5]); // b wins the roll
    assert_eq!(night.on_the_clock(), Some("b"));
    night.pick(captain("b"), "p1", &[]).unwrap();
    assert_eq!(night.on_the_clock(), Some("a"), "a is lower now");
    let undone = night
        .try_run(DraftCommand::Undo {
            draft_id: 1,
            actor: staff(),
        })
        .unwrap();
    // Not the stale "a": round 1 is b's again, with its roll, and round 2 is gone.
    assert_eq!(night.on_the_clock(), Some("b"));
    assert_eq!(undone.rounds.len(), 1);
    assert!(undone.rounds[0].was_tie);
    assert_eq!(
        undone.rounds[0].tie_roll.as_ref().unwrap().roll_rounds,
        vec![vec![(0, 2), (1, 5)]]
    );
    assert!(undone.picks.is_empty());
    assert_eq!(
        night.kinds()[night.kinds().len() - 2..],
        ["PickUndone", "CaptainAssigned"]
    );
    // Complete, then undo: open again with the last round's captain on the clock.
    night.pick(captain("b"), "p2", &[]).unwrap();
    night.pick(captain("a"), "p1", &[]).unwrap();
    assert_eq!(night.draft().status, DraftStatus::Completed);
    night.run(DraftCommand::Undo {
        draft_id: 1,
        actor: staff(),
    });
    assert_eq!(night.draft().status, DraftStatus::Running);
    assert_eq!(night.on_the_clock(), Some("a"));
    // Only staff undo; nothing to undo is a conflict.
    let by_captain = night.try_run(DraftCommand::Undo {
        draft_id: 1,
        actor: captain("a"),
    });
    assert_eq!(by_captain.unwrap_err().kind(), ErrorKind::Forbidden);
    for _ in 0..1 {
        night.run(DraftCommand::Undo {
            draft_id: 1,
            actor: staff(),
        });
    }
    let nothing = night.try_run(DraftCommand::Undo {
        draft_id: 1,
        actor: staff(),
    });
    assert_eq!(nothing.unwrap_err().kind(), ErrorKind::Conflict);
    assert_eq!(night.on_the_clock(), Some("b"), "round 1 is b's, as rolled");
}

#[test]
fn replaying_the_log_rebuilds_the_board_and_the_history_without_rolling() {
    let mut night = Night::new(
        &[("a", 5000), ("b", 5000), ("c", 5000)],
        &[("p1", 300), ("p2", 200), ("p3", 100)],
    );
    night.start(&[4, 4, 1, 6, 2]);
    let first = night.on_the_clock().unwrap().to_string();
    night.pick(captain(&first), "p1", &[3, 3, 5, 1]).unwrap();
    let mut replayed = DraftsState::default();
    for event in &night.log {
        replayed.apply(event);
    }
    assert_eq!(replayed, night.state);
    // History ids are unique and grow.
    let ids: Vec<u64> = night.draft().history.iter().map(|e| e.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert_eq!(ids[0], 1);
}

#[test]
fn a_draft_is_made_of_equal_teams_of_valid_members_in_a_known_tournament() {
    let p = |n: usize| {
        (0..n)
            .map(|i| member(&format!("p{i}"), 1))
            .collect::<Vec<_>>()
    };
    let c = |n: usize| {
        (0..n)
            .map(|i| member(&format!("c{i}"), 1))
            .collect::<Vec<_>>()
    };
    let mut duplicate = p(4);
    duplicate[3].id = "c0".into();
    let table = [
        (9, c(2), p(4), ErrorKind::NotFound),
        (1, c(1), p(4), ErrorKind::Invalid),
        (1, c(3), p(4), ErrorKind::Invalid),
        (1, c(2), p(0), ErrorKind::Invalid),
        (1, c(2), duplicate, ErrorKind::Invalid),
        (
            1,
            c(2),
            vec![member("x", MAX_MMR + 1), member("y", 1)],
            ErrorKind::Invalid,
        ),
        (
            1,
            c(2),
            vec![member("x", 1), member("y\u{0}", 1)],
            ErrorKind::Invalid,
        ),
        (
            1,
            c(2),
            vec![member("x", 1), member(" x", 1)],
            ErrorKind::Invalid,
        ),
        (
            1,
            c(2),
            vec![member("x", 1), member("y\u{202E}", 1)],
            ErrorKind::Invalid,
        ),
        (
            1,
            vec![member("admin", 1), member("c1", 1)],
            p(2),
            ErrorKind::Invalid,
        ),
    ];
    let state = DraftsState::default();
    for (tournament_id, captains, players, kind) in table {
        let command = DraftCommand::Create {
            tournament_id,
            captains,
            players,
        };
        let refused = state.decide(&command, T0, &|id| id == 1).unwrap_err();
        assert_eq!(refused.kind(), kind, "{command:?}");
    }
}

#[test]
fn the_tournament_socket_gets_the_last_entries_of_all_its_drafts_oldest_first() {
    let mut night = Night::new(&[("a", 1), ("b", 2)], &[("p1", 1), ("p2", 1)]);
    night.run(DraftCommand::Create {
        tournament_id: 1,
        captains: vec![member("c", 1), member("d", 2)],
        players: vec![member("q1", 1), member("q2", 1)],
    });
    night.start(&[]);
    night.run(DraftCommand::Start {
        draft_id: 2,
        actor: staff(),
        dice: Vec::new(),
    });
    night.pick(captain("a"), "p1", &[]).unwrap();
    let last3: Vec<u64> = night
        .state
        .tournament_history(1, 3)
        .iter()
        .map(|e| e.id)
        .collect();
    let all: Vec<u64> = night
        .state
        .tournament_history(1, 100)
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(all.len(), 6);
    assert_eq!(last3, all[3..]);
    assert!(night.state.tournament_history(2, 20).is_empty());
}

#[test]
fn undos_cannot_use_up_the_history_a_draft_needs_to_finish() {
    let mut night = Night::new(&[("a", 1), ("b", 2)], &[("p1", 10), ("p2", 20)]);
    night.start(&[]);
    let undo = || DraftCommand::Undo {
        draft_id: 1,
        actor: staff(),
    };
    let mut refused = None;
    for _ in 0..MAX_HISTORY {
        night.pick(staff(), "p1", &[]).unwrap();
        if let Err(e) = night.try_run(undo()) {
            refused = Some(e);
            break;
        }
    }
    assert_eq!(refused.map(|e| e.kind()), Some(ErrorKind::Conflict));
    // Still finishable: the picks go through.
    night.pick(staff(), "p2", &[]).unwrap();
    assert_eq!(night.draft().status, DraftStatus::Completed);
    assert!(night.draft().history.len() <= MAX_HISTORY);
}
