//! What every page the box serves shares: the strict content security policy each page and
//! file is served under, and the script and style sheet every page loads first
//! (`assets/shared/`: elements built as text, the status line, API calls with JSON errors; the
//! dark look). Pages are plain HTML, CSS and JavaScript built into the binary, with nothing
//! fetched from outside the box (the venue has no internet).

use std::sync::Arc;

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::http::HeaderName;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use super::AppContext;

const SHARED_SCRIPT: &str = include_str!("../../assets/shared/page.js");
const SHARED_STYLE: &str = include_str!("../../assets/shared/page.css");

/// Only the box's own files may load or be called: a name or id a device sent can never bring
/// in a script, and no page can be framed by another site.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

pub fn router() -> Router<Arc<AppContext>> {
    built_in(&[
        ("/shared/page.js", SHARED_SCRIPT),
        ("/shared/page.css", SHARED_STYLE),
        // Every browser asks for one; the box's is a dot in its accent colour.
        ("/favicon.ico", FAVICON),
    ])
}

const FAVICON: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 16 16\"><circle cx=\"8\" cy=\"8\" r=\"7\" fill=\"#58a6ff\"/></svg>";

/// Routes for files built into the binary, each `(path, contents)`, served by [`asset`] with
/// the type their path's ending says (`.js`, `.css`, `.svg`; anything else is a page).
pub fn built_in(files: &[(&'static str, &'static str)]) -> Router<Arc<AppContext>> {
    files.iter().fold(Router::new(), |router, &(path, body)| {
        let kind = if path.ends_with(".js") {
            "text/javascript; charset=utf-8"
        } else if path.ends_with(".css") {
            "text/css; charset=utf-8"
        } else if path.ends_with(".svg") || path.ends_with(".ico") {
            "image/svg+xml"
        } else {
            "text/html; charset=utf-8"
        };
        router.route(path, get(move || async move { asset(kind, body) }))
    })
}

/// A page or file built into the binary, served under the policy above.
pub fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, content_type),
            // A box that was upgraded serves the new page at once.
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
