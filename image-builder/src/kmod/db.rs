//! Build side: a scan of a `lib/modules/<kver>` tree and dependency closures over it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use super::error::KmodError;
use super::glob::Glob;
use super::index::{module_name_from_path, normalize_alias, normalize_name, parse_builtin};
use super::modinfo::{read_modinfo, ModInfo};

/// One `.ko` file of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleRecord {
    /// Normalised name: the file stem with `-` replaced by `_`.
    pub name: String,
    /// Path relative to `lib/modules/<kver>`, e.g. `kernel/fs/ext4/ext4.ko`.
    pub path: String,
    /// The decoded `.modinfo`.
    pub info: ModInfo,
}

/// A module chosen for the image: its name and relative `.ko` path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ModuleRef {
    /// Normalised module name.
    pub name: String,
    /// Path relative to `lib/modules/<kver>`, e.g. `kernel/fs/ext4/ext4.ko`.
    pub path: String,
}

/// The result of [`ModuleDb::closure_report`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Closure {
    /// Modules to ship, sorted by name.
    pub modules: Vec<ModuleRef>,
    /// Roots that are built into the kernel (nothing to ship for them), sorted.
    pub builtin_roots: Vec<String>,
    /// `(module, softdep)` pairs whose softdep matched no module in the tree and is not
    /// built in (modprobe ignores these too), sorted.
    pub unresolved_softdeps: Vec<(String, String)>,
}

/// All modules of one `lib/modules/<kver>` tree.
#[derive(Debug, Clone)]
pub struct ModuleDb {
    modules: BTreeMap<String, ModuleRecord>,
    aliases: Vec<(Glob, String)>,
    builtin: BTreeSet<String>,
    builtin_text: String,
}

impl ModuleDb {
    /// Scans `dir` (a `lib/modules/<kver>` directory): every `kernel/**.ko` file is read
    /// and its `.modinfo` parsed; `modules.builtin` is read if present. Symlinks are not
    /// followed. Compressed modules (`.ko.xz`, …) are not supported and are ignored.
    pub fn scan(dir: &Path) -> Result<Self, KmodError> {
        let kernel = dir.join("kernel");
        if !kernel.is_dir() {
            return Err(KmodError::NotModuleTree {
                path: dir.to_owned(),
            });
        }
        let mut files = Vec::new();
        walk_ko_files(&kernel, "kernel", &mut files)?;
        let mut records = Vec::with_capacity(files.len());
        for (abs, rel) in files {
            let bytes = fs::read(&abs).map_err(|source| KmodError::Io {
                path: abs.clone(),
                source,
            })?;
            let info = read_modinfo(&bytes, &abs)?;
            let name = module_name_from_path(&rel).ok_or_else(|| KmodError::ModinfoParse {
                path: abs.clone(),
                reason: "file name does not end in .ko".to_owned(),
            })?;
            records.push(ModuleRecord {
                name,
                path: rel,
                info,
            });
        }
        let builtin_path = dir.join("modules.builtin");
        let builtin_text = if builtin_path.exists() {
            fs::read_to_string(&builtin_path).map_err(|source| KmodError::Io {
                path: builtin_path,
                source,
            })?
        } else {
            String::new()
        };
        Self::from_records(records, &builtin_text)
    }

    /// Builds a database from records already in memory (e.g. in tests) and the text of
    /// `modules.builtin` (may be empty).
    pub fn from_records(records: Vec<ModuleRecord>, builtin_text: &str) -> Result<Self, KmodError> {
        let builtin = parse_builtin(builtin_text)?;
        let mut modules: BTreeMap<String, ModuleRecord> = BTreeMap::new();
        for record in records {
            if let Some(previous) = modules.get(&record.name) {
                let (first, second) = if previous.path <= record.path {
                    (previous.path.clone(), record.path.clone())
                } else {
                    (record.path.clone(), previous.path.clone())
                };
                return Err(KmodError::DuplicateModule {
                    name: record.name,
                    first,
                    second,
                });
            }
            modules.insert(record.name.clone(), record);
        }
        let aliases = modules
            .values()
            .flat_map(|r| {
                r.info
                    .aliases
                    .iter()
                    .map(|a| (Glob::new(&normalize_alias(a)), r.name.clone()))
            })
            .collect();
        Ok(Self {
            modules,
            aliases,
            builtin,
            builtin_text: builtin_text.to_owned(),
        })
    }

    /// The record of a module, by (normalised) name.
    pub fn get(&self, name: &str) -> Option<&ModuleRecord> {
        self.modules.get(&normalize_name(name))
    }

    /// All records, sorted by name.
    pub fn modules(&self) -> impl Iterator<Item = &ModuleRecord> {
        self.modules.values()
    }

    /// Whether `name` is listed in `modules.builtin`.
    pub fn is_builtin(&self, name: &str) -> bool {
        self.builtin.contains(&normalize_name(name))
    }

    /// The text of `modules.builtin` as read (empty if the file was absent).
    pub fn builtin_text(&self) -> &str {
        &self.builtin_text
    }

    /// Names of modules having an `alias=` pattern that matches `text`, sorted
    /// (both compared after [`normalize_alias`], as kmod does).
    pub fn modules_matching_alias(&self, text: &str) -> Vec<String> {
        let text = normalize_alias(text);
        let found: BTreeSet<&String> = self
            .aliases
            .iter()
            .filter(|(glob, _)| glob.matches(&text))
            .map(|(_, name)| name)
            .collect();
        found.into_iter().cloned().collect()
    }

    /// The modules to ship so that `roots` can be loaded: the transitive closure over
    /// `depends=` and softdep `pre:`/`post:`, sorted by name. See [`Self::closure_report`].
    pub fn closure(&self, roots: &[&str]) -> Result<Vec<ModuleRef>, KmodError> {
        Ok(self.closure_report(roots)?.modules)
    }

    /// Like [`Self::closure`], also reporting built-in roots and unresolved softdeps.
    ///
    /// A root (or softdep) name resolves, in kmod's lookup order, to the module of that
    /// name; else to every module with a matching `alias=` pattern (so a root or softdep
    /// may be `crypto-crc32c`); else, if built in, to nothing.
    ///
    /// Unlike modprobe, which honours only the first `softdep=` entry of a module, all
    /// entries are followed (btrfs and ksmbd have several): a superset, never less. A root that resolves to nothing is an error, as is
    /// a `depends=` entry that is neither in the tree nor built in. Cycles are fine.
    pub fn closure_report(&self, roots: &[&str]) -> Result<Closure, KmodError> {
        let mut report = Closure::default();
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut todo: Vec<String> = Vec::new();
        let mut builtin_roots = BTreeSet::new();
        for root in roots {
            let name = normalize_name(root);
            if self.modules.contains_key(&name) {
                todo.push(name);
                continue;
            }
            let matches = self.modules_matching_alias(root);
            if !matches.is_empty() {
                todo.extend(matches);
            } else if self.builtin.contains(&name) {
                builtin_roots.insert(name);
            } else {
                return Err(KmodError::UnknownModule { name });
            }
        }
        let mut unresolved = BTreeSet::new();
        while let Some(name) = todo.pop() {
            if !seen.insert(name.clone()) {
                continue;
            }
            let Some(record) = self.modules.get(&name) else {
                continue;
            };
            for dep in &record.info.depends {
                let dep_name = normalize_name(dep);
                if self.modules.contains_key(&dep_name) {
                    todo.push(dep_name);
                } else if !self.builtin.contains(&dep_name) {
                    return Err(KmodError::MissingDependency {
                        module: name,
                        dependency: dep.clone(),
                    });
                }
            }
            let soft = &record.info.softdep;
            for target in soft.pre.iter().chain(&soft.post) {
                let normalised = normalize_name(target);
                if self.modules.contains_key(&normalised) {
                    todo.push(normalised);
                    continue;
                }
                let matches = self.modules_matching_alias(target);
                if matches.is_empty() && !self.builtin.contains(&normalised) {
                    unresolved.insert((name.clone(), target.clone()));
                }
                todo.extend(matches);
            }
        }
        report.modules = seen
            .into_iter()
            .filter_map(|name| {
                let path = self.modules.get(&name)?.path.clone();
                Some(ModuleRef { name, path })
            })
            .collect();
        report.builtin_roots = builtin_roots.into_iter().collect();
        report.unresolved_softdeps = unresolved.into_iter().collect();
        Ok(report)
    }
}

/// Collects `(absolute path, relative path)` of every regular `*.ko` file under `dir`,
/// sorted, recursing into real directories only.
fn walk_ko_files(dir: &Path, rel: &str, out: &mut Vec<(PathBuf, String)>) -> Result<(), KmodError> {
    let io_err = |path: &Path| {
        let path = path.to_owned();
        move |source| KmodError::Io { path, source }
    };
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let path = entry.path();
        let file_type = entry.file_type().map_err(io_err(&path))?;
        let name = entry
            .file_name()
            .into_string()
            .map_err(|_| KmodError::NonUtf8Path { path: path.clone() })?;
        entries.push((name, path, file_type));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, path, file_type) in entries {
        let child_rel = format!("{rel}/{name}");
        if file_type.is_dir() {
            walk_ko_files(&path, &child_rel, out)?;
        } else if file_type.is_file() && name.ends_with(".ko") {
            out.push((path, child_rel));
        }
    }
    Ok(())
}
