//! Devices: GM stations and player scanners joining, leaving, timing out, and their slots.

use super::{
    Device, DeviceKind, DisconnectReason, GmError, GmEvent, GmOutcome, GmState,
    FORGET_DEVICES_AFTER_MS,
};
use crate::domain::basics::{validate_id, Millis};

/// How stale a device's "last seen" may get before a heartbeat is logged to move it.
pub const SEEN_EVERY_MS: Millis = 30_000;

impl GmState {
    pub(super) fn decide_connect(
        &self,
        device_id: &str,
        kind: DeviceKind,
        name: &Option<String>,
        ip: &Option<String>,
        now: Millis,
    ) -> Result<(GmOutcome, Vec<GmEvent>), GmError> {
        validate_id("deviceId", device_id)?;
        let existing = self.data.devices.get(device_id);
        if let Some(device) = existing.filter(|d| d.kind != kind) {
            return Err(GmError::Invalid {
                field: "deviceId",
                reason: format!(
                    "{device_id} is already registered as a {:?} device",
                    device.kind
                ),
            });
        }
        let within_grace = |d: &Device| {
            d.disconnected_at
                .is_some_and(|at| now.saturating_sub(at) < self.limits.reconnect_grace_ms)
        };
        let reconnected = existing.is_some_and(|d| d.connected || within_grace(d));
        if let Some(device) = existing.filter(|d| d.connected) {
            return Ok((
                GmOutcome::Device {
                    device: device.clone(),
                    reconnected: true,
                },
                Vec::new(),
            ));
        }
        let max = match kind {
            DeviceKind::Gm => self.limits.max_gm_stations,
            DeviceKind::Player => self.limits.max_player_scanners,
        };
        let holding_slots = self
            .data
            .devices
            .values()
            .filter(|d| d.kind == kind && d.id != device_id && (d.connected || within_grace(d)))
            .count();
        if holding_slots >= max {
            return Err(GmError::DeviceLimit { kind, max });
        }
        let clip = |s: &Option<String>| s.as_ref().map(|s| s.chars().take(120).collect::<String>());
        let event = GmEvent::DeviceConnected {
            device_id: device_id.to_string(),
            kind,
            name: clip(name),
            ip: clip(ip),
            at: now,
        };
        let device = Device {
            id: device_id.to_string(),
            kind,
            name: clip(name),
            ip: clip(ip),
            connected: true,
            connected_at: now,
            disconnected_at: None,
            disconnect_reason: None,
            last_seen: now,
        };
        Ok((
            GmOutcome::Device {
                device,
                reconnected,
            },
            vec![event],
        ))
    }

    pub(super) fn decide_disconnect(
        &self,
        device_id: &str,
        reason: DisconnectReason,
        now: Millis,
    ) -> Result<(GmOutcome, Vec<GmEvent>), GmError> {
        let device = self
            .data
            .devices
            .get(device_id)
            .ok_or_else(|| GmError::UnknownDevice(device_id.to_string()))?;
        let events = if device.connected {
            vec![GmEvent::DeviceDisconnected {
                device_id: device_id.to_string(),
                reason,
                at: now,
            }]
        } else {
            Vec::new()
        };
        Ok((
            GmOutcome::Device {
                device: device.clone(),
                reconnected: false,
            },
            events,
        ))
    }

    /// A heartbeat from a connected device, logged when its "last seen" is older than
    /// [`SEEN_EVERY_MS`] (an unknown or disconnected device changes nothing).
    pub(super) fn seen(&self, device_id: &str, now: Millis) -> Vec<GmEvent> {
        self.data
            .devices
            .get(device_id)
            .filter(|d| d.connected && now.saturating_sub(d.last_seen) >= SEEN_EVERY_MS)
            .map(|_| GmEvent::DeviceSeen {
                device_id: device_id.to_string(),
                at: now,
            })
            .into_iter()
            .collect()
    }

    /// Player scanners that went quiet, marked disconnected.
    pub(super) fn idle_players(&self, now: Millis) -> Vec<GmEvent> {
        self.data
            .devices
            .values()
            .filter(|d| {
                d.kind == DeviceKind::Player
                    && d.connected
                    && now.saturating_sub(d.last_seen) > self.limits.player_idle_ms
            })
            .map(|d| GmEvent::DeviceDisconnected {
                device_id: d.id.clone(),
                reason: DisconnectReason::Timeout,
                at: now,
            })
            .collect()
    }

    /// Applies a device event.
    pub(super) fn apply_device(&mut self, event: &GmEvent) {
        match event {
            GmEvent::DeviceConnected {
                device_id,
                kind,
                name,
                ip,
                at,
            } => {
                // Devices gone for long are forgotten when another arrives (timed by the
                // event, so replay forgets the same ones): the table, and every state:update
                // listing it, holds tonight's devices rather than every id ever seen.
                self.data.devices.retain(|_, d| {
                    d.connected
                        || d.disconnected_at
                            .is_none_or(|gone| at.saturating_sub(gone) < FORGET_DEVICES_AFTER_MS)
                });
                self.data.devices.insert(
                    device_id.clone(),
                    Device {
                        id: device_id.clone(),
                        kind: *kind,
                        name: name.clone(),
                        ip: ip.clone(),
                        connected: true,
                        connected_at: *at,
                        disconnected_at: None,
                        disconnect_reason: None,
                        last_seen: *at,
                    },
                );
            }
            GmEvent::DeviceDisconnected {
                device_id,
                reason,
                at,
            } => {
                if let Some(device) = self.data.devices.get_mut(device_id) {
                    device.connected = false;
                    device.disconnected_at = Some(*at);
                    device.disconnect_reason = Some(*reason);
                }
            }
            GmEvent::DeviceSeen { device_id, at } => {
                if let Some(device) = self.data.devices.get_mut(device_id) {
                    device.last_seen = device.last_seen.max(*at);
                }
            }
            _ => {}
        }
    }
}
