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
//!   clock starts a new era: seen while running (the wall clock moved against the monotonic
//!   one by more than [`JUMP_TOLERANCE_MS`]: staff set it, `timedatectl`), or at start (the
//!   wall clock is behind the data dir's last write: a box back in 1970). The jumps are kept in
//!   the data dir ([`JUMPS_FILE`]), so a token is checked against the time of its own era:
//!   a jump either way, while running or across a restart, neither expires a token early nor
//!   brings an expired one back. A box started after a long time off (or with its clock ahead)
//!   counts the tokens it issued before as that much older, which it cannot tell apart.
//! - **Whether the wall clock is confirmed**: staff confirmed it (or set it) from a device with
//!   a good clock during this run, or the box is configured to trust it (a real-time clock is
//!   fitted). Every log record carries this flag.
//!
//! The clock is process-wide, like the system clock it wraps: [`start`] fixes it once; before
//! it is called (tests) it starts with no jumps and keeps none on disk.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::domain::Millis;

/// How far the wall clock may move against the monotonic one before it counts as a jump (NTP
/// slews far less; a person setting a clock moves it by more).
pub const JUMP_TOLERANCE_MS: i64 = 2_000;
/// The jumps of the wall clock, in the data dir.
pub const JUMPS_FILE: &str = "clock-jumps.json";
/// Jumps kept; a token from an era before them is refused (tokens live hours, not 64 jumps).
const MAX_JUMPS: usize = 64;

/// How the box sets its clock when staff ask it to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setter {
    /// `clock_settime(CLOCK_REALTIME)`: needs `CAP_SYS_TIME`, which the unit grants.
    System,
    /// An offset kept in this process (simulated hardware): the machine's clock is left alone.
    Simulated,
}

#[derive(Debug, thiserror::Error)]
pub enum ClockError {
    #[error("the box may not set the system clock ({0}); its systemd unit grants CAP_SYS_TIME (AmbientCapabilities=CAP_SYS_TIME), a box started otherwise needs it too")]
    NotPermitted(std::io::Error),
    #[error("cannot set the system clock: {0}")]
    Failed(std::io::Error),
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
    /// The era now.
    pub fn era(&self) -> u32 {
        self.first_era
            .saturating_add(u32::try_from(self.deltas.len()).unwrap_or(u32::MAX))
    }

    /// A jump of `delta_ms` ends the current era.
    pub fn record(&mut self, delta_ms: i64) {
        self.deltas.push(delta_ms);
        if self.deltas.len() > MAX_JUMPS {
            self.deltas.remove(0);
            self.first_era = self.first_era.saturating_add(1);
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

/// The jump a box starting at `wall_ms` sees when its data dir was last written at `floor_ms`:
/// a clock behind the last write went back while the box was off.
pub fn jump_at_start(wall_ms: Millis, floor_ms: Option<Millis>) -> Option<i64> {
    let behind = i128::from(floor_ms?) - i128::from(wall_ms);
    (behind > i128::from(JUMP_TOLERANCE_MS)).then(|| i64::try_from(-behind).unwrap_or(i64::MIN))
}

struct Clock {
    started: Instant,
    /// Added to the system clock's reading (a simulated setter's doing).
    offset_ms: AtomicI64,
    confirmed: AtomicBool,
    setter: Setter,
    watch: Mutex<Watch>,
    /// Where the jumps are kept (`None`: nowhere, or this process only reads them).
    jumps_file: Option<PathBuf>,
}

/// The jumps, and the wall clock against the monotonic one when last looked at.
struct Watch {
    jumps: Jumps,
    wall_minus_monotonic_ms: i128,
}

static CLOCK: OnceLock<Clock> = OnceLock::new();

fn clock() -> &'static Clock {
    CLOCK.get_or_init(|| Clock::new(Jumps::default(), Setter::Simulated, false, None))
}

impl Clock {
    fn new(jumps: Jumps, setter: Setter, trusted: bool, jumps_file: Option<PathBuf>) -> Self {
        let started = Instant::now();
        Self {
            started,
            offset_ms: AtomicI64::new(0),
            confirmed: AtomicBool::new(trusted),
            setter,
            watch: Mutex::new(Watch {
                jumps,
                wall_minus_monotonic_ms: i128::from(system_ms()),
            }),
            jumps_file,
        }
    }

    fn wall_ms(&self) -> Millis {
        system_ms().saturating_add_signed(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Looks for a jump since the last look; returns the wall clock and the jumps.
    fn observe(&self) -> (Millis, Jumps) {
        let mut watch = self.watch.lock().unwrap_or_else(PoisonError::into_inner);
        let wall = self.wall_ms();
        let now = i128::from(wall) - self.started.elapsed().as_millis() as i128;
        let moved = now - watch.wall_minus_monotonic_ms;
        if moved.abs() > i128::from(JUMP_TOLERANCE_MS) {
            watch.jumps.record(i64::try_from(moved).unwrap_or(i64::MAX));
            watch.wall_minus_monotonic_ms = now;
            tracing::warn!(moved_ms = %moved, "the wall clock jumped; tokens keep their time");
            self.keep(&watch.jumps);
        }
        (wall, watch.jumps.clone())
    }

    /// Writes the jumps beside the data (a new file, then renamed over the old one).
    fn keep(&self, jumps: &Jumps) {
        let Some(path) = &self.jumps_file else { return };
        let written = serde_json::to_vec(jumps)
            .map_err(std::io::Error::other)
            .and_then(|bytes| {
                let fresh = path.with_extension("json.new");
                std::fs::write(&fresh, bytes)?;
                std::fs::rename(&fresh, path)
            });
        if let Err(e) = written {
            tracing::warn!(path = %path.display(), error = %e, "cannot keep the clock's jumps");
        }
    }
}

/// The jumps kept in `data_dir`, none if there is no file (or it cannot be read).
fn read_jumps(data_dir: &Path) -> Jumps {
    std::fs::read(data_dir.join(JUMPS_FILE))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Fixes the clock for the box serving `data_dir`: reads the jumps kept there, and counts one
/// more when the wall clock is behind the data dir's last write. `trusted` starts the wall clock
/// confirmed. Only the first call counts.
pub fn start(data_dir: &Path, setter: Setter, trusted: bool) {
    let mut jumps = read_jumps(data_dir);
    let floor = last_write_in(data_dir).map(millis_since_epoch);
    let started_back = jump_at_start(system_ms(), floor);
    if let Some(delta) = started_back {
        jumps.record(delta);
    }
    let clock = Clock::new(jumps, setter, trusted, Some(data_dir.join(JUMPS_FILE)));
    if started_back.is_some() {
        let watch = clock.watch.lock().unwrap_or_else(PoisonError::into_inner);
        clock.keep(&watch.jumps);
    }
    let _ = CLOCK.set(clock);
}

/// Fixes the clock for a command that mints tokens beside a box (`venuebox token`): the jumps
/// the box kept in `data_dir`, nothing written.
pub fn start_reading(data_dir: &Path) {
    let _ = CLOCK.set(Clock::new(
        read_jumps(data_dir),
        Setter::Simulated,
        false,
        None,
    ));
}

/// The latest modification time of the files directly in `dir`: the last time the box wrote
/// its log, secrets or marks, by the clock it had then.
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

/// Milliseconds since the Unix epoch by the box's wall clock.
pub fn wall_clock_ms() -> Millis {
    clock().wall_ms()
}

/// Looks for a jump of the wall clock now (the server does every second, so the jumps file is
/// current for `venuebox token`).
pub fn watch() {
    clock().observe();
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
            let offset = (i128::from(to_ms) - i128::from(system_ms()))
                .clamp(i64::MIN.into(), i64::MAX.into());
            clock
                .offset_ms
                .store(i64::try_from(offset).unwrap_or(0), Ordering::Relaxed);
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

    #[test]
    fn a_start_behind_the_last_write_is_a_jump_back() {
        assert_eq!(jump_at_start(NOW, None), None);
        assert_eq!(jump_at_start(NOW, Some(NOW - 60_000)), None, "time passed");
        assert_eq!(
            jump_at_start(NOW, Some(NOW + 1_000)),
            None,
            "within tolerance"
        );
        assert_eq!(
            jump_at_start(86_400_000, Some(NOW)),
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
    fn jumps_survive_a_restart_in_their_file() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Clock::new(
            Jumps::default(),
            Setter::Simulated,
            false,
            Some(dir.path().join(JUMPS_FILE)),
        );
        clock.offset_ms.store(3 * HOUR, Ordering::Relaxed);
        let (_, jumps) = clock.observe();
        assert_eq!(jumps.era(), 1);
        assert_eq!(read_jumps(dir.path()), jumps);
    }
}
