//! The box's clocks, and what each is trusted for.
//!
//! A Pi has no battery clock and a venue has no internet, so after a power cut the system clock
//! may be hours off or back in 1970, and staff (or a technician's `timedatectl`) may set it
//! while the box runs. Three readings:
//!
//! - **The wall clock** ([`wall_clock_ms`]): the system clock, plus the offset staff set on a
//!   box that keeps its clock in-process (simulated hardware). It stamps what the log records
//!   and what the wire shows, nothing that waits or measures (those run on `Instant`).
//! - **Token time** ([`token_stamp`], [`token_now_in`]): tokens are minted on the wall clock
//!   and carry the number of the clock's *era* they were minted in. Every jump of the wall
//!   clock starts a new era. A jump is seen while running (the wall clock moved against the
//!   monotonic one by more than [`JUMP_TOLERANCE_MS`]: staff set it, `timedatectl`) or at start:
//!   on the same boot the two clocks are compared as they were when the box last looked, which
//!   sees a jump either way; after a reboot (a power cut) only a wall clock behind the last time
//!   the box saw tells, a jump back. The jumps, and what the box last saw, are kept in the data
//!   dir ([`JUMPS_FILE`]), so a token is checked against the time of its own era: a jump either
//!   way, while running or across restarts, neither expires a token early nor brings an expired
//!   one back. A box started after a long time off (or with its clock ahead) counts the tokens
//!   it issued before as that much older, which it cannot tell apart.
//! - **Whether the wall clock is confirmed**: staff confirmed it (or set it) from a device with
//!   a good clock during this run, or the box is configured to trust it (a real-time clock is
//!   fitted). Every log record carries this flag.
//!
//! The clock is process-wide, like the system clock it wraps: [`start`] fixes it once; before
//! it is called (tests) it starts with no jumps and keeps none on disk.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::domain::Millis;

/// How far the wall clock may move against the monotonic one before it counts as a jump (NTP
/// slews far less; a person setting a clock moves it by more).
pub const JUMP_TOLERANCE_MS: i64 = 2_000;
/// The jumps of the wall clock and what the box last saw of it, in the data dir.
pub const JUMPS_FILE: &str = "clock-jumps.json";
/// Jumps kept; a token from an era before them is refused (tokens live hours, not 64 jumps).
const MAX_JUMPS: usize = 64;
/// How often a running box writes down the time it sees: after a power cut, a wall clock behind
/// it went back (a jump back smaller than this can go unseen).
const KEEP_EVERY_MS: i128 = 60_000;
/// Held (`flock`) by the running box: the CLI asks it whether a box runs on the data dir.
pub const LOCK_FILE: &str = "clock.lock";
/// The box's secret; a data dir that has one but no clock file lost the file.
const SECRET_FILE: &str = "box-secret";
/// How long `venuebox token` waits for a running box to write down a jump it has not yet.
const CLI_WAIT_MS: u64 = 3_000;

/// How the box sets its clock when staff ask it to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setter {
    /// `clock_settime(CLOCK_REALTIME)`: needs `CAP_SYS_TIME`, which the unit grants.
    System,
    /// An offset kept in this process and in the data dir (simulated hardware): the machine's
    /// clock is left alone.
    Simulated,
}

#[derive(Debug, thiserror::Error)]
pub enum ClockError {
    #[error("the box may not set the system clock ({0}); its systemd unit grants CAP_SYS_TIME (AmbientCapabilities=CAP_SYS_TIME), a box started otherwise needs it too")]
    NotPermitted(std::io::Error),
    #[error("cannot set the system clock: {0}")]
    Failed(std::io::Error),
    #[error("{path} cannot be read ({cause}); start the box once on this data dir, it sets the file aside and starts a new one")]
    Unreadable { path: PathBuf, cause: String },
    #[error("{path}: {cause}; the box does not start without what it kept of its clock (check the data dir's permissions and disk)")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("another venuebox process serves {0}; stop it first")]
    InUse(PathBuf),
    #[error("the wall clock moved by {moved_s} s since the box last looked at it; {advice}")]
    PendingJump { moved_s: i64, advice: &'static str },
    #[error("the running box last wrote {path} {age_s} s ago (it does every minute); see its log, the data partition may be full")]
    Stale { path: PathBuf, age_s: u64 },
}

/// A step the wall clock took when staff set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub from_ms: Millis,
    pub to_ms: Millis,
}

/// The wall clock's jumps: era `first_era + i` ended with `deltas[i]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jumps {
    first_era: u32,
    deltas: Vec<i64>,
}

impl Jumps {
    /// Eras numbered from a random point far above any a box counts to: after the file was lost,
    /// no era number of a token minted before can come back meaning another era.
    fn renumbered() -> Self {
        let mut bytes = [0u8; 4];
        let random = getrandom::fill(&mut bytes).map_or(0, |()| u32::from_le_bytes(bytes));
        Self {
            first_era: (1 << 31) + (random >> 2),
            deltas: Vec::new(),
        }
    }

    /// The era now.
    pub fn era(&self) -> u32 {
        self.first_era
            .saturating_add(u32::try_from(self.deltas.len()).unwrap_or(u32::MAX))
    }

    /// A jump of `delta_ms` ends the current era.
    pub fn record(&mut self, delta_ms: i64) {
        self.deltas.push(delta_ms);
        self.forget_beyond_limit();
    }

    /// Whether the era can still count on (a hand-edited number near the top cannot).
    fn has_room(&self) -> bool {
        u32::try_from(self.deltas.len() + (1 << 20))
            .ok()
            .and_then(|room| self.first_era.checked_add(room))
            .is_some()
    }

    fn forget_beyond_limit(&mut self) {
        let over = self.deltas.len().saturating_sub(MAX_JUMPS);
        if over > 0 {
            self.deltas.drain(..over);
            self.first_era = self
                .first_era
                .saturating_add(u32::try_from(over).unwrap_or(u32::MAX));
        }
    }

    /// What `wall_ms` (now, in the current era) reads as on era `era`'s clock; `None` for an
    /// era this box has not reached (a forged token) or no longer remembers.
    pub fn now_in(&self, era: u32, wall_ms: Millis) -> Option<Millis> {
        if era > self.era() {
            return None;
        }
        let since = usize::try_from(era.checked_sub(self.first_era)?).ok()?;
        let moved: i128 = self.deltas[since..].iter().map(|d| i128::from(*d)).sum();
        let then = i128::from(wall_ms) - moved;
        Some(u64::try_from(then.max(0)).unwrap_or(u64::MAX))
    }
}

/// The two clocks as a box saw them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// The kernel's boot id: the monotonic clock counts from boot, so it compares only within one.
    pub boot: String,
    pub wall_ms: Millis,
    pub wall_minus_monotonic_ms: i64,
}

impl Seen {
    /// The clocks now, the wall clock moved by `offset_ms`.
    fn now(offset_ms: i64) -> Self {
        let wall_ms = system_ms().saturating_add_signed(offset_ms);
        Self {
            boot: boot_id(),
            wall_ms,
            wall_minus_monotonic_ms: wall_minus_monotonic(wall_ms),
        }
    }
}

/// What the data dir keeps of the clock: the jumps, what the box last saw (at most a minute
/// old while it runs), and the offset a simulated clock was set to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Kept {
    #[serde(flatten)]
    jumps: Jumps,
    #[serde(default)]
    seen: Option<Seen>,
    #[serde(default)]
    simulated_offset_ms: i64,
}

/// The jump a box starting with the clocks at `now` sees, given what the box last saw (`kept`)
/// or, when nothing was kept, the data dir's last write (`last_write_ms`). On the boot it last
/// saw, the two clocks compare exactly: a jump either way. After a reboot, a wall clock behind
/// the last one seen went back; one ahead cannot be told from time passing.
pub fn jump_at_start(
    kept: Option<&Seen>,
    last_write_ms: Option<Millis>,
    now: &Seen,
) -> Option<i64> {
    let tolerance = i128::from(JUMP_TOLERANCE_MS);
    if let Some(seen) = kept.filter(|seen| !now.boot.is_empty() && seen.boot == now.boot) {
        let moved =
            i128::from(now.wall_minus_monotonic_ms) - i128::from(seen.wall_minus_monotonic_ms);
        return (moved.abs() > tolerance).then(|| clamp_i64(moved));
    }
    let floor = kept.map(|seen| seen.wall_ms).or(last_write_ms)?;
    let behind = i128::from(floor) - i128::from(now.wall_ms);
    (behind > tolerance).then(|| clamp_i64(-behind))
}

fn clamp_i64(value: i128) -> i64 {
    i64::try_from(value.clamp(i64::MIN.into(), i64::MAX.into())).unwrap_or(0)
}

struct Clock {
    /// Added to the system clock's reading (a simulated setter's doing).
    offset_ms: AtomicI64,
    confirmed: AtomicBool,
    setter: Setter,
    watch: Mutex<Watch>,
    /// Where the jumps are kept (`None`: nowhere, or this process only reads them).
    jumps_file: Option<PathBuf>,
    /// Held while the file is written, so the last writer writes the newest state.
    writing: Mutex<()>,
    /// A jump seen and not yet written (written by [`watch`], off the async threads).
    unwritten: AtomicBool,
    /// The data dir's lock, held while the box runs.
    _lock: Option<std::fs::File>,
}

/// The jumps, and the wall clock against the monotonic one when a jump was last seen.
struct Watch {
    jumps: Jumps,
    wall_minus_monotonic_ms: i128,
    /// The monotonic clock when the file was last written.
    kept_at_ms: Option<i128>,
}

static CLOCK: OnceLock<Clock> = OnceLock::new();

fn clock() -> &'static Clock {
    CLOCK.get_or_init(|| {
        let now = Seen::now(0);
        Clock::new(Jumps::default(), 0, Setter::Simulated, false, None, &now)
    })
}

impl Clock {
    /// A clock that starts from `now`, the reading its jumps were last counted against.
    fn new(
        jumps: Jumps,
        offset_ms: i64,
        setter: Setter,
        trusted: bool,
        jumps_file: Option<PathBuf>,
        now: &Seen,
    ) -> Self {
        Self {
            offset_ms: AtomicI64::new(offset_ms),
            confirmed: AtomicBool::new(trusted),
            setter,
            watch: Mutex::new(Watch {
                jumps,
                wall_minus_monotonic_ms: now.wall_minus_monotonic_ms.into(),
                kept_at_ms: None,
            }),
            jumps_file,
            writing: Mutex::new(()),
            unwritten: AtomicBool::new(false),
            _lock: None,
        }
    }

    fn wall_ms(&self) -> Millis {
        system_ms().saturating_add_signed(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Looks for a jump since the last look; returns the wall clock and the jumps. A jump is
    /// marked for [`watch`] to write down: this runs on async threads, where a flush may not.
    fn observe(&self) -> (Millis, Jumps) {
        let mut watch = self.watch.lock().unwrap_or_else(PoisonError::into_inner);
        let wall = self.look(&mut watch);
        (wall, watch.jumps.clone())
    }

    /// The wall clock now, with a jump since the last look counted.
    fn look(&self, watch: &mut Watch) -> Millis {
        let wall = self.wall_ms();
        let now = i128::from(wall_minus_monotonic(wall));
        let moved = now - watch.wall_minus_monotonic_ms;
        if moved.abs() > i128::from(JUMP_TOLERANCE_MS) {
            watch.jumps.record(clamp_i64(moved));
            watch.wall_minus_monotonic_ms = now;
            self.unwritten.store(true, Ordering::Relaxed);
            tracing::warn!(moved_ms = %moved, "the wall clock jumped; tokens keep their time");
        }
        wall
    }

    /// Writes what the box sees of the clock beside the data: a new file, flushed, then renamed
    /// over the old one, so a power cut leaves one or the other whole.
    fn keep(&self) {
        let Some(path) = &self.jumps_file else { return };
        let _writing = self.writing.lock().unwrap_or_else(PoisonError::into_inner);
        let kept = {
            let mut watch = self.watch.lock().unwrap_or_else(PoisonError::into_inner);
            // A jump not yet seen is counted first: the wall time written must be this era's.
            let wall_ms = self.look(&mut watch);
            self.unwritten.store(false, Ordering::Relaxed);
            watch.kept_at_ms = Some(monotonic_ms());
            Kept {
                jumps: watch.jumps.clone(),
                seen: Some(Seen {
                    boot: boot_id(),
                    wall_ms,
                    wall_minus_monotonic_ms: clamp_i64(watch.wall_minus_monotonic_ms),
                }),
                simulated_offset_ms: self.offset_ms.load(Ordering::Relaxed),
            }
        };
        if let Err(e) = write_whole(path, &kept) {
            self.unwritten.store(true, Ordering::Relaxed);
            tracing::error!(path = %path.display(), error = %e, "cannot keep the clock's jumps; `venuebox token` refuses to mint until the box can");
        }
    }

    /// Whether the file is due a write: a jump not written yet, or its once-a-minute write.
    fn keep_due(&self) -> bool {
        let watch = self.watch.lock().unwrap_or_else(PoisonError::into_inner);
        self.jumps_file.is_some()
            && (self.unwritten.load(Ordering::Relaxed)
                || watch
                    .kept_at_ms
                    .is_none_or(|at| monotonic_ms() - at >= KEEP_EVERY_MS))
    }
}

fn write_whole(path: &Path, kept: &Kept) -> std::io::Result<()> {
    use std::io::Write;
    let bytes = serde_json::to_vec(kept).map_err(std::io::Error::other)?;
    let fresh = path.with_extension("json.new");
    let mut file = std::fs::File::create(&fresh)?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    std::fs::rename(&fresh, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// What `data_dir` keeps of the clock: `Ok(None)` when there is no file. A file that cannot be
/// parsed is [`ClockError::Unreadable`]; one that cannot be read at all, [`ClockError::Io`].
fn read_kept(data_dir: &Path) -> Result<Option<Kept>, ClockError> {
    let path = data_dir.join(JUMPS_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(cause) => return Err(ClockError::Io { path, cause }),
    };
    let unreadable = |cause: String| ClockError::Unreadable {
        path: path.clone(),
        cause,
    };
    let mut kept: Kept = serde_json::from_slice(&bytes).map_err(|e| unreadable(e.to_string()))?;
    if !kept.jumps.has_room() {
        return Err(unreadable("its era number has no room to count on".into()));
    }
    kept.jumps.forget_beyond_limit();
    Ok(Some(kept))
}

/// What a box starting on `data_dir` takes as kept: the file; eras numbered afresh when the
/// file is unreadable (it is set aside) or gone while the box's secret is there (its tokens'
/// era numbers must not come to mean new eras); nothing for a new data dir.
fn kept_at_start(data_dir: &Path) -> Result<Kept, ClockError> {
    let path = data_dir.join(JUMPS_FILE);
    let lost = match read_kept(data_dir) {
        Ok(Some(kept)) => return Ok(kept),
        Ok(None) if !data_dir.join(SECRET_FILE).exists() => return Ok(Kept::default()),
        Ok(None) => "it is missing".to_owned(),
        Err(ClockError::Unreadable { cause, .. }) => {
            let aside = path.with_extension("json.bad");
            if let Err(e) = std::fs::rename(&path, &aside) {
                return Err(ClockError::Io {
                    path: aside,
                    cause: e,
                });
            }
            cause
        }
        Err(other) => return Err(other),
    };
    tracing::error!(path = %path.display(), why = %lost, "the clock's jumps are lost; tokens minted before are refused (stations re-pair)");
    Ok(Kept {
        jumps: Jumps::renumbered(),
        ..Kept::default()
    })
}

/// Takes the data dir's lock for a box that serves it.
fn lock_data_dir(data_dir: &Path) -> Result<std::fs::File, ClockError> {
    let path = data_dir.join(LOCK_FILE);
    let file = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|cause| ClockError::Io {
            path: path.clone(),
            cause,
        })?;
    if try_flock(&file, libc::LOCK_EX).map_err(|cause| ClockError::Io { path, cause })? {
        Ok(file)
    } else {
        Err(ClockError::InUse(data_dir.to_path_buf()))
    }
}

/// Whether a box runs on `data_dir` (it holds the lock).
fn box_runs_on(data_dir: &Path) -> bool {
    let Ok(file) = std::fs::File::open(data_dir.join(LOCK_FILE)) else {
        return false;
    };
    // Taken and let go at once (the file closes): only whether someone else holds it counts.
    matches!(try_flock(&file, libc::LOCK_SH), Ok(false))
}

/// `flock` without waiting: `Ok(false)` when another process holds it.
fn try_flock(file: &std::fs::File, mode: libc::c_int) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor is open for the call's length (`file` is borrowed).
    let rc = unsafe { libc::flock(file.as_raw_fd(), mode | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let error = std::io::Error::last_os_error();
    match error.raw_os_error() {
        Some(libc::EWOULDBLOCK) => Ok(false),
        _ => Err(error),
    }
}

/// Fixes the clock for the box serving `data_dir`: takes the data dir's lock, reads what is
/// kept there, counts the jump since the box last looked (see [`jump_at_start`]) and writes the
/// file anew. `trusted` starts the wall clock confirmed. Only the first call counts.
pub fn start(data_dir: &Path, setter: Setter, trusted: bool) -> Result<(), ClockError> {
    let lock = lock_data_dir(data_dir)?;
    let kept = kept_at_start(data_dir)?;
    let mut jumps = kept.jumps;
    let offset_ms = match setter {
        Setter::Simulated => kept.simulated_offset_ms,
        Setter::System => 0,
    };
    let last_write = last_write_if_unseen(data_dir, kept.seen.as_ref());
    // One reading for both the count and the clock's start: a jump between two would be lost.
    let now = Seen::now(offset_ms);
    if let Some(delta) = jump_at_start(kept.seen.as_ref(), last_write, &now) {
        tracing::warn!(moved_ms = %delta, "the wall clock jumped while the box was off; tokens keep their time");
        jumps.record(delta);
    }
    let mut clock = Clock::new(
        jumps,
        offset_ms,
        setter,
        trusted,
        Some(data_dir.join(JUMPS_FILE)),
        &now,
    );
    clock._lock = Some(lock);
    clock.keep();
    let _ = CLOCK.set(clock);
    Ok(())
}

/// Fixes the clock for a command that mints tokens beside a box (`venuebox token`), nothing
/// written: the jumps and simulated offset the box kept in `data_dir`. A token must carry an
/// era the box has counted, so when the clock moved since the box last looked this waits for a
/// running box to write the jump down, and refuses beside a stopped one (its next start counts
/// the jump; a guess made now could name an era that comes to mean another).
pub fn start_reading(data_dir: &Path) -> Result<(), ClockError> {
    let path = data_dir.join(JUMPS_FILE);
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(CLI_WAIT_MS);
    loop {
        let kept = read_kept(data_dir)?.ok_or_else(|| ClockError::Unreadable {
            path: path.clone(),
            cause: "it is missing".into(),
        })?;
        let running = box_runs_on(data_dir);
        let now = Seen::now(kept.simulated_offset_ms);
        let last_write = last_write_if_unseen(data_dir, kept.seen.as_ref());
        match jump_at_start(kept.seen.as_ref(), last_write, &now) {
            None => {
                let seen_ms = kept.seen.as_ref().map_or(0, |seen| seen.wall_ms);
                let age_s = now.wall_ms.saturating_sub(seen_ms) / 1000;
                if running && u128::from(age_s) * 1000 > 3 * KEEP_EVERY_MS as u128 {
                    return Err(ClockError::Stale { path, age_s });
                }
                let _ = CLOCK.set(Clock::new(
                    kept.jumps,
                    kept.simulated_offset_ms,
                    Setter::Simulated,
                    false,
                    None,
                    &now,
                ));
                return Ok(());
            }
            Some(moved) if running && std::time::Instant::now() < deadline => {
                tracing::debug!(moved_ms = moved, "waiting for the box to count a jump");
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            Some(moved) => {
                return Err(ClockError::PendingJump {
                    moved_s: moved / 1000,
                    advice: if running {
                        "the running box has not counted it; try again in a few seconds"
                    } else {
                        "start the box (it counts the jump as it starts), then mint"
                    },
                })
            }
        }
    }
}

/// The data dir's last write, read only when the box kept nothing of what it saw (a data dir
/// from before the clock file): [`jump_at_start`] asks it only then, and it stats every file.
fn last_write_if_unseen(data_dir: &Path, seen: Option<&Seen>) -> Option<Millis> {
    match seen {
        Some(_) => None,
        None => last_write_in(data_dir).map(millis_since_epoch),
    }
}

/// The latest modification time of the files directly in `dir`: the last time the box wrote
/// its log, secrets or marks, by the clock it had then. Read only for a data dir that has no
/// clock file yet.
pub fn last_write_in(dir: &Path) -> Option<SystemTime> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|entry| entry.ok()?.metadata().ok()?.modified().ok())
        .max()
}

fn millis_since_epoch(time: SystemTime) -> Millis {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn system_ms() -> Millis {
    millis_since_epoch(SystemTime::now())
}

/// The monotonic clock (`CLOCK_MONOTONIC`, what `Instant` reads), in ms since boot: unlike
/// `Instant`, comparable between processes on one boot.
fn monotonic_ms() -> i128 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec the call writes; CLOCK_MONOTONIC always exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    if rc != 0 {
        return 0;
    }
    i128::from(now.tv_sec) * 1000 + i128::from(now.tv_nsec) / 1_000_000
}

fn wall_minus_monotonic(wall_ms: Millis) -> i64 {
    clamp_i64(i128::from(wall_ms) - monotonic_ms())
}

/// The kernel's id of this boot; empty where there is none to read. Read once: it cannot change
/// while the process runs, and the clock keeper asks for it every minute under its lock.
fn boot_id() -> String {
    static BOOT_ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BOOT_ID
        .get_or_init(|| {
            std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
                .map(|id| id.trim().to_owned())
                .unwrap_or_default()
        })
        .clone()
}

/// Milliseconds since the Unix epoch by the box's wall clock.
pub fn wall_clock_ms() -> Millis {
    clock().wall_ms()
}

/// Looks for a jump of the wall clock now, and writes down what the box sees once a minute (the
/// server calls this every second, off the async threads: it may flush a file).
pub fn watch() {
    let clock = clock();
    clock.observe();
    if clock.keep_due() {
        clock.keep();
    }
}

/// Writes down what the box sees now (at a stop: the next start compares against it).
pub fn write_down() {
    clock().keep();
}

/// What a token minted now carries: the time (seconds since the epoch) and the era.
pub fn token_stamp() -> (u64, u32) {
    let (wall, jumps) = clock().observe();
    (wall / 1000, jumps.era())
}

/// Now, in seconds, by the clock of era `era`; `None` for an era the box never reached or no
/// longer remembers.
pub fn token_now_in(era: u32) -> Option<u64> {
    let (wall, jumps) = clock().observe();
    jumps.now_in(era, wall).map(|ms| ms / 1000)
}

/// Whether the wall clock was confirmed by staff this run (or is trusted by configuration).
pub fn is_confirmed() -> bool {
    clock().confirmed.load(Ordering::Relaxed)
}

/// Staff vouched for the wall clock as it is.
pub fn confirm() {
    clock().confirmed.store(true, Ordering::Relaxed);
}

/// Sets the wall clock to `to_ms` and counts it as confirmed; tokens keep their time (the jump
/// starts a new era).
pub fn set(to_ms: Millis) -> Result<Step, ClockError> {
    let clock = clock();
    let (from_ms, _) = clock.observe();
    match clock.setter {
        Setter::System => set_system_clock(to_ms)?,
        Setter::Simulated => {
            let offset = clamp_i64(i128::from(to_ms) - i128::from(system_ms()));
            clock.offset_ms.store(offset, Ordering::Relaxed);
        }
    }
    clock.observe();
    confirm();
    Ok(Step { from_ms, to_ms })
}

fn set_system_clock(to_ms: Millis) -> Result<(), ClockError> {
    let to = libc::timespec {
        tv_sec: libc::time_t::try_from(to_ms / 1000).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::try_from((to_ms % 1000) * 1_000_000).unwrap_or(0),
    };
    // SAFETY: `to` is a valid timespec that lives across the call; clock_settime reads it only.
    let rc = unsafe { libc::clock_settime(libc::CLOCK_REALTIME, &to) };
    if rc == 0 {
        return Ok(());
    }
    let error = std::io::Error::last_os_error();
    Err(match error.raw_os_error() {
        Some(libc::EPERM) => ClockError::NotPermitted(error),
        _ => ClockError::Failed(error),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const HOUR: i64 = 3_600_000;
    const NOW: Millis = 1_780_000_000_000;

    #[test]
    fn a_token_is_checked_on_the_clock_of_its_own_era() {
        let mut jumps = Jumps::default();
        assert_eq!(jumps.era(), 0);
        assert_eq!(jumps.now_in(0, NOW), Some(NOW));
        // Set forward a week: era 0's tokens see the time they were minted on.
        jumps.record(7 * 24 * HOUR);
        let later = NOW + 7 * 24 * 3_600_000;
        assert_eq!(jumps.era(), 1);
        assert_eq!(jumps.now_in(0, later), Some(NOW));
        assert_eq!(jumps.now_in(1, later), Some(later));
        // Then back two hours: both earlier eras move with it.
        jumps.record(-2 * HOUR);
        let back = later - 2 * 3_600_000;
        assert_eq!(jumps.now_in(0, back), Some(NOW));
        assert_eq!(jumps.now_in(1, back), Some(later));
        assert_eq!(jumps.now_in(2, back), Some(back));
        assert_eq!(jumps.now_in(3, back), None, "an era not reached yet");
    }

    #[test]
    fn only_the_last_jumps_are_kept() {
        let mut jumps = Jumps::default();
        for _ in 0..MAX_JUMPS + 3 {
            jumps.record(HOUR);
        }
        assert_eq!(jumps.era(), u32::try_from(MAX_JUMPS).unwrap() + 3);
        assert_eq!(jumps.now_in(2, NOW), None, "forgotten");
        assert!(jumps.now_in(3, NOW).is_some());
    }

    fn seen(boot: &str, wall_ms: Millis, monotonic_ms: i64) -> Seen {
        Seen {
            boot: boot.into(),
            wall_ms,
            wall_minus_monotonic_ms: wall_ms as i64 - monotonic_ms,
        }
    }

    #[test]
    fn on_the_same_boot_a_start_sees_a_jump_either_way() {
        let before = seen("boot-a", NOW, 5_000);
        // Restarted ten minutes later with the clocks in step: no jump.
        let later = seen("boot-a", NOW + 600_000, 605_000);
        assert_eq!(jump_at_start(Some(&before), None, &later), None);
        // The clock set forward a day while the box was stopped.
        let ahead = seen("boot-a", NOW + 600_000 + 24 * HOUR as u64, 605_000);
        assert_eq!(jump_at_start(Some(&before), None, &ahead), Some(24 * HOUR));
        // Or back an hour; the data dir's last write is not asked.
        let back = seen("boot-a", NOW + 600_000 - HOUR as u64, 605_000);
        assert_eq!(
            jump_at_start(Some(&before), Some(NOW + 99 * HOUR as u64), &back),
            Some(-HOUR)
        );
    }

    #[test]
    fn after_a_reboot_only_a_clock_behind_the_last_one_seen_went_back() {
        let before = seen("boot-a", NOW, 5_000);
        // Back in 1970 after a power cut.
        let cut = seen("boot-b", 86_400_000, 9_000);
        assert_eq!(
            jump_at_start(Some(&before), None, &cut),
            Some(86_400_000 - NOW as i64)
        );
        // The same box started again in 1970 a minute on: what it saw last time was 1970,
        // so it counts no second jump (files it never rewrote are not asked).
        let seen_in_1970 = seen("boot-b", 86_400_000 + 50_000, 59_000);
        let again = seen("boot-c", 86_400_000 + 60_000, 9_000);
        assert_eq!(jump_at_start(Some(&seen_in_1970), Some(NOW), &again), None);
        // Time passing while off, or a boot with no id, is not a jump.
        assert_eq!(
            jump_at_start(Some(&before), None, &seen("boot-b", NOW + HOUR as u64, 1)),
            None
        );
        assert_eq!(
            jump_at_start(Some(&before), None, &seen("", NOW + 1_000, 5_000)),
            None
        );
    }

    #[test]
    fn with_nothing_kept_the_data_dirs_last_write_tells_a_jump_back() {
        let now = seen("boot-a", NOW, 5_000);
        assert_eq!(jump_at_start(None, None, &now), None);
        assert_eq!(
            jump_at_start(None, Some(NOW - 60_000), &now),
            None,
            "time passed"
        );
        assert_eq!(
            jump_at_start(None, Some(NOW + 1_000), &now),
            None,
            "within tolerance"
        );
        let in_1970 = seen("boot-a", 86_400_000, 5_000);
        assert_eq!(
            jump_at_start(None, Some(NOW), &in_1970),
            Some(86_400_000 - NOW as i64)
        );
    }

    #[test]
    fn the_newest_file_in_a_dir_is_its_last_write() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(last_write_in(dir.path()), None);
        let old = dir.path().join("old");
        std::fs::write(&old, b"x").unwrap();
        let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(an_hour_ago)
            .unwrap();
        std::fs::write(dir.path().join("new"), b"y").unwrap();
        let newest = last_write_in(dir.path()).unwrap();
        assert!(newest > an_hour_ago + Duration::from_secs(3000));
    }

    #[test]
    fn what_the_box_sees_survives_a_restart_in_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Clock::new(
            Jumps::default(),
            0,
            Setter::Simulated,
            false,
            Some(dir.path().join(JUMPS_FILE)),
            &Seen::now(0),
        );
        clock.offset_ms.store(3 * HOUR, Ordering::Relaxed);
        let (wall, jumps) = clock.observe();
        assert_eq!(jumps.era(), 1);
        assert!(
            read_kept(dir.path()).unwrap().is_none(),
            "not written on an async thread"
        );
        assert!(clock.keep_due(), "but marked for the next watch");
        clock.keep();
        let kept = read_kept(dir.path()).unwrap().unwrap();
        assert_eq!(kept.jumps, jumps);
        assert_eq!(
            kept.simulated_offset_ms,
            3 * HOUR,
            "a simulated clock keeps its setting"
        );
        let seen = kept.seen.unwrap();
        assert_eq!(seen.boot, boot_id());
        assert!(seen.wall_ms >= wall && seen.wall_ms < wall + 5_000);
        assert!(!clock.keep_due(), "written just now");
    }

    #[test]
    fn a_file_from_before_what_the_box_sees_was_kept_still_reads() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(JUMPS_FILE),
            br#"{"first_era":2,"deltas":[5000]}"#,
        )
        .unwrap();
        let kept = read_kept(dir.path()).unwrap().unwrap();
        assert_eq!(kept.jumps.era(), 3);
        assert_eq!(kept.seen, None);
        assert_eq!(kept.simulated_offset_ms, 0);
    }

    #[test]
    fn an_unreadable_file_is_an_error_and_new_eras_share_no_number_with_old_ones() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_kept(dir.path()).unwrap().is_none(), "no file yet");
        std::fs::write(dir.path().join(JUMPS_FILE), b"{\"first_era\":").unwrap();
        let error = read_kept(dir.path()).unwrap_err().to_string();
        assert!(
            error.contains(JUMPS_FILE) && error.contains("start the box once"),
            "{error}"
        );
        let fresh = Jumps::renumbered();
        assert!(fresh.era() >= 1 << 31, "far above any era a box counted to");
        assert!(fresh.era() < u32::MAX - (1 << 29), "with room to count on");
    }

    #[test]
    fn a_box_holds_its_data_dir_and_the_cli_can_tell() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!box_runs_on(dir.path()), "no box yet");
        let held = lock_data_dir(dir.path()).unwrap();
        assert!(box_runs_on(dir.path()));
        assert!(
            matches!(lock_data_dir(dir.path()), Err(ClockError::InUse(_))),
            "a second box"
        );
        drop(held);
        assert!(!box_runs_on(dir.path()), "the box stopped");
        assert!(lock_data_dir(dir.path()).is_ok());
    }

    #[test]
    fn a_lost_file_renumbers_the_eras_a_new_data_dir_starts_at_zero() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            kept_at_start(dir.path()).unwrap(),
            Kept::default(),
            "a new box"
        );
        std::fs::write(dir.path().join(SECRET_FILE), b"s").unwrap();
        let lost = kept_at_start(dir.path()).unwrap();
        assert!(
            lost.jumps.era() >= 1 << 31,
            "the secret is there, the file is gone"
        );
        std::fs::write(dir.path().join(JUMPS_FILE), b"not json").unwrap();
        let broken = kept_at_start(dir.path()).unwrap();
        assert!(broken.jumps.era() >= 1 << 31);
        assert!(
            dir.path().join("clock-jumps.json.bad").exists(),
            "set aside"
        );
        let top = serde_json::json!({ "first_era": u32::MAX - 3, "deltas": [] });
        std::fs::write(dir.path().join(JUMPS_FILE), top.to_string()).unwrap();
        assert!(
            kept_at_start(dir.path()).unwrap().jumps.era() < u32::MAX - (1 << 29),
            "no room"
        );
        std::fs::remove_file(dir.path().join(JUMPS_FILE)).ok();
        std::fs::create_dir(dir.path().join(JUMPS_FILE)).unwrap();
        assert!(
            matches!(kept_at_start(dir.path()), Err(ClockError::Io { .. })),
            "a file that cannot be read at all stops the box instead of costing every token"
        );
    }

    #[test]
    fn a_hand_grown_list_is_cut_to_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let deltas = vec![HOUR; MAX_JUMPS + 10];
        let file = serde_json::json!({ "first_era": 0, "deltas": deltas });
        std::fs::write(dir.path().join(JUMPS_FILE), file.to_string()).unwrap();
        let jumps = read_kept(dir.path()).unwrap().unwrap().jumps;
        assert_eq!(jumps.deltas.len(), MAX_JUMPS);
        assert_eq!(jumps.era(), u32::try_from(MAX_JUMPS).unwrap() + 10);
        assert_eq!(jumps.now_in(9, NOW), None);
    }
}
