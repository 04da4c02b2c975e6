//! The sports day live (seed 003): the seed's topics over WebSocket, and the same topics as
//! Server-Sent Events for phones and screens where a WebSocket does not get through.
//!
//! | seed topic | carries |
//! |---|---|
//! | `event_<id>` | `leaderboard_update` (joined on connect) |
//! | `event_<id>_results` | `result_update` |
//! | `event_<id>_schedule` | `schedule_update`: the event's fixtures |
//! | `event_<id>_announcements` | `announcement_update` for the whole event |
//! | `team_<id>` | `announcement_update` targeted at the team |
//! | `team_<id>_schedule` | `schedule_update`: the team's fixtures |
//! | `team_<id>_results` | `result_update` of the team's fixtures |
//! | `purchase_<id>` | `purchase_update` |
//!
//! Joining a topic first sends what it holds now (the leaderboard, the schedule, the live
//! announcements, the purchase; nothing for results), then every change as it is committed.
//! Sockets frame messages `{type, data}`; streams send the `data` object with its `type`
//! added, without `event:` names (so `onmessage` gets everything), with an `id:` cursor that
//! resumes the whole stream through `Last-Event-ID`. An expired announcement is never sent to
//! a new subscriber, nor in a resume.
//!
//! Who may follow what (checked before the upgrade or the stream: 401 for a bad token, 403
//! without access, 404 for an unknown id): a public event anyone; a private event its teams'
//! members, its managers and staff; a team its members and the members and managers of the
//! events it plays in; a purchase its buyer and staff. The token comes in `?token=` (a browser
//! cannot give a WebSocket or an `EventSource` a header) or `Authorization: Bearer`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::extract::{MatchedPath, Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::access::{may_see_purchase, may_watch, member_id};
use super::domain::{Fixture, FixtureStatus, SportsEvent, SportsState, Team};
use super::json::{announcement_json, fixture_json, purchase_json, rows_json};
use crate::auth::{Claims, Role};
use crate::connections::ConnectionEnd;
use crate::domain::{Event, Millis};
use crate::engine::wall_clock_ms;
use crate::wire::channels::{ChannelMessage, Class, Client, Framing, Membership, Subscribed};
use crate::wire::errors::{ErrorCode, WireError};
use crate::wire::extract::{query_token, ClientAddr, Upgrade};
use crate::wire::sse::{self, StreamSlots};
use crate::wire::time::iso_now;
use crate::wire::{json_ws, AppContext};

/// Every layer channel of this contract starts with it.
const PREFIX: &str = "sports:";
/// Event streams one client address may hold at once (a phone, a TV and a laptop behind the
/// same address still fit).
pub const STREAMS_PER_ADDRESS: usize = 8;
/// Missed messages a `Last-Event-ID` resume is sent (and at most the client's queue bound in
/// bytes); past it, the topics' state instead, which is smaller.
const RESUME_LIMIT: usize = 64;
/// A client sends pings and three subscriptions: small frames, a few a second.
const MAX_FRAME_BYTES: usize = 4 * 1024;
const FRAMES_PER_SECOND: u32 = 5;
const FRAME_BURST: u32 = 20;
/// A public topic needs no token, so nothing ends its socket but the client.
const NO_TOKEN_NEEDED: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
/// A stream's keep-alive comment, and how long a browser waits before reconnecting.
const SSE_KEEPALIVE: Duration = Duration::from_secs(15);
const SSE_RETRY: Duration = Duration::from_secs(3);

/// One of the seed's topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Topic {
    Event(u64),
    EventResults(u64),
    EventSchedule(u64),
    EventAnnouncements(u64),
    Team(u64),
    TeamSchedule(u64),
    TeamResults(u64),
    Purchase(u64),
}

impl Topic {
    /// The seed's name for it.
    fn name(self) -> String {
        match self {
            Topic::Event(id) => format!("event_{id}"),
            Topic::EventResults(id) => format!("event_{id}_results"),
            Topic::EventSchedule(id) => format!("event_{id}_schedule"),
            Topic::EventAnnouncements(id) => format!("event_{id}_announcements"),
            Topic::Team(id) => format!("team_{id}"),
            Topic::TeamSchedule(id) => format!("team_{id}_schedule"),
            Topic::TeamResults(id) => format!("team_{id}_results"),
            Topic::Purchase(id) => format!("purchase_{id}"),
        }
    }

    /// Its channel in the shared layer.
    fn channel(self) -> String {
        format!("{PREFIX}{}", self.name())
    }
}

/// What a connection follows: whose access rules apply.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Follow {
    Event(u64),
    Team(u64),
    Purchase(u64),
}

impl Follow {
    /// The topics a socket joins on connect.
    fn joined_on_connect(self) -> Vec<Topic> {
        match self {
            Follow::Event(id) => vec![Topic::Event(id)],
            Follow::Team(id) => vec![
                Topic::Team(id),
                Topic::TeamSchedule(id),
                Topic::TeamResults(id),
            ],
            Follow::Purchase(id) => vec![Topic::Purchase(id)],
        }
    }
}

// --- messages ------------------------------------------------------------------------------

fn message(topic: Topic, seq: u64, kind: &'static str, data: Value) -> ChannelMessage {
    ChannelMessage::new(&topic.channel(), seq, kind, data, Class::Event)
}

fn leaderboard_update(
    topic: Topic,
    seq: u64,
    state: &SportsState,
    event_id: u64,
) -> Option<ChannelMessage> {
    let event = state.events.get(&event_id)?;
    let data = json!({ "event_id": event_id, "leaderboard": rows_json(state, &event.leaderboard) });
    Some(message(topic, seq, "leaderboard_update", data))
}

fn schedule_update(
    topic: Topic,
    seq: u64,
    state: &SportsState,
    fixtures: Vec<&Fixture>,
    changed: Option<Value>,
) -> ChannelMessage {
    let schedule: Vec<Value> = fixtures.iter().map(|f| fixture_json(state, f)).collect();
    let data = json!({ "schedule": schedule, "fixture": changed });
    // The whole schedule each time: a topic's history and a slow client's queue keep only the
    // latest, so a long day's schedule is held once per topic, not once per change.
    ChannelMessage::new(
        &topic.channel(),
        seq,
        "schedule_update",
        data,
        Class::Snapshot,
    )
    .keyed("schedule_update")
}

fn announcement_update(topic: Topic, seq: u64, announcement: Value) -> ChannelMessage {
    message(
        topic,
        seq,
        "announcement_update",
        json!({ "announcement": announcement }),
    )
}

/// What a topic holds now, sent to a client as it joins (as of the published state `seq`).
fn current(state: &SportsState, topic: Topic, seq: u64, now: Millis) -> Vec<ChannelMessage> {
    let announcements = |event, team| {
        state
            .live_announcements(event, team, now)
            .into_iter()
            .map(|a| announcement_update(topic, seq, announcement_json(a, now)))
            .collect()
    };
    match topic {
        Topic::Event(id) => leaderboard_update(topic, seq, state, id)
            .into_iter()
            .collect(),
        Topic::EventSchedule(id) => {
            vec![schedule_update(topic, seq, state, state.schedule(id), None)]
        }
        Topic::EventAnnouncements(id) => announcements(Some(id), None),
        Topic::Team(id) => announcements(None, Some(id)),
        Topic::TeamSchedule(id) => {
            vec![schedule_update(
                topic,
                seq,
                state,
                state.team_schedule(id),
                None,
            )]
        }
        Topic::Purchase(id) => state
            .purchases
            .get(&id)
            .map(|p| {
                message(
                    topic,
                    seq,
                    "purchase_update",
                    json!({ "purchase": purchase_json(p) }),
                )
            })
            .into_iter()
            .collect(),
        Topic::EventResults(_) | Topic::TeamResults(_) => Vec::new(),
    }
}

/// The messages one committed change makes, in the order they go out.
fn messages_for(
    state: &SportsState,
    change: &SportsEvent,
    seq: u64,
    now: Millis,
) -> Vec<ChannelMessage> {
    match change {
        SportsEvent::FixtureSaved(fixture) => {
            let mut out = Vec::new();
            let this = fixture_json(state, fixture);
            if fixture.status == FixtureStatus::Final {
                for topic in [
                    Topic::EventResults(fixture.event_id),
                    Topic::TeamResults(fixture.home),
                    Topic::TeamResults(fixture.away),
                ] {
                    out.push(message(
                        topic,
                        seq,
                        "result_update",
                        json!({ "result": this }),
                    ));
                }
            }
            out.push(schedule_update(
                Topic::EventSchedule(fixture.event_id),
                seq,
                state,
                state.schedule(fixture.event_id),
                Some(this.clone()),
            ));
            for team in [fixture.home, fixture.away] {
                out.push(schedule_update(
                    Topic::TeamSchedule(team),
                    seq,
                    state,
                    state.team_schedule(team),
                    Some(this.clone()),
                ));
            }
            out
        }
        SportsEvent::LeaderboardStored { event_id, .. } => {
            leaderboard_update(Topic::Event(*event_id), seq, state, *event_id)
                .into_iter()
                .collect()
        }
        // Created or sent again (broadcast), edited or deleted: clients see each, so a screen
        // corrects or drops it. One already expired is never sent again.
        SportsEvent::AnnouncementSaved { announcement, .. }
            if announcement.deleted || announcement.is_live(now) =>
        {
            let payload = announcement_json(announcement, now);
            if announcement.target_teams.is_empty() {
                vec![announcement_update(
                    Topic::EventAnnouncements(announcement.event_id),
                    seq,
                    payload,
                )]
            } else {
                announcement
                    .target_teams
                    .iter()
                    .map(|team| announcement_update(Topic::Team(*team), seq, payload.clone()))
                    .collect()
            }
        }
        SportsEvent::PurchaseSaved(purchase) => vec![message(
            Topic::Purchase(purchase.id),
            seq,
            "purchase_update",
            json!({ "purchase": purchase_json(purchase) }),
        )],
        _ => Vec::new(),
    }
}

/// Whether a message still holds for a client resuming now: an announcement since expired or
/// deleted does not.
fn still_holds(state: &SportsState, msg: &ChannelMessage, now: Millis) -> bool {
    if msg.kind != "announcement_update" {
        return true;
    }
    msg.payload["announcement"]["id"]
        .as_u64()
        .and_then(|id| state.announcements.get(&id))
        .is_some_and(|a| a.is_live(now))
}

/// Follows the engine's committed events and publishes each change on its topics. One that
/// lagged is lost to clients already connected; the next change of a topic carries its whole
/// schedule or leaderboard again, and a client that joins gets the state.
pub async fn run_fanout(ctx: Arc<AppContext>) {
    let hub = ctx.engine.hub().clone();
    hub.follow_commits("sports", |seq, event| {
        let Event::Sports(change) = event else {
            return;
        };
        // The published state is at least as new as this event: schedules and leaderboards
        // are read from it.
        let state = ctx.engine.published().views.sports.clone();
        for out in messages_for(&state, change, seq, wall_clock_ms()) {
            ctx.channels.publish(out.shared());
        }
    })
    .await;
}

/// Tells every socket and stream the box is restarting and closes it.
pub fn close_for_restart(ctx: &AppContext) {
    for client in ctx.channels.clients_on(&[PREFIX]) {
        client.cut(json_ws::CLOSE_RESTARTING, "restarting");
    }
}

// --- who may follow what -------------------------------------------------------------------

fn id_of(text: &str) -> Result<u64, WireError> {
    text.parse().map_err(|_| {
        WireError::new(
            ErrorCode::NotFound,
            format!("ids are whole numbers, not {text:?}"),
        )
    })
}

/// A team's topics carry its own announcements and its fixtures in every event it plays in,
/// private ones included: only its members (`member` tokens) and staff follow them. (Seed 003
/// also lets the people of the team's events in; here they follow those events' topics.)
fn may_follow_team(team: &Team, claims: &Claims) -> bool {
    claims.role == Role::Admin || member_id(claims).is_some_and(|m| team.has_member(m))
}

/// Checks the caller may follow `follow`: how long its token still holds the connection. A
/// public event needs no token, so a bad or expired one is ignored there (as the HTTP API
/// does); everywhere else it is a 401. A purchase is refused the same way whether it exists
/// or not, so ids cannot be probed.
fn admit(
    ctx: &AppContext,
    follow: Follow,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Duration, WireError> {
    let token = query_token(query).or_else(|| crate::wire::extract::bearer_token(headers));
    let verified = token.map(|token| {
        ctx.secrets.verify(token).map_err(|_| {
            WireError::new(
                ErrorCode::InvalidToken,
                "the token is invalid or has expired",
            )
        })
    });
    let claims = verified.clone().and_then(Result::ok);
    let state = ctx.engine.published().views.sports.clone();
    let not_found = |what: &str| WireError::new(ErrorCode::NotFound, format!("no {what}"));
    let refused = |why: &str| WireError::new(ErrorCode::Forbidden, why.to_string());
    let token_or_refused = |why: &str| match &verified {
        Some(Err(bad)) => bad.clone(),
        _ => refused(why),
    };
    let needs_token = match follow {
        Follow::Event(id) => {
            let event = state
                .events
                .get(&id)
                .ok_or_else(|| not_found("such event"))?;
            if event.public {
                false
            } else if may_watch(&state, event, claims.as_ref()) {
                true
            } else {
                return Err(token_or_refused(
                    "a private event: for its teams' members and staff",
                ));
            }
        }
        Follow::Team(id) => {
            let team = state.teams.get(&id).ok_or_else(|| not_found("such team"))?;
            if !claims.as_ref().is_some_and(|c| may_follow_team(team, c)) {
                return Err(token_or_refused(
                    "a team's updates are for its members and staff",
                ));
            }
            true
        }
        Follow::Purchase(id) => {
            let Some(claims) = &claims else {
                return Err(token_or_refused("only its buyer follows a purchase"));
            };
            let purchase = state.purchases.get(&id);
            let mine = purchase.is_some_and(|p| may_see_purchase(p, claims));
            if !mine && claims.role != Role::Admin {
                return Err(refused("only its buyer follows a purchase"));
            }
            purchase.ok_or_else(|| not_found("such purchase"))?;
            true
        }
    };
    Ok(match (needs_token, claims) {
        (true, Some(claims)) => claims.time_left(),
        _ => NO_TOKEN_NEEDED,
    })
}

/// A client in the layer with `topics`' current state queued, registered so that nothing
/// committed after that state was read is missed or sent twice.
fn join_with_state(ctx: &AppContext, client: &Arc<Client>, topics: &[Topic]) {
    let published = ctx.engine.published();
    let state = &published.views.sports;
    let now = wall_clock_ms();
    for topic in topics {
        for msg in current(state, *topic, published.seq, now) {
            client.push_backlog(msg.shared());
        }
    }
    let channels: Vec<String> = topics.iter().map(|t| t.channel()).collect();
    ctx.channels
        .join_stream_after(client, &channels, published.seq);
}

// --- WebSocket -----------------------------------------------------------------------------

/// `GET /ws/events/{event_id}/stream/`, `/ws/teams/{team_id}/` and
/// `/ws/purchases/{purchase_id}/`: which one, by the route that matched.
pub async fn socket_route(
    State(ctx): State<Arc<AppContext>>,
    route: MatchedPath,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    Upgrade(ws): Upgrade,
) -> Response {
    let path = route.as_str();
    let follow = id_of(&id).map(|id| {
        if path.starts_with("/ws/teams/") {
            Follow::Team(id)
        } else if path.starts_with("/ws/purchases/") {
            Follow::Purchase(id)
        } else {
            Follow::Event(id)
        }
    });
    socket(ctx, follow, query, headers, ws)
}

fn socket(
    ctx: Arc<AppContext>,
    follow: Result<Follow, WireError>,
    query: Option<String>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let admitted = follow.and_then(|f| Ok((f, admit(&ctx, f, query.as_deref(), &headers)?)));
    let (follow, token_left) = match admitted {
        Ok(admitted) => admitted,
        Err(refused) => return refused.into_response(),
    };
    let membership = ctx.channels.join(ctx.queue_limits(), Framing::TypeData);
    join_with_state(&ctx, membership.client(), &follow.joined_on_connect());
    ws.max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .read_buffer_size(crate::wire::WS_READ_BUFFER_BYTES)
        .on_upgrade(move |socket| serve(ctx, follow, membership, socket, token_left))
}

/// A reply to one client: no channel, no sequence.
fn reply(kind: &'static str, data: Value) -> Arc<ChannelMessage> {
    ChannelMessage::new("", 0, kind, data, Class::Event).shared()
}

fn error_reply(code: ErrorCode, message: &str) -> Arc<ChannelMessage> {
    reply(
        "error",
        json!({ "code": code.as_str(), "message": message }),
    )
}

/// Rate-limited and binary frames are answered as errors in the contract's own shape.
struct Errors;

impl json_ws::Notices for Errors {
    fn rate_limited(&self, per_second: u32) -> Option<Arc<ChannelMessage>> {
        Some(error_reply(
            ErrorCode::RateLimited,
            &format!("at most {per_second} messages a second; this one was dropped"),
        ))
    }

    fn binary_refused(&self) -> Option<Arc<ChannelMessage>> {
        Some(error_reply(
            ErrorCode::InvalidData,
            "messages are JSON text",
        ))
    }
}

async fn serve(
    ctx: Arc<AppContext>,
    follow: Follow,
    membership: Membership,
    socket: WebSocket,
    token_left: Duration,
) {
    let limits = ctx.socket_limits(MAX_FRAME_BYTES, FRAMES_PER_SECOND, FRAME_BURST);
    let client = membership.client().clone();
    json_ws::serve(socket, membership, limits, token_left, &Errors, |text| {
        if let Some(answer) = on_text(&ctx, &client, follow, &text) {
            client.push(answer);
        }
        async { json_ws::Handled::default() }
    })
    .await;
}

/// What a client's frame asks: a ping, or (on an event's socket) a topic to join. Returns the
/// answer to queue, if any.
fn on_text(
    ctx: &AppContext,
    client: &Arc<Client>,
    follow: Follow,
    text: &str,
) -> Option<Arc<ChannelMessage>> {
    match read_request(text, follow) {
        Ok(Request::Ping) => Some(reply("pong", json!({ "timestamp": iso_now() }))),
        Ok(Request::Join(topic)) => {
            subscribe(ctx, client, topic);
            None
        }
        Err(why) => Some(error_reply(ErrorCode::InvalidData, why)),
    }
}

/// What a client's text frame asks of a socket following `follow`.
pub(crate) enum Request {
    Ping,
    Join(Topic),
}

/// A client's text frame as its request, or why the socket cannot take it.
pub(crate) fn read_request(text: &str, follow: Follow) -> Result<Request, &'static str> {
    let frame =
        serde_json::from_str::<Value>(text).map_err(|_| "messages are JSON objects with a type")?;
    let kind = frame
        .get("type")
        .and_then(Value::as_str)
        .ok_or("a message needs a \"type\"")?;
    match (kind, follow) {
        ("ping", _) => Ok(Request::Ping),
        ("subscribe_results", Follow::Event(id)) => Ok(Request::Join(Topic::EventResults(id))),
        ("subscribe_schedule", Follow::Event(id)) => Ok(Request::Join(Topic::EventSchedule(id))),
        ("subscribe_announcements", Follow::Event(id)) => {
            Ok(Request::Join(Topic::EventAnnouncements(id)))
        }
        ("subscribe_results" | "subscribe_schedule" | "subscribe_announcements", _) => {
            Err("this socket joins all its topics on connect")
        }
        _ => {
            Err("known types: ping, subscribe_results, subscribe_schedule, subscribe_announcements")
        }
    }
}

/// Joins one more topic of an event's socket: a `subscribed` confirmation, the topic's current
/// state, then its changes. A second ask only confirms it again.
fn subscribe(ctx: &AppContext, client: &Arc<Client>, topic: Topic) {
    let channel = topic.channel();
    client.push(reply("subscribed", json!({ "topic": topic.name() })));
    if !client.is_on(&channel) {
        join_with_state(ctx, client, &[topic]);
    }
}

// --- Server-Sent Events --------------------------------------------------------------------

/// Which stream: the topics it follows, under whose access rules.
#[derive(Debug, Clone, Copy)]
enum Feed {
    /// `/api/events/{id}/stream/`: all four of the event's topics.
    Event(u64),
    /// `/api/events/{id}/stream/results/`: results and the leaderboard they make.
    EventResults(u64),
    /// `/api/events/{id}/stream/schedule/`.
    EventSchedule(u64),
    /// `/api/teams/{id}/stream/`: the team's three topics.
    Team(u64),
}

impl Feed {
    fn follow(self) -> Follow {
        match self {
            Feed::Event(id) | Feed::EventResults(id) | Feed::EventSchedule(id) => Follow::Event(id),
            Feed::Team(id) => Follow::Team(id),
        }
    }

    fn topics(self) -> Vec<Topic> {
        match self {
            Feed::Event(id) => vec![
                Topic::Event(id),
                Topic::EventResults(id),
                Topic::EventSchedule(id),
                Topic::EventAnnouncements(id),
            ],
            Feed::EventResults(id) => vec![Topic::Event(id), Topic::EventResults(id)],
            Feed::EventSchedule(id) => vec![Topic::EventSchedule(id)],
            Feed::Team(id) => Follow::Team(id).joined_on_connect(),
        }
    }
}

/// What every stream handler is handed.
pub struct StreamRequest {
    ctx: Arc<AppContext>,
    query: Option<String>,
    headers: HeaderMap,
    address: IpAddr,
    slots: Arc<StreamSlots>,
    connection: ConnectionEnd,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for StreamRequest
where
    Arc<AppContext>: axum::extract::FromRef<S>,
{
    type Rejection = WireError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let Ok(ClientAddr(address)) = ClientAddr::from_request_parts(parts, state).await;
        let Ok(connection) = ConnectionEnd::from_request_parts(parts, state).await;
        // Layered on the router with the routes (`routes::router`); never silently unlimited.
        let slots = parts
            .extensions
            .get::<Arc<StreamSlots>>()
            .cloned()
            .ok_or_else(|| {
                WireError::new(ErrorCode::ServerError, "event streams are not set up")
            })?;
        Ok(Self {
            ctx: axum::extract::FromRef::from_ref(state),
            query: parts.uri.query().map(str::to_string),
            headers: parts.headers.clone(),
            address,
            slots,
            connection,
        })
    }
}

/// `GET /api/events/{event_id}/stream/` (and its `results/` and `schedule/`),
/// `/api/teams/{team_id}/stream/`: which one, by the route that matched.
pub async fn stream_route(
    route: MatchedPath,
    Path(id): Path<String>,
    request: StreamRequest,
) -> Response {
    let path = route.as_str().trim_end_matches('/');
    let feed = id_of(&id).map(|id| {
        if path.starts_with("/api/teams/") {
            Feed::Team(id)
        } else if path.ends_with("/results") {
            Feed::EventResults(id)
        } else if path.ends_with("/schedule") {
            Feed::EventSchedule(id)
        } else {
            Feed::Event(id)
        }
    });
    stream(request, feed)
}

fn stream(request: StreamRequest, feed: Result<Feed, WireError>) -> Response {
    match open_stream(request, feed) {
        Ok(response) => response,
        Err(refused) => refused.into_response(),
    }
}

fn open_stream(
    request: StreamRequest,
    feed: Result<Feed, WireError>,
) -> Result<Response, WireError> {
    let StreamRequest {
        ctx,
        query,
        headers,
        address,
        slots,
        connection,
    } = request;
    let feed = feed?;
    let token_left = admit(&ctx, feed.follow(), query.as_deref(), &headers)?;
    let cursor = sse::last_event_id(&headers)?;
    let membership = ctx.channels.join(ctx.queue_limits(), Framing::DataWithType);
    let slot = slots.take(address, membership.client())?;
    let topics = feed.topics();
    let channels: Vec<String> = topics.iter().map(|t| t.channel()).collect();
    let resumed = cursor.map(|cursor| {
        let state = ctx.engine.published().views.sports.clone();
        let now = wall_clock_ms();
        ctx.channels
            .resume_stream(membership.client(), &channels, cursor, RESUME_LIMIT, |m| {
                still_holds(&state, m, now)
            })
    });
    if !matches!(resumed, Some(Subscribed::Resumed(_))) {
        // A first connection, or a cursor the histories no longer reach: the topics' state.
        join_with_state(&ctx, membership.client(), &topics);
    }
    let options = sse::Options {
        keepalive: SSE_KEEPALIVE,
        retry: SSE_RETRY,
        named_events: false,
        token_left,
    };
    Ok(sse::stream(membership, options, slot, connection))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_have_the_seeds_names() {
        assert_eq!(Topic::EventAnnouncements(7).name(), "event_7_announcements");
        assert_eq!(Topic::TeamResults(3).name(), "team_3_results");
        assert_eq!(Topic::Purchase(9).channel(), "sports:purchase_9");
        let names: Vec<String> = Feed::Event(1)
            .topics()
            .into_iter()
            .map(Topic::name)
            .collect();
        assert_eq!(
            names,
            [
                "event_1",
                "event_1_results",
                "event_1_schedule",
                "event_1_announcements"
            ]
        );
    }
}
