//! FAT ESP image (the EFI System Partition embedded in the ISO as `efi.img`), built
//! in memory with the `fatfs` crate.
//!
//! Layout decisions:
//! * **Size**: the sum of the file sizes, each rounded up to a cluster, plus one
//!   cluster per directory, plus [`SLACK_BYTES`] (256 KiB), plus the FAT/root-directory
//!   overhead, rounded up to a multiple of 1 MiB.
//! * **Clusters and FAT type**: images up to 128 MiB use 2 KiB clusters (4 sectors),
//!   so fatfs picks FAT12 below 4085 clusters (about 8 MiB, e.g. the usual 2–6 MiB
//!   ESP, like Debian's FAT12 `efi.img`) and FAT16 above. Larger images let fatfs
//!   choose the cluster size (FAT16/FAT32).
//! * **Determinism**: files are written in sorted path order; every timestamp comes
//!   from the caller's epoch (UTC, clamped to the DOS range 1980–2107); the volume id
//!   and label are caller-supplied (fatfs stores the label in the boot sector and as a
//!   volume-label entry in the root directory, as mkfs.fat does).
//! * **fatfs 0.3.6 quirk**: it writes long-file-name entries in front of the `.` and
//!   `..` entries of every new directory, which fsck.fat rejects; the private `dirfix` module removes
//!   them after the image is built.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::{Cursor, Write};

pub mod dirfix;

use fatfs::{Date, DateTime, FileSystem, FormatVolumeOptions, FsOptions, Time, TimeProvider};

/// Free space added on top of the files.
pub const SLACK_BYTES: u64 = 256 * 1024;
/// Cluster size used for images up to [`FIXED_CLUSTER_LIMIT`].
pub const CLUSTER_BYTES: u64 = 2048;
/// Images larger than this let fatfs choose the cluster size.
pub const FIXED_CLUSTER_LIMIT: u64 = 128 * MIB;
const MIB: u64 = 1024 * 1024;
const SECTOR: u64 = 512;

/// Parameters of the ESP image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EspOptions {
    /// Volume serial number (boot sector offset 0x27 on FAT12/16).
    pub volume_id: u32,
    /// Volume label: up to 11 characters from `A–Z 0–9 space ! # $ % & ' ( ) - @ ^ _ { } ~`;
    /// padded with spaces.
    pub volume_label: String,
    /// Seconds since the Unix epoch (SOURCE_DATE_EPOCH) used for every timestamp.
    pub epoch: u64,
}

/// Errors of [`build_esp`].
#[derive(Debug, thiserror::Error)]
pub enum FatError {
    /// A file path is empty or has an empty, `.`, `..` or backslash-containing component.
    #[error("invalid ESP path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// Two files have the same path (compared case-insensitively, as FAT does), or a
    /// file path is also used as a directory.
    #[error("ESP path {path} conflicts with {other}")]
    Conflict {
        /// The path being added.
        path: String,
        /// The earlier path it collides with.
        other: String,
    },
    /// The volume label is too long or has characters FAT labels cannot hold.
    #[error("invalid volume label {label:?}: {reason}")]
    InvalidLabel {
        /// The label as given.
        label: String,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// A file is larger than FAT's 4 GiB - 1 limit.
    #[error("{path} is {size} bytes, more than FAT allows")]
    FileTooLarge {
        /// The file.
        path: String,
        /// Its size.
        size: u64,
    },
    /// The image written by fatfs does not have the layout we expect (internal error).
    #[error("unexpected FAT layout: {reason}")]
    Layout {
        /// What was unexpected.
        reason: String,
    },
    /// The fatfs library reported an error.
    #[error("FAT error while {context}: {source}")]
    Fat {
        /// What was being done, naming the file where there is one.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

thread_local! {
    /// The timestamp handed to fatfs by [`EpochTime`] during [`build_esp`].
    static NOW: Cell<DateTime> = const { Cell::new(DOS_MIN) };
}

const DOS_MIN: DateTime = DateTime {
    date: Date {
        year: 1980,
        month: 1,
        day: 1,
    },
    time: Time {
        hour: 0,
        min: 0,
        sec: 0,
        millis: 0,
    },
};

/// fatfs needs a `&'static` time provider; this one reads the thread-local
/// [`NOW`], which [`epoch_clock`] sets.
#[derive(Debug)]
pub struct EpochTime;

impl TimeProvider for EpochTime {
    fn get_current_date(&self) -> Date {
        NOW.with(|n| n.get().date)
    }

    fn get_current_date_time(&self) -> DateTime {
        NOW.with(Cell::get)
    }
}

static EPOCH_TIME: EpochTime = EpochTime;

/// fatfs's time provider for a deterministic volume: every timestamp fatfs
/// writes on this thread is `epoch` (as a DOS time, see [`dos_date_time`])
/// until the next call. Use it with `FsOptions::time_provider`.
pub fn epoch_clock(epoch: u64) -> &'static EpochTime {
    NOW.with(|n| n.set(dos_date_time(epoch)));
    &EPOCH_TIME
}

/// Builds a FAT image holding `files` (`("EFI/BOOT/BOOTX64.EFI", bytes)`, …);
/// directories are created as needed. See the module docs for size and layout.
pub fn build_esp(files: &[(String, Vec<u8>)], opts: &EspOptions) -> Result<Vec<u8>, FatError> {
    let label = encode_label(&opts.volume_label)?;
    let files = sorted_files(files)?;
    let total = image_size(&files);
    let clock = epoch_clock(opts.epoch);

    let fat_err = |context: String| move |source| FatError::Fat { context, source };
    let mut image = vec![0u8; total as usize];
    let mut format = FormatVolumeOptions::new()
        .volume_id(opts.volume_id)
        .volume_label(label);
    if total <= FIXED_CLUSTER_LIMIT {
        format = format.bytes_per_cluster(CLUSTER_BYTES as u32);
    }
    fatfs::format_volume(Cursor::new(&mut image[..]), format)
        .map_err(fat_err("formatting the volume".to_owned()))?;
    {
        let options = FsOptions::new()
            .update_accessed_date(false)
            .time_provider(clock);
        let fs = FileSystem::new(Cursor::new(&mut image[..]), options)
            .map_err(fat_err("mounting the new volume".to_owned()))?;
        {
            let root = fs.root_dir();
            for (path, data) in &files {
                let components: Vec<&str> = path.split('/').collect();
                let mut dir = root.clone();
                for component in &components[..components.len() - 1] {
                    dir = dir.create_dir(component).map_err(fat_err(format!(
                        "creating directory {component} for {path}"
                    )))?;
                }
                let name = components[components.len() - 1];
                let mut file = dir
                    .create_file(name)
                    .map_err(fat_err(format!("creating {path}")))?;
                file.write_all(data)
                    .map_err(fat_err(format!("writing {path}")))?;
                file.flush().map_err(fat_err(format!("writing {path}")))?;
            }
        }
        fs.unmount()
            .map_err(fat_err("unmounting the volume".to_owned()))?;
    }
    dirfix::drop_dot_entry_lfns(&mut image).map_err(|reason| FatError::Layout { reason })?;
    Ok(image)
}

/// Validates and sorts the files; checks for case-insensitive collisions.
fn sorted_files(files: &[(String, Vec<u8>)]) -> Result<Vec<(String, &[u8])>, FatError> {
    let mut by_key: BTreeMap<String, (String, &[u8])> = BTreeMap::new();
    let mut dirs: BTreeMap<String, String> = BTreeMap::new();
    for (path, data) in files {
        let invalid = |reason| FatError::InvalidPath {
            path: path.clone(),
            reason,
        };
        let trimmed = path.trim_start_matches('/');
        if trimmed.is_empty() {
            return Err(invalid("names no file"));
        }
        let parts: Vec<&str> = trimmed.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(invalid("empty path component"));
        }
        if parts.iter().any(|p| *p == "." || *p == "..") {
            return Err(invalid("'.' and '..' components are not allowed"));
        }
        if parts.iter().any(|p| p.contains('\\') || p.contains('\0')) {
            return Err(invalid("backslash or NUL in a component"));
        }
        if data.len() as u64 > u64::from(u32::MAX) {
            return Err(FatError::FileTooLarge {
                path: path.clone(),
                size: data.len() as u64,
            });
        }
        let key = trimmed.to_uppercase();
        for end in 1..parts.len() {
            let dir = parts[..end].join("/");
            dirs.entry(dir.to_uppercase()).or_insert(dir);
        }
        if let Some((other, _)) = by_key.get(&key) {
            return Err(FatError::Conflict {
                path: path.clone(),
                other: other.clone(),
            });
        }
        by_key.insert(key, (trimmed.to_owned(), data.as_slice()));
    }
    for (key, (path, _)) in &by_key {
        if let Some(dir) = dirs.get(key) {
            return Err(FatError::Conflict {
                path: path.clone(),
                other: format!("directory {dir}"),
            });
        }
    }
    let mut sorted: Vec<(String, &[u8])> = by_key.into_values().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(sorted)
}

/// Image size: see the module docs.
fn image_size(files: &[(String, &[u8])]) -> u64 {
    let round = |n: u64, to: u64| n.div_ceil(to) * to;
    let mut dirs: Vec<&str> = files
        .iter()
        .flat_map(|(p, _)| p.match_indices('/').map(move |(i, _)| &p[..i]))
        .collect();
    dirs.sort_unstable();
    dirs.dedup();
    let data: u64 = files
        .iter()
        .map(|(_, d)| round(d.len() as u64, CLUSTER_BYTES))
        .sum::<u64>()
        + dirs.len() as u64 * CLUSTER_BYTES;
    let mut total = round(data + SLACK_BYTES, MIB);
    loop {
        // Two FATs of 2 bytes per cluster (FAT16 worst case), the 512-entry root
        // directory and a few reserved sectors.
        let clusters = total / CLUSTER_BYTES;
        let overhead = 2 * round(clusters * 2, SECTOR) + 512 * 32 + 8 * SECTOR;
        if data + SLACK_BYTES + overhead <= total {
            return total;
        }
        total += MIB;
    }
}

fn encode_label(label: &str) -> Result<[u8; 11], FatError> {
    let invalid = |reason| FatError::InvalidLabel {
        label: label.to_owned(),
        reason,
    };
    if label.len() > 11 {
        return Err(invalid("longer than 11 characters"));
    }
    if label.trim().is_empty() {
        return Err(invalid("empty"));
    }
    let allowed =
        |c: u8| c.is_ascii_uppercase() || c.is_ascii_digit() || b" !#$%&'()-@^_{}~".contains(&c);
    if !label.bytes().all(allowed) {
        return Err(invalid(
            "only A-Z, 0-9, space and ! # $ % & ' ( ) - @ ^ _ { } ~ are allowed",
        ));
    }
    let mut out = [b' '; 11];
    out[..label.len()].copy_from_slice(label.as_bytes());
    Ok(out)
}

/// Converts Unix seconds (UTC) to a DOS timestamp, clamped to 1980-01-01 00:00:00 ..
/// 2107-12-31 23:59:58 (DOS times have 2-second resolution).
pub const fn dos_date_time(epoch: u64) -> DateTime {
    const DOS_MIN_UNIX: u64 = 315_532_800; // 1980-01-01T00:00:00Z
    const DOS_MAX_UNIX: u64 = 4_354_819_198; // 2107-12-31T23:59:58Z
    let t = if epoch < DOS_MIN_UNIX {
        DOS_MIN_UNIX
    } else if epoch > DOS_MAX_UNIX {
        DOS_MAX_UNIX
    } else {
        epoch
    };
    let u = crate::date::Utc::from_unix(t);
    DateTime {
        date: Date {
            year: u.year as u16,
            month: u.month as u16,
            day: u.day as u16,
        },
        time: Time {
            hour: u.hour as u16,
            min: u.minute as u16,
            sec: (u.second / 2 * 2) as u16,
            millis: 0,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_from_epoch() {
        // 2023-11-14T22:13:20Z
        let t = dos_date_time(1_700_000_000);
        assert_eq!((t.date.year, t.date.month, t.date.day), (2023, 11, 14));
        assert_eq!((t.time.hour, t.time.min, t.time.sec), (22, 13, 20));
        // 2000-02-29T00:00:01Z: leap day, odd second rounded down
        let t = dos_date_time(951_782_401);
        assert_eq!((t.date.year, t.date.month, t.date.day), (2000, 2, 29));
        assert_eq!(t.time.sec, 0);
        assert_eq!(dos_date_time(0), DOS_MIN, "clamped to 1980");
        let max = dos_date_time(u64::MAX);
        assert_eq!(
            (max.date.year, max.date.month, max.date.day),
            (2107, 12, 31)
        );
    }

    #[test]
    fn labels() {
        assert_eq!(&encode_label("ESP").unwrap(), b"ESP        ");
        assert_eq!(&encode_label("DEBIAN_1-2").unwrap(), b"DEBIAN_1-2 ");
        for bad in ["", "   ", "lower", "TWELVE_CHARS", "A.B", "A/B"] {
            assert!(
                matches!(encode_label(bad), Err(FatError::InvalidLabel { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn size_rule() {
        let empty: Vec<(String, &[u8])> = Vec::new();
        assert_eq!(image_size(&empty), MIB);
        let big = vec![0u8; 3 * MIB as usize];
        let files = vec![("EFI/BOOT/BOOTX64.EFI".to_owned(), &big[..])];
        // 3 MiB + 2 dirs * 2 KiB + 256 KiB slack + overhead -> 4 MiB
        assert_eq!(image_size(&files), 4 * MIB);
        let exact = vec![0u8; (MIB - SLACK_BYTES) as usize];
        let files = vec![("A".to_owned(), &exact[..])];
        assert_eq!(image_size(&files), 2 * MIB, "overhead pushes it over 1 MiB");
    }

    #[test]
    fn path_validation() {
        let f = |p: &str| vec![(p.to_owned(), Vec::new())];
        for bad in ["", "/", "A//B", "A/./B", "../X", "A\\B"] {
            assert!(
                matches!(sorted_files(&f(bad)), Err(FatError::InvalidPath { .. })),
                "{bad:?}"
            );
        }
        let dup = vec![
            ("EFI/BOOT/x.efi".to_owned(), Vec::new()),
            ("efi/boot/X.EFI".to_owned(), Vec::new()),
        ];
        let err = sorted_files(&dup).unwrap_err();
        assert!(matches!(err, FatError::Conflict { .. }), "{err:?}");
        let file_and_dir = vec![
            ("EFI/BOOT".to_owned(), Vec::new()),
            ("EFI/BOOT/X".to_owned(), Vec::new()),
        ];
        let err = sorted_files(&file_and_dir).unwrap_err();
        assert_eq!(
            err.to_string(),
            "ESP path EFI/BOOT conflicts with directory EFI/BOOT"
        );
    }
}
