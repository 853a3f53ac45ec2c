//! What is taken out of the installed tree before it becomes the read-only
//! root image: everything that would make two builds differ, that belongs to
//! the build machine, or that must be made per appliance (its secrets). First
//! boot creates the per-appliance files again; the image carries none.

use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use anyhow::{Context, Result};

/// What to do with the entries a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Remove the file, link or directory tree.
    Remove,
    /// Keep the file, with no content.
    Empty,
    /// Remove the regular files below the directory, keep directories and links.
    RemoveFilesBelow,
    /// Remove the symbolic links in the directory whose target's name starts
    /// with the given text (hash links to a removed certificate).
    RemoveLinksTo(&'static str),
    /// Remove the symbolic links in the directory whose target is gone (the
    /// other names of a tool removed by an earlier rule).
    RemoveDanglingLinks,
}

/// One rule: a path relative to the root whose last component may hold one
/// `*`, what to do, and why.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub path: &'static str,
    pub action: Action,
    pub why: &'static str,
}

const fn rule(path: &'static str, action: Action, why: &'static str) -> Rule {
    Rule { path, action, why }
}

/// The list, applied in order.
pub const RULES: &[Rule] = &[
    // Per-appliance secrets and identities: made at first boot.
    rule(
        "etc/ssh/ssh_host_*",
        Action::Remove,
        "SSH host keys (per appliance)",
    ),
    rule(
        "etc/machine-id",
        Action::Empty,
        "machine id: empty means `make one at first boot`",
    ),
    rule(
        "var/lib/dbus/machine-id",
        Action::Remove,
        "D-Bus copy of the machine id",
    ),
    rule(
        "var/lib/systemd/random-seed",
        Action::Remove,
        "the build's random seed",
    ),
    rule(
        "etc/ssl/private/ssl-cert-snakeoil.key",
        Action::Remove,
        "ssl-cert's snakeoil key",
    ),
    rule(
        "etc/ssl/certs/ssl-cert-snakeoil.pem",
        Action::Remove,
        "ssl-cert's snakeoil certificate",
    ),
    rule(
        "etc/ssl/certs",
        Action::RemoveLinksTo("ssl-cert-snakeoil"),
        "the hash link to the snakeoil certificate",
    ),
    rule(
        "etc/freeradius/3.0/certs/dh",
        Action::Remove,
        "FreeRADIUS DH parameters made at install",
    ),
    rule(
        "etc/freeradius/3.0/certs/*.pem",
        Action::Remove,
        "FreeRADIUS certificates and keys",
    ),
    rule(
        "etc/freeradius/3.0/certs/*.key",
        Action::Remove,
        "FreeRADIUS private keys",
    ),
    rule(
        "etc/freeradius/3.0/certs/*.crt",
        Action::Remove,
        "FreeRADIUS certificates",
    ),
    rule(
        "etc/freeradius/3.0/certs/*.csr",
        Action::Remove,
        "FreeRADIUS certificate requests",
    ),
    rule(
        "etc/freeradius/3.0/certs/*.der",
        Action::Remove,
        "FreeRADIUS certificates",
    ),
    rule(
        "etc/freeradius/3.0/certs/*.p12",
        Action::Remove,
        "FreeRADIUS key bundles",
    ),
    rule(
        "etc/freeradius/3.0/certs/index.txt*",
        Action::Remove,
        "FreeRADIUS CA database",
    ),
    rule(
        "etc/freeradius/3.0/certs/serial*",
        Action::Remove,
        "FreeRADIUS CA serial",
    ),
    // MariaDB: the data directory the package's postinst made holds time
    // stamps and ids; the first start makes it on the data partition.
    rule(
        "var/lib/mysql/*",
        Action::Remove,
        "MariaDB's data directory of the build (made at the first start)",
    ),
    // FreeRADIUS: Debian's example servers listen on 1812 as the
    // appliance's `otp` server does, and EAP needs the certificates removed
    // above.
    rule(
        "etc/freeradius/3.0/sites-enabled/default",
        Action::Remove,
        "FreeRADIUS's example server (the appliance's is sites-enabled/otp)",
    ),
    rule(
        "etc/freeradius/3.0/sites-enabled/inner-tunnel",
        Action::Remove,
        "FreeRADIUS's example EAP inner server",
    ),
    rule(
        "etc/freeradius/3.0/mods-enabled/eap",
        Action::Remove,
        "FreeRADIUS's EAP module (its certificates are not in the image)",
    ),
    // MariaDB's tools the appliance never runs (each a 4-6 MB binary with
    // the server's libraries linked in). Kept: mariadbd, mariadb (client,
    // debian-start), mariadb-dump (backups), mariadb-admin, mariadb-check and
    // mariadb-upgrade (debian-start), mariadb-install-db with
    // my_print_defaults and resolveip (the first start).
    rule(
        "usr/bin/aria_*",
        Action::Remove,
        "MariaDB's Aria table tools",
    ),
    rule(
        "usr/bin/myisam*",
        Action::Remove,
        "MariaDB's MyISAM table tools",
    ),
    rule(
        "usr/bin/mariadb-binlog",
        Action::Remove,
        "MariaDB's binary log reader",
    ),
    rule(
        "usr/bin/mariadb-slap",
        Action::Remove,
        "MariaDB's load generator",
    ),
    rule(
        "usr/bin/mariadb-import",
        Action::Remove,
        "MariaDB's CSV importer",
    ),
    rule(
        "usr/bin/mariadb-show",
        Action::Remove,
        "MariaDB's schema lister",
    ),
    rule(
        "usr/bin/mariadb-conv",
        Action::Remove,
        "MariaDB's character set converter",
    ),
    rule(
        "usr/bin/mariadb-plugin",
        Action::Remove,
        "MariaDB's plug-in installer",
    ),
    rule(
        "usr/bin/mariadb-tzinfo-to-sql",
        Action::Remove,
        "MariaDB's time zone loader (the appliance keeps SQL times in UTC)",
    ),
    rule(
        "usr/bin/mariadb-waitpid",
        Action::Remove,
        "MariaDB's wait helper",
    ),
    rule(
        "usr/bin/perror",
        Action::Remove,
        "MariaDB's error code explainer",
    ),
    rule(
        "usr/bin/innochecksum",
        Action::Remove,
        "MariaDB's offline page checker",
    ),
    rule(
        "usr/bin/resolve_stack_dump",
        Action::Remove,
        "MariaDB's stack symboliser",
    ),
    rule(
        "usr/bin/replace",
        Action::Remove,
        "MariaDB's string replacer",
    ),
    rule(
        "usr/bin/mariadbd-safe-helper",
        Action::Remove,
        "mariadbd-safe's helper (systemd starts mariadbd itself)",
    ),
    rule(
        "usr/bin/mariadbd-safe",
        Action::Remove,
        "mariadbd-safe (systemd starts mariadbd itself)",
    ),
    rule(
        "usr/bin",
        Action::RemoveDanglingLinks,
        "another name of a tool removed above",
    ),
    rule(
        "usr/lib/x86_64-linux-gnu/perl/5.36.0/CORE/*.h",
        Action::Remove,
        "perl's C headers (nothing is compiled on the appliance)",
    ),
    // The build machine's files, copied in by mmdebstrap.
    rule(
        "etc/hostname",
        Action::Remove,
        "the build host's name; first boot sets the appliance's",
    ),
    rule(
        "etc/resolv.conf",
        Action::Remove,
        "the build host's resolvers",
    ),
    rule(
        "etc/apt/sources.list",
        Action::Remove,
        "the build's package sources",
    ),
    rule(
        "etc/apt/sources.list.d/*",
        Action::Remove,
        "the build's package sources",
    ),
    rule(
        "etc/apt/apt.conf.d/99mmdebstrap",
        Action::Remove,
        "the build's apt settings",
    ),
    // Caches, logs and backups that differ between runs (no apt in the image).
    rule(
        "var/lib/apt",
        Action::Remove,
        "apt state (apt is not installed)",
    ),
    rule(
        "var/cache/apt",
        Action::Remove,
        "apt caches (apt is not installed)",
    ),
    rule(
        "var/cache/ldconfig/aux-cache",
        Action::Remove,
        "ldconfig's cache of file times",
    ),
    rule("var/cache/debconf/*-old", Action::Remove, "debconf backups"),
    rule("var/lib/dpkg/*-old", Action::Remove, "dpkg backups"),
    rule("etc/passwd-", Action::Remove, "shadow-utils backup"),
    rule("etc/group-", Action::Remove, "shadow-utils backup"),
    rule("etc/shadow-", Action::Remove, "shadow-utils backup"),
    rule("etc/gshadow-", Action::Remove, "shadow-utils backup"),
    rule("etc/subuid-", Action::Remove, "shadow-utils backup"),
    rule("etc/subgid-", Action::Remove, "shadow-utils backup"),
    rule("etc/.pwd.lock", Action::Remove, "shadow-utils lock file"),
    rule(
        "var/log",
        Action::RemoveFilesBelow,
        "logs of the build (directories stay)",
    ),
];

/// Applies every rule to the tree at `root`; returns the paths (relative)
/// that were removed or emptied, each with its rule's reason.
pub fn apply(root: &Path, rules: &[Rule]) -> Result<Vec<(String, &'static str)>> {
    let mut all = Vec::new();
    for r in rules {
        let mut done = Vec::new();
        for rel in matching(root, r.path)? {
            let p = root.join(&rel);
            match r.action {
                Action::Remove => {
                    remove(&p)?;
                    done.push(rel);
                }
                Action::Empty => {
                    if p.is_file() {
                        fs::write(&p, b"").with_context(|| format!("emptying {}", p.display()))?;
                        done.push(rel);
                    }
                }
                Action::RemoveFilesBelow => remove_files_below(&p, &rel, &mut done)?,
                Action::RemoveDanglingLinks => {
                    for e in read_dir_sorted(&p)? {
                        let link = p.join(&e);
                        let is_link = link.symlink_metadata().is_ok_and(|m| m.is_symlink());
                        if is_link && !link.exists() {
                            remove(&link)?;
                            done.push(format!("{rel}/{e}"));
                        }
                    }
                }
                Action::RemoveLinksTo(prefix) => {
                    for e in read_dir_sorted(&p)? {
                        let link = p.join(&e);
                        let Ok(target) = fs::read_link(&link) else {
                            continue;
                        };
                        let name = target.file_name().unwrap_or_default().to_string_lossy();
                        if name.starts_with(prefix) {
                            remove(&link)?;
                            done.push(format!("{rel}/{e}"));
                        }
                    }
                }
            }
        }
        all.extend(done.into_iter().map(|p| (p, r.why)));
    }
    Ok(all)
}

/// The relative paths under `root` a rule's path names (none if absent).
fn matching(root: &Path, pattern: &str) -> Result<Vec<String>> {
    let (dir, last) = pattern.rsplit_once('/').unwrap_or(("", pattern));
    if !last.contains('*') {
        let exists = root.join(pattern).symlink_metadata().is_ok();
        return Ok(if exists {
            vec![pattern.to_string()]
        } else {
            vec![]
        });
    }
    let base = root.join(dir);
    if !base.is_dir() {
        return Ok(vec![]);
    }
    Ok(read_dir_sorted(&base)?
        .into_iter()
        .filter(|name| glob_match(last, name))
        .map(|name| {
            if dir.is_empty() {
                name
            } else {
                format!("{dir}/{name}")
            }
        })
        .collect())
}

/// `*` matches any run of characters (one `*` at most).
pub fn glob_match(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => {
            name.len() >= head.len() + tail.len() && name.starts_with(head) && name.ends_with(tail)
        }
    }
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<String>> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<std::io::Result<_>>()?;
    names.sort();
    Ok(names)
}

fn remove(p: &Path) -> Result<()> {
    let meta = match p.symlink_metadata() {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("inspecting {}", p.display())),
    };
    if meta.is_dir() {
        fs::remove_dir_all(p)
    } else {
        fs::remove_file(p)
    }
    .with_context(|| format!("removing {}", p.display()))
}

fn remove_files_below(dir: &Path, rel: &str, done: &mut Vec<String>) -> Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    for name in read_dir_sorted(dir)? {
        let p = dir.join(&name);
        let ft = p.symlink_metadata()?.file_type();
        if ft.is_dir() {
            remove_files_below(&p, &format!("{rel}/{name}"), done)?;
        } else if ft.is_file() {
            remove(&p)?;
            done.push(format!("{rel}/{name}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn scratch(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("xtask-strip-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn put(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    #[test]
    fn globs_match_one_star() {
        assert!(glob_match("ssh_host_*", "ssh_host_ed25519_key.pub"));
        assert!(glob_match("*-old", "status-old"));
        assert!(glob_match("index.txt*", "index.txt"));
        assert!(!glob_match("*-old", "status"));
        assert!(!glob_match("ab*ba", "aba"), "head and tail may not overlap");
        assert!(glob_match("dh", "dh") && !glob_match("dh", "dhx"));
    }

    #[test]
    fn the_list_covers_the_known_per_build_files() {
        let paths: Vec<&str> = RULES.iter().map(|r| r.path).collect();
        for must in [
            "etc/ssh/ssh_host_*",
            "etc/machine-id",
            "etc/ssl/private/ssl-cert-snakeoil.key",
            "etc/freeradius/3.0/certs/dh",
            "var/cache/ldconfig/aux-cache",
            "var/lib/dpkg/*-old",
            "var/log",
        ] {
            assert!(paths.contains(&must), "{must} is not stripped");
        }
        for r in RULES {
            assert!(!r.path.starts_with('/') && !r.why.is_empty(), "{r:?}");
            assert!(r.path.matches('*').count() <= 1, "{r:?}");
            let last = r.path.rsplit('/').next().unwrap_or("");
            assert!(!r.path[..r.path.len() - last.len()].contains('*'), "{r:?}");
        }
    }

    #[test]
    fn applies_to_a_tree() {
        let root = scratch("apply");
        put(&root, "etc/ssh/ssh_host_rsa_key", "secret");
        put(&root, "etc/ssh/ssh_host_rsa_key.pub", "public");
        put(&root, "etc/ssh/sshd_config", "keep");
        put(&root, "etc/machine-id", "0123\n");
        put(&root, "etc/ssl/certs/ssl-cert-snakeoil.pem", "cert");
        put(&root, "etc/ssl/certs/ca.pem", "ca");
        symlink(
            "ssl-cert-snakeoil.pem",
            root.join("etc/ssl/certs/62742064.0"),
        )
        .unwrap();
        symlink("ca.pem", root.join("etc/ssl/certs/abcdef01.0")).unwrap();
        put(&root, "var/log/dpkg.log", "log");
        put(&root, "var/log/freeradius/radius.log", "log");
        put(&root, "var/lib/dpkg/status-old", "old");
        put(&root, "var/lib/dpkg/status", "new");
        put(&root, "var/lib/apt/lists/x", "list");
        put(&root, "usr/bin/mariadb-binlog", "tool");
        put(&root, "usr/bin/mariadb", "client");
        symlink("mariadb-binlog", root.join("usr/bin/mysqlbinlog")).unwrap();
        symlink("mariadb", root.join("usr/bin/mysql")).unwrap();

        let done = apply(&root, RULES).unwrap();
        assert_eq!(done[0].1, "SSH host keys (per appliance)");
        let done: Vec<&str> = done.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            done,
            [
                "etc/ssh/ssh_host_rsa_key",
                "etc/ssh/ssh_host_rsa_key.pub",
                "etc/machine-id",
                "etc/ssl/certs/ssl-cert-snakeoil.pem",
                "etc/ssl/certs/62742064.0",
                "usr/bin/mariadb-binlog",
                "usr/bin/mysqlbinlog",
                "var/lib/apt",
                "var/lib/dpkg/status-old",
                "var/log/dpkg.log",
                "var/log/freeradius/radius.log",
            ]
        );
        assert_eq!(fs::read(root.join("etc/machine-id")).unwrap(), b"");
        assert!(root.join("etc/ssh/sshd_config").is_file());
        assert!(root.join("etc/ssl/certs/abcdef01.0").is_file());
        assert!(root.join("var/log/freeradius").is_dir());
        assert!(root.join("var/lib/dpkg/status").is_file());
        assert!(!root.join("var/lib/apt").exists());
        assert!(
            root.join("usr/bin/mysql").is_file(),
            "a link to a kept tool stays"
        );
        // A second pass finds nothing more to do but the empty machine id.
        let again = apply(&root, RULES).unwrap();
        assert_eq!(again, [("etc/machine-id".to_string(), RULES[1].why)]);
        fs::remove_dir_all(&root).unwrap();
    }
}
