//! `appliance-otp`: the OTP service as a program. `serve` reads the
//! configuration file, opens the token database (migrating it), binds the
//! key, and serves the routes on a loopback port (FreeRADIUS's `rlm_rest`
//! and the benchmark talk to it there; browsers reach the same routes
//! through the appliance's HTTPS server). `hash-password` writes the
//! administrator's credentials file from a password read on stdin.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use appliance_otp::audit::FileAudit;
use appliance_otp::crypto::DbKey;
use appliance_otp::directory::{Directory, FlatFileResolver, UserResolver};
use appliance_otp::names::Login;
use appliance_otp::service::Service;
use appliance_otp::store::mariadb::{Connection, MariaDbStore};
use appliance_otp_web::config::{Config, ResolverConfig};
use appliance_otp_web::session::AdminCredentials;
use appliance_otp_web::{Audit, OtpWeb};

mod flags {
    use std::path::PathBuf;

    xflags::xflags! {
        /// The appliance's OTP service.
        cmd appliance-otp {
            /// Serves validate/check, the admin API and the management pages.
            cmd serve {
                /// The configuration file (JSON).
                required --config path: PathBuf
            }
            /// Makes what `serve` needs on the appliance (as root, MariaDB
            /// running): the database, its user and password file, the schema,
            /// the configuration and the users file; repairs a half-done run.
            cmd provision {
                /// Give the database user a new password (file and database).
                optional --rotate-password
                /// The appliance's root directory (default /).
                optional --root dir: PathBuf
                /// MariaDB's socket (default /run/mysqld/mysqld.sock).
                optional --socket path: PathBuf
            }
            /// Reads a password (first line of stdin or of a file) and prints
            /// the administrator's credentials file (Argon2id hash) for LOGIN.
            cmd hash-password {
                required --login login: String
                /// Read the password from this file instead of stdin.
                optional --password-file path: PathBuf
            }
        }
    }
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

fn directory(config: &Config) -> anyhow::Result<Directory> {
    let mut resolvers: BTreeMap<String, Arc<dyn UserResolver>> = BTreeMap::new();
    for (name, resolver) in &config.resolvers {
        match resolver {
            ResolverConfig::Flatfile { file } => {
                let text = read(file)?;
                let parsed = FlatFileResolver::parse(&file.display().to_string(), &text)?;
                resolvers.insert(name.clone(), Arc::new(parsed));
            }
        }
    }
    Ok(Directory::new(config.realms.clone(), resolvers)?)
}

async fn serve(config_path: &Path) -> anyhow::Result<()> {
    let config = Config::parse(&config_path.display().to_string(), &read(config_path)?)?;
    let key_bytes = std::fs::read(&config.key_file)
        .with_context(|| format!("cannot read the database key {}", config.key_file.display()))?;
    let key = DbKey::from_bytes(&key_bytes)
        .with_context(|| format!("database key {}", config.key_file.display()))?;
    let admin_path = config.admin_file.display().to_string();
    let admin = if config.admin_file.exists() {
        AdminCredentials::parse(&admin_path, &read(&config.admin_file)?)?
    } else {
        // Before the appliance is set up there is no LinOTP Administrator:
        // validate/check works, every admin login is refused.
        eprintln!("appliance-otp: no {admin_path}: administrator logins are refused until it exists (restart after writing it)");
        AdminCredentials::unset(Login::new("admin").context("the placeholder login")?)
    };
    let password = read(&config.database.password_file)?;
    let connection = Connection {
        socket: config.database.socket.clone(),
        database: config.database.database.clone(),
        user: config.database.user.clone(),
        password: password.trim_end_matches('\n').to_string(),
    };
    let store = MariaDbStore::open(&connection, config.database.pool)
        .await
        .with_context(|| format!("token database {connection:?}"))?;
    let audit: Audit =
        Arc::new(FileAudit::open(&config.audit_file).with_context(|| {
            format!("cannot open the audit log {}", config.audit_file.display())
        })?);
    let service = Service::open(store, key, directory(&config)?, audit)
        .await
        .context("the database key and the token database")?;
    let app = Arc::new(OtpWeb::new(service, admin, &config.issuer));
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    eprintln!("appliance-otp: serving on http://{}", config.listen);
    axum::serve(listener, appliance_otp_web::router(app))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("serving")?;
    Ok(())
}

fn hash_password(login: &str, file: Option<&Path>) -> anyhow::Result<()> {
    let login = Login::new(login).context("--login")?;
    let (text, source) = match file {
        Some(path) => (read(path)?, path.display().to_string()),
        None => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("reading the password from stdin")?;
            (line, "stdin".to_string())
        }
    };
    let password = text.lines().next().unwrap_or("");
    anyhow::ensure!(!password.is_empty(), "{source}: the password is empty");
    let phc = appliance_otp::crypto::hash_pin(password).context("hashing the password")?;
    print!("{}", AdminCredentials::render(&login, &phc));
    Ok(())
}

fn provision(p: &flags::Provision) -> anyhow::Result<()> {
    use appliance_otp_web::provision::{self, Target};
    let root = p.root.clone().unwrap_or_else(|| "/".into());
    let passwd = root.join("etc/passwd");
    let owner = provision::user_ids(&read(&passwd)?, provision::SERVICE_USER).with_context(|| {
        format!(
            "{}: no system user {} (systemd-sysusers makes it from /usr/lib/sysusers.d/appliance-otp.conf)",
            passwd.display(),
            provision::SERVICE_USER
        )
    })?;
    let target = Target {
        root,
        socket: p.socket.clone().unwrap_or_else(|| provision::SOCKET.into()),
        owner,
    };
    let report = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?
        .block_on(provision::run(&target, p.rotate_password))?;
    eprintln!("appliance-otp provision: {report:?}");
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let flags = flags::ApplianceOtp::from_env_or_exit();
    match flags.subcommand {
        flags::ApplianceOtpCmd::Serve(serve_flags) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("tokio runtime")?
            .block_on(serve(&serve_flags.config)),
        flags::ApplianceOtpCmd::Provision(p) => provision(&p),
        flags::ApplianceOtpCmd::HashPassword(h) => {
            hash_password(&h.login, h.password_file.as_deref())
        }
    }
}
