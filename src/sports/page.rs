//! `/sports/{id}`: an event's scoreboard for the venue's TV (and a laptop or a phone), built
//! into the binary (plain HTML, CSS and JavaScript, nothing fetched from outside the box): the
//! live leaderboard, the next fixtures and latest results, the announcements, and the latest
//! urgent one across the top until it expires. Live over the event's socket. A private event
//! needs a staff or team token in the link (`#token=`).

use std::sync::Arc;

use axum::Router;

use crate::wire::pages::built_in;
use crate::wire::AppContext;

const PAGE: &str = include_str!("../../assets/sports/index.html");
const SCRIPT: &str = include_str!("../../assets/sports/sports.js");
const STYLE: &str = include_str!("../../assets/sports/sports.css");

pub fn router() -> Router<Arc<AppContext>> {
    built_in(&[
        ("/sports/{id}", PAGE),
        ("/sports/assets/sports.js", SCRIPT),
        ("/sports/assets/sports.css", STYLE),
    ])
}
