//! Module layering of xtask and qemu-tests: no import cycles between files,
//! no QEMU suite importing another.

use super::modgraph::{self, Edge};
use super::source::{self, Source};
use crate::{report, Violation};

fn cycles_of(src_dir: &str) -> Vec<String> {
    modgraph::cycles(&modgraph::build(src_dir))
        .iter()
        .map(|c| modgraph::render(c))
        .collect()
}

/// No file in `xtask/src` imports a module that imports it back (directly or
/// through others). See `tidy_support::modgraph` for what counts as an import.
#[test]
fn xtask_has_no_module_cycles() {
    let cycles = cycles_of("xtask/src");
    assert!(
        cycles.is_empty(),
        "module cycles in xtask/src:\n{}",
        cycles.join("\n\n")
    );
}

/// No file in `qemu-tests/src` imports a module that imports it back.
#[test]
fn qemu_tests_has_no_module_cycles() {
    let cycles = cycles_of("qemu-tests/src");
    assert!(
        cycles.is_empty(),
        "module cycles in qemu-tests/src:\n{}",
        cycles.join("\n\n")
    );
}

/// The cycle finder itself, on a planted cycle (`a → b → d → c → a`, with
/// `use` groups, `super::` and an inline test module that must not count),
/// and the suite rule on planted suites.
#[test]
fn the_cycle_finder_finds_a_planted_cycle() {
    let file = |rel: &str, text: &str| Source {
        rel: rel.into(),
        lines: source::lex(text),
    };
    let files = [
        file("k/src/lib.rs", "mod a;\nmod b;\nmod c;\n"),
        file(
            "k/src/a.rs",
            "use crate::{b::Thing, x};\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\n",
        ),
        file("k/src/b.rs", "mod d;\nfn f() { d::g() }\n"),
        file("k/src/b/d.rs", "pub fn g() { super::super::c::h() }\n"),
        file(
            "k/src/c.rs",
            "// crate::b is only a comment\npub fn h() { let s = \"crate::b\"; crate::a::i() }\n",
        ),
    ];
    let graph = modgraph::build_from("k/src", &files);
    let cycles = modgraph::cycles(&graph);
    assert_eq!(cycles.len(), 1, "{graph:?}");
    let hops: Vec<(&str, usize)> = cycles[0]
        .iter()
        .map(|e: &Edge| (e.from.as_str(), e.line))
        .collect();
    assert_eq!(
        hops,
        [
            ("k/src/a.rs", 1),
            ("k/src/b.rs", 2),
            ("k/src/b/d.rs", 1),
            ("k/src/c.rs", 2)
        ]
    );

    let suites = [
        file(
            "qemu-tests/src/lib.rs",
            "pub mod harness;\npub mod suites;\n",
        ),
        file("qemu-tests/src/harness.rs", "pub fn boot() {}\n"),
        file(
            "qemu-tests/src/suites/mod.rs",
            "pub mod install;\npub mod serials;\n",
        ),
        file(
            "qemu-tests/src/suites/serials.rs",
            "use crate::harness::boot;\n",
        ),
        file(
            "qemu-tests/src/suites/install/mod.rs",
            "use crate::harness;\nuse super::serials::X;\nmod faults;\n",
        ),
        file(
            "qemu-tests/src/suites/install/faults.rs",
            "use super::super::install::Y;\n",
        ),
    ];
    let found = suite_imports(&modgraph::build_from("qemu-tests/src", &suites));
    let found: Vec<(&str, usize)> = found.iter().map(|v| (v.file.as_str(), v.line)).collect();
    assert_eq!(found, [("qemu-tests/src/suites/install/mod.rs", 2)]);
}

/// If `qemu-tests/src/suites/` exists, no suite (a file or directory under
/// it) imports another suite; suites share code through the harness only.
#[test]
fn no_suite_imports_another_suite() {
    report(
        "no suite imports another suite",
        &suite_imports(&modgraph::build("qemu-tests/src")),
    );
}

/// Edges of `graph` from one suite (`qemu-tests/src/suites/<name>.rs` or
/// `…/suites/<name>/…`) into another.
fn suite_imports(graph: &modgraph::Graph) -> Vec<Violation> {
    let suite_of = |rel: &str| {
        rel.strip_prefix("qemu-tests/src/suites/").map(|r| {
            r.split('/')
                .next()
                .unwrap_or(r)
                .trim_end_matches(".rs")
                .to_owned()
        })
    };
    graph
        .edges
        .iter()
        .filter_map(|e| match (suite_of(&e.from), suite_of(&e.to)) {
            (Some(a), Some(b)) if a != b && b != "mod" && a != "mod" => Some(Violation {
                file: e.from.clone(),
                line: e.line,
                what: format!("suite `{a}` imports suite `{b}`"),
                code: e.text.clone(),
            }),
            _ => None,
        })
        .collect()
}
