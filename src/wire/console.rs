//! The staff web console: one page, built into the binary, that drives the admin API from a
//! browser on the box's Wi-Fi (`http://venuebox.local:3000/console`).
//!
//! The page is plain HTML, CSS and JavaScript with no build step and nothing fetched from the
//! internet (the venue has none). It holds no powers of its own: it logs in with the admin
//! password like any other client and calls the same endpoints the README documents.

use std::sync::Arc;

use axum::response::Redirect;
use axum::routing::get;
use axum::Router;

use super::pages::built_in;
use super::AppContext;

const PAGE: &str = include_str!("../../assets/console/index.html");
const SCRIPT: &str = include_str!("../../assets/console/console.js");
const STYLE: &str = include_str!("../../assets/console/console.css");

pub fn router() -> Router<Arc<AppContext>> {
    built_in(&[
        ("/console", PAGE),
        ("/console/console.js", SCRIPT),
        ("/console/console.css", STYLE),
    ])
    .route("/", get(|| async { Redirect::to("/console") }))
}
