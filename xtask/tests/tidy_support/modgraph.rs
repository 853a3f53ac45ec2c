//! The file-level module graph of one crate, read from its sources: an edge
//! `a → b` for every `crate::…`, `super::…`, `self::…` path (in `use` or in
//! code) in file `a` that resolves into the module of file `b`, and for bare
//! paths that start with a child module of `a` (`mod table;` … `table::x`).
//! Declaring a module (`mod x;`) is not an edge; references inside a file's
//! own inline modules (`mod tests { use super::*; }`) resolve to that file.

use std::collections::{BTreeMap, BTreeSet};

use super::source::{ident_char, rust_files, Source};

/// One reference from a file into another file's module.
#[derive(Debug, Clone)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub line: usize,
    pub text: String,
}

/// Files (by relative path) and the edges between them.
#[derive(Debug)]
pub struct Graph {
    /// Module path (`a::b`, `` for the crate root) → file.
    pub modules: BTreeMap<String, String>,
    pub edges: Vec<Edge>,
}

/// The module path of a file under `src_dir`: `lib.rs`/`main.rs` → ``,
/// `a.rs` and `a/mod.rs` → `a`, `a/b.rs` → `a::b`.
pub fn module_of(src_dir: &str, rel: &str) -> String {
    let inner = rel
        .strip_prefix(src_dir)
        .and_then(|r| r.strip_prefix('/'))
        .unwrap_or(rel)
        .trim_end_matches(".rs");
    let inner = inner.strip_suffix("/mod").unwrap_or(inner);
    if inner == "lib" || inner == "main" {
        String::new()
    } else {
        inner.replace('/', "::")
    }
}

/// Builds the graph of the crate whose sources are in `src_dir` (relative to the root).
pub fn build(src_dir: &str) -> Graph {
    let files = rust_files(src_dir);
    build_from(src_dir, &files)
}

pub fn build_from(src_dir: &str, files: &[Source]) -> Graph {
    let modules: BTreeMap<String, String> = files
        .iter()
        .filter(|f| !f.rel.starts_with(&format!("{src_dir}/bin/")))
        .map(|f| (module_of(src_dir, &f.rel), f.rel.clone()))
        .collect();
    let mut edges = Vec::new();
    for file in files {
        let own = module_of(src_dir, &file.rel);
        if modules.get(&own) != Some(&file.rel) {
            continue;
        }
        let mut inline: Vec<(String, usize)> = Vec::new();
        let mut depth = 0usize;
        for (n, line) in file.numbered() {
            let text = &line.bare;
            let current = join(&own, &inline);
            for path in paths_in(text) {
                if let Some(target) = resolve(&current, &path, &modules) {
                    let to = &modules[&target];
                    if *to != file.rel {
                        edges.push(Edge {
                            from: file.rel.clone(),
                            to: to.clone(),
                            line: n,
                            text: line.code.trim().to_owned(),
                        });
                    }
                }
            }
            // Inline modules: `mod name {` opens one at the next brace depth.
            let tokens: Vec<&str> = text.split_whitespace().collect();
            let mut pending: Option<String> = None;
            for (k, t) in tokens.iter().enumerate() {
                if *t == "mod" {
                    if let Some(name) = tokens.get(k + 1) {
                        let name = name.trim_end_matches('{');
                        let opens = tokens.get(k + 1).is_some_and(|t| t.ends_with('{'))
                            || tokens.get(k + 2).is_some_and(|t| t.starts_with('{'));
                        if opens && !name.is_empty() && name.chars().all(ident_char) {
                            pending = Some(name.to_owned());
                        }
                    }
                }
            }
            for c in text.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        if let Some(name) = pending.take() {
                            inline.push((name, depth));
                        }
                    }
                    '}' => {
                        if inline.last().is_some_and(|(_, d)| *d == depth) {
                            inline.pop();
                        }
                        depth = depth.saturating_sub(1);
                    }
                    _ => {}
                }
            }
        }
    }
    Graph { modules, edges }
}

fn join(own: &str, inline: &[(String, usize)]) -> String {
    let mut parts: Vec<&str> = if own.is_empty() {
        Vec::new()
    } else {
        own.split("::").collect()
    };
    parts.extend(inline.iter().map(|(n, _)| n.as_str()));
    parts.join("::")
}

/// Every path in `text` that starts a token: `a::b::c`, with `use` groups
/// (`crate::{a, b::{c, self}}`) expanded into one path per leaf.
pub fn paths_in(text: &str) -> Vec<Vec<String>> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts = ident_char(chars[i])
            && !chars[i].is_ascii_digit()
            && (i == 0 || (!ident_char(chars[i - 1]) && chars[i - 1] != ':'));
        if starts {
            let (paths, end) = parse_path(&chars, i, Vec::new());
            // A lone `crate`/`super`/`self` counts only before `::*` (a glob
            // import), not in `pub(crate)` or `self.x`.
            let glob = end >= 2 && chars[end - 2] == ':' && chars[end - 1] == ':';
            out.extend(paths.into_iter().filter(|p| p.len() > 1 || glob));
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// Parses `seg::seg::…` (with `{…}` groups) from `i`; returns the leaf paths
/// (each prefixed with `prefix`) and the index after the path.
fn parse_path(chars: &[char], mut i: usize, prefix: Vec<String>) -> (Vec<Vec<String>>, usize) {
    let mut segs = prefix;
    loop {
        let start = i;
        while i < chars.len() && ident_char(chars[i]) {
            i += 1;
        }
        if i == start {
            if chars.get(i) == Some(&'{') {
                let mut out = Vec::new();
                i += 1;
                loop {
                    while chars.get(i).is_some_and(|c| c.is_whitespace() || *c == ',') {
                        i += 1;
                    }
                    match chars.get(i) {
                        None => return (out, i),
                        Some('}') => return (out, i + 1),
                        Some(c) if ident_char(*c) => {
                            let (inner, end) = parse_path(chars, i, segs.clone());
                            out.extend(inner);
                            i = end;
                            // Skip `as alias` and anything up to the next separator.
                            while chars.get(i).is_some_and(|c| *c != ',' && *c != '}') {
                                i += 1;
                            }
                        }
                        Some(_) => i += 1,
                    }
                }
            }
            return (vec![segs], i);
        }
        let seg: String = chars[start..i].iter().collect();
        if seg != "self" || segs.is_empty() {
            segs.push(seg);
        }
        if chars.get(i) == Some(&':') && chars.get(i + 1) == Some(&':') {
            i += 2;
        } else {
            return (vec![segs], i);
        }
    }
}

/// The module (a key of `modules`) that `path`, written in module `current`,
/// points into; `None` for paths into other crates or the standard library.
pub fn resolve(
    current: &str,
    path: &[String],
    modules: &BTreeMap<String, String>,
) -> Option<String> {
    let mut base: Vec<String> = if current.is_empty() {
        Vec::new()
    } else {
        current.split("::").map(str::to_owned).collect()
    };
    let mut rest = path;
    match path.first().map(String::as_str) {
        Some("crate") => {
            base.clear();
            rest = &path[1..];
        }
        Some("self") => rest = &path[1..],
        Some("super") => {
            while rest.first().is_some_and(|s| s == "super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        Some(first) => {
            // A bare path names a child module of the current one, or nothing here.
            let child = join_path(&base, &[first.to_owned()]);
            if !modules.contains_key(&child) {
                return None;
            }
        }
        None => return None,
    }
    // The longest prefix of base + rest that is a file module.
    let mut full = base.clone();
    let mut best = modules
        .contains_key(&full.join("::"))
        .then(|| full.join("::"));
    for seg in rest {
        full.push(seg.clone());
        let key = full.join("::");
        if modules.contains_key(&key) {
            best = Some(key);
        }
    }
    best.or_else(|| {
        // Inside an inline module of a file: fall back to the enclosing file module.
        let mut b = base;
        while !b.is_empty() && !modules.contains_key(&b.join("::")) {
            b.pop();
        }
        Some(b.join("::"))
    })
}

fn join_path(base: &[String], more: &[String]) -> String {
    base.iter()
        .chain(more)
        .cloned()
        .collect::<Vec<_>>()
        .join("::")
}

/// Cycles between files, each as its edges `a → b → … → a`: the shortest
/// cycle through every file not already on a reported one.
pub fn cycles(graph: &Graph) -> Vec<Vec<Edge>> {
    let nodes: BTreeSet<&str> = graph.modules.values().map(String::as_str).collect();
    let mut adj: BTreeMap<&str, Vec<&Edge>> = BTreeMap::new();
    for e in &graph.edges {
        adj.entry(e.from.as_str()).or_default().push(e);
    }
    let mut out = Vec::new();
    let mut covered: BTreeSet<String> = BTreeSet::new();
    for &start in &nodes {
        if covered.contains(start) {
            continue;
        }
        if let Some(cycle) = shortest_cycle(start, &adj) {
            covered.extend(cycle.iter().map(|e| e.from.clone()));
            out.push(cycle);
        }
    }
    out
}

/// The shortest cycle through `start` (breadth-first), if any.
fn shortest_cycle<'a>(start: &'a str, adj: &BTreeMap<&'a str, Vec<&'a Edge>>) -> Option<Vec<Edge>> {
    let mut prev: BTreeMap<&str, &Edge> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    let mut seen: BTreeSet<&str> = BTreeSet::from([start]);
    while let Some(node) = queue.pop_front() {
        for e in adj.get(node).into_iter().flatten() {
            if e.to == start {
                let mut path = vec![(*e).clone()];
                let mut at = node;
                while at != start {
                    let back = prev[at];
                    path.push(back.clone());
                    at = back.from.as_str();
                }
                path.reverse();
                return Some(path);
            }
            if seen.insert(e.to.as_str()) {
                prev.insert(e.to.as_str(), e);
                queue.push_back(e.to.as_str());
            }
        }
    }
    None
}

/// A cycle as text: one `file:line imports …` per edge.
pub fn render(cycle: &[Edge]) -> String {
    cycle
        .iter()
        .map(|e| format!("  {}:{} → {}   ({})", e.from, e.line, e.to, e.text))
        .collect::<Vec<_>>()
        .join("\n")
}
