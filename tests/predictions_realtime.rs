//! The live-predictions contract (seed 002) end to end: the real server on loopback, the
//! tokio-tungstenite WebSocket client, HTTP for the REST side.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::TestBox;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};
use venuebox::auth::Role;
use venuebox::domain::Event;
use venuebox::predictions::domain::PredictionEvent;
use venuebox::store::Store;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Connects and, unless `streamer` is "nobody", subscribes to `streamer:{streamer}` and waits
/// until the box confirms it, so nothing published afterwards can be missed.
async fn open(the_box: &TestBox, token: &str, streamer: &str) -> Ws {
    let url = format!("ws://{}/realtime?token={token}", the_box.addr);
    let mut ws = connect_async(url).await.expect("websocket upgrade").0;
    if streamer != "nobody" {
        let channel = format!("streamer:{streamer}");
        let mut last_seq = serde_json::Map::new();
        last_seq.insert(channel.clone(), json!(0));
        send(
            &mut ws,
            json!({"action": "subscribe", "channels": [channel], "lastSeq": last_seq}),
        )
        .await;
        until(
            &mut ws,
            &mut Vec::new(),
            Duration::from_secs(5),
            is("SYSTEM_NOTICE"),
        )
        .await;
    }
    ws
}

/// The next JSON message matching `wanted`, within `timeout`; earlier ones are collected.
async fn until(
    ws: &mut Ws,
    seen: &mut Vec<Value>,
    timeout: Duration,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let frame = tokio::time::timeout(left, ws.next())
            .await
            .unwrap_or_else(|_| panic!("timed out; saw {seen:?}"))
            .expect("socket open")
            .expect("frame");
        if let Message::Text(text) = frame {
            let value: Value = serde_json::from_str(text.as_str()).expect("JSON message");
            seen.push(value.clone());
            if wanted(&value) {
                return value;
            }
        }
    }
}

fn is(kind: &'static str) -> impl Fn(&Value) -> bool {
    move |v| v["type"] == kind
}

/// The close frame's code and reason, reading past anything else, within `timeout`; `None`
/// when the connection ended without one.
async fn close_of(ws: &mut Ws, timeout: Duration) -> Option<(u16, String)> {
    tokio::time::timeout(timeout, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(frame))) => {
                    break frame.map(|f| (u16::from(f.code), f.reason.to_string()))
                }
                None | Some(Err(_)) => break None,
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .expect("the connection closed in time")
}

async fn send(ws: &mut Ws, value: Value) {
    ws.send(Message::Text(value.to_string().into()))
        .await
        .expect("sent");
}

/// Subscribes to `channel` resuming after `last_seq`; returns the notice code (RESUMED/SNAPSHOT).
async fn resume(ws: &mut Ws, seen: &mut Vec<Value>, channel: &str, last_seq: u64) -> String {
    let mut last = serde_json::Map::new();
    last.insert(channel.to_string(), json!(last_seq));
    send(
        ws,
        json!({"action": "subscribe", "channels": [channel], "lastSeq": last}),
    )
    .await;
    let notice = until(ws, seen, Duration::from_secs(5), is("SYSTEM_NOTICE")).await;
    notice["payload"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn create(the_box: &TestBox, admin: &str, id: &str, closes_in: Duration) -> Value {
    let closes_at = std::time::SystemTime::now() + closes_in;
    let (status, body) = the_box
        .http(
            "POST",
            "/api/predictions",
            admin,
            Some(json!({
                "id": id,
                "streamerId": "s1",
                "gameId": "g1",
                "title": "Who takes round one?",
                "options": [{"id": "red", "label": "Red team"}, {"id": "blue", "label": "Blue team"}],
                "costPerVote": 10,
                "closesAt": humantime::format_rfc3339_millis(closes_at).to_string(),
                "promptVersions": {"session": "v12", "game": "v3"},
            })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body
}

async fn grant(the_box: &TestBox, admin: &str, user: &str, amount: u64) {
    let (status, body) = the_box
        .http(
            "POST",
            &format!("/api/users/{user}/grants"),
            admin,
            Some(json!({"amount": amount, "reason": "welcome"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn vote(
    the_box: &TestBox,
    token: &str,
    event: &str,
    option: &str,
    votes: u64,
    id: &str,
) -> (u16, Value) {
    the_box
        .http(
            "POST",
            &format!("/api/predictions/{event}/votes"),
            token,
            Some(json!({"optionId": option, "votes": votes, "clientVoteId": id})),
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_round_from_login_to_result() {
    let dir = tempfile::tempdir().unwrap();
    let the_box = TestBox::start(dir.path(), "", None).await;
    // Staff and viewers log in the way the seed says.
    let pin = the_box.secrets.viewer_pin().to_string();
    let (status, login) = the_box
        .http(
            "POST",
            "/api/auth",
            "",
            Some(json!({"name": "Alice", "pin": pin})),
        )
        .await;
    assert_eq!(status, 200, "{login}");
    assert_eq!(login["userId"], "alice");
    let alice = login["token"].as_str().unwrap().to_string();
    let (status, wrong) = the_box
        .http(
            "POST",
            "/api/auth",
            "",
            Some(json!({"name": "Mallory", "pin": "000000x"})),
        )
        .await;
    assert_eq!(status, 401, "{wrong}");
    let admin = the_box.token(Role::Admin, "admin");
    let bob = the_box.token(Role::Viewer, "bob");

    let mut ws = open(&the_box, &alice, "s1").await;
    send(
        &mut ws,
        json!({"action": "subscribe", "channels": ["user:alice", "game:g1"],
               "lastSeq": {"user:alice": 0, "game:g1": 0}}),
    )
    .await;
    let mut seen = Vec::new();

    grant(&the_box, &admin, "alice", 100).await;
    grant(&the_box, &admin, "bob", 100).await;
    let balance = until(
        &mut ws,
        &mut seen,
        Duration::from_secs(5),
        is("BALANCE_UPDATED"),
    )
    .await;
    assert_eq!(balance["payload"]["balance"], 100);
    assert_eq!(balance["channel"], "user:alice");

    // Long enough for the votes below to land before it closes on a busy machine.
    create(&the_box, &admin, "p1", Duration::from_secs(10)).await;
    let created = until(
        &mut ws,
        &mut seen,
        Duration::from_secs(5),
        is("EVENT_CREATED"),
    )
    .await;
    assert_eq!(created["payload"]["event"]["id"], "p1");
    assert_eq!(
        created["payload"]["event"]["promptVersions"]["session"],
        "v12"
    );
    assert_eq!(created["payload"]["event"]["costPerVote"], 10);

    let (status, receipt) = vote(&the_box, &alice, "p1", "red", 3, "a-1").await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt["balance"], 70);
    let mine = until(&mut ws, &mut seen, Duration::from_secs(5), |v| {
        v["type"] == "BALANCE_UPDATED" && v["payload"]["balance"] == 70
    })
    .await;
    assert_eq!(mine["channel"], "user:alice");
    let (status, _) = vote(&the_box, &bob, "p1", "blue", 5, "b-1").await;
    assert_eq!(status, 200);
    let totals = until(&mut ws, &mut seen, Duration::from_secs(5), |v| {
        v["type"] == "EVENT_UPDATED" && v["payload"]["totals"]["blue"] == 50
    })
    .await;
    assert_eq!(totals["payload"]["totals"]["red"], 30);

    // The deadline closes it by itself; blue wins.
    let closed = until(
        &mut ws,
        &mut seen,
        Duration::from_secs(20),
        is("EVENT_CLOSED"),
    )
    .await;
    assert_eq!(closed["payload"]["eventId"], "p1");
    assert_eq!(closed["payload"]["result"]["optionId"], "blue");
    assert_eq!(closed["payload"]["result"]["totals"]["blue"], 50);
    let (status, late) = vote(&the_box, &alice, "p1", "red", 1, "a-2").await;
    assert_eq!(status, 409, "{late}");

    // Balances: your own, or staff.
    let (status, own) = the_box
        .http("GET", "/api/users/alice/balance", &alice, None)
        .await;
    assert_eq!((status, own["balance"].as_u64()), (200, Some(70)));
    let (status, _) = the_box
        .http("GET", "/api/users/bob/balance", &alice, None)
        .await;
    assert_eq!(status, 403);
    let (status, presence) = the_box.http("GET", "/api/presence", &admin, None).await;
    assert_eq!(status, 200);
    assert_eq!(presence["channels"]["streamer:s1"], 1);
    the_box.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vote_flood_is_coalesced_and_the_final_totals_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let the_box = TestBox::start(dir.path(), "", None).await;
    let admin = the_box.token(Role::Admin, "admin");
    let watcher = the_box.token(Role::Viewer, "watcher");
    let mut ws = open(&the_box, &watcher, "s1").await;
    // Two open predictions on one channel: the cap is per channel, so their totals share frames.
    create(&the_box, &admin, "flood", Duration::from_secs(120)).await;
    create(&the_box, &admin, "flood2", Duration::from_secs(120)).await;
    let viewers: Vec<String> = (0..10).map(|i| format!("v{i}")).collect();
    for v in &viewers {
        grant(&the_box, &admin, v, 1_000_000).await;
    }
    let started = Instant::now();
    let mut votes = Vec::new();
    for (i, v) in viewers.iter().enumerate() {
        let token = the_box.token(Role::Viewer, v);
        let addr = the_box.addr;
        votes.push(tokio::spawn(async move {
            let mut accepted = 0u64;
            for n in 0..15 {
                let option = if (i + n) % 3 == 0 { "red" } else { "blue" };
                let prediction = if n % 2 == 0 { "flood" } else { "flood2" };
                let body =
                    json!({"optionId": option, "votes": 1, "clientVoteId": format!("{i}-{n}")});
                let (status, _) = common::http(
                    addr,
                    "POST",
                    &format!("/api/predictions/{prediction}/votes"),
                    &token,
                    Some(body),
                )
                .await;
                accepted += u64::from(status == 200);
            }
            accepted
        }));
    }
    let mut accepted = 0;
    for v in votes {
        accepted += v.await.unwrap();
    }
    assert_eq!(accepted, 150);
    let (_, list) = the_box.http("GET", "/api/predictions", "", None).await;
    let final_totals: HashMap<String, Value> = list["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["id"].as_str().unwrap().to_string(), e["totals"].clone()))
        .collect();
    // A frame is one message or a batch (a JSON array) of them.
    let updates_in = |frame: &Value| -> Vec<Value> {
        let items = match frame {
            Value::Array(items) => items.clone(),
            one => vec![one.clone()],
        };
        items
            .into_iter()
            .filter(|v| v["type"] == "EVENT_UPDATED")
            .collect()
    };
    let mut seen = Vec::new();
    until(&mut ws, &mut seen, Duration::from_secs(5), |frame| {
        let updates = updates_in(frame);
        updates.len() == 2
            && updates.iter().all(|u| {
                u["channel"] == "streamer:s1"
                    && Some(&u["payload"]["totals"])
                        == u["payload"]["eventId"]
                            .as_str()
                            .and_then(|id| final_totals.get(id))
            })
    })
    .await;
    let elapsed = started.elapsed().as_secs_f64();
    let frames = seen.iter().filter(|f| !updates_in(f).is_empty()).count();
    // 150 votes on two predictions, yet update frames come at most four a second on the channel
    // (plus the one in flight at each end).
    assert!(
        (frames as f64) <= 4.0 * elapsed + 2.0,
        "{frames} update frames in {elapsed:.2} s"
    );
    assert!(frames < 150);
    the_box.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_client_neither_slows_others_nor_misses_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let the_box = TestBox::start(dir.path(), "", None).await;
    let admin = the_box.token(Role::Admin, "admin");
    let mut stalled = open(&the_box, &the_box.token(Role::Viewer, "sleepy"), "s1").await;
    let mut lively = open(&the_box, &the_box.token(Role::Viewer, "lively"), "s1").await;
    create(&the_box, &admin, "p1", Duration::from_secs(120)).await;
    let voters: Vec<String> = (0..20).map(|i| format!("u{i}")).collect();
    for v in &voters {
        grant(&the_box, &admin, v, 1_000_000).await;
    }
    // 1,000 votes while `stalled` reads nothing.
    let mut tasks = Vec::new();
    for (i, v) in voters.iter().enumerate() {
        let token = the_box.token(Role::Viewer, v);
        let addr = the_box.addr;
        tasks.push(tokio::spawn(async move {
            for n in 0..50 {
                let body =
                    json!({"optionId": "red", "votes": 1, "clientVoteId": format!("{i}-{n}")});
                let (status, _) = common::http(
                    addr,
                    "POST",
                    "/api/predictions/p1/votes",
                    &token,
                    Some(body),
                )
                .await;
                if status == 429 {
                    tokio::time::sleep(Duration::from_millis(60)).await;
                }
            }
        }));
    }
    // Memory held for clients while the votes flow: sampled from the admin API.
    let sampler = {
        let addr = the_box.addr;
        let admin = admin.clone();
        tokio::spawn(async move {
            let (mut largest_bytes, mut largest_messages) = (0, 0);
            for _ in 0..40 {
                let (_, presence) = common::http(addr, "GET", "/api/presence", &admin, None).await;
                let queued = &presence["queued"];
                largest_bytes = largest_bytes.max(queued["largestClientBytes"].as_u64().unwrap());
                largest_messages =
                    largest_messages.max(queued["largestClientMessages"].as_u64().unwrap());
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            (largest_bytes, largest_messages)
        })
    };
    let mut seen = Vec::new();
    until(
        &mut lively,
        &mut seen,
        Duration::from_secs(10),
        is("EVENT_UPDATED"),
    )
    .await;
    for t in tasks {
        t.await.unwrap();
    }
    let (largest_bytes, largest_messages) = sampler.await.unwrap();
    // Coalescing keeps the stalled client's queue to a handful of messages, far inside the
    // per-client bounds (256 messages, 512 KiB) whatever the vote count.
    assert!(
        largest_messages <= 16 && largest_bytes <= 16 * 1024,
        "a client held {largest_messages} messages / {largest_bytes} bytes"
    );
    let (status, _) = the_box
        .http("POST", "/api/predictions/p1/close", &admin, None)
        .await;
    assert_eq!(status, 200);
    // The lively client gets the result while the stalled one still reads nothing.
    until(
        &mut lively,
        &mut seen,
        Duration::from_secs(5),
        is("EVENT_CLOSED"),
    )
    .await;

    // The stalled client wakes up: thanks to coalescing its queue stayed small, and the
    // terminal result is there.
    let mut backlog = Vec::new();
    let result = until(
        &mut stalled,
        &mut backlog,
        Duration::from_secs(5),
        is("EVENT_CLOSED"),
    )
    .await;
    assert_eq!(result["payload"]["result"]["optionId"], "red");
    assert!(
        backlog.len() < 100,
        "the stalled client had {} messages queued",
        backlog.len()
    );
    the_box.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_gets_the_missed_messages_or_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let the_box = TestBox::start(dir.path(), "", None).await;
    let admin = the_box.token(Role::Admin, "admin");
    let viewer = the_box.token(Role::Viewer, "carol");
    let mut ws = open(&the_box, &viewer, "s1").await;
    create(&the_box, &admin, "p1", Duration::from_secs(120)).await;
    let mut seen = Vec::new();
    let first = until(
        &mut ws,
        &mut seen,
        Duration::from_secs(5),
        is("EVENT_CREATED"),
    )
    .await;
    let last_seq = first["seq"].as_u64().unwrap();
    drop(ws);

    // Missed while away: a second prediction and the first one's close.
    create(&the_box, &admin, "p2", Duration::from_secs(120)).await;
    the_box
        .http("POST", "/api/predictions/p1/close", &admin, None)
        .await;
    let mut ws = open(&the_box, &viewer, "nobody").await;
    let mut seen = Vec::new();
    assert_eq!(
        resume(&mut ws, &mut seen, "streamer:s1", last_seq).await,
        "RESUMED"
    );
    until(
        &mut ws,
        &mut seen,
        Duration::from_secs(5),
        is("EVENT_CLOSED"),
    )
    .await;
    let created: Vec<&Value> = seen
        .iter()
        .filter(|v| v["type"] == "EVENT_CREATED")
        .collect();
    assert_eq!(created.len(), 1, "only what was missed: {seen:?}");
    assert_eq!(created[0]["payload"]["event"]["id"], "p2");
    assert!(seen
        .iter()
        .filter(|v| v["seq"].is_u64())
        .all(|v| v["seq"].as_u64() > Some(last_seq)));
    drop(ws);

    // After a restart the channel's recent messages are gone: the missed ones come from the log.
    the_box.stop().await;
    let the_box = TestBox::start(dir.path(), "[realtime]\nresume_window_events = 5\n", None).await;
    let mut ws = open(&the_box, &viewer, "nobody").await;
    let mut seen = Vec::new();
    assert_eq!(
        resume(&mut ws, &mut seen, "streamer:s1", last_seq).await,
        "RESUMED"
    );
    until(&mut ws, &mut seen, Duration::from_secs(5), |v| {
        v["type"] == "EVENT_CLOSED" && v["payload"]["eventId"] == "p1"
    })
    .await;
    let created: Vec<&Value> = seen
        .iter()
        .filter(|v| v["type"] == "EVENT_CREATED")
        .collect();
    assert_eq!(created.len(), 1, "{seen:?}");
    assert_eq!(created[0]["payload"]["event"]["id"], "p2");
    // Live messages follow the replay.
    let admin = the_box.token(Role::Admin, "admin");
    create(&the_box, &admin, "p3", Duration::from_secs(120)).await;
    until(&mut ws, &mut seen, Duration::from_secs(5), |v| {
        v["type"] == "EVENT_CREATED" && v["payload"]["event"]["id"] == "p3"
    })
    .await;
    drop(ws);

    // More than the resume window since then: a snapshot of the channel instead.
    for n in 0..6 {
        grant(&the_box, &admin, &format!("filler{n}"), 1).await;
    }
    let mut ws = open(&the_box, &viewer, "nobody").await;
    let mut seen = Vec::new();
    assert_eq!(
        resume(&mut ws, &mut seen, "streamer:s1", last_seq).await,
        "SNAPSHOT"
    );
    until(&mut ws, &mut seen, Duration::from_secs(5), |v| {
        v["type"] == "EVENT_CREATED" && v["payload"]["event"]["id"] == "p3"
    })
    .await;
    the_box.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn double_spends_and_overdrafts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let the_box = TestBox::start(dir.path(), "", None).await;
    let admin = the_box.token(Role::Admin, "admin");
    let dave = the_box.token(Role::Viewer, "dave");
    create(&the_box, &admin, "p1", Duration::from_secs(120)).await;
    grant(&the_box, &admin, "dave", 50).await;
    // The same vote sent five times at once: spent once.
    let mut same = Vec::new();
    for _ in 0..5 {
        let addr = the_box.addr;
        let token = dave.clone();
        same.push(tokio::spawn(async move {
            common::http(
                addr,
                "POST",
                "/api/predictions/p1/votes",
                &token,
                Some(json!({"optionId": "red", "votes": 2, "clientVoteId": "once"})),
            )
            .await
        }));
    }
    for call in same {
        let (status, body) = call.await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["balance"], 30);
    }
    // Different votes that together cost more than the balance: some are refused, never below 0.
    let mut different = Vec::new();
    for n in 0..5 {
        let addr = the_box.addr;
        let token = dave.clone();
        different.push(tokio::spawn(async move {
            common::http(
                addr,
                "POST",
                "/api/predictions/p1/votes",
                &token,
                Some(json!({"optionId": "blue", "votes": 1, "clientVoteId": format!("d{n}")})),
            )
            .await
        }));
    }
    let mut accepted = 0;
    for call in different {
        let (status, body) = call.await.unwrap();
        match status {
            200 => accepted += 1,
            409 => assert_eq!(body["code"], "INSUFFICIENT_BALANCE"),
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(accepted, 3);
    let (_, balance) = the_box
        .http("GET", "/api/users/dave/balance", &dave, None)
        .await;
    assert_eq!(balance["balance"], 0);
    // A viewer cannot grant, staff cannot vote.
    let (status, _) = the_box
        .http(
            "POST",
            "/api/users/dave/grants",
            &dave,
            Some(json!({"amount": 5, "reason": "me"})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = vote(&the_box, &admin, "p1", "red", 1, "staff").await;
    assert_eq!(status, 403);
    the_box.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_get_a_notice_and_the_connection_stays() {
    let dir = tempfile::tempdir().unwrap();
    let the_box = TestBox::start(dir.path(), "", None).await;
    let erin = the_box.token(Role::Viewer, "erin");
    let mut ws = open(&the_box, &erin, "s1").await;
    let mut seen = Vec::new();
    for (frame, code) in [
        (Message::Text("{not json".into()), "BAD_COMMAND"),
        (
            Message::Text(json!({"action": "dance"}).to_string().into()),
            "BAD_COMMAND",
        ),
        (
            Message::Text(
                json!({"action": "subscribe", "channels": []})
                    .to_string()
                    .into(),
            ),
            "BAD_COMMAND",
        ),
        (
            Message::Text(
                json!({"action": "subscribe", "channels": ["user:frank"]})
                    .to_string()
                    .into(),
            ),
            "FORBIDDEN_CHANNEL",
        ),
        (
            Message::Text(
                json!({"action": "subscribe", "channels": ["weather:today"]})
                    .to_string()
                    .into(),
            ),
            "FORBIDDEN_CHANNEL",
        ),
        (Message::Binary(vec![1, 2, 3].into()), "BAD_COMMAND"),
    ] {
        ws.send(frame).await.unwrap();
        let notice = until(
            &mut ws,
            &mut seen,
            Duration::from_secs(5),
            is("SYSTEM_NOTICE"),
        )
        .await;
        assert_eq!(notice["payload"]["code"], code, "{notice}");
    }
    // Still connected: a good subscription works.
    send(
        &mut ws,
        json!({"action": "subscribe", "channels": ["user:erin"], "lastSeq": {"user:erin": 0}}),
    )
    .await;
    until(&mut ws, &mut seen, Duration::from_secs(5), |v| {
        v["type"] == "SYSTEM_NOTICE" && v["payload"]["code"] != "BAD_COMMAND"
    })
    .await;

    // A frame over 16 KiB closes the connection.
    ws.send(Message::Text("x".repeat(20 * 1024).into()))
        .await
        .ok();
    let end = close_of(&mut ws, Duration::from_secs(5)).await;
    assert_eq!(
        end.map(|(code, _)| code),
        Some(1009),
        "closed as 'message too big'"
    );

    // Without a token, or with the wrong role, no upgrade.
    let refused = connect_async(format!("ws://{}/realtime?streamerId=s1", the_box.addr)).await;
    assert!(refused.is_err());
    let gm = the_box.token(Role::Gm, "GM_1");
    let refused = connect_async(format!("ws://{}/realtime?token={gm}", the_box.addr)).await;
    assert!(refused.is_err());
    the_box.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_answers_pings_is_dropped_and_its_slot_freed() {
    let dir = tempfile::tempdir().unwrap();
    let the_box = TestBox::start(dir.path(), "[realtime]\nping_interval_secs = 1\n", None).await;
    let admin = the_box.token(Role::Admin, "admin");
    let mut silent = open(&the_box, &the_box.token(Role::Viewer, "silent"), "s1").await;
    // Reads nothing either (so tungstenite sends no pong frames), but answers in JSON.
    let mut json_ponger = open(&the_box, &the_box.token(Role::Viewer, "ponger"), "s1").await;
    let ponging = tokio::spawn(async move {
        loop {
            send(&mut json_ponger, json!({"action": "pong"})).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });
    // Present once its subscription is in; gone once it missed a ping. Reading nothing means
    // answering no ping (tungstenite answers pings as it reads).
    let watchers = || async {
        let (_, presence) = the_box.http("GET", "/api/presence", &admin, None).await;
        presence["channels"]["streamer:s1"].as_u64().unwrap_or(0)
    };
    let mut seen_present = false;
    let mut gone = false;
    for _ in 0..100 {
        let now = watchers().await;
        seen_present |= now == 2;
        if seen_present && now < 2 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen_present, "both clients were subscribed");
    assert!(
        gone,
        "the silent client's slot was freed after it missed a ping"
    );
    // Three more ping intervals: the client answering with {"action": "pong"} stays.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(watchers().await, 1, "a JSON pong counts as an answer");
    ponging.abort();
    let close = close_of(&mut silent, Duration::from_secs(5)).await;
    assert_eq!(
        close.map(|(code, _)| code),
        Some(4000),
        "closed for not answering pings"
    );
    the_box.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_cannot_keep_up_is_cut_with_its_resume_point_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let the_box = TestBox::start(dir.path(), "[realtime]\nqueue_messages = 8\n", None).await;
    let admin = the_box.token(Role::Admin, "admin");
    let sleepy = the_box.token(Role::Viewer, "sleepy");
    // A client with a tiny receive window that reads nothing for now.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(2048).unwrap();
    let stream = socket.connect(the_box.addr).await.unwrap();
    let url = format!(
        "ws://{}/realtime?streamerId=s1&token={sleepy}",
        the_box.addr
    );
    let (mut stalled, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    let mut lively = open(&the_box, &the_box.token(Role::Viewer, "lively"), "s1").await;
    // The lively client reads all along.
    let lively_reader = tokio::spawn(async move {
        let mut seen = Vec::new();
        until(&mut lively, &mut seen, Duration::from_secs(30), |v| {
            v["type"] == "EVENT_CREATED" && v["payload"]["event"]["id"] == "p199"
        })
        .await;
        seen.iter().filter(|v| v["type"] == "EVENT_CREATED").count()
    });

    // Large event-class messages (never coalesced) until the stalled client's queue overflows.
    let closes_at = std::time::SystemTime::now() + Duration::from_secs(600);
    let options: Vec<Value> = (0..10)
        .map(|i| json!({"id": format!("o{i}"), "label": "a long option label ".repeat(10)}))
        .collect();
    for n in 0..200 {
        let body = json!({
            "id": format!("p{n}"),
            "streamerId": "s1",
            "title": "a long question ".repeat(12),
            "options": options,
            "costPerVote": 1,
            "closesAt": humantime::format_rfc3339_millis(closes_at).to_string(),
        });
        let (status, created) = the_box
            .http("POST", "/api/predictions", &admin, Some(body))
            .await;
        assert_eq!(status, 201, "{created}");
    }
    assert_eq!(
        lively_reader.await.unwrap(),
        200,
        "the lively client got every message"
    );

    // The stalled client now reads: what was already on the wire, then the close with its resume point.
    let mut last_seq = 0;
    let mut texts = 0;
    let close = loop {
        let next = tokio::time::timeout(Duration::from_secs(5), stalled.next()).await;
        let frame = match next {
            Ok(Some(Ok(frame))) => frame,
            other => panic!("after {texts} messages: {other:?}"),
        };
        match frame {
            Message::Text(text) => {
                let v: Value = serde_json::from_str(text.as_str()).unwrap();
                last_seq = v["seq"].as_u64().unwrap_or(last_seq);
                texts += 1;
            }
            Message::Close(frame) => break frame,
            _ => {}
        }
    };
    let close = close.expect("the stalled client was cut with a close frame");
    assert_eq!(u16::from(close.code), 4008);
    assert!(close.reason.contains("resume"), "{}", close.reason);
    assert!(last_seq > 0, "it got some messages before the cut");

    // It comes back with its last seq and gets the rest.
    let mut back = open(&the_box, &sleepy, "nobody").await;
    send(&mut back, json!({"action": "subscribe", "channels": ["streamer:s1"], "lastSeq": {"streamer:s1": last_seq}})).await;
    let mut seen = Vec::new();
    until(&mut back, &mut seen, Duration::from_secs(10), |v| {
        v["type"] == "EVENT_CREATED" && v["payload"]["event"]["id"] == "p199"
    })
    .await;
    the_box.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crowd_of_viewers_logs_in_while_a_guesser_is_slowed_alone() {
    use std::net::{IpAddr, Ipv4Addr};
    let dir = tempfile::tempdir().unwrap();
    let the_box = TestBox::start(dir.path(), "", None).await;
    let pin = std::fs::read_to_string(dir.path().join("viewer-pin")).unwrap();
    let pin = pin.trim();
    let login = |source: IpAddr, name: String, pin: String| {
        let addr = the_box.addr;
        async move {
            let body = json!({"name": name, "pin": pin});
            common::http_from(Some(source), addr, "POST", "/api/auth", "", Some(body)).await
        }
    };

    // One phone guessing PINs: refused, then slowed after ten tries a minute.
    let guesser = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    for n in 0..10 {
        let (status, body) = login(guesser, "mallory".into(), format!("wrong{n}")).await;
        assert_eq!(status, 401, "{body}");
    }
    let (status, body) = login(guesser, "mallory".into(), pin.to_string()).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["code"], "RATE_LIMITED");

    // Meanwhile a room of forty viewers joins at once, each from its own phone.
    let mut joins = Vec::new();
    for n in 0..40u8 {
        let source = IpAddr::V4(Ipv4Addr::new(127, 0, 1, n + 1));
        joins.push(tokio::spawn(login(
            source,
            format!("viewer {n}"),
            pin.to_string(),
        )));
    }
    for join in joins {
        let (status, body) = join.await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["role"], "viewer");
    }
    // And staff still log in (the generated password is kept beside its hash on first start).
    let password = std::fs::read_to_string(dir.path().join("admin-password.first")).unwrap();
    let body = json!({"password": password.trim()});
    let (status, reply) = common::http(the_box.addr, "POST", "/api/auth", "", Some(body)).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["role"], "admin");
    the_box.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_in_seconds_counts_on_the_box_clock_and_closes_the_question() {
    let dir = tempfile::tempdir().unwrap();
    let the_box = TestBox::start(dir.path(), "", None).await;
    let admin = the_box.token(Role::Admin, "admin");
    let question = |extra: Value| {
        let mut body = json!({
            "streamerId": "s1",
            "title": "Next song?",
            "options": [{"id": "a", "label": "A"}, {"id": "b", "label": "B"}],
            "costPerVote": 5,
        });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let viewer = the_box.token(Role::Viewer, "erin");
    let mut ws = open(&the_box, &viewer, "s1").await;
    let before = std::time::SystemTime::now();
    let (status, created) = the_box
        .http(
            "POST",
            "/api/predictions",
            &admin,
            Some(question(json!({"closesInSecs": 1}))),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let closes_at = humantime::parse_rfc3339(created["closesAt"].as_str().unwrap()).unwrap();
    let offset = closes_at.duration_since(before).unwrap();
    assert!(
        offset >= Duration::from_millis(900) && offset <= Duration::from_secs(5),
        "closesAt is about a second after the request: {offset:?}"
    );
    // The deadline timer closes it by itself.
    let closed = until(
        &mut ws,
        &mut Vec::new(),
        Duration::from_secs(10),
        is("EVENT_CLOSED"),
    )
    .await;
    assert_eq!(closed["payload"]["eventId"], created["id"]);

    for (extra, why) in [
        (json!({}), "neither closesAt nor closesInSecs"),
        (
            json!({"closesInSecs": 60, "closesAt": "2030-01-01T00:00:00Z"}),
            "both",
        ),
        (json!({"closesInSecs": 0}), "zero seconds"),
        (json!({"closesInSecs": 31_536_000}), "a year"),
        (json!({"closesInSecs": "soon"}), "not a number"),
    ] {
        let (status, body) = the_box
            .http("POST", "/api/predictions", &admin, Some(question(extra)))
            .await;
        assert_eq!(status, 400, "{why}: {body}");
        assert_eq!(body["code"], "INVALID_DATA", "{why}");
    }
    the_box.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_is_closed_when_its_token_expires_and_a_new_token_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let the_box = TestBox::start(dir.path(), "", None).await;
    let admin = the_box.token(Role::Admin, "admin");
    let short = the_box
        .secrets
        .mint(Role::Viewer, "frank", Duration::from_secs(2))
        .unwrap();
    let mut ws = open(&the_box, &short, "s1").await;
    let created = create(&the_box, &admin, "p1", Duration::from_secs(120)).await;
    let mut seen = Vec::new();
    let first = until(
        &mut ws,
        &mut seen,
        Duration::from_secs(5),
        is("EVENT_CREATED"),
    )
    .await;
    assert_eq!(first["payload"]["event"]["id"], created["id"]);
    let (code, reason) = close_of(&mut ws, Duration::from_secs(6))
        .await
        .expect("a close frame");
    assert_eq!(code, 4001, "{reason}");
    assert!(reason.contains("expired"), "{reason}");

    // A fresh token picks up from the last seq.
    let fresh = the_box.token(Role::Viewer, "frank");
    let mut ws = open(&the_box, &fresh, "nobody").await;
    create(&the_box, &admin, "p2", Duration::from_secs(120)).await;
    let last_seq = first["seq"].as_u64().unwrap();
    let mut seen = Vec::new();
    assert_eq!(
        resume(&mut ws, &mut seen, "streamer:s1", last_seq).await,
        "RESUMED"
    );
    until(&mut ws, &mut seen, Duration::from_secs(5), |v| {
        v["type"] == "EVENT_CREATED" && v["payload"]["event"]["id"] == "p2"
    })
    .await;
    the_box.stop().await;
}

/// A phone that joined before ids kept letters outside a-z ("Zoë" was given `zo`) holds the
/// key to its old id: it logs in as that viewer still. Typed without a key, the name is a new
/// one under today's id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_that_joined_before_ids_kept_any_script_is_still_its_viewer() {
    let dir = tempfile::tempdir().unwrap();
    let joined_before = PredictionEvent::ViewerJoined {
        user_id: "zo".into(),
        name: "Zoë".into(),
        at: 1,
    };
    Store::open(&dir.path().join("venuebox.redb"))
        .expect("a new log")
        .append(1, &[Event::Predictions(joined_before)])
        .expect("the old join written");
    let the_box = TestBox::start(dir.path(), "", None).await;
    let pin = the_box.secrets.viewer_pin().to_string();
    let old_key = the_box.secrets.viewer_key("zo", None);
    let login = |body: Value| the_box.http("POST", "/api/auth", "", Some(body));

    let (status, back) = login(json!({"name": "Zoë", "pin": pin, "viewerKey": old_key})).await;
    assert_eq!(status, 200, "{back}");
    assert_eq!(back["userId"], "zo");
    assert_eq!(
        back["viewerKey"],
        old_key.as_str(),
        "the key it holds stays its key"
    );

    let (status, new_name) = login(json!({"name": "Zoë", "pin": pin})).await;
    assert_eq!(status, 200, "{new_name}");
    assert_eq!(new_name["userId"], "zoë");
    assert_ne!(new_name["viewerKey"], old_key.as_str());

    let (status, again) = login(json!({"name": "Zoë", "pin": pin, "viewerKey": old_key})).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        again["userId"], "zo",
        "the old phone is not the new holder of zoë"
    );
    the_box.stop().await;
}

/// When the full name table lets a name go and another phone takes it, the token the first
/// holder still has no longer speaks for the name: it can neither read nor spend the new
/// holder's points, nor follow their `user:` channel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_of_a_name_let_go_does_not_speak_for_its_next_holder() {
    use venuebox::predictions::domain::MAX_VIEWERS;
    let dir = tempfile::tempdir().unwrap();
    // A full table, written as the log would hold it; "target" (ticket 1) is the oldest.
    let joins: Vec<Event> = (0..MAX_VIEWERS as u64)
        .map(|n| {
            let user_id = if n == 0 {
                "target".to_string()
            } else {
                format!("v{n}")
            };
            Event::Predictions(PredictionEvent::ViewerJoinedWithTicket {
                name: user_id.clone(),
                user_id,
                at: 1 + n,
                ticket: 1 + n,
            })
        })
        .collect();
    Store::open(&dir.path().join("venuebox.redb"))
        .expect("a new log")
        .append(1, &joins)
        .expect("the joins written");
    let the_box = TestBox::start(dir.path(), "", None).await;
    let pin = the_box.secrets.viewer_pin().to_string();
    let admin = the_box.token(Role::Admin, "admin");
    let first_holder = the_box
        .secrets
        .mint_for_holder(Role::Viewer, "target", Some(1), Duration::from_secs(600))
        .unwrap();
    let (status, body) = the_box
        .http("GET", "/api/users/target/balance", &first_holder, None)
        .await;
    assert_eq!(status, 200, "while it holds the name: {body}");
    // Its page follows the name's channel while it holds the name.
    let mut old_page = open(&the_box, &first_holder, "nobody").await;
    let mut old_seen = Vec::new();
    resume(&mut old_page, &mut old_seen, "user:target", 0).await;

    // A newcomer makes the table let "target" go; then another phone takes the name.
    let login = |name: &str| {
        the_box.http(
            "POST",
            "/api/auth",
            "",
            Some(json!({"name": name, "pin": pin})),
        )
    };
    let (status, body) = login("Newcomer").await;
    assert_eq!(status, 200, "{body}");
    let (status, next) = login("Target").await;
    assert_eq!(status, 200, "the name was let go: {next}");
    let next_holder = next["token"].as_str().unwrap().to_string();
    let handed_over = until(&mut old_page, &mut old_seen, Duration::from_secs(5), |m| {
        m["payload"]["code"] == "FORBIDDEN_CHANNEL"
    })
    .await;
    assert!(handed_over["payload"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("another phone")));
    let mut new_page = open(&the_box, &next_holder, "nobody").await;
    let mut new_seen = Vec::new();
    resume(&mut new_page, &mut new_seen, "user:target", 0).await;
    grant(&the_box, &admin, "target", 100).await;
    until(&mut new_page, &mut new_seen, Duration::from_secs(5), |m| {
        m["type"] == "BALANCE_UPDATED" && m["payload"]["balance"] == 100
    })
    .await;
    // Anything the old page was sent about the grant is queued before this answer.
    resume(&mut old_page, &mut old_seen, "streamer:s9", 0).await;
    assert!(
        !old_seen
            .iter()
            .any(|m| m["type"] == "BALANCE_UPDATED" && m["payload"]["balance"] == 100),
        "the old page heard the new holder's balance: {old_seen:?}"
    );
    create(&the_box, &admin, "p-let-go", Duration::from_secs(600)).await;

    let (status, body) = the_box
        .http("GET", "/api/users/target/balance", &first_holder, None)
        .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["code"], "INVALID_TOKEN");
    let (status, body) = vote(&the_box, &first_holder, "p-let-go", "red", 1, "old-1").await;
    assert_eq!(status, 401, "{body}");
    let mut ws = open(&the_box, &first_holder, "nobody").await;
    send(
        &mut ws,
        json!({"action": "subscribe", "channels": ["user:target"]}),
    )
    .await;
    let refused = until(
        &mut ws,
        &mut Vec::new(),
        Duration::from_secs(5),
        is("SYSTEM_NOTICE"),
    )
    .await;
    assert_eq!(refused["payload"]["code"], "FORBIDDEN_CHANNEL", "{refused}");

    let (status, body) = the_box
        .http("GET", "/api/users/target/balance", &next_holder, None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["balance"], 100);
    let (status, body) = vote(&the_box, &next_holder, "p-let-go", "red", 1, "new-1").await;
    assert_eq!(status, 200, "{body}");
    the_box.stop().await;
}
