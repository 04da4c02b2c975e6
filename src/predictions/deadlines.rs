//! Timers as command sources: closes each prediction when its `closesAt` passes.
//!
//! Deadlines are absolute times in the state, so after a restart the next one is simply read
//! again; one that passed while the box was off closes at once.

use std::time::Duration;

use super::domain::{CloseReason, PredictionCommand, PredictionError};
use crate::domain::DomainError;
use crate::engine::{wall_clock_ms, EngineError, EngineHandle};

/// Runs until the engine stops.
pub async fn run_prediction_deadlines(engine: EngineHandle) {
    let mut watch = engine.watch();
    loop {
        let next = watch
            .borrow_and_update()
            .views
            .predictions
            .predictions
            .iter()
            .filter(|p| p.is_open())
            .map(|p| (p.spec.closes_at, p.spec.id.clone()))
            .min();
        let Some((closes_at, id)) = next else {
            if watch.changed().await.is_err() {
                break;
            }
            continue;
        };
        let wait = Duration::from_millis(closes_at.saturating_sub(wall_clock_ms()));
        tokio::select! {
            () = tokio::time::sleep(wait) => {
                let close = PredictionCommand::Close {
                    prediction_id: id.clone(),
                    reason: CloseReason::Deadline,
                };
                match engine.execute(close.into()).await {
                    // Closed by staff in the meantime: nothing to do.
                    Ok(_) | Err(EngineError::Domain(DomainError::Predictions(PredictionError::Closed(_)))) => {}
                    Err(EngineError::Stopped) => break,
                    Err(e) => {
                        tracing::warn!(prediction = id, error = %e, "could not close at the deadline; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
            changed = watch.changed() => {
                if changed.is_err() {
                    break;
                }
            }
        }
    }
}
