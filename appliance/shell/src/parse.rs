//! The console's command line, parsed: one line of text in, one
//! [`Command`] (or nothing, for an empty line) or a [`ParseError`] out.
//! Pure and total: any input, however long or strange, gives a value and
//! never a panic, and every error says what was wrong and points to `help`.

use std::fmt;
use std::net::IpAddr;

/// The longest line read, in characters.
pub const MAX_LINE: usize = 256;
/// How many echo requests `ping` sends when no `-c` is given.
pub const DEFAULT_PINGS: u32 = 4;
/// The most echo requests one `ping` may send.
pub const MAX_PINGS: u32 = 20;

/// A command of the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// The list of commands, or one command's description.
    Help(Option<Name>),
    /// Product, version, host name, addresses, time, fingerprints, set-up.
    Status,
    /// Interfaces, their link state and addresses, routes.
    Network,
    /// Echo requests to a host.
    Ping {
        /// An IPv4 or IPv6 address or a host name (checked; never starts
        /// with `-`, so it cannot be taken for an option).
        host: String,
        /// 1 to [`MAX_PINGS`].
        count: u32,
    },
    /// Restart the appliance (asks first).
    Reboot,
    /// Power the appliance off (asks first).
    Shutdown,
    /// Write a support file.
    Support,
    /// A full root shell after a warning (asks first).
    Unsupported,
    /// Leave the console.
    Exit,
}

/// The commands' names, in the order `help` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Name {
    Help,
    Status,
    Network,
    Ping,
    Reboot,
    Shutdown,
    Support,
    Unsupported,
    Exit,
}

impl Name {
    /// Every command, in `help`'s order.
    pub const ALL: [Name; 9] = [
        Name::Status,
        Name::Network,
        Name::Ping,
        Name::Support,
        Name::Reboot,
        Name::Shutdown,
        Name::Unsupported,
        Name::Help,
        Name::Exit,
    ];

    /// The word that runs it.
    pub fn word(self) -> &'static str {
        match self {
            Name::Help => "help",
            Name::Status => "status",
            Name::Network => "network",
            Name::Ping => "ping",
            Name::Reboot => "reboot",
            Name::Shutdown => "shutdown",
            Name::Support => "support",
            Name::Unsupported => "unsupported",
            Name::Exit => "exit",
        }
    }

    /// The name for a typed word (lower case), with the aliases
    /// `?` (help), `poweroff` (shutdown), `quit` and `logout` (exit).
    pub fn from_word(word: &str) -> Option<Name> {
        Some(match word {
            "help" | "?" => Name::Help,
            "status" => Name::Status,
            "network" => Name::Network,
            "ping" => Name::Ping,
            "reboot" => Name::Reboot,
            "shutdown" | "poweroff" => Name::Shutdown,
            "support" => Name::Support,
            "unsupported" => Name::Unsupported,
            "exit" | "quit" | "logout" => Name::Exit,
            _ => return None,
        })
    }
}

/// Why a line is not a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Longer than [`MAX_LINE`] characters.
    TooLong { chars: usize },
    /// A control character (other than space and tab) at a 1-based column.
    Control { column: usize },
    /// The first word is no command; with the nearest command, if any.
    Unknown {
        word: String,
        suggestion: Option<&'static str>,
    },
    /// A command that takes no arguments got one.
    Extra { command: Name, arg: String },
    /// `help` about something that is not a command.
    HelpTopic { word: String },
    /// `help` with more than one word after it.
    HelpExtra { arg: String },
    /// `ping` without a host.
    MissingHost,
    /// `ping` with more than one host.
    SecondHost { host: String },
    /// `ping` with a host that is neither an address nor a host name.
    BadHost { host: String },
    /// `ping -c` without a number from 1 to [`MAX_PINGS`].
    BadCount { value: Option<String> },
    /// An option `ping` does not take.
    PingOption { option: String },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::TooLong { chars } => write!(
                f,
                "the line has {chars} characters; commands are at most {MAX_LINE}. Type \"help\" for the list of commands"
            ),
            ParseError::Control { column } => write!(
                f,
                "the line has a control character at column {column}; type a command such as \"help\""
            ),
            ParseError::Unknown { word, suggestion } => {
                write!(f, "unknown command {:?}", shown(word))?;
                match suggestion {
                    Some(s) => write!(f, "; did you mean \"{s}\"? Type")?,
                    None => write!(f, "; type")?,
                }
                write!(f, " \"help\" for the list of commands")
            }
            ParseError::Extra { command, arg } => write!(
                f,
                "\"{}\" takes no arguments (got {:?}); type \"help {}\"",
                command.word(),
                shown(arg),
                command.word()
            ),
            ParseError::HelpTopic { word } => write!(
                f,
                "help: there is no command {:?}; type \"help\" for the list of commands",
                shown(word)
            ),
            ParseError::HelpExtra { arg } => write!(
                f,
                "\"help\" takes one command at most (got also {:?}); type \"help\" for the list of commands",
                shown(arg)
            ),
            ParseError::MissingHost => write!(
                f,
                "ping needs a host: \"ping HOST\" or \"ping -c COUNT HOST\"; type \"help ping\""
            ),
            ParseError::SecondHost { host } => write!(
                f,
                "ping takes one host (got also {:?}); type \"help ping\"",
                shown(host)
            ),
            ParseError::BadHost { host } => write!(
                f,
                "ping: {:?} is not an IPv4 or IPv6 address or a host name (labels of letters, digits and inner hyphens, separated by dots); type \"help ping\"",
                shown(host)
            ),
            ParseError::BadCount { value: None } => write!(
                f,
                "ping: -c needs a count from 1 to {MAX_PINGS}, e.g. \"ping -c 3 HOST\"; type \"help ping\""
            ),
            ParseError::BadCount { value: Some(v) } => write!(
                f,
                "ping: the count must be a number from 1 to {MAX_PINGS} (got {:?}); type \"help ping\"",
                shown(v)
            ),
            ParseError::PingOption { option } => write!(
                f,
                "ping: unknown option {:?}; only -c COUNT is accepted; type \"help ping\"",
                shown(option)
            ),
        }
    }
}

impl std::error::Error for ParseError {}

/// A word as an error message quotes it: at most 40 characters.
fn shown(word: &str) -> String {
    const MAX: usize = 40;
    if word.chars().count() <= MAX {
        word.to_string()
    } else {
        let mut s: String = word.chars().take(MAX).collect();
        s.push('…');
        s
    }
}

/// Parses one line. `Ok(None)` for an empty (or blank) line.
pub fn parse(line: &str) -> Result<Option<Command>, ParseError> {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    let chars = line.chars().count();
    if chars > MAX_LINE {
        return Err(ParseError::TooLong { chars });
    }
    if let Some(i) = line
        .chars()
        .position(|c| c.is_control() && c != ' ' && c != '\t')
    {
        return Err(ParseError::Control { column: i + 1 });
    }
    let mut words = line.split_whitespace();
    let Some(first) = words.next() else {
        return Ok(None);
    };
    let word = first.to_lowercase();
    let Some(name) = Name::from_word(&word) else {
        return Err(ParseError::Unknown {
            suggestion: suggest(&word),
            word: first.to_string(),
        });
    };
    let rest: Vec<&str> = words.collect();
    let cmd = match name {
        Name::Help => match rest.as_slice() {
            [] => Command::Help(None),
            [topic] => match Name::from_word(&topic.to_lowercase()) {
                Some(n) => Command::Help(Some(n)),
                None => {
                    return Err(ParseError::HelpTopic {
                        word: topic.to_string(),
                    })
                }
            },
            [_, extra, ..] => {
                return Err(ParseError::HelpExtra {
                    arg: extra.to_string(),
                })
            }
        },
        Name::Ping => ping(&rest)?,
        other => {
            if let Some(arg) = rest.first() {
                return Err(ParseError::Extra {
                    command: other,
                    arg: arg.to_string(),
                });
            }
            match other {
                Name::Status => Command::Status,
                Name::Network => Command::Network,
                Name::Reboot => Command::Reboot,
                Name::Shutdown => Command::Shutdown,
                Name::Support => Command::Support,
                Name::Unsupported => Command::Unsupported,
                // Help and Ping are handled above.
                Name::Exit | Name::Help | Name::Ping => Command::Exit,
            }
        }
    };
    Ok(Some(cmd))
}

/// `ping [-c COUNT] HOST` (the option before or after the host).
fn ping(args: &[&str]) -> Result<Command, ParseError> {
    let mut count = None;
    let mut host: Option<&str> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if *a == "-c" {
            let value = it.next().ok_or(ParseError::BadCount { value: None })?;
            count = Some(parse_count(value)?);
        } else if let Some(v) = a.strip_prefix("-c").filter(|v| !v.is_empty()) {
            count = Some(parse_count(v)?);
        } else if a.starts_with('-') {
            return Err(ParseError::PingOption {
                option: a.to_string(),
            });
        } else if host.is_some() {
            return Err(ParseError::SecondHost {
                host: a.to_string(),
            });
        } else {
            host = Some(a);
        }
    }
    let host = host.ok_or(ParseError::MissingHost)?;
    if !valid_host(host) {
        return Err(ParseError::BadHost {
            host: host.to_string(),
        });
    }
    Ok(Command::Ping {
        host: host.to_string(),
        count: count.unwrap_or(DEFAULT_PINGS),
    })
}

fn parse_count(value: &str) -> Result<u32, ParseError> {
    match value.parse::<u32>() {
        Ok(n) if (1..=MAX_PINGS).contains(&n) => Ok(n),
        _ => Err(ParseError::BadCount {
            value: Some(value.to_string()),
        }),
    }
}

/// An IP address, or an RFC 1123 host name: at most 253 characters, labels
/// of 1 to 63 letters, digits and inner hyphens, an optional final dot.
/// All-numeric names that are not addresses (`1.2.3`) are refused.
pub fn valid_host(host: &str) -> bool {
    if host.parse::<IpAddr>().is_ok() {
        return true;
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.is_empty() || name.len() > 253 {
        return false;
    }
    let labels_ok = name.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    });
    let numeric = name.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    labels_ok && !numeric
}

/// The command nearest to a mistyped word: a command it is a prefix of
/// (`stat`), or one at most two edits away (`stauts`).
fn suggest(word: &str) -> Option<&'static str> {
    if word.is_empty() {
        return None;
    }
    let words = Name::ALL.map(Name::word);
    if let Some(w) = words.iter().find(|w| w.starts_with(word)) {
        return Some(w);
    }
    words
        .iter()
        .map(|w| (distance(word, w), *w))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, w)| w)
}

/// Levenshtein distance, by characters (inputs are at most [`MAX_LINE`]).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}
