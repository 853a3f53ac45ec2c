//! What the wizard reads from and writes to the appliance: its progress
//! (0600 JSON on the data partition), the setup code's verifier, the
//! vendor's licence keys, the offered time zones and today's date.

use std::path::{Path, PathBuf};

use appliance_wizard::date::Date;
use appliance_wizard::licence::LicenceKey;
use appliance_wizard::state::WizardState;

/// Where the wizard keeps its progress (systemd's `StateDirectory=` of the
/// service; `/var` lives on the data partition).
pub const STATE_FILE: &str = "/var/lib/appliance-web/wizard.json";
/// The vendor's licence key, public half (vendor-repo key file format).
pub const LICENCE_KEY: &str = "/usr/share/appliance/licence-key.pub";
/// tzdata's directory.
pub const ZONEINFO: &str = "/usr/share/zoneinfo";

/// Why the wizard's files could not be used. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The progress file is not a wizard state of this version.
    #[error(
        "{path}: not a set-up wizard state ({detail}); move it away to start the wizard again"
    )]
    State { path: PathBuf, detail: String },
    /// The licence key file is not a public key file.
    #[error("{path}: not a vendor licence key ({detail})")]
    Key { path: PathBuf, detail: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The stored progress, or a new wizard when there is none.
pub fn load_state(path: &Path) -> Result<WizardState, StoreError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| StoreError::State {
            path: path.to_owned(),
            detail: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(WizardState::new()),
        Err(e) => Err(io(path)(e)),
    }
}

/// Writes the progress atomically, mode 0600 from the first byte (it holds
/// the new passwords until activation).
pub fn save_state(path: &Path, state: &WizardState) -> Result<(), StoreError> {
    let json = serde_json::to_vec_pretty(state).map_err(|e| StoreError::State {
        path: path.to_owned(),
        detail: e.to_string(),
    })?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    appliance_config::fsutil::write_atomic(path, &json, 0o600).map_err(io(path))
}

/// The setup code's verifier (read at every claim: a rotation rewrites it).
pub fn read_verifier(path: &Path) -> Result<String, StoreError> {
    std::fs::read_to_string(path).map_err(io(path))
}

/// The vendor's licence keys: a missing file means none (the licence step
/// then says so); a damaged one is an error.
pub fn load_licence_keys(path: &Path) -> Result<Vec<LicenceKey>, StoreError> {
    match std::fs::read_to_string(path) {
        Ok(text) => LicenceKey::from_json(&text)
            .map(|k| vec![k])
            .map_err(|e| StoreError::Key {
                path: path.to_owned(),
                detail: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io(path)(e)),
    }
}

/// The time zones tzdata offers: the third column of `zone1970.tab`, plus
/// `UTC`, sorted.
pub fn load_time_zones(zoneinfo: &Path) -> Result<Vec<String>, StoreError> {
    let path = zoneinfo.join("zone1970.tab");
    let text = std::fs::read_to_string(&path).map_err(io(&path))?;
    let mut zones: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split('\t').nth(2))
        .map(str::to_string)
        .collect();
    zones.push("UTC".into());
    zones.sort();
    zones.dedup();
    Ok(zones)
}

/// The UTC date of `unix` seconds (days to civil date, proleptic Gregorian).
pub fn date_of(unix: u64) -> Date {
    let days = (unix / 86_400) as i64;
    // Howard Hinnant's days_from_civil inverse.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = (yoe + era * 400 + i64::from(month <= 2)) as u16;
    Date { year, month, day }
}

/// Today (UTC) by the system clock.
pub fn today() -> Date {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    date_of(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_of_known_days() {
        assert_eq!(date_of(0).to_string(), "1970-01-01");
        assert_eq!(date_of(951_782_400).to_string(), "2000-02-29");
        assert_eq!(date_of(1_796_601_600).to_string(), "2026-12-07");
        assert_eq!(date_of(4_102_444_799).to_string(), "2099-12-31");
    }

    #[test]
    fn state_is_written_0600_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/wizard.json");
        assert_eq!(load_state(&path).unwrap(), WizardState::new());
        let mut s = WizardState::new();
        s.current = appliance_wizard::state::Step::Network;
        save_state(&path, &s).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(load_state(&path).unwrap(), s);
        std::fs::write(&path, b"{\"format\": 1, \"x\": 2}").unwrap();
        let e = load_state(&path).unwrap_err().to_string();
        assert!(e.contains("not a set-up wizard state"), "{e}");
    }
}
