//! The console's parser: every command, bad input with its exact message
//! (each pointing to `help`), and no panic on any input.

use appliance_shell::parse::{parse, Command, Name, ParseError, MAX_LINE};

fn ok(line: &str) -> Option<Command> {
    parse(line).unwrap_or_else(|e| panic!("{line:?}: {e}"))
}

fn err(line: &str) -> String {
    match parse(line) {
        Ok(c) => panic!("{line:?} parsed as {c:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn every_command_parses() {
    let ping = |host: &str, count| {
        Some(Command::Ping {
            host: host.into(),
            count,
        })
    };
    let table: &[(&str, Option<Command>)] = &[
        ("", None),
        ("   \t ", None),
        ("\n", None),
        ("help", Some(Command::Help(None))),
        ("?", Some(Command::Help(None))),
        ("help ping", Some(Command::Help(Some(Name::Ping)))),
        ("help poweroff", Some(Command::Help(Some(Name::Shutdown)))),
        (
            "HELP Unsupported",
            Some(Command::Help(Some(Name::Unsupported))),
        ),
        ("status", Some(Command::Status)),
        ("  status  \r\n", Some(Command::Status)),
        ("Status", Some(Command::Status)),
        ("network", Some(Command::Network)),
        ("ping 10.0.2.2", ping("10.0.2.2", 4)),
        ("ping -c 2 10.0.2.2", ping("10.0.2.2", 2)),
        ("ping 10.0.2.2 -c 20", ping("10.0.2.2", 20)),
        ("ping -c1 example.test", ping("example.test", 1)),
        ("ping fd00::1", ping("fd00::1", 4)),
        ("ping ntp.example.test.", ping("ntp.example.test.", 4)),
        ("ping a-b.c0", ping("a-b.c0", 4)),
        ("reboot", Some(Command::Reboot)),
        ("shutdown", Some(Command::Shutdown)),
        ("poweroff", Some(Command::Shutdown)),
        ("support", Some(Command::Support)),
        ("unsupported", Some(Command::Unsupported)),
        ("exit", Some(Command::Exit)),
        ("quit", Some(Command::Exit)),
        ("logout", Some(Command::Exit)),
    ];
    for (line, want) in table {
        assert_eq!(&ok(line), want, "{line:?}");
    }
    // Every name's word parses to that command's help.
    for n in Name::ALL {
        assert_eq!(
            ok(&format!("help {}", n.word())),
            Some(Command::Help(Some(n)))
        );
    }
}

#[test]
fn bad_input_has_its_own_message() {
    let long = "x".repeat(MAX_LINE + 1);
    let table: &[(&str, &str)] = &[
        (
            "stauts",
            "unknown command \"stauts\"; did you mean \"status\"? Type \"help\" for the list of commands",
        ),
        (
            "stat",
            "unknown command \"stat\"; did you mean \"status\"? Type \"help\" for the list of commands",
        ),
        (
            "ifconfig eth0 10.0.0.1",
            "unknown command \"ifconfig\"; type \"help\" for the list of commands",
        ),
        (
            "rebot",
            "unknown command \"rebot\"; did you mean \"reboot\"? Type \"help\" for the list of commands",
        ),
        (
            "bash",
            "unknown command \"bash\"; type \"help\" for the list of commands",
        ),
        (
            "status now",
            "\"status\" takes no arguments (got \"now\"); type \"help status\"",
        ),
        (
            "reboot -f",
            "\"reboot\" takes no arguments (got \"-f\"); type \"help reboot\"",
        ),
        (
            "poweroff now",
            "\"shutdown\" takes no arguments (got \"now\"); type \"help shutdown\"",
        ),
        (
            "unsupported; rm -rf /",
            "unknown command \"unsupported;\"; did you mean \"unsupported\"? Type \"help\" for the list of commands",
        ),
        (
            "help me please",
            "\"help\" takes one command at most (got also \"please\"); type \"help\" for the list of commands",
        ),
        (
            "help foo",
            "help: there is no command \"foo\"; type \"help\" for the list of commands",
        ),
        (
            "ping",
            "ping needs a host: \"ping HOST\" or \"ping -c COUNT HOST\"; type \"help ping\"",
        ),
        (
            "ping -c 3",
            "ping needs a host: \"ping HOST\" or \"ping -c COUNT HOST\"; type \"help ping\"",
        ),
        (
            "ping -c",
            "ping: -c needs a count from 1 to 20, e.g. \"ping -c 3 HOST\"; type \"help ping\"",
        ),
        (
            "ping -c 0 a",
            "ping: the count must be a number from 1 to 20 (got \"0\"); type \"help ping\"",
        ),
        (
            "ping -c 21 a",
            "ping: the count must be a number from 1 to 20 (got \"21\"); type \"help ping\"",
        ),
        (
            "ping -c -1 a",
            "ping: the count must be a number from 1 to 20 (got \"-1\"); type \"help ping\"",
        ),
        (
            "ping -cx a",
            "ping: the count must be a number from 1 to 20 (got \"x\"); type \"help ping\"",
        ),
        (
            "ping -f 10.0.0.1",
            "ping: unknown option \"-f\"; only -c COUNT is accepted; type \"help ping\"",
        ),
        (
            "ping a b",
            "ping takes one host (got also \"b\"); type \"help ping\"",
        ),
        (
            "ping a;reboot",
            "ping: \"a;reboot\" is not an IPv4 or IPv6 address or a host name (labels of letters, digits and inner hyphens, separated by dots); type \"help ping\"",
        ),
        (
            "ping 1.2.3",
            "ping: \"1.2.3\" is not an IPv4 or IPv6 address or a host name (labels of letters, digits and inner hyphens, separated by dots); type \"help ping\"",
        ),
        (
            "ping 300.1.1.1",
            "ping: \"300.1.1.1\" is not an IPv4 or IPv6 address or a host name (labels of letters, digits and inner hyphens, separated by dots); type \"help ping\"",
        ),
        (
            "ping a..b",
            "ping: \"a..b\" is not an IPv4 or IPv6 address or a host name (labels of letters, digits and inner hyphens, separated by dots); type \"help ping\"",
        ),
        (
            "ping -host",
            "ping: unknown option \"-host\"; only -c COUNT is accepted; type \"help ping\"",
        ),
        (
            "ping host-",
            "ping: \"host-\" is not an IPv4 or IPv6 address or a host name (labels of letters, digits and inner hyphens, separated by dots); type \"help ping\"",
        ),
        (
            "ping $(reboot)",
            "ping: \"$(reboot)\" is not an IPv4 or IPv6 address or a host name (labels of letters, digits and inner hyphens, separated by dots); type \"help ping\"",
        ),
        (
            "status\u{1b}[2J",
            "the line has a control character at column 7; type a command such as \"help\"",
        ),
        (
            "\u{0}",
            "the line has a control character at column 1; type a command such as \"help\"",
        ),
        (
            &long,
            "the line has 257 characters; commands are at most 256. Type \"help\" for the list of commands",
        ),
    ];
    for (line, want) in table {
        assert_eq!(&err(line), want, "{line:?}");
        assert!(
            want.contains("help"),
            "{line:?}: the message points to help"
        );
    }
}

#[test]
fn long_words_are_shortened_in_messages() {
    let word = "y".repeat(100);
    let msg = err(&word);
    assert!(msg.contains(&format!("\"{}…\"", "y".repeat(40))), "{msg}");
    assert!(!msg.contains(&"y".repeat(41)), "{msg}");
}

#[test]
fn host_names_at_the_limits() {
    let label63 = "a".repeat(63);
    assert!(ok(&format!("ping {label63}.test")).is_some());
    assert_eq!(
        parse(&format!("ping {}", "a".repeat(64))),
        Err(ParseError::BadHost {
            host: "a".repeat(64)
        })
    );
}

/// A small deterministic generator (xorshift) over an alphabet of the
/// characters that matter (command words, options, digits, dots, colons,
/// quotes, control characters, multi-byte letters).
#[test]
fn no_input_panics() {
    let pieces = [
        "ping",
        "-c",
        "help",
        "status",
        " ",
        "\t",
        "1",
        "0",
        "99",
        ".",
        ":",
        "-",
        "a",
        "é",
        "€",
        "\u{0}",
        "\u{7f}",
        "\u{1b}",
        "\"",
        ";",
        "::1",
        "reboot",
        "y",
        "\r",
        "\n",
        "\u{feff}",
        "4294967296",
        "-c-1",
        "unsupported",
        "ẞ",
    ];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut parsed = 0;
    let mut refused = 0;
    for _ in 0..20_000 {
        let n = (next() % 12) as usize;
        let line: String = (0..n)
            .map(|_| pieces[(next() % pieces.len() as u64) as usize])
            .collect();
        match parse(&line) {
            Ok(_) => parsed += 1,
            Err(e) => {
                refused += 1;
                assert!(e.to_string().contains("help"), "{line:?}: {e}");
            }
        }
    }
    assert!(
        parsed > 100 && refused > 100,
        "{parsed} parsed, {refused} refused"
    );
    // Every single byte value, alone and after a command word.
    for b in 0..=255u8 {
        let s = String::from_utf8_lossy(&[b]).into_owned();
        let _ = parse(&s);
        let _ = parse(&format!("ping {s}"));
        let _ = parse(&format!("help{s}"));
    }
}
