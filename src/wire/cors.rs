//! Cross-origin requests: pages served from elsewhere (the venue's GM scanner on its own site or
//! a laptop) calling the box's HTTP API, as `[network] cors_origins` allows. A preflight
//! (`OPTIONS` with `Access-Control-Request-Method`) is answered here, before routing; every
//! other answer to an allowed origin carries `Access-Control-Allow-Origin`. No credentials are
//! allowed: the box's tokens travel in `Authorization` headers a page must be given, never in
//! cookies a browser would add by itself, so another site cannot act for a logged-in user.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::errors::{ErrorCode, WireError};
use super::AppContext;
use crate::config::CorsOrigins;

/// How long a browser may reuse a preflight's answer.
const PREFLIGHT_MAX_AGE_SECS: &str = "600";

/// The middleware; see the module documentation.
pub async fn cors(State(ctx): State<Arc<AppContext>>, request: Request, next: Next) -> Response {
    let origins = &ctx.config.cors_origins;
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .map(str::to_string);
    let allow = origin.as_deref().and_then(|o| allow_origin(origins, o));
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        let Some(allow) = allow else {
            return WireError::new(
                ErrorCode::Forbidden,
                "this origin may not call the box (network.cors_origins)",
            )
            .into_response();
        };
        let mut response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, PUT, DELETE"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type, last-event-id"),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static(PREFLIGHT_MAX_AGE_SECS),
        );
        headers.insert(header::VARY, HeaderValue::from_static("origin"));
        return response;
    }
    let mut response = next.run(request).await;
    if let Some(allow) = allow {
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
        headers.append(header::VARY, HeaderValue::from_static("origin"));
    }
    response
}

/// The `Access-Control-Allow-Origin` for `origin`: `*` when any may call, the origin itself
/// when it is listed, nothing otherwise.
fn allow_origin(origins: &CorsOrigins, origin: &str) -> Option<HeaderValue> {
    match origins {
        CorsOrigins::Any => Some(HeaderValue::from_static("*")),
        CorsOrigins::Only(_) if origins.allows(origin) => HeaderValue::from_str(origin).ok(),
        CorsOrigins::Only(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_origins_are_echoed_and_others_get_nothing() {
        let only = CorsOrigins::Only(vec!["http://192.168.4.2:8000".into()]);
        assert_eq!(
            allow_origin(&only, "http://192.168.4.2:8000").unwrap(),
            "http://192.168.4.2:8000"
        );
        assert!(allow_origin(&only, "http://evil.example").is_none());
        assert_eq!(allow_origin(&CorsOrigins::Any, "http://any").unwrap(), "*");
        assert!(allow_origin(&CorsOrigins::Only(Vec::new()), "http://any").is_none());
    }
}
