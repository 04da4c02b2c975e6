//! A full or failing SD card, end to end over HTTP: the box keeps serving reads, refuses changes
//! with SERVER_ERROR, shows the fault in /healthz and on the LEDs, and accepts changes again by
//! itself once the card works.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use venuebox::auth::Role;
use venuebox::config::{Config, Overrides};
use venuebox::server::Prepared;
use venuebox::store::faults::{FaultKind, FaultPlan};

/// One HTTP/1.1 request on a fresh connection; returns status and JSON body.
async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: box\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    let status = response[9..12].parse().expect("status code");
    let json = response
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (status, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_survived_and_recovered_from() {
    let dir = tempfile::tempdir().unwrap();
    let overrides = Overrides {
        listen: Some("127.0.0.1:0".into()),
        data_dir: Some(dir.path().to_path_buf()),
        ..Overrides::default()
    };
    let config = Config::load(None, &overrides).unwrap();
    let plan = FaultPlan::new();
    let prepared = Prepared::with_fault_plan(config, plan.clone()).unwrap();
    let admin = prepared
        .secrets
        .mint(Role::Admin, "admin", Duration::from_secs(600))
        .unwrap();
    let player = prepared
        .secrets
        .mint(Role::Player, "P1", Duration::from_secs(600))
        .unwrap();
    let listener = prepared.bind().await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(prepared.serve(listener, async move {
        let _ = stopped.await;
    }));

    let (status, _) = http(
        addr,
        "POST",
        "/api/session",
        &admin,
        Some(json!({"name": "night"})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, first) = http(
        addr,
        "POST",
        "/api/scan",
        &player,
        Some(json!({"tokenId": "mem001", "scanId": "a"})),
    )
    .await;
    assert_eq!(status, 200, "{first}");

    plan.fail_now(FaultKind::DiskFull);
    let (status, refused) = http(
        addr,
        "POST",
        "/api/scan",
        &player,
        Some(json!({"tokenId": "mem002", "scanId": "b"})),
    )
    .await;
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
    assert_eq!(state["systemStatus"]["statusLeds"], "fault");

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
    let (status, again) = http(
        addr,
        "POST",
        "/api/scan",
        &player,
        Some(json!({"tokenId": "mem002", "scanId": "b"})),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        again["replayed"], false,
        "the refused scan was never recorded"
    );

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
