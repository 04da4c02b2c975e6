//! Debate tournaments (seed 000): staff hold the tournament, draw the rounds, reveal motions and
//! run the round timer; participants check in from their phones and follow the draw, the
//! motion, the timer and the standings live.
//!
//! | file | what |
//! |---|---|
//! | `domain/mod.rs` | the pure state machine: tournaments, teams, adjudicators, rounds, check-ins, timer, ballots |
//! | `domain/draw.rs` | the draw: power pairing without repeats, sides, adjudicators; deterministic from a seed |
//! | `domain/standings.rs` | records and standings from draws and ballots |
//! | `routes.rs` | the HTTP API: tournaments, teams, adjudicators, rounds, check-ins, the draw job, publish, ballots, standings |
//!
//! Tests: `domain/tests.rs`, `domain/draw.rs` (generated tournaments),
//! `tests/node/tournaments.test.mjs`.
//!
//! Not built yet (ARCHITECTURE.md, "How a contract plugs in", steps 4-8): the `/ws/stream`
//! channels with their fan-out, the round timer's clock and `timers:sync`, the page.

pub mod domain;
pub mod routes;
