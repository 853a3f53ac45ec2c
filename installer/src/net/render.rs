//! Pure renderers of `/etc/resolv.conf` and `/etc/hosts` for a [`NetConfig`].
//!
//! Static glibc reads both without NSS modules.

use super::{NetConfig, Source};

/// The fully qualified name, or the bare hostname without a domain.
pub fn fqdn(config: &NetConfig) -> String {
    match &config.domain {
        Some(d) if !d.is_empty() => format!("{}.{}", config.hostname, d),
        _ => config.hostname.clone(),
    }
}

fn origin(config: &NetConfig) -> String {
    match config.source {
        Source::Manual => format!("manual configuration of {}", config.interface),
        Source::Dhcp { server, .. } => format!("DHCP lease on {} from {server}", config.interface),
    }
}

/// `/etc/resolv.conf`: name servers, the search list (option 119, else the
/// domain), and short timeouts so a dead server costs seconds, not minutes.
pub fn resolv_conf(config: &NetConfig) -> String {
    let mut out = format!("# Written by the installer ({})\n", origin(config));
    for ns in &config.dns {
        out.push_str(&format!("nameserver {ns}\n"));
    }
    let search: Vec<&str> = if config.search.is_empty() {
        config.domain.iter().map(String::as_str).collect()
    } else {
        config.search.iter().map(String::as_str).collect()
    };
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    out.push_str("options timeout:2 attempts:2\n");
    out
}

/// `/etc/hosts`: localhost (v4 and v6) and the configured address with the FQDN and short name.
pub fn hosts(config: &NetConfig) -> String {
    let mut out =
        String::from("127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n");
    let full = fqdn(config);
    if full == config.hostname {
        out.push_str(&format!("{}\t{}\n", config.address.addr, config.hostname));
    } else {
        out.push_str(&format!(
            "{}\t{} {}\n",
            config.address.addr, full, config.hostname
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn config() -> NetConfig {
        NetConfig {
            dns: vec![Ipv4Addr::new(192, 0, 2, 53), Ipv4Addr::new(192, 0, 2, 54)],
            domain: Some("example.com".into()),
            source: Source::Dhcp {
                server: Ipv4Addr::new(192, 0, 2, 1),
                lease_seconds: 3600,
            },
            ..crate::net::sample_config()
        }
    }

    #[test]
    fn resolv_conf_with_domain() {
        assert_eq!(
            resolv_conf(&config()),
            "# Written by the installer (DHCP lease on eth0 from 192.0.2.1)\n\
             nameserver 192.0.2.53\n\
             nameserver 192.0.2.54\n\
             search example.com\n\
             options timeout:2 attempts:2\n"
        );
    }

    #[test]
    fn resolv_conf_search_list_wins_and_manual_origin() {
        let mut c = config();
        c.search = vec!["a.example".into(), "b.example".into()];
        c.source = Source::Manual;
        c.dns.truncate(1);
        assert_eq!(
            resolv_conf(&c),
            "# Written by the installer (manual configuration of eth0)\n\
             nameserver 192.0.2.53\n\
             search a.example b.example\n\
             options timeout:2 attempts:2\n"
        );
    }

    #[test]
    fn resolv_conf_without_dns_or_domain_has_only_options() {
        let mut c = config();
        c.dns.clear();
        c.domain = None;
        let text = resolv_conf(&c);
        assert!(!text.contains("nameserver"));
        assert!(!text.contains("search"));
        assert!(text.ends_with("options timeout:2 attempts:2\n"));
    }

    #[test]
    fn hosts_with_and_without_domain() {
        assert_eq!(
            hosts(&config()),
            "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n\
             192.0.2.10\tnode7.example.com node7\n"
        );
        let mut c = config();
        c.domain = None;
        assert!(hosts(&c).ends_with("192.0.2.10\tnode7\n"));
        assert_eq!(fqdn(&c), "node7");
    }
}
