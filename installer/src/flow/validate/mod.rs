//! The validators every way of entering values shares: the interactive
//! screens, answer files and `installer validate-answers` call these same
//! functions, so a value is refused with the same words everywhere.
//!
//! Each validator takes the text as typed (or as written in the answer file),
//! trims it, and returns the typed value or an [`InputError`] whose message is
//! shown as is (interactively) or after the key path (answer files).

mod ip;
mod names;

pub use ip::{
    address, dns_servers, gateway, netmask, parse_ipv4, split_list, subnet, AddressInput,
};
pub use names::{domain, hostname, search_domains};

/// Lowest prefix length accepted for the appliance's address.
pub const MIN_PREFIX: u8 = 8;
/// Highest prefix length accepted (a /31 or /32 leaves no room for a gateway).
pub const MAX_PREFIX: u8 = 30;
/// Most DNS servers `/etc/resolv.conf` uses.
pub const MAX_DNS: usize = 3;
/// Most search domains accepted.
pub const MAX_SEARCH: usize = 6;
/// Longest hostname label (RFC 1123).
pub const MAX_LABEL: usize = 63;
/// Longest domain name (RFC 1035, without the trailing dot).
pub const MAX_DOMAIN: usize = 253;

/// Why a typed value was refused. The `Display` text is the exact message
/// shown to the user (and written after the key path for answer files).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// No address was entered.
    #[error("the IPv4 address is required")]
    AddressRequired,
    /// No netmask was entered.
    #[error("the netmask is required")]
    NetmaskRequired,
    /// No gateway was entered.
    #[error("the default gateway is required; type none if this network has no gateway")]
    GatewayRequired,
    /// No DNS server was entered.
    #[error("at least one DNS server is required")]
    DnsRequired,
    /// No hostname was entered.
    #[error("the hostname is required")]
    HostnameRequired,
    /// The text is not shaped like an IPv4 address at all.
    #[error("\"{input}\" is not an IPv4 address (four numbers from 0 to 255 separated by dots, e.g. 192.0.2.10)")]
    NotIpv4 {
        /// What was typed.
        input: String,
    },
    /// The text has the wrong number of dot-separated numbers.
    #[error("{input} is not an IPv4 address: it has {parts} {}, an IPv4 address has 4", if *parts == 1 { "part" } else { "parts" })]
    PartCount {
        /// What was typed.
        input: String,
        /// How many parts it has.
        parts: usize,
    },
    /// Two dots in a row, or a dot at the start or end.
    #[error("{input} is not an IPv4 address: it has an empty part")]
    EmptyPart {
        /// What was typed.
        input: String,
    },
    /// One part is not a number.
    #[error("{input} is not an IPv4 address: \"{part}\" is not a number")]
    PartNotNumber {
        /// What was typed.
        input: String,
        /// The offending part.
        part: String,
    },
    /// One part is above 255.
    #[error("{input} is not an IPv4 address: {part} is greater than 255")]
    PartTooLarge {
        /// What was typed.
        input: String,
        /// The offending part.
        part: String,
    },
    /// One part has a leading zero (some tools read those as octal).
    #[error("{input} is not an IPv4 address: {part} has a leading zero")]
    PartLeadingZero {
        /// What was typed.
        input: String,
        /// The offending part.
        part: String,
    },
    /// The text after `/` is not a number.
    #[error("\"{input}\" after the / is not a prefix length; use a number from /8 to /30")]
    PrefixNotNumber {
        /// The text after the slash.
        input: String,
    },
    /// The prefix length is outside the accepted range.
    #[error("/{prefix} is not allowed: the prefix length must be from /8 to /30")]
    PrefixRange {
        /// The prefix length given.
        prefix: u32,
    },
    /// An answer file gave an address without a prefix length.
    #[error("{input} has no prefix length; write it like 192.0.2.10/24")]
    PrefixMissing {
        /// The address as written.
        input: String,
    },
    /// The netmask's one-bits are not contiguous.
    #[error(
        "{input} is not a valid netmask: its one-bits must be contiguous (e.g. 255.255.255.0)"
    )]
    NetmaskNotContiguous {
        /// The netmask as typed.
        input: String,
    },
    /// The netmask is valid but outside the accepted range.
    #[error(
        "netmask {input} (/{prefix}) is not allowed: use 255.0.0.0 (/8) to 255.255.255.252 (/30)"
    )]
    NetmaskRange {
        /// The netmask as typed.
        input: String,
        /// Its prefix length.
        prefix: u8,
    },
    /// The address is the network address of its subnet.
    #[error("{addr} is the network address of {net}; choose a host address")]
    NetworkAddress {
        /// The address.
        addr: String,
        /// The subnet, e.g. `192.0.2.0/24`.
        net: String,
    },
    /// The address is the broadcast address of its subnet.
    #[error("{addr} is the broadcast address of {net}; choose a host address")]
    BroadcastAddress {
        /// The address.
        addr: String,
        /// The subnet, e.g. `192.0.2.0/24`.
        net: String,
    },
    /// The address belongs to a range a host cannot use here.
    #[error("{addr} is {kind} address and cannot be used here")]
    Unusable {
        /// The address.
        addr: String,
        /// e.g. `a loopback`, `a multicast`.
        kind: &'static str,
    },
    /// The gateway is not inside the appliance's subnet.
    #[error("{gateway} is outside {net}")]
    GatewayOutside {
        /// The gateway.
        gateway: String,
        /// The subnet, e.g. `192.0.2.0/24`.
        net: String,
    },
    /// The gateway is the appliance's own address.
    #[error("{gateway} is this appliance's own address; enter the router's address")]
    GatewayIsSelf {
        /// The gateway.
        gateway: String,
    },
    /// The gateway was typed with a prefix length.
    #[error("{input} has a prefix length; enter the gateway as a plain address, e.g. 192.0.2.1")]
    GatewayWithPrefix {
        /// What was typed.
        input: String,
    },
    /// More DNS servers than [`MAX_DNS`].
    #[error("at most 3 DNS servers are allowed, {count} were given")]
    TooManyDns {
        /// How many were given.
        count: usize,
    },
    /// More search domains than [`MAX_SEARCH`].
    #[error("at most 6 search domains are allowed, {count} were given")]
    TooManySearch {
        /// How many were given.
        count: usize,
    },
    /// The same entry appears twice in a list.
    #[error("{item} is listed twice")]
    Duplicate {
        /// The repeated entry.
        item: String,
    },
    /// The hostname contains dots: a domain name was typed.
    #[error("\"{input}\" contains dots; enter only the host name (\"{first}\"), the domain is set separately")]
    HostnameHasDots {
        /// What was typed.
        input: String,
        /// The part before the first dot.
        first: String,
    },
    /// The hostname is longer than [`MAX_LABEL`].
    #[error("the hostname has {len} characters; at most 63 are allowed")]
    HostnameTooLong {
        /// Its length.
        len: usize,
    },
    /// A character outside a-z, 0-9 and `-`.
    #[error("\"{input}\" contains \"{}\"; only letters a-z, digits and hyphens are allowed", shown(&ch.to_string()))]
    BadChar {
        /// What was typed.
        input: String,
        /// The first offending character.
        ch: char,
    },
    /// A name or label starts with a hyphen.
    #[error("\"{label}\" starts with a hyphen")]
    LeadingHyphen {
        /// The label.
        label: String,
    },
    /// A name or label ends with a hyphen.
    #[error("\"{label}\" ends with a hyphen")]
    TrailingHyphen {
        /// The label.
        label: String,
    },
    /// The hostname is all digits (it would look like a number or address).
    #[error("\"{input}\" is all digits; a hostname needs at least one letter")]
    HostnameAllDigits {
        /// What was typed.
        input: String,
    },
    /// A domain has two dots in a row, or starts with a dot.
    #[error("\"{input}\" has an empty label (two dots in a row, or a dot at the start)")]
    EmptyLabel {
        /// The domain.
        input: String,
    },
    /// A domain label is longer than [`MAX_LABEL`].
    #[error("the label \"{label}\" has {len} characters; at most 63 are allowed")]
    LabelTooLong {
        /// The label (shortened for display).
        label: String,
        /// Its length.
        len: usize,
    },
    /// A domain is longer than [`MAX_DOMAIN`].
    #[error("the domain has {len} characters; at most 253 are allowed")]
    DomainTooLong {
        /// Its length.
        len: usize,
    },
    /// The last label of a domain is all digits.
    #[error("\"{input}\" ends in \"{label}\", which is all digits; the last label needs a letter")]
    TopLabelAllDigits {
        /// The domain.
        input: String,
        /// The last label.
        label: String,
    },
    /// Nothing was typed at a choice prompt.
    #[error("nothing typed; {expected}")]
    NothingTyped {
        /// What to type, e.g. `type y or n and press Enter`.
        expected: &'static str,
    },
    /// The text is not one of the choices.
    #[error("\"{input}\" is not a choice here; {expected}")]
    NotAChoice {
        /// What was typed.
        input: String,
        /// What to type.
        expected: &'static str,
    },
    /// The text is neither a list number nor a name in the list.
    #[error("\"{input}\" is not in the list; type a number from 1 to {count} or {what}")]
    NotInList {
        /// What was typed.
        input: String,
        /// How many entries the list has.
        count: usize,
        /// The other accepted form, e.g. `an adapter name`.
        what: &'static str,
    },
    /// Not a serial number (format or check symbol).
    #[error(transparent)]
    Serial(#[from] vendor_repo::serial::SerialError),
}

/// An error in a list of values; answer files name the entry as `key[index]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListError {
    /// The entry at fault, or `None` for the list as a whole (empty, too long).
    pub index: Option<usize>,
    /// Why.
    pub error: InputError,
}

impl ListError {
    /// An error about the whole list.
    pub fn whole(error: InputError) -> Self {
        ListError { index: None, error }
    }

    /// An error about entry `index`.
    pub fn at(index: usize, error: InputError) -> Self {
        ListError {
            index: Some(index),
            error,
        }
    }
}

/// The longest input echoed back in a message; longer text is cut.
pub const SHOWN_MAX: usize = 40;

/// The input as echoed in messages: at most [`SHOWN_MAX`] characters, then
/// `...`; control characters escaped (`\u{1b}`), so nothing typed or read
/// from a file moves the cursor or recolours the console when shown.
pub fn shown(input: &str) -> String {
    let mut s = String::new();
    for (i, c) in input.chars().enumerate() {
        if i == SHOWN_MAX {
            s.push_str("...");
            break;
        }
        if c.is_control() {
            s.extend(c.escape_unicode());
        } else {
            s.push(c);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_inputs_are_cut_when_shown() {
        assert_eq!(shown("abc"), "abc");
        let long = "x".repeat(50);
        assert_eq!(shown(&long), format!("{}...", "x".repeat(40)));
        assert_eq!(shown(&"x".repeat(40)), "x".repeat(40));
    }

    #[test]
    fn control_characters_are_escaped_when_shown() {
        // An escape sequence typed or read from a file must not reach the
        // console as one.
        assert_eq!(shown("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(shown("web\u{7}"), "web\\u{7}");
        assert_eq!(
            InputError::BadChar {
                input: shown("web\u{7}"),
                ch: '\u{7}'
            }
            .to_string(),
            "\"web\\u{7}\" contains \"\\u{7}\"; only letters a-z, digits and hyphens are allowed"
        );
    }

    #[test]
    fn a_single_part_is_not_called_parts() {
        let one = InputError::PartCount {
            input: "1111".into(),
            parts: 1,
        };
        assert_eq!(
            one.to_string(),
            "1111 is not an IPv4 address: it has 1 part, an IPv4 address has 4"
        );
    }

    #[test]
    fn messages_start_lowercase_or_with_the_value() {
        let samples = [
            InputError::AddressRequired.to_string(),
            InputError::GatewayRequired.to_string(),
            InputError::TooManyDns { count: 4 }.to_string(),
            InputError::NothingTyped {
                expected: "type y or n and press Enter",
            }
            .to_string(),
        ];
        for m in samples {
            let first = m.chars().next().unwrap();
            assert!(!first.is_uppercase(), "{m}");
            assert!(!m.ends_with('.'), "{m}");
        }
    }
}
