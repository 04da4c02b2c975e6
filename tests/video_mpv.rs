//! The mpv backend against a real, headless mpv (`--vo=null --ao=null`) playing clips made
//! here with ffmpeg. `tests/run.sh` installs both (Debian packages `mpv` and `ffmpeg`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tokio::sync::mpsc;

use venuebox::hardware::mpv::{MpvPlayer, MpvSettings};
use venuebox::hardware::{PlaybackEnd, PlayerCommand, PlayerReport, VideoBackend};

fn require(tool: &str) {
    let found = Command::new(tool).arg("-version").output().is_ok()
        || Command::new(tool).arg("--version").output().is_ok();
    assert!(
        found,
        "`{tool}` is not installed: run tests/run.sh (it installs it) or `apt install mpv ffmpeg`"
    );
}

/// A test-pattern clip of `secs` seconds.
fn clip(dir: &Path, name: &str, secs: f64) -> PathBuf {
    require("ffmpeg");
    let path = dir.join(name);
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc=duration={secs}:size=64x48:rate=10"))
        .args(["-c:v", "mpeg4"])
        .arg(&path)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg could not make {name}");
    path
}

struct Player {
    commands: mpsc::Sender<PlayerCommand>,
    reports: mpsc::Receiver<PlayerReport>,
    socket: PathBuf,
}

/// Starts the player and waits until mpv is up.
async fn start(dir: &Path, idle_loop: Option<PathBuf>) -> Player {
    require("mpv");
    let socket = dir.join("mpv.sock");
    let (commands, command_rx) = mpsc::channel(8);
    let (report_tx, reports) = mpsc::channel(256);
    Box::new(MpvPlayer {
        settings: MpvSettings {
            program: "mpv".into(),
            ipc_socket: socket.clone(),
            args: vec!["--vo=null".into(), "--ao=null".into()],
            idle_loop,
        },
    })
    .spawn(command_rx, report_tx);
    let mut player = Player {
        commands,
        reports,
        socket,
    };
    player
        .until(10, |r| *r == PlayerReport::Available(true))
        .await;
    player
}

impl Player {
    async fn play(&self, token: &str, path: &Path) {
        self.commands
            .send(PlayerCommand::Play {
                token_id: token.into(),
                path: path.into(),
                duration_secs: None,
            })
            .await
            .unwrap();
    }

    async fn send(&self, command: PlayerCommand) {
        self.commands.send(command).await.unwrap();
    }

    /// The next report matching `wanted`, within `secs`; the ones before it are returned too.
    async fn until(
        &mut self,
        secs: u64,
        wanted: impl Fn(&PlayerReport) -> bool,
    ) -> (PlayerReport, Vec<PlayerReport>) {
        let mut before = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let report = tokio::time::timeout_at(deadline, self.reports.recv())
                .await
                .unwrap_or_else(|_| panic!("timed out; reports so far: {before:?}"))
                .expect("the player task is running");
            if wanted(&report) {
                return (report, before);
            }
            before.push(report);
        }
    }

    async fn ended(&mut self, secs: u64) -> (String, PlaybackEnd, Vec<PlayerReport>) {
        let (report, before) = self
            .until(secs, |r| matches!(r, PlayerReport::Ended { .. }))
            .await;
        match report {
            PlayerReport::Ended { token_id, outcome } => (token_id, outcome, before),
            _ => unreachable!(),
        }
    }

    /// Kills the running mpv with SIGKILL, found by its IPC socket on the command line.
    fn kill_mpv(&self) {
        let needle = format!("--input-ipc-server={}", self.socket.display());
        let mut killed = 0;
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            if args.contains(&needle.as_bytes()) {
                let pid = entry.file_name().to_string_lossy().to_string();
                Command::new("kill").args(["-KILL", &pid]).status().unwrap();
                killed += 1;
            }
        }
        assert_eq!(killed, 1, "exactly one mpv runs for this player");
    }
}

#[tokio::test]
async fn plays_to_completion_with_progress() {
    let dir = tempfile::tempdir().unwrap();
    let video = clip(dir.path(), "a.mp4", 2.0);
    let mut player = start(dir.path(), None).await;
    player.play("tok-a", &video).await;
    let (token, outcome, before) = player.ended(15).await;
    assert_eq!((token.as_str(), outcome), ("tok-a", PlaybackEnd::Completed));
    let progress: Vec<(f64, Option<f64>)> = before
        .iter()
        .filter_map(|r| match r {
            PlayerReport::Progress {
                token_id,
                position_secs,
                duration_secs,
            } if token_id == "tok-a" => Some((*position_secs, *duration_secs)),
            _ => None,
        })
        .collect();
    assert!(!progress.is_empty(), "progress was reported: {before:?}");
    assert!(progress
        .iter()
        .any(|(_, d)| d.is_some_and(|d| (d - 2.0).abs() < 0.3)));
}

#[tokio::test]
async fn pause_holds_the_video_and_resume_finishes_it() {
    let dir = tempfile::tempdir().unwrap();
    let video = clip(dir.path(), "b.mp4", 2.0);
    let mut player = start(dir.path(), None).await;
    player.play("tok-b", &video).await;
    player
        .until(10, |r| matches!(r, PlayerReport::Progress { .. }))
        .await;
    player.send(PlayerCommand::Pause).await;
    // Paused for longer than the clip: it must not end.
    let waited = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            if let Some(PlayerReport::Ended { .. }) = player.reports.recv().await {
                return;
            }
        }
    })
    .await;
    assert!(waited.is_err(), "a paused video ended");
    player.send(PlayerCommand::Resume).await;
    let (token, outcome, _) = player.ended(15).await;
    assert_eq!((token.as_str(), outcome), ("tok-b", PlaybackEnd::Completed));
}

#[tokio::test]
async fn a_skipped_video_reports_nothing_and_the_next_one_plays() {
    let dir = tempfile::tempdir().unwrap();
    let long = clip(dir.path(), "long.mp4", 30.0);
    let short = clip(dir.path(), "short.mp4", 1.0);
    let idle = clip(dir.path(), "idle.mp4", 1.0);
    let mut player = start(dir.path(), Some(idle)).await;
    player.play("tok-long", &long).await;
    player
        .until(
            10,
            |r| matches!(r, PlayerReport::Progress { token_id, .. } if token_id == "tok-long"),
        )
        .await;
    // The domain decided the skip; the player only obeys and does not report an end for it.
    player.send(PlayerCommand::Stop).await;
    player.play("tok-short", &short).await;
    let (token, outcome, before) = player.ended(15).await;
    assert_eq!(
        (token.as_str(), outcome),
        ("tok-short", PlaybackEnd::Completed)
    );
    assert!(
        !before
            .iter()
            .any(|r| matches!(r, PlayerReport::Ended { .. })),
        "{before:?}"
    );
    // Back on the idle loop, which is never reported as a token video.
    let quiet = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            match player.reports.recv().await {
                Some(PlayerReport::Ended { .. } | PlayerReport::Progress { .. }) => return,
                Some(_) => {}
                None => std::future::pending::<()>().await,
            }
        }
    })
    .await;
    assert!(quiet.is_err(), "the idle loop was reported as a video");
}

#[tokio::test]
async fn a_missing_or_corrupt_file_is_an_error_and_the_player_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let good = clip(dir.path(), "good.mp4", 1.0);
    let corrupt = dir.path().join("corrupt.mp4");
    std::fs::write(&corrupt, b"this is not a video file at all").unwrap();
    let mut player = start(dir.path(), None).await;

    player
        .play("tok-missing", &dir.path().join("nope.mp4"))
        .await;
    let (token, outcome, _) = player.ended(10).await;
    assert_eq!(token, "tok-missing");
    assert!(
        matches!(&outcome, PlaybackEnd::Failed(why) if why.contains("cannot play")),
        "{outcome:?}"
    );

    player.play("tok-corrupt", &corrupt).await;
    let (token, outcome, _) = player.ended(10).await;
    assert_eq!(token, "tok-corrupt");
    assert!(matches!(outcome, PlaybackEnd::Failed(_)), "{outcome:?}");

    player.play("tok-good", &good).await;
    let (token, outcome, _) = player.ended(15).await;
    assert_eq!(
        (token.as_str(), outcome),
        ("tok-good", PlaybackEnd::Completed)
    );
}

#[tokio::test]
async fn killing_mpv_mid_video_fails_that_video_and_the_supervisor_brings_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let long = clip(dir.path(), "long.mp4", 30.0);
    let short = clip(dir.path(), "short.mp4", 1.0);
    let mut player = start(dir.path(), None).await;
    player.play("tok-long", &long).await;
    player
        .until(
            10,
            |r| matches!(r, PlayerReport::Progress { token_id, .. } if token_id == "tok-long"),
        )
        .await;

    player.kill_mpv();
    let (token, outcome, _) = player.ended(10).await;
    assert_eq!(token, "tok-long");
    assert!(
        matches!(&outcome, PlaybackEnd::Failed(why) if why.contains("stopped")),
        "{outcome:?}"
    );
    player
        .until(10, |r| *r == PlayerReport::Available(false))
        .await;
    // A video asked for while it is down plays once it is back.
    player.play("tok-short", &short).await;
    player
        .until(20, |r| *r == PlayerReport::Available(true))
        .await;
    let (token, outcome, _) = player.ended(15).await;
    assert_eq!(
        (token.as_str(), outcome),
        ("tok-short", PlaybackEnd::Completed)
    );
}
