//! What a [`Command`] does, as data: an optional warning, an optional
//! yes/no question (the default is no), and one [`Action`]. Pure; the
//! executor ([`crate::exec`]) carries it out.

use crate::parse::{Command, Name};

/// A program with its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// An absolute path in the appliance.
    pub program: &'static str,
    /// Its arguments.
    pub args: Vec<String>,
}

impl Invocation {
    /// `program args…`.
    pub fn new(program: &'static str, args: &[&str]) -> Invocation {
        Invocation {
            program,
            args: args.iter().map(|a| a.to_string()).collect(),
        }
    }

    /// The command line as text (for messages).
    pub fn render(&self) -> String {
        std::iter::once(self.program.to_string())
            .chain(self.args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// iproute2's `ip`.
pub const IP: &str = "/usr/bin/ip";
/// iputils' `ping`.
pub const PING: &str = "/usr/bin/ping";
/// systemd's `systemctl`.
pub const SYSTEMCTL: &str = "/usr/bin/systemctl";
/// coreutils' `date` (local time in the configured zone).
pub const DATE: &str = "/usr/bin/date";
/// systemd's `journalctl`.
pub const JOURNALCTL: &str = "/usr/bin/journalctl";
/// util-linux's `logger` (a line in the journal).
pub const LOGGER: &str = "/usr/bin/logger";
/// The unsupported mode's shell.
pub const BASH: &str = "/bin/bash";
/// How long `ping` waits for each answer, in seconds.
pub const PING_WAIT_SECONDS: u32 = 2;

/// What the executor does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Prints the text.
    Print(String),
    /// Gathers the facts and prints the status.
    Status,
    /// Runs each program with its output on the terminal, under a heading.
    Run(Vec<(&'static str, Invocation)>),
    /// Gathers and writes the support file, prints its path and SHA-256.
    Support,
    /// Replaces the console with this program (the unsupported shell).
    Exec(Invocation),
    /// Leaves the console.
    Exit,
}

/// A command's plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Printed before the question.
    pub warning: Option<&'static str>,
    /// Asked before the action; anything but `y`/`yes` does nothing.
    pub confirm: Option<&'static str>,
    /// What happens.
    pub action: Action,
}

impl Plan {
    fn just(action: Action) -> Plan {
        Plan {
            warning: None,
            confirm: None,
            action,
        }
    }
}

/// The unsupported mode's warning, shown before the question.
pub const UNSUPPORTED_WARNING: &str = "\
WARNING: unsupported mode.
You are about to get a full root shell (bash). Changes made there are NOT
supported: the appliance's own configuration may overwrite them, an update
replaces the read-only root file system as a whole, and a mistake can leave
the appliance unreachable. Use it to repair what the web interface cannot
reach (for example a wrong address: `ip address add ADDRESS/PREFIX dev lan0`),
then make the setting permanent in the web interface. Type `exit` to leave
the shell; that also ends this login.";

/// `help`: the list of commands.
pub fn help_text() -> String {
    let mut out = String::from("Commands:\n");
    for n in Name::ALL {
        out.push_str(&format!("  {:<22} {}\n", usage(n), summary(n)));
    }
    out.push_str("Ctrl-D leaves the console too. \"help COMMAND\" describes one command.\n");
    out
}

/// How a command is typed.
pub fn usage(n: Name) -> &'static str {
    match n {
        Name::Help => "help [COMMAND]",
        Name::Status => "status",
        Name::Network => "network",
        Name::Ping => "ping [-c COUNT] HOST",
        Name::Reboot => "reboot",
        Name::Shutdown => "shutdown",
        Name::Support => "support",
        Name::Unsupported => "unsupported",
        Name::Exit => "exit",
    }
}

/// One line about a command.
pub fn summary(n: Name) -> &'static str {
    match n {
        Name::Help => "this list, or one command's description",
        Name::Status => "product, version, addresses, time, fingerprints, set-up",
        Name::Network => "interfaces, their link state and addresses, routes",
        Name::Ping => "send echo requests to a host",
        Name::Reboot => "restart the appliance (asks first)",
        Name::Shutdown => "power the appliance off (asks first)",
        Name::Support => "write a support file for the vendor",
        Name::Unsupported => "full root shell, unsupported (asks first)",
        Name::Exit => "leave the console (also quit, logout)",
    }
}

/// `help COMMAND`.
pub fn help_about(n: Name) -> String {
    let more = match n {
        Name::Help => "Without a command, lists all commands.",
        Name::Status => {
            "Shows the product and version, the host name, the addresses, the default \
             gateway, the name servers, the time and time zone, the TLS certificate's and \
             the SSH host keys' fingerprints, and whether the set-up is done."
        }
        Name::Network => "Runs `ip -brief link`, `ip -brief address` and `ip route`.",
        Name::Ping => {
            "Sends COUNT echo requests (default 4, at most 20) to HOST, an IPv4 or IPv6 \
             address or a host name, waiting up to 2 seconds for each answer. \
             Ctrl-C stops it early."
        }
        Name::Reboot => "Asks for confirmation, then restarts the appliance.",
        Name::Shutdown => {
            "Asks for confirmation, then powers the appliance off (also \"poweroff\")."
        }
        Name::Support => {
            "Writes a support file (a .tar.gz with the status, the network, this boot's \
             journal and the configuration without secrets) to /var/lib/appliance/support/ \
             and prints its path and SHA-256, to send to the vendor."
        }
        Name::Unsupported => {
            "Shows a warning, asks for confirmation, then starts a full root shell \
             (/bin/bash). Changes made there are not supported."
        }
        Name::Exit => "Leaves the console; Ctrl-D does the same.",
    };
    format!("{}\n  {}\n{more}\n", usage(n), summary(n))
}

/// The plan of a command.
pub fn plan(cmd: &Command) -> Plan {
    match cmd {
        Command::Help(None) => Plan::just(Action::Print(help_text())),
        Command::Help(Some(n)) => Plan::just(Action::Print(help_about(*n))),
        Command::Status => Plan::just(Action::Status),
        Command::Network => Plan::just(Action::Run(vec![
            ("Interfaces", Invocation::new(IP, &["-brief", "link"])),
            ("Addresses", Invocation::new(IP, &["-brief", "address"])),
            ("Routes", Invocation::new(IP, &["route"])),
        ])),
        Command::Ping { host, count } => {
            let count = count.to_string();
            let wait = PING_WAIT_SECONDS.to_string();
            Plan::just(Action::Run(vec![(
                "",
                // `--` and a host that never starts with `-` (parse): no option injection.
                Invocation::new(PING, &["-c", &count, "-W", &wait, "--", host]),
            )]))
        }
        Command::Reboot => Plan {
            warning: None,
            confirm: Some("Reboot the appliance now?"),
            action: Action::Run(vec![("", Invocation::new(SYSTEMCTL, &["reboot"]))]),
        },
        Command::Shutdown => Plan {
            warning: None,
            confirm: Some("Power the appliance off now?"),
            action: Action::Run(vec![("", Invocation::new(SYSTEMCTL, &["poweroff"]))]),
        },
        Command::Support => Plan::just(Action::Support),
        Command::Unsupported => Plan {
            warning: Some(UNSUPPORTED_WARNING),
            confirm: Some("Start the unsupported root shell?"),
            action: Action::Exec(Invocation::new(BASH, &["-l"])),
        },
        Command::Exit => Plan::just(Action::Exit),
    }
}

/// A notice in the journal (facility `auth`), tagged `appliance-shell`.
pub fn audit(message: &str) -> Invocation {
    Invocation::new(
        LOGGER,
        &[
            "--tag",
            "appliance-shell",
            "--priority",
            "auth.notice",
            "--",
            message,
        ],
    )
}

/// Whether an answer to a question is yes (`y` or `yes`, any case).
pub fn is_yes(answer: &str) -> bool {
    matches!(answer.trim().to_lowercase().as_str(), "y" | "yes")
}
