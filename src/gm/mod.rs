//! The GM-station contract (seed 004): sessions, scans scored first-write-wins, GM stations and
//! player scanners, and the video queue.
//!
//! | file | what |
//! |---|---|
//! | `domain/` | the pure state machine: commands, events, decide/apply by responsibility, the published [`domain::GmView`] |
//! | `tokens.rs` | the venue's token file: values, groups, videos |
//! | `socketio.rs` | the stations' Socket.IO adapter and the fan-out to the `gm-stations` and `admin` channels |
//! | `json.rs` | the contract's JSON shapes (camelCase, as the stations read them) |
//! | `routes.rs` | the HTTP API: state, sessions, scans, tokens, video control |
//! | `video_driver.rs` | makes the HDMI player follow the video events of the log |
//! | `session_reset.rs` | the reset button, the console's Reset and `session:reset` |
//! | `lights.rs` | what the game shows on the status LEDs |
//! | `tv.rs` | `/tv`: the venue TV's board (ranked scores, their chart, the video, the PIN and its QR code) over SSE |
//!
//! Tests: `domain/tests.rs`, `tests/node/gm_contract.test.mjs`, `tests/node/aln_scanner.test.mjs`,
//! `tests/node/http_api.test.mjs`, `tests/node/tv_page.test.mjs`.

pub mod domain;
pub mod json;
pub mod lights;
pub mod routes;
pub mod session_reset;
pub mod socketio;
pub mod tokens;
pub mod tv;
pub mod video_driver;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use socketioxide::SocketIo;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::engine::EngineHandle;
use crate::hardware::rig::Booting;
use crate::wire::AppContext;

/// How often quiet player scanners are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// The contract while the box runs.
pub struct Running {
    io: SocketIo,
    layer: socketioxide::layer::SocketIoLayer,
}

/// The token catalogue the box scores with.
pub fn catalog(engine: &EngineHandle) -> Arc<tokens::TokenCatalog> {
    engine.published().views.gm.catalog.clone()
}

/// What the contract takes from the state as the last run left it, before boot recovery.
pub struct BeforeRecovery {
    /// The video driver, following the log: a video that was playing at power loss starts
    /// again.
    pub video: Option<JoinHandle<()>>,
    /// The GM stations that were connected when the box went down.
    pub connected_at_cut: std::collections::HashSet<String>,
}

/// Takes the video player and makes it follow the log, and notes which stations were
/// connected; call before the engine's boot recovery.
pub fn before_recovery(
    engine: &EngineHandle,
    config: &Config,
    hardware: &mut Booting,
) -> BeforeRecovery {
    let connected_at_cut = engine
        .published()
        .views
        .gm
        .devices
        .iter()
        .filter(|d| d.connected && d.kind == domain::DeviceKind::Gm)
        .map(|d| d.id.clone())
        .collect();
    let video = hardware.take_player().map(|(player, status)| {
        tokio::spawn(video_driver::run_video_driver(
            engine.clone(),
            catalog(engine),
            player,
            config.video.media_dir.clone(),
            status,
        ))
    });
    BeforeRecovery {
        video,
        connected_at_cut,
    }
}

/// Starts the contract's background tasks (fan-out, `state:update`, the idle-scanner sweep, the
/// reset button's resets) and its Socket.IO server.
pub fn start(
    ctx: &Arc<AppContext>,
    before: BeforeRecovery,
    reset_requests: mpsc::Receiver<()>,
    tasks: &mut Vec<JoinHandle<()>>,
) -> Running {
    tasks.extend(before.video);
    tasks.push(tokio::spawn(session_reset::run_button_resets(
        ctx.engine.clone(),
        ctx.hardware_control.clone(),
        reset_requests,
    )));
    tasks.push(tokio::spawn(socketio::run_fanout(ctx.clone())));
    tasks.push(tokio::spawn(socketio::publish_state_updates(ctx.clone())));
    tasks.push(tokio::spawn(tv::publish_boards(ctx.clone())));
    tasks.push(tokio::spawn(tv::publish_video_progress(ctx.clone())));
    tasks.push(tokio::spawn(sweep_idle_devices(ctx.engine.clone())));
    let (layer, io) = socketio::layer(ctx.clone(), before.connected_at_cut);
    Running { io, layer }
}

impl Running {
    /// Puts Socket.IO in front of the box's routes.
    pub fn wrap(&self, app: Router) -> Router {
        app.layer(self.layer.clone())
            .layer(tower::util::MapRequestLayer::new(
                socketio::detach_request_head::<axum::body::Body>,
            ))
    }

    /// Tells every station the box is restarting, then closes their connections.
    pub async fn close_for_restart(&self) {
        socketio::announce_restart(&self.io).await;
        self.io.clone().close().await;
    }
}

async fn sweep_idle_devices(engine: EngineHandle) {
    let mut ticker = tokio::time::interval(SWEEP_EVERY);
    loop {
        ticker.tick().await;
        let sweep = domain::GmCommand::SweepIdleDevices;
        if engine.execute(sweep.into()).await.is_err() {
            break;
        }
    }
}
