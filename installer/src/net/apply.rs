//! The only code that changes the system's network state: links up, IPv4
//! addresses, MTU, routes (over raw netlink, see [`super::netlink`] for why),
//! `/etc/resolv.conf`, `/etc/hosts` and the hostname.
//!
//! [`apply`] is idempotent: applying the same configuration twice leaves the
//! same state. Old IPv4 addresses on the configured interface are removed;
//! routes are added with "replace" semantics, so a default route from an
//! earlier configuration is overwritten rather than duplicated. Addresses on
//! *other* interfaces (an earlier choice of adapter) are left alone.

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use super::netlink::{self, Netlink, NetlinkError, RouteSpec, RTPROT_DHCP, RTPROT_STATIC};
use super::{render, NetConfig, Source};

/// What [`apply`] touches besides the interface itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyOptions {
    /// Directory containing `etc/` for resolv.conf and hosts (`/` in the installer).
    pub root: PathBuf,
    /// Whether to call `sethostname(2)`.
    pub set_hostname: bool,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            root: PathBuf::from("/"),
            set_hostname: true,
        }
    }
}

/// Errors applying a configuration; each names the step and the thing.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The configuration itself is unusable.
    #[error("invalid configuration for {interface}: {reason}")]
    Invalid {
        /// The interface.
        interface: String,
        /// What is wrong.
        reason: String,
    },
    /// No interface of that name exists.
    #[error("no network interface named {0}")]
    NoInterface(String),
    /// A netlink step failed.
    #[error("{step}: {source}")]
    Netlink {
        /// The step, e.g. "cannot add 192.0.2.10/24 to eth0".
        step: String,
        /// The netlink error.
        source: NetlinkError,
    },
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `sethostname` failed.
    #[error("cannot set the hostname to {name}: {source}")]
    Hostname {
        /// The name.
        name: String,
        /// The errno.
        source: nix::Error,
    },
}

fn nl_step(step: impl Into<String>) -> impl FnOnce(NetlinkError) -> ApplyError {
    let step = step.into();
    move |source| ApplyError::Netlink { step, source }
}

/// Brings link `index` (named `name`, for messages) up.
pub fn link_up(nl: &mut Netlink, index: u32, name: &str) -> Result<(), ApplyError> {
    let idx = i32::try_from(index).map_err(|_| ApplyError::NoInterface(name.to_string()))?;
    nl.request(netlink::set_link(idx, Some(true), None))
        .map_err(nl_step(format!("cannot bring {name} up")))
}

/// Brings `lo` up with 127.0.0.1/8 (an existing address is fine).
pub fn loopback_up(nl: &mut Netlink) -> Result<(), ApplyError> {
    let lo = nl
        .link_by_name("lo")
        .map_err(nl_step("cannot list links"))?
        .ok_or_else(|| ApplyError::NoInterface("lo".into()))?;
    link_up(nl, lo.index, "lo")?;
    nl.request(netlink::addr(true, lo.index, Ipv4Addr::LOCALHOST, 8))
        .map_err(nl_step("cannot add 127.0.0.1/8 to lo"))
}

/// Checks what the kernel would reject with a less helpful message.
pub fn validate(config: &NetConfig) -> Result<(), ApplyError> {
    let invalid = |reason: String| ApplyError::Invalid {
        interface: config.interface.clone(),
        reason,
    };
    let a = config.address;
    if a.prefix > 32 {
        return Err(invalid(format!("prefix /{} is longer than 32", a.prefix)));
    }
    if a.addr.is_unspecified() || a.addr.is_broadcast() || a.addr.is_multicast() {
        return Err(invalid(format!("{} is not a host address", a.addr)));
    }
    if config.mtu.is_some_and(|m| m < 576) {
        return Err(invalid(format!(
            "MTU {} is below 576",
            config.mtu.unwrap_or_default()
        )));
    }
    for r in &config.routes {
        if r.destination.prefix > 32 {
            return Err(invalid(format!(
                "route prefix /{} is longer than 32",
                r.destination.prefix
            )));
        }
    }
    Ok(())
}

/// Whether `gw` lies inside `addr/prefix`.
pub fn in_subnet(gw: Ipv4Addr, addr: Ipv4Addr, prefix: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    u32::from(gw) & mask == u32::from(addr) & mask
}

/// The routes to install: option-121/static routes first, then the default
/// route (its gateway may only be reachable through one of them). A gateway
/// of 0.0.0.0 means "on link"; so does a default gateway outside the subnet,
/// which then first gets an on-link host route.
pub fn route_plan(config: &NetConfig, oif: u32) -> Vec<RouteSpec> {
    let protocol = match config.source {
        Source::Manual => RTPROT_STATIC,
        Source::Dhcp { .. } => RTPROT_DHCP,
    };
    let mut plan: Vec<RouteSpec> = config
        .routes
        .iter()
        .map(|r| RouteSpec {
            destination: r.destination.addr,
            prefix: r.destination.prefix,
            gateway: (!r.gateway.is_unspecified()).then_some(r.gateway),
            oif,
            protocol,
        })
        .collect();
    if let Some(gw) = config.gateway {
        let a = config.address;
        let routed = plan.iter().any(|r| in_subnet(gw, r.destination, r.prefix));
        if !in_subnet(gw, a.addr, a.prefix) && !routed {
            plan.push(RouteSpec {
                destination: gw,
                prefix: 32,
                gateway: None,
                oif,
                protocol,
            });
        }
        plan.push(RouteSpec {
            destination: Ipv4Addr::UNSPECIFIED,
            prefix: 0,
            gateway: Some(gw),
            oif,
            protocol,
        });
    }
    plan
}

fn write_file(path: &Path, text: &str) -> Result<(), ApplyError> {
    let err = |source| ApplyError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let tmp = path.with_extension("installer-tmp");
    let mut f = std::fs::File::create(&tmp).map_err(err)?;
    f.write_all(text.as_bytes()).map_err(err)?;
    f.sync_all().map_err(err)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(err)
}

/// Writes `<root>/etc/resolv.conf` and `<root>/etc/hosts`.
pub fn write_files(root: &Path, config: &NetConfig) -> Result<(), ApplyError> {
    write_file(&root.join("etc/resolv.conf"), &render::resolv_conf(config))?;
    write_file(&root.join("etc/hosts"), &render::hosts(config))
}

/// Applies `config`; returns one line per step done, for the log.
pub fn apply(
    nl: &mut Netlink,
    config: &NetConfig,
    options: &ApplyOptions,
) -> Result<Vec<String>, ApplyError> {
    validate(config)?;
    let name = config.interface.as_str();
    let mut log = Vec::new();
    loopback_up(nl)?;
    log.push("lo up with 127.0.0.1/8".to_string());

    let link = nl
        .link_by_name(name)
        .map_err(nl_step("cannot list links"))?
        .ok_or_else(|| ApplyError::NoInterface(name.to_string()))?;
    let idx = i32::try_from(link.index).map_err(|_| ApplyError::NoInterface(name.to_string()))?;
    if let Some(mtu) = config.mtu {
        // Not fatal: some drivers (tulip) cannot change their MTU, and the
        // driver's default still works on a standard Ethernet.
        match nl.request(netlink::set_link(idx, None, Some(u32::from(mtu)))) {
            Ok(()) => log.push(format!("{name} MTU {mtu}")),
            Err(e) => log.push(format!(
                "warning: cannot set the MTU of {name} to {mtu} ({e}); keeping the driver's MTU"
            )),
        }
    }
    link_up(nl, link.index, name)?;
    log.push(format!("{name} up"));

    let want = config.address;
    let old: Vec<_> = nl
        .addrs()
        .map_err(nl_step("cannot list addresses"))?
        .into_iter()
        .filter(|a| a.index == link.index && !(a.addr == want.addr && a.prefix == want.prefix))
        .collect();
    for a in old {
        match nl.request(netlink::addr(false, link.index, a.addr, a.prefix)) {
            // Already gone (e.g. removed together with a primary address).
            Err(e) if e.errno() == Some(libc::EADDRNOTAVAIL) => {}
            r => r.map_err(nl_step(format!(
                "cannot remove {}/{} from {name}",
                a.addr, a.prefix
            )))?,
        }
        log.push(format!("removed {}/{} from {name}", a.addr, a.prefix));
    }
    nl.request(netlink::addr(true, link.index, want.addr, want.prefix))
        .map_err(nl_step(format!(
            "cannot add {}/{} to {name}",
            want.addr, want.prefix
        )))?;
    log.push(format!("{name} address {}/{}", want.addr, want.prefix));

    for r in route_plan(config, link.index) {
        let what = match r.gateway {
            Some(gw) if r.prefix == 0 => format!("default via {gw}"),
            Some(gw) => format!("{}/{} via {gw}", r.destination, r.prefix),
            None => format!("{}/{} on link", r.destination, r.prefix),
        };
        nl.request(netlink::replace_route(&r))
            .map_err(nl_step(format!("cannot add the route {what} on {name}")))?;
        log.push(format!("route {what} dev {name}"));
    }

    write_files(&options.root, config)?;
    log.push(format!(
        "wrote {} and {}",
        options.root.join("etc/resolv.conf").display(),
        options.root.join("etc/hosts").display()
    ));
    if options.set_hostname {
        nix::unistd::sethostname(&config.hostname).map_err(|source| ApplyError::Hostname {
            name: config.hostname.clone(),
            source,
        })?;
        log.push(format!("hostname {}", config.hostname));
    }
    Ok(log)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{Ipv4Cidr, Route};
    use crate::testutil::TempTree;

    fn config() -> NetConfig {
        NetConfig {
            domain: Some("example.com".into()),
            mtu: Some(1400),
            ..crate::net::sample_config()
        }
    }

    #[test]
    fn default_route_only() {
        let plan = route_plan(&config(), 3);
        assert_eq!(
            plan,
            vec![RouteSpec {
                destination: Ipv4Addr::UNSPECIFIED,
                prefix: 0,
                gateway: Some(Ipv4Addr::new(192, 0, 2, 1)),
                oif: 3,
                protocol: RTPROT_STATIC,
            }]
        );
    }

    #[test]
    fn static_routes_come_first_and_zero_gateway_is_on_link() {
        let mut c = config();
        c.source = Source::Dhcp {
            server: Ipv4Addr::new(192, 0, 2, 1),
            lease_seconds: 60,
        };
        c.routes = vec![
            Route {
                destination: Ipv4Cidr {
                    addr: Ipv4Addr::new(10, 0, 0, 0),
                    prefix: 8,
                },
                gateway: Ipv4Addr::new(192, 0, 2, 254),
            },
            Route {
                destination: Ipv4Cidr {
                    addr: Ipv4Addr::new(198, 51, 100, 0),
                    prefix: 24,
                },
                gateway: Ipv4Addr::UNSPECIFIED,
            },
        ];
        let plan = route_plan(&c, 2);
        assert_eq!(plan.len(), 3);
        assert_eq!(plan[0].gateway, Some(Ipv4Addr::new(192, 0, 2, 254)));
        assert_eq!(plan[1].gateway, None);
        assert_eq!(plan[1].prefix, 24);
        assert_eq!(plan[2].prefix, 0);
        assert!(plan.iter().all(|r| r.protocol == RTPROT_DHCP && r.oif == 2));
    }

    #[test]
    fn gateway_outside_the_subnet_gets_a_host_route() {
        let mut c = config();
        c.gateway = Some(Ipv4Addr::new(203, 0, 113, 1));
        let plan = route_plan(&c, 2);
        assert_eq!(plan.len(), 2);
        assert_eq!(plan[0].destination, Ipv4Addr::new(203, 0, 113, 1));
        assert_eq!(plan[0].prefix, 32);
        assert_eq!(plan[0].gateway, None);
        assert_eq!(plan[1].prefix, 0);
    }

    #[test]
    fn no_gateway_no_default_route() {
        let mut c = config();
        c.gateway = None;
        assert!(route_plan(&c, 1).is_empty());
    }

    #[test]
    fn validation_names_the_problem() {
        let mut c = config();
        c.address.prefix = 33;
        assert_eq!(
            validate(&c).unwrap_err().to_string(),
            "invalid configuration for eth0: prefix /33 is longer than 32"
        );
        let mut c = config();
        c.address.addr = Ipv4Addr::UNSPECIFIED;
        assert!(validate(&c)
            .unwrap_err()
            .to_string()
            .contains("0.0.0.0 is not a host address"));
        let mut c = config();
        c.mtu = Some(500);
        assert!(validate(&c).unwrap_err().to_string().contains("MTU 500"));
        assert!(validate(&config()).is_ok());
    }

    #[test]
    fn writes_resolv_conf_and_hosts_under_root() {
        let t = TempTree::new("apply-files");
        write_files(t.path(), &config()).unwrap();
        let resolv = std::fs::read_to_string(t.path().join("etc/resolv.conf")).unwrap();
        assert!(resolv.contains("nameserver 192.0.2.53\n"));
        assert!(resolv.contains("search example.com\n"));
        let hosts = std::fs::read_to_string(t.path().join("etc/hosts")).unwrap();
        assert!(hosts.contains("192.0.2.10\tnode7.example.com node7\n"));
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(t.path().join("etc"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn write_error_names_the_file() {
        let t = TempTree::new("apply-ro");
        t.write("etc", b"a file where a directory should be");
        let err = write_files(t.path(), &config()).unwrap_err();
        assert!(err.to_string().contains("etc/resolv.conf"), "{err}");
    }

    #[test]
    fn subnet_membership() {
        let a = Ipv4Addr::new(10, 1, 2, 3);
        assert!(in_subnet(Ipv4Addr::new(10, 1, 0, 1), a, 16));
        assert!(!in_subnet(Ipv4Addr::new(10, 2, 0, 1), a, 16));
        assert!(in_subnet(Ipv4Addr::new(1, 1, 1, 1), a, 0));
    }
}
