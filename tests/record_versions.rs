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

use std::collections::BTreeMap;
use std::path::PathBuf;

use venuebox::domain::{Command, Domain, Event, Outcome};
use venuebox::gm::domain::{
    DeviceKind, GmCommand, GmOutcome, Limits, ScanRequest, SessionStatus, TransactionStatus,
};
use venuebox::gm::tokens::{ScoringRules, TokenCatalog};
use venuebox::predictions::domain::{CloseReason, PredictionCommand, PredictionOutcome};
use venuebox::store::{maintenance, Store};

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
