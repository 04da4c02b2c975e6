//! The reset button: held for the hold time (3 s by default) it resets the session; anything
//! shorter does nothing. Staff see it register: after the feedback delay (1 s) all LEDs blink
//! fast until the reset fires or the button is let go. Presses while the box boots or recovers
//! are ignored with a log line.
//!
//! The reset fires as soon as the hold time is reached, without waiting for the release, so the
//! LEDs confirm it while the finger is still on the button.

use crate::config::ButtonTiming;

use tokio::sync::{mpsc, watch};
use tokio::time::{sleep_until, Instant};

use super::leds::{ButtonFeedback, Phase};
use super::ButtonEdge;

/// Follows the button's edges and sends one `()` on `resets` per completed hold.
pub async fn run_reset_button(
    mut edges: mpsc::Receiver<ButtonEdge>,
    timing: ButtonTiming,
    phase: watch::Receiver<Phase>,
    feedback: watch::Sender<ButtonFeedback>,
    resets: mpsc::Sender<()>,
) {
    loop {
        match edges.recv().await {
            Some(ButtonEdge::Pressed) => {}
            Some(ButtonEdge::Released) => continue,
            None => return,
        }
        let current = *phase.borrow();
        if current != Phase::Running {
            tracing::info!(phase = ?current, "reset button pressed while the box is not ready; ignored");
            continue;
        }
        let pressed_at = Instant::now();
        let feedback_at = pressed_at + timing.feedback_after;
        let fire_at = pressed_at + timing.hold;
        let mut fired = false;
        let mut showing = false;
        loop {
            tokio::select! {
                edge = edges.recv() => match edge {
                    Some(ButtonEdge::Released) => break,
                    Some(ButtonEdge::Pressed) => {}
                    None => return,
                },
                _ = sleep_until(feedback_at), if !showing && !fired => {
                    showing = true;
                    feedback.send_replace(ButtonFeedback::Held);
                }
                _ = sleep_until(fire_at), if !fired => {
                    fired = true;
                    feedback.send_replace(ButtonFeedback::Idle);
                    tracing::info!("reset button held {:?}: resetting the session", timing.hold);
                    if resets.send(()).await.is_err() {
                        return;
                    }
                }
            }
        }
        if !fired {
            feedback.send_replace(ButtonFeedback::Idle);
            tracing::info!(
                held_ms = pressed_at.elapsed().as_millis() as u64,
                "reset button released before the hold time; nothing done"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    struct Rig {
        edges: mpsc::Sender<ButtonEdge>,
        phase: watch::Sender<Phase>,
        feedback: watch::Receiver<ButtonFeedback>,
        resets: mpsc::Receiver<()>,
    }

    fn rig() -> Rig {
        let (edges, edge_rx) = mpsc::channel(8);
        let (phase, phase_rx) = watch::channel(Phase::Running);
        let (feedback_tx, feedback) = watch::channel(ButtonFeedback::Idle);
        let (reset_tx, resets) = mpsc::channel(8);
        tokio::spawn(run_reset_button(
            edge_rx,
            ButtonTiming::default(),
            phase_rx,
            feedback_tx,
            reset_tx,
        ));
        Rig {
            edges,
            phase,
            feedback,
            resets,
        }
    }

    impl Rig {
        async fn hold(&mut self, ms: u64) {
            self.edges.send(ButtonEdge::Pressed).await.unwrap();
            tokio::time::sleep(Duration::from_millis(ms)).await;
            self.edges.send(ButtonEdge::Released).await.unwrap();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn short_presses_and_a_2_9_s_hold_do_nothing() {
        let mut rig = rig();
        rig.hold(200).await;
        rig.hold(2900).await;
        assert!(rig.resets.try_recv().is_err());
        assert_eq!(*rig.feedback.borrow(), ButtonFeedback::Idle);
    }

    #[tokio::test(start_paused = true)]
    async fn a_3_s_hold_resets_once_with_feedback_from_the_first_second() {
        let mut rig = rig();
        rig.edges.send(ButtonEdge::Pressed).await.unwrap();
        tokio::time::sleep(Duration::from_millis(900)).await;
        assert_eq!(*rig.feedback.borrow(), ButtonFeedback::Idle);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            *rig.feedback.borrow(),
            ButtonFeedback::Held,
            "fast blink after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(2000)).await;
        assert!(rig.resets.try_recv().is_ok(), "reset at 3 s, still held");
        // Held on for much longer: still one reset.
        tokio::time::sleep(Duration::from_secs(10)).await;
        rig.edges.send(ButtonEdge::Released).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(rig.resets.try_recv().is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn presses_during_boot_or_recovery_are_ignored() {
        let mut rig = rig();
        for phase in [Phase::Booting, Phase::Recovering] {
            rig.phase.send_replace(phase);
            rig.hold(5000).await;
            assert!(rig.resets.try_recv().is_err(), "{phase:?}");
            assert_eq!(*rig.feedback.borrow(), ButtonFeedback::Idle);
        }
        rig.phase.send_replace(Phase::Running);
        rig.hold(3100).await;
        assert!(rig.resets.try_recv().is_ok());
    }
}
