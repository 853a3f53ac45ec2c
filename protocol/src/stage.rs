//! The stages of an install and what a failed install leaves on the disk, as
//! they appear in events (docs/events.md). Depends on serde only.
//!
//! `install-progress` carries a [`Stage`] as its kebab-case name (`wipe`,
//! `download`, …); `install-failed` carries a [`StageAt`], the stage in
//! words with the component it was working on (`downloading rootfs`), which
//! is also what the failure screen and the support bundle say.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// One step of the install, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// Settings, HTTPS client, install id, handover record: nothing written yet.
    Prepare,
    /// Opening the target disk exclusively.
    OpenDisk,
    /// Zeroing the first and last MiB (old tables, GPT backup, boot code).
    Wipe,
    /// Planning where a component goes.
    Plan,
    /// Downloading a component to its place.
    Download,
    /// Copying a component from the installation medium to its place.
    Copy,
    /// Writing a partition image (or flushing the partition images).
    PartitionImage,
    /// Formatting the FAT boot partition.
    FormatBoot,
    /// Opening the freshly formatted boot partition.
    OpenBoot,
    /// Creating the boot files on the boot partition.
    BootFiles,
    /// The boot loader files and `grub.cfg`.
    Bootloader,
    /// The handover record and the installer log.
    Handover,
    /// Closing the boot partition.
    CloseBoot,
    /// GRUB's core image in the gap before partition 1 (BIOS).
    BiosBootloader,
    /// Flushing the disk's caches.
    Flush,
    /// The partition table, written last.
    PartitionTable,
}

/// Every stage, in order.
pub const STAGES: [Stage; 16] = [
    Stage::Prepare,
    Stage::OpenDisk,
    Stage::Wipe,
    Stage::Plan,
    Stage::Download,
    Stage::Copy,
    Stage::PartitionImage,
    Stage::FormatBoot,
    Stage::OpenBoot,
    Stage::BootFiles,
    Stage::Bootloader,
    Stage::Handover,
    Stage::CloseBoot,
    Stage::BiosBootloader,
    Stage::Flush,
    Stage::PartitionTable,
];

impl Stage {
    /// The name in events (`download`, `partition-table`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Prepare => "prepare",
            Stage::OpenDisk => "open-disk",
            Stage::Wipe => "wipe",
            Stage::Plan => "plan",
            Stage::Download => "download",
            Stage::Copy => "copy",
            Stage::PartitionImage => "partition-image",
            Stage::FormatBoot => "format-boot",
            Stage::OpenBoot => "open-boot",
            Stage::BootFiles => "boot-files",
            Stage::Bootloader => "bootloader",
            Stage::Handover => "handover",
            Stage::CloseBoot => "close-boot",
            Stage::BiosBootloader => "bios-bootloader",
            Stage::Flush => "flush",
            Stage::PartitionTable => "partition-table",
        }
    }

    /// What the stage does, as the end of "failed while …", when it is not
    /// about one component.
    pub fn doing(self) -> &'static str {
        match self {
            Stage::Prepare => "preparing",
            Stage::OpenDisk => "opening the disk",
            Stage::Wipe => "wiping the disk",
            Stage::Plan => "planning",
            Stage::Download => "downloading the components",
            Stage::Copy => "copying the components from the installation medium",
            Stage::PartitionImage => "writing the partition images",
            Stage::FormatBoot => "formatting the boot partition",
            Stage::OpenBoot => "opening the boot partition",
            Stage::BootFiles => "writing the boot files",
            Stage::Bootloader => "installing the boot loader",
            Stage::Handover => "writing the handover record",
            Stage::CloseBoot => "closing the boot partition",
            Stage::BiosBootloader => "installing the BIOS boot loader",
            Stage::Flush => "flushing the disk",
            Stage::PartitionTable => "writing the partition table",
        }
    }

    /// The words around a component's name for stages that work on one
    /// (`downloading rootfs`); `None` for the others.
    fn doing_component(self) -> Option<(&'static str, &'static str)> {
        match self {
            Stage::Download => Some(("downloading ", "")),
            Stage::Copy => Some(("copying ", " from the installation medium")),
            Stage::PartitionImage => Some(("writing ", "")),
            _ => None,
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stage and the component it was working on: `downloading rootfs`.
/// Serialized as those words (the `stage` of `install-failed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageAt {
    /// The stage.
    pub stage: Stage,
    /// The component, for the stages that work on one.
    pub component: Option<String>,
}

impl fmt::Display for StageAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.stage.doing_component(), &self.component) {
            (Some((before, after)), Some(c)) => write!(f, "{before}{c}{after}"),
            _ => f.write_str(self.stage.doing()),
        }
    }
}

impl std::str::FromStr for StageAt {
    type Err = UnknownStage;

    /// The inverse of `Display`.
    fn from_str(s: &str) -> Result<Self, UnknownStage> {
        if let Some(stage) = STAGES.iter().find(|st| st.doing() == s) {
            return Ok(StageAt {
                stage: *stage,
                component: None,
            });
        }
        STAGES
            .iter()
            .find_map(|st| {
                let (before, after) = st.doing_component()?;
                let name = s.strip_prefix(before)?.strip_suffix(after)?;
                (!name.is_empty()).then(|| StageAt {
                    stage: *st,
                    component: Some(name.to_string()),
                })
            })
            .ok_or_else(|| UnknownStage(s.to_string()))
    }
}

/// Words that name no stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownStage(pub String);

impl fmt::Display for UnknownStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} names no install stage", self.0)
    }
}

impl std::error::Error for UnknownStage {}

impl Serialize for StageAt {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for StageAt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What a failed install left on the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiskState {
    /// Nothing was written (the install failed before the wipe).
    Untouched,
    /// Wiped again after the failure: no partition table, not bootable.
    NoPartitionTable,
    /// Wiping again after the failure failed too: the disk may hold anything.
    Unknown,
}

impl DiskState {
    /// The kebab-case name (`no-partition-table`).
    pub fn as_str(self) -> &'static str {
        match self {
            DiskState::Untouched => "untouched",
            DiskState::NoPartitionTable => "no-partition-table",
            DiskState::Unknown => "unknown",
        }
    }

    /// The sentence the failure screen shows; `wipe_error` says why the
    /// second wipe failed ([`DiskState::Unknown`]).
    pub fn sentence(self, wipe_error: Option<&str>) -> String {
        match self {
            DiskState::Untouched => "Nothing was written to the disk.".into(),
            DiskState::NoPartitionTable => "The disk was left without a partition table: it will not boot, and a new installation can start over.".into(),
            DiskState::Unknown => format!(
                "Wiping the disk again failed too ({}): do not boot from it; start the installation again.",
                wipe_error.unwrap_or("no reason given")
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_names_are_the_documented_ones() {
        let json = |s: Stage| serde_json::to_string(&s).unwrap_or_default();
        assert_eq!(json(Stage::Wipe), r#""wipe""#);
        assert_eq!(json(Stage::Download), r#""download""#);
        assert_eq!(json(Stage::Copy), r#""copy""#);
        assert_eq!(json(Stage::Bootloader), r#""bootloader""#);
        assert_eq!(json(Stage::PartitionTable), r#""partition-table""#);
        for s in STAGES {
            assert_eq!(json(s), format!("\"{}\"", s.as_str()));
            assert_eq!(serde_json::from_str::<Stage>(&json(s)).ok(), Some(s));
        }
    }

    #[test]
    fn stage_words_round_trip() {
        let at = |stage, component: Option<&str>| StageAt {
            stage,
            component: component.map(str::to_string),
        };
        assert_eq!(
            at(Stage::Download, Some("rootfs")).to_string(),
            "downloading rootfs"
        );
        assert_eq!(
            at(Stage::Copy, Some("rootfs")).to_string(),
            "copying rootfs from the installation medium"
        );
        assert_eq!(
            at(Stage::PartitionImage, None).to_string(),
            "writing the partition images"
        );
        assert_eq!(at(Stage::Wipe, Some("x")).to_string(), "wiping the disk");
        for s in STAGES {
            for c in [None, Some("rootfs")] {
                let a = at(s, c);
                let a = if a.stage.doing_component().is_none() {
                    at(s, None)
                } else {
                    a
                };
                let json = serde_json::to_string(&a).unwrap_or_default();
                assert_eq!(json, format!("\"{a}\""));
                assert_eq!(serde_json::from_str::<StageAt>(&json).ok(), Some(a));
            }
        }
        assert!("dancing".parse::<StageAt>().is_err());
    }

    #[test]
    fn disk_states_in_words() {
        for d in [
            DiskState::Untouched,
            DiskState::NoPartitionTable,
            DiskState::Unknown,
        ] {
            let json = serde_json::to_string(&d).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", d.as_str()));
        }
        assert!(DiskState::NoPartitionTable
            .sentence(None)
            .contains("without a partition table"));
        assert!(DiskState::Unknown
            .sentence(Some("EIO"))
            .contains("failed too (EIO)"));
        assert_eq!(
            DiskState::Untouched.sentence(None),
            "Nothing was written to the disk."
        );
    }
}
