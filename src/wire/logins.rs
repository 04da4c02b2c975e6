//! Guards on the two secrets a guest can try to guess: the staff password and the venue PIN.
//!
//! Everyone in the room is on the box's Wi-Fi, and the hotspot hands out a whole /24, so a
//! limit per client address alone does not hold: one phone can rotate addresses. Each secret
//! therefore also has a box-wide budget of wrong answers; once it is spent, every attempt is
//! refused unchecked until it refills. Staff password checks (argon2, 19 MiB and tens of
//! milliseconds each on purpose) run one at a time on one thread of their own, in one work
//! area it keeps, with a short queue: a flood of wrong passwords costs one check's memory.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::sync::oneshot;

use super::errors::{ErrorCode, WireError};
use super::ratelimit::{KeyedRateLimit, RateLimit};
use crate::auth::{AuthError, Secrets};

/// Login attempts one client address may make per minute.
pub const LOGINS_PER_MINUTE: u32 = 10;
/// Wrong staff passwords the whole box accepts per minute before it stops checking.
pub const WRONG_PASSWORDS_PER_MINUTE: u32 = 20;
/// Wrong venue PINs the whole box accepts per minute before it stops checking. At this rate a
/// six-digit PIN takes about eleven days to find on average.
pub const WRONG_PINS_PER_MINUTE: u32 = 30;
/// Viewer logins without a key (a new name, as far as the device knows) one address may make
/// per [`NEW_NAMES_PERIOD`]: a phone joins once; inventing names in bulk takes many addresses.
pub const NEW_NAMES_PER_ADDRESS: u32 = 5;
const NEW_NAMES_PERIOD: Duration = Duration::from_secs(600);
/// Password checks that may wait behind the one running; more are refused at once.
const PASSWORD_CHECKS_WAITING: usize = 4;
/// Longest password the box hashes (argon2 takes any length; a megabyte would still cost).
const MAX_PASSWORD_BYTES: usize = 1024;
/// Addresses a staff login succeeded from are trusted this long: they skip the box-wide budget,
/// so a guest spending it cannot lock out the staff laptops already in use tonight.
const TRUSTED_FOR: Duration = Duration::from_secs(12 * 3600);
/// Staff addresses remembered at once (a venue has a few staff devices).
const MAX_TRUSTED_ADDRESSES: usize = 64;
/// An address that gave a wrong password or PIN is held to the box-wide budget this long;
/// others are not, so a guest spending the budget locks out only the addresses it guessed
/// from, never a viewer or staff member typing the right answer from their own device.
const SUSPECT_FOR: Duration = Duration::from_secs(3600);
/// Suspect addresses remembered at once; the oldest are forgotten first.
const MAX_SUSPECT_ADDRESSES: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("cannot start the password checker: {0}")]
    Spawn(std::io::Error),
}

/// A password check waiting for the checker thread.
struct PasswordJob {
    password: String,
    answer: oneshot::Sender<Result<(), AuthError>>,
}

/// Per-address limits, box-wide wrong-answer budgets and the password checker.
pub struct Logins {
    per_address: Mutex<KeyedRateLimit<IpAddr>>,
    wrong_passwords: Mutex<RateLimit>,
    wrong_pins: Mutex<RateLimit>,
    /// Where staff logged in from, and when.
    staff_addresses: Mutex<HashMap<IpAddr, tokio::time::Instant>>,
    /// Where wrong answers came from, and when the last one did.
    suspects: Mutex<HashMap<IpAddr, tokio::time::Instant>>,
    /// Key-less viewer logins per address.
    new_names: Mutex<KeyedRateLimit<IpAddr>>,
    checker: SyncSender<PasswordJob>,
}

impl Logins {
    /// Starts the password checker thread; it ends when `Logins` is dropped.
    pub fn start(secrets: Arc<Secrets>, max_addresses: usize) -> Result<Self, LoginError> {
        Self::with_budgets(
            secrets,
            max_addresses,
            WRONG_PASSWORDS_PER_MINUTE,
            WRONG_PINS_PER_MINUTE,
        )
    }

    /// [`Logins::start`] with other box-wide budgets (tests).
    pub fn with_budgets(
        secrets: Arc<Secrets>,
        max_addresses: usize,
        wrong_passwords_per_minute: u32,
        wrong_pins_per_minute: u32,
    ) -> Result<Self, LoginError> {
        let (checker, jobs) = sync_channel::<PasswordJob>(PASSWORD_CHECKS_WAITING);
        std::thread::Builder::new()
            .name("password-check".into())
            .spawn(move || {
                // One thread and one argon2 work area (19 MiB), kept from check to check.
                let mut memory = Vec::new();
                for job in jobs {
                    // A panic loses this one answer (the caller gets SERVER_ERROR), not the
                    // thread every later login needs.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        let _ = job
                            .answer
                            .send(secrets.check_password_in(&job.password, &mut memory));
                    }));
                }
            })
            .map_err(LoginError::Spawn)?;
        Ok(Self {
            per_address: Mutex::new(KeyedRateLimit::new(
                LOGINS_PER_MINUTE,
                Duration::from_secs(60),
                max_addresses,
            )),
            wrong_passwords: Mutex::new(RateLimit::new(
                wrong_passwords_per_minute,
                Duration::from_secs(60),
            )),
            wrong_pins: Mutex::new(RateLimit::new(
                wrong_pins_per_minute,
                Duration::from_secs(60),
            )),
            staff_addresses: Mutex::new(HashMap::new()),
            suspects: Mutex::new(HashMap::new()),
            new_names: Mutex::new(KeyedRateLimit::new(
                NEW_NAMES_PER_ADDRESS,
                NEW_NAMES_PERIOD,
                max_addresses,
            )),
            checker,
        })
    }

    /// Counts one login attempt from `client` against its address's limit.
    pub fn attempt(&self, client: IpAddr) -> Result<(), WireError> {
        if KeyedRateLimit::take_shared(&self.per_address, &client, 1) {
            Ok(())
        } else {
            Err(WireError::new(
                ErrorCode::RateLimited,
                "too many login attempts from this device; wait a minute",
            ))
        }
    }

    /// Whether `client` is the box itself or where staff logged in from tonight.
    fn is_staff_address(&self, client: IpAddr) -> bool {
        if crate::connections::is_the_box_itself(client) {
            return true;
        }
        self.staff_addresses.lock().is_ok_and(|known| {
            known
                .get(&client)
                .is_some_and(|at| at.elapsed() < TRUSTED_FOR)
        })
    }

    /// Whether `client` answered wrong within [`SUSPECT_FOR`].
    fn is_suspect(&self, client: IpAddr) -> bool {
        self.suspects.lock().is_ok_and(|known| {
            known
                .get(&client)
                .is_some_and(|at| at.elapsed() < SUSPECT_FOR)
        })
    }

    fn remember_suspect(&self, client: IpAddr) {
        if let Ok(mut known) = self.suspects.lock() {
            if known.len() >= MAX_SUSPECT_ADDRESSES {
                known.retain(|_, at| at.elapsed() < SUSPECT_FOR);
            }
            if known.len() >= MAX_SUSPECT_ADDRESSES {
                if let Some(oldest) = known.iter().min_by_key(|(_, at)| **at).map(|(a, _)| *a) {
                    known.remove(&oldest);
                }
            }
            known.insert(client, tokio::time::Instant::now());
        }
    }

    fn remember_staff_address(&self, client: IpAddr) {
        if let Ok(mut known) = self.staff_addresses.lock() {
            known.retain(|_, at| at.elapsed() < TRUSTED_FOR);
            if known.len() >= MAX_TRUSTED_ADDRESSES {
                if let Some(oldest) = known.iter().min_by_key(|(_, at)| **at).map(|(a, _)| *a) {
                    known.remove(&oldest);
                }
            }
            known.insert(client, tokio::time::Instant::now());
        }
    }

    /// Counts a viewer login without a key from `client`.
    pub fn new_name(&self, client: IpAddr) -> Result<(), WireError> {
        // The box itself (a kiosk page on its own screen, a script on it) is not a guest.
        let allowed = crate::connections::is_the_box_itself(client)
            || KeyedRateLimit::take_shared(&self.new_names, &client, 1);
        if allowed {
            Ok(())
        } else {
            Err(WireError::new(
                ErrorCode::RateLimited,
                "too many new names from this device; log in with the name (and key) it has",
            ))
        }
    }

    /// Checks the staff password from `client` on the checker thread, against the box-wide
    /// budget unless staff logged in from there before (or it is the box itself).
    pub async fn check_password(&self, client: IpAddr, password: String) -> Result<(), WireError> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(WireError::new(ErrorCode::InvalidData, "password too long"));
        }
        if !self.is_staff_address(client) && self.is_suspect(client) {
            budget_left(&self.wrong_passwords, "staff passwords")?;
        }
        let (answer, result) = oneshot::channel();
        match self.checker.try_send(PasswordJob { password, answer }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                return Err(WireError::new(
                    ErrorCode::RateLimited,
                    "the box is checking other logins; try again in a few seconds",
                )
                .with_details(json!({ "retryAfterSecs": 2 })))
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err(WireError::new(
                    ErrorCode::ServerError,
                    "the password checker has stopped",
                ))
            }
        }
        let checked = result.await.map_err(|_| {
            WireError::new(ErrorCode::ServerError, "the password checker has stopped")
        })?;
        if checked.is_err() {
            self.remember_suspect(client);
        }
        spend_on_failure(&self.wrong_passwords, checked)?;
        self.remember_staff_address(client);
        Ok(())
    }

    /// Checks a viewer's venue PIN from `client`; an address that answered wrong lately is held
    /// to the box-wide budget. A returning viewer who shows its name's key (`holds_key`) was
    /// let in before and never is.
    pub fn check_pin(
        &self,
        client: IpAddr,
        secrets: &Secrets,
        pin: &str,
        holds_key: bool,
    ) -> Result<(), WireError> {
        if !holds_key && self.is_suspect(client) {
            budget_left(&self.wrong_pins, "venue PINs")?;
        }
        let checked = secrets.check_viewer_pin(pin);
        if checked.is_err() {
            self.remember_suspect(client);
        }
        spend_on_failure(&self.wrong_pins, checked)
    }
}

/// Refuses, unchecked, while a box-wide budget of wrong answers is spent.
fn budget_left(budget: &Mutex<RateLimit>, what: &str) -> Result<(), WireError> {
    let mut budget = budget
        .lock()
        .map_err(|_| WireError::new(ErrorCode::ServerError, "login limits unavailable"))?;
    if budget.has_token() {
        return Ok(());
    }
    let wait = budget.wait_secs().max(1);
    Err(WireError::new(
        ErrorCode::RateLimited,
        format!("too many wrong {what} on this box (box-wide); try again in {wait} s"),
    )
    .with_details(json!({ "retryAfterSecs": wait })))
}

fn spend_on_failure(
    budget: &Mutex<RateLimit>,
    checked: Result<(), AuthError>,
) -> Result<(), WireError> {
    if checked.is_err() {
        if let Ok(mut budget) = budget.lock() {
            budget.try_take();
        }
    }
    checked.map_err(WireError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUEST: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 42, 0, 77));
    const STAFF: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 42, 0, 5));

    fn box_with_budgets(passwords: u32, pins: u32) -> (tempfile::TempDir, Secrets, String, Logins) {
        let dir = tempfile::tempdir().unwrap();
        let (secrets, password) = Secrets::load_or_create(dir.path()).unwrap();
        let logins = Logins::with_budgets(Arc::new(secrets.clone()), 100, passwords, pins).unwrap();
        (dir, secrets, password.unwrap(), logins)
    }

    #[tokio::test(start_paused = true)]
    async fn a_spent_pin_budget_refuses_even_the_right_pin_until_it_refills() {
        let (_dir, secrets, _, logins) = box_with_budgets(20, WRONG_PINS_PER_MINUTE);
        let right = secrets.viewer_pin().to_string();
        let wrong = if right == "000000" {
            "111111"
        } else {
            "000000"
        };
        for _ in 0..WRONG_PINS_PER_MINUTE {
            let refused = logins.check_pin(GUEST, &secrets, wrong, false).unwrap_err();
            assert_eq!(refused.code, ErrorCode::InvalidToken);
        }
        let locked = logins
            .check_pin(GUEST, &secrets, &right, false)
            .unwrap_err();
        assert_eq!(locked.code, ErrorCode::RateLimited);
        assert!(locked.message.contains("box-wide"), "{}", locked.message);
        // A viewer returning with its name's key is not locked out.
        logins.check_pin(GUEST, &secrets, &right, true).unwrap();
        logins.check_pin(STAFF, &secrets, &right, false).unwrap();
        tokio::time::advance(Duration::from_secs(3)).await;
        logins.check_pin(GUEST, &secrets, &right, false).unwrap();
    }

    #[tokio::test]
    async fn only_wrong_passwords_spend_the_budget_and_staff_addresses_skip_it() {
        let (_dir, _secrets, password, logins) = box_with_budgets(2, 30);
        // More right passwords than the budget holds: none of them spends it.
        for _ in 0..3 {
            logins
                .check_password(STAFF, password.clone())
                .await
                .unwrap();
        }
        for _ in 0..2 {
            let wrong = logins
                .check_password(GUEST, "guess".into())
                .await
                .unwrap_err();
            assert_eq!(wrong.code, ErrorCode::InvalidToken);
        }
        // Spent: a guest is refused unchecked, the right password too.
        let locked = logins
            .check_password(GUEST, password.clone())
            .await
            .unwrap_err();
        assert_eq!(locked.code, ErrorCode::RateLimited);
        // Where staff logged in tonight, an address that never answered wrong, and the box
        // itself still get in.
        let newcomer = IpAddr::from([10, 42, 0, 99]);
        logins
            .check_password(newcomer, password.clone())
            .await
            .unwrap();
        logins
            .check_password(STAFF, password.clone())
            .await
            .unwrap();
        let local = IpAddr::from([127, 0, 0, 1]);
        logins.check_password(local, password).await.unwrap();
        let too_long = logins
            .check_password(STAFF, "x".repeat(MAX_PASSWORD_BYTES + 1))
            .await
            .unwrap_err();
        assert_eq!(too_long.code, ErrorCode::InvalidData);
    }
}
