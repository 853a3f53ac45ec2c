//! Serial numbers: 16 symbols of Crockford's base32 in four groups of four,
//! e.g. `7K3M-Q9TD-2XWB-HV5B`. The last symbol is a check symbol, so typos are
//! caught offline, before the backend is asked.
//!
//! Reading follows Crockford: case does not matter, `I` and `L` read as `1`,
//! `O` as `0`, hyphens and spaces are ignored. `U` is not in the alphabet.
//!
//! The check symbol is `Σ vᵢ·αⁱ⁺¹` over GF(32) (α a root of the primitive
//! polynomial x⁵+x²+1), for the 15 data symbols vᵢ. The weights αⁱ⁺¹ are
//! distinct and non-zero, so every single wrong symbol and every swap of two
//! different symbols changes the check symbol. (Crockford's own mod-37 check
//! needs the symbols `* ~ $ = U`, which are awkward on many keyboard layouts.)
//! Hand-written because it is 20 lines and no crate implements this scheme.

use sha2::{Digest, Sha256};
use std::fmt;

/// The encoding alphabet (Crockford base32).
pub const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Symbols in a serial number, including the check symbol.
pub const SYMBOLS: usize = 16;
/// What the format looks like, for messages.
pub const EXAMPLE: &str = "7K3M-Q9TD-2XWB-HV5B";

/// A serial number whose check symbol is right (not yet known to the backend).
/// It is confidential: `Debug` shows only [`Serial::masked`]; `Display`
/// gives the whole number for the places that need it (the registry tools,
/// the handover record).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Serial {
    /// The 16 canonical symbols, no hyphens.
    symbols: String,
}

impl fmt::Debug for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Serial({})", self.masked())
    }
}

/// Why typed text is not a serial number. The messages are shown to the
/// person typing; each says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SerialError {
    /// Nothing was typed.
    #[error("no serial number entered: type the 16 letters and digits from your license, e.g. {EXAMPLE}")]
    Empty,
    /// A character outside the alphabet.
    #[error("{found:?} cannot appear in a serial number (it uses the digits 0-9 and the letters A-Z without I, L, O, U): check the character at position {position}")]
    BadCharacter {
        /// The character.
        found: char,
        /// 1-based position in the typed text.
        position: usize,
    },
    /// Too few or too many symbols.
    #[error("a serial number has 16 letters and digits (4 groups of 4, e.g. {EXAMPLE}); this one has {count}")]
    Length {
        /// Symbols typed.
        count: usize,
    },
    /// The check symbol does not match: a typo.
    #[error("this serial number contains a typo: its last symbol does not match the others; compare it with your license character by character")]
    Check,
    /// The check symbol matches once Y and Z are swapped: the keyboard
    /// layout. The message names the positions, never the valid number (it
    /// is a secret, and messages reach logs and events).
    #[error("this serial number contains a typo, but it is valid with the Y and Z at {} swapped: the keyboard layout may be wrong (German and other layouts swap Y and Z); choose the layout with K", positions_text(.positions))]
    YzSwapped {
        /// 1-based positions in the typed text of every Y and Z.
        positions: Vec<usize>,
    },
}

/// `position 3`, `positions 3 and 7`, `positions 3, 7 and 12`.
fn positions_text(positions: &[usize]) -> String {
    let list: Vec<String> = positions.iter().map(ToString::to_string).collect();
    match list.as_slice() {
        [] => "no position".into(),
        [one] => format!("position {one}"),
        [init @ .., last] => format!("positions {} and {last}", init.join(", ")),
    }
}

fn value(c: u8) -> Option<u8> {
    let c = c.to_ascii_uppercase();
    let c = match c {
        b'I' | b'L' => b'1',
        b'O' => b'0',
        other => other,
    };
    ALPHABET.iter().position(|&a| a == c).map(|p| p as u8)
}

/// Multiplication in GF(32) with the reduction polynomial x⁵+x²+1.
fn gf_mul(mut a: u8, mut b: u8) -> u8 {
    let mut r = 0;
    while b != 0 {
        if b & 1 != 0 {
            r ^= a;
        }
        b >>= 1;
        a <<= 1;
        if a & 0x20 != 0 {
            a ^= 0b10_0101;
        }
    }
    r
}

/// The check symbol's value for 15 data values.
fn check_value(data: &[u8]) -> u8 {
    let mut weight = 1u8;
    let mut sum = 0u8;
    for &v in data {
        weight = gf_mul(weight, 2); // α = x
        sum ^= gf_mul(v, weight);
    }
    sum
}

fn render(values: &[u8]) -> String {
    values
        .iter()
        .map(|&v| ALPHABET[v as usize] as char)
        .collect()
}

impl Serial {
    /// Reads a typed serial number (see the module docs for what is accepted).
    pub fn parse(text: &str) -> Result<Serial, SerialError> {
        let mut values = Vec::with_capacity(SYMBOLS);
        // The 1-based position in the typed text of each symbol.
        let mut at = Vec::with_capacity(SYMBOLS);
        for (i, c) in text.trim().chars().enumerate() {
            if c == '-' || c == ' ' {
                continue;
            }
            let v = u8::try_from(c)
                .ok()
                .and_then(value)
                .ok_or(SerialError::BadCharacter {
                    found: c,
                    position: i + 1,
                })?;
            values.push(v);
            at.push(i + 1);
        }
        if values.is_empty() {
            return Err(SerialError::Empty);
        }
        if values.len() != SYMBOLS {
            return Err(SerialError::Length {
                count: values.len(),
            });
        }
        if check_value(&values[..SYMBOLS - 1]) == values[SYMBOLS - 1] {
            return Ok(Serial {
                symbols: render(&values),
            });
        }
        let y = value(b'Y').unwrap_or_default();
        let z = value(b'Z').unwrap_or_default();
        if values.iter().any(|&v| v == y || v == z) {
            let swapped: Vec<u8> = values
                .iter()
                .map(|&v| match v {
                    v if v == y => z,
                    v if v == z => y,
                    v => v,
                })
                .collect();
            if check_value(&swapped[..SYMBOLS - 1]) == swapped[SYMBOLS - 1] {
                let positions = values
                    .iter()
                    .zip(&at)
                    .filter(|(v, _)| **v == y || **v == z)
                    .map(|(_, p)| *p)
                    .collect();
                return Err(SerialError::YzSwapped { positions });
            }
        }
        Err(SerialError::Check)
    }

    /// Makes the serial number whose 15 data symbols are `data` (values 0-31).
    /// Used by `xtask repo add-serial`.
    pub fn from_data(data: &[u8; SYMBOLS - 1]) -> Serial {
        let mut values: Vec<u8> = data.iter().map(|v| v & 31).collect();
        values.push(check_value(&values));
        Serial {
            symbols: render(&values),
        }
    }

    /// A new random serial number.
    pub fn random() -> Result<Serial, getrandom::Error> {
        let mut data = [0u8; SYMBOLS - 1];
        getrandom::getrandom(&mut data)?;
        Ok(Serial::from_data(&data))
    }

    /// The name of the serial's record in the registry: the hex SHA-256 of
    /// `appliance-serial/v1:` and the 16 canonical symbols. The serial itself
    /// is never published.
    pub fn registry_id(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"appliance-serial/v1:");
        h.update(self.symbols.as_bytes());
        hex::encode(h.finalize())
    }

    /// Only the last group, for logs and screens that should not show all of it.
    pub fn masked(&self) -> String {
        format!("XXXX-XXXX-XXXX-{}", &self.symbols[12..])
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.symbols;
        write!(f, "{}-{}-{}-{}", &s[..4], &s[4..8], &s[8..12], &s[12..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Serial {
        Serial::from_data(&[7, 19, 3, 20, 23, 9, 25, 13, 2, 29, 28, 11, 17, 27, 5])
    }

    #[test]
    fn example_in_docs_is_valid() {
        let s = Serial::parse(EXAMPLE).unwrap();
        assert_eq!(s.to_string(), EXAMPLE);
    }

    #[test]
    fn round_trip_and_lenient_reading() {
        let s = sample();
        let text = s.to_string();
        assert_eq!(Serial::parse(&text).unwrap(), s);
        let sloppy = format!(" {} ", text.to_lowercase().replace('-', " "));
        assert_eq!(Serial::parse(&sloppy).unwrap(), s);
        let no_hyphens = text.replace('-', "");
        assert_eq!(Serial::parse(&no_hyphens).unwrap(), s);
    }

    #[test]
    fn crockford_aliases_read_as_digits() {
        // Find a serial containing a 1 and a 0 and type them as l and O.
        let s = Serial::from_data(&[1, 0, 1, 0, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
        let typed = s.to_string().replacen('1', "l", 1).replacen('0', "O", 1);
        assert_eq!(Serial::parse(&typed).unwrap(), s);
    }

    #[test]
    fn every_single_substitution_is_caught() {
        let s = sample().symbols;
        for i in 0..SYMBOLS {
            for &c in ALPHABET.iter() {
                if s.as_bytes()[i] == c {
                    continue;
                }
                let mut b = s.clone().into_bytes();
                b[i] = c;
                let typed = String::from_utf8(b).unwrap();
                assert!(Serial::parse(&typed).is_err(), "{typed} accepted");
            }
        }
    }

    #[test]
    fn every_transposition_is_caught() {
        let s = sample().symbols.into_bytes();
        for i in 0..SYMBOLS {
            for j in i + 1..SYMBOLS {
                if s[i] == s[j] {
                    continue;
                }
                let mut b = s.clone();
                b.swap(i, j);
                let typed = String::from_utf8(b).unwrap();
                assert!(Serial::parse(&typed).is_err(), "{typed} accepted");
            }
        }
    }

    #[test]
    fn y_z_swap_gets_its_own_hint() {
        // A serial with a Y (value 30) and a Z (31) in its data.
        let s = Serial::from_data(&[30, 1, 2, 31, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
        let typed: String = s
            .to_string()
            .chars()
            .map(|c| match c {
                'Y' => 'Z',
                'Z' => 'Y',
                c => c,
            })
            .collect();
        assert_eq!(&typed[..6], "Z12Y-4");
        let e = Serial::parse(&typed).unwrap_err();
        assert_eq!(
            e,
            SerialError::YzSwapped {
                positions: vec![1, 4]
            }
        );
        // The message names the positions, not the valid number.
        let msg = e.to_string();
        assert!(
            msg.contains("the Y and Z at positions 1 and 4 swapped"),
            "{msg}"
        );
        assert!(!msg.contains(&s.to_string()[5..]), "{msg}");
        assert!(!msg.contains(&typed[5..]), "{msg}");
    }

    #[test]
    fn positions_in_words() {
        assert_eq!(positions_text(&[3]), "position 3");
        assert_eq!(positions_text(&[3, 7]), "positions 3 and 7");
        assert_eq!(positions_text(&[3, 7, 12]), "positions 3, 7 and 12");
    }

    #[test]
    fn debug_shows_only_the_last_group() {
        let s = Serial::parse(EXAMPLE).unwrap();
        assert_eq!(format!("{s:?}"), "Serial(XXXX-XXXX-XXXX-HV5B)");
        assert_eq!(
            format!("{:?}", Some(&s)),
            "Some(Serial(XXXX-XXXX-XXXX-HV5B))"
        );
    }

    #[test]
    fn specific_errors() {
        assert_eq!(Serial::parse("  "), Err(SerialError::Empty));
        assert_eq!(
            Serial::parse("7K3M-Q9TD-2XWB"),
            Err(SerialError::Length { count: 12 })
        );
        assert_eq!(
            Serial::parse("7K3M-Q9UD-2XWB-HV5B"),
            Err(SerialError::BadCharacter {
                found: 'U',
                position: 8
            })
        );
        assert_eq!(
            Serial::parse("7K3M-Q9TD-2XWB-ÄV5B"),
            Err(SerialError::BadCharacter {
                found: 'Ä',
                position: 16
            })
        );
        let msg = SerialError::Length { count: 3 }.to_string();
        assert!(msg.contains("16") && msg.contains(EXAMPLE), "{msg}");
    }

    #[test]
    fn registry_id_is_stable_and_hides_the_serial() {
        let s = Serial::parse(EXAMPLE).unwrap();
        let id = s.registry_id();
        assert_eq!(id.len(), 64);
        assert_eq!(
            id,
            Serial::parse(&EXAMPLE.to_lowercase())
                .unwrap()
                .registry_id()
        );
        assert!(!id.contains("7K3M"));
        assert_eq!(s.masked(), "XXXX-XXXX-XXXX-HV5B");
    }

    #[test]
    fn gf32_is_a_field_for_our_purposes() {
        // α = 2 generates all 31 non-zero elements (primitive polynomial).
        let mut seen = std::collections::BTreeSet::new();
        let mut x = 1u8;
        for _ in 0..31 {
            x = gf_mul(x, 2);
            seen.insert(x);
        }
        assert_eq!(seen.len(), 31);
        assert!(!seen.contains(&0));
    }
}
