//! GPIO through the kernel character device (`/dev/gpiochip*`) with gpiocdev: status LEDs as
//! outputs, the reset button as a pulled-up input with in-kernel debounce.
//!
//! Lines are named in the config, never by a hard-coded chip number (it differs between Pi 4,
//! Pi 5 and kernel versions): either a line name from the device tree (`"GPIO17"`), or a chip
//! (label such as `pinctrl-rp1`, name such as `gpiochip0`, or path) and an offset:
//! `"pinctrl-rp1:17"`.

use crate::config::{GpioSettings, LineSpec};
use std::path::PathBuf;

use gpiocdev::line::{Bias, EdgeDetection, EdgeKind, Value};
use gpiocdev::tokio::AsyncRequest;
use gpiocdev::Request;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{ButtonEdge, HardwareError, Led, ResetButton, StatusLeds};

const CONSUMER: &str = "venuebox";

impl GpioSettings {
    /// The configured LED lines (amber may be absent).
    /// Each configured LED with its config key and line.
    pub fn led_lines(&self) -> Vec<(Led, &'static str, &String)> {
        [
            (Led::Green, "gpio.green", Some(&self.green)),
            (Led::Amber, "gpio.amber", self.amber.as_ref()),
            (Led::Red, "gpio.red", Some(&self.red)),
        ]
        .into_iter()
        .filter_map(|(led, key, spec)| Some((led, key, spec?)))
        .collect()
    }
}

/// Where a configured line is: the chip's path and the offset on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineAddress {
    pub chip: PathBuf,
    pub offset: u32,
}

/// Finds the line config key `key` names on this system.
pub fn resolve(key: &'static str, spec: &str) -> Result<LineAddress, HardwareError> {
    let not_found = |reason: String| HardwareError::Line {
        key,
        line: spec.to_string(),
        reason,
    };
    let spec_error = |reason: String| HardwareError::Line {
        key,
        line: spec.to_string(),
        reason,
    };
    match LineSpec::parse(spec).map_err(spec_error)? {
        LineSpec::Named(name) => gpiocdev::find_named_line(&name)
            .map(|found| LineAddress {
                chip: found.chip,
                offset: found.info.offset,
            })
            .ok_or_else(|| {
                not_found("no line has this name (see `gpioinfo`); or give chip:offset".into())
            }),
        LineSpec::OnChip { chip, offset } => {
            let chips = gpiocdev::chip::chips()
                .map_err(|e| not_found(format!("cannot list GPIO chips: {e}")))?;
            for path in chips {
                let Ok(info) = gpiocdev::Chip::from_path(&path).and_then(|c| c.info()) else {
                    continue;
                };
                let matches = info.label == chip
                    || info.name == chip
                    || path.to_string_lossy() == chip.as_str();
                if matches {
                    return Ok(LineAddress { chip: path, offset });
                }
            }
            Err(not_found(format!(
                "no GPIO chip is labelled or named {chip:?}"
            )))
        }
    }
}

/// Status LEDs on output lines.
pub struct GpioLeds {
    lines: Vec<(Led, Request, u32)>,
}

impl GpioLeds {
    pub fn open(settings: &GpioSettings) -> Result<Self, HardwareError> {
        let mut lines = Vec::new();
        for (led, key, spec) in settings.led_lines() {
            let address = resolve(key, spec)?;
            let mut builder = Request::builder();
            builder
                .on_chip(&address.chip)
                .with_consumer(CONSUMER)
                .with_line(address.offset)
                .as_output(Value::Inactive);
            if settings.leds_active_low {
                builder.as_active_low();
            }
            let request = builder.request().map_err(|e| HardwareError::Line {
                key,
                line: spec.clone(),
                reason: format!("cannot drive it: {e} (is the user in the gpio group?)"),
            })?;
            lines.push((led, request, address.offset));
        }
        Ok(Self { lines })
    }
}

impl StatusLeds for GpioLeds {
    fn set(&mut self, led: Led, on: bool) {
        let value = if on { Value::Active } else { Value::Inactive };
        for (which, request, offset) in &self.lines {
            if *which == led {
                if let Err(e) = request.set_value(*offset, value) {
                    tracing::warn!(?led, error = %e, "cannot set a status LED");
                }
            }
        }
    }
}

/// The reset button: to ground, pulled up, so pressed reads active-low.
pub struct GpioButton {
    request: Request,
}

impl GpioButton {
    pub fn open(settings: &GpioSettings) -> Result<Self, HardwareError> {
        let address = resolve("gpio.button", &settings.button)?;
        let request = Request::builder()
            .on_chip(&address.chip)
            .with_consumer(CONSUMER)
            .with_line(address.offset)
            .as_input()
            .as_active_low()
            .with_bias(Bias::PullUp)
            .with_edge_detection(EdgeDetection::BothEdges)
            .with_debounce_period(settings.button_debounce)
            .request()
            .map_err(|e| HardwareError::Line {
                key: "gpio.button",
                line: settings.button.clone(),
                reason: format!("cannot watch it: {e} (is the user in the gpio group?)"),
            })?;
        Ok(Self { request })
    }
}

impl ResetButton for GpioButton {
    fn spawn(self: Box<Self>, edges: mpsc::Sender<ButtonEdge>) -> JoinHandle<()> {
        tokio::spawn(async move {
            let request = AsyncRequest::new(self.request);
            loop {
                let edge = match request.read_edge_event().await {
                    // Active-low: rising means the line went active, the button is down.
                    Ok(event) if event.kind == EdgeKind::Rising => ButtonEdge::Pressed,
                    Ok(_) => ButtonEdge::Released,
                    Err(e) => {
                        tracing::error!(error = %e, "reset button line failed; the button is off");
                        return;
                    }
                };
                if edges.send(edge).await.is_err() {
                    return;
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_specs_are_names_or_chip_and_offset() {
        assert_eq!(
            LineSpec::parse("GPIO17").unwrap(),
            LineSpec::Named("GPIO17".into())
        );
        assert_eq!(
            LineSpec::parse("pinctrl-rp1:17").unwrap(),
            LineSpec::OnChip {
                chip: "pinctrl-rp1".into(),
                offset: 17
            }
        );
        assert_eq!(
            LineSpec::parse("/dev/gpiochip4:5").unwrap(),
            LineSpec::OnChip {
                chip: "/dev/gpiochip4".into(),
                offset: 5
            }
        );
        for bad in ["", "chip:", ":4", "chip:x"] {
            assert!(LineSpec::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_line_that_is_not_there_is_a_clear_error() {
        // This machine has no GPIO line of that name (and CI machines have no GPIO at all).
        let error = resolve("gpio.green", "VENUEBOX_NO_SUCH_LINE")
            .unwrap_err()
            .to_string();
        assert!(error.contains("VENUEBOX_NO_SUCH_LINE"), "{error}");
        assert!(
            error.contains("gpio.green"),
            "the message names the config key: {error}"
        );
    }
}
