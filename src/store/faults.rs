//! A redb storage backend that injects the faults of real venue hardware, for tests and
//! benchmarks: the fsync latency of an SD card, I/O errors after a number of writes, and a full
//! disk. It wraps redb's own file backend, so everything else is the real thing.

use std::fmt;
use std::fs::File;
use std::io;
use std::ops::Bound;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redb::backends::FileBackend;
use redb::{BackendError, StorageBackend};

/// The fsync latency of a typical SD card; the benchmarks' default.
pub const SD_CARD_FSYNC: Duration = Duration::from_millis(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// `ENOSPC`: writes and growth fail; reads still work.
    DiskFull,
    /// `EIO` on writes and syncs.
    IoError,
    /// A real full card: writes into the space the file already has still work; growing the
    /// file fails with `ENOSPC`. A commit that fits in freed pages succeeds, one that needs
    /// more room does not, and a check that writes nothing new proves nothing.
    NoRoomToGrow,
}

const NO_FAULT: u8 = 0;
const DISK_FULL: u8 = 1;
const IO_ERROR: u8 = 2;
const NO_ROOM_TO_GROW: u8 = 3;

/// The host disk's own fsyncs over a stretch of time, without the injected delay.
#[derive(Debug, Clone, Copy)]
pub struct RealSyncs {
    pub count: u64,
    pub total: Duration,
    pub longest: Duration,
}

impl RealSyncs {
    pub fn mean(&self) -> Duration {
        self.total / u32::try_from(self.count.max(1)).unwrap_or(u32::MAX)
    }
}

/// What the backend should do; shared with the test that steers it.
#[derive(Debug, Default)]
pub struct FaultPlan {
    fsync_delay_micros: AtomicU64,
    /// Writes still allowed before `armed` becomes the active fault; negative: never.
    writes_until_fault: AtomicI64,
    armed: AtomicU8,
    active: AtomicU8,
    syncs: AtomicU64,
    /// What the disk itself took, without the injected delay, since the last
    /// [`FaultPlan::take_real_syncs`]: the benchmarks report it, since a slow real fsync under
    /// the injected one makes a commit slower than the card it models.
    real_syncs: AtomicU64,
    real_sync_micros_total: AtomicU64,
    real_sync_micros_longest: AtomicU64,
    /// Times the file was lengthened. redb makes a longer file durable with an fsync of its own
    /// before the commit's, so a commit that lengthens the file waits for one more fsync.
    growths: AtomicU64,
}

impl FaultPlan {
    /// No faults and no added latency.
    pub fn new() -> Arc<Self> {
        let plan = Self::default();
        plan.writes_until_fault.store(-1, Ordering::SeqCst);
        Arc::new(plan)
    }

    /// A plan that models an SD card: every fsync takes [`SD_CARD_FSYNC`] more.
    pub fn sd_card() -> Arc<Self> {
        Self::with_fsync_delay(SD_CARD_FSYNC)
    }

    /// A plan that only adds `delay` to every fsync.
    pub fn with_fsync_delay(delay: Duration) -> Arc<Self> {
        let plan = Self::new();
        plan.set_fsync_delay(delay);
        plan
    }

    pub fn set_fsync_delay(&self, delay: Duration) {
        let micros = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
        self.fsync_delay_micros.store(micros, Ordering::SeqCst);
    }

    /// The fault starts after `writes` more successful writes.
    pub fn fail_after_writes(&self, writes: i64, kind: FaultKind) {
        self.armed.store(code(kind), Ordering::SeqCst);
        self.writes_until_fault
            .store(writes.max(0), Ordering::SeqCst);
    }

    /// The fault starts now.
    pub fn fail_now(&self, kind: FaultKind) {
        self.active.store(code(kind), Ordering::SeqCst);
    }

    /// The disk was freed or replaced: everything works again.
    pub fn clear(&self) {
        self.writes_until_fault.store(-1, Ordering::SeqCst);
        self.armed.store(NO_FAULT, Ordering::SeqCst);
        self.active.store(NO_FAULT, Ordering::SeqCst);
    }

    /// How many fsyncs the backend performed.
    pub fn sync_count(&self) -> u64 {
        self.syncs.load(Ordering::SeqCst)
    }

    /// How many times the file was lengthened.
    pub fn growth_count(&self) -> u64 {
        self.growths.load(Ordering::SeqCst)
    }

    /// The real disk's fsyncs since the last call (or since the plan was made), and starts
    /// counting afresh.
    pub fn take_real_syncs(&self) -> RealSyncs {
        RealSyncs {
            count: self.real_syncs.swap(0, Ordering::SeqCst),
            total: Duration::from_micros(self.real_sync_micros_total.swap(0, Ordering::SeqCst)),
            longest: Duration::from_micros(self.real_sync_micros_longest.swap(0, Ordering::SeqCst)),
        }
    }

    fn check_write(&self) -> io::Result<()> {
        let left = self.writes_until_fault.load(Ordering::SeqCst);
        if left == 0 {
            self.active
                .store(self.armed.load(Ordering::SeqCst), Ordering::SeqCst);
            self.writes_until_fault.store(-1, Ordering::SeqCst);
        } else if left > 0 {
            self.writes_until_fault.fetch_sub(1, Ordering::SeqCst);
        }
        self.check_active()
    }

    /// The file is about to grow.
    fn check_growth(&self) -> io::Result<()> {
        if self.active.load(Ordering::SeqCst) == NO_ROOM_TO_GROW {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "no space left on device to grow the file (injected)",
            ));
        }
        Ok(())
    }

    fn check_active(&self) -> io::Result<()> {
        match self.active.load(Ordering::SeqCst) {
            DISK_FULL => Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "no space left on device (injected)",
            )),
            IO_ERROR => Err(io::Error::other("input/output error (injected)")),
            _ => Ok(()),
        }
    }
}

fn code(kind: FaultKind) -> u8 {
    match kind {
        FaultKind::DiskFull => DISK_FULL,
        FaultKind::IoError => IO_ERROR,
        FaultKind::NoRoomToGrow => NO_ROOM_TO_GROW,
    }
}

/// redb's file backend with a [`FaultPlan`] in front of it.
pub struct FaultyBackend {
    inner: FileBackend,
    plan: Arc<FaultPlan>,
}

impl fmt::Debug for FaultyBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultyBackend")
            .field("plan", &self.plan)
            .finish()
    }
}

impl FaultyBackend {
    pub fn new(file: File, plan: Arc<FaultPlan>) -> Result<Self, redb::DatabaseError> {
        Ok(Self {
            inner: FileBackend::new(file)?,
            plan,
        })
    }
}

impl StorageBackend for FaultyBackend {
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        self.inner.read(offset, out)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        if len > self.inner.len()? {
            self.plan.check_write()?;
            self.plan.check_growth()?;
            self.plan.growths.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.set_len(len)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.plan.check_active()?;
        let delay = self.plan.fsync_delay_micros.load(Ordering::SeqCst);
        if delay > 0 {
            // Runs on redb's committing thread (a blocking task), as a slow fsync would.
            std::thread::sleep(Duration::from_micros(delay));
        }
        self.plan.syncs.fetch_add(1, Ordering::SeqCst);
        let started = std::time::Instant::now();
        let synced = self.inner.sync_data();
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.plan.real_syncs.fetch_add(1, Ordering::SeqCst);
        self.plan
            .real_sync_micros_total
            .fetch_add(micros, Ordering::SeqCst);
        self.plan
            .real_sync_micros_longest
            .fetch_max(micros, Ordering::SeqCst);
        synced
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.plan.check_write()?;
        if offset + data.len() as u64 > self.inner.len()? {
            self.plan.check_growth()?;
        }
        self.inner.write(offset, data)
    }

    fn close(&self) -> io::Result<()> {
        self.inner.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.inner.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.query_lock_range(start, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::sample_event as event;
    use crate::domain::Event;
    use crate::store::Store;

    #[test]
    fn a_write_failing_mid_commit_leaves_the_last_commit_intact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.redb");
        let plan = FaultPlan::new();
        let store = Store::open_with_faults(&path, plan.clone()).unwrap();
        store.append(1, &[event(1), event(2)]).unwrap();
        plan.fail_after_writes(1, FaultKind::IoError);
        let big: Vec<Event> = (3..2_000).map(event).collect();
        assert!(store.append(3, &big).is_err());
        // Still failing: reopening does not help until the fault clears.
        plan.fail_now(FaultKind::IoError);
        assert!(store.reopen().and_then(|()| store.probe_write()).is_err());
        plan.clear();
        store.reopen().unwrap();
        let mut seen = Vec::new();
        store.replay(|seq, _| seen.push(seq)).unwrap();
        assert_eq!(seen, vec![1, 2], "the failed commit left nothing behind");
        store.append(3, &[event(3)]).unwrap();
    }

    #[test]
    fn on_a_full_card_the_write_probe_fails_until_there_is_room_again() {
        let dir = tempfile::tempdir().unwrap();
        let plan = FaultPlan::new();
        let store = Store::open_with_faults(&dir.path().join("log.redb"), plan.clone()).unwrap();
        store.append(1, &[event(1)]).unwrap();
        plan.fail_now(FaultKind::NoRoomToGrow);
        // More than the file's first megabyte holds.
        let big: Vec<Event> = (2..100_000).map(event).collect();
        assert!(
            store.append(2, &big).is_err(),
            "a commit that needs room fails"
        );
        let _ = store.reopen();
        assert!(
            store.probe_write().is_err(),
            "the probe must need room too, or a full card looks healed"
        );
        plan.clear();
        store.reopen().unwrap();
        store.probe_write().unwrap();
        store.append(2, &big).unwrap();
        let mut count = 0;
        store.replay(|_, _| count += 1).unwrap();
        assert_eq!(count, 99_999, "the probe left nothing in the log");
    }

    #[test]
    fn the_sd_card_plan_slows_every_fsync() {
        let dir = tempfile::tempdir().unwrap();
        let plan = FaultPlan::sd_card();
        let store = Store::open_with_faults(&dir.path().join("log.redb"), plan.clone()).unwrap();
        let before = plan.sync_count();
        let started = std::time::Instant::now();
        store.append(1, &[event(1)]).unwrap();
        assert!(plan.sync_count() > before);
        assert!(started.elapsed() >= SD_CARD_FSYNC);
    }

    #[test]
    fn a_commit_that_lengthens_the_file_is_counted_with_its_extra_fsync() {
        let dir = tempfile::tempdir().unwrap();
        let plan = FaultPlan::new();
        let store = Store::open_with_faults(&dir.path().join("log.redb"), plan.clone()).unwrap();
        store.append(1, &[event(1)]).unwrap();
        let (growths, syncs) = (plan.growth_count(), plan.sync_count());
        store.append(2, &[event(2)]).unwrap();
        assert_eq!(plan.growth_count(), growths, "a small commit fits the file");
        assert_eq!(plan.sync_count(), syncs + 1, "and makes one fsync");
        // More than the file's first megabyte holds.
        let big: Vec<Event> = (3..100_000).map(event).collect();
        let syncs = plan.sync_count();
        store.append(3, &big).unwrap();
        let lengthened = plan.growth_count() - growths;
        assert!(lengthened > 0, "the file grew");
        assert_eq!(
            plan.sync_count(),
            syncs + 1 + lengthened,
            "redb makes each longer file durable before the commit's own fsync"
        );
        assert_eq!(plan.take_real_syncs().count, plan.sync_count());
        assert_eq!(plan.take_real_syncs().count, 0, "taking starts afresh");
    }
}
