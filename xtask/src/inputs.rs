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
    Cmd::new("apt-get")
        .args(["-q", "-o", "APT::Sandbox::User=root", "download"])
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
        let info = apt_show(&package)?;
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
    let out = Cmd::new("apt-cache")
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

#[cfg(test)]
mod tests {
    use super::*;

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
