//! A sports day (seed 003): staff enter fixtures and results, the leaderboard follows on every
//! phone and screen, announcements reach the right teams, and tickets sold at the gate show
//! their status to the buyer.
//!
//! | file | what |
//! |---|---|
//! | `domain/mod.rs` | the pure state machine: events (meets), teams, registrations, fixtures, results, announcements, purchases |
//! | `domain/leaderboard.rs` | the leaderboard and its tie-breaks |
//!
//! Tests: `domain/tests.rs`, `domain/leaderboard.rs`.
//!
//! Built so far: recipe steps 1-2 (the state machine; the core's variants, log tag 5). Not
//! yet: the HTTP API, the WebSocket topics, the SSE streams, the scoreboard page
//! (ARCHITECTURE.md, "Left to do").

pub mod domain;
