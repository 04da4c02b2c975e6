//! Logs written by earlier record versions must keep loading. `tests/fixtures/` holds one log per
//! record version, written by the build that introduced it (`log-record-v1.redb`: a short game
//! with every kind of event), and one per group of event variants appended within a version
//! (`log-record-v1-predictions.redb`: a session reset and a whole prediction round, written
//! through the HTTP API of the build that added them). When the record format changes, the new
//! build must still replay every fixture here to the same state.

use venuebox::domain::predictions::CloseReason;
use venuebox::domain::{
    Command, DeviceKind, Domain, Limits, Outcome, PredictionCommand, PredictionOutcome,
    ScanRequest, ScoringRules, SessionStatus, TokenCatalog, TransactionStatus,
};
use venuebox::store::Store;

fn replay_fixture(name: &str) -> (Domain, u64) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("venuebox.redb");
    std::fs::copy(
        format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR")),
        &path,
    )
    .expect("fixture present");
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
    let (mut domain, count) = replay_fixture("log-record-v1.redb");
    assert_eq!(count, 20);
    let view = domain.view();

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
            &Command::Scan(ScanRequest {
                token_id: "mem001".into(),
                team_id: Some("TEAM_C".into()),
                device_id: "GM_FIX".into(),
                device_kind: DeviceKind::Gm,
                scanned_at: 0,
                client_scan_id: Some("f-6".into()),
            }),
            0,
        )
        .unwrap();
    assert!(matches!(
        again.0,
        Outcome::Transaction { replayed: true, .. }
    ));
}

#[test]
fn a_record_v1_log_with_a_reset_and_a_prediction_round_replays() {
    let (mut domain, count) = replay_fixture("log-record-v1-predictions.redb");
    assert_eq!(count, 9);
    let view = domain.view();

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

    let prediction = view.prediction("pred-fx").expect("the prediction is back");
    assert_eq!(prediction.title, "Who wins?");
    assert_eq!(prediction.game_id.as_deref(), Some("g1"));
    assert_eq!(prediction.cost_per_vote, 10);
    assert_eq!(prediction.prompt_versions["session"], "v12");
    assert_eq!(prediction.totals["a"], 10);
    assert_eq!(prediction.totals["b"], 30);
    let result = prediction.result.as_ref().expect("closed");
    assert_eq!(result.winner.as_deref(), Some("b"));
    assert_eq!(result.reason, CloseReason::Manual);
    assert_eq!(view.balances["ada"], 460, "500 granted, 30 + 10 spent");

    // Remembered vote ids still answer resends, spending nothing.
    let (outcome, events) = domain
        .execute(
            &Command::Prediction(PredictionCommand::Vote {
                prediction_id: "pred-fx".into(),
                user_id: "ada".into(),
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
        Outcome::Prediction(PredictionOutcome::Receipt { replayed: true, .. })
    ));
}
