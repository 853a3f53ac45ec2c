//! The FAT label readers: the appliance's boot sector parser (which finds
//! its boot partition) and the installer's volume probe (which finds an
//! answers stick: FAT boot sector, root directory, or ISO 9660 volume id).
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;

// The appliance is a binary crate; its boot sector parser is one pure file
// with no dependency but thiserror, so the target compiles it directly.
#[path = "../../sample-appliance/src/fatlabel.rs"]
#[allow(dead_code)]
mod fatlabel;

fuzz_target!(|data: &[u8]| {
    if let Ok(bs) = fatlabel::parse(data) {
        if let Some(label) = &bs.label {
            assert!(!label.is_empty() && label.len() <= 11 * 4, "{label:?}");
        }
    }
    let _ = installer::answers::volume::probe(&mut Cursor::new(data));
});
