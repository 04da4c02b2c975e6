//! The drafts' HTTP API (seed 001): staff create a draft in a tournament (each captain answered
//! with their token), start it and undo picks; the captain on the clock, or staff, picks;
//! anyone reads the board and the history, as spectators need no token.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header::CONTENT_TYPE, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::domain::{Actor, Draft, DraftCommand, DraftError, DraftOutcome, Member, DRAFT_DICE};
use super::json::{draft_json, event_json};
use super::stream;
use crate::auth::{Claims, Role};
use crate::domain::DomainError;
use crate::engine::EngineError;
use crate::wire::errors::{unexpected, ErrorCode, WireError};
use crate::wire::extract::{Admin, Body, Caller, Id, Params};
use crate::wire::{run, AppContext};

type Ctx = State<Arc<AppContext>>;

/// How long a captain's token is good for: the draft night.
const CAPTAIN_TOKEN_TTL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
/// History entries in one page of `GET /api/drafts/{id}/events`.
const MAX_PAGE: usize = 100;

pub fn router() -> Router<Arc<AppContext>> {
    Router::new()
        .route(
            "/api/tournaments/{id}/drafts",
            post(create).get(tournament_drafts),
        )
        .route("/api/drafts/{id}", get(draft))
        .route("/api/drafts/{id}/start", post(start))
        .route("/api/drafts/{id}/picks", post(pick))
        .route("/api/drafts/{id}/undo", post(undo))
        .route("/api/drafts/{id}/events", get(events))
        .route("/ws/draft/{id}/", get(stream::draft_socket))
        .route("/ws/draft/{id}", get(stream::draft_socket))
        .route("/ws/tournament/{id}/", get(stream::tournament_socket))
        .route("/ws/tournament/{id}", get(stream::tournament_socket))
        .layer(Extension(Arc::new(BoardCache::default())))
}

/// Boards kept ready to send.
const CACHED_BOARDS: usize = 8;

/// The last board answered for each of a few drafts, by how many history entries it had (a
/// draft changes only by entries): a room of phones refreshing on every entry costs one board
/// per entry, not one per phone.
#[derive(Debug, Default)]
pub struct BoardCache(std::sync::Mutex<std::collections::HashMap<u64, (usize, Bytes)>>);

impl BoardCache {
    fn board(&self, draft: &Draft) -> Bytes {
        let mut boards = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((entries, body)) = boards.get(&draft.id) {
            if *entries == draft.history.len() {
                return body.clone();
            }
        }
        let body = Bytes::from(draft_json(draft).to_string());
        if boards.len() >= CACHED_BOARDS && !boards.contains_key(&draft.id) {
            boards.clear();
        }
        boards.insert(draft.id, (draft.history.len(), body.clone()));
        body
    }
}

fn domain_error(e: DraftError) -> WireError {
    DomainError::from(e).into()
}

/// A captain's token names the draft and the captain: it picks in that draft alone.
fn captain_sub(draft_id: u64, captain_id: &str) -> String {
    format!("{draft_id}:{captain_id}")
}

fn actor(claims: &Claims) -> Actor {
    Actor {
        user_id: claims.sub.clone(),
        staff: claims.role == Role::Admin,
    }
}

/// Who picks in `draft_id`: staff, or a captain of that draft (as the captain's id).
fn picker(claims: &Claims, draft_id: u64) -> Result<Actor, WireError> {
    match claims.role {
        Role::Admin => Ok(actor(claims)),
        Role::Captain => {
            let prefix = format!("{draft_id}:");
            let captain = claims.sub.strip_prefix(&prefix).ok_or_else(|| {
                WireError::new(
                    ErrorCode::Forbidden,
                    "this captain's token is for another draft",
                )
            })?;
            Ok(Actor {
                user_id: captain.to_string(),
                staff: false,
            })
        }
        other => Err(WireError::new(
            ErrorCode::Forbidden,
            format!("a {other} token does not pick"),
        )),
    }
}

/// d6 rolls for any tie the command settles, from the system's randomness (never the pure
/// domain's): a byte at or over 252 is drawn again, so each face is equally likely.
fn dice() -> Result<Vec<u8>, WireError> {
    let mut rolls = Vec::with_capacity(DRAFT_DICE);
    let mut bytes = [0u8; 64];
    while rolls.len() < DRAFT_DICE {
        getrandom::fill(&mut bytes)
            .map_err(|e| WireError::new(ErrorCode::ServerError, format!("no dice to roll: {e}")))?;
        rolls.extend(
            bytes
                .iter()
                .filter(|b| **b < 252)
                .map(|b| b % 6 + 1)
                .take(DRAFT_DICE - rolls.len()),
        );
    }
    Ok(rolls)
}

/// Runs a command that may roll dice: drawn again, once, in the (remote) case a tie used
/// them all.
async fn run_rolling(
    ctx: &AppContext,
    command: impl Fn(Vec<u8>) -> DraftCommand,
) -> Result<Draft, WireError> {
    let out_of_dice = EngineError::Domain(DomainError::Drafts(DraftError::OutOfDice));
    let mut answer = ctx.engine.execute(command(dice()?).into()).await;
    if matches!(&answer, Err(e) if *e == out_of_dice) {
        answer = ctx.engine.execute(command(dice()?).into()).await;
    }
    match DraftOutcome::try_from(answer?) {
        Ok(DraftOutcome::Draft(draft)) => Ok(*draft),
        Err(other) => Err(unexpected(other)),
    }
}

async fn answer(ctx: &AppContext, command: DraftCommand) -> Result<Draft, WireError> {
    match run::<DraftOutcome>(&ctx.engine, command).await? {
        DraftOutcome::Draft(draft) => Ok(*draft),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberBody {
    id: String,
    name: String,
    mmr: u32,
}

impl From<MemberBody> for Member {
    fn from(body: MemberBody) -> Self {
        Member {
            id: body.id,
            name: body.name,
            mmr: body.mmr,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    captains: Vec<MemberBody>,
    players: Vec<MemberBody>,
}

/// `POST /api/tournaments/{id}/drafts`: 201 with the board, each captain with the token they
/// pick with (role `captain`, for this draft only).
async fn create(
    State(ctx): Ctx,
    _admin: Admin,
    Id(tournament_id): Id,
    Body(body): Body<CreateBody>,
) -> Result<(StatusCode, Json<Value>), WireError> {
    let command = DraftCommand::Create {
        tournament_id,
        captains: body.captains.into_iter().map(Member::from).collect(),
        players: body.players.into_iter().map(Member::from).collect(),
    };
    let draft = answer(&ctx, command).await?;
    let mut board = draft_json(&draft);
    let mut tokens = serde_json::Map::new();
    for captain in &draft.captains {
        let token = ctx.secrets.mint(
            Role::Captain,
            &captain_sub(draft.id, &captain.id),
            CAPTAIN_TOKEN_TTL,
        )?;
        tokens.insert(captain.id.clone(), token.into());
    }
    board["captain_tokens"] = Value::Object(tokens);
    Ok((StatusCode::CREATED, Json(board)))
}

/// `GET /api/tournaments/{id}/drafts`: the tournament's drafts, for a page to pick one.
async fn tournament_drafts(
    State(ctx): Ctx,
    Id(tournament_id): Id,
) -> Result<Json<Value>, WireError> {
    let published = ctx.engine.published();
    if published
        .views
        .tournaments
        .tournament(tournament_id)
        .is_err()
    {
        return Err(WireError::new(
            ErrorCode::NotFound,
            format!("no tournament {tournament_id}"),
        ));
    }
    let drafts: Vec<Value> = published
        .views
        .drafts
        .drafts
        .values()
        .filter(|d| d.tournament_id == tournament_id)
        .map(|d| json!({ "id": d.id, "team_count": d.captains.len(), "events": d.history.len() }))
        .collect();
    Ok(Json(
        json!({ "tournament_id": tournament_id, "drafts": drafts }),
    ))
}

/// `GET /api/drafts/{id}`: the board, to anyone.
async fn draft(
    State(ctx): Ctx,
    Extension(boards): Extension<Arc<BoardCache>>,
    Id(id): Id,
) -> Result<impl IntoResponse, WireError> {
    let published = ctx.engine.published();
    let draft = published.views.drafts.draft(id).map_err(domain_error)?;
    Ok(([(CONTENT_TYPE, "application/json")], boards.board(draft)))
}

async fn start(
    State(ctx): Ctx,
    Admin(claims): Admin,
    Id(draft_id): Id,
) -> Result<Json<Value>, WireError> {
    let by = actor(&claims);
    let draft = run_rolling(&ctx, |dice| DraftCommand::Start {
        draft_id,
        actor: by.clone(),
        dice,
    })
    .await?;
    Ok(Json(draft_json(&draft)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PickBody {
    player_id: String,
}

/// `POST /api/drafts/{id}/picks`: the captain on the clock (their own token) or staff.
async fn pick(
    State(ctx): Ctx,
    Caller(claims): Caller,
    Id(draft_id): Id,
    Body(body): Body<PickBody>,
) -> Result<Json<Value>, WireError> {
    let by = picker(&claims, draft_id)?;
    let draft = run_rolling(&ctx, |dice| DraftCommand::Pick {
        draft_id,
        player_id: body.player_id.clone(),
        actor: by.clone(),
        dice,
    })
    .await?;
    Ok(Json(draft_json(&draft)))
}

async fn undo(
    State(ctx): Ctx,
    Admin(claims): Admin,
    Id(draft_id): Id,
) -> Result<Json<Value>, WireError> {
    let command = DraftCommand::Undo {
        draft_id,
        actor: actor(&claims),
    };
    Ok(Json(draft_json(&answer(&ctx, command).await?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    /// Entries older than this id.
    before: Option<u64>,
    limit: Option<usize>,
}

/// `GET /api/drafts/{id}/events`: the whole history, newest first, a page at a time
/// (`?before=<id>&limit=<n>`; `next_before` asks for the next page).
async fn events(
    State(ctx): Ctx,
    Id(id): Id,
    Params(page): Params<PageQuery>,
) -> Result<Json<Value>, WireError> {
    let published = ctx.engine.published();
    let draft = published.views.drafts.draft(id).map_err(domain_error)?;
    let limit = page.limit.unwrap_or(50).clamp(1, MAX_PAGE);
    let older = |e: &&super::domain::HistoryEntry| page.before.is_none_or(|b| e.id < b);
    let entries: Vec<Value> = draft
        .history
        .iter()
        .rev()
        .filter(older)
        .take(limit + 1)
        .map(|e| event_json(draft, e))
        .collect();
    let more = entries.len() > limit;
    let entries: Vec<Value> = entries.into_iter().take(limit).collect();
    let next_before = more
        .then(|| entries.last().and_then(|e| e["id"].as_u64()))
        .flatten();
    Ok(Json(json!({
        "draft_id": id,
        "events": entries,
        "next_before": next_before,
    })))
}

/// Decodes `bytes` as the `which`-th body (modulo their number) this module's routes take, as
/// their extractor does, then through what the route checks before it asks the engine (the
/// fuzz target `rest_body`). Whether the body was taken.
pub(crate) fn decode_any_body(which: u8, bytes: &[u8]) -> bool {
    use crate::wire::extract::decode_body;
    match which % 2 {
        0 => decode_body::<CreateBody>(bytes).is_ok(),
        _ => decode_body::<PickBody>(bytes).is_ok(),
    }
}
