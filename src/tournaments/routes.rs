//! The tournaments' HTTP API (seed 000): staff create tournaments, register teams and
//! adjudicators (each answered with the participant's token), create rounds, check people in,
//! run the draw (a job: 202, then `draws:new`), publish, run the timer and enter ballots; anyone
//! with a token reads tournaments, rounds, draws and standings. A round's motion is in no answer
//! to a non-admin before the round is published.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::domain::{
    draw, Adjudicator, Ballot, DrawState, Round, Side, Speaker, Tournament, TournamentCommand,
    TournamentOutcome, TournamentsState,
};
use super::timer::{RoundClocks, TimerRequest};
use crate::auth::{Claims, Role};
use crate::engine::EngineHandle;
use crate::wire::errors::{unexpected, ErrorCode, WireError};
use crate::wire::extract::{Admin, Body, Caller, Id};
use crate::wire::time::iso;
use crate::wire::{run, AppContext};

type Ctx = State<Arc<AppContext>>;

/// How long a participant's token is good for: a tournament day and its night.
const PARTICIPANT_TOKEN_TTL: std::time::Duration = std::time::Duration::from_secs(48 * 3600);

pub fn router() -> Router<Arc<AppContext>> {
    Router::new()
        .route("/api/tournaments", post(create).get(list))
        .route("/api/tournaments/{id}", get(tournament))
        .route("/api/tournaments/{id}/teams", post(register_team))
        .route(
            "/api/tournaments/{id}/adjudicators",
            post(register_adjudicator),
        )
        .route("/api/tournaments/{id}/rounds", post(create_round))
        .route("/api/tournaments/{id}/standings", get(standings))
        .route("/api/rounds/{id}", get(round))
        .route("/api/rounds/{id}/checkins", post(check_in))
        .route("/api/rounds/{id}/draw", post(start_draw).get(round_draw))
        .route("/api/rounds/{id}/publish", post(publish))
        .route("/api/rounds/{id}/timer", post(timer))
        .route("/api/rounds/{id}/ballots", post(ballot))
        .route("/ws/stream", get(super::stream::upgrade))
        .layer(Extension(Arc::new(RoundClocks::default())))
        .layer(Extension(Arc::new(super::stream::StreamLimits::default())))
}

/// Who may read: staff, a participant, or a display (viewer); the motion is staff's until
/// the round is published.
fn may_read(caller: &Claims) -> Result<bool, WireError> {
    match caller.role {
        Role::Admin => Ok(true),
        Role::Participant | Role::Viewer => Ok(false),
        _ => Err(WireError::new(
            ErrorCode::Forbidden,
            format!("a {} token does not read tournaments", caller.role),
        )),
    }
}

fn view(ctx: &AppContext) -> Arc<TournamentsState> {
    ctx.engine.published().views.tournaments.clone()
}

fn domain_error(e: super::domain::TournamentError) -> WireError {
    crate::domain::DomainError::from(e).into()
}

pub(crate) fn round_json(round: &Round, staff: bool) -> Value {
    let motion_shown = staff || round.published;
    let draw_status = match &round.draw {
        DrawState::NotStarted => json!({ "status": "none" }),
        DrawState::Running => json!({ "status": "running" }),
        DrawState::Done(_) => json!({ "status": "done" }),
        DrawState::Failed(reason) => json!({ "status": "failed", "reason": reason }),
    };
    json!({
        "id": round.id,
        "tournament_id": round.tournament_id,
        "number": round.number,
        "motion": motion_shown.then(|| round.motion.clone()),
        "published": round.published,
        "checked_in": round.checked_in,
        "draw": draw_status,
        "timer": { "seconds_remaining": round.timer.remaining_secs, "running": round.timer.running },
        "ballots": round.ballots.len(),
    })
}

fn tournament_json(t: &Tournament, state: &TournamentsState, staff: bool) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "created_at": iso(t.created_at),
        "teams": t.teams.iter().map(|team| json!({
            "id": team.id,
            "name": team.name,
            "speakers": team.speakers.iter().map(|s| json!({ "id": s.id, "name": s.name })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "adjudicators": t.adjudicators.iter().map(|a| json!({ "id": a.id, "name": a.name })).collect::<Vec<_>>(),
        "rounds": t.rounds.iter().filter_map(|id| state.rounds.get(id)).map(|r| round_json(r, staff)).collect::<Vec<_>>(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
}

async fn create(
    State(ctx): Ctx,
    _admin: Admin,
    Body(body): Body<CreateBody>,
) -> Result<(StatusCode, Json<Value>), WireError> {
    match run(&ctx.engine, TournamentCommand::Create { name: body.name }).await? {
        TournamentOutcome::Tournament(t) => Ok((
            StatusCode::CREATED,
            Json(tournament_json(&t, &TournamentsState::default(), true)),
        )),
        other => Err(unexpected(other)),
    }
}

/// `GET /api/tournaments`: every tournament on the box, newest last (a page picks one).
async fn list(State(ctx): Ctx, Caller(caller): Caller) -> Result<Json<Value>, WireError> {
    may_read(&caller)?;
    let state = view(&ctx);
    let tournaments: Vec<Value> = state
        .tournaments
        .values()
        .map(|t| json!({ "id": t.id, "name": t.name, "rounds": t.rounds.len(), "teams": t.teams.len() }))
        .collect();
    Ok(Json(json!({ "tournaments": tournaments })))
}

async fn tournament(
    State(ctx): Ctx,
    Caller(caller): Caller,
    Id(id): Id,
) -> Result<Json<Value>, WireError> {
    let staff = may_read(&caller)?;
    let state = view(&ctx);
    let t = state.tournament(id).map_err(domain_error)?;
    Ok(Json(tournament_json(t, &state, staff)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpeakerBody {
    id: String,
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TeamBody {
    name: String,
    speakers: Vec<SpeakerBody>,
}

/// A participant's token: role `participant`, `sub` their UUID.
fn participant_token(ctx: &AppContext, id: &str) -> Result<String, WireError> {
    Ok(ctx
        .secrets
        .mint(Role::Participant, id, PARTICIPANT_TOKEN_TTL)?)
}

async fn register_team(
    State(ctx): Ctx,
    _admin: Admin,
    Id(id): Id,
    Body(body): Body<TeamBody>,
) -> Result<(StatusCode, Json<Value>), WireError> {
    if body.speakers.len() > 3 {
        return Err(WireError::new(
            ErrorCode::InvalidData,
            "a team has 2 or 3 speakers",
        ));
    }
    let command = TournamentCommand::RegisterTeam {
        tournament_id: id,
        name: body.name,
        speakers: body
            .speakers
            .into_iter()
            .map(|s| Speaker {
                id: s.id,
                name: s.name,
            })
            .collect(),
    };
    match run(&ctx.engine, command).await? {
        TournamentOutcome::Team(team) => {
            let mut speakers = Vec::new();
            for s in &team.speakers {
                speakers.push(
                    json!({ "id": s.id, "name": s.name, "token": participant_token(&ctx, &s.id)? }),
                );
            }
            Ok((
                StatusCode::CREATED,
                Json(json!({ "id": team.id, "name": team.name, "speakers": speakers })),
            ))
        }
        other => Err(unexpected(other)),
    }
}

async fn register_adjudicator(
    State(ctx): Ctx,
    _admin: Admin,
    Id(id): Id,
    Body(body): Body<SpeakerBody>,
) -> Result<(StatusCode, Json<Value>), WireError> {
    let command = TournamentCommand::RegisterAdjudicator {
        tournament_id: id,
        adjudicator: Adjudicator {
            id: body.id,
            name: body.name,
        },
    };
    match run(&ctx.engine, command).await? {
        TournamentOutcome::Adjudicator(a) => Ok((
            StatusCode::CREATED,
            Json(json!({ "id": a.id, "name": a.name, "token": participant_token(&ctx, &a.id)? })),
        )),
        other => Err(unexpected(other)),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoundBody {
    motion: String,
}

async fn create_round(
    State(ctx): Ctx,
    _admin: Admin,
    Id(id): Id,
    Body(body): Body<RoundBody>,
) -> Result<(StatusCode, Json<Value>), WireError> {
    let command = TournamentCommand::CreateRound {
        tournament_id: id,
        motion: body.motion,
    };
    let round = round_outcome(run(&ctx.engine, command).await?)?;
    Ok((StatusCode::CREATED, Json(round_json(&round, true))))
}

fn round_outcome(outcome: TournamentOutcome) -> Result<Round, WireError> {
    match outcome {
        TournamentOutcome::Round(round) => Ok(round),
        other => Err(unexpected(other)),
    }
}

async fn round(
    State(ctx): Ctx,
    Extension(clocks): Extension<Arc<RoundClocks>>,
    Caller(caller): Caller,
    Id(id): Id,
) -> Result<Json<Value>, WireError> {
    let staff = may_read(&caller)?;
    let state = view(&ctx);
    let mut answer = round_json(state.round(id).map_err(domain_error)?, staff);
    // A running timer as the clock shows it now, not as last persisted.
    if let Some(remaining) = clocks.remaining(id) {
        answer["timer"]["seconds_remaining"] = remaining.into();
    }
    Ok(Json(answer))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckInBody {
    user_id: String,
    status: bool,
}

async fn check_in(
    State(ctx): Ctx,
    _admin: Admin,
    Id(id): Id,
    Body(body): Body<CheckInBody>,
) -> Result<Json<Value>, WireError> {
    let command = TournamentCommand::CheckIn {
        round_id: id,
        user_id: body.user_id.to_ascii_lowercase(),
        present: body.status,
    };
    let round = round_outcome(run(&ctx.engine, command).await?)?;
    Ok(Json(round_json(&round, true)))
}

/// Starts the draw job: the round is marked running at once (202), the draw is made on a
/// blocking thread from the published state with a seed drawn here, and recorded; `draws:new`
/// follows. A job that fails records why (the round's `draw.status` is `failed`).
async fn start_draw(
    State(ctx): Ctx,
    _admin: Admin,
    Id(id): Id,
) -> Result<(StatusCode, Json<Value>), WireError> {
    let round =
        round_outcome(run(&ctx.engine, TournamentCommand::StartDraw { round_id: id }).await?)?;
    // The job records the draw for whoever started it: the staff's trail follows it.
    let job = run_draw_job(ctx.engine.clone(), id);
    tokio::spawn(crate::engine::acting_as_if(
        crate::engine::current_actor(),
        job,
    ));
    Ok((StatusCode::ACCEPTED, Json(round_json(&round, true))))
}

async fn run_draw_job(engine: EngineHandle, round_id: u64) {
    let state = engine.published().views.tournaments.clone();
    let mut seed_bytes = [0u8; 8];
    let seed = match getrandom::fill(&mut seed_bytes) {
        Ok(()) => u64::from_le_bytes(seed_bytes),
        Err(_) => 0,
    };
    let made = tokio::task::spawn_blocking(move || {
        let (number, teams, adjudicators) = state.draw_inputs(round_id)?;
        Ok::<_, super::domain::TournamentError>(draw::make_draw(
            number,
            &teams,
            &adjudicators,
            seed,
        ))
    })
    .await;
    let command = match made {
        Ok(Ok(made)) => TournamentCommand::RecordDraw {
            round_id,
            seed,
            draw: made,
        },
        Ok(Err(e)) => TournamentCommand::DrawFailed {
            round_id,
            reason: e.to_string(),
        },
        Err(_) => TournamentCommand::DrawFailed {
            round_id,
            reason: "the draw job stopped".into(),
        },
    };
    if let Err(e) = engine.execute(command.into()).await {
        tracing::warn!(round_id, error = %e, "the draw could not be recorded");
    }
}

async fn round_draw(
    State(ctx): Ctx,
    Caller(caller): Caller,
    Id(id): Id,
) -> Result<Json<Value>, WireError> {
    may_read(&caller)?;
    let state = view(&ctx);
    let round = state.round(id).map_err(domain_error)?;
    let tournament = state
        .tournament(round.tournament_id)
        .map_err(domain_error)?;
    let Some(made) = round.draw() else {
        return Err(WireError::new(
            ErrorCode::NotFound,
            "this round has no draw yet",
        ));
    };
    let team = |id: u64| {
        let name = tournament
            .teams
            .iter()
            .find(|t| t.id == id)
            .map(|t| t.name.clone());
        json!({ "id": id, "name": name })
    };
    let judge = |id: &String| {
        let name = tournament
            .adjudicators
            .iter()
            .find(|a| &a.id == id)
            .map(|a| a.name.clone());
        json!({ "id": id, "name": name })
    };
    Ok(Json(json!({
        "round_id": round.id,
        "tournament_id": round.tournament_id,
        "rooms": made.rooms.iter().map(|r| json!({
            "room": r.number,
            "proposition": team(r.proposition),
            "opposition": team(r.opposition),
            "adjudicator": r.adjudicator.as_ref().map(judge),
        })).collect::<Vec<_>>(),
        "bye": made.bye.map(team),
    })))
}

async fn publish(State(ctx): Ctx, _admin: Admin, Id(id): Id) -> Result<Json<Value>, WireError> {
    let round =
        round_outcome(run(&ctx.engine, TournamentCommand::Publish { round_id: id }).await?)?;
    Ok(Json(round_json(&round, true)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TimerBody {
    action: String,
    seconds: Option<u32>,
}

impl TimerBody {
    fn request(&self) -> Result<TimerRequest, WireError> {
        let seconds = || {
            self.seconds.ok_or_else(|| {
                WireError::new(
                    ErrorCode::InvalidData,
                    format!("{} needs seconds (the time the round gets)", self.action),
                )
            })
        };
        let no_seconds = |request| match self.seconds {
            None => Ok(request),
            Some(_) => Err(WireError::new(
                ErrorCode::InvalidData,
                "seconds goes with start or reset only",
            )),
        };
        match self.action.as_str() {
            "start" => Ok(TimerRequest::Start {
                seconds: seconds()?,
            }),
            "reset" => Ok(TimerRequest::Reset {
                seconds: seconds()?,
            }),
            "pause" => no_seconds(TimerRequest::Pause),
            "resume" => no_seconds(TimerRequest::Resume),
            _ => Err(WireError::new(
                ErrorCode::InvalidData,
                "action is start, pause, resume or reset",
            )),
        }
    }
}

/// `POST /api/rounds/{id}/timer`: start, pause, resume or reset the round's timer; the change
/// is durable before the answer, and every screen gets `timers:sync`.
async fn timer(
    State(ctx): Ctx,
    Extension(clocks): Extension<Arc<RoundClocks>>,
    _admin: Admin,
    Id(id): Id,
    Body(body): Body<TimerBody>,
) -> Result<Json<Value>, WireError> {
    let round = super::timer::change(&ctx.engine, &clocks, id, body.request()?).await?;
    Ok(Json(round_json(&round, true)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScoreBody {
    id: String,
    score: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BallotBody {
    room: u32,
    winner: String,
    speakers: Vec<ScoreBody>,
}

async fn ballot(
    State(ctx): Ctx,
    _admin: Admin,
    Id(id): Id,
    Body(body): Body<BallotBody>,
) -> Result<Json<Value>, WireError> {
    let winner = match body.winner.as_str() {
        "proposition" => Side::Proposition,
        "opposition" => Side::Opposition,
        _ => {
            return Err(WireError::new(
                ErrorCode::InvalidData,
                "winner is \"proposition\" or \"opposition\"",
            ))
        }
    };
    let command = TournamentCommand::EnterBallot {
        round_id: id,
        ballot: Ballot {
            room: body.room,
            winner,
            scores: body
                .speakers
                .into_iter()
                .map(|s| (s.id.to_ascii_lowercase(), s.score))
                .collect(),
        },
    };
    let round = round_outcome(run(&ctx.engine, command).await?)?;
    Ok(Json(round_json(&round, true)))
}

async fn standings(
    State(ctx): Ctx,
    Caller(caller): Caller,
    Id(id): Id,
) -> Result<Json<Value>, WireError> {
    may_read(&caller)?;
    let lines = view(&ctx).standings(id).map_err(domain_error)?;
    Ok(Json(json!({
        "tournament_id": id,
        "standings": lines.iter().map(|s| json!({
            "rank": s.rank,
            "team_id": s.team_id,
            "team": s.team_name,
            "wins": s.wins,
            "speaker_points": s.speaker_points,
            "debates": s.debates,
        })).collect::<Vec<_>>(),
    })))
}

/// Decodes `bytes` as the `which`-th body (modulo their number) this module's routes take, as
/// their extractor does, then through what the route checks before it asks the engine (the
/// fuzz target `rest_body`). Whether the body was taken.
pub(crate) fn decode_any_body(which: u8, bytes: &[u8]) -> bool {
    use crate::wire::extract::decode_body;
    match which % 7 {
        0 => decode_body::<BallotBody>(bytes).is_ok(),
        1 => decode_body::<CheckInBody>(bytes).is_ok(),
        2 => decode_body::<CreateBody>(bytes).is_ok(),
        3 => decode_body::<RoundBody>(bytes).is_ok(),
        4 => decode_body::<SpeakerBody>(bytes).is_ok(),
        5 => decode_body::<TeamBody>(bytes).is_ok(),
        _ => decode_body::<TimerBody>(bytes).is_ok_and(|timer| timer.request().is_ok()),
    }
}
