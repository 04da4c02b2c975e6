//! Boot-to-ready time against log size: open the database, replay the log into the domain, and
//! publish the first view — everything the box does before it listens.
//!
//! Run: `cargo bench --bench recovery` (add `-- --quick` to skip the 1,000,000-event log).
//! The logs are mostly GM scans, as a venue's are, written in batches of 10,000 without
//! snapshots. The first boot replays the whole log and writes a snapshot (what happens once after
//! an upgrade or a new token file); the boots after it read the snapshot and the tail, which is
//! what a box that ran normally does (the engine writes a snapshot every 10,000 events).

use std::sync::Arc;
use std::time::Instant;

use venuebox::domain::{Domain, Event};
use venuebox::engine;
use venuebox::gm::domain::{DeviceKind, GmEvent, Limits, Transaction, TransactionStatus};
use venuebox::gm::tokens::{ScoringRules, TokenCatalog};
use venuebox::hub::Hub;
use venuebox::store::Store;

fn write_log(path: &std::path::Path, events: u64, tokens: &[String]) {
    let store = Store::open(path).expect("store");
    let mut seq = 1;
    let mut batch = vec![Event::Gm(GmEvent::SessionCreated {
        session_id: "s".into(),
        name: "bench".into(),
        teams: None,
        at: 0,
    })];
    for n in 1..events {
        let token = &tokens[(n as usize) % tokens.len()];
        batch.push(Event::Gm(GmEvent::ScanRecorded(Arc::new(Transaction {
            id: format!("tx-{n:08}"),
            session_id: "s".into(),
            token_id: token.clone(),
            team_id: Some(format!("TEAM_{}", n % 7)),
            device_id: format!("GM_{}", n % 5),
            device_kind: DeviceKind::Gm,
            scanned_at: n,
            recorded_at: n,
            status: if n < tokens.len() as u64 {
                TransactionStatus::Accepted
            } else {
                TransactionStatus::Duplicate
            },
            rejection_reason: None,
            points: 0,
            client_scan_id: Some(format!("{}-{n}", n % 5)),
            video_queued: false,
        }))));
        if batch.len() == 10_000 {
            store.append(seq, &batch).expect("append");
            seq += batch.len() as u64;
            batch.clear();
        }
    }
    store.append(seq, &batch).expect("append");
}

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let sizes: &[u64] = if quick {
        &[10_000, 100_000]
    } else {
        &[10_000, 100_000, 1_000_000]
    };
    let catalog = TokenCatalog::demo(&ScoringRules::default());
    let tokens: Vec<String> = catalog.tokens().map(|t| t.id.clone()).collect();
    println!(
        "| log events | file size | first boot (full replay) | boot with snapshot, median of 3 |"
    );
    println!("|---:|---:|---:|---:|");
    for &size in sizes {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("venuebox.redb");
        write_log(&path, size, &tokens);
        let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let mut times = Vec::new();
        for _ in 0..4 {
            let started = Instant::now();
            let store = Store::open(&path).expect("open");
            let domain = Domain::new(catalog.clone(), Limits::default());
            let (engine, task) =
                engine::start(store, domain, Arc::new(Hub::new(16)), 16).expect("replay");
            assert!(engine.published().seq >= size);
            times.push(started.elapsed().as_secs_f64());
            drop(engine);
            task.stop().await.expect("engine");
        }
        let first = times.remove(0);
        times.sort_by(f64::total_cmp);
        let median = times[1];
        println!(
            "| {size} | {:.1} MiB | {first:.3} s | {median:.3} s |",
            bytes as f64 / 1_048_576.0,
        );
    }
}
