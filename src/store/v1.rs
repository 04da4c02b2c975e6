//! Record version 1, read and converted; never written.
//!
//! A v1 record is `[1][postcard of the event enum of that build]`: one flat enum, whose variant
//! (a postcard varint, one byte below 128) was its position in that enum. The GM events held
//! positions 0-12 and 14, the predictions events were nested at position 13:
//!
//! | v1 position | event |
//! |---|---|
//! | 0-12 | the GM events `SessionCreated` … `VideoQueueCleared`, at the same positions in [`GmEvent`] |
//! | 13 | `Prediction(PredictionEvent)` |
//! | 14 | `SessionReset`, at position 13 in [`GmEvent`] |
//!
//! Everything after the variant byte is laid out as the same event is today, so conversion
//! only maps the position.

use crate::domain::Event;
use crate::gm::domain::GmEvent;
use crate::predictions::domain::PredictionEvent;

/// The version byte of these records.
pub const VERSION: u8 = 1;

/// Where v1 kept its events; see the table above.
const LAST_SHARED_GM_POSITION: u8 = 12;
const PREDICTION: u8 = 13;
const SESSION_RESET: u8 = 14;
/// `SessionReset`'s position in [`GmEvent`].
const GM_SESSION_RESET: u8 = 13;

/// Converts a v1 record body (after the version byte) into today's event.
pub fn decode(body: &[u8]) -> Result<Event, postcard::Error> {
    match body.split_first() {
        Some((&position, _)) if position <= LAST_SHARED_GM_POSITION => {
            Ok(Event::Gm(postcard::from_bytes::<GmEvent>(body)?))
        }
        Some((&PREDICTION, rest)) => Ok(Event::Predictions(
            postcard::from_bytes::<PredictionEvent>(rest)?,
        )),
        Some((&SESSION_RESET, rest)) => {
            let mut renumbered = Vec::with_capacity(body.len());
            renumbered.push(GM_SESSION_RESET);
            renumbered.extend_from_slice(rest);
            Ok(Event::Gm(postcard::from_bytes::<GmEvent>(&renumbered)?))
        }
        _ => Err(postcard::Error::DeserializeBadEnum),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gm::domain::ResetSource;

    #[test]
    fn positions_map_onto_todays_events() {
        // What v1 wrote for a SessionReset: position 14, then its fields.
        let today = GmEvent::SessionReset {
            ended_session_id: "a".into(),
            session_id: "b".into(),
            source: ResetSource::Button,
            at: 7,
        };
        let mut v1_body = postcard::to_allocvec(&today).unwrap();
        assert_eq!(v1_body[0], GM_SESSION_RESET);
        v1_body[0] = SESSION_RESET;
        assert_eq!(decode(&v1_body).unwrap(), Event::Gm(today));
        assert!(decode(&[15]).is_err(), "no v1 event had position 15");
        assert!(decode(&[]).is_err());
    }
}
