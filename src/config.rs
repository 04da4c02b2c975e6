//! The box's settings: built-in defaults, an optional TOML file, then command-line overrides.
//!
//! Everything is validated before any port is bound; a bad value is reported with its key and
//! the process exits with 64 (EX_USAGE). Unknown keys are errors too, so a typo never silently
//! falls back to a default in a venue.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::gm::domain::Limits;
use crate::gm::tokens::ScoringRules;
use crate::tls::TlsSettings;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {cause}")]
    Read { path: String, cause: std::io::Error },
    #[error("config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("config key `{key}`: {reason}")]
    Invalid { key: String, reason: String },
}

fn invalid(key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        reason: reason.into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum HardwareKind {
    /// Simulated LEDs and button (driven through the admin API): runs anywhere.
    Sim,
    /// LEDs and button on GPIO through the kernel character device (gpiocdev).
    Gpio,
    /// LEDs and button on GPIO through rppal (needs a build with `--features rppal`).
    Rppal,
}

/// What a GM station shows to identify itself (`[gm] station_auth`). Whatever the mode,
/// staff actions (sessions, video control, resets) need a staff token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StationAuth {
    /// A token made for that station (`venuebox token --role gm --sub STATION`); the staff
    /// password does not make a station.
    Token,
    /// A station token, or a staff token from the staff password (`POST /api/admin/auth`), as
    /// the venue's GM scanner logs in. The default.
    Password,
    /// No token: `gm:identify {stationId}` is enough. Only for a box whose Wi-Fi password is
    /// kept from guests.
    Open,
}

impl StationAuth {
    /// The name the config file uses.
    pub fn as_str(self) -> &'static str {
        match self {
            StationAuth::Token => "token",
            StationAuth::Password => "password",
            StationAuth::Open => "open",
        }
    }
}

/// The web origins whose pages may call the HTTP API (`[network] cors_origins`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// `["*"]`, the default: safe because the box's tokens travel in headers a page must be
    /// given, never in cookies a browser adds by itself.
    Any,
    /// Exactly these (`https://scanner.example`, `http://192.168.4.2:8000`); empty: none.
    Only(Vec<String>),
}

impl CorsOrigins {
    pub fn allows(&self, origin: &str) -> bool {
        match self {
            CorsOrigins::Any => true,
            CorsOrigins::Only(list) => list.iter().any(|o| o == origin),
        }
    }
}

impl HardwareKind {
    /// The name the config file uses.
    pub fn as_str(self) -> &'static str {
        match self {
            HardwareKind::Sim => "sim",
            HardwareKind::Gpio => "gpio",
            HardwareKind::Rppal => "rppal",
        }
    }
}

/// Which video player drives the HDMI output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlayerKind {
    /// Pretends to play for the video's length: no screen needed.
    Sim,
    /// A supervised mpv process over its JSON IPC.
    Mpv,
}

impl PlayerKind {
    /// The name the config file uses.
    pub fn as_str(self) -> &'static str {
        match self {
            PlayerKind::Sim => "sim",
            PlayerKind::Mpv => "mpv",
        }
    }
}

/// The video player's settings (`[video]`).
#[derive(Debug, Clone, PartialEq)]
pub struct VideoConfig {
    pub player: PlayerKind,
    /// Length of a video whose token file gives none (simulated player).
    pub default_duration_secs: f64,
    /// Relative video paths from the token file are taken from here.
    pub media_dir: PathBuf,
    pub mpv_program: PathBuf,
    /// mpv's output arguments; `hwdec` is added as `--hwdec=`.
    pub mpv_args: Vec<String>,
    pub hwdec: String,
    /// Played in a loop between token videos.
    pub idle_loop: Option<PathBuf>,
    /// mpv's IPC socket; `None` puts it in the data directory.
    pub ipc_socket: Option<PathBuf>,
}

impl Default for VideoConfig {
    fn default() -> Self {
        Self {
            player: PlayerKind::Sim,
            default_duration_secs: 30.0,
            media_dir: PathBuf::from("."),
            mpv_program: PathBuf::from("mpv"),
            mpv_args: ["--fullscreen", "--vo=gpu", "--gpu-context=drm"]
                .map(String::from)
                .to_vec(),
            hwdec: "auto-safe".into(),
            idle_loop: None,
            ipc_socket: None,
        }
    }
}

/// The whole configuration after defaults, file and flags are merged and validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// `data_dir` must be a mounted filesystem of its own (the SD image's data partition); the
    /// box waits for it, showing the fault, rather than write to the filesystem underneath.
    pub require_data_mount: bool,
    /// Token file in the venue format; `None` uses the bundled demo set.
    pub tokens: Option<PathBuf>,
    pub hardware: HardwareKind,
    pub limits: Limits,
    pub scoring: ScoringRules,
    pub gm: GmConfig,
    /// Lifetime of admin tokens from `POST /api/admin/auth`.
    pub admin_token_ttl: Duration,
    pub video: VideoConfig,
    /// `https://`/`wss://` on a second port, when `[tls] listen` is set.
    pub tls: Option<TlsSettings>,
    pub gpio: GpioSettings,
    pub button: ButtonTiming,
    /// How long SIGTERM waits for open work before exiting.
    pub shutdown_grace: Duration,
    /// The real-time connections (`[realtime]`).
    pub realtime: RealtimeConfig,
    /// Connection caps and the header timeout (`[network]`).
    pub network: crate::connections::ConnectionLimits,
    /// Which pages from other origins may call the HTTP API (`[network] cors_origins`).
    pub cors_origins: CorsOrigins,
    /// The wall clock counts as confirmed from the start (`[clock] trusted`): a box with a
    /// real-time clock or a time source. Otherwise staff confirm it from the console.
    pub clock_trusted: bool,
}

/// The real-time connections of every contract (`[realtime]`).
#[derive(Debug, Clone, PartialEq)]
pub struct RealtimeConfig {
    /// JSON WebSockets ping this often; a client that has not answered the last ping is dropped.
    pub ping_interval: Duration,
    /// A resuming `/realtime` client is sent what it missed from the log when at most this many
    /// events were logged since; otherwise it gets a snapshot.
    pub resume_window: usize,
    /// Messages and bytes a real-time client (a station, a viewer) may have queued before it is
    /// cut.
    pub queue_messages: usize,
    pub queue_bytes: usize,
}

impl Default for RealtimeConfig {
    fn default() -> Self {
        Self {
            ping_interval: Duration::from_secs(20),
            resume_window: 20_000,
            queue_messages: 256,
            queue_bytes: 512 * 1024,
        }
    }
}

/// Timings of the GM-station contract (seed 004).
#[derive(Debug, Clone, PartialEq)]
pub struct GmConfig {
    /// A station whose connection shows no sign of life (no event, no answer to the
    /// transport's pings) for this long is marked disconnected (reason `timeout`).
    pub heartbeat_timeout: Duration,
    /// What a GM station must show to identify (`gm.station_auth`).
    pub station_auth: StationAuth,
    /// Events missed while away that are replayed on reconnection; more means `sync:full`.
    pub replay_limit: usize,
    /// `state:update` is sent at most this often.
    pub state_update_interval: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 3000)),
            data_dir: PathBuf::from("venuebox-data"),
            require_data_mount: false,
            tokens: None,
            hardware: HardwareKind::Sim,
            limits: Limits::default(),
            scoring: ScoringRules::default(),
            gm: GmConfig {
                heartbeat_timeout: Duration::from_secs(30),
                station_auth: StationAuth::Password,
                replay_limit: 100,
                state_update_interval: Duration::from_millis(100),
            },
            admin_token_ttl: Duration::from_secs(12 * 3600),
            video: VideoConfig::default(),
            tls: None,
            gpio: GpioSettings::default(),
            button: ButtonTiming::default(),
            shutdown_grace: Duration::from_secs(5),
            realtime: RealtimeConfig::default(),
            cors_origins: CorsOrigins::Any,
            clock_trusted: false,
            network: crate::connections::ConnectionLimits::default(),
        }
    }
}

/// The button's timings (`[button]` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ButtonTiming {
    pub hold: Duration,
    pub feedback_after: Duration,
}

impl Default for ButtonTiming {
    fn default() -> Self {
        Self {
            hold: Duration::from_secs(3),
            feedback_after: Duration::from_secs(1),
        }
    }
}

/// Which lines the box uses (`[gpio]` in the config).
#[derive(Debug, Clone, PartialEq)]
pub struct GpioSettings {
    pub green: String,
    /// Optional: two LEDs are enough (GM stations and video then show on green only).
    pub amber: Option<String>,
    pub red: String,
    pub button: String,
    pub button_debounce: Duration,
    /// LEDs wired from 3.3 V through the resistor to the pin (lit when the pin is low).
    pub leds_active_low: bool,
}

impl Default for GpioSettings {
    fn default() -> Self {
        Self {
            green: "GPIO17".into(),
            amber: Some("GPIO27".into()),
            red: "GPIO22".into(),
            button: "GPIO23".into(),
            button_debounce: Duration::from_millis(30),
            leds_active_low: false,
        }
    }
}

/// A line spec split into its parts, before looking at the system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineSpec {
    Named(String),
    OnChip { chip: String, offset: u32 },
}

impl LineSpec {
    /// Splits a spec (`GPIO17`, or `chip:offset`); the error is the reason it is not one.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let bad = |reason: &str| reason.to_string();
        let spec = spec.trim();
        if spec.is_empty() {
            return Err(bad("empty"));
        }
        match spec.rsplit_once(':') {
            Some((chip, offset)) => {
                let offset = offset
                    .parse()
                    .map_err(|_| bad("the part after `:` must be a line offset"))?;
                if chip.is_empty() {
                    return Err(bad("no chip before `:`"));
                }
                Ok(LineSpec::OnChip {
                    chip: chip.to_string(),
                    offset,
                })
            }
            None => Ok(LineSpec::Named(spec.to_string())),
        }
    }
}

/// The file's shape. Every field is optional; absent ones keep their default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    require_data_mount: Option<bool>,
    tokens: Option<PathBuf>,
    hardware: Option<HardwareKind>,
    #[serde(default)]
    limits: FileLimits,
    #[serde(default)]
    gm: FileGm,
    #[serde(default)]
    players: FilePlayers,
    scoring: Option<ScoringRules>,
    #[serde(default)]
    auth: FileAuth,
    #[serde(default)]
    video: FileVideo,
    #[serde(default)]
    realtime: FileRealtime,
    #[serde(default)]
    network: FileNetwork,
    #[serde(default)]
    gpio: FileGpio,
    #[serde(default)]
    tls: FileTls,
    #[serde(default)]
    button: FileButton,
    #[serde(default)]
    clock: FileClock,
    shutdown_grace_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileClock {
    trusted: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRealtime {
    ping_interval_secs: Option<u64>,
    resume_window_events: Option<usize>,
    queue_messages: Option<usize>,
    queue_bytes: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileNetwork {
    cors_origins: Option<Vec<String>>,
    max_connections_per_address: Option<usize>,
    max_connections: Option<usize>,
    header_timeout_secs: Option<u64>,
    unread_timeout_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLimits {
    max_gm_stations: Option<usize>,
    max_player_scanners: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileGm {
    heartbeat_timeout_secs: Option<u64>,
    station_auth: Option<StationAuth>,
    gm_scans_play_videos: Option<bool>,
    reconnect_grace_secs: Option<u64>,
    replay_limit: Option<usize>,
    state_updates_per_sec: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePlayers {
    idle_timeout_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAuth {
    admin_token_ttl: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileVideo {
    player: Option<PlayerKind>,
    default_duration_secs: Option<f64>,
    media_dir: Option<PathBuf>,
    mpv: Option<PathBuf>,
    mpv_args: Option<Vec<String>>,
    hwdec: Option<String>,
    idle_loop: Option<PathBuf>,
    ipc_socket: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileGpio {
    green: Option<String>,
    /// `""` means no amber LED.
    amber: Option<String>,
    red: Option<String>,
    button: Option<String>,
    button_debounce_ms: Option<u64>,
    leds_active_low: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTls {
    listen: Option<String>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    #[serde(default)]
    names: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileButton {
    hold_secs: Option<f64>,
    feedback_after_secs: Option<f64>,
}

/// Command-line values that override the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub tokens: Option<PathBuf>,
    pub hardware: Option<HardwareKind>,
}

fn secs(key: &str, value: u64, min: u64, max: u64) -> Result<Duration, ConfigError> {
    if (min..=max).contains(&value) {
        Ok(Duration::from_secs(value))
    } else {
        Err(invalid(
            key,
            format!("{value} is outside {min}..={max} seconds"),
        ))
    }
}

/// `["*"]` is any origin; otherwise each must be an origin as a browser sends it
/// (`scheme://host[:port]`, no path).
fn cors_origins(list: Vec<String>) -> Result<CorsOrigins, ConfigError> {
    if list.iter().any(|o| o == "*") {
        return Ok(CorsOrigins::Any);
    }
    for origin in &list {
        let (scheme, rest) = origin.split_once("://").unwrap_or(("", ""));
        if !matches!(scheme, "http" | "https") || rest.is_empty() || rest.contains('/') {
            return Err(invalid(
                "network.cors_origins",
                format!(
                    "{origin:?} is not an origin such as \"http://192.168.4.2:8000\" (or \"*\")"
                ),
            ));
        }
    }
    // Browsers send the scheme and host in lower case: an origin typed with capitals would
    // otherwise never match.
    Ok(CorsOrigins::Only(
        list.into_iter().map(|o| o.to_ascii_lowercase()).collect(),
    ))
}

/// `value` when it is within `min..=max`; otherwise an error that names the key and the range.
fn within<T: PartialOrd + std::fmt::Display>(
    key: &str,
    value: T,
    min: T,
    max: T,
) -> Result<T, ConfigError> {
    if min <= value && value <= max {
        Ok(value)
    } else {
        Err(invalid(key, format!("{value} is outside {min}..={max}")))
    }
}

/// The installed box's config (the `.deb`'s conffile). Every command reads it when no
/// `--config` is given, so `sudo venuebox admin-password` on the box looks in the data dir the
/// service uses, with no flag to remember.
pub const INSTALLED_CONFIG: &str = "/etc/venuebox/venuebox.toml";
/// Names the config file instead of [`INSTALLED_CONFIG`] (another box on the same machine,
/// tests of the packaged config).
pub const CONFIG_ENV: &str = "VENUEBOX_CONFIG";

/// The config file a command reads: `--config`, else `$VENUEBOX_CONFIG`, else the installed
/// one when it exists, else none (built-in defaults, as on a laptop).
pub fn config_path(flag: Option<&Path>) -> Option<PathBuf> {
    resolve_config_path(
        flag,
        std::env::var_os(CONFIG_ENV),
        Path::new(INSTALLED_CONFIG).exists(),
    )
}

fn resolve_config_path(
    flag: Option<&Path>,
    env: Option<std::ffi::OsString>,
    installed_exists: bool,
) -> Option<PathBuf> {
    flag.map(Path::to_path_buf)
        .or_else(|| env.filter(|v| !v.is_empty()).map(PathBuf::from))
        .or_else(|| installed_exists.then(|| PathBuf::from(INSTALLED_CONFIG)))
}

impl Config {
    /// Builds the configuration from an optional file and the command-line overrides.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let parsed = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|cause| ConfigError::Read {
                    path: path.display().to_string(),
                    cause,
                })?;
                Self::parse_file(&text).map_err(|e| match e {
                    ConfigError::Parse { message, .. } => ConfigError::Parse {
                        path: path.display().to_string(),
                        message,
                    },
                    other => other,
                })?
            }
            None => FileConfig::default(),
        };
        Self::from_file_config(parsed, overrides)
    }

    /// Parses the text of a config file (used by [`Config::load`] and tests).
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        Self::from_file_config(Self::parse_file(text)?, &Overrides::default())
    }

    fn parse_file(text: &str) -> Result<FileConfig, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: "<config>".into(),
            message: e.to_string(),
        })
    }

    fn from_file_config(mut file: FileConfig, overrides: &Overrides) -> Result<Self, ConfigError> {
        let mut config = Config::default();
        let listen = overrides.listen.clone().or(file.listen);
        if let Some(listen) = listen {
            config.listen = listen.parse().map_err(|_| {
                invalid(
                    "listen",
                    format!("{listen:?} is not an address such as 0.0.0.0:3000"),
                )
            })?;
        }
        if let Some(dir) = overrides.data_dir.clone().or(file.data_dir) {
            if dir.as_os_str().is_empty() {
                return Err(invalid("data_dir", "must not be empty"));
            }
            config.data_dir = dir;
        }
        if let Some(required) = file.require_data_mount {
            config.require_data_mount = required;
        }
        config.tokens = overrides.tokens.clone().or(file.tokens);
        if let Some(hardware) = overrides.hardware.or(file.hardware) {
            config.hardware = hardware;
        }

        Self::apply_gm(&mut config, file.limits, file.gm, file.players)?;
        if let Some(scoring) = file.scoring {
            if scoring.rating_points.windows(2).any(|w| w[0] > w[1]) {
                return Err(invalid(
                    "scoring.rating_points",
                    "must not decrease with the rating",
                ));
            }
            config.scoring = scoring;
        }
        if let Some(trusted) = file.clock.trusted {
            config.clock_trusted = trusted;
        }
        if let Some(ttl) = file.auth.admin_token_ttl {
            let ttl = parse_ttl(&ttl).map_err(|reason| invalid("auth.admin_token_ttl", reason))?;
            config.admin_token_ttl = ttl;
        }
        Self::apply_video(&mut config, file.video)?;
        config.tls = Self::tls_settings(file.tls)?;
        Self::apply_gpio(&mut config, file.gpio, file.button)?;
        Self::apply_realtime(&mut config.realtime, file.realtime)?;
        if let Some(origins) = file.network.cors_origins.take() {
            config.cors_origins = cors_origins(origins)?;
        }
        Self::apply_network(&mut config.network, file.network)?;
        if let Some(v) = file.shutdown_grace_secs {
            config.shutdown_grace = secs("shutdown_grace_secs", v, 1, 60)?;
        }
        if config.hardware == HardwareKind::Rppal && !cfg!(feature = "rppal") {
            return Err(invalid(
                "hardware",
                "this build has no rppal backend: use \"gpio\" or build with --features rppal",
            ));
        }
        Ok(config)
    }

    fn apply_gm(
        config: &mut Config,
        limits: FileLimits,
        gm: FileGm,
        players: FilePlayers,
    ) -> Result<(), ConfigError> {
        if let Some(max) = limits.max_gm_stations {
            config.limits.max_gm_stations = within("limits.max_gm_stations", max, 1, 100)?;
        }
        if let Some(max) = limits.max_player_scanners {
            if max > 1000 {
                return Err(invalid("limits.max_player_scanners", "must be 0..=1000"));
            }
            config.limits.max_player_scanners = max;
        }
        if let Some(v) = gm.heartbeat_timeout_secs {
            config.gm.heartbeat_timeout = secs("gm.heartbeat_timeout_secs", v, 1, 3600)?;
        }
        if let Some(mode) = gm.station_auth {
            config.gm.station_auth = mode;
        }
        if let Some(play) = gm.gm_scans_play_videos {
            config.limits.gm_scans_play_videos = play;
        }
        if let Some(v) = gm.reconnect_grace_secs {
            let grace = secs("gm.reconnect_grace_secs", v, 1, 3600)?;
            config.limits.reconnect_grace_ms = grace.as_secs() * 1000;
        }
        if let Some(v) = gm.replay_limit {
            config.gm.replay_limit = within("gm.replay_limit", v, 1, 10_000)?;
        }
        if let Some(rate) = gm.state_updates_per_sec {
            if !(1..=100).contains(&rate) {
                return Err(invalid("gm.state_updates_per_sec", "must be 1..=100"));
            }
            config.gm.state_update_interval = Duration::from_millis(1000 / u64::from(rate));
        }
        if let Some(v) = players.idle_timeout_secs {
            let idle = secs("players.idle_timeout_secs", v, 5, 86_400)?;
            config.limits.player_idle_ms = idle.as_secs() * 1000;
        }
        Ok(())
    }

    fn apply_realtime(
        realtime: &mut RealtimeConfig,
        file: FileRealtime,
    ) -> Result<(), ConfigError> {
        if let Some(v) = file.ping_interval_secs {
            realtime.ping_interval = secs("realtime.ping_interval_secs", v, 1, 300)?;
        }
        if let Some(v) = file.resume_window_events {
            realtime.resume_window = within("realtime.resume_window_events", v, 1, 1_000_000)?;
        }
        if let Some(v) = file.queue_messages {
            realtime.queue_messages = within("realtime.queue_messages", v, 4, 100_000)?;
        }
        if let Some(v) = file.queue_bytes {
            realtime.queue_bytes = within("realtime.queue_bytes", v, 4096, 64 * 1024 * 1024)?;
        }
        Ok(())
    }

    fn apply_network(
        network: &mut crate::connections::ConnectionLimits,
        file: FileNetwork,
    ) -> Result<(), ConfigError> {
        if let Some(v) = file.max_connections_per_address {
            network.per_address = within("network.max_connections_per_address", v, 1, 10_000)?;
        }
        if let Some(v) = file.max_connections {
            network.total = within("network.max_connections", v, 16, 1_000_000)?;
        }
        if let Some(v) = file.header_timeout_secs {
            network.header_timeout = secs("network.header_timeout_secs", v, 1, 300)?;
        }
        if let Some(v) = file.unread_timeout_secs {
            network.unread_timeout = secs("network.unread_timeout_secs", v, 5, 3600)?;
        }
        Ok(())
    }

    fn tls_settings(file: FileTls) -> Result<Option<TlsSettings>, ConfigError> {
        let Some(listen) = file.listen else {
            if file.cert.is_some() || file.key.is_some() || !file.names.is_empty() {
                return Err(invalid(
                    "tls.listen",
                    "set it to turn TLS on (e.g. \"0.0.0.0:3443\")",
                ));
            }
            return Ok(None);
        };
        let listen = listen.parse().map_err(|_| {
            invalid(
                "tls.listen",
                format!("{listen:?} is not an address such as 0.0.0.0:3443"),
            )
        })?;
        if file.cert.is_some() != file.key.is_some() {
            return Err(invalid(
                "tls.cert",
                "give both cert and key, or neither (the box makes its own)",
            ));
        }
        Ok(Some(TlsSettings {
            listen,
            cert: file.cert,
            key: file.key,
            names: file.names,
        }))
    }

    fn apply_video(config: &mut Config, file: FileVideo) -> Result<(), ConfigError> {
        let video = &mut config.video;
        if let Some(player) = file.player {
            video.player = player;
        }
        if let Some(d) = file.default_duration_secs {
            if !(d.is_finite() && d > 0.0 && d <= 3600.0) {
                return Err(invalid(
                    "video.default_duration_secs",
                    "must be in (0, 3600]",
                ));
            }
            video.default_duration_secs = d;
        }
        if let Some(dir) = file.media_dir {
            video.media_dir = dir;
        }
        if let Some(program) = file.mpv {
            video.mpv_program = program;
        }
        if let Some(args) = file.mpv_args {
            if let Some(bad) = args.iter().find(|a| !a.starts_with("--")) {
                return Err(invalid(
                    "video.mpv_args",
                    format!("{bad:?} is not an mpv option (they start with --)"),
                ));
            }
            video.mpv_args = args;
        }
        if let Some(hwdec) = file.hwdec {
            if hwdec.is_empty() || hwdec.contains(char::is_whitespace) {
                return Err(invalid("video.hwdec", "must be one mpv --hwdec value"));
            }
            video.hwdec = hwdec;
        }
        video.idle_loop = file.idle_loop.or(video.idle_loop.take());
        video.ipc_socket = file.ipc_socket.or(video.ipc_socket.take());
        Ok(())
    }

    fn apply_gpio(
        config: &mut Config,
        gpio: FileGpio,
        button: FileButton,
    ) -> Result<(), ConfigError> {
        let lines = [
            ("gpio.green", gpio.green, &mut config.gpio.green),
            ("gpio.red", gpio.red, &mut config.gpio.red),
            ("gpio.button", gpio.button, &mut config.gpio.button),
        ];
        for (key, value, slot) in lines {
            if let Some(value) = value {
                LineSpec::parse(&value).map_err(|reason| invalid(key, reason))?;
                *slot = value;
            }
        }
        if let Some(amber) = gpio.amber {
            if amber.is_empty() {
                config.gpio.amber = None;
            } else {
                LineSpec::parse(&amber).map_err(|reason| invalid("gpio.amber", reason))?;
                config.gpio.amber = Some(amber);
            }
        }
        if let Some(ms) = gpio.button_debounce_ms {
            if !(1..=500).contains(&ms) {
                return Err(invalid("gpio.button_debounce_ms", "must be 1..=500"));
            }
            config.gpio.button_debounce = Duration::from_millis(ms);
        }
        if let Some(low) = gpio.leds_active_low {
            config.gpio.leds_active_low = low;
        }
        let seconds = |key: &str, v: f64, max: f64| {
            if v.is_finite() && v > 0.0 && v <= max {
                Ok(Duration::from_secs_f64(v))
            } else {
                Err(invalid(key, format!("must be in (0, {max}] seconds")))
            }
        };
        if let Some(v) = button.hold_secs {
            config.button.hold = seconds("button.hold_secs", v, 30.0)?;
        }
        if let Some(v) = button.feedback_after_secs {
            config.button.feedback_after = seconds("button.feedback_after_secs", v, 30.0)?;
        }
        if config.button.feedback_after >= config.button.hold {
            return Err(invalid(
                "button.feedback_after_secs",
                "must be shorter than button.hold_secs",
            ));
        }
        Ok(())
    }

    /// The redb file inside the data directory.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("venuebox.redb")
    }
}

/// Parses a lifetime such as `30m`, `12h` or `7d` (humantime syntax), at most 366 days.
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let ttl = humantime::parse_duration(text.trim())
        .map_err(|e| format!("{text:?} is not a duration such as 30m, 12h or 7d ({e})"))?;
    if ttl.is_zero() || ttl > Duration::from_secs(366 * 86_400) {
        return Err(format!("{text:?} must be between 1s and 366 days"));
    }
    Ok(ttl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_file_means_the_documented_defaults() {
        let config = Config::load(None, &Overrides::default()).unwrap();
        assert_eq!(config.listen.to_string(), "0.0.0.0:3000");
        assert_eq!(config.data_dir, PathBuf::from("venuebox-data"));
        assert_eq!(config.hardware, HardwareKind::Sim);
        assert_eq!(config.limits.max_gm_stations, 5);
        assert_eq!(config.limits.max_player_scanners, 10);
        assert_eq!(config.gm.replay_limit, 100);
        assert_eq!(config.gm.heartbeat_timeout, Duration::from_secs(30));
        assert!(
            !config.clock_trusted,
            "staff confirm the clock unless told it is good"
        );
    }

    #[test]
    fn file_values_apply_and_flags_win() {
        let file = r#"
            listen = "127.0.0.1:4000"
            data_dir = "/tmp/x"
            [limits]
            max_gm_stations = 2
            [gm]
            heartbeat_timeout_secs = 3
            reconnect_grace_secs = 4
            state_updates_per_sec = 5
            [scoring]
            rating_points = [1, 2, 3, 4, 5]
            personal_multiplier = 1
            business_multiplier = 2
            technical_multiplier = 3
            [auth]
            admin_token_ttl = "2h"
            [clock]
            trusted = true
        "#;
        let config = Config::from_toml(file).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:4000");
        assert_eq!(config.limits.max_gm_stations, 2);
        assert_eq!(config.limits.reconnect_grace_ms, 4_000);
        assert_eq!(config.gm.state_update_interval, Duration::from_millis(200));
        assert_eq!(config.scoring.rating_points, [1, 2, 3, 4, 5]);
        assert_eq!(config.admin_token_ttl, Duration::from_secs(7200));
        assert!(config.clock_trusted);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("box.toml");
        std::fs::write(&path, file).unwrap();
        let overrides = Overrides {
            listen: Some("127.0.0.1:0".into()),
            ..Overrides::default()
        };
        let config = Config::load(Some(&path), &overrides).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:0");
        assert_eq!(config.data_dir, PathBuf::from("/tmp/x"));
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            ("listen = \"nowhere\"", "listen"),
            ("[limits]\nmax_gm_stations = 0", "limits.max_gm_stations"),
            (
                "[gm]\nheartbeat_timeout_secs = 0",
                "gm.heartbeat_timeout_secs",
            ),
            ("[auth]\nadmin_token_ttl = \"soon\"", "auth.admin_token_ttl"),
            (
                "[video]\ndefault_duration_secs = -1.0",
                "video.default_duration_secs",
            ),
            ("lisen = \"0.0.0.0:1\"", "lisen"),
            ("[gm]\nheartbeat = 3", "heartbeat"),
            ("[gpio]\nbutton = \"chip:x\"", "gpio.button"),
            ("[tls]\nlisten = \"nowhere\"", "tls.listen"),
            (
                "[tls]\nlisten = \"0.0.0.0:3443\"\ncert = \"a.pem\"",
                "tls.cert",
            ),
            ("[tls]\ncert = \"a.pem\"", "tls.listen"),
            ("[button]\nhold_secs = 0.5", "button.feedback_after_secs"),
            ("[video]\nmpv_args = [\"fullscreen\"]", "video.mpv_args"),
            ("[limits]\nmax_gm_stations = \"five\"", "max_gm_stations"),
        ];
        for (text, key) in cases {
            let err = Config::from_toml(text).unwrap_err().to_string();
            assert!(err.contains(key), "{text:?} gave {err:?}");
        }
    }

    #[test]
    fn ttl_parsing() {
        assert_eq!(parse_ttl("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_ttl("7d").unwrap(), Duration::from_secs(7 * 86_400));
        assert!(parse_ttl("0s").is_err());
        assert!(parse_ttl("forever").is_err());
        assert!(parse_ttl("400d").is_err());
    }

    #[test]
    fn a_command_reads_the_flag_then_the_environment_then_the_installed_config() {
        let flag = Path::new("/tmp/mine.toml");
        let env = Some(std::ffi::OsString::from("/tmp/env.toml"));
        assert_eq!(
            resolve_config_path(Some(flag), env.clone(), true),
            Some(flag.to_path_buf())
        );
        assert_eq!(
            resolve_config_path(None, env, true),
            Some(PathBuf::from("/tmp/env.toml"))
        );
        assert_eq!(
            resolve_config_path(None, Some("".into()), true),
            Some(PathBuf::from(INSTALLED_CONFIG))
        );
        assert_eq!(resolve_config_path(None, None, false), None);
    }

    #[test]
    fn cors_origins_are_origins_and_match_as_browsers_send_them() {
        let config =
            Config::from_toml("[network]\ncors_origins = [\"http://Scanner.Local:8000\"]\n")
                .unwrap();
        assert!(config.cors_origins.allows("http://scanner.local:8000"));
        assert!(!config.cors_origins.allows("http://elsewhere:8000"));
        for bad in ["scanner.local", "http://scanner.local/path", "ftp://x"] {
            let toml = format!("[network]\ncors_origins = [{bad:?}]\n");
            assert!(Config::from_toml(&toml).is_err(), "{bad} is refused");
        }
        let any = Config::from_toml("[network]\ncors_origins = [\"*\"]\n").unwrap();
        assert!(any.cors_origins.allows("http://anything"));
    }

    #[test]
    fn how_long_a_client_may_leave_data_unread_is_bounded_both_ways() {
        let config = Config::from_toml("[network]\nunread_timeout_secs = 30\n").unwrap();
        assert_eq!(config.network.unread_timeout, Duration::from_secs(30));
        for bad in [0, 4, 3601] {
            let refused = Config::from_toml(&format!("[network]\nunread_timeout_secs = {bad}\n"))
                .expect_err("out of range");
            assert!(
                refused.to_string().contains("network.unread_timeout_secs"),
                "{refused}"
            );
        }
    }

    #[test]
    fn the_documented_configuration_example_is_accepted_as_written() {
        let section = include_str!("../docs/configuration.md");
        let start = section.find("```toml\n").expect("a toml block") + "```toml\n".len();
        let block = &section[start..];
        let block = &block[..block.find("```").expect("the block ends")];
        let config = Config::from_toml(block)
            .unwrap_or_else(|e| panic!("docs/configuration.md example: {e}"));
        assert_eq!(config, Config::default(), "the example shows the defaults");
    }
}
