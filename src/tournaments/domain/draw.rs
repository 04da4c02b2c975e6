//! The draw of a debate round: which teams meet, on which side, judged by whom. Pure and
//! deterministic: the same teams, adjudicators and seed give the same draw, so a draw the log
//! records can always be explained (the seed is drawn by the adapter and recorded with it).
//!
//! The rules, in order (the README's "Tournament night" repeats them for staff):
//!
//! 1. **Order.** Round 1: the checked-in teams in a random order (a Fisher-Yates shuffle driven
//!    by the seed). Later rounds: by wins, then total speaker points, then the order the teams
//!    registered in.
//! 2. **Bye.** With an odd number of teams, the lowest-ordered team that has not had a bye sits
//!    out (the lowest of all when every team has had one).
//! 3. **Pairs.** Top down, each team meets the highest-ordered team left that it has not met, if
//!    the rest can still be paired that way (a search, bounded at [`MAX_SEARCH_STEPS`]); when no
//!    pairing without a repeat exists, or the search gives up, teams are paired greedily with
//!    the first team left they have not met, else the next team in order.
//! 4. **Sides.** The team that has been proposition more often than the other opposes; when both
//!    have as often, the higher-ordered team proposes (in round 1 the order is random).
//! 5. **Adjudicators.** In a seeded random order, one per room while there are enough, never in a
//!    room with their own team (an adjudicator who also speaks): a maximum matching, so no room
//!    goes without one that could have had one.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// Work the repeat-avoiding pairing search may do before it settles for the greedy pairing.
pub const MAX_SEARCH_STEPS: usize = 100_000;

/// A team as the draw sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrawTeam {
    pub id: u64,
    pub wins: u32,
    pub speaker_points: u64,
    /// Its speakers' ids: an adjudicator among them may not judge it.
    pub members: BTreeSet<String>,
    pub times_proposition: u32,
    pub times_opposition: u32,
    /// Teams it has met in earlier rounds.
    pub met: BTreeSet<u64>,
    pub had_bye: bool,
}

/// One debate: two teams and (when there are enough) an adjudicator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Room {
    /// 1, 2, … in draw order.
    pub number: u32,
    pub proposition: u64,
    pub opposition: u64,
    pub adjudicator: Option<String>,
}

/// A round's draw.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Draw {
    pub rooms: Vec<Room>,
    /// The team that sits out, with an odd number of teams.
    pub bye: Option<u64>,
}

/// SplitMix64: small, fast, and the same on every machine, which is all a recorded seed needs.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Below `n` (n > 0); the tiny modulo bias does not matter for a shuffle of teams.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// The draw for round `round_number` (1-based) of `teams` (the checked-in ones, in registration
/// order) with `adjudicators` (their ids, in registration order).
pub fn make_draw(
    round_number: u32,
    teams: &[DrawTeam],
    adjudicators: &[String],
    seed: u64,
) -> Draw {
    let mut dice = Dice(seed);
    let by_id: BTreeMap<u64, &DrawTeam> = teams.iter().map(|t| (t.id, t)).collect();
    let mut order: Vec<u64> = teams.iter().map(|t| t.id).collect();
    if round_number <= 1 {
        dice.shuffle(&mut order);
    } else {
        // Stable: equal teams keep their registration order.
        order.sort_by(|a, b| {
            let (a, b) = (by_id[a], by_id[b]);
            b.wins
                .cmp(&a.wins)
                .then(b.speaker_points.cmp(&a.speaker_points))
        });
    }
    let bye = (order.len() % 2 == 1).then(|| {
        let at = order
            .iter()
            .rposition(|id| !by_id[id].had_bye)
            .unwrap_or(order.len() - 1);
        order.remove(at)
    });
    let met = |a: u64, b: u64| by_id[&a].met.contains(&b);
    let pairs = pair_without_repeats(&order, &met).unwrap_or_else(|| pair_greedily(&order, &met));
    let mut rooms: Vec<Room> = pairs
        .into_iter()
        .zip(1..)
        .map(|((higher, lower), number)| {
            let (h, l) = (by_id[&higher], by_id[&lower]);
            let (proposition, opposition) = if h.times_proposition > l.times_proposition {
                (lower, higher)
            } else {
                (higher, lower)
            };
            Room {
                number,
                proposition,
                opposition,
                adjudicator: None,
            }
        })
        .collect();
    let mut judges: Vec<&String> = adjudicators.iter().collect();
    dice.shuffle(&mut judges);
    assign_adjudicators(&mut rooms, &judges, &by_id);
    Draw { rooms, bye }
}

/// Pairs `order` top down so that no two teams meet again, if that is possible within
/// [`MAX_SEARCH_STEPS`]; each team takes the highest-ordered partner that still lets the rest
/// be paired.
fn pair_without_repeats(order: &[u64], met: &dyn Fn(u64, u64) -> bool) -> Option<Vec<(u64, u64)>> {
    fn search(
        left: &mut Vec<u64>,
        met: &dyn Fn(u64, u64) -> bool,
        steps: &mut usize,
        pairs: &mut Vec<(u64, u64)>,
    ) -> bool {
        let Some(&first) = left.first() else {
            return true;
        };
        for i in 1..left.len() {
            *steps += 1;
            if *steps > MAX_SEARCH_STEPS {
                return false;
            }
            let partner = left[i];
            if met(first, partner) {
                continue;
            }
            left.remove(i);
            left.remove(0);
            pairs.push((first, partner));
            if search(left, met, steps, pairs) {
                return true;
            }
            pairs.pop();
            left.insert(0, first);
            left.insert(i, partner);
        }
        false
    }
    let mut left = order.to_vec();
    let mut pairs = Vec::new();
    let mut steps = 0;
    search(&mut left, met, &mut steps, &mut pairs).then_some(pairs)
}

/// Top down: each team with the first team left it has not met, else the next one.
fn pair_greedily(order: &[u64], met: &dyn Fn(u64, u64) -> bool) -> Vec<(u64, u64)> {
    let mut left = order.to_vec();
    let mut pairs = Vec::new();
    while left.len() >= 2 {
        let first = left.remove(0);
        let at = left.iter().position(|&t| !met(first, t)).unwrap_or(0);
        pairs.push((first, left.remove(at)));
    }
    pairs
}

/// Gives as many rooms as possible an adjudicator none of whose teams they speak for
/// (augmenting paths; `judges` in the order they are tried).
fn assign_adjudicators(rooms: &mut [Room], judges: &[&String], teams: &BTreeMap<u64, &DrawTeam>) {
    let may_judge = |judge: &str, room: &Room| {
        !teams[&room.proposition].members.contains(judge)
            && !teams[&room.opposition].members.contains(judge)
    };
    // room index → judge index
    let mut judge_of: Vec<Option<usize>> = vec![None; rooms.len()];
    fn augment(
        judge: usize,
        judges: &[&String],
        rooms: &[Room],
        may_judge: &dyn Fn(&str, &Room) -> bool,
        judge_of: &mut [Option<usize>],
        seen: &mut [bool],
    ) -> bool {
        for (r, room) in rooms.iter().enumerate() {
            if seen[r] || !may_judge(judges[judge], room) {
                continue;
            }
            seen[r] = true;
            let free = match judge_of[r] {
                None => true,
                Some(other) => augment(other, judges, rooms, may_judge, judge_of, seen),
            };
            if free {
                judge_of[r] = Some(judge);
                return true;
            }
        }
        false
    }
    for judge in 0..judges.len() {
        let mut seen = vec![false; rooms.len()];
        augment(judge, judges, rooms, &may_judge, &mut judge_of, &mut seen);
    }
    for (room, judge) in rooms.iter_mut().zip(judge_of) {
        room.adjudicator = judge.map(|j| judges[j].clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn team(id: u64) -> DrawTeam {
        DrawTeam {
            id,
            wins: 0,
            speaker_points: 0,
            members: [format!("speaker-{id}-a"), format!("speaker-{id}-b")].into(),
            times_proposition: 0,
            times_opposition: 0,
            met: BTreeSet::new(),
            had_bye: false,
        }
    }

    /// Plays `rounds` rounds of a generated tournament: records meetings, sides, byes and
    /// random results, checking every draw on the way.
    fn play(seed: u64, team_count: u64, judges: usize, conflicted: usize, rounds: u32) {
        let mut dice = Dice(seed ^ 0xA5A5);
        let mut teams: Vec<DrawTeam> = (1..=team_count).map(team).collect();
        // Some adjudicators also speak for a team.
        let mut adjudicators: Vec<String> = (0..judges).map(|j| format!("judge-{j}")).collect();
        for speaking in teams.iter().take(conflicted) {
            adjudicators.push(speaking.members.iter().next().unwrap().clone());
        }
        for round in 1..=rounds {
            let draw = make_draw(
                round,
                &teams,
                &adjudicators,
                seed.wrapping_add(u64::from(round)),
            );
            let again = make_draw(
                round,
                &teams,
                &adjudicators,
                seed.wrapping_add(u64::from(round)),
            );
            assert_eq!(draw, again, "the same inputs and seed give the same draw");
            check(&draw, &teams, &adjudicators);
            for room in &draw.rooms {
                let winner = if dice.below(2) == 0 {
                    room.proposition
                } else {
                    room.opposition
                };
                for (id, other) in [
                    (room.proposition, room.opposition),
                    (room.opposition, room.proposition),
                ] {
                    let t = teams.iter_mut().find(|t| t.id == id).unwrap();
                    t.met.insert(other);
                    if id == room.proposition {
                        t.times_proposition += 1;
                    } else {
                        t.times_opposition += 1;
                    }
                    if id == winner {
                        t.wins += 1;
                    }
                    t.speaker_points += 140 + dice.below(20) as u64;
                }
            }
            if let Some(bye) = draw.bye {
                teams.iter_mut().find(|t| t.id == bye).unwrap().had_bye = true;
            }
        }
    }

    fn check(draw: &Draw, teams: &[DrawTeam], adjudicators: &[String]) {
        let mut seen = BTreeSet::new();
        for room in &draw.rooms {
            assert_ne!(room.proposition, room.opposition);
            for id in [room.proposition, room.opposition] {
                assert!(seen.insert(id), "team {id} twice in one round");
            }
        }
        if let Some(bye) = draw.bye {
            assert!(seen.insert(bye), "the bye team also debates");
        }
        assert_eq!(seen.len(), teams.len(), "every team debates or has the bye");
        assert_eq!(draw.bye.is_some(), teams.len() % 2 == 1);
        let by_id: BTreeMap<u64, &DrawTeam> = teams.iter().map(|t| (t.id, t)).collect();
        let mut judges = BTreeSet::new();
        for room in &draw.rooms {
            if let Some(judge) = &room.adjudicator {
                assert!(judges.insert(judge.clone()), "{judge} judges two rooms");
                for id in [room.proposition, room.opposition] {
                    assert!(
                        !by_id[&id].members.contains(judge),
                        "{judge} judges their own team"
                    );
                }
            }
        }
        // As many rooms judged as any assignment could judge (found here by brute force).
        let may_judge = |judge: &String, room: &Room| {
            !by_id[&room.proposition].members.contains(judge)
                && !by_id[&room.opposition].members.contains(judge)
        };
        assert_eq!(
            judges.len(),
            most_rooms_judged(&draw.rooms, adjudicators, &may_judge),
            "fewer rooms judged than the adjudicators could cover"
        );
        // Sides: the team that has proposed more often opposes.
        for room in &draw.rooms {
            let (prop, opp) = (by_id[&room.proposition], by_id[&room.opposition]);
            assert!(
                prop.times_proposition <= opp.times_proposition,
                "room {}: {} proposes again over {}",
                room.number,
                prop.id,
                opp.id
            );
        }
        // The bye: never twice for a team while another has had none.
        if let Some(bye) = draw.bye {
            assert!(
                !by_id[&bye].had_bye || teams.iter().all(|t| t.had_bye),
                "team {bye} sits out twice"
            );
        }
        // No repeat when a repeat-free pairing existed (found here by an exhaustive search of
        // its own, not the draw's).
        let repeats = draw
            .rooms
            .iter()
            .filter(|r| by_id[&r.proposition].met.contains(&r.opposition))
            .count();
        if repeats > 0 {
            let sitting: Vec<&DrawTeam> = teams.iter().filter(|t| Some(t.id) != draw.bye).collect();
            assert!(
                !repeat_free_pairing_exists(&sitting),
                "{repeats} repeat pairings although a pairing without one exists"
            );
        }
    }

    /// Whether the teams can all be paired with teams they have not met: every way, over
    /// bitmasks of who is still unpaired (at most 16 teams in these tests).
    fn repeat_free_pairing_exists(teams: &[&DrawTeam]) -> bool {
        fn search(left: u32, teams: &[&DrawTeam], failed: &mut BTreeSet<u32>) -> bool {
            if left == 0 {
                return true;
            }
            if failed.contains(&left) {
                return false;
            }
            let first = left.trailing_zeros() as usize;
            let rest = left & !(1 << first);
            let found = (0..teams.len()).filter(|i| rest & (1 << i) != 0).any(|i| {
                !teams[first].met.contains(&teams[i].id) && search(rest & !(1 << i), teams, failed)
            });
            if !found {
                failed.insert(left);
            }
            found
        }
        assert!(teams.len() <= 16);
        search((1u32 << teams.len()) - 1, teams, &mut BTreeSet::new())
    }

    /// The most rooms an assignment of at most one adjudicator each could judge, by trying
    /// every adjudicator in every room they may judge, or none.
    fn most_rooms_judged(
        rooms: &[Room],
        adjudicators: &[String],
        may_judge: &dyn Fn(&String, &Room) -> bool,
    ) -> usize {
        fn best(
            judge: usize,
            taken: u64,
            rooms: &[Room],
            adjudicators: &[String],
            may_judge: &dyn Fn(&String, &Room) -> bool,
        ) -> usize {
            let Some(name) = adjudicators.get(judge) else {
                return 0;
            };
            let skip = best(judge + 1, taken, rooms, adjudicators, may_judge);
            (0..rooms.len())
                .filter(|r| taken & (1 << r) == 0 && may_judge(name, &rooms[*r]))
                .map(|r| 1 + best(judge + 1, taken | (1 << r), rooms, adjudicators, may_judge))
                .fold(skip, usize::max)
        }
        best(0, 0, rooms, adjudicators, may_judge)
    }

    #[test]
    fn generated_tournaments_draw_fair_rounds() {
        for seed in 0..60 {
            let teams = 2 + seed % 15;
            let judges = (seed % 7) as usize;
            play(seed, teams, judges, (seed % 3) as usize, 5);
        }
    }

    #[test]
    fn later_rounds_pair_by_wins_then_points_and_balance_sides() {
        let mut teams: Vec<DrawTeam> = (1..=4).map(team).collect();
        // 1 and 3 won, 2 and 4 lost; 3 has more points than 1.
        teams[0].wins = 1;
        teams[0].speaker_points = 300;
        teams[2].wins = 1;
        teams[2].speaker_points = 310;
        teams[1].speaker_points = 290;
        teams[3].speaker_points = 280;
        for (a, b) in [(0, 1), (2, 3)] {
            let (ia, ib) = (teams[a].id, teams[b].id);
            teams[a].met.insert(ib);
            teams[b].met.insert(ia);
        }
        teams[2].times_proposition = 1;
        teams[3].times_opposition = 1;
        teams[0].times_proposition = 1;
        teams[1].times_opposition = 1;
        let draw = make_draw(2, &teams, &[], 7);
        // 3 (top) meets 1 (next, not met before); 2 meets 4.
        let rooms: Vec<(u64, u64)> = draw
            .rooms
            .iter()
            .map(|r| (r.proposition, r.opposition))
            .collect();
        assert_eq!(rooms, vec![(3, 1), (2, 4)]);
        assert_eq!(draw.bye, None);
    }

    #[test]
    fn the_bye_goes_to_the_lowest_team_without_one() {
        let mut teams: Vec<DrawTeam> = (1..=3).map(team).collect();
        teams[0].wins = 2;
        teams[1].wins = 1;
        teams[2].had_bye = true;
        let draw = make_draw(3, &teams, &[], 1);
        assert_eq!(draw.bye, Some(2), "3 is last but has had its bye");
    }

    #[test]
    fn a_speaking_adjudicator_is_moved_to_a_room_they_may_judge() {
        let teams: Vec<DrawTeam> = (1..=4).map(team).collect();
        // The only adjudicator speaks for team 1; whichever room team 1 is in, they judge the other.
        let judge = "speaker-1-a".to_string();
        let draw = make_draw(1, &teams, std::slice::from_ref(&judge), 42);
        let judged: Vec<&Room> = draw
            .rooms
            .iter()
            .filter(|r| r.adjudicator.is_some())
            .collect();
        assert_eq!(judged.len(), 1);
        assert!(judged[0].proposition != 1 && judged[0].opposition != 1);
    }
}
