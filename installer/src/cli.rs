//! Command-line modes when not running as PID 1.

use crate::buildinfo::BuildInfo;
use crate::console;
use crate::facts::{self, Facts};
use crate::screen;
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;

/// Usage text.
pub const USAGE: &str = "\
usage: installer --version
       installer facts --root DIR [--json]
       installer validate-answers FILE
       installer raw-copy URL DEVICE   (a benchmark baseline: no verification)
       installer ui      (only as the child of the installer's PID 1)
       installer shell   (only as the child of the installer's PID 1)

As PID 1 (/init in the installer initramfs) it supervises the installer.
`facts` prints what the first screen would show for a root directory
(a real system: /, or a fake tree with sys/, proc/, dev/, etc/installer/).
`validate-answers` checks an answer file (docs/answer-file.md) with the
installer's own validators: exit 0 and `FILE: ok`, or exit 1 and one
`FILE: key: message` line per problem on stderr.
";

/// Runs the CLI with `args` (without the program name); returns the exit code.
pub fn run(args: &[String]) -> i32 {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["--version"] | ["-V"] => {
            println!("installer {}", env!("CARGO_PKG_VERSION"));
            0
        }
        ["--help"] | ["-h"] | [] => {
            print!("{USAGE}");
            0
        }
        ["ui"] => {
            if crate::ui::is_ui_child() {
                crate::ui::run()
            } else {
                eprintln!("installer: `ui` only runs as the child of the installer's PID 1");
                crate::ui::EXIT_NOT_UI_CHILD
            }
        }
        ["validate-answers", file] => validate_answers(file),
        ["validate-answers", ..] => {
            eprintln!("installer: validate-answers needs exactly one FILE\n{USAGE}");
            2
        }
        ["shell"] => {
            if crate::ui::is_ui_child() {
                crate::pid1::shell_child()
            } else {
                eprintln!("installer: `shell` only runs as the child of the installer's PID 1");
                crate::ui::EXIT_NOT_UI_CHILD
            }
        }
        // The baseline of `cargo xtask bench install`: see install::rawcopy.
        ["raw-copy", rest @ ..] => crate::install::rawcopy::main(rest),
        // Debugging/test subcommand of the NET helper: see net::cli::USAGE.
        ["net-dhcp", rest @ ..] => {
            crate::net::cli::main(&rest.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        }
        ["facts", rest @ ..] => match parse_facts_args(rest) {
            Ok((root, json)) => facts_command(&root, json),
            Err(msg) => {
                eprintln!("installer: {msg}\n{USAGE}");
                2
            }
        },
        _ => {
            eprintln!("installer: unknown arguments {args:?}\n{USAGE}");
            2
        }
    }
}

/// `validate-answers FILE`: 0 valid, 1 invalid or unreadable.
fn validate_answers(file: &str) -> i32 {
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("installer: cannot read {file}: {e}");
            return 1;
        }
    };
    match crate::answers::parse_bytes(&bytes) {
        Ok(_) => {
            println!("{file}: ok");
            0
        }
        Err(errors) => {
            for e in errors {
                eprintln!("{file}: {e}");
            }
            1
        }
    }
}

fn parse_facts_args(args: &[&str]) -> Result<(PathBuf, bool), String> {
    let mut root = None;
    let mut json = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match *a {
            "--root" => root = Some(PathBuf::from(it.next().ok_or("--root needs a directory")?)),
            "--json" => json = true,
            other => return Err(format!("unknown facts option {other:?}")),
        }
    }
    let root = root.ok_or("facts needs --root DIR")?;
    if !root.is_dir() {
        return Err(format!("{} is not a directory", root.display()));
    }
    Ok((root, json))
}

#[derive(Serialize)]
struct FactsReport<'a> {
    build: Option<&'a BuildInfo>,
    build_error: Option<String>,
    facts: &'a Facts,
}

fn facts_command(root: &std::path::Path, json: bool) -> i32 {
    let cmdline = facts::read_cmdline(root);
    let layout = console::resolve(root, &cmdline.consoles());
    let (build, build_error) = match BuildInfo::load(root) {
        Ok(b) => (Some(b), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let volume_id = build.as_ref().map(|b| b.volume_id.as_str());
    let facts = Facts::gather(root, &cmdline, &layout, volume_id);
    let mut out = std::io::stdout();
    let written = if json {
        let report = FactsReport {
            build: build.as_ref(),
            build_error,
            facts: &facts,
        };
        match serde_json::to_string_pretty(&report) {
            Ok(text) => writeln!(out, "{text}"),
            Err(e) => {
                eprintln!("installer: cannot render facts as JSON: {e}");
                return 1;
            }
        }
    } else {
        if let Some(e) = &build_error {
            let _ = writeln!(out, "Warning: {e}");
        }
        write!(
            out,
            "{}",
            screen::render(&screen::title(build.as_ref()), &facts, None, volume_id)
        )
    };
    i32::from(written.is_err())
}
