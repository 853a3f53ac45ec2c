//! The secrets activation makes from the typed passwords: root's crypt(3)
//! hash (SHA-512, `$6$`, which pam_unix accepts) and its line in
//! `/etc/shadow`, the web roles' Argon2id PHC strings in the credentials
//! file format `appliance-otp`'s session reads, and group names from
//! `/etc/group`. Salts come from the kernel (getrandom).

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::Argon2;

/// SHA-512 crypt rounds for root's password (glibc's default is 5000; more
/// makes a stolen hash slower to guess and costs well under a second per
/// login).
pub const ROOT_CRYPT_ROUNDS: usize = 50_000;

/// The crypt(3) salt alphabet.
const CRYPT_ALPHABET: &[u8; 64] =
    b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Making a secret failed.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The kernel's random number generator failed.
    #[error("cannot read random bytes from the kernel: {0}")]
    Random(String),
    /// Hashing failed.
    #[error("{what}: {message}")]
    Hash {
        /// Which hash.
        what: &'static str,
        /// The cause.
        message: String,
    },
    /// `/etc/shadow` has no line for the user.
    #[error("/etc/shadow has no line for {0:?}; the image's passwd package makes it")]
    NoShadowLine(String),
}

/// `$6$rounds=N$<16 salt characters>$<hash>` for `password`.
pub fn root_crypt(password: &str) -> Result<String, SecretError> {
    let mut raw = [0u8; 16];
    getrandom::getrandom(&mut raw).map_err(|e| SecretError::Random(e.to_string()))?;
    let salt: String = raw
        .iter()
        .map(|b| CRYPT_ALPHABET[usize::from(b & 63)] as char)
        .collect();
    let params =
        sha_crypt::Sha512Params::new(ROOT_CRYPT_ROUNDS).map_err(|e| SecretError::Hash {
            what: "root's password",
            message: format!("{e:?}"),
        })?;
    let hash = sha_crypt::sha512_crypt_b64(password.as_bytes(), salt.as_bytes(), &params).map_err(
        |e| SecretError::Hash {
            what: "root's password",
            message: format!("{e:?}"),
        },
    )?;
    Ok(format!("$6$rounds={ROOT_CRYPT_ROUNDS}${salt}${hash}"))
}

/// An Argon2id PHC string (the argon2 crate's defaults) for `password`.
pub fn argon2id(password: &str) -> Result<String, SecretError> {
    let mut raw = [0u8; 16];
    getrandom::getrandom(&mut raw).map_err(|e| SecretError::Random(e.to_string()))?;
    let salt = SaltString::encode_b64(&raw).map_err(|e| SecretError::Hash {
        what: "salt",
        message: e.to_string(),
    })?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| SecretError::Hash {
            what: "web password",
            message: e.to_string(),
        })
}

/// The credentials file: `{"login": …, "password_hash": "$argon2id$…"}`.
pub fn credentials_json(login: &str, phc: &str) -> String {
    let mut s = serde_json::json!({"login": login, "password_hash": phc}).to_string();
    s.push('\n');
    s
}

/// `shadow` (the text of `/etc/shadow`) with `user`'s password field set to
/// `hash` and, when given, its last-change field (days since 1970) to
/// `day`; every other line and field unchanged. Also returns the old
/// password and last-change fields, which undo the change.
pub fn set_shadow_password(
    shadow: &str,
    user: &str,
    hash: &str,
    day: Option<&str>,
) -> Result<(String, String, String), SecretError> {
    let mut old = None;
    let mut out = String::with_capacity(shadow.len() + hash.len());
    for line in shadow.split_inclusive('\n') {
        let body = line.strip_suffix('\n').unwrap_or(line);
        let mut fields: Vec<&str> = body.split(':').collect();
        if fields.first() == Some(&user) && fields.len() >= 3 && old.is_none() {
            old = Some((fields[1].to_string(), fields[2].to_string()));
            fields[1] = hash;
            if let Some(d) = day {
                fields[2] = d;
            }
            out.push_str(&fields.join(":"));
            if line.ends_with('\n') {
                out.push('\n');
            }
        } else {
            out.push_str(line);
        }
    }
    match old {
        Some((pw, d)) => Ok((out, pw, d)),
        None => Err(SecretError::NoShadowLine(user.to_string())),
    }
}

/// The numeric id of `group` in the text of `/etc/group`.
pub fn group_id(group_file: &str, group: &str) -> Option<u32> {
    group_file.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next() == Some(group))
            .then(|| f.nth(1).and_then(|g| g.parse().ok()))
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_hash_is_sha512_crypt_and_verifies() {
        let h = root_crypt("Correct-Horse-9").unwrap();
        assert!(h.starts_with("$6$rounds=50000$"), "{h}");
        // Recompute from the stored salt: the same password gives the same hash.
        let parts: Vec<&str> = h.split('$').collect();
        assert_eq!(parts.len(), 5, "{h}");
        let params = sha_crypt::Sha512Params::new(ROOT_CRYPT_ROUNDS).unwrap();
        let again =
            sha_crypt::sha512_crypt_b64(b"Correct-Horse-9", parts[3].as_bytes(), &params).unwrap();
        assert_eq!(parts[4], again);
        assert_ne!(h, root_crypt("Correct-Horse-9").unwrap(), "salted");
    }

    #[test]
    fn shadow_changes_only_roots_password_and_day() {
        let shadow = "root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n";
        let (new, old, day) = set_shadow_password(shadow, "root", "$6$x$y", Some("20000")).unwrap();
        assert_eq!(
            new,
            "root:$6$x$y:20000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n"
        );
        assert_eq!((old.as_str(), day.as_str()), ("*", "19000"));
        let (back, ..) = set_shadow_password(&new, "root", &old, None).unwrap();
        assert_eq!(
            back,
            "root:*:20000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n"
        );
        let (back, ..) = set_shadow_password(&new, "root", &old, Some(&day)).unwrap();
        assert_eq!(back, shadow);
        let e = set_shadow_password("daemon:*:1::::::\n", "root", "h", None).unwrap_err();
        assert!(e.to_string().contains("no line for \"root\""), "{e}");
    }

    #[test]
    fn credentials_and_groups() {
        let phc = argon2id("Another-Pass-7").unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        let v: serde_json::Value = serde_json::from_str(&credentials_json("admin", &phc)).unwrap();
        assert_eq!(v["login"], "admin");
        assert_eq!(v["password_hash"], phc.as_str());
        let groups = "root:x:0:\nappliance-web:x:998:\nfreerad:x:117:\n";
        assert_eq!(group_id(groups, "appliance-web"), Some(998));
        assert_eq!(group_id(groups, "freerad"), Some(117));
        assert_eq!(group_id(groups, "nobody"), None);
    }
}
