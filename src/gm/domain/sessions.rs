//! Sessions: create, pause, resume, end (archived) and reset, and applying them.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::{
    ArchivedSession, GmError, GmEvent, GmOutcome, GmState, ResetSource, Session, SessionControl,
    SessionState, SessionStatus, TeamScore, MAX_TEAMS,
};
use crate::domain::basics::{validate_id, Millis};

impl GmState {
    pub(super) fn decide_create_session(
        &self,
        session_id: &str,
        name: &str,
        teams: Option<&Vec<String>>,
        now: Millis,
    ) -> Result<(GmOutcome, Vec<GmEvent>), GmError> {
        if self.data.current.is_some() {
            return Err(GmError::SessionAlreadyRunning);
        }
        validate_id("sessionId", session_id)?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 120 {
            return Err(GmError::Invalid {
                field: "name",
                reason: "must be 1-120 characters".into(),
            });
        }
        if let Some(teams) = teams {
            if teams.is_empty() || teams.len() > MAX_TEAMS {
                return Err(GmError::Invalid {
                    field: "teams",
                    reason: format!("a fixed team list holds 1-{MAX_TEAMS} team ids"),
                });
            }
            for team in teams {
                validate_id("teams", team)?;
            }
        }
        let event = GmEvent::SessionCreated {
            session_id: session_id.to_string(),
            name: name.to_string(),
            teams: teams.cloned(),
            at: now,
        };
        let session = Session {
            id: session_id.to_string(),
            name: name.to_string(),
            status: SessionStatus::Active,
            teams: teams.cloned(),
            started_at: now,
            ended_at: None,
        };
        Ok((GmOutcome::Session(session), vec![event]))
    }

    pub(super) fn decide_reset(
        &self,
        session_id: &str,
        source: ResetSource,
        now: Millis,
    ) -> Result<(GmOutcome, Vec<GmEvent>), GmError> {
        let current = self.data.current.as_ref().ok_or(GmError::NoSession)?;
        validate_id("sessionId", session_id)?;
        let used = current.session.id == session_id
            || self
                .data
                .archived
                .iter()
                .any(|a| a.session.id == session_id);
        if used {
            return Err(GmError::Invalid {
                field: "sessionId",
                reason: format!("{session_id} is already used"),
            });
        }
        let fresh = Session {
            id: session_id.to_string(),
            started_at: now,
            ended_at: None,
            status: SessionStatus::Active,
            ..current.session.clone()
        };
        let event = GmEvent::SessionReset {
            ended_session_id: current.session.id.clone(),
            session_id: session_id.to_string(),
            source,
            at: now,
        };
        Ok((GmOutcome::Session(fresh), vec![event]))
    }

    pub(super) fn decide_session_control(
        &self,
        control: SessionControl,
        now: Millis,
    ) -> Result<(GmOutcome, Vec<GmEvent>), GmError> {
        let current = self.data.current.as_ref().ok_or(GmError::NoSession)?;
        let session_id = current.session.id.clone();
        let event = match (current.session.status, control) {
            (SessionStatus::Active, SessionControl::Pause) => GmEvent::SessionPaused {
                session_id,
                at: now,
            },
            (SessionStatus::Paused, SessionControl::Resume) => GmEvent::SessionResumed {
                session_id,
                at: now,
            },
            (SessionStatus::Active | SessionStatus::Paused, SessionControl::End) => {
                GmEvent::SessionEnded {
                    session_id,
                    at: now,
                }
            }
            (status, control) => {
                return Err(GmError::InvalidSessionTransition(status, control));
            }
        };
        Ok((GmOutcome::Session(current.session.clone()), vec![event]))
    }

    /// Applies a session event.
    pub(super) fn apply_session(&mut self, event: &GmEvent) {
        match event {
            GmEvent::SessionCreated {
                session_id,
                name,
                teams,
                at,
            } => {
                self.data.current = Some(SessionState {
                    session: Session {
                        id: session_id.clone(),
                        name: name.clone(),
                        status: SessionStatus::Active,
                        teams: teams.clone(),
                        started_at: *at,
                        ended_at: None,
                    },
                    teams: teams
                        .iter()
                        .flatten()
                        .map(|t| {
                            (
                                t.clone(),
                                TeamScore {
                                    team_id: t.clone(),
                                    ..TeamScore::default()
                                },
                            )
                        })
                        .collect(),
                    claimed_tokens: HashMap::new(),
                    held_tokens: HashMap::new(),
                    recent: VecDeque::new(),
                    transaction_count: 0,
                });
            }
            GmEvent::SessionPaused { .. } => self.set_session_status(SessionStatus::Paused),
            GmEvent::SessionResumed { .. } => self.set_session_status(SessionStatus::Active),
            GmEvent::SessionEnded { at, .. } => {
                if let Some(mut state) = self.data.current.take() {
                    state.session.status = SessionStatus::Archived;
                    state.session.ended_at = Some(*at);
                    Arc::make_mut(&mut self.data.archived).push(ArchivedSession {
                        scores: state.teams.into_values().collect(),
                        transaction_count: state.transaction_count,
                        session: state.session,
                    });
                }
            }
            GmEvent::SessionReset { session_id, at, .. } => {
                let Some(old) = self.data.current.as_ref().map(|s| s.session.clone()) else {
                    return;
                };
                self.apply(&GmEvent::SessionEnded {
                    session_id: old.id.clone(),
                    at: *at,
                });
                self.apply(&GmEvent::SessionCreated {
                    session_id: session_id.clone(),
                    name: old.name,
                    teams: old.teams,
                    at: *at,
                });
            }
            _ => {}
        }
    }

    fn set_session_status(&mut self, status: SessionStatus) {
        if let Some(state) = &mut self.data.current {
            state.session.status = status;
        }
    }
}
