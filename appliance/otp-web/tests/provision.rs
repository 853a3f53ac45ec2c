//! `appliance-otp provision` against a real MariaDB server (started by the
//! test, Debian's mariadb-server; root reaches it over its socket): the
//! first run makes the database, the user, the password file (0600), the
//! schema, the configuration and the users file; a second run changes
//! nothing; a rotation gives a new password that works while the old one
//! stops working; a rotation interrupted after `ALTER USER` (the database
//! has the new password, the file the old one) is repaired by the next
//! run, which leaves a working pair.

#[path = "../../otp/tests/support/mariadb_server.rs"]
mod mariadb_server;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use appliance_otp::store::mariadb::{Connection, MariaDbStore};
use appliance_otp_web::config::Config;
use appliance_otp_web::provision::{self, Target};
use mariadb_server::Server;
use sqlx::{ConnectOptions, Executor};

fn read_password(root: &Path) -> String {
    std::fs::read_to_string(root.join(provision::DB_PASSWORD.trim_start_matches('/')))
        .expect("the password file")
        .trim_end()
        .to_string()
}

/// Whether the service's user logs in with `password` (and sees its schema).
async fn logs_in(server: &Server, password: &str) -> bool {
    let connection = Connection {
        database: provision::DATABASE.into(),
        user: provision::DB_USER.into(),
        password: password.into(),
        ..server.connection()
    };
    match MariaDbStore::open(&connection, 1).await {
        Ok(store) => store.schema_version().await.expect("schema version") > 0,
        Err(_) => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root and mariadb-server"]
async fn provision_rotate_and_repair() {
    let server = Server::start().await;
    // The test server made a database `otp` and user of its own; start
    // from nothing as the appliance does.
    let mut root_conn = server.root_options().connect().await.expect("root");
    root_conn.execute("DROP DATABASE otp").await.expect("drop");
    root_conn
        .execute("DROP USER 'otp'@'localhost'")
        .await
        .expect("drop user");

    let dir = tempfile::tempdir().expect("temporary root");
    let me = std::fs::metadata(dir.path()).expect("metadata");
    let target = Target {
        root: dir.path().to_path_buf(),
        socket: server.socket(),
        owner: (me.uid(), me.gid()),
    };

    let first = provision::run(&target, false).await.expect("first run");
    assert!(first.password_made && first.config_written && first.users_written);
    assert!(first.schema_version > 0);
    let file = dir
        .path()
        .join(provision::DB_PASSWORD.trim_start_matches('/'));
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let password = read_password(dir.path());
    assert!(provision::password_ok(&password));
    assert!(logs_in(&server, &password).await);
    assert!(!logs_in(&server, &"0".repeat(64)).await);
    let config_path = dir.path().join(provision::CONFIG.trim_start_matches('/'));
    let config = Config::parse("otp.json", &std::fs::read_to_string(&config_path).unwrap())
        .expect("the written configuration parses");
    assert!(config.listen.ip().is_loopback());
    let users = dir.path().join(provision::USERS.trim_start_matches('/'));
    assert_eq!(
        std::fs::metadata(&users).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // Again: nothing new, same password.
    let second = provision::run(&target, false).await.expect("second run");
    assert!(!second.password_made && !second.config_written && !second.users_written);
    assert_eq!(read_password(dir.path()), password);
    assert!(logs_in(&server, &password).await);

    // Rotation.
    let rotated = provision::run(&target, true).await.expect("rotation");
    assert!(rotated.password_rotated);
    let new = read_password(dir.path());
    assert_ne!(new, password);
    assert!(logs_in(&server, &new).await);
    assert!(
        !logs_in(&server, &password).await,
        "the old password still works"
    );
    assert!(!file.with_file_name("db-password.new").exists());

    // A rotation cut after ALTER USER: the database has a newer password,
    // the file still the current one, the `.new` file is left.
    let cut = provision::new_password().unwrap();
    std::fs::write(file.with_file_name("db-password.new"), format!("{cut}\n")).unwrap();
    root_conn
        .execute(format!("ALTER USER 'otp'@'localhost' IDENTIFIED BY '{cut}'").as_str())
        .await
        .expect("alter");
    assert!(!logs_in(&server, &new).await);
    let repaired = provision::run(&target, false).await.expect("repair");
    assert!(repaired.stale_rotation_removed && !repaired.password_made);
    assert_eq!(read_password(dir.path()), new);
    assert!(
        logs_in(&server, &new).await,
        "file and database are not a pair again"
    );
    assert!(!file.with_file_name("db-password.new").exists());

    // A password file that is not ours is refused with its name.
    std::fs::write(&file, "hunter2\n").unwrap();
    let err = provision::run(&target, false)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("db-password") && err.contains("64"), "{err}");
}
