//! Writing depmod-format index files for a chosen set of modules.

use std::collections::{BTreeMap, BTreeSet};

use super::db::{ModuleDb, ModuleRecord, ModuleRef};
use super::error::KmodError;
use super::index::normalize_name;

/// The text of the four index files, ready to be written to `lib/modules/<kver>/`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexFiles {
    /// `modules.dep`: `kernel/a.ko: kernel/b.ko kernel/c.ko`, dependencies in reverse
    /// load order (modprobe loads from the end), lines sorted by path.
    pub dep: String,
    /// `modules.alias`: `alias <pattern> <name>`, sorted by name then pattern.
    pub alias: String,
    /// `modules.softdep`: `softdep <name> pre: … post: …`, sorted by name.
    pub softdep: String,
    /// `modules.builtin`, passed through unchanged.
    pub builtin: String,
}

impl IndexFiles {
    /// `(file name, contents)` of the four files, in a fixed order.
    pub fn files(&self) -> [(&'static str, &str); 4] {
        [
            ("modules.alias", &self.alias),
            ("modules.builtin", &self.builtin),
            ("modules.dep", &self.dep),
            ("modules.softdep", &self.softdep),
        ]
    }
}

impl ModuleDb {
    /// Renders the index files for `set` (typically the output of [`ModuleDb::closure`]).
    ///
    /// Every hard dependency of a member must be in the set or built in
    /// ([`KmodError::NotInSet`] otherwise); every member must be in the database.
    pub fn render_index(&self, set: &[ModuleRef]) -> Result<IndexFiles, KmodError> {
        let mut members: BTreeMap<&str, &ModuleRecord> = BTreeMap::new();
        for m in set {
            let record = self.get(&m.name).ok_or_else(|| KmodError::UnknownModule {
                name: m.name.clone(),
            })?;
            members.insert(record.name.as_str(), record);
        }

        let mut by_path: Vec<&ModuleRecord> = members.values().copied().collect();
        by_path.sort_by(|a, b| a.path.cmp(&b.path));
        let mut dep = String::new();
        for record in by_path {
            let mut order = Vec::new();
            let mut state = BTreeSet::new();
            self.hard_dep_order(&members, record, &mut state, &mut order)?;
            dep.push_str(&record.path);
            dep.push(':');
            // `order` ends with the module itself; the rest is in load order.
            for d in order.iter().rev().filter(|d| d.name != record.name) {
                dep.push(' ');
                dep.push_str(&d.path);
            }
            dep.push('\n');
        }

        let mut alias_lines = BTreeSet::new();
        let mut softdep = String::from("# Soft dependencies extracted from modules themselves.\n");
        for record in members.values() {
            for pattern in &record.info.aliases {
                alias_lines.insert((record.name.as_str(), pattern.as_str()));
            }
            let soft = &record.info.softdep;
            if soft.pre.is_empty() && soft.post.is_empty() {
                continue;
            }
            softdep.push_str("softdep ");
            softdep.push_str(&record.name);
            for (label, list) in [("pre:", &soft.pre), ("post:", &soft.post)] {
                if !list.is_empty() {
                    softdep.push(' ');
                    softdep.push_str(label);
                    for name in list {
                        softdep.push(' ');
                        softdep.push_str(name);
                    }
                }
            }
            softdep.push('\n');
        }
        let mut alias = String::from("# Aliases extracted from modules themselves.\n");
        for (name, pattern) in alias_lines {
            alias.push_str(&format!("alias {pattern} {name}\n"));
        }

        Ok(IndexFiles {
            dep,
            alias,
            softdep,
            builtin: self.builtin_text().to_owned(),
        })
    }

    /// Depth-first post-order over hard dependencies: appends `record`'s dependencies,
    /// each after its own, then `record`. `state` holds modules already started.
    fn hard_dep_order<'a>(
        &'a self,
        members: &BTreeMap<&str, &'a ModuleRecord>,
        record: &'a ModuleRecord,
        state: &mut BTreeSet<&'a str>,
        order: &mut Vec<&'a ModuleRecord>,
    ) -> Result<(), KmodError> {
        if !state.insert(record.name.as_str()) {
            return Ok(()); // done already, or a cycle
        }
        for dep in &record.info.depends {
            let dep_name = normalize_name(dep);
            if let Some(dep_record) = members.get(dep_name.as_str()) {
                self.hard_dep_order(members, dep_record, state, order)?;
            } else if !self.is_builtin(&dep_name) {
                return Err(KmodError::NotInSet {
                    module: record.name.clone(),
                    dependency: dep_name,
                });
            }
        }
        order.push(record);
        Ok(())
    }
}
