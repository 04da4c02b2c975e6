//! Durable scans per second and ack latency, batched (group commit) against one commit per scan,
//! at several fsync latencies injected by the fault backend on top of the real disk.
//!
//! Run: `cargo bench --bench durable_scans` (add `-- --quick` for a short run). 50 concurrent
//! clients each keep two scans in flight (a station does not wait for one ack before it sends
//! the next scan) and send the next as soon as one is acknowledged; one row per fsync latency
//! also shows clients that wait for each ack. Each case runs three times; the table shows the
//! medians.

use std::sync::Arc;
use std::time::{Duration, Instant};

use venuebox::domain::Domain;
use venuebox::engine::{self, MAX_BATCH};
use venuebox::gm::domain::{DeviceKind, GmCommand, Limits, ScanRequest};
use venuebox::gm::tokens::{ScoringRules, TokenCatalog};
use venuebox::hub::Hub;
use venuebox::store::faults::FaultPlan;
use venuebox::store::Store;

const CLIENTS: usize = 50;

struct Run {
    scans_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// Over the same time as the scans: the last acks come after the sending stopped.
    fsyncs_per_sec: f64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index]
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

async fn run_once(
    fsync: Duration,
    batch_limit: usize,
    in_flight: usize,
    duration: Duration,
) -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    let plan = FaultPlan::with_fsync_delay(fsync);
    let store =
        Store::open_with_faults(&dir.path().join("bench.redb"), plan.clone()).expect("store");
    let catalog = TokenCatalog::demo(&ScoringRules::default());
    let tokens: Vec<String> = catalog.tokens().map(|t| t.id.clone()).collect();
    let domain = Domain::new(catalog, Limits::default());
    let (engine, _task) =
        engine::start_with_batch_limit(store, domain, Arc::new(Hub::new(4096)), 4096, batch_limit)
            .expect("engine");
    engine
        .execute(
            GmCommand::CreateSession {
                session_id: "bench".into(),
                name: "bench".into(),
                teams: None,
            }
            .into(),
        )
        .await
        .expect("session");
    let syncs_before = plan.sync_count();
    let started = Instant::now();
    let mut clients = Vec::new();
    for lane in 0..CLIENTS * in_flight {
        let client = lane % CLIENTS;
        let engine = engine.clone();
        let tokens = tokens.clone();
        clients.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n = 0usize;
            while started.elapsed() < duration {
                let sent = Instant::now();
                engine
                    .execute(
                        GmCommand::Scan(ScanRequest {
                            token_id: tokens[(client + n) % tokens.len()].clone(),
                            team_id: Some(format!("TEAM_{}", client % 5)),
                            device_id: format!("GM_{client}"),
                            device_kind: DeviceKind::Gm,
                            scanned_at: Some(0),
                            client_scan_id: Some(format!("{lane}-{n}")),
                        })
                        .into(),
                    )
                    .await
                    .expect("scan acknowledged");
                latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                n += 1;
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for client in clients {
        latencies.extend(client.await.expect("client"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    Run {
        scans_per_sec: latencies.len() as f64 / elapsed,
        p50_ms: percentile(&latencies, 0.50),
        p99_ms: percentile(&latencies, 0.99),
        fsyncs_per_sec: (plan.sync_count() - syncs_before) as f64 / elapsed,
    }
}

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let duration = Duration::from_secs(if quick { 1 } else { 3 });
    println!("| fsync added | commits | in flight per client | scans/s | ack p50 (ms) | ack p99 (ms) | fsyncs/s | target |");
    println!("|---:|---|---:|---:|---:|---:|---:|---|");
    for fsync_ms in [0u64, 5, 20, 50] {
        for (label, limit, in_flight) in [
            ("batched", MAX_BATCH, 2),
            ("batched", MAX_BATCH, 1),
            ("one per scan", 1, 2),
        ] {
            let mut runs = Vec::new();
            for _ in 0..3 {
                let fsync = Duration::from_millis(fsync_ms);
                runs.push(run_once(fsync, limit, in_flight, duration).await);
            }
            let rate = median(runs.iter().map(|r| r.scans_per_sec).collect());
            let p50 = median(runs.iter().map(|r| r.p50_ms).collect());
            let p99 = median(runs.iter().map(|r| r.p99_ms).collect());
            let fsyncs = median(runs.iter().map(|r| r.fsyncs_per_sec).collect());
            let target = if fsync_ms == 20 && limit == MAX_BATCH && in_flight == 2 {
                let ok = rate >= 2000.0 && p99 <= 2.0 * 20.0 + 10.0;
                format!(
                    "≥ 2,000/s, p99 ≤ 50 ms: {}",
                    if ok { "met" } else { "NOT met" }
                )
            } else {
                String::new()
            };
            println!("| {fsync_ms} ms | {label} | {in_flight} | {rate:.0} | {p50:.1} | {p99:.1} | {fsyncs:.0} | {target} |");
        }
    }
}
