//! The token model and LinOTP's rules as a pure state machine.
//!
//! Every function here takes a [`TokenRecord`] and changes it in memory;
//! the store persists the result inside the transaction that locked the
//! row. Rules (LinOTP's defaults):
//! - HOTP accepts counters in `[counter, counter + count_window)`: with the
//!   default window 10, `counter + 9` is accepted and `counter + 10` is not.
//!   An accepted counter `c` moves the counter to `c + 1`, so a value is
//!   never accepted twice.
//! - TOTP accepts time steps within ±`time_window` seconds of now that are
//!   not below `counter`; an accepted step `s` moves the counter to `s + 1`.
//! - `pass` is the PIN followed by the OTP (its last `digits` characters).
//! - A wrong OTP, or a right OTP after a wrong PIN, is a failure. A right
//!   OTP after a wrong PIN is still consumed: whoever saw that `pass` cannot
//!   try it again with another PIN.
//! - At `max_fail` failures (10) the token is locked: even a right PIN and
//!   OTP are refused until an administrator resets the fail counter.
//! - A disabled token refuses everything and changes nothing.
//! - Resync (HOTP): two consecutive OTPs, the first within
//!   `[counter, counter + sync_window)`, move the counter past the second.

use serde::{Deserialize, Serialize};

use crate::crypto::{self, CryptoError, DbKey, SealedSeed};
use crate::hotp::{self, Algorithm};
use crate::names::{Serial, UserRef};

pub const DEFAULT_DIGITS: u8 = 6;
pub const DEFAULT_COUNT_WINDOW: u64 = 10;
pub const DEFAULT_SYNC_WINDOW: u64 = 1000;
pub const DEFAULT_MAX_FAIL: u32 = 10;
pub const DEFAULT_TIME_STEP: u64 = 30;
pub const DEFAULT_TIME_WINDOW: u64 = 180;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum TokenKind {
    Hotp,
    /// `step` seconds per value, values accepted within ±`window` seconds.
    Totp {
        step: u64,
        window: u64,
    },
}

impl TokenKind {
    pub fn name(self) -> &'static str {
        match self {
            TokenKind::Hotp => "hotp",
            TokenKind::Totp { .. } => "totp",
        }
    }
}

/// One token as stored (seed sealed, PIN hashed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    pub serial: Serial,
    pub kind: TokenKind,
    pub algorithm: Algorithm,
    pub digits: u8,
    pub seed: SealedSeed,
    /// HOTP: the next counter that can be accepted. TOTP: the next time step.
    pub counter: u64,
    pub count_window: u64,
    pub sync_window: u64,
    pub fail_count: u32,
    pub max_fail: u32,
    pub active: bool,
    /// Argon2id PHC string; `None` means the PIN is empty.
    pub pin_hash: Option<String>,
    pub owner: Option<UserRef>,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("digits: must be 6, 7 or 8, not {0}")]
    Digits(u8),
    #[error("seed: must not be empty")]
    EmptySeed,
    #[error("time step: must be at least 1 second")]
    TimeStep,
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

/// What a `pass` did to a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckOutcome {
    Accepted,
    /// Wrong PIN, wrong OTP, or both (one answer for all: no oracle).
    Refused,
    Locked,
    Disabled,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResyncOutcome {
    Synced,
    /// The two values are not consecutive OTPs within the sync window.
    NotFound,
    Disabled,
    /// Only HOTP tokens have a counter to resynchronise.
    NotCounterBased,
}

impl TokenRecord {
    /// A new active token with LinOTP's defaults; the seed is sealed under
    /// slot 0 of `key`.
    pub fn new(
        key: &DbKey,
        serial: Serial,
        kind: TokenKind,
        algorithm: Algorithm,
        digits: u8,
        seed: &[u8],
    ) -> Result<TokenRecord, TokenError> {
        if !hotp::DIGITS.contains(&digits) {
            return Err(TokenError::Digits(digits));
        }
        if seed.is_empty() {
            return Err(TokenError::EmptySeed);
        }
        if let TokenKind::Totp { step: 0, .. } = kind {
            return Err(TokenError::TimeStep);
        }
        let sealed = key.seal_seed(serial.as_str(), seed);
        Ok(TokenRecord {
            serial,
            kind,
            algorithm,
            digits,
            seed: sealed,
            counter: 0,
            count_window: DEFAULT_COUNT_WINDOW,
            sync_window: DEFAULT_SYNC_WINDOW,
            fail_count: 0,
            max_fail: DEFAULT_MAX_FAIL,
            active: true,
            pin_hash: None,
            owner: None,
        })
    }

    pub fn is_locked(&self) -> bool {
        self.fail_count >= self.max_fail
    }

    /// Sets (or with an empty PIN, clears) the PIN.
    pub fn set_pin(&mut self, pin: &str) -> Result<(), TokenError> {
        self.pin_hash = if pin.is_empty() {
            None
        } else {
            Some(crypto::hash_pin(pin)?)
        };
        Ok(())
    }

    fn pin_matches(&self, pin: &str) -> Result<bool, TokenError> {
        Ok(match &self.pin_hash {
            None => pin.is_empty(),
            Some(phc) => crypto::verify_pin(pin, phc)?,
        })
    }

    fn otp_at(&self, seed: &[u8], moving_factor: u64) -> String {
        hotp::hotp(self.algorithm, seed, moving_factor, self.digits)
    }

    /// The moving factors an OTP is looked for, lowest first.
    fn window(&self, now_unix: u64) -> std::ops::Range<u64> {
        match self.kind {
            TokenKind::Hotp => self.counter..self.counter.saturating_add(self.count_window),
            TokenKind::Totp { step, window } => {
                let now = hotp::time_step(now_unix, step);
                let width = window / step;
                self.counter.max(now.saturating_sub(width))
                    ..now.saturating_add(width).saturating_add(1)
            }
        }
    }

    /// Checks `pass` (PIN followed by OTP) and updates counter and fail
    /// counter by the rules in the module documentation.
    pub fn check(
        &mut self,
        key: &DbKey,
        pass: &str,
        now_unix: u64,
    ) -> Result<CheckOutcome, TokenError> {
        if !self.active {
            return Ok(CheckOutcome::Disabled);
        }
        if self.is_locked() {
            return Ok(CheckOutcome::Locked);
        }
        let digits = usize::from(self.digits);
        let Some(split) = pass
            .len()
            .checked_sub(digits)
            .filter(|at| pass.is_char_boundary(*at))
        else {
            self.fail_count += 1;
            return Ok(CheckOutcome::Refused);
        };
        let (pin, otp) = pass.split_at(split);
        let seed = key.open_seed(self.serial.as_str(), &self.seed)?;
        let found = self
            .window(now_unix)
            .find(|factor| hotp::otp_matches(otp, &self.otp_at(&seed, *factor)));
        let pin_ok = self.pin_matches(pin)?;
        if let Some(factor) = found {
            self.counter = factor + 1;
        }
        if found.is_some() && pin_ok {
            self.fail_count = 0;
            Ok(CheckOutcome::Accepted)
        } else {
            self.fail_count += 1;
            Ok(CheckOutcome::Refused)
        }
    }

    /// Resynchronises an HOTP token from two consecutive OTPs.
    pub fn resync(
        &mut self,
        key: &DbKey,
        otp1: &str,
        otp2: &str,
    ) -> Result<ResyncOutcome, TokenError> {
        if !self.active {
            return Ok(ResyncOutcome::Disabled);
        }
        if self.kind != TokenKind::Hotp {
            return Ok(ResyncOutcome::NotCounterBased);
        }
        let seed = key.open_seed(self.serial.as_str(), &self.seed)?;
        let end = self.counter.saturating_add(self.sync_window);
        let found = (self.counter..end).find(|c| {
            hotp::otp_matches(otp1, &self.otp_at(&seed, *c))
                && hotp::otp_matches(otp2, &self.otp_at(&seed, c + 1))
        });
        Ok(match found {
            Some(c) => {
                self.counter = c + 2;
                ResyncOutcome::Synced
            }
            None => ResyncOutcome::NotFound,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &[u8] = b"12345678901234567890";

    fn key() -> DbKey {
        // TEST key.
        DbKey::from_bytes(&[7u8; 96]).unwrap()
    }

    fn hotp_token(key: &DbKey) -> TokenRecord {
        TokenRecord::new(
            key,
            Serial::new("TEST-HOTP").unwrap(),
            TokenKind::Hotp,
            Algorithm::Sha1,
            6,
            SEED,
        )
        .unwrap()
    }

    fn otp(counter: u64) -> String {
        hotp::hotp(Algorithm::Sha1, SEED, counter, 6)
    }

    #[test]
    fn counter_plus_nine_is_accepted() {
        let key = key();
        let mut t = hotp_token(&key);
        t.counter = 100;
        assert_eq!(t.check(&key, &otp(109), 0).unwrap(), CheckOutcome::Accepted);
        assert_eq!(t.counter, 110);
        assert_eq!(t.fail_count, 0);
    }

    #[test]
    fn counter_plus_ten_is_refused_and_counts_as_a_failure() {
        let key = key();
        let mut t = hotp_token(&key);
        t.counter = 100;
        assert_eq!(t.check(&key, &otp(110), 0).unwrap(), CheckOutcome::Refused);
        assert_eq!(t.counter, 100);
        assert_eq!(t.fail_count, 1);
    }

    #[test]
    fn values_below_the_counter_are_refused() {
        let key = key();
        let mut t = hotp_token(&key);
        t.counter = 5;
        assert_eq!(t.check(&key, &otp(4), 0).unwrap(), CheckOutcome::Refused);
    }

    #[test]
    fn an_accepted_otp_is_never_accepted_again() {
        let key = key();
        let mut t = hotp_token(&key);
        assert_eq!(t.check(&key, &otp(3), 0).unwrap(), CheckOutcome::Accepted);
        assert_eq!(t.check(&key, &otp(3), 0).unwrap(), CheckOutcome::Refused);
        assert_eq!(t.check(&key, &otp(4), 0).unwrap(), CheckOutcome::Accepted);
    }

    #[test]
    fn ten_failures_lock_the_token_until_reset() {
        let key = key();
        let mut t = hotp_token(&key);
        for i in 0..10 {
            assert_eq!(
                t.check(&key, "000000", 0).unwrap(),
                CheckOutcome::Refused,
                "attempt {i}"
            );
        }
        assert!(t.is_locked());
        assert_eq!(t.check(&key, &otp(0), 0).unwrap(), CheckOutcome::Locked);
        assert_eq!(t.counter, 0, "a locked token's counter does not move");
        t.fail_count = 0;
        assert_eq!(t.check(&key, &otp(0), 0).unwrap(), CheckOutcome::Accepted);
    }

    #[test]
    fn a_success_resets_the_fail_counter() {
        let key = key();
        let mut t = hotp_token(&key);
        for _ in 0..9 {
            t.check(&key, "000000", 0).unwrap();
        }
        assert_eq!(t.check(&key, &otp(0), 0).unwrap(), CheckOutcome::Accepted);
        assert_eq!(t.fail_count, 0);
    }

    #[test]
    fn pin_and_otp_are_concatenated_and_a_wrong_pin_is_a_failure() {
        let key = key();
        let mut t = hotp_token(&key);
        t.set_pin("4711").unwrap();
        assert_eq!(
            t.check(&key, &format!("4711{}", otp(0)), 0).unwrap(),
            CheckOutcome::Accepted
        );
        // Wrong PIN, right OTP: refused, a failure, and the OTP is used up.
        assert_eq!(
            t.check(&key, &format!("4712{}", otp(1)), 0).unwrap(),
            CheckOutcome::Refused
        );
        assert_eq!(t.fail_count, 1);
        assert_eq!(
            t.check(&key, &format!("4711{}", otp(1)), 0).unwrap(),
            CheckOutcome::Refused
        );
        // No PIN at all while one is set.
        assert_eq!(t.check(&key, &otp(2), 0).unwrap(), CheckOutcome::Refused);
        assert_eq!(t.fail_count, 3);
        assert_eq!(
            t.check(&key, &format!("4711{}", otp(3)), 0).unwrap(),
            CheckOutcome::Accepted
        );
    }

    #[test]
    fn short_or_odd_passes_are_failures_not_panics() {
        let key = key();
        let mut t = hotp_token(&key);
        assert_eq!(t.check(&key, "12345", 0).unwrap(), CheckOutcome::Refused);
        assert_eq!(t.check(&key, "ééééé", 0).unwrap(), CheckOutcome::Refused);
        assert_eq!(t.check(&key, "", 0).unwrap(), CheckOutcome::Refused);
        assert_eq!(t.fail_count, 3);
    }

    #[test]
    fn disabled_tokens_refuse_and_do_not_change() {
        let key = key();
        let mut t = hotp_token(&key);
        t.active = false;
        assert_eq!(t.check(&key, &otp(0), 0).unwrap(), CheckOutcome::Disabled);
        assert_eq!(
            t.resync(&key, &otp(5), &otp(6)).unwrap(),
            ResyncOutcome::Disabled
        );
        assert_eq!((t.counter, t.fail_count), (0, 0));
    }

    #[test]
    fn resync_with_two_consecutive_otps_within_the_sync_window() {
        let key = key();
        let mut t = hotp_token(&key);
        t.counter = 10;
        // 10 + 999 is the last counter the first value may have.
        assert_eq!(
            t.resync(&key, &otp(1009), &otp(1010)).unwrap(),
            ResyncOutcome::Synced
        );
        assert_eq!(t.counter, 1011);
        assert_eq!(
            t.check(&key, &otp(1011), 0).unwrap(),
            CheckOutcome::Accepted
        );
    }

    #[test]
    fn resync_refuses_values_beyond_the_window_or_not_consecutive() {
        let key = key();
        let mut t = hotp_token(&key);
        t.counter = 10;
        assert_eq!(
            t.resync(&key, &otp(1010), &otp(1011)).unwrap(),
            ResyncOutcome::NotFound
        );
        assert_eq!(
            t.resync(&key, &otp(500), &otp(502)).unwrap(),
            ResyncOutcome::NotFound
        );
        assert_eq!(
            t.resync(&key, &otp(501), &otp(500)).unwrap(),
            ResyncOutcome::NotFound
        );
        assert_eq!(t.counter, 10);
    }

    #[test]
    fn totp_accepts_the_time_window_and_never_the_same_step_twice() {
        let key = key();
        let kind = TokenKind::Totp {
            step: DEFAULT_TIME_STEP,
            window: DEFAULT_TIME_WINDOW,
        };
        let mut t = TokenRecord::new(
            &key,
            Serial::new("TEST-TOTP").unwrap(),
            kind,
            Algorithm::Sha256,
            6,
            SEED,
        )
        .unwrap();
        let now = 1_700_000_000;
        let at = |secs: u64| hotp::totp(Algorithm::Sha256, SEED, secs, 30, 6);
        assert_eq!(
            t.check(&key, &at(now), now).unwrap(),
            CheckOutcome::Accepted
        );
        assert_eq!(
            t.check(&key, &at(now), now).unwrap(),
            CheckOutcome::Refused,
            "replay"
        );
        // Six steps (180 s) ahead is inside the window, seven is not.
        assert_eq!(
            t.check(&key, &at(now + 210), now).unwrap(),
            CheckOutcome::Refused
        );
        assert_eq!(
            t.check(&key, &at(now + 180), now).unwrap(),
            CheckOutcome::Accepted
        );
        // After a later step was used, an earlier one is refused.
        assert_eq!(
            t.check(&key, &at(now + 30), now).unwrap(),
            CheckOutcome::Refused
        );
        assert_eq!(
            t.resync(&key, "1", "2").unwrap(),
            ResyncOutcome::NotCounterBased
        );
    }

    #[test]
    fn a_wrong_key_is_an_error_not_a_refusal() {
        let key = key();
        let mut t = hotp_token(&key);
        let other = DbKey::from_bytes(&[8u8; 96]).unwrap();
        assert!(matches!(
            t.check(&other, &otp(0), 0),
            Err(TokenError::Crypto(_))
        ));
    }

    #[test]
    fn bad_token_parameters_are_named() {
        let key = key();
        let serial = Serial::new("X").unwrap();
        let err = TokenRecord::new(
            &key,
            serial.clone(),
            TokenKind::Hotp,
            Algorithm::Sha1,
            5,
            SEED,
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "digits: must be 6, 7 or 8, not 5");
        let err =
            TokenRecord::new(&key, serial, TokenKind::Hotp, Algorithm::Sha1, 6, b"").unwrap_err();
        assert_eq!(err.to_string(), "seed: must not be empty");
    }
}
