//! The in-memory file tree: real names, modes and where file contents come
//! from. Children are kept in a `BTreeMap`, so every walk is deterministic.

use std::collections::BTreeMap;

use super::error::IsoError;

/// Index of the root directory in [`Tree::nodes`].
pub(crate) const ROOT: usize = 0;
/// ISO 9660 allows 8 directory levels; the root is level 1.
pub(crate) const MAX_LEVELS: usize = 8;
/// Longest real (Rock Ridge) name component, in bytes.
pub(crate) const MAX_NAME_BYTES: usize = 255;
/// Mode of directories created implicitly as parents.
pub(crate) const DEFAULT_DIR_MODE: u32 = 0o755;

/// Where a file's bytes come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Content {
    /// Index into the builder's list of sources.
    Source(usize),
    /// The El Torito boot catalog, generated while writing.
    BootCatalog,
}

/// A node is a directory or a file.
#[derive(Clone, Debug)]
pub(crate) enum NodeKind {
    /// A directory; children keyed by real name.
    Dir { children: BTreeMap<String, usize> },
    /// A regular file of `len` bytes.
    File { content: Content, len: u64 },
}

/// One file or directory.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    /// Real name (the root's is empty).
    pub name: String,
    /// Parent directory (the root is its own parent).
    pub parent: usize,
    /// Permission bits (`0o7777` mask); the file type is implied by `kind`.
    pub mode: u32,
    /// File or directory.
    pub kind: NodeKind,
}

impl Node {
    /// True for directories.
    pub(crate) fn is_dir(&self) -> bool {
        matches!(self.kind, NodeKind::Dir { .. })
    }
}

/// The whole tree, root at index [`ROOT`].
#[derive(Clone, Debug)]
pub(crate) struct Tree {
    nodes: Vec<Node>,
}

/// Splits an image path such as `"/boot/grub/efi.img"` into components.
/// A leading `/` is optional; empty, `.`, `..`, NUL-containing and over-long
/// components are rejected.
pub(crate) fn split_path(path: &str) -> Result<Vec<&str>, IsoError> {
    let invalid = |reason| IsoError::InvalidPath {
        path: path.to_owned(),
        reason,
    };
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    if trimmed.is_empty() {
        return Err(invalid("it names the root directory"));
    }
    let parts: Vec<&str> = trimmed.split('/').collect();
    for part in &parts {
        match *part {
            "" => return Err(invalid("it has an empty component")),
            "." | ".." => return Err(invalid("it has a . or .. component")),
            p if p.contains('\0') => return Err(invalid("it contains a NUL byte")),
            p if p.len() > MAX_NAME_BYTES => {
                return Err(invalid("a component is longer than 255 bytes"))
            }
            _ => {}
        }
    }
    Ok(parts)
}

impl Tree {
    /// A tree holding only the root directory (mode 0755).
    pub(crate) fn new() -> Self {
        Tree {
            nodes: vec![Node {
                name: String::new(),
                parent: ROOT,
                mode: DEFAULT_DIR_MODE,
                kind: NodeKind::Dir {
                    children: BTreeMap::new(),
                },
            }],
        }
    }

    /// All nodes; index 0 is the root.
    pub(crate) fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// One node.
    pub(crate) fn node(&self, index: usize) -> &Node {
        &self.nodes[index]
    }

    /// Children of a directory in real-name order (empty for files).
    pub(crate) fn children(&self, index: usize) -> Vec<usize> {
        match &self.nodes[index].kind {
            NodeKind::Dir { children } => children.values().copied().collect(),
            NodeKind::File { .. } => Vec::new(),
        }
    }

    /// Looks up a path; `None` when any component is missing.
    pub(crate) fn lookup(&self, path: &str) -> Option<usize> {
        let parts = split_path(path).ok()?;
        let mut cur = ROOT;
        for part in parts {
            match &self.nodes[cur].kind {
                NodeKind::Dir { children } => cur = *children.get(part)?,
                NodeKind::File { .. } => return None,
            }
        }
        Some(cur)
    }

    /// Adds a file, creating missing parent directories with mode 0755.
    pub(crate) fn add_file(
        &mut self,
        path: &str,
        content: Content,
        len: u64,
        mode: u32,
    ) -> Result<usize, IsoError> {
        let parts = split_path(path)?;
        check_levels(path, parts.len())?;
        let (leaf, dirs) = split_leaf(&parts);
        let parent = self.make_dirs(path, dirs)?;
        if let Some(existing) = self.child(parent, leaf) {
            return Err(IsoError::PathConflict {
                path: path.to_owned(),
                existing: kind_name(&self.nodes[existing]),
            });
        }
        Ok(self.push(parent, leaf, mode, NodeKind::File { content, len }))
    }

    /// Adds a directory (and its parents). Adding an existing directory
    /// only updates its mode.
    pub(crate) fn add_dir(&mut self, path: &str, mode: u32) -> Result<usize, IsoError> {
        let parts = split_path(path)?;
        check_levels(path, parts.len() + 1)?;
        let dir = self.make_dirs(path, &parts)?;
        self.nodes[dir].mode = mode & 0o7777;
        Ok(dir)
    }

    fn child(&self, dir: usize, name: &str) -> Option<usize> {
        match &self.nodes[dir].kind {
            NodeKind::Dir { children } => children.get(name).copied(),
            NodeKind::File { .. } => None,
        }
    }

    fn make_dirs(&mut self, path: &str, parts: &[&str]) -> Result<usize, IsoError> {
        let mut cur = ROOT;
        for part in parts {
            cur = match self.child(cur, part) {
                Some(next) if self.nodes[next].is_dir() => next,
                Some(_) => {
                    return Err(IsoError::PathConflict {
                        path: path.to_owned(),
                        existing: "file",
                    })
                }
                None => self.push(
                    cur,
                    part,
                    DEFAULT_DIR_MODE,
                    NodeKind::Dir {
                        children: BTreeMap::new(),
                    },
                ),
            };
        }
        Ok(cur)
    }

    fn push(&mut self, parent: usize, name: &str, mode: u32, kind: NodeKind) -> usize {
        let index = self.nodes.len();
        self.nodes.push(Node {
            name: name.to_owned(),
            parent,
            mode: mode & 0o7777,
            kind,
        });
        if let NodeKind::Dir { children } = &mut self.nodes[parent].kind {
            children.insert(name.to_owned(), index);
        }
        index
    }
}

fn split_leaf<'p, 'a>(parts: &'p [&'a str]) -> (&'a str, &'p [&'a str]) {
    match parts.split_last() {
        Some((leaf, dirs)) => (leaf, dirs),
        // split_path never returns an empty list.
        None => ("", &[]),
    }
}

/// `levels` counts the root as level 1 plus every directory on the path.
fn check_levels(path: &str, levels: usize) -> Result<(), IsoError> {
    if levels > MAX_LEVELS {
        return Err(IsoError::TooDeep {
            path: path.to_owned(),
            levels,
            max: MAX_LEVELS,
        });
    }
    Ok(())
}

fn kind_name(node: &Node) -> &'static str {
    if node.is_dir() {
        "directory"
    } else {
        "file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(tree: &mut Tree, path: &str) -> Result<usize, IsoError> {
        tree.add_file(path, Content::Source(0), 1, 0o644)
    }

    #[test]
    fn parents_are_created_with_mode_0755() {
        let mut t = Tree::new();
        let f = file(&mut t, "/boot/grub/grub.cfg").unwrap();
        let grub = t.lookup("boot/grub").unwrap();
        assert_eq!(t.node(grub).mode, 0o755);
        assert!(t.node(grub).is_dir());
        assert_eq!(t.node(f).parent, grub);
        assert_eq!(t.lookup("boot/grub/grub.cfg"), Some(f));
        assert_eq!(t.lookup("boot/nothing"), None);
    }

    #[test]
    fn children_are_in_real_name_order() {
        let mut t = Tree::new();
        for p in ["b", "a", "C", "aa"] {
            file(&mut t, p).unwrap();
        }
        let names: Vec<_> = t
            .children(ROOT)
            .into_iter()
            .map(|i| t.node(i).name.clone())
            .collect();
        assert_eq!(names, ["C", "a", "aa", "b"]);
    }

    #[test]
    fn conflicts_are_reported() {
        let mut t = Tree::new();
        file(&mut t, "a/b").unwrap();
        let err = file(&mut t, "a/b").unwrap_err();
        assert_eq!(
            err.to_string(),
            "path \"a/b\" conflicts with an existing file"
        );
        let err = file(&mut t, "a").unwrap_err();
        assert_eq!(
            err.to_string(),
            "path \"a\" conflicts with an existing directory"
        );
        let err = file(&mut t, "a/b/c").unwrap_err();
        assert!(matches!(
            err,
            IsoError::PathConflict {
                existing: "file",
                ..
            }
        ));
        // Re-adding a directory only changes its mode.
        let a = t.add_dir("a", 0o700).unwrap();
        assert_eq!(t.node(a).mode, 0o700);
    }

    #[test]
    fn bad_paths_are_rejected() {
        let mut t = Tree::new();
        for (p, reason) in [
            ("", "it names the root directory"),
            ("/", "it names the root directory"),
            ("a//b", "it has an empty component"),
            ("a/../b", "it has a . or .. component"),
            ("a/\0", "it contains a NUL byte"),
        ] {
            let err = file(&mut t, p).unwrap_err();
            assert_eq!(err.to_string(), format!("invalid path {p:?}: {reason}"));
        }
        assert!(file(&mut t, &"x".repeat(256)).is_err());
        assert!(file(&mut t, &"x".repeat(255)).is_ok());
    }

    #[test]
    fn depth_limit_is_eight_levels() {
        let mut t = Tree::new();
        // Root + 7 directories = 8 levels: allowed.
        assert!(file(&mut t, "1/2/3/4/5/6/7/f").is_ok());
        let err = file(&mut t, "1/2/3/4/5/6/7/8/f").unwrap_err();
        assert_eq!(
            err.to_string(),
            "path \"1/2/3/4/5/6/7/8/f\" needs 9 directory levels, iso 9660 allows at most 8"
        );
        assert!(t.add_dir("1/2/3/4/5/6/7", 0o755).is_ok());
        assert!(t.add_dir("1/2/3/4/5/6/7/8", 0o755).is_err());
    }
}
