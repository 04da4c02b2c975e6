//! Shuffle drafts (seed 001): captains draft players from a pool on the big screen, and every
//! spectator's phone follows each pick, tie roll and undo live, from the box's history.
//!
//! | file | what |
//! |---|---|
//! | `domain.rs` | the pure state machine: drafts, who is next, tie rolls, picks, undo, the history |
//!
//! Tests: `domain/tests.rs`.

pub mod domain;
