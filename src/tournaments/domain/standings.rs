//! Standings: each team's record from the rounds' draws and ballots, ranked by wins, then total
//! speaker points, then registration order (the team registered first ranks higher: a rule
//! everyone can check on the spot, where a venue has no time for a fourth criterion).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{Round, Side, Tournament};

/// A team's record over some rounds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    pub wins: u32,
    pub speaker_points: u64,
    pub times_proposition: u32,
    pub times_opposition: u32,
    pub met: BTreeSet<u64>,
    pub had_bye: bool,
    /// Debates with a ballot entered.
    pub debates: u32,
}

/// One line of the standings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Standing {
    /// 1 for the leader; teams are never ranked equal (the tie-break decides).
    pub rank: u32,
    pub team_id: u64,
    pub team_name: String,
    pub wins: u32,
    pub speaker_points: u64,
    pub debates: u32,
}

/// Every team's record over `rounds` (drawn rooms count as met and sided; a ballot gives the
/// win and the points).
pub fn records(tournament: &Tournament, rounds: &[&Round]) -> BTreeMap<u64, Record> {
    let mut records: BTreeMap<u64, Record> = tournament
        .teams
        .iter()
        .map(|t| (t.id, Record::default()))
        .collect();
    let team_of_speaker: BTreeMap<&str, u64> = tournament
        .teams
        .iter()
        .flat_map(|t| t.speakers.iter().map(move |s| (s.id.as_str(), t.id)))
        .collect();
    for round in rounds {
        let Some(draw) = round.draw() else { continue };
        if let Some(record) = draw.bye.and_then(|bye| records.get_mut(&bye)) {
            record.had_bye = true;
        }
        for room in &draw.rooms {
            for (team, other, side) in [
                (room.proposition, room.opposition, Side::Proposition),
                (room.opposition, room.proposition, Side::Opposition),
            ] {
                let Some(record) = records.get_mut(&team) else {
                    continue;
                };
                record.met.insert(other);
                match side {
                    Side::Proposition => record.times_proposition += 1,
                    Side::Opposition => record.times_opposition += 1,
                }
                let Some(ballot) = round.ballots.get(&room.number) else {
                    continue;
                };
                record.debates += 1;
                if ballot.winner == side {
                    record.wins += 1;
                }
                record.speaker_points += ballot
                    .scores
                    .iter()
                    .filter(|(speaker, _)| team_of_speaker.get(speaker.as_str()) == Some(&team))
                    .map(|(_, score)| u64::from(*score))
                    .sum::<u64>();
            }
        }
    }
    records
}

/// The standings over `rounds`, best first.
pub fn compute(tournament: &Tournament, rounds: &[&Round]) -> Vec<Standing> {
    let records = records(tournament, rounds);
    let mut lines: Vec<Standing> = tournament
        .teams
        .iter()
        .map(|team| {
            let record = records.get(&team.id).cloned().unwrap_or_default();
            Standing {
                rank: 0,
                team_id: team.id,
                team_name: team.name.clone(),
                wins: record.wins,
                speaker_points: record.speaker_points,
                debates: record.debates,
            }
        })
        .collect();
    // Stable: equal teams keep their registration order.
    lines.sort_by(|a, b| {
        b.wins
            .cmp(&a.wins)
            .then(b.speaker_points.cmp(&a.speaker_points))
    });
    for (line, rank) in lines.iter_mut().zip(1..) {
        line.rank = rank;
    }
    lines
}
