//! venuebox: the offline real-time hub of a live venue event.
//!
//! See `ARCHITECTURE.md` for the map. In one line: each contract's folder ([`gm`],
//! [`predictions`]) turns frames into typed [`domain::Command`]s, the [`engine`] applies them in
//! order and commits them durably, and the [`hub`] fans the resulting events out to every
//! connected device through the contracts' fan-outs and the shared [`wire`] machinery.

pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod connections;
pub mod contracts;
pub mod domain;
pub mod drafts;
pub mod engine;
#[doc(hidden)]
pub mod fuzzing;
pub mod gm;
pub mod hardware;
pub mod hub;
pub mod memory;
pub mod predictions;
pub mod server;
pub mod sports;
pub mod store;
pub mod systemd;
pub mod tls;
pub mod tournaments;
pub mod wire;
