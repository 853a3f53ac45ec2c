//! Asking the backend about a serial number: clock first, then the signed
//! snapshot (`snapshot.json`: what is current), then the signed serial
//! record, then this model's signed manifest, each checked against the
//! snapshot. Pure given a [`Fetch`]; tested with files signed by test keys.

use super::{Problem, SerialCheck, VendorConfig, Verified};
use vendor_repo::registry::Entitled;
use vendor_repo::{Manifest, Seen, Serial, SerialRecord, Snapshot, VerifyError};

/// Largest metadata file accepted (bytes); anything larger is not ours.
pub const MAX_METADATA: u64 = 1 << 20;
/// Largest `snapshot.json` accepted: it lists every serial record
/// (about 150 bytes each, so some 50 000 serials).
pub const MAX_SNAPSHOT: u64 = 8 << 20;

/// Why a fetch failed, as far as the serial check cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchFailure {
    /// HTTP 404.
    NotFound,
    /// Anything else, already explained.
    Problem(Problem),
}

/// Reads a file from the backend.
pub trait Fetch {
    /// GETs `url`, refusing bodies over `max` bytes.
    fn get(&mut self, url: &str, max: u64) -> Result<Vec<u8>, FetchFailure>;
}

/// The clock check (TLS and expiry both need a sane clock).
pub fn clock_problem(now: u64, build_epoch: u64) -> Option<Problem> {
    (now < build_epoch).then(|| Problem {
        kind: "clock",
        detail: format!(
            "the clock reads {}, before this installer was built ({})",
            crate::flow::text::date(now),
            crate::flow::text::date(build_epoch)
        ),
        hint: "set the date and time in the firmware setup or the hypervisor, then retry".into(),
    })
}

fn untrusted(what: &str, e: &VerifyError) -> Problem {
    let hint = match e {
        VerifyError::Expired {
            what: vendor_repo::snapshot::WHAT,
            ..
        } => {
            "snapshot.json is valid for days only: the vendor must refresh it (cargo xtask repo timestamp), or this machine's clock is wrong: check the clock, then retry"
        }
        VerifyError::Expired { .. } => {
            "the vendor's server offers outdated data, or the clock is wrong: check the clock, retry later or contact your vendor"
        }
        VerifyError::Rollback { .. } => {
            "the server offers older data than this installer already trusts: it may be a stale mirror; contact your vendor"
        }
        VerifyError::Superseded { .. }
        | VerifyError::NotInSnapshot { .. }
        | VerifyError::SnapshotHashMismatch { .. } => {
            "the server offers a file the vendor's current snapshot does not list: it may be a stale or tampered mirror; retry later or contact your vendor"
        }
        VerifyError::UntrustedKey { .. } => {
            "this installer does not trust the key that signed it: use a current installer ISO from your vendor"
        }
        _ => "the data was altered or damaged on the way: retry; if it persists, contact your vendor",
    };
    let when = match e {
        VerifyError::Expired { expires, now, .. } => format!(
            " (expired {}, the clock reads {})",
            crate::flow::text::date(*expires),
            crate::flow::text::date(*now)
        ),
        _ => String::new(),
    };
    Problem {
        kind: "untrusted",
        detail: format!("the {what} from the vendor's server was refused: {e}{when}"),
        hint: hint.into(),
    }
}

/// Fetches and verifies `snapshot.json`, the first file of every check.
fn snapshot(
    config: &VendorConfig,
    fetch: &mut dyn Fetch,
    seen: &mut Seen,
    now: u64,
) -> Result<Snapshot, Problem> {
    let path = vendor_repo::snapshot::PATH;
    let bytes = match fetch.get(&config.url(path), MAX_SNAPSHOT) {
        Ok(b) => b,
        Err(FetchFailure::NotFound) => {
            return Err(Problem {
                kind: "untrusted",
                detail: format!(
                    "the vendor's server has no {path} (HTTP 404): without it no file can be checked for being current"
                ),
                hint: "the repository is incomplete or this is not the vendor's server: contact your vendor".into(),
            })
        }
        Err(FetchFailure::Problem(p)) => return Err(p),
    };
    let s = Snapshot::verify(&bytes, &config.trust, now, seen.minimum(path))
        .map_err(|e| untrusted("snapshot", &e))?;
    seen.record(path, s.metadata_version);
    Ok(s)
}

/// Checks `serial` (see the module docs); records accepted versions in `seen`.
pub fn check_serial(
    config: &VendorConfig,
    fetch: &mut dyn Fetch,
    seen: &mut Seen,
    now: u64,
    build_epoch: u64,
    serial: &Serial,
) -> SerialCheck {
    if let Some(p) = clock_problem(now, build_epoch) {
        return SerialCheck::Problem(p);
    }
    let snapshot = match snapshot(config, fetch, seen, now) {
        Ok(s) => s,
        Err(p) => return SerialCheck::Problem(p),
    };
    let record_path = vendor_repo::serial_path(serial);
    let bytes = match fetch.get(&config.url(&record_path), MAX_METADATA) {
        Ok(b) => b,
        Err(FetchFailure::NotFound) => return SerialCheck::Unknown,
        Err(FetchFailure::Problem(p)) => return SerialCheck::Problem(p),
    };
    let record = match SerialRecord::verify(
        &bytes,
        &config.trust,
        now,
        seen.minimum(&record_path),
        serial,
    ) {
        Ok(r) => r,
        Err(e) => return SerialCheck::Problem(untrusted("serial record", &e)),
    };
    if let Err(e) = snapshot.check_serial(&record.serial_id, record.metadata_version, &bytes) {
        return SerialCheck::Problem(untrusted("serial record", &e));
    }
    seen.record(&record_path, record.metadata_version);
    let entitlement = match record.entitles(&config.model, &config.channel, now) {
        Entitled::Yes(e) => e,
        Entitled::Ended { until } => return SerialCheck::Ended { until },
        Entitled::OtherModels(models) => {
            return SerialCheck::NoSupport {
                detail: format!(
                    "this serial number is for {}, not {} ({})",
                    if models.is_empty() {
                        "no appliance".to_string()
                    } else {
                        models.join(", ")
                    },
                    config.model,
                    config.channel
                ),
            }
        }
    };
    let manifest_path = vendor_repo::manifest_path(&config.model, &config.channel);
    let bytes = match fetch.get(&config.url(&manifest_path), MAX_METADATA) {
        Ok(b) => b,
        Err(FetchFailure::NotFound) => {
            return SerialCheck::NoSupport {
                detail: format!(
                    "the server publishes no release of {} on channel {}",
                    config.model, config.channel
                ),
            }
        }
        Err(FetchFailure::Problem(p)) => return SerialCheck::Problem(p),
    };
    let manifest = match Manifest::verify(
        &bytes,
        &config.trust,
        now,
        seen.minimum(&manifest_path),
        &config.model,
        &config.channel,
    ) {
        Ok(m) => m,
        Err(e) => return SerialCheck::Problem(untrusted("release manifest", &e)),
    };
    if let Err(e) = snapshot.check_manifest(&manifest_path, manifest.metadata_version, &bytes) {
        return SerialCheck::Problem(untrusted("release manifest", &e));
    }
    seen.record(&manifest_path, manifest.metadata_version);
    SerialCheck::Verified(Verified {
        serial: serial.clone(),
        model: config.model.clone(),
        channel: config.channel.clone(),
        until: entitlement.until,
        release: manifest.release.clone(),
        manifest_version: manifest.metadata_version,
        manifest,
    })
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
