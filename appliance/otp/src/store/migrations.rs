//! Versioned schema of the MariaDB token database.
//!
//! Each migration has a number and its statements; `schema_version` holds
//! the numbers applied. Migrations run under a named lock (`GET_LOCK`), so
//! two services starting at once do not both apply one. They are never
//! edited once released: a change is a new migration.

pub(crate) struct Migration {
    pub version: i64,
    pub statements: &'static [&'static str],
}

pub(crate) const LOCK_NAME: &str = "appliance-otp-migrations";

pub(crate) const CREATE_VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_version (\
     version BIGINT NOT NULL PRIMARY KEY, \
     applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP\
     ) ENGINE=InnoDB";

pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        statements: &[
            // Settings, the key-check value and policies (as JSON).
            "CREATE TABLE config (\
             name VARCHAR(128) NOT NULL PRIMARY KEY, \
             value MEDIUMTEXT NOT NULL\
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
            "CREATE TABLE token (\
             serial VARCHAR(40) NOT NULL PRIMARY KEY, \
             kind VARCHAR(8) NOT NULL, \
             time_step BIGINT UNSIGNED NOT NULL, \
             time_window BIGINT UNSIGNED NOT NULL, \
             algorithm VARCHAR(8) NOT NULL, \
             digits TINYINT UNSIGNED NOT NULL, \
             seed_nonce VARBINARY(24) NOT NULL, \
             seed_sealed VARBINARY(1024) NOT NULL, \
             counter BIGINT UNSIGNED NOT NULL, \
             count_window BIGINT UNSIGNED NOT NULL, \
             sync_window BIGINT UNSIGNED NOT NULL, \
             fail_count INT UNSIGNED NOT NULL, \
             max_fail INT UNSIGNED NOT NULL, \
             active BOOLEAN NOT NULL, \
             pin_hash VARCHAR(255) NULL\
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
        ],
    },
    Migration {
        version: 2,
        statements: &[
            // Assignment to a user (realm + login), looked up on every check.
            "ALTER TABLE token ADD COLUMN owner_realm VARCHAR(64) NULL, ADD COLUMN owner_login VARCHAR(64) NULL",
            "CREATE INDEX token_owner ON token (owner_realm, owner_login)",
        ],
    },
];

/// The newest schema version this program knows.
pub(crate) fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_start_at_one_and_increase_by_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1);
            assert!(!m.statements.is_empty(), "migration {} is empty", m.version);
        }
        assert_eq!(latest(), MIGRATIONS.len() as i64);
    }
}
