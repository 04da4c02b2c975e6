//! The token catalogue: what each memory token is worth and which video it plays.
//!
//! Venues keep their tokens in a JSON object keyed by token id (the "venue format", see
//! `tests/fixtures/aln-tokens.json`). It is loaded exactly as venues write it: unknown keys are
//! ignored, group names may or may not have a space before their `(xN)` multiplier, and token ids
//! are matched without regard to case because scanners report RFID tags in either case.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

/// What a token file can get wrong. Each variant names the token so a venue can fix its file.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    #[error("token file is not valid JSON in the venue format: {0}")]
    Json(#[from] serde_json::Error),
    #[error("token {token}: SF_ValueRating {rating} is outside 1..=5")]
    Rating { token: String, rating: u8 },
    #[error(
        "token {token}: unknown SF_MemoryType {kind:?} (expected Personal, Business or Technical)"
    )]
    MemoryType { token: String, kind: String },
    #[error("token ids {first:?} and {second:?} differ only in case")]
    CaseClash { first: String, second: String },
    #[error("token file holds no tokens")]
    Empty,
    #[error("token id {0:?} cannot be scanned: ids are 1-64 characters of A-Z, a-z, 0-9, _ - . :")]
    BadId(String),
}

/// The memory types the venue format knows; each carries a score multiplier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MemoryType {
    Personal,
    Business,
    Technical,
}

impl MemoryType {
    fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "personal" => Some(Self::Personal),
            "business" => Some(Self::Business),
            "technical" => Some(Self::Technical),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Personal => "Personal",
            Self::Business => "Business",
            Self::Technical => "Technical",
        }
    }
}

/// How ratings and memory types turn into points. Defaults are the venue system's own values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoringRules {
    /// Points for `SF_ValueRating` 1 to 5, in that order.
    pub rating_points: [u64; 5],
    pub personal_multiplier: u64,
    pub business_multiplier: u64,
    pub technical_multiplier: u64,
}

impl Default for ScoringRules {
    fn default() -> Self {
        Self {
            rating_points: [100, 500, 1_000, 5_000, 10_000],
            personal_multiplier: 1,
            business_multiplier: 3,
            technical_multiplier: 5,
        }
    }
}

impl ScoringRules {
    fn value_of(&self, rating: u8, memory_type: MemoryType) -> u64 {
        let base = self.rating_points[usize::from(rating.clamp(1, 5) - 1)];
        let multiplier = match memory_type {
            MemoryType::Personal => self.personal_multiplier,
            MemoryType::Business => self.business_multiplier,
            MemoryType::Technical => self.technical_multiplier,
        };
        base.saturating_mul(multiplier)
    }
}

/// A video attached to a token.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenVideo {
    /// Path as written in the token file, resolved against the media directory by the player.
    pub path: String,
    /// Known length in seconds, when the token file gives one (`videoDuration`, our extension).
    pub duration_secs: Option<f64>,
}

/// One memory token, with its value already computed under the box's scoring rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub id: String,
    pub rating: u8,
    pub memory_type: MemoryType,
    /// Normalised group name (`"Marcus Sucks"` for both `"Marcus Sucks (x2)"` and `"Marcus Sucks(x2)"`).
    pub group: Option<String>,
    pub value: u64,
    pub image: Option<String>,
    pub audio: Option<String>,
    pub video: Option<TokenVideo>,
}

/// A group of tokens whose completion by one team multiplies their points.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenGroup {
    pub name: String,
    pub multiplier: u64,
    pub token_ids: Vec<String>,
    /// Sum of the members' values; the completion bonus is `(multiplier - 1) * total_value`.
    pub total_value: u64,
}

impl TokenGroup {
    pub fn completion_bonus(&self) -> u64 {
        self.multiplier
            .saturating_sub(1)
            .saturating_mul(self.total_value)
    }
}

/// All tokens a box knows, looked up case-insensitively.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TokenCatalog {
    tokens: BTreeMap<String, Token>,
    by_folded_id: HashMap<String, String>,
    groups: BTreeMap<String, TokenGroup>,
}

/// One entry of the venue format. Fields we do not use (`SF_RFID`, `processingImage`) are
/// accepted and ignored, so files from the venue system load unchanged.
#[derive(Debug, Deserialize)]
struct VenueTokenEntry {
    #[serde(rename = "SF_ValueRating")]
    rating: u8,
    #[serde(rename = "SF_MemoryType")]
    memory_type: String,
    #[serde(rename = "SF_Group", default)]
    group: Option<String>,
    #[serde(default)]
    image: Option<String>,
    #[serde(default)]
    audio: Option<String>,
    #[serde(default)]
    video: Option<String>,
    #[serde(rename = "videoDuration", default)]
    video_duration: Option<f64>,
}

/// Splits `"Name (x2)"` into `("Name", 2)`; a group without a multiplier counts ×1.
fn parse_group(raw: &str) -> Option<(String, u64)> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    if let Some(open) = raw.rfind('(') {
        let inside = raw[open + 1..].strip_suffix(')');
        let multiplier = inside
            .and_then(|s| s.trim().strip_prefix(['x', 'X']))
            .and_then(|n| n.trim().parse::<u64>().ok());
        if let Some(multiplier) = multiplier {
            let name = raw[..open].trim();
            if !name.is_empty() {
                return Some((name.to_string(), multiplier.max(1)));
            }
        }
    }
    Some((raw.to_string(), 1))
}

impl TokenCatalog {
    /// Parses a token file in the venue format.
    pub fn from_venue_json(json: &str, rules: &ScoringRules) -> Result<Self, TokenFileError> {
        let entries: BTreeMap<String, VenueTokenEntry> = serde_json::from_str(json)?;
        if entries.is_empty() {
            return Err(TokenFileError::Empty);
        }
        let mut catalog = TokenCatalog::default();
        for (id, entry) in entries {
            // Scanners send ids under the same rule; one outside it could never be scanned.
            if crate::domain::basics::validate_id("tokenId", &id).is_err() {
                return Err(TokenFileError::BadId(id));
            }
            if !(1..=5).contains(&entry.rating) {
                return Err(TokenFileError::Rating {
                    token: id,
                    rating: entry.rating,
                });
            }
            let memory_type = MemoryType::parse(&entry.memory_type).ok_or_else(|| {
                TokenFileError::MemoryType {
                    token: id.clone(),
                    kind: entry.memory_type.clone(),
                }
            })?;
            let value = rules.value_of(entry.rating, memory_type);
            let group = entry.group.as_deref().and_then(parse_group);
            if let Some((name, multiplier)) = &group {
                let g = catalog
                    .groups
                    .entry(name.clone())
                    .or_insert_with(|| TokenGroup {
                        name: name.clone(),
                        multiplier: *multiplier,
                        token_ids: Vec::new(),
                        total_value: 0,
                    });
                // Venue files sometimes give the multiplier on only some members; the largest wins.
                g.multiplier = g.multiplier.max(*multiplier);
                g.token_ids.push(id.clone());
                g.total_value = g.total_value.saturating_add(value);
            }
            let folded = id.to_lowercase();
            if let Some(first) = catalog.by_folded_id.insert(folded, id.clone()) {
                return Err(TokenFileError::CaseClash { first, second: id });
            }
            let non_empty = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
            catalog.tokens.insert(
                id.clone(),
                Token {
                    id,
                    rating: entry.rating,
                    memory_type,
                    group: group.map(|(name, _)| name),
                    value,
                    image: non_empty(entry.image),
                    audio: non_empty(entry.audio),
                    video: non_empty(entry.video).map(|path| TokenVideo {
                        path,
                        duration_secs: entry.video_duration.filter(|d| *d > 0.0),
                    }),
                },
            );
        }
        Ok(catalog)
    }

    /// The demo set bundled in the binary, used when no token file is configured.
    pub fn demo(rules: &ScoringRules) -> Self {
        Self::from_venue_json(DEMO_TOKENS_JSON, rules)
            .expect("the bundled demo token file is checked by a unit test")
    }

    /// Finds a token by id, ignoring case.
    pub fn get(&self, id: &str) -> Option<&Token> {
        self.tokens.get(id).or_else(|| {
            self.by_folded_id
                .get(&id.to_lowercase())
                .and_then(|canonical| self.tokens.get(canonical))
        })
    }

    pub fn group(&self, name: &str) -> Option<&TokenGroup> {
        self.groups.get(name)
    }

    pub fn tokens(&self) -> impl Iterator<Item = &Token> {
        self.tokens.values()
    }

    pub fn groups(&self) -> impl Iterator<Item = &TokenGroup> {
        self.groups.values()
    }

    /// A stable fingerprint of everything scoring depends on (FNV-1a over ids, values, groups).
    pub fn fingerprint(&self) -> u64 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut feed = |bytes: &[u8]| {
            for b in bytes {
                hash ^= u64::from(*b);
                hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
            }
            hash ^= 0xff;
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        };
        for token in self.tokens.values() {
            feed(token.id.as_bytes());
            feed(&token.value.to_le_bytes());
            feed(token.group.as_deref().unwrap_or("").as_bytes());
            feed(
                token
                    .video
                    .as_ref()
                    .map_or("", |v| v.path.as_str())
                    .as_bytes(),
            );
        }
        for group in self.groups.values() {
            feed(group.name.as_bytes());
            feed(&group.multiplier.to_le_bytes());
        }
        hash
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
}

/// The bundled demo tokens, in the venue format.
pub const DEMO_TOKENS_JSON: &str = include_str!("../../assets/demo-tokens.json");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names_parse_with_or_without_space() {
        assert_eq!(
            parse_group("Marcus Sucks (x2)"),
            Some(("Marcus Sucks".into(), 2))
        );
        assert_eq!(
            parse_group("Marcus Sucks(x2)"),
            Some(("Marcus Sucks".into(), 2))
        );
        assert_eq!(parse_group("Plain"), Some(("Plain".into(), 1)));
        assert_eq!(parse_group("Odd (y3)"), Some(("Odd (y3)".into(), 1)));
        assert_eq!(parse_group("   "), None);
        assert_eq!(parse_group(""), None);
    }

    #[test]
    fn venue_fixture_loads_as_it_is() {
        let json = include_str!("../../tests/fixtures/aln-tokens.json");
        let catalog = TokenCatalog::from_venue_json(json, &ScoringRules::default()).unwrap();
        assert_eq!(catalog.len(), 9);
        // Rating 3 Technical = 1,000 x 5.
        assert_eq!(catalog.get("534e2b02").unwrap().value, 5_000);
        // The key is "Fli001" but its RFID says "fli001": both find it.
        assert_eq!(catalog.get("fli001").unwrap().id, "Fli001");
        let group = catalog.group("Marcus Sucks").unwrap();
        assert_eq!(group.token_ids.len(), 2, "both spellings join one group");
        assert_eq!(group.multiplier, 2);
        // rat001: rating 4 Business = 5,000 x 3; asm001: rating 3 Personal = 1,000.
        assert_eq!(group.total_value, 16_000);
        assert_eq!(group.completion_bonus(), 16_000);
        let video = catalog.get("jaw001").unwrap().video.as_ref().unwrap();
        assert_eq!(video.path, "assets/video/jaw001.mp4");
        assert!(catalog.get("tac001").unwrap().video.is_none());
    }

    #[test]
    fn demo_set_is_large_enough_and_has_videos() {
        let catalog = TokenCatalog::demo(&ScoringRules::default());
        assert!(catalog.len() >= 40, "demo set has {} tokens", catalog.len());
        let with_video = catalog.tokens().filter(|t| t.video.is_some()).count();
        assert!(with_video >= 3, "demo set has {with_video} video tokens");
        assert!(catalog.groups().any(|g| g.multiplier > 1));
    }

    #[test]
    fn bad_entries_name_the_token() {
        let rules = ScoringRules::default();
        let err = TokenCatalog::from_venue_json(
            r#"{"t1":{"SF_ValueRating":9,"SF_MemoryType":"Personal"}}"#,
            &rules,
        )
        .unwrap_err();
        assert!(err.to_string().contains("t1"), "{err}");
        let err = TokenCatalog::from_venue_json(
            r#"{"t2":{"SF_ValueRating":1,"SF_MemoryType":"Gossip"}}"#,
            &rules,
        )
        .unwrap_err();
        assert!(err.to_string().contains("Gossip"), "{err}");
        assert!(matches!(
            TokenCatalog::from_venue_json("{}", &rules),
            Err(TokenFileError::Empty)
        ));
        assert!(TokenCatalog::from_venue_json("[1,2]", &rules).is_err());
        assert!(matches!(
            TokenCatalog::from_venue_json(
                r#"{"mem 01":{"SF_ValueRating":1,"SF_MemoryType":"Personal"}}"#,
                &rules
            ),
            Err(TokenFileError::BadId(id)) if id == "mem 01"
        ));
    }
}
