//! What the root image is made of and the mmdebstrap and mksquashfs command
//! lines that make it, as data (rendered and tested without running them).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The Debian release.
pub const SUITE: &str = "bookworm";

/// mmdebstrap's variant: only the Essential: yes packages, plus [`PACKAGES`]
/// and their dependencies (no Recommends). apt itself is not installed: the
/// root image is read-only and updated as a whole.
pub const VARIANT: &str = "essential";

/// The packages asked for; the lock holds their whole closure.
pub const PACKAGES: &[&str] = &[
    "systemd",
    "systemd-sysv",
    "udev",
    "dbus",
    "libpam-systemd",
    "netbase",
    "openssh-server",
    "chrony",
    "freeradius",
    // FreeRADIUS's rlm_rest (User-Password checked by the OTP service) and
    // radclient/radtest for checks on the appliance.
    "freeradius-rest",
    "freeradius-utils",
    // The token database (and mariadb-dump/mariadb for the backup command).
    "mariadb-server",
    "tzdata",
    "ca-certificates",
    "kbd",
    "console-setup",
    "iproute2",
    // mke2fs for the data partition (stage 1 runs the image's own).
    "e2fsprogs",
    // depmod for the image's module indexes; modprobe for udev's rules.
    "kmod",
    // `ping` of root's console (appliance-shell).
    "iputils-ping",
];

/// dpkg path filters: no manual pages, info pages, documentation or message
/// translations in the image; the copyright files stay.
pub const DPKG_FILTERS: &[&str] = &[
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/locale/*",
    "path-include=/usr/share/locale/locale.alias",
];

/// mmdebstrap's hook that makes `file://` repositories visible inside the
/// chroot at the same path (dpkg runs inside, apt outside).
pub const FILE_MIRROR_HOOKS: &str = "/usr/share/mmdebstrap/hooks/file-mirror-automount";

/// Where the packages come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sources {
    /// A flat repository holding exactly the pinned `.deb` files (the build).
    Local(PathBuf),
    /// The build host's apt sources files (re-pinning): no mirror is named by
    /// the repository.
    Host(Vec<PathBuf>),
}

/// The mmdebstrap arguments that install the appliance's packages into
/// `target` (a directory that must not exist yet).
pub fn mmdebstrap_args(target: &Path, sources: &Sources) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![
        "--mode=root".into(),
        format!("--variant={VARIANT}").into(),
        "--format=directory".into(),
        format!("--include={}", PACKAGES.join(",")).into(),
        "--aptopt=Acquire::Languages \"none\"".into(),
    ];
    args.extend(DPKG_FILTERS.iter().map(|f| format!("--dpkgopt={f}").into()));
    match sources {
        Sources::Local(_) => {
            args.push(format!("--hook-dir={FILE_MIRROR_HOOKS}").into());
        }
        Sources::Host(_) => {
            // Keep every downloaded .deb: the re-pin hashes them and seeds the cache.
            args.push("--skip=essential/unlink,cleanup/apt/cache".into());
        }
    }
    args.push(SUITE.into());
    args.push(target.into());
    match sources {
        Sources::Local(repo) => {
            args.push(format!("deb [trusted=yes] file://{} {SUITE} main", repo.display()).into());
        }
        Sources::Host(files) => args.extend(files.iter().map(|f| f.into())),
    }
    args
}

/// The `apt-ftparchive release .` arguments (run in `dists/<suite>/`) for the
/// local repository: suite, codename, the one component and architecture.
pub fn release_args() -> Vec<String> {
    let mut args = Vec::new();
    for (field, value) in [
        ("Suite", SUITE),
        ("Codename", SUITE),
        ("Components", "main"),
        ("Architectures", "amd64"),
    ] {
        args.push("-o".to_string());
        args.push(format!("APT::FTPArchive::Release::{field}={value}"));
    }
    args.extend(["release".to_string(), ".".to_string()]);
    args
}

/// zstd level of the image.
pub const ZSTD_LEVEL: u32 = 19;

/// The mksquashfs arguments that pack `root` into `image` with every time
/// stamp set to `epoch`. Extended attributes are kept (file capabilities);
/// ACLs cannot be stored in squashfs and are left out with a warning.
pub fn mksquashfs_args(root: &Path, image: &Path, epoch: u64) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![root.into(), image.into()];
    let level = ZSTD_LEVEL.to_string();
    let epoch = epoch.to_string();
    args.extend(
        [
            "-noappend",
            "-reproducible",
            "-comp",
            "zstd",
            "-Xcompression-level",
            &level,
            "-b",
            "1M",
            "-mkfs-time",
            &epoch,
            "-all-time",
            &epoch,
            "-no-progress",
        ]
        .map(OsString::from),
    );
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[OsString]) -> Vec<String> {
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn build_installs_from_the_local_repository_only() {
        let args = strings(&mmdebstrap_args(
            Path::new("/t/rootfs"),
            &Sources::Local("/t/repo".into()),
        ));
        assert_eq!(
            &args[..3],
            ["--mode=root", "--variant=essential", "--format=directory"]
        );
        assert!(
            args[3].starts_with("--include=systemd,systemd-sysv,udev,"),
            "{args:?}"
        );
        assert!(args.contains(&"--dpkgopt=path-include=/usr/share/doc/*/copyright".into()));
        assert!(args.contains(&format!("--hook-dir={FILE_MIRROR_HOOKS}")));
        assert!(!args.iter().any(|a| a.starts_with("--skip")), "{args:?}");
        let n = args.len();
        assert_eq!(
            &args[n - 3..],
            [
                "bookworm",
                "/t/rootfs",
                "deb [trusted=yes] file:///t/repo bookworm main"
            ]
        );
    }

    #[test]
    fn repin_uses_the_host_sources_and_keeps_the_downloads() {
        let files = vec![PathBuf::from("/etc/apt/sources.list.d/debian.sources")];
        let args = strings(&mmdebstrap_args(Path::new("/t/x"), &Sources::Host(files)));
        assert!(args.contains(&"--skip=essential/unlink,cleanup/apt/cache".into()));
        assert!(!args.iter().any(|a| a.starts_with("--hook-dir")));
        assert_eq!(
            args.last().map(String::as_str),
            Some("/etc/apt/sources.list.d/debian.sources")
        );
        assert!(
            !args.iter().any(|a| a.contains("http")),
            "no mirror host: {args:?}"
        );
    }

    #[test]
    fn the_wanted_set_has_the_appliance_services_and_no_kernel() {
        for p in [
            "systemd",
            "udev",
            "openssh-server",
            "chrony",
            "freeradius",
            "tzdata",
        ] {
            assert!(PACKAGES.contains(&p), "{p}");
        }
        for p in [
            "ca-certificates",
            "kbd",
            "console-setup",
            "iproute2",
            "iputils-ping",
        ] {
            assert!(PACKAGES.contains(&p), "{p}");
        }
        assert!(!PACKAGES.iter().any(|p| p.starts_with("linux-image")));
    }

    #[test]
    fn the_local_release_names_suite_component_and_architecture() {
        let args = release_args();
        assert_eq!(args[args.len() - 2..], ["release", "."]);
        assert!(args.contains(&"APT::FTPArchive::Release::Codename=bookworm".to_string()));
        assert!(args.contains(&"APT::FTPArchive::Release::Architectures=amd64".to_string()));
        assert!(args
            .chunks(2)
            .take(4)
            .all(|pair| pair[0] == "-o" && pair[1].starts_with("APT::FTPArchive::Release::")));
    }

    #[test]
    fn squashfs_times_come_from_the_epoch() {
        let args = strings(&mksquashfs_args(
            Path::new("r"),
            Path::new("i.sqfs"),
            1_700_000_000,
        ));
        assert_eq!(&args[..2], ["r", "i.sqfs"]);
        let after = |flag: &str| {
            let i = args.iter().position(|a| a == flag).unwrap();
            args[i + 1].clone()
        };
        assert_eq!(after("-mkfs-time"), "1700000000");
        assert_eq!(after("-all-time"), "1700000000");
        assert_eq!(after("-comp"), "zstd");
        assert!(args.contains(&"-reproducible".into()) && args.contains(&"-noappend".into()));
    }
}
