//! Assembles the box: secrets, tokens, store, engine, hardware outputs and the wire adapters on
//! one port, then serves until shutdown.
//!
//! Start-up order matters: everything that can fail because of the configuration (token file,
//! data dir, damaged database) fails in [`Prepared::new`], before any port is bound. The video
//! driver subscribes to the hub before the engine's boot recovery runs, so a video that was
//! playing at power loss starts again.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::auth::{AuthError, Secrets};
use crate::config::Config;
use crate::contracts::Contracts;
use crate::domain::{Command, Domain};
use crate::engine;
use crate::gm::tokens::{TokenCatalog, TokenFileError};
use crate::hardware::rig::Rig;
use crate::hardware::HardwareError;
use crate::hub::Hub;
use crate::store::{Store, StoreError};
use crate::wire::{self, AppContext};

/// Commands waiting for the engine before adapters are made to wait.
const ENGINE_QUEUE: usize = 4096;
/// Time the engine gets past the stop's deadline to commit what is queued and close the file
/// (usually milliseconds; an SD card's fsync at worst). Grace plus this stays inside the unit's
/// `TimeoutStopSec`.
const ENGINE_STOP_MARGIN: Duration = Duration::from_secs(2);
/// Per-listener hub backlog: how far a fan-out may fall behind before it resynchronises.
const HUB_LISTENER_QUEUE: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("data directory {path}: {cause}")]
    DataDir {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("config key `tokens`: cannot read {path}: {cause}")]
    TokensRead {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("config key `tokens`: {path}: {cause}")]
    TokensInvalid {
        path: PathBuf,
        cause: TokenFileError,
    },
    #[error(transparent)]
    Secrets(#[from] AuthError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {cause}")]
    Bind {
        addr: SocketAddr,
        cause: std::io::Error,
    },
    #[error("server failed: {0}")]
    Serve(std::io::Error),
    #[error("hardware: {0}")]
    Hardware(#[from] HardwareError),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("the clock: {0}")]
    Clock(#[from] crate::clock::ClockError),
    #[error(transparent)]
    Logins(#[from] crate::wire::logins::LoginError),
}

impl ServerError {
    /// Whether the operator's configuration is at fault (exit 64) rather than the machine.
    pub fn is_config_error(&self) -> bool {
        matches!(
            self,
            Self::TokensRead { .. } | Self::TokensInvalid { .. } | Self::Hardware(_) | Self::Tls(_)
        )
    }
}

/// Everything checked and opened, nothing listening yet.
pub struct Prepared {
    pub config: Arc<Config>,
    pub secrets: Arc<Secrets>,
    /// The admin password, when this start generated it (first start on this data dir).
    pub new_admin_password: Option<String>,
    catalog: TokenCatalog,
    store: Store,
    rig: Rig,
    tls: Option<crate::tls::TlsIdentity>,
    /// The last run did not stop cleanly (power cut, crash): the LEDs say "recovering".
    unclean_shutdown: bool,
}

/// Written by a clean stop, removed at start: its absence next to a database means the box
/// went down without stopping.
const CLEAN_STOP_MARKER: &str = "clean-stop";

pub fn load_catalog(config: &Config) -> Result<TokenCatalog, ServerError> {
    match &config.tokens {
        None => Ok(TokenCatalog::demo(&config.scoring)),
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|cause| ServerError::TokensRead {
                path: path.clone(),
                cause,
            })?;
            TokenCatalog::from_venue_json(&text, &config.scoring).map_err(|cause| {
                ServerError::TokensInvalid {
                    path: path.clone(),
                    cause,
                }
            })
        }
    }
}

impl Prepared {
    pub fn new(config: Config) -> Result<Self, ServerError> {
        Self::with_store(config, Store::open)
    }

    /// Like [`Prepared::new`], with the database behind a fault-injecting backend (tests).
    pub fn with_fault_plan(
        config: Config,
        plan: Arc<crate::store::faults::FaultPlan>,
    ) -> Result<Self, ServerError> {
        Self::with_store(config, |path| Store::open_with_faults(path, plan))
    }

    fn with_store(
        config: Config,
        open: impl FnOnce(&std::path::Path) -> Result<Store, StoreError>,
    ) -> Result<Self, ServerError> {
        let catalog = load_catalog(&config)?;
        let mut rig = Rig::open(&config)?;
        if config.require_data_mount {
            rig.wait_for_data_partition(&config.data_dir);
        }
        std::fs::create_dir_all(&config.data_dir).map_err(|cause| ServerError::DataDir {
            path: config.data_dir.clone(),
            cause,
        })?;
        // Before the secrets are touched: the data dir's last write tells a clock gone back.
        crate::clock::start(
            &config.data_dir,
            match config.hardware {
                crate::config::HardwareKind::Sim => crate::clock::Setter::Simulated,
                _ => crate::clock::Setter::System,
            },
            config.clock_trusted,
        )?;
        let (secrets, new_admin_password) = Secrets::load_or_create(&config.data_dir)?;
        let had_database = config.database_path().exists();
        let marker = config.data_dir.join(CLEAN_STOP_MARKER);
        let unclean_shutdown = had_database && !marker.exists();
        let tls = match &config.tls {
            Some(settings) => Some(crate::tls::identity(&config.data_dir, settings)?),
            None => None,
        };
        let store = open(&config.database_path())?;
        // From here on, until a clean stop writes it again, a stop is unclean.
        let _ = std::fs::remove_file(&marker);
        Ok(Self {
            config: Arc::new(config),
            secrets: Arc::new(secrets),
            new_admin_password,
            catalog,
            store,
            rig,
            tls,
            unclean_shutdown,
        })
    }

    /// Binds the configured address.
    pub async fn bind(&self) -> Result<TcpListener, ServerError> {
        let addr = self.config.listen;
        TcpListener::bind(addr)
            .await
            .map_err(|cause| ServerError::Bind { addr, cause })
    }

    /// Binds the TLS port when `[tls]` is configured.
    pub async fn bind_tls(&self) -> Result<Option<TcpListener>, ServerError> {
        let Some(settings) = &self.config.tls else {
            return Ok(None);
        };
        let addr = settings.listen;
        TcpListener::bind(addr)
            .await
            .map(Some)
            .map_err(|cause| ServerError::Bind { addr, cause })
    }

    /// Runs the box on `listener` until `shutdown` resolves, then drains.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        self.serve_with_tls(listener, None, shutdown).await
    }

    /// Like [`Prepared::serve`], with `https://`/`wss://` on `tls_listener` too.
    pub async fn serve_with_tls(
        self,
        listener: TcpListener,
        tls_listener: Option<TcpListener>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let config = self.config.clone();
        let domain = Domain::new(self.catalog, config.limits.clone());
        let hub = Arc::new(Hub::new(HUB_LISTENER_QUEUE));
        let mut hardware = self.rig.start(self.unclean_shutdown);
        if self.unclean_shutdown {
            tracing::warn!("the last run did not stop cleanly; recovering from the log");
        }
        let (engine, engine_task) = engine::start(self.store, domain, hub, ENGINE_QUEUE)?;

        let previous_run_seq = engine.published().seq;
        let before_recovery = crate::contracts::before_recovery(&engine, &config, &mut hardware);
        if let Err(e) = engine.execute(Command::Recover).await {
            tracing::error!(error = %e, "boot recovery could not be recorded");
        }
        let hardware_rx = hardware.status();
        let hardware_control = hardware.control();
        let running = hardware.running(&engine, crate::contracts::game_lights);

        let ctx = Arc::new(AppContext::new(
            engine,
            self.secrets,
            config.clone(),
            hardware_rx,
            hardware_control,
            previous_run_seq,
        )?);
        let contracts = Arc::new(Contracts::start(
            &ctx,
            before_recovery,
            running.reset_requests,
        ));
        let app = contracts.wrap(wire::http::router(ctx.clone(), crate::contracts::routes()));

        let stop_rx = close_on(
            shutdown,
            contracts.clone(),
            ctx.clone(),
            config.shutdown_grace,
        );
        // A jump of the wall clock is noticed (and kept on disk) within a second, even while no
        // token is minted or checked, so `venuebox token` mints in the era the box is in.
        let clock_watch = tokio::spawn(async {
            let mut every_second = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                every_second.tick().await;
                // Once a minute this flushes a small file: kept off the async threads.
                let _ = tokio::task::spawn_blocking(crate::clock::watch).await;
            }
        });
        let watchdog = crate::systemd::watchdog_interval().map(|interval| {
            tokio::spawn(crate::systemd::run_watchdog(ctx.engine.clone(), interval))
        });
        // One gate for both ports: a device's connections count together.
        let gate = crate::connections::Gate::new(config.network.clone().fitted_to_fd_limit());
        // The log is recovered and the port is bound: systemd may call the box started.
        crate::systemd::notify("READY=1");
        let tls_server = match (tls_listener, &self.tls) {
            (Some(tcp), Some(identity)) => Some(tokio::spawn(crate::connections::serve(
                tcp,
                Some(tokio_rustls::TlsAcceptor::from(identity.config.clone())),
                app.clone(),
                gate.clone(),
                stop_rx.clone(),
            ))),
            _ => None,
        };
        crate::connections::serve(listener, None, app, gate, stop_rx.clone()).await;
        if let Some(tls_server) = tls_server {
            let _ = tls_server.await;
        }

        clock_watch.abort();
        if let Some(watchdog) = watchdog {
            watchdog.abort();
        }
        contracts.stop();
        for task in running.tasks {
            task.abort();
        }
        drop(contracts);
        drop(ctx);
        let deadline = (*stop_rx.borrow()).unwrap_or_else(tokio::time::Instant::now);
        stop_engine(engine_task, deadline, &config.data_dir).await;
        Ok(())
    }
}

/// When `shutdown` resolves: tells every contract's clients the box is restarting and closes
/// them, within `grace`. The receiver then holds the stop's deadline, shared by every later
/// step of it (draining requests, the engine's last commit).
fn close_on(
    shutdown: impl Future<Output = ()> + Send + 'static,
    contracts: Arc<Contracts>,
    ctx: Arc<AppContext>,
    grace: Duration,
) -> tokio::sync::watch::Receiver<Option<tokio::time::Instant>> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(None);
    tokio::spawn(async move {
        shutdown.await;
        let deadline = tokio::time::Instant::now() + grace;
        tracing::info!("shutting down: closing connections");
        crate::systemd::notify("STOPPING=1");
        // Connections are long-lived: close them so the server can drain.
        let _ = tokio::time::timeout_at(deadline, contracts.close_for_restart(&ctx)).await;
        drop(ctx);
        let _ = stop_tx.send(Some(deadline));
    });
    stop_rx
}

/// Stops the engine explicitly, so the database is committed and closed here: connection tasks
/// that have not noticed the shutdown yet may still hold engine handles. A stop within the
/// deadline is marked clean.
async fn stop_engine(
    engine_task: engine::EngineTask,
    deadline: tokio::time::Instant,
    data_dir: &std::path::Path,
) {
    let drained = matches!(
        tokio::time::timeout_at(deadline + ENGINE_STOP_MARGIN, engine_task.stop()).await,
        Ok(Ok(()))
    );
    // The last time this box saw: a box started again behind it, after a power-off, went back.
    crate::clock::write_down();
    if drained {
        if let Err(e) = std::fs::write(data_dir.join(CLEAN_STOP_MARKER), b"") {
            tracing::warn!(error = %e, "cannot mark the clean stop");
        }
    }
}
