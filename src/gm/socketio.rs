//! The GM-station contract (seed 004) over Socket.IO, for the stock `socket.io-client` 4.x.
//!
//! Per socket: a token bucket per event class (the seed's rate limits). Liveness is the
//! transport's: Engine.IO pings every third of the seed's 30 s heartbeat timeout and drops a
//! connection that has not answered within the rest, so any sign of life counts and a silent
//! station is gone within the timeout; a socket that has not identified is dropped after the
//! timeout without an event (anyone can open one).
//!
//! A station identifies with `gm:identify`, or in the handshake alone (`auth: {token,
//! stationId | deviceId}`, as the venue's scanner does); what it must show depends on
//! `gm.station_auth` (`token`, `password`, `open`). Beside the seed's events, the stations are
//! sent what the venue's scanner listens for: `heartbeat:ack`, `state:sync` (with `sync:full`,
//! answering `state:request`), `transaction:result` to the submitter, `score:updated` and
//! `group:completed`. Delivery goes through the channel layer (`channels.rs`) like
//! every other real-time contract: [`run_fanout`] turns committed hub events into messages on the
//! `gm-stations` channel (the seed's `gm-stations` and `session:{id}` rooms: the box runs one
//! session at a time) and the `admin` channel (what only admins see), and each identified socket
//! has a channel client whose writer emits them. The channel client tracks the last sequence
//! delivered, so a station that reconnects within its grace period is sent exactly what it
//! missed from the channel history (or `sync:full` when that is more than the replay limit or
//! no longer there). A station whose queue overflows is disconnected; it resumes the same way.
//!
//! Client→server payloads may be the bare data (`socket.emit('gm:identify', {stationId})`) or
//! the seed's `{event, data}` wrapper; both are accepted. Server→client events listed in the
//! seed use the `{event, data, timestamp}` envelope; `gm:identified` is sent as the seed's
//! authentication flow shows it, `{success, sessionId, state}`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::{json, Value};
use socketioxide::extract::{AckSender, Event as EventName, SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::socket::{DisconnectReason as SioReason, Sid};
use socketioxide::{SendError, SocketError, SocketIo};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::domain::{
    DeviceKind, DisconnectReason, GmCommand, GmEvent, GmOutcome, ResetSource, ScanRequest,
};
use super::json::{self, envelope};
use crate::auth::{Claims, Role};
use crate::config::StationAuth;
use crate::domain::{Actor, Event};
use crate::engine::acting_as_if;
use crate::hub::{HubBody, HubMessage};
use crate::wire::channels::{
    ChannelMessage, Class, Client, Framing, Handoff, Membership, Next, Refused, Subscribed,
};
use crate::wire::errors::{unexpected, ErrorCode, WireError};
use crate::wire::ratelimit::RateLimit;
use crate::wire::{run, AppContext};

/// Channel of everything every GM station (and admin) is sent.
pub const CHANNEL_GM: &str = "gm-stations";
/// Channel of what only admins are sent (player scans).
pub const CHANNEL_ADMIN: &str = "admin";

/// Largest inbound Socket.IO message; bigger frames close the connection.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// The seed's rate limits, one bucket each.
struct Buckets {
    all: RateLimit,
    submit: RateLimit,
    state_request: RateLimit,
    heartbeat: RateLimit,
    /// An identify runs an engine command and answers the whole state: a station needs one per
    /// connection, so a few are plenty.
    identify: RateLimit,
}

impl Buckets {
    fn new() -> Self {
        Self {
            all: RateLimit::new(50, Duration::from_secs(1)),
            submit: RateLimit::new(10, Duration::from_secs(1)),
            state_request: RateLimit::new(1, Duration::from_secs(5)),
            heartbeat: RateLimit::new(1, Duration::from_secs(1)),
            identify: RateLimit::new(3, Duration::from_secs(3)),
        }
    }
}

#[derive(Clone, Copy)]
enum Bucket {
    Submit,
    StateRequest,
    Heartbeat,
    Identify,
    Other,
}

/// Where a station stands when it identifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// This run has not seen it.
    New,
    /// Back within its grace: resume after the sequence it was last sent.
    Returning(u64),
    /// Already here (a second identify, or a new connection pushing out a live one).
    Held,
}

/// Per-socket state, kept in the socket's extensions.
struct Conn {
    claims: Mutex<Option<Claims>>,
    station: Mutex<Option<String>>,
    buckets: Mutex<Buckets>,
    last_activity: Mutex<Instant>,
    /// The socket's channel client and the task that writes its queue to the socket (none
    /// yet for an admin between its handshake and the connect handler).
    delivery: Mutex<Option<Delivery>>,
    /// Set when the server closes the socket on purpose, so the disconnect handler knows why.
    close_reason: Mutex<Option<DisconnectReason>>,
    /// The handshake token was refused; the socket is told why and closed once connected.
    rejected: Mutex<Option<WireError>>,
    /// The station named in the handshake (`stationId` or `deviceId`): it is identified as
    /// soon as it is connected.
    handshake_station: Option<String>,
    /// Held while the handshake's station is being identified: the scanner submits as soon
    /// as it is connected, and its events wait here rather than find it unidentified.
    identify_gate: Arc<tokio::sync::Mutex<()>>,
    identifying: Mutex<Option<tokio::sync::OwnedMutexGuard<()>>>,
    ip: Option<String>,
}

/// A socket's channel client and, once started, the task writing its queue to the socket.
///
/// Dropping it stops the task and takes the client out of the channel layer. That also covers
/// an admin socket that joined in the handshake and vanished before its connect handler ran:
/// its connection state, and with it this, goes when the socket does.
struct Delivery {
    membership: Membership,
    task: Option<JoinHandle<()>>,
}

impl Delivery {
    fn new(membership: Membership) -> Self {
        Delivery {
            membership,
            task: None,
        }
    }

    fn client(&self) -> &Arc<Client> {
        self.membership.client()
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        // The membership, dropped after this, takes the client out of the channel layer; the
        // handoff holds the socket, which holds this.
        self.client().clear_handoff();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Hands a caught-up socket its messages from the publisher (see `channels::Handoff`): the
/// Socket.IO packet goes into the socket's Engine.IO queue at once, and Engine.IO's writer
/// sends whatever it finds there in one write.
struct SocketHandoff(SocketRef);

impl Handoff for SocketHandoff {
    fn hand(&self, msg: &ChannelMessage) -> Result<(), Refused> {
        match self
            .0
            .emit(msg.kind, msg.encoded(Framing::SocketIoEnvelope))
        {
            Ok(()) => Ok(()),
            Err(SendError::Socket(SocketError::Closed)) => Err(Refused::Closed),
            Err(_) => Err(Refused::Full),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Conn {
    fn touch(&self) {
        *lock(&self.last_activity) = Instant::now();
    }

    fn allow(&self, bucket: Bucket) -> bool {
        let mut b = lock(&self.buckets);
        if !b.all.try_take() {
            return false;
        }
        match bucket {
            Bucket::Submit => b.submit.try_take(),
            Bucket::StateRequest => b.state_request.try_take(),
            Bucket::Heartbeat => b.heartbeat.try_take(),
            Bucket::Identify => b.identify.try_take(),
            Bucket::Other => true,
        }
    }

    fn station(&self) -> Option<String> {
        lock(&self.station).clone()
    }

    /// Refuses an action once the socket's token has expired: checked at identify, it keeps
    /// counting while the socket stays open. The station stays connected and may identify
    /// again with a fresh token.
    fn require_live_token(&self) -> Result<(), WireError> {
        let expired = lock(&self.claims)
            .as_ref()
            .is_some_and(|c| c.time_left().is_zero());
        if expired {
            return Err(WireError::new(
                ErrorCode::InvalidToken,
                "this connection's token has expired; send gm:identify with a new token",
            ));
        }
        Ok(())
    }

    fn is_admin(&self) -> bool {
        lock(&self.claims)
            .as_ref()
            .is_some_and(|c| c.role == Role::Admin)
    }

    /// Who the staff's trail names for what this socket does, from its token and address.
    fn actor(&self) -> Option<Actor> {
        let claims = lock(&self.claims).clone()?;
        Some(Actor {
            role: claims.role.to_string(),
            who: claims.sub,
            since: Some(claims.iat),
            address: self.ip.clone(),
        })
    }
}

/// Where a station stands across its connections.
struct StationRecord {
    socket: Option<Sid>,
    delivered_seq: u64,
    away_since: Option<Instant>,
}

/// The adapter: shared by all sockets of the namespace.
pub struct GmAdapter {
    ctx: Arc<AppContext>,
    io: SocketIo,
    stations: Mutex<HashMap<String, StationRecord>>,
    /// One lock per station id, held across "tell the engine, then update the record" in both
    /// identify and disconnect, so a quick reconnect can never be overtaken by the old
    /// connection's disconnect (which would leave a live station marked disconnected).
    station_turns: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Stations that were connected when the box last went down and have not identified
    /// since: the first identify of each within its grace resumes from the log.
    connected_at_cut: Mutex<std::collections::HashSet<String>>,
}

/// Builds the Socket.IO layer. The caller runs [`run_fanout`] and [`publish_state_updates`].
pub fn layer(
    ctx: Arc<AppContext>,
    connected_at_cut: std::collections::HashSet<String>,
) -> (socketioxide::layer::SocketIoLayer, SocketIo) {
    let (layer, io) = SocketIo::builder()
        // WebSocket only, as GM stations connect (`transports: ['websocket']`): a long-polling
        // session costs the box memory without holding a connection, so the connection caps
        // would not bound a flood of them.
        .transports([socketioxide::TransportType::Websocket])
        // A socket that never joins the namespace is dropped soon.
        .connect_timeout(Duration::from_secs(10))
        // Any sign of life keeps a station: Engine.IO pings it every third of the heartbeat
        // timeout and drops it when no answer came within the other two thirds, so a silent
        // station is dropped within the timeout and a live one never is.
        .ping_interval(ctx.config.gm.heartbeat_timeout / 3)
        .ping_timeout(ctx.config.gm.heartbeat_timeout * 2 / 3)
        // Room for the answers to a full second of events at the overall limit (50 events, each
        // refusal an `error` event and an ack): past the buffer, answers would be dropped.
        .max_buffer_size(256)
        .max_payload(MAX_FRAME_BYTES as u64)
        .ws_max_message_size(MAX_FRAME_BYTES)
        .ws_max_frame_size(MAX_FRAME_BYTES)
        .ws_read_buffer_size(crate::wire::WS_READ_BUFFER_BYTES)
        .build_layer();
    let adapter = Arc::new(GmAdapter {
        ctx,
        io: io.clone(),
        stations: Mutex::new(HashMap::new()),
        station_turns: Mutex::new(HashMap::new()),
        connected_at_cut: Mutex::new(connected_at_cut),
    });
    let on_connect = adapter.clone();
    let prepare = adapter.clone();
    // The middleware runs before the client is told it is connected, so the event handlers are
    // in place before its first event can arrive; the connect handler runs after, on its own task.
    let connect_handler = move |socket: SocketRef| {
        let adapter = on_connect.clone();
        async move { adapter.on_connect(socket) }
    };
    io.ns(
        "/",
        connect_handler.with(move |socket: SocketRef, TryData(auth): TryData<Value>| {
            let adapter = prepare.clone();
            async move {
                adapter.prepare(socket, auth.unwrap_or(Value::Null));
                Ok::<(), std::convert::Infallible>(())
            }
        }),
    );
    (layer, io)
}

/// Copies a Socket.IO request's URI and header values into allocations of their own.
///
/// Engine.IO keeps every connection's request head for the connection's lifetime, and hyper
/// parses the URI and header values as slices of the connection's 8 KiB read buffer, so keeping
/// them would keep that buffer alive for every idle station and console. Other requests pass
/// untouched.
pub fn detach_request_head<B>(mut request: axum::http::Request<B>) -> axum::http::Request<B> {
    if !request.uri().path().starts_with("/socket.io") {
        return request;
    }
    if let Ok(uri) = axum::http::Uri::try_from(request.uri().to_string()) {
        // The router has already stored a copy of the URI as it arrived.
        if let Some(original) = request
            .extensions_mut()
            .get_mut::<axum::extract::OriginalUri>()
        {
            original.0 = uri.clone();
        }
        *request.uri_mut() = uri;
    }
    for value in request.headers_mut().values_mut() {
        if let Ok(mut owned) = axum::http::HeaderValue::from_bytes(value.as_bytes()) {
            owned.set_sensitive(value.is_sensitive());
            *value = owned;
        }
    }
    request
}

/// Unwraps the seed's `{event, data}` wrapper when a client sends it.
/// A station's `transaction:submit` payload as the scan it asks for, from `station`.
pub(crate) fn scan_request(data: &Value, station: String) -> Result<ScanRequest, WireError> {
    require_object(data)?;
    let token_id = required_str(data, "tokenId")?.to_string();
    let team_id = required_str(data, "teamId")?.to_string();
    let scan_id = str_field(data, "scanId")?.map(String::from);
    let scanned_at = json::scan_time(data.get("timestamp"))?;
    Ok(ScanRequest {
        token_id,
        team_id: Some(team_id),
        device_id: station,
        device_kind: DeviceKind::Gm,
        scanned_at,
        client_scan_id: scan_id,
    })
}

/// An event's data, whether a client sent it bare or wrapped as the seed's
/// `{event, data}` envelope (or in a one-element array).
pub(crate) fn event_data(raw: Value) -> Value {
    match raw {
        Value::Object(mut map) if map.contains_key("event") && map.contains_key("data") => {
            map.remove("data").unwrap_or(Value::Null)
        }
        Value::Array(mut items) if items.len() == 1 => event_data(items.remove(0)),
        other => other,
    }
}

fn str_field<'a>(data: &'a Value, name: &str) -> Result<Option<&'a str>, WireError> {
    match data.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        // The kind, not the value: a client's payload is never quoted back whole.
        Some(other) => Err(WireError::new(
            ErrorCode::InvalidData,
            format!("`{name}` must be a string, got {}", json_kind(other)),
        )),
    }
}

/// A state as stations are sent it: without the devices' network addresses. In the `open`
/// station mode anyone on the Wi-Fi can be a station, and an address tells a guest where to
/// aim; staff read them from `GET /api/state`.
fn for_stations(mut state: Value) -> Value {
    fn strip(value: &mut Value) {
        match value {
            Value::Object(map) => {
                map.remove("ipAddress");
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut state);
    state
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn required_str<'a>(data: &'a Value, name: &str) -> Result<&'a str, WireError> {
    str_field(data, name)?
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| WireError::new(ErrorCode::InvalidData, format!("`{name}` is required")))
}

fn require_object(data: &Value) -> Result<(), WireError> {
    WireError::unless(
        data.is_object(),
        ErrorCode::InvalidData,
        "event data must be a JSON object",
    )
}

/// Before a stop closes every connection: tells each station why, in the seed's `error`
/// shape, so a station shows "restarting" rather than a bare lost connection. The close that
/// follows is a transport close, after which socket.io clients reconnect by themselves.
pub async fn announce_restart(io: &SocketIo) {
    let error = WireError::new(
        ErrorCode::ServerError,
        "the box is restarting; this station reconnects by itself in a few seconds",
    );
    let _ = io.emit("error", &envelope("error", error.body())).await;
}

fn emit_error(socket: &SocketRef, error: &WireError) {
    let _ = socket.emit("error", &envelope("error", error.body()));
}

fn ack_error(ack: AckSender, error: &WireError) {
    let _ = ack.send(&json!({ "success": false, "error": error.body() }));
}

/// The station a handshake names (`stationId`, or `deviceId` as the venue's scanner sends it),
/// unless it says it is another kind of device.
fn handshake_station(auth: &Value) -> Option<String> {
    let kind = auth.get("deviceType").and_then(Value::as_str);
    if kind.is_some_and(|k| k != "gm") {
        return None;
    }
    ["stationId", "deviceId"]
        .iter()
        .find_map(|field| auth.get(*field).and_then(Value::as_str))
        .map(|id| {
            id.chars()
                .take(crate::domain::basics::MAX_ID_LEN + 1)
                .collect()
        })
}

fn conn_of(socket: &SocketRef) -> Option<Arc<Conn>> {
    socket.extensions.get::<Arc<Conn>>()
}

impl GmAdapter {
    /// Sets up a new socket: its state, its token, its handlers. Runs as connect middleware.
    fn prepare(self: Arc<Self>, socket: SocketRef, auth: Value) {
        let ip =
            crate::wire::extract::peer_ip(&socket.req_parts().extensions).map(|ip| ip.to_string());
        let conn = Arc::new(Conn {
            claims: Mutex::new(None),
            station: Mutex::new(None),
            buckets: Mutex::new(Buckets::new()),
            last_activity: Mutex::new(Instant::now()),
            delivery: Mutex::new(None),
            close_reason: Mutex::new(None),
            rejected: Mutex::new(None),
            handshake_station: handshake_station(&auth),
            identify_gate: Arc::new(tokio::sync::Mutex::new(())),
            identifying: Mutex::new(None),
            ip,
        });
        socket.extensions.insert(conn.clone());
        if let Some(token) = auth.get("token").and_then(Value::as_str) {
            match self.check_token(token) {
                Ok(claims) => *lock(&conn.claims) = Some(claims),
                Err(error) => {
                    *lock(&conn.rejected) = Some(error);
                    return;
                }
            }
        }
        if conn.handshake_station.is_some() {
            *lock(&conn.identifying) = conn.identify_gate.clone().try_lock_owned().ok();
        }
        if conn.is_admin() {
            // Joined before the client is told it is connected, so nothing published after its
            // `connect` event is missed; the connect handler starts the delivery.
            let membership = self
                .ctx
                .channels
                .join(self.ctx.queue_limits(), Framing::SocketIoEnvelope);
            let seq = self.ctx.engine.published().seq;
            for channel in [CHANNEL_GM, CHANNEL_ADMIN] {
                self.follow_from(membership.client(), channel, seq);
            }
            *lock(&conn.delivery) = Some(Delivery::new(membership));
        }
        self.register_handlers(&socket);
    }

    /// Runs once the client knows it is connected.
    fn on_connect(self: Arc<Self>, socket: SocketRef) {
        let Some(conn) = conn_of(&socket) else { return };
        if let Some(error) = lock(&conn.rejected).take() {
            // The seed reports auth failures as an `error` event; then the socket is closed.
            emit_error(&socket, &error);
            *lock(&conn.close_reason) = Some(DisconnectReason::Error);
            let _ = socket.disconnect();
            return;
        }
        if let Some(delivery) = lock(&conn.delivery).as_mut() {
            Self::start_writer(&socket, &conn, delivery);
        }
        tokio::spawn(idle_watchdog(
            socket.clone(),
            conn.clone(),
            self.ctx.config.gm.heartbeat_timeout,
        ));
        if let Some(station_id) = conn.handshake_station.clone() {
            // As the venue's scanner expects: connected with a station in the handshake is
            // identified, without a `gm:identify` (one may still come; it is harmless).
            tokio::spawn(async move {
                let gate = lock(&conn.identifying).take();
                let data = json!({ "stationId": station_id });
                if let Err(error) = self.identify(socket.clone(), conn, data).await {
                    emit_error(&socket, &error);
                }
                drop(gate);
            });
        }
    }

    async fn station_turn(&self, station_id: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let turn = {
            let mut turns = lock(&self.station_turns);
            // Turns nobody holds or waits for are forgotten, so the map holds only stations
            // identifying or leaving right now, whatever ids (an admin may use any) came by.
            turns.retain(|_, turn| Arc::strong_count(turn) > 1);
            turns.entry(station_id.to_string()).or_default().clone()
        };
        turn.lock_owned().await
    }

    /// Forgets stations that have been away longer than they could come back to resume.
    fn forget_departed(&self, stations: &mut HashMap<String, StationRecord>) {
        let grace = Duration::from_millis(self.ctx.config.limits.reconnect_grace_ms);
        stations.retain(|_, record| {
            record.socket.is_some() || record.away_since.is_some_and(|at| at.elapsed() < grace)
        });
    }

    fn check_token(&self, token: &str) -> Result<Claims, WireError> {
        let claims = self.ctx.secrets.verify(token)?;
        if !claims.may_act_as_gm() {
            return Err(WireError::new(
                ErrorCode::InvalidToken,
                format!("a {} token cannot act as a GM station", claims.role),
            ));
        }
        Ok(claims)
    }

    /// Routes `event` through the guard (rate limit by `bucket`, the `error` event, the ack) to
    /// `handler`.
    fn on<F, Fut>(
        self: &Arc<Self>,
        socket: &SocketRef,
        event: &'static str,
        bucket: Bucket,
        handler: F,
    ) where
        F: FnOnce(Arc<Self>, SocketRef, Arc<Conn>, Value) -> Fut + Copy + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<Value, WireError>> + Send + 'static,
    {
        let adapter = self.clone();
        socket.on(
            event,
            move |s: SocketRef, TryData(d): TryData<Value>, ack: AckSender| {
                let adapter = adapter.clone();
                async move { adapter.guarded(s, d, ack, bucket, handler).await }
            },
        );
    }

    fn register_handlers(self: &Arc<Self>, socket: &SocketRef) {
        self.on(socket, "gm:identify", Bucket::Identify, Self::identify);
        self.on(socket, "transaction:submit", Bucket::Submit, Self::submit);
        self.on(
            socket,
            "state:request",
            Bucket::StateRequest,
            Self::state_request,
        );
        self.on(socket, "heartbeat", Bucket::Heartbeat, Self::heartbeat);
        self.on(socket, "video:control", Bucket::Other, Self::video_control);
        self.on(socket, "session:reset", Bucket::StateRequest, Self::reset);
        // An unknown event goes through the same guard as a known one (rate limit, the `error`
        // event and the acknowledgement), answered INVALID_DATA whatever it carried.
        let a = self.clone();
        socket.on_fallback(
            move |s: SocketRef, EventName(name): EventName, ack: AckSender| {
                let a = a.clone();
                let name: String = name.chars().take(64).collect();
                async move {
                    a.guarded(
                        s,
                        Ok(Value::Null),
                        ack,
                        Bucket::Other,
                        |_, _, _, _| async move {
                            Err(WireError::new(
                                ErrorCode::InvalidData,
                                format!("unknown event {name:?}"),
                            ))
                        },
                    )
                    .await
                }
            },
        );
        let a = self.clone();
        socket.on_disconnect(move |s: SocketRef, reason: SioReason| {
            let a = a.clone();
            async move { a.on_disconnect(s, reason).await }
        });
    }

    /// Common front of every handler: activity, rate limit, payload unwrapping, error reporting.
    async fn guarded<F, Fut>(
        self: Arc<Self>,
        socket: SocketRef,
        data: Result<Value, socketioxide::ParserError>,
        ack: AckSender,
        bucket: Bucket,
        handler: F,
    ) where
        F: FnOnce(Arc<Self>, SocketRef, Arc<Conn>, Value) -> Fut,
        Fut: std::future::Future<Output = Result<Value, WireError>>,
    {
        let Some(conn) = conn_of(&socket) else { return };
        // Free at once, unless the handshake's station is still being identified.
        drop(conn.identify_gate.lock().await);
        if !conn.allow(bucket) {
            let limit = match bucket {
                Bucket::Submit => "transaction:submit is limited to 10 per second",
                Bucket::StateRequest => "state:request is limited to 1 per 5 seconds",
                Bucket::Heartbeat => "heartbeat is limited to 1 per second",
                Bucket::Identify => "gm:identify is limited to 3 in 3 seconds",
                Bucket::Other => "more than 50 events per second",
            };
            let error = WireError::new(ErrorCode::RateLimited, limit);
            emit_error(&socket, &error);
            ack_error(ack, &error);
            return;
        }
        let data = match data {
            Ok(value) => event_data(value),
            Err(e) => {
                let error = WireError::new(ErrorCode::InvalidData, format!("unreadable data: {e}"));
                emit_error(&socket, &error);
                ack_error(ack, &error);
                return;
            }
        };
        match handler(self, socket.clone(), conn.clone(), data).await {
            Ok(reply) => {
                // Only what was accepted keeps a socket that never identified: refused junk
                // does not hold a connection open.
                conn.touch();
                let _ = ack.send(&reply);
            }
            Err(error) => {
                emit_error(&socket, &error);
                ack_error(ack, &error);
            }
        }
    }

    async fn identify(
        self: Arc<Self>,
        socket: SocketRef,
        conn: Arc<Conn>,
        data: Value,
    ) -> Result<Value, WireError> {
        require_object(&data)?;
        let station_id = required_str(&data, "stationId")?.to_string();
        // The version is checked for its type only: it is no name, and a station that sends no
        // name is listed under its id.
        str_field(&data, "version")?;
        let name = str_field(&data, "name")?.map(String::from);
        let claims = self.identify_claims(&conn, &data, &station_id)?;
        // Every identify and disconnect of this station runs in turn, so what is checked here
        // still holds when the slot is taken below.
        let _turn = self.station_turn(&station_id).await;
        match claims {
            Some(claims) => *lock(&conn.claims) = Some(claims),
            // Without a token nothing proves who this is: it may not push a live station off
            // (a guest could otherwise cut any station by naming it).
            None if self.held_elsewhere(&station_id, socket.id) => {
                return Err(WireError::new(
                    ErrorCode::Conflict,
                    format!(
                        "station {station_id} is connected; without a token a station cannot \
                         take its place until that connection is gone"
                    ),
                ));
            }
            None => {}
        }

        let connect = GmCommand::ConnectDevice {
            device_id: station_id.clone(),
            kind: DeviceKind::Gm,
            name,
            ip: conn.ip.clone(),
        };
        let outcome: GmOutcome = run(&self.ctx.engine, connect).await?;
        let reconnected = matches!(
            outcome,
            GmOutcome::Device {
                reconnected: true,
                ..
            }
        );
        let slot = self.take_station_slot(&socket, &station_id, reconnected);
        *lock(&conn.station) = Some(station_id.clone());
        // Back within its grace, but unknown to this run: it was connected when the box went
        // down (a power cut, a restart).
        let back_from_before =
            reconnected && slot == Slot::New && lock(&self.connected_at_cut).remove(&station_id);

        let published = self.ctx.engine.published();
        let state = for_stations(json::game_state(&published, &self.ctx.hardware.borrow()));
        let reply = json!({
            "success": true,
            "sessionId": published.views.gm.session.as_ref().map(|s| s.id.clone()),
            "state": state,
            "resumed": matches!(slot, Slot::Returning(_)) || back_from_before,
        });
        let _ = socket.emit("gm:identified", &reply);

        // A second identify on the same socket starts its delivery afresh.
        self.stop_delivery(&conn);
        let membership = self
            .ctx
            .channels
            .join(self.ctx.queue_limits(), Framing::SocketIoEnvelope);
        let client = membership.client();
        client.act_as(&station_id);
        match slot {
            Slot::Returning(from) => self.resume(client, from),
            Slot::New if back_from_before => self.resume_after_restart(client).await,
            Slot::New | Slot::Held => self.follow_from(client, CHANNEL_GM, published.seq),
        }
        if conn.is_admin() {
            self.follow_from(client, CHANNEL_ADMIN, published.seq);
        }
        self.start_delivery(&socket, &conn, membership);
        if !socket.connected() {
            // The station left while this identify ran: its disconnect handler found nothing to
            // stop (or no station yet). Stop the delivery just started, and record the
            // disconnect once this identify has let go of the station's turn.
            self.stop_delivery(&conn);
            tokio::spawn(
                self.clone()
                    .on_disconnect(socket.clone(), SioReason::TransportClose),
            );
        }
        Ok(reply)
    }

    /// Who identifies: the token in `gm:identify`, or the handshake's; `None` when the box
    /// lets stations in without one (`station_auth = "open"`). A station's token names the
    /// station, and a connection identifies as one station only.
    fn identify_claims(
        &self,
        conn: &Conn,
        data: &Value,
        station_id: &str,
    ) -> Result<Option<Claims>, WireError> {
        let mode = self.ctx.config.gm.station_auth;
        let claims = match str_field(data, "token")? {
            Some(token) => Some(self.check_token(token)?),
            None => {
                // The handshake's token, which may have run out since: identifying again with
                // it would get round the refusals `require_live_token` makes.
                conn.require_live_token()?;
                lock(&conn.claims).clone()
            }
        };
        if let Some(current) = conn.station() {
            if current != station_id {
                return Err(WireError::new(
                    ErrorCode::InvalidData,
                    format!("this connection is already identified as {current}"),
                ));
            }
        }
        let Some(claims) = claims else {
            return match mode {
                StationAuth::Open => Ok(None),
                StationAuth::Password => Err(WireError::new(
                    ErrorCode::AuthRequired,
                    "log in with the staff password (POST /api/admin/auth) and send the token \
                     in the handshake auth or in gm:identify",
                )),
                StationAuth::Token => Err(WireError::new(
                    ErrorCode::AuthRequired,
                    "send this station's token in the handshake auth or in gm:identify",
                )),
            };
        };
        // Without this, any GM token (or a leaked one) could identify as another station and
        // push it off.
        if claims.role == Role::Gm && claims.sub != station_id {
            return Err(WireError::new(
                ErrorCode::Forbidden,
                format!(
                    "this token belongs to station {}; it cannot identify as {station_id}",
                    claims.sub
                ),
            ));
        }
        // Staff may stand in for any station, unless every station must have its own token.
        if claims.role == Role::Admin && mode == StationAuth::Token {
            return Err(WireError::new(
                ErrorCode::Forbidden,
                "this box gives each station its own token (gm.station_auth = \"token\"); \
                 a staff token does not make a station",
            ));
        }
        Ok(Some(claims))
    }

    /// Whether another live connection holds `station_id`'s slot.
    fn held_elsewhere(&self, station_id: &str, socket: Sid) -> bool {
        lock(&self.stations)
            .get(station_id)
            .and_then(|record| record.socket)
            .is_some_and(|sid| sid != socket && self.io.get_socket(sid).is_some())
    }

    /// Gives the station's slot to `socket`, cutting the station's previous connection if it
    /// is still open, and says where the station stands.
    fn take_station_slot(&self, socket: &SocketRef, station_id: &str, reconnected: bool) -> Slot {
        let (previous_socket, slot) = {
            let mut stations = lock(&self.stations);
            self.forget_departed(&mut stations);
            let new = !stations.contains_key(station_id);
            let record = stations
                .entry(station_id.to_string())
                .or_insert(StationRecord {
                    socket: None,
                    delivered_seq: 0,
                    away_since: None,
                });
            let previous_socket = record.socket.replace(socket.id);
            let slot = if new {
                Slot::New
            } else if reconnected && record.away_since.is_some() {
                Slot::Returning(record.delivered_seq)
            } else {
                Slot::Held
            };
            record.away_since = None;
            (previous_socket.filter(|sid| *sid != socket.id), slot)
        };
        if let Some(old) = previous_socket.and_then(|sid| self.io.get_socket(sid)) {
            // The station came back on a new connection before the old one timed out.
            if let Some(old_conn) = conn_of(&old) {
                *lock(&old_conn.close_reason) = Some(DisconnectReason::Manual);
            }
            let _ = old.disconnect();
        }
        slot
    }

    /// Sends a station that was connected when the box went down what was logged since the
    /// last run's end, from the durable log (the channel history starts with this run), or
    /// `sync:full` when that is more than the replay limit. What it missed of the last run's
    /// final moments is not known (it held no record that survives a power cut); everything
    /// the box acknowledged is in its state either way.
    async fn resume_after_restart(&self, client: &Arc<Client>) {
        let limit = self.ctx.config.gm.replay_limit;
        let after = self.ctx.previous_run_seq;
        client.start_at(CHANNEL_GM, after);
        let read = self.ctx.engine.read_log(after, limit + 1).await;
        let missed = read.ok().and_then(|events| {
            let last = events.last().map_or(after, |(seq, _)| *seq);
            let messages: Vec<ChannelMessage> = events
                .into_iter()
                .flat_map(|(seq, event)| {
                    let message = HubMessage {
                        seq,
                        body: HubBody::Committed(event),
                    };
                    station_messages(&message, &self.ctx)
                })
                .filter(|m| m.channel == CHANNEL_GM && !client.is_about_itself(m))
                .collect();
            (messages.len() <= limit).then_some((messages, last))
        });
        match missed {
            Some((messages, last)) => {
                for msg in messages {
                    client.push_backlog(msg.shared());
                }
                self.ctx.channels.join_after(client, CHANNEL_GM, last);
                client.push_backlog(state_update(&self.ctx));
            }
            None => {
                let published = self.ctx.engine.published();
                let sync = for_stations(json::full_sync(&published, &self.ctx.hardware.borrow()));
                client.push_backlog(sync_full(published.seq, sync));
                self.follow_from(client, CHANNEL_GM, published.seq);
            }
        }
    }

    /// Subscribes `client` to `channel` from `seq` on: it is sent what the channel publishes
    /// after `seq`, and counts everything up to `seq` as delivered.
    fn follow_from(&self, client: &Arc<Client>, channel: &str, seq: u64) {
        client.start_at(channel, seq);
        self.ctx.channels.join_after(client, channel, seq);
    }

    /// Queues what a returning station missed since `after` and a fresh `state:update`, or
    /// `sync:full` when that is more than the replay limit or older than the channel history.
    fn resume(&self, client: &Arc<Client>, after: u64) {
        client.start_at(CHANNEL_GM, after);
        let limit = self.ctx.config.gm.replay_limit;
        let channels = &self.ctx.channels;
        match channels.subscribe(client, CHANNEL_GM, Some(after), limit, |_| None) {
            Subscribed::Behind => {
                let published = self.ctx.engine.published();
                let sync = for_stations(json::full_sync(&published, &self.ctx.hardware.borrow()));
                client.push_backlog(sync_full(published.seq, sync));
                self.follow_from(client, CHANNEL_GM, published.seq);
            }
            _ => client.push_backlog(state_update(&self.ctx)),
        }
    }

    /// Delivers the member's queue to the socket from now on.
    fn start_delivery(&self, socket: &SocketRef, conn: &Arc<Conn>, membership: Membership) {
        let mut delivery = Delivery::new(membership);
        Self::start_writer(socket, conn, &mut delivery);
        *lock(&conn.delivery) = Some(delivery);
    }

    /// Starts the task that writes the client's queue to the socket, once.
    fn start_writer(socket: &SocketRef, conn: &Arc<Conn>, delivery: &mut Delivery) {
        if delivery.task.is_none() {
            let client = delivery.client().clone();
            client.set_handoff(Arc::new(SocketHandoff(socket.clone())));
            delivery.task = Some(tokio::spawn(deliver(socket.clone(), conn.clone(), client)));
        }
    }

    /// Stops delivery to a socket; returns the last sequence it was sent on `gm-stations`.
    fn stop_delivery(&self, conn: &Conn) -> Option<u64> {
        let mut delivery = lock(&conn.delivery).take()?;
        // The writers stop before the position is read, so nothing they send is missed.
        delivery.client().clear_handoff();
        if let Some(task) = delivery.task.take() {
            task.abort();
        }
        Some(delivery.client().delivered_on(CHANNEL_GM))
    }

    async fn submit(
        self: Arc<Self>,
        socket: SocketRef,
        conn: Arc<Conn>,
        data: Value,
    ) -> Result<Value, WireError> {
        conn.require_live_token()?;
        let station = conn.station().ok_or_else(|| {
            WireError::new(ErrorCode::AuthRequired, "identify with gm:identify first")
        })?;
        let scan = GmCommand::Scan(scan_request(&data, station)?);
        match run(&self.ctx.engine, scan).await? {
            GmOutcome::Transaction {
                transaction,
                replayed,
            } => {
                let catalog = super::catalog(&self.ctx.engine);
                let result = json::transaction_result(&transaction, &catalog);
                let _ = socket.emit(
                    "transaction:result",
                    &envelope("transaction:result", result),
                );
                Ok(json!({
                    "success": true,
                    "replayed": replayed,
                    "transaction": json::transaction(&transaction, &catalog),
                }))
            }
            other => Err(unexpected(other)),
        }
    }

    async fn state_request(
        self: Arc<Self>,
        socket: SocketRef,
        conn: Arc<Conn>,
        _data: Value,
    ) -> Result<Value, WireError> {
        conn.require_live_token()?;
        if conn.station().is_none() && !conn.is_admin() {
            return Err(WireError::new(
                ErrorCode::AuthRequired,
                "identify with gm:identify first",
            ));
        }
        // `state:sync` is what the venue's scanner reads; `sync:full` what the seed sends.
        let _ = socket.emit(
            "state:sync",
            &envelope("state:sync", for_stations(json::game_state_now(&self.ctx))),
        );
        let _ = socket.emit(
            "sync:full",
            &envelope("sync:full", for_stations(json::full_sync_now(&self.ctx))),
        );
        Ok(json!({ "success": true }))
    }

    fn require_admin(conn: &Conn) -> Result<(), WireError> {
        WireError::unless(
            conn.is_admin(),
            ErrorCode::AuthRequired,
            "only an admin connection may do this",
        )
    }

    /// Admin console: `video:control {action, tokenId?}` like `POST /api/video/control`.
    async fn video_control(
        self: Arc<Self>,
        _socket: SocketRef,
        conn: Arc<Conn>,
        data: Value,
    ) -> Result<Value, WireError> {
        conn.require_live_token()?;
        Self::require_admin(&conn)?;
        let body = serde_json::from_value(data)
            .map_err(|e| WireError::new(ErrorCode::InvalidData, e.to_string()))?;
        acting_as_if(conn.actor(), super::routes::control_video(&self.ctx, body)).await
    }

    /// Admin console: `session:reset`, what the reset button does.
    async fn reset(
        self: Arc<Self>,
        _socket: SocketRef,
        conn: Arc<Conn>,
        _data: Value,
    ) -> Result<Value, WireError> {
        conn.require_live_token()?;
        Self::require_admin(&conn)?;
        let ctx = &self.ctx;
        let reset = super::session_reset::reset_session(
            &ctx.engine,
            &ctx.hardware_control,
            ResetSource::AdminApi,
        );
        let outcome = acting_as_if(conn.actor(), reset).await?;
        match GmOutcome::try_from(outcome) {
            Ok(GmOutcome::Session(session)) => Ok(json!({
                "success": true,
                "session": json::session(&session),
            })),
            other => Err(unexpected(other)),
        }
    }

    async fn heartbeat(
        self: Arc<Self>,
        socket: SocketRef,
        conn: Arc<Conn>,
        data: Value,
    ) -> Result<Value, WireError> {
        if !data.is_null() {
            require_object(&data)?;
            str_field(&data, "stationId")?;
        }
        if conn.station().is_none() && !conn.is_admin() {
            return Err(WireError::new(
                ErrorCode::AuthRequired,
                "identify with gm:identify first",
            ));
        }
        if let Some(station) = conn.station() {
            // Moves the station's "last seen" (logged at most every 30 s), off the answer's
            // path: the ack never waits for the log, and a refusal (a storage fault) does not
            // matter to it, the station is alive either way.
            let engine = self.ctx.engine.clone();
            tokio::spawn(async move {
                let seen = GmCommand::SeenDevice { device_id: station };
                if let Err(e) = engine.execute(seen.into()).await {
                    tracing::debug!(error = %e, "heartbeat not recorded");
                }
            });
        }
        let now = json::iso_now();
        let _ = socket.emit(
            "heartbeat:ack",
            &envelope("heartbeat:ack", json!({ "serverTime": now })),
        );
        Ok(json!({ "success": true, "serverTime": now }))
    }

    async fn on_disconnect(self: Arc<Self>, socket: SocketRef, reason: SioReason) {
        let Some(conn) = conn_of(&socket) else { return };
        let delivered = self.stop_delivery(&conn);
        let Some(station) = conn.station() else {
            return;
        };
        let _turn = self.station_turn(&station).await;
        let still_ours = {
            let mut stations = lock(&self.stations);
            match stations.get_mut(&station) {
                Some(record) if record.socket == Some(socket.id) => {
                    record.socket = None;
                    record.away_since = Some(Instant::now());
                    record.delivered_seq = delivered.unwrap_or(record.delivered_seq);
                    true
                }
                _ => false,
            }
        };
        if !still_ours {
            return;
        }
        let reason = lock(&conn.close_reason).unwrap_or(match reason {
            SioReason::ClientNSDisconnect | SioReason::TransportClose => DisconnectReason::Manual,
            SioReason::HeartbeatTimeout => DisconnectReason::Timeout,
            _ => DisconnectReason::Error,
        });
        let disconnect = GmCommand::DisconnectDevice {
            device_id: station.clone(),
            reason,
        };
        if let Err(e) = self.ctx.engine.execute(disconnect.into()).await {
            tracing::warn!(station, error = %e, "could not record the disconnection");
        }
    }
}

fn sync_full(seq: u64, payload: Value) -> Arc<ChannelMessage> {
    ChannelMessage::new(CHANNEL_GM, seq, "sync:full", payload, Class::Terminal).shared()
}

fn state_update(ctx: &AppContext) -> Arc<ChannelMessage> {
    let published = ctx.engine.published();
    let state = for_stations(json::game_state(&published, &ctx.hardware.borrow()));
    ChannelMessage::new(
        CHANNEL_GM,
        published.seq,
        "state:update",
        state,
        Class::Snapshot,
    )
    .keyed("state:update")
    .shared()
}

/// What a hub message becomes on the GM channels: the channel and the message, or nothing.
/// What the stations are sent for one hub message: its message, and for a scan that scored,
/// the team's new score (`score:updated`, a snapshot per team: the latest wins).
fn station_messages(message: &HubMessage, ctx: &AppContext) -> Vec<ChannelMessage> {
    let mut messages: Vec<ChannelMessage> = station_message(message, ctx).into_iter().collect();
    if let HubBody::Committed(Event::Gm(GmEvent::ScanRecorded(t))) = &message.body {
        let scored = t.device_kind == DeviceKind::Gm && t.points > 0;
        let published = ctx.engine.published();
        let team = t.team_id.as_ref().filter(|_| scored).and_then(|team_id| {
            published
                .views
                .gm
                .scores
                .iter()
                .find(|s| &s.team_id == team_id)
        });
        if let Some(score) = team.and_then(|s| serde_json::to_value(json::team_score(s)).ok()) {
            let key = format!("score:updated:{}", score["teamId"]);
            let msg = ChannelMessage::new(
                CHANNEL_GM,
                message.seq,
                "score:updated",
                score,
                Class::Snapshot,
            );
            messages.push(msg.keyed(key));
        }
    }
    messages
}

fn station_message(message: &HubMessage, ctx: &AppContext) -> Option<ChannelMessage> {
    let catalog = &super::catalog(&ctx.engine);
    let seq = message.seq;
    let on_gm = |kind, payload| ChannelMessage::new(CHANNEL_GM, seq, kind, payload, Class::Event);
    let event = match &message.body {
        HubBody::VideoProgress(p) => {
            let progress = json::video_progress(p);
            let msg = ChannelMessage::new(CHANNEL_GM, 0, "video:status", progress, Class::Snapshot);
            return Some(msg.keyed("video:progress"));
        }
        HubBody::Committed(Event::Gm(event)) => event,
        HubBody::Committed(_) => return None,
    };
    match event {
        GmEvent::ScanRecorded(t) => {
            let channel = match t.device_kind {
                DeviceKind::Gm => CHANNEL_GM,
                _ => CHANNEL_ADMIN,
            };
            let payload = serde_json::to_value(json::transaction(t, catalog)).ok()?;
            Some(ChannelMessage::new(
                channel,
                seq,
                "transaction:new",
                payload,
                Class::Event,
            ))
        }
        GmEvent::DeviceConnected {
            device_id,
            kind,
            name,
            ..
        } => {
            // No address: see `for_stations`.
            let payload = json!({
                "deviceId": device_id,
                "type": json::device_type(*kind),
                "name": name,
            });
            Some(on_gm("device:connected", payload).skipping(device_id.clone()))
        }
        GmEvent::DeviceDisconnected {
            device_id, reason, ..
        } => {
            let payload =
                json!({ "deviceId": device_id, "reason": json::disconnect_reason(*reason) });
            Some(on_gm("device:disconnected", payload).skipping(device_id.clone()))
        }
        GmEvent::VideoStarted { token_id, .. } => {
            let duration = catalog
                .get(token_id)
                .and_then(|t| t.video.as_ref())
                .and_then(|v| v.duration_secs);
            Some(on_gm(
                "video:status",
                json!({ "status": "loading", "tokenId": token_id, "progress": 0, "duration": duration }),
            ))
        }
        GmEvent::VideoPaused { token_id, .. } => Some(on_gm(
            "video:status",
            json!({ "status": "paused", "tokenId": token_id }),
        )),
        GmEvent::VideoResumed { token_id, .. } => Some(on_gm(
            "video:status",
            json!({ "status": "playing", "tokenId": token_id }),
        )),
        GmEvent::VideoEnded {
            token_id, outcome, ..
        } => Some(on_gm("video:status", json::video_ended(token_id, outcome))),
        GmEvent::GroupCompleted {
            team_id,
            group,
            multiplier,
            bonus,
            ..
        } => Some(on_gm(
            "group:completed",
            json!({ "teamId": team_id, "groupId": group, "multiplier": multiplier, "bonus": bonus }),
        )),
        GmEvent::SessionCreated { .. }
        | GmEvent::SessionEnded { .. }
        | GmEvent::SessionReset { .. } => {
            // The published view already includes this event (it is published first).
            let sync = for_stations(json::full_sync_now(ctx));
            Some(ChannelMessage::new(
                CHANNEL_GM,
                seq,
                "sync:full",
                sync,
                Class::Terminal,
            ))
        }
        _ => None,
    }
}

/// Turns committed hub events into messages on the GM channels, in log order.
pub async fn run_fanout(ctx: Arc<AppContext>) {
    let mut events = ctx.engine.hub().subscribe();
    loop {
        match events.recv().await {
            Ok(message) => {
                for msg in station_messages(&message, &ctx) {
                    ctx.channels.publish(msg.shared());
                }
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "GM fan-out fell behind the hub; sending sync:full");
                let seq = ctx.engine.published().seq;
                ctx.channels
                    .publish(sync_full(seq, for_stations(json::full_sync_now(&ctx))));
            }
            Err(broadcast::error::RecvError::Closed) => break,
        }
    }
}

/// Writes one socket's channel queue to it until the socket closes or is cut.
async fn deliver(socket: SocketRef, conn: Arc<Conn>, client: Arc<Client>) {
    write_queue(&socket, &conn, &client).await;
    // However the writer ends, the socket is not handed messages any more: the hand-off holds
    // the socket, which holds this client.
    client.clear_handoff();
}

async fn write_queue(socket: &SocketRef, conn: &Conn, client: &Client) {
    loop {
        let msg = match client.next() {
            Next::Send(msg) => msg,
            Next::Wait => {
                client.ready().await;
                continue;
            }
            Next::Close(code, reason) => {
                if code == crate::wire::channels::CLOSE_TOO_SLOW {
                    tracing::warn!(station = ?conn.station(), "station cannot keep up; disconnecting it");
                } else {
                    tracing::debug!(station = ?conn.station(), code, %reason, "closing a station's socket");
                }
                *lock(&conn.close_reason) = Some(DisconnectReason::Error);
                let _ = socket.clone().disconnect();
                break;
            }
        };
        if client.is_news(&msg) {
            match socket.emit(msg.kind, client.frame_of(&msg)) {
                Ok(()) => {}
                // Gone already: its disconnect handler records why.
                Err(SendError::Socket(SocketError::Closed)) => break,
                Err(_) => {
                    // Buffer full: drop the connection; the station resumes from its last
                    // delivered sequence when it reconnects.
                    tracing::warn!(station = ?conn.station(), "station socket is full; disconnecting it");
                    *lock(&conn.close_reason) = Some(DisconnectReason::Error);
                    let _ = socket.clone().disconnect();
                    break;
                }
            }
        }
        client.delivered(&msg);
    }
}

/// Disconnects a socket that neither identified nor is staff's and sent nothing for `timeout`
/// (the seed's heartbeat timeout). Stations and staff are kept by the transport's pings.
async fn idle_watchdog(socket: SocketRef, conn: Arc<Conn>, timeout: Duration) {
    let check_every = (timeout / 4).max(Duration::from_millis(250));
    loop {
        tokio::time::sleep(check_every).await;
        if !socket.connected() || conn.station().is_some() || conn.is_admin() {
            break;
        }
        let idle = lock(&conn.last_activity).elapsed();
        if idle > timeout {
            // Not a station: anyone can open one, so it is no news for the journal (a flood of
            // them would bury the box's real warnings).
            tracing::debug!("a socket that never identified went quiet; disconnecting");
            *lock(&conn.close_reason) = Some(DisconnectReason::Timeout);
            let _ = socket.disconnect();
            break;
        }
    }
}

/// Publishes `state:update` on the GM channel when the state changed, at most once per
/// configured interval; a queued one is replaced by the next (snapshot class, latest wins).
pub async fn publish_state_updates(ctx: Arc<AppContext>) {
    let interval = ctx.config.gm.state_update_interval;
    let mut watch = ctx.engine.watch();
    let mut last_sent = watch.borrow_and_update().clone();
    while watch.changed().await.is_ok() {
        let published = watch.borrow_and_update().clone();
        // The GM view is republished only when a commit changed it: commits that changed
        // nothing the stations see (the idle-scanner sweep, a vote) send nothing.
        let same_game = Arc::ptr_eq(&published.views.gm, &last_sent.views.gm)
            && published.storage_fault == last_sent.storage_fault;
        if same_game {
            continue;
        }
        last_sent = published;
        ctx.channels.publish(state_update(&ctx));
        tokio::time::sleep(interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_delivery_leaves_the_channel_layer() {
        use crate::wire::channels::{Channels, Framing, QueueLimits};
        let channels = Arc::new(Channels::starting_after(0));
        let membership = channels.join(QueueLimits::default(), Framing::SocketIoEnvelope);
        channels.join_after(membership.client(), CHANNEL_ADMIN, 0);
        let delivery = Delivery::new(membership);
        assert_eq!(channels.presence().get(CHANNEL_ADMIN), Some(&1));
        assert_eq!(channels.queue_stats().clients, 1);
        drop(delivery);
        assert_eq!(channels.presence().get(CHANNEL_ADMIN), None);
        assert_eq!(channels.queue_stats().clients, 0);
    }

    #[test]
    fn a_socket_io_request_head_lets_go_of_the_read_buffer() {
        use axum::http::{HeaderValue, Request, Uri};
        // What hyper hands over: URI and header values as slices of one read buffer.
        let buffer =
            axum::body::Bytes::from_static(b"/socket.io/?EIO=4&transport=websocketdGhlIGtleQ==");
        let inside = |bytes: &[u8]| {
            let range = buffer.as_ptr_range();
            range.contains(&bytes.as_ptr())
        };
        let uri = Uri::from_maybe_shared(buffer.slice(..37)).expect("uri");
        let key = HeaderValue::from_maybe_shared(buffer.slice(37..)).expect("header");
        let mut request = Request::builder()
            .uri(uri.clone())
            .header("sec-websocket-key", key)
            .body(())
            .expect("request");
        request
            .extensions_mut()
            .insert(axum::extract::OriginalUri(uri));
        assert!(inside(request.uri().query().expect("query").as_bytes()));

        let detached = detach_request_head(request);
        assert_eq!(detached.uri(), "/socket.io/?EIO=4&transport=websocket");
        let query = detached.uri().query().expect("query");
        assert!(!inside(query.as_bytes()));
        let original = detached.extensions().get::<axum::extract::OriginalUri>();
        let original = original.expect("original uri kept");
        assert!(!inside(original.0.query().expect("query").as_bytes()));
        let value = &detached.headers()["sec-websocket-key"];
        assert_eq!(value, "dGhlIGtleQ==");
        assert!(!inside(value.as_bytes()));

        // Other paths are left as they are.
        let api_buffer = axum::body::Bytes::from_static(b"/api/state");
        let api = Request::builder()
            .uri(Uri::from_maybe_shared(api_buffer.clone()).expect("uri"))
            .body(())
            .expect("request");
        let api = detach_request_head(api);
        assert_eq!(api.uri().path().as_ptr(), api_buffer.as_ptr());
    }

    #[test]
    fn wrapped_and_bare_payloads_read_the_same() {
        let bare = json!({"stationId": "GM_1"});
        let wrapped = json!({"event": "gm:identify", "data": {"stationId": "GM_1"}});
        assert_eq!(event_data(bare.clone()), bare);
        assert_eq!(event_data(wrapped), bare);
        assert_eq!(event_data(json!([bare.clone()])), bare);
        assert!(required_str(&json!({"stationId": 5}), "stationId").is_err());
        assert!(required_str(&json!({"stationId": "  "}), "stationId").is_err());
        assert!(require_object(&json!("text")).is_err());
    }
}
