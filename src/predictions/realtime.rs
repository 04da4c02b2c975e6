//! The live-predictions contract (seed 002): `GET /realtime` upgrades to a WebSocket carrying
//! `{type, payload}` messages on channels `streamer:{id}`, `game:{id}` and `user:{id}`.
//!
//! Queues, message classes, history and resume are the channel layer's (`channels.rs`); this
//! module decides what each committed prediction event becomes on which channel, which channels
//! a token may read, and how a resume reaches further back than the channel history: from the
//! durable log within the resume window, else a snapshot of the channel's current state. A
//! `SYSTEM_NOTICE` (`RESUMED` or `SNAPSHOT`) says which happened.
//!
//! Classes here: `EVENT_UPDATED` and `BALANCE_UPDATED` are snapshots (totals go out at most four
//! times a second per channel, all open predictions of the channel in one frame);
//! `EVENT_CREATED` and `SYSTEM_NOTICE` are events; `EVENT_CLOSED` is terminal. A client that
//! does not answer a ping within the ping interval is closed with 4000.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::WebSocket;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::broadcast;

use super::domain::{Prediction, PredictionEvent};
use super::ViewerLimits;
use crate::auth::{Claims, Role};
use crate::domain::Event;
use crate::engine::Published;
use crate::hub::{HubBody, HubMessage};
use crate::wire::channels::{
    ChannelMessage, Channels, Class, Client, Framing, Membership, Subscribed,
};
use crate::wire::errors::{ErrorCode, WireError};
use crate::wire::extract::{bearer_token, Params, Upgrade};
use crate::wire::json_ws;
use crate::wire::time::iso;
use crate::wire::AppContext;

/// Largest inbound frame.
pub const MAX_FRAME_BYTES: usize = 16 * 1024;
/// `EVENT_UPDATED` at most this often per channel (4 per second).
const UPDATE_EVERY: Duration = Duration::from_millis(250);
/// Channels one client may hold.
const MAX_CHANNELS_PER_CLIENT: usize = 32;
/// Commands one client may send per second, and at once. A viewer subscribes a handful of
/// times a session; the budget is for a page that reconnects and resubscribes everything.
const COMMANDS_PER_SECOND: u32 = 10;
const COMMAND_BURST: u32 = 20;

fn message(
    channel: &str,
    seq: u64,
    kind: &'static str,
    payload: Value,
    class: Class,
    key: Option<String>,
) -> Arc<ChannelMessage> {
    let msg = ChannelMessage::new(channel, seq, kind, payload, class);
    match key {
        Some(key) => msg.keyed(key),
        None => msg,
    }
    .shared()
}

fn notice(code: &str, text: impl Into<String>) -> Arc<ChannelMessage> {
    ChannelMessage::notice(code, text)
}

pub(crate) fn event_json(p: &Prediction) -> Value {
    json!({
        "id": p.spec.id,
        "streamerId": p.spec.streamer_id,
        "gameId": p.spec.game_id,
        "title": p.spec.title,
        "options": p.spec.options.iter().map(|o| json!({"id": o.id, "label": o.label})).collect::<Vec<_>>(),
        "closesAt": iso(p.spec.closes_at),
        "costPerVote": p.spec.cost_per_vote,
        "promptVersions": p.spec.prompt_versions,
    })
}

fn created(channel: &str, seq: u64, p: &Prediction) -> Arc<ChannelMessage> {
    message(
        channel,
        seq,
        "EVENT_CREATED",
        json!({ "event": event_json(p) }),
        Class::Event,
        None,
    )
}

fn updated_payload(p: &Prediction) -> Value {
    let closes_at = p.is_open().then(|| iso(p.spec.closes_at));
    json!({ "eventId": p.spec.id, "totals": p.totals, "closesAt": closes_at })
}

fn updated(channel: &str, seq: u64, p: &Prediction) -> Arc<ChannelMessage> {
    let payload = updated_payload(p);
    message(
        channel,
        seq,
        "EVENT_UPDATED",
        payload,
        Class::Snapshot,
        Some(format!("EVENT_UPDATED:{}", p.spec.id)),
    )
}

fn closed(channel: &str, seq: u64, p: &Prediction) -> Arc<ChannelMessage> {
    let winner = p.result.as_ref().and_then(|r| r.winner.clone());
    let payload =
        json!({ "eventId": p.spec.id, "result": { "optionId": winner, "totals": p.totals } });
    message(channel, seq, "EVENT_CLOSED", payload, Class::Terminal, None)
}

fn balance(channel: &str, seq: u64, balance: u64) -> Arc<ChannelMessage> {
    message(
        channel,
        seq,
        "BALANCE_UPDATED",
        json!({ "balance": balance }),
        Class::Snapshot,
        Some("BALANCE_UPDATED".into()),
    )
}

fn channels_of(p: &Prediction) -> Vec<String> {
    let mut out = vec![format!("streamer:{}", p.spec.streamer_id)];
    if let Some(game) = &p.spec.game_id {
        out.push(format!("game:{game}"));
    }
    out
}

/// May `claims` read `channel`? Viewers only their own `user:` channel.
/// At most 64 characters of what a client sent, for a notice that quotes it: a 16 KiB frame
/// must not come back as a 16 KiB notice (a slow reader would make the box hold both).
fn clip(text: &str) -> String {
    const QUOTED: usize = 64;
    match text.char_indices().nth(QUOTED) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

pub(crate) fn may_read(claims: &Claims, channel: &str) -> Result<(), String> {
    let (kind, id) = channel
        .split_once(':')
        .ok_or_else(|| format!("{:?} is not kind:id", clip(channel)))?;
    if id.is_empty() || id.len() > 64 {
        return Err(format!(
            "{:?} has no id (or one over 64 characters)",
            clip(channel)
        ));
    }
    match kind {
        "streamer" | "game" => Ok(()),
        "user" if id == claims.sub || claims.role == Role::Admin => Ok(()),
        "user" => Err("you may subscribe only to your own user channel".into()),
        _ => Err(format!("unknown channel kind {:?}", clip(kind))),
    }
}

/// Sends a `SYSTEM_NOTICE` to everyone subscribed to `user:{user_id}`.
pub fn notify_user(channels: &Channels, user_id: &str, code: &str, text: &str) {
    channels.tell(&format!("user:{user_id}"), notice(code, text));
}

/// Channel kinds of this contract.
const CHANNEL_PREFIXES: [&str; 3] = ["streamer:", "game:", "user:"];

/// Lets every client on `user:{user_id}` go from it, telling each why: the name has a new
/// holder, and the balance that channel carries is theirs.
pub fn hand_over_user_channel(channels: &Channels, user_id: &str) {
    let channel = format!("user:{user_id}");
    let told = notice(
        "FORBIDDEN_CHANNEL",
        super::domain::PredictionError::NotTheHolder(user_id.to_string()).to_string(),
    );
    channels.empty_channel(&channel, &told);
}

/// Sends a `MAINTENANCE` notice to every client of this contract.
pub fn announce_maintenance(channels: &Channels, text: &str) -> usize {
    let clients = channels.clients_on(&CHANNEL_PREFIXES);
    let msg = notice("MAINTENANCE", text);
    for client in &clients {
        client.push(msg.clone());
    }
    clients.len()
}

/// Tells every client the box is restarting and closes it with 1012; each resumes with its
/// `lastSeq` once the box is back.
pub fn close_for_restart(channels: &Channels) {
    for client in channels.clients_on(&CHANNEL_PREFIXES) {
        client.push(notice(
            "MAINTENANCE",
            "the box is restarting; reconnect and resume with lastSeq",
        ));
        client.cut(json_ws::CLOSE_RESTARTING, "restarting");
    }
}

/// Catches `channels` up after `after` from the durable log, with one read for all of them:
/// what each would have published since, when at most the resume window was logged since
/// then; otherwise (or without `from_log`) a snapshot of each channel's current state. A
/// channel is joined only once its catch-up is queued, so live messages never overtake it.
async fn resume_from_log(
    ctx: &AppContext,
    client: &Arc<Client>,
    channels: &[String],
    after: u64,
    from_log: bool,
) {
    let logged = if from_log {
        ctx.logged_since(after, client).await
    } else {
        None
    };
    let published = ctx.engine.published();
    for channel in channels {
        match &logged {
            Some(events) => {
                let missed = replay_for_channel(channel, events, &published);
                let last = events.last().map_or(after, |(seq, _)| *seq);
                client.push(notice(
                    "RESUMED",
                    format!("{channel}: {} missed messages follow", missed.len()),
                ));
                for msg in missed {
                    client.push_backlog(msg);
                }
                ctx.channels.join_after(client, channel, last);
            }
            _ => {
                client.push(notice(
                    "SNAPSHOT",
                    format!("{channel}: missed messages are gone; current state follows"),
                ));
                for msg in snapshot_of(channel, &published) {
                    client.push_backlog(msg);
                }
                ctx.channels.join_after(client, channel, published.seq);
            }
        }
    }
}

/// What `channel` would have published for `events` (read back from the log): created and
/// closed predictions in order, then current totals and balance for what changed.
fn replay_for_channel(
    channel: &str,
    events: &[(u64, Event)],
    published: &Published,
) -> Vec<Arc<ChannelMessage>> {
    let current: HashMap<&str, &Prediction> = published
        .views
        .predictions
        .predictions
        .iter()
        .map(|p| (p.spec.id.as_str(), p))
        .collect();
    let on_channel = |p: &Prediction| channels_of(p).iter().any(|c| c == channel);
    let user_channel = |user: &str| channel.strip_prefix("user:") == Some(user);
    let mut known: HashMap<String, Prediction> = HashMap::new();
    let mut dirty: Vec<String> = Vec::new();
    let mut balance_now: Option<(u64, u64)> = None;
    let mut out = Vec::new();
    for (seq, event) in events {
        let Event::Predictions(event) = event else {
            continue;
        };
        match event {
            PredictionEvent::Created(p) => {
                if on_channel(p) {
                    out.push(created(channel, *seq, p));
                }
                known.insert(p.spec.id.clone(), p.clone());
            }
            PredictionEvent::VoteCast {
                prediction_id,
                receipt,
                ..
            } => {
                let relevant = known
                    .get(prediction_id)
                    .or(current.get(prediction_id.as_str()).copied())
                    .is_some_and(on_channel);
                if relevant && !dirty.contains(prediction_id) {
                    dirty.push(prediction_id.clone());
                }
                if user_channel(&receipt.user_id) {
                    balance_now = Some((*seq, receipt.balance_after));
                }
            }
            PredictionEvent::PointsGranted { receipt, .. } => {
                if user_channel(&receipt.user_id) {
                    balance_now = Some((*seq, receipt.balance_after));
                }
            }
            PredictionEvent::ViewerJoined { .. }
            | PredictionEvent::ViewerJoinedWithTicket { .. } => {}
            PredictionEvent::Closed {
                prediction_id,
                result,
            } => {
                let final_state = current
                    .get(prediction_id.as_str())
                    .map(|p| (*p).clone())
                    .or_else(|| known.get(prediction_id).cloned());
                if let Some(mut p) = final_state.filter(|p| on_channel(p)) {
                    p.result = Some(result.clone());
                    dirty.retain(|id| id != prediction_id);
                    out.push(updated(channel, *seq, &p));
                    out.push(closed(channel, *seq, &p));
                }
            }
        }
    }
    for id in dirty {
        if let Some(p) = current.get(id.as_str()) {
            out.push(updated(channel, published.seq, p));
        }
    }
    if let Some((seq, points)) = balance_now {
        out.push(balance(channel, seq, points));
    }
    out
}

/// The current state of one channel as messages.
fn snapshot_of(channel: &str, published: &Published) -> Vec<Arc<ChannelMessage>> {
    let seq = published.seq;
    if let Some(user) = channel.strip_prefix("user:") {
        let points = published
            .views
            .predictions
            .balances
            .get(user)
            .copied()
            .unwrap_or(0);
        return vec![balance(channel, seq, points)];
    }
    let mut out = Vec::new();
    for p in published
        .views
        .predictions
        .predictions
        .iter()
        .filter(|p| channels_of(p).iter().any(|c| c == channel))
    {
        out.push(created(channel, seq, p));
        out.push(updated(channel, seq, p));
        if !p.is_open() {
            out.push(closed(channel, seq, p));
        }
    }
    out
}

/// Turns committed prediction events into channel messages. Totals go out on a 250 ms tick, one
/// frame per channel that saw votes, holding every open prediction of that channel (one
/// `EVENT_UPDATED`, or a batch of them), read from the state published after the commit.
pub async fn run_fanout(ctx: Arc<AppContext>) {
    let mut events = ctx.engine.hub().subscribe();
    let mut tick = tokio::time::interval(UPDATE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut dirty: HashSet<String> = HashSet::new();
    loop {
        tokio::select! {
            received = events.recv() => match received {
                Ok(msg) => fan_out(&ctx, &msg, &mut dirty),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "predictions fan-out fell behind; totals follow on the next tick");
                    dirty.extend(ctx.engine.published().views.predictions.predictions.iter().flat_map(channels_of));
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            _ = tick.tick(), if !dirty.is_empty() => {
                let published = ctx.engine.published();
                for channel in dirty.drain() {
                    let open: Vec<Value> = published
                        .views
                        .predictions
                        .predictions
                        .iter()
                        .filter(|p| p.is_open() && channels_of(p).contains(&channel))
                        .map(updated_payload)
                        .collect();
                    if open.is_empty() {
                        continue;
                    }
                    let totals = ChannelMessage::batch(&channel, published.seq, "EVENT_UPDATED", open, Class::Snapshot)
                        .keyed("EVENT_UPDATED");
                    ctx.channels.publish(totals.shared());
                }
            }
        }
    }
}

fn fan_out(ctx: &AppContext, msg: &HubMessage, dirty: &mut HashSet<String>) {
    let HubBody::Committed(Event::Predictions(event)) = &msg.body else {
        return;
    };
    let channels = &ctx.channels;
    match event {
        PredictionEvent::Created(p) => {
            for channel in channels_of(p) {
                channels.publish(created(&channel, msg.seq, p));
            }
        }
        PredictionEvent::VoteCast {
            prediction_id,
            receipt,
            ..
        } => {
            if let Some(p) = ctx
                .engine
                .published()
                .views
                .predictions
                .prediction(prediction_id)
            {
                dirty.extend(channels_of(p));
            }
            channels.publish(balance(
                &format!("user:{}", receipt.user_id),
                msg.seq,
                receipt.balance_after,
            ));
        }
        PredictionEvent::PointsGranted { receipt, .. } => {
            channels.publish(balance(
                &format!("user:{}", receipt.user_id),
                msg.seq,
                receipt.balance_after,
            ));
        }
        // A name taken is nothing the seed's channels carry.
        PredictionEvent::ViewerJoined { .. } | PredictionEvent::ViewerJoinedWithTicket { .. } => {}
        PredictionEvent::Closed { prediction_id, .. } => {
            let published = ctx.engine.published();
            if let Some(p) = published.views.predictions.prediction(prediction_id) {
                for channel in channels_of(p) {
                    // Final totals first, then the result, which is never dropped.
                    channels.publish(updated(&channel, msg.seq, p));
                    channels.publish(closed(&channel, msg.seq, p));
                }
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RealtimeQuery {
    streamer_id: Option<String>,
    token: Option<String>,
}

/// `GET /realtime`: checks the token, then upgrades.
pub async fn upgrade(
    State(ctx): State<Arc<AppContext>>,
    Extension(limits): Extension<Arc<ViewerLimits>>,
    Params(query): Params<RealtimeQuery>,
    headers: HeaderMap,
    Upgrade(ws): Upgrade,
) -> Response {
    let token = bearer_token(&headers).map(str::to_string).or(query.token);
    let claims = match token {
        None => {
            return WireError::new(ErrorCode::AuthRequired, "send a token from /api/auth")
                .into_response()
        }
        Some(token) => match ctx.secrets.verify(&token) {
            Ok(claims) if matches!(claims.role, Role::Viewer | Role::Admin) => claims,
            Ok(claims) => {
                return WireError::new(
                    ErrorCode::Forbidden,
                    format!("a {} token cannot watch predictions", claims.role),
                )
                .into_response()
            }
            Err(e) => return WireError::from(e).into_response(),
        },
    };
    // Registered before the 101 goes out, so anything published once the client sees the
    // socket open (a notice, a new prediction) is already queued for it.
    let registration = register_viewer(&ctx, query.streamer_id.as_deref());
    ws.max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .read_buffer_size(crate::wire::WS_READ_BUFFER_BYTES)
        .on_upgrade(move |socket| serve_client(ctx, limits, claims, registration, socket))
}

/// A viewer's place in the channel layer from the upgrade request on, subscribed to the
/// streamer of its query; dropping it (also when the upgrade never completes) leaves the layer.
fn register_viewer(ctx: &AppContext, streamer: Option<&str>) -> Membership {
    let membership = ctx.channels.join(ctx.queue_limits(), Framing::JsonFrame);
    if let Some(streamer) = streamer.filter(|s| !s.is_empty() && s.len() <= 64) {
        let channel = format!("streamer:{streamer}");
        ctx.channels
            .subscribe(membership.client(), &channel, None, 0, |_| None);
    }
    membership
}

/// A viewer's text frame as the command it is, or why it is none.
pub(crate) fn decode_command(text: &str) -> Result<ClientCommand, serde_json::Error> {
    serde_json::from_str(text)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClientCommand {
    action: String,
    #[serde(default)]
    pub(crate) channels: Vec<String>,
    #[serde(default, rename = "lastSeq")]
    last_seq: HashMap<String, u64>,
}

async fn serve_client(
    ctx: Arc<AppContext>,
    viewer_limits: Arc<ViewerLimits>,
    claims: Claims,
    registration: Membership,
    socket: WebSocket,
) {
    let client = registration.client().clone();
    let limits = ctx.socket_limits(MAX_FRAME_BYTES, COMMANDS_PER_SECOND, COMMAND_BURST);
    let token_left = claims.time_left();
    let (ctx, claims, client, viewer_limits) = (&ctx, &claims, &client, &viewer_limits);
    json_ws::serve(
        socket,
        registration,
        limits,
        token_left,
        &ViewerNotices,
        |text| async move {
            let handled = handle_command(ctx, claims, client, &text);
            // One catch-up at a time per client, awaited here: the socket is not read meanwhile,
            // so a client cannot pile up reads of the log. The budget is the viewer's, not the
            // connection's: reconnecting does not renew it.
            let waited = !handled.resumes.is_empty();
            for (after, channels) in handled.resumes {
                let from_log = viewer_limits.log_resumes.take(&claims.sub, 1);
                resume_from_log(ctx, client, &channels, after, from_log).await;
            }
            json_ws::Handled {
                pong: handled.pong,
                waited,
            }
        },
    )
    .await;
}

/// The seed's notices for what the shared socket loop refuses.
struct ViewerNotices;

impl json_ws::Notices for ViewerNotices {
    fn rate_limited(&self, per_second: u32) -> Option<Arc<ChannelMessage>> {
        Some(notice(
            "RATE_LIMITED",
            format!("at most {per_second} commands a second; this one was ignored"),
        ))
    }

    fn binary_refused(&self) -> Option<Arc<ChannelMessage>> {
        Some(notice("BAD_COMMAND", "send JSON text frames"))
    }
}

/// What a text frame asked for that the read loop finishes.
#[derive(Debug, Default, PartialEq, Eq)]
struct Handled {
    /// `{"action": "pong"}`: the seed asks clients to answer pings with a pong, and a client
    /// may do it in JSON rather than with the WebSocket pong frame browsers send by themselves.
    pong: bool,
    /// Channels whose resume reaches past their history, by the `lastSeq` they resume after.
    resumes: BTreeMap<u64, Vec<String>>,
}

fn handle_command(
    ctx: &Arc<AppContext>,
    claims: &Claims,
    client: &Arc<Client>,
    text: &str,
) -> Handled {
    let mut handled = Handled::default();
    let command = match decode_command(text) {
        Ok(command) => command,
        Err(e) => {
            client.push(notice("BAD_COMMAND", clip(&format!("not a command: {e}"))));
            return handled;
        }
    };
    let channels = &ctx.channels;
    match command.action.as_str() {
        "subscribe" | "unsubscribe" if command.channels.is_empty() => {
            client.push(notice("BAD_COMMAND", "channels is empty"));
        }
        "subscribe" if !command.last_seq.is_empty() && client.is_backed_up() => {
            // Each resume queues its backlog again: a client that is not reading gets none.
            client.push(notice(
                "RATE_LIMITED",
                "read what you were sent before resuming again",
            ));
        }
        "subscribe" => {
            for channel in &command.channels {
                if let Err(reason) = may_read(claims, channel) {
                    client.push(notice("FORBIDDEN_CHANNEL", reason));
                    continue;
                }
                let own_channel = channel.starts_with("user:");
                if own_channel
                    && !super::speaks_for_name(&ctx.engine.published().views.predictions, claims)
                {
                    let refusal = super::name_held_by_another(&claims.sub);
                    client.push(notice("FORBIDDEN_CHANNEL", refusal.message));
                    continue;
                }
                if client.channel_count() >= MAX_CHANNELS_PER_CLIENT {
                    client.push(notice(
                        "TOO_MANY_CHANNELS",
                        format!("at most {MAX_CHANNELS_PER_CLIENT} channels"),
                    ));
                    break;
                }
                let last_seq = command.last_seq.get(channel).copied();
                let subscribed = channels.subscribe(client, channel, last_seq, usize::MAX, |n| {
                    Some(notice(
                        "RESUMED",
                        format!("{channel}: {n} missed messages follow"),
                    ))
                });
                if subscribed == Subscribed::Behind {
                    handled
                        .resumes
                        .entry(last_seq.unwrap_or(0))
                        .or_default()
                        .push(channel.clone());
                }
            }
        }
        "unsubscribe" => {
            for channel in &command.channels {
                channels.unsubscribe(client, channel);
            }
        }
        "pong" => handled.pong = true,
        other => {
            client.push(notice(
                "BAD_COMMAND",
                format!("unknown action {:?}", clip(other)),
            ));
        }
    }
    handled
}

#[cfg(test)]
mod tests {
    use super::*;

    fn viewer(sub: &str) -> Claims {
        Claims::unexpiring(Role::Viewer, sub)
    }

    #[test]
    fn notices_quote_at_most_64_characters_of_what_a_client_sent() {
        let claims = viewer("u1");
        let long = "é".repeat(16 * 1024);
        let reason = may_read(&claims, &format!("{long}:x")).unwrap_err();
        assert!(reason.chars().count() < 100, "{}", reason.len());
        assert_eq!(clip("short"), "short");
    }

    #[test]
    fn viewers_read_only_their_own_user_channel() {
        let claims = viewer("u1");
        assert!(may_read(&claims, "streamer:abc").is_ok());
        assert!(may_read(&claims, "game:g").is_ok());
        assert!(may_read(&claims, "user:u1").is_ok());
        assert!(may_read(&claims, "user:u2").is_err());
        assert!(may_read(&claims, "weather:x").is_err());
        assert!(may_read(&claims, "streamer:").is_err());
        assert!(may_read(&claims, "nocolon").is_err());
    }
}
