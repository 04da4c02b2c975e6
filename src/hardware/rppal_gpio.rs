//! The same LEDs and button over rppal (cargo feature `rppal`), for technicians who prefer it.
//! rppal addresses pins by BCM GPIO number, so line specs here must be `GPIO<n>` or `<n>`.

use std::time::Duration;

use rppal::gpio::{Gpio, InputPin, OutputPin, Trigger};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{ButtonEdge, HardwareError, Led, ResetButton, StatusLeds};
use crate::config::GpioSettings;

fn bcm_number(key: &'static str, spec: &str) -> Result<u8, HardwareError> {
    let digits = spec.trim().trim_start_matches("GPIO");
    digits.parse().map_err(|_| HardwareError::Line {
        key,
        line: spec.to_string(),
        reason: "rppal needs a BCM number such as GPIO17 or 17".into(),
    })
}

fn gpio() -> Result<Gpio, HardwareError> {
    Gpio::new().map_err(|e| HardwareError::Gpio(format!("rppal cannot open the GPIO: {e}")))
}

/// Status LEDs on output pins.
pub struct RppalLeds {
    pins: Vec<(Led, OutputPin)>,
    active_low: bool,
}

impl RppalLeds {
    pub fn open(settings: &GpioSettings) -> Result<Self, HardwareError> {
        let gpio = gpio()?;
        let mut pins = Vec::new();
        for (led, key, spec) in settings.led_lines() {
            let pin = gpio
                .get(bcm_number(key, spec)?)
                .map_err(|e| HardwareError::Line {
                    key,
                    line: spec.clone(),
                    reason: e.to_string(),
                })?
                .into_output();
            pins.push((led, pin));
        }
        let mut leds = Self {
            pins,
            active_low: settings.leds_active_low,
        };
        for led in Led::ALL {
            leds.set(led, false);
        }
        Ok(leds)
    }
}

impl StatusLeds for RppalLeds {
    fn set(&mut self, led: Led, on: bool) {
        let high = on != self.active_low;
        for (which, pin) in &mut self.pins {
            if *which == led {
                if high {
                    pin.set_high();
                } else {
                    pin.set_low();
                }
            }
        }
    }
}

/// The reset button to ground with the internal pull-up: pressed reads low.
pub struct RppalButton {
    pin: InputPin,
    debounce: Duration,
}

impl RppalButton {
    pub fn open(settings: &GpioSettings) -> Result<Self, HardwareError> {
        let pin = gpio()?
            .get(bcm_number("gpio.button", &settings.button)?)
            .map_err(|e| HardwareError::Line {
                key: "gpio.button",
                line: settings.button.clone(),
                reason: e.to_string(),
            })?
            .into_input_pullup();
        Ok(Self {
            pin,
            debounce: settings.button_debounce,
        })
    }
}

impl ResetButton for RppalButton {
    fn spawn(mut self: Box<Self>, edges: mpsc::Sender<ButtonEdge>) -> JoinHandle<()> {
        let sender = edges.clone();
        let armed =
            self.pin
                .set_async_interrupt(Trigger::Both, Some(self.debounce), move |event| {
                    let edge = match event.trigger {
                        Trigger::FallingEdge => ButtonEdge::Pressed,
                        _ => ButtonEdge::Released,
                    };
                    // rppal calls back on its own thread; a full queue only drops an edge.
                    let _ = sender.try_send(edge);
                });
        if let Err(e) = armed {
            tracing::error!(error = %e, "reset button interrupt failed; the button is off");
        }
        // The pin (and its interrupt thread) lives as long as this task.
        tokio::spawn(async move {
            let _pin = self;
            edges.closed().await;
        })
    }
}
