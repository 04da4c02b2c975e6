//! The status LEDs: which pattern the box state calls for ([`frame_for`], a pure function, tabled
//! in the README) and the task that blinks them on tokio time ([`run_status_leds`]).
//!
//! Three LEDs, each with its own job so staff can read them at a glance: green is the box and
//! the session, amber the GM stations and the video, red a fault. Button feedback overrides all
//! three while the reset button is held and just after a reset.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::{Led, LedPattern, StatusLeds, StatusSender};

/// Where the box is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Booting,
    /// Replaying the log after an unclean shutdown.
    Recovering,
    Running,
}

/// What the reset button wants shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ButtonFeedback {
    #[default]
    Idle,
    /// Held past the feedback delay: a reset is coming if it stays held.
    Held,
    /// A reset just happened.
    Done,
}

/// Everything the LEDs depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedInputs {
    pub phase: Phase,
    pub storage_fault: bool,
    pub video_down: bool,
    pub video_playing: bool,
    pub session: Option<SessionLight>,
    pub gm_stations: usize,
    pub button: ButtonFeedback,
}

impl Default for LedInputs {
    fn default() -> Self {
        Self {
            phase: Phase::Booting,
            storage_fault: false,
            video_down: false,
            video_playing: false,
            session: None,
            gm_stations: 0,
            button: ButtonFeedback::Idle,
        }
    }
}

/// What the green LED says about the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionLight {
    Active,
    Paused,
}

/// The game's part of the LED inputs, read from the published state by the contract that runs
/// the room (`gm::lights`): the box's hardware knows what to show, not how a game is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GameLights {
    /// `None`: no session, or one that has ended.
    pub session: Option<SessionLight>,
    pub video_playing: bool,
    pub gm_stations: usize,
}

impl LedInputs {
    pub fn set_game(&mut self, game: GameLights) {
        self.session = game.session;
        self.video_playing = game.video_playing;
        self.gm_stations = game.gm_stations;
    }
}

/// How one LED behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Light {
    Off,
    On,
    Blink {
        on_ms: u64,
        off_ms: u64,
    },
    /// `n` short flashes, then a pause: counts GM stations.
    Count(u8),
}

const COUNT_FLASH_MS: u64 = 150;
const COUNT_GAP_MS: u64 = 250;
const COUNT_PAUSE_MS: u64 = 1500;
/// The count shown for five stations or more.
pub const MAX_COUNT: u8 = 5;

impl Light {
    /// Is the LED lit `elapsed_ms` into the pattern?
    pub fn lit_at(self, elapsed_ms: u64) -> bool {
        match self {
            Light::Off => false,
            Light::On => true,
            Light::Blink { on_ms, off_ms } => elapsed_ms % (on_ms + off_ms).max(1) < on_ms,
            Light::Count(n) => {
                let n = u64::from(n);
                let cycle = n * (COUNT_FLASH_MS + COUNT_GAP_MS) + COUNT_PAUSE_MS;
                let at = elapsed_ms % cycle;
                at < n * (COUNT_FLASH_MS + COUNT_GAP_MS)
                    && at % (COUNT_FLASH_MS + COUNT_GAP_MS) < COUNT_FLASH_MS
            }
        }
    }
}

/// A pattern: its name and what each LED does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedFrame {
    pub pattern: LedPattern,
    pub green: Light,
    pub amber: Light,
    pub red: Light,
}

impl LedFrame {
    pub fn light(&self, led: Led) -> Light {
        match led {
            Led::Green => self.green,
            Led::Amber => self.amber,
            Led::Red => self.red,
        }
    }
}

/// On for `on_ms`, then off for `off_ms`, over and over.
const fn blink(on_ms: u64, off_ms: u64) -> Light {
    Light::Blink { on_ms, off_ms }
}

/// 1 Hz.
const SLOW: Light = blink(500, 500);
/// 4 Hz.
const FAST: Light = blink(125, 125);
/// 5 Hz: the reset button is held.
const RAPID: Light = blink(100, 100);
/// A short flash every 2 s: ready.
const HEARTBEAT: Light = blink(100, 1900);
/// 1 s on, 1 s off: paused.
const BREATHE: Light = blink(1000, 1000);

/// The pattern for a box state. Button feedback first (staff are looking at the box), then
/// boot phases, then faults, video and the session.
pub fn frame_for(inputs: &LedInputs) -> LedFrame {
    let all = |pattern, light| LedFrame {
        pattern,
        green: light,
        amber: light,
        red: light,
    };
    match inputs.button {
        ButtonFeedback::Held => return all(LedPattern::ResetHeld, RAPID),
        ButtonFeedback::Done => return all(LedPattern::ResetDone, Light::On),
        ButtonFeedback::Idle => {}
    }
    match inputs.phase {
        Phase::Booting => {
            return LedFrame {
                pattern: LedPattern::Booting,
                green: SLOW,
                amber: Light::Off,
                red: Light::Off,
            }
        }
        Phase::Recovering => {
            return LedFrame {
                pattern: LedPattern::Recovering,
                green: FAST,
                amber: FAST,
                red: Light::Off,
            }
        }
        Phase::Running => {}
    }
    let green = match inputs.session {
        Some(SessionLight::Active) => Light::On,
        Some(SessionLight::Paused) => BREATHE,
        _ => HEARTBEAT,
    };
    let amber = if inputs.video_playing {
        Light::On
    } else if inputs.gm_stations == 0 {
        Light::Off
    } else {
        Light::Count(inputs.gm_stations.min(usize::from(MAX_COUNT)) as u8)
    };
    let red = if inputs.storage_fault {
        Light::On
    } else if inputs.video_down {
        SLOW
    } else {
        Light::Off
    };
    let pattern = if inputs.storage_fault {
        LedPattern::StorageFault
    } else if inputs.video_down {
        LedPattern::VideoFault
    } else if inputs.video_playing {
        LedPattern::VideoPlaying
    } else {
        match inputs.session {
            Some(SessionLight::Active) => LedPattern::SessionActive,
            Some(SessionLight::Paused) => LedPattern::SessionPaused,
            _ => LedPattern::Ready,
        }
    };
    LedFrame {
        pattern,
        green,
        amber,
        red,
    }
}

/// The box waiting for its data partition: green slow blink (starting), red on (a fault). Not
/// one of [`LedPattern`]'s: it is shown before the box serves anything that could report it.
pub const NO_DATA_PARTITION: (Light, Light, Light) = (SLOW, Light::Off, Light::On);

/// Shows `lights` (green, amber, red) with plain thread sleeps until `done` answers true, asking
/// it every `poll`. For the time before the async runtime and the box exist.
pub fn show_until(
    leds: &mut dyn StatusLeds,
    (green, amber, red): (Light, Light, Light),
    poll: Duration,
    mut done: impl FnMut() -> bool,
) {
    let started = std::time::Instant::now();
    let mut last_poll: Option<std::time::Instant> = None;
    let mut lit: [Option<bool>; 3] = [None; 3];
    loop {
        if last_poll.is_none_or(|at| at.elapsed() >= poll) {
            if done() {
                return;
            }
            last_poll = Some(std::time::Instant::now());
        }
        let elapsed = started.elapsed().as_millis() as u64;
        for (i, (led, light)) in Led::ALL.into_iter().zip([green, amber, red]).enumerate() {
            let on = light.lit_at(elapsed);
            if lit[i] != Some(on) {
                leds.set(led, on);
                lit[i] = Some(on);
            }
        }
        std::thread::sleep(TICK);
    }
}

/// How often blinking LEDs are updated.
const TICK: Duration = Duration::from_millis(50);

/// Blinks the LEDs for the current inputs until the inputs' sender is gone. A new pattern starts
/// its blink cycle from the beginning, so a count is always read from its first flash.
pub async fn run_status_leds(
    mut inputs: watch::Receiver<LedInputs>,
    mut leds: Box<dyn StatusLeds>,
    status: StatusSender,
) {
    let mut frame = frame_for(&inputs.borrow_and_update());
    let mut since = Instant::now();
    let mut lit: [Option<bool>; 3] = [None; 3];
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        let elapsed = since.elapsed().as_millis() as u64;
        let mut changed = false;
        for (i, led) in Led::ALL.into_iter().enumerate() {
            let on = frame.light(led).lit_at(elapsed);
            if lit[i] != Some(on) {
                leds.set(led, on);
                lit[i] = Some(on);
                changed = true;
            }
        }
        if changed || status.borrow().leds != frame.pattern {
            let now_lit = lit.map(|l| l == Some(true));
            status.send_if_modified(|s| {
                let differs = s.leds != frame.pattern || s.lit != now_lit;
                s.leds = frame.pattern;
                s.lit = now_lit;
                differs
            });
        }
        tokio::select! {
            _ = ticker.tick() => {}
            changed = inputs.changed() => {
                if changed.is_err() {
                    break;
                }
                let next = frame_for(&inputs.borrow_and_update());
                if next != frame {
                    if next.pattern != frame.pattern {
                        tracing::info!(pattern = ?next.pattern, "status LEDs");
                    }
                    frame = next;
                    since = Instant::now();
                }
            }
        }
    }
    for led in Led::ALL {
        leds.set(led, false);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn running() -> LedInputs {
        LedInputs {
            phase: Phase::Running,
            ..LedInputs::default()
        }
    }

    /// The cell for `led` in `pattern`'s row of the technicians' LED table.
    pub(crate) fn documented(pattern: &str, led: Led) -> String {
        let docs = include_str!("../../docs/technicians.md");
        let row = docs
            .lines()
            .find(|l| l.starts_with(&format!("| `{pattern}` |")))
            .unwrap_or_else(|| panic!("docs/technicians.md has no row for {pattern}"));
        let column = match led {
            Led::Green => 2,
            Led::Amber => 3,
            Led::Red => 4,
        };
        row.split('|')
            .nth(column)
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    fn documented_green(pattern: &str) -> String {
        documented(pattern, Led::Green)
    }

    /// Asserts that `light` blinks evenly at the frequency the cell names ("… (4 Hz)").
    fn assert_blinks_as_documented(light: Light, cell: &str) {
        let period = 1000 / number_before(cell, "Hz");
        assert_eq!(
            lit_and_dark(light, period),
            (period / 2, period / 2),
            "{cell}"
        );
        assert!(
            (0..period).all(|t| light.lit_at(t) == light.lit_at(t + period)),
            "{cell}"
        );
    }

    /// Milliseconds lit and dark in one period of `light`.
    fn lit_and_dark(light: Light, period_ms: u64) -> (u64, u64) {
        let lit = (0..period_ms).filter(|t| light.lit_at(*t)).count() as u64;
        (lit, period_ms - lit)
    }

    fn number_before(text: &str, unit: &str) -> u64 {
        let at = text
            .find(unit)
            .unwrap_or_else(|| panic!("{unit:?} in {text:?}"));
        let digits: String = text[..at]
            .trim_end()
            .chars()
            .rev()
            .take_while(char::is_ascii_digit)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        digits
            .parse()
            .unwrap_or_else(|_| panic!("a number before {unit:?} in {text:?}"))
    }

    #[test]
    fn the_green_timings_are_the_ones_the_docs_promise() {
        // booting: "slow blink (1 Hz)": one period a second, half lit.
        let booting = documented_green("booting");
        let period = 1000 / number_before(&booting, "Hz");
        let green = frame_for(&LedInputs::default()).green;
        assert_eq!(
            lit_and_dark(green, period),
            (period / 2, period / 2),
            "{booting}"
        );
        assert!((0..period).all(|t| green.lit_at(t) == green.lit_at(t + period)));

        // ready: "short flash every 2 s": one flash per period, lit well under half of it.
        let ready = documented_green("ready");
        let period = number_before(&ready, " s") * 1000;
        let green = frame_for(&running()).green;
        let (lit, dark) = lit_and_dark(green, period);
        assert!(
            lit > 0 && lit * 4 <= dark,
            "{ready}: lit {lit} ms of {period}"
        );
        assert!((0..period).all(|t| green.lit_at(t) == green.lit_at(t + period)));

        // session_paused: "slow breathing (1 s on, 1 s off)".
        let paused = documented_green("session_paused");
        let on = number_before(&paused, " s on") * 1000;
        let off = number_before(&paused, " s off") * 1000;
        let green = frame_for(&LedInputs {
            session: Some(SessionLight::Paused),
            ..running()
        })
        .green;
        assert_eq!(lit_and_dark(green, on + off), (on, off), "{paused}");

        // session_active: "on".
        assert_eq!(documented_green("session_active"), "on");
        let active = frame_for(&LedInputs {
            session: Some(SessionLight::Active),
            ..running()
        });
        assert_eq!(active.green, Light::On);
    }

    #[test]
    fn the_amber_and_red_timings_are_the_ones_the_docs_promise() {
        let recovering = frame_for(&LedInputs {
            phase: Phase::Recovering,
            ..LedInputs::default()
        });
        assert_blinks_as_documented(recovering.green, &documented("recovering", Led::Green));
        assert_blinks_as_documented(recovering.amber, &documented("recovering", Led::Amber));
        assert_eq!(documented("recovering", Led::Red), "off");
        assert_eq!(recovering.red, Light::Off);

        let video_fault = frame_for(&LedInputs {
            video_down: true,
            ..running()
        });
        assert_blinks_as_documented(video_fault.red, &documented("video_fault", Led::Red));

        assert_eq!(documented("storage_fault", Led::Red), "on");
        let storage = frame_for(&LedInputs {
            storage_fault: true,
            ..running()
        });
        assert_eq!(storage.red, Light::On);

        assert_eq!(documented("video_playing", Led::Amber), "on");
        let playing = frame_for(&LedInputs {
            video_playing: true,
            ..running()
        });
        assert_eq!(playing.amber, Light::On);

        let held = frame_for(&LedInputs {
            button: ButtonFeedback::Held,
            ..running()
        });
        for led in Led::ALL {
            assert_blinks_as_documented(held.light(led), &documented("reset_held", led));
        }
        let done = frame_for(&LedInputs {
            button: ButtonFeedback::Done,
            ..running()
        });
        for led in Led::ALL {
            assert!(documented("reset_done", led).starts_with("on"));
            assert_eq!(done.light(led), Light::On);
        }

        let (green, amber, red) = NO_DATA_PARTITION;
        assert_blinks_as_documented(green, &documented("no_data_partition", Led::Green));
        assert_eq!(documented("no_data_partition", Led::Amber), "off");
        assert_eq!(amber, Light::Off);
        assert_eq!(documented("no_data_partition", Led::Red), "on");
        assert_eq!(red, Light::On);
    }

    /// "GM count: amber flashes once per connected GM station (up to five), then pauses".
    #[test]
    fn amber_counts_gm_stations_up_to_five_as_the_docs_say() {
        let docs = include_str!("../../docs/technicians.md");
        assert!(docs.contains("amber flashes once per connected GM station (up to five)"));
        for (stations, flashes) in [(1, 1), (2, 2), (5, 5), (9, 5)] {
            let amber = frame_for(&LedInputs {
                gm_stations: stations,
                ..running()
            })
            .amber;
            let Light::Count(n) = amber else {
                panic!("{stations} stations: {amber:?}")
            };
            let cycle = u64::from(n) * (COUNT_FLASH_MS + COUNT_GAP_MS) + COUNT_PAUSE_MS;
            let rising = (1..cycle)
                .filter(|t| amber.lit_at(*t) && !amber.lit_at(t - 1))
                .count()
                + usize::from(amber.lit_at(0));
            assert_eq!(rising, flashes, "{stations} stations");
            assert!(
                !(cycle - COUNT_PAUSE_MS..cycle).any(|t| amber.lit_at(t)),
                "then a pause"
            );
        }
        assert_eq!(documented("ready", Led::Amber), "GM count");
    }

    #[test]
    fn every_pattern_the_box_reports_has_a_row_in_the_technicians_table() {
        for pattern in LedPattern::ALL {
            // `documented` panics naming the pattern when its row is missing.
            assert!(!documented(pattern.as_str(), Led::Green).is_empty());
        }
    }

    #[test]
    fn each_state_has_its_pattern() {
        let active = Some(SessionLight::Active);
        let cases: Vec<(LedInputs, LedPattern, Light, Light, Light)> = vec![
            (
                LedInputs::default(),
                LedPattern::Booting,
                SLOW,
                Light::Off,
                Light::Off,
            ),
            (
                LedInputs {
                    phase: Phase::Recovering,
                    ..running()
                },
                LedPattern::Recovering,
                FAST,
                FAST,
                Light::Off,
            ),
            (
                running(),
                LedPattern::Ready,
                HEARTBEAT,
                Light::Off,
                Light::Off,
            ),
            (
                LedInputs {
                    session: active,
                    gm_stations: 2,
                    ..running()
                },
                LedPattern::SessionActive,
                Light::On,
                Light::Count(2),
                Light::Off,
            ),
            (
                LedInputs {
                    session: active,
                    gm_stations: 9,
                    ..running()
                },
                LedPattern::SessionActive,
                Light::On,
                Light::Count(MAX_COUNT),
                Light::Off,
            ),
            (
                LedInputs {
                    session: Some(SessionLight::Paused),
                    ..running()
                },
                LedPattern::SessionPaused,
                BREATHE,
                Light::Off,
                Light::Off,
            ),
            (
                LedInputs {
                    session: active,
                    video_playing: true,
                    gm_stations: 1,
                    ..running()
                },
                LedPattern::VideoPlaying,
                Light::On,
                Light::On,
                Light::Off,
            ),
            (
                LedInputs {
                    session: active,
                    video_down: true,
                    ..running()
                },
                LedPattern::VideoFault,
                Light::On,
                Light::Off,
                SLOW,
            ),
            (
                LedInputs {
                    storage_fault: true,
                    video_down: true,
                    ..running()
                },
                LedPattern::StorageFault,
                HEARTBEAT,
                Light::Off,
                Light::On,
            ),
            (
                LedInputs {
                    button: ButtonFeedback::Held,
                    storage_fault: true,
                    ..running()
                },
                LedPattern::ResetHeld,
                RAPID,
                RAPID,
                RAPID,
            ),
            (
                LedInputs {
                    button: ButtonFeedback::Done,
                    phase: Phase::Booting,
                    ..running()
                },
                LedPattern::ResetDone,
                Light::On,
                Light::On,
                Light::On,
            ),
        ];
        for (inputs, pattern, green, amber, red) in cases {
            let frame = frame_for(&inputs);
            assert_eq!(
                (frame.pattern, frame.green, frame.amber, frame.red),
                (pattern, green, amber, red),
                "{inputs:?}"
            );
        }
    }

    #[test]
    fn lights_blink_and_count_in_time() {
        assert!(SLOW.lit_at(0) && SLOW.lit_at(499) && !SLOW.lit_at(500) && SLOW.lit_at(1000));
        let three = Light::Count(3);
        let flashes: Vec<u64> = (0..3000)
            .step_by(10)
            .filter(|&t| three.lit_at(t) && !three.lit_at(t.saturating_sub(10)) || t == 0)
            .collect();
        // Three flashes 400 ms apart, then the cycle starts again after the pause.
        assert_eq!(flashes, vec![0, 400, 800, 2700]);
        assert!(!Light::Off.lit_at(5) && Light::On.lit_at(5));
    }

    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<(Led, bool)>>>);

    impl StatusLeds for Recorder {
        fn set(&mut self, led: Led, on: bool) {
            self.0.lock().unwrap().push((led, on));
        }
    }

    #[test]
    fn waiting_for_the_data_partition_lights_red_and_blinks_green_until_it_is_there() {
        let recorder = Recorder::default();
        let mut leds = recorder.clone();
        let mut asked = 0;
        show_until(
            &mut leds,
            NO_DATA_PARTITION,
            Duration::from_millis(600),
            || {
                asked += 1;
                asked == 3
            },
        );
        assert_eq!(asked, 3, "asked until it answered yes");
        let sets = recorder.0.lock().unwrap().clone();
        assert!(sets.contains(&(Led::Red, true)));
        assert!(!sets.contains(&(Led::Red, false)), "red stays on");
        assert!(!sets.contains(&(Led::Amber, true)));
        let green: Vec<bool> = sets
            .iter()
            .filter(|(led, _)| *led == Led::Green)
            .map(|(_, on)| *on)
            .collect();
        assert!(
            green.starts_with(&[true, false, true]),
            "green blinks while waiting: {green:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_driver_blinks_on_tokio_time_and_follows_new_inputs() {
        let (inputs, rx) = watch::channel(LedInputs::default());
        let status = Arc::new(watch::channel(super::super::HardwareStatus::default()).0);
        let recorder = Recorder::default();
        let task = tokio::spawn(run_status_leds(
            rx,
            Box::new(recorder.clone()),
            status.clone(),
        ));
        tokio::time::sleep(Duration::from_millis(1025)).await;
        let green: Vec<bool> = recorder
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|(led, _)| *led == Led::Green)
            .map(|(_, on)| *on)
            .collect();
        assert_eq!(green, vec![true, false, true], "booting: slow blink");
        inputs.send_modify(|i| {
            i.phase = Phase::Running;
            i.storage_fault = true;
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(status.borrow().leds, LedPattern::StorageFault);
        assert!(status.borrow().lit[2], "red is on");
        drop(inputs);
        task.await.unwrap();
        assert!(recorder.0.lock().unwrap().ends_with(&[
            (Led::Green, false),
            (Led::Amber, false),
            (Led::Red, false)
        ]));
    }
}
