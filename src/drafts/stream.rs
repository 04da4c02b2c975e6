//! The spectators' sockets (seed 001): `GET /ws/draft/{draft_id}/` follows one draft,
//! `GET /ws/tournament/{tournament_id}/` every draft of a tournament. Read-only and open to
//! anyone: a token in `?token=` only names the spectator (an invalid one is ignored).
//!
//! On connect a socket is sent the last [`REPLAY_EVENTS`] history entries (of the draft, or of
//! the tournament's drafts), oldest first, each `{"type":"draft.event","payload":{...},
//! "replay":true}`; then every new entry as it is committed, without `replay`. An unknown id
//! is closed with [`CLOSE_NOT_FOUND`] after the upgrade (a browser cannot read a refused one).
//! Frames from the client are read and dropped; pings keep the socket (and the Wi-Fi's idea of
//! it) alive however long the night.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;

use super::domain::{DraftEvent, DraftsState, HistoryEntry};
use super::json::event_json;
use crate::domain::Event;
use crate::wire::channels::{ChannelMessage, Class, Framing, Membership};
use crate::wire::extract::{query_token, Upgrade};
use crate::wire::{json_ws, AppContext};

/// History entries a socket is sent when it connects.
pub const REPLAY_EVENTS: usize = 20;
/// Close code for a draft or tournament that does not exist.
pub const CLOSE_NOT_FOUND: u16 = 4004;
/// The message type every entry travels as.
const DRAFT_EVENT: &str = "draft.event";
/// Every layer channel of this contract starts with it.
const PREFIX: &str = "drafts:";
/// A spectator sends nothing that matters: small frames, read and dropped.
const MAX_FRAME_BYTES: usize = 4 * 1024;
/// Frames a spectator's socket reads (and drops) a second, and at once: past it they are not
/// even read.
const DROPPED_PER_SECOND: u32 = 10;
const DROPPED_BURST: u32 = 20;
/// A token's expiry does not end a spectator's socket: it was never needed.
const SPECTATORS_STAY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

fn draft_channel(draft_id: u64) -> String {
    format!("{PREFIX}draft:{draft_id}")
}

fn tournament_channel(tournament_id: u64) -> String {
    format!("{PREFIX}tournament:{tournament_id}")
}

fn message(channel: String, seq: u64, state: &DraftsState, entry: &HistoryEntry) -> ChannelMessage {
    let payload = match state.drafts.get(&entry.draft_id) {
        Some(draft) => event_json(draft, entry),
        None => serde_json::Value::Null,
    };
    ChannelMessage::new(&channel, seq, DRAFT_EVENT, payload, Class::Event)
}

/// Follows the engine's committed events and sends each history entry to its draft's and its
/// tournament's sockets. Entries lost to a lag stay lost to spectators already connected; a
/// reconnect replays the latest, and the page refreshes the board from the API on the next.
pub async fn run_fanout(ctx: Arc<AppContext>) {
    let hub = ctx.engine.hub().clone();
    hub.follow_commits("drafts", |seq, event| {
        let Event::Drafts(DraftEvent::Recorded(entry)) = event else {
            return;
        };
        let state = ctx.engine.published().views.drafts.clone();
        let Some(draft) = state.drafts.get(&entry.draft_id) else {
            return;
        };
        for channel in [
            draft_channel(draft.id),
            tournament_channel(draft.tournament_id),
        ] {
            ctx.channels
                .publish(message(channel, seq, &state, entry).shared());
        }
    })
    .await;
}

/// Tells every spectator the box is restarting and closes its socket.
pub fn close_for_restart(ctx: &AppContext) {
    for client in ctx.channels.clients_on(&[PREFIX]) {
        client.cut(json_ws::CLOSE_RESTARTING, "restarting");
    }
}

/// Which socket: one draft, or a tournament's drafts.
#[derive(Debug, Clone, Copy)]
enum Follow {
    Draft(u64),
    Tournament(u64),
}

/// `GET /ws/draft/{draft_id}/`.
pub async fn draft_socket(
    State(ctx): State<Arc<AppContext>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    Upgrade(ws): Upgrade,
) -> Response {
    upgrade(ctx, id.parse().map(Follow::Draft).ok(), query, ws)
}

/// `GET /ws/tournament/{tournament_id}/`.
pub async fn tournament_socket(
    State(ctx): State<Arc<AppContext>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    Upgrade(ws): Upgrade,
) -> Response {
    upgrade(ctx, id.parse().map(Follow::Tournament).ok(), query, ws)
}

fn upgrade(
    ctx: Arc<AppContext>,
    follow: Option<Follow>,
    query: Option<String>,
    ws: WebSocketUpgrade,
) -> Response {
    // Anonymous is fine; a token only names who watches (in the log of the box).
    let spectator = query_token(query.as_deref())
        .and_then(|t| ctx.secrets.verify(t).ok())
        .map(|claims| claims.sub);
    let joined = follow.and_then(|follow| join(&ctx, follow));
    ws.max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .read_buffer_size(crate::wire::WS_READ_BUFFER_BYTES)
        .on_upgrade(move |socket| async move {
            match joined {
                Some(membership) => {
                    tracing::debug!(spectator = ?spectator, ?follow, "spectator joined");
                    serve(ctx, membership, socket).await;
                }
                None => not_found(socket, follow).await,
            }
        })
}

/// A place in the channel layer with the latest history queued, or `None` for an unknown id.
/// Registered before the 101 goes out, so nothing committed after the history was read is
/// missed: the layer queues what its channel published since then.
fn join(ctx: &AppContext, follow: Follow) -> Option<Membership> {
    let published = ctx.engine.published();
    let state = &published.views.drafts;
    let (channel, history) = match follow {
        Follow::Draft(id) => {
            let draft = state.drafts.get(&id)?;
            let start = draft.history.len().saturating_sub(REPLAY_EVENTS);
            (
                draft_channel(id),
                draft.history[start..].iter().collect::<Vec<_>>(),
            )
        }
        Follow::Tournament(id) => {
            let tournaments = &published.views.tournaments;
            tournaments.tournament(id).ok()?;
            (
                tournament_channel(id),
                state.tournament_history(id, REPLAY_EVENTS),
            )
        }
    };
    let membership = ctx.channels.join(ctx.queue_limits(), Framing::TypePayload);
    let client = membership.client();
    for entry in history {
        let replayed = message(channel.clone(), published.seq, state, entry).as_replay();
        client.push_backlog(replayed.shared());
    }
    ctx.channels.join_after(client, &channel, published.seq);
    Some(membership)
}

async fn not_found(mut socket: WebSocket, follow: Option<Follow>) {
    let reason = match follow {
        Some(Follow::Draft(id)) => format!("no draft {id}"),
        Some(Follow::Tournament(id)) => format!("no tournament {id}"),
        None => "ids are whole numbers".to_string(),
    };
    let close = Message::Close(Some(CloseFrame {
        code: CLOSE_NOT_FOUND,
        reason: reason.into(),
    }));
    let _ = tokio::time::timeout(Duration::from_secs(2), socket.send(close)).await;
}

/// Nothing a spectator sends is an error: it is dropped, and said nothing about.
struct Silent;

impl json_ws::Notices for Silent {
    fn rate_limited(&self, _: u32) -> Option<Arc<ChannelMessage>> {
        None
    }

    fn binary_refused(&self) -> Option<Arc<ChannelMessage>> {
        None
    }
}

async fn serve(ctx: Arc<AppContext>, membership: Membership, socket: WebSocket) {
    let limits = ctx.socket_limits(MAX_FRAME_BYTES, DROPPED_PER_SECOND, DROPPED_BURST);
    json_ws::serve(
        socket,
        membership,
        limits,
        SPECTATORS_STAY,
        &Silent,
        |_| async { json_ws::Handled::default() },
    )
    .await;
}
