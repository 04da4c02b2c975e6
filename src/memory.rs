//! What the box's process holds in memory: the resident set the kernel counts, and the part of
//! it the allocator hands out (live data) against the part it keeps. A long night that grows
//! the first while the second stays flat is the allocator keeping freed memory, not a leak.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;

/// The process's memory, in KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Memory {
    /// Resident set (`VmRSS`); `None` where the kernel does not say.
    pub rss_kib: Option<u64>,
    /// Bytes the allocator has handed out and not had back; `None` off glibc.
    pub heap_in_use_kib: Option<u64>,
    /// Bytes the allocator holds from the kernel, in use or not; `None` off glibc.
    pub heap_held_kib: Option<u64>,
}

/// How long a reading is reused: every open staff console asks once a second, and a reading
/// locks each allocator arena in turn while it walks its free lists.
const READING_LASTS: Duration = Duration::from_secs(5);

/// The memory now, or as read within the last [`READING_LASTS`].
pub fn now() -> Memory {
    static LAST: Mutex<Option<(Instant, Memory)>> = Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((at, memory)) = *last {
        if at.elapsed() < READING_LASTS {
            return memory;
        }
    }
    let memory = read();
    *last = Some((Instant::now(), memory));
    memory
}

fn read() -> Memory {
    let (heap_in_use_kib, heap_held_kib) = allocator_kib().unzip();
    Memory {
        rss_kib: rss_kib(),
        heap_in_use_kib,
        heap_held_kib,
    }
}

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn allocator_kib() -> Option<(u64, u64)> {
    // `mallinfo`, not `mallinfo2`: the latter needs glibc 2.33, newer than cross-rs's stock
    // image links against. Its counters are `int`s, wide enough for the unit's `MemoryMax`.
    // SAFETY: mallinfo takes no arguments and returns a plain struct by value.
    let info = unsafe { libc::mallinfo() };
    let kib = |bytes: libc::c_int| u64::try_from(bytes).ok().map(|b| b / 1024);
    // Blocks above the mmap threshold are mapped one by one (hblkhd): in use and held alike.
    let mapped = kib(info.hblkhd)?;
    Some((kib(info.uordblks)? + mapped, kib(info.arena)? + mapped))
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn allocator_kib() -> Option<(u64, u64)> {
    None
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    /// The two tests allocate big blocks; one must not free its block inside the other's window.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

    #[test]
    fn live_heap_grows_with_what_is_held() {
        let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
        assert!(read().rss_kib.expect("Linux says VmRSS") > 0);
        // Other tests of the crate allocate and free meanwhile: half the block is margin, and
        // one of three tries must see it.
        let seen = (0..3).any(|_| {
            let before = read().heap_in_use_kib.expect("glibc says mallinfo");
            let block = std::hint::black_box(vec![7u8; 64 << 20]);
            let during = read().heap_in_use_kib.unwrap_or(0);
            drop(block);
            during >= before + 32 * 1024
        });
        assert!(seen, "64 MiB more in use did not show in three tries");
    }

    #[test]
    fn a_reading_is_reused_for_a_few_seconds() {
        let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
        let first = now();
        let block = std::hint::black_box(vec![7u8; 64 << 20]);
        assert_eq!(
            now(),
            first,
            "the cached reading, not a new walk of the arenas"
        );
        drop(block);
    }
}
