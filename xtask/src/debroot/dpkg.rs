//! What dpkg recorded in an installed tree: the installed packages
//! (`var/lib/dpkg/status`) and the paths packages own (`info/*.list`).

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

/// An installed package: name, version, architecture.
pub type Installed = (String, String, String);

/// The packages `status` lists as `install ok installed`, sorted by name.
pub fn installed(status: &str) -> Vec<Installed> {
    let mut out = Vec::new();
    for stanza in status.split("\n\n") {
        let field = |name: &str| {
            stanza.lines().find_map(|l| {
                l.strip_prefix(name)
                    .and_then(|r| r.strip_prefix(':'))
                    .map(|v| v.trim().to_string())
            })
        };
        if field("Status").as_deref() != Some("install ok installed") {
            continue;
        }
        if let (Some(p), Some(v), Some(a)) =
            (field("Package"), field("Version"), field("Architecture"))
        {
            out.push((p, v, a));
        }
    }
    out.sort();
    out
}

/// The installed packages of the tree at `root`.
pub fn installed_in(root: &Path) -> Result<Vec<Installed>> {
    let path = root.join("var/lib/dpkg/status");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(installed(&text))
}

/// Every path some package of the tree at `root` owns (`/usr/bin`, …).
pub fn owned_paths(root: &Path) -> Result<BTreeSet<String>> {
    let info = root.join("var/lib/dpkg/info");
    let mut out = BTreeSet::new();
    for e in fs::read_dir(&info).with_context(|| format!("listing {}", info.display()))? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "list") {
            let text =
                fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
            out.extend(text.lines().map(str::to_string));
        }
    }
    Ok(out)
}

/// The directories the file-mirror hook created inside the tree for the
/// repository at `repo` (absolute): the path and those of its parents that
/// no package owns, deepest first.
pub fn mount_point_chain(repo: &Path, owned: &BTreeSet<String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut p = Some(repo);
    while let Some(dir) = p {
        let s = dir.to_string_lossy().into_owned();
        if s == "/" || s.is_empty() || owned.contains(&s) {
            break;
        }
        out.push(s);
        p = dir.parent();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_installed_packages() {
        let status = "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9\nDescription: x\n more\n\n\
                      Package: gone\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1\n\n\
                      Package: bsdutils\nStatus: install ok installed\nVersion: 1:2.38.1-5\nArchitecture: amd64\n";
        assert_eq!(
            installed(status),
            [
                ("bsdutils".into(), "1:2.38.1-5".into(), "amd64".into()),
                ("libc6".into(), "2.36-9".into(), "amd64".into()),
            ]
        );
    }

    #[test]
    fn the_mount_point_chain_stops_at_owned_directories() {
        let owned: BTreeSet<String> = ["/home", "/usr", "/."].map(String::from).into();
        assert_eq!(
            mount_point_chain(Path::new("/home/u/p/target/repo"), &owned),
            [
                "/home/u/p/target/repo",
                "/home/u/p/target",
                "/home/u/p",
                "/home/u"
            ]
        );
        assert_eq!(
            mount_point_chain(Path::new("/work/x/repo"), &owned),
            ["/work/x/repo", "/work/x", "/work"]
        );
        assert!(mount_point_chain(Path::new("/usr"), &owned).is_empty());
    }
}
