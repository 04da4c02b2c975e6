//! A box started in-process on a loopback port for Rust integration tests, and a minimal HTTP
//! client (one request per connection) so the tests need no HTTP client crate.

#![allow(dead_code)] // each test binary uses its own part of this module

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use venuebox::auth::{Role, Secrets};
use venuebox::config::{Config, Overrides};
use venuebox::server::Prepared;
use venuebox::store::faults::FaultPlan;

pub struct TestBox {
    pub addr: SocketAddr,
    pub secrets: Arc<Secrets>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<()>,
}

impl TestBox {
    pub async fn start(
        data_dir: &Path,
        config_toml: &str,
        faults: Option<Arc<FaultPlan>>,
    ) -> TestBox {
        let file = data_dir.with_extension("toml");
        std::fs::write(&file, config_toml).expect("config written");
        let overrides = Overrides {
            listen: Some("127.0.0.1:0".into()),
            data_dir: Some(data_dir.to_path_buf()),
            ..Overrides::default()
        };
        let config = Config::load(Some(&file), &overrides).expect("test config");
        let prepared = match faults {
            Some(plan) => Prepared::with_fault_plan(config, plan),
            None => Prepared::new(config),
        }
        .expect("box prepared");
        let secrets = prepared.secrets.clone();
        let listener = prepared.bind().await.expect("bound");
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            prepared
                .serve(listener, async move {
                    let _ = stopped.await;
                })
                .await
                .expect("served");
        });
        TestBox {
            addr,
            secrets,
            stop: Some(stop),
            server,
        }
    }

    pub fn token(&self, role: Role, sub: &str) -> String {
        self.secrets
            .mint(role, sub, Duration::from_secs(600))
            .unwrap()
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // A box that failed while serving fails the test here, not silently.
        if let Err(e) = (&mut self.server).await {
            panic!("the box's server task failed: {e}");
        }
    }

    pub async fn http(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        http(self.addr, method, path, token, body).await
    }
}

/// One HTTP/1.1 request on a fresh connection; returns status and JSON body.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    http_from(None, addr, method, path, token, body).await
}

/// [`http`] from a chosen loopback address (any 127.x.y.z), as from another device in the room.
pub async fn http_from(
    source: Option<std::net::IpAddr>,
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: box\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = match source {
        None => TcpStream::connect(addr).await.expect("connect"),
        Some(ip) => {
            let socket = tokio::net::TcpSocket::new_v4().expect("socket");
            socket
                .bind(SocketAddr::new(ip, 0))
                .expect("bind the source");
            socket.connect(addr).await.expect("connect")
        }
    };
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    let status = response[9..12].parse().expect("status code");
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    // An empty body is `Null`; anything else must be JSON (every answer of the box is).
    let json = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body).unwrap_or_else(|e| {
            panic!("{method} {path}: {status} with a body that is not JSON ({e}): {body}")
        })
    };
    (status, json)
}

/// Asks `check` every 50 ms until it answers true; panics with `what` after `limit`. For states
/// a background task reaches on its own time: a long limit, never a fixed sleep.
pub async fn wait_until<F, Fut>(what: &str, limit: std::time::Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {limit:?}: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
