//! `GET /ws/stream` (seed 000): one multiplexed WebSocket per device, opened with
//! `Sec-WebSocket-Protocol: jwt, <token>`, on which a client subscribes to a tournament's
//! channels and sends check-ins.
//!
//! Every channel message is `{"channel", "payload", "seq"}` (`Framing::NamedChannel`); `seq` is
//! the log sequence of the change it reflects, and `after` on a subscribe resumes from there:
//! from the channel history, the durable log within the resume window, else the current state.
//! Each seed channel of each tournament is one channel of the shared layer
//! (`tournament:<id>:<name>`), so a client receives only what it subscribed to.
//!
//! What goes out, from committed events (`messages_for`): `CheckedIn` → `checkins:status`,
//! `DrawCompleted` → `draws:new`, `RoundPublished` → `rounds:live` (the motion's first
//! appearance anywhere a participant can read), `TimerChanged` → `timers:sync`, `BallotEntered`
//! → `standings:update`. Staff subscribed to `draws:new` also get `draws:failed` when a draw job
//! fails (an addition; the seed sends nothing then).

use std::sync::Arc;

use axum::extract::ws::WebSocket;
use axum::extract::State;
use axum::http::{header::SEC_WEBSOCKET_PROTOCOL, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::broadcast;

use super::domain::{TournamentCommand, TournamentEvent, TournamentOutcome, TournamentsState};
use crate::auth::{Claims, Role};
use crate::domain::Event;
use crate::engine::acting_as_if;
use crate::hub::HubBody;
use crate::wire::audit::staff_actor;
use crate::wire::channels::{ChannelMessage, Class, Client, Framing, Membership, Subscribed};
use crate::wire::errors::{ErrorCode, WireError};
use crate::wire::extract::{ClientAddr, Upgrade};
use crate::wire::ratelimit::PerClient;
use crate::wire::{json_ws, run, AppContext};

/// The seed's server-to-client channels, as clients name them.
pub const CHANNELS: [&str; 5] = [
    "draws:new",
    "rounds:live",
    "checkins:status",
    "timers:sync",
    "standings:update",
];
/// Staff only, beside `draws:new`: a draw job that failed, and why.
const DRAWS_FAILED: &str = "draws:failed";
/// Every layer channel of this contract starts with it.
const PREFIX: &str = "tournament:";
/// The subprotocol a client offers before its token, and the one the box selects.
pub const SUBPROTOCOL: &str = "jwt";

/// Largest inbound frame: a check-in or a subscribe is a few hundred bytes.
const MAX_FRAME_BYTES: usize = 8 * 1024;
/// Layer channels one client may hold: every channel of eight tournaments.
const MAX_SUBSCRIPTIONS: usize = 8 * (CHANNELS.len() + 1);
/// Frames per second, and at once: a page subscribes once and checks in a few times a night.
const COMMANDS_PER_SECOND: u32 = 5;
const COMMAND_BURST: u32 = 10;
/// A client's `id`, echoed in its reply: a number, or a string up to this long.
const MAX_ID_CHARS: usize = 64;
/// Resumes past the history that read the log, per token holder a minute; past that a resume
/// gets current state, which costs no read of the card.
const LOG_RESUMES_PER_MINUTE: u32 = 6;
/// Check-ins (and undos) a participant may send a minute, whatever the connection.
const CHECK_INS_PER_MINUTE: u32 = 10;

/// What one token holder may cost the box, counted per token `sub`, not per connection:
/// reconnecting does not renew it. An `Extension` of the contract's router.
#[derive(Debug)]
pub struct StreamLimits {
    log_resumes: PerClient,
    check_ins: PerClient,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self {
            check_ins: PerClient::new(CHECK_INS_PER_MINUTE, std::time::Duration::from_secs(60)),
            log_resumes: PerClient::new(LOG_RESUMES_PER_MINUTE, std::time::Duration::from_secs(60)),
        }
    }
}

fn layer_channel(tournament_id: u64, name: &str) -> String {
    format!("{PREFIX}{tournament_id}:{name}")
}

fn message(
    tournament_id: u64,
    name: &'static str,
    seq: u64,
    payload: Value,
    class: Class,
) -> Arc<ChannelMessage> {
    let msg = ChannelMessage::new(
        &layer_channel(tournament_id, name),
        seq,
        name,
        payload,
        class,
    );
    // Only the latest snapshot of each key matters to a client that lags or resumes.
    let key = match (class, name) {
        (Class::Snapshot, "timers:sync") => {
            Some(format!("timers:sync:{}", msg.payload["round_id"]))
        }
        (Class::Snapshot, _) => Some(name.to_string()),
        _ => None,
    };
    match key {
        Some(key) => msg.keyed(key),
        None => msg,
    }
    .shared()
}

fn timer_sync(tournament_id: u64, seq: u64, round_id: u64, remaining: u32) -> Arc<ChannelMessage> {
    let payload = json!({ "round_id": round_id, "seconds_remaining": remaining });
    message(tournament_id, "timers:sync", seq, payload, Class::Snapshot)
}

fn standings_update(tournament_id: u64, seq: u64) -> Arc<ChannelMessage> {
    let url = format!("/api/tournaments/{tournament_id}/standings");
    let payload = json!({ "tournament_id": tournament_id, "url": url });
    message(
        tournament_id,
        "standings:update",
        seq,
        payload,
        Class::Snapshot,
    )
}

/// What one committed event publishes, read against the state after it (rounds are never
/// removed and a motion never changes, so the current state serves a replay from the log too).
pub fn messages_for(
    seq: u64,
    event: &TournamentEvent,
    state: &TournamentsState,
) -> Vec<Arc<ChannelMessage>> {
    let tournament_of = |round_id: &u64| state.rounds.get(round_id).map(|r| r.tournament_id);
    let mut out = Vec::new();
    match event {
        TournamentEvent::CheckedIn {
            round_id,
            user_id,
            present,
        } => {
            if let Some(t) = tournament_of(round_id) {
                let payload =
                    json!({ "round_id": round_id, "user_id": user_id, "status": present });
                out.push(message(t, "checkins:status", seq, payload, Class::Event));
            }
        }
        TournamentEvent::DrawCompleted { round_id, .. } => {
            if let Some(t) = tournament_of(round_id) {
                let payload = json!({ "round_id": round_id, "tournament_id": t });
                out.push(message(t, "draws:new", seq, payload, Class::Event));
            }
        }
        TournamentEvent::DrawFailed { round_id, reason } => {
            if let Some(t) = tournament_of(round_id) {
                let payload = json!({ "round_id": round_id, "tournament_id": t, "reason": reason });
                out.push(message(t, DRAWS_FAILED, seq, payload, Class::Event));
            }
        }
        TournamentEvent::RoundPublished { round_id } => {
            if let Some(round) = state.rounds.get(round_id) {
                let payload = json!({ "round_id": round_id, "motion": round.motion });
                out.push(message(
                    round.tournament_id,
                    "rounds:live",
                    seq,
                    payload,
                    Class::Event,
                ));
            }
        }
        TournamentEvent::TimerChanged {
            round_id,
            remaining_secs,
            ..
        } => {
            if let Some(t) = tournament_of(round_id) {
                out.push(timer_sync(t, seq, *round_id, *remaining_secs));
            }
        }
        TournamentEvent::BallotEntered { round_id, .. } => {
            if let Some(t) = tournament_of(round_id) {
                out.push(standings_update(t, seq));
            }
        }
        TournamentEvent::Created { .. }
        | TournamentEvent::TeamRegistered { .. }
        | TournamentEvent::AdjudicatorRegistered { .. }
        | TournamentEvent::RoundCreated { .. }
        | TournamentEvent::DrawStarted { .. } => {}
    }
    out
}

/// One channel of one tournament as it stands, for a client whose missed messages are gone:
/// every draw made, every motion revealed, who is checked in, each timer, the standings.
fn snapshot_of(
    tournament_id: u64,
    name: &str,
    state: &TournamentsState,
    seq: u64,
) -> Vec<Arc<ChannelMessage>> {
    let rounds = state
        .rounds
        .values()
        .filter(|r| r.tournament_id == tournament_id);
    let mut out = Vec::new();
    for round in rounds {
        let id = round.id;
        match name {
            "draws:new" if round.draw().is_some() => {
                let payload = json!({ "round_id": id, "tournament_id": tournament_id });
                out.push(message(
                    tournament_id,
                    "draws:new",
                    seq,
                    payload,
                    Class::Event,
                ));
            }
            "rounds:live" if round.published => {
                let payload = json!({ "round_id": id, "motion": round.motion });
                out.push(message(
                    tournament_id,
                    "rounds:live",
                    seq,
                    payload,
                    Class::Event,
                ));
            }
            "checkins:status" => {
                for user in &round.checked_in {
                    let payload = json!({ "round_id": id, "user_id": user, "status": true });
                    out.push(message(
                        tournament_id,
                        "checkins:status",
                        seq,
                        payload,
                        Class::Event,
                    ));
                }
            }
            "timers:sync" if round.timer.running || round.timer.remaining_secs > 0 => {
                out.push(timer_sync(
                    tournament_id,
                    seq,
                    id,
                    round.timer.remaining_secs,
                ));
            }
            _ => {}
        }
    }
    if name == "standings:update" {
        out.push(standings_update(tournament_id, seq));
    }
    out
}

/// Follows the engine's committed events and publishes what each means on the channels.
pub async fn run_fanout(ctx: Arc<AppContext>) {
    let mut events = ctx.engine.hub().subscribe();
    let mut last_seq = ctx.engine.published().seq;
    loop {
        match events.recv().await {
            Ok(msg) => {
                let HubBody::Committed(Event::Tournaments(event)) = &msg.body else {
                    continue;
                };
                let state = ctx.engine.published().views.tournaments.clone();
                for out in messages_for(msg.seq, event, &state) {
                    ctx.channels.publish(out);
                }
                last_seq = msg.seq;
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                // What the hub dropped is in the log: publish it from there, in order.
                tracing::warn!(missed, "tournament fan-out fell behind; reading the log");
                let limit = usize::try_from(missed)
                    .unwrap_or(usize::MAX)
                    .saturating_mul(4);
                if let Ok(logged) = ctx.engine.read_log(last_seq, limit).await {
                    let state = ctx.engine.published().views.tournaments.clone();
                    for (seq, event) in logged {
                        if let Event::Tournaments(event) = &event {
                            for out in messages_for(seq, event, &state) {
                                ctx.channels.publish(out);
                            }
                        }
                        last_seq = seq;
                    }
                }
            }
            Err(broadcast::error::RecvError::Closed) => break,
        }
    }
}

/// Tells every stream client the box is restarting, and closes it.
pub fn close_for_restart(ctx: &AppContext) {
    let goodbye = notice(
        "RESTARTING",
        "the box is restarting; reconnect and subscribe with after",
    );
    for client in ctx.channels.clients_on(&[PREFIX]) {
        client.push(goodbye.clone());
        client.cut(json_ws::CLOSE_RESTARTING, "restarting");
    }
}

/// A frame for this client alone (a reply, an error, a notice): no channel, so the framing
/// sends the payload as it is.
fn direct(payload: Value) -> Arc<ChannelMessage> {
    Arc::new(ChannelMessage::new("", 0, "direct", payload, Class::Event))
}

fn notice(code: &str, message: &str) -> Arc<ChannelMessage> {
    direct(json!({ "notice": { "code": code, "message": message } }))
}

/// `{"reply_to", "ok": false, "error": {code, message}}`, without `reply_to` when the client
/// sent no id: a refusal is never silence.
fn refusal(id: Option<&Value>, error: &WireError) -> Arc<ChannelMessage> {
    let mut frame = json!({ "ok": false, "error": error.body() });
    if let Some(id) = id {
        frame["reply_to"] = id.clone();
    }
    direct(frame)
}

/// The token a client offered after `jwt` in `Sec-WebSocket-Protocol` (one header `jwt, <token>`
/// as browsers send it, or one header each).
fn offered_token(headers: &HeaderMap) -> Option<&str> {
    let offered: Vec<&str> = headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let at = offered.iter().position(|p| *p == SUBPROTOCOL)?;
    offered.get(at + 1).copied()
}

/// The offered token, checked: refusals happen here, as a 401 with a JSON body, before the
/// upgrade.
fn stream_claims(ctx: &AppContext, headers: &HeaderMap) -> Result<Claims, WireError> {
    let token = offered_token(headers).ok_or_else(|| {
        WireError::new(
            ErrorCode::AuthRequired,
            "offer the subprotocols \"jwt\" and your token: new WebSocket(url, ['jwt', token])",
        )
    })?;
    let claims = ctx.secrets.verify(token).map_err(|e| {
        // Expired, forged or revoked: all "not a token this stream takes", 401 (never 403).
        WireError::new(ErrorCode::InvalidToken, e.to_string())
    })?;
    if claims.time_left().is_zero() {
        return Err(WireError::new(
            ErrorCode::InvalidToken,
            crate::auth::AuthError::Expired.to_string(),
        ));
    }
    match claims.role {
        Role::Admin | Role::Participant | Role::Viewer => Ok(claims),
        other => Err(WireError::new(
            ErrorCode::InvalidToken,
            format!("a {other} token does not open the tournament stream"),
        )),
    }
}

/// `GET /ws/stream`: checks the token, then upgrades selecting `jwt` (never the token).
pub async fn upgrade(
    State(ctx): State<Arc<AppContext>>,
    Extension(limits): Extension<Arc<StreamLimits>>,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
    Upgrade(ws): Upgrade,
) -> Response {
    let claims = match stream_claims(&ctx, &headers) {
        Ok(claims) => claims,
        Err(refused) => return refused.into_response(),
    };
    // Staff checking people in over the stream are in the trail as over HTTP.
    let actor = staff_actor(&claims, Some(address));
    let membership = ctx.channels.join(ctx.queue_limits(), Framing::NamedChannel);
    ws.protocols([SUBPROTOCOL])
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .read_buffer_size(crate::wire::WS_READ_BUFFER_BYTES)
        .on_upgrade(move |socket| {
            acting_as_if(actor, serve_client(ctx, limits, claims, membership, socket))
        })
}

async fn serve_client(
    ctx: Arc<AppContext>,
    stream_limits: Arc<StreamLimits>,
    claims: Claims,
    membership: Membership,
    socket: WebSocket,
) {
    let client = membership.client().clone();
    let limits = ctx.socket_limits(MAX_FRAME_BYTES, COMMANDS_PER_SECOND, COMMAND_BURST);
    let token_left = claims.time_left();
    let (ctx, claims, client, stream_limits) = (&ctx, &claims, &client, &stream_limits);
    json_ws::serve(
        socket,
        membership,
        limits,
        token_left,
        &StreamNotices,
        |text| async move {
            let waited = handle_frame(ctx, stream_limits, claims, client, &text).await;
            json_ws::Handled {
                pong: false,
                waited,
            }
        },
    )
    .await;
}

/// What the shared socket loop refuses, said in this stream's error frame.
struct StreamNotices;

impl json_ws::Notices for StreamNotices {
    fn rate_limited(&self, per_second: u32) -> Option<Arc<ChannelMessage>> {
        let error = WireError::new(
            ErrorCode::RateLimited,
            format!("at most {per_second} frames a second; this one was ignored"),
        );
        Some(refusal(None, &error))
    }

    fn binary_refused(&self) -> Option<Arc<ChannelMessage>> {
        Some(refusal(
            None,
            &WireError::new(ErrorCode::InvalidData, "send JSON text frames"),
        ))
    }
}

/// A client frame: an `action` (subscribe, unsubscribe) or a `channel` message (check-in).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClientFrame {
    /// Read before the rest (`handle_frame`), so a refusal of the frame still carries it.
    #[serde(rename = "id")]
    _id: Option<serde::de::IgnoredAny>,
    action: Option<String>,
    tournament_id: Option<u64>,
    channels: Option<Vec<String>>,
    /// Resume: the `seq` of the last message the client has.
    after: Option<u64>,
    channel: Option<String>,
    payload: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckInPayload {
    round_id: u64,
    user_id: String,
    status: bool,
}

/// Handles one text frame; true when it awaited a read of the log.
async fn handle_frame(
    ctx: &AppContext,
    limits: &StreamLimits,
    claims: &Claims,
    client: &Arc<Client>,
    text: &str,
) -> bool {
    let (id, frame) = match read_frame(text) {
        Ok(read) => read,
        Err((id, error)) => {
            client.push(refusal(id.as_ref(), &error));
            return false;
        }
    };
    let mut waited = false;
    let answer = answer_frame(ctx, limits, claims, client, &frame, &mut waited).await;
    match answer {
        Ok(()) => {
            if let Some(id) = id {
                client.push(direct(json!({ "reply_to": id, "ok": true })));
            }
        }
        Err(error) => {
            client.push(refusal(id.as_ref(), &error));
        }
    }
    waited
}

/// A client's text frame: its `id` (checked, to be quoted in the answer) and the frame. JSON
/// first, then the frame's shape, so a frame whose fields are wrong still gets its refusal
/// with its id.
pub(crate) fn read_frame(
    text: &str,
) -> Result<(Option<Value>, ClientFrame), (Option<Value>, WireError)> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        let error = WireError::new(ErrorCode::InvalidData, clip(&format!("not JSON: {e}")));
        (None, error)
    })?;
    let id = value
        .get("id")
        .filter(|id| !id.is_null())
        .map(checked_id)
        .transpose()
        .map_err(|error| (None, error))?;
    match serde_json::from_value::<ClientFrame>(value) {
        Ok(frame) => Ok((id, frame)),
        Err(e) => {
            let error = WireError::new(
                ErrorCode::InvalidData,
                clip(&format!("not a frame of this stream: {e}")),
            );
            Err((id, error))
        }
    }
}

/// Carries out one well-formed frame; `waited` is set when it awaited a read of the log.
async fn answer_frame(
    ctx: &AppContext,
    limits: &StreamLimits,
    claims: &Claims,
    client: &Arc<Client>,
    frame: &ClientFrame,
    waited: &mut bool,
) -> Result<(), WireError> {
    match (frame.action.as_deref(), frame.channel.as_deref()) {
        (Some("subscribe"), None) => {
            *waited = subscribe(ctx, limits, claims, client, frame).await?;
            Ok(())
        }
        (Some("unsubscribe"), None) => unsubscribe(ctx, client, frame),
        (None, Some("checkins:update")) => {
            check_in(ctx, limits, claims, frame.payload.clone()).await
        }
        (Some(_), Some(_)) => Err(WireError::new(
            ErrorCode::InvalidData,
            "a frame has an action or a channel, not both",
        )),
        (Some(other), None) => Err(WireError::new(
            ErrorCode::InvalidData,
            clip(&format!(
                "unknown action {other:?}: subscribe or unsubscribe"
            )),
        )),
        (None, Some(other)) => Err(WireError::new(
            ErrorCode::InvalidData,
            clip(&format!(
                "clients send on checkins:update only, not {other:?}"
            )),
        )),
        (None, None) => Err(WireError::new(
            ErrorCode::InvalidData,
            "a frame needs an action or a channel",
        )),
    }
}

/// An `id` is echoed back, so it is kept small: a number or a short string.
fn checked_id(id: &Value) -> Result<Value, WireError> {
    match id {
        Value::Number(_) => Ok(id.clone()),
        Value::String(s) if s.chars().count() <= MAX_ID_CHARS => Ok(id.clone()),
        _ => Err(WireError::new(
            ErrorCode::InvalidData,
            format!("id is a number or a string of at most {MAX_ID_CHARS} characters"),
        )),
    }
}

/// At most 120 characters of an error that quotes what a client sent: an 8 KiB frame must not
/// come back as an 8 KiB error.
fn clip(text: &str) -> String {
    match text.char_indices().nth(120) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// The tournament and channel names a subscribe or unsubscribe names: every seed channel when
/// it lists none.
pub(crate) fn named_channels(frame: &ClientFrame) -> Result<(u64, Vec<&'static str>), WireError> {
    let tournament_id = frame
        .tournament_id
        .ok_or_else(|| WireError::new(ErrorCode::InvalidData, "tournament_id is required"))?;
    let Some(asked) = &frame.channels else {
        return Ok((tournament_id, CHANNELS.to_vec()));
    };
    let mut names = Vec::new();
    for name in asked {
        let known = CHANNELS.iter().find(|c| *c == name).ok_or_else(|| {
            WireError::new(
                ErrorCode::InvalidData,
                clip(&format!(
                    "unknown channel {name:?}; the channels are {}",
                    CHANNELS.join(", ")
                )),
            )
        })?;
        if !names.contains(known) {
            names.push(*known);
        }
    }
    Ok((tournament_id, names))
}

/// Subscribes; true when it read the log to catch up.
async fn subscribe(
    ctx: &AppContext,
    limits: &StreamLimits,
    claims: &Claims,
    client: &Arc<Client>,
    frame: &ClientFrame,
) -> Result<bool, WireError> {
    let (tournament_id, mut names) = named_channels(frame)?;
    known_tournament(ctx, tournament_id)?;
    if frame.after.is_some() && client.is_backed_up() {
        return Err(WireError::new(
            ErrorCode::RateLimited,
            "read what you were sent before resuming again",
        ));
    }
    if claims.role == Role::Admin && names.contains(&"draws:new") {
        names.push(DRAWS_FAILED);
    }
    if client.channel_count() + names.len() > MAX_SUBSCRIPTIONS {
        return Err(WireError::new(
            ErrorCode::Conflict,
            format!("at most {MAX_SUBSCRIPTIONS} channels on one connection; unsubscribe first"),
        ));
    }
    let mut behind = Vec::new();
    for name in names {
        let channel = layer_channel(tournament_id, name);
        let subscribed = ctx
            .channels
            .subscribe(client, &channel, frame.after, usize::MAX, |_| None);
        if subscribed == Subscribed::Behind {
            behind.push((name, channel));
        }
    }
    match (frame.after, behind.is_empty()) {
        (Some(after), false) => {
            let from_log = limits.log_resumes.take(&claims.sub, 1);
            Ok(catch_up(ctx, client, tournament_id, &behind, after, from_log).await)
        }
        _ => Ok(false),
    }
}

fn known_tournament(ctx: &AppContext, tournament_id: u64) -> Result<(), WireError> {
    let published = ctx.engine.published();
    match published.views.tournaments.tournament(tournament_id) {
        Ok(_) => Ok(()),
        Err(_) => Err(WireError::new(
            ErrorCode::NotFound,
            format!("no tournament {tournament_id}"),
        )),
    }
}

/// Catches up channels whose history no longer reaches back to `after`: what they would have
/// published since, from one read of the durable log when at most the resume window was logged
/// since (and `from_log`: the caller's budget allows a read); otherwise their current state,
/// after a `SNAPSHOT` notice. Each channel is joined once its catch-up is queued, so live
/// messages never overtake it. True when it read the log.
async fn catch_up(
    ctx: &AppContext,
    client: &Arc<Client>,
    tournament_id: u64,
    behind: &[(&'static str, String)],
    after: u64,
    from_log: bool,
) -> bool {
    let logged = if from_log {
        ctx.logged_since(after, client).await
    } else {
        None
    };
    let published = ctx.engine.published();
    let state = &published.views.tournaments;
    match logged {
        Some(events) => {
            let last = events.last().map_or(after, |(seq, _)| *seq);
            for (seq, event) in &events {
                let Event::Tournaments(event) = event else {
                    continue;
                };
                for msg in messages_for(*seq, event, state) {
                    if behind.iter().any(|(_, channel)| *channel == msg.channel) {
                        client.push_backlog(msg);
                    }
                }
            }
            for (_, channel) in behind {
                ctx.channels.join_after(client, channel, last);
            }
        }
        None => {
            client.push(notice(
                "SNAPSHOT",
                "the missed messages are gone; the current state follows",
            ));
            for (name, channel) in behind {
                for msg in snapshot_of(tournament_id, name, state, published.seq) {
                    client.push_backlog(msg);
                }
                ctx.channels.join_after(client, channel, published.seq);
            }
        }
    }
    from_log
}

fn unsubscribe(
    ctx: &AppContext,
    client: &Arc<Client>,
    frame: &ClientFrame,
) -> Result<(), WireError> {
    let (tournament_id, names) = named_channels(frame)?;
    known_tournament(ctx, tournament_id)?;
    for name in names.iter().copied().chain([DRAWS_FAILED]) {
        if name != DRAWS_FAILED || names.contains(&"draws:new") {
            ctx.channels
                .unsubscribe(client, &layer_channel(tournament_id, name));
        }
    }
    Ok(())
}

/// Staff check anyone in; a participant only themselves (`user_id`, lower case, is their
/// token's `sub`); a screen nobody.
fn may_check_in(claims: &Claims, user_id: &str) -> Result<(), WireError> {
    match claims.role {
        Role::Admin => Ok(()),
        Role::Participant if user_id == claims.sub.to_ascii_lowercase() => Ok(()),
        Role::Participant => Err(WireError::new(
            ErrorCode::Forbidden,
            "a participant checks in only themselves",
        )),
        other => Err(WireError::new(
            ErrorCode::Forbidden,
            format!("a {other} token does not check in"),
        )),
    }
}

/// `checkins:update`: a participant checks in (or out) themselves, staff anyone; durable before
/// the reply, and every subscriber then gets `checkins:status`.
async fn check_in(
    ctx: &AppContext,
    limits: &StreamLimits,
    claims: &Claims,
    payload: Option<Value>,
) -> Result<(), WireError> {
    let payload = payload.ok_or_else(|| {
        WireError::new(
            ErrorCode::InvalidData,
            "checkins:update needs a payload {round_id, user_id, status}",
        )
    })?;
    let asked: CheckInPayload = serde_json::from_value(payload).map_err(|e| {
        WireError::new(
            ErrorCode::InvalidData,
            clip(&format!("checkins:update payload: {e}")),
        )
    })?;
    let user_id = asked.user_id.to_ascii_lowercase();
    may_check_in(claims, &user_id)?;
    // Staff check a room in; a participant checks in a few times a night.
    if claims.role != Role::Admin && !limits.check_ins.take(&claims.sub, 1) {
        return Err(WireError::new(
            ErrorCode::RateLimited,
            format!("at most {CHECK_INS_PER_MINUTE} check-ins a minute; try again shortly"),
        ));
    }
    let command = TournamentCommand::CheckIn {
        round_id: asked.round_id,
        user_id,
        present: asked.status,
    };
    run::<TournamentOutcome>(&ctx.engine, command).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(protocols: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for p in protocols {
            headers.append(SEC_WEBSOCKET_PROTOCOL, p.parse().unwrap());
        }
        headers
    }

    #[test]
    fn the_token_follows_jwt_in_one_header_or_several() {
        assert_eq!(
            offered_token(&headers(&["jwt, abc.def.ghi"])),
            Some("abc.def.ghi")
        );
        assert_eq!(
            offered_token(&headers(&["jwt", "abc.def.ghi"])),
            Some("abc.def.ghi")
        );
        assert_eq!(offered_token(&headers(&["abc.def.ghi"])), None);
        assert_eq!(offered_token(&headers(&["jwt"])), None);
        assert_eq!(offered_token(&HeaderMap::new()), None);
    }

    fn claims(role: Role, sub: &str) -> Claims {
        Claims::unexpiring(role, sub)
    }

    #[test]
    fn a_participant_checks_in_only_themselves_and_a_screen_nobody() {
        let me = "00000000-0000-4000-8000-00000000000a";
        let participant = claims(Role::Participant, &me.to_ascii_uppercase());
        assert!(
            may_check_in(&participant, me).is_ok(),
            "the sub in any case"
        );
        let other = may_check_in(&participant, "00000000-0000-4000-8000-00000000000b");
        assert_eq!(other.unwrap_err().code, ErrorCode::Forbidden);
        assert!(may_check_in(&claims(Role::Admin, "admin"), me).is_ok());
        let screen = may_check_in(&claims(Role::Viewer, me), me);
        assert_eq!(screen.unwrap_err().code, ErrorCode::Forbidden);
    }

    /// A whole night replayed through the fan-out: each event publishes what the seed says on
    /// the channel it names, and the motion appears in no message before `rounds:live`.
    #[test]
    fn the_fan_out_names_the_seed_channels_and_keeps_the_motion_until_publish() {
        use crate::tournaments::domain::tests::{check_in_everyone, draw, night, run};
        use crate::tournaments::domain::{Ballot, Side, TimerAction};

        let (mut state, mut log, round_id) = night();
        let motion = state.round(round_id).unwrap().motion.clone();
        check_in_everyone(&mut state, &mut log, round_id);
        let made = draw(&mut state, &mut log, round_id, 7);
        for action in [
            TimerAction::Start { seconds: 420 },
            TimerAction::Checkpoint {
                remaining_secs: 415,
            },
            TimerAction::Pause { remaining_secs: 0 },
        ] {
            run(
                &mut state,
                &mut log,
                TournamentCommand::Timer { round_id, action },
            );
        }
        run(
            &mut state,
            &mut log,
            TournamentCommand::Publish { round_id },
        );
        let room = &made.rooms[0];
        let scores = state
            .tournament(1)
            .unwrap()
            .teams
            .iter()
            .filter(|t| t.id == room.proposition || t.id == room.opposition)
            .flat_map(|t| t.speakers.iter().map(|s| (s.id.clone(), 75)))
            .collect();
        let ballot = Ballot {
            room: room.number,
            winner: Side::Opposition,
            scores,
        };
        run(
            &mut state,
            &mut log,
            TournamentCommand::EnterBallot { round_id, ballot },
        );

        let mut replayed = TournamentsState::default();
        let mut seen: Vec<(&str, Value)> = Vec::new();
        for (seq, event) in (1u64..).zip(&log) {
            replayed.apply(event);
            for msg in messages_for(seq, event, &replayed) {
                assert_eq!(msg.seq, seq);
                assert_eq!(msg.channel, layer_channel(1, msg.kind));
                let has_motion = msg.payload.to_string().contains(&motion);
                assert_eq!(
                    has_motion,
                    msg.kind == "rounds:live",
                    "{}: {}",
                    msg.kind,
                    msg.payload
                );
                seen.push((msg.kind, msg.payload.clone()));
            }
        }
        let kinds: Vec<&str> = seen.iter().map(|(k, _)| *k).collect();
        let checkins = kinds.iter().filter(|k| **k == "checkins:status").count();
        assert_eq!(checkins, 10, "one per check-in");
        assert_eq!(
            kinds
                .iter()
                .filter(|k| !matches!(**k, "checkins:status"))
                .copied()
                .collect::<Vec<_>>(),
            [
                "draws:new",
                "timers:sync",
                "timers:sync",
                "timers:sync",
                "rounds:live",
                "standings:update"
            ]
        );
        let find = |kind: &str| {
            seen.iter()
                .filter(|(k, _)| *k == kind)
                .map(|(_, p)| p.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            find("draws:new"),
            [json!({ "round_id": round_id, "tournament_id": 1 })]
        );
        assert_eq!(
            find("rounds:live"),
            [json!({ "round_id": round_id, "motion": motion })]
        );
        assert_eq!(
            find("timers:sync"),
            [420, 415, 0].map(|s| json!({ "round_id": round_id, "seconds_remaining": s }))
        );
        assert_eq!(
            find("standings:update"),
            [json!({ "tournament_id": 1, "url": "/api/tournaments/1/standings" })]
        );
        // A snapshot of an unpublished round shows no motion either.
        let (early, _, early_round) = night();
        for name in CHANNELS {
            for msg in snapshot_of(1, name, &early, 9) {
                assert!(!msg.payload.to_string().contains(&motion), "{name}");
            }
        }
        assert!(snapshot_of(1, "rounds:live", &early, 9).is_empty());
        assert!(
            snapshot_of(1, "timers:sync", &early, 9).is_empty(),
            "round {early_round} has no timer yet"
        );
    }

    #[test]
    fn channel_names_are_the_seeds_and_default_to_all() {
        let frame = |channels: Option<Vec<&str>>| ClientFrame {
            _id: None,
            action: Some("subscribe".into()),
            tournament_id: Some(1),
            channels: channels.map(|c| c.into_iter().map(String::from).collect()),
            after: None,
            channel: None,
            payload: None,
        };
        assert_eq!(named_channels(&frame(None)).unwrap().1, CHANNELS.to_vec());
        assert_eq!(
            named_channels(&frame(Some(vec!["timers:sync", "timers:sync"])))
                .unwrap()
                .1,
            vec!["timers:sync"]
        );
        assert!(named_channels(&frame(Some(vec!["draws:failed"]))).is_err());
        assert!(named_channels(&frame(Some(vec!["weather"]))).is_err());
    }
}
