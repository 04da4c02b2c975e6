//! `/drafts/{id}`: the spectators' page of a draft, built into the binary (plain HTML, CSS and
//! JavaScript, nothing fetched from outside the box). The board (teams, pool, who is on the
//! clock) refreshed from the API when an entry arrives on the draft's socket; a button with
//! the number of entries that opens the history, newest first; toasts for picks, ties, start
//! and completion. With a captain's or staff token in the link (`#token=`) it also picks, and
//! for staff starts and undoes.

use std::sync::Arc;

use axum::Router;

use crate::wire::pages::built_in;
use crate::wire::AppContext;

const PAGE: &str = include_str!("../../assets/drafts/index.html");
const SCRIPT: &str = include_str!("../../assets/drafts/drafts.js");
const STYLE: &str = include_str!("../../assets/drafts/drafts.css");

pub fn router() -> Router<Arc<AppContext>> {
    built_in(&[
        ("/drafts/{id}", PAGE),
        ("/drafts/assets/drafts.js", SCRIPT),
        ("/drafts/assets/drafts.css", STYLE),
    ])
}
