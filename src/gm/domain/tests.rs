//! Table-driven tests of the game rules. No I/O: every test builds a domain and feeds it commands.

use super::*;
use crate::domain::order_for_first_write_wins;
use crate::gm::tokens::ScoringRules;

pub(crate) const T0: Millis = 1_700_000_000_000;

/// A small catalogue with a group of two, a plain token and two videos.
pub(crate) fn catalog() -> TokenCatalog {
    let json = r#"{
        "tok1": {"SF_ValueRating": 1, "SF_MemoryType": "Personal", "SF_Group": ""},
        "tok2": {"SF_ValueRating": 3, "SF_MemoryType": "Technical", "SF_Group": null},
        "grpA": {"SF_ValueRating": 2, "SF_MemoryType": "Business", "SF_Group": "Pair (x2)"},
        "grpB": {"SF_ValueRating": 1, "SF_MemoryType": "Personal", "SF_Group": "Pair(x2)"},
        "vid1": {"SF_ValueRating": 2, "SF_MemoryType": "Personal", "video": "v/vid1.mp4", "videoDuration": 3},
        "vid2": {"SF_ValueRating": 2, "SF_MemoryType": "Personal", "video": "v/vid2.mp4"}
    }"#;
    TokenCatalog::from_venue_json(json, &ScoringRules::default()).unwrap()
}

/// Two GM stations, one player scanner, a 30 s grace.
pub(crate) fn limits() -> Limits {
    Limits {
        max_gm_stations: 2,
        max_player_scanners: 1,
        reconnect_grace_ms: 30_000,
        player_idle_ms: 60_000,
        gm_scans_play_videos: true,
    }
}

fn domain_with_session(teams: Option<Vec<&str>>) -> GmState {
    session_under(limits(), teams)
}

/// A domain with `limits` and a running session "s1".
fn session_under(limits: Limits, teams: Option<Vec<&str>>) -> GmState {
    let mut d = GmState::new(catalog(), limits);
    d.execute(
        &GmCommand::CreateSession {
            session_id: "s1".into(),
            name: "Friday".into(),
            teams: teams.map(|t| t.into_iter().map(String::from).collect()),
        },
        T0,
    )
    .unwrap();
    d
}

fn gm_scan(token: &str, team: &str, at: Millis) -> GmCommand {
    GmCommand::Scan(ScanRequest {
        token_id: token.into(),
        team_id: Some(team.into()),
        device_id: "GM_1".into(),
        device_kind: DeviceKind::Gm,
        scanned_at: Some(at),
        client_scan_id: None,
    })
}

fn player_scan(token: &str, device: &str, client_id: Option<&str>) -> GmCommand {
    GmCommand::Scan(ScanRequest {
        token_id: token.into(),
        team_id: None,
        device_id: device.into(),
        device_kind: DeviceKind::Player,
        scanned_at: Some(T0),
        client_scan_id: client_id.map(String::from),
    })
}

fn transaction(outcome: GmOutcome) -> Transaction {
    match outcome {
        GmOutcome::Transaction { transaction, .. } => transaction,
        other => panic!("expected a transaction, got {other:?}"),
    }
}

fn score_of(d: &GmState, team: &str) -> u64 {
    d.view()
        .scores
        .iter()
        .find(|s| s.team_id == team)
        .map_or(0, TeamScore::score)
}

#[test]
fn scoring_uses_rating_and_type_multiplier() {
    let cases = [
        ("tok1", 100),
        ("tok2", 5_000),
        ("grpA", 1_500),
        ("grpB", 100),
    ];
    for (token, expected) in cases {
        let mut d = domain_with_session(None);
        let tx = transaction(d.execute(&gm_scan(token, "TEAM_A", T0), T0).unwrap().0);
        assert_eq!(tx.status, TransactionStatus::Accepted, "{token}");
        assert_eq!(tx.points, expected, "{token}");
        assert_eq!(score_of(&d, "TEAM_A"), expected, "{token}");
    }
}

#[test]
fn completing_a_group_multiplies_its_points() {
    let mut d = domain_with_session(None);
    d.execute(&gm_scan("grpA", "TEAM_A", T0), T0).unwrap();
    assert_eq!(score_of(&d, "TEAM_A"), 1_500);
    d.execute(&gm_scan("grpB", "TEAM_A", T0), T0).unwrap();
    // 1,500 + 100 = 1,600 base; ×2 on completion adds another 1,600.
    assert_eq!(score_of(&d, "TEAM_A"), 3_200);
    let view = d.view();
    let team = &view.scores[0];
    assert_eq!(team.bonus_points, 1_600);
    assert_eq!(team.completed_groups, vec!["Pair".to_string()]);
}

#[test]
fn a_group_half_held_before_a_reset_earns_no_bonus_after_it() {
    let mut d = domain_with_session(None);
    d.execute(&gm_scan("grpA", "TEAM_A", T0), T0).unwrap();
    d.execute(
        &GmCommand::ResetSession {
            session_id: "s2".into(),
            source: ResetSource::Button,
        },
        T0 + 1,
    )
    .unwrap();
    d.execute(&gm_scan("grpB", "TEAM_A", T0 + 2), T0 + 2)
        .unwrap();
    assert_eq!(score_of(&d, "TEAM_A"), 100, "grpB's points, no bonus");
    let archived = &d.view().archived_sessions[0];
    assert_eq!(
        archived.scores[0].score(),
        1_500,
        "the ended session kept its score"
    );
}

#[test]
fn the_scan_that_completes_a_group_records_it_once() {
    let mut d = domain_with_session(None);
    let (_, first) = d.execute(&gm_scan("grpA", "TEAM_A", T0), T0).unwrap();
    assert!(!first
        .iter()
        .any(|e| matches!(e, GmEvent::GroupCompleted { .. })));
    let (_, events) = d.execute(&gm_scan("grpB", "TEAM_A", T0), T0).unwrap();
    let completed: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            GmEvent::GroupCompleted {
                team_id,
                group,
                multiplier,
                bonus,
                ..
            } => Some((team_id.as_str(), group.as_str(), *multiplier, *bonus)),
            _ => None,
        })
        .collect();
    assert_eq!(completed, vec![("TEAM_A", "Pair", 2, 1_600)]);
    // The event changes no score: the scan's own apply counted the bonus, as old logs do.
    let mut replayed = domain_with_session(None);
    replayed
        .execute(&gm_scan("grpA", "TEAM_A", T0), T0)
        .unwrap();
    for event in events
        .iter()
        .filter(|e| !matches!(e, GmEvent::GroupCompleted { .. }))
    {
        replayed.apply(event);
    }
    assert_eq!(score_of(&replayed, "TEAM_A"), score_of(&d, "TEAM_A"));
}

#[test]
fn a_gm_scan_of_a_video_token_scores_and_starts_it_when_none_plays() {
    let mut d = domain_with_session(None);
    let (outcome, events) = d.execute(&gm_scan("vid1", "TEAM_A", T0), T0).unwrap();
    let tx = transaction(outcome);
    assert_eq!(tx.status, TransactionStatus::Accepted);
    assert!(tx.points > 0 && tx.video_queued);
    assert!(events
        .iter()
        .any(|e| matches!(e, GmEvent::VideoStarted { token_id, .. } if token_id == "vid1")));
    // While it plays, another video token still scores; its video does not queue.
    let busy = transaction(d.execute(&gm_scan("vid2", "TEAM_B", T0), T0).unwrap().0);
    assert_eq!(busy.status, TransactionStatus::Accepted);
    assert!(busy.points > 0 && !busy.video_queued);
    assert_eq!(d.video_view().current.unwrap().token_id, "vid1");
}

#[test]
fn gm_scans_stay_silent_when_the_box_is_set_so() {
    let silent = Limits {
        gm_scans_play_videos: false,
        ..limits()
    };
    let mut d = session_under(silent, None);
    let tx = transaction(d.execute(&gm_scan("vid1", "TEAM_A", T0), T0).unwrap().0);
    assert!(tx.points > 0 && !tx.video_queued);
    assert!(d.video_view().current.is_none());
}

#[test]
fn a_group_split_between_teams_earns_no_bonus() {
    let mut d = domain_with_session(None);
    d.execute(&gm_scan("grpA", "TEAM_A", T0), T0).unwrap();
    d.execute(&gm_scan("grpB", "TEAM_B", T0), T0).unwrap();
    assert_eq!(score_of(&d, "TEAM_A"), 1_500);
    assert_eq!(score_of(&d, "TEAM_B"), 100);
}

#[test]
fn second_scan_of_a_token_is_a_duplicate_for_any_team() {
    let mut d = domain_with_session(None);
    d.execute(&gm_scan("tok2", "TEAM_A", T0), T0).unwrap();
    for team in ["TEAM_A", "TEAM_B"] {
        let tx = transaction(d.execute(&gm_scan("tok2", team, T0 + 5), T0 + 5).unwrap().0);
        assert_eq!(tx.status, TransactionStatus::Duplicate);
        assert_eq!(tx.points, 0);
    }
    assert_eq!(score_of(&d, "TEAM_A"), 5_000);
    assert_eq!(score_of(&d, "TEAM_B"), 0);
}

#[test]
fn token_ids_match_without_case() {
    let mut d = domain_with_session(None);
    let tx = transaction(d.execute(&gm_scan("TOK1", "TEAM_A", T0), T0).unwrap().0);
    assert_eq!(tx.token_id, "tok1");
    let dup = transaction(d.execute(&gm_scan("tok1", "TEAM_B", T0), T0).unwrap().0);
    assert_eq!(dup.status, TransactionStatus::Duplicate);
}

#[test]
fn first_write_wins_by_earliest_scan_time_within_a_batch() {
    let late = gm_scan("tok2", "TEAM_LATE", T0 + 900);
    let early = gm_scan("tok2", "TEAM_EARLY", T0 + 100);
    let mut batch = vec![
        GmCommand::ControlSession(SessionControl::Resume),
        late,
        early,
        GmCommand::SweepIdleDevices,
        gm_scan("tok1", "TEAM_X", T0 + 5),
    ];
    order_for_first_write_wins(&mut batch, |c| match c {
        GmCommand::Scan(scan) => scan.scanned_at,
        _ => None,
    });
    assert!(matches!(batch[0], GmCommand::ControlSession(_)));
    assert!(matches!(&batch[1], GmCommand::Scan(s) if s.team_id.as_deref() == Some("TEAM_EARLY")));
    assert!(matches!(&batch[2], GmCommand::Scan(s) if s.team_id.as_deref() == Some("TEAM_LATE")));
    assert!(
        matches!(batch[3], GmCommand::SweepIdleDevices),
        "scans never cross other commands"
    );

    let mut d = domain_with_session(None);
    for command in &batch[1..3] {
        d.execute(command, T0 + 1_000).unwrap();
    }
    assert_eq!(score_of(&d, "TEAM_EARLY"), 5_000);
    assert_eq!(score_of(&d, "TEAM_LATE"), 0);
}

#[test]
fn rejected_scans_record_a_reason_and_score_nothing() {
    let cases: [(&str, &str, Option<Vec<&str>>, &str); 4] = [
        ("nope", "TEAM_A", None, "unknown token"),
        ("tok1", "", None, "invalid or missing team id"),
        ("tok1", "bad team!", None, "invalid or missing team id"),
        (
            "tok1",
            "TEAM_Z",
            Some(vec!["TEAM_A", "TEAM_B"]),
            "team is not part of this session",
        ),
    ];
    for (token, team, teams, reason) in cases {
        let mut d = domain_with_session(teams);
        let tx = transaction(d.execute(&gm_scan(token, team, T0), T0).unwrap().0);
        assert_eq!(tx.status, TransactionStatus::Rejected, "{token}/{team}");
        assert_eq!(tx.rejection_reason.as_deref(), Some(reason));
        assert!(d.view().scores.iter().all(|s| s.score() == 0));
    }
}

#[test]
fn fixed_team_list_accepts_its_teams_and_lists_them_from_the_start() {
    let mut d = domain_with_session(Some(vec!["TEAM_A", "TEAM_B"]));
    assert_eq!(d.view().scores.len(), 2);
    let tx = transaction(d.execute(&gm_scan("tok1", "TEAM_B", T0), T0).unwrap().0);
    assert_eq!(tx.status, TransactionStatus::Accepted);
}

#[test]
fn scans_need_a_session_and_are_refused_while_paused() {
    let mut d = GmState::new(catalog(), limits());
    assert_eq!(
        d.execute(&gm_scan("tok1", "TEAM_A", T0), T0).unwrap_err(),
        GmError::NoSession
    );
    let mut d = domain_with_session(None);
    d.execute(&GmCommand::ControlSession(SessionControl::Pause), T0)
        .unwrap();
    let tx = transaction(d.execute(&gm_scan("tok1", "TEAM_A", T0), T0).unwrap().0);
    assert_eq!(tx.status, TransactionStatus::Rejected);
    assert_eq!(tx.rejection_reason.as_deref(), Some("session is paused"));
}

#[test]
fn session_lifecycle_transitions() {
    use SessionControl::*;
    // (steps, final status or None when ended, whether the last step is refused)
    let cases: [(&[SessionControl], Option<SessionStatus>, bool); 6] = [
        (&[Pause], Some(SessionStatus::Paused), false),
        (&[Pause, Resume], Some(SessionStatus::Active), false),
        (&[End], None, false),
        (&[Pause, End], None, false),
        (&[Resume], Some(SessionStatus::Active), true),
        (&[Pause, Pause], Some(SessionStatus::Paused), true),
    ];
    for (steps, expected, last_refused) in cases {
        let mut d = domain_with_session(None);
        let (last, first) = steps.split_last().unwrap();
        for step in first {
            d.execute(&GmCommand::ControlSession(*step), T0).unwrap();
        }
        let result = d.execute(&GmCommand::ControlSession(*last), T0);
        assert_eq!(
            matches!(result, Err(GmError::InvalidSessionTransition(..))),
            last_refused,
            "{steps:?}: {result:?}"
        );
        assert_eq!(d.view().session.map(|s| s.status), expected, "{steps:?}");
    }
}

#[test]
fn ending_a_session_archives_it_with_its_scores() {
    let mut d = domain_with_session(None);
    d.execute(&gm_scan("tok2", "TEAM_A", T0), T0).unwrap();
    d.execute(&GmCommand::ControlSession(SessionControl::End), T0 + 10)
        .unwrap();
    let view = d.view();
    assert!(view.session.is_none());
    let archived = &view.archived_sessions[0];
    assert_eq!(archived.session.status, SessionStatus::Archived);
    assert_eq!(archived.session.ended_at, Some(T0 + 10));
    assert_eq!(archived.transaction_count, 1);
    assert_eq!(archived.scores[0].score(), 5_000);
    // A new session starts clean: the token can be scored again.
    d.execute(
        &GmCommand::CreateSession {
            session_id: "s2".into(),
            name: "Next".into(),
            teams: None,
        },
        T0 + 20,
    )
    .unwrap();
    let tx = transaction(
        d.execute(&gm_scan("tok2", "TEAM_B", T0), T0 + 30)
            .unwrap()
            .0,
    );
    assert_eq!(tx.status, TransactionStatus::Accepted);
}

#[test]
fn a_reset_archives_the_session_and_starts_a_fresh_one_with_the_same_setup() {
    let reset = |id: &str| GmCommand::ResetSession {
        session_id: id.into(),
        source: ResetSource::Button,
    };
    let mut fresh = GmState::new(catalog(), limits());
    assert_eq!(
        fresh.execute(&reset("s2"), T0).unwrap_err(),
        GmError::NoSession
    );

    let mut d = domain_with_session(Some(vec!["TEAM_A", "TEAM_B"]));
    d.execute(&gm_scan("tok2", "TEAM_A", T0), T0).unwrap();
    d.execute(&GmCommand::ControlSession(SessionControl::Pause), T0 + 5)
        .unwrap();
    let (outcome, events) = d.execute(&reset("s2"), T0 + 10).unwrap();
    assert_eq!(
        events,
        vec![GmEvent::SessionReset {
            ended_session_id: "s1".into(),
            session_id: "s2".into(),
            source: ResetSource::Button,
            at: T0 + 10,
        }]
    );
    let GmOutcome::Session(session) = outcome else {
        panic!("{outcome:?}")
    };
    let view = d.view();
    assert_eq!(view.session.as_ref(), Some(&session));
    assert_eq!(session.name, "Friday");
    assert_eq!(
        session.status,
        SessionStatus::Active,
        "a paused session restarts active"
    );
    assert_eq!(session.teams, Some(vec!["TEAM_A".into(), "TEAM_B".into()]));
    assert!(view.scores.iter().all(|s| s.score() == 0));
    assert_eq!(
        view.scores.len(),
        2,
        "the fixed teams are listed from the start"
    );
    let archived = &view.archived_sessions[0];
    assert_eq!(archived.session.id, "s1");
    assert_eq!(archived.session.ended_at, Some(T0 + 10));
    assert_eq!(archived.transaction_count, 1, "archived, never deleted");
    // The token scores again in the new session, and replay rebuilds the same state.
    let tx = transaction(
        d.execute(&gm_scan("tok2", "TEAM_B", T0), T0 + 30)
            .unwrap()
            .0,
    );
    assert_eq!(tx.status, TransactionStatus::Accepted);
    assert_eq!(
        d.execute(&reset("s2"), T0 + 40).unwrap_err(),
        GmError::Invalid {
            field: "sessionId",
            reason: "s2 is already used".into()
        }
    );
}

#[test]
fn only_one_session_runs_at_a_time() {
    let mut d = domain_with_session(None);
    let err = d
        .execute(
            &GmCommand::CreateSession {
                session_id: "s2".into(),
                name: "x".into(),
                teams: None,
            },
            T0,
        )
        .unwrap_err();
    assert_eq!(err, GmError::SessionAlreadyRunning);
}

#[test]
fn player_video_scan_starts_video_and_a_second_is_told_to_wait() {
    let mut d = domain_with_session(None);
    let (outcome, events) = d.execute(&player_scan("vid1", "P1", None), T0).unwrap();
    let tx = transaction(outcome);
    assert!(tx.video_queued);
    assert!(events
        .iter()
        .any(|e| matches!(e, GmEvent::VideoStarted { token_id, .. } if token_id == "vid1")));
    assert_eq!(d.video_view().current.unwrap().token_id, "vid1");

    let busy = transaction(d.execute(&player_scan("vid2", "P1", None), T0).unwrap().0);
    assert_eq!(busy.status, TransactionStatus::Rejected);
    assert!(busy.rejection_reason.unwrap().contains("try again later"));

    d.execute(
        &GmCommand::VideoEnded {
            token_id: "vid1".into(),
            outcome: PlaybackOutcome::Completed,
        },
        T0 + 3_000,
    )
    .unwrap();
    let ok = transaction(d.execute(&player_scan("vid2", "P1", None), T0).unwrap().0);
    assert!(ok.video_queued);
}

#[test]
fn player_scans_do_not_score_or_claim_tokens() {
    let mut d = domain_with_session(None);
    let tx = transaction(d.execute(&player_scan("tok2", "P1", None), T0).unwrap().0);
    assert_eq!(tx.points, 0);
    let gm = transaction(d.execute(&gm_scan("tok2", "TEAM_A", T0), T0).unwrap().0);
    assert_eq!(gm.status, TransactionStatus::Accepted);
}

#[test]
fn resent_client_scan_id_returns_the_original_result() {
    let mut d = domain_with_session(None);
    let (first, events) = d
        .execute(&player_scan("tok1", "P1", Some("c-1")), T0)
        .unwrap();
    assert!(!events.is_empty());
    let (again, events) = d
        .execute(&player_scan("tok1", "P1", Some("c-1")), T0 + 50)
        .unwrap();
    assert!(events.is_empty(), "a resend logs nothing");
    match again {
        GmOutcome::Transaction {
            transaction,
            replayed,
        } => {
            assert!(replayed);
            assert_eq!(transaction, self::transaction(first));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(d.session_transaction_count(), 1);
}

/// Queues `token_id`'s video at T0.
fn queue_video(d: &mut GmState, token_id: &str) {
    let queue = GmCommand::QueueVideo {
        token_id: token_id.into(),
    };
    d.execute(&queue, T0).unwrap();
}

#[test]
fn video_queue_plays_in_order_and_controls_apply() {
    let mut d = domain_with_session(None);
    queue_video(&mut d, "vid1");
    queue_video(&mut d, "vid2");
    let view = d.video_view();
    assert_eq!(view.current.as_ref().unwrap().token_id, "vid1");
    assert_eq!(view.queue, vec!["vid2".to_string()]);
    d.execute(&GmCommand::ControlVideo(VideoControl::Pause), T0)
        .unwrap();
    assert!(d.video_view().current.unwrap().paused);
    d.execute(&GmCommand::ControlVideo(VideoControl::Resume), T0)
        .unwrap();
    d.execute(&GmCommand::ControlVideo(VideoControl::Skip), T0)
        .unwrap();
    assert_eq!(d.video_view().current.unwrap().token_id, "vid2");
    d.execute(&GmCommand::ControlVideo(VideoControl::Stop), T0)
        .unwrap();
    assert_eq!(d.video_view(), VideoView::default());
    assert_eq!(
        d.execute(&GmCommand::ControlVideo(VideoControl::Pause), T0)
            .unwrap_err(),
        GmError::NoVideo
    );
    assert_eq!(
        d.execute(
            &GmCommand::QueueVideo {
                token_id: "tok1".into()
            },
            T0
        )
        .unwrap_err(),
        GmError::TokenHasNoVideo("tok1".into())
    );
}

#[test]
fn a_stale_video_end_report_changes_nothing() {
    let mut d = domain_with_session(None);
    queue_video(&mut d, "vid1");
    let (_, events) = d
        .execute(
            &GmCommand::VideoEnded {
                token_id: "vid2".into(),
                outcome: PlaybackOutcome::Completed,
            },
            T0,
        )
        .unwrap();
    assert!(events.is_empty());
    assert_eq!(d.video_view().current.unwrap().token_id, "vid1");
}

fn connect(d: &mut GmState, id: &str, kind: DeviceKind, now: Millis) -> Result<bool, GmError> {
    d.execute(
        &GmCommand::ConnectDevice {
            device_id: id.into(),
            kind,
            name: None,
            ip: None,
        },
        now,
    )
    .map(|(outcome, _)| match outcome {
        GmOutcome::Device { reconnected, .. } => reconnected,
        other => panic!("{other:?}"),
    })
}

#[test]
fn device_limit_counts_connected_devices_and_those_in_their_grace() {
    let mut d = GmState::new(catalog(), limits());
    assert_eq!(connect(&mut d, "GM_1", DeviceKind::Gm, T0), Ok(false));
    assert_eq!(connect(&mut d, "GM_2", DeviceKind::Gm, T0), Ok(false));
    assert_eq!(
        connect(&mut d, "GM_3", DeviceKind::Gm, T0),
        Err(GmError::DeviceLimit {
            kind: DeviceKind::Gm,
            max: 2
        })
    );
    d.execute(
        &GmCommand::DisconnectDevice {
            device_id: "GM_2".into(),
            reason: DisconnectReason::Manual,
        },
        T0 + 1_000,
    )
    .unwrap();
    // Within the grace the slot stays GM_2's.
    assert!(connect(&mut d, "GM_3", DeviceKind::Gm, T0 + 2_000).is_err());
    assert_eq!(
        connect(&mut d, "GM_2", DeviceKind::Gm, T0 + 2_000),
        Ok(true)
    );
    d.execute(
        &GmCommand::DisconnectDevice {
            device_id: "GM_2".into(),
            reason: DisconnectReason::Timeout,
        },
        T0 + 3_000,
    )
    .unwrap();
    // After the grace the slot is free and GM_2 would count as a new device.
    assert_eq!(
        connect(&mut d, "GM_3", DeviceKind::Gm, T0 + 40_000),
        Ok(false)
    );
    // Player limits are separate.
    assert!(connect(&mut d, "P1", DeviceKind::Player, T0).is_ok());
    assert!(connect(&mut d, "P2", DeviceKind::Player, T0).is_err());
}

#[test]
fn devices_long_gone_are_forgotten_when_another_connects_and_replay_forgets_the_same() {
    let mut d = GmState::new(catalog(), limits());
    let mut log = Vec::new();
    let mut run = |d: &mut GmState, command: GmCommand, now: Millis| {
        let (_, events) = d.execute(&command, now).unwrap();
        log.extend(events);
    };
    let connect_cmd = |id: &str| GmCommand::ConnectDevice {
        device_id: id.into(),
        kind: DeviceKind::Gm,
        name: None,
        ip: None,
    };
    run(&mut d, connect_cmd("GM_OLD"), T0);
    run(
        &mut d,
        GmCommand::DisconnectDevice {
            device_id: "GM_OLD".into(),
            reason: DisconnectReason::Manual,
        },
        T0 + 1_000,
    );
    run(&mut d, connect_cmd("GM_SOON"), T0 + 2_000);
    assert!(
        d.view().devices.iter().any(|dev| dev.id == "GM_OLD"),
        "still tonight's"
    );
    run(
        &mut d,
        GmCommand::DisconnectDevice {
            device_id: "GM_SOON".into(),
            reason: DisconnectReason::Manual,
        },
        T0 + 3_000,
    );
    run(
        &mut d,
        connect_cmd("GM_LATER"),
        T0 + 1_000 + FORGET_DEVICES_AFTER_MS,
    );
    let ids: Vec<String> = d.view().devices.iter().map(|dev| dev.id.clone()).collect();
    assert_eq!(ids, vec!["GM_LATER".to_string(), "GM_SOON".to_string()]);
    let mut replayed = GmState::new(catalog(), limits());
    for event in &log {
        replayed.apply(event);
    }
    assert_eq!(replayed.view(), d.view());
}

#[test]
fn no_scan_stores_an_oversized_id_and_player_scans_need_well_formed_ids() {
    let mut d = domain_with_session(None);
    let long = "T".repeat(65);
    assert!(matches!(
        d.execute(&gm_scan("tok1", &long, T0), T0),
        Err(GmError::Invalid {
            field: "teamId",
            ..
        })
    ));
    let mut player = player_scan("tok1", "P1", None);
    if let GmCommand::Scan(scan) = &mut player {
        scan.team_id = Some("bad team!".into());
    }
    assert!(matches!(
        d.execute(&player, T0),
        Err(GmError::Invalid {
            field: "teamId",
            ..
        })
    ));
    assert!(matches!(
        d.execute(&gm_scan(&"x".repeat(65), "TEAM_A", T0), T0),
        Err(GmError::Invalid {
            field: "tokenId",
            ..
        })
    ));
    assert!(matches!(
        d.execute(&player_scan("tok 1", "P1", None), T0),
        Err(GmError::Invalid {
            field: "tokenId",
            ..
        })
    ));
    // A GM station's short malformed token id is recorded, rejected, as stations expect.
    let tx = transaction(d.execute(&gm_scan("tok 1", "TEAM_A", T0), T0).unwrap().0);
    assert_eq!(tx.rejection_reason.as_deref(), Some("unknown token"));
}

#[test]
fn an_open_session_scores_at_most_max_teams() {
    // One token per team and one more, so only the team cap can refuse.
    let tokens: Vec<String> = (0..=MAX_TEAMS).map(|i| format!("t{i}")).collect();
    let json = format!(
        "{{{}}}",
        tokens
            .iter()
            .map(|t| format!(r#""{t}": {{"SF_ValueRating": 1, "SF_MemoryType": "Personal"}}"#))
            .collect::<Vec<_>>()
            .join(",")
    );
    let catalog = TokenCatalog::from_venue_json(&json, &ScoringRules::default()).unwrap();
    let mut d = GmState::new(catalog, limits());
    d.execute(
        &GmCommand::CreateSession {
            session_id: "s1".into(),
            name: "Open".into(),
            teams: None,
        },
        T0,
    )
    .unwrap();
    for (i, token) in tokens.iter().take(MAX_TEAMS).enumerate() {
        let tx = transaction(
            d.execute(&gm_scan(token, &format!("T{i}"), T0), T0)
                .unwrap()
                .0,
        );
        assert_eq!(tx.status, TransactionStatus::Accepted, "team {i}");
    }
    let last = &tokens[MAX_TEAMS];
    let refused = transaction(d.execute(&gm_scan(last, "T_NEW", T0), T0).unwrap().0);
    assert_eq!(refused.status, TransactionStatus::Rejected);
    assert!(refused.rejection_reason.unwrap().contains("teams"));
    assert_eq!(d.view().scores.len(), MAX_TEAMS);
    // A team the session already has still scores.
    let kept = transaction(d.execute(&gm_scan(last, "T0", T0), T0).unwrap().0);
    assert_eq!(kept.status, TransactionStatus::Accepted);
}

#[test]
fn a_device_id_keeps_its_kind() {
    let mut d = domain_with_session(None);
    connect(&mut d, "GM_1", DeviceKind::Gm, T0).unwrap();
    assert!(matches!(
        d.execute(&player_scan("tok1", "GM_1", None), T0),
        Err(GmError::Invalid {
            field: "deviceId",
            ..
        })
    ));
    assert!(connect(&mut d, "GM_1", DeviceKind::Player, T0).is_err());
}

#[test]
fn a_player_over_the_limit_cannot_scan() {
    let mut d = domain_with_session(None);
    d.execute(&player_scan("tok1", "P1", None), T0).unwrap();
    let err = d.execute(&player_scan("tok1", "P2", None), T0).unwrap_err();
    assert!(matches!(err, GmError::DeviceLimit { .. }));
}

#[test]
fn idle_players_are_swept_but_recent_ones_stay() {
    let mut d = domain_with_session(None);
    d.execute(&player_scan("tok1", "P1", None), T0).unwrap();
    let (_, events) = d
        .execute(&GmCommand::SweepIdleDevices, T0 + 30_000)
        .unwrap();
    assert!(events.is_empty());
    let (_, events) = d
        .execute(&GmCommand::SweepIdleDevices, T0 + 61_000)
        .unwrap();
    assert_eq!(events.len(), 1);
    assert!(!d.view().devices[0].connected);
}

#[test]
fn a_heartbeat_moves_last_seen_but_logs_at_most_every_30_s() {
    let mut d = domain_with_session(None);
    connect(&mut d, "GM_1", DeviceKind::Gm, T0).unwrap();
    let seen = |id: &str| GmCommand::SeenDevice {
        device_id: id.into(),
    };
    let (_, events) = d.execute(&seen("GM_1"), T0 + 10_000).unwrap();
    assert!(events.is_empty(), "seen 10 s ago: nothing to log");
    let (_, events) = d.execute(&seen("GM_1"), T0 + 45_000).unwrap();
    assert_eq!(events.len(), 1);
    let last_seen = |d: &GmState| d.view().devices[0].last_seen;
    assert_eq!(last_seen(&d), T0 + 45_000);
    let (_, events) = d.execute(&seen("ghost"), T0 + 90_000).unwrap();
    assert!(events.is_empty(), "an unknown device changes nothing");
}

#[test]
fn recovery_disconnects_devices_and_restarts_the_interrupted_video() {
    let mut d = domain_with_session(None);
    connect(&mut d, "GM_1", DeviceKind::Gm, T0).unwrap();
    queue_video(&mut d, "vid1");
    let events = d.recover(T0 + 5);
    for event in &events {
        d.apply(event);
    }
    assert!(events.iter().any(|e| matches!(
        e,
        GmEvent::VideoEnded {
            outcome: PlaybackOutcome::Interrupted,
            ..
        }
    )));
    assert!(d.view().devices.iter().all(|dev| !dev.connected));
    assert_eq!(d.video_view().current.unwrap().token_id, "vid1");
}

#[test]
fn replaying_the_events_rebuilds_identical_state() {
    let mut live = domain_with_session(None);
    let mut log = vec![GmEvent::SessionCreated {
        session_id: "s1".into(),
        name: "Friday".into(),
        teams: None,
        at: T0,
    }];
    let commands = [
        gm_scan("grpA", "TEAM_A", T0),
        gm_scan("grpB", "TEAM_A", T0 + 1),
        gm_scan("grpB", "TEAM_B", T0 + 2),
        player_scan("vid1", "P1", Some("x")),
        GmCommand::ControlSession(SessionControl::Pause),
        gm_scan("tok1", "TEAM_B", T0 + 3),
    ];
    for command in &commands {
        let (_, events) = live.execute(command, T0 + 10).unwrap();
        log.extend(events);
    }
    let mut replayed = GmState::new(catalog(), limits());
    for event in &log {
        replayed.apply(event);
    }
    assert_eq!(replayed.view(), live.view());
    assert_eq!(
        replayed.snapshot(),
        live.snapshot(),
        "what the view does not show, too"
    );
}

#[test]
fn a_snapshot_restores_the_same_state_and_refuses_another_catalogue() {
    let mut d = domain_with_session(Some(vec!["TEAM_A", "TEAM_B"]));
    // Half a group held: the snapshot must carry which tokens the team holds.
    d.execute(&gm_scan("grpA", "TEAM_A", T0), T0).unwrap();
    d.execute(&player_scan("vid1", "P1", Some("c-9")), T0)
        .unwrap();
    let snapshot = d.snapshot();
    let bytes = postcard::to_stdvec(&snapshot).unwrap();
    let decoded: GmSnapshot = postcard::from_bytes(&bytes).unwrap();
    let mut restored = GmState::restore(catalog(), limits(), decoded.clone()).unwrap();
    assert_eq!(restored.view(), d.view());
    assert_eq!(restored.snapshot(), snapshot);
    // It goes on exactly like the original: the group completes with its bonus.
    let completes = gm_scan("grpB", "TEAM_A", T0 + 1);
    assert_eq!(
        restored.execute(&completes, T0 + 1),
        d.execute(&completes, T0 + 1)
    );
    assert_eq!(score_of(&restored, "TEAM_A"), 3_200);
    let next = gm_scan("tok2", "TEAM_B", T0 + 1);
    assert_eq!(restored.execute(&next, T0 + 1), d.execute(&next, T0 + 1));
    let resend = player_scan("vid1", "P1", Some("c-9"));
    assert_eq!(
        restored.execute(&resend, T0 + 2),
        d.execute(&resend, T0 + 2)
    );

    let other = TokenCatalog::from_venue_json(
        r#"{"tok1": {"SF_ValueRating": 5, "SF_MemoryType": "Personal"}}"#,
        &ScoringRules::default(),
    )
    .unwrap();
    assert!(GmState::restore(other, limits(), decoded).is_none());
}

#[test]
fn only_the_last_transactions_are_kept_in_memory() {
    let mut d = domain_with_session(None);
    for i in 0..(RECENT_TRANSACTIONS + 20) {
        d.execute(&gm_scan("tok1", "TEAM_A", T0 + i as u64), T0)
            .unwrap();
    }
    let view = d.view();
    assert_eq!(view.recent_transactions.len(), RECENT_TRANSACTIONS);
    assert_eq!(view.recent_transactions.last().unwrap().id, "tx-00000120");
    assert_eq!(d.session_transaction_count(), RECENT_TRANSACTIONS + 20);
}

#[test]
fn failed_commands_change_nothing() {
    let mut d = domain_with_session(None);
    d.execute(&gm_scan("tok1", "TEAM_A", T0), T0).unwrap();
    let before = d.view();
    let bad = [
        GmCommand::CreateSession {
            session_id: "x".into(),
            name: "y".into(),
            teams: None,
        },
        GmCommand::ControlSession(SessionControl::Resume),
        GmCommand::QueueVideo {
            token_id: "ghost".into(),
        },
        GmCommand::ControlVideo(VideoControl::Skip),
        GmCommand::DisconnectDevice {
            device_id: "ghost".into(),
            reason: DisconnectReason::Manual,
        },
        GmCommand::Scan(ScanRequest {
            token_id: String::new(),
            team_id: None,
            device_id: "GM_1".into(),
            device_kind: DeviceKind::Gm,
            scanned_at: Some(T0),
            client_scan_id: None,
        }),
    ];
    for command in &bad {
        assert!(d.execute(command, T0).is_err(), "{command:?}");
        assert_eq!(d.view(), before, "{command:?}");
    }
}

/// The box's default (no `[gm] reconnect_grace_secs`): a station keeps its slot for 30 s after
/// it leaves, to the millisecond.
#[test]
fn a_station_keeps_its_slot_for_30_s_by_default() {
    let limits = crate::config::Config::default().limits;
    assert_eq!(limits.reconnect_grace_ms, 30_000);
    let stations = limits.max_gm_stations;
    let mut d = GmState::new(catalog(), limits);
    for i in 1..=stations {
        connect(&mut d, &format!("GM_{i}"), DeviceKind::Gm, T0).unwrap();
    }
    d.execute(
        &GmCommand::DisconnectDevice {
            device_id: "GM_1".into(),
            reason: DisconnectReason::Manual,
        },
        T0,
    )
    .unwrap();
    assert!(
        connect(&mut d, "GM_NEW", DeviceKind::Gm, T0 + 29_999).is_err(),
        "29.999 s after it left, the slot is still GM_1's"
    );
    assert_eq!(
        connect(&mut d, "GM_NEW", DeviceKind::Gm, T0 + 30_000),
        Ok(false),
        "at 30 s the slot is free"
    );
}
