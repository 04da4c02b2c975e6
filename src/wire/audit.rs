//! The staff's trail over HTTP: every request made with an admin token runs as that actor (so
//! whatever it changes is logged with who, when and from where), and `GET /api/audit` reads the
//! trail back for the console.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::errors::{ErrorCode, WireError};
use super::extract::{bearer_token, peer_ip, Admin, Params};
use super::time::iso;
use super::AppContext;
use crate::auth::{Claims, Role};
use crate::domain::{Actor, Command, StaffStep};
use crate::engine::acting_as_if;

type Ctx = State<Arc<AppContext>>;

/// Entries one request reads at most.
const MAX_PAGE: usize = 200;

pub fn router() -> Router<Arc<AppContext>> {
    Router::new().route("/api/audit", get(trail))
}

/// Middleware: a request carrying a valid admin token runs as that member of staff. Any other
/// request (no token, a guest's, a bad one) runs as it came; the route itself refuses what it
/// must.
pub async fn staff_scope(State(ctx): Ctx, request: Request, next: Next) -> Response {
    let actor = bearer_token(request.headers())
        .and_then(|token| ctx.secrets.verify(token).ok())
        .and_then(|claims| staff_actor(&claims, peer_ip(request.extensions())));
    acting_as_if(actor, next.run(request)).await
}

/// Logs a step staff took that changes no game state (the deed itself is the caller's): in the
/// trail under the request's actor. A card that fails does not stop the deed (staff need a
/// notice, the TVs and their login most when something is wrong): the box warns in its own log
/// and the caller says `logged: false`. Whether it was logged.
pub async fn log_staff_step(ctx: &AppContext, step: StaffStep) -> bool {
    let kind = step.kind();
    match ctx.engine.execute(Command::Staff(step)).await {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(step = kind, error = %e, "a staff step could not be logged");
            false
        }
    }
}

/// The actor the trail names for a caller with `claims` from `address`, when it is staff.
pub fn staff_actor(claims: &Claims, address: Option<IpAddr>) -> Option<Actor> {
    (claims.role == Role::Admin).then(|| Actor {
        role: claims.role.to_string(),
        who: claims.sub.clone(),
        since: Some(claims.iat),
        address: address.map(|ip| ip.to_string()),
    })
}

#[derive(Deserialize)]
struct Page {
    /// Entries logged before this sequence number (the previous page's `next`).
    before: Option<u64>,
    limit: Option<usize>,
}

/// `GET /api/audit?before=&limit=`: the newest entries first, and where the next page starts.
async fn trail(
    State(ctx): Ctx,
    _admin: Admin,
    Params(page): Params<Page>,
) -> Result<Json<Value>, WireError> {
    let limit = page.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(WireError::new(
            ErrorCode::InvalidData,
            format!("limit is 1 to {MAX_PAGE}"),
        ));
    }
    let before = page.before.unwrap_or(u64::MAX);
    let entries = ctx.engine.read_audit(before, limit).await.map_err(|e| {
        WireError::new(
            ErrorCode::ServerError,
            format!("the trail could not be read: {e}"),
        )
    })?;
    let next = (entries.len() == limit)
        .then(|| entries.last().map(|(seq, ..)| *seq))
        .flatten();
    let entries: Vec<Value> = entries
        .into_iter()
        .map(|(seq, entry, clock_confirmed)| {
            json!({
                "seq": seq,
                "at": iso(entry.at),
                // Whether `at` comes from a clock staff confirmed (null: logged before the box
                // recorded it).
                "clockConfirmed": clock_confirmed,
                "role": entry.role,
                "who": entry.who,
                "loggedInAt": entry.since.map(|s| iso(s.saturating_mul(1000))),
                "address": entry.address,
                "did": entry.did,
                "events": entry.events,
            })
        })
        .collect();
    Ok(Json(json!({ "entries": entries, "next": next })))
}
