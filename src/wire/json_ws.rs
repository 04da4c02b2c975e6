//! The JSON-over-WebSocket connection every plain WebSocket contract shares (`/realtime`,
//! `/ws/stream`): a writer that drains the client's queue in the channel layer, and a reader
//! that enforces what every such socket needs whatever it speaks — the frame limit (1009), frames
//! the protocol forbids (1002) or text that is not UTF-8 (1007) named in the close, a
//! command budget, pings answered within an interval (4000), and the token's expiry (4001).
//! The contract only says what a text frame means.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{SinkExt, StreamExt};

use super::channels::{ChannelMessage, Client, Membership, Next};
use super::ratelimit::RateLimit;

/// Close code for a client that did not answer pings.
pub const CLOSE_NO_PONG: u16 = 4000;
/// Close code when the client's token expires while connected.
pub const CLOSE_TOKEN_EXPIRED: u16 = 4001;
/// Close code for a frame the WebSocket protocol forbids (unmasked, a reserved opcode or bit, a
/// fragmented or oversized control frame, a continuation with nothing to continue).
pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;
/// Close code for a text frame that is not UTF-8.
pub const CLOSE_NOT_UTF8: u16 = 1007;
/// Close code for a frame over the limit (the WebSocket "message too big").
pub const CLOSE_TOO_BIG: u16 = 1009;
/// Close code when the box restarts (the WebSocket "service restart").
pub const CLOSE_RESTARTING: u16 = 1012;

/// What one connection may do; each contract picks its own.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest inbound frame, in bytes (also set on the upgrade).
    pub max_frame_bytes: usize,
    /// A ping goes out this often; a client that answered none of the last is closed.
    pub ping_every: Duration,
    /// Commands per second, and at once; over it a frame is dropped with a notice.
    pub commands_per_second: u32,
    pub command_burst: u32,
}

/// What the contract did with a text frame.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Handled {
    /// It was the contract's own pong (a JSON `{"action": "pong"}`, say).
    pub pong: bool,
    /// The contract awaited something long (a catch-up from the log) before answering: the
    /// client's pongs were not read meanwhile, so the ping clock starts again.
    pub waited: bool,
}

/// What the reader tells the client in the contract's own shape; `None` where the contract
/// says nothing (a read-only socket ignores what it is sent).
pub trait Notices {
    /// A command dropped over the budget.
    fn rate_limited(&self, per_second: u32) -> Option<Arc<ChannelMessage>>;
    /// A binary frame, where the contract speaks JSON text.
    fn binary_refused(&self) -> Option<Arc<ChannelMessage>>;
}

/// Serves one upgraded socket until either side closes: `on_text` handles each text frame.
/// `registration` is the client's place in the channel layer; it is left when the socket ends.
pub async fn serve<F, Fut>(
    socket: WebSocket,
    registration: Membership,
    limits: Limits,
    token_left: Duration,
    notices: &impl Notices,
    on_text: F,
) where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Handled>,
{
    let client = registration.client().clone();
    let (sink, stream) = socket.split();
    let writer = tokio::spawn(write_loop(client.clone(), sink));
    read_loop(&client, stream, limits, token_left, notices, on_text).await;
    drop(registration);
    // The writer ends on the close (ours or the client's); give it a moment to send it.
    client.cut(1000, "bye");
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
}

type Sink = futures_util::stream::SplitSink<WebSocket, Message>;
type Stream = futures_util::stream::SplitStream<WebSocket>;

async fn write_loop(client: Arc<Client>, mut sink: Sink) {
    // Frames queued together go out in one write: each is fed to the socket's buffer, which is
    // flushed once the queue is drained (never held back waiting for more).
    let mut unflushed = false;
    loop {
        if client.take_ping_request() && sink.send(Message::Ping(Vec::new().into())).await.is_err()
        {
            break;
        }
        match client.next() {
            Next::Send(msg) => {
                if sink
                    .feed(Message::Text(client.frame_of(&msg).get().to_owned().into()))
                    .await
                    .is_err()
                {
                    break;
                }
                unflushed = true;
                client.delivered(&msg);
            }
            Next::Close(code, reason) => {
                let frame = CloseFrame {
                    code,
                    reason: reason.into(),
                };
                let sent = tokio::time::timeout(
                    Duration::from_secs(1),
                    sink.send(Message::Close(Some(frame))),
                )
                .await;
                if !matches!(sent, Ok(Ok(()))) {
                    // The client closed first: the WebSocket library has its reply (the
                    // client's own code) queued, and refuses a second close; flushing sends the
                    // reply, so the client sees a clean close rather than 1006.
                    let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
                }
                break;
            }
            Next::Wait if unflushed => {
                if sink.flush().await.is_err() {
                    break;
                }
                unflushed = false;
            }
            Next::Wait => client.ready().await,
        }
    }
}

async fn read_loop<F, Fut>(
    client: &Arc<Client>,
    mut stream: Stream,
    limits: Limits,
    token_left: Duration,
    notices: &impl Notices,
    mut on_text: F,
) where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Handled>,
{
    let mut ping = tokio::time::interval(limits.ping_every);
    // Ticks missed while a catch-up was awaited must not all fire at once on return.
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await;
    let mut answered = true;
    let mut commands = RateLimit::new(
        limits.command_burst,
        Duration::from_secs(u64::from(
            (limits.command_burst / limits.commands_per_second.max(1)).max(1),
        )),
    );
    let mut warned_at: Option<tokio::time::Instant> = None;
    // The token was checked at the upgrade; it stops being good while the socket is open.
    let expiry = tokio::time::sleep(token_left);
    tokio::pin!(expiry);
    loop {
        tokio::select! {
            () = &mut expiry => {
                client.cut(CLOSE_TOKEN_EXPIRED, "token expired: log in again and resume with lastSeq");
                break;
            }
            frame = stream.next() => {
                let frame = match frame {
                    Some(Ok(frame)) => frame,
                    Some(Err(e)) => {
                        if let Some((code, reason)) = close_for_read_error(e, &limits) {
                            client.cut(code, &reason);
                        }
                        break;
                    }
                    None => break,
                };
                let is_command = matches!(frame, Message::Text(_) | Message::Binary(_));
                if is_command && !commands.try_take() {
                    // Dropped, with a notice at most once a second so the warning is no flood.
                    let now = tokio::time::Instant::now();
                    if warned_at.is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1)) {
                        warned_at = Some(now);
                        if let Some(notice) = notices.rate_limited(limits.commands_per_second) {
                            client.push(notice);
                        }
                    }
                    continue;
                }
                match frame {
                    Message::Text(text) => {
                        let handled = on_text(text.as_str().to_owned()).await;
                        if handled.pong || handled.waited {
                            answered = true;
                        }
                        if handled.waited {
                            ping.reset();
                        }
                    }
                    Message::Pong(_) => answered = true,
                    Message::Close(_) => break,
                    Message::Binary(_) => {
                        if let Some(notice) = notices.binary_refused() {
                            client.push(notice);
                        }
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
                client.request_ping();
            }
        }
        if client.is_cut() {
            break;
        }
    }
}

/// The RFC 6455 close code (and its reason) for a frame the client got wrong, so a broken or
/// hostile device learns what it did instead of seeing the box go away: 1009 for a frame over the
/// limit (the length is checked before any of it is read), 1007 for text that is not UTF-8, 1002
/// for a frame the protocol forbids. `None` when the connection itself failed: nobody is left to
/// tell.
fn close_for_read_error(error: axum::Error, limits: &Limits) -> Option<(u16, String)> {
    use tokio_tungstenite::tungstenite::error::ProtocolError;
    use tokio_tungstenite::tungstenite::Error;
    let error = *error.into_inner().downcast::<Error>().ok()?;
    match error {
        Error::Capacity(_) => Some((
            CLOSE_TOO_BIG,
            format!("frame over {} bytes", limits.max_frame_bytes),
        )),
        Error::Utf8(_) => Some((CLOSE_NOT_UTF8, "text frame is not UTF-8".to_owned())),
        Error::Protocol(
            violation @ (ProtocolError::NonZeroReservedBits
            | ProtocolError::UnmaskedFrameFromClient
            | ProtocolError::FragmentedControlFrame
            | ProtocolError::ControlFrameTooBig
            | ProtocolError::UnknownControlFrameType(_)
            | ProtocolError::UnknownDataFrameType(_)
            | ProtocolError::UnexpectedContinueFrame
            | ProtocolError::ExpectedFragment(_)
            | ProtocolError::InvalidOpcode(_)
            | ProtocolError::InvalidCloseSequence),
        ) => Some((CLOSE_PROTOCOL_ERROR, violation.to_string())),
        _ => None,
    }
}
