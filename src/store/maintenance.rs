//! Technician tools on a database file: `venuebox check` (integrity report) and
//! `venuebox export` (the log as JSON lines).
//!
//! Both work on a private copy of the file, so they never change the original, even when redb
//! would repair it on open. They refuse to run while a box holds the file.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable};

use super::{decode, StoreError, LOG, META};
use crate::domain::Event;

#[derive(Debug, thiserror::Error)]
pub enum MaintenanceError {
    #[error("no database at {0}")]
    Missing(PathBuf),
    #[error("cannot copy {path} for checking: {cause}")]
    Copy {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the export: {0}")]
    Output(#[from] std::io::Error),
}

/// What `venuebox check` found.
#[derive(Debug, Default, serde::Serialize)]
pub struct CheckReport {
    pub path: String,
    /// The storage engine's page checksums and structure: "ok", "repairable" or the damage.
    pub integrity: String,
    pub schema_version: Option<u64>,
    pub records: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    /// Records per event kind.
    pub kinds: BTreeMap<String, u64>,
    /// Records per record version (1: written before each contract had its own tag; 2: now).
    pub record_versions: BTreeMap<u8, u64>,
    /// Records that could not be decoded, with the reason (at most 20 listed).
    pub undecodable: Vec<String>,
    /// Gaps in the sequence numbers (a log written by the engine has none).
    pub gaps: u64,
}

impl CheckReport {
    pub fn healthy(&self) -> bool {
        self.integrity == "ok" && self.undecodable.is_empty() && self.gaps == 0
    }
}

fn ensure_free(path: &Path) -> Result<(), MaintenanceError> {
    if !path.exists() {
        return Err(MaintenanceError::Missing(path.to_path_buf()));
    }
    // Opening the original read-only takes redb's lock: it fails while a box runs on it.
    match redb::ReadOnlyDatabase::open(path) {
        Err(redb::DatabaseError::DatabaseAlreadyOpen) => Err(StoreError::InUse {
            path: path.display().to_string(),
        }
        .into()),
        _ => Ok(()),
    }
}

/// Copies the file next to a temp dir and opens the copy with redb's full integrity check.
fn open_copy(
    path: &Path,
) -> Result<(tempfile::TempDir, Result<Database, String>), MaintenanceError> {
    ensure_free(path)?;
    let dir = tempfile::tempdir().map_err(|cause| MaintenanceError::Copy {
        path: path.to_path_buf(),
        cause,
    })?;
    let copy = dir.path().join("copy.redb");
    std::fs::copy(path, &copy).map_err(|cause| MaintenanceError::Copy {
        path: path.to_path_buf(),
        cause,
    })?;
    let opened = std::panic::catch_unwind(|| {
        Database::builder()
            .set_check_integrity_on_open(true)
            .open(&copy)
    });
    let database = match opened {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the storage engine could not read its own structures".into()),
    };
    Ok((dir, database))
}

/// Reads every record of the copy, decoding each; `visit` gets what decodes.
fn walk(
    database: &Database,
    report: &mut CheckReport,
    mut visit: impl FnMut(u64, &[u8], &Event) -> Result<(), std::io::Error>,
) -> Result<(), MaintenanceError> {
    let tx = database
        .begin_read()
        .map_err(|e| StoreError::Redb(e.into()))?;
    if let Ok(meta) = tx.open_table(META) {
        report.schema_version = meta.get("schema_version").ok().flatten().map(|v| v.value());
    }
    let log = tx.open_table(LOG).map_err(|e| StoreError::Redb(e.into()))?;
    let mut previous: Option<u64> = None;
    for entry in log.iter().map_err(|e| StoreError::Redb(e.into()))? {
        let (seq, bytes) = entry.map_err(|e| StoreError::Redb(e.into()))?;
        let seq = seq.value();
        report.records += 1;
        report.first_seq.get_or_insert(seq);
        report.last_seq = Some(seq);
        if previous.is_some_and(|p| seq != p + 1) {
            report.gaps += 1;
        }
        previous = Some(seq);
        let bytes = bytes.value();
        match decode(seq, bytes) {
            Ok(event) => {
                *report.kinds.entry(event.kind().into()).or_default() += 1;
                *report.record_versions.entry(bytes[0]).or_default() += 1;
                visit(seq, bytes, &event)?;
            }
            Err(e) if report.undecodable.len() < 20 => report.undecodable.push(e.to_string()),
            Err(_) => {}
        }
    }
    Ok(())
}

/// `venuebox check`: a report on the file, which is left untouched.
pub fn check(path: &Path) -> Result<CheckReport, MaintenanceError> {
    let (_dir, database) = open_copy(path)?;
    let mut report = CheckReport {
        path: path.display().to_string(),
        ..CheckReport::default()
    };
    match database {
        Ok(database) => {
            report.integrity = "ok".into();
            walk(&database, &mut report, |_, _, _| Ok(()))?;
        }
        Err(damage) => report.integrity = damage,
    }
    Ok(report)
}

/// `venuebox export`: every readable record as one JSON line `{"seq", "version", "event"}`,
/// with `"clockConfirmed"` for records that say whether the wall clock was confirmed.
/// Returns the check report of what was read (undecodable records are skipped and listed).
pub fn export(path: &Path, out: &mut impl Write) -> Result<CheckReport, MaintenanceError> {
    let (_dir, database) = open_copy(path)?;
    let mut report = CheckReport {
        path: path.display().to_string(),
        ..CheckReport::default()
    };
    let database = database.map_err(|cause| StoreError::Damaged {
        path: path.display().to_string(),
        cause,
    })?;
    report.integrity = "ok".into();
    walk(&database, &mut report, |seq, record, event| {
        let mut line = serde_json::json!({ "seq": seq, "version": record[0], "event": event });
        if let Some(confirmed) = super::wall_clock_confirmed(record) {
            line["clockConfirmed"] = confirmed.into();
        }
        writeln!(out, "{line}")
    })?;
    out.flush()?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn write_log(path: &Path, n: u64) {
        let store = Store::open(path).unwrap();
        let events: Vec<Event> = (0..n).map(crate::domain::sample_event).collect();
        store.append(1, &events).unwrap();
    }

    #[test]
    fn check_and_export_read_a_healthy_log_without_changing_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("venuebox.redb");
        write_log(&path, 5);
        let before = std::fs::read(&path).unwrap();
        let report = check(&path).unwrap();
        assert!(report.healthy(), "{report:?}");
        assert_eq!(report.records, 5);
        assert_eq!(report.last_seq, Some(5));
        assert_eq!(report.kinds["DeviceDisconnected"], 5);
        let mut out = Vec::new();
        export(&path, &mut out).unwrap();
        let lines: Vec<serde_json::Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[4]["seq"], 5);
        assert_eq!(lines[0]["event"]["DeviceDisconnected"]["device_id"], "GM_0");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            before,
            "the file is untouched"
        );
    }

    #[test]
    fn check_refuses_while_a_box_holds_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("venuebox.redb");
        let _running = Store::open(&path).unwrap();
        let err = check(&path).unwrap_err();
        assert!(err.to_string().contains("in use"), "{err}");
    }

    #[test]
    fn a_damaged_file_is_reported_and_left_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("venuebox.redb");
        write_log(&path, 200);
        let mut bytes = std::fs::read(&path).unwrap();
        // Scribble over the page that holds record "GM_150".
        let at = bytes
            .windows(6)
            .position(|w| w == b"GM_150")
            .expect("the record is in the file");
        for b in &mut bytes[at.saturating_sub(64)..at + 64] {
            *b ^= 0x5a;
        }
        std::fs::write(&path, &bytes).unwrap();
        let report = check(&path).unwrap();
        assert!(!report.healthy(), "{report:?}");
        let boot = Store::open(&path).unwrap_err();
        assert!(matches!(boot, StoreError::Damaged { .. }), "{boot:?}");
        let message = boot.to_string();
        assert!(message.contains("venuebox check"), "{message}");
        assert!(message.contains("not changed"), "{message}");
        assert!(
            std::fs::read(&path).unwrap() == bytes,
            "the damaged file is never overwritten"
        );
    }
}
