//! The contracts the box speaks, in one list: their routes, their background tasks, and how
//! each says goodbye when the box stops. `server.rs` starts and stops them from here; a new
//! contract adds one line to each function (ARCHITECTURE.md, "How a contract plugs in").

use std::sync::Arc;

use axum::Router;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::engine::{EngineHandle, Published};
use crate::hardware::leds::GameLights;
use crate::hardware::rig::Booting;
use crate::wire::AppContext;
use crate::{drafts, gm, predictions, sports, tournaments};

/// Every contract's HTTP and WebSocket routes.
pub fn routes() -> Router<Arc<AppContext>> {
    Router::new()
        .merge(gm::routes::router())
        .merge(gm::tv::router())
        .merge(predictions::routes::router())
        .merge(predictions::page::router())
        .merge(tournaments::routes::router())
        .merge(tournaments::page::router())
        .merge(drafts::routes::router())
        .merge(drafts::page::router())
        .merge(sports::routes::router())
        .merge(sports::page::router())
}

/// What each contract takes before the engine's boot recovery: the outputs it drives (the HDMI
/// player follows the GM contract's video queue) and what the last run left behind.
pub struct BeforeRecovery {
    gm: gm::BeforeRecovery,
}

/// Called before the engine's boot recovery.
pub fn before_recovery(
    engine: &EngineHandle,
    config: &Config,
    hardware: &mut Booting,
) -> BeforeRecovery {
    BeforeRecovery {
        gm: gm::before_recovery(engine, config, hardware),
    }
}

/// What the game shows on the status LEDs (the GM contract runs the room).
pub fn game_lights(published: &Published) -> GameLights {
    gm::lights::game_lights(published)
}

/// The contracts while the box runs.
pub struct Contracts {
    tasks: Vec<JoinHandle<()>>,
    gm: gm::Running,
}

impl Contracts {
    /// Starts every contract's fan-outs from the hub to the channel layer, and its timers,
    /// with what each took [`before_recovery`]; the reset button's requests go to the GM
    /// contract, which owns sessions.
    pub fn start(
        ctx: &Arc<AppContext>,
        before: BeforeRecovery,
        reset_requests: tokio::sync::mpsc::Receiver<()>,
    ) -> Self {
        let mut tasks = Vec::new();
        let gm = gm::start(ctx, before.gm, reset_requests, &mut tasks);
        predictions::start(ctx, &mut tasks);
        tournaments::start(ctx, &mut tasks);
        drafts::start(ctx, &mut tasks);
        sports::start(ctx, &mut tasks);
        Self { tasks, gm }
    }

    /// Puts the contracts' own layers (Socket.IO) in front of the box's router.
    pub fn wrap(&self, app: Router) -> Router {
        self.gm.wrap(app)
    }

    /// Tells every client of every contract that the box is restarting, and closes them.
    pub async fn close_for_restart(&self, ctx: &AppContext) {
        gm::tv::close_for_restart(ctx);
        predictions::close_for_restart(ctx);
        tournaments::close_for_restart(ctx);
        drafts::close_for_restart(ctx);
        sports::close_for_restart(ctx);
        self.gm.close_for_restart().await;
    }

    /// Stops the background tasks.
    pub fn stop(&self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
