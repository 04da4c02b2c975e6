//! A small HTTP/1.1 client for the load generator: one connection kept open across requests.

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// One HTTP/1.1 connection kept open across requests, as a phone's browser keeps it.
pub struct HttpConnection {
    host: String,
    stream: BufReader<TcpStream>,
}

impl HttpConnection {
    pub async fn open(base: &str) -> Result<Self, String> {
        let host = base.trim_start_matches("http://").to_string();
        let stream = TcpStream::connect(&host)
            .await
            .map_err(|e| format!("connect {host}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        Ok(HttpConnection {
            host,
            stream: BufReader::new(stream),
        })
    }

    /// Sends one request and reads its whole answer: (status, body).
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        token: &str,
        body: &Value,
    ) -> Result<(u16, String), String> {
        let body = body.to_string();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.host,
            body.len()
        );
        let io = |e: std::io::Error| e.to_string();
        let stream = self.stream.get_mut();
        stream.write_all(head.as_bytes()).await.map_err(io)?;
        stream.write_all(body.as_bytes()).await.map_err(io)?;
        let mut line = String::new();
        self.stream.read_line(&mut line).await.map_err(io)?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("no status line: {line:?}"))?;
        let mut length = 0usize;
        loop {
            line.clear();
            if self.stream.read_line(&mut line).await.map_err(io)? == 0 {
                return Err("connection closed mid-answer".into());
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().map_err(|_| "bad content-length")?;
                }
            }
        }
        let mut answer = vec![0; length];
        self.stream.read_exact(&mut answer).await.map_err(io)?;
        Ok((status, String::from_utf8_lossy(&answer).into_owned()))
    }
}
