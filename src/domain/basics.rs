//! What every contract's pure state machine shares: time as a number, id validation, and the
//! kinds of refusal the wire turns into error codes. Imports nothing of the crate.

use unicode_normalization::char::is_combining_mark;

/// Milliseconds since the Unix epoch. Time is always an argument, never read by a domain.
pub type Millis = u64;

/// The longest id (session, team, device, token) any contract accepts.
pub const MAX_ID_LEN: usize = 64;

/// A field that failed validation; each contract's error turns it into its own `Invalid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: &'static str,
    pub reason: String,
}

/// Checks an id: 1-[`MAX_ID_LEN`] characters of A-Z, a-z, 0-9, `_ - . :`.
pub fn validate_id(field: &'static str, value: &str) -> Result<(), Invalid> {
    let ok = !value.is_empty()
        && value.len() <= MAX_ID_LEN
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'));
    if ok {
        Ok(())
    } else {
        Err(Invalid {
            field,
            reason: format!("must be 1-{MAX_ID_LEN} characters of A-Z, a-z, 0-9, _ - . :"),
        })
    }
}

/// Characters that show as nothing, or change how the text around them shows without showing
/// themselves (control characters, zero widths, direction overrides, line separators, soft
/// hyphens, Hangul fillers, tags): no name a guest or staff types may hold them, or one name
/// could pass for another ("\u{202E}ecila" shows as "alice", "alice\u{3164}" as "alice").
/// Variation selectors are not among them: emoji need them, and they cannot hide a name.
pub fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'..='\u{1160}'
                | '\u{17B4}'..='\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{2800}'
                | '\u{2D7F}'
                | '\u{3164}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF0}'..='\u{FFF8}'
                | '\u{16FE4}'
                | '\u{1BCA0}'..='\u{1BCA3}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

/// Whether `name` is fit to tell someone or something apart in a list: 1-`max` characters
/// once trimmed, none of them invisible, and one at least that is more than a mark on another
/// (a name of only accents or variation selectors shows as nothing).
pub fn is_shown_name(name: &str, max: usize) -> bool {
    let name = name.trim();
    let stands_alone = |c: char| !is_combining_mark(c) && !matches!(c, '\u{FE00}'..='\u{FE0F}');
    !name.is_empty()
        && name.chars().count() <= max
        && !name.chars().any(is_invisible)
        && name.chars().any(stands_alone)
}

/// What kind of refusal a contract's error is; the wire maps each kind onto an error code, so
/// a new contract's errors need no new line in the wire's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The command needs a running session (seed 004's SESSION_NOT_FOUND).
    NoSession,
    /// A configured limit (devices, viewers) is reached.
    Limit,
    /// Well-formed, but the current state does not allow it.
    Conflict,
    NotFound,
    /// A field is malformed or out of range.
    Invalid,
    /// A vote costs more points than the viewer holds.
    InsufficientBalance,
    /// Another phone holds the viewer name.
    NameTaken,
    /// The caller may not do this (a captain picking out of turn).
    Forbidden,
    /// The caller's token names a holder of a viewer name who holds it no longer.
    StaleHolder,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shown_name_has_something_to_show() {
        assert!(is_shown_name(" Team A\n", 20), "trimmed first");
        assert!(is_shown_name("Zoë", 20));
        assert!(
            is_shown_name("❤\u{FE0F} Fans", 20),
            "emoji keep their selectors"
        );
        for hidden in [
            "\u{202E}1 maeT",
            "ㅤ",
            "Owls\u{3164}",
            "\u{0301}\u{0301}",
            "\u{FE0F}",
            "  ",
            "\u{2800}\u{2800}",
            "bob\u{2D7F}",
            "\u{16FE4}",
        ] {
            assert!(!is_shown_name(hidden, 20), "{hidden:?}");
        }
        assert!(!is_shown_name(&"x".repeat(21), 20));
    }
}
