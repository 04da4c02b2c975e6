//! Live predictions (seed 002): staff open a question with options, viewers spend points on an
//! option, totals grow, and when the question closes the option with the most points wins.
//!
//! Pure state like the rest of the domain: [`PredictionsState::decide`] checks a command and
//! returns the events, [`PredictionsState::apply`] applies one. Balances never go negative:
//! a vote is refused unless the whole cost is covered, and every vote and grant carries the
//! client's id so a resend is answered with the first result instead of spending twice.
//!
//! Tie rule: when options share the highest total, the one listed first when the prediction was
//! created wins. A prediction that closes with no votes has no winner.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::domain::basics::{is_invisible, ErrorKind, Millis};
use crate::domain::remembered::RememberedIds;

/// Why a predictions command was refused. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PredictionError {
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("no prediction {0}")]
    NotFound(String),
    #[error("prediction {0} is closed")]
    Closed(String),
    #[error("balance {balance} is less than the {needed} points needed")]
    InsufficientBalance { balance: u64, needed: u64 },
    #[error("someone has already joined as {0}; pick another name, or log in from the phone that joined with it")]
    NameTaken(String),
    #[error("this box already has {0} viewers")]
    ViewerLimit(usize),
    #[error("the name {0} is another phone's now; log in again")]
    NotTheHolder(String),
}

impl PredictionError {
    /// How the wire reports it.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Invalid { .. } => ErrorKind::Invalid,
            Self::NotFound(_) => ErrorKind::NotFound,
            Self::Closed(_) | Self::ViewerLimit(_) => ErrorKind::Conflict,
            Self::InsufficientBalance { .. } => ErrorKind::InsufficientBalance,
            Self::NameTaken(_) => ErrorKind::NameTaken,
            Self::NotTheHolder(_) => ErrorKind::StaleHolder,
        }
    }
}

/// The most votes one request may cast, so one request cannot empty a large balance by typo.
pub const MAX_VOTES_PER_REQUEST: u64 = 1_000;
/// How many vote and grant ids are remembered for resends.
pub const REMEMBERED_VOTE_IDS: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PredictionOption {
    pub id: String,
    pub label: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CloseReason {
    /// `closesAt` passed.
    Deadline,
    /// Staff closed it.
    Manual,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PredictionResult {
    /// `None` when nobody voted.
    pub winner: Option<String>,
    pub reason: CloseReason,
    pub closed_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prediction {
    /// What staff asked for. Its fields come first in the log's records, in this order.
    pub spec: NewPrediction,
    pub created_at: Millis,
    /// Points per option id, in option order.
    pub totals: BTreeMap<String, u64>,
    pub result: Option<PredictionResult>,
}

impl Prediction {
    pub fn is_open(&self) -> bool {
        self.result.is_none()
    }

    /// The winner under the tie rule in the module docs.
    fn winner(&self) -> Option<String> {
        let mut best: Option<(&str, u64)> = None;
        for option in &self.spec.options {
            let total = self.totals.get(&option.id).copied().unwrap_or(0);
            if total > 0 && best.is_none_or(|(_, top)| total > top) {
                best = Some((&option.id, total));
            }
        }
        best.map(|(id, _)| id.to_string())
    }
}

/// How many closed predictions the published view keeps beside the open ones.
pub const RECENT_CLOSED_PREDICTIONS: usize = 20;

/// The predictions contract's read model, published after every commit that changed it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PredictionsView {
    /// Open predictions and the most recently closed ones (newest last).
    pub predictions: Vec<Prediction>,
    /// Points balance per viewer.
    pub balances: BTreeMap<String, u64>,
    /// The names viewers joined with, by user id (for staff picking one).
    pub viewers: Arc<BTreeMap<String, Viewer>>,
}

impl PredictionsView {
    pub fn prediction(&self, id: &str) -> Option<&Prediction> {
        self.predictions.iter().find(|p| p.spec.id == id)
    }
}

/// A new prediction as staff describe it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPrediction {
    pub id: String,
    pub streamer_id: String,
    pub game_id: Option<String>,
    pub title: String,
    pub options: Vec<PredictionOption>,
    pub cost_per_vote: u64,
    pub closes_at: Millis,
    /// Kept exactly as given; the box does not interpret them.
    pub prompt_versions: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PredictionCommand {
    Create(NewPrediction),
    Vote {
        prediction_id: String,
        user_id: String,
        /// The ticket of the holder the voter's token was given to (`None` for a name joined
        /// before tickets): a name let go and taken by another phone is not this voter's.
        ticket: Option<u64>,
        option_id: String,
        votes: u64,
        client_vote_id: String,
    },
    Close {
        prediction_id: String,
        reason: CloseReason,
    },
    Grant {
        user_id: String,
        amount: u64,
        reason: String,
        client_grant_id: Option<String>,
    },
    /// A viewer logs in with a name. The first phone to use a name holds it; a later login
    /// with the same name is the same viewer only when it shows the key that phone was given.
    Join {
        user_id: String,
        name: String,
        /// The holder of the name whose viewer key the caller showed (checked by the adapter,
        /// which holds the box secret keys are derived from). The login returns as that viewer
        /// only if it still holds the name.
        key_of: Option<Holder>,
    },
}

/// What a vote or grant did, as answered to its sender (and to a resend).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerReceipt {
    pub user_id: String,
    pub prediction_id: Option<String>,
    pub option_id: Option<String>,
    pub votes: u64,
    /// Points moved: spent by a vote, added by a grant.
    pub points: u64,
    pub balance_after: u64,
}

/// The events of the predictions contract; [`crate::domain::Event::Predictions`] carries them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PredictionEvent {
    Created(Prediction),
    VoteCast {
        prediction_id: String,
        client_vote_id: String,
        /// Shared with the receipts the live and the committed state remember.
        receipt: Arc<LedgerReceipt>,
        at: Millis,
    },
    Closed {
        prediction_id: String,
        result: PredictionResult,
    },
    PointsGranted {
        client_grant_id: Option<String>,
        reason: String,
        receipt: Arc<LedgerReceipt>,
        at: Millis,
    },
    /// Appended after the first release of this enum: the log stores variant positions.
    /// The joins before tickets: their keys name the user id alone.
    ViewerJoined {
        user_id: String,
        name: String,
        at: Millis,
    },
    /// Every join since (schema 4): the viewer's key names its ticket too, so the next phone
    /// to hold a name the full table let go gets a key of its own.
    ViewerJoinedWithTicket {
        user_id: String,
        name: String,
        at: Millis,
        ticket: u64,
    },
}

impl PredictionEvent {
    /// The event's name, as `venuebox check` counts records.
    pub fn kind(&self) -> &'static str {
        match self {
            PredictionEvent::Created(_) => "PredictionCreated",
            PredictionEvent::VoteCast { .. } => "VoteCast",
            PredictionEvent::Closed { .. } => "PredictionClosed",
            PredictionEvent::PointsGranted { .. } => "PointsGranted",
            PredictionEvent::ViewerJoined { .. }
            | PredictionEvent::ViewerJoinedWithTicket { .. } => "ViewerJoined",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum PredictionOutcome {
    Prediction(Prediction),
    Receipt {
        receipt: LedgerReceipt,
        replayed: bool,
    },
    Joined {
        user_id: String,
        /// The name was already this viewer's (a phone logging in again).
        returning: bool,
        /// Who holds the name now: the key the phone is given names it.
        holder: Holder,
    },
}

/// Viewers one box keeps names for; far above a venue's crowd, and a bound on what logins with
/// made-up names can make it remember. Past it, the longest-held name with no points is let go
/// (its phone takes it again by logging in, as a new holder with a new ticket, unless someone
/// took it meanwhile), so a guest inventing names cannot lock the room out.
pub const MAX_VIEWERS: usize = 20_000;

/// A name a viewer holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewer {
    /// As typed at the first login (the user id is its normalised form).
    pub name: String,
    pub joined_at: Millis,
    /// The join's number on this box, which the viewer's key names: no two holders of one
    /// name share a key. `None` for names joined before tickets (their key names the user
    /// id alone, and stays valid).
    pub ticket: Option<u64>,
}

impl Viewer {
    pub fn holder(&self) -> Holder {
        Holder {
            joined_at: self.joined_at,
            ticket: self.ticket,
        }
    }
}

/// Whether the holder given `ticket` (in its token) holds `user_id`: not once the name is held
/// under another ticket, nor, for a ticket, once nobody holds it (the table let it go). A
/// name joined before tickets is held with none.
pub fn is_holder(viewers: &BTreeMap<String, Viewer>, user_id: &str, ticket: Option<u64>) -> bool {
    match viewers.get(user_id) {
        Some(holder) => holder.ticket == ticket,
        None => ticket.is_none(),
    }
}

/// Which holder of a name: a name the full table let go and someone took again has another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder {
    pub joined_at: Millis,
    pub ticket: Option<u64>,
}

/// All predictions, balances and remembered request ids.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PredictionsState {
    predictions: BTreeMap<String, Prediction>,
    balances: HashMap<String, u64>,
    /// (voter's user id, client vote id) → receipt, oldest forgotten first.
    vote_receipts: Receipts,
    /// (user id granted to, staff's grant id) → receipt: apart from the votes, so a guest who
    /// votes under the id staff will grant with cannot make that grant a replay.
    grant_receipts: Receipts,
    /// Names held by viewers, by user id; shared with the published view, copied only when a
    /// viewer joins.
    viewers: Arc<BTreeMap<String, Viewer>>,
    /// The last ticket a join was given.
    last_ticket: u64,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> PredictionError {
    PredictionError::Invalid {
        field,
        reason: reason.into(),
    }
}

fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), PredictionError> {
    if value.trim().is_empty() || value.chars().count() > max {
        return Err(invalid(field, format!("must be 1-{max} characters")));
    }
    Ok(())
}

/// Receipts of votes or of grants, by who and the id their device or staff gave the request.
type Receipts = RememberedIds<LedgerReceipt, REMEMBERED_VOTE_IDS>;

/// The answer to a vote or grant sent again (same client id): the first one's receipt, and
/// nothing new to record.
fn already_recorded(
    receipts: &Receipts,
    user_id: &str,
    client_id: &str,
) -> Option<(PredictionOutcome, Option<LedgerReceipt>)> {
    let receipt = receipts.get(user_id, client_id)?;
    Some((
        PredictionOutcome::Receipt {
            receipt: receipt.clone(),
            replayed: true,
        },
        None,
    ))
}

impl PredictionsState {
    pub fn get(&self, id: &str) -> Option<&Prediction> {
        self.predictions.get(id)
    }

    pub fn all(&self) -> impl Iterator<Item = &Prediction> {
        self.predictions.values()
    }

    pub fn open(&self) -> impl Iterator<Item = &Prediction> {
        self.predictions.values().filter(|p| p.is_open())
    }

    /// Every open prediction and the `closed` most recently closed ones, by creation time.
    pub fn recent(&self, closed: usize) -> Vec<Prediction> {
        let mut closed_ones: Vec<&Prediction> =
            self.predictions.values().filter(|p| !p.is_open()).collect();
        closed_ones.sort_by_key(|p| p.result.as_ref().map_or(0, |r| r.closed_at));
        let keep_from = closed_ones.len().saturating_sub(closed);
        let mut out: Vec<Prediction> = self.open().cloned().collect();
        out.extend(closed_ones[keep_from..].iter().map(|p| (*p).clone()));
        out.sort_by(|a, b| (a.created_at, &a.spec.id).cmp(&(b.created_at, &b.spec.id)));
        out
    }

    /// The bounded read model published after a commit that changed predictions.
    pub fn view(&self) -> PredictionsView {
        PredictionsView {
            predictions: self.recent(RECENT_CLOSED_PREDICTIONS),
            balances: self.balances(),
            viewers: self.viewers.clone(),
        }
    }

    pub fn balances(&self) -> BTreeMap<String, u64> {
        self.balances
            .iter()
            .map(|(user, balance)| (user.clone(), *balance))
            .collect()
    }

    pub fn balance(&self, user_id: &str) -> u64 {
        self.balances.get(user_id).copied().unwrap_or(0)
    }

    /// Viewers by user id.
    pub fn viewers(&self) -> &BTreeMap<String, Viewer> {
        &self.viewers
    }

    fn decide_join(
        &self,
        user_id: &str,
        name: &str,
        key_of: Option<Holder>,
        now: Millis,
    ) -> Result<(PredictionOutcome, Vec<PredictionEvent>), PredictionError> {
        check_text("userId", user_id, 32)?;
        check_text("name", name, 32)?;
        if name.chars().any(is_invisible) {
            return Err(invalid("name", "must hold only visible characters"));
        }
        if let Some(viewer) = self.viewers.get(user_id) {
            // A key of an earlier holder of the name (one the table let go) is no key to it.
            return if key_of == Some(viewer.holder()) {
                Ok((
                    PredictionOutcome::Joined {
                        user_id: user_id.to_string(),
                        returning: true,
                        holder: viewer.holder(),
                    },
                    Vec::new(),
                ))
            } else {
                Err(PredictionError::NameTaken(user_id.to_string()))
            };
        }
        if self.viewers.len() >= MAX_VIEWERS && self.name_to_let_go().is_none() {
            return Err(PredictionError::ViewerLimit(MAX_VIEWERS));
        }
        let ticket = self.last_ticket + 1;
        Ok((
            PredictionOutcome::Joined {
                user_id: user_id.to_string(),
                returning: false,
                holder: Holder {
                    joined_at: now,
                    ticket: Some(ticket),
                },
            },
            vec![PredictionEvent::ViewerJoinedWithTicket {
                user_id: user_id.to_string(),
                name: name.trim().to_string(),
                at: now,
                ticket,
            }],
        ))
    }

    /// The longest-held name whose viewer has no points: what a full table lets go first.
    fn name_to_let_go(&self) -> Option<String> {
        self.viewers
            .iter()
            .filter(|(id, _)| self.balance(id) == 0)
            .min_by_key(|(id, viewer)| (viewer.joined_at, (*id).clone()))
            .map(|(id, _)| id.clone())
    }

    /// Refuses a voter whose token names another holder of `user_id` than the one now (the
    /// table let the name go and another phone took it), or a holder of a name nobody holds.
    fn check_holder(&self, user_id: &str, ticket: Option<u64>) -> Result<(), PredictionError> {
        if is_holder(&self.viewers, user_id, ticket) {
            Ok(())
        } else {
            Err(PredictionError::NotTheHolder(user_id.to_string()))
        }
    }

    /// Gives `user_id` to a new holder, letting go of the longest-held name without points
    /// first when the table is full.
    fn hold_name(&mut self, user_id: &str, name: &str, at: Millis, ticket: Option<u64>) {
        let gone = (self.viewers.len() >= MAX_VIEWERS)
            .then(|| self.name_to_let_go())
            .flatten();
        let viewers = Arc::make_mut(&mut self.viewers);
        if let Some(gone) = gone {
            viewers.remove(&gone);
        }
        let viewer = Viewer {
            name: name.to_string(),
            joined_at: at,
            ticket,
        };
        viewers.insert(user_id.to_string(), viewer);
    }

    pub fn decide(
        &self,
        command: &PredictionCommand,
        now: Millis,
    ) -> Result<(PredictionOutcome, Vec<PredictionEvent>), PredictionError> {
        match command {
            PredictionCommand::Create(new) => self.decide_create(new, now),
            PredictionCommand::Join {
                user_id,
                name,
                key_of,
            } => self.decide_join(user_id, name, *key_of, now),
            PredictionCommand::Vote {
                prediction_id,
                user_id,
                ticket,
                option_id,
                votes,
                client_vote_id,
            } => {
                self.check_holder(user_id, *ticket)?;
                check_text("clientVoteId", client_vote_id, 128)?;
                match already_recorded(&self.vote_receipts, user_id, client_vote_id) {
                    Some(replayed) => Ok(replayed),
                    None => self.decide_vote(prediction_id, user_id, option_id, *votes, now),
                }
                .map(|(outcome, receipt)| {
                    let events = receipt.map(|receipt| PredictionEvent::VoteCast {
                        prediction_id: prediction_id.clone(),
                        client_vote_id: client_vote_id.clone(),
                        receipt: Arc::new(receipt),
                        at: now,
                    });
                    (outcome, events.into_iter().collect())
                })
            }
            PredictionCommand::Close {
                prediction_id,
                reason,
            } => self.decide_close(prediction_id, *reason, now),
            PredictionCommand::Grant {
                user_id,
                amount,
                reason,
                client_grant_id,
            } => {
                check_text("userId", user_id, 64)?;
                check_text("reason", reason, 200)?;
                if let Some(id) = client_grant_id {
                    check_text("grantId", id, 128)?;
                    if let Some((outcome, _)) = already_recorded(&self.grant_receipts, user_id, id)
                    {
                        return Ok((outcome, Vec::new()));
                    }
                }
                let receipt = self.decide_grant(user_id, *amount)?;
                Ok((
                    PredictionOutcome::Receipt {
                        receipt: receipt.clone(),
                        replayed: false,
                    },
                    vec![PredictionEvent::PointsGranted {
                        client_grant_id: client_grant_id.clone(),
                        reason: reason.clone(),
                        receipt: Arc::new(receipt),
                        at: now,
                    }],
                ))
            }
        }
    }

    /// A new vote: the prediction is open, the option exists, the viewer can pay for it.
    /// Answers the outcome and the receipt to record.
    fn decide_vote(
        &self,
        prediction_id: &str,
        user_id: &str,
        option_id: &str,
        votes: u64,
        now: Millis,
    ) -> Result<(PredictionOutcome, Option<LedgerReceipt>), PredictionError> {
        let prediction = self
            .predictions
            .get(prediction_id)
            .ok_or_else(|| PredictionError::NotFound(prediction_id.to_string()))?;
        if !prediction.is_open() || now >= prediction.spec.closes_at {
            return Err(PredictionError::Closed(prediction_id.to_string()));
        }
        if !prediction.spec.options.iter().any(|o| o.id == option_id) {
            return Err(invalid(
                "optionId",
                format!("{option_id:?} is not an option"),
            ));
        }
        if !(1..=MAX_VOTES_PER_REQUEST).contains(&votes) {
            return Err(invalid(
                "votes",
                format!("must be 1-{MAX_VOTES_PER_REQUEST}"),
            ));
        }
        let points = votes
            .checked_mul(prediction.spec.cost_per_vote)
            .ok_or_else(|| invalid("votes", "too many"))?;
        let balance = self.balance(user_id);
        if balance < points {
            return Err(PredictionError::InsufficientBalance {
                balance,
                needed: points,
            });
        }
        let receipt = LedgerReceipt {
            user_id: user_id.to_string(),
            prediction_id: Some(prediction_id.to_string()),
            option_id: Some(option_id.to_string()),
            votes,
            points,
            balance_after: balance - points,
        };
        Ok((
            PredictionOutcome::Receipt {
                receipt: receipt.clone(),
                replayed: false,
            },
            Some(receipt),
        ))
    }

    fn decide_close(
        &self,
        prediction_id: &str,
        reason: CloseReason,
        now: Millis,
    ) -> Result<(PredictionOutcome, Vec<PredictionEvent>), PredictionError> {
        let prediction = self
            .predictions
            .get(prediction_id)
            .ok_or_else(|| PredictionError::NotFound(prediction_id.to_string()))?;
        if !prediction.is_open() {
            return Err(PredictionError::Closed(prediction_id.to_string()));
        }
        let result = PredictionResult {
            winner: prediction.winner(),
            reason,
            closed_at: now,
        };
        let mut closed = prediction.clone();
        closed.result = Some(result.clone());
        Ok((
            PredictionOutcome::Prediction(closed),
            vec![PredictionEvent::Closed {
                prediction_id: prediction_id.to_string(),
                result,
            }],
        ))
    }

    /// The receipt of a new grant of `amount` points to `user_id`.
    fn decide_grant(&self, user_id: &str, amount: u64) -> Result<LedgerReceipt, PredictionError> {
        if !(1..=1_000_000_000).contains(&amount) {
            return Err(invalid("amount", "must be 1-1000000000"));
        }
        let balance_after = self
            .balance(user_id)
            .checked_add(amount)
            .ok_or_else(|| invalid("amount", "balance would overflow"))?;
        Ok(LedgerReceipt {
            user_id: user_id.to_string(),
            prediction_id: None,
            option_id: None,
            votes: 0,
            points: amount,
            balance_after,
        })
    }

    fn decide_create(
        &self,
        new: &NewPrediction,
        now: Millis,
    ) -> Result<(PredictionOutcome, Vec<PredictionEvent>), PredictionError> {
        check_text("id", &new.id, 64)?;
        check_text("streamerId", &new.streamer_id, 64)?;
        if let Some(game) = &new.game_id {
            check_text("gameId", game, 64)?;
        }
        check_text("title", &new.title, 200)?;
        if self.predictions.contains_key(&new.id) {
            return Err(invalid("id", "a prediction with this id exists"));
        }
        if !(2..=10).contains(&new.options.len()) {
            return Err(invalid("options", "a prediction has 2-10 options"));
        }
        for (i, option) in new.options.iter().enumerate() {
            check_text("options.id", &option.id, 64)?;
            check_text("options.label", &option.label, 200)?;
            if new.options[..i].iter().any(|o| o.id == option.id) {
                return Err(invalid(
                    "options",
                    format!("option id {:?} repeats", option.id),
                ));
            }
        }
        if !(1..=1_000_000).contains(&new.cost_per_vote) {
            return Err(invalid("costPerVote", "must be 1-1000000"));
        }
        if new.closes_at <= now {
            return Err(invalid("closesAt", "must be in the future"));
        }
        if new.prompt_versions.len() > 20
            || new
                .prompt_versions
                .iter()
                .any(|(k, v)| k.len() > 64 || v.len() > 64)
        {
            return Err(invalid(
                "promptVersions",
                "at most 20 entries of 64 characters",
            ));
        }
        let prediction = Prediction {
            totals: new.options.iter().map(|o| (o.id.clone(), 0)).collect(),
            spec: NewPrediction {
                title: new.title.trim().to_string(),
                ..new.clone()
            },
            created_at: now,
            result: None,
        };
        Ok((
            PredictionOutcome::Prediction(prediction.clone()),
            vec![PredictionEvent::Created(prediction)],
        ))
    }

    pub fn apply(&mut self, event: &PredictionEvent) {
        match event {
            PredictionEvent::Created(prediction) => {
                self.predictions
                    .insert(prediction.spec.id.clone(), prediction.clone());
            }
            PredictionEvent::VoteCast {
                prediction_id,
                client_vote_id,
                receipt,
                ..
            } => {
                if let (Some(prediction), Some(option)) = (
                    self.predictions.get_mut(prediction_id),
                    receipt.option_id.as_ref(),
                ) {
                    let total = prediction.totals.entry(option.clone()).or_default();
                    *total = total.saturating_add(receipt.points);
                }
                self.balances
                    .insert(receipt.user_id.clone(), receipt.balance_after);
                self.vote_receipts.remember(
                    receipt.user_id.clone(),
                    client_vote_id.clone(),
                    receipt.clone(),
                );
            }
            PredictionEvent::Closed {
                prediction_id,
                result,
            } => {
                if let Some(prediction) = self.predictions.get_mut(prediction_id) {
                    prediction.result = Some(result.clone());
                }
            }
            PredictionEvent::PointsGranted {
                client_grant_id,
                receipt,
                ..
            } => {
                self.balances
                    .insert(receipt.user_id.clone(), receipt.balance_after);
                if let Some(id) = client_grant_id {
                    self.grant_receipts.remember(
                        receipt.user_id.clone(),
                        id.clone(),
                        receipt.clone(),
                    );
                }
            }
            PredictionEvent::ViewerJoined { user_id, name, at } => {
                self.hold_name(user_id, name, *at, None);
            }
            PredictionEvent::ViewerJoinedWithTicket {
                user_id,
                name,
                at,
                ticket,
            } => {
                self.last_ticket = self.last_ticket.max(*ticket);
                self.hold_name(user_id, name, *at, Some(*ticket));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Millis = 1_000_000;

    fn run(
        state: &mut PredictionsState,
        command: PredictionCommand,
        now: Millis,
    ) -> Result<PredictionOutcome, PredictionError> {
        let (outcome, events) = state.decide(&command, now)?;
        for event in &events {
            state.apply(event);
        }
        Ok(outcome)
    }

    fn create(state: &mut PredictionsState) {
        run(
            state,
            PredictionCommand::Create(NewPrediction {
                id: "p1".into(),
                streamer_id: "s1".into(),
                game_id: None,
                title: "Who wins round 1?".into(),
                options: vec![
                    PredictionOption {
                        id: "a".into(),
                        label: "Red".into(),
                    },
                    PredictionOption {
                        id: "b".into(),
                        label: "Blue".into(),
                    },
                ],
                cost_per_vote: 100,
                closes_at: T0 + 60_000,
                prompt_versions: BTreeMap::from([("session".into(), "v12".into())]),
            }),
            T0,
        )
        .unwrap();
    }

    fn grant(state: &mut PredictionsState, user: &str, amount: u64) {
        run(
            state,
            PredictionCommand::Grant {
                user_id: user.into(),
                amount,
                reason: "welcome".into(),
                client_grant_id: None,
            },
            T0,
        )
        .unwrap();
    }

    fn vote(user: &str, option: &str, votes: u64, id: &str) -> PredictionCommand {
        PredictionCommand::Vote {
            prediction_id: "p1".into(),
            user_id: user.into(),
            ticket: None,
            option_id: option.into(),
            votes,
            client_vote_id: id.into(),
        }
    }

    fn join(user: &str, key_of: Option<Holder>) -> PredictionCommand {
        PredictionCommand::Join {
            user_id: user.into(),
            name: user.to_uppercase(),
            key_of,
        }
    }

    fn holder_of(state: &PredictionsState, user: &str) -> Option<Holder> {
        state.viewers().get(user).map(Viewer::holder)
    }

    #[test]
    fn a_name_belongs_to_the_first_phone_that_joined_with_it() {
        let mut state = PredictionsState::default();
        let first = run(&mut state, join("alice", None), T0).unwrap();
        let alice = Holder {
            joined_at: T0,
            ticket: Some(1),
        };
        assert_eq!(
            first,
            PredictionOutcome::Joined {
                user_id: "alice".into(),
                returning: false,
                holder: alice,
            }
        );
        assert_eq!(state.viewers()["alice"].name, "ALICE");
        assert_eq!(
            run(&mut state, join("alice", None), T0 + 1),
            Err(PredictionError::NameTaken("alice".into()))
        );
        let again = run(&mut state, join("alice", Some(alice)), T0 + 2).unwrap();
        assert_eq!(
            again,
            PredictionOutcome::Joined {
                user_id: "alice".into(),
                returning: true,
                holder: alice,
            }
        );
        let (_, events) = state.decide(&join("alice", Some(alice)), T0 + 3).unwrap();
        assert!(events.is_empty(), "a returning viewer changes nothing");
        let bob = run(&mut state, join("bob", None), T0 + 4).unwrap();
        assert!(
            matches!(bob, PredictionOutcome::Joined { holder, .. } if holder.ticket == Some(2)),
            "each join its own ticket: {bob:?}"
        );
        assert!(run(&mut state, join("", None), T0).is_err());
        let hiding = PredictionCommand::Join {
            user_id: "ecila".into(),
            name: "\u{202E}ecila".into(),
            key_of: None,
        };
        assert!(matches!(
            run(&mut state, hiding, T0),
            Err(PredictionError::Invalid { field: "name", .. })
        ));
    }

    #[test]
    fn only_the_holder_a_token_names_votes_for_a_name() {
        let mut state = PredictionsState::default();
        create(&mut state);
        run(&mut state, join("alice", None), T0).unwrap();
        grant(&mut state, "alice", 100);
        let as_holder = |ticket: Option<u64>, user: &str, id: &str| PredictionCommand::Vote {
            prediction_id: "p1".into(),
            user_id: user.into(),
            ticket,
            option_id: "a".into(),
            votes: 1,
            client_vote_id: id.into(),
        };
        assert!(run(&mut state, as_holder(Some(1), "alice", "v1"), T0).is_ok());
        assert_eq!(
            run(&mut state, as_holder(Some(2), "alice", "v2"), T0),
            Err(PredictionError::NotTheHolder("alice".into())),
            "a token of another holder"
        );
        assert_eq!(
            run(&mut state, as_holder(Some(1), "gone", "v3"), T0),
            Err(PredictionError::NotTheHolder("gone".into())),
            "a name nobody holds"
        );
        assert_eq!(
            PredictionError::NotTheHolder("x".into()).kind(),
            ErrorKind::StaleHolder
        );
    }

    #[test]
    fn a_name_joined_before_tickets_keeps_its_holder_and_the_next_join_counts_on() {
        let mut state = PredictionsState::default();
        state.apply(&PredictionEvent::ViewerJoined {
            user_id: "old".into(),
            name: "Old".into(),
            at: T0,
        });
        let old = holder_of(&state, "old").unwrap();
        assert_eq!(old.ticket, None, "its key names the user id alone");
        assert!(run(&mut state, join("old", Some(old)), T0 + 1).is_ok());
        state.apply(&PredictionEvent::ViewerJoinedWithTicket {
            user_id: "replayed".into(),
            name: "Replayed".into(),
            at: T0,
            ticket: 7,
        });
        let next = run(&mut state, join("new", None), T0 + 2).unwrap();
        assert!(
            matches!(next, PredictionOutcome::Joined { holder, .. } if holder.ticket == Some(8)),
            "{next:?}"
        );
    }

    /// The log stores variant positions: the joins of earlier builds must decode as they were
    /// written (variant 4: user id, name, time), the new kind after them.
    #[test]
    fn joins_keep_their_log_encoding() {
        let legacy = PredictionEvent::ViewerJoined {
            user_id: "a".into(),
            name: "A".into(),
            at: 5,
        };
        assert_eq!(
            postcard::to_allocvec(&legacy).unwrap(),
            [4, 1, b'a', 1, b'A', 5]
        );
        let ticketed = PredictionEvent::ViewerJoinedWithTicket {
            user_id: "a".into(),
            name: "A".into(),
            at: 5,
            ticket: 9,
        };
        assert_eq!(
            postcard::to_allocvec(&ticketed).unwrap(),
            [5, 1, b'a', 1, b'A', 5, 9]
        );
    }

    #[test]
    fn a_full_name_table_lets_go_of_the_oldest_name_without_points() {
        let mut state = PredictionsState::default();
        for i in 0..MAX_VIEWERS {
            run(&mut state, join(&format!("v{i}"), None), T0 + i as Millis).unwrap();
        }
        grant(&mut state, "v0", 10);
        let first_v1 = holder_of(&state, "v1");
        run(&mut state, join("newcomer", None), T0 + 1_000_000).unwrap();
        let viewers = state.viewers();
        assert_eq!(viewers.len(), MAX_VIEWERS);
        assert!(
            viewers.contains_key("v0"),
            "a viewer with points keeps the name"
        );
        assert!(
            !viewers.contains_key("v1"),
            "the oldest name without points went"
        );
        assert!(viewers.contains_key("newcomer"));
        // Whoever logs in first takes it again: here not its first phone.
        run(&mut state, join("v1", None), T0 + 1_000_001).unwrap();
        assert!(!state.viewers().contains_key("v2"));
        // The first phone's key was its first holder's: it is no key to the new one. The key
        // is made from the ticket, so the tickets must differ, not only the join times.
        let (taken_again, first_v1_ticket) = (
            holder_of(&state, "v1").and_then(|h| h.ticket),
            first_v1.and_then(|h| h.ticket),
        );
        assert!(taken_again.is_some() && first_v1_ticket.is_some());
        assert_ne!(taken_again, first_v1_ticket);
        assert_eq!(
            run(&mut state, join("v1", first_v1), T0 + 1_000_002),
            Err(PredictionError::NameTaken("v1".into()))
        );
    }

    #[test]
    fn a_round_totals_votes_and_picks_the_winner() {
        let mut s = PredictionsState::default();
        create(&mut s);
        grant(&mut s, "u1", 1_000);
        grant(&mut s, "u2", 1_000);
        run(&mut s, vote("u1", "a", 3, "v1"), T0 + 1).unwrap();
        run(&mut s, vote("u2", "b", 5, "v2"), T0 + 2).unwrap();
        assert_eq!(s.get("p1").unwrap().totals["a"], 300);
        assert_eq!(s.get("p1").unwrap().totals["b"], 500);
        assert_eq!(s.balance("u1"), 700);
        let closed = run(
            &mut s,
            PredictionCommand::Close {
                prediction_id: "p1".into(),
                reason: CloseReason::Manual,
            },
            T0 + 3,
        )
        .unwrap();
        let PredictionOutcome::Prediction(p) = closed else {
            panic!()
        };
        assert_eq!(p.result.unwrap().winner.as_deref(), Some("b"));
        assert_eq!(
            run(&mut s, vote("u1", "a", 1, "v3"), T0 + 4),
            Err(PredictionError::Closed("p1".into()))
        );
    }

    #[test]
    fn ties_go_to_the_option_listed_first_and_no_votes_means_no_winner() {
        let mut s = PredictionsState::default();
        create(&mut s);
        assert_eq!(s.get("p1").unwrap().winner(), None);
        grant(&mut s, "u1", 1_000);
        run(&mut s, vote("u1", "b", 2, "v1"), T0).unwrap();
        run(&mut s, vote("u1", "a", 2, "v2"), T0).unwrap();
        assert_eq!(s.get("p1").unwrap().winner().as_deref(), Some("a"));
    }

    #[test]
    fn a_vote_id_never_answers_a_grant_with_the_same_id() {
        let mut s = PredictionsState::default();
        create(&mut s);
        grant(&mut s, "u1", 100);
        run(&mut s, vote("u1", "a", 1, "bonus-1"), T0 + 1).unwrap();
        assert_eq!(s.balance("u1"), 0);
        let granted = run(
            &mut s,
            PredictionCommand::Grant {
                user_id: "u1".into(),
                amount: 50,
                reason: "bonus".into(),
                client_grant_id: Some("bonus-1".into()),
            },
            T0 + 2,
        )
        .unwrap();
        assert!(
            matches!(
                granted,
                PredictionOutcome::Receipt {
                    replayed: false,
                    ..
                }
            ),
            "{granted:?}"
        );
        assert_eq!(
            s.balance("u1"),
            50,
            "the grant is applied, not taken for the vote"
        );
        let again = run(&mut s, vote("u1", "a", 1, "bonus-1"), T0 + 3).unwrap();
        assert!(
            matches!(again, PredictionOutcome::Receipt { replayed: true, .. }),
            "{again:?}"
        );
        assert_eq!(s.balance("u1"), 50, "the vote's resend spends nothing");
    }

    #[test]
    fn balances_never_go_negative_and_resends_do_not_spend_twice() {
        let mut s = PredictionsState::default();
        create(&mut s);
        grant(&mut s, "u1", 250);
        assert_eq!(
            run(&mut s, vote("u1", "a", 3, "v1"), T0),
            Err(PredictionError::InsufficientBalance {
                balance: 250,
                needed: 300
            })
        );
        let first = run(&mut s, vote("u1", "a", 2, "v2"), T0).unwrap();
        let again = run(&mut s, vote("u1", "a", 2, "v2"), T0).unwrap();
        match (first, again) {
            (
                PredictionOutcome::Receipt {
                    receipt: a,
                    replayed: false,
                },
                PredictionOutcome::Receipt {
                    receipt: b,
                    replayed: true,
                },
            ) => assert_eq!(a, b),
            other => panic!("{other:?}"),
        }
        assert_eq!(s.balance("u1"), 50);
        assert_eq!(s.get("p1").unwrap().totals["a"], 200);
    }

    #[test]
    fn bad_votes_and_predictions_are_refused() {
        let mut s = PredictionsState::default();
        create(&mut s);
        grant(&mut s, "u1", 1_000_000);
        for (command, now) in [
            (vote("u1", "zzz", 1, "x1"), T0),
            (vote("u1", "a", 0, "x2"), T0),
            (vote("u1", "a", MAX_VOTES_PER_REQUEST + 1, "x3"), T0),
            (vote("u1", "a", 1, "x4"), T0 + 60_000),
            (vote("u1", "a", 1, ""), T0),
        ] {
            assert!(run(&mut s, command.clone(), now).is_err(), "{command:?}");
        }
        let one_option = PredictionCommand::Create(NewPrediction {
            id: "p2".into(),
            streamer_id: "s1".into(),
            game_id: None,
            title: "t".into(),
            options: vec![PredictionOption {
                id: "a".into(),
                label: "A".into(),
            }],
            cost_per_vote: 1,
            closes_at: T0 + 1,
            prompt_versions: BTreeMap::new(),
        });
        assert!(run(&mut s, one_option, T0).is_err());
        assert_eq!(s.balance("u1"), 1_000_000, "nothing was spent");
    }
}
