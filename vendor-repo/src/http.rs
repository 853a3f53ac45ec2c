//! Serving a repository over HTTP: the two request details every server of
//! ours needs — mapping a request target to a file under the repository
//! root, and the byte range of a `Range` header (the installer resumes
//! interrupted downloads with one). Used by `cargo xtask repo serve` and the
//! test servers; production repositories sit behind any web server or CDN.

use std::path::{Component, Path, PathBuf};

/// A parsed byte range, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// No (usable) range: the whole file, 200.
    All,
    /// `first..=last`, 206.
    Part(u64, u64),
    /// Cannot be satisfied, 416.
    Unsatisfiable,
}

/// Interprets a `Range` header value for a file of `len` bytes: single
/// ranges `bytes=a-b`, `a-` and `-n`; several ranges are answered with the
/// whole file (allowed by RFC 9110).
pub fn parse_range(header: Option<&str>, len: u64) -> Range {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Range::All;
    };
    if spec.contains(',') {
        return Range::All;
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Range::Unsatisfiable;
    };
    let (a, b) = (a.trim(), b.trim());
    let end = len.saturating_sub(1);
    let (first, last) = match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(first), Ok(last)) if first <= last => (first, last.min(end)),
        (Ok(first), Err(_)) if b.is_empty() => (first, end),
        (Err(_), Ok(n)) if a.is_empty() && n > 0 => (len.saturating_sub(n), end),
        _ => return Range::Unsatisfiable,
    };
    if len == 0 || first >= len {
        Range::Unsatisfiable
    } else {
        Range::Part(first, last)
    }
}

/// The file a request target (`/objects/sha256/…?query`) names under
/// `root`; `None` for anything that is not a plain relative path to an
/// existing file (`..`, a directory, no leading `/`).
pub fn resolve(root: &Path, target: &str) -> Option<PathBuf> {
    let path = target.split(['?', '#']).next()?.strip_prefix('/')?;
    let rel = Path::new(path);
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    let p = root.join(rel);
    p.is_file().then_some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 10), Range::All);
        assert_eq!(parse_range(Some("items=2-5"), 10), Range::All);
        assert_eq!(parse_range(Some("bytes=2-5"), 10), Range::Part(2, 5));
        assert_eq!(parse_range(Some(" bytes= 2 - 5 "), 10), Range::Part(2, 5));
        assert_eq!(parse_range(Some("bytes=7-"), 10), Range::Part(7, 9));
        assert_eq!(parse_range(Some("bytes=-3"), 10), Range::Part(7, 9));
        assert_eq!(parse_range(Some("bytes=-30"), 10), Range::Part(0, 9));
        assert_eq!(parse_range(Some("bytes=5-100"), 10), Range::Part(5, 9));
        assert_eq!(parse_range(Some("bytes=10-"), 10), Range::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=5-2"), 10), Range::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 10), Range::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=x-y"), 10), Range::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=5"), 10), Range::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-"), 0), Range::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-1,4-5"), 10), Range::All);
    }

    #[test]
    fn paths_stay_inside_the_root() {
        let root = std::env::temp_dir().join(format!("vendor-repo-http-{}", std::process::id()));
        std::fs::create_dir_all(root.join("objects")).unwrap();
        std::fs::write(root.join("objects/a"), b"x").unwrap();
        assert_eq!(
            resolve(&root, "/objects/a?x=1"),
            Some(root.join("objects/a"))
        );
        assert_eq!(resolve(&root, "/objects/a#f"), Some(root.join("objects/a")));
        assert_eq!(resolve(&root, "/../etc/passwd"), None);
        assert_eq!(resolve(&root, "/objects/../objects/a"), None);
        assert_eq!(resolve(&root, "/objects"), None);
        assert_eq!(resolve(&root, "objects/a"), None);
        assert_eq!(resolve(&root, "/objects/missing"), None);
        let _ = std::fs::remove_dir_all(&root);
    }
}
