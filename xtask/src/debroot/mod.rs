//! `cargo xtask appliance-root`: the reference appliance's read-only root
//! image, a squashfs of a Debian 12 system installed by mmdebstrap from
//! exactly the packages `appliance-packages.lock` pins.
//!
//! Build: fetch every pinned `.deb` (`apt-get download`, sha256 checked, the
//! cache shared with the boot inputs) → a flat local repository of just those
//! files → mmdebstrap against only that repository (maintainer scripts run as
//! Debian intends) → the installed set checked against the lock → per-build
//! and per-appliance files stripped ([`strip::RULES`]) → our programs, units,
//! kernel modules and mount points added ([`ours`]) → mksquashfs with every
//! time stamp at SOURCE_DATE_EPOCH → `root.squashfs` and `root.json`.

mod compare;
mod dpkg;
pub mod licence;
mod lock;
mod masked;
pub mod ours;
mod plan;
mod strip;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::cmd::Cmd;
use crate::lockfile::{Pin, Role};
use crate::{epoch, inputs, project};
use lock::{PackageLock, Pkg};

/// The command that re-pins the lock.
const REPIN: &str = "cargo xtask appliance-root --update";

/// A built image.
#[derive(Debug, Clone)]
pub struct Image {
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
}

/// The size the image must stay within (the test checks it).
pub const MAX_IMAGE_BYTES: u64 = 80 << 20;

/// Where the build's files go.
struct Layout {
    /// The flat repository of the pinned packages.
    repo: PathBuf,
    /// `rootfs/`, `root.squashfs`, `root.json`.
    out: PathBuf,
    /// `--licence-key`: the vendor's licence key (default: the TEST key).
    licence_key: Option<PathBuf>,
}

/// The default output directory, `target/appliance-root`.
pub fn default_out() -> PathBuf {
    project::target_dir().join("appliance-root")
}

fn lock_path() -> PathBuf {
    project::root().join(lock::FILE_NAME)
}

fn read_lock() -> Result<PackageLock> {
    let path = lock_path();
    let text = fs::read_to_string(&path)
        .with_context(|| format!("reading {} (make it with `{REPIN}`)", path.display()))?;
    let lock = PackageLock::parse(&text)?;
    let missing = lock.missing(plan::PACKAGES);
    if !missing.is_empty() {
        bail!(
            "{} lacks {} (the wanted set changed); run `{REPIN}`",
            lock::FILE_NAME,
            missing.join(", ")
        );
    }
    Ok(lock)
}

/// The boot inputs' cache keys files by package and version only.
fn cache_pin(p: &Pkg) -> Pin {
    Pin {
        package: p.package.clone(),
        version: p.version.clone(),
        sha256: p.sha256.clone(),
        role: Role::Kernel, // not looked at by the cache
    }
}

/// Builds the image into `out` (default `target/appliance-root`).
pub fn build(out: Option<PathBuf>, licence_key: Option<PathBuf>) -> Result<Image> {
    let out = out.unwrap_or_else(default_out);
    let started = Instant::now();
    let image = build_into(
        &Layout {
            repo: out.join("repo"),
            out: out.clone(),
            licence_key,
        },
        epoch::build_epoch()?,
    )?;
    eprintln!(
        "root image: {} bytes ({:.1} MiB, limit {} MiB), sha256 {}, built in {:.0} s",
        image.size,
        image.size as f64 / (1024.0 * 1024.0),
        MAX_IMAGE_BYTES >> 20,
        image.sha256,
        started.elapsed().as_secs_f64()
    );
    Ok(image)
}

/// Builds twice from the same checkout and epoch into separate directories
/// and compares the images byte for byte; on a difference, names the files.
pub fn check_reproducible(out: Option<PathBuf>, licence_key: Option<PathBuf>) -> Result<Image> {
    let out = out.unwrap_or_else(default_out).join("check");
    let epoch = epoch::build_epoch()?;
    let mut images = Vec::new();
    for name in ["a", "b"] {
        let started = Instant::now();
        let layout = Layout {
            repo: out.join("repo"),
            out: out.join(name),
            licence_key: licence_key.clone(),
        };
        let image = build_into(&layout, epoch)?;
        eprintln!(
            "build {name}: {} bytes, sha256 {}, {:.0} s",
            image.size,
            image.sha256,
            started.elapsed().as_secs_f64()
        );
        images.push(image);
    }
    if images[0].sha256 != images[1].sha256 {
        let diff = compare::differences(&out.join("a/rootfs"), &out.join("b/rootfs"))?;
        let shown: Vec<&str> = diff.iter().take(60).map(String::as_str).collect();
        bail!(
            "the two builds differ ({} and {}); {} tree difference(s){}:\n{}",
            images[0].sha256,
            images[1].sha256,
            diff.len(),
            if diff.is_empty() {
                " (so only the squashfs packing differs)"
            } else {
                ""
            },
            shown.join("\n")
        );
    }
    for name in ["a", "b"] {
        remove_tree(&out.join(name).join("rootfs"))?;
    }
    eprintln!("reproducible: both builds are {}", images[0].sha256);
    Ok(images.swap_remove(0))
}

fn build_into(layout: &Layout, epoch: u64) -> Result<Image> {
    let lock = read_lock()?;
    make_repo(&lock, &layout.repo)?;

    let rootfs = layout.out.join("rootfs");
    remove_tree(&rootfs)?;
    fs::create_dir_all(&layout.out)?;
    let repo = fs::canonicalize(&layout.repo)?;
    Cmd::new("mmdebstrap")
        .args(plan::mmdebstrap_args(
            &rootfs,
            &plan::Sources::Local(repo.clone()),
        ))
        .env("SOURCE_DATE_EPOCH", epoch.to_string())
        .env("LC_ALL", "C.UTF-8")
        .run()?;

    check_installed(&lock, &rootfs)?;
    let owned = dpkg::owned_paths(&rootfs)?;
    for dir in dpkg::mount_point_chain(&repo, &owned) {
        let p = rootfs.join(dir.trim_start_matches('/'));
        // Only empty directories: the hook has unmounted the repository.
        if p.is_dir() {
            fs::remove_dir(&p)
                .with_context(|| format!("removing the mount point {}", p.display()))?;
        }
    }
    // Ours first: the users it makes leave backups the strip removes.
    ours::add(&rootfs, ours::PROGRAMS, epoch).context("adding our programs, units and modules")?;
    licence::install(&rootfs, layout.licence_key.as_deref())?;
    let stripped = strip::apply(&rootfs, strip::RULES)?;
    for (path, why) in &stripped {
        eprintln!("stripped /{path}: {why}");
    }

    let image = layout.out.join("root.squashfs");
    let _ = fs::remove_file(&image);
    Cmd::new("mksquashfs")
        .args(plan::mksquashfs_args(&rootfs, &image, epoch))
        .run()?;
    let size = fs::metadata(&image)?.len();
    let sha256 = inputs::sha256_file(&image)?;
    let record = serde_json::json!({
        "file": "root.squashfs",
        "size": size,
        "sha256": sha256,
        "source_date_epoch": epoch,
        "packages": lock.pkgs.len(),
        "compression": format!("zstd-{}", plan::ZSTD_LEVEL),
    });
    fs::write(
        layout.out.join("root.json"),
        serde_json::to_string_pretty(&record)? + "\n",
    )?;
    Ok(Image {
        path: image,
        size,
        sha256,
    })
}

/// `repo/`: hard links (or copies) of exactly the pinned files in `pool/`,
/// with the `Packages` and `Release` indexes apt reads in the usual
/// `dists/<suite>/main/binary-amd64/` layout (mmdebstrap finds the Essential
/// set through an index's architecture, which a flat repository lacks).
fn make_repo(lock: &PackageLock, repo: &Path) -> Result<()> {
    let cache = project::cache_dir();
    let _ = fs::remove_dir_all(repo);
    let pool = repo.join("pool");
    fs::create_dir_all(&pool)?;
    for p in &lock.pkgs {
        let deb = inputs::ensure_deb(&cache, &cache_pin(p), REPIN)?;
        let dest = pool.join(p.file_name());
        if fs::hard_link(&deb, &dest).is_err() {
            fs::copy(&deb, &dest).with_context(|| format!("copying {}", deb.display()))?;
        }
    }
    let dist = repo.join("dists").join(plan::SUITE);
    let binary = dist.join("main/binary-amd64");
    fs::create_dir_all(&binary)?;
    let packages = Cmd::new("apt-ftparchive")
        .args(["packages", "pool"])
        .cwd(repo)
        .read()?;
    fs::write(binary.join("Packages"), packages.stdout)?;
    let release = Cmd::new("apt-ftparchive")
        .args(plan::release_args())
        .cwd(&dist)
        .read()?;
    fs::write(dist.join("Release"), release.stdout)?;
    Ok(())
}

/// mmdebstrap must have installed exactly the pinned packages.
fn check_installed(lock: &PackageLock, rootfs: &Path) -> Result<()> {
    let installed = dpkg::installed_in(rootfs)?;
    let pinned: Vec<dpkg::Installed> = lock
        .pkgs
        .iter()
        .map(|p| (p.package.clone(), p.version.clone(), p.arch.clone()))
        .collect();
    if installed != pinned {
        let extra: Vec<String> = installed
            .iter()
            .filter(|i| !pinned.contains(i))
            .map(|i| format!("{} {}", i.0, i.1))
            .collect();
        let absent: Vec<String> = pinned
            .iter()
            .filter(|p| !installed.contains(p))
            .map(|p| format!("{} {}", p.0, p.1))
            .collect();
        bail!(
            "mmdebstrap installed a different set than {} pins: not pinned [{}], not installed [{}]; run `{REPIN}`",
            lock::FILE_NAME,
            extra.join(", "),
            absent.join(", ")
        );
    }
    Ok(())
}

/// Re-pins: installs the wanted set with mmdebstrap from the host's apt
/// sources (after `apt-get update`), then pins exactly what was installed,
/// hashing the downloaded files (which also seed the package cache).
pub fn update(out: Option<PathBuf>) -> Result<()> {
    Cmd::new("apt-get").args(["update", "-q"]).run()?;
    let sources = host_sources()?;
    let scratch = out.unwrap_or_else(default_out).join("repin");
    remove_tree(&scratch)?;
    fs::create_dir_all(scratch.parent().unwrap_or(Path::new(".")))?;
    Cmd::new("mmdebstrap")
        .args(plan::mmdebstrap_args(
            &scratch,
            &plan::Sources::Host(sources),
        ))
        .env("LC_ALL", "C.UTF-8")
        .run()?;

    let archives = scratch.join("var/cache/apt/archives");
    let mut downloaded = Vec::new();
    for e in fs::read_dir(&archives).with_context(|| format!("listing {}", archives.display()))? {
        let path = e?.path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if !name.ends_with(".deb") {
            continue;
        }
        let Some((package, version, arch)) = lock::parse_deb_file_name(&name) else {
            bail!("cannot read package, version and architecture from {name}");
        };
        let sha256 = inputs::sha256_file(&path)?;
        downloaded.push((
            Pkg {
                package,
                version,
                arch,
                sha256,
            },
            path,
        ));
    }
    let lock = PackageLock::new(downloaded.iter().map(|(p, _)| p.clone()).collect())?;
    check_installed(&lock, &scratch)?;

    // Seed the cache with the files just hashed.
    let debs = project::cache_dir().join("debs");
    fs::create_dir_all(&debs)?;
    for (p, file) in &downloaded {
        let dest = debs.join(format!("{}.deb", cache_pin(p).stem()));
        if !dest.is_file() {
            fs::copy(file, &dest).with_context(|| format!("copying {}", file.display()))?;
        }
    }
    let text = lock.render();
    PackageLock::parse(&text)?; // the rendering must read back
    let path = lock_path();
    let tmp = path.with_extension("lock.tmp");
    fs::write(&tmp, &text)?;
    fs::rename(&tmp, &path)?;
    remove_tree(&scratch)?;
    eprintln!("pinned {} packages in {}", lock.pkgs.len(), path.display());
    Ok(())
}

/// The host's apt sources files, which name the mirrors (the repository
/// names none).
fn host_sources() -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let list = PathBuf::from("/etc/apt/sources.list");
    if fs::metadata(&list).is_ok_and(|m| m.len() > 0) {
        files.push(list);
    }
    let dir = Path::new("/etc/apt/sources.list.d");
    if let Ok(entries) = fs::read_dir(dir) {
        let mut more: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "list" || x == "sources"))
            .collect();
        more.sort();
        files.extend(more);
    }
    if files.is_empty() {
        bail!("no apt sources on this machine (/etc/apt/sources.list, /etc/apt/sources.list.d)");
    }
    Ok(files)
}

/// Removes a tree an earlier mmdebstrap run made, refusing while anything is
/// mounted below it (a crashed run can leave /proc or /dev bound there).
fn remove_tree(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let abs = fs::canonicalize(dir)?;
    let below = mounts_below(&mountinfo, &abs);
    if !below.is_empty() {
        bail!(
            "{} has mounts below it ({}); unmount them first (`umount -R`)",
            dir.display(),
            below.join(", ")
        );
    }
    fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))
}

/// The mount points (field 5 of mountinfo) at or below `dir`.
fn mounts_below(mountinfo: &str, dir: &Path) -> Vec<String> {
    mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| Path::new(m).starts_with(dir))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[ignore = "needs root, mmdebstrap, apt-ftparchive, mksquashfs and the pinned packages (apt-get download)"]
    fn two_builds_are_identical_and_within_the_size_limit() {
        let image = check_reproducible(None, None).unwrap();
        assert!(
            image.size <= MAX_IMAGE_BYTES,
            "{} is {} bytes, over {MAX_IMAGE_BYTES}",
            image.path.display(),
            image.size
        );
        let json = fs::read_to_string(image.path.with_file_name("root.json")).unwrap();
        let record: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(record["sha256"], image.sha256.as_str());
        assert_eq!(record["size"], image.size);

        let listing = Cmd::new("unsquashfs")
            .args(["-lls", "-d", ""])
            .arg(&image.path)
            .read()
            .unwrap()
            .stdout;
        // A symbolic link's line goes on with ` -> target`.
        let entry = |path: &str| {
            listing
                .lines()
                .find(|l| l.ends_with(&format!(" {path}")) || l.contains(&format!(" {path} -> ")))
        };
        for path in [
            "/usr/lib/systemd/systemd",
            "/usr/sbin/sshd",
            "/usr/sbin/chronyd",
            "/usr/sbin/freeradius",
            "/usr/bin/loadkeys",
            "/usr/bin/ip",
            "/etc/ssl/certs/ca-certificates.crt",
            "/usr/share/zoneinfo/Europe/Zurich",
            "/usr/sbin/mke2fs",
            "/usr/sbin/depmod",
            "/data",
        ] {
            assert!(entry(path).is_some(), "{path} is not in the image");
        }
        for (link, _) in ours::DISABLED {
            assert!(
                entry(&format!("/{link}")).is_none(),
                "{link} is still enabled"
            );
        }
        for (unit, _) in masked::MASKED {
            let link = format!("/{} -> /dev/null", masked::unit_link(unit));
            assert!(listing.contains(&link), "{unit} is not masked");
        }
        for (generator, _) in masked::MASKED_GENERATORS {
            let link = format!("/{} -> /dev/null", masked::generator_link(generator));
            assert!(listing.contains(&link), "{generator} is not masked");
        }
        for p in ours::PROGRAMS {
            assert!(
                entry(&format!("/usr/bin/{}", p.binary)).is_some(),
                "{}",
                p.binary
            );
        }
        for index in ["modules.dep.bin", "modules.alias.bin"] {
            assert!(
                listing
                    .lines()
                    .any(|l| l.contains("/lib/modules/") && l.ends_with(index)),
                "no {index} in the image"
            );
        }
        assert!(
            listing.contains("/kernel/drivers/net/virtio_net.ko"),
            "no virtio_net in the image"
        );
        let machine_id = entry("/etc/machine-id").unwrap();
        assert!(
            machine_id.contains(" 0 "),
            "machine id not empty: {machine_id}"
        );
        for secret in [
            "ssh_host_",
            "ssl-cert-snakeoil",
            "/etc/freeradius/3.0/certs/dh",
        ] {
            assert!(!listing.contains(secret), "{secret} is in the image");
        }
        assert!(
            !listing.contains("/boot/vmlinuz"),
            "the kernel is in the image"
        );
    }

    #[test]
    fn finds_mounts_below_a_directory() {
        let info = "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n\
                    30 22 0:5 / /t/rootfs/proc rw - proc proc rw\n\
                    31 22 0:6 / /t/rootfs-other rw - tmpfs t rw\n";
        assert_eq!(
            mounts_below(info, Path::new("/t/rootfs")),
            ["/t/rootfs/proc"]
        );
        assert!(mounts_below(info, Path::new("/x")).is_empty());
    }

    #[test]
    fn the_cache_keys_match_the_boot_inputs() {
        let p = Pkg {
            package: "kbd".into(),
            version: "1:2.5.1-1+b1".into(),
            arch: "amd64".into(),
            sha256: "0".repeat(64),
        };
        assert_eq!(cache_pin(&p).stem(), "kbd_1%3a2.5.1-1+b1");
    }
}
