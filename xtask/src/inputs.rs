//! Pinned boot inputs: Debian packages fetched with `apt-get download`, checked
//! against `boot-inputs.lock`, unpacked without dpkg and cached.
//!
//! Cache layout (under `.cache/boot-inputs/`):
//! `debs/<package>_<version>.deb` — only ever renamed into place after its sha256
//! matched; `roots/<package>_<version>/` — only ever renamed into place after a
//! complete unpack. So an interrupted run never leaves a half-written entry.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::cmd::Cmd;
use crate::lockfile::{Lock, Pin, Role};
use crate::project;

/// Unpacked package roots, one per role.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub lock: Lock,
    roots: Vec<(Role, PathBuf)>,
}

impl Inputs {
    pub fn root(&self, role: Role) -> &Path {
        self.roots
            .iter()
            .find(|(r, _)| *r == role)
            .map(|(_, p)| p.as_path())
            .unwrap_or(Path::new("/nonexistent"))
    }

    /// `lib/modules/<release>` inside the kernel package, and the release.
    pub fn kernel_modules(&self) -> Result<(PathBuf, String)> {
        let dir = self.root(Role::Kernel).join("lib/modules");
        let mut releases: Vec<String> = fs::read_dir(&dir)
            .with_context(|| format!("listing {}", dir.display()))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        releases.sort();
        match releases.as_slice() {
            [one] => Ok((dir.join(one), one.clone())),
            _ => bail!(
                "expected exactly one kernel release in {}, found {:?}",
                dir.display(),
                releases
            ),
        }
    }

    /// The kernel image of the pinned release.
    pub fn vmlinuz(&self) -> Result<PathBuf> {
        let (_, release) = self.kernel_modules()?;
        Ok(self
            .root(Role::Kernel)
            .join(format!("boot/vmlinuz-{release}")))
    }

    /// A file inside a package root, which must exist.
    pub fn file(&self, role: Role, rel: &str) -> Result<PathBuf> {
        let p = self.root(role).join(rel);
        if !p.is_file() {
            let pin = self.lock.get(role);
            bail!("{} {} does not contain /{rel}", pin.package, pin.version);
        }
        Ok(p)
    }
}

/// The command that re-pins `boot-inputs.lock`.
const REPIN: &str = "cargo xtask inputs --update";

pub fn read_lock() -> Result<Lock> {
    let path = project::inputs_lock();
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Lock::parse(&text)
}

/// Makes every pinned package available, downloading and unpacking what the
/// cache lacks. Fails naming the package and version on any mismatch.
pub fn ensure() -> Result<Inputs> {
    let lock = read_lock()?;
    let cache = project::cache_dir();
    let mut roots = Vec::new();
    for pin in &lock.pins {
        let deb = ensure_deb(&cache, pin, REPIN)?;
        let root = ensure_root(&cache, pin, &deb)?;
        roots.push((pin.role, root));
    }
    Ok(Inputs { lock, roots })
}

/// The pinned `.deb` in `cache/debs`, downloaded if missing. `repin` is the
/// command that re-pins the lock the pin comes from (named on a mismatch).
pub(crate) fn ensure_deb(cache: &Path, pin: &Pin, repin: &str) -> Result<PathBuf> {
    let debs = cache.join("debs");
    let path = debs.join(format!("{}.deb", pin.stem()));
    if path.is_file() {
        if sha256_file(&path)? == pin.sha256 {
            return Ok(path);
        }
        eprintln!(
            "cached {} does not match the lock; downloading it again",
            path.display()
        );
        fs::remove_file(&path)?;
    }
    fs::create_dir_all(&debs)?;
    let tmp = cache.join(format!("tmp-download-{}-{}", pin.package, unique()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp)?;
    let result = download_into(&tmp, pin, repin).and_then(|downloaded| {
        let got = sha256_file(&downloaded)?;
        if got != pin.sha256 {
            bail!(
                "sha256 mismatch for {} {}: the lock says {}, the download is {}; the download was discarded. \
                 If Debian rebuilt the package, review and run `{repin}`",
                pin.package, pin.version, pin.sha256, got
            );
        }
        fs::rename(&downloaded, &path).with_context(|| format!("moving the download to {}", path.display()))
    });
    let _ = fs::remove_dir_all(&tmp);
    result.map(|()| path)
}

fn download_into(dir: &Path, pin: &Pin, repin: &str) -> Result<PathBuf> {
    let spec = format!("{}={}", pin.package, pin.version);
    let extra = if pin.role.non_free_firmware() {
        NonFreeApt::get()?.options()
    } else {
        Vec::new()
    };
    Cmd::new("apt-get")
        .args(["-q", "-o", "APT::Sandbox::User=root"])
        .args(extra)
        .arg("download")
        .arg(&spec)
        .cwd(dir)
        .read()
        .with_context(|| {
            format!(
                "could not download {} {} with apt-get. Run `apt-get update` first; if the version is no \
                 longer in the archive, run `{repin}` to pin the current one",
                pin.package, pin.version
            )
        })?;
    let mut debs: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    match debs.len() {
        1 => Ok(debs.remove(0)),
        n => bail!("apt-get download {spec} left {n} .deb files instead of one"),
    }
}

fn ensure_root(cache: &Path, pin: &Pin, deb: &Path) -> Result<PathBuf> {
    let roots = cache.join("roots");
    let root = roots.join(pin.stem());
    if root.is_dir() {
        return Ok(root);
    }
    fs::create_dir_all(&roots)?;
    let tmp = roots.join(format!(".tmp-{}-{}", pin.stem(), unique()));
    let _ = fs::remove_dir_all(&tmp);
    eprintln!("unpacking {} {}", pin.package, pin.version);
    let result = crate::deb::unpack(deb, &tmp).and_then(|()| match fs::rename(&tmp, &root) {
        Ok(()) => Ok(()),
        // Another build unpacked the same package meanwhile; theirs is as good.
        Err(_) if root.is_dir() => {
            let _ = fs::remove_dir_all(&tmp);
            Ok(())
        }
        Err(e) => Err(e).with_context(|| format!("moving the unpacked tree to {}", root.display())),
    });
    if result.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    result.map(|()| root)
}

/// A name part no other download or unpack running at the same time uses
/// (other processes differ by pid, other threads by the counter).
pub(crate) fn unique() -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}-{n}", std::process::id())
}

pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Re-resolves every role to apt's current candidate and rewrites the lock,
/// then fetches and verifies the new pins.
pub fn update() -> Result<()> {
    let mut pins = Vec::new();
    for role in Role::ALL {
        let mut package = role.source_package().to_string();
        if role == Role::Kernel {
            let meta = apt_show(&package)?;
            let depends = field(&meta, "Depends")
                .with_context(|| format!("{package} has no Depends field"))?;
            package = depends
                .split(',')
                .map(|d| d.split_whitespace().next().unwrap_or(""))
                .find(|d| d.starts_with("linux-image-") && d.ends_with("-amd64"))
                .with_context(|| {
                    format!(
                        "{} does not depend on a linux-image-*-amd64 package: `{depends}`",
                        role.source_package()
                    )
                })?
                .to_string();
        }
        let info = if role.non_free_firmware() {
            apt_show_with(&package, &NonFreeApt::get()?.options())?
        } else {
            apt_show(&package)?
        };
        let version = field(&info, "Version")
            .with_context(|| format!("apt shows no Version for {package}"))?;
        let sha256 =
            field(&info, "SHA256").with_context(|| format!("apt shows no SHA256 for {package}"))?;
        pins.push(Pin {
            package,
            version,
            sha256: sha256.to_ascii_lowercase(),
            role,
        });
    }
    let lock = Lock { pins };
    let text = lock.render();
    Lock::parse(&text)?; // the rendering must read back
    let path = project::inputs_lock();
    let tmp = path.with_extension("lock.tmp");
    fs::write(&tmp, &text)?;
    fs::rename(&tmp, &path)?;
    eprint!("{text}");
    ensure()?;
    Ok(())
}

fn apt_show(package: &str) -> Result<String> {
    apt_show_with(package, &[])
}

fn apt_show_with(package: &str, options: &[String]) -> Result<String> {
    let out = Cmd::new("apt-cache")
        .args(options)
        .args(["show", "--no-all-versions", package])
        .read()
        .with_context(|| format!("asking apt about {package} (run `apt-get update` first)"))?;
    if out.stdout.trim().is_empty() {
        bail!("apt knows no package {package}; run `apt-get update` and check the sources list");
    }
    Ok(out.stdout)
}

/// The value of a `Field: value` line of the first stanza.
fn field(stanza: &str, name: &str) -> Option<String> {
    stanza
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(':')))
        .map(|v| v.trim().to_string())
}

/// Fetches apt's current candidate of a package that is not part of the image
/// (benchmark peers), unpacked into the cache. Not pinned: the figures it
/// serves say which version they measured.
pub fn fetch_unpinned(package: &str) -> Result<PathBuf> {
    let info = apt_show(package)?;
    let version =
        field(&info, "Version").with_context(|| format!("apt shows no Version for {package}"))?;
    let sha256 =
        field(&info, "SHA256").with_context(|| format!("apt shows no SHA256 for {package}"))?;
    // The cache only uses package, version and sha256; the role is not looked at.
    let pin = Pin {
        package: package.to_string(),
        version,
        sha256: sha256.to_ascii_lowercase(),
        role: Role::Kernel,
    };
    eprintln!(
        "using {} {} (not pinned; a benchmark peer)",
        pin.package, pin.version
    );
    let cache = project::cache_dir().join("unpinned");
    let deb = ensure_deb(&cache, &pin, REPIN)?;
    ensure_root(&cache, &pin, &deb)
}

/// The Debian release the boot inputs come from.
const DEBIAN_SUITE: &str = "bookworm";

/// A private apt configuration for the firmware packages: the host's own
/// Debian sources (same servers, same suites, same keys) with their
/// `Components` replaced by `non-free-firmware`, its own package lists, and
/// nothing else. The host's apt configuration is never changed, and no server
/// name is written anywhere: the entries are copied from the host. Made once
/// per run under `<cache>/apt-non-free-firmware/` with one `apt-get update`.
struct NonFreeApt {
    dir: PathBuf,
}

impl NonFreeApt {
    fn get() -> Result<&'static NonFreeApt> {
        static ONCE: std::sync::OnceLock<std::result::Result<NonFreeApt, String>> =
            std::sync::OnceLock::new();
        ONCE.get_or_init(|| NonFreeApt::create().map_err(|e| format!("{e:#}")))
            .as_ref()
            .map_err(|e| anyhow::anyhow!("{e}"))
    }

    fn create() -> Result<NonFreeApt> {
        let dir = project::cache_dir().join("apt-non-free-firmware");
        let parts = dir.join("sources.list.d");
        let _ = fs::remove_dir_all(&parts);
        fs::create_dir_all(&parts)?;
        fs::create_dir_all(dir.join("lists/partial"))?;
        fs::write(dir.join("sources.list"), "")?;
        let mut found = 0;
        let host = Path::new("/etc/apt");
        let mut sources: Vec<PathBuf> = vec![host.join("sources.list")];
        if let Ok(entries) = fs::read_dir(host.join("sources.list.d")) {
            let mut more: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            more.sort();
            sources.extend(more);
        }
        for (i, path) in sources.iter().enumerate() {
            let Ok(text) = fs::read_to_string(path) else {
                continue;
            };
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            let rewritten = match name.as_deref() {
                Some(n) if n.ends_with(".sources") => non_free_deb822(&text, DEBIAN_SUITE),
                Some(n) if n.ends_with(".list") => non_free_one_line(&text, DEBIAN_SUITE),
                _ => None,
            };
            if let (Some(text), Some(name)) = (rewritten, name) {
                fs::write(parts.join(format!("{i:02}-{name}")), text)?;
                found += 1;
            }
        }
        if found == 0 {
            bail!(
                "no {DEBIAN_SUITE} entry in the host's apt sources to take the firmware packages from"
            );
        }
        let apt = NonFreeApt { dir };
        Cmd::new("apt-get")
            .args(["-q", "-o", "APT::Sandbox::User=root"])
            .args(apt.options())
            .arg("update")
            .read()
            .context("apt-get update of the non-free-firmware component")?;
        Ok(apt)
    }

    fn options(&self) -> Vec<String> {
        let d = self.dir.display();
        [
            format!("Dir::Etc::sourcelist={d}/sources.list"),
            format!("Dir::Etc::sourceparts={d}/sources.list.d"),
            format!("Dir::State::Lists={d}/lists"),
            "Dir::Cache::pkgcache=".to_string(),
            "Dir::Cache::srcpkgcache=".to_string(),
        ]
        .into_iter()
        .flat_map(|o| ["-o".to_string(), o])
        .collect()
    }
}

/// The stanzas of a deb822 `.sources` file whose `Suites` name `suite` (or
/// its `-updates`/`-security` suites), with `Components: non-free-firmware`;
/// `None` if there is none.
fn non_free_deb822(text: &str, suite: &str) -> Option<String> {
    let mut out = String::new();
    for stanza in text.split("\n\n") {
        let suites = stanza
            .lines()
            .find_map(|l| l.strip_prefix("Suites:"))
            .unwrap_or("");
        let types = stanza
            .lines()
            .find_map(|l| l.strip_prefix("Types:"))
            .unwrap_or("");
        let enabled = !stanza
            .lines()
            .any(|l| l.trim().eq_ignore_ascii_case("Enabled: no"));
        if !enabled
            || !types.split_whitespace().any(|t| t == "deb")
            || !suites.split_whitespace().any(|s| s.starts_with(suite))
        {
            continue;
        }
        for line in stanza.lines() {
            if line.starts_with("Components:") {
                out.push_str("Components: non-free-firmware\n");
            } else if line.starts_with("Types:") {
                out.push_str("Types: deb\n");
            } else {
                out.push_str(line);
                out.push('\n');
            }
        }
        out.push('\n');
    }
    (!out.is_empty()).then_some(out)
}

/// The `deb` lines of a one-line `.list` file for `suite`, with the
/// components replaced by `non-free-firmware`; `None` if there is none.
fn non_free_one_line(text: &str, suite: &str) -> Option<String> {
    let mut out = String::new();
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix("deb ") else {
            continue;
        };
        let rest = rest.trim_start();
        let (options, rest) = match rest.strip_prefix('[') {
            Some(r) => match r.split_once(']') {
                Some((o, after)) => (format!("[{o}] "), after.trim_start()),
                None => continue,
            },
            None => (String::new(), rest),
        };
        let mut words = rest.split_whitespace();
        let (Some(uri), Some(dist)) = (words.next(), words.next()) else {
            continue;
        };
        if dist.starts_with(suite) {
            out.push_str(&format!("deb {options}{uri} {dist} non-free-firmware\n"));
        }
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firmware_sources_keep_the_host_entries_and_change_only_components() {
        let deb822 = "Types: deb deb-src\nURIs: http://example.invalid/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /k.gpg\n\nTypes: deb\nURIs: https://other.invalid/x\nSuites: nodistro\nComponents: main\n";
        let got = non_free_deb822(deb822, "bookworm").unwrap();
        assert_eq!(
            got,
            "Types: deb\nURIs: http://example.invalid/debian\nSuites: bookworm bookworm-updates\nComponents: non-free-firmware\nSigned-By: /k.gpg\n\n"
        );
        assert_eq!(
            non_free_deb822("Types: deb\nSuites: bookworm\nEnabled: no\n", "bookworm"),
            None
        );
        let list = "# c\ndeb [signed-by=/k.gpg] http://example.invalid/debian bookworm main contrib\ndeb-src http://example.invalid/debian bookworm main\ndeb http://example.invalid/debian-security bookworm-security main\ndeb http://x.invalid/ nodistro main\n";
        assert_eq!(
            non_free_one_line(list, "bookworm").unwrap(),
            "deb [signed-by=/k.gpg] http://example.invalid/debian bookworm non-free-firmware\ndeb http://example.invalid/debian-security bookworm-security non-free-firmware\n"
        );
        assert_eq!(
            non_free_one_line("deb http://x.invalid/ sid main\n", "bookworm"),
            None
        );
    }

    #[test]
    fn reads_fields_of_the_first_stanza() {
        let s = "Package: linux-image-amd64\nVersion: 6.1.192-2\nDepends: linux-image-6.1.0-56-amd64 (= 6.1.192-2)\nSHA256: AB\n\nVersion: 9\n";
        assert_eq!(field(s, "Version").as_deref(), Some("6.1.192-2"));
        assert_eq!(
            field(s, "Depends").as_deref(),
            Some("linux-image-6.1.0-56-amd64 (= 6.1.192-2)")
        );
        assert_eq!(field(s, "Missing"), None);
    }

    #[test]
    fn hashes_files() {
        let p = std::env::temp_dir().join(format!("xtask-sha-{}", std::process::id()));
        fs::write(&p, b"abc").unwrap();
        assert_eq!(
            sha256_file(&p).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        fs::remove_file(&p).unwrap();
    }
}
