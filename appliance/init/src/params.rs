//! What stage 1 reads from the kernel command line. Pure.
//!
//! - `appliance.boot_volume=XXXX-XXXX` — the boot partition's FAT volume id,
//!   added by the installer (else `appliance.boot=`, as for every appliance
//!   initramfs: [`installer::bootpart::BootSpec`]);
//! - `appliance.root=N`, `appliance.data=N` — the numbers of the root image
//!   and data partitions **on the disk that holds the boot partition**
//!   (the manifest's `boot.cmdline`, made from the same layout the installer
//!   numbers the partitions by: the n-th partition of the layout is
//!   partition n, on MBR and GPT alike);
//! - `appliance.test_marker` — TEST ONLY, set by the QEMU tests: stage 1
//!   reports the marker file on the data partition when it is there, and
//!   writes it when not, so a test proves the partition persists across
//!   reboots (the same command line on every boot).

use installer::bootpart::{self, BootSpec};
use installer::cmdline::KernelCmdline;

/// The kernel parameter with the root image's partition number.
pub const PARAM_ROOT: &str = "appliance.root";
/// The kernel parameter with the data partition's partition number.
pub const PARAM_DATA: &str = "appliance.data";
/// The tests' marker hook (see the module docs).
pub const PARAM_TEST_MARKER: &str = "appliance.test_marker";

/// Stage 1's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    /// Where the boot partition is.
    pub boot: BootSpec,
    /// Partition number of the root image.
    pub root: u32,
    /// Partition number of the data partition.
    pub data: u32,
    /// The tests' marker hook (test only).
    pub test_marker: bool,
}

fn number(cmdline: &KernelCmdline, key: &str) -> Result<u32, String> {
    let v = cmdline.get(key).ok_or_else(|| {
        format!(
            "{key}= is missing from the kernel command line (the partition number, e.g. {key}=2)"
        )
    })?;
    match v.parse::<u32>() {
        Ok(n) if (1..=128).contains(&n) => Ok(n),
        _ => Err(format!(
            "{key}={v}: expected a partition number from 1 to 128"
        )),
    }
}

impl Params {
    /// Reads the parameters; an error names the parameter and what it
    /// should look like.
    pub fn from_cmdline(cmdline: &KernelCmdline) -> Result<Params, String> {
        let boot = BootSpec::from_cmdline(
            cmdline.get(bootpart::PARAM_BOOT),
            cmdline.get(bootpart::PARAM_BOOT_VOLUME),
        )?;
        let root = number(cmdline, PARAM_ROOT)?;
        let data = number(cmdline, PARAM_DATA)?;
        if root == data {
            return Err(format!(
                "{PARAM_ROOT}={root} and {PARAM_DATA}={data} name the same partition"
            ));
        }
        let test_marker = match cmdline.get(PARAM_TEST_MARKER) {
            None => cmdline.has(PARAM_TEST_MARKER),
            Some(v) => {
                return Err(format!(
                    "{PARAM_TEST_MARKER}={v}: takes no value (a test-only hook)"
                ))
            }
        };
        Ok(Params {
            boot,
            root,
            data,
            test_marker,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Params, String> {
        Params::from_cmdline(&KernelCmdline::parse(line))
    }

    #[test]
    fn the_installed_command_line_is_read() {
        let p = parse(
            "appliance.root=2 appliance.data=3 appliance.boot_volume=7E57-0001 console=ttyS0,115200",
        )
        .unwrap();
        assert_eq!(
            p,
            Params {
                boot: BootSpec::Volume(0x7E57_0001),
                root: 2,
                data: 3,
                test_marker: false,
            }
        );
        let p = parse("appliance.root=2 appliance.data=3 appliance.test_marker").unwrap();
        assert_eq!(p.boot, BootSpec::Label("APPBOOT".into()));
        assert!(p.test_marker);
    }

    #[test]
    fn bad_parameters_are_named() {
        for (line, want) in [
            (
                "appliance.data=3",
                "appliance.root= is missing from the kernel command line (the partition number, e.g. appliance.root=2)",
            ),
            (
                "appliance.root=two appliance.data=3",
                "appliance.root=two: expected a partition number from 1 to 128",
            ),
            (
                "appliance.root=2 appliance.data=0",
                "appliance.data=0: expected a partition number from 1 to 128",
            ),
            (
                "appliance.root=2 appliance.data=2",
                "appliance.root=2 and appliance.data=2 name the same partition",
            ),
            (
                "appliance.root=2 appliance.data=3 appliance.boot_volume=7E570001",
                "appliance.boot_volume=7E570001: expected a FAT volume id like 7E57-0001",
            ),
            (
                "appliance.root=2 appliance.data=3 appliance.test_marker=yes",
                "appliance.test_marker=yes: takes no value (a test-only hook)",
            ),
        ] {
            assert_eq!(parse(line).unwrap_err(), want, "{line}");
        }
    }
}
