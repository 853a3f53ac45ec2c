//! The one-time **setup code** that proves console access to the setup
//! wizard: 12 symbols of Crockford's base32 (60 bits) and a check symbol,
//! shown as `XXXX-XXXX-XXXX-C`.
//!
//! The code itself is never stored. It is derived from a root-only 32-byte
//! secret and a rotation counter: the 60 bits are the first bits of
//! HMAC-SHA256(secret, `appliance-setup-code/v1:` ‖ counter as 8 bytes
//! big-endian). So the console shows the same code after a reboot, and
//! rotating (after failed attempts) is incrementing the counter. What the
//! wizard checks against is a verifier: an Argon2id PHC string of the 13
//! canonical symbols (`setup-code.hash`), which reveals nothing usable
//! without a 2⁶⁰ search through Argon2id.
//!
//! The check symbol is the serial numbers' ([`vendor_repo::serial`]): the
//! GF(32) weighted sum that catches every single wrong symbol and every
//! swap of two neighbours. A serial has 15 data symbols; the code's 12 are
//! the last 12 of a serial whose first three are `0`, which add nothing to
//! the sum, so [`vendor_repo::Serial`] computes and checks the symbol.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use vendor_repo::serial::{SerialError, ALPHABET, SYMBOLS};
use vendor_repo::Serial;

/// Data symbols in a code.
pub const DATA_SYMBOLS: usize = 12;
/// Leading zero symbols that make a code a serial number.
const PAD: usize = SYMBOLS - 1 - DATA_SYMBOLS;
/// Bytes of the secret.
pub const SECRET_BYTES: usize = 32;
/// What a code looks like, for messages.
pub const EXAMPLE: &str = "7K3M-Q9TD-2XWB-H";

/// A setup code (13 canonical symbols).
#[derive(Clone, PartialEq, Eq)]
pub struct SetupCode {
    symbols: String,
}

impl std::fmt::Debug for SetupCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never in logs: the code is a credential.
        f.write_str("SetupCode(****)")
    }
}

impl std::fmt::Display for SetupCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.symbols;
        write!(f, "{}-{}-{}-{}", &s[..4], &s[4..8], &s[8..12], &s[12..])
    }
}

/// Why typed text is not a setup code. The messages are for the person
/// typing it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// A character outside the alphabet.
    #[error("{found:?} cannot appear in a setup code (digits 0-9 and letters A-Z without I, L, O, U): check the character at position {position}")]
    BadCharacter {
        /// The character.
        found: char,
        /// 1-based position in the typed text.
        position: usize,
    },
    /// Not 13 symbols.
    #[error("a setup code has 13 letters and digits (e.g. {EXAMPLE}); this one has {count}")]
    Length {
        /// Symbols typed.
        count: usize,
    },
    /// The check symbol does not match.
    #[error("this setup code contains a typo: its last symbol does not match the others; compare it with the console")]
    Check,
    /// Valid with Y and Z exchanged: a keyboard layout problem.
    #[error("this setup code contains a typo, but with Y and Z exchanged it would be valid: the keyboard layout may swap Y and Z")]
    YzSwapped,
}

/// Errors making or checking a verifier.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// The random salt could not be read.
    #[error("cannot read random bytes for the setup code's salt: {0}")]
    Random(String),
    /// Argon2 failed or the stored verifier is not a PHC string.
    #[error("setup code verifier: {0}")]
    Argon2(String),
}

fn canonical_value(c: char) -> Option<u8> {
    let c = c.to_ascii_uppercase();
    let c = match c {
        'I' | 'L' => '1',
        'O' => '0',
        other => other,
    };
    ALPHABET
        .iter()
        .position(|&a| a as char == c)
        .map(|p| p as u8)
}

impl SetupCode {
    /// The code for 12 data values (0-31 each; higher bits ignored).
    pub fn from_data(data: &[u8; DATA_SYMBOLS]) -> SetupCode {
        let mut padded = [0u8; SYMBOLS - 1];
        padded[PAD..].copy_from_slice(data);
        let serial = Serial::from_data(&padded).to_string().replace('-', "");
        SetupCode {
            symbols: serial[PAD..].to_string(),
        }
    }

    /// The code for `secret` and rotation `counter` (see the module docs).
    pub fn derive(secret: &[u8; SECRET_BYTES], counter: u64) -> SetupCode {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(b"appliance-setup-code/v1:");
        mac.update(&counter.to_be_bytes());
        let tag = mac.finalize().into_bytes();
        // The first 60 bits, five at a time.
        let mut bits = u64::from_be_bytes([
            tag[0], tag[1], tag[2], tag[3], tag[4], tag[5], tag[6], tag[7],
        ]);
        bits >>= 4;
        let mut data = [0u8; DATA_SYMBOLS];
        for (i, d) in data.iter_mut().enumerate() {
            *d = ((bits >> (5 * (DATA_SYMBOLS - 1 - i))) & 31) as u8;
        }
        SetupCode::from_data(&data)
    }

    /// Reads a typed code: case does not matter, `I`/`L` read as `1`, `O` as
    /// `0`, dashes and spaces are ignored.
    pub fn parse(text: &str) -> Result<SetupCode, CodeError> {
        let mut symbols = String::with_capacity(DATA_SYMBOLS + 1);
        for (i, c) in text.trim().chars().enumerate() {
            if c == '-' || c == ' ' {
                continue;
            }
            let v = canonical_value(c).ok_or(CodeError::BadCharacter {
                found: c,
                position: i + 1,
            })?;
            symbols.push(ALPHABET[v as usize] as char);
        }
        if symbols.len() != DATA_SYMBOLS + 1 {
            return Err(CodeError::Length {
                count: symbols.chars().count(),
            });
        }
        match Serial::parse(&format!("{}{symbols}", "0".repeat(PAD))) {
            Ok(_) => Ok(SetupCode { symbols }),
            Err(SerialError::YzSwapped { .. }) => Err(CodeError::YzSwapped),
            Err(_) => Err(CodeError::Check),
        }
    }

    /// The 13 symbols without dashes (what the verifier hashes).
    pub fn canonical(&self) -> &str {
        &self.symbols
    }

    /// A verifier for this code: Argon2id (the crate's defaults: 19 MiB,
    /// 2 passes) with a random salt, as a PHC string.
    pub fn hash(&self) -> Result<String, HashError> {
        let mut salt = [0u8; 16];
        getrandom::getrandom(&mut salt).map_err(|e| HashError::Random(e.to_string()))?;
        let salt = SaltString::encode_b64(&salt).map_err(|e| HashError::Argon2(e.to_string()))?;
        Argon2::default()
            .hash_password(self.symbols.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| HashError::Argon2(e.to_string()))
    }
}

/// Whether `typed` is the code `verifier` (a PHC string from
/// [`SetupCode::hash`]) was made for. A typed text that is not a code
/// (typo, wrong length) is an error that says so, checked before Argon2.
pub fn verify(verifier: &str, typed: &str) -> Result<bool, VerifyError> {
    let code = SetupCode::parse(typed)?;
    let parsed =
        PasswordHash::new(verifier.trim()).map_err(|e| VerifyError::Verifier(e.to_string()))?;
    Ok(Argon2::default()
        .verify_password(code.canonical().as_bytes(), &parsed)
        .is_ok())
}

/// Why a typed code could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The typed text is not a setup code.
    #[error(transparent)]
    Code(#[from] CodeError),
    /// The stored verifier is damaged.
    #[error("the stored setup code verifier is not an Argon2 PHC string: {0}")]
    Verifier(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: [u8; 32] = [7; 32];

    #[test]
    fn codes_have_the_documented_shape_and_check_symbol() {
        let code = SetupCode::derive(&SECRET, 0);
        let text = code.to_string();
        assert_eq!(text.len(), 16, "{text}");
        let groups: Vec<&str> = text.split('-').collect();
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            [4, 4, 4, 1]
        );
        assert!(text
            .chars()
            .all(|c| c == '-' || ALPHABET.contains(&(c as u8))));
        assert_eq!(SetupCode::parse(&text).unwrap(), code);
        assert_eq!(
            SetupCode::parse(&text.to_lowercase().replace('-', " ")).unwrap(),
            code
        );
        // The check symbol is the serial numbers': 000 + the code is a valid serial.
        assert!(Serial::parse(&format!("000{}", code.canonical())).is_ok());
    }

    #[test]
    fn the_check_symbol_catches_every_substitution_and_neighbour_swap() {
        let code = SetupCode::derive(&SECRET, 3);
        let s: Vec<u8> = code.canonical().bytes().collect();
        for i in 0..s.len() {
            for &a in ALPHABET {
                if a == s[i] {
                    continue;
                }
                let mut t = s.clone();
                t[i] = a;
                let typed = String::from_utf8(t).unwrap();
                assert!(SetupCode::parse(&typed).is_err(), "{typed} accepted");
            }
            if i + 1 < s.len() && s[i] != s[i + 1] {
                let mut t = s.clone();
                t.swap(i, i + 1);
                let typed = String::from_utf8(t).unwrap();
                assert!(SetupCode::parse(&typed).is_err(), "{typed} accepted");
            }
        }
    }

    #[test]
    fn bad_input_gets_a_specific_message() {
        assert_eq!(
            SetupCode::parse("7K3M-Q9TD-2XWB"),
            Err(CodeError::Length { count: 12 })
        );
        assert_eq!(
            SetupCode::parse("7K3M-Q9TD-2XWB-U"),
            Err(CodeError::BadCharacter {
                found: 'U',
                position: 16
            })
        );
        let e = SetupCode::parse("").unwrap_err().to_string();
        assert!(e.contains("13 letters and digits"), "{e}");
    }

    #[test]
    fn derivation_is_stable_and_rotation_changes_the_code() {
        let a = SetupCode::derive(&SECRET, 0);
        assert_eq!(a, SetupCode::derive(&SECRET, 0));
        let b = SetupCode::derive(&SECRET, 1);
        assert_ne!(a, b);
        assert_ne!(a, SetupCode::derive(&[8; 32], 0));
        // Debug never shows the code.
        assert!(!format!("{a:?}").contains(a.canonical()));
    }

    #[test]
    fn the_verifier_accepts_the_code_only() {
        let code = SetupCode::derive(&SECRET, 0);
        let h = code.hash().unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(!h.contains(code.canonical()));
        assert!(verify(&h, &code.to_string()).unwrap());
        assert!(verify(&h, &code.canonical().to_lowercase()).unwrap());
        let other = SetupCode::derive(&SECRET, 1);
        assert!(!verify(&h, &other.to_string()).unwrap());
        assert!(matches!(verify(&h, "nonsense"), Err(VerifyError::Code(_))));
        assert!(matches!(
            verify("not a hash", &code.to_string()),
            Err(VerifyError::Verifier(_))
        ));
        // Two hashes of one code differ (random salt) and both verify.
        let h2 = code.hash().unwrap();
        assert_ne!(h, h2);
        assert!(verify(&h2, &code.to_string()).unwrap());
    }
}
