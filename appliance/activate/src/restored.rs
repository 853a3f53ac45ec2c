//! A restored configuration (System → Restore, `etc` or `tls`) put into
//! effect on the running appliance.
//!
//! The restore switched `current` to the backup's desired state (its own
//! generation, without an undo record: the restore library keeps its own
//! journal). When that state keeps the appliance's address, its files, the
//! rendered configuration, `resolv.conf` and the host name are written and
//! the services that read them restarted, as a rollback does for the
//! previous generation. When it moves the appliance to another address, the
//! change goes through the wizard's grace period: an activation record
//! (marked as a restore) with the deadline, the old address kept as a
//! second one, the console and the job's message naming the confirmation
//! page on the new address; unconfirmed, the previous generation comes back
//! at the deadline (the restored keys, certificate and files stay).

use appliance_config::firstboot;
use appliance_config::generation::Store;
use appliance_config::render;
use time::format_description::well_known::Rfc3339;

use crate::apply::{fail, forward, io_fail, refresh_console, ActivationError, Ctx};
use crate::plan::{self, Facts};
use crate::stage;
use crate::status::{self, Record, Status};

/// What putting a restored configuration into effect did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Nothing to do (no current generation).
    Nothing,
    /// In effect now.
    InEffect,
    /// The address changes: in effect, and waiting for the confirmation
    /// from the new address (the status says where and until when).
    PendingConfirm(Status),
}

impl Applied {
    /// The sentence for the restore job's message.
    pub fn note(&self) -> String {
        match self {
            Applied::Nothing => "there was no configuration to put into effect".into(),
            Applied::InEffect => {
                "the restored configuration is in effect and the console shows its fingerprints"
                    .into()
            }
            Applied::PendingConfirm(s) => format!(
                "the restored configuration moves the appliance to another address and keeps the present one until the confirmation: {}",
                s.message
            ),
        }
    }
}

/// Puts the current generation into effect. `before` is the generation
/// that was current before the restore (`None` or the same number: the
/// restore kept the desired state, e.g. `tls` alone); `facts` describe the
/// running system (its address now).
pub fn put_into_effect(
    cx: &Ctx,
    facts: &Facts,
    before: Option<u64>,
) -> Result<Applied, ActivationError> {
    let step = "applying the restored configuration";
    let store = Store::new(cx.root);
    let Some((n, st)) = store.current().map_err(io_fail(step))? else {
        return Ok(Applied::Nothing);
    };
    let previous = match before.filter(|&b| b != n) {
        Some(b) => Some((b, store.load(b).map_err(io_fail(step))?)),
        None => None,
    };
    let change = previous
        .as_ref()
        .and_then(|(_, prev)| plan::address_change(prev, &st, facts));
    if let (Some(change), Some((b, prev))) = (change, previous) {
        // An earlier restore that still waits: going back returns to what
        // was confirmed before it.
        let pending = status::read_record(cx.root).map_err(fail(step))?;
        let back_to = pending.filter(|r| r.restore).map_or(b, |r| r.previous);
        let deadline =
            cx.now + time::Duration::seconds(i64::try_from(facts.grace_seconds).unwrap_or(600));
        let record = Record {
            generation: n,
            previous: back_to,
            confirm_deadline: deadline.format(&Rfc3339).ok(),
            interface: change.interface.clone(),
            old_address: change.old,
            new_url: plan::url_at(&change),
            shutdown: false,
            rotate_db_passwords: false,
            rolling_back: false,
            restore: true,
        };
        status::write_record(cx.root, &record).map_err(io_fail(step))?;
        let restart = [plan::NETWORKD, plan::CHRONY, plan::FREERADIUS, plan::SSHD];
        let s = forward(cx, &record, &st, &prev, None, &restart, &[plan::WEB])?;
        return Ok(Applied::PendingConfirm(s));
    }
    stage::install(cx.root, &store.dir(n), cx.day()).map_err(io_fail(step))?;
    let rendered = render::render(&st).map_err(io_fail(step))?;
    appliance_config::apply::apply(cx.root, &rendered).map_err(io_fail(step))?;
    firstboot::write_resolv(cx.root, &st).map_err(io_fail(step))?;
    if cx.running {
        cx.sys.set_hostname(&st.hostname).map_err(fail(step))?;
        cx.sys
            .restart(&[plan::NETWORKD, plan::CHRONY, plan::FREERADIUS, plan::SSHD])
            .map_err(fail(step))?;
        cx.sys.reload(&[plan::WEB]).map_err(fail(step))?;
    }
    refresh_console(cx);
    Ok(Applied::InEffect)
}
