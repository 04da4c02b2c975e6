//! `/drafts/{id}`: the spectators' page of a draft, built into the binary (plain HTML, CSS and
//! JavaScript, nothing fetched from outside the box). The board (teams, pool, who is on the
//! clock) refreshed from the API when an entry arrives on the draft's socket; a button with
//! the number of entries that opens the history, newest first; toasts for picks, ties, start
//! and completion. With a captain's or staff token in the link (`#token=`) it also picks, and
//! for staff starts and undoes.

use std::sync::Arc;

use axum::routing::get;
use axum::Router;

use crate::wire::pages::asset;
use crate::wire::AppContext;

const PAGE: &str = include_str!("../../assets/drafts/index.html");
const SCRIPT: &str = include_str!("../../assets/drafts/drafts.js");
const STYLE: &str = include_str!("../../assets/drafts/drafts.css");

pub fn router() -> Router<Arc<AppContext>> {
    Router::new()
        .route(
            "/drafts/{id}",
            get(|| async { asset("text/html; charset=utf-8", PAGE) }),
        )
        .route(
            "/drafts/assets/drafts.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/drafts/assets/drafts.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
}
