//! Step 5, RADIUS clients: "no configuration" or a list of clients (name,
//! address or subnet, shared secret, short name), and the `clients.conf`
//! they render to ([`render_clients_conf`], deterministic).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::{checkbox, shown, FieldError, Secret};

/// The most clients.
pub const MAX_CLIENTS: usize = 256;
/// Secrets shorter than this are refused.
pub const MIN_SECRET: usize = 8;
/// Secrets shorter than this get a warning.
pub const GOOD_SECRET: usize = 16;
/// Secrets longer than this get a warning (many NAS cut them).
pub const LONG_SECRET: usize = 64;
/// FreeRADIUS's limit.
pub const MAX_SECRET: usize = 8192;
/// The secret of FreeRADIUS's examples.
pub const EXAMPLE_SECRET: &str = "testing123";

/// One row of the clients table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientForm {
    /// Name (unique).
    pub name: String,
    /// IPv4/IPv6 address, optionally `/prefix`.
    pub address: String,
    /// Shared secret.
    pub secret: Secret,
    /// Optional short name.
    pub short_name: String,
    /// "Legacy NAS" checkbox: does not send Message-Authenticator.
    pub legacy: String,
}

impl ClientForm {
    fn is_blank(&self) -> bool {
        self.name.trim().is_empty()
            && self.address.trim().is_empty()
            && self.secret.expose().is_empty()
            && self.short_name.trim().is_empty()
    }
}

/// The RADIUS form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RadiusForm {
    /// "no configuration" checkbox.
    pub no_configuration: String,
    /// The table's rows (blank rows are ignored).
    pub clients: Vec<ClientForm>,
}

/// An address with prefix, host bits zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Subnet {
    /// The network address.
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix: u8,
}

impl Subnet {
    fn bits(&self) -> (u128, u8) {
        match self.addr {
            IpAddr::V4(a) => (u128::from(u32::from(a)) << 96, self.prefix),
            IpAddr::V6(a) => (u128::from(a), self.prefix),
        }
    }

    /// Whether the two networks share an address.
    pub fn overlaps(&self, other: &Subnet) -> bool {
        if self.addr.is_ipv4() != other.addr.is_ipv4() {
            return false;
        }
        let (a, pa) = self.bits();
        let (b, pb) = other.bits();
        // IPv4 sits in the top 32 bits, so both families compare the top
        // `min(prefix)` bits.
        let shift = 128 - u32::from(pa.min(pb));
        a.checked_shr(shift) == b.checked_shr(shift)
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// A valid client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    /// Name.
    pub name: String,
    /// Address or subnet.
    pub network: Subnet,
    /// Shared secret.
    pub secret: Secret,
    /// Short name.
    pub short_name: Option<String>,
    /// Legacy NAS: Message-Authenticator not required.
    pub legacy: bool,
}

/// A valid RADIUS step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RadiusClients {
    /// The clients, sorted by name; empty with "no configuration".
    pub clients: Vec<Client>,
    /// Things to show but not refuse (short secrets, wide or overlapping
    /// networks); shown when the form is sent, not stored.
    #[serde(skip)]
    pub warnings: Vec<FieldError>,
}

fn name_problem(name: &str) -> Option<&'static str> {
    let mut b = name.bytes();
    let first = b.next().is_some_and(|c| c.is_ascii_alphanumeric());
    if name.len() > 63 {
        Some("is longer than 63 characters")
    } else if !first || !b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-')) {
        Some("must start with a letter or digit and contain only letters, digits, _, . and -")
    } else {
        None
    }
}

fn parse_subnet(text: &str) -> Result<Subnet, String> {
    let (a, p) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let Ok(addr) = a.parse::<IpAddr>() else {
        return Err(
            "is not an IPv4 or IPv6 address (host names are not accepted): enter e.g. 192.0.2.10 or 192.0.2.0/24"
                .to_string(),
        );
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match p {
        None => max,
        Some(p) => match p.parse::<u8>() {
            Ok(n) if n <= max && p.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => {
                return Err(format!(
                    "has a prefix that is not a number from 1 to {max}: enter e.g. 192.0.2.0/24"
                ))
            }
        },
    };
    if prefix == 0 {
        return Err("would accept every host: enter the NAS's address or its subnet".to_string());
    }
    if addr.is_unspecified() || addr.is_multicast() || addr.is_loopback() {
        return Err("is not a unicast address: enter the NAS's own address or subnet".to_string());
    }
    let sub = Subnet { addr, prefix };
    let (bits, _) = sub.bits();
    let host = bits & u128::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
    if host != 0 {
        return Err(format!(
            "has host bits set: enter the network, {}",
            Subnet {
                addr: match addr {
                    IpAddr::V4(_) =>
                        IpAddr::V4(std::net::Ipv4Addr::from(((bits & !host) >> 96) as u32)),
                    IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::from(bits & !host)),
                },
                prefix
            }
        ));
    }
    Ok(sub)
}

/// Checks the RADIUS step.
pub fn validate(form: &RadiusForm) -> Result<RadiusClients, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let none = checkbox(
        "no_configuration",
        "\"no configuration\"",
        &form.no_configuration,
        &mut errors,
    );
    let rows: Vec<(usize, &ClientForm)> = form
        .clients
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.is_blank())
        .collect();
    if none {
        if !rows.is_empty() {
            errors.push(FieldError::new(
                "no_configuration",
                "\"no configuration\" is ticked but clients are listed: untick it or remove the clients",
            ));
        }
        return if errors.is_empty() {
            Ok(RadiusClients {
                clients: Vec::new(),
                warnings,
            })
        } else {
            Err(errors)
        };
    }
    if rows.is_empty() && errors.is_empty() {
        errors.push(FieldError::new(
            "clients",
            "RADIUS clients: add at least one client, or tick \"no configuration\"",
        ));
    }
    if rows.len() > MAX_CLIENTS {
        errors.push(FieldError::new(
            "clients",
            format!(
                "RADIUS clients lists {} clients: at most {MAX_CLIENTS} are accepted",
                rows.len()
            ),
        ));
        return Err(errors);
    }
    let mut clients: Vec<Client> = Vec::new();
    for (row, c) in rows {
        let n = row + 1;
        let before = errors.len();
        let name = c.name.trim();
        if name.is_empty() {
            errors.push(FieldError::in_row(
                "name",
                row,
                format!("Client {n}: name is required, e.g. vpn-gateway"),
            ));
        } else if let Some(p) = name_problem(name) {
            errors.push(FieldError::in_row(
                "name",
                row,
                format!("Client {n}: name {} {p}", shown(name)),
            ));
        } else if clients.iter().any(|o| o.name.eq_ignore_ascii_case(name)) {
            errors.push(FieldError::in_row("name", row, format!("Client {n}: name {name} is already used (names are compared without case): choose another")));
        }
        let address = c.address.trim();
        let mut network = None;
        if address.is_empty() {
            errors.push(FieldError::in_row("address", row, format!("Client {n}: address is required: enter the NAS's IP address or its subnet, e.g. 192.0.2.0/24")));
        } else {
            match parse_subnet(address) {
                Err(m) => errors.push(FieldError::in_row(
                    "address",
                    row,
                    format!("Client {n}: address {} {m}", shown(address)),
                )),
                Ok(s) => {
                    if let Some(o) = clients.iter().find(|o| o.network == s) {
                        errors.push(FieldError::in_row(
                            "address",
                            row,
                            format!(
                                "Client {n}: address {s} is already client {}'s: each network once",
                                o.name
                            ),
                        ));
                    } else {
                        if let Some(o) = clients.iter().find(|o| o.network.overlaps(&s)) {
                            warnings.push(FieldError::in_row("address", row, format!("Client {n}: address {s} overlaps client {}'s {}; the most specific network wins", o.name, o.network)));
                        }
                        if (s.addr.is_ipv4() && s.prefix < 24)
                            || (s.addr.is_ipv6() && s.prefix < 64)
                        {
                            warnings.push(FieldError::in_row("address", row, format!("Client {n}: address {s} is a large network: every host in it may send requests with this secret")));
                        }
                        network = Some(s);
                    }
                }
            }
        }
        let secret = c.secret.expose();
        let len = secret.chars().count();
        if secret.is_empty() {
            errors.push(FieldError::in_row("secret", row, format!("Client {n}: secret is required: at least {GOOD_SECRET} random characters (letters, digits, punctuation)")));
        } else if let Some(bad) = secret
            .chars()
            .find(|ch| !('\u{21}'..='\u{7e}').contains(ch))
        {
            let what = if bad == ' ' {
                "a space".to_string()
            } else if bad.is_control() {
                "a control character".to_string()
            } else {
                format!("the character {}", shown(&bad.to_string()))
            };
            errors.push(FieldError::in_row(
                "secret",
                row,
                format!("Client {n}: secret contains {what}: use printable ASCII without spaces"),
            ));
        } else if len < MIN_SECRET {
            errors.push(FieldError::in_row("secret", row, format!("Client {n}: secret has {len} characters: use at least {MIN_SECRET}, better {GOOD_SECRET} or more")));
        } else if len > MAX_SECRET {
            errors.push(FieldError::in_row(
                "secret",
                row,
                format!("Client {n}: secret is longer than {MAX_SECRET} characters: use {GOOD_SECRET} to {LONG_SECRET}"),
            ));
        } else if secret == EXAMPLE_SECRET {
            errors.push(FieldError::in_row(
                "secret",
                row,
                format!("Client {n}: secret is the well-known example secret: choose a random one"),
            ));
        } else if len < GOOD_SECRET {
            warnings.push(FieldError::in_row("secret", row, format!("Client {n}: secret has only {len} characters; {GOOD_SECRET} or more are recommended")));
        } else if len > LONG_SECRET {
            warnings.push(FieldError::in_row("secret", row, format!("Client {n}: secret has {len} characters; some NAS accept at most {LONG_SECRET}")));
        }
        let short = c.short_name.trim();
        if !short.is_empty() {
            if let Some(p) = name_problem(short) {
                errors.push(FieldError::in_row(
                    "short_name",
                    row,
                    format!("Client {n}: short name {} {p}", shown(short)),
                ));
            }
        }
        let unread = errors.len();
        let legacy = checkbox("legacy", "\"Legacy NAS\"", &c.legacy, &mut errors);
        for e in &mut errors[unread..] {
            e.row = Some(row);
        }
        if errors.len() == before {
            if let Some(network) = network {
                clients.push(Client {
                    name: name.to_string(),
                    network,
                    secret: c.secret.clone(),
                    short_name: (!short.is_empty()).then(|| short.to_string()),
                    legacy,
                });
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    clients.sort_by(|a, b| {
        a.name
            .to_ascii_lowercase()
            .cmp(&b.name.to_ascii_lowercase())
    });
    Ok(RadiusClients { clients, warnings })
}

/// `secret` in double quotes with `\` and `"` escaped.
fn quoted(secret: &str) -> String {
    let mut out = String::from("\"");
    for c in secret.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// FreeRADIUS's `clients.conf` for `clients` (sorted by name; the same input
/// gives the same bytes).
pub fn render_clients_conf(clients: &RadiusClients) -> String {
    let mut out = String::from(
        "# RADIUS clients, written by the appliance's setup wizard.\n# Change them in the appliance's web interface; edits here are replaced.\n",
    );
    if clients.clients.is_empty() {
        out.push_str("# No clients: every RADIUS request is refused.\n");
    }
    let mut sorted: Vec<&Client> = clients.clients.iter().collect();
    sorted.sort_by(|a, b| {
        a.name
            .to_ascii_lowercase()
            .cmp(&b.name.to_ascii_lowercase())
            .then(a.name.cmp(&b.name))
    });
    for c in sorted {
        let key = if c.network.addr.is_ipv4() {
            "ipaddr"
        } else {
            "ipv6addr"
        };
        out.push_str(&format!("\nclient {} {{\n", c.name));
        out.push_str(&format!("\t{key} = {}\n", c.network));
        out.push_str(&format!("\tsecret = {}\n", quoted(c.secret.expose())));
        if let Some(s) = &c.short_name {
            out.push_str(&format!("\tshortname = {s}\n"));
        }
        let rma = if c.legacy { "no" } else { "yes" };
        out.push_str(&format!("\trequire_message_authenticator = {rma}\n}}\n"));
    }
    out
}
