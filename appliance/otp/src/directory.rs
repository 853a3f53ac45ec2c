//! Users and realms: resolvers find users, realms group resolvers.
//!
//! Two resolver kinds: a flat file in the format of `/etc/passwd`
//! (`login:password:uid:gid:gecos[:home:shell]`, the password an Argon2id
//! PHC string, or `x`, `*` or empty for "no password login") kept on the
//! data partition, and a SQL table described by [`SqlResolverConfig`]
//! whose rows some [`SqlUserSource`] fetches.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::crypto;
use crate::names::{Login, RealmName};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub login: Login,
    pub uid: u32,
    pub display_name: String,
    #[serde(skip)]
    pub password_hash: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("{file}, line {line}: {field}: {reason}")]
    FlatFile {
        file: String,
        line: usize,
        field: &'static str,
        reason: String,
    },
    #[error("realm {0}: no such realm")]
    UnknownRealm(String),
    #[error("no realm given and no default realm is set")]
    NoDefaultRealm,
    #[error("realms: more than one default realm ({0} and {1})")]
    TwoDefaults(String, String),
    #[error("realm {realm}: resolver {resolver} is not defined")]
    UnknownResolver { realm: String, resolver: String },
    #[error("SQL resolver: {field}: {reason}")]
    SqlConfig { field: &'static str, reason: String },
    #[error("resolver back end: {0}")]
    Backend(String),
}

/// Finds users and checks their resolver passwords.
pub trait UserResolver: Send + Sync {
    fn lookup(&self, login: &Login) -> Result<Option<User>, DirectoryError>;
    fn list(&self) -> Result<Vec<User>, DirectoryError>;

    /// The user's resolver password (self-service login). A user without a
    /// password never logs in.
    fn check_password(&self, login: &Login, password: &str) -> Result<bool, DirectoryError> {
        match self.lookup(login)?.and_then(|u| u.password_hash) {
            Some(phc) => crypto::verify_pin(password, &phc)
                .map_err(|e| DirectoryError::Backend(e.to_string())),
            None => Ok(false),
        }
    }
}

/// A resolver as realms share it.
pub type SharedResolver = Arc<dyn UserResolver>;

/// A passwd-like file, parsed once.
#[derive(Clone, Debug, Default)]
pub struct FlatFileResolver {
    users: BTreeMap<Login, User>,
}

impl FlatFileResolver {
    /// Parses the file's text; `file` names it in error messages. Blank
    /// lines and lines starting with `#` are skipped.
    pub fn parse(file: &str, text: &str) -> Result<FlatFileResolver, DirectoryError> {
        let mut users = BTreeMap::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let err = |field: &'static str, reason: String| DirectoryError::FlatFile {
                file: file.to_string(),
                line,
                field,
                reason,
            };
            if raw.trim().is_empty() || raw.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = raw.split(':').collect();
            if fields.len() != 5 && fields.len() != 7 {
                return Err(err(
                    "line",
                    format!(
                        "expected 5 or 7 fields separated by ':', found {}",
                        fields.len()
                    ),
                ));
            }
            let login = Login::new(fields[0]).map_err(|e| err("login", e.reason))?;
            let password_hash = match fields[1] {
                "" | "x" | "*" | "!" => None,
                phc if phc.starts_with("$argon2id$") => Some(phc.to_string()),
                _ => {
                    return Err(err(
                        "password",
                        "expected an Argon2id hash ($argon2id$…), x, * or nothing".into(),
                    ))
                }
            };
            let uid = fields[2]
                .parse::<u32>()
                .map_err(|_| err("uid", format!("{:?} is not a number", fields[2])))?;
            fields[3]
                .parse::<u32>()
                .map_err(|_| err("gid", format!("{:?} is not a number", fields[3])))?;
            let display_name = fields[4].split(',').next().unwrap_or_default().to_string();
            if users.contains_key(&login) {
                return Err(err("login", format!("{login} is listed twice")));
            }
            users.insert(
                login.clone(),
                User {
                    login,
                    uid,
                    display_name,
                    password_hash,
                },
            );
        }
        Ok(FlatFileResolver { users })
    }
}

impl UserResolver for FlatFileResolver {
    fn lookup(&self, login: &Login) -> Result<Option<User>, DirectoryError> {
        Ok(self.users.get(login).cloned())
    }

    fn list(&self) -> Result<Vec<User>, DirectoryError> {
        Ok(self.users.values().cloned().collect())
    }
}

/// Where a SQL resolver finds its users: a table and its columns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlResolverConfig {
    pub table: String,
    pub login_column: String,
    pub uid_column: String,
    pub display_name_column: String,
    pub password_column: String,
}

impl SqlResolverConfig {
    /// Checks that every name is a plain SQL identifier (they are put into
    /// the statement; values never are).
    pub fn validate(&self) -> Result<(), DirectoryError> {
        let names = [
            ("table", &self.table),
            ("login_column", &self.login_column),
            ("uid_column", &self.uid_column),
            ("display_name_column", &self.display_name_column),
            ("password_column", &self.password_column),
        ];
        for (field, name) in names {
            let plain = !name.is_empty()
                && name.len() <= 64
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit());
            if !plain {
                return Err(DirectoryError::SqlConfig {
                    field,
                    reason: format!("{name:?} is not a plain identifier ([A-Za-z_][A-Za-z0-9_]*)"),
                });
            }
        }
        Ok(())
    }

    /// The statement fetching one user; its one placeholder is the login.
    pub fn select_one(&self) -> Result<String, DirectoryError> {
        self.validate()?;
        Ok(format!(
            "SELECT `{}`, `{}`, `{}`, `{}` FROM `{}` WHERE `{}` = ?",
            self.login_column,
            self.uid_column,
            self.display_name_column,
            self.password_column,
            self.table,
            self.login_column
        ))
    }
}

/// A database that runs a SQL resolver's statement.
pub trait SqlUserSource: Send + Sync {
    fn fetch_user(
        &self,
        config: &SqlResolverConfig,
        login: &Login,
    ) -> impl Future<Output = Result<Option<User>, DirectoryError>> + Send;
}

/// A realm: a name and the resolvers searched for its users, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Realm {
    pub name: RealmName,
    pub resolvers: Vec<String>,
    #[serde(default)]
    pub default: bool,
}

/// Realms and the resolvers they name.
#[derive(Clone, Default)]
pub struct Directory {
    realms: Vec<Realm>,
    resolvers: BTreeMap<String, Arc<dyn UserResolver>>,
}

impl Directory {
    pub fn new(
        realms: Vec<Realm>,
        resolvers: BTreeMap<String, Arc<dyn UserResolver>>,
    ) -> Result<Directory, DirectoryError> {
        let mut default: Option<&Realm> = None;
        for realm in &realms {
            if realm.default {
                if let Some(first) = default {
                    return Err(DirectoryError::TwoDefaults(
                        first.name.to_string(),
                        realm.name.to_string(),
                    ));
                }
                default = Some(realm);
            }
            for resolver in &realm.resolvers {
                if !resolvers.contains_key(resolver) {
                    return Err(DirectoryError::UnknownResolver {
                        realm: realm.name.to_string(),
                        resolver: resolver.clone(),
                    });
                }
            }
        }
        Ok(Directory { realms, resolvers })
    }

    /// The realm a request names, or the default realm.
    pub fn realm(&self, name: Option<&str>) -> Result<&Realm, DirectoryError> {
        match name {
            Some(name) => self
                .realms
                .iter()
                .find(|r| r.name.as_str() == name)
                .ok_or_else(|| DirectoryError::UnknownRealm(name.into())),
            None => self
                .realms
                .iter()
                .find(|r| r.default)
                .ok_or(DirectoryError::NoDefaultRealm),
        }
    }

    pub fn realms(&self) -> &[Realm] {
        &self.realms
    }

    fn resolvers_of<'a>(
        &'a self,
        realm: &'a Realm,
    ) -> impl Iterator<Item = &'a Arc<dyn UserResolver>> + 'a {
        realm
            .resolvers
            .iter()
            .filter_map(|name| self.resolvers.get(name))
    }

    /// The user in the first of the realm's resolvers that knows the login.
    pub fn find_user<'a>(
        &'a self,
        realm: &'a Realm,
        login: &Login,
    ) -> Result<Option<(User, &'a SharedResolver)>, DirectoryError> {
        for resolver in self.resolvers_of(realm) {
            if let Some(user) = resolver.lookup(login)? {
                return Ok(Some((user, resolver)));
            }
        }
        Ok(None)
    }

    /// Every user of every realm, sorted by realm (the User View).
    pub fn users_by_realm(&self) -> Result<Vec<(RealmName, User)>, DirectoryError> {
        let mut realms: Vec<&Realm> = self.realms.iter().collect();
        realms.sort_by(|a, b| a.name.cmp(&b.name));
        let mut out = Vec::new();
        for realm in realms {
            for resolver in self.resolvers_of(realm) {
                out.extend(
                    resolver
                        .list()?
                        .into_iter()
                        .map(|u| (realm.name.clone(), u)),
                );
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# TEST users\nalice:x:1000:1000:Alice Example,,,:/home/alice:/bin/sh\n\nbob::1001:1001:Bob\n";

    fn directory() -> Directory {
        let flat: Arc<dyn UserResolver> = Arc::new(FlatFileResolver::parse("users", FILE).unwrap());
        let realms = vec![
            Realm {
                name: RealmName::new("staff").unwrap(),
                resolvers: vec!["flat".into()],
                default: true,
            },
            Realm {
                name: RealmName::new("alpha").unwrap(),
                resolvers: vec!["flat".into()],
                default: false,
            },
        ];
        Directory::new(realms, BTreeMap::from([("flat".to_string(), flat)])).unwrap()
    }

    #[test]
    fn flat_file_users_are_parsed() {
        let r = FlatFileResolver::parse("users", FILE).unwrap();
        let alice = r.lookup(&Login::new("alice").unwrap()).unwrap().unwrap();
        assert_eq!(
            (alice.uid, alice.display_name.as_str()),
            (1000, "Alice Example")
        );
        assert_eq!(r.list().unwrap().len(), 2);
        assert!(r.lookup(&Login::new("carol").unwrap()).unwrap().is_none());
        assert!(
            !r.check_password(&Login::new("alice").unwrap(), "").unwrap(),
            "x means no password login"
        );
    }

    #[test]
    fn flat_file_errors_name_line_and_field() {
        let cases = [
            (
                "alice:x:1000:1000",
                "users, line 1: line: expected 5 or 7 fields separated by ':', found 4",
            ),
            (
                "\nalice:x:ten:1000:A",
                "users, line 2: uid: \"ten\" is not a number",
            ),
            (
                "al ice:x:1:1:A",
                "users, line 1: login: character ' ' is not allowed",
            ),
            (
                "alice:secret:1:1:A",
                "users, line 1: password: expected an Argon2id hash ($argon2id$…), x, * or nothing",
            ),
            (
                "a:x:1:1:A\na:x:2:2:B",
                "users, line 2: login: a is listed twice",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(
                FlatFileResolver::parse("users", text)
                    .unwrap_err()
                    .to_string(),
                want
            );
        }
    }

    #[test]
    fn resolver_passwords_are_argon2id() {
        let phc = crypto::hash_pin("TEST-password").unwrap();
        let r = FlatFileResolver::parse("users", &format!("carol:{phc}:1:1:Carol")).unwrap();
        let carol = Login::new("carol").unwrap();
        assert!(r.check_password(&carol, "TEST-password").unwrap());
        assert!(!r.check_password(&carol, "wrong").unwrap());
    }

    #[test]
    fn realms_default_and_unknown() {
        let d = directory();
        assert_eq!(d.realm(None).unwrap().name.as_str(), "staff");
        assert_eq!(d.realm(Some("alpha")).unwrap().name.as_str(), "alpha");
        assert_eq!(
            d.realm(Some("nope")).unwrap_err().to_string(),
            "realm nope: no such realm"
        );
        let listed: Vec<String> = d
            .users_by_realm()
            .unwrap()
            .iter()
            .map(|(r, u)| format!("{r}/{}", u.login))
            .collect();
        assert_eq!(
            listed,
            ["alpha/alice", "alpha/bob", "staff/alice", "staff/bob"]
        );
    }

    #[test]
    fn directory_checks_its_realms() {
        let realm = |name: &str, default| Realm {
            name: RealmName::new(name).unwrap(),
            resolvers: vec!["x".into()],
            default,
        };
        let err = Directory::new(vec![realm("a", false)], BTreeMap::new())
            .err()
            .unwrap();
        assert_eq!(err.to_string(), "realm a: resolver x is not defined");
        let flat: Arc<dyn UserResolver> = Arc::new(FlatFileResolver::default());
        let resolvers = BTreeMap::from([("x".to_string(), flat)]);
        let err = Directory::new(vec![realm("a", true), realm("b", true)], resolvers.clone())
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "realms: more than one default realm (a and b)"
        );
        let none = Directory::new(vec![realm("a", false)], resolvers).unwrap();
        assert_eq!(
            none.realm(None).unwrap_err().to_string(),
            "no realm given and no default realm is set"
        );
    }

    #[test]
    fn sql_resolver_identifiers_are_checked() {
        let mut config = SqlResolverConfig {
            table: "users".into(),
            login_column: "login".into(),
            uid_column: "id".into(),
            display_name_column: "name".into(),
            password_column: "password".into(),
        };
        assert_eq!(
            config.select_one().unwrap(),
            "SELECT `login`, `id`, `name`, `password` FROM `users` WHERE `login` = ?"
        );
        config.table = "users`; DROP TABLE token; --".into();
        let err = config.select_one().unwrap_err().to_string();
        assert!(err.starts_with("SQL resolver: table: "), "{err}");
    }
}
