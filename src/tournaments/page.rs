//! `/tournament`: the tournament's page, built into the binary (plain HTML, CSS and JavaScript,
//! nothing fetched from outside the box). One page for everyone in the room: staff run the
//! night from it (after the staff password), a participant opens the link they were given
//! (`/tournament?t=<id>#token=<token>`) to check in and follow the draw, the motion, the timer
//! and the standings, and a screen adds `&screen` for the big view. It holds no powers of its
//! own: it calls the HTTP API and `/ws/stream` with the token it was given.

use std::sync::Arc;

use axum::Router;

use crate::wire::pages::built_in;
use crate::wire::AppContext;

const PAGE: &str = include_str!("../../assets/tournament/index.html");
const SCRIPT: &str = include_str!("../../assets/tournament/tournament.js");
const STYLE: &str = include_str!("../../assets/tournament/tournament.css");

pub fn router() -> Router<Arc<AppContext>> {
    built_in(&[
        ("/tournament", PAGE),
        ("/tournament/tournament.js", SCRIPT),
        ("/tournament/tournament.css", STYLE),
    ])
}
