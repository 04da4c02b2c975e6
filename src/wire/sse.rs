//! Server-Sent Events: a client's channel-layer queue as a `text/event-stream` response, for
//! screens and phones where a WebSocket does not get through (a proxy, an old browser). It is
//! the SSE twin of [`super::json_ws`] and knows no contract: the contract registers the client
//! and subscribes it (resuming after [`last_event_id`] when the browser sends one), then hands
//! the registration here.
//!
//! Each message is one event: `id:` is its channel sequence (what the browser sends back as
//! `Last-Event-ID` when it reconnects), `event:` its kind, `data:` the client's framing of it,
//! encoded once per framing and shared like every other delivery. A comment goes out every
//! `keepalive` so idle proxies keep the stream open and a dead peer is noticed. A client the
//! channel layer cuts (queue overflow, restart) gets a last `close` event with the code and
//! reason, as a WebSocket client would get a close frame; the stream also ends when the
//! client's token runs out.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use serde_json::json;

use super::channels::{Client, Membership, Next};
use super::errors::{ErrorCode, WireError};

/// The event a cut client gets last: `{"code": …, "reason": …}`.
pub const CLOSE_EVENT: &str = "close";

/// The `Last-Event-ID` a reconnecting browser sends: the sequence it saw last. Absent is
/// `None`; anything but a number is refused, so a client never silently starts over.
pub fn last_event_id(headers: &HeaderMap) -> Result<Option<u64>, WireError> {
    let Some(raw) = headers.get("last-event-id") else {
        return Ok(None);
    };
    let text = raw.to_str().unwrap_or("").trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| {
        WireError::new(
            ErrorCode::InvalidData,
            "Last-Event-ID must be the sequence number of an event this box sent",
        )
    })
}

/// Streams `registration`'s queue until the client is cut, the token runs out (`token_left`)
/// or the browser goes away; the client leaves the channel layer when the stream ends.
pub fn stream(registration: Membership, keepalive: Duration, token_left: Duration) -> Response {
    let events = events(registration, tokio::time::Instant::now() + token_left);
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(keepalive).text("keepalive"))
        .into_response()
}

/// The client's queue as SSE events, in order.
fn events(
    registration: Membership,
    expires_at: tokio::time::Instant,
) -> impl Stream<Item = Result<Event, Infallible>> {
    futures_util::stream::unfold(Some(registration), move |state| async move {
        // `None`: the close event went out, the stream is over.
        let registration = state?;
        let client = registration.client().clone();
        loop {
            match client.next() {
                Next::Send(msg) => {
                    let event = Event::default()
                        .event(msg.kind)
                        .data(client.frame_of(&msg).get());
                    let event = if msg.channel.is_empty() {
                        event
                    } else {
                        event.id(msg.seq.to_string())
                    };
                    // Handed to the response body; the kernel's send buffer is bounded per
                    // connection, so a stalled browser fills its queue and is cut.
                    client.delivered(&msg);
                    return Some((Ok(event), Some(registration)));
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
                if !event.starts_with(':') {
                    events.push(event);
                }
            }
        }
        events
    }

    #[tokio::test]
    async fn messages_carry_their_sequence_kind_and_the_clients_framing() {
        let channels = Arc::new(Channels::starting_after(0));
        let membership = channels.join(limits(), Framing::JsonFrame);
        let client = membership.client().clone();
        channels.subscribe(&client, "game:1", None, 10, |_| None);
        let response = stream(membership, Duration::from_secs(15), Duration::from_secs(60));
        assert_eq!(
            response.headers()["content-type"],
            "text/event-stream",
            "what EventSource accepts"
        );
        let msg = |seq| {
            ChannelMessage::new("game:1", seq, "SCORE", json!({ "n": seq }), Class::Event).shared()
        };
        channels.publish(msg(7));
        channels.publish(msg(8));
        let events = read_events(response.into_body(), 2).await;
        assert_eq!(
            events[0],
            "event: SCORE\ndata: {\"channel\":\"game:1\",\"payload\":{\"n\":7},\"seq\":7,\"type\":\"SCORE\"}\nid: 7"
        );
        assert!(events[1].ends_with("id: 8"), "{}", events[1]);
        assert_eq!(client.delivered_on("game:1"), 8);
    }

    #[tokio::test]
    async fn a_cut_client_gets_a_close_event_and_the_stream_ends() {
        let channels = Arc::new(Channels::starting_after(0));
        let membership = channels.join(limits(), Framing::JsonFrame);
        let client = membership.client().clone();
        let response = stream(membership, Duration::from_secs(15), Duration::from_secs(60));
        client.cut(1012, "restarting");
        let mut body = response.into_body().into_data_stream();
        let first = body.next().await.expect("a close event").expect("a chunk");
        assert_eq!(
            std::str::from_utf8(&first).unwrap(),
            "event: close\ndata: {\"code\":1012,\"reason\":\"restarting\"}\n\n"
        );
        assert!(body.next().await.is_none(), "the stream ended");
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
        let response = stream(
            membership,
            Duration::from_secs(600),
            Duration::from_secs(30),
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
    fn last_event_id_is_a_sequence_or_refused() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert("last-event-id", value.parse().unwrap());
            last_event_id(&headers)
        };
        assert_eq!(last_event_id(&HeaderMap::new()).unwrap(), None);
        assert_eq!(with("42").unwrap(), Some(42));
        assert_eq!(with(" ").unwrap(), None);
        let refused = with("abc").unwrap_err();
        assert_eq!(refused.code, ErrorCode::InvalidData);
    }
}
