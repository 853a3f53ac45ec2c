//! The backup reader's tar entry filter (`appliance_backup::filter`): the
//! bytes are read as a tar archive and every entry is judged; an accepted
//! entry is a regular file or directory with a relative, normalised name.
#![no_main]

use appliance_backup::filter::{check_entry, check_path, EntryKind};
use libfuzzer_sys::fuzz_target;

fn assert_safe(name: &str) {
    assert!(!name.is_empty() && !name.starts_with('/'), "{name:?}");
    assert!(
        name.split('/')
            .all(|p| !p.is_empty() && p != "." && p != ".."),
        "{name:?}"
    );
    assert!(
        !name.contains('\\') && !name.chars().any(char::is_control),
        "{name:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    // The raw bytes as a name.
    if let Ok(name) = check_path(data) {
        assert_safe(name);
    }
    // The bytes as an archive.
    let mut ar = tar::Archive::new(data);
    let Ok(entries) = ar.entries() else { return };
    for e in entries.take(64) {
        let Ok(e) = e else { break };
        let kind = EntryKind::from_type_byte(e.header().entry_type().as_byte());
        let raw = e.path_bytes();
        match check_entry(&raw, kind) {
            Ok(Some(name)) => {
                assert_eq!(kind, EntryKind::Regular);
                assert_safe(name);
            }
            Ok(None) => assert_eq!(kind, EntryKind::Directory),
            Err(err) => assert!(!err.to_string().is_empty()),
        }
    }
});
