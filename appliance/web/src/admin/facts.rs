//! What System → Status shows, read at each request: the configuration
//! generation the appliance runs (product, version, install id, host
//! name, addressing, name servers, time zone), the addresses on its
//! interfaces, chrony's configured sources, the served certificate's
//! fingerprints and the uptime. What cannot be read is listed, not hidden.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use appliance_config::fsutil::under;
use appliance_config::state::Addressing;

use crate::certs::CertStore;

/// chrony's configuration: its main file, and the directories Debian's
/// configuration includes (`confdir`, `sourcedir`).
pub const CHRONY_FILES: [&str; 3] = [
    "/etc/chrony/chrony.conf",
    "/etc/chrony/conf.d",
    "/etc/chrony/sources.d",
];

/// The status page's values.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub product: String,
    pub version: String,
    pub install_id: String,
    pub hostname: String,
    pub addressing: String,
    pub addresses: Vec<IpAddr>,
    pub gateway: String,
    pub dns: Vec<String>,
    pub search: Vec<String>,
    pub time_zone: String,
    pub ntp_servers: Vec<String>,
    pub cert_sha256: String,
    pub spki_sha256: String,
    pub uptime: Option<Duration>,
    /// What could not be read, each naming its file.
    pub problems: Vec<String>,
}

/// The sources (`server`, `pool`, `peer` lines) of a chrony configuration
/// text, in order, each once.
pub fn chrony_sources(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if let (Some("server" | "pool" | "peer"), Some(host)) = (words.next(), words.next()) {
            if !out.iter().any(|h| h == host) {
                out.push(host.to_string());
            }
        }
    }
    out
}

/// `3 days, 04:05:06`, or `04:05:06` under a day.
pub fn uptime_text(d: Duration) -> String {
    let s = d.as_secs();
    let (days, h, m, s) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    let clock = format!("{h:02}:{m:02}:{s:02}");
    match days {
        0 => clock,
        1 => format!("1 day, {clock}"),
        n => format!("{n} days, {clock}"),
    }
}

fn chrony_texts(root: &Path) -> Vec<String> {
    let mut texts = Vec::new();
    for rel in CHRONY_FILES {
        let p = under(root, rel);
        if p.is_dir() {
            let mut files: Vec<_> = std::fs::read_dir(&p)
                .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default();
            files.sort();
            texts.extend(files.iter().filter_map(|f| std::fs::read_to_string(f).ok()));
        } else if let Ok(t) = std::fs::read_to_string(&p) {
            texts.push(t);
        }
    }
    texts
}

fn uptime() -> Option<Duration> {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME).ok()?;
    Some(Duration::from_secs(u64::try_from(t.tv_sec()).ok()?))
}

/// Reads the facts of the appliance below `root` (`/` on the appliance).
pub fn gather(root: &Path, certs: &CertStore) -> Facts {
    let id = certs.current();
    let mut f = Facts {
        cert_sha256: id.cert_sha256.clone(),
        spki_sha256: id.spki_sha256.clone(),
        addresses: appliance_config::console::addresses(),
        uptime: uptime(),
        ..Facts::default()
    };
    match appliance_config::generation::Store::new(root).current() {
        Ok(Some((_, s))) => {
            f.product = s.identity.product.clone();
            f.version = s.identity.version.clone();
            f.install_id = s.identity.install_id.clone();
            f.hostname = s.fqdn();
            f.time_zone = s.time_zone.clone();
            f.search = s.network.search.clone();
            f.dns = s.network.dns.iter().map(|d| d.to_string()).collect();
            let (learnt, domains) = appliance_config::firstboot::learnt_dns(root);
            for d in learnt {
                let d = d.to_string();
                if !f.dns.contains(&d) {
                    f.dns.push(d);
                }
            }
            for d in domains {
                if !f.search.contains(&d) {
                    f.search.push(d);
                }
            }
            match s.network.interfaces.first().map(|i| &i.addressing) {
                Some(Addressing::Manual { address, gateway }) => {
                    f.addressing = format!("static, {}/{}", address.addr, address.prefix);
                    f.gateway = gateway.map_or_else(|| "none".into(), |g| g.to_string());
                }
                Some(Addressing::Dhcp) => {
                    f.addressing = "DHCP".into();
                    f.gateway = "from the DHCP server".into();
                }
                None => f.addressing = "no interface configured".into(),
            }
        }
        Ok(None) => f
            .problems
            .push("no configuration generation has been written yet".into()),
        Err(e) => f.problems.push(e.to_string()),
    }
    for t in chrony_texts(root) {
        for s in chrony_sources(&t) {
            if !f.ntp_servers.contains(&s) {
                f.ntp_servers.push(s);
            }
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chrony_sources_are_the_server_pool_and_peer_lines() {
        let text = "# comment\nserver ntp1.example.test iburst\npool pool.example.test iburst\n\
                    sourcedir /run/chrony-dhcp\nserver ntp1.example.test\npeer 192.0.2.5\nserverx y\n";
        assert_eq!(
            chrony_sources(text),
            ["ntp1.example.test", "pool.example.test", "192.0.2.5"]
        );
    }

    #[test]
    fn uptime_reads_like_a_clock() {
        assert_eq!(uptime_text(Duration::from_secs(59)), "00:00:59");
        assert_eq!(
            uptime_text(Duration::from_secs(86_400 + 3723)),
            "1 day, 01:02:03"
        );
        assert_eq!(
            uptime_text(Duration::from_secs(3 * 86_400)),
            "3 days, 00:00:00"
        );
    }
}
