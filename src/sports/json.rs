//! The JSON a sports-day client sees, built here and nowhere else: the HTTP answers
//! (`routes.rs`) and the real-time messages (`stream.rs`) share these shapes, so a fixture or
//! a leaderboard looks the same whichever way it arrives. Ids travel as `id`, times as ISO 8601.

use serde_json::{json, Value};

use super::domain::leaderboard::Row;
use super::domain::{
    Announcement, AnnouncementType, Fixture, FixtureStatus, Meet, MemberRole, Priority, Purchase,
    PurchaseStatus, SportsState, Team,
};
use crate::domain::Millis;
use crate::wire::time::iso;

pub fn fixture_json(state: &SportsState, f: &Fixture) -> Value {
    let team = |id: u64| json!({ "id": id, "name": state.teams.get(&id).map(|t| t.name.clone()) });
    let status = match f.status {
        FixtureStatus::Scheduled => "scheduled",
        FixtureStatus::Rescheduled => "rescheduled",
        FixtureStatus::Cancelled => "cancelled",
        FixtureStatus::Final => "final",
        FixtureStatus::Deleted => "deleted",
    };
    json!({
        "id": f.id,
        "event_id": f.event_id,
        "home_team": team(f.home),
        "away_team": team(f.away),
        "starts_at": iso(f.starts_at),
        "status": status,
        "result": f.result.map(|s| json!({ "home_score": s.home, "away_score": s.away })),
    })
}

pub fn leaderboard_json(state: &SportsState, event: &Meet) -> Value {
    rows_json(state, &event.leaderboard)
}

/// Leaderboard rows, with each team's name.
pub fn rows_json(state: &SportsState, rows: &[Row]) -> Value {
    Value::Array(
        rows.iter()
            .map(|r| {
                json!({
                    "rank": r.rank,
                    "team_id": r.team_id,
                    "team": state.teams.get(&r.team_id).map(|t| t.name.clone()),
                    "played": r.played,
                    "won": r.won,
                    "drawn": r.drawn,
                    "lost": r.lost,
                    "goals_for": r.goals_for,
                    "goals_against": r.goals_against,
                    "goal_difference": r.goal_difference(),
                    "points": r.points,
                })
            })
            .collect(),
    )
}

fn kind_name(kind: AnnouncementType) -> &'static str {
    match kind {
        AnnouncementType::General => "general",
        AnnouncementType::ScheduleChange => "schedule_change",
        AnnouncementType::ResultUpdate => "result_update",
        AnnouncementType::WeatherAlert => "weather_alert",
        AnnouncementType::Emergency => "emergency",
    }
}

fn priority_name(priority: Priority) -> &'static str {
    match priority {
        Priority::Low => "low",
        Priority::Normal => "normal",
        Priority::High => "high",
        Priority::Urgent => "urgent",
    }
}

pub fn announcement_json(a: &Announcement, now: Millis) -> Value {
    json!({
        "id": a.id,
        "event_id": a.event_id,
        "title": a.title,
        "message": a.message,
        "type": kind_name(a.kind),
        "priority": priority_name(a.priority),
        "target_teams": a.target_teams,
        "expires_at": a.expires_at.map(iso),
        "status": if a.deleted { "deleted" } else if a.is_live(now) { "active" } else { "expired" },
        "created_by": a.created_by,
        "created_at": iso(a.created_at),
    })
}

fn status_name(status: PurchaseStatus) -> &'static str {
    match status {
        PurchaseStatus::Pending => "pending",
        PurchaseStatus::Confirmed => "confirmed",
        PurchaseStatus::Cancelled => "cancelled",
        PurchaseStatus::Refunded => "refunded",
    }
}

pub fn purchase_json(p: &Purchase) -> Value {
    json!({
        "id": p.id,
        "event_id": p.event_id,
        "user_id": p.user_id,
        "quantity": p.quantity,
        "status": status_name(p.status),
        "created_at": iso(p.created_at),
    })
}

pub fn team_json(team: &Team) -> Value {
    json!({
        "id": team.id,
        "name": team.name,
        "members": team.members.iter().map(|m| json!({
            "user_id": m.user_id,
            "role": match m.role { MemberRole::Manager => "manager", MemberRole::Coach => "coach", MemberRole::Player => "player" },
        })).collect::<Vec<_>>(),
    })
}

pub fn event_json(state: &SportsState, event: &Meet) -> Value {
    json!({
        "id": event.id,
        "name": event.name,
        "public": event.public,
        "points": { "win": event.points.win, "draw": event.points.draw, "loss": event.points.loss },
        "teams": event.teams.iter().filter_map(|t| state.teams.get(t)).map(|t| json!({ "id": t.id, "name": t.name })).collect::<Vec<_>>(),
        "schedule": state.schedule(event.id).into_iter().map(|f| fixture_json(state, f)).collect::<Vec<_>>(),
        "leaderboard": leaderboard_json(state, event),
        "created_at": iso(event.created_at),
    })
}
