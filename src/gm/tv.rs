//! The venue's TV (`/tv`): the game as the room sees it, live. Teams ranked by score, the
//! session's scores over time, the video now playing, and the venue PIN with a QR code that
//! opens the guests' join page. Public, like the screen it is on: it shows only what the room
//! may see (no token ids, no devices, no rejected scans).
//!
//! The page follows `GET /api/tv/stream` (Server-Sent Events on the shared SSE writer): a
//! `tv:board` snapshot (what the board shows, republished when the GM view changes, at most four
//! times a second, latest wins) and `tv:video` progress. On connect the stream first sends the
//! board and the `tv:hello` (PIN and join link); a reconnect gets them again. The chart comes
//! from the session's recent scans (each accepted scan's points, per team), ending at each
//! team's score (which holds group bonuses too).
//!
//! Staff choose what the TVs show (`PUT /api/tv/show`): the scores, or a tournament's screen,
//! a draft's board or a sports day's scoreboard. Every TV gets `tv:show` with the page to
//! open; a page opened with `?tv` (each page loads `/shared/page.js`, which follows the choice)
//! goes where the next choice says. The choice is logged and kept: after a restart or a power
//! cut the TVs show it again (the scores if what it names can no longer be shown).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use std::sync::Mutex;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::domain::{GmView, TransactionStatus};
use crate::auth::Role;
use crate::connections::{ConnectionEnd, LocalAddr};
use crate::domain::{StaffStep, TvChoice};
use crate::engine::Published;
use crate::hub::HubBody;
use crate::wire::channels::{ChannelMessage, Class, Framing};
use crate::wire::errors::{ErrorCode, WireError};
use crate::wire::extract::{Admin, Body, ClientAddr};
use crate::wire::pages::built_in;
use crate::wire::ratelimit::RateLimit;
use crate::wire::sse::{self, StreamSlots};
use crate::wire::time::iso;
use crate::wire::AppContext;

const PAGE: &str = include_str!("../../assets/tv/index.html");
const SCRIPT: &str = include_str!("../../assets/tv/tv.js");
const STYLE: &str = include_str!("../../assets/tv/tv.css");

/// The layer channel every TV follows.
const CHANNEL: &str = "tv";
/// Boards at most this often: a TV redraws for the eye, not for every scan.
const BOARD_EVERY: Duration = Duration::from_millis(250);
/// TV streams one address may hold (a TV and a spare).
const STREAMS_PER_ADDRESS: usize = 4;
/// The stream never ends for a token: it needs none.
const NO_TOKEN_NEEDED: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

pub fn router() -> Router<Arc<AppContext>> {
    built_in(&[
        ("/tv", PAGE),
        ("/tv/assets/tv.js", SCRIPT),
        ("/tv/assets/tv.css", STYLE),
    ])
    .route("/tv/join.svg", get(join_qr))
    .route("/api/tv/stream", get(stream))
    .route("/api/tv/show", put(choose_show).get(show_now))
    .layer(Extension(StreamSlots::new(STREAMS_PER_ADDRESS)))
    .layer(Extension(Arc::new(Showing::default())))
}

/// What the TVs show: the choice staff made in this run, with the page to open (`/tv` for the
/// scores). Until staff choose, it is the last choice logged, so after a restart or a power cut
/// the TVs show what they showed before.
#[derive(Default)]
pub struct Showing(Mutex<Option<Value>>);

impl Showing {
    fn now(&self, ctx: &AppContext) -> Value {
        let mut chosen = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        chosen.get_or_insert_with(|| shown_before(ctx)).clone()
    }

    fn set(&self, chosen: Value) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(chosen);
    }
}

/// The choice the log holds, shown again; the scores when there is none, or when what it names
/// can no longer be shown (a sports day made private since).
fn shown_before(ctx: &AppContext) -> Value {
    let published = ctx.engine.published();
    let scores = || json!({ "view": "scores", "url": "/tv" });
    let Some(choice) = published.tv_shown.as_deref() else {
        return scores();
    };
    match page_for(ctx, &published, &choice.view, choice.id) {
        Ok(url) => shown(choice, &url, true),
        Err(e) => {
            tracing::warn!(view = %choice.view, id = ?choice.id, error = %e.message, "the TVs' last choice cannot be shown again; they show the scores");
            scores()
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShowBody {
    /// `scores`, `tournament`, `draft` or `sports`.
    view: String,
    id: Option<u64>,
}

/// The viewer a tournament's screen on the TVs follows the stream as.
const SCREEN_SUB: &str = "screen:tv";
/// How long the token a tournament's screen is opened with lasts: a night.
const SCREEN_TOKEN_TTL: Duration = Duration::from_secs(12 * 3600);

/// `PUT /api/tv/show`: staff choose what every TV shows.
async fn choose_show(
    State(ctx): State<Arc<AppContext>>,
    Extension(showing): Extension<Arc<Showing>>,
    _admin: Admin,
    Body(body): Body<ShowBody>,
) -> Result<Json<Value>, WireError> {
    let url = page_for(&ctx, &ctx.engine.published(), &body.view, body.id)?;
    let choice = TvChoice {
        view: body.view,
        id: body.id,
    };
    // Logged before the TVs switch, so whatever the room saw is in the staff's trail, and kept,
    // so the TVs show it again after a restart.
    let logged = crate::wire::audit::log_staff_step(&ctx, StaffStep::TvShown(choice.clone())).await;
    let chosen = shown(&choice, &url, logged);
    showing.set(chosen.clone());
    let msg = ChannelMessage::new(CHANNEL, 0, "tv:show", chosen.clone(), Class::Snapshot);
    ctx.channels.publish(msg.keyed("tv:show").shared());
    Ok(Json(chosen))
}

/// What `GET /api/tv/show` answers and every TV is sent for `choice`.
fn shown(choice: &TvChoice, url: &str, logged: bool) -> Value {
    json!({ "view": choice.view, "id": choice.id, "url": url, "logged": logged })
}

/// The page the TVs open for `view` (and its `id`), if it can be shown.
fn page_for(
    ctx: &AppContext,
    published: &Published,
    view: &str,
    id: Option<u64>,
) -> Result<String, WireError> {
    let missing =
        |what: &str| WireError::new(ErrorCode::NotFound, format!("no {what} with that id"));
    let id = || id.ok_or_else(|| WireError::new(ErrorCode::InvalidData, "id: which one to show"));
    match view {
        "scores" => Ok("/tv".to_string()),
        "tournament" => {
            let id = id()?;
            published
                .views
                .tournaments
                .tournament(id)
                .map_err(|_| missing("tournament"))?;
            // The hall screen follows the tournament's stream with a viewer's token.
            // A user id no guest can log in as (the login's name rule drops `:`), so the token,
            // which the TVs' public stream carries, speaks for no one's points.
            let token = ctx
                .secrets
                .mint(Role::Viewer, SCREEN_SUB, SCREEN_TOKEN_TTL)?;
            Ok(format!("/tournament?t={id}&screen#token={token}"))
        }
        "draft" => {
            let id = id()?;
            if !published.views.drafts.drafts.contains_key(&id) {
                return Err(missing("draft"));
            }
            Ok(format!("/drafts/{id}"))
        }
        "sports" => {
            let id = id()?;
            let event = published
                .views
                .sports
                .events
                .get(&id)
                .ok_or_else(|| missing("event"))?;
            if !event.public {
                return Err(WireError::new(
                    ErrorCode::Conflict,
                    "a private event's scoreboard is for its teams: open it on the TV with a member's link",
                ));
            }
            Ok(format!("/sports/{id}"))
        }
        _ => Err(WireError::new(
            ErrorCode::InvalidData,
            "view is scores, tournament, draft or sports",
        )),
    }
}

/// `GET /api/tv/show`: what the TVs show now.
async fn show_now(
    State(ctx): State<Arc<AppContext>>,
    Extension(showing): Extension<Arc<Showing>>,
) -> Json<Value> {
    Json(showing.now(&ctx))
}

/// What the board shows: the session, the teams ranked (score, then name), each team's score
/// over the session's recent scans, and the video. Between sessions, the last one's final
/// standings: the moment the room most wants to see them.
pub fn board(published: &Published) -> Value {
    let view = &published.views.gm;
    let last = view.archived_sessions.last();
    let (session, scores) = match (&view.session, last) {
        (Some(current), _) => (Some(current), &view.scores),
        (None, Some(ended)) => (Some(&ended.session), &ended.scores),
        (None, None) => (None, &view.scores),
    };
    let mut teams: Vec<_> = scores.iter().collect();
    teams.sort_by(|a, b| b.score().cmp(&a.score()).then(a.team_id.cmp(&b.team_id)));
    let ranked: Vec<Value> = teams
        .iter()
        .enumerate()
        .map(|(i, t)| {
            json!({
                "rank": i + 1,
                "teamId": t.team_id,
                "score": t.score(),
                "completedGroups": t.completed_groups,
            })
        })
        .collect();
    json!({
        "session": session.map(|s| json!({
            "name": s.name,
            "status": super::json::session_status(s.status),
            "startTime": iso(s.started_at),
        })),
        "teams": ranked,
        "chart": if view.session.is_some() { chart(view) } else { json!({}) },
        "video": view.video.current.as_ref().map(|v| json!({
            "tokenId": v.token_id,
            "paused": v.paused,
            "queued": view.video.queue.len(),
        })),
        "seq": published.seq,
    })
}

/// Per team, `[time, score]` after each accepted scan of the recent ones, then its score now.
fn chart(view: &GmView) -> Value {
    let mut lines: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    let mut running: BTreeMap<&str, u64> = BTreeMap::new();
    let start = view.session.as_ref().map_or(0, |s| s.started_at);
    for team in &view.scores {
        // What the team had before the scans still in the view.
        let recent: u64 = view
            .recent_transactions
            .iter()
            .filter(|t| {
                t.status == TransactionStatus::Accepted
                    && t.team_id.as_deref() == Some(&team.team_id)
            })
            .map(|t| t.points)
            .sum();
        let before = team.base_score.saturating_sub(recent);
        running.insert(&team.team_id, before);
        lines.insert(&team.team_id, vec![json!([iso(start), before])]);
    }
    for t in &view.recent_transactions {
        let Some(team) = t.team_id.as_deref() else {
            continue;
        };
        if t.status != TransactionStatus::Accepted {
            continue;
        }
        if let (Some(total), Some(line)) = (running.get_mut(team), lines.get_mut(team)) {
            *total += t.points;
            line.push(json!([iso(t.recorded_at), *total]));
        }
    }
    let now = crate::engine::wall_clock_ms();
    for team in &view.scores {
        if let Some(line) = lines.get_mut(team.team_id.as_str()) {
            line.push(json!([iso(now), team.score()]));
        }
    }
    json!(lines)
}

fn board_message(published: &Published) -> Arc<ChannelMessage> {
    ChannelMessage::new(
        CHANNEL,
        published.seq,
        "tv:board",
        board(published),
        Class::Snapshot,
    )
    .keyed("tv:board")
    .shared()
}

/// What the board depends on, to tell a change the room sees from one it does not (a
/// station's heartbeat moves its "last seen", which no TV shows).
fn board_key(view: &GmView) -> String {
    let scores: Vec<(&str, u64, usize)> = view
        .scores
        .iter()
        .map(|t| (t.team_id.as_str(), t.score(), t.completed_groups.len()))
        .collect();
    format!(
        "{:?}|{:?}|{}|{:?}|{}|{}",
        view.session.as_ref().map(|s| (&s.id, &s.name, s.status)),
        scores,
        view.recent_transactions
            .last()
            .map_or("", |t| t.id.as_str()),
        view.video.current.as_ref().map(|v| (&v.token_id, v.paused)),
        view.video.queue.len(),
        view.archived_sessions.len(),
    )
}

/// Republishes the board when what it shows changes, at most every [`BOARD_EVERY`].
pub async fn publish_boards(ctx: Arc<AppContext>) {
    let mut watch = ctx.engine.watch();
    let mut last = board_key(&watch.borrow_and_update().views.gm);
    while watch.changed().await.is_ok() {
        let published = watch.borrow_and_update().clone();
        let key = board_key(&published.views.gm);
        if key == last {
            continue;
        }
        last = key;
        ctx.channels.publish(board_message(&published));
        tokio::time::sleep(BOARD_EVERY).await;
    }
}

/// Passes the player's progress on to the TVs (not logged: the next report supersedes it).
pub async fn publish_video_progress(ctx: Arc<AppContext>) {
    let mut hub = ctx.engine.hub().subscribe();
    loop {
        match hub.recv().await {
            Ok(msg) => {
                if let HubBody::VideoProgress(p) = &msg.body {
                    let progress = json!({
                        "tokenId": p.token_id,
                        "position": p.position_secs,
                        "duration": p.duration_secs,
                    });
                    let msg =
                        ChannelMessage::new(CHANNEL, 0, "tv:video", progress, Class::Snapshot);
                    ctx.channels.publish(msg.keyed("tv:video").shared());
                }
            }
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
        }
    }
}

/// The link a guest's phone opens to join: this box, as the TV reached it.
fn join_link(headers: &HeaderMap, pin: &str) -> String {
    match join_host(headers) {
        Some(host) => format!("http://{host}/join?pin={pin}"),
        None => default_join_link(pin),
    }
}

/// The link by the box's own name, for a TV whose `Host` is no address.
fn default_join_link(pin: &str) -> String {
    format!("http://venuebox.local:3000/join?pin={pin}")
}

/// The request's `Host`, if it can be an address: a name and a port, or an IPv6 literal and a
/// port; longer is not a real address (and a longer link makes a bigger, costlier QR code).
fn join_host(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.len() <= MAX_JOIN_HOST_LEN
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-' | '[' | ']'))
        })
}

/// Whether the TV named the box by the very address and port its connection came in on: a
/// link no guest can make up, since the box has only so many.
fn reached_by_its_address(headers: &HeaderMap, local: Option<SocketAddr>) -> bool {
    let (Some(host), Some(local)) = (join_host(headers), local) else {
        return false;
    };
    // A dual-stack listener sees an IPv4 TV at `[::ffff:10.42.0.1]`; its Host says 10.42.0.1.
    let local = SocketAddr::new(local.ip().to_canonical(), local.port());
    // Port 80 may go unsaid: `10.42.0.1`, `[fd00::1]`.
    let bare = match local.ip() {
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    host == local.to_string() || (local.port() == 80 && host == bare)
}

/// Longest `Host` the join link is made from.
const MAX_JOIN_HOST_LEN: usize = 64;
/// Join QR codes kept drawn besides the box's own addresses': the names the room reaches the
/// box by, and a few to spare.
const DRAWN_QR_CODES: usize = 16;

/// `GET /tv/join.svg`: the join link as a QR code, drawn here. Drawing one takes about half a
/// millisecond and the route is public: the codes of the box's own addresses and of the first
/// links asked for are kept; others are drawn within a budget, past which the box's own
/// name's code is answered.
async fn join_qr(
    State(ctx): State<Arc<AppContext>>,
    local: Option<Extension<LocalAddr>>,
    headers: HeaderMap,
) -> Response {
    static CODES: Mutex<Option<JoinCodes>> = Mutex::new(None);
    let codes = || {
        CODES
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    let pin = ctx.secrets.viewer_pin();
    let own = reached_by_its_address(&headers, local.map(|Extension(LocalAddr(a))| a));
    let choice = codes().get_or_insert_with(JoinCodes::default).choose(
        join_link(&headers, pin),
        default_join_link(pin),
        own,
    );
    let svg = match choice {
        JoinCode::Kept(svg) => svg,
        // Drawn with the lock released: other TVs' kept codes are not held up by it.
        JoinCode::Draw { link, keep } => match draw_qr(&link) {
            Ok(svg) => {
                if keep {
                    codes()
                        .get_or_insert_with(JoinCodes::default)
                        .kept
                        .insert(link, svg.clone());
                }
                svg
            }
            Err(e) => return crate::wire::errors::unexpected(e).into_response(),
        },
    };
    ([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response()
}

fn draw_qr(link: &str) -> Result<Bytes, qrcode::types::QrError> {
    Ok(Bytes::from(
        qrcode::QrCode::new(link.as_bytes())?
            .render::<qrcode::render::svg::Color>()
            .quiet_zone(true)
            .dark_color(qrcode::render::svg::Color("#000"))
            .light_color(qrcode::render::svg::Color("#fff"))
            .build(),
    ))
}

/// Codes of links not kept drawn a second, box-wide; past it a request gets the code of the
/// box's own name. A made-up `Host` per request would otherwise cost half a millisecond each.
const UNKEPT_DRAWS_PER_SEC: u32 = 20;

/// The join QR codes drawn so far, and the budget for drawing ones not kept.
struct JoinCodes {
    kept: HashMap<String, Bytes>,
    unkept_draws: RateLimit,
}

impl Default for JoinCodes {
    fn default() -> Self {
        Self {
            kept: HashMap::new(),
            unkept_draws: RateLimit::new(UNKEPT_DRAWS_PER_SEC, Duration::from_secs(1)),
        }
    }
}

/// What a request for a join code gets: one kept, or one to draw (and maybe keep).
#[derive(Debug, PartialEq)]
enum JoinCode {
    Kept(Bytes),
    Draw { link: String, keep: bool },
}

impl JoinCodes {
    /// The code for `link`: kept, or to draw. `own_address` links (the box's address the
    /// connection came in on) and `own_link` (the box's name) are always kept; the first
    /// other links too, so made-up names cannot push out the room's own. Past those, a link is
    /// drawn within the budget, and `own_link`'s code is answered beyond it.
    fn choose(&mut self, link: String, own_link: String, own_address: bool) -> JoinCode {
        let room = self.kept.len() < DRAWN_QR_CODES;
        let ours = own_address || link == own_link;
        let link = if room || ours || self.kept.contains_key(&link) {
            link
        } else if self.unkept_draws.try_take_n(1) {
            return JoinCode::Draw { link, keep: false };
        } else {
            own_link.clone()
        };
        match self.kept.get(&link) {
            Some(svg) => JoinCode::Kept(svg.clone()),
            None => {
                let keep = room || ours || link == own_link;
                JoinCode::Draw { link, keep }
            }
        }
    }
}

/// `GET /api/tv/stream`: the hello and the board, then every board and video report.
async fn stream(
    State(ctx): State<Arc<AppContext>>,
    ClientAddr(address): ClientAddr,
    Extension(slots): Extension<Arc<StreamSlots>>,
    Extension(showing): Extension<Arc<Showing>>,
    connection: ConnectionEnd,
    headers: HeaderMap,
) -> Result<Response, WireError> {
    let membership = ctx.channels.join(ctx.queue_limits(), Framing::DataWithType);
    let slot = slots.take(address, membership.client())?;
    let published = ctx.engine.published();
    let client = membership.client();
    let pin = ctx.secrets.viewer_pin();
    let hello = json!({ "pin": pin, "joinLink": join_link(&headers, pin) });
    client.push_backlog(ChannelMessage::new("", 0, "tv:hello", hello, Class::Event).shared());
    client.push_backlog(board_message(&published));
    client.push_backlog(
        ChannelMessage::new("", 0, "tv:show", showing.now(&ctx), Class::Event).shared(),
    );
    ctx.channels.join_after(client, CHANNEL, published.seq);
    let options = sse::Options {
        keepalive: Duration::from_secs(15),
        retry: Duration::from_secs(2),
        named_events: false,
        token_left: NO_TOKEN_NEEDED,
    };
    Ok(sse::stream(membership, options, slot, connection))
}

/// Closes every TV's stream for a restart (the page reconnects by itself).
pub fn close_for_restart(ctx: &AppContext) {
    for client in ctx.channels.clients_on(&[CHANNEL]) {
        client.cut(crate::wire::json_ws::CLOSE_RESTARTING, "restarting");
    }
}

/// Decodes `bytes` as the `which`-th body (modulo their number) this module's routes take, as
/// their extractor does, then through what the route checks before it asks the engine (the
/// fuzz target `rest_body`). Whether the body was taken.
pub(crate) fn decode_any_body(_which: u8, bytes: &[u8]) -> bool {
    crate::wire::extract::decode_body::<ShowBody>(bytes).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, value.parse().unwrap());
        headers
    }

    #[test]
    fn the_join_link_uses_the_address_the_room_reached_the_box_by_and_nothing_made_up() {
        assert_eq!(
            join_link(&host("192.168.4.1:3000"), "482913"),
            "http://192.168.4.1:3000/join?pin=482913"
        );
        assert_eq!(
            join_link(&host("[fd00::1]:3000"), "482913"),
            "http://[fd00::1]:3000/join?pin=482913"
        );
        let default = "http://venuebox.local:3000/join?pin=482913";
        // Too long to be an address (and a costlier code to draw), or not an address at all.
        assert_eq!(join_link(&host(&"a".repeat(250)), "482913"), default);
        assert_eq!(join_link(&host("evil.example/phish?"), "482913"), default);
        assert_eq!(join_link(&HeaderMap::new(), "482913"), default);
    }

    /// Paused time: the budget of draws not kept never refills during the test.
    #[tokio::test(start_paused = true)]
    async fn made_up_hosts_past_the_kept_codes_cost_a_budget_then_get_the_boxs_own_code() {
        let mut codes = JoinCodes::default();
        let own = || default_join_link("1");
        let link = |n: usize| format!("http://h{n}:3000/join?pin=1");
        let ask = |codes: &mut JoinCodes, link: String, own_address: bool| match codes.choose(
            link,
            own(),
            own_address,
        ) {
            JoinCode::Kept(svg) => (svg, true),
            JoinCode::Draw { link, keep } => {
                let svg = draw_qr(&link).unwrap();
                if keep {
                    codes.kept.insert(link, svg.clone());
                }
                (svg, false)
            }
        };
        for n in 0..DRAWN_QR_CODES {
            ask(&mut codes, link(n), false);
        }
        assert!(
            ask(&mut codes, link(0), false).1,
            "the first links are kept"
        );
        // Filled by made-up names first, the box's own name and address are still kept.
        let (own_code, _) = ask(&mut codes, own(), false);
        let address = "http://10.42.0.1:3000/join?pin=1".to_string();
        ask(&mut codes, address.clone(), true);
        assert!(ask(&mut codes, address, true).1);
        assert_eq!(codes.kept.len(), DRAWN_QR_CODES + 2);
        let made_up: Vec<Bytes> = (0..UNKEPT_DRAWS_PER_SEC as usize + 5)
            .map(|n| ask(&mut codes, link(100 + n), false).0)
            .collect();
        let own_answers = made_up.iter().filter(|svg| **svg == own_code).count();
        assert_eq!(own_answers, 5, "past the budget, the box's own name's code");
        assert_eq!(codes.kept.len(), DRAWN_QR_CODES + 2, "none of them kept");
    }

    #[test]
    fn only_the_address_and_port_a_connection_came_in_on_is_the_boxs_own() {
        let local: SocketAddr = "10.42.0.1:3000".parse().unwrap();
        assert!(reached_by_its_address(&host("10.42.0.1:3000"), Some(local)));
        assert!(
            !reached_by_its_address(&host("10.42.0.1:3001"), Some(local)),
            "made-up port"
        );
        assert!(!reached_by_its_address(
            &host("10.42.0.2:3000"),
            Some(local)
        ));
        assert!(!reached_by_its_address(&host("10.42.0.1"), Some(local)));
        let web: SocketAddr = "[fd00::1]:80".parse().unwrap();
        assert!(reached_by_its_address(&host("[fd00::1]"), Some(web)));
        assert!(reached_by_its_address(&host("[fd00::1]:80"), Some(web)));
        assert!(!reached_by_its_address(&host("fd00::1"), Some(web)));
        assert!(!reached_by_its_address(&host("10.42.0.1:3000"), None));
        let dual_stack: SocketAddr = "[::ffff:10.42.0.1]:3000".parse().unwrap();
        assert!(reached_by_its_address(
            &host("10.42.0.1:3000"),
            Some(dual_stack)
        ));
    }
}
