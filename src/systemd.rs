//! The systemd service protocol, spoken directly over `$NOTIFY_SOCKET` (a Unix datagram socket):
//! `READY=1` once the log is recovered and the port is bound, `WATCHDOG=1` while the engine
//! answers, `STOPPING=1` when draining. Outside systemd (no `$NOTIFY_SOCKET`) it does nothing.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use crate::domain::Command;
use crate::engine::EngineHandle;

/// Sends one notification; false when not under systemd or the send failed.
pub fn notify(state: &str) -> bool {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return false;
    };
    let Ok(socket) = UnixDatagram::unbound() else {
        return false;
    };
    let bytes = path.as_encoded_bytes();
    let sent = match bytes.strip_prefix(b"@") {
        // An abstract socket: the name after '@' with a leading NUL.
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            std::os::unix::net::SocketAddr::from_abstract_name(name)
                .and_then(|addr| socket.send_to_addr(state.as_bytes(), &addr))
        }
        None => socket.send_to(state.as_bytes(), &path),
    };
    sent.is_ok()
}

/// The watchdog interval systemd asks for (`WatchdogSec=`), if it is meant for this process.
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.parse::<u32>().ok()? != std::process::id() {
            return None;
        }
    }
    (usec > 0).then(|| Duration::from_micros(usec))
}

/// Pings the watchdog at half its interval, but only after the engine answered a round trip:
/// a stuck engine stops the pings and systemd restarts the box.
pub async fn run_watchdog(engine: EngineHandle, interval: Duration) {
    let every = interval / 2;
    let mut ticker = tokio::time::interval(every);
    loop {
        ticker.tick().await;
        match tokio::time::timeout(every, engine.execute(Command::Ping)).await {
            Ok(Ok(_)) => {
                notify("WATCHDOG=1");
            }
            Ok(Err(e)) => tracing::error!(error = %e, "engine not answering; watchdog not fed"),
            Err(_) => tracing::error!("engine did not answer in time; watchdog not fed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_reach_the_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        // The test harness runs tests on threads of one process: set and read in one test.
        std::env::set_var("NOTIFY_SOCKET", &path);
        assert!(notify("READY=1"));
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
        std::env::remove_var("NOTIFY_SOCKET");
        assert!(!notify("READY=1"), "outside systemd nothing is sent");

        std::env::set_var("WATCHDOG_USEC", "20000000");
        std::env::set_var("WATCHDOG_PID", std::process::id().to_string());
        assert_eq!(watchdog_interval(), Some(Duration::from_secs(20)));
        std::env::set_var("WATCHDOG_PID", "1");
        assert_eq!(watchdog_interval(), None, "meant for another process");
        std::env::remove_var("WATCHDOG_USEC");
        std::env::remove_var("WATCHDOG_PID");
    }
}
