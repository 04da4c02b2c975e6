//! Who may see and do what on a sports day, shared by the HTTP API (`routes.rs`) and the live
//! topics (`stream.rs`). A person is a `member` token's `sub`: staff mint those for team members
//! and ticket buyers, and no other token (a guest's PIN login, a GM station) speaks for one.

use super::domain::{Meet, Purchase, SportsState};
use crate::auth::{Claims, Role};

/// The user id a token speaks for on teams and purchases: only a `member` token's, which staff
/// mint for a named person. A guest's PIN login chooses its own name (a viewer), and a GM
/// station's id is a station's: neither is ever taken for a team member or a buyer.
pub fn member_id(claims: &Claims) -> Option<&str> {
    (claims.role == Role::Member).then_some(claims.sub.as_str())
}

/// Who may read an event: anyone for a public one; for a private one the members of its teams
/// (`member` tokens) and staff.
pub fn may_watch(state: &SportsState, event: &Meet, claims: Option<&Claims>) -> bool {
    event.public
        || claims.is_some_and(|c| {
            c.role == Role::Admin || member_id(c).is_some_and(|m| state.takes_part(event.id, m))
        })
}

/// Whether `claims` may see purchase `p`: its buyer or staff.
pub fn may_see_purchase(p: &Purchase, claims: &Claims) -> bool {
    claims.role == Role::Admin || member_id(claims) == Some(p.user_id.as_str())
}
