//! Runtime side: the module index that the installer (PID 1) reads from
//! `/lib/modules/<kver>/{modules.dep,modules.alias,modules.softdep,modules.builtin}`.
//!
//! Dependency-light on purpose: plain string parsing, no ELF reader.
//!
//! File formats (as written by depmod and by [`super::ModuleDb::render_index`]):
//! * `modules.dep`: `kernel/a/b.ko: kernel/c.ko kernel/d.ko`. The dependency list is the
//!   full transitive closure in *reverse* load order: modprobe loads from the end.
//! * `modules.alias`: `alias <fnmatch pattern> <module name>`.
//! * `modules.softdep`: `softdep <module> pre: x y post: z` (names or aliases).
//! * `modules.builtin`: one `kernel/…/x.ko` path per line.
//!
//! Blank lines and lines starting with `#` are ignored in all four.

use std::collections::{BTreeMap, BTreeSet};

pub use super::error::KmodError;
pub use super::glob::{glob_match, Glob};

/// One module to load, in order, as returned by [`ModuleIndex::load_order`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadStep {
    /// Normalised module name (`-` replaced by `_`).
    pub name: String,
    /// The `.ko` path relative to `lib/modules/<kver>`, e.g. `kernel/drivers/scsi/sd_mod.ko`.
    pub path: String,
    /// Whether failing to load this module is acceptable: soft dependencies (and
    /// everything only they pull in) and CPU-specific modules under `kernel/arch/*/crypto/`,
    /// which fail with `ENODEV` on CPUs lacking the instruction set they accelerate.
    pub optional: bool,
}

/// One shipped module.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    path: String,
    /// Direct-or-transitive dependencies (normalised names), in load order.
    deps: Vec<String>,
}

/// One `modules.alias` line, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Alias {
    /// The pattern ([`normalize_alias`]); compiled only when its literal
    /// prefix matched, which few patterns do for any one modalias.
    pattern: String,
    /// Length of the pattern's literal start (before `*`, `?`, `[` or `\`):
    /// every text the pattern matches starts with it.
    prefix_len: usize,
    /// Normalised module name.
    module: String,
}

impl Alias {
    fn prefix(&self) -> &str {
        &self.pattern[..self.prefix_len]
    }
}

/// The parsed module index.
#[derive(Debug, Clone, Default)]
pub struct ModuleIndex {
    modules: BTreeMap<String, Entry>,
    /// Sorted by literal prefix, so the patterns a modalias can match are
    /// found by binary search for each of its prefixes, not by trying all
    /// of them: a pack's index has thousands, and the installer looks up
    /// every device's modalias before its first prompt (under emulation a
    /// linear scan of 6,500 patterns for 34 modaliases took a quarter of a
    /// second).
    aliases: Vec<Alias>,
    softdeps: BTreeMap<String, SoftDepLists>,
    builtin: BTreeSet<String>,
}

/// Normalises a module name the way the kernel and kmod do: `-` becomes `_`.
pub fn normalize_name(name: &str) -> String {
    name.replace('-', "_")
}

/// Normalises an alias pattern or a modalias the way kmod does before matching: every
/// `-` becomes `_`, except inside a `[...]` bracket expression (where `-` forms ranges).
/// So `platform:gpio-keys-polled` and `platform:gpio_keys_polled` are the same alias.
pub fn normalize_alias(alias: &str) -> String {
    let mut out = String::with_capacity(alias.len());
    let mut in_brackets = false;
    for c in alias.chars() {
        match c {
            '[' if !in_brackets => in_brackets = true,
            ']' if in_brackets => in_brackets = false,
            _ => {}
        }
        out.push(if c == '-' && !in_brackets { '_' } else { c });
    }
    out
}

/// Derives the normalised module name from a `.ko` path (`kernel/lib/crc-t10dif.ko` →
/// `crc_t10dif`). Compressed suffixes (`.ko.xz`, `.ko.zst`, `.ko.gz`) are accepted.
/// Returns `None` if the file name does not end in `.ko` (optionally compressed).
pub fn module_name_from_path(path: &str) -> Option<String> {
    let file = path.rsplit('/').next().unwrap_or(path);
    let stem = [".ko", ".ko.xz", ".ko.zst", ".ko.gz"]
        .iter()
        .find_map(|suffix| file.strip_suffix(suffix))?;
    if stem.is_empty() {
        return None;
    }
    Some(normalize_name(stem))
}

fn parse_error(file: &'static str, line: usize, reason: impl Into<String>) -> KmodError {
    KmodError::IndexParse {
        file,
        line,
        reason: reason.into(),
    }
}

/// Yields `(1-based line number, trimmed line)` for the lines that carry content.
fn content_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

impl ModuleIndex {
    /// Parses the four index texts. Errors name the file and the 1-based line.
    ///
    /// Besides syntax, `modules.dep` is checked for consistency: every dependency must
    /// have a line of its own and no module name may appear twice.
    pub fn parse(dep: &str, alias: &str, softdep: &str, builtin: &str) -> Result<Self, KmodError> {
        let modules = parse_dep(dep)?;
        let aliases = parse_alias(alias)?;
        let softdeps = parse_softdep(softdep)?;
        let builtin = parse_builtin(builtin)?;
        Ok(Self {
            modules,
            aliases,
            softdeps,
            builtin,
        })
    }

    /// Shipped modules whose alias patterns match `modalias` (a device's `modalias`
    /// file, or a name such as `crypto-crc32c`): normalised names, sorted, deduplicated.
    /// Pattern and text are compared after [`normalize_alias`], as kmod does.
    /// Aliases that name modules which are not shipped (built-in or absent) are left out,
    /// since there is nothing to load for them.
    pub fn modules_for_modalias(&self, modalias: &str) -> Vec<String> {
        let modalias = normalize_alias(modalias);
        let mut found: BTreeSet<&str> = BTreeSet::new();
        for len in (0..=modalias.len()).filter(|&l| modalias.is_char_boundary(l)) {
            let start = &modalias[..len];
            // Prefixes beginning with `start` form one run from here on.
            let first = self.aliases.partition_point(|a| a.prefix() < start);
            let rest = &self.aliases[first..];
            if rest.first().is_none_or(|a| !a.prefix().starts_with(start)) {
                break; // no pattern's prefix is this long a start of the modalias
            }
            for a in rest.iter().take_while(|a| a.prefix() == start) {
                if self.modules.contains_key(&a.module) && glob_match(&a.pattern, &modalias) {
                    found.insert(&a.module);
                }
            }
        }
        found.into_iter().map(str::to_owned).collect()
    }

    /// The modules to load, in order, so that `module` works: its pre-softdeps, then its
    /// dependencies (each before its users), `module` itself, then its post-softdeps;
    /// the same rule applies recursively to every module pulled in. This is the order
    /// `modprobe --show-depends` prints (deduplicated), except that several modules
    /// matched by one softdep alias come sorted by name. Each module appears once.
    /// A built-in module yields an empty list.
    ///
    /// Soft dependencies are resolved by module name first, else through the alias
    /// table (e.g. `crypto-crc32c` → `crc32c_intel`, `crc32c_generic`); ones that resolve
    /// to nothing shipped (built in, or absent) are skipped. Dependency cycles are broken, never looped on.
    pub fn load_order(&self, module: &str) -> Result<Vec<LoadStep>, KmodError> {
        let name = normalize_name(module);
        if !self.modules.contains_key(&name) {
            if self.builtin.contains(&name) {
                return Ok(Vec::new());
            }
            return Err(KmodError::UnknownModule { name });
        }
        let mut walk = Walk {
            index: self,
            steps: Vec::new(),
            position: BTreeMap::new(),
            in_progress: BTreeSet::new(),
        };
        walk.visit(&name, false);
        Ok(walk.steps)
    }

    /// Whether `name` is shipped as a `.ko` in this index (name is normalised first).
    pub fn contains(&self, name: &str) -> bool {
        self.modules.contains_key(&normalize_name(name))
    }

    /// Whether `name` is built into the kernel (listed in `modules.builtin`).
    pub fn is_builtin(&self, name: &str) -> bool {
        self.builtin.contains(&normalize_name(name))
    }

    /// The `.ko` path of a shipped module, relative to `lib/modules/<kver>`.
    pub fn module_path(&self, name: &str) -> Option<&str> {
        self.modules
            .get(&normalize_name(name))
            .map(|e| e.path.as_str())
    }

    /// Names of all shipped modules, sorted.
    pub fn module_names(&self) -> impl Iterator<Item = &str> {
        self.modules.keys().map(String::as_str)
    }

    /// Resolves a softdep entry (module name or alias) to shipped module names.
    fn resolve_soft(&self, name: &str) -> Vec<String> {
        let normalised = normalize_name(name);
        if self.modules.contains_key(&normalised) {
            return vec![normalised];
        }
        // Aliases before built-ins, like kmod's lookup order: `crc32` is built in
        // (lib/crc32.ko) and also an alias of crc32-pclmul and crc32_generic.
        self.modules_for_modalias(name)
    }
}

/// State of one [`ModuleIndex::load_order`] walk.
struct Walk<'a> {
    index: &'a ModuleIndex,
    steps: Vec<LoadStep>,
    /// Module name → its position in `steps`.
    position: BTreeMap<String, usize>,
    /// Modules whose visit has started but not finished (cycle guard).
    in_progress: BTreeSet<String>,
}

impl Walk<'_> {
    fn visit(&mut self, name: &str, optional: bool) {
        if let Some(&pos) = self.position.get(name) {
            if !optional && !is_cpu_specific(&self.steps[pos].path) {
                // Needed for real now, not only as a soft dependency.
                self.mark_required(name);
            }
            return;
        }
        let Some(entry) = self.index.modules.get(name) else {
            return;
        };
        if !self.in_progress.insert(name.to_owned()) {
            return; // a cycle: the module is already being visited further up
        }
        // Like modprobe: pre-softdeps first, then the hard dependencies.
        let soft = self.index.softdeps.get(name);
        if let Some(soft) = soft {
            for pre in &soft.pre {
                for target in self.index.resolve_soft(pre) {
                    self.visit(&target, true);
                }
            }
        }
        for dep in &entry.deps {
            self.visit(dep, optional);
        }
        if !self.position.contains_key(name) {
            self.position.insert(name.to_owned(), self.steps.len());
            self.steps.push(LoadStep {
                name: name.to_owned(),
                path: entry.path.clone(),
                optional: optional || is_cpu_specific(&entry.path),
            });
        }
        if let Some(soft) = soft {
            for post in &soft.post {
                for target in self.index.resolve_soft(post) {
                    self.visit(&target, true);
                }
            }
        }
        self.in_progress.remove(name);
    }

    /// Marks an already emitted module and its hard dependencies as required.
    fn mark_required(&mut self, name: &str) {
        let Some(&pos) = self.position.get(name) else {
            return;
        };
        if !self.steps[pos].optional {
            return;
        }
        self.steps[pos].optional = is_cpu_specific(&self.steps[pos].path);
        if let Some(entry) = self.index.modules.get(name) {
            for dep in &entry.deps {
                self.mark_required(dep);
            }
        }
    }
}

/// CPU-accelerated crypto modules may fail with `ENODEV` on CPUs without the feature.
fn is_cpu_specific(path: &str) -> bool {
    path.starts_with("kernel/arch/") && path.contains("/crypto/")
}

fn parse_dep(text: &str) -> Result<BTreeMap<String, Entry>, KmodError> {
    const FILE: &str = "modules.dep";
    let mut modules: BTreeMap<String, Entry> = BTreeMap::new();
    let mut dep_lines: Vec<(usize, String, Vec<String>)> = Vec::new();
    for (line, content) in content_lines(text) {
        let Some((path, deps)) = content.split_once(':') else {
            return Err(parse_error(FILE, line, "no ':' after the module path"));
        };
        let path = path.trim();
        let name = module_name_from_path(path)
            .ok_or_else(|| parse_error(FILE, line, format!("{path:?} is not a .ko path")))?;
        let mut dep_names = Vec::new();
        for dep in deps.split_whitespace() {
            let dep_name = module_name_from_path(dep).ok_or_else(|| {
                parse_error(FILE, line, format!("dependency {dep:?} is not a .ko path"))
            })?;
            dep_names.push(dep_name);
        }
        // modprobe loads from the end of the list: store in load order.
        dep_names.reverse();
        if let Some(previous) = modules.get(&name) {
            return Err(parse_error(
                FILE,
                line,
                format!("module {name} appears twice ({} and {path})", previous.path),
            ));
        }
        modules.insert(
            name.clone(),
            Entry {
                path: path.to_owned(),
                deps: Vec::new(),
            },
        );
        dep_lines.push((line, name, dep_names));
    }
    for (line, name, deps) in dep_lines {
        if let Some(missing) = deps.iter().find(|d| !modules.contains_key(*d)) {
            return Err(parse_error(
                FILE,
                line,
                format!("dependency {missing} of {name} has no line of its own"),
            ));
        }
        if let Some(entry) = modules.get_mut(&name) {
            entry.deps = deps;
        }
    }
    Ok(modules)
}

fn parse_alias(text: &str) -> Result<Vec<Alias>, KmodError> {
    const FILE: &str = "modules.alias";
    let mut aliases = Vec::new();
    for (line, content) in content_lines(text) {
        let fields: Vec<&str> = content.split_whitespace().collect();
        match fields.as_slice() {
            ["alias", pattern, module] => {
                let pattern = normalize_alias(pattern);
                let prefix_len = pattern.find(['*', '?', '[', '\\']).unwrap_or(pattern.len());
                aliases.push(Alias {
                    pattern,
                    prefix_len,
                    module: normalize_name(module),
                });
            }
            ["alias", ..] => {
                return Err(parse_error(
                    FILE,
                    line,
                    format!(
                        "expected 'alias <pattern> <module>', got {} fields",
                        fields.len()
                    ),
                ))
            }
            [word, ..] => {
                return Err(parse_error(
                    FILE,
                    line,
                    format!("expected 'alias', got {word:?}"),
                ))
            }
            [] => {}
        }
    }
    // Stable, and cheap when the file is already in prefix order.
    aliases.sort_by(|a, b| a.prefix().cmp(b.prefix()));
    Ok(aliases)
}

fn parse_softdep(text: &str) -> Result<BTreeMap<String, SoftDepLists>, KmodError> {
    const FILE: &str = "modules.softdep";
    let mut softdeps: BTreeMap<String, SoftDepLists> = BTreeMap::new();
    for (line, content) in content_lines(text) {
        let mut words = content.split_whitespace();
        match words.next() {
            Some("softdep") => {}
            Some(word) => {
                return Err(parse_error(
                    FILE,
                    line,
                    format!("expected 'softdep', got {word:?}"),
                ))
            }
            None => continue,
        }
        let module = words
            .next()
            .ok_or_else(|| parse_error(FILE, line, "missing module name after 'softdep'"))?;
        let parsed = parse_softdep_words(words);
        let entry = softdeps.entry(normalize_name(module)).or_default();
        entry.pre.extend(parsed.pre);
        entry.post.extend(parsed.post);
    }
    Ok(softdeps)
}

/// Parses `pre: a b post: c` (either part optional, repeatable). Like libkmod, names
/// before the first `pre:`/`post:` are ignored: Debian's `cifs.ko` carries such
/// malformed entries (`softdep=gcm`), and they must not make the whole tree unusable.
pub(crate) fn parse_softdep_words<'a>(words: impl Iterator<Item = &'a str>) -> SoftDepLists {
    let mut lists = SoftDepLists::default();
    let mut target: Option<&mut Vec<String>> = None;
    for word in words {
        match word {
            "pre:" => target = Some(&mut lists.pre),
            "post:" => target = Some(&mut lists.post),
            name => {
                if let Some(list) = target.as_mut() {
                    list.push(name.to_owned());
                }
            }
        }
    }
    lists
}

/// The `pre:` and `post:` lists of a softdep specification, names as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SoftDepLists {
    /// Modules (or aliases) to load before the module.
    pub pre: Vec<String>,
    /// Modules (or aliases) to load after the module.
    pub post: Vec<String>,
}

pub(crate) fn parse_builtin(text: &str) -> Result<BTreeSet<String>, KmodError> {
    const FILE: &str = "modules.builtin";
    let mut builtin = BTreeSet::new();
    for (line, content) in content_lines(text) {
        let name = module_name_from_path(content)
            .ok_or_else(|| parse_error(FILE, line, format!("{content:?} is not a .ko path")))?;
        builtin.insert(name);
    }
    Ok(builtin)
}

#[cfg(test)]
#[path = "index_tests.rs"]
mod tests;
