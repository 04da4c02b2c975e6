//! The viewers' phone pages, built into the binary (plain HTML, CSS and JavaScript, nothing
//! fetched from outside the box): `/join` (a name and the venue PIN) and `/play` (the question,
//! a countdown on the box's clock, big option buttons, live totals, the result, the balance
//! and notices, over `/realtime`). `/vote` leads to `/play`, the name guests guess.

use std::sync::Arc;

use axum::response::Redirect;
use axum::routing::get;
use axum::Router;

use crate::wire::pages::built_in;
use crate::wire::AppContext;

const JOIN: &str = include_str!("../../assets/play/join.html");
const PLAY: &str = include_str!("../../assets/play/play.html");
const SCRIPT: &str = include_str!("../../assets/play/play.js");
const STYLE: &str = include_str!("../../assets/play/play.css");

pub fn router() -> Router<Arc<AppContext>> {
    built_in(&[
        ("/join", JOIN),
        ("/play", PLAY),
        ("/play/assets/play.js", SCRIPT),
        ("/play/assets/play.css", STYLE),
    ])
    .route("/vote", get(|| async { Redirect::to("/play") }))
}
