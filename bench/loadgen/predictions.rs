//! The live-predictions scenario (seed 002, JSON over a plain WebSocket plus REST): viewers
//! watch a question on `/realtime`, voters vote over HTTP with keep-alive connections, staff
//! close it. Only venuebox speaks this contract; the Node.js peer implements seed 004 alone.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use super::http::HttpConnection;
use super::{Figures, Samples, Server};

/// What one viewer saw.
#[derive(Default)]
struct Seen {
    /// (arrival, votes the totals counted) for each `EVENT_UPDATED`.
    updates: Vec<(Instant, u64)>,
    closed_at: Option<Instant>,
}

/// Sum of the totals in an `EVENT_UPDATED` payload (one event or a batch of them).
fn counted_votes(payload: &Value) -> u64 {
    let sum = |p: &Value| -> u64 {
        p["totals"]
            .as_object()
            .map(|t| t.values().filter_map(Value::as_u64).sum())
            .unwrap_or(0)
    };
    match payload {
        Value::Array(batch) => batch.iter().map(sum).sum(),
        one => sum(one),
    }
}

async fn watch(url: String, seen: Arc<Mutex<Seen>>) -> Result<tokio::task::JoinHandle<()>, String> {
    let (ws, _) = tokio_tungstenite::connect_async(&url)
        .await
        .map_err(|e| format!("connect {url}: {e}"))?;
    let (sink, mut stream) = ws.split();
    Ok(tokio::spawn(async move {
        // The sink is kept so the connection stays open; tungstenite answers pings itself
        // when the stream is read.
        let _keep_open = sink;
        while let Some(Ok(message)) = stream.next().await {
            let Message::Text(text) = message else {
                continue;
            };
            let at = Instant::now();
            // Only the two kinds measured are decoded.
            if text.contains("\"EVENT_UPDATED\"") {
                if let Ok(m) = serde_json::from_str::<Value>(&text) {
                    let votes = counted_votes(&m["payload"]);
                    seen.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .updates
                        .push((at, votes));
                }
            } else if text.contains("\"EVENT_CLOSED\"") {
                seen.lock().unwrap_or_else(|e| e.into_inner()).closed_at = Some(at);
            }
        }
    }))
}

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `voters` viewers vote `rate` times a second each for `secs` while `watchers` viewers watch
/// the question on `/realtime`; then staff close it.
pub async fn run(server: &Server, voters: usize, rate: f64, secs: f64, watchers: usize) -> Figures {
    // Voters and their vote ids are new in each run on one server: a vote id seen before is a
    // resend, which changes no total.
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let run = RUNS.fetch_add(1, Ordering::Relaxed);
    let mut f = Figures::default();
    let Some(viewer_token) = server.viewer_token.as_ref() else {
        return f;
    };
    let mut staff = HttpConnection::open(&server.url)
        .await
        .expect("staff connects");
    let closes_at = epoch_ms() + 10 * 60 * 1000;
    let (status, created) = staff
        .request(
            "POST",
            "/api/predictions",
            &server.admin_token,
            &json!({ "streamerId": "bench", "title": "Who scores next?",
                     "options": [{"id": "a", "label": "Red"}, {"id": "b", "label": "Blue"}],
                     "costPerVote": 1, "closesAt": closes_at }),
        )
        .await
        .expect("prediction created");
    assert!((200..300).contains(&status), "create prediction: {created}");
    let prediction: Value = serde_json::from_str(&created).expect("prediction JSON");
    let id = prediction["id"]
        .as_str()
        .expect("prediction id")
        .to_string();

    let watch_url = format!(
        "{}/realtime?streamerId=bench&token={}",
        server.url.replacen("http", "ws", 1),
        viewer_token("bench-watch")
    );
    let (_, rss_before_viewers) = server.usage();
    let mut seen = Vec::new();
    let mut readers = Vec::new();
    for _ in 0..watchers {
        let one = Arc::new(Mutex::new(Seen::default()));
        match watch(watch_url.clone(), one.clone()).await {
            Ok(reader) => {
                seen.push(one);
                readers.push(reader);
            }
            Err(e) => eprintln!("watcher: {e}"),
        }
    }

    let mut voting = Vec::new();
    for i in 0..voters {
        let user = format!("voter-{run}-{i}");
        let (status, answer) = staff
            .request(
                "POST",
                &format!("/api/users/{user}/grants"),
                &server.admin_token,
                &json!({ "amount": 1_000_000, "reason": "bench" }),
            )
            .await
            .expect("grant");
        assert!(status < 300, "grant: {answer}");
        voting.push((user.clone(), viewer_token(&user)));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (cpu_before, rss_with_viewers) = server.usage();
    let started = Instant::now();
    let acks = Arc::new(Mutex::new(Vec::<(Instant, Duration)>::new()));
    let errors = Arc::new(AtomicU64::new(0));
    let per_voter = (rate * secs).round() as usize;
    let mut tasks = Vec::new();
    for (n, (user, token)) in voting.into_iter().enumerate() {
        let (acks, errors, base, id) =
            (acks.clone(), errors.clone(), server.url.clone(), id.clone());
        let offset = Duration::from_secs_f64(n as f64 / (voters as f64 * rate));
        tasks.push(tokio::spawn(async move {
            let mut http = HttpConnection::open(&base).await.expect("voter connects");
            tokio::time::sleep(offset).await;
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
            for k in 0..per_voter {
                tick.tick().await;
                let vote = json!({ "optionId": if k % 3 == 0 { "b" } else { "a" },
                                   "votes": 1, "clientVoteId": format!("{user}-{k}") });
                let t0 = Instant::now();
                match http
                    .request(
                        "POST",
                        &format!("/api/predictions/{id}/votes"),
                        &token,
                        &vote,
                    )
                    .await
                {
                    Ok((200, _)) => acks
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((Instant::now(), t0.elapsed())),
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    // The last totals reach everyone within one update period (250 ms).
    tokio::time::sleep(Duration::from_millis(600)).await;

    // A fresh connection: the box closes a keep-alive connection left idle this long.
    let mut staff = HttpConnection::open(&server.url)
        .await
        .expect("staff connects again");
    let close_sent = Instant::now();
    let (status, answer) = staff
        .request(
            "POST",
            &format!("/api/predictions/{id}/close"),
            &server.admin_token,
            &json!({}),
        )
        .await
        .expect("close");
    assert!(status < 300, "close: {answer}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline
        && seen.iter().any(|s| {
            s.lock()
                .unwrap_or_else(|e| e.into_inner())
                .closed_at
                .is_none()
        })
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (cpu_after, rss) = server.usage();
    let measured = started.elapsed().as_secs_f64();
    for reader in readers {
        reader.abort();
    }

    let mut acks = acks.lock().unwrap_or_else(|e| e.into_inner()).clone();
    acks.sort_by_key(|(at, _)| *at);
    let ack_latency = Samples(acks.iter().map(|(_, d)| d.as_micros() as u64).collect());
    // How old the newest vote an update counts was when the viewer got it: the k-th vote
    // acknowledged is the latest a total of k can include.
    let mut lag = Samples::default();
    let mut updates_per_viewer = Vec::new();
    let mut close = Samples::default();
    let mut final_totals_seen = 0;
    for s in &seen {
        let s = s.lock().unwrap_or_else(|e| e.into_inner());
        // Closing sends final totals too; those belong to the close, not to the voting.
        let while_open: Vec<_> = s
            .updates
            .iter()
            .filter(|(at, _)| *at < close_sent)
            .collect();
        updates_per_viewer.push(while_open.len() as f64);
        for (at, votes) in &while_open {
            if let Some((acked, _)) = votes.checked_sub(1).and_then(|k| acks.get(k as usize)) {
                lag.0
                    .push(at.saturating_duration_since(*acked).as_micros() as u64);
            }
        }
        if while_open
            .last()
            .is_some_and(|(_, votes)| *votes as usize == acks.len())
        {
            final_totals_seen += 1;
        }
        if let Some(at) = s.closed_at {
            close
                .0
                .push(at.duration_since(close_sent).as_micros() as u64);
        }
    }
    let watched_secs = close_sent.duration_since(started).as_secs_f64();
    let mean_updates =
        updates_per_viewer.iter().sum::<f64>() / updates_per_viewer.len().max(1) as f64;
    f.add("vote ack p50 ms", ack_latency.pct(50.0));
    f.add("vote ack p99 ms", ack_latency.pct(99.0));
    f.add("vote ack max ms", ack_latency.max());
    f.add("acked votes/s", acks.len() as f64 / elapsed);
    f.add("errors", errors.load(Ordering::Relaxed) as f64);
    f.add(
        "EVENT_UPDATED per viewer per s",
        mean_updates / watched_secs,
    );
    f.add("update lag p50 ms", lag.pct(50.0));
    f.add("update lag p99 ms", lag.pct(99.0));
    f.add(
        "viewers that saw the final totals",
        final_totals_seen as f64,
    );
    f.add("EVENT_CLOSED p50 ms", close.pct(50.0));
    f.add("EVENT_CLOSED p99 ms", close.pct(99.0));
    f.add("EVENT_CLOSED max ms", close.max());
    f.add("viewers that saw the close", close.0.len() as f64);
    f.add(
        "server CPU % of one core",
        100.0 * (cpu_after - cpu_before) / measured,
    );
    f.add("server RSS MiB", rss as f64 / 1024.0);
    f.add(
        "KiB per idle viewer",
        rss_with_viewers.saturating_sub(rss_before_viewers) as f64 / seen.len().max(1) as f64,
    );
    f
}
