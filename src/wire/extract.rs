//! What an HTTP handler takes from a request, shared by every contract's routes: a JSON body,
//! a whole-number id from the path and query parameters, each refused with a contract error
//! rather than axum's plain text ([`Body`], [`Id`], [`Params`]), the client's address
//! ([`ClientAddr`]), and the caller's verified token by what it may do ([`Caller`],
//! [`Scanner`], [`IsStaff`], [`Admin`]).

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::errors::{ErrorCode, WireError};
use super::AppContext;
use crate::auth::{Claims, Role};

/// Largest request body the API reads.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// How long a request body (at most [`MAX_BODY_BYTES`]) may take to arrive.
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A JSON body whose rejections are contract errors rather than axum's plain text.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = WireError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // A body declared too large is refused before any of it is read, not after the client
        // has sent 64 KiB of it (or, if it never does, after the timeout below).
        let declared = req
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|bytes| bytes > MAX_BODY_BYTES as u64) {
            return Err(too_large());
        }
        // A body trickled a byte at a time would hold its connection (and a slot under the
        // connection caps) for as long as the client likes: it has this long to arrive.
        match tokio::time::timeout(BODY_TIMEOUT, Json::<T>::from_request(req, state)).await {
            Ok(Ok(Json(value))) => Ok(Body(value)),
            Ok(Err(rejection)) => Err(body_error(rejection)),
            Err(_) => Err(WireError::new(
                ErrorCode::InvalidData,
                format!(
                    "the request body did not arrive within {} s",
                    BODY_TIMEOUT.as_secs()
                ),
            )
            .with_http_status(StatusCode::REQUEST_TIMEOUT)),
        }
    }
}

/// Decodes a request body as [`Body`] does once it has arrived: the same JSON rules and the
/// same error. The fuzz target `rest_body` runs every route's body type through it.
pub fn decode_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, WireError> {
    Json::<T>::from_bytes(bytes)
        .map(|Json(value)| value)
        .map_err(body_error)
}

fn body_error(rejection: JsonRejection) -> WireError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return too_large();
    }
    WireError::new(ErrorCode::InvalidData, rejection.body_text())
}

fn too_large() -> WireError {
    WireError::new(
        ErrorCode::InvalidData,
        format!("request body is larger than {MAX_BODY_BYTES} bytes"),
    )
    .with_details(json!({ "limitBytes": MAX_BODY_BYTES }))
    .with_http_status(StatusCode::PAYLOAD_TOO_LARGE)
}

/// A WebSocket handshake. A request to a socket's path that is not one (a browser opening the
/// address, a client speaking another WebSocket version) gets the contract's JSON error with
/// axum's reason, not axum's plain text.
pub struct Upgrade(pub WebSocketUpgrade);

impl<S: Send + Sync> FromRequestParts<S> for Upgrade {
    type Rejection = WireError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        WebSocketUpgrade::from_request_parts(parts, state)
            .await
            .map(Upgrade)
            .map_err(|refused| {
                WireError::new(
                    ErrorCode::InvalidData,
                    format!("this path takes a WebSocket: {}", refused.body_text()),
                )
                .with_http_status(refused.status())
            })
    }
}

/// The route's `{id}` as a whole number; anything else is a JSON 404 (no such thing), never
/// axum's plain-text 400.
pub struct Id(pub u64);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = WireError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<u64>::from_request_parts(parts, state).await {
            Ok(Path(id)) => Ok(Id(id)),
            Err(_) => Err(WireError::new(
                ErrorCode::NotFound,
                "ids here are whole numbers",
            )),
        }
    }
}

/// Query parameters, refused with a JSON 400 that says which.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = WireError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(params)) => Ok(Params(params)),
            Err(e) => Err(WireError::new(ErrorCode::InvalidData, e.body_text())),
        }
    }
}

/// The address the request came from (both ports record it for every connection).
pub struct ClientAddr(pub std::net::IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let peer = peer_ip(&parts.extensions);
        // A router served without connection info (none in the box) counts as one client.
        Ok(ClientAddr(peer.unwrap_or(std::net::IpAddr::V4(
            std::net::Ipv4Addr::UNSPECIFIED,
        ))))
    }
}

/// The address a request or a socket's handshake came from, as both ports record it.
pub fn peer_ip(extensions: &axum::http::Extensions) -> Option<std::net::IpAddr> {
    extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip())
}

/// The token of `Authorization: Bearer …` (the scheme in any case, as HTTP has it), the one
/// place every route and WebSocket upgrade reads it from.
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The `token` of a link's query (`?token=…`, where a browser cannot set a header on a
/// WebSocket or an `EventSource`), read by hand: other keys, or a second token, never refuse
/// the request.
pub fn query_token(query: Option<&str>) -> Option<&str> {
    query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))
        .filter(|t| !t.is_empty())
}

/// The caller's verified token, from `Authorization: Bearer …`.
pub struct Caller(pub Claims);

impl FromRequestParts<Arc<AppContext>> for Caller {
    type Rejection = WireError;

    async fn from_request_parts(
        parts: &mut Parts,
        ctx: &Arc<AppContext>,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers).ok_or_else(|| {
            WireError::new(
                ErrorCode::AuthRequired,
                "send Authorization: Bearer <token>",
            )
        })?;
        Ok(Caller(ctx.secrets.verify(token)?))
    }
}

/// The caller's claims, when `may` lets its role do what the route does.
async fn caller_who(
    parts: &mut Parts,
    ctx: &Arc<AppContext>,
    may: fn(&Claims) -> Result<(), crate::auth::AuthError>,
) -> Result<Claims, WireError> {
    let Caller(claims) = Caller::from_request_parts(parts, ctx).await?;
    may(&claims)?;
    Ok(claims)
}

/// A caller that may scan ([`Claims::require_scanner`]).
pub struct Scanner(pub Claims);

impl FromRequestParts<Arc<AppContext>> for Scanner {
    type Rejection = WireError;

    async fn from_request_parts(
        parts: &mut Parts,
        ctx: &Arc<AppContext>,
    ) -> Result<Self, Self::Rejection> {
        caller_who(parts, ctx, Claims::require_scanner)
            .await
            .map(Scanner)
    }
}

/// Whether the request carries a valid staff token; for reads whose answer depends on who
/// asks, rather than being refused.
pub struct IsStaff(pub bool);

impl FromRequestParts<Arc<AppContext>> for IsStaff {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        ctx: &Arc<AppContext>,
    ) -> Result<Self, Self::Rejection> {
        let staff = Caller::from_request_parts(parts, ctx)
            .await
            .is_ok_and(|Caller(claims)| claims.role == Role::Admin);
        Ok(IsStaff(staff))
    }
}

/// A caller holding the admin role.
pub struct Admin(pub Claims);

impl FromRequestParts<Arc<AppContext>> for Admin {
    type Rejection = WireError;

    async fn from_request_parts(
        parts: &mut Parts,
        ctx: &Arc<AppContext>,
    ) -> Result<Self, Self::Rejection> {
        caller_who(parts, ctx, Claims::require_admin)
            .await
            .map(Admin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_token_is_read_whatever_else_the_query_holds() {
        assert_eq!(query_token(Some("token=abc")), Some("abc"));
        assert_eq!(query_token(Some("x=1&token=abc&token=def")), Some("abc"));
        assert_eq!(query_token(Some("token=")), None);
        assert_eq!(query_token(Some("tokens=abc")), None);
        assert_eq!(query_token(None), None);
    }

    #[test]
    fn the_bearer_scheme_is_read_in_any_case() {
        let with = |value: &str| {
            let mut headers = axum::http::HeaderMap::new();
            headers.insert(axum::http::header::AUTHORIZATION, value.parse().unwrap());
            bearer_token(&headers).map(str::to_string)
        };
        assert_eq!(with("Bearer abc").as_deref(), Some("abc"));
        assert_eq!(with("bearer abc").as_deref(), Some("abc"));
        assert_eq!(with("BEARER  abc ").as_deref(), Some("abc"));
        assert_eq!(with("Basic abc"), None);
        assert_eq!(with("Bearer "), None);
        assert_eq!(bearer_token(&axum::http::HeaderMap::new()), None);
    }
}
