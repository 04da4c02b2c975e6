//! A full or failing SD card, end to end over HTTP: the box keeps serving reads, refuses changes
//! with SERVER_ERROR, shows the fault in /healthz and on the LEDs, and accepts changes again by
//! itself once the card works.

mod common;

use std::time::Duration;

use common::{http, wait_until, TestBox};

/// Limit for what the box reaches on its own time, generous for a busy 2-core machine.
const LONG: Duration = Duration::from_secs(30);
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
    // The LED task follows the published state on its own time.
    wait_until("the LEDs show the storage fault", LONG, || async {
        let (_, state) = http(addr, "GET", "/api/state", "", None).await;
        state["systemStatus"]["statusLeds"] == "storage_fault"
    })
    .await;

    plan.clear();
    wait_until("the box retries the card by itself", LONG, || async {
        http(addr, "GET", "/healthz", "", None).await.0 == 200
    })
    .await;
    let (status, again) = scan(addr, &player, "mem002", "b").await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        again["replayed"], false,
        "the refused scan was never recorded"
    );

    the_box.stop().await;
}

/// The SD image's box with its data partition missing: it waits, says so, and writes nothing
/// to the directory underneath (a fresh box there would lose its password at the next boot).
#[test]
fn a_missing_data_partition_is_a_fault_never_a_fresh_start() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let config = dir.path().join("venuebox.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = {:?}\nrequire_data_mount = true\n",
            data.display().to_string()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_venuebox"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("RUST_LOG", "venuebox=info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    // Read on a thread: a box that serves instead of waiting never prints the line, and the
    // test must then fail rather than hang.
    let (found, fault) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let line = BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .find(|line| line.contains("data partition is not mounted"));
        let _ = found.send(line);
    });
    let fault_line = fault
        .recv_timeout(std::time::Duration::from_secs(60))
        .ok()
        .flatten();
    let still_running = child.try_wait().unwrap().is_none();
    let written: Vec<_> = std::fs::read_dir(&data).unwrap().collect();
    child.kill().unwrap();
    let stdout = {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut text).unwrap();
        text
    };
    child.wait().unwrap();

    let fault_line = fault_line.expect("the box logs the missing partition");
    assert!(
        fault_line.contains(&data.display().to_string()),
        "{fault_line}"
    );
    assert!(still_running, "the box waits for the partition");
    assert!(
        written.is_empty(),
        "nothing written underneath: {written:?}"
    );
    assert!(!stdout.contains("listening"), "it does not serve: {stdout}");
}
