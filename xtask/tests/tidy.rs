//! Tidy tests: the workspace's sources read as text, and the invariants that
//! ARCHITECTURE.md states checked on them. Every failure names the file and
//! line. They need no tools and no root, and run with `cargo test -p xtask`.
//!
//! Scope: the rules about processes, mounts, disks and the network apply to
//! every crate's `src/` (shipped code and its unit tests). Integration tests
//! (`<crate>/tests/`) are outside them: they run reference tools (xorriso,
//! sfdisk, …) and network namespaces on purpose.
//!
//! This file holds the rules about effects (processes, mounts, disks, the
//! network); `tidy_support::modules` the module layering of xtask and
//! qemu-tests, `tidy_support::docs` the rules about comments and documents.

mod tidy_support;

use tidy_support::modgraph::paths_in;
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

/// Only the command modules start processes: `installer/src/sys/cmd.rs`,
/// `xtask/src/cmd.rs`, the QEMU harness' `child.rs` (anywhere under
/// `qemu-tests/src/`), `appliance/backup-cli/src/sys.rs` (MariaDB's
/// client tools), `appliance/activate/src/cmd.rs` (systemctl,
/// freeradius -XC), `appliance/shell/src/sys.rs` (the console's programs)
/// and `browser-test/src/cmd.rs` (chromedriver, npm). A process is started by `std::process::Command` (named
/// or imported) or by `fork`/`vfork`/`exec*`/`posix_spawn`. Clippy's
/// `disallowed-methods` (clippy.toml) catches `Command::new` too; this test
/// also catches imports and the libc/nix calls.
fn spawns(files: &[Source]) -> Vec<Violation> {
    let allowed = |rel: &str| {
        rel == "installer/src/sys/cmd.rs"
            || rel == "xtask/src/cmd.rs"
            || rel == "appliance/backup-cli/src/sys.rs"
            || rel == "appliance/activate/src/cmd.rs"
            || rel == "appliance/shell/src/sys.rs"
            || rel == "browser-test/src/cmd.rs"
            || (rel.starts_with("qemu-tests/src/") && rel.ends_with("/child.rs"))
    };
    scan(files, allowed, |line| {
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
    })
}

#[test]
fn only_the_command_modules_spawn_processes() {
    report(
        "only installer::sys::cmd, xtask::cmd, qemu-tests' child module, \
         appliance_backup_cli::sys, appliance_activate::cmd, appliance_shell::sys \
         and browser_test::cmd start processes",
        &spawns(source::all_src()),
    );
}

/// Only `installer/src/sys/mount.rs` mounts or unmounts file systems, in
/// every crate (the installer and the sample appliance use its functions):
/// a `mount(`/`umount(`/`umount2(` call, `nix::mount`/`libc::mount`,
/// `MsFlags`/`MntFlags`, `move_mount`, `fsmount` or `pivot_root`. fatfs'
/// `fs.unmount()` closes an image file and is not a mount.
fn mounts(files: &[Source]) -> Vec<Violation> {
    let allowed = |rel: &str| rel == "installer/src/sys/mount.rs";
    scan(files, allowed, |line| {
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
    })
}

#[test]
fn only_sys_mount_mounts() {
    report(
        "only installer::sys::mount mounts",
        &mounts(source::all_src()),
    );
}

/// The one file that opens the target disk.
const DISK_OPENER: &str = "installer/src/install/system.rs";

/// Files of the installer and the appliances' PID 1 that open something for
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
    ("sample-appliance/src/firstboot.rs", "files under /run"),
    (
        "installer/src/bootpart/early.rs",
        "/dev/console and the kernel command line's consoles (appliance PID 1)",
    ),
    (
        "appliance/init/src/stage.rs",
        "the handover record under /run and the test-only marker on the data partition",
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
/// 2. in the installer and the appliances' PID 1, `OpenOptions` opens for
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
        let shipped = src.rel.starts_with("installer/src/")
            || src.rel.starts_with("sample-appliance/src/")
            || src.rel.starts_with("appliance/init/src/");
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
        &disk_opens(source::all_src()),
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
        &network_changes(source::all_src()),
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
