//! [`SystemNet`]: the real [`NetOps`] — netlink for links, addresses and
//! routes, an AF_PACKET DHCP client, and the network doctor's system probes.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::apply::{self, ApplyOptions};
use super::dhcp::{self, DhcpParams, MonotonicClock};
use super::doctor::{self, DoctorInputs};
use super::link::{self, Carrier};
use super::netlink::Netlink;
use super::probe::SystemProbes;
use super::raw::PacketTransport;
use super::{lease, Check, DhcpFailure, Interface, NetConfig, NetOps};
use crate::buildinfo::BuildInfo;

/// The real network operations. The DHCP lease is obtained once and not
/// renewed (a warning is reported for leases under 2 h).
#[derive(Debug)]
pub struct SystemNet {
    /// DHCP timing.
    pub dhcp: DhcpParams,
    /// How long to wait for carrier before trying DHCP anyway.
    pub carrier_timeout: Duration,
    /// Where [`NetOps::apply`] writes files and whether it sets the hostname.
    pub apply: ApplyOptions,
    /// Build facts for the doctor.
    pub doctor: DoctorInputs,
    /// The doctor's measurements.
    pub probes: SystemProbes,
    /// What the last [`NetOps::apply`] did, one line per step.
    pub last_apply_log: Vec<String>,
}

/// `backend_url` from `<root>/etc/installer/vendor.json` (the serial step
/// reads the whole file with `vendor::VendorConfig`; the doctor only needs
/// the URL and must work when the rest is broken).
pub fn backend_url_from_vendor_json(root: &Path) -> Option<String> {
    let text = std::fs::read_to_string(root.join(crate::vendor::config::VENDOR_JSON)).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    let url = value.get("backend_url")?.as_str()?.trim();
    (!url.is_empty()).then(|| url.to_string())
}

impl SystemNet {
    /// The installer's configuration: default DHCP timing (4/8/16 s, 30 s
    /// total), 10 s carrier wait, files under `/`, hostname set, and the
    /// doctor comparing against `build` (and build.json's `backend_url`).
    pub fn new(build: Option<&BuildInfo>) -> SystemNet {
        SystemNet {
            dhcp: DhcpParams::default(),
            carrier_timeout: Duration::from_secs(10),
            apply: ApplyOptions::default(),
            doctor: DoctorInputs {
                build_epoch: build.map(|b| b.build_epoch),
                backend_url: backend_url_from_vendor_json(Path::new("/")),
            },
            probes: SystemProbes::default(),
            last_apply_log: Vec::new(),
        }
    }

    /// Writes resolv.conf and hosts under `root` instead of `/`.
    pub fn with_root(mut self, root: PathBuf) -> SystemNet {
        self.apply.root = root;
        self
    }
}

fn failure(interface: &str, tried: String, hint: String) -> DhcpFailure {
    DhcpFailure {
        interface: interface.to_string(),
        tried,
        hint,
    }
}

/// A transaction id from the MAC and the clock: distinct per client and run
/// (it only has to tell our exchange apart from others on the link).
fn transaction_id(mac: [u8; 6]) -> u32 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let m = mac
        .iter()
        .fold(0u64, |acc, &b| acc.rotate_left(8) ^ u64::from(b));
    let x = (nanos ^ m.wrapping_mul(0x9E37_79B9_7F4A_7C15)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    (x >> 32) as u32 ^ x as u32
}

impl NetOps for SystemNet {
    fn interfaces(&mut self) -> Vec<Interface> {
        Netlink::open()
            .and_then(|mut nl| link::interfaces(&mut nl))
            .unwrap_or_default()
    }

    fn dhcp(
        &mut self,
        interface: &str,
        progress: &mut dyn FnMut(&str),
    ) -> Result<NetConfig, DhcpFailure> {
        let mut nl = Netlink::open().map_err(|e| {
            failure(
                interface,
                e.to_string(),
                "the installer cannot configure networking; configure it manually (M) after a reboot".into(),
            )
        })?;
        let links = nl.links().map_err(|e| {
            failure(
                interface,
                format!("cannot list network interfaces: {e}"),
                "try again or configure the network manually (M)".into(),
            )
        })?;
        let Some(found) = links.iter().find(|l| l.name == interface).cloned() else {
            let names: Vec<&str> = links
                .iter()
                .filter(|l| link::is_adapter(l))
                .map(|l| l.name.as_str())
                .collect();
            let hint = if names.is_empty() {
                "no network adapter was found; check the VM's network hardware (e1000, vmxnet3, legacy adapter on Hyper-V)".to_string()
            } else {
                format!("choose one of: {}", names.join(", "))
            };
            return Err(failure(
                interface,
                format!("no network interface named {interface}"),
                hint,
            ));
        };
        let Ok(mac) = <[u8; 6]>::try_from(found.mac.as_slice()) else {
            return Err(failure(
                interface,
                format!("{interface} has no Ethernet address"),
                "choose an Ethernet adapter".into(),
            ));
        };

        progress(&format!("bringing {interface} up"));
        apply::link_up(&mut nl, found.index, interface).map_err(|e| {
            failure(
                interface,
                e.to_string(),
                format!("the driver of {interface} refused to start; choose another adapter"),
            )
        })?;
        let carrier = link::wait_for_carrier(
            &mut nl,
            found.index,
            self.carrier_timeout,
            Duration::from_millis(100),
        )
        .unwrap_or(Carrier::NotReported);
        let no_carrier = match carrier {
            Carrier::Up(d) => {
                progress(&format!(
                    "carrier on {interface} after {:.1} s",
                    d.as_secs_f64()
                ));
                false
            }
            Carrier::NotReported => {
                progress(&format!(
                    "the driver of {interface} does not report link; trying DHCP anyway"
                ));
                false
            }
            Carrier::TimedOut(d) => {
                progress(&format!(
                    "no carrier on {interface} after {} s; trying DHCP anyway",
                    d.as_secs()
                ));
                true
            }
        };

        let mut transport = PacketTransport::open(found.index).map_err(|e| {
            failure(
                interface,
                format!("cannot open a raw socket on {interface}: {e}"),
                "DHCP needs root privileges (CAP_NET_RAW); configure the network manually (M)"
                    .into(),
            )
        })?;
        progress(&format!(
            "asking for a DHCP lease on {interface} (up to {} s)",
            self.dhcp.total.as_secs()
        ));
        let clock = MonotonicClock::new();
        let acked = dhcp::obtain(
            &mut transport,
            &clock,
            &self.dhcp,
            mac,
            transaction_id(mac),
            progress,
        )
        .map_err(|e| {
            let mut f = e.failure(interface);
            if no_carrier {
                f.tried.push_str(&format!(" (no carrier on {interface})"));
            }
            f
        })?;
        let lease = lease::from_ack(interface, &acked.ack, acked.server).map_err(|e| {
            failure(
                interface,
                e.to_string(),
                format!(
                    "the DHCP server {} is misconfigured; configure the network manually (M)",
                    acked.server
                ),
            )
        })?;
        for w in &lease.warnings {
            progress(&format!("warning: {w}"));
        }
        let c = &lease.config;
        progress(&format!(
            "lease: {}/{} gateway {} from {}",
            c.address.addr,
            c.address.prefix,
            c.gateway
                .map(|g| g.to_string())
                .unwrap_or_else(|| "none".into()),
            acked.server
        ));
        Ok(lease.config)
    }

    fn apply(&mut self, config: &NetConfig) -> Result<(), String> {
        let mut nl = Netlink::open().map_err(|e| e.to_string())?;
        self.last_apply_log =
            apply::apply(&mut nl, config, &self.apply).map_err(|e| e.to_string())?;
        Ok(())
    }

    fn doctor(&mut self, config: &NetConfig) -> Vec<Check> {
        let mut checks = doctor::run(config, &self.doctor, &mut self.probes);
        let root = Path::new("/");
        let device = std::fs::read_link(
            root.join("sys/class/net")
                .join(&config.interface)
                .join("device"),
        )
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
        let missing = crate::facts::missing_firmware(&crate::facts::pci::read_kernel_log(root));
        if let Some(c) = doctor::check_firmware(&config.interface, device.as_deref(), &missing) {
            checks.insert(1, c);
        }
        checks
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempTree;

    #[test]
    fn backend_url_is_read_from_vendor_json_when_present() {
        let t = TempTree::new("net-backend");
        assert_eq!(backend_url_from_vendor_json(t.path()), None);
        t.write(
            crate::vendor::config::VENDOR_JSON,
            br#"{"backend_url":"https://backend.example/api","model":"m","channel":"c"}"#,
        );
        assert_eq!(
            backend_url_from_vendor_json(t.path()).as_deref(),
            Some("https://backend.example/api")
        );
        t.write(
            crate::vendor::config::VENDOR_JSON,
            br#"{"backend_url": "  "}"#,
        );
        assert_eq!(backend_url_from_vendor_json(t.path()), None);
    }

    #[test]
    fn new_takes_the_build_epoch_and_defaults() {
        let build = BuildInfo::parse(
            r#"{"product":"P","version":"1","volume_id":"V","build_epoch":1700000000,"kernel_release":"k"}"#,
        )
        .unwrap();
        let net = SystemNet::new(Some(&build));
        assert_eq!(net.doctor.build_epoch, Some(1_700_000_000));
        assert_eq!(net.dhcp.total, Duration::from_secs(30));
        assert_eq!(net.carrier_timeout, Duration::from_secs(10));
        assert_eq!(net.apply.root, PathBuf::from("/"));
        assert!(net.apply.set_hostname);
        assert_eq!(SystemNet::new(None).doctor.build_epoch, None);
    }

    #[test]
    fn transaction_ids_differ_between_clients() {
        let a = transaction_id([2, 0, 0, 0, 0, 1]);
        let b = transaction_id([2, 0, 0, 0, 0, 2]);
        assert_ne!(a, b);
    }

    #[test]
    fn dhcp_on_a_missing_interface_names_it() {
        let mut net = SystemNet::new(None);
        let err = net.dhcp("nonexistent9", &mut |_| {}).unwrap_err();
        assert_eq!(err.interface, "nonexistent9");
        assert_eq!(err.tried, "no network interface named nonexistent9");
        assert!(!err.hint.is_empty());
    }

    #[test]
    fn interfaces_exclude_loopback_and_are_sorted() {
        let list = SystemNet::new(None).interfaces();
        assert!(list.iter().all(|i| i.name != "lo"));
        let mut sorted = list.clone();
        sorted.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(list, sorted);
    }
}
