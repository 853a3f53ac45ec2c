//! What the project adds to the reference appliance's root image after
//! mmdebstrap: our own programs with their systemd units (enabled as their
//! `[Install]` sections say), the kernel modules the running system loads,
//! and the mount point of the data partition. The list of programs is data
//! ([`PROGRAMS`]); everything here is deterministic given the epoch.
//!
//! Kernel modules: the pinned kernel's NIC, disk and file system drivers
//! ([`RUNTIME_MODULES`] and their closure, byte for byte) go to
//! `/lib/modules/<release>/`, and the image's own `depmod` writes the binary
//! indexes systemd-udevd (libkmod) reads.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::masked;
use crate::cmd::Cmd;
use crate::{appliance, inputs, keymaps, kmodset, project};

/// One of our programs in the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Program {
    /// The Cargo package that builds it (statically linked).
    pub package: &'static str,
    /// The binary's name; installed as `/usr/bin/<binary>`.
    pub binary: &'static str,
    /// Its systemd units, relative to the repository root; installed in
    /// `/usr/lib/systemd/system/` and enabled by their `WantedBy=`.
    pub units: &'static [&'static str],
    /// Other files: (path in the repository, absolute path in the image),
    /// mode 0644 (e.g. a `sysusers.d` entry for the service's user).
    pub files: &'static [(&'static str, &'static str)],
}

/// Our programs in the root image (stage 1, `appliance-init`, lives in the
/// initramfs only).
pub const PROGRAMS: &[Program] = &[
    Program {
        package: "appliance-activate",
        binary: "appliance-firstboot",
        units: &[
            "appliance/config/units/appliance-firstboot.service",
            "appliance/config/units/appliance-console.service",
            "appliance/activate/units/appliance-request.path",
            "appliance/activate/units/appliance-request.service",
            "appliance/activate/units/appliance-rollback.service",
            "appliance/config/units/appliance-setup-verifier.service",
        ],
        files: &[
            (
                "appliance/config/units/dropins/keyboard-setup.conf",
                "/usr/lib/systemd/system/keyboard-setup.service.d/appliance.conf",
            ),
            (
                "appliance/config/units/dropins/console-setup.conf",
                "/usr/lib/systemd/system/console-setup.service.d/appliance.conf",
            ),
            (
                "appliance/config/units/overrides/getty@.service",
                "/etc/systemd/system/getty@.service",
            ),
            (
                "appliance/config/units/overrides/serial-getty@.service",
                "/etc/systemd/system/serial-getty@.service",
            ),
            (
                "appliance/config/units/dropins/after-getty.conf",
                "/usr/lib/systemd/system/freeradius.service.d/appliance.conf",
            ),
            (
                "appliance/config/units/dropins/after-getty.conf",
                "/usr/lib/systemd/system/chrony.service.d/appliance.conf",
            ),
            (
                "appliance/config/units/dropins/after-getty.conf",
                "/usr/lib/systemd/system/ssh.service.d/appliance.conf",
            ),
            (
                "appliance/config/units/dropins/journal-flush.conf",
                "/usr/lib/systemd/system/systemd-journal-flush.service.d/appliance.conf",
            ),
        ],
    },
    Program {
        package: "appliance-web",
        binary: "appliance-web",
        units: &["appliance/web/units/appliance-web.service"],
        files: &[(
            "appliance/web/units/appliance-web.sysusers",
            "/usr/lib/sysusers.d/appliance-web.conf",
        )],
    },
    Program {
        package: "appliance-otp-web",
        binary: "appliance-otp",
        units: &[
            "appliance/otp-web/units/appliance-otp-provision.service",
            "appliance/otp-web/units/appliance-otp.service",
        ],
        files: &[
            (
                "appliance/otp-web/units/appliance-otp.sysusers",
                "/usr/lib/sysusers.d/appliance-otp.conf",
            ),
            // MariaDB's data directory is made at its first start.
            (
                "appliance/otp-web/units/mariadb-appliance.conf",
                "/usr/lib/systemd/system/mariadb.service.d/appliance.conf",
            ),
            // FreeRADIUS checks User-Password against the loopback service;
            // no clients until activation writes the wizard's.
            (
                "appliance/otp-web/radius/clients.conf",
                "/etc/freeradius/3.0/clients.conf",
            ),
            (
                "appliance/otp-web/radius/otp_rest",
                "/etc/freeradius/3.0/mods-enabled/otp_rest",
            ),
            (
                "appliance/otp-web/radius/otp",
                "/etc/freeradius/3.0/sites-enabled/otp",
            ),
        ],
    },
    Program {
        package: "appliance-backup-cli",
        binary: "appliance-backup",
        units: &["appliance/backup-cli/units/appliance-backup-recover.service"],
        files: &[],
    },
    // Root's login shell ([`ROOT_SHELL`]); started by login and sshd, no unit.
    Program {
        package: "appliance-shell",
        binary: "appliance-shell",
        units: &[],
        files: &[],
    },
];

/// Root's login shell in the image: the appliance's console, whose
/// `unsupported` command execs [`UNSUPPORTED_SHELL`]. Root stays locked
/// (no password in `/etc/shadow`) until the set-up wizard sets one.
pub const ROOT_SHELL: &str = "/usr/bin/appliance-shell";
/// The full shell behind the console's `unsupported` (must be in the image).
pub const UNSUPPORTED_SHELL: &str = "/bin/bash";
/// Programs the console runs, which the image must have.
pub const CONSOLE_NEEDS: &[&str] = &[
    UNSUPPORTED_SHELL,
    "/usr/bin/ping",
    "/usr/bin/ip",
    "/usr/bin/systemctl",
    "/usr/bin/journalctl",
    "/usr/bin/logger",
    "/usr/bin/date",
];

/// `/etc/passwd` with root's shell (the seventh field of the `root` line)
/// set to `shell`; the other lines stay byte for byte.
pub fn with_root_shell(passwd: &str, shell: &str) -> Result<String> {
    let mut found = false;
    let mut out = String::with_capacity(passwd.len() + shell.len());
    for line in passwd.split_inclusive('\n') {
        let body = line.trim_end_matches('\n');
        let fields: Vec<&str> = body.split(':').collect();
        if fields.first() == Some(&"root") {
            if fields.len() != 7 {
                bail!(
                    "/etc/passwd: root's line has {} fields, not 7: {body:?}",
                    fields.len()
                );
            }
            found = true;
            out.push_str(&fields[..6].join(":"));
            out.push(':');
            out.push_str(shell);
            out.push_str(&line[body.len()..]);
        } else {
            out.push_str(line);
        }
    }
    if !found {
        bail!("/etc/passwd has no root line");
    }
    Ok(out)
}

/// `/etc/shells` with `shell` listed (once, at the end).
pub fn with_shell_listed(shells: &str, shell: &str) -> String {
    if shells.lines().any(|l| l.trim() == shell) {
        return shells.to_string();
    }
    let mut out = shells.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(shell);
    out.push('\n');
    out
}

/// Makes [`ROOT_SHELL`] root's shell in `rootfs` (and a listed login
/// shell), after checking that the programs it runs are there.
fn set_root_shell(rootfs: &Path) -> Result<()> {
    for prog in CONSOLE_NEEDS.iter().chain([&ROOT_SHELL]) {
        // `/bin` is the relative link `usr/bin` (merged /usr), which
        // resolves inside `rootfs`.
        if !rootfs.join(prog.trim_start_matches('/')).is_file() {
            bail!(
                "the root image has no {prog}, which root's console ({ROOT_SHELL}) runs; \
                 add its package to debroot::plan::PACKAGES and re-pin"
            );
        }
    }
    let passwd = rootfs.join("etc/passwd");
    let text =
        fs::read_to_string(&passwd).with_context(|| format!("reading {}", passwd.display()))?;
    fs::write(&passwd, with_root_shell(&text, ROOT_SHELL)?)?;
    let shells = rootfs.join("etc/shells");
    let text = fs::read_to_string(&shells).unwrap_or_default();
    fs::write(&shells, with_shell_listed(&text, ROOT_SHELL))?;
    set_mode(&shells, 0o644)?;
    eprintln!("root image: root's shell is {ROOT_SHELL}");
    Ok(())
}

/// The installer's keyboard list (`index.json` of the compiled keymaps),
/// which first boot maps the handover record's keyboard code with.
pub const KEYMAPS_JSON: &str = "usr/share/appliance/keymaps.json";
/// The installer's compiled console keymaps (`<code>.bkeymap`), which
/// first boot loads into the kernel for the chosen layout.
pub const KEYMAPS_DIR: &str = "usr/share/appliance/keymaps";

/// Kernel modules the running appliance loads (network adapters of common
/// hypervisors and servers, and the file systems it mounts), with their
/// dependency closure.
pub const RUNTIME_MODULES: &[&str] = &[
    "virtio_net",
    "e1000",
    "e1000e",
    "igb",
    "ixgbe",
    "tg3",
    "bnx2",
    "vmxnet3",
    "hv_netvsc",
    "tulip",
    "ahci",
    "ata_piix",
    "sd_mod",
    "sr_mod",
    "virtio_blk",
    "virtio_scsi",
    "vmw_pvscsi",
    "mptsas",
    "hv_storvsc",
    "nvme",
    "squashfs",
    "ext4",
    "overlay",
    "vfat",
    "nls_cp437",
    "nls_ascii",
    "nls_iso8859_1",
    "nls_utf8",
];

/// Units Debian's packages enable that the appliance does not want, as the
/// enable links removed, each with its reason.
pub const DISABLED: &[(&str, &str)] = &[
    (
        "etc/systemd/system/multi-user.target.wants/e2scrub_reap.service",
        "removes stale e2scrub LVM snapshots; the appliance has no LVM, and it held the boot for 24 s under TCG",
    ),
    (
        "etc/systemd/system/timers.target.wants/e2scrub_all.timer",
        "scrubs ext4 on LVM weekly; the appliance has no LVM",
    ),
];

/// Directories the image must have for stage 1 (mount points).
pub const MOUNT_POINTS: &[&str] = &["data"];

/// Where binaries go.
const BIN_DIR: &str = "usr/bin";
/// Where units go.
const UNIT_DIR: &str = "usr/lib/systemd/system";

/// The targets a unit's `[Install]` section names in `WantedBy=`.
pub fn wanted_by(unit_text: &str) -> Vec<String> {
    let mut section = "";
    let mut out = Vec::new();
    for line in unit_text.lines().map(str::trim) {
        if line.starts_with('[') && line.ends_with(']') {
            section = line;
        } else if section == "[Install]" {
            if let Some(v) = line.strip_prefix("WantedBy=") {
                out.extend(v.split_whitespace().map(str::to_string));
            }
        }
    }
    out
}

/// The symbolic links `systemctl enable` would make for `unit` (file name)
/// wanted by `targets`: `(link path in the image, link target)`.
pub fn enable_links(unit: &str, targets: &[String]) -> Vec<(String, String)> {
    targets
        .iter()
        .map(|t| {
            (
                format!("etc/systemd/system/{t}.wants/{unit}"),
                format!("/{UNIT_DIR}/{unit}"),
            )
        })
        .collect()
}

/// The `sysusers.d` entries among `programs`' files (paths in the image).
pub fn sysusers_files(programs: &[Program]) -> Vec<&'static str> {
    programs
        .iter()
        .flat_map(|p| p.files.iter().map(|(_, dest)| *dest))
        .filter(|dest| dest.starts_with("/usr/lib/sysusers.d/"))
        .collect()
}

/// Adds programs, units, enable links, modules and mount points to `rootfs`.
/// The users and groups our `sysusers.d` entries declare are made here, by
/// the image's own `systemd-sysusers` (dates from `epoch`), so that the
/// boot's `systemd-sysusers.service` finds nothing to do: on the first
/// boot under emulation it held the way to the login prompt for about 5 s.
/// The shadow-utils backups it leaves are removed by [`super::strip`],
/// which runs after this.
pub fn add(rootfs: &Path, programs: &[Program], epoch: u64) -> Result<()> {
    for dir in MOUNT_POINTS {
        fs::create_dir_all(rootfs.join(dir))?;
    }
    for (link, why) in DISABLED {
        let p = rootfs.join(link);
        if fs::symlink_metadata(&p).is_ok() {
            fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
            eprintln!("disabled /{link}: {why}");
        }
    }
    masked::apply(rootfs)?;
    for p in programs {
        let built = appliance::build_static_bin(p.package, p.binary)?;
        let dest = rootfs.join(BIN_DIR).join(p.binary);
        fs::copy(&built, &dest).with_context(|| {
            format!("installing {} as /{BIN_DIR}/{}", built.display(), p.binary)
        })?;
        set_mode(&dest, 0o755)?;
        for unit in p.units {
            install_unit(rootfs, &project::root().join(unit))?;
        }
        for (src, dest) in p.files {
            let to = rootfs.join(dest.trim_start_matches('/'));
            if let Some(dir) = to.parent() {
                fs::create_dir_all(dir)?;
            }
            fs::copy(project::root().join(src), &to)
                .with_context(|| format!("installing {src} as {dest}"))?;
            set_mode(&to, 0o644)?;
        }
    }
    if programs
        .iter()
        .any(|p| ROOT_SHELL.ends_with(&format!("/{}", p.binary)))
    {
        set_root_shell(rootfs)?;
    }
    let sysusers = sysusers_files(programs);
    if !sysusers.is_empty() {
        Cmd::new("chroot")
            .arg(rootfs)
            .arg("/usr/bin/systemd-sysusers")
            .args(&sysusers)
            .env("SOURCE_DATE_EPOCH", epoch.to_string())
            .run()
            .context("making our system users with the image's systemd-sysusers")?;
    }
    let inputs = inputs::ensure()?;
    let compiled = keymaps::ensure(&inputs)?;
    let index = compiled
        .iter()
        .find(|(path, _)| path.ends_with(keymaps::INDEX))
        .context("the compiled keymaps have no index.json")?;
    let to = rootfs.join(KEYMAPS_JSON);
    fs::create_dir_all(to.parent().unwrap_or(rootfs))?;
    fs::write(&to, &index.1)?;
    set_mode(&to, 0o644)?;
    let dir = rootfs.join(KEYMAPS_DIR);
    fs::create_dir_all(&dir)?;
    for (path, bytes) in &compiled {
        let Some(name) = Path::new(path).file_name() else {
            continue;
        };
        if path.ends_with(".bkeymap") {
            let to = dir.join(name);
            fs::write(&to, bytes)?;
            set_mode(&to, 0o644)?;
        }
    }
    let (modules_dir, release) = inputs.kernel_modules()?;
    let n = kmodset::write_modules(rootfs, &modules_dir, &release, RUNTIME_MODULES)?.len();
    // What depmod and libkmod read about the built-in modules and the order.
    for name in ["modules.builtin.modinfo", "modules.order"] {
        let from = modules_dir.join(name);
        if from.is_file() {
            fs::copy(&from, rootfs.join("lib/modules").join(&release).join(name))?;
        }
    }
    // The image's own depmod (kmod) writes the binary indexes libkmod reads.
    Cmd::new("chroot")
        .arg(rootfs)
        .args(["/sbin/depmod", "--all", &release])
        .run()
        .context("running the image's depmod")?;
    eprintln!("root image: {n} kernel modules of {release}");
    Ok(())
}

fn install_unit(rootfs: &Path, src: &Path) -> Result<()> {
    let Some(name) = src.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        bail!("{}: not a unit file", src.display());
    };
    let text =
        fs::read_to_string(src).with_context(|| format!("reading the unit {}", src.display()))?;
    let dest = rootfs.join(UNIT_DIR).join(&name);
    fs::write(&dest, &text)?;
    set_mode(&dest, 0o644)?;
    for (link, target) in enable_links(&name, &wanted_by(&text)) {
        let link: PathBuf = rootfs.join(link);
        if let Some(dir) = link.parent() {
            fs::create_dir_all(dir)?;
        }
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink(&target, &link)
            .with_context(|| format!("enabling {name}: {}", link.display()))?;
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_enabled_where_their_install_section_says() {
        let unit = "[Unit]\nDescription=x\nWantedBy=not-here.target\n\n[Service]\nExecStart=/usr/sbin/x\n\n\
                    [Install]\nWantedBy=multi-user.target sysinit.target\nWantedBy=network-pre.target\n";
        let targets = wanted_by(unit);
        assert_eq!(
            targets,
            ["multi-user.target", "sysinit.target", "network-pre.target"]
        );
        assert_eq!(
            enable_links("appliance-web.service", &targets[..1]),
            [(
                "etc/systemd/system/multi-user.target.wants/appliance-web.service".to_string(),
                "/usr/lib/systemd/system/appliance-web.service".to_string()
            )]
        );
        assert!(wanted_by("[Service]\nExecStart=/x\n").is_empty());
    }

    #[test]
    fn the_web_services_user_is_made_at_build_time() {
        assert_eq!(
            sysusers_files(PROGRAMS),
            [
                "/usr/lib/sysusers.d/appliance-web.conf",
                "/usr/lib/sysusers.d/appliance-otp.conf"
            ]
        );
    }

    #[test]
    fn root_gets_the_console_as_its_shell() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nrootless:x:9:9::/:/bin/sh\n";
        assert_eq!(
            with_root_shell(passwd, ROOT_SHELL).unwrap(),
            "root:x:0:0:root:/root:/usr/bin/appliance-shell\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nrootless:x:9:9::/:/bin/sh\n"
        );
        // Without a final newline, and idempotent.
        let once = with_root_shell("root:x:0:0:root:/root:/bin/bash", ROOT_SHELL).unwrap();
        assert_eq!(once, "root:x:0:0:root:/root:/usr/bin/appliance-shell");
        assert_eq!(with_root_shell(&once, ROOT_SHELL).unwrap(), once);
        let e = with_root_shell("daemon:x:1:1::/:/bin/sh\n", ROOT_SHELL).unwrap_err();
        assert_eq!(e.to_string(), "/etc/passwd has no root line");
        let e = with_root_shell("root:x:0:0\n", ROOT_SHELL).unwrap_err();
        assert!(e.to_string().contains("root's line has 4 fields"), "{e}");

        assert_eq!(
            with_shell_listed("# /etc/shells\n/bin/sh\n/bin/bash", ROOT_SHELL),
            "# /etc/shells\n/bin/sh\n/bin/bash\n/usr/bin/appliance-shell\n"
        );
        let listed = with_shell_listed("", ROOT_SHELL);
        assert_eq!(with_shell_listed(&listed, ROOT_SHELL), listed);
        assert!(PROGRAMS
            .iter()
            .any(|p| ROOT_SHELL == format!("/usr/bin/{}", p.binary)));
        assert!(CONSOLE_NEEDS.contains(&UNSUPPORTED_SHELL));
    }

    #[test]
    fn only_enable_links_are_disabled() {
        for (link, why) in DISABLED {
            assert!(
                link.starts_with("etc/systemd/system/") && link.contains(".wants/"),
                "{link}"
            );
            assert!(!why.is_empty());
        }
    }
}

#[cfg(test)]
mod program_tests {
    use super::*;

    /// Every listed program is a workspace package with that binary, and
    /// every unit and file exists and is started by something.
    #[test]
    fn the_programs_are_the_workspaces() {
        let root = project::root();
        for p in PROGRAMS {
            let manifest = [
                "appliance/activate",
                "appliance/config",
                "appliance/web",
                "appliance/shell",
                "appliance/otp-web",
                "appliance/backup-cli",
            ]
            .iter()
            .map(|d| fs::read_to_string(root.join(d).join("Cargo.toml")).unwrap_or_default())
            .find(|t| t.contains(&format!("name = \"{}\"", p.package)))
            .unwrap_or_else(|| panic!("no crate named {}", p.package));
            assert!(
                manifest.contains(&format!("name = \"{}\"", p.binary)),
                "{} builds no binary {}",
                p.package,
                p.binary
            );
            for u in p.units {
                let text = fs::read_to_string(root.join(u)).unwrap();
                let name = u.rsplit('/').next().unwrap_or(u);
                // Started by a target, or by another of the program's
                // units (a path unit's `Unit=`).
                let started_by_unit = p.units.iter().any(|o| {
                    fs::read_to_string(root.join(o))
                        .unwrap()
                        .lines()
                        .any(|l| l.trim() == format!("Unit={name}"))
                });
                assert!(
                    !wanted_by(&text).is_empty() || started_by_unit,
                    "{u} is never started"
                );
                if u.ends_with(".service") {
                    assert!(
                        text.contains(&format!("/usr/bin/{}", p.binary)),
                        "{u} does not run /usr/bin/{}",
                        p.binary
                    );
                }
            }
            for (src, dest) in p.files {
                assert!(root.join(src).is_file(), "{src}");
                assert!(dest.starts_with('/'), "{dest}");
            }
        }
    }
}
