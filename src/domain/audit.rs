//! The staff's trail: who changed the game, when and from where. An [`AuditEntry`] is logged in
//! the same commit as the events it accounts for, so the trail is exactly as durable as what it
//! describes, and no contract's state holds it (replaying it changes nothing).

use serde::{Deserialize, Serialize};

use super::Millis;

/// Who asks for the commands that follow, when it is someone the trail should name: staff with
/// an admin token, a GM station controlling the game, the reset button.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The token's role (`admin`, `gm`), or what acted without one (`button`).
    pub role: String,
    /// The token's subject (a station's id), or the button's name.
    pub who: String,
    /// When the caller's token was issued (seconds since the epoch): two consoles logged in with
    /// the same password are told apart by it.
    pub since: Option<u64>,
    /// Where the request came from (an IP address as text: the core holds no network types);
    /// `None` for the box's own hardware.
    pub address: Option<String>,
}

/// One staff action as the log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When the engine took the action (the batch's clock).
    pub at: Millis,
    pub role: String,
    pub who: String,
    pub since: Option<u64>,
    pub address: Option<String>,
    /// The events the action caused, by name, each once, in order.
    pub did: Vec<String>,
    /// How many events it caused.
    pub events: u32,
}

impl AuditEntry {
    /// The entry for `actor` having caused `kinds` (an event's name each) at `at`.
    pub fn new<'a>(actor: &Actor, at: Millis, kinds: impl Iterator<Item = &'a str>) -> Self {
        let mut did: Vec<String> = Vec::new();
        let mut events = 0u32;
        for kind in kinds {
            events = events.saturating_add(1);
            if !did.iter().any(|d| d == kind) {
                did.push(kind.to_owned());
            }
        }
        Self {
            at,
            role: actor.role.clone(),
            who: actor.who.clone(),
            since: actor.since,
            address: actor.address.clone(),
            did,
            events,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_names_each_kind_once_and_counts_them_all() {
        let actor = Actor {
            role: "admin".into(),
            who: "admin".into(),
            since: Some(1_700_000_000),
            address: Some("10.0.0.7".into()),
        };
        let entry = AuditEntry::new(
            &actor,
            42,
            ["ScoreAdjusted", "ScoreAdjusted", "SessionEnded"].into_iter(),
        );
        assert_eq!(entry.did, vec!["ScoreAdjusted", "SessionEnded"]);
        assert_eq!(entry.events, 3);
        assert_eq!(entry.address, actor.address);
        assert_eq!(entry.at, 42);
    }
}
