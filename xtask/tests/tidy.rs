//! Tidy tests: the workspace's sources read as text, and the invariants that
//! ARCHITECTURE.md states checked on them. Every failure names the file and
//! line. They need no tools and no root, and run with `cargo test -p xtask`.
//!
//! Scope: the rules about processes, mounts, disks and the network apply to
//! every crate's `src/` (shipped code and its unit tests). Integration tests
//! (`<crate>/tests/`) are outside them: they run reference tools (xorriso,
//! sfdisk, …) and network namespaces on purpose.

mod tidy_support;

use tidy_support::modgraph::{self, paths_in, Edge};
use tidy_support::source::{self, token_hits, Source};

/// A rule broken at `file:line`.
struct Violation {
    file: String,
    line: usize,
    what: String,
    code: String,
}

fn report(rule: &str, violations: &[Violation]) {
    let text: Vec<String> = violations
        .iter()
        .map(|v| format!("{}:{}: {}\n    {}", v.file, v.line, v.what, v.code.trim()))
        .collect();
    assert!(
        violations.is_empty(),
        "{rule}\n{} violation(s):\n{}",
        violations.len(),
        text.join("\n")
    );
}

fn violation(src: &Source, line: usize, what: &str) -> Violation {
    Violation {
        file: src.rel.clone(),
        line,
        what: what.to_owned(),
        code: src.lines[line - 1].code.clone(),
    }
}

/// Files whose path passes `allowed` may match; every other match is a violation.
/// `matches` returns what a line does wrong, if anything.
fn scan(
    files: &[Source],
    allowed: impl Fn(&str) -> bool,
    matches: impl Fn(&source::Line) -> Option<String>,
) -> Vec<Violation> {
    let mut out = Vec::new();
    for src in files.iter().filter(|s| !allowed(&s.rel)) {
        for (n, line) in src.numbered() {
            if let Some(what) = matches(line) {
                out.push(violation(src, n, &what));
            }
        }
    }
    out
}

/// The first of `words` that occurs in `text` as a token.
fn any_token(text: &str, words: &[&str]) -> Option<String> {
    words
        .iter()
        .find(|w| !token_hits(text, w).is_empty())
        .map(|w| w.to_string())
}

/// Only the three command modules start processes: `installer/src/sys/cmd.rs`,
/// `xtask/src/cmd.rs` and the QEMU harness' `child.rs` (anywhere under
/// `qemu-tests/src/`). A process is started by `std::process::Command` (named
/// or imported) or by `fork`/`vfork`/`exec*`/`posix_spawn`. Clippy's
/// `disallowed-methods` (clippy.toml) catches `Command::new` too; this test
/// also catches imports and the libc/nix calls.
fn spawns(files: &[Source]) -> Vec<Violation> {
    let allowed = |rel: &str| {
        rel == "installer/src/sys/cmd.rs"
            || rel == "xtask/src/cmd.rs"
            || (rel.starts_with("qemu-tests/src/") && rel.ends_with("/child.rs"))
    };
    let found = scan(files, allowed, |line| {
        let bare = &line.bare;
        if bare.contains("Command::new") {
            return Some("spawns a process (Command::new)".into());
        }
        if paths_in(bare)
            .iter()
            .any(|p| p.windows(2).any(|w| w[0] == "process" && w[1] == "Command"))
        {
            return Some("uses std::process::Command".into());
        }
        any_token(
            bare,
            &[
                "fork(",
                "vfork(",
                "execv(",
                "execve(",
                "execvp(",
                "execvpe(",
                "fexecve(",
                "posix_spawn(",
                "posix_spawnp(",
            ],
        )
        .map(|w| format!("starts a process ({w}…)"))
    });
    found
}

#[test]
fn only_the_command_modules_spawn_processes() {
    report(
        "only installer::sys::cmd, xtask::cmd and qemu-tests' child module start processes",
        &spawns(&source::all_src()),
    );
}

/// Only `installer/src/sys/mount.rs` mounts or unmounts file systems, in
/// every crate (the installer and the sample appliance use its functions):
/// a `mount(`/`umount(`/`umount2(` call, `nix::mount`/`libc::mount`,
/// `MsFlags`/`MntFlags`, `move_mount`, `fsmount` or `pivot_root`. fatfs'
/// `fs.unmount()` closes an image file and is not a mount.
fn mounts(files: &[Source]) -> Vec<Violation> {
    let allowed = |rel: &str| rel == "installer/src/sys/mount.rs";
    let found = scan(files, allowed, |line| {
        let bare = &line.bare;
        for needle in [
            "nix::mount",
            "libc::mount",
            "libc::umount",
            "MsFlags",
            "MntFlags",
        ] {
            if bare.contains(needle) {
                return Some(format!("mounts outside sys/mount ({needle})"));
            }
        }
        let calls = [
            "mount(",
            "umount(",
            "umount2(",
            "move_mount(",
            "fsmount(",
            "pivot_root(",
        ];
        calls
            .iter()
            .find(|w| {
                token_hits(bare, w).iter().any(|&at| {
                    // A method named like this on another type (`x.mount(`) is not the syscall.
                    !bare[..at].ends_with('.') && !bare[..at].trim_end().ends_with("fn")
                })
            })
            .map(|w| format!("mounts outside sys/mount ({w}…)"))
    });
    found
}

#[test]
#[ignore = "answers/volume, install/bundle, install/system and sample-appliance/bootpart still mount on their own"]
fn only_sys_mount_mounts() {
    report(
        "only installer::sys::mount mounts",
        &mounts(&source::all_src()),
    );
}

/// The one file that opens the target disk.
const DISK_OPENER: &str = "installer/src/install/system.rs";

/// Files of the installer and the sample appliance that open something for
/// writing with `OpenOptions` (`.write(true)`, `.append(true)`, `O_WRONLY`,
/// `O_RDWR`), and what they open. Only [`DISK_OPENER`] opens a block device.
const WRITABLE_OPENS: &[(&str, &str)] = &[
    (
        DISK_OPENER,
        "the target disk, O_EXCL, handed to install::apply::run",
    ),
    (
        "installer/src/console.rs",
        "the consoles (/dev/tty*, /dev/ttyS*)",
    ),
    (
        "installer/src/pid1/mod.rs",
        "/dev/console for PID 1's stdio",
    ),
    (
        "installer/src/log.rs",
        "the log file under /run and /dev/kmsg",
    ),
    (
        "installer/src/event.rs",
        "the events file under /run and the second serial port",
    ),
    (
        "installer/src/ui/host.rs",
        "the collected answer file under /run",
    ),
    (
        "installer/src/install/bundle.rs",
        "the support bundle under /run",
    ),
    (
        "installer/src/keyboard/apply.rs",
        "the VT whose keymap is loaded",
    ),
    (
        "sample-appliance/src/firstboot.rs",
        "/dev/console and files under /run",
    ),
];

/// Character devices that may be opened for writing by path.
const CHAR_DEVICES: &[&str] = &[
    "/dev/console",
    "/dev/kmsg",
    "/dev/null",
    "/dev/tty",
    "/dev/hvc",
];

/// Only the disk writer opens block devices for writing. The rule, as text:
/// 1. an exclusive open (`O_EXCL`, which the kernel refuses while a partition
///    is mounted or another exclusive opener holds the disk) and block-device
///    ioctls (`BLKRRPART`, `BLKPG`, `BLKDISCARD`, `BLKZEROOUT`, … or a raw
///    `0x12xx` number in an `ioctl` line) occur only in [`DISK_OPENER`], which
///    opens `/dev/<disk>` read-write with `O_EXCL`, hands the handle to
///    `install::apply::run` (apply and `install::table` do all the writing)
///    and asks the kernel to re-read the table afterwards;
/// 2. in the installer and the sample appliance, `OpenOptions` opens for
///    writing only in the files of [`WRITABLE_OPENS`];
/// 3. no writable open (`OpenOptions` chain, `File::create`, `fs::write`)
///    anywhere names a `/dev/` path other than the [`CHAR_DEVICES`].
fn disk_opens(files: &[Source]) -> Vec<Violation> {
    let mut found = scan(
        files,
        |rel| rel == DISK_OPENER,
        |line| {
            let bare = &line.bare;
            let names = [
                "O_EXCL",
                "BLKRRPART",
                "BLKPG",
                "BLKDISCARD",
                "BLKSECDISCARD",
                "BLKZEROOUT",
                "BLKFLSBUF",
                "BLKROSET",
                "BLKBSZSET",
            ];
            if let Some(w) = any_token(bare, &names) {
                return Some(format!(
                    "exclusive open or block-device ioctl ({w}) outside {DISK_OPENER}"
                ));
            }
            let raw_blk = bare.contains("ioctl")
                && bare.match_indices("0x12").any(|(at, _)| {
                    let digits: String = bare[at + 4..]
                        .chars()
                        .take_while(char::is_ascii_hexdigit)
                        .collect();
                    digits.len() == 2
                });
            raw_blk.then(|| format!("block-device ioctl number outside {DISK_OPENER}"))
        },
    );
    for src in files {
        let shipped =
            src.rel.starts_with("installer/src/") || src.rel.starts_with("sample-appliance/src/");
        for (n, chain) in writable_opens(src) {
            let listed = WRITABLE_OPENS.iter().any(|(f, _)| *f == src.rel);
            if shipped && !listed && chain.contains("OpenOptions") {
                found.push(violation(
                    src,
                    n,
                    "opens for writing outside the files listed in WRITABLE_OPENS (say what it opens there)",
                ));
            }
            for (at, _) in chain.match_indices("\"/dev/") {
                let path = &chain[at + 1..];
                if !CHAR_DEVICES.iter().any(|d| path.starts_with(d)) {
                    found.push(violation(
                        src,
                        n,
                        "opens a device node other than a console for writing",
                    ));
                }
            }
        }
    }
    found
}

#[test]
fn only_the_disk_writer_opens_block_devices_for_writing() {
    report(
        "only the disk writer opens block devices for writing",
        &disk_opens(&source::all_src()),
    );
}

/// Writable opens in `src`: (first line, the statement's code with literals).
/// An `OpenOptions::new()` chain up to its `.open(…)` (at most 12 lines) is
/// writable with `.write(true)`, `.append(true)`, `O_WRONLY` or `O_RDWR`;
/// `File::create(` and `fs::write(` always are.
fn writable_opens(src: &Source) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, line) in src.lines.iter().enumerate() {
        if line.bare.contains("File::create(") || line.bare.contains("fs::write(") {
            out.push((i + 1, line.code.clone()));
        }
        if !line.bare.contains("OpenOptions::new()") {
            continue;
        }
        let mut chain = String::new();
        for l in src.lines.iter().skip(i).take(12) {
            chain.push_str(&l.code);
            chain.push('\n');
            if l.bare.contains(".open(") {
                break;
            }
        }
        let writes = [".write(true)", ".append(true)", "O_WRONLY", "O_RDWR"];
        if writes.iter().any(|w| chain.contains(w)) {
            out.push((i + 1, chain));
        }
    }
    out
}

/// The netlink layer: builds and sends messages, changes nothing by itself.
const NETLINK_LAYER: &[&str] = &[
    "installer/src/net/netlink.rs",
    "installer/src/net/netlink/msg.rs",
];
/// The one file that changes network state.
const NET_APPLIER: &str = "installer/src/net/apply.rs";

/// Only `installer/src/net/apply.rs` changes network state, in every crate:
/// 1. the state-changing netlink request kinds (`RTM_NEWLINK`, `RTM_NEWADDR`,
///    `RTM_DELADDR`, `RTM_NEWROUTE`, … and the `NLM_F_CREATE`/`NLM_F_REPLACE`
///    flags) occur only in the netlink layer ([`NETLINK_LAYER`]);
/// 2. the layer's builders of such requests (`set_link` — also how a link is
///    set up —, `addr`, `replace_route`), sending a request and waiting for
///    its acknowledgement (`.request(` on a `Netlink`), `sethostname` and
///    `SIOCSIF*` ioctls occur outside the layer only in [`NET_APPLIER`].
fn network_changes(files: &[Source]) -> Vec<Violation> {
    let in_layer = |rel: &str| NETLINK_LAYER.contains(&rel);
    let mut found = scan(files, in_layer, |line| {
        let kinds = [
            "RTM_NEWLINK",
            "RTM_DELLINK",
            "RTM_SETLINK",
            "RTM_NEWADDR",
            "RTM_DELADDR",
            "RTM_NEWROUTE",
            "RTM_DELROUTE",
            "RTM_NEWNEIGH",
            "RTM_DELNEIGH",
            "RTM_NEWRULE",
            "RTM_DELRULE",
            "NLM_F_CREATE",
            "NLM_F_REPLACE",
        ];
        any_token(&line.bare, &kinds)
            .map(|w| format!("state-changing netlink request ({w}) outside the netlink layer"))
    });
    for src in files
        .iter()
        .filter(|s| !in_layer(&s.rel) && s.rel != NET_APPLIER)
    {
        let uses_netlink = src.lines.iter().any(|l| l.bare.contains("Netlink"));
        for (n, line) in src.numbered() {
            let bare = &line.bare;
            let builder = paths_in(bare).iter().any(|p| {
                p.len() >= 2
                    && (p[p.len() - 2] == "netlink" || p[p.len() - 2] == "msg")
                    && ["set_link", "addr", "replace_route"].contains(&p[p.len() - 1].as_str())
            }) || any_token(bare, &["set_link(", "replace_route("]).is_some();
            let what = if builder {
                Some("builds a state-changing netlink request")
            } else if uses_netlink && bare.contains(".request(") {
                Some("sends a netlink request")
            } else if !token_hits(bare, "sethostname").is_empty() {
                Some("sets the hostname")
            } else if bare.contains("SIOCSIF") {
                Some("changes an interface with an ioctl")
            } else {
                None
            };
            if let Some(what) = what {
                found.push(violation(src, n, &format!("{what} outside {NET_APPLIER}")));
            }
        }
    }
    found
}

#[test]
fn only_net_apply_changes_network_state() {
    report(
        "only installer::net::apply changes network state",
        &network_changes(&source::all_src()),
    );
}

fn cycles_of(src_dir: &str) -> Vec<String> {
    modgraph::cycles(&modgraph::build(src_dir))
        .iter()
        .map(|c| modgraph::render(c))
        .collect()
}

/// No file in `xtask/src` imports a module that imports it back (directly or
/// through others). See `tidy_support::modgraph` for what counts as an import.
#[test]
#[ignore = "xtask's module cycles are removed on the structure branch"]
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
#[ignore = "qemu-tests' module cycles are removed on the structure branch"]
fn qemu_tests_has_no_module_cycles() {
    let cycles = cycles_of("qemu-tests/src");
    assert!(
        cycles.is_empty(),
        "module cycles in qemu-tests/src:\n{}",
        cycles.join("\n\n")
    );
}

/// Each rule on planted sources: it flags what it must (file and line) and
/// passes the allowed files and look-alikes (fatfs' `unmount`, comments,
/// string contents, a console opened for writing).
#[test]
fn the_rules_catch_planted_violations() {
    let file = |rel: &str, text: &str| Source {
        rel: rel.into(),
        lines: source::lex(text),
    };
    let at = |v: Vec<Violation>| -> Vec<(String, usize)> {
        v.into_iter().map(|v| (v.file, v.line)).collect()
    };
    let files = [
        file("installer/src/sys/cmd.rs", "let c = std::process::Command::new(p);\n"),
        file("qemu-tests/src/harness/child.rs", "let c = std::process::Command::new(p);\n"),
        file(
            "installer/src/ui/x.rs",
            "// Command::new in a comment\nlet s = \"Command::new\";\nuse std::process::{Command, Stdio};\nunsafe { libc::fork() };\n",
        ),
        file("installer/src/sys/mount.rs", "nix::mount::mount(Some(d), t, f, MsFlags::empty(), None::<&str>)?;\n"),
        file("installer/src/install/y.rs", "fs.unmount()?;\nlet _ = umount2(t, MntFlags::empty());\n"),
        file(DISK_OPENER, "let d = OpenOptions::new()\n.write(true)\n.custom_flags(libc::O_EXCL)\n.open(&p)?;\n"),
        file(
            "installer/src/facts/z.rs",
            "let f = OpenOptions::new()\n    .read(true)\n    .write(true)\n    .open(&p);\nunsafe { libc::ioctl(fd, 0x125F) };\nstd::fs::write(\"/dev/sdb\", b)?;\nstd::fs::write(\"/dev/console\", b)?;\n",
        ),
        file(NET_APPLIER, "nl.request(netlink::set_link(i, Some(true), None))?;\n"),
        file("installer/src/net/doctor.rs", "let nl = Netlink::open()?;\nnl.request(netlink::addr(true, i, a, 24))?;\nlet k = RTM_NEWROUTE;\n"),
    ];
    assert_eq!(
        at(spawns(&files)),
        [
            ("installer/src/ui/x.rs".into(), 3),
            ("installer/src/ui/x.rs".into(), 4)
        ]
    );
    assert_eq!(
        at(mounts(&files)),
        [("installer/src/install/y.rs".into(), 2)]
    );
    assert_eq!(
        at(disk_opens(&files)),
        [
            ("installer/src/facts/z.rs".into(), 5),
            ("installer/src/facts/z.rs".into(), 1),
            ("installer/src/facts/z.rs".into(), 6),
        ]
    );
    assert_eq!(
        at(network_changes(&files)),
        [
            ("installer/src/net/doctor.rs".into(), 3),
            ("installer/src/net/doctor.rs".into(), 2)
        ]
    );
}

/// The cycle finder itself, on a planted cycle (`a → b → c → a`, with
/// `use` groups, `super::` and an inline test module that must not count).
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
}

/// If `qemu-tests/src/suites/` exists, no suite (a file or directory under
/// it) imports another suite; suites share code through the harness only.
#[test]
fn no_suite_imports_another_suite() {
    let graph = modgraph::build("qemu-tests/src");
    let suite_of = |rel: &str| {
        rel.strip_prefix("qemu-tests/src/suites/").map(|r| {
            r.split('/')
                .next()
                .unwrap_or(r)
                .trim_end_matches(".rs")
                .to_owned()
        })
    };
    let found: Vec<Violation> = graph
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
        .collect();
    report("no suite imports another suite", &found);
}

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
        let skip = ["target/", ".git/", ".cache/", "vendor/"]
            .iter()
            .any(|d| rel.starts_with(d));
        if !skip && rel.ends_with(".md") {
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

/// ARCHITECTURE.md's "Invariants" names every test of this file that checks one.
#[test]
fn architecture_names_the_tidy_tests() {
    let arch =
        std::fs::read_to_string(source::root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let invariants = arch
        .split("## Invariants")
        .nth(1)
        .expect("ARCHITECTURE.md has an \"Invariants\" section");
    let me = source::lex(include_str!("tidy.rs"));
    let mut missing = Vec::new();
    for (i, line) in me.iter().enumerate() {
        if line.bare.trim() != "#[test]" {
            continue;
        }
        let name = me[i + 1..].iter().find_map(|l| {
            l.bare
                .trim()
                .strip_prefix("fn ")
                .map(|r| r.split('(').next().unwrap_or(r).to_owned())
        });
        if let Some(name) = name {
            let checks_an_invariant = ![
                "the_cycle_finder_finds_a_planted_cycle",
                "the_rules_catch_planted_violations",
                "architecture_names_the_tidy_tests",
            ]
            .contains(&name.as_str());
            if checks_an_invariant && !invariants.contains(&name) {
                missing.push(name);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md \"Invariants\" does not name these tidy tests: {missing:?}"
    );
}
