//! Applying the handed-over network with the installer's own code
//! (`installer::net`: netlink, the DHCP client, resolv.conf/hosts).

use std::time::{Duration, Instant};

use handover::{NetMode, Network};
use installer::net::{Interface, Ipv4Cidr, NetConfig, NetOps, Source, SystemNet};

/// The adapter to configure: the one with the handed-over MAC, else the one
/// with the handed-over name. Returns the name and how it was chosen.
pub fn choose_interface(links: &[Interface], net: &Network) -> Option<(String, &'static str)> {
    let mac = net.mac.to_string();
    if let Some(i) = links.iter().find(|i| i.mac.eq_ignore_ascii_case(&mac)) {
        return Some((i.name.clone(), "by MAC address"));
    }
    links.iter().find(|i| i.name == net.interface).map(|i| {
        (
            i.name.clone(),
            "by name (no adapter has the handed-over MAC)",
        )
    })
}

/// The manual configuration of `net` on `interface` (`None` without an address).
pub fn manual_config(net: &Network, interface: &str) -> Option<NetConfig> {
    let a = net.address?;
    Some(NetConfig {
        interface: interface.to_string(),
        address: Ipv4Cidr {
            addr: a.addr,
            prefix: a.prefix,
        },
        gateway: net.gateway,
        dns: net.dns.clone(),
        hostname: net.hostname.clone(),
        domain: net.domain.clone(),
        search: net.search.clone(),
        mtu: None,
        routes: vec![],
        source: Source::Manual,
    })
}

/// A DHCP lease with the names from the record: host name, domain and search
/// list always come from the record; name servers from the lease unless it
/// has none.
pub fn merge_lease(mut lease: NetConfig, net: &Network) -> NetConfig {
    lease.hostname = net.hostname.clone();
    lease.domain = net.domain.clone();
    lease.search = net.search.clone();
    if lease.dns.is_empty() {
        lease.dns = net.dns.clone();
    }
    lease
}

/// Waits up to `timeout` for adapters to appear (drivers load asynchronously).
pub fn wait_for_interfaces(ops: &mut SystemNet, timeout: Duration) -> Vec<Interface> {
    let start = Instant::now();
    loop {
        let links = ops.interfaces();
        if !links.is_empty() || start.elapsed() >= timeout {
            return links;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Configures the network as the record says; returns the applied configuration.
pub fn apply_record(
    ops: &mut SystemNet,
    net: &Network,
    say: &mut dyn FnMut(&str),
) -> Result<NetConfig, String> {
    let links = wait_for_interfaces(ops, Duration::from_secs(10));
    let Some((name, how)) = choose_interface(&links, net) else {
        let seen: Vec<String> = links
            .iter()
            .map(|i| format!("{} ({})", i.name, i.mac))
            .collect();
        return Err(format!(
            "no network adapter with MAC {} or name {} (seen: {})",
            net.mac,
            net.interface,
            if seen.is_empty() {
                "none".to_string()
            } else {
                seen.join(", ")
            }
        ));
    };
    say(&format!("Network adapter {name}, chosen {how}."));
    let config = match net.mode {
        NetMode::Manual => manual_config(net, &name)
            .ok_or_else(|| "network.address: is required when mode is manual".to_string())?,
        NetMode::Dhcp => {
            say(&format!("Asking for a DHCP lease on {name}..."));
            let lease = ops
                .dhcp(&name, &mut |line| say(&format!("  {line}")))
                .map_err(|f| format!("DHCP on {}: {}; {}", f.interface, f.tried, f.hint))?;
            merge_lease(lease, net)
        }
    };
    ops.apply(&config)?;
    Ok(config)
}

/// Without a usable record: DHCP on the first adapter, host name `appliance`,
/// so the page that shows the problem can be reached.
pub fn fallback_dhcp(ops: &mut SystemNet, say: &mut dyn FnMut(&str)) -> Result<NetConfig, String> {
    let links = wait_for_interfaces(ops, Duration::from_secs(10));
    let first = links.first().ok_or("no network adapter found")?;
    say(&format!(
        "Trying DHCP on {} so that the problem page can be reached...",
        first.name
    ));
    let mut lease = ops
        .dhcp(&first.name, &mut |line| say(&format!("  {line}")))
        .map_err(|f| format!("DHCP on {}: {}; {}", f.interface, f.tried, f.hint))?;
    lease.hostname = "appliance".into();
    ops.apply(&lease)?;
    Ok(lease)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn record_net() -> Network {
        handover::Handover::parse(handover::EXAMPLE_JSON)
            .unwrap()
            .network
    }

    fn iface(name: &str, mac: &str) -> Interface {
        Interface {
            name: name.into(),
            driver: None,
            mac: mac.into(),
            link: None,
        }
    }

    #[test]
    fn adapter_by_mac_first_then_by_name() {
        let net = record_net();
        let links = [
            iface("eth0", "52:54:00:00:00:01"),
            iface("ens4", "52:54:00:12:34:56"),
        ];
        assert_eq!(
            choose_interface(&links, &net),
            Some(("ens4".into(), "by MAC address"))
        );
        let links = [
            iface("eth1", "52:54:00:00:00:02"),
            iface("eth0", "aa:bb:cc:dd:ee:ff"),
        ];
        assert_eq!(choose_interface(&links, &net).unwrap().0, "eth0");
        assert_eq!(choose_interface(&links[..1], &net), None);
        // MACs compare case-insensitively.
        let links = [iface("x", "52:54:00:12:34:56".to_uppercase().as_str())];
        assert_eq!(choose_interface(&links, &net).unwrap().0, "x");
    }

    #[test]
    fn manual_record_becomes_a_static_config() {
        let c = manual_config(&record_net(), "ens4").unwrap();
        assert_eq!(c.interface, "ens4");
        assert_eq!(c.address.addr, Ipv4Addr::new(10, 0, 2, 15));
        assert_eq!(c.address.prefix, 24);
        assert_eq!(c.gateway, Some(Ipv4Addr::new(10, 0, 2, 2)));
        assert_eq!(c.dns, vec![Ipv4Addr::new(10, 0, 2, 3)]);
        assert_eq!(c.hostname, "appliance");
        assert_eq!(c.domain.as_deref(), Some("example.test"));
        assert_eq!(c.source, Source::Manual);
        let mut n = record_net();
        n.address = None;
        assert!(manual_config(&n, "eth0").is_none());
    }

    #[test]
    fn lease_keeps_its_addresses_but_takes_the_names() {
        let mut lease = manual_config(&record_net(), "eth0").unwrap();
        lease.hostname = "dhcp-name".into();
        lease.domain = None;
        lease.dns = vec![];
        lease.address.addr = Ipv4Addr::new(10, 0, 2, 16);
        let m = merge_lease(lease, &record_net());
        assert_eq!(m.hostname, "appliance");
        assert_eq!(m.domain.as_deref(), Some("example.test"));
        assert_eq!(m.dns, vec![Ipv4Addr::new(10, 0, 2, 3)]);
        assert_eq!(m.address.addr, Ipv4Addr::new(10, 0, 2, 16));
    }
}
