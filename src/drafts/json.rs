//! The JSON a draft's clients see: each history entry as the seed's `DraftEvent`
//! (`{id, draft_id, event_type, payload, actor, created_at}` with the seed's payload per
//! type), and the board (`GET /api/drafts/{id}`). Teams are numbered from 1 in the captains'
//! order; ids are the box's own (strings: a captain's id is their token's `sub`).

use serde_json::{json, Value};

use super::domain::{Draft, DraftStatus, Entry, HistoryEntry, TieRoll};
use crate::wire::time::iso;

/// The only style the box drafts in.
pub const DRAFT_STYLE: &str = "shuffle";

fn team_id(captain: usize) -> usize {
    captain + 1
}

/// The seed's `event_type` of an entry.
pub fn event_type(entry: &Entry) -> &'static str {
    match entry {
        Entry::DraftStarted => "draft_started",
        Entry::TieRoll(_) => "tie_roll",
        Entry::CaptainAssigned { .. } => "captain_assigned",
        Entry::PlayerPicked { .. } => "player_picked",
        Entry::PickUndone { .. } => "pick_undone",
        Entry::DraftCompleted => "draft_completed",
    }
}

fn tie_roll_json(draft: &Draft, tie: &TieRoll) -> Value {
    json!({
        "tied_captains": tie.tied.iter().map(|(c, mmr)| json!({
            "id": draft.captains[*c].id,
            "name": draft.captain_name(*c),
            "mmr": mmr,
        })).collect::<Vec<_>>(),
        "roll_rounds": tie.roll_rounds.iter().map(|rolls| rolls.iter().map(|(c, roll)| json!({
            "captain_id": draft.captains[*c].id,
            "roll": roll,
        })).collect::<Vec<_>>()).collect::<Vec<_>>(),
        "winner_id": draft.captains[tie.winner].id,
        "winner_name": draft.captain_name(tie.winner),
    })
}

/// The seed's payload of an entry.
pub fn entry_payload(draft: &Draft, entry: &Entry) -> Value {
    let lifecycle = || {
        json!({
            "draft_id": draft.id,
            "draft_style": DRAFT_STYLE,
            "team_count": draft.captains.len(),
        })
    };
    match entry {
        Entry::DraftStarted | Entry::DraftCompleted => lifecycle(),
        Entry::TieRoll(tie) => tie_roll_json(draft, tie),
        Entry::CaptainAssigned {
            round,
            captain,
            was_tie,
        } => json!({
            "round": round,
            "captain_id": draft.captains[*captain].id,
            "captain_name": draft.captain_name(*captain),
            "team_id": team_id(*captain),
            "was_tie": was_tie,
        }),
        Entry::PlayerPicked {
            round,
            captain,
            player,
        } => json!({
            "round": round,
            "captain_id": draft.captains[*captain].id,
            "captain_name": draft.captain_name(*captain),
            "picked_id": draft.players[*player].id,
            "picked_name": draft.player_name(*player),
            "team_id": team_id(*captain),
        }),
        Entry::PickUndone {
            round,
            captain,
            player,
        } => json!({
            "round": round,
            "captain_name": draft.captain_name(*captain),
            "picked_name": draft.player_name(*player),
        }),
    }
}

/// One history entry as the seed's `DraftEvent`.
pub fn event_json(draft: &Draft, entry: &HistoryEntry) -> Value {
    json!({
        "id": entry.id,
        "draft_id": entry.draft_id,
        "event_type": event_type(&entry.entry),
        "payload": entry_payload(draft, &entry.entry),
        "actor": entry.actor,
        "created_at": iso(entry.created_at),
    })
}

fn status(draft: &Draft) -> &'static str {
    match draft.status {
        DraftStatus::Created => "created",
        DraftStatus::Running => "running",
        DraftStatus::Completed => "completed",
    }
}

/// The board: teams, pool, rounds (with the seed's `was_tie` and `tie_roll_data`), and who is
/// on the clock.
pub fn draft_json(draft: &Draft) -> Value {
    let picked_by = |player: usize| {
        draft
            .picks
            .iter()
            .find(|p| p.player == player)
            .map(|p| team_id(p.captain))
    };
    let teams: Vec<Value> = (0..draft.captains.len())
        .map(|c| {
            let members: Vec<Value> = draft
                .team_picks(c)
                .map(|p| {
                    let player = &draft.players[p];
                    json!({ "id": player.id, "name": player.name, "mmr": player.mmr })
                })
                .collect();
            let captain = &draft.captains[c];
            json!({
                "team_id": team_id(c),
                "captain": { "id": captain.id, "name": captain.name, "mmr": captain.mmr },
                "players": members,
                "total_mmr": draft.team_mmr(c),
                "full": draft.team_picks(c).count() >= draft.team_size(),
            })
        })
        .collect();
    let rounds: Vec<Value> = draft
        .rounds
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let pick = draft.picks.get(i).map(|p| {
                json!({ "player_id": draft.players[p.player].id, "player_name": draft.player_name(p.player) })
            });
            json!({
                "round": i + 1,
                "captain_id": draft.captains[r.captain].id,
                "captain_name": draft.captain_name(r.captain),
                "team_id": team_id(r.captain),
                "was_tie": r.was_tie,
                "tie_roll_data": r.tie_roll.as_ref().map(|t| tie_roll_json(draft, t)),
                "pick": pick,
            })
        })
        .collect();
    let on_the_clock = draft.on_the_clock().map(|c| {
        json!({
            "round": draft.picks.len() + 1,
            "captain_id": draft.captains[c].id,
            "captain_name": draft.captain_name(c),
            "team_id": team_id(c),
        })
    });
    json!({
        "id": draft.id,
        "tournament_id": draft.tournament_id,
        "draft_style": DRAFT_STYLE,
        "status": status(draft),
        "team_count": draft.captains.len(),
        "team_size": draft.team_size(),
        "teams": teams,
        "players": draft.players.iter().enumerate().map(|(i, p)| json!({
            "id": p.id, "name": p.name, "mmr": p.mmr, "team_id": picked_by(i),
        })).collect::<Vec<_>>(),
        "rounds": rounds,
        "on_the_clock": on_the_clock,
        "events": draft.history.len(),
        "created_at": iso(draft.created_at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drafts::domain::{Member, RoundCaptain};

    fn draft() -> Draft {
        let member = |id: &str, name: &str| Member {
            id: id.into(),
            name: name.into(),
            mmr: 5000,
        };
        Draft {
            id: 1,
            tournament_id: 3,
            captains: vec![member("7", "CaptainA"), member("8", "CaptainB")],
            players: vec![member("5", "PlayerB"), member("6", "PlayerC")],
            status: DraftStatus::Running,
            picks: Vec::new(),
            rounds: vec![RoundCaptain {
                captain: 1,
                was_tie: true,
                tie_roll: None,
            }],
            history: Vec::new(),
            created_at: 0,
        }
    }

    /// Each payload as the seed's document shows it (its example values, the box's ids).
    #[test]
    fn payloads_are_the_seeds() {
        let d = draft();
        let tie = TieRoll {
            tied: vec![(0, 5000), (1, 5000)],
            roll_rounds: vec![vec![(0, 4), (1, 6)]],
            winner: 1,
        };
        let table = [
            (
                Entry::PlayerPicked {
                    round: 3,
                    captain: 0,
                    player: 0,
                },
                "player_picked",
                json!({"round": 3, "captain_id": "7", "captain_name": "CaptainA", "picked_id": "5", "picked_name": "PlayerB", "team_id": 1}),
            ),
            (
                Entry::TieRoll(tie),
                "tie_roll",
                json!({
                    "tied_captains": [{"id": "7", "name": "CaptainA", "mmr": 5000}, {"id": "8", "name": "CaptainB", "mmr": 5000}],
                    "roll_rounds": [[{"captain_id": "7", "roll": 4}, {"captain_id": "8", "roll": 6}]],
                    "winner_id": "8",
                    "winner_name": "CaptainB",
                }),
            ),
            (
                Entry::CaptainAssigned {
                    round: 4,
                    captain: 1,
                    was_tie: false,
                },
                "captain_assigned",
                json!({"round": 4, "captain_id": "8", "captain_name": "CaptainB", "team_id": 2, "was_tie": false}),
            ),
            (
                Entry::DraftStarted,
                "draft_started",
                json!({"draft_id": 1, "draft_style": "shuffle", "team_count": 2}),
            ),
            (
                Entry::DraftCompleted,
                "draft_completed",
                json!({"draft_id": 1, "draft_style": "shuffle", "team_count": 2}),
            ),
            (
                Entry::PickUndone {
                    round: 3,
                    captain: 0,
                    player: 0,
                },
                "pick_undone",
                json!({"round": 3, "captain_name": "CaptainA", "picked_name": "PlayerB"}),
            ),
        ];
        for (entry, kind, payload) in table {
            let history = HistoryEntry {
                id: 12,
                draft_id: 1,
                entry,
                actor: Some("admin".into()),
                created_at: 1_768_219_200_000,
            };
            let event = event_json(&d, &history);
            assert_eq!(event["event_type"], kind);
            assert_eq!(event["payload"], payload, "{kind}");
            assert_eq!(event["id"], 12);
            assert_eq!(event["draft_id"], 1);
            assert_eq!(event["actor"], "admin");
            assert_eq!(event["created_at"], "2026-01-12T12:00:00.000Z");
        }
    }
}
