//! Checks of an answer file's values: on their own (host CLI and at parse
//! time), against the machine (adapters, shipped layouts), and for
//! completeness when nobody can be asked.

use super::{AnswerFile, KeyError, Mode, NetworkAnswers, VERSION};
use crate::flow::validate::{self, AddressInput, ListError};
use crate::keyboard::Layout;
use crate::net::{Interface, Ipv4Cidr};

/// The longest interface name Linux accepts (IFNAMSIZ - 1).
const MAX_IFNAME: usize = 15;

/// Converts a list error into key errors at `key` or `key[index]`.
fn list_error(key: &str, e: ListError) -> KeyError {
    match e.index {
        Some(i) => KeyError::new(format!("{key}[{i}]"), e.error.to_string()),
        None => KeyError::new(key, e.error.to_string()),
    }
}

/// Checks every value with the interactive validators; returns all problems.
pub fn check_values(file: &AnswerFile) -> Vec<KeyError> {
    let mut errors = Vec::new();
    if file.version != VERSION {
        errors.push(KeyError::new(
            "version",
            format!(
                "{} is not supported; this installer reads version {VERSION}",
                file.version
            ),
        ));
    }
    if let Some(n) = &file.network {
        check_network(n, &mut errors);
    }
    if let Some(s) = &file.serial {
        if let Err(e) = vendor_repo::Serial::parse(s.expose()) {
            errors.push(KeyError::new("serial", e.to_string()));
        }
    }
    if let Some(k) = &file.keyboard {
        let ok = !k.is_empty()
            && k.len() <= 32
            && k.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !ok {
            errors.push(KeyError::new(
                "keyboard",
                format!(
                    "\"{}\" is not a layout code (lower-case letters, digits and -, e.g. de)",
                    validate::shown(k)
                ),
            ));
        }
    }
    errors
}

fn check_network(n: &NetworkAnswers, errors: &mut Vec<KeyError>) {
    let manual_keys: Vec<&str> = [
        ("network.address", n.address.is_some()),
        ("network.gateway", n.gateway.is_some()),
        ("network.dns", n.dns.is_some()),
    ]
    .iter()
    .filter(|(_, present)| *present)
    .map(|(k, _)| *k)
    .collect();
    match n.mode {
        None if !manual_keys.is_empty() => errors.push(KeyError::new(
            "network.mode",
            format!(
                "this key is required when {} is given",
                manual_keys.join(", ")
            ),
        )),
        Some(Mode::Dhcp) => {
            for k in &manual_keys {
                errors.push(KeyError::new(
                    *k,
                    "only allowed with \"mode\": \"manual\" (DHCP provides it)",
                ));
            }
        }
        _ => {}
    }
    if let Some(i) = &n.interface {
        let ok = !i.is_empty()
            && i.len() <= MAX_IFNAME
            && !i.contains(|c: char| c == '/' || c == ':' || c.is_whitespace() || c.is_control());
        if !ok {
            errors.push(KeyError::new(
                "network.interface",
                format!("\"{}\" is not an interface name", validate::shown(i)),
            ));
        }
    }
    let mut cidr: Option<Ipv4Cidr> = None;
    if let Some(a) = &n.address {
        match validate::address(a) {
            Ok(AddressInput::Cidr(c)) => cidr = Some(c),
            Ok(AddressInput::Bare(_)) => errors.push(KeyError::new(
                "network.address",
                validate::InputError::PrefixMissing {
                    input: validate::shown(a.trim()),
                }
                .to_string(),
            )),
            Err(e) => errors.push(KeyError::new("network.address", e.to_string())),
        }
    }
    if let Some(g) = &n.gateway {
        let result = match &cidr {
            Some(c) => validate::gateway(g, c).map(|_| ()),
            // Without a valid address only the form can be checked.
            None if g.trim().eq_ignore_ascii_case("none") => Ok(()),
            None if g.trim().is_empty() => Err(validate::InputError::GatewayRequired),
            None => validate::parse_ipv4(g).map(|_| ()),
        };
        if let Err(e) = result {
            errors.push(KeyError::new("network.gateway", e.to_string()));
        }
    }
    if let Some(d) = &n.dns {
        let items: Vec<&str> = d.iter().map(String::as_str).collect();
        if let Err(e) = validate::dns_servers(&items) {
            errors.push(list_error("network.dns", e));
        }
    }
    if let Some(h) = &n.hostname {
        if let Err(e) = validate::hostname(h) {
            errors.push(KeyError::new("network.hostname", e.to_string()));
        }
    }
    if let Some(d) = &n.domain {
        if let Err(e) = validate::domain(d) {
            errors.push(KeyError::new("network.domain", e.to_string()));
        }
    }
    if let Some(s) = &n.search {
        let items: Vec<&str> = s.iter().map(String::as_str).collect();
        if let Err(e) = validate::search_domains(&items) {
            errors.push(list_error("network.search", e));
        }
    }
}

/// Checks the file against this machine: the named adapter exists and the
/// layout ships with this installer.
pub fn check_environment(
    file: &AnswerFile,
    interfaces: &[Interface],
    layouts: &[Layout],
) -> Vec<KeyError> {
    let mut errors = Vec::new();
    let named = file.network.as_ref().and_then(|n| n.interface.as_ref());
    if let Some(name) = named {
        if !interfaces.iter().any(|i| &i.name == name) {
            let have: Vec<&str> = interfaces.iter().map(|i| i.name.as_str()).collect();
            let list = if have.is_empty() {
                "no network adapter was found".to_string()
            } else {
                format!("adapters: {}", have.join(", "))
            };
            errors.push(KeyError::new(
                "network.interface",
                format!("{name} does not exist; {list}"),
            ));
        }
    }
    if let Some(code) = &file.keyboard {
        if !layouts.is_empty() && !layouts.iter().any(|l| &l.code == code) {
            let codes: Vec<&str> = layouts.iter().map(|l| l.code.as_str()).collect();
            errors.push(KeyError::new(
                "keyboard",
                format!(
                    "\"{code}\" is not a layout of this installer; layouts: {}",
                    codes.join(", ")
                ),
            ));
        }
    }
    errors
}

/// The keys an unattended run needs but the file lacks: `network.mode`; for
/// manual mode the address, gateway, DNS servers and hostname; the interface
/// when there are several adapters; the serial number. Optional keys (domain, search, keyboard,
/// finish) have defaults and are never listed.
pub fn unattended_gaps(file: &AnswerFile, interfaces: &[Interface]) -> Vec<String> {
    let mut gaps = network_gaps(file, interfaces);
    if file.serial.is_none() {
        gaps.push("serial".into());
    }
    if file.erase_disk != Some(true) {
        gaps.push("erase_disk".into());
    }
    gaps
}

fn network_gaps(file: &AnswerFile, interfaces: &[Interface]) -> Vec<String> {
    let Some(n) = &file.network else {
        return vec!["network.mode".into()];
    };
    let mut gaps = Vec::new();
    let Some(mode) = n.mode else {
        return vec!["network.mode".into()];
    };
    if n.interface.is_none() && interfaces.len() > 1 {
        gaps.push("network.interface".to_string());
    }
    if mode == Mode::Manual {
        for (key, present) in [
            ("network.address", n.address.is_some()),
            ("network.gateway", n.gateway.is_some()),
            ("network.dns", n.dns.is_some()),
            ("network.hostname", n.hostname.is_some()),
        ] {
            if !present {
                gaps.push(key.to_string());
            }
        }
    }
    gaps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answers::parse;

    fn errs(text: &str) -> Vec<String> {
        match parse(text) {
            Ok(_) => vec![],
            Err(e) => e.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn values_use_the_interactive_messages_with_key_paths() {
        assert_eq!(
            errs(
                r#"{"version": 1, "network": {"mode": "manual", "address": "192.0.2.10/24",
                   "gateway": "10.0.0.1", "dns": ["192.0.2.53", "999.1.1.1"], "hostname": "web_1"}}"#
            ),
            [
                "network.gateway: 10.0.0.1 is outside 192.0.2.0/24",
                "network.dns[1]: 999.1.1.1 is not an IPv4 address: 999 is greater than 255",
                "network.hostname: \"web_1\" contains \"_\"; only letters a-z, digits and hyphens are allowed",
            ]
        );
        assert_eq!(
            errs(r#"{"version": 1, "network": {"mode": "manual", "address": "192.0.2.10"}}"#),
            ["network.address: 192.0.2.10 has no prefix length; write it like 192.0.2.10/24"]
        );
        assert_eq!(
            errs(r#"{"version": 2}"#),
            ["version: 2 is not supported; this installer reads version 1"]
        );
        assert_eq!(
            errs(r#"{"version": 1, "network": {"mode": "manual", "search": ["a.example", "a..b"]}}"#),
            ["network.search[1]: \"a..b\" has an empty label (two dots in a row, or a dot at the start)"]
        );
    }

    #[test]
    fn mode_rules() {
        assert_eq!(
            errs(r#"{"version": 1, "network": {"mode": "dhcp", "address": "192.0.2.10/24"}}"#),
            ["network.address: only allowed with \"mode\": \"manual\" (DHCP provides it)"]
        );
        assert_eq!(
            errs(r#"{"version": 1, "network": {"gateway": "192.0.2.1"}}"#),
            ["network.mode: this key is required when network.gateway is given"]
        );
        // DHCP may override the names.
        assert!(errs(
            r#"{"version": 1, "network": {"mode": "dhcp", "hostname": "a1", "domain": ""}}"#
        )
        .is_empty());
        assert_eq!(
            errs(r#"{"version": 1, "network": {"interface": "eth 0"}}"#),
            ["network.interface: \"eth 0\" is not an interface name"]
        );
        assert_eq!(
            errs(r#"{"version": 1, "keyboard": "German"}"#),
            ["keyboard: \"German\" is not a layout code (lower-case letters, digits and -, e.g. de)"]
        );
    }

    fn iface(name: &str) -> Interface {
        Interface {
            name: name.into(),
            driver: None,
            mac: String::new(),
            link: None,
        }
    }

    #[test]
    fn environment_and_unattended_gaps() {
        let f = parse(r#"{"version": 1, "network": {"mode": "manual", "interface": "eth7"}, "keyboard": "xx"}"#)
            .unwrap();
        let layouts = vec![Layout {
            code: "us".into(),
            name: "English (US)".into(),
            xkb_layout: "us".into(),
            xkb_variant: String::new(),
        }];
        let e: Vec<String> = check_environment(&f, &[iface("eth0"), iface("eth1")], &layouts)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            e,
            [
                "network.interface: eth7 does not exist; adapters: eth0, eth1",
                "keyboard: \"xx\" is not a layout of this installer; layouts: us",
            ]
        );
        assert_eq!(
            unattended_gaps(&f, &[iface("eth0")]),
            [
                "network.address",
                "network.gateway",
                "network.dns",
                "network.hostname",
                "serial",
                "erase_disk"
            ]
        );
        let dhcp = parse(
            r#"{"version": 1, "network": {"mode": "dhcp"}, "serial": "7K3M-Q9TD-2XWB-HV5B", "erase_disk": true}"#,
        )
        .unwrap();
        assert!(unattended_gaps(&dhcp, &[iface("eth0")]).is_empty());
        assert_eq!(
            unattended_gaps(&dhcp, &[iface("eth0"), iface("eth1")]),
            ["network.interface"]
        );
        assert_eq!(
            unattended_gaps(&AnswerFile::default(), &[]),
            ["network.mode", "serial", "erase_disk"]
        );
    }
}
