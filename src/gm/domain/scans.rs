//! Scans: first write wins per token and session, resends answered with the original result,
//! and the scores, bonuses and completed groups a scan adds.

use std::sync::Arc;

use super::{
    DeviceKind, GmError, GmEvent, GmOutcome, GmState, ScanRequest, SessionState, SessionStatus,
    TeamScore, Transaction, TransactionStatus, MAX_TEAMS, RECENT_TRANSACTIONS,
};
use crate::domain::basics::{validate_id, Millis, MAX_ID_LEN};
use crate::domain::remembered::RememberedIds;
use crate::gm::tokens::{Token, TokenGroup};

/// How many client scan ids the box remembers, to answer resends with the original result. A
/// scanner resends within minutes of a failure (its queue holds 100), so this covers hours of a
/// busy venue while keeping memory, snapshots (written every 10,000 events) and boot bounded.
pub const REMEMBERED_SCAN_IDS: usize = 10_000;

/// (device id, client scan id) → the transaction it produced, oldest forgotten first.
pub(super) type ScanIdMemory = RememberedIds<Transaction, REMEMBERED_SCAN_IDS>;

/// What a scan does, before it is written down as a transaction.
enum Verdict {
    /// A GM scan of a token no one has scored in this session; with `video`, it starts the
    /// token's video too.
    Scores {
        points: u64,
        video: bool,
    },
    /// A player scan of a token with a video, while none plays.
    PlaysVideo,
    /// A player scan of a token without a video: recorded, nothing more.
    Recorded,
    /// A GM scan of a token already scored in this session.
    Duplicate,
    Rejected(String),
}

/// Every scan keeps its ids in the log, the recent transactions and the snapshot: an oversized
/// one (or no token id) is refused outright, whoever scans, and a player scanner's must be well
/// formed. A GM scan with a malformed but short id is still recorded (as rejected: unknown
/// token, invalid team), as stations expect.
fn check_scan_ids(scan: &ScanRequest) -> Result<(), GmError> {
    let ids = [
        ("tokenId", Some(&scan.token_id)),
        ("teamId", scan.team_id.as_ref()),
    ];
    for (field, id) in ids {
        let Some(id) = id else { continue };
        let unusable = id.len() > MAX_ID_LEN || (field == "tokenId" && id.is_empty());
        if unusable || scan.device_kind == DeviceKind::Player {
            validate_id(field, id)?;
        }
    }
    Ok(())
}

impl GmState {
    pub(super) fn decide_scan(
        &self,
        scan: &ScanRequest,
        now: Millis,
    ) -> Result<(GmOutcome, Vec<GmEvent>), GmError> {
        validate_id("deviceId", &scan.device_id)?;
        if let Some(original) = self.resent_scan(scan)? {
            return Ok((
                GmOutcome::Transaction {
                    transaction: original.clone(),
                    replayed: true,
                },
                Vec::new(),
            ));
        }
        check_scan_ids(scan)?;
        let current = self.data.current.as_ref().ok_or(GmError::NoSession)?;
        let mut events = Vec::new();
        // A player scanner joins the device table on its first scan; GM stations identify first.
        let known = self.data.devices.get(&scan.device_id);
        if known.is_some_and(|d| d.kind != scan.device_kind) {
            return Err(GmError::Invalid {
                field: "deviceId",
                reason: format!("{} belongs to another kind of device", scan.device_id),
            });
        }
        if scan.device_kind == DeviceKind::Player && !known.is_some_and(|d| d.connected) {
            let (_, connect) =
                self.decide_connect(&scan.device_id, DeviceKind::Player, &None, &None, now)?;
            events.extend(connect);
        }

        let token = self.catalog.get(&scan.token_id);
        let token_id = token.map_or_else(|| scan.token_id.clone(), |t| t.id.clone());
        let mut transaction = Transaction {
            id: format!("tx-{:08}", self.data.transactions_recorded + 1),
            session_id: current.session.id.clone(),
            token_id: token_id.clone(),
            team_id: scan.team_id.clone(),
            device_id: scan.device_id.clone(),
            device_kind: scan.device_kind,
            scanned_at: scan.seen_at(now),
            recorded_at: now,
            status: TransactionStatus::Accepted,
            rejection_reason: None,
            points: 0,
            client_scan_id: scan.client_scan_id.clone(),
            video_queued: false,
        };
        let mut completed = None;
        match self.judge(current, token, scan) {
            Verdict::Scores { points, video } => {
                transaction.points = points;
                transaction.video_queued = video;
                completed = token.and_then(|token| self.group_completed_by(current, scan, token));
            }
            Verdict::PlaysVideo => transaction.video_queued = true,
            Verdict::Recorded => {}
            Verdict::Duplicate => {
                transaction.status = TransactionStatus::Duplicate;
                transaction.rejection_reason = Some("token already scanned in this session".into());
            }
            Verdict::Rejected(reason) => {
                transaction.status = TransactionStatus::Rejected;
                transaction.rejection_reason = Some(reason);
            }
        }

        let video_token = transaction.video_queued.then(|| token_id.clone());
        events.push(GmEvent::ScanRecorded(Arc::new(transaction.clone())));
        if let Some(token_id) = video_token {
            events.push(GmEvent::VideoQueued {
                token_id: token_id.clone(),
                at: now,
            });
            events.push(GmEvent::VideoStarted { token_id, at: now });
        }
        if let (Some(group), Some(team_id)) = (completed, &scan.team_id) {
            events.push(GmEvent::GroupCompleted {
                team_id: team_id.clone(),
                group: group.name.clone(),
                multiplier: group.multiplier,
                bonus: group.completion_bonus(),
                at: now,
            });
        }
        Ok((
            GmOutcome::Transaction {
                transaction,
                replayed: false,
            },
            events,
        ))
    }

    /// The transaction already recorded for this scan, when the device sent it before (same
    /// device, same client scan id): a resend after a lost answer.
    fn resent_scan(&self, scan: &ScanRequest) -> Result<Option<&Transaction>, GmError> {
        let Some(client_id) = &scan.client_scan_id else {
            return Ok(None);
        };
        if client_id.is_empty() || client_id.len() > 128 {
            return Err(GmError::Invalid {
                field: "scanId",
                reason: "must be 1-128 characters".into(),
            });
        }
        Ok(self.data.client_scans.get(&scan.device_id, client_id))
    }

    /// What the scan of `token` does in the current session: first write wins for GM
    /// stations, a video for player scanners (when none plays), nothing while paused.
    fn judge(&self, current: &SessionState, token: Option<&Token>, scan: &ScanRequest) -> Verdict {
        let rejected = |reason: &str| Verdict::Rejected(reason.to_string());
        if current.session.status == SessionStatus::Paused {
            return rejected("session is paused");
        }
        let Some(token) = token else {
            return rejected("unknown token");
        };
        match scan.device_kind {
            DeviceKind::Gm => {
                let team = scan.team_id.as_deref().unwrap_or("");
                if validate_id("teamId", team).is_err() {
                    rejected("invalid or missing team id")
                } else if current
                    .session
                    .teams
                    .as_ref()
                    .is_some_and(|teams| !teams.iter().any(|t| t == team))
                {
                    rejected("team is not part of this session")
                } else if !current.teams.contains_key(team) && current.teams.len() >= MAX_TEAMS {
                    rejected(&format!("this session already scores {MAX_TEAMS} teams"))
                } else if current.claimed_tokens.contains_key(&token.id) {
                    Verdict::Duplicate
                } else {
                    Verdict::Scores {
                        points: token.value,
                        video: self.gm_scan_plays_video(token),
                    }
                }
            }
            DeviceKind::Player if token.video.is_none() => Verdict::Recorded,
            DeviceKind::Player => {
                if self.video_busy() {
                    rejected("a video is already playing, try again later")
                } else {
                    Verdict::PlaysVideo
                }
            }
        }
    }

    fn video_busy(&self) -> bool {
        self.data.video_current.is_some() || !self.data.video_queue.is_empty()
    }

    /// Whether a GM scan of `token` starts its video: the box is set to (`gm_scans_play_videos`),
    /// the token has one, and none plays. A scan while one plays still scores; its video is
    /// not queued (a later scan of a scored token would only be a duplicate).
    fn gm_scan_plays_video(&self, token: &Token) -> bool {
        self.limits.gm_scans_play_videos && token.video.is_some() && !self.video_busy()
    }

    /// The group this GM scan completes for its team, if it does: every other token of the
    /// group is already the team's, and the group is not yet counted.
    fn group_completed_by(
        &self,
        current: &'_ SessionState,
        scan: &ScanRequest,
        token: &Token,
    ) -> Option<&TokenGroup> {
        let group = self.catalog.group(token.group.as_ref()?)?;
        let team_id = scan.team_id.as_ref();
        let held = team_id.and_then(|t| current.held_tokens.get(t));
        let holds = |id: &String| id == &token.id || held.is_some_and(|held| held.contains(id));
        let team = team_id.and_then(|t| current.teams.get(t));
        let already = team.is_some_and(|t| t.completed_groups.contains(&group.name));
        (!already && group.token_ids.iter().all(holds)).then_some(group)
    }

    pub(super) fn apply_scan(&mut self, transaction: &Arc<Transaction>) {
        self.data.transactions_recorded += 1;
        if let Some(client_id) = &transaction.client_scan_id {
            self.data.client_scans.remember(
                transaction.device_id.clone(),
                client_id.clone(),
                Arc::clone(transaction),
            );
        }
        if let Some(device) = self.data.devices.get_mut(&transaction.device_id) {
            device.last_seen = device.last_seen.max(transaction.recorded_at);
        }
        let Some(state) = &mut self.data.current else {
            return;
        };
        state.transaction_count += 1;
        if state.recent.len() == RECENT_TRANSACTIONS {
            state.recent.pop_front();
        }
        state.recent.push_back(Arc::clone(transaction));
        let scored = transaction.status == TransactionStatus::Accepted
            && transaction.device_kind == DeviceKind::Gm;
        let Some(team_id) = transaction.team_id.as_ref().filter(|_| scored) else {
            return;
        };
        state
            .claimed_tokens
            .insert(transaction.token_id.clone(), transaction.id.clone());
        let team = state
            .teams
            .entry(team_id.clone())
            .or_insert_with(|| TeamScore {
                team_id: team_id.clone(),
                ..TeamScore::default()
            });
        team.base_score = team.base_score.saturating_add(transaction.points);
        team.tokens_scanned += 1;
        let held = state.held_tokens.entry(team_id.clone()).or_default();
        held.insert(transaction.token_id.clone());
        let group = self
            .catalog
            .get(&transaction.token_id)
            .and_then(|t| t.group.as_ref())
            .and_then(|g| self.catalog.group(g));
        if let Some(group) = group {
            let complete = group.token_ids.iter().all(|id| held.contains(id));
            if complete && !team.completed_groups.contains(&group.name) {
                team.completed_groups.push(group.name.clone());
                team.bonus_points = team.bonus_points.saturating_add(group.completion_bonus());
            }
        }
    }
}
