//! The channel layer every real-time contract publishes through: the JSON WebSocket contracts
//! (`predictions/realtime.rs`) and the GM-station Socket.IO contract (`gm/socketio.rs`) alike.
//!
//! A contract's fan-out turns committed hub events into [`ChannelMessage`]s and hands them to
//! [`Channels::publish`]. Every message carries its channel and the log sequence number of the
//! newest committed event it reflects (0 for live-only messages such as video progress), so a
//! client that reconnects can say where it stopped.
//!
//! Each channel keeps its recent messages ([`CHANNEL_HISTORY`]); snapshot messages replace the
//! older one with the same key there too, so the history holds every event plus the latest of
//! each snapshot. A subscriber that resumes after a sequence the history still covers is sent
//! exactly what it missed; registration and the backlog happen under the history lock, so no
//! message is lost or duplicated between them.
//!
//! Each client has its own bounded queue (count and bytes) with one policy per message class:
//! - *snapshot*: coalesced per key while queued, latest wins (the fan-out also caps how often it
//!   produces them per channel);
//! - *event*: delivered in order;
//! - *terminal*: never dropped; it may use a reserve above the count bound.
//!
//! A client whose queue is full is cut: its queue is released at once and its writer closes the
//! connection with [`CLOSE_TOO_SLOW`] and its resume point. Nothing waits for a slow client.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use serde_json::value::RawValue;
use serde_json::{json, Value};
use tokio::sync::Notify;

/// The `{event, data, timestamp}` envelope Socket.IO clients read every event in (seed 004's
/// shape, which admin consoles share).
pub fn envelope(event: &str, data: serde_json::Value) -> serde_json::Value {
    serde_json::json!({ "event": event, "data": data, "timestamp": super::time::iso_now() })
}

/// Queued messages per client before it counts as too slow.
pub const QUEUE_MESSAGES: usize = 256;
/// Queued bytes per client before it counts as too slow.
pub const QUEUE_BYTES: usize = 512 * 1024;
/// Queued bytes of all clients together. Past it, a client holding more than its fair share
/// ([`FAIR_SHARE_BYTES`]) is cut as too slow when its next message comes: slow readers on many
/// addresses cannot add up to the box's memory, and clients that keep up are never the ones cut.
pub const BOX_QUEUE_BYTES: usize = 64 * 1024 * 1024;
/// What a client may hold however full the box is.
pub const FAIR_SHARE_BYTES: usize = 64 * 1024;
/// Extra room for terminal messages above the count bound.
const TERMINAL_RESERVE: usize = 64;
/// Messages each channel keeps for resuming clients.
pub const CHANNEL_HISTORY: usize = 512;
/// Close code for a client that could not keep up.
pub const CLOSE_TOO_SLOW: u16 = 4008;
/// Close code for a client whose connection closed while it was handed a message.
pub const CLOSE_GONE: u16 = 1001;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Snapshot,
    Event,
    Terminal,
}

/// How a client's wire frames a channel message. A message is encoded at most once per framing,
/// on its first delivery to a client of that framing, and shared by every such client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `{type, payload, channel, seq}` (an array of them for a batch; a notice has no channel
    /// or seq): the JSON WebSocket contracts.
    JsonFrame,
    /// `{event, data, timestamp}`: the Socket.IO contracts' event envelope.
    SocketIoEnvelope,
    /// `{channel, payload, seq}` with the message's kind as the channel the client named (a
    /// contract may keep one layer channel per tournament under a shared name); a message
    /// without a channel (a reply, an error) is its payload alone. Seed 000's stream.
    NamedChannel,
    /// `{type, payload}`, with `"replay": true` for a message sent as history: seed 001's
    /// draft sockets.
    TypePayload,
    /// `{type, data}`: seed 003's sports sockets.
    TypeData,
    /// The payload object with its `type` added (`{"type": "leaderboard_update",
    /// "leaderboard": [...]}`): seed 003's SSE streams, whose snippet reads the fields at the
    /// top. A payload that is not an object travels as `{type, data}`.
    DataWithType,
}

impl Framing {
    const COUNT: usize = 6;

    fn index(self) -> usize {
        match self {
            Framing::JsonFrame => 0,
            Framing::SocketIoEnvelope => 1,
            Framing::NamedChannel => 2,
            Framing::TypePayload => 3,
            Framing::TypeData => 4,
            Framing::DataWithType => 5,
        }
    }
}

/// One message for one channel: what it says, shared by every subscriber, with its encoding
/// per framing made on first use.
#[derive(Debug)]
pub struct ChannelMessage {
    pub channel: String,
    pub seq: u64,
    pub class: Class,
    /// Coalescing key of a snapshot (`EVENT_UPDATED:<id>`, `state:update`).
    pub key: Option<String>,
    /// The message type (JSON contracts) or event name (Socket.IO).
    pub kind: &'static str,
    /// One payload, or for a batch the array of them (each its own frame where the framing
    /// has frames).
    pub payload: Value,
    batched: bool,
    /// A client acting as this device is not sent the message (a station is not told that it
    /// itself connected).
    pub skip_for: Option<String>,
    /// Sent as history on connect, not as it happened (the framings that say so mark it).
    pub replay: bool,
    /// Its place among everything the layer published since the box started, set when it is
    /// published: several channels read as one stream (SSE) resume by it.
    ordinal: std::sync::OnceLock<u64>,
    /// The encodings made so far, by [`Framing`]. Encoding per socket was the main cost of a
    /// large fan-out; encoding per framing is the floor.
    encoded: [std::sync::OnceLock<Box<RawValue>>; Framing::COUNT],
}

impl ChannelMessage {
    pub fn new(channel: &str, seq: u64, kind: &'static str, payload: Value, class: Class) -> Self {
        Self {
            channel: channel.to_string(),
            seq,
            class,
            key: None,
            kind,
            payload,
            batched: false,
            skip_for: None,
            replay: false,
            ordinal: std::sync::OnceLock::new(),
            encoded: Default::default(),
        }
    }

    /// Several messages of one kind in one frame (a JSON array), as the JSON contracts allow.
    /// A single payload is sent as a plain message.
    pub fn batch(
        channel: &str,
        seq: u64,
        kind: &'static str,
        mut payloads: Vec<Value>,
        class: Class,
    ) -> Self {
        if payloads.len() == 1 {
            return Self::new(channel, seq, kind, payloads.remove(0), class);
        }
        Self {
            batched: true,
            ..Self::new(channel, seq, kind, Value::Array(payloads), class)
        }
    }

    /// A `SYSTEM_NOTICE` for one client: no channel, no sequence.
    pub fn notice(code: &str, message: impl Into<String>) -> Arc<Self> {
        let payload = json!({ "code": code, "message": message.into() });
        Arc::new(Self::new("", 0, "SYSTEM_NOTICE", payload, Class::Event))
    }

    pub fn keyed(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// The message as history a client is sent on connect.
    pub fn as_replay(mut self) -> Self {
        self.replay = true;
        self
    }

    pub fn skipping(mut self, device_id: impl Into<String>) -> Self {
        self.skip_for = Some(device_id.into());
        self
    }

    pub fn shared(self) -> Arc<Self> {
        Arc::new(self)
    }

    /// The message as `framing` puts it on the wire, encoded on the first call for it.
    pub fn encoded(&self, framing: Framing) -> &RawValue {
        self.encoded[framing.index()].get_or_init(|| {
            let value = match framing {
                Framing::JsonFrame => self.json_frame(),
                Framing::SocketIoEnvelope => envelope(self.kind, self.payload.clone()),
                Framing::NamedChannel if self.channel.is_empty() => self.payload.clone(),
                Framing::NamedChannel => {
                    json!({ "channel": self.kind, "payload": self.payload, "seq": self.seq })
                }
                Framing::TypePayload if self.replay => {
                    json!({ "type": self.kind, "payload": self.payload, "replay": true })
                }
                Framing::TypePayload => json!({ "type": self.kind, "payload": self.payload }),
                Framing::TypeData => json!({ "type": self.kind, "data": self.payload }),
                Framing::DataWithType => match &self.payload {
                    Value::Object(fields) => {
                        let mut fields = fields.clone();
                        fields.insert("type".to_string(), Value::from(self.kind));
                        Value::Object(fields)
                    }
                    other => json!({ "type": self.kind, "data": other }),
                },
            };
            serde_json::value::to_raw_value(&value).unwrap_or_else(|_| RawValue::NULL.to_owned())
        })
    }

    fn json_frame(&self) -> Value {
        let frame = |payload: &Value| {
            if self.channel.is_empty() {
                json!({ "type": self.kind, "payload": payload })
            } else {
                json!({ "type": self.kind, "payload": payload, "channel": self.channel, "seq": self.seq })
            }
        };
        match (&self.payload, self.batched) {
            (Value::Array(payloads), true) => Value::Array(payloads.iter().map(frame).collect()),
            (payload, _) => frame(payload),
        }
    }

    fn same_key(&self, other: &ChannelMessage) -> bool {
        self.key.is_some() && self.key == other.key && self.channel == other.channel
    }
}

/// Bounds of one client's queue.
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

struct Outbox {
    queue: VecDeque<Arc<ChannelMessage>>,
    bytes: usize,
    /// Of what is queued, how much came as a catch-up backlog: it does not count against the
    /// bounds for live messages while it drains (counted off as messages go out), so a client
    /// catching up is not cut by the next live message.
    backlog_messages: usize,
    backlog_bytes: usize,
    /// Set when the client was cut: the writer sends this close and stops.
    close: Option<(u16, String)>,
    /// The reader wants a ping sent; the writer sends it before the next message.
    ping: bool,
    /// Where live messages go while the client is caught up (see [`Handoff`]).
    handoff: Option<Arc<dyn Handoff>>,
    /// The writer took a message and has not yet asked for the next: a message handed off now
    /// could overtake it.
    writer_busy: bool,
}

/// A connection a live message can be handed to directly by the publisher, without waking the
/// client's writer task: a non-blocking write into the connection's own bounded buffer (the
/// Socket.IO sockets' Engine.IO queue). Used only while the client is caught up (nothing queued,
/// its writer idle); a client that lags, resumes or catches up goes through its queue.
pub trait Handoff: Send + Sync {
    /// Writes `msg` to the connection without waiting, or says why it could not.
    fn hand(&self, msg: &ChannelMessage) -> Result<(), Refused>;
}

/// Why a connection did not take a handed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Its buffer is full: the client is cut as too slow.
    Full,
    /// It has closed: the client is let go without being called slow.
    Closed,
}

/// What a client's writer should do next.
pub enum Next {
    Send(Arc<ChannelMessage>),
    Close(u16, String),
    Wait,
}

/// One connected client's queue and resume points; see the module docs for the policy.
pub struct Client {
    id: u64,
    /// The layer's [`Channels::epoch`], for the cursors this client is given.
    epoch: u32,
    limits: QueueLimits,
    framing: Framing,
    /// The device this client acts as, once known: messages about it (`skip_for`) are not
    /// sent to it, so they do not count toward what it missed either.
    acting_as: Mutex<Option<String>>,
    outbox: Mutex<Outbox>,
    ready: Notify,
    /// Last seq handed to the connection, per channel: the resume point if the client is cut.
    delivered: Mutex<BTreeMap<String, u64>>,
    channels: Mutex<HashSet<String>>,
    /// Per channel, the seq the client was caught up to by a backlog of its own
    /// ([`Channels::join_after`]): a live message at or below it is one it has, and is not
    /// sent again (the fan-out may publish it after the state it was read from).
    floors: Mutex<HashMap<String, u64>>,
    /// Bytes queued by every client of the layer, this one's included.
    box_queued: Arc<AtomicUsize>,
    /// Run once when the client is cut for not keeping up: a writer that is itself stuck
    /// behind the connection (an event stream) cannot see the cut, so its connection is ended
    /// from here.
    on_too_slow: OnceLock<Box<dyn Fn() + Send + Sync>>,
}

impl Drop for Client {
    fn drop(&mut self) {
        let left = lock(&self.outbox).bytes;
        self.box_queued.fetch_sub(left, Ordering::Relaxed);
    }
}

impl Client {
    fn new(
        id: u64,
        epoch: u32,
        limits: QueueLimits,
        framing: Framing,
        box_queued: Arc<AtomicUsize>,
    ) -> Self {
        Self {
            id,
            epoch,
            limits,
            framing,
            acting_as: Mutex::new(None),
            box_queued,
            outbox: Mutex::new(Outbox {
                queue: VecDeque::new(),
                bytes: 0,
                backlog_messages: 0,
                backlog_bytes: 0,
                close: None,
                ping: false,
                handoff: None,
                writer_busy: false,
            }),
            ready: Notify::new(),
            delivered: Mutex::new(BTreeMap::new()),
            channels: Mutex::new(HashSet::new()),
            floors: Mutex::new(HashMap::new()),
            on_too_slow: OnceLock::new(),
        }
    }

    /// Runs `then` if the client is ever cut for not keeping up (once; a second call is
    /// ignored). It runs where the cut happens, possibly under the layer's locks (a publish
    /// holds its channel's history): it must only signal, never call back into the layer.
    pub fn when_too_slow(&self, then: impl Fn() + Send + Sync + 'static) {
        let _ = self.on_too_slow.set(Box::new(then));
    }

    /// Queues a message under its class's policy; false when the client is cut for being slow.
    pub fn push(&self, msg: Arc<ChannelMessage>) -> bool {
        self.enqueue(msg, false)
    }

    /// Queues a resume or snapshot backlog without the count and byte bounds: it is bounded by
    /// the channel history or the resume window, and cutting a client for catching up would
    /// only make it come back for the same backlog.
    pub fn push_backlog(&self, msg: Arc<ChannelMessage>) {
        self.enqueue(msg, true);
    }

    fn has_through(&self, channel: &str, seq: u64) -> bool {
        let floors = lock(&self.floors);
        !floors.is_empty() && floors.get(channel).is_some_and(|floor| seq <= *floor)
    }

    /// Says which device this client acts as (a GM station, once identified).
    pub fn act_as(&self, device_id: &str) {
        *lock(&self.acting_as) = Some(device_id.to_string());
    }

    /// Whether `msg` is about this client's own device, and so never sent to it.
    pub fn is_about_itself(&self, msg: &ChannelMessage) -> bool {
        msg.skip_for.is_some() && *lock(&self.acting_as) == msg.skip_for
    }

    /// Whether `msg` is news to this client: not about itself, and not an event at or below
    /// what it was already sent on that channel (its starting state may hold events the
    /// fan-out publishes after). Snapshots and terminal messages are whole states: sending one
    /// again is harmless.
    pub fn is_news(&self, msg: &ChannelMessage) -> bool {
        let already_had =
            msg.class == Class::Event && msg.seq != 0 && msg.seq <= self.delivered_on(&msg.channel);
        !already_had && !self.is_about_itself(msg)
    }

    /// Lets publishers hand live messages straight to the connection while the client is
    /// caught up; the writer task then wakes only for backlogs, lag and the close.
    pub fn set_handoff(&self, handoff: Arc<dyn Handoff>) {
        lock(&self.outbox).handoff = Some(handoff);
    }

    /// Stops handing messages off (the connection is going away: the handoff may hold it).
    pub fn clear_handoff(&self) {
        let handoff = lock(&self.outbox).handoff.take();
        // Dropped with the lock released: it may hold the last reference to a connection
        // whose teardown comes back here.
        drop(handoff);
    }

    /// The message as this client's wire frames it.
    pub fn frame_of<'m>(&self, msg: &'m ChannelMessage) -> &'m RawValue {
        msg.encoded(self.framing)
    }

    /// What a queued message counts against the byte bounds: its encoding on this client's wire.
    fn size_of(&self, msg: &ChannelMessage) -> usize {
        msg.encoded(self.framing).get().len()
    }

    fn enqueue(&self, msg: Arc<ChannelMessage>, backlog: bool) -> bool {
        if !backlog && msg.seq > 0 && self.has_through(&msg.channel, msg.seq) {
            return true;
        }
        // Encoded before the lock: the first client of a framing pays for everyone's.
        let size = self.size_of(&msg);
        let mut outbox = lock(&self.outbox);
        if outbox.close.is_some() {
            return false;
        }
        if msg.key.is_some() {
            if let Some(i) = outbox.queue.iter().position(|m| m.same_key(&msg)) {
                let old = self.size_of(&outbox.queue[i]);
                outbox.bytes = outbox.bytes - old + size;
                self.box_queued.fetch_add(size, Ordering::Relaxed);
                self.box_queued.fetch_sub(old, Ordering::Relaxed);
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
        let after = outbox.bytes + size;
        let box_full = self.box_queued.load(Ordering::Relaxed) + size > BOX_QUEUE_BYTES
            && after > FAIR_SHARE_BYTES;
        let live_messages = outbox.queue.len().saturating_sub(outbox.backlog_messages);
        let live_bytes = after.saturating_sub(outbox.backlog_bytes);
        let full = live_messages >= limit || live_bytes > self.limits.bytes || box_full;
        if full && !backlog {
            self.cut_too_slow(outbox);
            return false;
        }
        // The common case: a caught-up client takes the message straight from the publisher,
        // encoded once for all of them, with no task of its own woken. The outbox stays locked
        // so the writer cannot start on a queued message meanwhile.
        if !backlog && outbox.queue.is_empty() && !outbox.writer_busy {
            if let Some(handoff) = &outbox.handoff {
                if !self.is_news(&msg) {
                    // Counted as the queued path counts it: the resume point moves past it.
                    self.delivered(&msg);
                    return true;
                }
                match handoff.hand(&msg) {
                    Ok(()) => {
                        self.delivered(&msg);
                        return true;
                    }
                    Err(Refused::Full) => self.cut_too_slow(outbox),
                    Err(Refused::Closed) => {
                        self.cut_releasing(outbox, CLOSE_GONE, "connection closed".into())
                    }
                }
                return false;
            }
        }
        outbox.bytes += size;
        if backlog {
            outbox.backlog_messages += 1;
            outbox.backlog_bytes += size;
        }
        self.box_queued.fetch_add(size, Ordering::Relaxed);
        outbox.queue.push_back(msg);
        drop(outbox);
        self.ready.notify_one();
        true
    }

    /// Cuts the client for not keeping up: its queue is released at once, and its writer
    /// closes the connection with where to resume.
    fn cut_too_slow(&self, outbox: MutexGuard<'_, Outbox>) {
        let resume = serde_json::to_string(&*lock(&self.delivered)).unwrap_or_default();
        // A close reason is at most 123 bytes; the client also knows its own last seqs.
        let mut reason = format!("too slow; resume with lastSeq {resume}");
        reason.truncate(120);
        self.cut_releasing(outbox, CLOSE_TOO_SLOW, reason);
        if let Some(then) = self.on_too_slow.get() {
            then();
        }
    }

    /// Cuts the client with `code`, releasing its queue at once.
    fn cut_releasing(&self, mut outbox: MutexGuard<'_, Outbox>, code: u16, reason: String) {
        outbox.close = Some((code, reason));
        outbox.queue = VecDeque::new();
        self.box_queued.fetch_sub(outbox.bytes, Ordering::Relaxed);
        outbox.bytes = 0;
        outbox.backlog_messages = 0;
        outbox.backlog_bytes = 0;
        // A cut client is handed nothing more; the connection is let go outside the lock.
        let handoff = outbox.handoff.take();
        drop(outbox);
        drop(handoff);
        self.ready.notify_one();
    }

    /// Asks the writer to send a ping before its next message.
    pub fn request_ping(&self) {
        lock(&self.outbox).ping = true;
        self.ready.notify_one();
    }

    pub fn take_ping_request(&self) -> bool {
        std::mem::take(&mut lock(&self.outbox).ping)
    }

    /// Closes the client; the first reason given is the one it gets.
    pub fn cut(&self, code: u16, reason: &str) {
        lock(&self.outbox)
            .close
            .get_or_insert_with(|| (code, reason.to_string()));
        self.ready.notify_one();
    }

    pub fn is_cut(&self) -> bool {
        lock(&self.outbox).close.is_some()
    }

    /// Whether the client holds more than its bounds, backlogs included: it is not reading
    /// what it has, so a contract refuses it another catch-up (each would queue its backlog
    /// again, and a client that subscribes over and over must not grow the box's memory).
    pub fn is_backed_up(&self) -> bool {
        let outbox = lock(&self.outbox);
        outbox.queue.len() >= self.limits.messages || outbox.bytes > self.limits.bytes
    }

    /// The next message to send, or the close, or nothing yet.
    /// Asking again means the writer is done with the previous message.
    pub fn next(&self) -> Next {
        let mut outbox = lock(&self.outbox);
        match outbox.queue.pop_front() {
            Some(msg) => {
                let size = self.size_of(&msg);
                outbox.bytes -= size;
                outbox.backlog_messages = outbox.backlog_messages.saturating_sub(1);
                outbox.backlog_bytes = outbox.backlog_bytes.saturating_sub(size);
                self.box_queued.fetch_sub(size, Ordering::Relaxed);
                outbox.writer_busy = true;
                Next::Send(msg)
            }
            None => {
                outbox.writer_busy = false;
                match &outbox.close {
                    Some((code, reason)) => Next::Close(*code, reason.clone()),
                    None => Next::Wait,
                }
            }
        }
    }

    /// Resolves when something was queued since the last [`Client::next`] saw an empty queue.
    pub async fn ready(&self) {
        self.ready.notified().await;
    }

    /// Records that `msg` reached the connection. Snapshots do not move the resume point: they
    /// carry the seq of the state they were read from, which can be ahead of events the fan-out
    /// has yet to publish.
    pub fn delivered(&self, msg: &ChannelMessage) {
        if msg.seq > 0 && msg.class != Class::Snapshot {
            // Once per delivery: the channel's name is copied only the first time.
            let mut delivered = lock(&self.delivered);
            match delivered.get_mut(&msg.channel) {
                Some(seq) => *seq = msg.seq,
                None => {
                    delivered.insert(msg.channel.clone(), msg.seq);
                }
            }
        }
    }

    /// The last sequence delivered on `channel` (0 when none).
    pub fn delivered_on(&self, channel: &str) -> u64 {
        lock(&self.delivered).get(channel).copied().unwrap_or(0)
    }

    /// Sets the resume point of `channel`, for a client that starts from a known state.
    pub fn start_at(&self, channel: &str, seq: u64) {
        lock(&self.delivered).insert(channel.to_string(), seq);
    }

    /// Whether the client is subscribed to `channel`.
    pub fn is_on(&self, channel: &str) -> bool {
        lock(&self.channels).contains(channel)
    }

    pub fn channel_count(&self) -> usize {
        lock(&self.channels).len()
    }

    /// Where a client reading several channels as one stream has got to once `msg` reached it
    /// (`<epoch>-<ordinal>`, given back to [`Channels::resume_stream`]); `None` for a message
    /// that was not published (a reply, a state sent on connect).
    pub fn cursor_after(&self, msg: &ChannelMessage) -> Option<String> {
        let ordinal = msg.ordinal.get()?;
        Some(format!("{:x}-{ordinal}", self.epoch))
    }
}

/// Where a client reading several channels as one stream stopped, as it says so when it comes
/// back: a cursor this box gave it, or a plain log sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamCursor {
    /// Every message published up to this ordinal, in the layer's epoch.
    Published { epoch: u32, ordinal: u64 },
    /// Every message reflecting the log up to this sequence.
    Seq(u64),
}

impl std::str::FromStr for StreamCursor {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        match text.split_once('-') {
            Some((epoch, ordinal)) => Ok(Self::Published {
                epoch: u32::from_str_radix(epoch, 16).map_err(|_| ())?,
                ordinal: ordinal.parse().map_err(|_| ())?,
            }),
            None => text.parse().map(Self::Seq).map_err(|_| ()),
        }
    }
}

/// Recent messages of one channel.
#[derive(Default)]
struct History {
    recent: VecDeque<Arc<ChannelMessage>>,
    /// Seq of the newest message that fell out; a resume from before it cannot be exact.
    evicted_upto: u64,
    /// The same, as a publish ordinal.
    evicted_ordinal: u64,
}

impl History {
    fn record(&mut self, msg: &Arc<ChannelMessage>) {
        if msg.seq == 0 {
            return;
        }
        if msg.key.is_some() {
            // An older snapshot of the same key is superseded, not lost.
            self.recent.retain(|m| !m.same_key(msg));
        }
        if self.recent.len() == CHANNEL_HISTORY {
            if let Some(old) = self.recent.pop_front() {
                self.evicted_upto = self.evicted_upto.max(old.seq);
                self.evicted_ordinal = self
                    .evicted_ordinal
                    .max(old.ordinal.get().copied().unwrap_or(0));
            }
        }
        self.recent.push_back(msg.clone());
    }

    fn after(&self, seq: u64) -> Vec<Arc<ChannelMessage>> {
        self.recent
            .iter()
            .filter(|m| m.seq > seq)
            .cloned()
            .collect()
    }
}

/// Totals over every client's queue.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueStats {
    pub clients: usize,
    pub messages: usize,
    pub bytes: usize,
    pub largest_client_messages: usize,
    pub largest_client_bytes: usize,
}

/// How a subscription started.
#[derive(Debug, PartialEq, Eq)]
pub enum Subscribed {
    /// The client already had this channel.
    Already,
    /// Live from now on.
    Live,
    /// This many missed messages were queued, then live.
    Resumed(usize),
    /// The history does not reach back that far (or holds more than the caller accepts): the
    /// client is not registered yet; catch it up, then call [`Channels::join_after`].
    Behind,
}

/// Channels, their subscribers and recent messages.
#[derive(Default)]
pub struct Channels {
    clients: Mutex<HashMap<u64, Arc<Client>>>,
    subscribers: Mutex<HashMap<String, HashSet<u64>>>,
    history: Mutex<HashMap<String, History>>,
    next_id: AtomicU64,
    /// Bytes queued by all clients (see [`BOX_QUEUE_BYTES`]).
    box_queued: Arc<AtomicUsize>,
    /// Histories hold only messages after this seq (the log's end when the box started).
    covers_after: u64,
    /// Messages published so far: the next one's ordinal.
    published: AtomicU64,
    /// The newest log sequence published: a cursor beyond it is not one this box gave.
    newest_seq: AtomicU64,
    /// Drawn when the layer starts, so a stream cursor from before a restart (whose ordinals
    /// started over) is never taken for one of this run.
    epoch: u32,
}

/// A client's place in the channel layer; dropping it disconnects the client.
pub struct Membership {
    channels: Arc<Channels>,
    client: Arc<Client>,
}

impl Membership {
    pub fn client(&self) -> &Arc<Client> {
        &self.client
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.channels.disconnect(&self.client);
    }
}

impl Channels {
    /// A layer whose histories start after log sequence `seq`: a resume from before it is
    /// [`Subscribed::Behind`] even on a channel that has published nothing since.
    pub fn starting_after(seq: u64) -> Self {
        let mut bytes = [0u8; 4];
        // Without the random source, the clock still tells two runs apart.
        let epoch = match getrandom::fill(&mut bytes) {
            Ok(()) => u32::from_le_bytes(bytes),
            Err(_) => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos()),
        };
        Self {
            covers_after: seq,
            epoch,
            ..Self::default()
        }
    }

    /// A new client with its own queue; see [`Channels::join`] for one that leaves by itself.
    pub fn connect(&self, limits: QueueLimits, framing: Framing) -> Arc<Client> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let client = Arc::new(Client::new(
            id,
            self.epoch,
            limits,
            framing,
            self.box_queued.clone(),
        ));
        lock(&self.clients).insert(id, client.clone());
        client
    }

    /// A new client whose membership ends (client and subscriptions forgotten) when the
    /// returned guard is dropped, whichever way its connection ends.
    pub fn join(self: &Arc<Self>, limits: QueueLimits, framing: Framing) -> Membership {
        Membership {
            channels: self.clone(),
            client: self.connect(limits, framing),
        }
    }

    /// Forgets a client and its subscriptions.
    pub fn disconnect(&self, client: &Client) {
        let channels: Vec<String> = lock(&client.channels).drain().collect();
        let mut subscribers = lock(&self.subscribers);
        for channel in channels {
            if let Some(ids) = subscribers.get_mut(&channel) {
                ids.remove(&client.id);
                if ids.is_empty() {
                    subscribers.remove(&channel);
                }
            }
        }
        drop(subscribers);
        lock(&self.clients).remove(&client.id);
    }

    /// Subscribers per channel, for the admin API.
    pub fn presence(&self) -> BTreeMap<String, usize> {
        lock(&self.subscribers)
            .iter()
            .filter(|(_, ids)| !ids.is_empty())
            .map(|(channel, ids)| (channel.clone(), ids.len()))
            .collect()
    }

    /// What every client has queued right now, for the admin API: memory held for slow
    /// clients is bounded by the queue limits, and this shows it.
    pub fn queue_stats(&self) -> QueueStats {
        let clients: Vec<Arc<Client>> = lock(&self.clients).values().cloned().collect();
        let mut stats = QueueStats {
            clients: clients.len(),
            ..QueueStats::default()
        };
        for client in clients {
            let outbox = lock(&client.outbox);
            stats.messages += outbox.queue.len();
            stats.bytes += outbox.bytes;
            stats.largest_client_bytes = stats.largest_client_bytes.max(outbox.bytes);
            stats.largest_client_messages = stats.largest_client_messages.max(outbox.queue.len());
        }
        stats
    }

    /// Every client subscribed to a channel whose name starts with one of `prefixes`, once.
    pub fn clients_on(&self, prefixes: &[&str]) -> Vec<Arc<Client>> {
        let subscribers = lock(&self.subscribers);
        let ids: HashSet<u64> = subscribers
            .iter()
            .filter(|(channel, _)| prefixes.iter().any(|p| channel.starts_with(p)))
            .flat_map(|(_, ids)| ids.iter().copied())
            .collect();
        let clients = lock(&self.clients);
        ids.iter()
            .filter_map(|id| clients.get(id).cloned())
            .collect()
    }

    fn subscriber_clients(&self, channel: &str) -> Vec<Arc<Client>> {
        let subscribers = lock(&self.subscribers);
        let Some(ids) = subscribers.get(channel) else {
            return Vec::new();
        };
        let clients = lock(&self.clients);
        ids.iter()
            .filter_map(|id| clients.get(id).cloned())
            .collect()
    }

    /// Records `msg` in its channel's history and queues it for every subscriber.
    pub fn publish(&self, msg: Arc<ChannelMessage>) {
        // The history lock is held while queueing, so a subscriber that joins with a backlog
        // sees each message exactly once: in the backlog or live.
        let mut history = lock(&self.history);
        if msg.seq > 0 {
            let _ = msg
                .ordinal
                .set(self.published.fetch_add(1, Ordering::Relaxed) + 1);
            self.newest_seq.fetch_max(msg.seq, Ordering::Relaxed);
        }
        history.entry(msg.channel.clone()).or_default().record(&msg);
        for client in self.subscriber_clients(&msg.channel) {
            client.push(msg.clone());
        }
    }

    /// Queues `msg` for the current subscribers of `channel` only (a notice, not history).
    pub fn tell(&self, channel: &str, msg: Arc<ChannelMessage>) {
        for client in self.subscriber_clients(channel) {
            client.push(msg.clone());
        }
    }

    /// Subscribes `client` to `channel`. With `after`, first queues what it missed since that
    /// sequence, preceded by `announce(count)` when that returns a message; more than
    /// `max_backlog` missed messages, or a history that no longer reaches back, gives
    /// [`Subscribed::Behind`].
    pub fn subscribe(
        &self,
        client: &Arc<Client>,
        channel: &str,
        after: Option<u64>,
        max_backlog: usize,
        announce: impl FnOnce(usize) -> Option<Arc<ChannelMessage>>,
    ) -> Subscribed {
        if !lock(&client.channels).insert(channel.to_string()) {
            return Subscribed::Already;
        }
        let history = lock(&self.history);
        let Some(after) = after else {
            self.register(client, channel);
            return Subscribed::Live;
        };
        let evicted_upto = history.get(channel).map_or(0, |h| h.evicted_upto);
        if after < self.covers_after.max(evicted_upto) {
            return Subscribed::Behind;
        }
        let missed = history
            .get(channel)
            .map(|h| h.after(after))
            .unwrap_or_default();
        // What it will be sent: messages about itself are skipped at delivery.
        let to_send = missed.iter().filter(|m| !client.is_about_itself(m)).count();
        if to_send > max_backlog {
            return Subscribed::Behind;
        }
        if let Some(first) = announce(missed.len()) {
            client.push(first);
        }
        let count = missed.len();
        for msg in missed {
            client.push_backlog(msg);
        }
        // A client resuming from a position it read elsewhere (a REST answer's `seq`) may be
        // ahead of what the fan-out has published yet: those messages must not come again live.
        lock(&client.floors).insert(channel.to_string(), after);
        self.register(client, channel);
        Subscribed::Resumed(count)
    }

    /// Finishes a [`Subscribed::Behind`] subscription once the client was sent the state as of
    /// `seq`: queues the history after it and registers the client. Live messages at or below
    /// `seq` published later (the fan-out runs behind the published state) are not sent: the
    /// client has them.
    pub fn join_after(&self, client: &Arc<Client>, channel: &str, seq: u64) {
        let history = lock(&self.history);
        lock(&client.channels).insert(channel.to_string());
        lock(&client.floors).insert(channel.to_string(), seq);
        if let Some(h) = history.get(channel) {
            for msg in h.after(seq) {
                client.push_backlog(msg);
            }
        }
        self.register(client, channel);
    }

    /// Subscribes `client` to several `channels` read as one stream (an SSE response): with a
    /// cursor, first queues what it missed on any of them, in the order it was published;
    /// [`Subscribed::Behind`] (nothing registered) when a history no longer reaches back, the
    /// cursor is from before a restart or ahead of anything published, or more than
    /// `max_backlog` messages (or the client's byte bound) were missed. A missed
    /// message `keep` refuses (one that no longer holds: an announcement since expired) is not
    /// sent.
    pub fn resume_stream(
        &self,
        client: &Arc<Client>,
        channels: &[String],
        cursor: StreamCursor,
        max_backlog: usize,
        keep: impl Fn(&ChannelMessage) -> bool,
    ) -> Subscribed {
        let history = lock(&self.history);
        let from_the_future = match cursor {
            StreamCursor::Published { ordinal, .. } => {
                ordinal > self.published.load(Ordering::Relaxed)
            }
            StreamCursor::Seq(seq) => {
                seq > self
                    .covers_after
                    .max(self.newest_seq.load(Ordering::Relaxed))
            }
        };
        if from_the_future {
            return Subscribed::Behind;
        }
        let after = |m: &ChannelMessage| match cursor {
            StreamCursor::Published { ordinal, .. } => {
                m.ordinal.get().is_some_and(|o| *o > ordinal)
            }
            StreamCursor::Seq(seq) => m.seq > seq,
        };
        let mut missed = Vec::new();
        for channel in channels {
            let h = history.get(channel);
            let reaches_back = match cursor {
                StreamCursor::Published { epoch, ordinal } => {
                    epoch == self.epoch && h.is_none_or(|h| h.evicted_ordinal <= ordinal)
                }
                StreamCursor::Seq(seq) => {
                    seq >= self.covers_after.max(h.map_or(0, |h| h.evicted_upto))
                }
            };
            if !reaches_back {
                return Subscribed::Behind;
            }
            if let Some(h) = h {
                missed.extend(h.recent.iter().filter(|m| after(m) && keep(m)).cloned());
            }
        }
        let bytes: usize = missed.iter().map(|m| client.size_of(m)).sum();
        if missed.len() > max_backlog || bytes > client.limits.bytes {
            return Subscribed::Behind;
        }
        missed.sort_by_key(|m| m.ordinal.get().copied());
        let count = missed.len();
        for msg in missed {
            client.push_backlog(msg);
        }
        for channel in channels {
            lock(&client.channels).insert(channel.clone());
            self.register(client, channel);
        }
        Subscribed::Resumed(count)
    }

    /// [`Channels::join_after`] for several channels read as one stream: what was published
    /// after `seq` on any of them is queued in the order it was published.
    pub fn join_stream_after(&self, client: &Arc<Client>, channels: &[String], seq: u64) {
        let history = lock(&self.history);
        let mut missed = Vec::new();
        for channel in channels {
            lock(&client.channels).insert(channel.clone());
            lock(&client.floors).insert(channel.clone(), seq);
            if let Some(h) = history.get(channel) {
                missed.extend(h.after(seq));
            }
        }
        missed.sort_by_key(|m| m.ordinal.get().copied());
        for msg in missed {
            client.push_backlog(msg);
        }
        for channel in channels {
            self.register(client, channel);
        }
    }

    fn register(&self, client: &Client, channel: &str) {
        lock(&self.subscribers)
            .entry(channel.to_string())
            .or_default()
            .insert(client.id);
    }

    /// Unsubscribes everyone from `channel`, telling each `msg` first (the channel now belongs
    /// to someone else); how many there were.
    pub fn empty_channel(&self, channel: &str, msg: &Arc<ChannelMessage>) -> usize {
        let clients = self.subscriber_clients(channel);
        for client in &clients {
            client.push(msg.clone());
            self.unsubscribe(client, channel);
        }
        clients.len()
    }

    pub fn unsubscribe(&self, client: &Client, channel: &str) {
        lock(&client.channels).remove(channel);
        lock(&client.floors).remove(channel);
        let mut subscribers = lock(&self.subscribers);
        if let Some(ids) = subscribers.get_mut(channel) {
            ids.remove(&client.id);
            if ids.is_empty() {
                subscribers.remove(channel);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(seq: u64) -> Arc<ChannelMessage> {
        ChannelMessage::new(
            "streamer:s",
            seq,
            "EVENT_UPDATED",
            json!({ "eventId": "p", "totals": {"a": seq} }),
            Class::Snapshot,
        )
        .keyed("EVENT_UPDATED:p")
        .shared()
    }

    fn event(seq: u64) -> Arc<ChannelMessage> {
        ChannelMessage::new("streamer:s", seq, "EVENT_CREATED", json!({}), Class::Event).shared()
    }

    fn client() -> (Channels, Arc<Client>) {
        let channels = Channels::default();
        let client = channels.connect(QueueLimits::default(), Framing::JsonFrame);
        client.start_at("streamer:s", 41);
        (channels, client)
    }

    fn drain(client: &Client) -> Vec<u64> {
        let mut seqs = Vec::new();
        while let Next::Send(msg) = client.next() {
            seqs.push(msg.seq);
        }
        seqs
    }

    fn big_event(seq: u64) -> Arc<ChannelMessage> {
        let filler = "x".repeat(8 * 1024);
        ChannelMessage::new(
            "streamer:s",
            seq,
            "EVENT_CREATED",
            json!({ "filler": filler }),
            Class::Event,
        )
        .shared()
    }

    /// A connection that records what it was handed, and refuses once `room` runs out.
    #[derive(Default)]
    struct Recorder {
        handed: Mutex<Vec<u64>>,
        room: Option<usize>,
        /// Refuses as a closed connection rather than a full one when `room` runs out.
        closes: bool,
    }

    impl Handoff for Recorder {
        fn hand(&self, msg: &ChannelMessage) -> Result<(), Refused> {
            let mut handed = lock(&self.handed);
            if self.room.is_some_and(|room| handed.len() >= room) {
                return Err(if self.closes {
                    Refused::Closed
                } else {
                    Refused::Full
                });
            }
            handed.push(msg.seq);
            Ok(())
        }
    }

    fn subscribed_with_handoff(room: Option<usize>) -> (Channels, Arc<Client>, Arc<Recorder>) {
        let (channels, client) = client();
        channels.join_after(&client, "streamer:s", 41);
        let recorder = Arc::new(Recorder {
            room,
            ..Recorder::default()
        });
        client.set_handoff(recorder.clone());
        (channels, client, recorder)
    }

    #[test]
    fn a_caught_up_client_is_handed_live_messages_without_its_queue() {
        let (channels, client, recorder) = subscribed_with_handoff(None);
        for seq in 42..=44 {
            channels.publish(event(seq));
        }
        assert_eq!(*lock(&recorder.handed), vec![42, 43, 44]);
        assert!(drain(&client).is_empty(), "nothing went through the queue");
        assert_eq!(
            client.delivered_on("streamer:s"),
            44,
            "the resume point moved"
        );
    }

    #[test]
    fn while_the_writer_is_busy_messages_queue_in_order_and_the_handoff_resumes_after() {
        let (channels, client, recorder) = subscribed_with_handoff(None);
        client.push_backlog(event(42));
        // A backlog never goes through the handoff, and nothing overtakes it.
        channels.publish(event(43));
        assert!(lock(&recorder.handed).is_empty());
        let Next::Send(first) = client.next() else {
            panic!("the backlog is the writer's")
        };
        assert_eq!(first.seq, 42);
        // The writer holds 42 and has not asked again: 44 must wait behind it.
        channels.publish(event(44));
        assert!(lock(&recorder.handed).is_empty());
        assert_eq!(drain(&client), vec![43, 44]);
        // The writer found the queue empty: the next one is handed off.
        channels.publish(event(45));
        assert_eq!(*lock(&recorder.handed), vec![45]);
    }

    #[test]
    fn a_handoff_skips_what_the_client_has_or_is_about_itself() {
        let (channels, client, recorder) = subscribed_with_handoff(None);
        client.act_as("GM_1");
        client.start_at("streamer:s", 50);
        channels.publish(event(45));
        let about_itself = ChannelMessage::new("streamer:s", 51, "x", json!({}), Class::Event)
            .skipping("GM_1")
            .shared();
        channels.publish(about_itself);
        channels.publish(event(52));
        assert_eq!(*lock(&recorder.handed), vec![52]);
    }

    #[test]
    fn only_a_cut_for_being_slow_runs_the_clients_hook_and_only_once() {
        let hooked = |client: &Client| {
            let runs = Arc::new(AtomicUsize::new(0));
            let counted = runs.clone();
            client.when_too_slow(move || {
                counted.fetch_add(1, Ordering::Relaxed);
            });
            runs
        };
        let (_channels, restarted) = client();
        let restart_runs = hooked(&restarted);
        restarted.cut(1012, "restarting");
        assert!(!restarted.push(event(42)));
        assert_eq!(
            restart_runs.load(Ordering::Relaxed),
            0,
            "a restart is no slowness"
        );

        let (_channels, stalled) = client();
        let slow_runs = hooked(&stalled);
        let mut seq = 42;
        while stalled.push(big_event(seq)) {
            seq += 1;
        }
        assert!(!stalled.push(big_event(seq + 1)));
        assert_eq!(slow_runs.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_connection_that_refuses_a_handoff_cuts_the_client_with_its_resume_point() {
        let (channels, client, recorder) = subscribed_with_handoff(Some(2));
        for seq in 42..=44 {
            channels.publish(event(seq));
        }
        assert_eq!(*lock(&recorder.handed), vec![42, 43]);
        match client.next() {
            Next::Close(code, reason) => {
                assert_eq!(code, CLOSE_TOO_SLOW);
                assert!(reason.contains("43"), "{reason}");
            }
            _ => panic!("the client is cut"),
        }
        assert!(!client.push(event(45)), "a cut client takes nothing more");
        assert_eq!(
            Arc::strong_count(&recorder),
            1,
            "a cut client lets its connection go"
        );
    }

    #[test]
    fn a_connection_that_closed_lets_its_client_go_without_calling_it_slow() {
        let (channels, client) = client();
        channels.join_after(&client, "streamer:s", 41);
        let recorder = Arc::new(Recorder {
            room: Some(1),
            closes: true,
            ..Recorder::default()
        });
        client.set_handoff(recorder.clone());
        channels.publish(event(42));
        channels.publish(event(43));
        match client.next() {
            Next::Close(code, _) => assert_eq!(code, CLOSE_GONE),
            _ => panic!("the client is let go"),
        }
        assert_eq!(Arc::strong_count(&recorder), 1, "and its connection");
    }

    #[test]
    fn a_cleared_handoff_sends_everything_through_the_queue_again() {
        let (channels, client, recorder) = subscribed_with_handoff(None);
        channels.publish(event(42));
        client.clear_handoff();
        channels.publish(event(43));
        assert_eq!(*lock(&recorder.handed), vec![42]);
        assert_eq!(drain(&client), vec![43]);
        assert_eq!(Arc::strong_count(&recorder), 1, "the connection is let go");
    }

    #[test]
    fn a_full_box_cuts_the_clients_holding_more_than_their_share_and_no_others() {
        let channels = Channels::default();
        let slow = channels.connect(QueueLimits::default(), Framing::JsonFrame);
        let lively = channels.connect(QueueLimits::default(), Framing::JsonFrame);
        // The slow one holds ~72 KiB, the lively one a little.
        for seq in 1..=9 {
            assert!(slow.push(big_event(seq)));
        }
        assert!(lively.push(event(1)));
        let queued = channels.box_queued.load(Ordering::Relaxed);
        assert!(queued > FAIR_SHARE_BYTES, "{queued}");
        // The rest of the room's queues fill the box.
        channels
            .box_queued
            .fetch_add(BOX_QUEUE_BYTES, Ordering::Relaxed);
        assert!(
            !slow.push(big_event(10)),
            "over its share on a full box: cut"
        );
        assert!(slow.is_cut());
        assert!(lively.push(event(2)), "within its share: kept");
        channels
            .box_queued
            .fetch_sub(BOX_QUEUE_BYTES, Ordering::Relaxed);
        // The cut released the slow client's bytes; delivering and leaving release the rest.
        assert_eq!(drain(&lively), vec![1, 2]);
        drop(lively);
        drop(slow);
        assert_eq!(channels.box_queued.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_catch_up_backlog_does_not_get_the_client_cut_but_a_second_one_is_refused() {
        let (_, c) = client();
        for seq in 1..=(QUEUE_MESSAGES as u64 * 2) {
            c.push_backlog(event(seq));
        }
        assert!(c.is_backed_up(), "twice its bound queued");
        // Live messages still fit beside the backlog while it drains...
        let first_live = QUEUE_MESSAGES as u64 * 2 + 1;
        for seq in first_live..first_live + 10 {
            assert!(c.push(event(seq)), "live message {seq} beside the backlog");
        }
        assert!(!c.is_cut());
        // ...and once it drained, the usual bound holds again.
        let delivered = drain(&c);
        assert_eq!(delivered.len(), QUEUE_MESSAGES * 2 + 10);
        assert!(!c.is_backed_up());
        for seq in 1..=QUEUE_MESSAGES as u64 {
            assert!(c.push(event(seq)));
        }
        assert!(!c.push(event(0)), "a live overflow still cuts");
    }

    #[test]
    fn a_client_caught_up_to_a_seq_is_not_sent_what_it_has_again() {
        let channels = Channels::default();
        let client = channels.connect(QueueLimits::default(), Framing::JsonFrame);
        // Caught up from the state as of 10, while the fan-out had published only up to 8.
        channels.join_after(&client, "streamer:s", 10);
        for seq in [9, 10, 11] {
            channels.publish(event(seq));
        }
        assert_eq!(drain(&client), vec![11], "9 and 10 were in its catch-up");
        // Live-only messages (seq 0) always go.
        channels.publish(event(0));
        assert_eq!(drain(&client), vec![0]);
    }

    #[test]
    fn queued_snapshots_coalesce_and_the_latest_wins() {
        let (_, c) = client();
        for seq in 1..=500 {
            assert!(c.push(update(seq)));
        }
        let outbox = lock(&c.outbox);
        assert_eq!(outbox.queue.len(), 1);
        assert_eq!(outbox.queue[0].seq, 500);
        assert_eq!(
            outbox.bytes,
            outbox.queue[0].encoded(Framing::JsonFrame).get().len()
        );
    }

    #[test]
    fn terminal_messages_use_the_reserve_and_overflow_cuts_with_a_resume_point() {
        let (_, c) = client();
        for seq in 0..QUEUE_MESSAGES as u64 {
            assert!(c.push(event(seq + 1)));
        }
        let terminal = ChannelMessage::new(
            "streamer:s",
            900,
            "EVENT_CLOSED",
            json!({}),
            Class::Terminal,
        );
        assert!(c.push(terminal.shared()), "a terminal message still fits");
        assert!(
            !c.push(event(901)),
            "an event beyond the bound cuts the client"
        );
        let outbox = lock(&c.outbox);
        let (code, reason) = outbox.close.clone().unwrap();
        assert_eq!(code, CLOSE_TOO_SLOW);
        assert!(reason.contains("\"streamer:s\":41"), "{reason}");
        assert!(outbox.queue.is_empty(), "memory is released at once");
        assert_eq!(outbox.bytes, 0);
    }

    #[test]
    fn the_byte_bound_cuts_too() {
        let channels = Channels::default();
        let c = channels.connect(
            QueueLimits {
                messages: 1000,
                bytes: 4096,
            },
            Framing::JsonFrame,
        );
        let big = || {
            ChannelMessage::new(
                "game:g",
                1,
                "EVENT_CREATED",
                json!("x".repeat(1500)),
                Class::Event,
            )
            .shared()
        };
        assert!(c.push(big()));
        assert!(c.push(big()));
        assert!(!c.push(big()), "the third 1.5 KB message passes 4 KiB");
        assert!(c.is_cut());
    }

    #[test]
    fn a_resume_from_a_position_the_fan_out_has_not_reached_yet_gets_nothing_twice() {
        // A page read the state at seq 12 over REST; the fan-out has published up to 10.
        let channels = Channels::default();
        for seq in 1..=10 {
            channels.publish(event(seq));
        }
        let c = channels.connect(QueueLimits::default(), Framing::JsonFrame);
        assert_eq!(
            channels.subscribe(&c, "streamer:s", Some(12), 100, |_| None),
            Subscribed::Resumed(0)
        );
        for seq in 11..=13 {
            channels.publish(event(seq));
        }
        assert_eq!(drain(&c), vec![13], "11 and 12 were in what the page read");
    }

    #[test]
    fn resume_from_history_sends_exactly_what_was_missed() {
        let channels = Channels::default();
        for seq in 1..=10 {
            channels.publish(event(seq));
        }
        let c = channels.connect(QueueLimits::default(), Framing::JsonFrame);
        let result = channels.subscribe(&c, "streamer:s", Some(6), 100, |n| {
            Some(ChannelMessage::notice("RESUMED", format!("{n}")))
        });
        assert_eq!(result, Subscribed::Resumed(4));
        channels.publish(event(11));
        assert_eq!(
            drain(&c),
            vec![0, 7, 8, 9, 10, 11],
            "notice, backlog, then live"
        );
        assert_eq!(
            channels.subscribe(&c, "streamer:s", None, 0, |_| None),
            Subscribed::Already
        );
        let restarted = Channels::starting_after(10);
        let back = restarted.connect(QueueLimits::default(), Framing::JsonFrame);
        assert_eq!(
            restarted.subscribe(&back, "streamer:s", Some(6), 100, |_| None),
            Subscribed::Behind,
            "nothing from before the start is held"
        );
        let current = restarted.connect(QueueLimits::default(), Framing::JsonFrame);
        assert_eq!(
            restarted.subscribe(&current, "streamer:s", Some(10), 100, |_| None),
            Subscribed::Resumed(0)
        );
        assert_eq!(channels.presence().get("streamer:s"), Some(&1));
        channels.disconnect(&c);
        assert!(channels.presence().is_empty());
    }

    #[test]
    fn history_keeps_the_latest_snapshot_and_knows_when_it_no_longer_reaches_back() {
        let channels = Channels::default();
        for seq in 1..=1000 {
            channels.publish(update(seq));
        }
        let c = channels.connect(QueueLimits::default(), Framing::JsonFrame);
        let resumed = channels.subscribe(&c, "streamer:s", Some(3), 100, |_| None);
        assert_eq!(
            resumed,
            Subscribed::Resumed(1),
            "1,000 updates are one snapshot"
        );
        assert_eq!(drain(&c), vec![1000]);

        for seq in 1001..=1000 + CHANNEL_HISTORY as u64 + 5 {
            channels.publish(event(seq));
        }
        let late = channels.connect(QueueLimits::default(), Framing::JsonFrame);
        assert_eq!(
            channels.subscribe(&late, "streamer:s", Some(1001), usize::MAX, |_| None),
            Subscribed::Behind
        );
        assert_eq!(
            channels.presence().get("streamer:s"),
            Some(&1),
            "not yet registered"
        );
        channels.join_after(&late, "streamer:s", 1000 + CHANNEL_HISTORY as u64);
        assert_eq!(
            drain(&late),
            (1001 + CHANNEL_HISTORY as u64..=1005 + CHANNEL_HISTORY as u64).collect::<Vec<_>>()
        );
        let near = channels.connect(QueueLimits::default(), Framing::JsonFrame);
        assert_eq!(
            channels.subscribe(&near, "streamer:s", Some(1400), 3, |_| None),
            Subscribed::Behind,
            "more than the caller accepts"
        );
    }

    #[test]
    fn a_backlog_of_exactly_the_limit_is_replayed_and_one_more_is_behind() {
        let channels = Channels::default();
        for seq in 1..=10 {
            channels.publish(event(seq));
        }
        let at_limit = channels.connect(QueueLimits::default(), Framing::JsonFrame);
        assert_eq!(
            channels.subscribe(&at_limit, "streamer:s", Some(0), 10, |_| None),
            Subscribed::Resumed(10)
        );
        assert_eq!(drain(&at_limit), (1..=10).collect::<Vec<_>>());
        let past_limit = channels.connect(QueueLimits::default(), Framing::JsonFrame);
        assert_eq!(
            channels.subscribe(&past_limit, "streamer:s", Some(0), 9, |_| None),
            Subscribed::Behind
        );
        assert!(drain(&past_limit).is_empty(), "no partial replay");
    }

    #[test]
    fn messages_about_the_client_itself_do_not_count_toward_its_backlog() {
        let channels = Channels::default();
        for seq in 1..=3 {
            channels.publish(event(seq));
        }
        // Its own arrival, which it is never sent, lands in the history before it resumes.
        channels.publish(
            ChannelMessage::new("streamer:s", 4, "device:connected", json!({}), Class::Event)
                .skipping("GM_1")
                .shared(),
        );
        let station = channels.connect(QueueLimits::default(), Framing::JsonFrame);
        station.act_as("GM_1");
        assert_eq!(
            channels.subscribe(&station, "streamer:s", Some(0), 3, |_| None),
            Subscribed::Resumed(4),
            "three messages to send: within a limit of three"
        );
        let other = channels.connect(QueueLimits::default(), Framing::JsonFrame);
        other.act_as("GM_2");
        assert_eq!(
            channels.subscribe(&other, "streamer:s", Some(0), 3, |_| None),
            Subscribed::Behind,
            "another station is sent all four"
        );
    }

    #[test]
    fn batches_are_one_frame_and_a_single_payload_stays_plain() {
        let one = ChannelMessage::batch(
            "s:1",
            5,
            "EVENT_UPDATED",
            vec![json!({"a": 1})],
            Class::Snapshot,
        );
        assert!(one.encoded(Framing::JsonFrame).get().starts_with('{'));
        let two = ChannelMessage::batch(
            "s:1",
            5,
            "EVENT_UPDATED",
            vec![json!({"a": 1}), json!({"b": 2})],
            Class::Snapshot,
        );
        let frames: Vec<Value> =
            serde_json::from_str(two.encoded(Framing::JsonFrame).get()).unwrap();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[1]["payload"]["b"], 2);
        assert_eq!(frames[1]["type"], "EVENT_UPDATED");
    }
}
