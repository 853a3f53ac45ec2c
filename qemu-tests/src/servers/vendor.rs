//! The test vendor's serial numbers. `cargo xtask repo test-vendor`
//! publishes records for them into the test repository (signed with the
//! test key made at test time); the scenarios type them. They are test data:
//! valid only against a repository signed by that test key.

use vendor_repo::Serial;

/// The model and channel the test ISO installs.
pub const MODEL: &str = "example-appliance";
/// See [`MODEL`].
pub const CHANNEL: &str = "stable";
/// A model the test ISO is not for.
pub const OTHER_MODEL: &str = "other-appliance";

/// Entitles [`MODEL`]: verification succeeds.
pub fn entitled() -> Serial {
    Serial::from_data(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15])
}

/// Entitles [`OTHER_MODEL`] only: "Backend has no support for this Appliance".
pub fn other_model() -> Serial {
    Serial::from_data(&[16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30])
}

/// Entitled [`MODEL`] until 2020-01-01: the entitlement ended.
pub fn ended() -> Serial {
    Serial::from_data(&[9, 9, 9, 9, 8, 8, 8, 8, 7, 7, 7, 7, 6, 6, 6])
}

/// Entitles [`MODEL`] and has a Y and a Z: a keyboard layout that swaps
/// them types another number (the secrets scenario).
pub fn entitled_yz() -> Serial {
    Serial::from_data(&[30, 2, 4, 31, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26])
}

/// Valid format, no record in the registry.
pub fn unknown() -> Serial {
    Serial::from_data(&[31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17])
}

/// [`entitled`] with one symbol mistyped: the offline check refuses it.
pub fn mistyped() -> String {
    let s = entitled().to_string();
    let mut b = s.into_bytes();
    b[5] = if b[5] == b'A' { b'B' } else { b'A' };
    String::from_utf8(b).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_serials_are_distinct_and_the_typo_is_caught() {
        let all = [entitled(), other_model(), ended(), unknown(), entitled_yz()];
        for (i, a) in all.iter().enumerate() {
            assert_eq!(Serial::parse(&a.to_string()).as_ref(), Ok(a));
            for b in &all[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert!(Serial::parse(&mistyped()).is_err());
    }
}
