//! The ISO 9660 reader (`image_builder::iso::read`): volume descriptors,
//! the El Torito boot record, directories with and without Rock Ridge,
//! path lookup. The image is the input, served from memory; reads past its
//! end fail like a short device.
#![no_main]

use std::io::Cursor;

use image_builder::iso::read;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut r = Cursor::new(data);
    let _ = read::volume_descriptors(&mut r);
    let _ = read::boot_catalog_lba(&mut r);
    if let Ok(root) = read::read_dir(&mut r, "/") {
        for e in root.iter().take(8) {
            let path = format!("/{}", e.name());
            if e.is_dir {
                let _ = read::read_dir(&mut r, &path);
            } else {
                let _ = read::find_file(&mut r, &path);
            }
        }
    }
    for path in [
        "/boot/grub/grub.cfg",
        "/.disk/info",
        "/isolinux/isolinux.bin",
    ] {
        let _ = read::find_file(&mut r, path);
    }
});
