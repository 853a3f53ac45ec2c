//! The vendor repository's signed metadata as the installer verifies it:
//! the envelope (JSON, base64, signatures), then each payload kind
//! (manifest, serial record) with format, expiry, rollback and
//! kind-specific checks, the snapshot and its checks of the other files,
//! and the serial number parser.
//!
//! Random bytes never carry a valid signature, so the first byte picks a
//! mode: the rest is either a whole envelope (mode `E`, the envelope parser
//! and signature check), or a payload that the target signs with its TEST
//! key first (the payload parsers behind a valid signature), or a serial
//! number as typed. A new signed metadata kind gets a mode of its own here
//! (a payload type, its `verify`, and seeds named after the mode).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vendor_repo::keys::{SecretKey, TrustStore};
use vendor_repo::snapshot::{self, Snapshot};
use vendor_repo::{manifest, registry, signed, Manifest, Serial, SerialRecord};

/// The time the checks run at (inside the seeds' validity).
const NOW: u64 = 1_800_000_000;

fn key() -> SecretKey {
    // TEST key: a fixed seed, never used outside this target.
    SecretKey::from_seed([7; 32], true)
}

fn trust(key: &SecretKey) -> TrustStore {
    TrustStore {
        keys: vec![key.public()],
        ..TrustStore::default()
    }
}

fn serial() -> Serial {
    Serial::parse(vendor_repo::serial::EXAMPLE).expect("the example serial is valid")
}

fn check_manifest(bytes: &[u8], trust: &TrustStore) {
    if let Ok(m) = Manifest::verify(bytes, trust, NOW, 0, "example-appliance", "stable") {
        // A verified manifest must survive its own signing path.
        assert!(m.validate().is_ok());
        for c in &m.components {
            let _ = c.object_path();
        }
    }
}

fn check_record(bytes: &[u8], trust: &TrustStore) {
    let serial = serial();
    if let Ok(r) = SerialRecord::verify(bytes, trust, NOW, 0, &serial) {
        let _ = r.entitles("example-appliance", "stable", NOW);
    }
}

fn check_snapshot(bytes: &[u8], trust: &TrustStore) {
    if let Ok(s) = Snapshot::verify(bytes, trust, NOW, 0) {
        // The checks of listed files never panic, whatever the entries say.
        for (path, entry) in &s.manifests {
            let _ = s.check_manifest(path, entry.version, bytes);
            let _ = s.check_manifest(path, entry.version.saturating_add(1), bytes);
        }
        for (id, entry) in &s.serials {
            let _ = s.check_serial(id, entry.version.saturating_sub(1), bytes);
        }
        let _ = s.check_manifest("models/example-appliance/stable/manifest.json", 1, bytes);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let key = key();
    let trust = trust(&key);
    match mode {
        b'E' => {
            check_manifest(rest, &trust);
            check_record(rest, &trust);
            check_snapshot(rest, &trust);
        }
        b'N' => check_snapshot(&signed::sign(snapshot::PAYLOAD_TYPE, rest, &[&key]), &trust),
        b'M' => check_manifest(&signed::sign(manifest::PAYLOAD_TYPE, rest, &[&key]), &trust),
        b'R' => check_record(&signed::sign(registry::PAYLOAD_TYPE, rest, &[&key]), &trust),
        b'S' => {
            if let Ok(text) = std::str::from_utf8(rest) {
                if let Ok(s) = Serial::parse(text) {
                    // A parsed serial prints in a form that parses back to it.
                    let again = Serial::parse(&s.to_string()).expect("a serial's own text parses");
                    assert_eq!(again.registry_id(), s.registry_id());
                    let _ = s.masked();
                }
            }
        }
        _ => {}
    }
});
