//! The **applier**: one activation as a transaction over configuration
//! generations, its confirmation, its rollback and what every boot does
//! about an activation that is not final.
//!
//! Order of an activation (the commit point is the switch of `current`):
//! 1. read and check the wizard's state again (as root, from its own file);
//! 2. plan ([`crate::plan`]); check `clients.conf` with `freeradius -XC`;
//! 3. make the secrets and keys and stage the new generation complete —
//!    state, files, install list, undo record — then give it its number;
//! 4. write the activation record (generation, previous, deadline);
//! 5. **switch** `current` (one rename);
//! 6. install the generation's files, render and apply its state, keep the
//!    old address as a second one (address change), restart what changed,
//!    reload appliance-web (new certificate), show the console text;
//! 7. final at once (no address change, or power-off) or after the
//!    confirmation: `setup-done`, no setup code, no passwords in the
//!    wizard's file, database passwords, record removed, power-off.
//!
//! A power cut before 5 leaves the old configuration (the next boot drops
//! the record of a switch that never happened); after 5 the next boot
//! installs the current generation again and goes on from the record.

use std::path::{Path, PathBuf};

use appliance_config::firstboot;
use appliance_config::fsutil::{self, under};
use appliance_config::generation::Store;
use appliance_config::keys;
use appliance_config::paths;
use appliance_config::render;
use appliance_config::state::DesiredState;
use appliance_wizard::state::WizardState;
use appliance_wizard::Secret;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::plan::{self, ActivationPlan, DbPasswords, Facts, SecretToMake};
use crate::secrets;
use crate::stage::{self, Install, InstallEntry};
use crate::status::{self, Phase, Record, Status};
use crate::system::System;

/// Why an activation, confirmation or rollback stopped. `step` is where,
/// `message` what is wrong and what to do.
#[derive(Debug, thiserror::Error)]
#[error("{step}: {message}")]
pub struct ActivationError {
    /// The step.
    pub step: &'static str,
    /// The sentence for the page and the journal.
    pub message: String,
}

pub(crate) fn fail(step: &'static str) -> impl Fn(String) -> ActivationError {
    move |message| ActivationError { step, message }
}

pub(crate) fn io_fail<E: std::fmt::Display>(step: &'static str) -> impl Fn(E) -> ActivationError {
    move |e| ActivationError {
        step,
        message: e.to_string(),
    }
}

/// Where and how activation works.
pub struct Ctx<'a> {
    /// The appliance's root directory (`/`).
    pub root: &'a Path,
    /// Where console messages go.
    pub consoles: &'a [PathBuf],
    /// Effects beyond files.
    pub sys: &'a dyn System,
    /// The time now.
    pub now: OffsetDateTime,
    /// Whether the system is running (restart units, set host name and
    /// clock); false at boot, before the units start.
    pub running: bool,
}

impl Ctx<'_> {
    pub(crate) fn status(&self, s: &Status) {
        if let Err(e) = status::write(self.root, s) {
            eprintln!("cannot write {}: {e}", paths::ACTIVATION_STATUS);
        }
        println!("activation: {:?} {}: {}", s.state, s.step, s.message);
    }

    pub(crate) fn running(&self, step: &str, message: &str) {
        self.status(&Status::new(Phase::Running, step, message));
    }

    pub(crate) fn day(&self) -> u64 {
        u64::try_from(self.now.unix_timestamp() / 86_400).unwrap_or(0)
    }

    fn say(&self, text: &str) {
        for (c, e) in appliance_config::console::print(self.consoles, &format!("\n{text}\n")) {
            eprintln!("cannot print on {}: {e}", c.display());
        }
    }
}

/// Stages the plan as a new generation (not current yet). Returns its number.
fn stage_generation(cx: &Ctx, p: &ActivationPlan) -> Result<u64, ActivationError> {
    let step = "staging the new configuration";
    let mut root_hash = None;
    let mut creds = Vec::new();
    for s in &p.secrets {
        match s {
            SecretToMake::RootPassword(pw) => {
                root_hash = Some(secrets::root_crypt(pw.expose()).map_err(io_fail(step))?)
            }
            SecretToMake::Credentials {
                path,
                login,
                password,
            } => {
                let phc = secrets::argon2id(password.expose()).map_err(io_fail(step))?;
                creds.push((*path, secrets::credentials_json(login, &phc)));
            }
        }
    }
    // The certificate names the new addresses and, during the grace
    // period, the old one.
    let mut ips: Vec<std::net::IpAddr> = p
        .state
        .static_addresses()
        .into_iter()
        .map(Into::into)
        .collect();
    if let Some(old) = p.address_change.as_ref().and_then(|c| c.old) {
        ips.push(old.addr.into());
    }
    let mut key_state = p.state.clone();
    key_state.keys = p.regenerate.clone();
    let mut touched = p.touched_paths();
    touched.extend(render::render(&p.state).map_err(io_fail(step))?.into_keys());
    touched.sort();
    touched.dedup();
    let store = Store::new(cx.root);
    store
        .create(&p.state, |dir| {
            let files = stage::files_dir(dir);
            std::fs::create_dir_all(&files)?;
            std::fs::set_permissions(&files, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
            let mut install = Install {
                root_password: root_hash.is_some(),
                ..Install::default()
            };
            for f in &p.files {
                fsutil::write_atomic(&under(&files, f.path), &f.bytes, f.mode)?;
                install.files.push(InstallEntry {
                    path: f.path.into(),
                    group: f.group.map(String::from),
                });
            }
            for (path, text) in &creds {
                fsutil::write_atomic(&under(&files, path), text.as_bytes(), 0o640)?;
                install.files.push(InstallEntry {
                    path: (*path).into(),
                    group: Some(plan::WEB_GROUP.into()),
                });
            }
            keys::ensure(&files, &key_state, &ips, cx.now).map_err(std::io::Error::other)?;
            for k in &p.regenerate {
                for path in plan::key_paths(*k) {
                    // The TLS key as appliance-web's unit keeps it
                    // (root:appliance-web 0640), so boots rewrite nothing.
                    let group = (path == paths::TLS_KEY).then(|| {
                        let _ = std::fs::set_permissions(
                            under(&files, &path),
                            std::os::unix::fs::PermissionsExt::from_mode(0o640),
                        );
                        plan::WEB_GROUP.to_string()
                    });
                    install.files.push(InstallEntry { path, group });
                }
            }
            stage::write_install(dir, &install, root_hash.as_deref())?;
            stage::snapshot(cx.root, dir, &touched, root_hash.is_some())
        })
        .map_err(io_fail(step))
}

/// Runs an activation from the wizard's state file. `facts` describe the
/// running system.
pub fn activate(cx: &Ctx, facts: &Facts) -> Result<Status, ActivationError> {
    if keys::setup_done(cx.root) {
        return Err(fail("starting")(
            "the appliance is set up already; use its dashboard".into(),
        ));
    }
    if let Some(r) = status::read_record(cx.root).map_err(fail("starting"))? {
        return Err(fail("starting")(format!(
            "an activation (configuration {}) is not final yet{}; wait for it",
            r.generation,
            r.confirm_deadline
                .map(|d| format!(": it waits for its confirmation until {d}"))
                .unwrap_or_default()
        )));
    }
    cx.running(
        "checking the wizard",
        "checking the wizard's settings again",
    );
    let (_, c) = crate::check::read_wizard(cx.root, cx.now)?;
    let store = Store::new(cx.root);
    let (previous, current) = store
        .current()
        .map_err(io_fail("reading the configuration"))?
        .ok_or_else(|| {
            fail("reading the configuration")(
                "there is no current configuration; restart the appliance".into(),
            )
        })?;
    let p = plan::plan(&c, &current, facts).map_err(io_fail("planning"))?;

    cx.running(
        "checking clients.conf",
        "checking the RADIUS clients with FreeRADIUS",
    );
    let check = under(cx.root, "/run/appliance/clients.conf.check");
    let conf = p
        .files
        .iter()
        .find(|f| f.path == paths::RADIUS_CLIENTS)
        .map(|f| f.bytes.clone())
        .unwrap_or_default();
    fsutil::write_atomic(&check, &conf, 0o600).map_err(io_fail("checking clients.conf"))?;
    let checked = cx.sys.check_clients_conf(cx.root, &check);
    let _ = std::fs::remove_file(&check);
    checked.map_err(fail("checking clients.conf"))?;

    cx.running(
        "staging",
        "making keys and passwords and staging the new configuration",
    );
    let n = stage_generation(cx, &p)?;
    let deadline = p
        .needs_confirm
        .then(|| cx.now + time::Duration::seconds(i64::try_from(p.grace_seconds).unwrap_or(600)));
    let record = Record {
        generation: n,
        previous,
        confirm_deadline: deadline.and_then(|d| d.format(&Rfc3339).ok()),
        interface: p
            .address_change
            .as_ref()
            .map(|a| a.interface.clone())
            .unwrap_or_default(),
        old_address: p.address_change.as_ref().and_then(|a| a.old),
        new_url: p.new_url.clone(),
        shutdown: p.shutdown,
        rotate_db_passwords: p.db_passwords == DbPasswords::Rotate,
        rolling_back: false,
        restore: false,
    };
    if p.db_passwords == DbPasswords::SkipNoTool {
        println!(
            "note: the internal database passwords were not rotated: {} is not installed",
            crate::system::OTP_TOOL
        );
    }
    status::write_record(cx.root, &record).map_err(io_fail("recording the activation"))?;
    test_crash("staged")?;
    cx.running("switching", "switching to the new configuration");
    store.switch(n).map_err(io_fail("switching"))?;
    test_crash("switched")?;
    let done = forward(
        cx,
        &record,
        &p.state,
        &current,
        p.set_clock.as_deref(),
        &p.restart,
        &p.reload,
    );
    match done {
        Ok(s) => Ok(s),
        // After the switch a failure returns to the previous configuration
        // as a whole rather than leaving half of the new one.
        Err(e) => {
            let why = format!("The activation failed ({e}).");
            match rollback(cx, &record, &why) {
                Ok(_) => Err(ActivationError {
                    step: e.step,
                    message: format!("{}; the previous configuration is back", e.message),
                }),
                Err(r) => Err(ActivationError {
                    step: e.step,
                    message: format!(
                        "{}; going back failed too ({r}); restart the appliance to finish going back",
                        e.message
                    ),
                }),
            }
        }
    }
}

/// Test hook: `APPLIANCE_ACTIVATE_TEST_CRASH_AT=staged|switched` stops the
/// activation there, as a power cut would (nothing after it runs).
fn test_crash(point: &str) -> Result<(), ActivationError> {
    if std::env::var("APPLIANCE_ACTIVATE_TEST_CRASH_AT").as_deref() == Ok(point) {
        return Err(fail("test crash")(format!(
            "stopped after {point} (test hook)"
        )));
    }
    Ok(())
}

/// Everything after the switch (also what a boot repeats).
pub(crate) fn forward(
    cx: &Ctx,
    r: &Record,
    st: &DesiredState,
    before: &DesiredState,
    set_clock: Option<&str>,
    restart: &[&str],
    reload: &[&str],
) -> Result<Status, ActivationError> {
    let step = "applying the new configuration";
    cx.running("applying", "writing the new configuration");
    let gen_dir = Store::new(cx.root).dir(r.generation);
    stage::install(cx.root, &gen_dir, cx.day()).map_err(io_fail(step))?;
    let rendered = render::render(st).map_err(io_fail(step))?;
    appliance_config::apply::apply(cx.root, &rendered).map_err(io_fail(step))?;
    if r.confirm_deadline.is_some() {
        if let Some(old) = r.old_address {
            let path = under(cx.root, &plan::grace_dropin(&r.interface));
            fsutil::write_atomic(&path, plan::grace_dropin_text(old).as_bytes(), 0o644)
                .map_err(io_fail(step))?;
        }
    }
    firstboot::write_resolv(cx.root, st).map_err(io_fail(step))?;
    if cx.running && !r.shutdown {
        cx.running(
            "restarting",
            "restarting the services whose configuration changed",
        );
        if st.hostname != before.hostname {
            cx.sys.set_hostname(&st.hostname).map_err(fail(step))?;
        }
        if let Some(local) = set_clock {
            cx.sys.set_clock(local, &st.time_zone).map_err(fail(step))?;
        }
        cx.sys.restart(restart).map_err(fail(step))?;
        cx.sys.reload(reload).map_err(fail(step))?;
    } else if cx.running {
        if let Some(local) = set_clock {
            cx.sys.set_clock(local, &st.time_zone).map_err(fail(step))?;
        }
    }
    refresh_console(cx);
    if r.confirm_deadline.is_none() {
        return finalize(cx, r);
    }
    let fp = keys::fingerprints(cx.root);
    let deadline = r.confirm_deadline.clone().unwrap_or_default();
    let url = r.new_url.clone().unwrap_or_default();
    let shown_url = if url.is_empty() {
        "the new address (see the console)".to_string()
    } else {
        url.clone()
    };
    let (what, back) = if r.restore {
        (
            "The restored configuration changes the address.",
            "the previous network configuration comes back (the other restored components stay)",
        )
    } else {
        (
            "The set-up wizard changed the address.",
            "the previous configuration comes back",
        )
    };
    cx.say(&format!(
        "{what} Open {shown_url}setup/confirm and sign in as the Appliance Administrator before {deadline}, or {back}."
    ));
    if cx.running {
        cx.sys.start_rollback_service().map_err(fail(step))?;
    }
    let s = Status {
        state: Phase::PendingConfirm,
        step: "waiting for the confirmation".into(),
        message: format!(
            "Open {shown_url}setup/confirm and sign in as the Appliance Administrator before {deadline}; otherwise {back}."
        ),
        new_url: url,
        tls_sha256: fp.tls_colon().unwrap_or_default(),
        spki_sha256: fp.spki_sha256_b64.unwrap_or_default(),
        confirm_deadline: deadline,
        shutdown: false,
    };
    cx.status(&s);
    Ok(s)
}

pub(crate) fn refresh_console(cx: &Ctx) {
    if let Err(e) = appliance_config::watch::once(cx.root, cx.consoles, firstboot::Print::Always) {
        eprintln!("cannot refresh the console text: {e}");
    }
}

/// Makes the activation final: set-up done, the setup code and the typed
/// passwords gone, database passwords, record removed; powers off when
/// asked.
fn finalize(cx: &Ctx, r: &Record) -> Result<Status, ActivationError> {
    let step = "finishing";
    let mut notes = Vec::new();
    if r.rotate_db_passwords && cx.running {
        // The OTP service keeps its connections: restarted, it uses the
        // new password for every one (at the next boot after a power-off).
        let rotated = cx.sys.rotate_db_passwords().and_then(|()| {
            if r.shutdown {
                Ok(())
            } else {
                cx.sys.restart(&[plan::OTP])
            }
        });
        if let Err(e) = rotated {
            notes.push(format!(
                "the internal database passwords were not rotated: {e}"
            ));
        }
    }
    fsutil::write_atomic(&under(cx.root, paths::SETUP_DONE), b"", 0o644).map_err(io_fail(step))?;
    for p in [paths::SETUP_SECRET, paths::SETUP_COUNTER, paths::SETUP_HASH] {
        match std::fs::remove_file(under(cx.root, p)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io_fail(step)(e)),
            _ => {}
        }
    }
    forget_passwords(cx.root).map_err(fail(step))?;
    status::remove_record(cx.root).map_err(io_fail(step))?;
    refresh_console(cx);
    let fp = keys::fingerprints(cx.root);
    let mut message = if r.restore {
        "The restored configuration is confirmed on the new address.".to_string()
    } else if r.shutdown {
        "The appliance is set up and powers off now.".to_string()
    } else {
        "The appliance is set up. Sign in to the dashboard as the Appliance Administrator."
            .to_string()
    };
    for n in &notes {
        message.push_str(&format!(" Note: {n}."));
    }
    let s = Status {
        state: Phase::Done,
        step: "done".into(),
        message,
        new_url: r.new_url.clone().unwrap_or_default(),
        tls_sha256: fp.tls_colon().unwrap_or_default(),
        spki_sha256: fp.spki_sha256_b64.unwrap_or_default(),
        confirm_deadline: String::new(),
        shutdown: r.shutdown,
    };
    cx.status(&s);
    if r.shutdown && cx.running {
        cx.say("The set-up is done; the appliance powers off.");
        cx.sys.poweroff().map_err(fail("powering off"))?;
    }
    Ok(s)
}

/// Blanks the typed passwords in the wizard's state file, keeping its
/// owner and mode.
fn forget_passwords(root: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let path = under(root, paths::WIZARD_STATE);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(());
    };
    let mut w: WizardState =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if let Some(r) = w.roles.as_mut() {
        for a in [&mut r.linotp_admin, &mut r.root, &mut r.appliance_admin] {
            a.password = Secret(String::new());
        }
    }
    let meta = std::fs::metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let json = serde_json::to_string_pretty(&w).map_err(|e| e.to_string())?;
    fsutil::write_atomic(&path, json.as_bytes(), 0o600)
        .and_then(|()| std::os::unix::fs::chown(&path, Some(meta.uid()), Some(meta.gid())))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// The confirmation from the new address: drops the old address and makes
/// the activation final. `Ok(None)` when nothing waits for one.
pub fn confirm(cx: &Ctx) -> Result<Option<Status>, ActivationError> {
    let Some(r) = status::read_record(cx.root).map_err(fail("confirming"))? else {
        return Ok(None);
    };
    if r.confirm_deadline.is_none() || r.rolling_back {
        return Ok(None);
    }
    let path = under(cx.root, &plan::grace_dropin(&r.interface));
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io_fail("confirming")(e)),
        _ => {}
    }
    if cx.running {
        cx.sys
            .restart(&[plan::NETWORKD])
            .map_err(fail("confirming"))?;
    }
    let mut final_record = r.clone();
    final_record.confirm_deadline = None;
    cx.say("The new address is confirmed; the previous one is dropped.");
    finalize(cx, &final_record).map(Some)
}

/// Whether `r`'s deadline has passed at `now`.
pub fn expired(r: &Record, now: OffsetDateTime) -> bool {
    r.confirm_deadline
        .as_deref()
        .and_then(|d| OffsetDateTime::parse(d, &Rfc3339).ok())
        .is_some_and(|d| now >= d)
}

/// Returns to the generation before `r`'s: switch back, the previous
/// state's files, the undo record, the old address; restarts the services
/// when running. Idempotent (an interrupted rollback is finished at boot).
pub fn rollback(cx: &Ctx, r: &Record, why: &str) -> Result<Status, ActivationError> {
    let step = "rolling back";
    let mut marked = r.clone();
    marked.rolling_back = true;
    status::write_record(cx.root, &marked).map_err(io_fail(step))?;
    cx.running(step, why);
    let store = Store::new(cx.root);
    store.switch(r.previous).map_err(io_fail(step))?;
    let before = store.load(r.previous).map_err(io_fail(step))?;
    let rendered = render::render(&before).map_err(io_fail(step))?;
    appliance_config::apply::apply(cx.root, &rendered).map_err(io_fail(step))?;
    stage::restore(cx.root, &store.dir(r.generation)).map_err(io_fail(step))?;
    // A restored generation has no undo record: the old address's drop-in
    // goes here (for the wizard's, the undo record removed it already).
    if !r.interface.is_empty() {
        match std::fs::remove_file(under(cx.root, &plan::grace_dropin(&r.interface))) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io_fail(step)(e)),
            _ => {}
        }
    }
    firstboot::write_resolv(cx.root, &before).map_err(io_fail(step))?;
    status::remove_record(cx.root).map_err(io_fail(step))?;
    if cx.running {
        let _ = cx.sys.set_hostname(&before.hostname);
        cx.sys
            .restart(&[plan::NETWORKD, plan::CHRONY, plan::FREERADIUS, plan::SSHD])
            .map_err(fail(step))?;
        cx.sys.reload(&[plan::WEB]).map_err(fail(step))?;
    }
    refresh_console(cx);
    let message = if r.restore {
        format!(
            "{why} The previous network configuration is back (configuration {}); the other restored components stay. Restore the configuration again and confirm it from its address in time, or keep this one.",
            r.previous
        )
    } else {
        format!(
            "{why} The previous configuration is back (configuration {}); open the wizard again to activate.",
            r.previous
        )
    };
    cx.say(&message);
    let s = Status::new(Phase::RolledBack, "rolled back", message);
    cx.status(&s);
    Ok(s)
}

/// What every boot does before the desired state is applied: finishes an
/// interrupted activation or rollback, rolls back an expired one, and
/// installs the current generation's files again.
pub fn at_boot(cx: &Ctx) -> Result<Option<Status>, ActivationError> {
    let store = Store::new(cx.root);
    let current = store.current().map_err(io_fail("boot"))?;
    let Some(r) = status::read_record(cx.root).map_err(fail("boot"))? else {
        if let Some((n, _)) = current {
            stage::install(cx.root, &store.dir(n), cx.day()).map_err(io_fail("boot"))?;
        }
        return Ok(None);
    };
    let switched = current.as_ref().map(|c| c.0) == Some(r.generation);
    if r.rolling_back || expired(&r, cx.now) {
        let why = if r.rolling_back {
            "A rollback was interrupted and is finished now."
        } else {
            "The new address was not confirmed in time."
        };
        return rollback(cx, &r, why).map(Some);
    }
    if !switched {
        status::remove_record(cx.root).map_err(io_fail("boot"))?;
        let s = Status::new(
            Phase::Failed,
            "interrupted",
            "The activation was interrupted before it took effect; nothing changed. Press Activate again.",
        );
        cx.status(&s);
        return Ok(Some(s));
    }
    let Some((_, st)) = current else {
        return Ok(None);
    };
    let previous = store.load(r.previous).map_err(io_fail("boot"))?;
    forward(cx, &r, &st, &previous, None, &[], &[]).map(Some)
}
