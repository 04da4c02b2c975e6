//! Who may hold a connection, and the accept loop both ports run.
//!
//! Every phone in the room can reach the box, and each open connection costs a file
//! descriptor and memory. So a client address may hold only so many connections at once, and
//! all addresses together only so many; a connection over either cap gets a JSON 429 and is
//! closed, with a log line. Connections from the box itself (loopback: the watchdog's and a
//! technician's `curl /healthz`, an SSH tunnel to the console) are never refused: they are the
//! reserve that keeps the box reachable for staff while the room floods it. A request's headers
//! must arrive whole within the header timeout and fit 16 KiB, so a client trickling half a
//! header holds neither its connection forever nor much memory; a client that takes nothing the
//! box sends loses its connection after the unread timeout. An answer given before its
//! request's body was read says `Connection: close`, as the connection will close. TLS
//! handshakes happen after admission, on the connection's own task, with their own time limit.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::{Body as _, Incoming};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// Kernel send buffer per connection. A fixed size (no autotuning up to megabytes) keeps the
/// memory a stalled client can pin small on a Pi, and lets the per-client queues see a slow
/// reader early.
const SOCKET_SEND_BUFFER: usize = 64 * 1024;
/// Most a connection's read buffer may hold: a request line and headers must fit in it (a
/// longer head is answered 431), and it is what a client half-way through a head can pin.
/// hyper's default, about 400 KiB, let each connection a guest opened hold that much until
/// the header timeout, fifteen times what an open connection otherwise costs. Real heads
/// here (a token, a Socket.IO query) are well under 2 KiB.
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// How long a client may take to finish its TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// File descriptors kept for the box itself (database, mpv and its socket, GPIO, logs) when
/// the connection cap is fitted under the process's limit.
const FD_RESERVE: usize = 256;
/// At most one "refusing connections" line per this long, so a flood does not flood the log.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);
/// How long a closed connection is kept to read what the client already sent: closing with
/// unread bytes makes the kernel reset it, and the reset can destroy the box's last answer
/// (a 429, a 413, a WebSocket's 1009 close) before the client reads it.
const CLOSE_LINGER: Duration = Duration::from_secs(1);
/// Connections lingering at once; past this they are closed straight away.
const MAX_LINGERING: usize = 64;
/// Of those, how many may be connections refused over a cap. A client refused again and again
/// is cheap to be, so it may not take every place: served connections (a 413, a 1009 close,
/// each already bounded by its address's cap) always find the rest.
const MAX_LINGERING_REFUSED: usize = MAX_LINGERING / 2;

/// The box's own address a connection came in on (the interface and port the client reached),
/// in each request's extensions beside the peer's.
#[derive(Debug, Clone, Copy)]
pub struct LocalAddr(pub SocketAddr);

/// A stop in progress: when its time is up. `None` while serving.
pub type Stop = watch::Receiver<Option<tokio::time::Instant>>;

/// How long a response that asked to end its connection has to finish before the connection
/// goes: time for a client that is still reading to take its last event.
const END_GRACE: Duration = Duration::from_secs(1);

/// Ends the connection a request came on, from outside hyper's task. An event stream whose
/// browser stopped reading is cut by the channel layer, but hyper polls a response body only
/// when it can write, so the stream itself never runs again to end it: the connection, its
/// descriptor and its place under the address's cap would stay for as long as the kernel
/// keeps probing a closed window. Every request carries its connection's in its extensions.
#[derive(Clone, Default)]
pub struct ConnectionEnd(Arc<Ending>);

#[derive(Default)]
struct Ending {
    asked: tokio::sync::Notify,
    /// Alive while the response that asked is still being sent.
    response: Mutex<std::sync::Weak<()>>,
    /// Set when the connection was ended for its client not reading: its socket is reset
    /// rather than closed, or the kernel would keep its unsent bytes (up to the send buffer)
    /// for minutes, retrying a peer that never reads.
    abandoned: AtomicBool,
}

impl ConnectionEnd {
    /// A fresh one. The accept loop serves each connection with its own and ends it when
    /// asked; one no loop serves (a router in tests) ends nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks for the connection to end if `response` (a token the response's body holds) is
    /// still alive [`END_GRACE`] from now: a client that reads takes the rest of the response
    /// and keeps its connection for its next request. It only signals, so it may be called
    /// from any thread and under any lock.
    pub fn end_unless_sent(&self, response: std::sync::Weak<()>) {
        *self
            .0
            .response
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = response;
        self.0.asked.notify_one();
    }

    /// Whether the response that asked is still unsent.
    fn response_unsent(&self) -> bool {
        let response = self
            .0
            .response
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        response.strong_count() > 0
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ConnectionEnd {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<ConnectionEnd>()
            .cloned()
            .unwrap_or_else(ConnectionEnd::new))
    }
}

/// `[network]` in the config.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionLimits {
    /// Connections one client address may hold at once.
    pub per_address: usize,
    /// Connections all client addresses together may hold at once.
    pub total: usize,
    /// A request's headers must arrive whole within this.
    pub header_timeout: Duration,
    /// How long what the box sent may wait for its client to take it (unacknowledged, or held
    /// back by a receive window the client keeps shut) before the kernel drops the connection
    /// (`TCP_USER_TIMEOUT`, silently: no reset goes out). A client that pipelines requests and
    /// never reads the answers, or a phone gone from the Wi-Fi, would otherwise keep its
    /// connection and a few hundred KiB of kernel buffers for as long as the kernel retries:
    /// without end for a shut window. Long enough for a TV's Wi-Fi to roam or change channel
    /// and its stream to carry on.
    pub unread_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            per_address: 32,
            total: 4096,
            header_timeout: Duration::from_secs(10),
            unread_timeout: Duration::from_secs(120),
        }
    }
}

impl ConnectionLimits {
    /// The limits with the box-wide cap lowered, when needed, to fit the process's open-file
    /// limit: refusing with a 429 is better than failing to accept with "too many open files",
    /// which also hits the loopback reserve.
    pub fn fitted_to_fd_limit(mut self) -> Self {
        if let Some(limit) = open_file_limit() {
            let fits = limit.saturating_sub(FD_RESERVE).max(16);
            if self.total > fits {
                tracing::warn!(
                    configured = self.total,
                    open_file_limit = limit,
                    "network.max_connections lowered to {fits} to fit the open-file limit"
                );
                self.total = fits;
            }
        }
        self
    }
}

/// The soft limit on open files, from `/proc/self/limits` (Linux).
fn open_file_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Counts live connections per client address and in all.
pub struct Gate {
    limits: ConnectionLimits,
    open: Mutex<OpenConnections>,
}

#[derive(Default)]
struct OpenConnections {
    per_address: HashMap<IpAddr, usize>,
    total: usize,
    last_refusal_log: Option<tokio::time::Instant>,
}

/// Why a connection was not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    AddressFull,
    BoxFull,
}

/// A connection's place under the caps, given back when dropped: it travels with the
/// connection's stream, so it lasts as long as the socket, upgraded to a WebSocket or not.
pub struct Admission {
    gate: Arc<Gate>,
    address: Option<IpAddr>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        let Some(address) = self.address else {
            return;
        };
        if let Ok(mut open) = self.gate.open.lock() {
            open.total = open.total.saturating_sub(1);
            if let Some(count) = open.per_address.get_mut(&address) {
                *count -= 1;
                if *count == 0 {
                    open.per_address.remove(&address);
                }
            }
        }
    }
}

impl Gate {
    pub fn new(limits: ConnectionLimits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            open: Mutex::new(OpenConnections::default()),
        })
    }

    /// Lets a connection from `address` in, or says why not.
    pub fn admit(self: &Arc<Self>, address: IpAddr) -> Result<Admission, Refusal> {
        let address = canonical(address);
        if is_the_box_itself(address) {
            return Ok(Admission {
                gate: self.clone(),
                address: None,
            });
        }
        let mut open = self.open.lock().map_err(|_| Refusal::BoxFull)?;
        let from_address = open.per_address.get(&address).copied().unwrap_or(0);
        let refusal = if from_address >= self.limits.per_address {
            Some(Refusal::AddressFull)
        } else if open.total >= self.limits.total {
            Some(Refusal::BoxFull)
        } else {
            None
        };
        if let Some(refusal) = refusal {
            let now = tokio::time::Instant::now();
            if open
                .last_refusal_log
                .is_none_or(|at| now.duration_since(at) >= REFUSAL_LOG_EVERY)
            {
                open.last_refusal_log = Some(now);
                tracing::warn!(
                    %address,
                    from_address,
                    open = open.total,
                    ?refusal,
                    "refusing connections over the cap (logged at most every 10 s)"
                );
            }
            return Err(refusal);
        }
        *open.per_address.entry(address).or_insert(0) += 1;
        open.total += 1;
        Ok(Admission {
            gate: self.clone(),
            address: Some(address),
        })
    }

    /// Connections open from non-loopback addresses.
    pub fn open_connections(&self) -> usize {
        self.open.lock().map_or(0, |open| open.total)
    }
}

/// The box's own address on loopback. Only this one: the rest of 127.0.0.0/8 is how the
/// tests stand in for devices in the room.
pub fn is_the_box_itself(address: IpAddr) -> bool {
    address == IpAddr::from([127, 0, 0, 1])
        || address == IpAddr::from(std::net::Ipv6Addr::LOCALHOST)
}

/// An IPv4 client on a dual-stack socket counts as its IPv4 address.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

/// A connection's stream together with its [`Admission`]. A connection the box closes while its
/// client is still sending (an oversized WebSocket frame, a body past the limit) is not closed
/// at once: see [`linger_then_close`]. It keeps its admission while it lingers, so a client
/// that makes many such closes uses up its own connection cap, not the room's.
struct Admitted {
    stream: Option<TcpStream>,
    admission: Option<Admission>,
    lingering: Arc<AtomicUsize>,
    end: ConnectionEnd,
}

impl Admitted {
    fn stream(&mut self) -> std::io::Result<&mut TcpStream> {
        self.stream
            .as_mut()
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotConnected))
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let (Some(stream), Some(admission)) = (self.stream.take(), self.admission.take()) else {
            return;
        };
        if self.end.0.abandoned.load(Ordering::Relaxed) {
            // Nothing it sent is waiting for an answer it would read.
            let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
            drop(stream);
            drop(admission);
            return;
        }
        // Always, not only when bytes are waiting: a client still sending a body the box
        // refused may have nothing in the kernel's buffer at this instant and more on the way,
        // and a close would then reset the connection under the answer. A client that closed
        // first costs one read that finds its end.
        linger_then_close(stream, Some(admission), &self.lingering, MAX_LINGERING);
    }
}

impl AsyncRead for Admitted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(self.stream()?).poll_read(cx, buf)
    }
}

impl AsyncWrite for Admitted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(self.stream()?).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(self.stream()?).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.as_ref().is_some_and(|s| s.is_write_vectored())
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(self.stream()?).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(self.stream()?).poll_shutdown(cx)
    }
}

/// Closes `stream` so that what the box wrote last reaches the client: it stops writing (the
/// client sees the end after the last answer), then reads and drops what the client sends for
/// up to [`CLOSE_LINGER`], and only then closes. While `most` connections already linger, or
/// outside a runtime, it closes straight away.
fn linger_then_close(
    stream: TcpStream,
    admission: Option<Admission>,
    lingering: &Arc<AtomicUsize>,
    most: usize,
) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    if lingering.fetch_add(1, Ordering::SeqCst) >= most {
        lingering.fetch_sub(1, Ordering::SeqCst);
        return;
    }
    let lingering = lingering.clone();
    runtime.spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = stream;
        let _ = stream.shutdown().await;
        let mut sink = [0u8; 4096];
        let _ = tokio::time::timeout(CLOSE_LINGER, async {
            while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
        })
        .await;
        drop(admission);
        lingering.fetch_sub(1, Ordering::SeqCst);
    });
}

/// Tells a refused client why: one non-blocking write, then a close that lets it read it.
fn refuse(stream: TcpStream, refusal: Refusal, lingering: &Arc<AtomicUsize>) {
    write_refusal(&stream, refusal);
    linger_then_close(stream, None, lingering, MAX_LINGERING_REFUSED);
}

fn write_refusal(stream: &TcpStream, refusal: Refusal) {
    let message = match refusal {
        Refusal::AddressFull => "too many connections from this device; close some and retry",
        Refusal::BoxFull => "the box has too many connections; retry in a moment",
    };
    let body = serde_json::json!({ "code": "RATE_LIMITED", "message": message }).to_string();
    let response = format!(
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: 5\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.try_write(response.as_bytes());
}

/// Serves `app` on `listener` (over TLS with `tls`) until a stop is ordered, then closes the
/// port and lets the open requests finish; returns once every HTTP connection has closed (an
/// upgraded WebSocket is its adapter's to close), or at the stop's deadline.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    gate: Arc<Gate>,
    mut stop: Stop,
) {
    // Every connection task holds a receiver; the loop waits for all of them to be dropped.
    let (connections_done, connection_alive) = watch::channel(());
    let lingering = Arc::new(AtomicUsize::new(0));
    let deadline = loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            deadline = stop.wait_for(Option::is_some) => {
                break deadline.ok().and_then(|d| *d);
            }
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let admission = match gate.admit(peer.ip()) {
            Ok(admission) => admission,
            Err(refusal) => {
                refuse(stream, refusal, &lingering);
                continue;
            }
        };
        let socket = socket2::SockRef::from(&stream);
        if let Err(e) = socket.set_send_buffer_size(SOCKET_SEND_BUFFER) {
            tracing::debug!(error = %e, "cannot bound the socket send buffer");
        }
        // Not for the box's own connections: a technician's SSH tunnel may stall for a while
        // and come back.
        if !is_the_box_itself(canonical(peer.ip())) {
            if let Err(e) = socket.set_tcp_user_timeout(Some(gate.limits.unread_timeout)) {
                tracing::debug!(error = %e, "cannot bound how long sent data may go unread");
            }
        }
        let _ = stream.set_nodelay(true);
        let addresses = Addresses {
            peer,
            local: stream.local_addr().ok(),
        };
        let app = app.clone();
        let tls = tls.clone();
        let stop = stop.clone();
        let alive = connection_alive.clone();
        let lingering = lingering.clone();
        let header_timeout = gate.limits.header_timeout;
        tokio::spawn(async move {
            let end = ConnectionEnd::new();
            let admitted = Admitted {
                stream: Some(stream),
                admission: Some(admission),
                lingering,
                end: end.clone(),
            };
            match tls {
                None => serve_connection(admitted, addresses, end, app, header_timeout, stop).await,
                Some(acceptor) => {
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(admitted))
                        .await
                    {
                        Ok(Ok(tls)) => {
                            serve_connection(tls, addresses, end, app, header_timeout, stop).await
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
            drop(alive);
        });
    };
    // New clients are told no at once (connection refused) rather than left in the backlog.
    drop(listener);
    drop(connection_alive);
    let deadline = deadline.unwrap_or_else(tokio::time::Instant::now);
    let _ = tokio::time::timeout_at(deadline, connections_done.closed()).await;
}

/// A request's body that notes when it has been read to its end.
struct WatchedBody {
    body: Incoming,
    read_whole: Arc<AtomicBool>,
}

impl hyper::body::Body for WatchedBody {
    type Data = axum::body::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.body.is_end_stream() {
            self.read_whole.store(true, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// Both ends of an accepted connection.
#[derive(Debug, Clone, Copy)]
struct Addresses {
    peer: SocketAddr,
    local: Option<SocketAddr>,
}

async fn serve_connection<S>(
    stream: S,
    Addresses { peer, local }: Addresses,
    end: ConnectionEnd,
    app: Router,
    header_timeout: Duration,
    mut stop: Stop,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // Handlers read the peer address as `ConnectInfo`, as with axum's own server. It goes into
    // each request's extensions: layering it onto the router would rebuild every route for
    // each connection (about 100 KiB, and CPU, per connection a guest opens).
    let requests_end = end.clone();
    let service = tower::service_fn(move |request: axum::http::Request<Incoming>| {
        // Only a request with a body to read is watched: most (pages, streams, handshakes)
        // have none, and pay for no flag.
        let read_whole =
            (!request.body().is_end_stream()).then(|| Arc::new(AtomicBool::new(false)));
        let mut request = request.map(|body| match &read_whole {
            Some(flag) => axum::body::Body::new(WatchedBody {
                body,
                read_whole: flag.clone(),
            }),
            None => axum::body::Body::new(body),
        });
        request.extensions_mut().insert(ConnectInfo(peer));
        if let Some(local) = local {
            request.extensions_mut().insert(LocalAddr(local));
        }
        request.extensions_mut().insert(requests_end.clone());
        let answer = app.clone().oneshot(request);
        async move {
            let mut response = answer.await?;
            if read_whole.is_some_and(|flag| !flag.load(Ordering::Relaxed))
                && response.status() != axum::http::StatusCode::SWITCHING_PROTOCOLS
            {
                // hyper closes a connection whose request body was left unread (a 413, a
                // refusal before the body), but does not say so: a client that reuses it for
                // its next request, as browsers and Node's fetch do, loses that request to the
                // close. Saying it lets the client open a fresh connection instead.
                response.headers_mut().insert(
                    axum::http::header::CONNECTION,
                    axum::http::HeaderValue::from_static("close"),
                );
            }
            Ok::<_, std::convert::Infallible>(response)
        }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
        .with_upgrades();
    tokio::pin!(connection);
    let mut draining = false;
    let ended = |result: Result<(), hyper::Error>| {
        if let Err(e) = result {
            tracing::trace!(%peer, error = %e, "connection ended with an error");
        }
    };
    loop {
        let end_asked = tokio::select! {
            result = connection.as_mut() => {
                ended(result);
                break;
            }
            _ = stop.wait_for(Option::is_some), if !draining => {
                draining = true;
                connection.as_mut().graceful_shutdown();
                false
            }
            () = end.0.asked.notified() => true,
        };
        if end_asked {
            // Served on meanwhile: a client that reads finishes the response in time.
            tokio::select! {
                result = connection.as_mut() => {
                    ended(result);
                    break;
                }
                () = tokio::time::sleep(END_GRACE) => {}
            }
            if end.response_unsent() {
                tracing::debug!(%peer, "connection ended: its client stopped reading");
                end.0.abandoned.store(true, Ordering::Relaxed);
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_is_ended_only_while_the_response_that_asked_is_unsent() {
        let end = ConnectionEnd::new();
        assert!(!end.response_unsent(), "nothing asked");
        let sending = Arc::new(());
        end.end_unless_sent(Arc::downgrade(&sending));
        assert!(end.response_unsent());
        drop(sending);
        assert!(
            !end.response_unsent(),
            "sent: the client reads, its connection stays"
        );
    }

    /// Serves `app` as the box does, on a loopback port.
    async fn serving(app: Router) -> (SocketAddr, watch::Sender<Option<tokio::time::Instant>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = watch::channel(None);
        tokio::spawn(serve(
            listener,
            None,
            app,
            Gate::new(limits(8, 64)),
            stopped,
        ));
        (addr, stop)
    }

    /// Reads from `client` until `until` has arrived, or the connection ends: what it read.
    async fn read_until(client: &mut TcpStream, until: &str) -> String {
        use tokio::io::AsyncReadExt;
        let mut got = Vec::new();
        let mut chunk = [0u8; 4096];
        while !String::from_utf8_lossy(&got).contains(until) {
            match tokio::time::timeout(Duration::from_secs(5), client.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => got.extend_from_slice(&chunk[..n]),
                _ => break,
            }
        }
        String::from_utf8_lossy(&got).into_owned()
    }

    /// A route whose response asks to end its connection unless sent; `finish` says whether
    /// its body ever ends after its first chunk.
    fn asking_route(finish: bool) -> Router {
        use axum::routing::get;
        Router::new()
            .route(
                "/asks",
                get(move |end: ConnectionEnd| async move {
                    let sending = Arc::new(());
                    end.end_unless_sent(Arc::downgrade(&sending));
                    let last = futures_util::stream::once(async { Ok("the last event") });
                    let rest = futures_util::stream::once(async move {
                        if !finish {
                            std::future::pending::<()>().await;
                        }
                        drop(sending);
                        Ok::<_, std::convert::Infallible>("")
                    });
                    axum::body::Body::from_stream(futures_util::StreamExt::chain(last, rest))
                }),
            )
            .route("/again", get(|| async { "still here" }))
    }

    /// A client that has asked [`asking_route`] for `/asks`, and the server's stop.
    async fn asked(finish: bool) -> (TcpStream, watch::Sender<Option<tokio::time::Instant>>) {
        use tokio::io::AsyncWriteExt;
        let (addr, stop) = serving(asking_route(finish)).await;
        let mut client = TcpStream::connect(addr).await.unwrap();
        client
            .write_all(b"GET /asks HTTP/1.1\r\nHost: box\r\n\r\n")
            .await
            .unwrap();
        (client, stop)
    }

    #[tokio::test]
    async fn a_client_that_reads_the_response_that_asked_to_end_keeps_its_connection() {
        use tokio::io::AsyncWriteExt;
        let (mut client, _stop) = asked(true).await;
        let first = read_until(&mut client, "0\r\n\r\n").await;
        assert!(first.contains("the last event"), "{first}");
        // Past the grace: a connection ended regardless would be gone by now.
        tokio::time::sleep(END_GRACE + Duration::from_millis(500)).await;
        client
            .write_all(b"GET /again HTTP/1.1\r\nHost: box\r\n\r\n")
            .await
            .expect("the connection is still open past the grace");
        let again = read_until(&mut client, "still here").await;
        assert!(again.starts_with("HTTP/1.1 200"), "{again}");
    }

    #[tokio::test]
    async fn a_response_still_unsent_a_second_after_asking_ends_its_connection() {
        let (mut client, _stop) = asked(false).await;
        // The response's first chunk, then nothing more, and then the connection's end.
        let read = read_until(&mut client, "the end that never comes").await;
        assert!(read.contains("the last event"), "{read}");
        assert!(!read.contains("0\r\n\r\n"), "the response ended: {read}");
        let mut after = [0u8; 16];
        let ended = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::io::AsyncReadExt::read(&mut client, &mut after),
        )
        .await;
        assert!(
            matches!(ended, Ok(Ok(0) | Err(_))),
            "the connection is still open: {ended:?}"
        );
    }

    /// The box's side of a fresh loopback connection, and the client's.
    async fn connected_pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        (listener.accept().await.unwrap().0, client)
    }

    #[tokio::test]
    async fn refused_connections_leave_half_the_lingering_places_to_served_ones() {
        let lingering = Arc::new(AtomicUsize::new(MAX_LINGERING_REFUSED));
        let (refused, _its_client) = connected_pair().await;
        refuse(refused, Refusal::AddressFull, &lingering);
        assert_eq!(
            lingering.load(Ordering::SeqCst),
            MAX_LINGERING_REFUSED,
            "with the refused ones' places taken, one more is closed at once"
        );
        let (served, _its_client) = connected_pair().await;
        linger_then_close(served, None, &lingering, MAX_LINGERING);
        assert_eq!(
            lingering.load(Ordering::SeqCst),
            MAX_LINGERING_REFUSED + 1,
            "a served connection still lingers"
        );
    }

    fn limits(per_address: usize, total: usize) -> ConnectionLimits {
        ConnectionLimits {
            per_address,
            total,
            header_timeout: Duration::from_secs(10),
            unread_timeout: Duration::from_secs(120),
        }
    }

    #[tokio::test]
    async fn each_address_and_the_box_have_a_cap_and_loopback_is_the_reserve() {
        let gate = Gate::new(limits(2, 3));
        let a: IpAddr = "10.42.0.10".parse().unwrap();
        let b: IpAddr = "10.42.0.11".parse().unwrap();
        let first = gate.admit(a).unwrap();
        let _second = gate.admit(a).unwrap();
        assert_eq!(gate.admit(a).err(), Some(Refusal::AddressFull));
        let _third = gate.admit(b).unwrap();
        assert_eq!(gate.admit(b).err(), Some(Refusal::BoxFull));
        let _local = gate.admit("127.0.0.1".parse().unwrap()).unwrap();
        let _local6 = gate.admit("::1".parse().unwrap()).unwrap();
        assert_eq!(
            gate.admit("127.0.0.2".parse().unwrap()).err(),
            Some(Refusal::BoxFull),
            "only the box's own address is the reserve"
        );
        assert_eq!(gate.open_connections(), 3);
        drop(first);
        assert_eq!(gate.open_connections(), 2);
        let _again = gate.admit(a).unwrap();
    }

    #[tokio::test]
    async fn a_mapped_ipv4_client_counts_as_its_ipv4_address() {
        let gate = Gate::new(limits(1, 10));
        let _v4 = gate.admit("10.42.0.10".parse().unwrap()).unwrap();
        let mapped: IpAddr = "::ffff:10.42.0.10".parse().unwrap();
        assert_eq!(gate.admit(mapped).err(), Some(Refusal::AddressFull));
    }
}
