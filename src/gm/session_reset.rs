//! The session reset, one use case with three doors: the reset button on the box, the console's
//! Reset (`POST /api/session/reset`) and the admin socket's `session:reset`. Each archives the
//! running session and starts a fresh one with the same setup, and all LEDs confirm it.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::domain::{GmCommand, GmError, ResetSource};
use crate::domain::{Actor, DomainError, Outcome};
use crate::engine::{acting_as, EngineError, EngineHandle};
use crate::hardware::rig::HardwareControl;

/// Archives the current session and starts a fresh one; the LEDs confirm it.
pub async fn reset_session(
    engine: &EngineHandle,
    hardware: &Arc<HardwareControl>,
    source: ResetSource,
) -> Result<Outcome, EngineError> {
    // The id is made here, not in the domain, so replaying the log gives the same session.
    let session_id = uuid::Uuid::new_v4().to_string();
    let outcome = engine
        .execute(GmCommand::ResetSession { session_id, source }.into())
        .await?;
    hardware.confirm_reset();
    Ok(outcome)
}

/// Carries out the resets the button asks for, until the box stops.
pub async fn run_button_resets(
    engine: EngineHandle,
    hardware: Arc<HardwareControl>,
    mut requests: mpsc::Receiver<()>,
) {
    // The button is on the box: the trail names it, with no address.
    let button = Actor {
        role: "button".into(),
        who: "reset button".into(),
        since: None,
        address: None,
    };
    while requests.recv().await.is_some() {
        let reset = reset_session(&engine, &hardware, ResetSource::Button);
        match acting_as(button.clone(), reset).await {
            Ok(_) => {}
            Err(EngineError::Domain(DomainError::Gm(GmError::NoSession))) => {
                tracing::info!("reset button: no session is running; nothing to reset");
            }
            Err(e) => tracing::error!(error = %e, "reset button: the session could not be reset"),
        }
    }
}
