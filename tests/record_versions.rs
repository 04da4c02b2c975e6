//! Logs written by earlier record versions must keep loading. `tests/fixtures/` holds one log per
//! record version, written by the build that introduced it (`log-record-v1.redb`: a short game
//! with every kind of event). When the record format changes, the new build must still replay
//! every fixture here to the same state.

use venuebox::domain::{
    Command, DeviceKind, Domain, Limits, Outcome, ScanRequest, ScoringRules, SessionStatus,
    TokenCatalog, TransactionStatus,
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
