//! The **renderer** (pure): a desired state → the files the system reads.
//! systemd-networkd `.link`/`.network` files per interface, `/etc/hostname`,
//! `/etc/hosts`, name servers (`.network` `DNS=` and `/etc/resolv.conf`,
//! a link to a file in `/run` that first boot and `watch` keep current),
//! the keyboard for console-setup, the time zone, and the gettys (tty1, and
//! ttyS0 at 115200 when the serial console is wanted). Each file names the
//! units that read it, so the applier can say what needs a restart.
//! Golden-file tests keep the bytes fixed (`tests/golden/`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use crate::paths;
use crate::state::{Addressing, ConsoleKind, DesiredState, Interface, Match, StateError};

/// What a rendered path holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// A regular file with these bytes and permission bits.
    File {
        /// The contents.
        bytes: Vec<u8>,
        /// Permission bits, e.g. `0o644`.
        mode: u32,
    },
    /// A symbolic link to this target.
    Symlink(String),
}

/// One rendered path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The contents.
    pub content: Content,
    /// The units that read it (restarted when it changes).
    pub units: Vec<&'static str>,
}

/// Every path the renderer owns, by absolute path inside the appliance.
pub type Rendered = BTreeMap<String, Entry>;

/// The first line of every rendered text file.
pub const HEADER: &str =
    "# Written by appliance-firstboot from the desired state (/etc/appliance/state/current).\n# Local changes are overwritten.\n";

const NETWORKD: &str = "systemd-networkd.service";
const UDEVD: &str = "systemd-udevd.service";
const CHRONY: &str = "chrony.service";

fn file(text: String, units: Vec<&'static str>) -> Entry {
    Entry {
        content: Content::File {
            bytes: text.into_bytes(),
            mode: 0o644,
        },
        units,
    }
}

fn link(target: &str, units: Vec<&'static str>) -> Entry {
    Entry {
        content: Content::Symlink(target.to_string()),
        units,
    }
}

/// Renders `state` (validated first; an invalid state renders nothing).
pub fn render(state: &DesiredState) -> Result<Rendered, StateError> {
    state.validate()?;
    let mut out = Rendered::new();
    for itf in &state.network.interfaces {
        let stem = format!("/etc/systemd/network/10-appliance-{}", itf.name);
        if let Match::Mac(mac) = itf.matches {
            out.insert(
                format!("{stem}.link"),
                file(
                    format!(
                        "{HEADER}\n[Match]\nMACAddress={mac}\n\n[Link]\nName={}\n",
                        itf.name
                    ),
                    vec![UDEVD],
                ),
            );
        }
        out.insert(
            format!("{stem}.network"),
            file(network_file(state, itf), vec![NETWORKD]),
        );
    }
    out.insert(
        "/etc/hostname".into(),
        file(format!("{}\n", state.hostname), vec![]),
    );
    out.insert("/etc/hosts".into(), file(hosts(state), vec![]));
    out.insert("/etc/resolv.conf".into(), link(paths::RUN_RESOLV, vec![]));
    // agetty reads /run/issue.d only when there is no /etc/issue (Debian
    // ships one), so the console text in /run is linked from /etc/issue.d;
    // the text (with the setup code) stays in /run, off the disk.
    out.insert(paths::ISSUE_LINK.into(), link(paths::ISSUE, vec![]));
    out.insert(
        "/etc/default/keyboard".into(),
        file(
            keyboard(state),
            vec!["keyboard-setup.service", "console-setup.service"],
        ),
    );
    out.insert(
        "/etc/default/console-setup".into(),
        file(console_setup(), vec!["console-setup.service"]),
    );
    out.insert(
        "/etc/localtime".into(),
        link(&format!("/usr/share/zoneinfo/{}", state.time_zone), vec![]),
    );
    out.insert(
        "/etc/timezone".into(),
        file(format!("{}\n", state.time_zone), vec![]),
    );
    if let Some(servers) = &state.ntp_servers {
        out.insert(
            paths::CHRONY_CONF.into(),
            file(chrony_conf(servers), vec![CHRONY]),
        );
    }
    for console in &state.consoles {
        match console {
            ConsoleKind::Vga => {
                out.insert(
                    "/etc/systemd/system/getty.target.wants/getty@tty1.service".into(),
                    link(
                        "/lib/systemd/system/getty@.service",
                        vec!["getty@tty1.service"],
                    ),
                );
            }
            ConsoleKind::Serial => {
                out.insert(
                    "/etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service".into(),
                    link(
                        "/lib/systemd/system/serial-getty@.service",
                        vec!["serial-getty@ttyS0.service"],
                    ),
                );
                out.insert(
                    "/etc/systemd/system/serial-getty@ttyS0.service.d/50-appliance.conf".into(),
                    file(
                        format!(
                            "{HEADER}# The serial console runs at 115200 baud, as the installer's.\n[Service]\nExecStart=\nExecStart=-/sbin/agetty -o '-p -- \\\\u' 115200 %I $TERM\n"
                        ),
                        vec!["serial-getty@ttyS0.service"],
                    ),
                );
            }
        }
    }
    Ok(out)
}

fn domains(state: &DesiredState) -> Vec<String> {
    let mut d: Vec<String> = state.domain.iter().cloned().collect();
    for s in &state.network.search {
        if !d.contains(s) {
            d.push(s.clone());
        }
    }
    d
}

fn network_file(state: &DesiredState, itf: &Interface) -> String {
    let mut s = String::from(HEADER);
    s.push_str("\n[Match]\n");
    match itf.matches {
        Match::Mac(mac) => {
            let _ = writeln!(s, "MACAddress={mac}");
        }
        Match::AnyEthernet => s.push_str("Type=ether\n"),
    }
    s.push_str("\n[Network]\n");
    match &itf.addressing {
        Addressing::Dhcp => s.push_str("DHCP=ipv4\n"),
        Addressing::Manual { address, gateway } => {
            let _ = writeln!(s, "Address={address}");
            if let Some(gw) = gateway {
                let _ = writeln!(s, "Gateway={gw}");
            }
        }
    }
    for dns in &state.network.dns {
        let _ = writeln!(s, "DNS={dns}");
    }
    let d = domains(state);
    if !d.is_empty() {
        let _ = writeln!(s, "Domains={}", d.join(" "));
    }
    if itf.addressing == Addressing::Dhcp {
        let _ = write!(
            s,
            "\n[DHCPv4]\nUseDNS=yes\nUseDomains=yes\nSendHostname=yes\nHostname={}\n",
            state.hostname
        );
    }
    s
}

fn hosts(state: &DesiredState) -> String {
    let names = if state.domain.is_some() {
        format!("{} {}", state.fqdn(), state.hostname)
    } else {
        state.hostname.clone()
    };
    let own: Vec<Ipv4Addr> = match state.static_addresses().as_slice() {
        [] => vec![Ipv4Addr::new(127, 0, 1, 1)],
        a => a.to_vec(),
    };
    let mut s = String::from(HEADER);
    s.push_str("127.0.0.1\tlocalhost\n");
    for a in own {
        let _ = writeln!(s, "{a}\t{names}");
    }
    s.push_str("::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n");
    s
}

/// chrony's configuration with only the chosen servers (Debian's file
/// without its pool line and DHCP sources); no server at all when the
/// clock is set by hand.
fn chrony_conf(servers: &[String]) -> String {
    let mut s = String::from(HEADER);
    if servers.is_empty() {
        s.push_str("# No time source: the clock was set by hand in the setup wizard.\n");
    }
    for server in servers {
        let _ = writeln!(s, "server {server} iburst");
    }
    s.push_str(
        "keyfile /etc/chrony/chrony.keys\n\
         driftfile /var/lib/chrony/chrony.drift\n\
         ntsdumpdir /var/lib/chrony\n\
         logdir /var/log/chrony\n\
         maxupdateskew 100.0\n\
         rtcsync\n\
         makestep 1 3\n\
         leapsectz right/UTC\n",
    );
    s
}

fn keyboard(state: &DesiredState) -> String {
    let kb = &state.keyboard;
    format!(
        "{HEADER}# Keyboard layout {:?} chosen in the installer; see keyboard(5).\n\
         XKBMODEL=\"pc105\"\n\
         XKBLAYOUT=\"{}\"\n\
         XKBVARIANT=\"{}\"\n\
         XKBOPTIONS=\"\"\n\
         \n\
         BACKSPACE=\"guess\"\n",
        kb.code, kb.xkb_layout, kb.xkb_variant
    )
}

fn console_setup() -> String {
    format!(
        "{HEADER}# Console font and character set for console-setup; see console-setup(5).\n\
         ACTIVE_CONSOLES=\"/dev/tty[1-6]\"\n\
         CHARMAP=\"UTF-8\"\n\
         CODESET=\"guess\"\n\
         FONTFACE=\"Fixed\"\n\
         FONTSIZE=\"8x16\"\n\
         VIDEOMODE=\n"
    )
}

/// `/etc/resolv.conf`'s target (`/run/appliance/resolv.conf`): the state's
/// static name servers, then those a DHCP lease brought (`learnt`, each
/// once, at most three in all), and the search domains.
pub fn resolv_conf(state: &DesiredState, learnt: &[Ipv4Addr], learnt_domains: &[String]) -> String {
    let mut servers: Vec<Ipv4Addr> = Vec::new();
    for a in state.network.dns.iter().chain(learnt) {
        if !servers.contains(a) && servers.len() < 3 {
            servers.push(*a);
        }
    }
    let mut search = domains(state);
    for d in learnt_domains {
        if !search.contains(d) {
            search.push(d.clone());
        }
    }
    let mut s = String::from(
        "# Written by appliance-firstboot: the desired state's name servers and those DHCP brought.\n",
    );
    for a in servers {
        let _ = writeln!(s, "nameserver {a}");
    }
    if !search.is_empty() {
        let _ = writeln!(s, "search {}", search.join(" "));
    }
    s
}

/// Name servers and domains from systemd-networkd's link state files
/// (`/run/systemd/netif/links/<index>`: `DNS=` and `DOMAINS=` lines).
pub fn parse_netif_link(text: &str) -> (Vec<Ipv4Addr>, Vec<String>) {
    let mut dns = Vec::new();
    let mut domains = Vec::new();
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("DNS=") {
            dns.extend(
                v.split_whitespace()
                    .filter_map(|w| w.parse::<Ipv4Addr>().ok()),
            );
        } else if let Some(v) = line.strip_prefix("DOMAINS=") {
            domains.extend(v.split_whitespace().map(str::to_string));
        }
    }
    (dns, domains)
}
