//! Documents: comments cite nothing outside the repository, and
//! ARCHITECTURE.md names the tidy test of each invariant.

use super::source::{self, token_hits};
use crate::{report, Violation};

/// Phrases (whole words, any case) that cite documents kept outside the
/// repository: working notes and their sections, the product's briefing,
/// planning cards, tracker issue numbers.
/// Public standards (RFC, ECMA-119, UEFI, …) may be cited with their sections.
const OUTSIDE_DOCUMENTS: &[&str] = &[
    "notes \u{a7}",
    "notes, appendix",
    "boot-chain",
    "seed's",
    "vendor document",
    "design card",
    "the brief",
    "the lead",
    "lead's",
    "../shared",
    "notes/",
    "appendix a",
    "appendix b",
    "appendix c",
];

/// The section sign.
const SECTION: char = '\u{a7}';

/// Standards that may be cited by section number: the name must be on the
/// same line as the section sign or on the line before.
const STANDARDS: &[&str] = &["RFC", "ECMA-", "UEFI", "ISO ", "IEEE", "POSIX"];

/// No comment in the Rust sources (any crate, `src/` and `tests/`) and no
/// Markdown document cites a document outside the repository: none of the
/// [`OUTSIDE_DOCUMENTS`] phrases, no section sign without a public standard,
/// and every `*.md` path a comment or document names exists.
#[test]
fn no_comment_cites_a_document_outside_the_repository() {
    let mut texts: Vec<(String, Vec<String>)> = source::all_rust()
        .into_iter()
        .map(|s| (s.rel, s.lines.into_iter().map(|l| l.comment).collect()))
        .collect();
    let mut md = Vec::new();
    source::walk(&source::root(), &mut md);
    for p in md {
        let rel = source::relative(&p);
        if rel.ends_with(".md") {
            let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{rel}: {e}"));
            texts.push((rel, text.lines().map(str::to_owned).collect()));
        }
    }
    let mut found = Vec::new();
    for (rel, lines) in &texts {
        for (i, line) in lines.iter().enumerate() {
            let lower = line.to_lowercase();
            let mut what = OUTSIDE_DOCUMENTS
                .iter()
                .find(|p| !token_hits(&lower, p).is_empty())
                .map(|p| format!("cites a document outside the repository (\"{p}\")"));
            let issue = token_hits(&lower, "issue").into_iter().any(|at| {
                let rest = lower[at + "issue".len()..].trim_start_matches([' ', '#']);
                rest.starts_with(|c: char| c.is_ascii_digit())
            });
            if what.is_none() && issue {
                what = Some("cites a tracker issue by number".into());
            }
            let prev = if i > 0 { lines[i - 1].as_str() } else { "" };
            if what.is_none()
                && line.contains(SECTION)
                && !STANDARDS
                    .iter()
                    .any(|s| line.contains(s) || prev.contains(s))
            {
                what = Some("cites a numbered section of no public standard".into());
            }
            if what.is_none() {
                what = missing_md(rel, line);
            }
            if let Some(what) = what {
                found.push(Violation {
                    file: rel.clone(),
                    line: i + 1,
                    what,
                    code: line.clone(),
                });
            }
        }
    }
    report(
        "comments and documents speak of the repository only",
        &found,
    );
}

/// A `*.md` path in `line` that exists neither from the root nor from `rel`'s directory.
fn missing_md(rel: &str, line: &str) -> Option<String> {
    let root = source::root();
    let dir = root
        .join(rel)
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or(root.clone());
    for (at, _) in line.match_indices(".md") {
        let after = line[at + 3..].chars().next();
        if after.is_some_and(source::ident_char) {
            continue;
        }
        let start = line[..at]
            .rfind(|c: char| !(source::ident_char(c) || "./-".contains(c)))
            .map_or(0, |p| p + 1);
        let name = &line[start..at + 3];
        if name.len() <= 3 || name.starts_with("http") {
            continue;
        }
        if !root.join(name).exists() && !dir.join(name).exists() {
            return Some(format!("names {name}, which is not in the repository"));
        }
    }
    None
}

/// ARCHITECTURE.md's "Invariants" names every tidy test that checks an
/// invariant (all but the tests of the checkers themselves).
#[test]
fn architecture_names_the_tidy_tests() {
    let arch =
        std::fs::read_to_string(source::root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let invariants = arch
        .split("## Invariants")
        .nth(1)
        .expect("ARCHITECTURE.md has an \"Invariants\" section");
    let checkers = [
        "the_cycle_finder_finds_a_planted_cycle",
        "the_rules_catch_planted_violations",
        "architecture_names_the_tidy_tests",
    ];
    let texts = [
        include_str!("../tidy.rs"),
        include_str!("modules.rs"),
        include_str!("docs.rs"),
    ];
    let mut names = Vec::new();
    for text in texts {
        let lines = source::lex(text);
        for (i, line) in lines.iter().enumerate() {
            if line.bare.trim() != "#[test]" {
                continue;
            }
            let name = lines[i + 1..].iter().find_map(|l| {
                l.bare
                    .trim()
                    .strip_prefix("fn ")
                    .map(|r| r.split('(').next().unwrap_or(r).to_owned())
            });
            names.extend(name);
        }
    }
    assert!(names.len() >= 10, "tidy tests found: {names:?}");
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| !checkers.contains(&n.as_str()) && !invariants.contains(n.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md \"Invariants\" does not name these tidy tests: {missing:?}"
    );
}
