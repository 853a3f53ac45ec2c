//! The backup manifest parser (`appliance_backup::Manifest::parse`):
//! whatever the bytes, a manifest that passes re-validates, names only
//! relative normalised files, and survives a JSON round trip unchanged.
#![no_main]

use appliance_backup::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match Manifest::parse(data) {
        Ok(m) => {
            assert!(m.validate().is_ok());
            for c in &m.components {
                for f in &c.files {
                    assert!(!f.path.starts_with('/'), "{:?}", f.path);
                    assert!(!f.path.split('/').any(|p| p == ".."), "{:?}", f.path);
                }
            }
            let again = serde_json::to_vec(&m).expect("a parsed manifest encodes");
            assert_eq!(Manifest::parse(&again).expect("re-parses"), m);
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
