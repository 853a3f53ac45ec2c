//! Two built trees side by side: which entries differ (type, mode, owner,
//! content, link target), so a reproducibility failure names its files.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use anyhow::{Context, Result};

/// One entry's comparable facts.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    kind: &'static str,
    mode: u32,
    owner: (u32, u32),
    /// SHA-256 of a file, the target of a link, nothing for others.
    content: String,
}

fn entries(root: &Path) -> Result<BTreeMap<String, Entry>> {
    let mut out = BTreeMap::new();
    walk(root, "", &mut out)?;
    Ok(out)
}

fn walk(dir: &Path, rel: &str, out: &mut BTreeMap<String, Entry>) -> Result<()> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<std::io::Result<_>>()?;
    names.sort();
    for name in names {
        let p = dir.join(&name);
        let r = format!("{rel}/{}", name.to_string_lossy());
        let m = p.symlink_metadata()?;
        let ft = m.file_type();
        let (kind, content) = if ft.is_dir() {
            ("directory", String::new())
        } else if ft.is_symlink() {
            ("link", fs::read_link(&p)?.to_string_lossy().into_owned())
        } else if ft.is_file() {
            ("file", crate::inputs::sha256_file(&p)?)
        } else {
            ("special", format!("{}", m.rdev()))
        };
        out.insert(
            r.clone(),
            Entry {
                kind,
                mode: m.mode() & 0o7777,
                owner: (m.uid(), m.gid()),
                content,
            },
        );
        if ft.is_dir() {
            walk(&p, &r, out)?;
        }
    }
    Ok(())
}

/// The differences between the trees at `a` and `b`, one line each.
pub fn differences(a: &Path, b: &Path) -> Result<Vec<String>> {
    let (ea, eb) = (entries(a)?, entries(b)?);
    let mut out = Vec::new();
    for (path, x) in &ea {
        match eb.get(path) {
            None => out.push(format!("only in the first: {path}")),
            Some(y) if x.kind != y.kind => out.push(format!("{path}: {} vs {}", x.kind, y.kind)),
            Some(y) if x.content != y.content => {
                out.push(format!("{path}: {} content differs", x.kind))
            }
            Some(y) if x.mode != y.mode => {
                out.push(format!("{path}: mode {:o} vs {:o}", x.mode, y.mode))
            }
            Some(y) if x.owner != y.owner => {
                out.push(format!("{path}: owner {:?} vs {:?}", x.owner, y.owner))
            }
            Some(_) => {}
        }
    }
    out.extend(
        eb.keys()
            .filter(|p| !ea.contains_key(*p))
            .map(|p| format!("only in the second: {p}")),
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    #[test]
    fn names_every_kind_of_difference() {
        let base = std::env::temp_dir().join(format!("xtask-compare-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        let (a, b) = (base.join("a"), base.join("b"));
        for d in [&a, &b] {
            fs::create_dir_all(d.join("etc")).unwrap();
            fs::write(d.join("etc/same"), "x").unwrap();
        }
        fs::write(a.join("etc/id"), "1").unwrap();
        fs::write(b.join("etc/id"), "2").unwrap();
        fs::write(a.join("etc/mode"), "m").unwrap();
        fs::write(b.join("etc/mode"), "m").unwrap();
        fs::set_permissions(a.join("etc/mode"), fs::Permissions::from_mode(0o644)).unwrap();
        fs::set_permissions(b.join("etc/mode"), fs::Permissions::from_mode(0o600)).unwrap();
        symlink("one", a.join("link")).unwrap();
        symlink("two", b.join("link")).unwrap();
        fs::write(a.join("only-a"), "").unwrap();
        fs::create_dir(b.join("only-b")).unwrap();
        fs::write(a.join("kind"), "").unwrap();
        fs::create_dir(b.join("kind")).unwrap();

        let diff = differences(&a, &b).unwrap();
        assert_eq!(
            diff,
            [
                "/etc/id: file content differs",
                "/etc/mode: mode 644 vs 600",
                "/kind: file vs directory",
                "/link: link content differs",
                "only in the first: /only-a",
                "only in the second: /only-b",
            ]
        );
        assert!(differences(&a, &a).unwrap().is_empty());
        fs::remove_dir_all(&base).unwrap();
    }
}
