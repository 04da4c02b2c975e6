//! The box's clocks, and what each is trusted for.
//!
//! A Pi has no battery clock and a venue has no internet, so after a power cut the system clock
//! may be hours off or back in 1970, and staff may set it while the box runs. Three readings:
//!
//! - **The wall clock** ([`wall_clock_ms`]): the system clock, plus the offset staff set on a
//!   box that keeps its clock in-process (simulated hardware). It stamps what the log records
//!   and what the wire shows, nothing that waits or measures (those run on `Instant`).
//! - **The token clock** ([`token_secs`]): what tokens are minted and checked against. It is
//!   read from the wall clock once, at start, and never earlier than the last write to the data
//!   dir (a box that comes back in 1970 does not bring expired tokens back to life), then runs
//!   on the monotonic clock. A wall clock that jumps while the box runs, either way, neither
//!   locks stations out nor stretches a token's life. A box started after a long time off (or
//!   with its clock ahead) counts the tokens it issued before as that much older, which is
//!   what they are.
//! - **Whether the wall clock is confirmed**: staff confirmed it (or set it) from a device
//!   with a good clock during this run, or the box is configured to trust it (a real-time
//!   clock is fitted). Every log record carries this flag.
//!
//! The clock is process-wide, like the system clock it wraps: [`start`] fixes the token
//! clock's anchor once; before it is called (tests, one-shot commands) the anchor is the wall
//! clock when first read.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::domain::Millis;

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

struct Clock {
    /// Token time at `started`, in milliseconds since the epoch.
    token_anchor_ms: Millis,
    started: Instant,
    /// Added to the system clock's reading (a simulated setter's doing).
    offset_ms: AtomicI64,
    confirmed: AtomicBool,
    setter: Setter,
}

static CLOCK: OnceLock<Clock> = OnceLock::new();

fn clock() -> &'static Clock {
    CLOCK.get_or_init(|| Clock::new(None, Setter::Simulated, false))
}

impl Clock {
    fn new(floor: Option<SystemTime>, setter: Setter, trusted: bool) -> Self {
        let wall = system_ms();
        let floor = floor.map_or(0, millis_since_epoch);
        Self {
            token_anchor_ms: wall.max(floor),
            started: Instant::now(),
            offset_ms: AtomicI64::new(0),
            confirmed: AtomicBool::new(trusted),
            setter,
        }
    }
}

/// Fixes the clock for this process: the token clock starts at the wall clock or `floor`,
/// whichever is later; `trusted` starts it confirmed. Only the first call counts.
pub fn start(floor: Option<SystemTime>, setter: Setter, trusted: bool) {
    let _ = CLOCK.set(Clock::new(floor, setter, trusted));
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
    let offset = clock().offset_ms.load(Ordering::Relaxed);
    system_ms().saturating_add_signed(offset)
}

/// The box's wall clock as a `SystemTime`.
pub fn wall_clock() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(wall_clock_ms())
}

/// Seconds since the Unix epoch by the token clock.
pub fn token_secs() -> u64 {
    let clock = clock();
    let elapsed = u64::try_from(clock.started.elapsed().as_millis()).unwrap_or(u64::MAX);
    clock.token_anchor_ms.saturating_add(elapsed) / 1000
}

/// Whether the wall clock was confirmed by staff this run (or is trusted by configuration).
pub fn is_confirmed() -> bool {
    clock().confirmed.load(Ordering::Relaxed)
}

/// Staff vouched for the wall clock as it is.
pub fn confirm() {
    clock().confirmed.store(true, Ordering::Relaxed);
}

/// Sets the wall clock to `to_ms` and counts it as confirmed. The token clock does not move.
pub fn set(to_ms: Millis) -> Result<Step, ClockError> {
    let clock = clock();
    let from_ms = wall_clock_ms();
    match clock.setter {
        Setter::System => set_system_clock(to_ms)?,
        Setter::Simulated => {
            let system = i128::from(system_ms());
            let offset = (i128::from(to_ms) - system).clamp(i64::MIN.into(), i64::MAX.into());
            clock
                .offset_ms
                .store(i64::try_from(offset).unwrap_or(0), Ordering::Relaxed);
        }
    }
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

    #[test]
    fn the_token_clock_starts_no_earlier_than_the_last_write() {
        let a_day_ahead = SystemTime::now() + Duration::from_secs(86_400);
        let clock = Clock::new(Some(a_day_ahead), Setter::Simulated, false);
        assert_eq!(clock.token_anchor_ms, millis_since_epoch(a_day_ahead));
        let a_day_back = SystemTime::now() - Duration::from_secs(86_400);
        let clock = Clock::new(Some(a_day_back), Setter::Simulated, true);
        assert!(clock.token_anchor_ms > millis_since_epoch(a_day_back) + 86_000_000);
        assert!(clock.confirmed.load(Ordering::Relaxed));
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
}
