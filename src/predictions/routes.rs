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
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use super::domain::{
    CloseReason, Holder, NewPrediction, Prediction, PredictionCommand, PredictionOption,
    PredictionOutcome,
};
use super::realtime::event_json;
use super::{name_held_by_another, speaks_for_name, ViewerLimits, VOTES_PER_SECOND};
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

/// A viewer id's bounds: 32 characters, and 64 bytes (what a channel's id may hold).
const MAX_VIEWER_ID_CHARS: usize = 32;
const MAX_VIEWER_ID_BYTES: usize = 64;

/// A viewer's id from the name they typed: the letters (with their marks) and digits of any
/// script in lower case, spaces as `-`, and `_`. The name is taken in NFKC, so the forms
/// different keyboards send for one name ("Zoë" in one character or two, "ａｌｉｃｅ" in full
/// width) are one id, and one phone's key.
fn viewer_id(name: &str) -> Result<String, WireError> {
    let mut id = String::new();
    let folded = name.trim().nfkc().flat_map(char::to_lowercase).nfkc();
    // Variation selectors are marks too, but change nothing a guest reads: "alice\u{FE0F}"
    // would be another id that shows as "alice".
    let shown = folded.filter(|c| !is_invisible(*c) && !is_variation_selector(*c));
    for c in shown.map(|c| if c.is_whitespace() { '-' } else { c }) {
        // A mark is kept on a letter of a script that writes with them (the virama of "नमस्ते");
        // on a basic Latin letter, where NFKC left it uncomposed, it is a way to make another
        // id that shows as the same name.
        let on_its_script = id.chars().last().is_some_and(|l| !l.is_ascii());
        let kept = c.is_alphanumeric()
            || (is_combining_mark(c) && on_its_script)
            || matches!(c, '-' | '_');
        if !kept {
            continue;
        }
        if id.chars().count() == MAX_VIEWER_ID_CHARS
            || id.len() + c.len_utf8() > MAX_VIEWER_ID_BYTES
        {
            break;
        }
        id.push(c);
    }
    if !id.chars().any(char::is_alphanumeric) {
        return Err(WireError::new(
            ErrorCode::InvalidData,
            "name must hold letters or digits",
        ));
    }
    if mixes_look_alike_alphabets(&id) {
        return Err(WireError::new(
            ErrorCode::InvalidData,
            "name mixes letters of alphabets that look alike (Latin, Greek, Cyrillic, Armenian, Cherokee, Lisu, phonetic): write it in one",
        ));
    }
    // Letters that dropped characters left side by side may compose ("ᄀ!ᅡ" is "가"): the id
    // is then the same as the one a grant to it computes.
    Ok(id.nfc().collect())
}

/// The alphabets whose letters pass for each other ("а" in Cyrillic is "a", Armenian "օ" is
/// "o", the small capital "ᴀ" is "a"): a name that mixes them could show as a name someone
/// else holds. Names in one of them, or mixing others
/// ("李 Lee"), are fine.
fn mixes_look_alike_alphabets(id: &str) -> bool {
    let alphabet = |c: char| match c {
        'a'..='z' | '\u{00C0}'..='\u{024F}' | '\u{1E00}'..='\u{1EFF}' | '\u{A720}'..='\u{A7FF}' => {
            Some(0)
        }
        '\u{0370}'..='\u{03FF}' | '\u{1F00}'..='\u{1FFF}' => Some(1),
        '\u{0400}'..='\u{052F}' | '\u{1C80}'..='\u{1C8F}' | '\u{A640}'..='\u{A69F}' => Some(2),
        '\u{13A0}'..='\u{13FF}' | '\u{AB70}'..='\u{ABBF}' => Some(3),
        '\u{0530}'..='\u{058F}' => Some(4),
        '\u{A4D0}'..='\u{A4FF}' => Some(5),
        // Phonetic letters and small capitals ("ɡ", "ᴀ").
        '\u{0250}'..='\u{02AF}' | '\u{1D00}'..='\u{1DBF}' => Some(6),
        _ => None,
    };
    let mut seen = id.chars().filter_map(alphabet);
    let first = seen.next();
    seen.any(|other| Some(other) != first)
}

fn is_variation_selector(c: char) -> bool {
    matches!(c, '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}')
}

/// The id a name was given before ids kept letters outside a-z ("Zoë" was `zo`): phones that
/// joined then hold a key to it.
fn id_before_any_script(name: &str) -> String {
    name.trim()
        .to_lowercase()
        .chars()
        .map(|c| if c.is_whitespace() { '-' } else { c })
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .take(MAX_VIEWER_ID_CHARS)
        .collect()
}

/// The name as others see it: as typed, without the characters that would make it show as
/// someone else's ("\u{202E}ecila" shows as "alice"), at most 32 characters.
fn display_name(name: &str) -> String {
    let visible: String = name.chars().filter(|c| !is_invisible(*c)).collect();
    visible.trim().chars().take(MAX_VIEWER_ID_CHARS).collect()
}

/// The holder of `user_id` whose key `key` is, if it is the key of the name's holder now.
fn holder_of_key(ctx: &AppContext, user_id: &str, key: &str) -> Option<Holder> {
    let published = ctx.engine.published();
    let holder = published.views.predictions.viewers.get(user_id)?.holder();
    ctx.secrets
        .is_viewer_key(user_id, holder.ticket, key)
        .then_some(holder)
}

/// Who logs in with `name` and `shown_key`: the viewer id, and the holder whose key was shown
/// (none: the name is new, or held by someone else). A phone that joined before ids kept
/// letters outside a-z holds the key to its old id, and is that viewer still.
fn who_logs_in(
    ctx: &AppContext,
    name: &str,
    shown_key: Option<&str>,
) -> Result<(String, Option<Holder>), WireError> {
    let user_id = viewer_id(name);
    if let Some(key) = shown_key {
        if let Ok(id) = &user_id {
            if let Some(holder) = holder_of_key(ctx, id, key) {
                return Ok((id.clone(), Some(holder)));
            }
        }
        let old_id = id_before_any_script(name);
        if !old_id.is_empty() && user_id.as_ref().ok() != Some(&old_id) {
            let old_holder = holder_of_key(ctx, &old_id, key).filter(|h| h.ticket.is_none());
            if let Some(holder) = old_holder {
                return Ok((old_id, Some(holder)));
            }
        }
    }
    Ok((user_id?, None))
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
            // The PIN is on the venue's screen: a name is held by the phone that first used
            // it, which keeps its key; anyone else typing the name gets NAME_TAKEN. The id is
            // made from the whole name, as a grant to the name is: only what others see is cut.
            let (user_id, key_of) = who_logs_in(&ctx, &name, shown_key.as_deref())?;
            let name = display_name(&name);
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
                PredictionOutcome::Joined {
                    holder, returning, ..
                } => {
                    if !returning {
                        // Before the new holder has a token to subscribe with: whoever is on
                        // the name's channel is a phone that held it before (the table let it
                        // go), and hears the new holder's balance no longer.
                        super::realtime::hand_over_user_channel(&ctx.channels, &user_id);
                    }
                    holder
                }
                other => return Err(unexpected(other)),
            };
            viewer_key = Some(ctx.secrets.viewer_key(&user_id, holder.ticket));
            (
                ctx.secrets
                    .mint_for_holder(Role::Viewer, &user_id, holder.ticket, ttl)?,
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
        ticket: caller.tkt,
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
    // The same rule as login: a grant to "Alice" reaches the viewer who joined as Alice. An id
    // a viewer holds is taken as it is (one from before ids kept any script, say).
    let held = ctx
        .engine
        .published()
        .views
        .predictions
        .viewers
        .contains_key(&user_id);
    let user_id = if held { user_id } else { viewer_id(&user_id)? };
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
    if !speaks_for_name(&published.views.predictions, &caller) {
        return Err(name_held_by_another(&caller.sub));
    }
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
    fn an_id_keeps_the_marks_its_letters_need_and_nothing_that_shows_as_blank() {
        // The virama joins the letters of "नमस्ते"; without it two names would share an id.
        assert_eq!(viewer_id("नमस्ते").unwrap(), "नमस्ते");
        assert_ne!(viewer_id("नमस्ते").unwrap(), viewer_id("नमसते").unwrap());
        // A Hangul filler is a letter that shows as nothing; a variation selector a mark that
        // changes nothing a guest reads.
        assert_eq!(viewer_id("alice\u{3164}").unwrap(), "alice");
        assert_eq!(viewer_id("alice\u{FE0F}").unwrap(), "alice");
        assert_eq!(viewer_id("alice\u{2028}bob").unwrap(), "alicebob");
        // A mark left on a basic Latin letter makes another id that shows as the same name.
        assert_eq!(viewer_id("alice\u{16FE4}").unwrap(), "alice");
        assert_eq!(viewer_id("bob\u{0335}").unwrap(), "bob");
        assert!(viewer_id("\u{3164}\u{3164}").is_err());
        assert!(
            viewer_id("\u{0301}\u{0301}").is_err(),
            "marks alone are no name"
        );
    }

    #[test]
    fn an_id_fits_a_channel_name_and_is_its_own_id() {
        let long = viewer_id(&"龙".repeat(40)).unwrap();
        assert!(long.len() <= MAX_VIEWER_ID_BYTES, "{} bytes", long.len());
        assert_eq!(
            viewer_id(&"a".repeat(40)).unwrap().len(),
            MAX_VIEWER_ID_CHARS
        );
        for name in ["Zoë Ann", "ǅemal", "ﬁona", "ΣΊΣΥΦΟΣ", "Straße"] {
            let id = viewer_id(name).unwrap();
            assert_eq!(viewer_id(&id).unwrap(), id, "{name}");
        }
    }

    #[test]
    fn a_name_may_not_mix_alphabets_whose_letters_look_alike() {
        for mixed in [
            "\u{0410}lice",
            "Alic\u{0435}",
            "\u{13AA}lice",
            "\u{03BF}scar",
            "j\u{0585}hn",
            "\u{A4EE}lice",
            "\u{1D00}lice",
            "\u{0261}\u{0430}\u{0440}\u{0435}",
        ] {
            assert!(viewer_id(mixed).is_err(), "{mixed}");
        }
        for single in ["Алиса", "Ὀδυσσεύς", "ᏣᎳᎩ", "李 Lee", "Zoë 2"] {
            assert!(viewer_id(single).is_ok(), "{single}");
        }
        // Separated by what the id drops, Hangul letters compose as a grant would compose them.
        assert_eq!(viewer_id("\u{1100}!\u{1161}").unwrap(), "\u{AC00}");
    }

    #[test]
    fn the_ids_names_had_before_any_script_are_known() {
        assert_eq!(id_before_any_script("Zoë Q"), "zo-q");
        assert_eq!(id_before_any_script("ﬁona"), "ona");
        assert_eq!(id_before_any_script("李小龙"), "");
        assert_eq!(id_before_any_script("Alice"), viewer_id("Alice").unwrap());
    }

    #[test]
    fn a_long_name_gives_the_id_a_grant_to_it_gives() {
        let long = "Dr. Jean-Paul O'Neill-Smith, Jr. III";
        assert_eq!(viewer_id(long).unwrap(), "dr-jean-paul-oneill-smith-jr-iii");
        assert_eq!(display_name(long).chars().count(), 32);
    }

    #[test]
    fn a_shown_name_keeps_nothing_that_hides() {
        assert_eq!(display_name("\u{202E}ecila"), "ecila");
        assert_eq!(display_name(" Al\u{200B}ice\u{2066} "), "Alice");
        assert_eq!(display_name("李小龙"), "李小龙");
        assert_eq!(display_name(&"é".repeat(40)).chars().count(), 32);
    }
}
