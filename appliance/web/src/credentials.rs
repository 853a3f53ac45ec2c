//! A web role's credentials file: `{"login": "...", "password_hash":
//! "$argon2id$..."}`, the format activation writes for the Appliance
//! Administrator (`/etc/appliance/credentials/appliance-admin.json`) and the
//! LinOTP Administrator (`otp-admin.json`, read by `appliance-otp`'s
//! session module). The password itself is never stored.

use std::path::{Path, PathBuf};

use argon2::{Argon2, PasswordHash, PasswordVerifier};
use serde::Deserialize;

/// The Appliance Administrator's credentials.
pub const APPLIANCE_ADMIN: &str = "/etc/appliance/credentials/appliance-admin.json";

/// Why a credentials file cannot be used. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a credentials file ({detail}); it holds {{\"login\": …, \"password_hash\": \"$argon2id$…\"}}")]
    Format { path: PathBuf, detail: String },
    #[error("{path}: password_hash: must be an Argon2id PHC string ($argon2id$…)")]
    NotArgon2id { path: PathBuf },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    login: String,
    password_hash: String,
}

/// A login name and its password's Argon2id hash.
#[derive(Clone)]
pub struct Credentials {
    /// The login name.
    pub login: String,
    phc: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("login", &self.login)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Reads a credentials file (at each check: activation rewrites it).
    pub fn read(path: &Path) -> Result<Credentials, CredentialsError> {
        let text = std::fs::read(path).map_err(|source| CredentialsError::Io {
            path: path.to_owned(),
            source,
        })?;
        Credentials::parse(path, &text)
    }

    /// Parses a credentials file's bytes; `path` names it in errors.
    pub fn parse(path: &Path, text: &[u8]) -> Result<Credentials, CredentialsError> {
        let f: File = serde_json::from_slice(text).map_err(|e| CredentialsError::Format {
            path: path.to_owned(),
            detail: e.to_string(),
        })?;
        if !f.password_hash.starts_with("$argon2id$")
            || PasswordHash::new(&f.password_hash).is_err()
        {
            return Err(CredentialsError::NotArgon2id {
                path: path.to_owned(),
            });
        }
        Ok(Credentials {
            login: f.login,
            phc: f.password_hash,
        })
    }

    /// Whether `login` and `password` are these. The hash is checked even
    /// for a wrong login, so both cost the same time. Argon2id is slow on
    /// purpose: call it off the async threads.
    pub fn verify(&self, login: &str, password: &str) -> bool {
        let hash_ok = PasswordHash::new(&self.phc).is_ok_and(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        });
        let login_ok = crate::setup::gate::same_token(login, &self.login);
        hash_ok && login_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, SaltString};

    /// A TEST hash with a fixed salt (tests only).
    fn test_phc(password: &str) -> String {
        let salt = SaltString::encode_b64(b"TEST salt 16 byt").unwrap();
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .unwrap()
            .to_string()
    }

    #[test]
    fn the_file_names_itself_and_needs_argon2id() {
        let p = Path::new("appliance-admin.json");
        let e = Credentials::parse(p, br#"{"login": "admin"}"#).unwrap_err();
        assert!(
            e.to_string().contains("missing field `password_hash`"),
            "{e}"
        );
        assert!(e.to_string().starts_with("appliance-admin.json: "), "{e}");
        let e =
            Credentials::parse(p, br#"{"login": "admin", "password_hash": "$6$x$y"}"#).unwrap_err();
        assert!(
            e.to_string().contains("password_hash: must be an Argon2id"),
            "{e}"
        );
        let e = Credentials::read(Path::new("/nonexistent/appliance-admin.json")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/nonexistent/appliance-admin.json: "),
            "{e}"
        );
    }

    #[test]
    fn verify_checks_login_and_password() {
        let text =
            serde_json::json!({"login": "admin", "password_hash": test_phc("TEST-Passw0rd!")});
        let c = Credentials::parse(Path::new("a.json"), text.to_string().as_bytes()).unwrap();
        assert!(c.verify("admin", "TEST-Passw0rd!"));
        assert!(!c.verify("admin", "TEST-Passw0rd"));
        assert!(!c.verify("root", "TEST-Passw0rd!"));
        assert!(!format!("{c:?}").contains("argon2"));
    }
}
