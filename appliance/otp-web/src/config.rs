//! The `appliance-otp` program's configuration file (JSON): where the
//! database, the key, the administrator's credentials, the audit log and
//! the users are. Errors name the file and the JSON path.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use appliance_otp::directory::Realm;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the program listens (plain HTTP: keep it on loopback; the
    /// appliance's HTTPS server mounts the same routes).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The issuer shown in authenticator apps.
    #[serde(default = "default_issuer")]
    pub issuer: String,
    pub database: Database,
    /// The 96-byte database encryption key (mode 0400).
    pub key_file: PathBuf,
    /// `{"login": …, "password_hash": "$argon2id$…"}` (mode 0600).
    pub admin_file: PathBuf,
    /// The audit log, JSON lines (created 0600).
    pub audit_file: PathBuf,
    pub resolvers: BTreeMap<String, ResolverConfig>,
    pub realms: Vec<Realm>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Database {
    pub socket: PathBuf,
    pub database: String,
    pub user: String,
    /// A file holding the database user's password (mode 0600).
    pub password_file: PathBuf,
    /// Connections in the pool.
    #[serde(default = "default_pool")]
    pub pool: u32,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum ResolverConfig {
    /// A passwd-like file on the data partition.
    Flatfile { file: PathBuf },
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5000))
}

fn default_issuer() -> String {
    "OTP appliance".to_string()
}

fn default_pool() -> u32 {
    16
}

#[derive(Debug, thiserror::Error)]
#[error("{file}: {path}: {reason}")]
pub struct ConfigError {
    pub file: String,
    pub path: String,
    pub reason: String,
}

impl Config {
    pub fn parse(file: &str, text: &str) -> Result<Config, ConfigError> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let config: Config = serde_path_to_error::deserialize(de).map_err(|e| ConfigError {
            file: file.to_string(),
            path: e.path().to_string(),
            reason: e.inner().to_string(),
        })?;
        if config.database.pool == 0 {
            return Err(ConfigError {
                file: file.to_string(),
                path: "database.pool".into(),
                reason: "must be at least 1".into(),
            });
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{
      "database": {"socket": "/run/mysqld/mysqld.sock", "database": "otp", "user": "otp", "password_file": "/etc/appliance/otp/db-password"},
      "key_file": "/etc/appliance/otp/encKey",
      "admin_file": "/etc/appliance/otp/admin.json",
      "audit_file": "/var/lib/appliance-otp/audit.jsonl",
      "resolvers": {"local": {"type": "flatfile", "file": "/data/otp/users"}},
      "realms": [{"name": "staff", "resolvers": ["local"], "default": true}]
    }"#;

    #[test]
    fn defaults_and_errors_naming_the_path() {
        let c = Config::parse("otp.json", GOOD).unwrap();
        assert_eq!(c.listen, default_listen());
        assert_eq!(c.database.pool, 16);
        let bad = GOOD.replace("\"flatfile\"", "\"ldap\"");
        let err = Config::parse("otp.json", &bad).unwrap_err();
        assert!(
            err.to_string().starts_with("otp.json: resolvers.local"),
            "{err}"
        );
        let bad = GOOD.replace("\"staff\"", "\"st aff\"");
        let err = Config::parse("otp.json", &bad).unwrap_err();
        assert!(
            err.to_string().starts_with("otp.json: realms[0].name"),
            "{err}"
        );
        let bad = GOOD.replacen("\"otp\",", "\"otp\", \"pool\": 0,", 1);
        let err = Config::parse("otp.json", &bad).unwrap_err();
        assert_eq!(
            err.to_string(),
            "otp.json: database.pool: must be at least 1"
        );
    }
}
