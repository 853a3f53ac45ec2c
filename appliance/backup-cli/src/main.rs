//! `appliance-backup`: create, inspect and restore the appliance's
//! encrypted backup on the console (docs/backup.md).

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use appliance_backup::{DEFAULT_MAX_WORK_FACTOR, DEFAULT_WORK_FACTOR};
use appliance_backup_cli::db::{self, Db};
use appliance_backup_cli::layout::Appliance;
use appliance_backup_cli::passphrase::{self, Source};
use appliance_backup_cli::restore::{self, ReadRequest};
use appliance_backup_cli::{create, journal, parse_components};

mod flags {
    use std::path::PathBuf;

    xflags::xflags! {
        /// Encrypted backups of this appliance (docs/backup.md). The
        /// passphrase is asked on the terminal, or read from a descriptor.
        cmd appliance-backup {
            /// The appliance's root directory (default /).
            optional --root dir: PathBuf
            /// MariaDB's socket (default /run/mysqld/mysqld.sock).
            optional --db-socket path: PathBuf
            /// The token database (default otp).
            optional --db-name name: String
            /// The database user (default root, unix_socket authentication).
            optional --db-user name: String
            /// Do not use the token database at all (MariaDB stopped, tests):
            /// token-db is refused, and a db-key alone is not checked against it.
            optional --without-db
            /// Read the passphrase's first line from this open descriptor.
            optional --passphrase-fd fd: u32
            /// Read the passphrase from this environment variable (tests).
            optional --passphrase-env var: String
            /// The model backups must be of (default: this appliance's).
            optional --model name: String

            /// Back up components: etc, db-key, tls, token-db, or all.
            cmd create {
                required --components list: String
                /// The backup file (written 0600, through a temporary name).
                required --out file: PathBuf
                /// Put db-key alone into this file, the rest into --out.
                optional --key-out file: PathBuf
                /// scrypt work factor log2 N (default 17).
                optional --work-factor n: u8
            }

            /// Decrypt and check a backup (or its key and data files) and
            /// show what it holds; nothing is changed.
            cmd inspect {
                repeated file: PathBuf
            }

            /// Restore components (default: all the backup holds).
            cmd restore {
                repeated file: PathBuf
                optional --components list: String
            }

            /// Finish or roll back a restore that was interrupted (run at boot).
            cmd recover {}
        }
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("appliance-backup: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let f = flags::ApplianceBackup::from_env_or_exit();
    let database = f.db_name.clone().unwrap_or_else(|| "otp".into());
    db::check_name("--db-name", &database)?;
    let app = Appliance {
        root: f.root.clone().unwrap_or_else(|| PathBuf::from("/")),
        db: (!f.without_db).then(|| Db {
            socket: f
                .db_socket
                .clone()
                .unwrap_or_else(|| PathBuf::from("/run/mysqld/mysqld.sock")),
            user: f.db_user.clone().unwrap_or_else(|| "root".into()),
            database,
        }),
    };
    let source = match (&f.passphrase_fd, &f.passphrase_env) {
        (Some(_), Some(_)) => anyhow::bail!("give --passphrase-fd or --passphrase-env, not both"),
        (Some(fd), None) => Source::Fd(*fd),
        (None, Some(v)) => Source::Env(v.clone()),
        (None, None) => Source::Prompt,
    };
    let request = |files: Vec<PathBuf>, pass| ReadRequest {
        files,
        passphrase: pass,
        max_work_factor: DEFAULT_MAX_WORK_FACTOR,
        model: f.model.clone(),
    };
    match f.subcommand {
        flags::ApplianceBackupCmd::Create(c) => {
            let components = parse_components(&c.components)?;
            let pass = passphrase::read(&source, true)?;
            let created = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .context("the clock is before 1970")?
                .as_secs();
            let written = create::create(
                &app,
                &create::CreateOptions {
                    components,
                    out: c.out,
                    key_out: c.key_out,
                    passphrase: &pass,
                    work_factor: c.work_factor.unwrap_or(DEFAULT_WORK_FACTOR),
                    created,
                },
            )?;
            for (path, m) in written {
                let ids: Vec<&str> = m.components.iter().map(|c| c.id.as_str()).collect();
                println!("{}: {}", path.display(), ids.join(", "));
            }
        }
        flags::ApplianceBackupCmd::Inspect(c) => {
            let pass = passphrase::read(&source, false)?;
            for m in restore::inspect(&app, &request(c.file, &pass))? {
                println!(
                    "created {}  source {} ({}, release {}, install {})",
                    m.created,
                    m.source.hostname,
                    m.source.model,
                    m.source.release,
                    m.source.install_id
                );
                for c in &m.components {
                    let bytes: u64 = c.files.iter().map(|f| f.size).sum();
                    println!(
                        "  {:<9} schema {}  {} file(s), {} bytes",
                        c.id.as_str(),
                        c.schema,
                        c.files.len(),
                        bytes
                    );
                }
            }
        }
        flags::ApplianceBackupCmd::Restore(c) => {
            let requested = c.components.as_deref().map(parse_components).transpose()?;
            let pass = passphrase::read(&source, false)?;
            let report = restore::restore(&app, &request(c.file, &pass), requested)?;
            if let Some(r) = report.recovered {
                println!("{r}");
            }
            let switched = report
                .lines
                .iter()
                .any(|(_, l)| !l.contains("already identical"));
            for (id, line) in report.lines {
                println!("{id}: {line}");
            }
            if switched {
                println!("{RESTART_NOTE}");
            }
        }
        flags::ApplianceBackupCmd::Recover(_) => match journal::recover(&app)? {
            None => println!("no interrupted restore"),
            Some(journal::Recovered::RolledBack) => {
                println!("an interrupted restore was rolled back")
            }
            Some(journal::Recovered::Completed(j)) => {
                let ids: Vec<&str> = j.components.iter().map(|c| c.as_str()).collect();
                println!("an interrupted restore was completed: {}", ids.join(", "))
            }
        },
    }
    Ok(())
}

/// After a console restore: the running services still hold what they
/// read at their start (System → Restore puts a restore into effect at
/// once; this command only switches the files).
const RESTART_NOTE: &str = "The restored files are in place; the running services still use what they read at their start. Restart the appliance (`reboot` on its console) to put the restore into effect.";
