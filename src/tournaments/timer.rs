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

/// A running timer: it had `from` left at `since`.
#[derive(Debug, Clone, Copy)]
struct Running {
    since: Instant,
    from: Duration,
    /// Which start or resume this is: a ticker of an earlier one stops on seeing another.
    generation: u64,
}

impl Running {
    fn left_at(&self, now: Instant) -> Duration {
        self.from
            .saturating_sub(now.saturating_duration_since(self.since))
    }

    /// Whole seconds left at `now`, rounded up: a timer shows 1 until its last second is over.
    fn remaining_at(&self, now: Instant) -> u32 {
        whole_seconds(self.left_at(now))
    }

    fn ends_at(&self) -> Instant {
        self.since + self.from
    }
}

fn whole_seconds(left: Duration) -> u32 {
    let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    u32::try_from(secs).unwrap_or(u32::MAX)
}

/// A round's timer as the clock knows it.
#[derive(Debug, Clone, Copy)]
enum Clock {
    Running(Running),
    /// Paused with `exact` left, persisted (rounded up) as `shown` seconds: a resume goes on
    /// from `exact`, so pausing never gives back the part of a second already used.
    Paused {
        shown: u32,
        exact: Duration,
    },
}

/// The timers of every round on the box that ran since it started.
#[derive(Debug, Default)]
pub struct RoundClocks {
    clocks: Mutex<HashMap<u64, Clock>>,
    /// One timer change at a time: a pause reads the clock and commits what it read before a
    /// checkpoint or another request can move it.
    changes: tokio::sync::Mutex<()>,
    generations: AtomicU64,
}

impl RoundClocks {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Clock>> {
        self.clocks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn running(&self, round_id: u64) -> Option<Running> {
        match self.lock().get(&round_id) {
            Some(Clock::Running(running)) => Some(*running),
            _ => None,
        }
    }

    /// Seconds left on the round's running timer, by the clock; `None` when it is not running.
    pub fn remaining(&self, round_id: u64) -> Option<u32> {
        self.running(round_id)
            .map(|r| r.remaining_at(Instant::now()))
    }

    fn current(&self, round_id: u64, generation: u64) -> Option<Running> {
        self.running(round_id)
            .filter(|r| r.generation == generation)
    }

    /// Where a resume of `shown` persisted seconds goes on from: the exact time left at the
    /// pause when that is what was persisted.
    fn resume_from(&self, round_id: u64, shown_now: u32) -> Duration {
        match self.lock().get(&round_id) {
            Some(Clock::Paused { shown, exact }) if *shown == shown_now => *exact,
            _ => Duration::from_secs(u64::from(shown_now)),
        }
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
    let left_at_pause = clocks.running(round_id).map(|r| r.left_at(Instant::now()));
    let action = match request {
        TimerRequest::Start { seconds } => TimerAction::Start { seconds },
        // Without a clock (none runs) the domain keeps what it persisted: it takes the least.
        TimerRequest::Pause => TimerAction::Pause {
            remaining_secs: left_at_pause.map_or(u32::MAX, whole_seconds),
        },
        TimerRequest::Resume => TimerAction::Resume,
        TimerRequest::Reset { seconds } => TimerAction::Reset { seconds },
    };
    let round = match run(engine, TournamentCommand::Timer { round_id, action }).await? {
        TournamentOutcome::Round(round) => round,
        other => return Err(unexpected(other)),
    };
    let shown = round.timer.remaining_secs;
    let clock = if round.timer.running {
        let from = match request {
            TimerRequest::Resume => clocks.resume_from(round_id, shown),
            _ => Duration::from_secs(u64::from(shown)),
        };
        let generation = clocks.generations.fetch_add(1, Ordering::Relaxed);
        Clock::Running(Running {
            since: Instant::now(),
            from,
            generation,
        })
    } else {
        let exact = match (request, left_at_pause) {
            (TimerRequest::Pause, Some(left)) if whole_seconds(left) == shown => left,
            _ => Duration::from_secs(u64::from(shown)),
        };
        Clock::Paused { shown, exact }
    };
    clocks.lock().insert(round_id, clock);
    // Started once its clock is in place: the ticker stops when it finds no clock of its own.
    if let Clock::Running(running) = clock {
        tokio::spawn(tick(
            engine.clone(),
            clocks.clone(),
            round_id,
            running.generation,
        ));
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
            clocks.lock().insert(
                round_id,
                Clock::Paused {
                    shown: 0,
                    exact: Duration::ZERO,
                },
            );
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
            from: Duration::from_secs(420),
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

    #[test]
    fn a_resume_goes_on_from_the_exact_time_left_at_the_pause() {
        let clocks = RoundClocks::default();
        let exact = Duration::from_millis(9_400);
        clocks.lock().insert(
            7,
            Clock::Paused {
                shown: whole_seconds(exact),
                exact,
            },
        );
        assert_eq!(whole_seconds(exact), 10, "persisted rounded up");
        assert_eq!(
            clocks.resume_from(7, 10),
            exact,
            "the used 0.6 s stays used"
        );
        // Staff reset it meanwhile (another value persisted): the persisted value counts.
        assert_eq!(clocks.resume_from(7, 60), Duration::from_secs(60));
        assert_eq!(clocks.resume_from(8, 30), Duration::from_secs(30));
    }
}
