//! Secrets at rest: the 96-byte database key, sealed seeds, PIN hashes and
//! the key-check value.
//!
//! The key file has LinOTP's layout: three 32-byte slots, slot 0 for token
//! seeds, slot 1 for configuration values, slot 2 for other values. LinOTP
//! encrypts with AES-256-CBC and no MAC, so a wrong key shows only as
//! padding errors or garbage. Here seeds are sealed with XChaCha20-Poly1305
//! under slot 0 (random 24-byte nonce, the token's serial as associated
//! data, so a sealed seed copied onto another token does not open), and a
//! key-check value derived from slot 2 is stored with the data: a key and a
//! database that do not belong together are refused before any seed is
//! touched.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

/// Length of the key file: three slots of 32 bytes.
pub const KEY_FILE_LEN: usize = 96;
/// Slot of the token seeds.
pub const TOKEN_SLOT: usize = 0;
/// Slot of configuration values (kept for LinOTP's layout; unused here).
pub const CONFIG_SLOT: usize = 1;
/// Slot the key-check value is derived from.
pub const VALUE_SLOT: usize = 2;

const KEY_CHECK_LABEL: &[u8] = b"appliance-otp key check v1";

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("database key file: expected {KEY_FILE_LEN} bytes, found {0}")]
    KeyLength(usize),
    #[error(
        "sealed seed of token {serial} does not open with this key (wrong key, or data altered)"
    )]
    SeedOpen { serial: String },
    #[error("sealed seed: nonce must be 24 bytes, found {0}")]
    NonceLength(usize),
    #[error("PIN hash: {0}")]
    PinHash(String),
}

/// The database encryption key (96 bytes, three slots). Zeroed on drop;
/// its `Debug` shows nothing of it.
pub struct DbKey(Zeroizing<[u8; KEY_FILE_LEN]>);

impl std::fmt::Debug for DbKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DbKey(..)")
    }
}

impl DbKey {
    /// Reads the key from the key file's bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<DbKey, CryptoError> {
        let array: [u8; KEY_FILE_LEN] = bytes
            .try_into()
            .map_err(|_| CryptoError::KeyLength(bytes.len()))?;
        Ok(DbKey(Zeroizing::new(array)))
    }

    /// A new random key (what `linotp init enc-key` writes).
    pub fn generate() -> DbKey {
        let mut bytes = [0u8; KEY_FILE_LEN];
        for chunk in bytes.chunks_mut(32) {
            chunk.copy_from_slice(&XChaCha20Poly1305::generate_key(&mut OsRng));
        }
        let key = DbKey(Zeroizing::new(bytes));
        bytes.zeroize();
        key
    }

    /// The bytes to write to the key file (mode 0400).
    pub fn as_bytes(&self) -> &[u8; KEY_FILE_LEN] {
        &self.0
    }

    fn slot(&self, slot: usize) -> &[u8] {
        &self.0[slot * 32..(slot + 1) * 32]
    }

    /// The key-check value stored with the data: HMAC-SHA256 of a fixed
    /// label under slot 2, hex. It reveals nothing about slot 0.
    pub fn key_check(&self) -> String {
        let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(self.slot(VALUE_SLOT))
            .expect("HMAC takes any key length");
        mac.update(KEY_CHECK_LABEL);
        hex::encode(mac.finalize().into_bytes())
    }

    fn seed_cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new_from_slice(self.slot(TOKEN_SLOT)).expect("slot is 32 bytes")
    }

    /// Seals a token seed under slot 0, bound to the token's serial.
    pub fn seal_seed(&self, serial: &str, seed: &[u8]) -> SealedSeed {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = self
            .seed_cipher()
            .encrypt(
                &nonce,
                Payload {
                    msg: seed,
                    aad: serial.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 encrypts any seed length");
        SealedSeed {
            nonce: nonce.to_vec(),
            ciphertext,
        }
    }

    /// Opens a sealed seed; fails when the key or the serial do not match.
    pub fn open_seed(
        &self,
        serial: &str,
        sealed: &SealedSeed,
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if sealed.nonce.len() != 24 {
            return Err(CryptoError::NonceLength(sealed.nonce.len()));
        }
        let nonce = XNonce::from_slice(&sealed.nonce);
        self.seed_cipher()
            .decrypt(
                nonce,
                Payload {
                    msg: &sealed.ciphertext,
                    aad: serial.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::SeedOpen {
                serial: serial.to_string(),
            })
    }
}

/// A seed encrypted at rest: nonce and ciphertext with its tag.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedSeed {
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for SealedSeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealedSeed({} bytes)", self.ciphertext.len())
    }
}

/// Hashes a PIN with Argon2id (default parameters, random salt) into a PHC
/// string. LinOTP stores one plain SHA-256 over PIN and salt; a fast hash
/// makes a stolen database's PINs cheap to guess.
pub fn hash_pin(pin: &str) -> Result<String, CryptoError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(pin.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| CryptoError::PinHash(e.to_string()))
}

/// Whether `pin` matches a PHC string made by [`hash_pin`]. A malformed
/// stored hash is an error, not a mismatch.
pub fn verify_pin(pin: &str, phc: &str) -> Result<bool, CryptoError> {
    let parsed = PasswordHash::new(phc).map_err(|e| CryptoError::PinHash(e.to_string()))?;
    match Argon2::default().verify_password(pin.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::Password) => Ok(false),
        Err(e) => Err(CryptoError::PinHash(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_key(fill: u8) -> DbKey {
        // TEST key: fixed bytes, never used outside tests.
        let mut bytes = [0u8; KEY_FILE_LEN];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = fill ^ (i as u8);
        }
        DbKey::from_bytes(&bytes).unwrap()
    }

    #[test]
    fn key_file_must_be_96_bytes() {
        let err = DbKey::from_bytes(&[0u8; 64]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "database key file: expected 96 bytes, found 64"
        );
        assert!(DbKey::from_bytes(&[0u8; 96]).is_ok());
    }

    #[test]
    fn sealed_seed_opens_only_with_its_key_and_serial() {
        let key = test_key(1);
        let sealed = key.seal_seed("HOTP0001", b"12345678901234567890");
        assert_ne!(sealed.ciphertext[..20], b"12345678901234567890"[..]);
        assert_eq!(
            &key.open_seed("HOTP0001", &sealed).unwrap()[..],
            b"12345678901234567890"
        );
        let other = test_key(2);
        assert!(matches!(
            other.open_seed("HOTP0001", &sealed),
            Err(CryptoError::SeedOpen { .. })
        ));
        assert!(matches!(
            key.open_seed("HOTP0002", &sealed),
            Err(CryptoError::SeedOpen { .. })
        ));
        let mut flipped = sealed.clone();
        flipped.ciphertext[0] ^= 1;
        assert!(matches!(
            key.open_seed("HOTP0001", &flipped),
            Err(CryptoError::SeedOpen { .. })
        ));
    }

    #[test]
    fn key_check_depends_on_slot_two_only() {
        let a = test_key(1);
        let mut bytes = *a.as_bytes();
        assert_eq!(
            a.key_check(),
            DbKey::from_bytes(&bytes).unwrap().key_check()
        );
        bytes[0] ^= 0xff; // slot 0
        assert_eq!(
            a.key_check(),
            DbKey::from_bytes(&bytes).unwrap().key_check()
        );
        bytes[64] ^= 0xff; // slot 2
        assert_ne!(
            a.key_check(),
            DbKey::from_bytes(&bytes).unwrap().key_check()
        );
        assert_eq!(a.key_check().len(), 64);
    }

    #[test]
    fn generated_keys_differ_and_debug_hides_them() {
        let a = DbKey::generate();
        let b = DbKey::generate();
        assert_ne!(a.as_bytes(), b.as_bytes());
        assert_eq!(format!("{a:?}"), "DbKey(..)");
    }

    #[test]
    fn pins_are_argon2id_hashes() {
        let phc = hash_pin("1234").unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(verify_pin("1234", &phc).unwrap());
        assert!(!verify_pin("1235", &phc).unwrap());
        assert!(verify_pin("1234", "not a hash").is_err());
    }
}
