//! The floor venuebox's Socket.IO delivery is measured against: a bare socketioxide server that
//! answers the seed 004 station calls the load generator makes and broadcasts each
//! `transaction:new` with the library's own `within(rooms).emit` (the packet encoded once, handed
//! to every socket's Engine.IO queue). No domain, no disk, no tokens, no queues of its own: what
//! it costs per delivered message is what the library costs.
//!
//! ```text
//! target/release/examples/floor --listen 127.0.0.1:0    # prints "listening on http://…"
//! ```
//!
//! Tokens are accepted as the Node.js peer accepts them: one starting with `admin` joins the
//! `admin` room; anything else is a station.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{json, Value};
use socketioxide::extract::{AckSender, SocketRef, State, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::SocketIo;

/// Numbers the transactions, so each `transaction:new` differs as the box's do.
#[derive(Clone, Default)]
struct Counter(std::sync::Arc<AtomicU64>);

/// Registers a socket's handlers. It runs as connect middleware, before the client is told it
/// is connected: socketioxide spawns the connect handler itself after that reply has gone out,
/// so a station's `gm:identify` could arrive before a handler registered there and be lost.
async fn on_connect(
    socket: SocketRef,
    TryData(auth): TryData<Value>,
) -> Result<(), std::convert::Infallible> {
    let token = auth
        .as_ref()
        .ok()
        .and_then(|auth| auth.get("token"))
        .and_then(Value::as_str)
        .unwrap_or("");
    if token.starts_with("admin") {
        socket.join("admin");
    }
    socket.on(
        "gm:identify",
        |socket: SocketRef, TryData(data): TryData<Value>, ack: AckSender| async move {
            socket.join("gm-stations");
            let station = data.ok().and_then(|d| d.get("stationId").cloned());
            let _ = ack.send(&json!({ "success": true, "stationId": station }));
        },
    );
    socket.on(
        "transaction:submit",
        |socket: SocketRef,
         TryData(data): TryData<Value>,
         ack: AckSender,
         State(counter): State<Counter>| async move {
            let id = counter.0.fetch_add(1, Ordering::Relaxed);
            let data = data.unwrap_or_default();
            // The box's `transaction:new`, field for field (seed 004's envelope and
            // transaction), so both servers put the same bytes on the wire.
            let now = "2026-12-03T02:56:41.123Z";
            let transaction = json!({
                "id": format!("tx-{id}"),
                "tokenId": data.get("tokenId"),
                "teamId": data.get("teamId"),
                "scannerId": data.get("stationId").or(data.get("deviceId")),
                "deviceType": "gm",
                "sessionId": "5f0c1f3e-6a57-4b1d-9a55-3f0d2c9b8e21",
                "timestamp": now,
                "recordedAt": now,
                "status": "accepted",
                "rejectionReason": null,
                "points": 100,
                "memoryType": "Technical",
                "valueRating": 3,
                "group": null,
                "clientScanId": data.get("scanId"),
                "videoQueued": false,
            });
            let envelope =
                json!({ "event": "transaction:new", "data": &transaction, "timestamp": now });
            let _ = socket
                .within(["gm-stations", "admin"])
                .emit("transaction:new", &envelope)
                .await;
            let _ = ack.send(&json!({ "success": true, "transaction": transaction }));
        },
    );
    socket.on("heartbeat", |ack: AckSender| async move {
        let _ = ack.send(&json!({ "success": true }));
    });
    Ok(())
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let listen = args
        .iter()
        .position(|a| a == "--listen")
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let (layer, io) = SocketIo::builder()
        .with_state(Counter::default())
        .build_layer();
    io.ns("/", (async || {}).with(on_connect));
    let app = axum::Router::new().layer(layer);
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .expect("bind the floor's address");
    let addr = listener.local_addr().expect("bound address");
    println!("floor listening on http://{addr}");
    axum::serve(listener, app).await.expect("serve");
}
