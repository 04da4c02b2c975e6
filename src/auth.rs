//! Who may do what: the box secret, JWTs signed with it, and the admin password.
//!
//! Both secrets live as small files in the data directory, not in the database, so that
//! `venuebox token` can read them while a running box holds the database open. They are created
//! once, on first start, with owner-only permissions.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::Argon2;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::clock;

const SECRET_FILE: &str = "box-secret";
/// The key guests' rejoin keys are derived under. Until the box secret is first rotated it is
/// the box secret itself; rotating keeps the old one here, so a guest keeps their name.
const VIEWER_KEY_FILE: &str = "viewer-key-secret";
/// The venue PIN viewers type with their name to join predictions; shown on the venue screens,
/// so kept readable (it grants only the viewer role).
const VIEWER_PIN_FILE: &str = "viewer-pin";
const PASSWORD_FILE: &str = "admin-password.argon2";
/// The generated password in clear, for `venuebox admin-password` and the technician's console
/// (0600, like the secret beside it). Removed when staff set their own.
const FIRST_PASSWORD_FILE: &str = "admin-password.first";
/// The staff generation: a number `admin-password --new` raises, which admin tokens carry.
const STAFF_GENERATION_FILE: &str = "staff-generation";
/// Letters and digits that cannot be mistaken for each other when read off a screen.
const PASSWORD_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
const PASSWORD_LEN: usize = 12;
const PIN_LEN: usize = 6;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("authentication required")]
    Missing,
    #[error("token expired")]
    Expired,
    #[error("invalid token: {0}")]
    Invalid(String),
    #[error("a {actual} token cannot do this (needs {needed})")]
    WrongRole { actual: Role, needed: &'static str },
    #[error("wrong password")]
    WrongPassword,
    #[error("token revoked: the staff password was renewed since it was given; log in again")]
    Revoked,
    #[error("cannot use secret file {path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("secret file {path} is damaged: {reason}")]
    Damaged { path: PathBuf, reason: String },
    #[error("cannot sign token: {0}")]
    Sign(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A GM station; --sub is its station id.
    Gm,
    /// A player scanner; --sub is its device id.
    Player,
    /// Staff: runs everything.
    Admin,
    /// A guest's phone or a screen: votes in predictions, follows tournaments and sports days.
    Viewer,
    /// A tournament's speaker or adjudicator; --sub is their UUID.
    Participant,
    /// A draft's captain: picks in that draft only; --sub is <draft id>:<captain id>.
    Captain,
    /// A sports day's person named by staff: a team member or a ticket buyer; --sub is their
    /// user id on the teams and purchases. (A guest's PIN login is a viewer and chooses its own
    /// name, so it is never taken for a member.)
    Member,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Gm => "gm",
            Role::Player => "player",
            Role::Admin => "admin",
            Role::Viewer => "viewer",
            Role::Participant => "participant",
            Role::Captain => "captain",
            Role::Member => "member",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: Role,
    pub iat: u64,
    pub exp: u64,
    /// For admin tokens, the staff generation they were minted in: renewing the staff password
    /// starts a new one, and tokens of an older generation are refused.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub gen: u32,
    /// Not valid before (seconds since the epoch). The box never sets it; a token that carries
    /// one is held to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// The era of the box's clock the token was minted in ([`clock`]): its times are checked
    /// against that era's clock, so a jump of the wall clock leaves them as they were.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub clk: u32,
    /// For a viewer, the ticket of the name's holder it was given to: once the name is let go
    /// and someone else holds it, the token no longer speaks for it. None in tokens from before
    /// tickets, and for names joined before them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tkt: Option<u64>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Claims {
    /// Claims that never expire, for code that checks a decoded request without a token in
    /// hand (the fuzz targets, tests).
    #[doc(hidden)]
    pub fn unexpiring(role: Role, sub: &str) -> Self {
        Self {
            sub: sub.into(),
            role,
            iat: 0,
            exp: u64::MAX,
            gen: 0,
            nbf: None,
            clk: 0,
            tkt: None,
        }
    }

    /// How long the token is still good for, by the box's clock; zero once it has expired. A
    /// connection opened with it is closed (or refused actions) when this runs out.
    pub fn time_left(&self) -> std::time::Duration {
        let now = clock::token_now_in(self.clk).unwrap_or(u64::MAX);
        std::time::Duration::from_secs(self.exp.saturating_sub(now))
    }

    /// Admins may act as GM stations (the admin console is one); players may not.
    pub fn may_act_as_gm(&self) -> bool {
        matches!(self.role, Role::Gm | Role::Admin)
    }

    /// Player scanners, GM stations and staff scan; a viewer (anyone with the venue PIN) may
    /// not: scans start videos and take device slots.
    pub fn require_scanner(&self) -> Result<(), AuthError> {
        match self.role {
            Role::Player | Role::Gm | Role::Admin => Ok(()),
            actual => Err(AuthError::WrongRole {
                actual,
                needed: "player, gm or admin",
            }),
        }
    }

    pub fn require_admin(&self) -> Result<(), AuthError> {
        match self.role {
            Role::Admin => Ok(()),
            actual => Err(AuthError::WrongRole {
                actual,
                needed: "admin",
            }),
        }
    }
}

/// The box's signing key and admin password hash.
#[derive(Clone)]
pub struct Secrets {
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// Keyed with the box secret; derives viewer keys.
    viewer_keys: Hmac<Sha256>,
    password_hash: String,
    viewer_pin: String,
    staff_generation: u32,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets { .. }")
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> AuthError + '_ {
    move |cause| AuthError::Io {
        path: path.to_path_buf(),
        cause,
    }
}

/// `len` symbols drawn uniformly from `alphabet`. Bytes at or above the largest multiple of
/// the alphabet's size are drawn again: a plain `byte % size` would favour the first symbols.
fn random_symbols(alphabet: &[u8], len: usize) -> String {
    let size = alphabet.len();
    let accept_below = 256 - 256 % size;
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for byte in random_bytes::<32>() {
            if usize::from(byte) < accept_below && out.len() < len {
                out.push(char::from(alphabet[usize::from(byte) % size]));
            }
        }
    }
    out
}

/// Whether two secrets are equal, in a time that does not depend on where they differ.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The OS random source failing leaves no safe way to make a secret: stop here.
    getrandom::fill(&mut bytes).expect("the operating system's random source is unavailable");
    bytes
}

/// Writes a new file readable only by its owner; never replaces an existing one.
fn create_private(path: &Path, contents: &[u8]) -> Result<(), AuthError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(io_err(path))?;
    // A technician runs the maintenance commands with sudo; the service reads the files as its
    // own user. They belong to whoever owns the data dir, or the box could not start.
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        use std::os::unix::fs::MetadataExt;
        let owner = fs::metadata(dir).map_err(io_err(dir))?;
        let mine = file.metadata().map_err(io_err(path))?;
        if (mine.uid(), mine.gid()) != (owner.uid(), owner.gid()) {
            std::os::unix::fs::fchown(&file, Some(owner.uid()), Some(owner.gid()))
                .map_err(io_err(path))?;
        }
    }
    file.write_all(contents).map_err(io_err(path))?;
    file.sync_all().map_err(io_err(path))
}

/// Writes a private file in place of `path` all at once: beside it first, then renamed over, so
/// a power cut leaves the old contents or the new, never an empty file.
fn replace_private(path: &Path, contents: &[u8]) -> Result<(), AuthError> {
    let staged = path.with_extension("new");
    let _ = fs::remove_file(&staged);
    create_private(&staged, contents)?;
    fs::rename(&staged, path).map_err(io_err(path))?;
    if let Some(dir) = path.parent() {
        // The rename itself is durable once the directory is.
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(dir))?;
    }
    Ok(())
}

pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let salt = SaltString::encode_b64(&random_bytes::<16>())
        .map_err(|e| AuthError::Sign(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Sign(e.to_string()))
}

impl Secrets {
    /// Loads the secrets from `data_dir`, creating them on first start. Returns the new admin
    /// password when it was just generated, so the caller can show it once.
    pub fn load_or_create(data_dir: &Path) -> Result<(Self, Option<String>), AuthError> {
        fs::create_dir_all(data_dir).map_err(io_err(data_dir))?;
        let secret_path = data_dir.join(SECRET_FILE);
        if !secret_path.exists() {
            let hex: String = random_bytes::<32>()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            create_private(&secret_path, hex.as_bytes())?;
        }
        let pin_path = data_dir.join(VIEWER_PIN_FILE);
        if !pin_path.exists() {
            create_private(&pin_path, random_symbols(b"0123456789", PIN_LEN).as_bytes())?;
        }
        let password_path = data_dir.join(PASSWORD_FILE);
        let mut new_password = None;
        if !password_path.exists() {
            new_password = Some(Self::new_admin_password(data_dir)?);
        }
        Ok((Self::load(data_dir)?, new_password))
    }

    /// Generates a new admin password and stores its hash (and the password, for the
    /// technician's console). A running box keeps the old one until it restarts.
    pub fn new_admin_password(data_dir: &Path) -> Result<String, AuthError> {
        let password = random_symbols(PASSWORD_ALPHABET, PASSWORD_LEN);
        for file in [PASSWORD_FILE, FIRST_PASSWORD_FILE] {
            let path = data_dir.join(file);
            if path.exists() {
                fs::remove_file(&path).map_err(io_err(&path))?;
            }
        }
        // Staff tokens given out under the old password stop working (at the next start).
        let generation = Self::staff_generation(data_dir)?.saturating_add(1);
        let generation_path = data_dir.join(STAFF_GENERATION_FILE);
        let staged = data_dir.join(format!("{STAFF_GENERATION_FILE}.new"));
        let _ = fs::remove_file(&staged);
        create_private(&staged, generation.to_string().as_bytes())?;
        fs::rename(&staged, &generation_path).map_err(io_err(&generation_path))?;
        let first_path = data_dir.join(FIRST_PASSWORD_FILE);
        create_private(&first_path, password.as_bytes())?;
        let password_path = data_dir.join(PASSWORD_FILE);
        create_private(&password_path, hash_password(&password)?.as_bytes())?;
        Ok(password)
    }

    /// Replaces the secret every token is signed with. Once the box restarts, every token given
    /// out before (stations, scanners, staff, guests, captains, members) is refused with its
    /// contract's auth error, and holders pair again with new ones. Guests' rejoin keys do not
    /// change: they stay derived from the secret they were made under.
    pub fn rotate_secret(data_dir: &Path) -> Result<(), AuthError> {
        let secret_path = data_dir.join(SECRET_FILE);
        let old = fs::read_to_string(&secret_path).map_err(io_err(&secret_path))?;
        let viewer_key_path = data_dir.join(VIEWER_KEY_FILE);
        if !viewer_key_path.exists() {
            replace_private(&viewer_key_path, old.trim().as_bytes())?;
        }
        let hex: String = random_bytes::<32>()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        replace_private(&secret_path, hex.as_bytes())
    }

    /// The staff generation in force (0 on a box whose password was never renewed).
    fn staff_generation(data_dir: &Path) -> Result<u32, AuthError> {
        let path = data_dir.join(STAFF_GENERATION_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => text.trim().parse().map_err(|_| AuthError::Damaged {
                path,
                reason: "not a number".into(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// The generated admin password, if it is still the one in use.
    pub fn generated_admin_password(data_dir: &Path) -> Result<Option<String>, AuthError> {
        let path = data_dir.join(FIRST_PASSWORD_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text.trim().to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// Loads existing secrets; fails if the box has never been started on this data dir.
    pub fn load(data_dir: &Path) -> Result<Self, AuthError> {
        let secret_path = data_dir.join(SECRET_FILE);
        let secret = fs::read_to_string(&secret_path).map_err(io_err(&secret_path))?;
        let secret = secret.trim();
        if secret.len() < 32 {
            return Err(AuthError::Damaged {
                path: secret_path,
                reason: "the secret is too short".into(),
            });
        }
        let password_path = data_dir.join(PASSWORD_FILE);
        let password_hash = fs::read_to_string(&password_path).map_err(io_err(&password_path))?;
        let password_hash = password_hash.trim().to_string();
        PasswordHash::new(&password_hash).map_err(|e| AuthError::Damaged {
            path: password_path,
            reason: e.to_string(),
        })?;
        let pin_path = data_dir.join(VIEWER_PIN_FILE);
        // A box first started before viewers existed has no PIN yet; `load_or_create` makes one.
        let viewer_pin = fs::read_to_string(&pin_path)
            .map(|pin| pin.trim().to_string())
            .unwrap_or_default();
        let viewer_key_path = data_dir.join(VIEWER_KEY_FILE);
        let viewer_secret = match fs::read_to_string(&viewer_key_path) {
            Ok(text) if text.trim().len() >= 32 => text.trim().to_string(),
            Ok(_) => {
                return Err(AuthError::Damaged {
                    path: viewer_key_path,
                    reason: "the secret is too short".into(),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => secret.to_string(),
            Err(e) => return Err(io_err(&viewer_key_path)(e)),
        };
        let viewer_keys =
            Hmac::<Sha256>::new_from_slice(viewer_secret.as_bytes()).map_err(|e| {
                AuthError::Damaged {
                    path: viewer_key_path.clone(),
                    reason: e.to_string(),
                }
            })?;
        Ok(Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            viewer_keys,
            password_hash,
            viewer_pin,
            staff_generation: Self::staff_generation(data_dir)?,
        })
    }

    pub fn mint(&self, role: Role, sub: &str, ttl: Duration) -> Result<String, AuthError> {
        self.mint_for_holder(role, sub, None, ttl)
    }

    /// A token for the holder of a viewer name with `ticket` ([`Claims::tkt`]).
    pub fn mint_for_holder(
        &self,
        role: Role,
        sub: &str,
        ticket: Option<u64>,
        ttl: Duration,
    ) -> Result<String, AuthError> {
        let (iat, clk) = clock::token_stamp();
        let claims = Claims {
            sub: sub.to_string(),
            role,
            iat,
            exp: iat.saturating_add(ttl.as_secs().max(1)),
            gen: if role == Role::Admin {
                self.staff_generation
            } else {
                0
            },
            nbf: None,
            clk,
            tkt: ticket,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| AuthError::Sign(e.to_string()))
    }

    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        // The signature, the algorithm and the presence of `exp` are checked here; the times
        // below, on the clock of the token's era (the system clock may have jumped since).
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_required_spec_claims(&["exp"]);
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| AuthError::Invalid(e.to_string()))?;
        // The box signs and checks with its own clock: no skew to allow for. A token is good
        // until its `exp` and not a second longer, so a connection never opens on a token its
        // expiry timer would close at once.
        // A token from an era of the clock this box never reached, or no longer remembers, is
        // as good as expired.
        let now = clock::token_now_in(claims.clk).ok_or(AuthError::Expired)?;
        if claims.exp < now {
            return Err(AuthError::Expired);
        }
        // A token the box signed never carries `nbf`; one that does and is not yet valid was
        // not made here to be used now.
        if claims.nbf.is_some_and(|nbf| nbf > now) {
            return Err(AuthError::Invalid(
                "the token is not valid yet (nbf)".into(),
            ));
        }
        if claims.role == Role::Admin && claims.gen != self.staff_generation {
            return Err(AuthError::Revoked);
        }
        Ok(claims)
    }

    /// The key the phone holding `user_id` is given, to show when it logs in again: derived
    /// from the box secret, so the box keeps no list of keys. It names the holder's `ticket`
    /// (the join's number), so a later holder of the name gets another key; a name joined
    /// before tickets has none, and its key names the user id alone, as phones hold it.
    pub fn viewer_key(&self, user_id: &str, ticket: Option<u64>) -> String {
        let mut mac = self.viewer_keys.clone();
        mac.update(b"viewer-key:");
        mac.update(user_id.as_bytes());
        if let Some(ticket) = ticket {
            // A user id holds no `#`, so no other id and ticket make the same text.
            mac.update(format!("#{ticket}").as_bytes());
        }
        mac.finalize()
            .into_bytes()
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Whether `key` is the viewer key of `user_id`'s holder with `ticket` (compared in
    /// constant time).
    pub fn is_viewer_key(&self, user_id: &str, ticket: Option<u64>, key: &str) -> bool {
        same_bytes(self.viewer_key(user_id, ticket).as_bytes(), key.as_bytes())
    }

    /// The venue PIN for viewer logins.
    pub fn viewer_pin(&self) -> &str {
        &self.viewer_pin
    }

    /// Checks a viewer's PIN in constant time.
    pub fn check_viewer_pin(&self, pin: &str) -> Result<(), AuthError> {
        let expected = self.viewer_pin.as_bytes();
        if !expected.is_empty() && same_bytes(expected, pin.trim().as_bytes()) {
            Ok(())
        } else {
            Err(AuthError::WrongPassword)
        }
    }

    /// Checks the admin password in `memory`, argon2's work area, grown to the hash's size on
    /// first use and kept by the caller: a thread checking password after password then holds
    /// one area for good, instead of allocating (and the allocator keeping) one per check.
    /// Slow on purpose (argon2): run it off the async threads.
    pub fn check_password_in(
        &self,
        password: &str,
        memory: &mut Vec<argon2::Block>,
    ) -> Result<(), AuthError> {
        let damaged = |reason: String| AuthError::Damaged {
            path: PathBuf::from(PASSWORD_FILE),
            reason,
        };
        let hash = PasswordHash::new(&self.password_hash).map_err(|e| damaged(e.to_string()))?;
        let algorithm =
            argon2::Algorithm::try_from(hash.algorithm).map_err(|e| damaged(e.to_string()))?;
        let version = hash
            .version
            .map(argon2::Version::try_from)
            .transpose()
            .map_err(|e| damaged(e.to_string()))?
            .unwrap_or_default();
        let params = argon2::Params::try_from(&hash).map_err(|e| damaged(e.to_string()))?;
        let expected = hash.hash.ok_or_else(|| damaged("no hash".into()))?;
        let mut salt = [0u8; 64];
        let salt = hash
            .salt
            .ok_or_else(|| damaged("no salt".into()))?
            .decode_b64(&mut salt)
            .map_err(|e| damaged(e.to_string()))?;
        let blocks = params.block_count();
        if memory.len() < blocks {
            memory.resize(blocks, argon2::Block::default());
        }
        let mut computed = vec![0u8; expected.len()];
        Argon2::new(algorithm, version, params)
            .hash_password_into_with_memory(
                password.as_bytes(),
                salt,
                &mut computed,
                &mut memory[..blocks],
            )
            .map_err(|_| AuthError::WrongPassword)?;
        if same_bytes(&computed, expected.as_bytes()) {
            Ok(())
        } else {
            Err(AuthError::WrongPassword)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordVerifier;

    #[test]
    fn first_start_creates_secrets_once_and_tokens_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let (secrets, password) = Secrets::load_or_create(dir.path()).unwrap();
        let password = password.expect("first start makes a password");
        assert_eq!(password.len(), PASSWORD_LEN);
        // argon2's own verification is the reference the box's reusable-memory check must match.
        let stored = PasswordHash::new(&secrets.password_hash).unwrap();
        Argon2::default()
            .verify_password(password.as_bytes(), &stored)
            .unwrap();
        assert!(Argon2::default()
            .verify_password(b"guess", &stored)
            .is_err());
        let mut memory = Vec::new();
        secrets.check_password_in(&password, &mut memory).unwrap();
        assert!(matches!(
            secrets.check_password_in("guess", &mut memory),
            Err(AuthError::WrongPassword)
        ));
        assert!(matches!(
            secrets.check_password_in(&password[1..], &mut memory),
            Err(AuthError::WrongPassword)
        ));

        let (again, second) = Secrets::load_or_create(dir.path()).unwrap();
        assert!(second.is_none(), "the password is made only once");
        let token = secrets
            .mint(Role::Gm, "GM_1", Duration::from_secs(60))
            .unwrap();
        let claims = again.verify(&token).unwrap();
        assert_eq!(claims.sub, "GM_1");
        assert_eq!(claims.role, Role::Gm);
        assert!(claims.may_act_as_gm());
        assert!(claims.require_admin().is_err());

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(SECRET_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "secret is private");
        }
    }

    #[test]
    fn generated_secrets_use_every_symbol_evenly() {
        // 31 symbols: `byte % 31` would make the first eight about 12 % likelier than the rest.
        let drawn = random_symbols(PASSWORD_ALPHABET, 310_000);
        let mut counts = std::collections::HashMap::new();
        for c in drawn.chars() {
            *counts.entry(c).or_insert(0u32) += 1;
        }
        assert_eq!(counts.len(), PASSWORD_ALPHABET.len());
        let (min, max) = (
            counts.values().min().unwrap(),
            counts.values().max().unwrap(),
        );
        // Uniform: each about 10,000 with a standard deviation near 100.
        assert!(*min > 9_500 && *max < 10_500, "counts {counts:?}");
        let pin = random_symbols(b"0123456789", PIN_LEN);
        assert!(pin.len() == PIN_LEN && pin.bytes().all(|b| b.is_ascii_digit()));
    }

    #[test]
    fn a_renewed_staff_password_revokes_staff_tokens_only() {
        let dir = tempfile::tempdir().unwrap();
        let (secrets, _) = Secrets::load_or_create(dir.path()).unwrap();
        let hour = Duration::from_secs(3600);
        let admin = secrets.mint(Role::Admin, "admin", hour).unwrap();
        let station = secrets.mint(Role::Gm, "GM_1", hour).unwrap();
        let password = Secrets::new_admin_password(dir.path()).unwrap();
        let renewed = Secrets::load(dir.path()).unwrap();
        assert!(matches!(renewed.verify(&admin), Err(AuthError::Revoked)));
        renewed.verify(&station).unwrap();
        renewed
            .check_password_in(&password, &mut Vec::new())
            .unwrap();
        let fresh = renewed.mint(Role::Admin, "admin", hour).unwrap();
        let claims = renewed.verify(&fresh).unwrap();
        assert!(claims.gen > secrets.staff_generation, "{claims:?}");
    }

    #[test]
    fn bad_tokens_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let (secrets, _) = Secrets::load_or_create(dir.path()).unwrap();
        assert!(matches!(secrets.verify(""), Err(AuthError::Missing)));
        assert!(matches!(
            secrets.verify("not.a.jwt"),
            Err(AuthError::Invalid(_))
        ));
        let expired = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &Claims {
                sub: "x".into(),
                role: Role::Gm,
                iat: 1,
                exp: 2,
                gen: 0,
                nbf: None,
                clk: 0,
                tkt: None,
            },
            &secrets.encoding,
        )
        .unwrap();
        assert!(matches!(secrets.verify(&expired), Err(AuthError::Expired)));

        let other_dir = tempfile::tempdir().unwrap();
        let (other, _) = Secrets::load_or_create(other_dir.path()).unwrap();
        let foreign = other
            .mint(Role::Admin, "x", Duration::from_secs(60))
            .unwrap();
        assert!(matches!(
            secrets.verify(&foreign),
            Err(AuthError::Invalid(_))
        ));
    }

    #[test]
    fn a_key_names_its_holders_ticket_and_keys_from_before_tickets_stay_as_phones_hold_them() {
        let dir = tempfile::tempdir().unwrap();
        let (secrets, _) = Secrets::load_or_create(dir.path()).unwrap();
        // The form every key had before tickets: phones hold these.
        let mut mac = secrets.viewer_keys.clone();
        mac.update(b"viewer-key:rosa");
        let before_tickets: String = mac.finalize().into_bytes()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(secrets.viewer_key("rosa", None), before_tickets);
        let first = secrets.viewer_key("rosa", Some(1));
        let next = secrets.viewer_key("rosa", Some(2));
        assert!(first != before_tickets && first != next);
        assert!(secrets.is_viewer_key("rosa", Some(1), &first));
        assert!(!secrets.is_viewer_key("rosa", Some(2), &first));
        assert!(!secrets.is_viewer_key("rosa", None, &first));
    }

    #[test]
    fn a_rotated_secret_refuses_old_tokens_and_keeps_guests_keys() {
        let dir = tempfile::tempdir().unwrap();
        let (before, _) = Secrets::load_or_create(dir.path()).unwrap();
        let station = before
            .mint(Role::Gm, "GM_1", Duration::from_secs(60))
            .unwrap();
        let guest_key = before.viewer_key("rosa", Some(3));

        Secrets::rotate_secret(dir.path()).unwrap();
        let after = Secrets::load(dir.path()).unwrap();
        assert!(matches!(after.verify(&station), Err(AuthError::Invalid(_))));
        let paired = after
            .mint(Role::Gm, "GM_1", Duration::from_secs(60))
            .unwrap();
        assert_eq!(after.verify(&paired).unwrap().sub, "GM_1");
        assert_eq!(after.viewer_key("rosa", Some(3)), guest_key);

        // A second rotation keeps the guests' keys too, those from before tickets as well.
        let key_before_tickets = before.viewer_key("rosa", None);
        Secrets::rotate_secret(dir.path()).unwrap();
        let again = Secrets::load(dir.path()).unwrap();
        assert_eq!(again.viewer_key("rosa", Some(3)), guest_key);
        assert_eq!(again.viewer_key("rosa", None), key_before_tickets);
    }

    #[cfg(unix)]
    #[test]
    fn files_made_by_a_maintenance_command_belong_to_the_data_dirs_owner() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        Secrets::load_or_create(dir.path()).unwrap();
        // The service's user owns the data dir; the technician runs the command with sudo. Run
        // as root (as CI does), the dir is given away to stand for the service's user.
        let service_user = 65534;
        let given_away =
            std::os::unix::fs::chown(dir.path(), Some(service_user), Some(service_user));
        let owner = fs::metadata(dir.path()).unwrap();
        Secrets::rotate_secret(dir.path()).unwrap();
        Secrets::new_admin_password(dir.path()).unwrap();
        for file in [
            SECRET_FILE,
            VIEWER_KEY_FILE,
            PASSWORD_FILE,
            STAFF_GENERATION_FILE,
        ] {
            let made = fs::metadata(dir.path().join(file)).unwrap();
            assert_eq!(
                (made.uid(), made.gid()),
                (owner.uid(), owner.gid()),
                "{file}"
            );
        }
        if given_away.is_ok() {
            assert_eq!(owner.uid(), service_user);
        }
    }
}
