//! Debate tournaments (seed 000): staff hold the tournament, draw the rounds, reveal motions and
//! run the round timer; participants check in from their phones and follow the draw, the
//! motion, the timer and the standings live.
//!
//! | file | what |
//! |---|---|
//! | `domain/mod.rs` | the pure state machine: tournaments, teams, adjudicators, rounds, check-ins, timer, ballots |
//! | `domain/draw.rs` | the draw: power pairing without repeats, sides, adjudicators; deterministic from a seed |
//! | `domain/standings.rs` | records and standings from draws and ballots |
//!
//! Tests: `domain/tests.rs`, `domain/draw.rs` (generated tournaments).
//!
//! Not plugged in yet: the core's variants, the routes, the `/ws/stream` channels and the page
//! follow the recipe in ARCHITECTURE.md ("How a contract plugs in", steps 2-8).

pub mod domain;
