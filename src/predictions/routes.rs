//! The live-predictions HTTP API (seed 002): logins, predictions, votes, grants, balances.
//! Every change goes through the engine and is durable before the answer, like all others.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Extension;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::domain::{
    CloseReason, Holder, NewPrediction, Prediction, PredictionCommand, PredictionOption,
    PredictionOutcome,
};
use super::realtime::event_json;
use super::{ViewerLimits, VOTES_PER_SECOND};
use unicode_normalization::UnicodeNormalization;

use crate::auth::Role;
use crate::domain::basics::is_invisible;
use crate::domain::StaffStep;
use crate::engine::wall_clock_ms;
use crate::wire::errors::{unexpected, ErrorCode, WireError};
use crate::wire::extract::{Admin, Body, Caller, ClientAddr};
use crate::wire::time::{iso, iso_now, parse_time};
use crate::wire::{run, AppContext};

type Ctx = State<Arc<AppContext>>;

pub fn router() -> Router<Arc<AppContext>> {
    Router::new()
        .route("/realtime", get(super::realtime::upgrade))
        .route("/api/auth", post(login))
        .route("/api/predictions", get(list).post(create))
        .route("/api/predictions/{id}/votes", post(vote))
        .route("/api/predictions/{id}/close", post(close))
        .route("/api/users/{user_id}/grants", post(grant))
        .route("/api/viewers", get(viewers))
        .route("/api/users/{user_id}/balance", get(balance))
        .route("/api/presence", get(presence))
        .route("/api/notices", post(send_notice))
        .layer(Extension(Arc::new(ViewerLimits::default())))
}

fn prediction_json(p: &Prediction) -> Value {
    let mut body = event_json(p);
    body["totals"] = json!(p.totals);
    body["status"] = json!(if p.is_open() { "open" } else { "closed" });
    body["createdAt"] = json!(iso(p.created_at));
    body["result"] = match &p.result {
        Some(r) => json!({
            "optionId": r.winner,
            "reason": match r.reason { CloseReason::Deadline => "deadline", CloseReason::Manual => "manual" },
            "closedAt": iso(r.closed_at),
        }),
        None => Value::Null,
    };
    body
}

/// A viewer's id from the name they typed: letters and digits of any script in lower case,
/// spaces as `-`, and `_`. The name is taken in NFKC first, so the forms different keyboards
/// send for one name ("Zoë" in one character or two, "ａｌｉｃｅ" in full width) are one id, and
/// one phone's key.
fn viewer_id(name: &str) -> Result<String, WireError> {
    let id: String = name
        .trim()
        .nfkc()
        .flat_map(char::to_lowercase)
        .map(|c| if c.is_whitespace() { '-' } else { c })
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_'))
        .take(32)
        .collect();
    if id.is_empty() {
        return Err(WireError::new(
            ErrorCode::InvalidData,
            "name must hold letters or digits",
        ));
    }
    Ok(id)
}

/// The name as others see it: as typed, without the characters that would make it show as
/// someone else's ("\u{202E}ecila" shows as "alice"), at most 32 characters.
fn display_name(name: &str) -> String {
    let visible: String = name.chars().filter(|c| !is_invisible(*c)).collect();
    visible.trim().chars().take(32).collect()
}

/// The holder of `user_id` whose key `key` is, if it is the key of the name's holder now.
fn holder_of_key(ctx: &AppContext, user_id: &str, key: &str) -> Option<Holder> {
    let published = ctx.engine.published();
    let holder = published.views.predictions.viewers.get(user_id)?.holder();
    ctx.secrets
        .is_viewer_key(user_id, holder.ticket, key)
        .then_some(holder)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    name: Option<String>,
    pin: Option<String>,
    password: Option<String>,
    /// The key this phone was given when it first joined with `name`.
    #[serde(default, rename = "viewerKey")]
    viewer_key: Option<String>,
}

async fn login(
    State(ctx): Ctx,
    ClientAddr(client): ClientAddr,
    Body(body): Body<LoginBody>,
) -> Result<Json<Value>, WireError> {
    ctx.logins.attempt(client)?;
    let ttl = ctx.config.admin_token_ttl;
    let mut viewer_key = None;
    let (token, role, user_id) = match body {
        LoginBody {
            name: Some(name),
            pin: Some(pin),
            password: None,
            viewer_key: shown_key,
        } => {
            let name = display_name(&name);
            let user_id = viewer_id(&name)?;
            // The PIN is on the venue's screen: a name is held by the phone that first used
            // it, which keeps its key; anyone else typing the name gets NAME_TAKEN.
            let key_of = shown_key.and_then(|key| holder_of_key(&ctx, &user_id, &key));
            let holds_key = key_of.is_some();
            ctx.logins
                .check_pin(client, &ctx.secrets, &pin, holds_key)?;
            if !holds_key {
                ctx.logins.new_name(client)?;
            }
            let join = PredictionCommand::Join {
                user_id: user_id.clone(),
                name,
                key_of,
            };
            let holder = match run::<PredictionOutcome>(&ctx.engine, join).await? {
                PredictionOutcome::Joined { holder, .. } => holder,
                other => return Err(unexpected(other)),
            };
            viewer_key = Some(ctx.secrets.viewer_key(&user_id, holder.ticket));
            (
                ctx.secrets.mint(Role::Viewer, &user_id, ttl)?,
                Role::Viewer,
                user_id,
            )
        }
        LoginBody {
            password: Some(password),
            name: None,
            pin: None,
            viewer_key: None,
        } => (
            ctx.staff_token(client, password).await?,
            Role::Admin,
            "admin".to_string(),
        ),
        _ => {
            return Err(WireError::new(
                ErrorCode::InvalidData,
                "send {name, pin} as a viewer or {password} as staff",
            ))
        }
    };
    let mut reply = json!({
        "token": token,
        "userId": user_id,
        "role": role.to_string(),
        "expiresIn": ttl.as_secs(),
    });
    if let Some(key) = viewer_key {
        reply["viewerKey"] = json!(key);
    }
    Ok(Json(reply))
}

async fn list(State(ctx): Ctx) -> Json<Value> {
    let published = ctx.engine.published();
    let events: Vec<Value> = published
        .views
        .predictions
        .predictions
        .iter()
        .map(prediction_json)
        .collect();
    // The box's clock: a phone counts down to `closesAt` on it, whatever its own says.
    Json(json!({ "events": events, "serverTime": iso_now(), "seq": published.seq }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateBody {
    #[serde(default)]
    id: Option<String>,
    streamer_id: String,
    #[serde(default)]
    game_id: Option<String>,
    title: String,
    options: Vec<OptionBody>,
    cost_per_vote: u64,
    #[serde(default)]
    closes_at: Option<Value>,
    /// Ours: "open for this many seconds", counted on the box's clock. A box with no internet
    /// and no real-time clock can be hours off after a power cut; a deadline the console
    /// computed on its own clock would then close far too late (or at once).
    #[serde(default)]
    closes_in_secs: Option<u64>,
    #[serde(default)]
    prompt_versions: BTreeMap<String, String>,
}

/// Longest a prediction may be open when given as `closesInSecs` (a week).
const MAX_CLOSES_IN_SECS: u64 = 7 * 24 * 3600;

/// The deadline from `closesAt` or `closesInSecs` (exactly one of them).
fn deadline(body: &CreateBody, now: u64) -> Result<u64, WireError> {
    match (&body.closes_at, body.closes_in_secs) {
        (Some(at), None) => parse_time(at).ok_or_else(|| {
            WireError::new(
                ErrorCode::InvalidData,
                "`closesAt` must be ISO 8601 or epoch milliseconds",
            )
        }),
        (None, Some(secs)) if (1..=MAX_CLOSES_IN_SECS).contains(&secs) => Ok(now + secs * 1000),
        (None, Some(_)) => Err(WireError::new(
            ErrorCode::InvalidData,
            format!("`closesInSecs` must be 1-{MAX_CLOSES_IN_SECS}"),
        )),
        _ => Err(WireError::new(
            ErrorCode::InvalidData,
            "send one of `closesAt` (a time) or `closesInSecs` (seconds from now)",
        )),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OptionBody {
    id: String,
    label: String,
}

async fn create(
    State(ctx): Ctx,
    _admin: Admin,
    Body(body): Body<CreateBody>,
) -> Result<(StatusCode, Json<Value>), WireError> {
    let closes_at = deadline(&body, wall_clock_ms())?;
    let command = PredictionCommand::Create(NewPrediction {
        id: body.id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        streamer_id: body.streamer_id,
        game_id: body.game_id,
        title: body.title,
        options: body
            .options
            .into_iter()
            .map(|o| PredictionOption {
                id: o.id,
                label: o.label,
            })
            .collect(),
        cost_per_vote: body.cost_per_vote,
        closes_at,
        prompt_versions: body.prompt_versions,
    });
    match run::<PredictionOutcome>(&ctx.engine, command).await? {
        PredictionOutcome::Prediction(p) => Ok((StatusCode::CREATED, Json(prediction_json(&p)))),
        _ => Err(WireError::new(ErrorCode::ServerError, "unexpected receipt")),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct VoteBody {
    option_id: String,
    votes: u64,
    client_vote_id: String,
}

async fn vote(
    State(ctx): Ctx,
    Extension(limits): Extension<Arc<ViewerLimits>>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Body(body): Body<VoteBody>,
) -> Result<Json<Value>, WireError> {
    if caller.role != Role::Viewer {
        return Err(WireError::new(ErrorCode::Forbidden, "only viewers vote"));
    }
    if !limits.votes.take(&caller.sub, 1) {
        super::realtime::notify_user(
            &ctx.channels,
            &caller.sub,
            "RATE_LIMITED",
            "too many votes; slow down",
        );
        return Err(WireError::new(
            ErrorCode::RateLimited,
            format!("at most {VOTES_PER_SECOND} votes per second"),
        ));
    }
    let command = PredictionCommand::Vote {
        prediction_id: id,
        user_id: caller.sub.clone(),
        option_id: body.option_id,
        votes: body.votes,
        client_vote_id: body.client_vote_id,
    };
    match run::<PredictionOutcome>(&ctx.engine, command).await? {
        PredictionOutcome::Receipt { receipt, replayed } => Ok(Json(json!({
            "eventId": receipt.prediction_id,
            "optionId": receipt.option_id,
            "votes": receipt.votes,
            "points": receipt.points,
            "balance": receipt.balance_after,
            "replayed": replayed,
        }))),
        other => Err(unexpected(other)),
    }
}

async fn close(
    State(ctx): Ctx,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<Json<Value>, WireError> {
    let command = PredictionCommand::Close {
        prediction_id: id,
        reason: CloseReason::Manual,
    };
    match run::<PredictionOutcome>(&ctx.engine, command).await? {
        PredictionOutcome::Prediction(p) => Ok(Json(prediction_json(&p))),
        _ => Err(WireError::new(ErrorCode::ServerError, "unexpected receipt")),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct GrantBody {
    amount: u64,
    reason: String,
    #[serde(default)]
    grant_id: Option<String>,
}

async fn grant(
    State(ctx): Ctx,
    _admin: Admin,
    Path(user_id): Path<String>,
    Body(body): Body<GrantBody>,
) -> Result<Json<Value>, WireError> {
    // The same rule as login: a grant to "Alice" reaches the viewer who joined as Alice.
    let user_id = viewer_id(&user_id)?;
    let command = PredictionCommand::Grant {
        user_id,
        amount: body.amount,
        reason: body.reason,
        client_grant_id: body.grant_id,
    };
    match run::<PredictionOutcome>(&ctx.engine, command).await? {
        PredictionOutcome::Receipt { receipt, replayed } => Ok(Json(json!({
            "userId": receipt.user_id,
            "amount": receipt.points,
            "balance": receipt.balance_after,
            "replayed": replayed,
        }))),
        other => Err(unexpected(other)),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ViewerSearch {
    /// The start of a name or user id; empty lists the first ones.
    #[serde(default)]
    q: String,
}

/// Viewers a staff search lists at most.
const VIEWERS_LISTED: usize = 50;

/// `GET /api/viewers?q=…`: the viewers who joined whose name or user id starts with `q`
/// (letter case aside), for staff picking who gets points.
async fn viewers(
    State(ctx): Ctx,
    _admin: Admin,
    crate::wire::extract::Params(search): crate::wire::extract::Params<ViewerSearch>,
) -> Json<Value> {
    let published = ctx.engine.published();
    let view = &published.views.predictions;
    let wanted = search.q.trim().to_lowercase();
    let id_prefix = viewer_id(&search.q).unwrap_or_default();
    let list: Vec<Value> = view
        .viewers
        .iter()
        .filter(|(id, v)| {
            wanted.is_empty()
                || v.name.to_lowercase().starts_with(&wanted)
                || (!id_prefix.is_empty() && id.starts_with(&id_prefix))
        })
        .take(VIEWERS_LISTED)
        .map(|(id, v)| {
            json!({
                "userId": id,
                "name": v.name,
                "balance": view.balances.get(id).copied().unwrap_or(0),
                "joinedAt": iso(v.joined_at),
            })
        })
        .collect();
    Json(json!({ "viewers": list }))
}

async fn balance(
    State(ctx): Ctx,
    Caller(caller): Caller,
    Path(user_id): Path<String>,
) -> Result<Json<Value>, WireError> {
    if caller.role != Role::Admin && caller.sub != user_id {
        return Err(WireError::new(
            ErrorCode::Forbidden,
            "a viewer may read only their own balance",
        ));
    }
    let published = ctx.engine.published();
    let points = published
        .views
        .predictions
        .balances
        .get(&user_id)
        .copied()
        .unwrap_or(0);
    // The log position the balance was read at: subscribing to `user:` with it as `lastSeq`
    // misses nothing that changed the balance after this answer.
    Ok(Json(
        json!({ "userId": user_id, "balance": points, "seq": published.seq }),
    ))
}

async fn presence(State(ctx): Ctx, _admin: Admin) -> Json<Value> {
    Json(json!({
        "channels": ctx.channels.presence(),
        "queued": ctx.channels.queue_stats(),
        "at": wall_clock_ms(),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoticeBody {
    message: String,
}

/// Staff announce maintenance ("voting pauses in five minutes") to every viewer connection.
async fn send_notice(
    State(ctx): Ctx,
    _admin: Admin,
    Body(body): Body<NoticeBody>,
) -> Result<Json<Value>, WireError> {
    let message = body.message.trim();
    if message.is_empty() || message.chars().count() > 280 {
        return Err(WireError::new(
            ErrorCode::InvalidData,
            "`message` must be 1 to 280 characters",
        ));
    }
    // Logged before it goes out, so every notice the phones got is in the staff's trail.
    let step = StaffStep::NoticeSent {
        message: message.to_string(),
    };
    let logged = crate::wire::audit::log_staff_step(&ctx, step).await;
    let reached = super::realtime::announce_maintenance(&ctx.channels, message);
    Ok(Json(
        json!({ "success": true, "connections": reached, "logged": logged }),
    ))
}

/// Decodes `bytes` as the `which`-th body (modulo their number) this module's routes take, as
/// their extractor does, then through what the route checks before it asks the engine (the
/// fuzz target `rest_body`). Whether the body was taken.
pub(crate) fn decode_any_body(which: u8, bytes: &[u8]) -> bool {
    use crate::wire::extract::decode_body;
    match which % 5 {
        0 => decode_body::<CreateBody>(bytes).is_ok_and(|body| deadline(&body, 1_000).is_ok()),
        1 => decode_body::<GrantBody>(bytes).is_ok(),
        2 => decode_body::<LoginBody>(bytes).is_ok(),
        3 => decode_body::<NoticeBody>(bytes).is_ok(),
        _ => decode_body::<VoteBody>(bytes).is_ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_in_any_script_is_an_id() {
        assert_eq!(viewer_id("李小龙").unwrap(), "李小龙");
        assert_eq!(viewer_id("  Zoë Ann ").unwrap(), "zoë-ann");
        assert_eq!(viewer_id("Ölçer_2").unwrap(), "ölçer_2");
        assert!(viewer_id("🎉!").is_err(), "no letter or digit");
    }

    #[test]
    fn the_forms_keyboards_send_for_one_name_are_one_id() {
        let precomposed = viewer_id("Zo\u{00EB}").unwrap();
        assert_eq!(viewer_id("Zoe\u{0308}").unwrap(), precomposed);
        assert_eq!(viewer_id("ＡＬＩＣＥ").unwrap(), "alice");
        // An id is its own id: staff granting to one reach the same viewer.
        assert_eq!(viewer_id(&precomposed).unwrap(), precomposed);
    }

    #[test]
    fn a_shown_name_keeps_nothing_that_hides() {
        assert_eq!(display_name("\u{202E}ecila"), "ecila");
        assert_eq!(display_name(" Al\u{200B}ice\u{2066} "), "Alice");
        assert_eq!(display_name("李小龙"), "李小龙");
        assert_eq!(display_name(&"é".repeat(40)).chars().count(), 32);
    }
}
