//! The round timer's clock. While a round's timer runs it lives here, on the box's monotonic
//! clock (`tokio::time::Instant`): the box has no real-time clock, so wall time is never part
//! of it. The log holds the remaining seconds at each change, and a checkpoint every
//! [`SYNC_EVERY`] while it runs: a power cut costs the room at most that much of the round, and
//! the timer comes back paused there (the domain's `recover`).
//!
//! Every persisted change becomes a `timers:sync` on the stream (`stream.rs`), so the
//! checkpoints are also the seed's periodic sync; at zero the clock commits a pause at 0, the
//! final `timers:sync`, and stops.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::domain::{Round, TimerAction, TournamentCommand, TournamentOutcome};
use crate::engine::EngineHandle;
use crate::wire::errors::{unexpected, WireError};
use crate::wire::run;

/// How often a running timer is persisted and synced to every screen (the seed's "every 5s").
pub const SYNC_EVERY: Duration = Duration::from_secs(5);

/// What staff ask of a round's timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerRequest {
    Start { seconds: u32 },
    Pause,
    Resume,
    Reset { seconds: u32 },
}

/// A running timer: it had `from_secs` left at `since`.
#[derive(Debug, Clone, Copy)]
struct Running {
    since: Instant,
    from_secs: u32,
    /// Which start or resume this is: a ticker of an earlier one stops on seeing another.
    generation: u64,
}

impl Running {
    /// Whole seconds left at `now`, rounded up: a timer shows 1 until its last second is over.
    fn remaining_at(&self, now: Instant) -> u32 {
        let total = Duration::from_secs(u64::from(self.from_secs));
        let left = total.saturating_sub(now.saturating_duration_since(self.since));
        let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        u32::try_from(secs).unwrap_or(self.from_secs)
    }

    fn ends_at(&self) -> Instant {
        self.since + Duration::from_secs(u64::from(self.from_secs))
    }
}

/// The running timers of every round on the box.
#[derive(Debug, Default)]
pub struct RoundClocks {
    running: Mutex<HashMap<u64, Running>>,
    /// One timer change at a time: a pause reads the clock and commits what it read before a
    /// checkpoint or another request can move it.
    changes: tokio::sync::Mutex<()>,
    generations: AtomicU64,
}

impl RoundClocks {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Running>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Seconds left on the round's running timer, by the clock; `None` when it is not running.
    pub fn remaining(&self, round_id: u64) -> Option<u32> {
        self.lock()
            .get(&round_id)
            .map(|r| r.remaining_at(Instant::now()))
    }

    fn current(&self, round_id: u64, generation: u64) -> Option<Running> {
        self.lock()
            .get(&round_id)
            .copied()
            .filter(|r| r.generation == generation)
    }
}

/// Carries out a staff request: the change is durable before it is answered. A start or
/// resume starts the clock (and its checkpoints) from the moment it was committed.
pub async fn change(
    engine: &EngineHandle,
    clocks: &Arc<RoundClocks>,
    round_id: u64,
    request: TimerRequest,
) -> Result<Round, WireError> {
    let _turn = clocks.changes.lock().await;
    let action = match request {
        TimerRequest::Start { seconds } => TimerAction::Start { seconds },
        // Without a clock (none runs) the domain keeps what it persisted: it takes the least.
        TimerRequest::Pause => TimerAction::Pause {
            remaining_secs: clocks.remaining(round_id).unwrap_or(u32::MAX),
        },
        TimerRequest::Resume => TimerAction::Resume,
        TimerRequest::Reset { seconds } => TimerAction::Reset { seconds },
    };
    let round = match run(engine, TournamentCommand::Timer { round_id, action }).await? {
        TournamentOutcome::Round(round) => round,
        other => return Err(unexpected(other)),
    };
    if round.timer.running {
        let generation = clocks.generations.fetch_add(1, Ordering::Relaxed);
        let running = Running {
            since: Instant::now(),
            from_secs: round.timer.remaining_secs,
            generation,
        };
        clocks.lock().insert(round_id, running);
        tokio::spawn(tick(engine.clone(), clocks.clone(), round_id, generation));
    } else {
        clocks.lock().remove(&round_id);
    }
    Ok(round)
}

/// Persists the running clock every [`SYNC_EVERY`] and stops it at zero with a pause at 0.
/// Ends when its run of the clock is over (paused, reset, or started again).
async fn tick(engine: EngineHandle, clocks: Arc<RoundClocks>, round_id: u64, generation: u64) {
    let mut checkpoint = 1u32;
    loop {
        let Some(running) = clocks.current(round_id, generation) else {
            return;
        };
        let next = (running.since + SYNC_EVERY * checkpoint).min(running.ends_at());
        tokio::time::sleep_until(next).await;
        checkpoint += 1;
        let turn = clocks.changes.lock().await;
        let Some(running) = clocks.current(round_id, generation) else {
            return;
        };
        let remaining_secs = running.remaining_at(Instant::now());
        let action = if remaining_secs == 0 {
            TimerAction::Pause { remaining_secs: 0 }
        } else {
            TimerAction::Checkpoint { remaining_secs }
        };
        let command = TournamentCommand::Timer { round_id, action };
        if let Err(e) = engine.execute(command.into()).await {
            // A failed write leaves the clock running: the next checkpoint tries again, and
            // the screens keep the last value they were sent.
            tracing::warn!(round_id, error = %e, "the round timer could not be persisted");
            if remaining_secs == 0 {
                drop(turn);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            continue;
        }
        if remaining_secs == 0 {
            clocks.lock().remove(&round_id);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_counts_whole_seconds_down_rounding_up() {
        let since = Instant::now();
        let running = Running {
            since,
            from_secs: 420,
            generation: 0,
        };
        assert_eq!(running.remaining_at(since), 420);
        assert_eq!(running.remaining_at(since + Duration::from_millis(1)), 420);
        assert_eq!(running.remaining_at(since + Duration::from_secs(5)), 415);
        assert_eq!(
            running.remaining_at(since + Duration::from_millis(419_001)),
            1
        );
        assert_eq!(running.remaining_at(since + Duration::from_secs(420)), 0);
        assert_eq!(running.remaining_at(since + Duration::from_secs(999)), 0);
    }
}
