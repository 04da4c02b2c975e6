//! A client that stops reading is let go: an event stream's is cut and its connection goes
//! with it, and a connection whose answers go untaken is dropped by the kernel's limit on
//! unread data. The real server on loopback, raw TCP clients with a small receive buffer that
//! never read.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use common::TestBox;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use venuebox::auth::Role;

/// Opens two connections from `source` at once and asks each for `/healthz`: whether both were
/// let in (a connection over the address's cap is answered 429 and closed).
async fn two_connections_get_in(addr: SocketAddr, source: IpAddr) -> bool {
    let mut answers = Vec::new();
    let mut streams = Vec::new();
    for _ in 0..2 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(source, 0)).unwrap();
        streams.push(socket.connect(addr).await.unwrap());
    }
    for stream in &mut streams {
        let _ = stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: box\r\nConnection: close\r\n\r\n")
            .await;
    }
    for stream in &mut streams {
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
        answers.push(answer);
    }
    answers.iter().all(|a| a.starts_with(b"HTTP/1.1 200"))
}

/// The box's side of `client`'s connection in Linux's socket table, if it is still there.
fn box_side_of(box_addr: SocketAddr, client: SocketAddr) -> Option<String> {
    let client_port = client.port();
    let tcp = std::fs::read_to_string("/proc/net/tcp").expect("Linux's socket table");
    tcp.lines()
        .skip(1)
        .find(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.len() > 3
                && fields[1].ends_with(&format!(":{:04X}", box_addr.port()))
                && fields[2].ends_with(&format!(":{client_port:04X}"))
        })
        .map(str::to_string)
}

/// A box on which a connection held shows: two connections an address, and the longest
/// header timeout, so nothing but what a test looks at gives a connection back within it.
/// `more` goes on in the `[network]` section, or starts sections of its own.
async fn box_holding_connections(dir: &std::path::Path, more: &str) -> TestBox {
    TestBox::start(
        &dir.join("data"),
        &format!("[network]\nmax_connections_per_address = 2\nheader_timeout_secs = 300\n{more}"),
        None,
    )
    .await
}

/// A connection from `source` whose receive buffer is small, so a client that does not read
/// stops taking what the box sends after a few KiB.
async fn small_window_connection(addr: SocketAddr, source: IpAddr) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.bind(SocketAddr::new(source, 0)).unwrap();
    socket.connect(addr).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_pipelines_requests_and_never_reads_loses_its_connection() {
    let dir = tempfile::tempdir().unwrap();
    // The box's limit on unread data at its shortest.
    let the_box = box_holding_connections(dir.path(), "unread_timeout_secs = 5\n").await;
    let guest: IpAddr = "127.0.0.3".parse().unwrap();
    let mut reader_of_nothing = small_window_connection(the_box.addr, guest).await;
    // Requests for the console's script (23 KB each), far more answers than the buffers on
    // both sides hold; the box stops reading requests once it cannot write answers.
    let requests = "GET /console/console.js HTTP/1.1\r\nHost: box\r\n\r\n".repeat(200);
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        reader_of_nothing.write_all(requests.as_bytes()),
    )
    .await;
    let (box_addr, client) = (the_box.addr, reader_of_nothing.local_addr().unwrap());
    assert!(
        box_side_of(box_addr, client).is_some(),
        "the connection was let in and is waiting on its client"
    );
    common::wait_until(
        "the box drops a connection whose client takes nothing it sends",
        Duration::from_secs(60),
        || async move { box_side_of(box_addr, client).is_none() },
    )
    .await;
    common::wait_until(
        "the address's connections are given back",
        Duration::from_secs(10),
        || two_connections_get_in(the_box.addr, guest),
    )
    .await;
    the_box.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sse_client_that_stops_reading_is_cut_and_its_connection_given_back() {
    let dir = tempfile::tempdir().unwrap();
    // Small queues, so a few hundred KiB of announcements overflow this client's.
    let the_box = box_holding_connections(
        dir.path(),
        "[realtime]\nqueue_messages = 32\nqueue_bytes = 32768\n",
    )
    .await;
    let admin = the_box.token(Role::Admin, "staff");
    let (status, event) = the_box
        .http(
            "POST",
            "/api/events",
            &admin,
            Some(json!({"name": "Field day", "public": true})),
        )
        .await;
    assert_eq!(status, 201, "{event}");
    let event_id = event["id"].as_u64().expect("an event id");

    // A phone in the room that opens the stream and then reads nothing, ever.
    let phone: IpAddr = "127.0.0.2".parse().unwrap();
    let mut stalled = small_window_connection(the_box.addr, phone).await;
    stalled
        .write_all(
            format!(
                "GET /api/events/{event_id}/stream/ HTTP/1.1\r\nHost: box\r\nAccept: text/event-stream\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();

    // About 600 KiB: more than the stalled client's kernel buffers and its queue hold.
    let message = "x".repeat(1_500);
    for n in 0..400 {
        let (status, body) = the_box
            .http(
                "POST",
                "/api/announcements",
                &admin,
                Some(json!({
                    "event_id": event_id,
                    "title": format!("notice {n}"),
                    "message": message,
                    "type": "general",
                    "priority": "normal",
                })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }

    // Cut, its stream ended: with the connection still open (hyper waiting to write to a
    // client that never reads), the phone could open only one more.
    common::wait_until(
        "the stalled stream's connection is given back: two more from its address get in",
        Duration::from_secs(20),
        || two_connections_get_in(the_box.addr, phone),
    )
    .await;

    // Reset, not closed: a closed socket would keep what the phone never read in the box's
    // kernel for minutes (FIN-WAIT-1), retrying a peer that does not read.
    let box_side = box_side_of(the_box.addr, stalled.local_addr().unwrap());
    assert!(
        box_side.is_none(),
        "the box's socket is still there: {box_side:?}"
    );

    // The box closed it: what the phone's buffers hold, then the end (or a reset), not silence.
    let mut received = Vec::new();
    let ended =
        tokio::time::timeout(Duration::from_secs(10), stalled.read_to_end(&mut received)).await;
    assert!(ended.is_ok(), "the stalled connection is still open");
    assert!(
        received.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&received[..received.len().min(200)])
    );
    the_box.stop().await;
}
