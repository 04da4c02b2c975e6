//! The durable event log in redb.
//!
//! Invariant: [`Store::append`] returns only after the write transaction committed with
//! `Durability::Immediate`, so whatever the engine acknowledges afterwards survives a power cut.
//! The engine hands it a whole batch at once: one fsync serves every command in the batch.
//!
//! Records are `[version byte][contract tag][flags][postcard of that contract's event]`
//! (version 3; [`crate::domain::Contract::tag`]; tag [`crate::domain::AUDIT_TAG`] holds the
//! staff's trail, indexed in the `audit` table; the flags say whether the wall clock that
//! stamped the event was confirmed). The version byte lets a later release read logs written
//! by an earlier one: version 2 records are the same without the flags byte, and version 1
//! records (`[1][postcard of the event enum of that build]`, written before each contract had
//! its own folder) are converted as they are read ([`v1`]); nothing rewrites them on disk.

pub mod faults;
pub mod maintenance;
pub mod mount;
mod v1;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use redb::{
    Database, DatabaseError, Durability, ReadableDatabase, ReadableTable, StorageError,
    TableDefinition,
};

use crate::domain::{AuditEntry, DomainSnapshot, Event};
use faults::{FaultPlan, FaultyBackend};

/// Global sequence number → encoded event.
const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
/// Small facts about the file itself, such as the schema version that wrote it.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// Last sequence number a snapshot covers → `[version byte][postcard of DomainSnapshot]`.
/// Only the newest is kept; it is a cache of the log, which stays the truth.
const SNAPSHOTS: TableDefinition<u64, &[u8]> = TableDefinition::new("snapshots");
/// The sequence numbers of the staff's trail ([`Event::Audit`]) in the log, so the trail is read
/// without walking a night of scans.
const AUDIT: TableDefinition<u64, ()> = TableDefinition::new("audit");
/// Scratch space of [`Store::probe_write`]; empty between probes.
const PROBE: TableDefinition<u64, &[u8]> = TableDefinition::new("probe");
/// How much the write probe commits: more than a busy batch, so a card that takes it can take
/// the commits that follow.
pub const PROBE_BYTES: usize = 1024 * 1024;

/// Memory redb may use for pages it read or wrote. It fills with the pages each commit writes
/// until it reaches this, so it is part of the box's memory after a warm-up: its default
/// (1 GiB) would grow with the log past the unit's `MemoryMax` on a long night, and 8 MiB took
/// a busy night 20 minutes to fill (the soak in bench/RESULTS.md shows both). What is read
/// again is the log's tail (resuming clients) and the newest snapshot at boot, which the
/// kernel's page cache holds as well.
pub const CACHE_BYTES: usize = 2 * 1024 * 1024;

/// The snapshot format this build writes; any other is ignored (boot replays the whole log).
pub const SNAPSHOT_VERSION: u8 = 11;

/// The record version this build writes.
pub const RECORD_VERSION: u8 = 3;
/// Records of version 2: `[2][contract tag][postcard]`, no flags.
const RECORD_VERSION_2: u8 = 2;
/// A version 3 record's flag: the wall clock was confirmed (by staff, or trusted by
/// configuration) when the event was stamped.
const WALL_CLOCK_CONFIRMED: u8 = 1;
/// The schema version of the tables; bumped when tables change shape or records a build
/// cannot skip appear. 2: the staff's trail (records under [`crate::domain::AUDIT_TAG`] and
/// the `audit` table). 3: record version 3 (the flags byte). 4: viewers' joins with a ticket
/// (`PredictionEvent::ViewerJoinedWithTicket`). A file is marked with this
/// build's version when it opens it, so an older build refuses it by name rather than failing
/// on a record it does not know.
pub const SCHEMA_VERSION: u64 = 4;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database {path} is damaged ({cause}). It was not changed. Run `venuebox check` for a report and `venuebox export` to save what can be read; then move the file aside to start with an empty log")]
    Damaged { path: String, cause: String },
    #[error("the database {path} is in use by another venuebox process; stop it first")]
    InUse { path: String },
    #[error("cannot open the database {path}: {cause}. The file was not changed")]
    Open { path: String, cause: String },
    #[error("database error: {0}")]
    Redb(#[from] redb::Error),
    #[error("log record {seq} cannot be decoded: {reason}")]
    Decode { seq: u64, reason: String },
    #[error("the database was written by a newer venuebox (schema {found}, this build reads up to {SCHEMA_VERSION})")]
    NewerSchema { found: u64 },
    #[error("cannot encode a log record: {0}")]
    Encode(#[from] postcard::Error),
    #[error(
        "the database is closed after a storage failure; it is reopened when the fault clears"
    )]
    Closed,
    #[error("cannot start the commit thread: {0}")]
    Thread(String),
}

/// Converts any redb error type into [`StoreError::Redb`].
fn db<E: Into<redb::Error>>(e: E) -> StoreError {
    StoreError::Redb(e.into())
}

type Opener = Arc<dyn Fn() -> Result<Database, DatabaseError> + Send + Sync>;

/// Handle to the database file. Only the engine writes; it may close and reopen the file after
/// a storage failure ([`Store::reopen`]).
pub struct Store {
    db: Mutex<Option<Database>>,
    opener: Opener,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

pub fn encode(event: &Event, wall_clock_confirmed: bool) -> Result<Vec<u8>, StoreError> {
    let flags = if wall_clock_confirmed {
        WALL_CLOCK_CONFIRMED
    } else {
        0
    };
    let mut bytes = vec![RECORD_VERSION, event.tag(), flags];
    bytes.extend(event.encode_body()?);
    Ok(bytes)
}

/// Whether the wall clock was confirmed when the record was written; `None` for a record of
/// a version that did not say (before 3).
pub fn wall_clock_confirmed(record: &[u8]) -> Option<bool> {
    match record {
        [RECORD_VERSION, _tag, flags, ..] => Some(flags & WALL_CLOCK_CONFIRMED != 0),
        _ => None,
    }
}

/// A snapshot encoded for the log, with the last sequence it covers. Encoding a night's state
/// takes milliseconds, so the engine does it away from the commits, which only store the bytes.
pub struct EncodedSnapshot {
    seq: u64,
    bytes: Vec<u8>,
}

impl EncodedSnapshot {
    pub fn encode(seq: u64, snapshot: &DomainSnapshot) -> Result<Self, StoreError> {
        let mut bytes = vec![SNAPSHOT_VERSION];
        bytes.extend(postcard::to_stdvec(snapshot)?);
        Ok(Self { seq, bytes })
    }

    /// The last sequence number the snapshot covers.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Stores the snapshot in `tx`, in place of the older ones.
    fn replace_older(&self, tx: &redb::WriteTransaction) -> Result<(), StoreError> {
        let mut table = tx.open_table(SNAPSHOTS).map_err(db)?;
        table.retain(|key, _| key > self.seq).map_err(db)?;
        table.insert(self.seq, self.bytes.as_slice()).map_err(db)?;
        Ok(())
    }
}

pub fn decode(seq: u64, bytes: &[u8]) -> Result<Event, StoreError> {
    let failed = |reason: String| StoreError::Decode { seq, reason };
    let tagged = |tag: u8, body: &[u8]| {
        Event::decode_body(tag, body)
            .ok_or_else(|| failed(format!("contract tag {tag} is unknown to this build")))?
            .map_err(|e| failed(e.to_string()))
    };
    match bytes.split_first() {
        Some((&RECORD_VERSION, rest)) => match rest {
            [tag, _flags, body @ ..] => tagged(*tag, body),
            _ => Err(failed("record without a contract tag and flags".into())),
        },
        Some((&RECORD_VERSION_2, rest)) => match rest {
            [tag, body @ ..] => tagged(*tag, body),
            _ => Err(failed("record without a contract tag".into())),
        },
        Some((&v1::VERSION, body)) => v1::decode(body).map_err(|e| failed(e.to_string())),
        Some((version, _)) => Err(StoreError::Decode {
            seq,
            reason: format!("record version {version} is unknown to this build"),
        }),
        None => Err(StoreError::Decode {
            seq,
            reason: "empty record".into(),
        }),
    }
}

/// Opens with redb's own crash recovery, turning its failures (and a panic on a file damaged
/// outside redb) into errors that say what to do.
fn open_checked(opener: &Opener, path: &Path) -> Result<Database, StoreError> {
    let shown = path.display().to_string();
    match catch_unwind(AssertUnwindSafe(|| opener())) {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(DatabaseError::DatabaseAlreadyOpen)) => Err(StoreError::InUse { path: shown }),
        Ok(Err(DatabaseError::Storage(StorageError::Corrupted(cause)))) => {
            Err(StoreError::Damaged { path: shown, cause })
        }
        Ok(Err(DatabaseError::Storage(StorageError::Io(e))))
            if e.kind() == std::io::ErrorKind::InvalidData =>
        {
            Err(StoreError::Damaged {
                path: shown,
                cause: e.to_string(),
            })
        }
        Ok(Err(e)) => Err(StoreError::Open {
            path: shown,
            cause: e.to_string(),
        }),
        Err(_) => Err(StoreError::Damaged {
            path: shown,
            cause: "the storage engine could not read its own structures".into(),
        }),
    }
}

/// Reads the whole log through a read-only handle before anything may write to the file, so a
/// damaged file is refused untouched. A file left open by a power cut cannot be opened
/// read-only; it goes to redb's crash recovery, which the commit protocol makes safe.
fn verify_untouched(path: &Path) -> Result<(), StoreError> {
    let shown = || path.display().to_string();
    if std::fs::metadata(path).map_or(true, |m| m.len() == 0) {
        return Ok(());
    }
    let damaged = |cause: String| StoreError::Damaged {
        path: shown(),
        cause,
    };
    let read_all = || -> Result<(), StoreError> {
        let database = match redb::ReadOnlyDatabase::open(path) {
            Ok(database) => database,
            Err(DatabaseError::RepairAborted) => return Ok(()),
            Err(DatabaseError::DatabaseAlreadyOpen) => {
                return Err(StoreError::InUse { path: shown() })
            }
            Err(DatabaseError::Storage(StorageError::Corrupted(cause))) => {
                return Err(damaged(cause))
            }
            Err(e) => return Err(damaged(e.to_string())),
        };
        let tx = database.begin_read().map_err(|e| damaged(e.to_string()))?;
        let log = match tx.open_table(LOG) {
            Ok(log) => log,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
            Err(e) => return Err(damaged(e.to_string())),
        };
        // Boot reads the newest snapshot and the log after it; that is what must be readable.
        let covered = match tx.open_table(SNAPSHOTS) {
            Ok(snapshots) => snapshots
                .last()
                .map_err(|e| damaged(e.to_string()))?
                .map_or(0, |(seq, _)| seq.value()),
            Err(_) => 0,
        };
        for entry in log
            .range(covered + 1..)
            .map_err(|e| damaged(e.to_string()))?
        {
            let (seq, bytes) = entry.map_err(|e| damaged(e.to_string()))?;
            decode(seq.value(), bytes.value()).map_err(|e| damaged(e.to_string()))?;
        }
        Ok(())
    };
    catch_unwind(AssertUnwindSafe(read_all)).unwrap_or_else(|_| {
        Err(damaged(
            "the storage engine could not read its own structures".into(),
        ))
    })
}

impl Store {
    /// Opens (or creates) the database file and makes sure this build can read it.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        verify_untouched(path)?;
        let file = path.to_path_buf();
        Self::with_opener(
            path,
            Arc::new(move || {
                Database::builder()
                    .set_cache_size(CACHE_BYTES)
                    .create(&file)
            }),
        )
    }

    /// Opens the file through a [`FaultyBackend`] steered by `plan` (tests and benchmarks).
    pub fn open_with_faults(path: &Path, plan: Arc<FaultPlan>) -> Result<Self, StoreError> {
        let file = path.to_path_buf();
        Self::with_opener(
            path,
            Arc::new(move || {
                let handle = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(&file)
                    .map_err(|e| DatabaseError::Storage(StorageError::Io(e)))?;
                Database::builder()
                    .set_cache_size(CACHE_BYTES)
                    .create_with_backend(FaultyBackend::new(handle, plan.clone())?)
            }),
        )
    }

    fn with_opener(path: &Path, opener: Opener) -> Result<Self, StoreError> {
        let database = open_checked(&opener, path)?;
        let store = Self {
            db: Mutex::new(Some(database)),
            opener,
            path: path.to_path_buf(),
        };
        store.init_schema()?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn guard(&self) -> MutexGuard<'_, Option<Database>> {
        self.db.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn with_db<R>(
        &self,
        f: impl FnOnce(&Database) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let guard = self.guard();
        let database = guard.as_ref().ok_or(StoreError::Closed)?;
        f(database)
    }

    /// Closes the file for good: later calls answer [`StoreError::Closed`]. redb locks its file
    /// while a handle is open, so a box that stops must let go of it even if some task still
    /// holds the store (the next start in the same process would otherwise find it in use).
    pub fn close(&self) {
        drop(self.guard().take());
    }

    /// Closes the file and opens it again; redb recovers it to its last durable commit. Used
    /// after a storage failure, whose I/O error leaves redb's handle unusable.
    pub fn reopen(&self) -> Result<(), StoreError> {
        let mut guard = self.guard();
        // The old handle must be gone before the file can be opened again.
        drop(guard.take());
        *guard = Some(open_checked(&self.opener, &self.path)?);
        drop(guard);
        self.init_schema()
    }

    fn init_schema(&self) -> Result<(), StoreError> {
        self.with_db(|database| {
            let mut tx = database.begin_write().map_err(db)?;
            tx.set_durability(Durability::Immediate).map_err(db)?;
            {
                let mut meta = tx.open_table(META).map_err(db)?;
                let found = meta.get("schema_version").map_err(db)?.map(|v| v.value());
                match found {
                    Some(v) if v > SCHEMA_VERSION => {
                        return Err(StoreError::NewerSchema { found: v })
                    }
                    Some(SCHEMA_VERSION) => {}
                    Some(_) | None => {
                        meta.insert("schema_version", SCHEMA_VERSION).map_err(db)?;
                    }
                }
                tx.open_table(LOG).map_err(db)?;
                tx.open_table(SNAPSHOTS).map_err(db)?;
                tx.open_table(AUDIT).map_err(db)?;
            }
            tx.commit().map_err(db)?;
            Ok(())
        })
    }

    /// The sequence number the next appended event will get.
    pub fn next_seq(&self) -> Result<u64, StoreError> {
        self.with_db(|database| {
            let tx = database.begin_read().map_err(db)?;
            let log = tx.open_table(LOG).map_err(db)?;
            let last = log.last().map_err(db)?.map(|(k, _)| k.value());
            Ok(last.map_or(1, |k| k + 1))
        })
    }

    /// Appends events with consecutive sequence numbers from `first_seq` in one durable commit.
    /// The events are marked as stamped by an unconfirmed wall clock.
    pub fn append(&self, first_seq: u64, events: &[Event]) -> Result<(), StoreError> {
        self.append_with_snapshot(first_seq, events, None, false)
    }

    /// [`Store::append`], with a snapshot of an earlier state (one already in the log) in the
    /// same commit, so a snapshot costs no fsync of its own, and whether the wall clock that
    /// stamped the events was confirmed.
    pub fn append_with_snapshot(
        &self,
        first_seq: u64,
        events: &[Event],
        snapshot: Option<&EncodedSnapshot>,
        wall_clock_confirmed: bool,
    ) -> Result<(), StoreError> {
        let encoded = events
            .iter()
            .map(|event| encode(event, wall_clock_confirmed))
            .collect::<Result<Vec<_>, _>>()?;
        self.with_db(|database| {
            let mut tx = database.begin_write().map_err(db)?;
            tx.set_durability(Durability::Immediate).map_err(db)?;
            {
                let mut log = tx.open_table(LOG).map_err(db)?;
                for (seq, bytes) in (first_seq..).zip(&encoded) {
                    log.insert(seq, bytes.as_slice()).map_err(db)?;
                }
                let audited = (first_seq..)
                    .zip(events)
                    .filter(|(_, e)| matches!(e, Event::Audit(_)));
                let mut audited = audited.map(|(seq, _)| seq).peekable();
                if audited.peek().is_some() {
                    let mut index = tx.open_table(AUDIT).map_err(db)?;
                    for seq in audited {
                        index.insert(seq, ()).map_err(db)?;
                    }
                }
                if let Some(snapshot) = snapshot {
                    snapshot.replace_older(&tx)?;
                }
            }
            tx.commit().map_err(db)?;
            Ok(())
        })
    }

    /// Proves the card takes writes again: a durable commit of [`PROBE_BYTES`] outside the log,
    /// then one that removes it. An empty commit writes next to nothing, so on a full card it
    /// succeeds and the box would call itself healed while every real commit still fails.
    pub fn probe_write(&self) -> Result<(), StoreError> {
        let payload = vec![0u8; PROBE_BYTES];
        self.with_db(|database| {
            for keep in [true, false] {
                let mut tx = database.begin_write().map_err(db)?;
                tx.set_durability(Durability::Immediate).map_err(db)?;
                {
                    let mut table = tx.open_table(PROBE).map_err(db)?;
                    if keep {
                        table.insert(0, payload.as_slice()).map_err(db)?;
                    } else {
                        table.remove(0).map_err(db)?;
                    }
                }
                tx.commit().map_err(db)?;
            }
            Ok(())
        })
    }

    /// Calls `visit` with every logged event in order; returns how many there were.
    pub fn replay(&self, visit: impl FnMut(u64, Event)) -> Result<u64, StoreError> {
        self.replay_after(0, visit)
    }

    /// Calls `visit` with every logged event after `after_seq`, in order.
    pub fn replay_after(
        &self,
        after_seq: u64,
        mut visit: impl FnMut(u64, Event),
    ) -> Result<u64, StoreError> {
        self.with_db(|database| {
            let tx = database.begin_read().map_err(db)?;
            let log = tx.open_table(LOG).map_err(db)?;
            let mut count = 0;
            for entry in log.range(after_seq + 1..).map_err(db)? {
                let (seq, bytes) = entry.map_err(db)?;
                let seq = seq.value();
                visit(seq, decode(seq, bytes.value())?);
                count += 1;
            }
            Ok(count)
        })
    }

    /// Stores `snapshot` as covering the log up to `seq`, durably, and drops older ones.
    pub fn write_snapshot(&self, seq: u64, snapshot: &DomainSnapshot) -> Result<(), StoreError> {
        self.write_encoded_snapshot(&EncodedSnapshot::encode(seq, snapshot)?)
    }

    /// [`Store::write_snapshot`] for a snapshot already encoded.
    pub fn write_encoded_snapshot(&self, snapshot: &EncodedSnapshot) -> Result<(), StoreError> {
        self.with_db(|database| {
            let mut tx = database.begin_write().map_err(db)?;
            tx.set_durability(Durability::Immediate).map_err(db)?;
            snapshot.replace_older(&tx)?;
            tx.commit().map_err(db)?;
            Ok(())
        })
    }

    /// The newest usable snapshot and the sequence it covers. A snapshot of another format or
    /// one that does not decode is skipped: the log is replayed instead.
    pub fn latest_snapshot(&self) -> Result<Option<(u64, DomainSnapshot)>, StoreError> {
        self.with_db(|database| {
            let tx = database.begin_read().map_err(db)?;
            let table = tx.open_table(SNAPSHOTS).map_err(db)?;
            let Some((seq, bytes)) = table.last().map_err(db)? else {
                return Ok(None);
            };
            let decoded = match bytes.value().split_first() {
                Some((&SNAPSHOT_VERSION, body)) => postcard::from_bytes(body).ok(),
                _ => None,
            };
            Ok(decoded.map(|snapshot| (seq.value(), snapshot)))
        })
    }

    /// Events with sequence numbers in `from..`, at most `limit` of them.
    pub fn read_from(&self, from: u64, limit: usize) -> Result<Vec<(u64, Event)>, StoreError> {
        // The handle's lock is held only to begin the read: a long read (a resume reaching
        // thousands of events back) must not hold up the engine's next commit.
        let tx = self.with_db(|database| database.begin_read().map_err(db))?;
        let log = tx.open_table(LOG).map_err(db)?;
        let mut out = Vec::new();
        for entry in log.range(from..).map_err(db)?.take(limit) {
            let (seq, bytes) = entry.map_err(db)?;
            out.push((seq.value(), decode(seq.value(), bytes.value())?));
        }
        Ok(out)
    }

    /// The staff's trail, newest first: at most `limit` entries logged before `before`, each
    /// with whether the wall clock that stamped it was confirmed (`None`: not recorded).
    pub fn read_audit(
        &self,
        before: u64,
        limit: usize,
    ) -> Result<Vec<(u64, AuditEntry, Option<bool>)>, StoreError> {
        let tx = self.with_db(|database| database.begin_read().map_err(db))?;
        let index = tx.open_table(AUDIT).map_err(db)?;
        let log = tx.open_table(LOG).map_err(db)?;
        let mut out = Vec::new();
        for entry in index.range(..before).map_err(db)?.rev().take(limit) {
            let seq = entry.map_err(db)?.0.value();
            let Some(bytes) = log.get(seq).map_err(db)? else {
                continue;
            };
            let bytes = bytes.value();
            if let Event::Audit(audit) = decode(seq, bytes)? {
                out.push((seq, audit, wall_clock_confirmed(bytes)));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::sample_event as sample;
    use crate::domain::Contract;

    #[test]
    fn an_older_schema_is_marked_current_and_a_newer_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.redb");
        let mark = |version: u64| {
            let database = Database::create(&path).unwrap();
            let tx = database.begin_write().unwrap();
            tx.open_table(META)
                .unwrap()
                .insert("schema_version", version)
                .unwrap();
            tx.commit().unwrap();
        };
        let read = || {
            let database = Database::create(&path).unwrap();
            let tx = database.begin_read().unwrap();
            let meta = tx.open_table(META).unwrap();
            let version = meta.get("schema_version").unwrap().unwrap().value();
            version
        };
        mark(1);
        drop(Store::open(&path).unwrap());
        assert_eq!(read(), SCHEMA_VERSION);
        mark(SCHEMA_VERSION + 1);
        let refused = Store::open(&path).unwrap_err();
        assert!(
            matches!(refused, StoreError::NewerSchema { .. }),
            "{refused}"
        );
    }

    #[test]
    fn appended_events_replay_in_order_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.redb");
        {
            let store = Store::open(&path).unwrap();
            assert_eq!(store.next_seq().unwrap(), 1);
            store.append(1, &[sample(1), sample(2)]).unwrap();
            store.append(3, &[sample(3)]).unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.next_seq().unwrap(), 4);
        let mut seen = Vec::new();
        let count = store.replay(|seq, e| seen.push((seq, e))).unwrap();
        assert_eq!(count, 3);
        assert_eq!(seen, vec![(1, sample(1)), (2, sample(2)), (3, sample(3))]);
        assert_eq!(store.read_from(2, 1).unwrap(), vec![(2, sample(2))]);
    }

    #[test]
    fn unknown_record_versions_are_reported_not_guessed() {
        let err = decode(7, &[99, 1, 2]).unwrap_err();
        assert!(err.to_string().contains("record version 99"), "{err}");
        assert!(decode(8, &[]).is_err());
        let good = encode(&sample(5), true).unwrap();
        assert_eq!(good[0], RECORD_VERSION);
        assert_eq!(good[1], Contract::Gm.tag());
        assert_eq!(decode(9, &good).unwrap(), sample(5));
        assert_eq!(wall_clock_confirmed(&good), Some(true));
        let unconfirmed = encode(&sample(5), false).unwrap();
        assert_eq!(wall_clock_confirmed(&unconfirmed), Some(false));
        // Version 2: the same without the flags byte, which it did not have.
        let mut v2 = vec![RECORD_VERSION_2, good[1]];
        v2.extend(&good[3..]);
        assert_eq!(decode(11, &v2).unwrap(), sample(5));
        assert_eq!(wall_clock_confirmed(&v2), None);
        assert!(decode(12, &[RECORD_VERSION, 1]).is_err());
        let mut unknown_contract = good.clone();
        unknown_contract[1] = 200;
        let err = decode(10, &unknown_contract).unwrap_err();
        assert!(err.to_string().contains("contract tag 200"), "{err}");
    }

    #[test]
    fn a_file_that_is_not_a_database_is_refused_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.redb");
        std::fs::write(&path, b"this is not a redb file at all, just some text").unwrap();
        let err = Store::open(&path).unwrap_err();
        assert!(matches!(err, StoreError::Damaged { .. }), "{err}");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"this is not a redb file at all, just some text"
        );
    }
}
