//! Load generator: many Socket.IO clients speaking the seed 004 GM-station contract from one
//! process, against venuebox, the Node.js peer (`bench/peer-node/`) and the bare socketioxide
//! floor (`bench/floor.rs`) in turn, in the same run. Reports latency percentiles, throughput,
//! errors, and the server's CPU and RSS read from `/proc`.
//!
//! ```text
//! cargo run --release --example loadgen -- venue-night [--runs 3]
//! cargo run --release --example loadgen -- fan-out | idle | max-scans | predictions | viewers
//! cargo run --release --example loadgen -- fan-out-capacity   # one row of fan-out (to profile)
//! cargo run --release --example loadgen -- limits     # fsync and socket-write cost here
//! cargo run --example loadgen -- smoke      # every scenario but viewers, tiny (CI)
//! loadgen venue-night --only venuebox        # one server (to profile it with perf)
//! loadgen venue-night --only venuebox,floor  # a subset, still side by side
//! ```
//!
//! The Socket.IO client here is deliberately small: Engine.IO 4 over a WebSocket (`0` open,
//! `2`/`3` ping/pong, `4x` messages), Socket.IO 5 packets `40` connect, `42` event, `43` ack.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

#[path = "loadgen/http.rs"]
mod http;
#[path = "loadgen/predictions.rs"]
mod predictions;

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>;
/// Called for every event a client receives, with the packet's JSON text (`["name", data]`) and
/// when it arrived. Watchers look only at what they measure: decoding 50,000 messages a second
/// in full would make the load generator, not the server, the bottleneck.
type OnEvent = Arc<dyn Fn(&str, Instant) + Send + Sync>;

/// Connections the server closed (or that failed) while the load generator still held them.
static DROPPED: AtomicU64 = AtomicU64::new(0);
/// Every event (`42…`) received by every client, of any name, and its bytes.
static EVENTS_RECEIVED: AtomicU64 = AtomicU64::new(0);
static EVENT_BYTES_RECEIVED: AtomicU64 = AtomicU64::new(0);

/// One Socket.IO connection.
struct SioClient {
    out: mpsc::UnboundedSender<Message>,
    pending: Pending,
    next_ack: AtomicU64,
}

impl SioClient {
    async fn connect(base: &str, token: &str, on_event: Option<OnEvent>) -> Result<Self, String> {
        let url = format!(
            "{}/socket.io/?EIO=4&transport=websocket",
            base.replacen("http", "ws", 1)
        );
        let (ws, _) = tokio_tungstenite::connect_async(&url)
            .await
            .map_err(|e| format!("connect {url}: {e}"))?;
        let (mut sink, mut stream) = ws.split();
        // Engine.IO open packet, then the Socket.IO connect with the auth payload.
        match stream.next().await {
            Some(Ok(Message::Text(t))) if t.starts_with('0') => {}
            other => return Err(format!("no engine.io open packet: {other:?}")),
        }
        let auth = json!({ "token": token }).to_string();
        sink.send(Message::Text(format!("40{auth}").into()))
            .await
            .map_err(|e| e.to_string())?;
        // Pings may come first on a busy server; the connect reply is `40`.
        loop {
            match stream.next().await {
                Some(Ok(Message::Text(t))) if t.starts_with("40") => break,
                Some(Ok(Message::Text(t))) if t.as_str() == "2" => {
                    sink.send(Message::Text("3".into()))
                        .await
                        .map_err(|e| e.to_string())?;
                }
                other => return Err(format!("socket.io connect refused: {other:?}")),
            }
        }
        let (out, mut outbox) = mpsc::unbounded_channel::<Message>();
        tokio::spawn(async move {
            while let Some(message) = outbox.recv().await {
                if sink.send(message).await.is_err() {
                    break;
                }
            }
            // Dropped: close the connection, so that a scenario's clients stop costing the
            // server before the next scenario is measured.
            let _ = sink.close().await;
        });
        let pending: Pending = Arc::default();
        let replies = pending.clone();
        // Weak, so that dropping the client ends its writer (which then closes the socket).
        let pong = out.downgrade();
        tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                let Message::Text(text) = message else {
                    continue;
                };
                let at = Instant::now();
                let text = text.as_str();
                if text == "2" {
                    if let Some(pong) = pong.upgrade() {
                        let _ = pong.send(Message::Text("3".into()));
                    }
                } else if let Some(body) = text.strip_prefix("42") {
                    EVENTS_RECEIVED.fetch_add(1, Ordering::Relaxed);
                    EVENT_BYTES_RECEIVED.fetch_add(text.len() as u64, Ordering::Relaxed);
                    if let Some(on_event) = &on_event {
                        on_event(body, at);
                    }
                } else if let Some(body) = text.strip_prefix("43") {
                    let digits = body.chars().take_while(char::is_ascii_digit).count();
                    let (id, rest) = body.split_at(digits);
                    let data = serde_json::from_str::<Value>(rest)
                        .ok()
                        .and_then(|v| v.get(0).cloned())
                        .unwrap_or(Value::Null);
                    let waiter = id.parse().ok().and_then(|id: u64| {
                        replies
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .remove(&id)
                    });
                    if let Some(waiter) = waiter {
                        let _ = waiter.send(data);
                    }
                }
            }
            if !replies.lock().unwrap_or_else(|e| e.into_inner()).is_empty()
                || Arc::strong_count(&replies) > 1
            {
                DROPPED.fetch_add(1, Ordering::Relaxed);
            }
        });
        Ok(Self {
            out,
            pending,
            next_ack: AtomicU64::new(1),
        })
    }

    async fn emit_ack(&self, event: &str, data: Value) -> Option<Value> {
        let id = self.next_ack.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, tx);
        let packet = format!("42{id}{}", json!([event, data]));
        let _ = self.out.send(Message::Text(packet.into()));
        tokio::time::timeout(Duration::from_secs(10), rx)
            .await
            .ok()?
            .ok()
    }
}

/// Makes a token for one station or user of a server under test.
type MintToken = Box<dyn Fn(&str) -> String + Send + Sync>;

/// A server under test, started by this process.
struct Server {
    name: &'static str,
    url: String,
    child: Child,
    dir: PathBuf,
    admin_token: String,
    gm_token: MintToken,
    /// Mints a viewer token for a user id; `None` for a server without the predictions
    /// contract (seed 002).
    viewer_token: Option<MintToken>,
}

/// A binary built beside this one: the box is target/<profile>/venuebox, the examples are in
/// target/<profile>/examples/.
fn built_binary(beside_examples: bool, name: &str, build: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("own path");
    let examples = exe.parent().expect("examples dir");
    let dir = if beside_examples {
        examples
    } else {
        examples.parent().expect("target dir")
    };
    let bin = dir.join(name);
    assert!(
        bin.exists(),
        "{} is missing: build it first (`{build}`)",
        bin.display()
    );
    bin
}

fn venuebox_binary() -> PathBuf {
    built_binary(false, "venuebox", "cargo build --release")
}

fn floor_binary() -> PathBuf {
    built_binary(true, "floor", "cargo build --release --example floor")
}

async fn read_listening(child: &mut Child) -> String {
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let url = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(at) = line.find("listening on http://") {
                return Some(line[at + "listening on ".len()..].trim().to_string());
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .expect("the server said where it listens");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    url
}

async fn start_venuebox() -> Server {
    let dir = tempfile::tempdir().expect("temp dir").keep();
    let config = dir.join("bench.toml");
    std::fs::write(&config, "[limits]\nmax_gm_stations = 100\n").expect("config");
    let bin = venuebox_binary();
    let data = dir.join("data");
    let mut child = Command::new(&bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data")
        .arg(&data)
        .env("RUST_LOG", "venuebox=error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("venuebox starts");
    let url = read_listening(&mut child).await;
    let token = {
        let (bin, data) = (bin.clone(), data.clone());
        move |role: &str, sub: &str| {
            let out = std::process::Command::new(&bin)
                .args(["token", "--role", role, "--sub", sub, "--data"])
                .arg(&data)
                .output()
                .expect("token");
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        }
    };
    let admin_token = token("admin", "bench");
    let mut http = http::HttpConnection::open(&url)
        .await
        .expect("box answers HTTP");
    let (status, session) = http
        .request(
            "POST",
            "/api/session",
            &admin_token,
            &json!({ "name": "Bench" }),
        )
        .await
        .expect("session request");
    assert!(
        (200..300).contains(&status) && session.contains("\"id\""),
        "session created: {status} {session}"
    );
    Server {
        name: "venuebox",
        url,
        child,
        dir,
        admin_token,
        gm_token: Box::new({
            let token = token.clone();
            move |station| token("gm", station)
        }),
        viewer_token: Some(Box::new(move |user| token("viewer", user))),
    }
}

async fn start_peer() -> Server {
    let dir = tempfile::tempdir().expect("temp dir").keep();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/peer-node/server.mjs");
    assert!(
        script
            .with_file_name("node_modules")
            .join("socket.io")
            .exists(),
        "bench/peer-node has no node_modules: run `npm ci` there (tests/run.sh does)"
    );
    let mut node = Command::new("node");
    node.arg(&script)
        .args(["--port", "0", "--data"])
        .arg(dir.join("data"));
    start_reference("node-peer", node, dir, "node starts (install Node.js)").await
}

async fn start_floor() -> Server {
    let dir = tempfile::tempdir().expect("temp dir").keep();
    let mut floor = Command::new(floor_binary());
    floor.args(["--listen", "127.0.0.1:0"]);
    start_reference("floor", floor, dir, "the floor starts").await
}

/// Starts a server the box is compared with (the Node peer, the floor). Neither checks token
/// signatures: a token starting with `admin` is staff's, anything else a station's.
async fn start_reference(
    name: &'static str,
    mut command: Command,
    dir: PathBuf,
    starts: &str,
) -> Server {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect(starts);
    let url = read_listening(&mut child).await;
    Server {
        name,
        url,
        child,
        dir,
        admin_token: "admin-bench".into(),
        gm_token: Box::new(|station| format!("gm-{station}")),
        viewer_token: None,
    }
}

impl Server {
    fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// (CPU seconds used so far, resident set in KiB).
    fn usage(&self) -> (f64, u64) {
        let pid = self.pid();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Fields after the command name: utime and stime are the 12th and 13th.
        let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks: f64 = fields
            .get(11)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            + fields
                .get(12)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0);
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let rss = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        (ticks / 100.0, rss)
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Latencies in microseconds.
#[derive(Default, Clone)]
struct Samples(Vec<u64>);

impl Samples {
    fn pct(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let mut v = self.0.clone();
        v.sort_unstable();
        let i = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
        v[i] as f64 / 1000.0
    }
    fn max(&self) -> f64 {
        self.0.iter().max().map_or(f64::NAN, |m| *m as f64 / 1000.0)
    }
}

/// One scenario's figures for one server.
#[derive(Default, Clone)]
struct Figures(Vec<(String, f64)>);

impl Figures {
    fn add(&mut self, name: &str, value: f64) {
        self.0.push((name.to_string(), value));
    }
}

const TOKENS: usize = 48;

fn token_id(n: usize) -> String {
    // The demo set has mem001..; the peer accepts any id.
    format!("mem{:03}", n % TOKENS + 1)
}

/// When each scan was sent, by station and scan number: written once by its station, read by
/// every watcher, with no lock.
struct SentTimes {
    base: Instant,
    per_station: usize,
    /// Nanoseconds after `base`, plus one; 0 = not sent yet.
    nanos: Vec<AtomicU64>,
}

impl SentTimes {
    fn new(stations: usize, per_station: usize) -> Self {
        SentTimes {
            base: Instant::now(),
            per_station,
            nanos: (0..stations * per_station)
                .map(|_| AtomicU64::new(0))
                .collect(),
        }
    }

    fn mark(&self, station: usize, k: usize) -> Instant {
        let now = Instant::now();
        if let Some(slot) = self.nanos.get(station * self.per_station + k) {
            slot.store(
                now.duration_since(self.base).as_nanos() as u64 + 1,
                Ordering::Relaxed,
            );
        }
        now
    }

    /// Microseconds from sending scan `GM_BENCH_{station}-{run}-{k}` to `at`.
    fn since(&self, scan: &str, at: Instant) -> Option<u64> {
        let (rest, k) = scan.rsplit_once('-')?;
        let (station, _run) = rest.rsplit_once('-')?;
        let station: usize = station.strip_prefix("GM_BENCH_")?.parse().ok()?;
        let slot = self
            .nanos
            .get(station * self.per_station + k.parse::<usize>().ok()?)?;
        let sent = slot.load(Ordering::Relaxed).checked_sub(1)?;
        let arrived = at.duration_since(self.base).as_nanos() as u64;
        Some(arrived.saturating_sub(sent) / 1000)
    }
}

/// The string value of `"name":"..."` in compact JSON text (both servers write compact JSON).
fn string_field<'a>(json: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("\"{name}\":\"");
    let start = json.find(&key)? + key.len();
    let len = json[start..].find('"')?;
    Some(&json[start..start + len])
}

/// Stations that scan at `rate` per second each for `secs`, while `watchers` admin sockets
/// receive every `transaction:new`.
async fn scan_load(
    server: &Server,
    stations: usize,
    rate: f64,
    secs: f64,
    watchers: usize,
) -> Figures {
    let per_station = (rate * secs).round() as usize;
    let sent_at = Arc::new(SentTimes::new(stations, per_station));
    let delivered = Arc::new(AtomicU64::new(0));
    let mut watching = Vec::new();
    // One sample list per watcher, so watchers never wait on each other's lock.
    let mut fanouts = Vec::new();
    for _ in 0..watchers {
        let fanout = Arc::new(Mutex::new(Samples::default()));
        fanouts.push(fanout.clone());
        let (sent_at, delivered) = (sent_at.clone(), delivered.clone());
        let on_event: OnEvent = Arc::new(move |packet, at| {
            if !packet.starts_with("[\"transaction:new\"") {
                return;
            }
            delivered.fetch_add(1, Ordering::Relaxed);
            if let Some(us) =
                string_field(packet, "clientScanId").and_then(|scan| sent_at.since(scan, at))
            {
                fanout.lock().unwrap_or_else(|e| e.into_inner()).0.push(us);
            }
        });
        match SioClient::connect(&server.url, &server.admin_token, Some(on_event)).await {
            Ok(c) => watching.push(c),
            Err(e) => eprintln!("watcher: {e}"),
        }
    }
    let mut gms = Vec::new();
    for i in 0..stations {
        let id = format!("GM_BENCH_{i:03}");
        let client = SioClient::connect(&server.url, &(server.gm_token)(&id), None)
            .await
            .unwrap_or_else(|e| panic!("{}: station {id} could not connect: {e}", server.name));
        let identified = client
            .emit_ack(
                "gm:identify",
                json!({ "stationId": id, "version": "bench" }),
            )
            .await;
        if identified.is_none() {
            panic!(
                "{}: station {id} got no answer to gm:identify within 10 s",
                server.name
            );
        }
        gms.push((id, client));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (cpu_before, _) = server.usage();
    let events_before = EVENTS_RECEIVED.load(Ordering::Relaxed);
    let bytes_before = EVENT_BYTES_RECEIVED.load(Ordering::Relaxed);
    let dropped_before = DROPPED.load(Ordering::Relaxed);
    let started = Instant::now();
    let acks = Arc::new(Mutex::new(Samples::default()));
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    // Scan ids are unique per load run: a resent id is answered from the box's memory of it
    // (idempotent resend) and would publish nothing.
    static LOAD_RUN: AtomicU64 = AtomicU64::new(0);
    let load_run = LOAD_RUN.fetch_add(1, Ordering::Relaxed);
    for (n, (id, client)) in gms.into_iter().enumerate() {
        let (acks, errors, sent_at) = (acks.clone(), errors.clone(), sent_at.clone());
        // Stations are not synchronised: spread their first scans over one period.
        let offset = Duration::from_secs_f64(n as f64 / (stations as f64 * rate));
        // A server far behind the offered rate is measured over three times the planned
        // duration, not until it has answered every scan.
        let deadline = Instant::now() + Duration::from_secs_f64(3.0 * secs + 1.0);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(offset).await;
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
            for k in 0..per_station {
                tick.tick().await;
                if Instant::now() > deadline {
                    break;
                }
                let scan = format!("{id}-{load_run}-{k}");
                let t0 = sent_at.mark(n, k);
                let data =
                    json!({ "tokenId": token_id(n * 7 + k), "teamId": "TEAM_A", "scanId": scan });
                match client.emit_ack("transaction:submit", data).await {
                    Some(ack) if ack["success"] == true => {
                        let us = t0.elapsed().as_micros() as u64;
                        acks.lock().unwrap_or_else(|e| e.into_inner()).0.push(us);
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            client
        }));
    }
    let mut clients = Vec::new();
    for t in tasks {
        clients.push(t.await.expect("station task"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (cpu_after, rss) = server.usage();
    let events = EVENTS_RECEIVED.load(Ordering::Relaxed) - events_before;
    let event_bytes = EVENT_BYTES_RECEIVED.load(Ordering::Relaxed) - bytes_before;
    let dropped = DROPPED.load(Ordering::Relaxed) - dropped_before;
    drop(clients);
    drop(watching);
    let acks = acks.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut fanout = Samples::default();
    for samples in &fanouts {
        fanout
            .0
            .extend_from_slice(&samples.lock().unwrap_or_else(|e| e.into_inner()).0);
    }
    let mut f = Figures::default();
    f.add("ack p50 ms", acks.pct(50.0));
    f.add("ack p99 ms", acks.pct(99.0));
    f.add("ack max ms", acks.max());
    f.add("acked scans/s", acks.0.len() as f64 / elapsed);
    f.add("errors", errors.load(Ordering::Relaxed) as f64);
    if watchers > 0 {
        f.add("fan-out p50 ms", fanout.pct(50.0));
        f.add("fan-out p99 ms", fanout.pct(99.0));
        f.add(
            "delivered msgs/s",
            delivered.load(Ordering::Relaxed) as f64 / elapsed,
        );
    }
    f.add(
        "server CPU % of one core",
        100.0 * (cpu_after - cpu_before) / elapsed,
    );
    if watchers > 0 {
        // Every server's CPU over the `transaction:new` messages it delivered: what the room's
        // screens cost per scan, whatever else (acks, `state:update`) the server also sent.
        f.add(
            "server CPU us per delivery",
            1e6 * (cpu_after - cpu_before) / delivered.load(Ordering::Relaxed).max(1) as f64,
        );
        // The same over every event sent, of any name: the cost of one message on the wire.
        f.add("events delivered/s (all names)", events as f64 / elapsed);
        f.add(
            "server CPU us per event (all names)",
            1e6 * (cpu_after - cpu_before) / events.max(1) as f64,
        );
        f.add(
            "event KiB/s received",
            event_bytes as f64 / 1024.0 / elapsed,
        );
    }
    f.add("connections the server dropped", dropped as f64);
    f.add("server RSS MiB", rss as f64 / 1024.0);
    f
}

async fn idle(server: &Server, connections: usize) -> Figures {
    let (_, before) = server.usage();
    let mut clients = Vec::with_capacity(connections);
    for _ in 0..connections {
        match SioClient::connect(&server.url, &server.admin_token, None).await {
            Ok(c) => clients.push(c),
            Err(e) => {
                eprintln!("idle: {e}");
                break;
            }
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, after) = server.usage();
    let mut f = Figures::default();
    f.add("connections", clients.len() as f64);
    f.add("RSS before MiB", before as f64 / 1024.0);
    f.add("RSS after MiB", after as f64 / 1024.0);
    f.add(
        "KiB per connection",
        after.saturating_sub(before) as f64 / clients.len().max(1) as f64,
    );
    f
}

/// The highest scan rate (100 stations, raised in steps) whose ack p99 stays under 50 ms.
async fn max_scans(server: &Server, secs: f64, steps: &[f64]) -> Figures {
    let mut best = 0.0;
    let mut f = Figures::default();
    for &per_station in steps {
        let run = scan_load(server, 100, per_station, secs, 0).await;
        let p99 = run
            .0
            .iter()
            .find(|(n, _)| n == "ack p99 ms")
            .map_or(f64::NAN, |v| v.1);
        let rate = run
            .0
            .iter()
            .find(|(n, _)| n == "acked scans/s")
            .map_or(0.0, |v| v.1);
        let errors = run
            .0
            .iter()
            .find(|(n, _)| n == "errors")
            .map_or(0.0, |v| v.1);
        f.add(
            &format!("p99 ms at {} scans/s offered", per_station * 100.0),
            p99,
        );
        if p99 < 50.0 && errors == 0.0 {
            best = rate;
        } else {
            break;
        }
    }
    f.add("max sustained scans/s (p99 < 50 ms)", best);
    f
}

async fn scenario(name: &str, server: &Server, smoke: bool) -> Figures {
    match (name, smoke) {
        ("venue-night", false) => scan_load(server, 10, 10.0, 20.0, 500).await,
        ("venue-night", true) => scan_load(server, 2, 10.0, 1.0, 5).await,
        ("fan-out", false) => {
            let mut all = Figures::default();
            for subscribers in [100, 1000, 5000] {
                let f = scan_load(server, 1, 10.0, 10.0, subscribers).await;
                for (k, v) in f.0 {
                    if k.starts_with("fan-out")
                        || k.starts_with("delivered")
                        || k.starts_with("server CPU")
                        || k.starts_with("events")
                        || k.starts_with("connections")
                    {
                        all.add(&format!("{subscribers} subs: {k}"), v);
                    }
                }
            }
            // One publisher offers only 10 × N messages a second, which both servers deliver;
            // ten publishers at the contract's rate limit offer 100,000 to 1,000 subscribers,
            // more than either can, so this row measures capacity.
            let f = scan_load(server, 10, 10.0, 10.0, 1000).await;
            for (k, v) in f.0 {
                if k.starts_with("fan-out")
                    || k.starts_with("delivered")
                    || k.starts_with("server CPU")
                    || k.starts_with("events")
                    || k.starts_with("connections")
                {
                    all.add(&format!("1000 subs, 10 publishers: {k}"), v);
                }
            }
            all
        }
        ("fan-out", true) => scan_load(server, 1, 10.0, 1.0, 20).await,
        // The capacity row of `fan-out` alone (to profile it).
        ("fan-out-capacity", _) => scan_load(server, 10, 10.0, 10.0, 1000).await,
        ("idle", false) => {
            let mut all = idle(server, 1000).await;
            let more = idle(server, 9000).await;
            all.add("10,000: KiB per connection", more.0[3].1);
            all
        }
        ("idle", true) => idle(server, 50).await,
        ("max-scans", false) => max_scans(server, 5.0, &[1.0, 2.0, 5.0, 10.0]).await,
        ("max-scans", true) => max_scans(server, 1.0, &[1.0]).await,
        ("predictions", false) => predictions::run(server, 50, 4.0, 20.0, 500).await,
        ("predictions", true) => predictions::run(server, 2, 4.0, 1.0, 5).await,
        // What 2,000 `/realtime` viewers cost on top of the votes: the same votes watched by
        // one viewer, then by 2,000.
        ("viewers", _) => {
            let secs = if smoke { 1.0 } else { 20.0 };
            let alone = predictions::run(server, 50, 4.0, secs, 1).await;
            let watched = predictions::run(server, 50, 4.0, secs, 2000).await;
            let cpu = |f: &Figures| {
                f.0.iter()
                    .find(|(k, _)| k == "server CPU % of one core")
                    .map_or(f64::NAN, |(_, v)| *v)
            };
            let mut all = Figures::default();
            all.add("server CPU % with 1 viewer", cpu(&alone));
            all.add("server CPU % with 2,000 viewers", cpu(&watched));
            all.add(
                "2,000 viewers' share, % of one core",
                cpu(&watched) - cpu(&alone),
            );
            for (k, v) in watched.0 {
                if k.starts_with("EVENT_UPDATED") || k.starts_with("update lag") {
                    all.add(&format!("2,000 viewers: {k}"), v);
                }
            }
            all
        }
        (other, _) => panic!("unknown scenario {other:?}"),
    }
}

/// This machine's physical limits: fsync of a 4 KiB append (what a durable ack must wait for)
/// and one `write` of a 200-byte frame to a loopback TCP socket (what each delivery costs).
async fn physical_limits() -> Figures {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut file = std::fs::File::create(dir.path().join("fsync")).expect("file");
    let mut fsyncs = Samples::default();
    for _ in 0..200 {
        let t0 = Instant::now();
        file.write_all(&[7u8; 4096]).expect("write");
        file.sync_data().expect("fsync");
        fsyncs.0.push(t0.elapsed().as_micros() as u64);
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let reader = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("accept");
        let mut sink = [0u8; 65536];
        while std::io::Read::read(&mut conn, &mut sink)
            .map(|n| n > 0)
            .unwrap_or(false)
        {}
    });
    let mut writer = std::net::TcpStream::connect(addr).expect("connect");
    writer.set_nodelay(true).expect("nodelay");
    let frame = [b'x'; 200];
    let writes = 100_000;
    let t0 = Instant::now();
    for _ in 0..writes {
        writer.write_all(&frame).expect("write");
    }
    let per_write_us = t0.elapsed().as_secs_f64() * 1e6 / f64::from(writes);
    drop(writer);
    let _ = reader.join();
    let mut f = Figures::default();
    f.add("fsync 4 KiB p50 ms", fsyncs.pct(50.0));
    f.add("fsync 4 KiB p99 ms", fsyncs.pct(99.0));
    f.add("socket write 200 B us", per_write_us);
    f
}

/// Each figure's values over the runs, for one server.
type Series = Vec<(String, Vec<f64>)>;

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let smoke = args.first().map(String::as_str) == Some("smoke");
    let runs: usize = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(if smoke { 1 } else { 3 });
    // A subset of the servers, e.g. to profile one with perf: `--only venuebox` or
    // `--only venuebox,floor`.
    let only: Option<Vec<String>> = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(|list| list.split(',').map(str::to_string).collect());
    let scenarios: Vec<&str> = match args.first().map(String::as_str) {
        Some("smoke") | None => vec!["venue-night", "fan-out", "idle", "max-scans", "predictions"],
        Some(name) => vec![name],
    };
    if args.first().map(String::as_str) == Some("limits") {
        println!("\n## physical limits of this machine\n");
        println!("| figure | value |");
        println!("|---|---|");
        for (k, v) in physical_limits().await.0 {
            println!("| {k} | {v:.3} |");
        }
        return;
    }
    const SERVERS: [&str; 3] = ["venuebox", "node-peer", "floor"];
    for name in scenarios {
        // figures[server][figure] = values over the runs, servers side by side in each run.
        let mut table: Vec<(&str, Series)> = Vec::new();
        for _ in 0..runs {
            for server_name in SERVERS {
                if only
                    .as_ref()
                    .is_some_and(|only| !only.iter().any(|o| o == server_name))
                {
                    continue;
                }
                // The peer and the floor speak the GM-station contract (seed 004) only.
                if server_name != "venuebox" && (name == "predictions" || name == "viewers") {
                    continue;
                }
                let server = match server_name {
                    "venuebox" => start_venuebox().await,
                    "node-peer" => start_peer().await,
                    _ => start_floor().await,
                };
                let figures = scenario(name, &server, smoke).await;
                let label = server.name;
                server.stop().await;
                let entry = match table.iter_mut().position(|(n, _)| *n == label) {
                    Some(i) => &mut table[i].1,
                    None => {
                        table.push((label, Vec::new()));
                        &mut table.last_mut().expect("just pushed").1
                    }
                };
                for (k, v) in figures.0 {
                    match entry.iter_mut().find(|(n, _)| *n == k) {
                        Some((_, values)) => values.push(v),
                        None => entry.push((k, vec![v])),
                    }
                }
            }
        }
        println!("\n## {name} (median of {runs} run(s))\n");
        println!("| figure | venuebox | node peer | floor | venuebox / peer | venuebox / floor |");
        println!("|---|---|---|---|---|---|");
        let medians = |server: &str| -> Vec<(String, f64)> {
            table
                .iter()
                .find(|(n, _)| *n == server)
                .map(|(_, series)| {
                    series
                        .iter()
                        .map(|(k, values)| (k.clone(), median(&mut values.clone())))
                        .collect()
                })
                .unwrap_or_default()
        };
        let (ours, peer, floor) = (medians("venuebox"), medians("node-peer"), medians("floor"));
        let of = |figures: &[(String, f64)], k: &str| {
            figures
                .iter()
                .find(|(n, _)| n == k)
                .map_or(f64::NAN, |(_, v)| *v)
        };
        for (k, v) in &ours {
            let (p, f) = (of(&peer, k), of(&floor, k));
            println!(
                "| {k} | {v:.2} | {p:.2} | {f:.2} | {:.2} | {:.2} |",
                v / p,
                v / f
            );
            if smoke {
                assert!(
                    v.is_finite() || k.contains("ms"),
                    "{name}: {k} is not a number"
                );
            }
        }
        // `--only` may leave venuebox out.
        if let Some(ours) = table.iter().find(|(n, _)| smoke && *n == "venuebox") {
            let errors: f64 = ours
                .1
                .iter()
                .filter(|(k, _)| k == "errors")
                .flat_map(|(_, v)| v.iter())
                .sum();
            assert_eq!(
                errors, 0.0,
                "{name}: venuebox refused requests in the smoke run"
            );
            let closes_seen = ours
                .1
                .iter()
                .find(|(k, _)| k == "viewers that saw the close")
                .map(|(_, v)| v.iter().sum::<f64>());
            assert_ne!(closes_seen, Some(0.0), "{name}: no viewer saw EVENT_CLOSED");
            // A run that acknowledged nothing measured nothing (its latencies are NaN): fail it.
            for (k, v) in &ours.1 {
                if k.starts_with("acked ") {
                    assert!(
                        v.iter().sum::<f64>() > 0.0,
                        "{name}: venuebox acknowledged nothing ({k})"
                    );
                }
            }
        }
    }
}
