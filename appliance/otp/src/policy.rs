//! Policies as data: scope, actions, and whom they apply to.
//!
//! LinOTP keeps policies as configuration keys `Policy.<name>.<attribute>`
//! (scope, action, realm, user, active). The two rules kept here:
//! - `selfservice`: a user may do only what an active policy grants
//!   (no policy: nothing is allowed, so no resync either);
//! - `admin`: while no admin policy is defined every administrator may do
//!   everything (a fresh install must be manageable); once one is defined,
//!   only what an active admin policy grants.

use serde::{Deserialize, Serialize};

use crate::names::UserRef;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Admin,
    Selfservice,
    Authentication,
    Authorization,
    System,
}

/// Actions of the `selfservice` scope this core knows.
pub mod selfservice {
    pub const RESYNC: &str = "resync";
}

/// Actions of the `admin` scope (LinOTP's names), for the management API.
pub mod admin {
    pub const INIT: &str = "init";
    pub const ASSIGN: &str = "assign";
    pub const SET_PIN: &str = "setOTPPIN";
    pub const ENABLE: &str = "enable";
    pub const DISABLE: &str = "disable";
    pub const RESET: &str = "reset";
    pub const RESYNC: &str = "resync";
    pub const SHOW: &str = "show";
    pub const USERLIST: &str = "userlist";
    pub const REMOVE: &str = "remove";
    pub const SET_POLICY: &str = "setPolicy";
    pub const ALL: &[&str] = &[
        INIT, ASSIGN, SET_PIN, ENABLE, DISABLE, RESET, RESYNC, SHOW, USERLIST, REMOVE, SET_POLICY,
    ];
}

/// `*` or a list of names (JSON: the string `"*"` or an array).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Match {
    Any,
    Names(Vec<String>),
}

impl Serialize for Match {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Match::Any => s.serialize_str("*"),
            Match::Names(names) => names.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Match {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Match, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Star(String),
            Names(Vec<String>),
        }
        match Raw::deserialize(d)? {
            Raw::Star(star) if star == "*" => Ok(Match::Any),
            Raw::Star(other) => Err(serde::de::Error::custom(format!(
                "expected \"*\" or a list of names, found {other:?}"
            ))),
            Raw::Names(names) => Ok(Match::Names(names)),
        }
    }
}

impl Match {
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Match::Any => true,
            Match::Names(names) => names.iter().any(|n| n == name),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub name: String,
    pub scope: Scope,
    /// Action names; `*` grants every action of the scope.
    pub actions: Vec<String>,
    pub realm: Match,
    /// Users (`selfservice`) or administrators (`admin`).
    pub user: Match,
    #[serde(default = "active_default")]
    pub active: bool,
}

fn active_default() -> bool {
    true
}

impl Policy {
    fn grants(&self, scope: Scope, action: &str, realm: &str, who: &str) -> bool {
        self.active
            && self.scope == scope
            && self.actions.iter().any(|a| a == action || a == "*")
            && self.realm.matches(realm)
            && self.user.matches(who)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Policies(pub Vec<Policy>);

impl Policies {
    /// Whether `user` may do `action` in the self-service portal.
    pub fn selfservice_allows(&self, action: &str, user: &UserRef) -> bool {
        self.0.iter().any(|p| {
            p.grants(
                Scope::Selfservice,
                action,
                user.realm.as_str(),
                user.login.as_str(),
            )
        })
    }

    /// Whether administrator `admin` may do `action` on objects of `realm`.
    pub fn admin_allows(&self, admin: &str, action: &str, realm: &str) -> bool {
        let admin_policies = self
            .0
            .iter()
            .filter(|p| p.active && p.scope == Scope::Admin)
            .count();
        admin_policies == 0
            || self
                .0
                .iter()
                .any(|p| p.grants(Scope::Admin, action, realm, admin))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::{Login, RealmName};

    fn alice() -> UserRef {
        UserRef {
            realm: RealmName::new("staff").unwrap(),
            login: Login::new("alice").unwrap(),
        }
    }

    fn resync_policy(realm: Match, user: Match) -> Policy {
        Policy {
            name: "self".into(),
            scope: Scope::Selfservice,
            actions: vec!["resync".into()],
            realm,
            user,
            active: true,
        }
    }

    #[test]
    fn without_a_selfservice_policy_nothing_is_allowed() {
        assert!(!Policies::default().selfservice_allows(selfservice::RESYNC, &alice()));
    }

    #[test]
    fn a_resync_policy_grants_resync_to_its_realm_and_users_only() {
        let policies = Policies(vec![resync_policy(
            Match::Names(vec!["staff".into()]),
            Match::Any,
        )]);
        assert!(policies.selfservice_allows(selfservice::RESYNC, &alice()));
        assert!(!policies.selfservice_allows("setOTPPIN", &alice()));
        let other = UserRef {
            realm: RealmName::new("guests").unwrap(),
            login: Login::new("alice").unwrap(),
        };
        assert!(!policies.selfservice_allows(selfservice::RESYNC, &other));
        let only_bob = Policies(vec![resync_policy(
            Match::Any,
            Match::Names(vec!["bob".into()]),
        )]);
        assert!(!only_bob.selfservice_allows(selfservice::RESYNC, &alice()));
        let mut inactive = resync_policy(Match::Any, Match::Any);
        inactive.active = false;
        assert!(!Policies(vec![inactive]).selfservice_allows(selfservice::RESYNC, &alice()));
    }

    #[test]
    fn admin_scope_is_open_until_a_policy_is_defined() {
        assert!(Policies::default().admin_allows("admin", admin::INIT, "staff"));
        let policies = Policies(vec![Policy {
            name: "helpdesk".into(),
            scope: Scope::Admin,
            actions: vec![admin::RESET.into(), admin::SHOW.into()],
            realm: Match::Any,
            user: Match::Names(vec!["helpdesk".into()]),
            active: true,
        }]);
        assert!(policies.admin_allows("helpdesk", admin::RESET, "staff"));
        assert!(!policies.admin_allows("helpdesk", admin::INIT, "staff"));
        assert!(!policies.admin_allows("admin", admin::SHOW, "staff"));
    }

    #[test]
    fn policies_read_from_json_with_star_and_lists() {
        let text = r#"[{"name":"self","scope":"selfservice","actions":["resync"],"realm":"*","user":["alice"]}]"#;
        let policies: Policies = serde_json::from_str(text).unwrap();
        assert_eq!(policies.0[0].realm, Match::Any);
        assert!(policies.0[0].active);
        assert_eq!(
            serde_json::to_string(&policies)
                .unwrap()
                .replace(",\"active\":true", ""),
            text
        );
        let err = serde_json::from_str::<Policies>(
            r#"[{"name":"x","scope":"nope","actions":[],"realm":"*","user":"*"}]"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown variant `nope`"), "{err}");
    }
}
