//! HOTP (RFC 4226) and TOTP (RFC 6238): the one-time password functions.
//!
//! Pure functions of seed, moving factor and digit count. Comparison of a
//! presented value with a computed one goes through [`otp_matches`], which
//! takes the same time whatever the digits.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

/// The HMAC hash of a token (LinOTP's `hashlib` token info).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

impl Algorithm {
    /// The name used in the database and in `otpauth://` URIs.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
            Algorithm::Sha512 => "SHA512",
        }
    }

    /// Parses [`Algorithm::name`] (case-insensitive).
    pub fn parse(name: &str) -> Option<Algorithm> {
        match name.to_ascii_uppercase().as_str() {
            "SHA1" => Some(Algorithm::Sha1),
            "SHA256" => Some(Algorithm::Sha256),
            "SHA512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }
}

/// Digits an OTP may have (RFC 4226 requires at least 6; 8 is the largest
/// value the truncated 31-bit number fills).
pub const DIGITS: std::ops::RangeInclusive<u8> = 6..=8;

fn hmac_digest(algorithm: Algorithm, seed: &[u8], message: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    match algorithm {
        Algorithm::Sha1 => {
            let mut mac =
                Hmac::<sha1::Sha1>::new_from_slice(seed).expect("HMAC takes any key length");
            mac.update(message);
            mac.finalize().into_bytes().to_vec()
        }
        Algorithm::Sha256 => {
            let mut mac =
                Hmac::<sha2::Sha256>::new_from_slice(seed).expect("HMAC takes any key length");
            mac.update(message);
            mac.finalize().into_bytes().to_vec()
        }
        Algorithm::Sha512 => {
            let mut mac =
                Hmac::<sha2::Sha512>::new_from_slice(seed).expect("HMAC takes any key length");
            mac.update(message);
            mac.finalize().into_bytes().to_vec()
        }
    }
}

/// The HOTP value for `counter`, zero-padded to `digits` (RFC 4226 §5.3:
/// dynamic truncation of the HMAC over the 8-byte big-endian counter).
pub fn hotp(algorithm: Algorithm, seed: &[u8], counter: u64, digits: u8) -> String {
    let digest = hmac_digest(algorithm, seed, &counter.to_be_bytes());
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    let modulus = 10u32.pow(u32::from(digits));
    format!("{:0width$}", binary % modulus, width = usize::from(digits))
}

/// The TOTP time step of `unix_seconds` (RFC 6238 §4.2, T0 = 0).
pub fn time_step(unix_seconds: u64, step_seconds: u64) -> u64 {
    unix_seconds / step_seconds
}

/// The TOTP value at `unix_seconds` with steps of `step_seconds`.
pub fn totp(
    algorithm: Algorithm,
    seed: &[u8],
    unix_seconds: u64,
    step_seconds: u64,
    digits: u8,
) -> String {
    hotp(
        algorithm,
        seed,
        time_step(unix_seconds, step_seconds),
        digits,
    )
}

/// Whether a presented OTP equals the expected one, in constant time for
/// values of equal length.
pub fn otp_matches(presented: &str, expected: &str) -> bool {
    presented.len() == expected.len() && bool::from(presented.as_bytes().ct_eq(expected.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC4226_SEED: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc4226_appendix_d_vectors() {
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (counter, want) in expected.iter().enumerate() {
            assert_eq!(
                hotp(Algorithm::Sha1, RFC4226_SEED, counter as u64, 6),
                *want,
                "counter {counter}"
            );
        }
    }

    #[test]
    fn rfc6238_appendix_b_vectors() {
        let sha1 = b"12345678901234567890".as_slice();
        let sha256 = b"12345678901234567890123456789012".as_slice();
        let sha512 = b"1234567890123456789012345678901234567890123456789012345678901234".as_slice();
        let table: [(u64, &str, &str, &str); 6] = [
            (59, "94287082", "46119246", "90693936"),
            (1111111109, "07081804", "68084774", "25091201"),
            (1111111111, "14050471", "67062674", "99943326"),
            (1234567890, "89005924", "91819424", "93441116"),
            (2000000000, "69279037", "90698825", "38618901"),
            (20000000000, "65353130", "77737706", "47863826"),
        ];
        for (time, want1, want256, want512) in table {
            assert_eq!(
                totp(Algorithm::Sha1, sha1, time, 30, 8),
                want1,
                "SHA1 at {time}"
            );
            assert_eq!(
                totp(Algorithm::Sha256, sha256, time, 30, 8),
                want256,
                "SHA256 at {time}"
            );
            assert_eq!(
                totp(Algorithm::Sha512, sha512, time, 30, 8),
                want512,
                "SHA512 at {time}"
            );
        }
    }

    #[test]
    fn algorithm_names_round_trip_and_unknown_names_are_refused() {
        for algorithm in [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512] {
            assert_eq!(Algorithm::parse(algorithm.name()), Some(algorithm));
        }
        assert_eq!(Algorithm::parse("sha256"), Some(Algorithm::Sha256));
        assert_eq!(Algorithm::parse("MD5"), None);
    }

    #[test]
    fn otp_comparison_needs_equal_length_and_digits() {
        assert!(otp_matches("755224", "755224"));
        assert!(!otp_matches("755225", "755224"));
        assert!(!otp_matches("0755224", "755224"));
        assert!(!otp_matches("", "755224"));
    }
}
