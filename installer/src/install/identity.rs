//! Is the opened disk still the one that was chosen? Between the disk list
//! and the first write lie prompts of any length and every Retry, so after
//! the exclusive open the device is identified again: its size (from the
//! kernel, `BLKGETSIZE64`) and serial (sysfs) must be the planned disk's, and
//! its content must not be the installer's own medium (an ISO 9660 primary
//! volume descriptor with the build's volume id at block 16). Pure: the
//! caller reads the values, [`check`] judges them.

use crate::facts::hw::{human_size, Disk};
use crate::medium::{pvd_volume_id, ISO_BLOCK, PVD_BLOCK};

/// Byte offset of the block [`check`] looks at (ISO 9660 block 16).
pub const PVD_OFFSET: u64 = PVD_BLOCK * ISO_BLOCK as u64;
/// Bytes of it [`check`] needs.
pub const PVD_LEN: usize = ISO_BLOCK;

/// What was found on the opened device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found<'a> {
    /// Size in bytes, from the kernel.
    pub size_bytes: u64,
    /// The serial sysfs reports now (empty if none).
    pub serial: &'a str,
    /// The bytes at [`PVD_OFFSET`] (shorter if the disk is smaller).
    pub block16: &'a [u8],
}

/// Why the opened device is not the one to write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// Size or serial differ from what the plan was made for.
    #[error("{path} is not the disk that was chosen: planned {planned}, found {found}")]
    Changed {
        /// The device.
        path: String,
        /// The chosen disk: size and serial.
        planned: String,
        /// The opened device: size and serial.
        found: String,
    },
    /// The device carries the installer's own ISO image.
    #[error("{path} holds the installation medium (ISO 9660 volume {volume_id:?})")]
    InstallMedium {
        /// The device.
        path: String,
        /// The volume id found.
        volume_id: String,
    },
}

fn describe(size_bytes: u64, serial: &str) -> String {
    let serial = if serial.is_empty() {
        "no serial".to_string()
    } else {
        format!("serial {serial}")
    };
    format!("{} ({size_bytes} bytes), {serial}", human_size(size_bytes))
}

/// Judges the opened device `path` against the `planned` disk. `volume_id`
/// is the installer's ISO volume id (from its build information); a device
/// whose block 16 is a primary volume descriptor with that id is refused.
pub fn check(
    path: &str,
    planned: &Disk,
    found: &Found<'_>,
    volume_id: Option<&str>,
) -> Result<(), IdentityError> {
    if planned.size_bytes != found.size_bytes || planned.serial.trim() != found.serial.trim() {
        return Err(IdentityError::Changed {
            path: path.into(),
            planned: describe(planned.size_bytes, &planned.serial),
            found: describe(found.size_bytes, found.serial),
        });
    }
    if let (Some(ours), Some(id)) = (volume_id, pvd_volume_id(found.block16)) {
        if id == ours {
            return Err(IdentityError::InstallMedium {
                path: path.into(),
                volume_id: id,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(size_bytes: u64, serial: &str) -> Disk {
        Disk {
            name: "sda".into(),
            size_bytes,
            model: "QEMU HARDDISK".into(),
            removable: false,
            bus: "ata",
            serial: serial.into(),
            read_only: false,
            logical_sector: 512,
        }
    }

    fn pvd(volume_id: &str) -> Vec<u8> {
        let mut b = vec![0u8; ISO_BLOCK];
        b[0] = 1; // 0x00: type 1, primary volume descriptor
        b[1..6].copy_from_slice(b"CD001"); // 0x01: standard identifier
        b[6] = 1; // 0x06: version
        b[0x28..0x48].fill(b' '); // 0x28: volume identifier, space padded
        b[0x28..0x28 + volume_id.len()].copy_from_slice(volume_id.as_bytes());
        b
    }

    const GIB: u64 = 1 << 30;

    #[test]
    fn the_same_disk_passes() {
        let zero = vec![0u8; ISO_BLOCK];
        let found = Found {
            size_bytes: 20 * GIB,
            serial: "QM00001",
            block16: &zero,
        };
        assert_eq!(
            check("/dev/sda", &disk(20 * GIB, "QM00001"), &found, Some("APP")),
            Ok(())
        );
        // Another ISO image (not ours) on the disk is fine to overwrite.
        let other = pvd("SOMETHING_ELSE");
        let found = Found {
            block16: &other,
            ..found
        };
        assert_eq!(
            check("/dev/sda", &disk(20 * GIB, "QM00001"), &found, Some("APP")),
            Ok(())
        );
    }

    #[test]
    fn another_size_or_serial_is_refused() {
        let zero = vec![0u8; ISO_BLOCK];
        let planned = disk(20 * GIB, "QM00001");
        let bigger = Found {
            size_bytes: 40 * GIB,
            serial: "QM00001",
            block16: &zero,
        };
        let e = check("/dev/sda", &planned, &bigger, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/dev/sda is not the disk that was chosen: planned 20.0 GiB (21474836480 bytes), \
             serial QM00001, found 40.0 GiB (42949672960 bytes), serial QM00001"
        );
        let swapped = Found {
            serial: "QM00002",
            ..bigger.clone()
        };
        let swapped = Found {
            size_bytes: 20 * GIB,
            ..swapped
        };
        assert!(matches!(
            check("/dev/sda", &planned, &swapped, None),
            Err(IdentityError::Changed { .. })
        ));
        let lost = Found {
            serial: "",
            ..swapped
        };
        assert!(matches!(
            check("/dev/sda", &planned, &lost, None),
            Err(IdentityError::Changed { found, .. }) if found.ends_with("no serial")
        ));
    }

    #[test]
    fn the_installers_own_medium_is_refused() {
        let ours = pvd("APPLIANCE_INSTALL");
        let planned = disk(GIB, "");
        let found = Found {
            size_bytes: GIB,
            serial: "",
            block16: &ours,
        };
        assert_eq!(
            check("/dev/mmcblk0", &planned, &found, Some("APPLIANCE_INSTALL")),
            Err(IdentityError::InstallMedium {
                path: "/dev/mmcblk0".into(),
                volume_id: "APPLIANCE_INSTALL".into(),
            })
        );
        // A short read (a disk smaller than 34 KiB) is no medium.
        let short = Found {
            block16: &ours[..10],
            ..found.clone()
        };
        assert_eq!(
            check("/dev/mmcblk0", &planned, &short, Some("APPLIANCE_INSTALL")),
            Ok(())
        );
    }
}
