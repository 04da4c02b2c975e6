//! The staff web console: one page, built into the binary, that drives the admin API from a
//! browser on the box's Wi-Fi (`http://venuebox.local:3000/console`).
//!
//! The page is plain HTML, CSS and JavaScript with no build step and nothing fetched from the
//! internet (the venue has none). It holds no powers of its own: it logs in with the admin
//! password like any other client and calls the same endpoints the README documents.

use std::sync::Arc;

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::http::HeaderName;
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use axum::Router;

use super::AppContext;

const PAGE: &str = include_str!("../../assets/console/index.html");
const SCRIPT: &str = include_str!("../../assets/console/console.js");
const STYLE: &str = include_str!("../../assets/console/console.css");

/// Only the box's own files may load or be called: a name or id a device sent can never bring
/// in a script, and the page cannot be framed by another site.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

pub fn router() -> Router<Arc<AppContext>> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/console") }))
        .route(
            "/console",
            get(|| async { asset("text/html; charset=utf-8", PAGE) }),
        )
        .route(
            "/console/console.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/console/console.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
}

/// A page or file built into the binary, served under the strict policy above (every page of
/// the box uses it).
pub fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, content_type),
            // A box that was upgraded serves the new console at once.
            (CACHE_CONTROL, "no-cache"),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (
                HeaderName::from_static("content-security-policy"),
                CONTENT_SECURITY_POLICY,
            ),
        ],
        body,
    )
}
