//! Durable scans per second and ack latency, batched (group commit) against one commit per scan,
//! at several fsync latencies injected by the fault backend on top of the real disk.
//!
//! Run: `cargo bench --bench durable_scans` (add `-- --quick` for a short run). 50 concurrent
//! clients each keep two scans in flight (a station does not wait for one ack before it sends
//! the next scan) and send the next as soon as one is acknowledged; one row per fsync latency
//! also shows clients that wait for each ack. Each case runs three times; the table shows the
//! medians. `-- --fsync 20` runs the rows of one latency only.
//!
//! A commit that makes the file longer waits for two fsyncs (redb makes the longer file durable
//! before the commit's own), and redb doubles the file each time it grows, so a fresh file grows
//! within the first seconds and then ever more rarely. The table counts those growths, and one
//! row measures after [`NIGHT_SO_FAR`] scans, when the file is past its first doublings.

use std::sync::Arc;
use std::time::{Duration, Instant};

use venuebox::domain::Domain;
use venuebox::engine::{self, MAX_BATCH};
use venuebox::gm::domain::{DeviceKind, GmCommand, Limits, ScanRequest};
use venuebox::gm::tokens::{ScoringRules, TokenCatalog};
use venuebox::hub::Hub;
use venuebox::store::faults::{FaultPlan, RealSyncs};
use venuebox::store::Store;

const CLIENTS: usize = 50;

struct Run {
    scans_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// Over the same time as the scans: the last acks come after the sending stopped.
    fsyncs_per_sec: f64,
    /// Times the file was lengthened; the commit that does it waits for one more fsync each time.
    growths: u64,
    /// The host disk's own fsyncs under the injected delay, over the measured time.
    real_fsyncs: RealSyncs,
    /// The database file's size after the run.
    file_mib: f64,
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

/// One row of the table.
#[derive(Clone, Copy)]
struct Case {
    fsync: Duration,
    batch_limit: usize,
    in_flight: usize,
    /// Scans committed (without the injected delay) before the measured ones: a box some way
    /// into its night, whose file already grew past its first sizes.
    logged_before: usize,
}

/// Sends scans from `CLIENTS * in_flight` lanes, each sending its next when the last is
/// acknowledged, for as long as `until` says; returns each scan's ack latency in milliseconds.
async fn send_scans(
    engine: &engine::EngineHandle,
    tokens: &Arc<Vec<String>>,
    in_flight: usize,
    label: &'static str,
    until: Until,
) -> Vec<f64> {
    let started = Instant::now();
    let mut lanes = Vec::new();
    for lane in 0..CLIENTS * in_flight {
        let client = lane % CLIENTS;
        let engine = engine.clone();
        let tokens = tokens.clone();
        lanes.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n = 0usize;
            while until.goes_on(started, n) {
                let sent = Instant::now();
                engine
                    .execute(
                        GmCommand::Scan(ScanRequest {
                            token_id: tokens[(client + n) % tokens.len()].clone(),
                            team_id: Some(format!("TEAM_{}", client % 5)),
                            device_id: format!("GM_{client}"),
                            device_kind: DeviceKind::Gm,
                            scanned_at: Some(0),
                            client_scan_id: Some(format!("{label}-{lane}-{n}")),
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
    for lane in lanes {
        latencies.extend(lane.await.expect("lane"));
    }
    latencies
}

#[derive(Clone, Copy)]
enum Until {
    Elapsed(Duration),
    ScansPerLane(usize),
}

impl Until {
    fn goes_on(self, started: Instant, sent: usize) -> bool {
        match self {
            Until::Elapsed(duration) => started.elapsed() < duration,
            Until::ScansPerLane(scans) => sent < scans,
        }
    }
}

async fn run_once(case: Case, duration: Duration) -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench.redb");
    let plan = FaultPlan::new();
    let store = Store::open_with_faults(&path, plan.clone()).expect("store");
    let catalog = TokenCatalog::demo(&ScoringRules::default());
    let tokens: Arc<Vec<String>> = Arc::new(catalog.tokens().map(|t| t.id.clone()).collect());
    let domain = Domain::new(catalog, Limits::default());
    let (engine, _task) = engine::start_with_batch_limit(
        store,
        domain,
        Arc::new(Hub::new(4096)),
        4096,
        case.batch_limit,
    )
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
    if case.logged_before > 0 {
        let per_lane = case.logged_before / (CLIENTS * 2);
        send_scans(&engine, &tokens, 2, "before", Until::ScansPerLane(per_lane)).await;
    }
    plan.set_fsync_delay(case.fsync);
    let syncs_before = plan.sync_count();
    let growths_before = plan.growth_count();
    // The opening and the pre-fill's fsyncs are not the measured ones.
    plan.take_real_syncs();
    let started = Instant::now();
    let mut latencies = send_scans(
        &engine,
        &tokens,
        case.in_flight,
        "measured",
        Until::Elapsed(duration),
    )
    .await;
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    Run {
        scans_per_sec: latencies.len() as f64 / elapsed,
        p50_ms: percentile(&latencies, 0.50),
        p99_ms: percentile(&latencies, 0.99),
        fsyncs_per_sec: (plan.sync_count() - syncs_before) as f64 / elapsed,
        growths: plan.growth_count() - growths_before,
        real_fsyncs: plan.take_real_syncs(),
        file_mib: std::fs::metadata(&path).map_or(f64::NAN, |m| m.len() as f64 / 1048576.0),
    }
}

/// Scans in the log before the measured ones in the "into the night" row: the file has grown
/// through its first doublings, as it has 17 minutes into a night of 10 stations at the seed's
/// rate limit (100 scans a second).
const NIGHT_SO_FAR: usize = 100_000;

/// The fsync latencies injected, in milliseconds: a fast disk, a good card, the design's
/// reference card and a slow one.
const FSYNC_MS: [u64; 4] = [0, 5, 20, 50];

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    // `--fsync 20` runs the rows of one latency only.
    let only: Option<u64> = args.iter().position(|a| a == "--fsync").map(|i| {
        args.get(i + 1)
            .and_then(|v| v.parse().ok())
            .filter(|ms| FSYNC_MS.contains(ms))
            .unwrap_or_else(|| panic!("--fsync takes one of {FSYNC_MS:?} (milliseconds)"))
    });
    let duration = Duration::from_secs(if quick { 1 } else { 3 });
    println!("| fsync added | commits | in flight per client | scans in the log before | scans/s | ack p50 (ms) | ack p99 (ms) | fsyncs/s | file grown (times per run) | file after (MiB) | the disk's own fsync: mean · longest (ms) | target |");
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for fsync_ms in FSYNC_MS {
        if only.is_some_and(|only| only != fsync_ms) {
            continue;
        }
        let fsync = Duration::from_millis(fsync_ms);
        let mut rows = vec![
            ("batched", MAX_BATCH, 2, 0),
            ("batched", MAX_BATCH, 1, 0),
            ("one per scan", 1, 2, 0),
        ];
        if fsync_ms == 20 {
            rows.insert(1, ("batched", MAX_BATCH, 2, NIGHT_SO_FAR));
        }
        for (label, batch_limit, in_flight, logged_before) in rows {
            let case = Case {
                fsync,
                batch_limit,
                in_flight,
                logged_before,
            };
            let mut runs = Vec::new();
            for _ in 0..3 {
                runs.push(run_once(case, duration).await);
            }
            let rate = median(runs.iter().map(|r| r.scans_per_sec).collect());
            let p50 = median(runs.iter().map(|r| r.p50_ms).collect());
            let p99 = median(runs.iter().map(|r| r.p99_ms).collect());
            let fsyncs = median(runs.iter().map(|r| r.fsyncs_per_sec).collect());
            let growths: Vec<String> = runs.iter().map(|r| r.growths.to_string()).collect();
            let file_mib = median(runs.iter().map(|r| r.file_mib).collect());
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            let real_mean = median(runs.iter().map(|r| ms(r.real_fsyncs.mean())).collect());
            let real_longest = runs
                .iter()
                .map(|r| ms(r.real_fsyncs.longest))
                .fold(0.0, f64::max);
            let target = if fsync_ms == 20 && batch_limit == MAX_BATCH && in_flight == 2 {
                let ok = rate >= 2000.0 && p99 <= 2.0 * 20.0 + 10.0;
                format!(
                    "≥ 2,000/s, p99 ≤ 50 ms: {}",
                    if ok { "met" } else { "NOT met" }
                )
            } else {
                String::new()
            };
            println!(
                "| {fsync_ms} ms | {label} | {in_flight} | {logged_before} | {rate:.0} | {p50:.1} | {p99:.1} | {fsyncs:.0} | {} | {file_mib:.1} | {real_mean:.2} · {real_longest:.1} | {target} |",
                growths.join(" · ")
            );
        }
    }
}
