//! The FAT label readers: the appliance's boot sector parser (which finds
//! its boot partition) and the installer's volume probe (which finds an
//! answers stick: FAT boot sector, root directory, or ISO 9660 volume id).
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;

use installer::bootpart::fatlabel;

fuzz_target!(|data: &[u8]| {
    if let Ok(bs) = fatlabel::parse(data) {
        if let Some(label) = &bs.label {
            assert!(!label.is_empty() && label.len() <= 11 * 4, "{label:?}");
        }
    }
    let _ = installer::answers::volume::probe(&mut Cursor::new(data));
});
