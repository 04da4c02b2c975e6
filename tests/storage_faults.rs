//! A full or failing SD card, end to end over HTTP: the box keeps serving reads, refuses changes
//! with SERVER_ERROR, shows the fault in /healthz and on the LEDs, and accepts changes again by
//! itself once the card works.

mod common;

use std::time::Duration;

use common::{http, TestBox};
use serde_json::json;
use venuebox::auth::Role;
use venuebox::store::faults::{FaultKind, FaultPlan};

/// A player scan of `token_id` with the client id `scan_id`.
async fn scan(
    addr: std::net::SocketAddr,
    player: &str,
    token_id: &str,
    scan_id: &str,
) -> (u16, serde_json::Value) {
    let body = json!({"tokenId": token_id, "scanId": scan_id});
    http(addr, "POST", "/api/scan", player, Some(body)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_survived_and_recovered_from() {
    let dir = tempfile::tempdir().unwrap();
    let plan = FaultPlan::new();
    let the_box = TestBox::start(dir.path(), "", Some(plan.clone())).await;
    let admin = the_box.token(Role::Admin, "admin");
    let player = the_box.token(Role::Player, "P1");
    let addr = the_box.addr;

    let (status, _) = http(
        addr,
        "POST",
        "/api/session",
        &admin,
        Some(json!({"name": "night"})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, first) = scan(addr, &player, "mem001", "a").await;
    assert_eq!(status, 200, "{first}");

    plan.fail_now(FaultKind::DiskFull);
    let (status, refused) = scan(addr, &player, "mem002", "b").await;
    assert_eq!(status, 503, "{refused}");
    assert_eq!(refused["code"], "SERVER_ERROR");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("nothing was saved"),
        "{refused}"
    );

    let (status, health) = http(addr, "GET", "/healthz", "", None).await;
    assert_eq!(status, 503);
    assert_eq!(health["status"], "fault");
    let (status, state) = http(addr, "GET", "/api/state", "", None).await;
    assert_eq!(status, 200, "reads still work");
    assert_eq!(state["systemStatus"]["storageOk"], false);
    assert_eq!(
        state["recentTransactions"].as_array().unwrap().len(),
        1,
        "the refused scan is not there"
    );
    // The LED task follows the published state; give it a moment.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, state) = http(addr, "GET", "/api/state", "", None).await;
    assert_eq!(state["systemStatus"]["statusLeds"], "storage_fault");

    plan.clear();
    let mut recovered = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if http(addr, "GET", "/healthz", "", None).await.0 == 200 {
            recovered = true;
            break;
        }
    }
    assert!(recovered, "the box retries the card by itself");
    let (status, again) = scan(addr, &player, "mem002", "b").await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        again["replayed"], false,
        "the refused scan was never recorded"
    );

    the_box.stop().await;
}
