//! The words on the screens (pure rendering). Lines end with `\n`; prompts
//! end with `": "` and no newline. Everything fits 80 columns.

use crate::answers::KeyError;
use crate::keyboard::Layout;
use crate::net::{Check, DhcpFailure, Interface, NetConfig, Source};
use crate::vendor::{SerialCheck, Verified};
use std::fmt::Write as _;

/// The main menu prompt.
pub const MENU_PROMPT: &str = "Type M, D, E, K or S and press Enter: ";
/// After E.
pub const EXIT_CONFIRM_PROMPT: &str = "Exit the installation? [y/n]: ";
/// Reboot or power off (after exit, and on the ready screen).
pub const POWER_PROMPT: &str = "(R)eboot or (P)ower off? Type r or p and press Enter: ";
/// The stop screen.
pub const STOP_PROMPT: &str = "(R)eboot, (P)ower off or rescue (S)hell? Type r, p or s: ";
/// Picking an adapter.
pub const ADAPTER_PROMPT: &str = "Network adapter (number or name): ";
/// The address.
pub const ADDRESS_PROMPT: &str =
    "IPv4 address with prefix length, e.g. 192.0.2.10/24 (or without /24 to\nenter a netmask next): ";
/// The netmask.
pub const NETMASK_PROMPT: &str = "Netmask, e.g. 255.255.255.0 or /24: ";
/// The gateway.
pub const GATEWAY_PROMPT: &str = "Default gateway (type none if this network has none): ";
/// The DNS servers.
pub const DNS_PROMPT: &str = "DNS servers, 1 to 3, separated by commas or spaces: ";
/// The hostname.
pub const HOSTNAME_PROMPT: &str = "Hostname, e.g. appliance: ";
/// The domain.
pub const DOMAIN_PROMPT: &str = "Domain, e.g. example.com (optional, Enter for none): ";
/// The search domains.
pub const SEARCH_PROMPT: &str =
    "Search domains, separated by commas or spaces (optional, Enter for none): ";
/// Confirming the manual values.
pub const APPLY_PROMPT: &str = "Apply this configuration? [y/n]: ";
/// No adapters.
pub const NO_ADAPTER: &str = "No network adapter was found. Check that the machine (or VM) has a network\ncard; for VMware use e1000, for Hyper-V the \"legacy network adapter\".\n";
/// No keymaps in this build.
pub const NO_LAYOUTS: &str =
    "No keyboard layouts are included in this build; the layout stays us.\n";
/// The keyboard note on serial consoles.
pub const SERIAL_KEYBOARD_NOTE: &str = "This is a serial console: your terminal keeps its own layout; the choice\napplies to the installed system only.\n";
/// After a DHCP failure.
pub const DHCP_FALLBACK: &str =
    "You can try DHCP again (D) or configure the network manually (M).\n";
/// The serial-number screen's prompt.
pub const SERIAL_MENU_PROMPT: &str = "Type s and press Enter to enter the serial number: ";
/// The serial number itself.
pub const SERIAL_PROMPT: &str = "Serial number (Enter alone goes back): ";
/// The question after a refusal.
pub const RETRY_PROMPT: &str = "Retry? [y/n]: ";
/// After a verified serial ("press any key"; a line console needs Enter).
pub const CONTINUE_PROMPT: &str = "Press Enter to continue: ";
/// The message for a serial the backend does not support (the product's wording).
pub const NO_SUPPORT: &str = "Backend has no support for this Appliance";

/// The main menu, in the product's wording.
pub fn menu(layout: &str) -> String {
    format!(
        "\nInstallation menu\n\
         Choose whether the network settings are entered manually (M) or received\n\
         from a DHCP server (D). To cancel the installation, choose E.\n\
         \x20 M  manual network configuration\n\
         \x20 D  network configuration by DHCP\n\
         \x20 E  exit the installation\n\
         \x20 K  keyboard layout (now: {layout})\n\
         \x20 S  rescue shell\n"
    )
}

fn link_label(link: Option<bool>) -> &'static str {
    match link {
        Some(true) => "link up",
        Some(false) => "no link",
        None => "link unknown",
    }
}

/// One adapter: name, driver, MAC, link.
pub fn adapter(i: &Interface) -> String {
    format!(
        "{} ({}, {}, {})",
        i.name,
        i.driver.as_deref().unwrap_or("no driver"),
        i.mac,
        link_label(i.link)
    )
}

/// The numbered adapter list.
pub fn adapters(list: &[Interface]) -> String {
    let mut s = String::from("Network adapters:\n");
    for (n, i) in list.iter().enumerate() {
        let _ = writeln!(
            s,
            "  {:>2}) {:<10} {:<12} {}  {}",
            n + 1,
            i.name,
            i.driver.as_deref().unwrap_or("no driver"),
            i.mac,
            link_label(i.link)
        );
    }
    s
}

/// `prompt` with the default in brackets before its final `": "`.
pub fn with_default(prompt: &str, default: Option<&str>, optional: bool) -> String {
    let Some(d) = default else {
        return prompt.to_string();
    };
    let base = prompt.strip_suffix(": ").unwrap_or(prompt);
    if optional {
        format!("{base} [{d}; - for none]: ")
    } else {
        format!("{base} [{d}]: ")
    }
}

fn network_lines(s: &mut String, c: &NetConfig) {
    let gw = c.gateway.map_or("none".to_string(), |g| g.to_string());
    let dns: Vec<String> = c.dns.iter().map(ToString::to_string).collect();
    let _ = writeln!(s, "  Interface:   {}", c.interface);
    let _ = writeln!(s, "  Address:     {}/{}", c.address.addr, c.address.prefix);
    let _ = writeln!(s, "  Gateway:     {gw}");
    let _ = writeln!(s, "  DNS servers: {}", dns.join(", "));
    let _ = writeln!(s, "  Hostname:    {}", c.hostname);
    let _ = writeln!(
        s,
        "  Domain:      {}",
        c.domain.as_deref().unwrap_or("(none)")
    );
    let search = if c.search.is_empty() {
        "(none)".to_string()
    } else {
        c.search.join(", ")
    };
    let _ = writeln!(s, "  Search:      {search}");
}

/// The manual summary before "Apply this configuration?".
pub fn summary(c: &NetConfig) -> String {
    let mut s = String::from("\nNetwork configuration:\n");
    network_lines(&mut s, c);
    s
}

/// The lease DHCP returned.
pub fn lease(c: &NetConfig) -> String {
    let mut s = String::from("\nReceived from the DHCP server:\n");
    network_lines(&mut s, c);
    let mtu = c.mtu.map_or("(default)".to_string(), |m| m.to_string());
    let _ = writeln!(s, "  MTU:         {mtu}");
    if let Source::Dhcp {
        server,
        lease_seconds,
    } = &c.source
    {
        let _ = writeln!(s, "  Lease time:  {lease_seconds} s (server {server})");
    }
    s
}

/// What DHCP tried, and the hint.
pub fn dhcp_failed(f: &DhcpFailure) -> String {
    format!(
        "  ! DHCP on {} failed: {}\n    Hint: {}\n",
        f.interface, f.tried, f.hint
    )
}

/// The doctor's checks, one line each, with cause and hint on failures.
pub fn checks(list: &[Check]) -> String {
    let mut s = String::new();
    for c in list {
        let mark = if c.ok { " ok " } else { "FAIL" };
        let _ = writeln!(s, "  [{mark}] {:<8} {}", c.name, c.detail);
        if let (false, Some(h)) = (c.ok, &c.hint) {
            let _ = writeln!(s, "         hint: {h}");
        }
    }
    if list.iter().any(|c| !c.ok) {
        s.push_str("Some checks failed; later steps that need the network may fail too.\n");
    }
    s
}

/// The numbered layout list in two columns of 40 characters, the
/// preselected one marked `*`; names too long for a column end in `..`.
pub fn layouts(list: &[Layout], preselected: usize) -> String {
    const CELL: usize = 39;
    let code_width = list
        .iter()
        .map(|l| l.code.chars().count())
        .max()
        .unwrap_or(0);
    let mut s = String::from("\nKeyboard layout:\n");
    let rows = list.len().div_ceil(2);
    for r in 0..rows {
        let mut line = String::new();
        for i in [r, r + rows] {
            if let Some(l) = list.get(i) {
                let mark = if i == preselected { '*' } else { ' ' };
                let mut cell = format!("{mark}{:>3}) {:<code_width$} {}", i + 1, l.code, l.name);
                if cell.chars().count() > CELL {
                    cell = cell.chars().take(CELL - 2).collect::<String>() + "..";
                }
                let _ = write!(line, "{cell:<40}");
            }
        }
        let _ = writeln!(s, "{}", line.trim_end());
    }
    s
}

/// The layout prompt with the preselected code.
pub fn layout_prompt(code: &str) -> String {
    format!("Keyboard layout (number or code) [{code}]: ")
}

/// The summary before the install ("check the
/// installation data one last time").
pub fn ready(config: Option<&NetConfig>, serial: Option<&Verified>, layout: &str) -> String {
    let mut s = String::from("\nInstallation data\n=================\n");
    match config {
        Some(c) => {
            let how = match c.source {
                Source::Manual => "entered manually",
                Source::Dhcp { .. } => "from DHCP",
            };
            let _ = writeln!(s, "Network ({how}):");
            network_lines(&mut s, c);
        }
        None => s.push_str("Network: not configured\n"),
    }
    if let Some(v) = serial {
        let _ = writeln!(
            s,
            "Serial number: {} ({}, release {})",
            v.serial.masked(),
            v.model,
            v.release
        );
    }
    let _ = writeln!(s, "Keyboard:      {layout}");
    s
}

/// `YYYY-MM-DD` (UTC) of a unix time.
pub fn date(unix: u64) -> String {
    let mut s = crate::net::doctor::utc(unix);
    s.truncate(10);
    s
}

/// The serial-number screen.
pub fn serial_intro(product: &str) -> String {
    format!(
        "\nSerial number\n=============\nThe serial number of your {product} came with your license\n\
         (4 groups of 4 letters and digits). It is verified with the vendor's server.\n\
         S = enter it   K = keyboard layout   M = network menu   E = exit\n"
    )
}

/// The verdict in one line (also the `serial` event's message and, for
/// answer files, the reason after the key).
pub fn serial_verdict(check: &SerialCheck) -> String {
    match check {
        SerialCheck::Verified(v) => format!("verified: entitles {} ({})", v.model, v.channel),
        SerialCheck::Unknown => {
            "the vendor's server does not know this serial number; compare it with your license"
                .into()
        }
        SerialCheck::NoSupport { detail } => format!("{NO_SUPPORT} ({detail})"),
        SerialCheck::Ended { until } => format!(
            "the entitlement of this serial number ended on {}; contact your vendor to renew it",
            date(*until)
        ),
        SerialCheck::Problem(p) => format!("{} ({})", p.detail, p.hint),
    }
}

/// What the screen shows after the backend answered (not for `Verified`,
/// which [`serial_verified`] shows).
pub fn serial_result(check: &SerialCheck) -> String {
    match check {
        SerialCheck::Verified(_) => String::new(),
        SerialCheck::Unknown => "  ! The vendor's server does not know this serial number.\n    Check it against your license and type it again.\n".into(),
        SerialCheck::NoSupport { detail } => format!("  ! {NO_SUPPORT}\n    ({detail})\n    Answer n to check and correct the serial number.\n"),
        SerialCheck::Ended { .. } => format!("  ! {}\n", serial_verdict(check)),
        SerialCheck::Problem(p) => format!("  ! {}\n    {}\n", p.detail, p.hint),
    }
}

/// After a verified serial.
pub fn serial_verified(product: &str, v: &Verified) -> String {
    let until = v
        .until
        .map_or("no end date".to_string(), |u| format!("until {}", date(u)));
    format!(
        "Serial number {} verified.\n  Entitles:  {product} ({}, channel {}), {until}\n  Release:   {} will be installed\n",
        v.serial.masked(),
        v.model,
        v.channel,
        v.release
    )
}

/// The stop screen: what happened, each key error, whether anything changed.
pub fn stop(title: &str, errors: &[KeyError], unchanged: bool) -> String {
    let mut s = format!("\nThe installation cannot continue: {title}.\n");
    for e in errors {
        let _ = writeln!(s, "  {e}");
    }
    if unchanged {
        s.push_str("Nothing on this machine has been changed.\n");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::Ipv4Cidr;
    use std::net::Ipv4Addr;

    #[test]
    fn dates_are_utc_days() {
        assert_eq!(date(1_577_836_800), "2020-01-01");
        assert_eq!(date(1_795_824_000 + 86_399), "2026-11-28");
    }

    #[test]
    fn defaults_go_in_brackets() {
        assert_eq!(
            with_default("Hostname, e.g. appliance: ", Some("web"), false),
            "Hostname, e.g. appliance [web]: "
        );
        assert_eq!(
            with_default("Domain: ", Some("a.example"), true),
            "Domain [a.example; - for none]: "
        );
        assert_eq!(with_default("X: ", None, false), "X: ");
    }

    #[test]
    fn screens_fit_80_columns() {
        let list: Vec<Layout> = (0..40)
            .map(|i| Layout {
                code: format!("l{i}"),
                name: "A rather long layout name (with variant)".into(),
                xkb_layout: "x".into(),
                xkb_variant: String::new(),
            })
            .collect();
        let c = NetConfig {
            interface: "enp0s31f6".into(),
            address: Ipv4Cidr {
                addr: Ipv4Addr::new(192, 0, 2, 10),
                prefix: 24,
            },
            gateway: None,
            dns: vec![Ipv4Addr::new(192, 0, 2, 53)],
            hostname: "a".repeat(63),
            domain: None,
            search: vec![],
            mtu: Some(1500),
            routes: vec![],
            source: Source::Dhcp {
                server: Ipv4Addr::new(192, 0, 2, 1),
                lease_seconds: 86400,
            },
        };
        for screen in [
            layouts(&list, 3),
            menu("de"),
            lease(&c),
            NO_ADAPTER.to_string(),
            SERIAL_KEYBOARD_NOTE.to_string(),
            ADDRESS_PROMPT.to_string(),
            SEARCH_PROMPT.to_string(),
        ] {
            for line in screen.lines() {
                assert!(line.chars().count() <= 80, "too wide: {line:?}");
            }
        }
        let l = layouts(&list, 3);
        assert!(
            l.contains("*  4) l3  A rather long layout name (..   24) l23"),
            "{l}"
        );
        assert!(lease(&c).contains("Lease time:  86400 s (server 192.0.2.1)"));
    }

    #[test]
    fn failed_checks_show_their_hint() {
        let s = checks(&[
            Check {
                name: "link".into(),
                ok: true,
                detail: "carrier".into(),
                hint: None,
            },
            Check {
                name: "gateway".into(),
                ok: false,
                detail: "no ARP reply from 192.0.2.1".into(),
                hint: Some("is the gateway right?".into()),
            },
        ]);
        assert_eq!(
            s,
            "  [ ok ] link     carrier\n  [FAIL] gateway  no ARP reply from 192.0.2.1\n         hint: is the gateway right?\nSome checks failed; later steps that need the network may fail too.\n"
        );
    }
}
