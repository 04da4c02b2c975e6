//! Wire adapters: the only code that knows wire formats.
//!
//! Each adapter decodes frames into typed [`crate::domain::Command`]s, sends them to the engine,
//! and encodes what comes back (replies and hub messages) in its contract's shapes.
//! - [`socketio`]: the GM-station contract (seed 004) over Socket.IO.
//! - [`http`]: the admin and scanner HTTP API.
//! - [`realtime`] and [`predictions`]: the live-predictions contract (seed 002), WebSocket and REST.
//! - [`channels`]: the channel layer both real-time contracts publish through.
//! - [`hardware`]: the admin API of the LEDs, the reset button and session resets.
//! - [`console`]: the staff web console, a page that drives the admin API.

pub mod channels;
pub mod console;
pub mod errors;
pub mod hardware;
pub mod http;
pub mod json;
pub mod predictions;
pub mod ratelimit;
pub mod realtime;
pub mod socketio;

use std::sync::{Arc, Mutex};

use crate::auth::Secrets;
use crate::config::Config;
use crate::engine::EngineHandle;
use crate::hardware::rig::HardwareControl;
use crate::hardware::HardwareStatus;
use tokio::sync::watch;

/// Initial read buffer of every WebSocket, Socket.IO or plain. Clients send commands of a few
/// hundred bytes, and the libraries' defaults (4 KiB for Socket.IO, 128 KiB for a plain
/// WebSocket, touched on the first read) would be most of an idle connection's memory. Larger
/// frames still arrive whole, in several reads.
pub const WS_READ_BUFFER_BYTES: usize = 1024;

/// Login attempts one client address may make per minute.
pub const LOGINS_PER_MINUTE: u32 = 10;
/// Clients (addresses, viewers) whose rate limits are tracked at once; far above a venue's
/// devices, and a bound on what a flood of made-up names can make the box remember.
const MAX_RATE_LIMITED_CLIENTS: usize = 10_000;

/// What every adapter needs: the engine, the secrets and the settings.
pub struct AppContext {
    pub engine: EngineHandle,
    pub secrets: Arc<Secrets>,
    pub config: Arc<Config>,
    /// Login attempts (staff password, viewer PIN) per client address, to slow down guessing.
    /// Per address rather than box-wide: a room of viewers joining at once must not lock each
    /// other (or staff) out.
    pub login_attempts: Mutex<ratelimit::KeyedRateLimit<std::net::IpAddr>>,
    /// What the video player and LEDs report about themselves.
    pub hardware: watch::Receiver<HardwareStatus>,
    /// The simulated button and the LEDs' reset confirmation.
    pub hardware_control: Arc<HardwareControl>,
    /// The channel layer every real-time contract publishes through.
    pub channels: Arc<channels::Channels>,
    /// Vote rate limit per viewer (warnings go to the viewer's `user:` channel).
    pub vote_limits: Mutex<ratelimit::KeyedRateLimit<String>>,
}

impl AppContext {
    /// How much one real-time client may have queued, from the settings.
    pub fn queue_limits(&self) -> channels::QueueLimits {
        channels::QueueLimits {
            messages: self.config.realtime_queue_messages,
            bytes: self.config.realtime_queue_bytes,
        }
    }

    pub fn new(
        engine: EngineHandle,
        secrets: Arc<Secrets>,
        config: Arc<Config>,
        hardware: watch::Receiver<HardwareStatus>,
        hardware_control: Arc<HardwareControl>,
    ) -> Self {
        let started_after = engine.published().seq;
        Self {
            engine,
            secrets,
            config,
            hardware,
            hardware_control,
            channels: Arc::new(channels::Channels::starting_after(started_after)),
            vote_limits: Mutex::new(ratelimit::KeyedRateLimit::new(
                predictions::VOTES_PER_SECOND,
                std::time::Duration::from_secs(1),
                MAX_RATE_LIMITED_CLIENTS,
            )),
            login_attempts: Mutex::new(ratelimit::KeyedRateLimit::new(
                LOGINS_PER_MINUTE,
                std::time::Duration::from_secs(60),
                MAX_RATE_LIMITED_CLIENTS,
            )),
        }
    }

    /// Counts one login attempt from `client` against its limit.
    pub fn take_login_attempt(&self, client: std::net::IpAddr) -> Result<(), errors::WireError> {
        let allowed = self
            .login_attempts
            .lock()
            .map(|mut limits| limits.try_take(&client))
            .unwrap_or(false);
        if allowed {
            Ok(())
        } else {
            Err(errors::WireError::new(
                errors::ErrorCode::RateLimited,
                "too many login attempts; wait a minute",
            ))
        }
    }

    /// Checks the staff password (argon2, off the async threads) and mints an admin token.
    pub async fn staff_token(&self, password: String) -> Result<String, errors::WireError> {
        if password.len() > 1024 {
            return Err(errors::WireError::new(
                errors::ErrorCode::InvalidData,
                "password too long",
            ));
        }
        let secrets = self.secrets.clone();
        tokio::task::spawn_blocking(move || secrets.check_password(&password))
            .await
            .map_err(|e| errors::WireError::new(errors::ErrorCode::ServerError, e.to_string()))??;
        Ok(self.secrets.mint(
            crate::auth::Role::Admin,
            "admin",
            self.config.admin_token_ttl,
        )?)
    }

    /// The JSON `GameState` as of now.
    pub fn game_state(&self) -> serde_json::Value {
        json::game_state(
            &self.engine.published(),
            self.engine.catalog(),
            &self.hardware.borrow(),
        )
    }

    /// The `sync:full` payload as of now.
    pub fn full_sync(&self) -> serde_json::Value {
        json::full_sync(
            &self.engine.published(),
            self.engine.catalog(),
            &self.hardware.borrow(),
        )
    }
}
