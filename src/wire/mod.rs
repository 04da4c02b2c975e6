//! The wire machinery every contract's adapters share; it knows no contract.
//!
//! - [`audit`]: staff requests run as their actor; `GET /api/audit` reads the staff's trail.
//! - [`http`]: the box's router (health, the local CA, staff login) with every contract's routes.
//! - [`cors`]: which other origins' pages may call the HTTP API.
//! - [`extract`]: what handlers take from a request (JSON body, caller's token, address).
//! - [`errors`]: the error codes and how every failure maps onto them.
//! - [`channels`]: the channel layer every real-time contract publishes through.
//! - [`json_ws`]: the JSON-over-WebSocket connection loop (frame limit, pings, budget, expiry).
//! - [`sse`]: the same queues as Server-Sent Events, for clients without WebSockets.
//! - [`ratelimit`] and [`logins`]: rate limits, and the staff and viewer login budgets.
//! - [`hardware`]: the admin API of the LEDs, the reset button and session resets.
//! - [`console`]: the staff web console, a page that drives the admin API.
//! - [`pages`]: what every page shares (the content security policy, the shared script and style).
//!
//! [`AppContext`] is what every adapter is handed: the engine, secrets, settings, channels.

pub mod audit;
pub mod channels;
pub mod clock;
pub mod console;
pub mod cors;
pub mod errors;
pub mod extract;
pub mod hardware;
pub mod http;
pub mod json_ws;
pub mod logins;
pub mod pages;
pub mod ratelimit;
pub mod sse;
pub mod time;

use std::sync::Arc;

use crate::auth::Secrets;
use crate::config::Config;
use crate::domain::{Command, Outcome};
use crate::engine::EngineHandle;
use crate::hardware::rig::HardwareControl;
use crate::hardware::HardwareStatus;
use tokio::sync::watch;

/// Initial read buffer of every WebSocket, Socket.IO or plain. Clients send commands of a few
/// hundred bytes, and the libraries' defaults (4 KiB for Socket.IO, 128 KiB for a plain
/// WebSocket, touched on the first read) would be most of an idle connection's memory. Larger
/// frames still arrive whole, in several reads.
pub const WS_READ_BUFFER_BYTES: usize = 1024;

/// Runs a contract's command and answers that contract's outcome (`GmOutcome`,
/// `PredictionOutcome`); a refusal or a storage fault is the matching contract error.
pub async fn run<O: TryFrom<Outcome, Error = Outcome>>(
    engine: &EngineHandle,
    command: impl Into<Command>,
) -> Result<O, errors::WireError> {
    O::try_from(engine.execute(command.into()).await?).map_err(errors::unexpected)
}

/// What every adapter needs: the engine, the secrets and the settings.
pub struct AppContext {
    pub engine: EngineHandle,
    pub secrets: Arc<Secrets>,
    pub config: Arc<Config>,
    /// Login attempts per client address, box-wide budgets of wrong passwords and PINs, and
    /// the one thread that checks staff passwords.
    pub logins: logins::Logins,
    /// What the video player and LEDs report about themselves.
    pub hardware: watch::Receiver<HardwareStatus>,
    /// The simulated button and the LEDs' reset confirmation.
    pub hardware_control: Arc<HardwareControl>,
    /// The channel layer every real-time contract publishes through.
    pub channels: Arc<channels::Channels>,
    /// The last log sequence of the previous run (before this run's boot recovery): clients
    /// that were connected when the box went down missed what came after it. The channel
    /// history starts with this run; what lies between is read from the log.
    pub previous_run_seq: u64,
}

impl AppContext {
    /// How much one real-time client may have queued, from the settings.
    pub fn queue_limits(&self) -> channels::QueueLimits {
        channels::QueueLimits {
            messages: self.config.realtime.queue_messages,
            bytes: self.config.realtime.queue_bytes,
        }
    }

    pub fn new(
        engine: EngineHandle,
        secrets: Arc<Secrets>,
        config: Arc<Config>,
        hardware: watch::Receiver<HardwareStatus>,
        hardware_control: Arc<HardwareControl>,
        previous_run_seq: u64,
    ) -> Result<Self, logins::LoginError> {
        let started_after = engine.published().seq;
        let logins = logins::Logins::start(secrets.clone(), ratelimit::MAX_RATE_LIMITED_CLIENTS)?;
        Ok(Self {
            logins,
            engine,
            secrets,
            config,
            hardware,
            hardware_control,
            channels: Arc::new(channels::Channels::starting_after(started_after)),
            previous_run_seq,
        })
    }

    /// What one JSON-WebSocket connection may do: the contract's frame limit and command
    /// budget, pinged at the box's interval (`[realtime] ping_interval_secs`).
    pub fn socket_limits(
        &self,
        max_frame_bytes: usize,
        commands_per_second: u32,
        command_burst: u32,
    ) -> json_ws::Limits {
        json_ws::Limits {
            max_frame_bytes,
            ping_every: self.config.realtime.ping_interval,
            commands_per_second,
            command_burst,
        }
    }

    /// What was logged after `after`, for a client resuming past its channels' history: at
    /// most the resume window (`[realtime] resume_window_events`), read off the async threads
    /// in turn with other reads; `None` when more than that was logged since (the client gets
    /// current state instead), when the client left while waiting, or when the read failed.
    pub async fn logged_since(
        &self,
        after: u64,
        client: &channels::Client,
    ) -> Option<Vec<(u64, crate::domain::Event)>> {
        let window = self.config.realtime.resume_window;
        // More logged since than the window: the answer is current state, read nothing.
        if self.engine.published().seq.saturating_sub(after) > window as u64 {
            return None;
        }
        self.engine
            .read_log_if(after, window + 1, || !client.is_cut())
            .await
            .ok()
            .flatten()
            .filter(|events| events.len() <= window)
    }

    /// Checks the staff password from `client` and mints an admin token.
    pub async fn staff_token(
        &self,
        client: std::net::IpAddr,
        password: String,
    ) -> Result<String, errors::WireError> {
        self.logins.check_password(client, password).await?;
        Ok(self.secrets.mint(
            crate::auth::Role::Admin,
            "admin",
            self.config.admin_token_ttl,
        )?)
    }
}
