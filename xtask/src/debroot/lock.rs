//! `appliance-packages.lock`: the whole package closure of the reference
//! appliance's root image, one line per package.
//!
//! ```text
//! # package  version  architecture  sha256
//! libc6 2.36-9+deb12u14 amd64 0123…cdef
//! ```
//! `cargo xtask appliance-root --update` rewrites it from what mmdebstrap
//! really installed; the build fetches exactly these files and verifies each.

use std::fmt::Write as _;

use anyhow::{bail, Result};

/// The file's name at the repository root.
pub const FILE_NAME: &str = "appliance-packages.lock";

/// One pinned package of the closure.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pkg {
    pub package: String,
    pub version: String,
    pub arch: String,
    pub sha256: String,
}

impl Pkg {
    /// `package_version_arch`, with `:` escaped as apt names its downloads.
    pub fn file_name(&self) -> String {
        format!(
            "{}_{}_{}.deb",
            self.package,
            self.version.replace(':', "%3a"),
            self.arch
        )
    }
}

/// The parsed lock: packages sorted by name, each name once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageLock {
    pub pkgs: Vec<Pkg>,
}

impl PackageLock {
    /// Sorts and checks: every name once.
    pub fn new(mut pkgs: Vec<Pkg>) -> Result<PackageLock> {
        pkgs.sort();
        if let Some(w) = pkgs.windows(2).find(|w| w[0].package == w[1].package) {
            bail!("{FILE_NAME} names `{}` more than once", w[0].package);
        }
        Ok(PackageLock { pkgs })
    }

    pub fn parse(text: &str) -> Result<PackageLock> {
        let mut pkgs = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [package, version, arch, sha256] = fields[..] else {
                bail!(
                    "{FILE_NAME} line {n}: expected `package version architecture sha256`, found {} fields",
                    fields.len()
                );
            };
            if !package
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b))
            {
                bail!("{FILE_NAME} line {n}: `{package}` is not a Debian package name");
            }
            if !matches!(arch, "amd64" | "all") {
                bail!("{FILE_NAME} line {n}: architecture `{arch}` is neither amd64 nor all");
            }
            if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                bail!("{FILE_NAME} line {n}: `{sha256}` is not a sha256 hex digest");
            }
            pkgs.push(Pkg {
                package: package.to_string(),
                version: version.to_string(),
                arch: arch.to_string(),
                sha256: sha256.to_ascii_lowercase(),
            });
        }
        if pkgs.is_empty() {
            bail!("{FILE_NAME} pins no package; run `cargo xtask appliance-root --update`");
        }
        PackageLock::new(pkgs)
    }

    pub fn render(&self) -> String {
        let mut out = format!(
            "# The Debian 12 packages of the reference appliance's root image, the whole\n\
             # closure mmdebstrap installs: package version architecture sha256.\n\
             # `cargo xtask appliance-root --update` re-pins it; do not edit by hand.\n\
             # {} packages.\n",
            self.pkgs.len()
        );
        for p in &self.pkgs {
            let _ = writeln!(out, "{} {} {} {}", p.package, p.version, p.arch, p.sha256);
        }
        out
    }

    pub fn get(&self, package: &str) -> Option<&Pkg> {
        self.pkgs.iter().find(|p| p.package == package)
    }

    /// The wanted packages the lock lacks (the wanted set changed since the
    /// last re-pin).
    pub fn missing<'a>(&self, wanted: &[&'a str]) -> Vec<&'a str> {
        wanted
            .iter()
            .copied()
            .filter(|w| self.get(w).is_none())
            .collect()
    }
}

/// A downloaded archive's file name (`name_version_arch.deb`, `:` as `%3a`)
/// read back into package, version and architecture.
pub fn parse_deb_file_name(name: &str) -> Option<(String, String, String)> {
    let stem = name.strip_suffix(".deb")?;
    let mut parts = stem.split('_');
    let (package, version, arch) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || package.is_empty() || version.is_empty() || arch.is_empty() {
        return None;
    }
    Some((
        package.to_string(),
        version.replace("%3a", ":"),
        arch.to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    fn text() -> String {
        format!(
            "# comment\n\nlibc6 2.36-9+deb12u14 amd64 {SHA}\n\
             bsdutils 1:2.38.1-5+deb12u3 amd64 {}\n\
             tzdata 2026f-0+deb12u1 all {SHA}\n",
            SHA.to_ascii_uppercase()
        )
    }

    #[test]
    fn round_trips_sorted() {
        let lock = PackageLock::parse(&text()).unwrap();
        let names: Vec<&str> = lock.pkgs.iter().map(|p| p.package.as_str()).collect();
        assert_eq!(names, ["bsdutils", "libc6", "tzdata"]);
        assert_eq!(lock.pkgs[0].sha256, SHA, "digests are kept in lower case");
        assert_eq!(
            lock.pkgs[0].file_name(),
            "bsdutils_1%3a2.38.1-5+deb12u3_amd64.deb"
        );
        let rendered = lock.render();
        assert!(rendered.contains("# 3 packages.\n"), "{rendered}");
        assert_eq!(PackageLock::parse(&rendered).unwrap(), lock);
        assert_eq!(lock.missing(&["libc6", "chrony", "tzdata"]), ["chrony"]);
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            (format!("{}oops 1.0 amd64\n", text()), "line 6: expected"),
            (
                format!("{}x 1 amd64 abc\n", text()),
                "line 6: `abc` is not a sha256",
            ),
            (
                format!("{}x 1 i386 {SHA}\n", text()),
                "line 6: architecture `i386`",
            ),
            (
                format!("Bad_Name 1 amd64 {SHA}\n"),
                "line 1: `Bad_Name` is not",
            ),
            (
                format!("{}libc6 2 amd64 {SHA}\n", text()),
                "`libc6` more than once",
            ),
            ("# nothing\n".to_string(), "pins no package"),
        ];
        for (input, want) in cases {
            let err = PackageLock::parse(&input).unwrap_err().to_string();
            assert!(err.contains(want), "`{want}` not in: {err}");
        }
    }

    #[test]
    fn reads_apt_archive_file_names() {
        assert_eq!(
            parse_deb_file_name("bsdutils_1%3a2.38.1-5+deb12u3_amd64.deb"),
            Some((
                "bsdutils".into(),
                "1:2.38.1-5+deb12u3".into(),
                "amd64".into()
            ))
        );
        let p = Pkg {
            package: "tzdata".into(),
            version: "2026f-0+deb12u1".into(),
            arch: "all".into(),
            sha256: SHA.into(),
        };
        assert_eq!(
            parse_deb_file_name(&p.file_name()),
            Some((p.package, p.version, p.arch))
        );
        for bad in ["lock", "a_1.deb", "a_1_amd64_x.deb", "_1_all.deb"] {
            assert_eq!(parse_deb_file_name(bad), None, "{bad}");
        }
    }
}
