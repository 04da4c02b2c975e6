//! An event's leaderboard from its final fixtures: points per win, draw and loss set per event
//! (3/1/0 unless staff say otherwise), ranked by points, then goal difference, then goals
//! for, then head to head (points among the teams still level, from their games with each
//! other), then team id (registration order) so that no two teams ever share a rank.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// Points a team gets per result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Points {
    pub win: u32,
    pub draw: u32,
    pub loss: u32,
}

impl Default for Points {
    fn default() -> Self {
        Self {
            win: 3,
            draw: 1,
            loss: 0,
        }
    }
}

/// A final result: home team, away team, their scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Game {
    pub home: u64,
    pub away: u64,
    pub home_score: u32,
    pub away_score: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Row {
    pub rank: u32,
    pub team_id: u64,
    pub played: u32,
    pub won: u32,
    pub drawn: u32,
    pub lost: u32,
    pub goals_for: u32,
    pub goals_against: u32,
    pub points: u32,
}

impl Row {
    pub fn goal_difference(&self) -> i64 {
        i64::from(self.goals_for) - i64::from(self.goals_against)
    }
}

fn tally(rows: &mut BTreeMap<u64, Row>, games: &[Game], points: Points) {
    for game in games {
        let sides = [
            (game.home, game.home_score, game.away_score),
            (game.away, game.away_score, game.home_score),
        ];
        for (team, scored, conceded) in sides {
            let Some(row) = rows.get_mut(&team) else {
                continue;
            };
            row.played += 1;
            row.goals_for += scored;
            row.goals_against += conceded;
            match scored.cmp(&conceded) {
                std::cmp::Ordering::Greater => {
                    row.won += 1;
                    row.points += points.win;
                }
                std::cmp::Ordering::Equal => {
                    row.drawn += 1;
                    row.points += points.draw;
                }
                std::cmp::Ordering::Less => {
                    row.lost += 1;
                    row.points += points.loss;
                }
            }
        }
    }
}

/// A row on no games for each team.
fn empty_rows(teams: &BTreeSet<u64>) -> BTreeMap<u64, Row> {
    teams
        .iter()
        .map(|t| {
            let row = Row {
                team_id: *t,
                ..Row::default()
            };
            (*t, row)
        })
        .collect()
}

/// The leaderboard of `teams` (every registered team, played or not) over `games`.
pub fn leaderboard(teams: &BTreeSet<u64>, games: &[Game], points: Points) -> Vec<Row> {
    let mut rows = empty_rows(teams);
    tally(&mut rows, games, points);
    let mut ordered: Vec<Row> = rows.into_values().collect();
    let key = |r: &Row| (r.points, r.goal_difference(), r.goals_for);
    ordered.sort_by(|a, b| key(b).cmp(&key(a)).then(a.team_id.cmp(&b.team_id)));
    // Head to head within each group level on the first three criteria.
    let mut start = 0;
    while start < ordered.len() {
        let mut end = start + 1;
        while end < ordered.len() && key(&ordered[end]) == key(&ordered[start]) {
            end += 1;
        }
        if end - start > 1 {
            let level: BTreeSet<u64> = ordered[start..end].iter().map(|r| r.team_id).collect();
            let among: Vec<Game> = games
                .iter()
                .filter(|g| level.contains(&g.home) && level.contains(&g.away))
                .copied()
                .collect();
            let mut mini = empty_rows(&level);
            tally(&mut mini, &among, points);
            ordered[start..end].sort_by(|a, b| {
                let (ma, mb) = (&mini[&a.team_id], &mini[&b.team_id]);
                (mb.points, mb.goal_difference(), mb.goals_for)
                    .cmp(&(ma.points, ma.goal_difference(), ma.goals_for))
                    .then(a.team_id.cmp(&b.team_id))
            });
        }
        start = end;
    }
    for (i, row) in ordered.iter_mut().enumerate() {
        row.rank = i as u32 + 1;
    }
    ordered
}

#[cfg(test)]
mod tests {
    use super::*;

    fn game(home: u64, away: u64, home_score: u32, away_score: u32) -> Game {
        Game {
            home,
            away,
            home_score,
            away_score,
        }
    }

    /// (games, the order of teams 1-4 it ranks)
    #[test]
    fn ranked_by_points_then_goal_difference_goals_for_and_head_to_head() {
        let teams: BTreeSet<u64> = (1..=4).collect();
        let table: [(&str, Vec<Game>, [u64; 4]); 5] = [
            ("no games: team order", vec![], [1, 2, 3, 4]),
            (
                "points",
                vec![game(4, 1, 1, 0), game(3, 2, 2, 2)],
                [4, 2, 3, 1],
            ),
            (
                "goal difference: 3 and 2 both won once",
                vec![game(3, 1, 3, 0), game(2, 4, 1, 0)],
                [3, 2, 4, 1],
            ),
            (
                "goals for: same difference, 2 scored more",
                vec![game(2, 1, 4, 3), game(3, 4, 1, 0)],
                [2, 3, 1, 4],
            ),
            (
                "head to head: 4 beat 1, level on everything else",
                vec![game(4, 1, 1, 0), game(1, 2, 2, 1), game(3, 4, 2, 1)],
                [3, 4, 1, 2],
            ),
        ];
        for (what, games, order) in table {
            let rows = leaderboard(&teams, &games, Points::default());
            let ranked: Vec<u64> = rows.iter().map(|r| r.team_id).collect();
            assert_eq!(ranked, order, "{what}: {rows:?}");
            assert_eq!(
                rows.iter().map(|r| r.rank).collect::<Vec<_>>(),
                [1, 2, 3, 4]
            );
        }
    }

    #[test]
    fn points_per_result_are_the_events() {
        let teams: BTreeSet<u64> = [1, 2].into();
        let rows = leaderboard(
            &teams,
            &[game(1, 2, 1, 1), game(2, 1, 0, 2)],
            Points {
                win: 2,
                draw: 1,
                loss: 0,
            },
        );
        assert_eq!(rows[0].team_id, 1);
        assert_eq!((rows[0].points, rows[0].won, rows[0].drawn), (3, 1, 1));
        assert_eq!((rows[1].points, rows[1].lost, rows[1].goals_for), (1, 1, 1));
    }
}
