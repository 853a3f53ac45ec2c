//! The binary: `-c`, lines on a non-terminal stdin, exit statuses, and the
//! unsupported mode on a real terminal (util-linux's `script` gives it a
//! pty), where bash must really replace the console.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::io::Write;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_appliance-shell");

#[allow(clippy::disallowed_methods)] // the binary under test and reference tools
fn command(program: &str) -> Command {
    Command::new(program)
}

fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = command(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn one_command_with_dash_c() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path().to_str().unwrap();
    let out = run(&["--root", root, "-c", "status"], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("Host name "), "{stdout}");
    assert!(stdout.contains("Set-up            not done"), "{stdout}");

    let out = run(&["-c", "stauts"], "");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "appliance-shell: unknown command \"stauts\"; did you mean \"status\"? Type \"help\" for the list of commands\n"
    );
    assert!(out.stdout.is_empty());

    let out = run(&["-c"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("-c needs a command"));
    let out = run(&["--bogus"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown argument \"--bogus\"; see --help"));
    let out = run(&["--help"], "");
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("appliance-shell -c COMMAND"));
}

#[test]
fn lines_from_a_pipe_until_exit() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path().to_str().unwrap();
    let out = run(&["--root", root], "help\nbogus\nexit\nstatus\n");
    assert_eq!(out.status.code(), Some(1), "a line failed");
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("Commands:\n"),
        "no prompt or banner: {stdout}"
    );
    assert!(!stdout.contains("Host name"), "stopped at exit: {stdout}");
    assert_eq!(
        text(&out.stderr),
        "error: unknown command \"bogus\"; type \"help\" for the list of commands\n"
    );
    let out = run(&["--root", root], "help ping\n");
    assert_eq!(out.status.code(), Some(0));
}

/// From a pipe: the lines after the answer are bash's, not lost in a
/// buffer of the console.
#[test]
fn unsupported_hands_the_rest_of_a_pipe_to_bash() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path().to_str().unwrap();
    let out = run(
        &["--root", root],
        "unsupported\ny\necho \"BASH-$((6*7)) $SHELL\"\n",
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.ends_with("[y/N] BASH-42 /bin/bash\n"), "{stdout}");
}

/// `script` (util-linux) runs the console on a pseudo-terminal: the banner
/// and prompt appear, `unsupported` warns and asks, and after `y` the
/// lines are bash's (arithmetic only bash does, `$SHELL` set to bash).
#[test]
fn unsupported_execs_bash_on_a_terminal() {
    let root = tempfile::tempdir().unwrap();
    let line = format!("{BIN} --root {}", root.path().display());
    let mut child = command("script")
        .args(["--quiet", "--return", "--command", &line, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("util-linux's script runs the console on a pty");
    let mut stdin = child.stdin.take().unwrap();
    // One line at a time: the pty would otherwise hand bash's lines to the console.
    for l in [
        "unsupported\n",
        "y\n",
        "echo \"BASH-$((6*7)) $SHELL\"\n",
        "exit 0\n",
    ] {
        std::thread::sleep(std::time::Duration::from_millis(700));
        stdin.write_all(l.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(700));
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let stdout = text(&out.stdout);
    assert!(stdout.contains("console on "), "{stdout}");
    assert!(stdout.contains("> "), "a prompt: {stdout}");
    let warn = stdout.find("WARNING: unsupported mode.").expect(&stdout);
    let ask = stdout
        .find("Start the unsupported root shell? [y/N]")
        .expect(&stdout);
    let bash = stdout.find("BASH-42 /bin/bash").expect(&stdout);
    assert!(warn < ask && ask < bash, "{stdout}");
}
