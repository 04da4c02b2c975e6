//! The sports day's HTTP API (seed 003): staff create events, teams, registrations, fixtures,
//! results and announcements, and sell tickets at the gate; a team's manager (a `member`
//! token) registers the team and runs its own fixtures and announcements; anyone reads a
//! public event, its schedule and leaderboard; a private event only its teams' members and
//! staff; a purchase only its buyer and staff.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, patch, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::access::{may_see_purchase, may_watch, member_id};
use super::domain::leaderboard::Points;
use super::domain::{
    Announcement, AnnouncementChange, AnnouncementType, FixtureChange, Member, MemberRole,
    Priority, PurchaseStatus, Score, SportsCommand, SportsError, SportsOutcome, SportsState,
};
use super::json::{
    announcement_json, event_json, fixture_json, leaderboard_json, purchase_json, team_json,
};
use super::stream;
use crate::auth::{Claims, Role};
use crate::domain::{DomainError, Millis};
use crate::engine::wall_clock_ms;
use crate::wire::errors::{ErrorCode, WireError};
use crate::wire::extract::{Admin, Body, Caller, Id, Params};
use crate::wire::sse::StreamSlots;
use crate::wire::{run, AppContext};

type Ctx = State<Arc<AppContext>>;

/// How long the member tokens a new team's answer carries hold: the day of the event.
const MEMBER_TOKEN_TTL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

pub fn router() -> Router<Arc<AppContext>> {
    Router::new()
        .route("/api/events", post(create_event))
        .route("/api/events/{id}", get(event))
        .route("/api/events/{id}/registrations", post(register))
        .route("/api/events/{id}/fixtures", post(add_fixture))
        .route("/api/events/{id}/leaderboard", get(leaderboard))
        .route("/api/teams", post(create_team))
        .route(
            "/api/fixtures/{id}",
            patch(change_fixture).delete(delete_fixture),
        )
        .route("/api/fixtures/{id}/result", post(record_result))
        .route("/api/announcements", post(announce).get(announcements))
        .route(
            "/api/announcements/{id}",
            patch(change_announcement).delete(delete_announcement),
        )
        .route("/api/announcements/{id}/broadcast", post(rebroadcast))
        .route("/api/purchases", post(purchase))
        .route("/api/purchases/{id}", get(purchase_of).patch(set_purchase))
        .route("/ws/events/{id}/stream/", get(stream::socket_route))
        .route("/ws/events/{id}/stream", get(stream::socket_route))
        .route("/ws/teams/{id}/", get(stream::socket_route))
        .route("/ws/teams/{id}", get(stream::socket_route))
        .route("/ws/purchases/{id}/", get(stream::socket_route))
        .route("/ws/purchases/{id}", get(stream::socket_route))
        .route("/api/events/{id}/stream/", get(stream::stream_route))
        .route("/api/events/{id}/stream", get(stream::stream_route))
        .route(
            "/api/events/{id}/stream/results/",
            get(stream::stream_route),
        )
        .route("/api/events/{id}/stream/results", get(stream::stream_route))
        .route(
            "/api/events/{id}/stream/schedule/",
            get(stream::stream_route),
        )
        .route(
            "/api/events/{id}/stream/schedule",
            get(stream::stream_route),
        )
        .route("/api/teams/{id}/stream/", get(stream::stream_route))
        .route("/api/teams/{id}/stream", get(stream::stream_route))
        .layer(Extension(StreamSlots::new(stream::STREAMS_PER_ADDRESS)))
}

fn domain_error(e: SportsError) -> WireError {
    DomainError::from(e).into()
}

fn view(ctx: &AppContext) -> Arc<SportsState> {
    ctx.engine.published().views.sports.clone()
}

async fn answer(ctx: &AppContext, command: SportsCommand) -> Result<SportsOutcome, WireError> {
    run::<SportsOutcome>(&ctx.engine, command).await
}

fn forbidden(what: &str) -> WireError {
    WireError::new(
        ErrorCode::Forbidden,
        format!("only staff or the event's managers {what}"),
    )
}

/// The teams an action on an event touches, for a team manager's reach.
enum Reach {
    /// A fixture: the manager of either side may run it.
    EitherOf([u64; 2]),
    /// An announcement for listed teams: the manager of every one of them.
    AllOf(Vec<u64>),
    /// The whole event: staff only.
    WholeEvent,
}

fn reach_of(state: &SportsState, command: &SportsCommand) -> Reach {
    let fixture = |id: &u64| {
        state
            .fixtures
            .get(id)
            .map_or(Reach::WholeEvent, |f| Reach::EitherOf([f.home, f.away]))
    };
    let targets = |teams: Vec<u64>| {
        if teams.is_empty() {
            Reach::WholeEvent
        } else {
            Reach::AllOf(teams)
        }
    };
    let announcement = |id: &u64| {
        state.announcements.get(id).map_or(Reach::WholeEvent, |a| {
            targets(a.target_teams.iter().copied().collect())
        })
    };
    match command {
        SportsCommand::AddFixture { home, away, .. } => Reach::EitherOf([*home, *away]),
        SportsCommand::ChangeFixture { fixture_id, .. }
        | SportsCommand::DeleteFixture { fixture_id }
        | SportsCommand::RecordResult { fixture_id, .. } => fixture(fixture_id),
        SportsCommand::Announce { target_teams, .. } => {
            targets(target_teams.iter().copied().collect())
        }
        SportsCommand::ChangeAnnouncement {
            announcement_id, ..
        }
        | SportsCommand::DeleteAnnouncement { announcement_id }
        | SportsCommand::Rebroadcast { announcement_id } => announcement(announcement_id),
        _ => Reach::WholeEvent,
    }
}

/// Staff run all of an event; a manager of a team registered to it (a `member` token) runs the
/// fixtures their team plays and the announcements for their team alone.
fn may_run(
    state: &SportsState,
    claims: &Claims,
    event_id: u64,
    command: &SportsCommand,
    what: &str,
) -> Result<(), WireError> {
    if claims.role == Role::Admin {
        return Ok(());
    }
    let manages = |team: &u64| {
        member_id(claims).is_some_and(|m| {
            state
                .events
                .get(&event_id)
                .is_some_and(|e| e.teams.contains(team))
                && state.teams.get(team).is_some_and(|t| t.is_manager(m))
        })
    };
    let allowed = match reach_of(state, command) {
        Reach::EitherOf(teams) => teams.iter().any(manages),
        Reach::AllOf(teams) => teams.iter().all(manages),
        Reach::WholeEvent => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(forbidden(what))
    }
}

/// The event a command works on: named in it, or its fixture's or announcement's.
fn event_of(state: &SportsState, command: &SportsCommand) -> Result<u64, WireError> {
    match command {
        SportsCommand::AddFixture { event_id, .. } | SportsCommand::Announce { event_id, .. } => {
            Ok(*event_id)
        }
        SportsCommand::ChangeFixture { fixture_id, .. }
        | SportsCommand::DeleteFixture { fixture_id }
        | SportsCommand::RecordResult { fixture_id, .. } => {
            Ok(state.fixture(*fixture_id).map_err(domain_error)?.event_id)
        }
        SportsCommand::ChangeAnnouncement {
            announcement_id, ..
        }
        | SportsCommand::DeleteAnnouncement { announcement_id }
        | SportsCommand::Rebroadcast { announcement_id } => Ok(state
            .announcement(*announcement_id)
            .map_err(domain_error)?
            .event_id),
        other => Err(crate::wire::errors::unexpected(other)),
    }
}

/// Runs `command` on its event when the caller may (staff, or a team's manager within their
/// team's reach).
async fn run_for_event(
    ctx: &AppContext,
    claims: &Claims,
    what: &str,
    command: SportsCommand,
) -> Result<SportsOutcome, WireError> {
    let state = view(ctx);
    may_run(&state, claims, event_of(&state, &command)?, &command, what)?;
    answer(ctx, command).await
}

/// The caller's claims when the request carries a valid token (reads are open to anonymous
/// callers where the event is public).
async fn optional_caller(ctx: &AppContext, headers: &axum::http::HeaderMap) -> Option<Claims> {
    let token = crate::wire::extract::bearer_token(headers)?;
    ctx.secrets.verify(token).ok()
}

fn time_of(field: &'static str, text: &str) -> Result<Millis, WireError> {
    crate::wire::time::parse_time(&Value::String(text.to_string())).ok_or_else(|| {
        WireError::new(
            ErrorCode::InvalidData,
            format!("{field} is an ISO 8601 time (2026-06-01T10:00:00Z)"),
        )
    })
}

// --- handlers ------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PointsBody {
    win: u32,
    draw: u32,
    loss: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventBody {
    name: String,
    public: bool,
    points: Option<PointsBody>,
}

async fn create_event(
    State(ctx): Ctx,
    Admin(claims): Admin,
    Body(body): Body<EventBody>,
) -> Result<(StatusCode, Json<Value>), WireError> {
    let points = body.points.map_or_else(Points::default, |p| Points {
        win: p.win,
        draw: p.draw,
        loss: p.loss,
    });
    let command = SportsCommand::CreateEvent {
        name: body.name,
        public: body.public,
        points,
        created_by: claims.sub,
    };
    match answer(&ctx, command).await? {
        SportsOutcome::Meet(event) => {
            Ok((StatusCode::CREATED, Json(event_json(&view(&ctx), &event))))
        }
        other => Err(crate::wire::errors::unexpected(other)),
    }
}

async fn event(
    State(ctx): Ctx,
    headers: axum::http::HeaderMap,
    Id(id): Id,
) -> Result<Json<Value>, WireError> {
    let claims = optional_caller(&ctx, &headers).await;
    let state = view(&ctx);
    let event = state.meet(id).map_err(domain_error)?;
    if !may_watch(&state, event, claims.as_ref()) {
        return Err(WireError::new(
            ErrorCode::Forbidden,
            "a private event: for its teams, its managers and staff",
        ));
    }
    Ok(Json(event_json(&state, event)))
}

async fn leaderboard(
    State(ctx): Ctx,
    headers: axum::http::HeaderMap,
    Id(id): Id,
) -> Result<Json<Value>, WireError> {
    let claims = optional_caller(&ctx, &headers).await;
    let state = view(&ctx);
    let event = state.meet(id).map_err(domain_error)?;
    if !may_watch(&state, event, claims.as_ref()) {
        return Err(WireError::new(ErrorCode::Forbidden, "a private event"));
    }
    Ok(Json(
        json!({ "event_id": id, "leaderboard": leaderboard_json(&state, event) }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberBody {
    user_id: String,
    role: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TeamBody {
    name: String,
    members: Vec<MemberBody>,
}

async fn create_team(
    State(ctx): Ctx,
    _admin: Admin,
    Body(body): Body<TeamBody>,
) -> Result<(StatusCode, Json<Value>), WireError> {
    let mut members = Vec::new();
    for m in body.members {
        let role = match m.role.as_str() {
            "manager" => MemberRole::Manager,
            "coach" => MemberRole::Coach,
            "player" => MemberRole::Player,
            _ => {
                return Err(WireError::new(
                    ErrorCode::InvalidData,
                    "role is manager, coach or player",
                ))
            }
        };
        members.push(Member {
            user_id: m.user_id,
            role,
        });
    }
    let command = SportsCommand::CreateTeam {
        name: body.name,
        members,
    };
    match answer(&ctx, command).await? {
        SportsOutcome::Team(team) => {
            // Each member's link to the team's live updates (and a private event it plays in):
            // staff hand them out, as the CLI's `token --role member` would.
            let mut answer = team_json(&team);
            let mut tokens = serde_json::Map::new();
            for member in &team.members {
                let token = ctx
                    .secrets
                    .mint(Role::Member, &member.user_id, MEMBER_TOKEN_TTL)?;
                tokens.insert(member.user_id.clone(), token.into());
            }
            answer["member_tokens"] = Value::Object(tokens);
            Ok((StatusCode::CREATED, Json(answer)))
        }
        other => Err(crate::wire::errors::unexpected(other)),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistrationBody {
    team_id: u64,
}

async fn register(
    State(ctx): Ctx,
    Caller(claims): Caller,
    Id(event_id): Id,
    Body(body): Body<RegistrationBody>,
) -> Result<(StatusCode, Json<Value>), WireError> {
    let state = view(&ctx);
    let team_manager = state
        .teams
        .get(&body.team_id)
        .is_some_and(|t| member_id(&claims).is_some_and(|m| t.is_manager(m)));
    if claims.role != Role::Admin && !team_manager {
        return Err(WireError::new(
            ErrorCode::Forbidden,
            "staff or the team's manager register a team",
        ));
    }
    // A private event is for the teams staff invite: a manager who could register their team
    // would read its announcements and, with a fixture, enter results in its table.
    let private = state.events.get(&event_id).is_some_and(|e| !e.public);
    if claims.role != Role::Admin && private {
        return Err(WireError::new(
            ErrorCode::Forbidden,
            "staff register teams for a private event",
        ));
    }
    let command = SportsCommand::Register {
        event_id,
        team_id: body.team_id,
    };
    match answer(&ctx, command).await? {
        SportsOutcome::Meet(event) => {
            Ok((StatusCode::CREATED, Json(event_json(&view(&ctx), &event))))
        }
        other => Err(crate::wire::errors::unexpected(other)),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureBody {
    home_team_id: u64,
    away_team_id: u64,
    starts_at: String,
}

fn fixture_answer(ctx: &AppContext, outcome: SportsOutcome) -> Result<Json<Value>, WireError> {
    match outcome {
        SportsOutcome::Fixture(f) => Ok(Json(fixture_json(&view(ctx), &f))),
        other => Err(crate::wire::errors::unexpected(other)),
    }
}

async fn add_fixture(
    State(ctx): Ctx,
    Caller(claims): Caller,
    Id(event_id): Id,
    Body(body): Body<FixtureBody>,
) -> Result<(StatusCode, Json<Value>), WireError> {
    let command = SportsCommand::AddFixture {
        event_id,
        home: body.home_team_id,
        away: body.away_team_id,
        starts_at: time_of("starts_at", &body.starts_at)?,
    };
    let outcome = run_for_event(&ctx, &claims, "add fixtures", command).await?;
    Ok((StatusCode::CREATED, fixture_answer(&ctx, outcome)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureChangeBody {
    starts_at: Option<String>,
    status: Option<String>,
}

async fn change_fixture(
    State(ctx): Ctx,
    Caller(claims): Caller,
    Id(fixture_id): Id,
    Body(body): Body<FixtureChangeBody>,
) -> Result<Json<Value>, WireError> {
    let cancelled = match body.status.as_deref() {
        None => false,
        Some("cancelled") => true,
        Some(_) => {
            return Err(WireError::new(
                ErrorCode::InvalidData,
                "status may only become \"cancelled\" (a result makes a fixture final)",
            ))
        }
    };
    let starts_at = body
        .starts_at
        .as_deref()
        .map(|t| time_of("starts_at", t))
        .transpose()?;
    let command = SportsCommand::ChangeFixture {
        fixture_id,
        change: FixtureChange {
            starts_at,
            cancelled,
        },
    };
    fixture_answer(
        &ctx,
        run_for_event(&ctx, &claims, "change fixtures", command).await?,
    )
}

async fn delete_fixture(
    State(ctx): Ctx,
    Caller(claims): Caller,
    Id(fixture_id): Id,
) -> Result<Json<Value>, WireError> {
    let command = SportsCommand::DeleteFixture { fixture_id };
    fixture_answer(
        &ctx,
        run_for_event(&ctx, &claims, "delete fixtures", command).await?,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResultBody {
    home_score: u32,
    away_score: u32,
}

async fn record_result(
    State(ctx): Ctx,
    Caller(claims): Caller,
    Id(fixture_id): Id,
    Body(body): Body<ResultBody>,
) -> Result<Json<Value>, WireError> {
    let command = SportsCommand::RecordResult {
        fixture_id,
        score: Score {
            home: body.home_score,
            away: body.away_score,
        },
    };
    fixture_answer(
        &ctx,
        run_for_event(&ctx, &claims, "enter results", command).await?,
    )
}

fn parse_kind(text: &str) -> Result<AnnouncementType, WireError> {
    Ok(match text {
        "general" => AnnouncementType::General,
        "schedule_change" => AnnouncementType::ScheduleChange,
        "result_update" => AnnouncementType::ResultUpdate,
        "weather_alert" => AnnouncementType::WeatherAlert,
        "emergency" => AnnouncementType::Emergency,
        _ => {
            return Err(WireError::new(
                ErrorCode::InvalidData,
                "type is general, schedule_change, result_update, weather_alert or emergency",
            ))
        }
    })
}

fn parse_priority(text: &str) -> Result<Priority, WireError> {
    Ok(match text {
        "low" => Priority::Low,
        "normal" => Priority::Normal,
        "high" => Priority::High,
        "urgent" => Priority::Urgent,
        _ => {
            return Err(WireError::new(
                ErrorCode::InvalidData,
                "priority is low, normal, high or urgent",
            ))
        }
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnnouncementBody {
    event_id: u64,
    title: String,
    message: String,
    #[serde(rename = "type")]
    kind: String,
    priority: String,
    #[serde(default)]
    target_teams: BTreeSet<u64>,
    expires_at: Option<String>,
}

fn announcement_answer(outcome: SportsOutcome) -> Result<Json<Value>, WireError> {
    match outcome {
        SportsOutcome::Announcement(a) => Ok(Json(announcement_json(&a, wall_clock_ms()))),
        other => Err(crate::wire::errors::unexpected(other)),
    }
}

async fn announce(
    State(ctx): Ctx,
    Caller(claims): Caller,
    Body(body): Body<AnnouncementBody>,
) -> Result<(StatusCode, Json<Value>), WireError> {
    let command = SportsCommand::Announce {
        event_id: body.event_id,
        title: body.title,
        message: body.message,
        kind: parse_kind(&body.kind)?,
        priority: parse_priority(&body.priority)?,
        target_teams: body.target_teams,
        expires_at: body
            .expires_at
            .as_deref()
            .map(|t| time_of("expires_at", t))
            .transpose()?,
        created_by: claims.sub.clone(),
    };
    Ok((
        StatusCode::CREATED,
        announcement_answer(run_for_event(&ctx, &claims, "announce", command).await?)?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnnouncementFilter {
    event_id: u64,
    #[serde(rename = "type")]
    kind: Option<String>,
    priority: Option<String>,
    /// `active` (the default) or `expired`.
    status: Option<String>,
}

/// `GET /api/announcements?event_id=…[&type=…][&priority=…][&status=active|expired]`: an
/// event's announcements a caller may see (a team's own targeted ones included), newest first.
async fn announcements(
    State(ctx): Ctx,
    headers: axum::http::HeaderMap,
    Params(filter): Params<AnnouncementFilter>,
) -> Result<Json<Value>, WireError> {
    let claims = optional_caller(&ctx, &headers).await;
    let state = view(&ctx);
    let event = state.meet(filter.event_id).map_err(domain_error)?;
    if !may_watch(&state, event, claims.as_ref()) {
        return Err(WireError::new(ErrorCode::Forbidden, "a private event"));
    }
    let kind = filter.kind.as_deref().map(parse_kind).transpose()?;
    let priority = filter.priority.as_deref().map(parse_priority).transpose()?;
    let want_live = match filter.status.as_deref() {
        None | Some("active") => true,
        Some("expired") => false,
        Some(_) => {
            return Err(WireError::new(
                ErrorCode::InvalidData,
                "status is active or expired",
            ))
        }
    };
    let now = wall_clock_ms();
    let staff = claims.as_ref().is_some_and(|c| c.role == Role::Admin);
    let member = claims.as_ref().and_then(member_id);
    let sees = |a: &Announcement| {
        a.target_teams.is_empty()
            || staff
            || member.is_some_and(|m| {
                a.target_teams
                    .iter()
                    .filter_map(|t| state.teams.get(t))
                    .any(|t| t.has_member(m))
            })
    };
    let list: Vec<Value> = state
        .announcements
        .values()
        .rev()
        .filter(|a| a.event_id == event.id && !a.deleted)
        .filter(|a| a.is_live(now) == want_live)
        .filter(|a| kind.is_none_or(|k| a.kind == k))
        .filter(|a| priority.is_none_or(|p| a.priority == p))
        .filter(|a| sees(a))
        .map(|a| announcement_json(a, now))
        .collect();
    Ok(Json(json!({ "announcements": list })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnnouncementChangeBody {
    title: Option<String>,
    message: Option<String>,
    priority: Option<String>,
    #[serde(default, deserialize_with = "present")]
    expires_at: Option<Option<String>>,
}

/// A field given as `null` (clear it) apart from one left out (keep it).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

async fn change_announcement(
    State(ctx): Ctx,
    Caller(claims): Caller,
    Id(id): Id,
    Body(body): Body<AnnouncementChangeBody>,
) -> Result<Json<Value>, WireError> {
    let expires_at = match body.expires_at {
        None => None,
        Some(None) => Some(None),
        Some(Some(t)) => Some(Some(time_of("expires_at", &t)?)),
    };
    let command = SportsCommand::ChangeAnnouncement {
        announcement_id: id,
        change: AnnouncementChange {
            title: body.title,
            message: body.message,
            priority: body.priority.as_deref().map(parse_priority).transpose()?,
            expires_at,
        },
    };
    announcement_answer(run_for_event(&ctx, &claims, "change announcements", command).await?)
}

async fn delete_announcement(
    State(ctx): Ctx,
    Caller(claims): Caller,
    Id(id): Id,
) -> Result<Json<Value>, WireError> {
    let command = SportsCommand::DeleteAnnouncement {
        announcement_id: id,
    };
    announcement_answer(run_for_event(&ctx, &claims, "delete announcements", command).await?)
}

async fn rebroadcast(
    State(ctx): Ctx,
    Caller(claims): Caller,
    Id(id): Id,
) -> Result<Json<Value>, WireError> {
    let command = SportsCommand::Rebroadcast {
        announcement_id: id,
    };
    announcement_answer(run_for_event(&ctx, &claims, "broadcast announcements", command).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PurchaseBody {
    event_id: u64,
    user_id: String,
    quantity: u32,
}

fn purchase_answer(outcome: SportsOutcome) -> Result<Json<Value>, WireError> {
    match outcome {
        SportsOutcome::Purchase(p) => Ok(Json(purchase_json(&p))),
        other => Err(crate::wire::errors::unexpected(other)),
    }
}

/// `POST /api/purchases`: staff at the gate sell tickets to a buyer (their token's `sub`).
async fn purchase(
    State(ctx): Ctx,
    _admin: Admin,
    Body(body): Body<PurchaseBody>,
) -> Result<(StatusCode, Json<Value>), WireError> {
    let command = SportsCommand::Purchase {
        event_id: body.event_id,
        user_id: body.user_id,
        quantity: body.quantity,
    };
    Ok((
        StatusCode::CREATED,
        purchase_answer(answer(&ctx, command).await?)?,
    ))
}

async fn purchase_of(
    State(ctx): Ctx,
    Caller(claims): Caller,
    Id(id): Id,
) -> Result<Json<Value>, WireError> {
    let state = view(&ctx);
    let p = state.purchase(id).map_err(domain_error)?;
    if !may_see_purchase(p, &claims) {
        return Err(WireError::new(
            ErrorCode::Forbidden,
            "only its buyer sees a purchase",
        ));
    }
    Ok(Json(purchase_json(p)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PurchaseStatusBody {
    status: String,
}

async fn set_purchase(
    State(ctx): Ctx,
    _admin: Admin,
    Id(id): Id,
    Body(body): Body<PurchaseStatusBody>,
) -> Result<Json<Value>, WireError> {
    let status = match body.status.as_str() {
        "confirmed" => PurchaseStatus::Confirmed,
        "cancelled" => PurchaseStatus::Cancelled,
        "refunded" => PurchaseStatus::Refunded,
        _ => {
            return Err(WireError::new(
                ErrorCode::InvalidData,
                "status becomes confirmed, cancelled or refunded",
            ))
        }
    };
    let command = SportsCommand::SetPurchaseStatus {
        purchase_id: id,
        status,
    };
    purchase_answer(answer(&ctx, command).await?)
}

/// Decodes `bytes` as the `which`-th body (modulo their number) this module's routes take, as
/// their extractor does, then through what the route checks before it asks the engine (the
/// fuzz target `rest_body`). Whether the body was taken.
pub(crate) fn decode_any_body(which: u8, bytes: &[u8]) -> bool {
    use crate::wire::extract::decode_body;
    match which % 10 {
        0 => decode_body::<AnnouncementBody>(bytes).is_ok(),
        1 => decode_body::<AnnouncementChangeBody>(bytes).is_ok(),
        2 => decode_body::<EventBody>(bytes).is_ok(),
        3 => decode_body::<FixtureBody>(bytes).is_ok(),
        4 => decode_body::<FixtureChangeBody>(bytes).is_ok(),
        5 => decode_body::<PurchaseBody>(bytes).is_ok(),
        6 => decode_body::<PurchaseStatusBody>(bytes).is_ok(),
        7 => decode_body::<RegistrationBody>(bytes).is_ok(),
        8 => decode_body::<ResultBody>(bytes).is_ok(),
        _ => decode_body::<TeamBody>(bytes).is_ok(),
    }
}
