//! Server-Sent Events: a client's channel-layer queue as a `text/event-stream` response, for
//! screens and phones where a WebSocket does not get through (a proxy, an old browser). It is
//! the SSE twin of [`super::json_ws`] and knows no contract: the contract registers the client
//! and subscribes it (resuming after [`last_event_id`] when the browser sends one), then hands
//! the registration here.
//!
//! Each message is one event: `id:` is a cursor (the layer's publish order, so one cursor
//! resumes a stream of several channels; what the browser sends back as `Last-Event-ID` when
//! it reconnects), `event:` its kind where the contract names events (without it a browser's
//! `onmessage` receives everything), `data:` the client's framing of it, encoded once per
//! framing and shared like every other delivery. A state sent on connect has no `id:`, so a
//! browser that reconnects before anything new happened is sent the state again. The stream
//! opens with `retry:` (how long a browser waits before reconnecting); a comment goes out
//! every `keepalive` so idle proxies keep the stream open and a dead peer is noticed. A client
//! the channel layer cuts (queue overflow, restart) gets a last `close` event with the code and
//! reason, as a WebSocket client would get a close frame; the stream also ends when the
//! client's token runs out.
//!
//! Each stream holds a [`StreamSlot`]: an address may hold only so many at once, since every
//! guest's phone reaches the box and an open stream costs a connection and a queue.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use serde_json::json;

use super::channels::{Client, Membership, Next, StreamCursor};
use super::errors::{ErrorCode, WireError};
use crate::connections::ConnectionEnd;

/// The event a cut client gets last: `{"code": …, "reason": …}`.
pub const CLOSE_EVENT: &str = "close";

/// The `Last-Event-ID` a reconnecting browser sends: the cursor of the event it saw last (or a
/// log sequence). Absent is `None`; anything else is refused, so a client never silently
/// starts over.
pub fn last_event_id(headers: &HeaderMap) -> Result<Option<StreamCursor>, WireError> {
    let Some(raw) = headers.get("last-event-id") else {
        return Ok(None);
    };
    let text = raw.to_str().unwrap_or("").trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|()| {
        WireError::new(
            ErrorCode::InvalidData,
            "Last-Event-ID must be the id of an event this box sent",
        )
    })
}

/// How a contract's streams look and last.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// A comment goes out this often.
    pub keepalive: Duration,
    /// Sent as `retry:` first: how long the browser waits before it reconnects.
    pub retry: Duration,
    /// Each event carries `event:` with the message's kind; without it `onmessage` gets all.
    pub named_events: bool,
    /// The stream ends when the caller's token does.
    pub token_left: Duration,
}

/// Streams `registration`'s queue until the client is cut, the token runs out or the browser
/// goes away; the client leaves the channel layer, and `slot` is given back, when it ends. A
/// client cut for not reading has its connection ended too (`connection`): hyper, waiting to
/// write to it, would never run this stream again to see the cut.
pub fn stream(
    registration: Membership,
    options: Options,
    slot: StreamSlot,
    connection: ConnectionEnd,
) -> Response {
    // Held by the body until its last event is handed to hyper.
    let sending = Arc::new(());
    let unsent = Arc::downgrade(&sending);
    registration
        .client()
        .when_too_slow(move || connection.end_unless_sent(unsent.clone()));
    let first = futures_util::stream::once(async move {
        Ok::<_, Infallible>(Event::default().retry(options.retry).comment("hello"))
    });
    let events = events(
        (registration, slot, sending),
        options.named_events,
        tokio::time::Instant::now() + options.token_left,
    );
    Sse::new(futures_util::StreamExt::chain(first, events))
        .keep_alive(
            KeepAlive::new()
                .interval(options.keepalive)
                .text("keepalive"),
        )
        .into_response()
}

/// The client's queue as SSE events, in order.
fn events(
    held: (Membership, StreamSlot, Arc<()>),
    named: bool,
    expires_at: tokio::time::Instant,
) -> impl Stream<Item = Result<Event, Infallible>> {
    futures_util::stream::unfold(Some(held), move |state| async move {
        // `None`: the close event went out, the stream is over.
        let held = state?;
        let client = held.0.client().clone();
        loop {
            match client.next() {
                Next::Send(msg) => {
                    let mut event = Event::default();
                    if named {
                        event = event.event(msg.kind);
                    }
                    event = event.data(client.frame_of(&msg).get());
                    if let Some(cursor) = client.cursor_after(&msg) {
                        event = event.id(cursor);
                    }
                    // Handed to the response body; the kernel's send buffer is bounded per
                    // connection, so a stalled browser fills its queue and is cut.
                    client.delivered(&msg);
                    return Some((Ok(event), Some(held)));
                }
                Next::Close(code, reason) => {
                    return Some((Ok(close_event(code, &reason)), None));
                }
                Next::Wait => {
                    if !wait_or_expire(&client, expires_at).await {
                        let expired =
                            close_event(super::json_ws::CLOSE_TOKEN_EXPIRED, "token expired");
                        return Some((Ok(expired), None));
                    }
                }
            }
        }
    })
}

/// Waits for the client's queue; false when the token ran out first.
async fn wait_or_expire(client: &Arc<Client>, expires_at: tokio::time::Instant) -> bool {
    tokio::select! {
        () = client.ready() => true,
        () = tokio::time::sleep_until(expires_at) => false,
    }
}

fn close_event(code: u16, reason: &str) -> Event {
    Event::default()
        .event(CLOSE_EVENT)
        .data(json!({ "code": code, "reason": reason }).to_string())
}

/// Open streams per client address, shared by a contract's SSE endpoints. A stream the channel
/// layer cut (its browser stopped reading) no longer counts, even while its connection
/// lingers in a full send buffer: the address gets its place back at once.
pub struct StreamSlots {
    per_address: usize,
    open: Mutex<HashMap<IpAddr, Vec<Weak<Client>>>>,
}

/// One open stream of one address; given back when dropped.
pub struct StreamSlot {
    slots: Arc<StreamSlots>,
    address: IpAddr,
    client: Weak<Client>,
}

impl StreamSlots {
    pub fn new(per_address: usize) -> Arc<Self> {
        Arc::new(Self {
            per_address,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for `client` at `address`, or a 429 when the address already holds its share.
    pub fn take(
        self: &Arc<Self>,
        address: IpAddr,
        client: &Arc<Client>,
    ) -> Result<StreamSlot, WireError> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let held = open.entry(address).or_default();
        held.retain(|c| c.upgrade().is_some_and(|c| !c.is_cut()));
        if held.len() >= self.per_address {
            return Err(WireError::new(
                ErrorCode::RateLimited,
                format!(
                    "this address already holds {} event streams; close one first",
                    self.per_address
                ),
            ));
        }
        held.push(Arc::downgrade(client));
        Ok(StreamSlot {
            slots: self.clone(),
            address,
            client: Arc::downgrade(client),
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self
            .slots
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(held) = open.get_mut(&self.address) {
            held.retain(|c| !c.ptr_eq(&self.client) && c.strong_count() > 0);
            if held.is_empty() {
                open.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::channels::{ChannelMessage, Channels, Class, Framing, QueueLimits};
    use futures_util::StreamExt;

    fn limits() -> QueueLimits {
        QueueLimits {
            messages: 16,
            bytes: 64 * 1024,
        }
    }

    fn options(named_events: bool, token_left: Duration) -> Options {
        Options {
            keepalive: Duration::from_secs(600),
            retry: Duration::from_secs(3),
            named_events,
            token_left,
        }
    }

    fn slot(client: &Arc<Client>) -> StreamSlot {
        StreamSlots::new(1)
            .take(IpAddr::from([192, 168, 4, 20]), client)
            .expect("a free slot")
    }

    /// Reads the body until `want` events (blank-line separated, comments skipped) arrived.
    async fn read_events(body: axum::body::Body, want: usize) -> Vec<String> {
        let mut body = body.into_data_stream();
        let mut text = String::new();
        let mut events = Vec::new();
        while events.len() < want {
            // Longer than any token in these tests: with the clock paused it is skipped ahead.
            let data = tokio::time::timeout(Duration::from_secs(120), body.next())
                .await
                .expect("an event within 120 s")
                .expect("the stream is still open")
                .expect("a body chunk");
            text.push_str(std::str::from_utf8(&data).expect("SSE is UTF-8"));
            while let Some(end) = text.find("\n\n") {
                let event: String = text[..end].to_string();
                text.drain(..end + 2);
                if !event.starts_with(':') && !event.starts_with("retry:") {
                    events.push(event);
                }
            }
        }
        events
    }

    fn msg(channel: &str, seq: u64) -> Arc<ChannelMessage> {
        ChannelMessage::new(channel, seq, "SCORE", json!({ "n": seq }), Class::Event).shared()
    }

    #[tokio::test]
    async fn messages_carry_a_cursor_their_kind_and_the_clients_framing() {
        let channels = Arc::new(Channels::starting_after(0));
        let membership = channels.join(limits(), Framing::JsonFrame);
        let client = membership.client().clone();
        channels.subscribe(&client, "game:1", None, 10, |_| None);
        let slot = slot(membership.client());
        let response = stream(
            membership,
            options(true, Duration::from_secs(60)),
            slot,
            ConnectionEnd::new(),
        );
        assert_eq!(
            response.headers()["content-type"],
            "text/event-stream",
            "what EventSource accepts"
        );
        channels.publish(msg("game:1", 7));
        channels.publish(msg("game:1", 8));
        let events = read_events(response.into_body(), 2).await;
        let (head, id) = events[0].rsplit_once("\nid: ").expect("an id");
        assert_eq!(
            head,
            "event: SCORE\ndata: {\"channel\":\"game:1\",\"payload\":{\"n\":7},\"seq\":7,\"type\":\"SCORE\"}"
        );
        assert!(id.ends_with("-1"), "the first message published: {id}");
        assert!(events[1].ends_with("-2"), "{}", events[1]);
        assert_eq!(client.delivered_on("game:1"), 8);
    }

    #[tokio::test]
    async fn unnamed_events_resume_across_channels_in_publish_order() {
        let channels = Arc::new(Channels::starting_after(0));
        let topics = ["a".to_string(), "b".to_string()];
        let first = channels.join(limits(), Framing::DataWithType);
        channels.join_stream_after(first.client(), &topics, 0);
        let first_slot = slot(first.client());
        let response = stream(
            first,
            options(false, Duration::from_secs(60)),
            first_slot,
            ConnectionEnd::new(),
        );
        channels.publish(msg("a", 1));
        let seen = read_events(response.into_body(), 1).await;
        assert_eq!(
            seen[0].lines().next(),
            Some("data: {\"n\":1,\"type\":\"SCORE\"}")
        );
        let cursor: StreamCursor = seen[0].rsplit_once("id: ").unwrap().1.parse().unwrap();
        // Gone; the same commit lands on both channels, then another on the first.
        channels.publish(msg("b", 2));
        channels.publish(msg("a", 2));
        channels.publish(msg("a", 3));
        let back = channels.join(limits(), Framing::DataWithType);
        let resumed = channels.resume_stream(back.client(), &topics, cursor, 10, |_| true);
        assert_eq!(resumed, crate::wire::channels::Subscribed::Resumed(3));
        let back_slot = slot(back.client());
        let response = stream(
            back,
            options(false, Duration::from_secs(60)),
            back_slot,
            ConnectionEnd::new(),
        );
        let events = read_events(response.into_body(), 3).await;
        let order: Vec<&str> = events.iter().map(|e| e.lines().next().unwrap()).collect();
        assert_eq!(
            order,
            [
                "data: {\"n\":2,\"type\":\"SCORE\"}",
                "data: {\"n\":2,\"type\":\"SCORE\"}",
                "data: {\"n\":3,\"type\":\"SCORE\"}"
            ]
        );
        let restarted = Channels::starting_after(3);
        let late = restarted.connect(limits(), Framing::DataWithType);
        assert_eq!(
            restarted.resume_stream(&late, &topics, cursor, 10, |_| true),
            crate::wire::channels::Subscribed::Behind,
            "a cursor from before a restart is never taken for one of this run"
        );
    }

    #[tokio::test]
    async fn a_cut_client_gets_a_close_event_and_the_stream_ends() {
        let channels = Arc::new(Channels::starting_after(0));
        let membership = channels.join(limits(), Framing::JsonFrame);
        let client = membership.client().clone();
        let slot = slot(membership.client());
        let response = stream(
            membership,
            options(true, Duration::from_secs(60)),
            slot,
            ConnectionEnd::new(),
        );
        client.cut(1012, "restarting");
        let events = read_events(response.into_body(), 1).await;
        assert_eq!(
            events[0],
            "event: close\ndata: {\"code\":1012,\"reason\":\"restarting\"}"
        );
        assert_eq!(
            channels.presence().values().sum::<usize>(),
            0,
            "left the channel layer"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_stream_closes_when_the_token_runs_out() {
        let channels = Arc::new(Channels::starting_after(0));
        let membership = channels.join(limits(), Framing::JsonFrame);
        let slot = slot(membership.client());
        let response = stream(
            membership,
            options(true, Duration::from_secs(30)),
            slot,
            ConnectionEnd::new(),
        );
        let events = read_events(response.into_body(), 1).await;
        assert_eq!(
            events[0],
            format!(
                "event: close\ndata: {{\"code\":{},\"reason\":\"token expired\"}}",
                super::super::json_ws::CLOSE_TOKEN_EXPIRED
            )
        );
    }

    #[test]
    fn an_address_holds_so_many_streams_and_gets_them_back() {
        let channels = Channels::starting_after(0);
        let client = || channels.connect(limits(), Framing::JsonFrame);
        let slots = StreamSlots::new(2);
        let phone = IpAddr::from([192, 168, 4, 21]);
        let (one, two, three) = (client(), client(), client());
        let a = slots.take(phone, &one).unwrap();
        let _b = slots.take(phone, &two).unwrap();
        assert_eq!(
            slots.take(phone, &three).err().map(|e| e.code),
            Some(ErrorCode::RateLimited)
        );
        let elsewhere = slots.take(IpAddr::from([192, 168, 4, 22]), &three);
        assert!(elsewhere.is_ok(), "others unaffected");
        drop(a);
        let _c = slots
            .take(phone, &three)
            .expect("a closed stream gives its slot back");
        assert!(slots.take(phone, &one).is_err());
        three.cut(4008, "too slow");
        assert!(
            slots.take(phone, &one).is_ok(),
            "a cut stream gives its slot back at once"
        );
    }

    #[test]
    fn last_event_id_is_a_cursor_or_refused() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert("last-event-id", value.parse().unwrap());
            last_event_id(&headers)
        };
        assert_eq!(last_event_id(&HeaderMap::new()).unwrap(), None);
        assert_eq!(with("42").unwrap(), Some(StreamCursor::Seq(42)));
        assert_eq!(
            with("ff-7").unwrap(),
            Some(StreamCursor::Published {
                epoch: 255,
                ordinal: 7
            })
        );
        assert_eq!(with(" ").unwrap(), None);
        for bad in ["abc", "zz-1", "1-x", "-", "1-2-3"] {
            assert_eq!(with(bad).unwrap_err().code, ErrorCode::InvalidData, "{bad}");
        }
    }
}
