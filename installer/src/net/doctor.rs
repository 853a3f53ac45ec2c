//! The network doctor: after a configuration is applied, six checks in order
//! — link, address, gateway, dns, clock, https — each pass/fail with what was
//! found and, on failure, a way forward. When the adapter's driver asked for
//! firmware it did not get, a failed `firmware` check follows `link`
//! ([`check_firmware`]; added by the system's `doctor`).
//!
//! Every check is a pure function of its inputs; [`run`] gathers the inputs
//! through the [`Probes`] trait, whose real implementation is
//! [`super::probe::SystemProbes`].

use std::net::{IpAddr, Ipv4Addr};

use super::{Check, Ipv4Cidr, NetConfig};

/// Why an HTTPS probe failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpsFailure {
    /// No answer in time.
    Timeout(String),
    /// TCP connection failed (refused, unreachable, name not resolved).
    Connect(String),
    /// TLS handshake or certificate verification failed.
    Tls(String),
    /// Anything else (bad URL, protocol error).
    Other(String),
}

/// The measurements the doctor needs; a fake in tests.
pub trait Probes {
    /// Carrier of `interface` (`None`: the driver does not say); `Err` if it cannot be read.
    fn link(&mut self, interface: &str) -> Result<Option<bool>, String>;
    /// IPv4 addresses configured on `interface`.
    fn addresses(&mut self, interface: &str) -> Result<Vec<Ipv4Cidr>, String>;
    /// Resolves `gateway`'s MAC address by ARP via `interface`; `Ok(None)` when nobody answered.
    fn arp(&mut self, interface: &str, gateway: Ipv4Addr) -> Result<Option<String>, String>;
    /// Resolves `host` with the system resolver.
    fn resolve(&mut self, host: &str) -> Result<Vec<IpAddr>, String>;
    /// Seconds since 1970 on the system clock.
    fn now(&mut self) -> u64;
    /// Connects to `url` over TCP+TLS and returns the HTTP status.
    fn https(&mut self, url: &str) -> Result<u16, HttpsFailure>;
}

/// Facts about the build the doctor compares against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DoctorInputs {
    /// `build_epoch` from build.json.
    pub build_epoch: Option<u64>,
    /// `backend_url` from build.json.
    pub backend_url: Option<String>,
}

fn pass(name: &str, detail: String) -> Check {
    Check {
        name: name.to_string(),
        ok: true,
        detail,
        hint: None,
    }
}

fn fail(name: &str, detail: String, hint: String) -> Check {
    Check {
        name: name.to_string(),
        ok: false,
        detail,
        hint: Some(hint),
    }
}

/// link: carrier, or "driver does not report link" (still a pass).
pub fn check_link(interface: &str, state: Result<Option<bool>, String>) -> Check {
    match state {
        Ok(Some(true)) => pass("link", format!("carrier detected on {interface}")),
        Ok(None) => pass(
            "link",
            format!("the driver of {interface} does not report link"),
        ),
        Ok(Some(false)) => fail(
            "link",
            format!("no carrier on {interface}"),
            "check that the network cable or the VM's virtual network adapter is connected".into(),
        ),
        Err(e) => fail(
            "link",
            format!("cannot read the link state of {interface}: {e}"),
            "choose another network adapter".into(),
        ),
    }
}

/// firmware: the firmware files the interface's device asked for and did
/// not get (`None` when there are none, so the check is only shown then).
pub fn check_firmware(
    interface: &str,
    device: Option<&str>,
    missing: &[crate::facts::MissingFirmware],
) -> Option<Check> {
    let device = device?;
    let files: Vec<String> = missing
        .iter()
        .filter(|m| m.device == device)
        .map(|m| m.file.clone())
        .collect();
    let driver = missing.iter().find(|m| m.device == device)?.driver.clone();
    Some(fail(
        "firmware",
        format!(
            "{interface} ({device}, driver {driver}) is missing the firmware {}",
            files.join(", ")
        ),
        "the installer does not carry this firmware; use another network adapter, or ask the vendor for an ISO that includes it".into(),
    ))
}

/// address: the configured address is on the interface.
pub fn check_address(config: &NetConfig, found: Result<Vec<Ipv4Cidr>, String>) -> Check {
    let want = config.address;
    let iface = &config.interface;
    match found {
        Ok(list) if list.contains(&want) => pass(
            "address",
            format!("{}/{} is configured on {iface}", want.addr, want.prefix),
        ),
        Ok(list) => {
            let have: Vec<String> = list
                .iter()
                .map(|c| format!("{}/{}", c.addr, c.prefix))
                .collect();
            let have = if have.is_empty() {
                "none".to_string()
            } else {
                have.join(", ")
            };
            fail(
                "address",
                format!(
                    "{}/{} is not configured on {iface} (found: {have})",
                    want.addr, want.prefix
                ),
                "apply the network configuration again".into(),
            )
        }
        Err(e) => fail(
            "address",
            format!("cannot list the addresses of {iface}: {e}"),
            "apply the network configuration again".into(),
        ),
    }
}

/// gateway: the default gateway answers ARP. `arp` is `None` when there is no gateway.
pub fn check_gateway(config: &NetConfig, arp: Option<Result<Option<String>, String>>) -> Check {
    let iface = &config.interface;
    match (config.gateway, arp) {
        (None, _) | (_, None) => pass("gateway", "skipped: no default gateway configured".into()),
        (Some(gw), Some(Ok(Some(mac)))) => pass(
            "gateway",
            format!("gateway {gw} answers ARP on {iface} ({mac})"),
        ),
        (Some(gw), Some(Ok(None))) => fail(
            "gateway",
            format!("gateway {gw} does not answer ARP on {iface}"),
            format!(
                "check the gateway address and that {gw} is in the same network segment as {iface}"
            ),
        ),
        (Some(gw), Some(Err(e))) => fail(
            "gateway",
            format!("cannot probe gateway {gw}: {e}"),
            "check the gateway address".into(),
        ),
    }
}

/// The host name (or IP literal) of `url`; `Err` if it is not a URL with a host.
pub fn backend_host(url: &str) -> Result<String, String> {
    let shown = crate::cmdline::mask_url(url);
    let parsed =
        reqwest::Url::parse(url).map_err(|e| format!("invalid backend URL {shown:?}: {e}"))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| format!("the backend URL {shown:?} has no host"))?;
    Ok(host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string())
}

/// dns: the backend's host name resolves. `resolved` is `None` when nothing was looked up.
pub fn check_dns(
    config: &NetConfig,
    host: Option<Result<String, String>>,
    resolved: Option<Result<Vec<IpAddr>, String>>,
) -> Check {
    let servers = if config.dns.is_empty() {
        "no DNS server configured".to_string()
    } else {
        let list: Vec<String> = config.dns.iter().map(ToString::to_string).collect();
        format!("via {}", list.join(", "))
    };
    match (host, resolved) {
        (None, _) => pass("dns", "skipped: no backend configured".into()),
        (Some(Err(e)), _) => fail("dns", e, "fix backend_url in build.json".into()),
        (Some(Ok(host)), _) if host.parse::<IpAddr>().is_ok() => pass(
            "dns",
            format!("skipped: the backend address {host} is an IP address"),
        ),
        (Some(Ok(host)), Some(Ok(addrs))) if !addrs.is_empty() => {
            let list: Vec<String> = addrs.iter().map(ToString::to_string).collect();
            pass(
                "dns",
                format!("{host} resolves to {} ({servers})", list.join(", ")),
            )
        }
        (Some(Ok(host)), Some(Ok(_))) => fail(
            "dns",
            format!("{host} resolves to no address ({servers})"),
            "check the DNS server addresses".into(),
        ),
        (Some(Ok(host)), Some(Err(e))) => fail(
            "dns",
            format!("cannot resolve {host} ({servers}): {e}"),
            if config.dns.is_empty() {
                "configure a DNS server".into()
            } else {
                "check the DNS server addresses and that the gateway forwards DNS (port 53)".into()
            },
        ),
        (Some(Ok(host)), None) => fail(
            "dns",
            format!("{host} was not looked up"),
            "run the network check again".into(),
        ),
    }
}

/// `1700000000` → "2023-11-14 22:13:20 UTC".
pub fn utc(secs: u64) -> String {
    image_builder::date::Utc::from_unix(secs).to_string()
}

/// clock: the system time is not earlier than the build time.
pub fn check_clock(now: u64, build_epoch: Option<u64>) -> Check {
    match build_epoch {
        None => pass(
            "clock",
            format!("system time {} (build time unknown, not compared)", utc(now)),
        ),
        Some(built) if now >= built => pass(
            "clock",
            format!("system time {} is after the build time {}", utc(now), utc(built)),
        ),
        Some(built) => fail(
            "clock",
            format!(
                "system time {} is earlier than the build time {}",
                utc(now),
                utc(built)
            ),
            "HTTPS will fail because certificates look not yet valid; set the correct time in the BIOS or the hypervisor's time settings and restart".into(),
        ),
    }
}

/// https: a TCP+TLS connection to the backend succeeds (any HTTP status counts).
pub fn check_https(url: Option<&str>, result: Option<Result<u16, HttpsFailure>>) -> Check {
    let Some(url) = url else {
        return pass("https", "skipped: no backend configured".into());
    };
    // Shown without user name, password or query (they may be secrets).
    let url = crate::cmdline::mask_url(url);
    match result {
        Some(Ok(status)) => pass("https", format!("HTTP {status} from {url}")),
        Some(Err(HttpsFailure::Timeout(e))) => fail(
            "https",
            format!("no answer from {url} within 10 s: {e}"),
            "a firewall may block outgoing HTTPS (port 443), or a proxy is required".into(),
        ),
        Some(Err(HttpsFailure::Connect(e))) => fail(
            "https",
            format!("cannot connect to {url}: {e}"),
            "check the gateway and DNS results above and that outgoing HTTPS (port 443) is allowed"
                .into(),
        ),
        Some(Err(HttpsFailure::Tls(e))) => fail(
            "https",
            format!("TLS with {url} failed: {e}"),
            "if the clock check failed, fix the clock first; otherwise a proxy may intercept TLS"
                .into(),
        ),
        Some(Err(HttpsFailure::Other(e))) => fail(
            "https",
            format!("request to {url} failed: {e}"),
            "check backend_url in build.json".into(),
        ),
        None => fail(
            "https",
            format!("{url} was not tried"),
            "run the network check again".into(),
        ),
    }
}

/// Runs all checks in order: link, address, gateway, dns, clock, https.
pub fn run(config: &NetConfig, inputs: &DoctorInputs, probes: &mut dyn Probes) -> Vec<Check> {
    let iface = config.interface.as_str();
    let mut checks = vec![
        check_link(iface, probes.link(iface)),
        check_address(config, probes.addresses(iface)),
    ];
    let arp = config.gateway.map(|gw| probes.arp(iface, gw));
    checks.push(check_gateway(config, arp));
    let url = inputs.backend_url.as_deref();
    let host = url.map(backend_host);
    let resolved = match &host {
        Some(Ok(h)) if h.parse::<IpAddr>().is_err() => Some(probes.resolve(h)),
        _ => None,
    };
    checks.push(check_dns(config, host, resolved));
    checks.push(check_clock(probes.now(), inputs.build_epoch));
    let result = url.map(|u| probes.https(u));
    checks.push(check_https(url, result));
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> NetConfig {
        crate::net::sample_config()
    }

    #[test]
    fn missing_firmware_names_the_device_and_the_file() {
        let missing = crate::facts::missing_firmware(
            "r8169 0000:00:03.0: Direct firmware load for rtl_nic/rtl8168h-2.fw failed with error -2\n",
        );
        let c = check_firmware("eth0", Some("0000:00:03.0"), &missing).unwrap();
        assert!(!c.ok);
        assert_eq!(
            c.detail,
            "eth0 (0000:00:03.0, driver r8169) is missing the firmware rtl_nic/rtl8168h-2.fw"
        );
        assert!(check_firmware("eth1", Some("0000:00:04.0"), &missing).is_none());
        assert!(check_firmware("eth0", None, &missing).is_none());
    }

    #[test]
    fn link_states() {
        assert!(check_link("eth0", Ok(Some(true))).ok);
        let none = check_link("eth0", Ok(None));
        assert!(none.ok);
        assert_eq!(none.detail, "the driver of eth0 does not report link");
        let down = check_link("eth0", Ok(Some(false)));
        assert!(!down.ok);
        assert_eq!(down.detail, "no carrier on eth0");
        assert!(down.hint.unwrap().contains("connected"));
        assert!(!check_link("eth0", Err("gone".into())).ok);
    }

    #[test]
    fn address_present_or_listed() {
        let c = config();
        assert!(check_address(&c, Ok(vec![c.address])).ok);
        let other = Ipv4Cidr {
            addr: Ipv4Addr::new(10, 0, 0, 5),
            prefix: 8,
        };
        let f = check_address(&c, Ok(vec![other]));
        assert!(!f.ok);
        assert_eq!(
            f.detail,
            "192.0.2.10/24 is not configured on eth0 (found: 10.0.0.5/8)"
        );
        assert!(check_address(&c, Ok(vec![]))
            .detail
            .ends_with("(found: none)"));
    }

    #[test]
    fn gateway_arp() {
        let c = config();
        let ok = check_gateway(&c, Some(Ok(Some("52:54:00:00:00:01".into()))));
        assert!(ok.ok);
        assert_eq!(
            ok.detail,
            "gateway 192.0.2.1 answers ARP on eth0 (52:54:00:00:00:01)"
        );
        let silent = check_gateway(&c, Some(Ok(None)));
        assert!(!silent.ok);
        assert_eq!(
            silent.detail,
            "gateway 192.0.2.1 does not answer ARP on eth0"
        );
        let mut none = config();
        none.gateway = None;
        assert!(check_gateway(&none, None).ok);
    }

    #[test]
    fn dns_outcomes() {
        let c = config();
        assert_eq!(
            check_dns(&c, None, None).detail,
            "skipped: no backend configured"
        );
        let ok = check_dns(
            &c,
            Some(Ok("backend.example".into())),
            Some(Ok(vec!["198.51.100.7".parse().unwrap()])),
        );
        assert!(ok.ok);
        assert_eq!(
            ok.detail,
            "backend.example resolves to 198.51.100.7 (via 192.0.2.53)"
        );
        let bad = check_dns(
            &c,
            Some(Ok("backend.example".into())),
            Some(Err("Name or service not known".into())),
        );
        assert!(!bad.ok);
        assert!(bad
            .detail
            .contains("cannot resolve backend.example (via 192.0.2.53)"));
        let mut no_dns = config();
        no_dns.dns.clear();
        let f = check_dns(&no_dns, Some(Ok("b.example".into())), Some(Err("x".into())));
        assert_eq!(f.hint.as_deref(), Some("configure a DNS server"));
        assert!(check_dns(&c, Some(Ok("198.51.100.7".into())), None).ok);
    }

    #[test]
    fn backend_hosts() {
        assert_eq!(
            backend_host("https://backend.example:8443/api").unwrap(),
            "backend.example"
        );
        assert_eq!(
            backend_host("https://[2001:db8::1]/").unwrap(),
            "2001:db8::1"
        );
        assert!(backend_host("not a url").unwrap_err().contains("not a url"));
    }

    #[test]
    fn clock_against_build_time() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC"); // leap day
        assert!(check_clock(1_700_000_000, Some(1_600_000_000)).ok);
        assert!(check_clock(5, None).ok);
        let behind = check_clock(1_000_000_000, Some(1_700_000_000));
        assert!(!behind.ok);
        assert_eq!(
            behind.detail,
            "system time 2001-09-09 01:46:40 UTC is earlier than the build time 2023-11-14 22:13:20 UTC"
        );
        assert!(behind.hint.unwrap().contains("HTTPS will fail"));
    }

    #[test]
    fn https_outcomes() {
        let skipped = check_https(None, None);
        assert!(skipped.ok);
        assert_eq!(skipped.detail, "skipped: no backend configured");
        let u = Some("https://b.example/");
        assert_eq!(
            check_https(u, Some(Ok(404))).detail,
            "HTTP 404 from https://b.example/"
        );
        assert!(check_https(u, Some(Ok(404))).ok);
        let tls = check_https(u, Some(Err(HttpsFailure::Tls("UnknownIssuer".into()))));
        assert!(!tls.ok);
        assert!(tls.detail.contains("UnknownIssuer"));
        assert!(tls.hint.unwrap().contains("clock"));
        let t = check_https(u, Some(Err(HttpsFailure::Timeout("deadline".into()))));
        assert!(t.hint.unwrap().contains("port 443"));
    }

    #[test]
    fn the_backend_url_is_shown_without_credentials() {
        let u = Some("https://vendor:Pa55word@b.example/?token=T0ken");
        let c = check_https(u, Some(Err(HttpsFailure::Connect("refused".into()))));
        assert_eq!(
            c.detail,
            "cannot connect to https://***@b.example/?***: refused"
        );
        let e = backend_host("https://vendor:Pa55word@/?token=T0ken").unwrap_err();
        assert!(!e.contains("Pa55word") && !e.contains("T0ken"), "{e}");
    }

    struct Fake {
        resolved: Vec<String>,
    }

    impl Probes for Fake {
        fn link(&mut self, _: &str) -> Result<Option<bool>, String> {
            Ok(Some(true))
        }
        fn addresses(&mut self, _: &str) -> Result<Vec<Ipv4Cidr>, String> {
            Ok(vec![config().address])
        }
        fn arp(&mut self, _: &str, _: Ipv4Addr) -> Result<Option<String>, String> {
            Ok(None)
        }
        fn resolve(&mut self, host: &str) -> Result<Vec<IpAddr>, String> {
            self.resolved.push(host.to_string());
            Ok(vec!["198.51.100.7".parse().unwrap()])
        }
        fn now(&mut self) -> u64 {
            2_000_000_000
        }
        fn https(&mut self, _: &str) -> Result<u16, HttpsFailure> {
            Err(HttpsFailure::Connect("refused".into()))
        }
    }

    #[test]
    fn run_orders_checks_and_feeds_inputs() {
        let mut probes = Fake { resolved: vec![] };
        let inputs = DoctorInputs {
            build_epoch: Some(1_700_000_000),
            backend_url: Some("https://backend.example/".into()),
        };
        let checks = run(&config(), &inputs, &mut probes);
        let names: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["link", "address", "gateway", "dns", "clock", "https"]
        );
        let oks: Vec<bool> = checks.iter().map(|c| c.ok).collect();
        assert_eq!(oks, [true, true, false, true, true, false]);
        assert_eq!(probes.resolved, ["backend.example"]);
        assert!(checks.iter().all(|c| c.ok == c.hint.is_none()));
    }

    #[test]
    fn run_without_backend_skips_dns_and_https_as_passes() {
        let mut probes = Fake { resolved: vec![] };
        let checks = run(&config(), &DoctorInputs::default(), &mut probes);
        assert!(probes.resolved.is_empty());
        assert_eq!(checks[3].detail, "skipped: no backend configured");
        assert!(checks[5].ok);
        assert_eq!(checks[5].detail, "skipped: no backend configured");
    }
}
