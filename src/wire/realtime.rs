//! The live-predictions contract (seed 002): `GET /realtime` upgrades to a WebSocket carrying
//! `{type, payload}` messages on channels `streamer:{id}`, `game:{id}` and `user:{id}`.
//!
//! Every message also carries `channel` and `seq`: the log sequence number of the newest
//! committed event it reflects, so it only grows within a channel and survives restarts. A client
//! that reconnects subscribes with `lastSeq` per channel and is sent what it missed from the
//! channel's recent messages, or, when those no longer reach back, a snapshot of the channel's
//! current state; a `SYSTEM_NOTICE` (`RESUMED` or `SNAPSHOT`) says which.
//!
//! Each client has its own bounded queue (count and bytes) with one policy per message class:
//! - *snapshot* (`EVENT_UPDATED`, `BALANCE_UPDATED`): coalesced per key while queued, latest
//!   wins; `EVENT_UPDATED` is also produced at most four times a second per prediction;
//! - *event* (`EVENT_CREATED`, `SYSTEM_NOTICE`): delivered in order;
//! - *terminal* (`EVENT_CLOSED`): never dropped; it may use a reserve above the count bound.
//!
//! A client whose queue is full is closed with code 4008 and its resume point in the reason; it
//! never holds up the fan-out or other clients.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::{broadcast, Notify};

use super::errors::{ErrorCode, WireError};
use super::json::iso;
use super::AppContext;
use crate::auth::{Claims, Role};
use crate::domain::predictions::{Prediction, PredictionEvent};
use crate::domain::Event;
use crate::engine::Published;
use crate::hub::{HubBody, HubMessage};

/// Queued messages per client before it counts as too slow.
pub const QUEUE_MESSAGES: usize = 256;
/// Queued bytes per client before it counts as too slow.
pub const QUEUE_BYTES: usize = 512 * 1024;
/// Extra room for terminal messages above [`QUEUE_MESSAGES`].
const TERMINAL_RESERVE: usize = 64;
/// Largest inbound frame.
pub const MAX_FRAME_BYTES: usize = 16 * 1024;
/// Messages each channel keeps for resuming clients.
const CHANNEL_HISTORY: usize = 512;
/// `EVENT_UPDATED` at most this often per prediction (4 per second).
const UPDATE_EVERY: Duration = Duration::from_millis(250);
/// Channels one client may hold.
const MAX_CHANNELS_PER_CLIENT: usize = 32;
/// Close code for a client that could not keep up.
pub const CLOSE_TOO_SLOW: u16 = 4008;
/// Close code for a client that did not answer pings.
pub const CLOSE_NO_PONG: u16 = 4000;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Snapshot,
    Event,
    Terminal,
}

/// One message for one channel, encoded once and shared by every subscriber.
#[derive(Debug)]
pub struct ChannelMessage {
    pub channel: String,
    pub seq: u64,
    pub class: Class,
    /// Coalescing key for snapshots (`EVENT_UPDATED:<id>`, `BALANCE_UPDATED`).
    pub key: Option<String>,
    pub text: String,
}

fn message(
    channel: &str,
    seq: u64,
    kind: &str,
    payload: Value,
    class: Class,
    key: Option<String>,
) -> Arc<ChannelMessage> {
    let text =
        json!({ "type": kind, "payload": payload, "channel": channel, "seq": seq }).to_string();
    Arc::new(ChannelMessage {
        channel: channel.to_string(),
        seq,
        class,
        key,
        text,
    })
}

fn notice(code: &str, text: impl Into<String>) -> Arc<ChannelMessage> {
    let payload = json!({ "code": code, "message": text.into() });
    Arc::new(ChannelMessage {
        channel: String::new(),
        seq: 0,
        class: Class::Event,
        key: None,
        text: json!({ "type": "SYSTEM_NOTICE", "payload": payload }).to_string(),
    })
}

pub(crate) fn event_json(p: &Prediction) -> Value {
    json!({
        "id": p.id,
        "streamerId": p.streamer_id,
        "gameId": p.game_id,
        "title": p.title,
        "options": p.options.iter().map(|o| json!({"id": o.id, "label": o.label})).collect::<Vec<_>>(),
        "closesAt": iso(p.closes_at),
        "costPerVote": p.cost_per_vote,
        "promptVersions": p.prompt_versions,
    })
}

fn created(channel: &str, seq: u64, p: &Prediction) -> Arc<ChannelMessage> {
    message(
        channel,
        seq,
        "EVENT_CREATED",
        json!({ "event": event_json(p) }),
        Class::Event,
        None,
    )
}

fn updated(channel: &str, seq: u64, p: &Prediction) -> Arc<ChannelMessage> {
    let closes_at = p.is_open().then(|| iso(p.closes_at));
    let payload = json!({ "eventId": p.id, "totals": p.totals, "closesAt": closes_at });
    message(
        channel,
        seq,
        "EVENT_UPDATED",
        payload,
        Class::Snapshot,
        Some(format!("EVENT_UPDATED:{}", p.id)),
    )
}

fn closed(channel: &str, seq: u64, p: &Prediction) -> Arc<ChannelMessage> {
    let winner = p.result.as_ref().and_then(|r| r.winner.clone());
    let payload = json!({ "eventId": p.id, "result": { "optionId": winner, "totals": p.totals } });
    message(channel, seq, "EVENT_CLOSED", payload, Class::Terminal, None)
}

fn balance(channel: &str, seq: u64, balance: u64) -> Arc<ChannelMessage> {
    message(
        channel,
        seq,
        "BALANCE_UPDATED",
        json!({ "balance": balance }),
        Class::Snapshot,
        Some("BALANCE_UPDATED".into()),
    )
}

fn channels_of(p: &Prediction) -> Vec<String> {
    let mut out = vec![format!("streamer:{}", p.streamer_id)];
    if let Some(game) = &p.game_id {
        out.push(format!("game:{game}"));
    }
    out
}

/// A client's outbound queue; see the module docs for the policy.
struct Outbox {
    queue: VecDeque<Arc<ChannelMessage>>,
    bytes: usize,
    /// Set when the client was cut: the writer sends this close and stops.
    close: Option<(u16, String)>,
    /// The reader wants a ping sent; the writer sends it before the next message.
    ping: bool,
}

/// Bounds of one client's queue (`[realtime] queue_messages`, `queue_bytes`).
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    pub messages: usize,
    pub bytes: usize,
}

impl Default for QueueLimits {
    fn default() -> Self {
        Self {
            messages: QUEUE_MESSAGES,
            bytes: QUEUE_BYTES,
        }
    }
}

pub struct Client {
    id: u64,
    claims: Claims,
    limits: QueueLimits,
    outbox: Mutex<Outbox>,
    ready: Notify,
    /// Last seq handed to the socket, per channel: the resume point if the client is cut.
    delivered: Mutex<BTreeMap<String, u64>>,
    channels: Mutex<HashSet<String>>,
}

impl Client {
    fn new(id: u64, claims: Claims, limits: QueueLimits) -> Self {
        Self {
            id,
            claims,
            limits,
            outbox: Mutex::new(Outbox {
                queue: VecDeque::new(),
                bytes: 0,
                close: None,
                ping: false,
            }),
            ready: Notify::new(),
            delivered: Mutex::new(BTreeMap::new()),
            channels: Mutex::new(HashSet::new()),
        }
    }

    /// Queues a message under its class's policy; false when the client is cut for being slow.
    fn push(&self, msg: Arc<ChannelMessage>) -> bool {
        self.enqueue(msg, false)
    }

    /// Queues a resume or snapshot backlog without the count and byte bounds: it is bounded by
    /// the channel history or the resume window, and cutting a client for catching up would
    /// only make it come back for the same backlog.
    fn push_backlog(&self, msg: Arc<ChannelMessage>) {
        self.enqueue(msg, true);
    }

    fn enqueue(&self, msg: Arc<ChannelMessage>, backlog: bool) -> bool {
        let mut outbox = lock(&self.outbox);
        if outbox.close.is_some() {
            return false;
        }
        if let Some(key) = &msg.key {
            let same = outbox
                .queue
                .iter()
                .position(|m| m.channel == msg.channel && m.key.as_ref() == Some(key));
            if let Some(i) = same {
                outbox.bytes = outbox.bytes - outbox.queue[i].text.len() + msg.text.len();
                outbox.queue[i] = msg;
                drop(outbox);
                self.ready.notify_one();
                return true;
            }
        }
        let limit = match msg.class {
            Class::Terminal => self.limits.messages + TERMINAL_RESERVE,
            _ => self.limits.messages,
        };
        let full = outbox.queue.len() >= limit || outbox.bytes + msg.text.len() > self.limits.bytes;
        if full && !backlog {
            let resume = serde_json::to_string(&*lock(&self.delivered)).unwrap_or_default();
            // A close reason is at most 123 bytes; the client also knows its own last seqs.
            let mut reason = format!("too slow; resume with lastSeq {resume}");
            reason.truncate(120);
            outbox.close = Some((CLOSE_TOO_SLOW, reason));
            outbox.queue.clear();
            drop(outbox);
            self.ready.notify_one();
            return false;
        }
        outbox.bytes += msg.text.len();
        outbox.queue.push_back(msg);
        drop(outbox);
        self.ready.notify_one();
        true
    }

    fn push_ping(&self) {
        lock(&self.outbox).ping = true;
        self.ready.notify_one();
    }

    /// Closes the client; the first reason given is the one it gets.
    fn cut(&self, code: u16, reason: &str) {
        lock(&self.outbox)
            .close
            .get_or_insert_with(|| (code, reason.to_string()));
        self.ready.notify_one();
    }

    /// May this client read `channel`? Viewers only their own `user:` channel.
    fn may_read(&self, channel: &str) -> Result<(), String> {
        let (kind, id) = channel
            .split_once(':')
            .ok_or_else(|| format!("{channel:?} is not kind:id"))?;
        if id.is_empty() || id.len() > 64 {
            return Err(format!("{channel:?} has no id"));
        }
        match kind {
            "streamer" | "game" => Ok(()),
            "user" if id == self.claims.sub || self.claims.role == Role::Admin => Ok(()),
            "user" => Err("you may subscribe only to your own user channel".into()),
            _ => Err(format!("unknown channel kind {kind:?}")),
        }
    }
}

/// Channels, their subscribers and recent messages; fed by [`run_fanout`].
#[derive(Default)]
pub struct Realtime {
    clients: Mutex<HashMap<u64, Arc<Client>>>,
    subscribers: Mutex<HashMap<String, HashSet<u64>>>,
    history: Mutex<HashMap<String, VecDeque<Arc<ChannelMessage>>>>,
    next_id: AtomicU64,
    /// Vote rate limit per viewer (the REST side warns through the viewer's `user:` channel).
    pub vote_limits: Mutex<HashMap<String, super::ratelimit::RateLimit>>,
}

impl Realtime {
    /// Subscribers per channel, for the admin API.
    pub fn presence(&self) -> BTreeMap<String, usize> {
        lock(&self.subscribers)
            .iter()
            .filter(|(_, ids)| !ids.is_empty())
            .map(|(channel, ids)| (channel.clone(), ids.len()))
            .collect()
    }

    /// Sends a `SYSTEM_NOTICE` to everyone subscribed to `user:{user_id}`.
    pub fn notify_user(&self, user_id: &str, code: &str, text: &str) {
        let channel = format!("user:{user_id}");
        let ids: Vec<u64> = lock(&self.subscribers)
            .get(&channel)
            .map(|ids| ids.iter().copied().collect())
            .unwrap_or_default();
        let clients = lock(&self.clients);
        for id in ids {
            if let Some(client) = clients.get(&id) {
                client.push(notice(code, text));
            }
        }
    }

    fn publish(&self, msg: Arc<ChannelMessage>) {
        {
            let mut history = lock(&self.history);
            let ring = history.entry(msg.channel.clone()).or_default();
            if ring.len() == CHANNEL_HISTORY {
                ring.pop_front();
            }
            ring.push_back(msg.clone());
        }
        let ids: Vec<u64> = lock(&self.subscribers)
            .get(&msg.channel)
            .map(|ids| ids.iter().copied().collect())
            .unwrap_or_default();
        let clients = lock(&self.clients);
        for id in ids {
            if let Some(client) = clients.get(&id) {
                client.push(msg.clone());
            }
        }
    }

    fn register(&self, client: &Client, channel: &str) {
        lock(&self.subscribers)
            .entry(channel.to_string())
            .or_default()
            .insert(client.id);
    }

    /// Queues the channel's recent messages after `after` (those published while a resume from
    /// the log was being read).
    fn push_history_after(&self, client: &Client, channel: &str, after: u64) {
        let recent: Vec<_> = lock(&self.history)
            .get(channel)
            .map(|r| r.iter().filter(|m| m.seq > after).cloned().collect())
            .unwrap_or_default();
        for msg in recent {
            client.push_backlog(msg);
        }
    }

    /// Subscribes `client`, resuming after `last_seq` from the channel's recent messages. When
    /// those do not reach back far enough, returns the seq to resume from the log
    /// ([`Realtime::resume_from_log`]) and leaves the client unregistered until then.
    fn subscribe(
        &self,
        client: &Arc<Client>,
        channel: &str,
        last_seq: Option<u64>,
        published: &Published,
    ) -> Option<u64> {
        if !lock(&client.channels).insert(channel.to_string()) {
            return None;
        }
        let Some(after) = last_seq else {
            self.register(client, channel);
            return None;
        };
        let reaches_back = {
            let history = lock(&self.history);
            let front = history.get(channel).and_then(|r| r.front()).map(|m| m.seq);
            front.is_some_and(|seq| seq <= after + 1) || after >= published.seq
        };
        if !reaches_back {
            return Some(after);
        }
        // Register first, then read history: a message published in between is at worst sent
        // twice, and clients drop a seq they already have.
        self.register(client, channel);
        let missed: Vec<_> = lock(&self.history)
            .get(channel)
            .map(|r| r.iter().filter(|m| m.seq > after).cloned().collect())
            .unwrap_or_default();
        client.push(notice(
            "RESUMED",
            format!("{channel}: {} missed messages follow", missed.len()),
        ));
        for msg in missed {
            client.push_backlog(msg);
        }
        None
    }

    /// Resumes `channel` from the durable log after `after`, or sends a snapshot when the log
    /// holds more than the resume window since then. The client is registered only once the
    /// replay is queued, so live messages never overtake it.
    async fn resume_from_log(
        &self,
        ctx: &AppContext,
        client: &Arc<Client>,
        channel: &str,
        after: u64,
    ) {
        let window = ctx.config.realtime_resume_window;
        let logged = ctx.engine.read_log(after, window + 1).await;
        let published = ctx.engine.published();
        match logged {
            Ok(events) if events.len() <= window => {
                let missed = replay_for_channel(channel, &events, &published);
                let last = events.last().map_or(after, |(seq, _)| *seq);
                client.push(notice(
                    "RESUMED",
                    format!("{channel}: {} missed messages follow", missed.len()),
                ));
                for msg in missed {
                    client.push_backlog(msg);
                }
                self.register(client, channel);
                self.push_history_after(client, channel, last);
            }
            _ => {
                client.push(notice(
                    "SNAPSHOT",
                    format!("{channel}: missed messages are gone; current state follows"),
                ));
                for msg in snapshot_of(channel, &published) {
                    client.push_backlog(msg);
                }
                self.register(client, channel);
                self.push_history_after(client, channel, published.seq);
            }
        }
    }

    fn unsubscribe(&self, client: &Client, channel: &str) {
        lock(&client.channels).remove(channel);
        if let Some(ids) = lock(&self.subscribers).get_mut(channel) {
            ids.remove(&client.id);
        }
    }

    fn remove(&self, client: &Client) {
        let channels: Vec<String> = lock(&client.channels).drain().collect();
        let mut subscribers = lock(&self.subscribers);
        for channel in channels {
            if let Some(ids) = subscribers.get_mut(&channel) {
                ids.remove(&client.id);
            }
        }
        drop(subscribers);
        lock(&self.clients).remove(&client.id);
    }
}

/// What `channel` would have published for `events` (read back from the log): created and
/// closed predictions in order, then current totals and balance for what changed.
fn replay_for_channel(
    channel: &str,
    events: &[(u64, Event)],
    published: &Published,
) -> Vec<Arc<ChannelMessage>> {
    let current: HashMap<&str, &Prediction> = published
        .view
        .predictions
        .iter()
        .map(|p| (p.id.as_str(), p))
        .collect();
    let on_channel = |p: &Prediction| channels_of(p).iter().any(|c| c == channel);
    let user_channel = |user: &str| channel.strip_prefix("user:") == Some(user);
    let mut known: HashMap<String, Prediction> = HashMap::new();
    let mut dirty: Vec<String> = Vec::new();
    let mut balance_now: Option<(u64, u64)> = None;
    let mut out = Vec::new();
    for (seq, event) in events {
        let Event::Prediction(event) = event else {
            continue;
        };
        match event {
            PredictionEvent::Created(p) => {
                if on_channel(p) {
                    out.push(created(channel, *seq, p));
                }
                known.insert(p.id.clone(), p.clone());
            }
            PredictionEvent::VoteCast {
                prediction_id,
                receipt,
                ..
            } => {
                let relevant = known
                    .get(prediction_id)
                    .or(current.get(prediction_id.as_str()).copied())
                    .is_some_and(on_channel);
                if relevant && !dirty.contains(prediction_id) {
                    dirty.push(prediction_id.clone());
                }
                if user_channel(&receipt.user_id) {
                    balance_now = Some((*seq, receipt.balance_after));
                }
            }
            PredictionEvent::PointsGranted { receipt, .. } => {
                if user_channel(&receipt.user_id) {
                    balance_now = Some((*seq, receipt.balance_after));
                }
            }
            PredictionEvent::Closed {
                prediction_id,
                result,
            } => {
                let final_state = current
                    .get(prediction_id.as_str())
                    .map(|p| (*p).clone())
                    .or_else(|| known.get(prediction_id).cloned());
                if let Some(mut p) = final_state.filter(|p| on_channel(p)) {
                    p.result = Some(result.clone());
                    dirty.retain(|id| id != prediction_id);
                    out.push(updated(channel, *seq, &p));
                    out.push(closed(channel, *seq, &p));
                }
            }
        }
    }
    for id in dirty {
        if let Some(p) = current.get(id.as_str()) {
            out.push(updated(channel, published.seq, p));
        }
    }
    if let Some((seq, points)) = balance_now {
        out.push(balance(channel, seq, points));
    }
    out
}

/// The current state of one channel as messages.
fn snapshot_of(channel: &str, published: &Published) -> Vec<Arc<ChannelMessage>> {
    let seq = published.seq;
    if let Some(user) = channel.strip_prefix("user:") {
        let points = published.view.balances.get(user).copied().unwrap_or(0);
        return vec![balance(channel, seq, points)];
    }
    let mut out = Vec::new();
    for p in published
        .view
        .predictions
        .iter()
        .filter(|p| channels_of(p).iter().any(|c| c == channel))
    {
        out.push(created(channel, seq, p));
        out.push(updated(channel, seq, p));
        if !p.is_open() {
            out.push(closed(channel, seq, p));
        }
    }
    out
}

/// Turns committed prediction events into channel messages. `EVENT_UPDATED` is produced on a
/// 250 ms tick for predictions that received votes, from the state published after the commit.
pub async fn run_fanout(realtime: Arc<Realtime>, ctx: Arc<AppContext>) {
    let mut events = ctx.engine.hub().subscribe();
    let mut tick = tokio::time::interval(UPDATE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut dirty: HashSet<String> = HashSet::new();
    loop {
        tokio::select! {
            received = events.recv() => match received {
                Ok(msg) => fan_out(&realtime, &ctx, &msg, &mut dirty),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "predictions fan-out fell behind; totals follow on the next tick");
                    dirty.extend(ctx.engine.published().view.predictions.iter().map(|p| p.id.clone()));
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            _ = tick.tick(), if !dirty.is_empty() => {
                let published = ctx.engine.published();
                for p in published.view.predictions.iter().filter(|p| dirty.contains(&p.id)) {
                    for channel in channels_of(p) {
                        realtime.publish(updated(&channel, published.seq, p));
                    }
                }
                dirty.clear();
            }
        }
    }
}

fn fan_out(realtime: &Realtime, ctx: &AppContext, msg: &HubMessage, dirty: &mut HashSet<String>) {
    let HubBody::Committed(Event::Prediction(event)) = &msg.body else {
        return;
    };
    match event {
        PredictionEvent::Created(p) => {
            for channel in channels_of(p) {
                realtime.publish(created(&channel, msg.seq, p));
            }
        }
        PredictionEvent::VoteCast {
            prediction_id,
            receipt,
            ..
        } => {
            dirty.insert(prediction_id.clone());
            realtime.publish(balance(
                &format!("user:{}", receipt.user_id),
                msg.seq,
                receipt.balance_after,
            ));
        }
        PredictionEvent::PointsGranted { receipt, .. } => {
            realtime.publish(balance(
                &format!("user:{}", receipt.user_id),
                msg.seq,
                receipt.balance_after,
            ));
        }
        PredictionEvent::Closed { prediction_id, .. } => {
            dirty.remove(prediction_id);
            let published = ctx.engine.published();
            if let Some(p) = published
                .view
                .predictions
                .iter()
                .find(|p| &p.id == prediction_id)
            {
                for channel in channels_of(p) {
                    // Final totals first, then the result, which is never dropped.
                    realtime.publish(updated(&channel, msg.seq, p));
                    realtime.publish(closed(&channel, msg.seq, p));
                }
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RealtimeQuery {
    streamer_id: Option<String>,
    token: Option<String>,
}

/// `GET /realtime`: checks the token, then upgrades.
pub async fn upgrade(
    State(ctx): State<Arc<AppContext>>,
    Query(query): Query<RealtimeQuery>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string)
        .or(query.token);
    let claims = match token {
        None => {
            return WireError::new(ErrorCode::AuthRequired, "send a token from /api/auth")
                .into_response()
        }
        Some(token) => match ctx.secrets.verify(&token) {
            Ok(claims) if matches!(claims.role, Role::Viewer | Role::Admin) => claims,
            Ok(claims) => {
                return WireError::new(
                    ErrorCode::Forbidden,
                    format!("a {} token cannot watch predictions", claims.role),
                )
                .into_response()
            }
            Err(e) => return WireError::from(e).into_response(),
        },
    };
    ws.max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| serve_client(ctx, claims, query.streamer_id, socket))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientCommand {
    action: String,
    #[serde(default)]
    channels: Vec<String>,
    #[serde(default, rename = "lastSeq")]
    last_seq: HashMap<String, u64>,
}

async fn serve_client(
    ctx: Arc<AppContext>,
    claims: Claims,
    streamer: Option<String>,
    socket: WebSocket,
) {
    let realtime = ctx.realtime.clone();
    let limits = QueueLimits {
        messages: ctx.config.realtime_queue_messages,
        bytes: ctx.config.realtime_queue_bytes,
    };
    let id = realtime.next_id.fetch_add(1, Ordering::Relaxed);
    let client = Arc::new(Client::new(id, claims, limits));
    lock(&realtime.clients).insert(client.id, client.clone());
    if let Some(streamer) = streamer.filter(|s| !s.is_empty() && s.len() <= 64) {
        realtime.subscribe(
            &client,
            &format!("streamer:{streamer}"),
            None,
            &ctx.engine.published(),
        );
    }
    let (sink, stream) = futures_split(socket);
    let writer = tokio::spawn(write_loop(client.clone(), sink));
    read_loop(&ctx, &client, stream).await;
    realtime.remove(&client);
    // The writer ends on the close (ours or the client's); give it a moment to send it.
    client.cut(1000, "bye");
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
}

type Sink = futures_util::stream::SplitSink<WebSocket, Message>;
type Stream = futures_util::stream::SplitStream<WebSocket>;

fn futures_split(socket: WebSocket) -> (Sink, Stream) {
    use futures_util::StreamExt;
    socket.split()
}

async fn write_loop(client: Arc<Client>, mut sink: Sink) {
    use futures_util::SinkExt;
    loop {
        let (next, ping) = {
            let mut outbox = lock(&client.outbox);
            let ping = std::mem::take(&mut outbox.ping);
            let next = match outbox.queue.pop_front() {
                Some(msg) => {
                    outbox.bytes -= msg.text.len();
                    Ok(msg)
                }
                None => Err(outbox.close.clone()),
            };
            (next, ping)
        };
        if ping && sink.send(Message::Ping(Vec::new().into())).await.is_err() {
            break;
        }
        match next {
            Ok(msg) => {
                if sink
                    .send(Message::Text(msg.text.clone().into()))
                    .await
                    .is_err()
                {
                    break;
                }
                if msg.seq > 0 {
                    lock(&client.delivered).insert(msg.channel.clone(), msg.seq);
                }
            }
            Err(Some((code, reason))) => {
                let frame = CloseFrame {
                    code,
                    reason: reason.into(),
                };
                let _ = tokio::time::timeout(
                    Duration::from_secs(1),
                    sink.send(Message::Close(Some(frame))),
                )
                .await;
                break;
            }
            Err(None) => client.ready.notified().await,
        }
    }
}

async fn read_loop(ctx: &Arc<AppContext>, client: &Arc<Client>, mut stream: Stream) {
    use futures_util::StreamExt;
    let ping_every = ctx.config.realtime_ping_interval;
    let mut ping = tokio::time::interval(ping_every);
    ping.tick().await;
    let mut answered = true;
    loop {
        tokio::select! {
            frame = stream.next() => {
                let Some(Ok(frame)) = frame else { break };
                match frame {
                    Message::Text(text) => handle_command(ctx, client, text.as_str()),
                    Message::Pong(_) => answered = true,
                    Message::Close(_) => break,
                    Message::Binary(_) => {
                        client.push(notice("BAD_COMMAND", "send JSON text frames"));
                    }
                    Message::Ping(_) => {}
                }
            }
            _ = ping.tick() => {
                if !answered {
                    client.cut(CLOSE_NO_PONG, "no pong within the ping interval");
                    break;
                }
                answered = false;
                client.push_ping();
            }
        }
        if lock(&client.outbox).close.is_some() {
            break;
        }
    }
}

fn handle_command(ctx: &Arc<AppContext>, client: &Arc<Client>, text: &str) {
    let command: ClientCommand = match serde_json::from_str(text) {
        Ok(command) => command,
        Err(e) => {
            client.push(notice("BAD_COMMAND", format!("not a command: {e}")));
            return;
        }
    };
    let realtime = &ctx.realtime;
    match command.action.as_str() {
        "subscribe" | "unsubscribe" if command.channels.is_empty() => {
            client.push(notice("BAD_COMMAND", "channels is empty"));
        }
        "subscribe" => {
            let published = ctx.engine.published();
            for channel in &command.channels {
                if let Err(reason) = client.may_read(channel) {
                    client.push(notice("FORBIDDEN_CHANNEL", reason));
                    continue;
                }
                if lock(&client.channels).len() >= MAX_CHANNELS_PER_CLIENT {
                    client.push(notice(
                        "TOO_MANY_CHANNELS",
                        format!("at most {MAX_CHANNELS_PER_CLIENT} channels"),
                    ));
                    break;
                }
                let last_seq = command.last_seq.get(channel).copied();
                if let Some(after) = realtime.subscribe(client, channel, last_seq, &published) {
                    let (ctx, client, channel) = (ctx.clone(), client.clone(), channel.clone());
                    tokio::spawn(async move {
                        let realtime = ctx.realtime.clone();
                        realtime
                            .resume_from_log(&ctx, &client, &channel, after)
                            .await;
                    });
                }
            }
        }
        "unsubscribe" => {
            for channel in &command.channels {
                realtime.unsubscribe(client, channel);
            }
        }
        "pong" => {}
        other => {
            client.push(notice("BAD_COMMAND", format!("unknown action {other:?}")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> Client {
        let claims = Claims {
            sub: "u1".into(),
            role: Role::Viewer,
            iat: 0,
            exp: u64::MAX,
        };
        let client = Client::new(1, claims, QueueLimits::default());
        lock(&client.delivered).insert("streamer:s".to_string(), 41);
        client
    }

    fn update(seq: u64) -> Arc<ChannelMessage> {
        message(
            "streamer:s",
            seq,
            "EVENT_UPDATED",
            json!({ "eventId": "p", "totals": {"a": seq} }),
            Class::Snapshot,
            Some("EVENT_UPDATED:p".into()),
        )
    }

    fn created_msg(seq: u64) -> Arc<ChannelMessage> {
        message(
            "streamer:s",
            seq,
            "EVENT_CREATED",
            json!({}),
            Class::Event,
            None,
        )
    }

    #[test]
    fn queued_snapshots_coalesce_and_the_latest_wins() {
        let c = client();
        for seq in 1..=500 {
            assert!(c.push(update(seq)));
        }
        let outbox = lock(&c.outbox);
        assert_eq!(outbox.queue.len(), 1);
        assert_eq!(outbox.queue[0].seq, 500);
        assert_eq!(outbox.bytes, outbox.queue[0].text.len());
    }

    #[test]
    fn terminal_messages_use_the_reserve_and_overflow_cuts_with_a_resume_point() {
        let c = client();
        for seq in 0..QUEUE_MESSAGES as u64 {
            assert!(c.push(created_msg(seq + 1)));
        }
        let terminal = message(
            "streamer:s",
            900,
            "EVENT_CLOSED",
            json!({}),
            Class::Terminal,
            None,
        );
        assert!(c.push(terminal), "a terminal message still fits");
        assert!(
            !c.push(created_msg(901)),
            "an event beyond the bound cuts the client"
        );
        let outbox = lock(&c.outbox);
        let (code, reason) = outbox.close.clone().unwrap();
        assert_eq!(code, CLOSE_TOO_SLOW);
        assert!(reason.contains("\"streamer:s\":41"), "{reason}");
        assert!(outbox.queue.is_empty(), "memory is released at once");
    }

    #[test]
    fn viewers_read_only_their_own_user_channel() {
        let c = client();
        assert!(c.may_read("streamer:abc").is_ok());
        assert!(c.may_read("game:g").is_ok());
        assert!(c.may_read("user:u1").is_ok());
        assert!(c.may_read("user:u2").is_err());
        assert!(c.may_read("weather:x").is_err());
        assert!(c.may_read("streamer:").is_err());
        assert!(c.may_read("nocolon").is_err());
    }
}
