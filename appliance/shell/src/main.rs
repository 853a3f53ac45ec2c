//! `appliance-shell`: root's login shell. Interactive on a terminal (login
//! on a console, `ssh root@…`), one command with `-c` (`ssh root@… status`
//! runs `appliance-shell -c status`), or one command per line of a
//! non-terminal standard input. See `--help` and docs/appliance.md.

use std::fs::File;
use std::io::{self, IsTerminal};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use appliance_shell::exec::Console;
use appliance_shell::input::Unbuffered;
use appliance_shell::parse;
use appliance_shell::{status, sys};

const HELP: &str = "\
appliance-shell: the appliance's console (root's login shell)

USAGE:
  appliance-shell                 read commands from the terminal (or one per line
                                  from standard input); type \"help\" for the commands
  appliance-shell -c COMMAND      run one command, e.g. -c status

OPTIONS:
  --root DIR    the appliance's root directory for status and support (default /)
  -h, --help    this text

EXIT STATUS: 0 done, 1 a command failed, 2 not a command (the message says why).
";

/// Exit status of a line that is not a command.
const NOT_A_COMMAND: u8 = 2;

struct Args {
    command: Option<String>,
    root: PathBuf,
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<Option<Args>> {
    let mut command = None;
    let mut root = PathBuf::from("/");
    let mut it = args;
    while let Some(a) = it.next() {
        match a.as_str() {
            "-h" | "--help" => return Ok(None),
            "-c" => {
                command =
                    Some(it.next().context(
                        "-c needs a command, e.g. `appliance-shell -c status`; see --help",
                    )?)
            }
            "--root" => root = PathBuf::from(it.next().context("--root needs a directory")?),
            other => bail!("unknown argument {other:?}; see --help"),
        }
    }
    Ok(Some(Args { command, root }))
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("appliance-shell: {e:#}");
            return ExitCode::from(NOT_A_COMMAND);
        }
    };
    // Standard input's descriptor, unbuffered (see `input`): what the
    // console does not read stays for bash and the programs it runs.
    let stdin = match io::stdin().as_fd().try_clone_to_owned() {
        Ok(fd) => Unbuffered::new(File::from(fd)),
        Err(e) => {
            eprintln!("appliance-shell: standard input: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut console = Console {
        root: args.root,
        input: stdin,
        out: io::stdout(),
        sys: sys::System,
    };
    let mut err = io::stderr();
    if let Some(line) = args.command {
        if let Err(e) = parse::parse(&line) {
            eprintln!("appliance-shell: {e}");
            return ExitCode::from(NOT_A_COMMAND);
        }
        let (_, ok) = console.line(&line, &mut err);
        return if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    let prompt = if io::stdin().is_terminal() {
        sys::console_signals();
        let facts = status::gather(&console.root, None);
        let product = if facts.product.is_empty() {
            "Appliance".to_string()
        } else {
            facts.product.clone()
        };
        println!(
            "{product} console on {}. Type \"help\" for the commands, \"exit\" or Ctrl-D to leave.",
            facts.hostname
        );
        let host = if facts.hostname.starts_with('(') {
            "appliance"
        } else {
            &facts.hostname
        };
        Some(format!("{host}> "))
    } else {
        None
    };
    if console.run(prompt.as_deref(), &mut err) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
