//! Form bodies as the browser posts them, turned into the wizard's forms,
//! and the forms a recorded step is shown with again (Previous, reload).

use appliance_wizard::keys::{KeysChoice, KeysForm};
use appliance_wizard::licence::LicenceForm;
use appliance_wizard::network::{Addressing, Network, NetworkForm};
use appliance_wizard::radius::{ClientForm, RadiusClients, RadiusForm};
use appliance_wizard::roles::{Roles, RolesForm};
use appliance_wizard::time::{Clock, TimeForm, TimeSettings};
use appliance_wizard::Secret;

/// The fields of one posted form, in order (names may repeat).
#[derive(Debug, Clone, Default)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    /// Reads an `application/x-www-form-urlencoded` body.
    pub fn from_urlencoded(body: &[u8]) -> Fields {
        Fields(
            form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `name`, or "".
    pub fn get(&self, name: &str) -> String {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }
}

/// The licence form; the file's text comes separately (multipart).
pub fn licence(f: &Fields) -> LicenceForm {
    LicenceForm {
        accept: f.get("accept"),
        licence: f.get("licence"),
        update_key: f.get("update_key"),
    }
}

/// The network form.
pub fn network(f: &Fields) -> NetworkForm {
    NetworkForm {
        mode: f.get("mode"),
        address: f.get("address"),
        netmask: f.get("netmask"),
        gateway: f.get("gateway"),
        hostname: f.get("hostname"),
        domain: f.get("domain"),
        search: f.get("search"),
        dns: f.get("dns"),
    }
}

/// The time form.
pub fn time(f: &Fields) -> TimeForm {
    TimeForm {
        time_zone: f.get("time_zone"),
        ntp: f.get("ntp"),
        ntp_servers: f.get("ntp_servers"),
        date: f.get("date"),
        time: f.get("time"),
    }
}

/// The roles form.
pub fn roles(f: &Fields) -> RolesForm {
    RolesForm {
        linotp_admin_user: f.get("linotp_admin_user"),
        linotp_admin_password: Secret(f.get("linotp_admin_password")),
        linotp_admin_repeat: Secret(f.get("linotp_admin_repeat")),
        root_password: Secret(f.get("root_password")),
        root_repeat: Secret(f.get("root_repeat")),
        appliance_admin_user: f.get("appliance_admin_user"),
        appliance_admin_password: Secret(f.get("appliance_admin_password")),
        appliance_admin_repeat: Secret(f.get("appliance_admin_repeat")),
    }
}

/// The most table rows a form may post (the wizard allows 256 clients).
pub const MAX_ROWS: usize = 300;

/// The RADIUS form: rows are `clients[i].name`, `clients[i].address`,
/// `clients[i].secret`, `clients[i].short_name`, `clients[i].legacy`.
pub fn radius(f: &Fields) -> RadiusForm {
    let mut rows: Vec<ClientForm> = Vec::new();
    for (k, v) in &f.0 {
        let Some(rest) = k.strip_prefix("clients[") else {
            continue;
        };
        let Some((index, field)) = rest.split_once("].") else {
            continue;
        };
        let Ok(i) = index.parse::<usize>() else {
            continue;
        };
        if i >= MAX_ROWS {
            continue;
        }
        if rows.len() <= i {
            rows.resize_with(i + 1, ClientForm::default);
        }
        let row = &mut rows[i];
        match field {
            "name" => row.name = v.clone(),
            "address" => row.address = v.clone(),
            "secret" => row.secret = Secret(v.clone()),
            "short_name" => row.short_name = v.clone(),
            "legacy" => row.legacy = v.clone(),
            _ => {}
        }
    }
    RadiusForm {
        no_configuration: f.get("no_configuration"),
        clients: rows,
    }
}

/// The keys form.
pub fn keys(f: &Fields) -> KeysForm {
    KeysForm {
        regenerate_ssh: f.get("regenerate_ssh"),
        regenerate_tls: f.get("regenerate_tls"),
        regenerate_db_key: f.get("regenerate_db_key"),
        regenerate_db_passwords: f.get("regenerate_db_passwords"),
        shutdown: f.get("shutdown"),
    }
}

fn on(b: bool) -> String {
    if b { "on" } else { "" }.to_string()
}

/// The network form of a recorded step.
pub fn network_of(n: &Network) -> NetworkForm {
    let (mode, address, netmask, gateway) = match n.addressing {
        Addressing::Dhcp => ("dhcp", String::new(), String::new(), String::new()),
        Addressing::Static {
            address,
            prefix,
            gateway,
        } => (
            "static",
            address.to_string(),
            format!("/{prefix}"),
            gateway.map(|g| g.to_string()).unwrap_or_default(),
        ),
    };
    NetworkForm {
        mode: mode.into(),
        address,
        netmask,
        gateway,
        hostname: n.hostname.clone(),
        domain: n.domain.clone().unwrap_or_default(),
        search: n.search.join(" "),
        dns: n
            .dns
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// The network form before the step is done: what the appliance runs now
/// (its first interface, host name, domain, name servers, search list).
pub fn network_running(s: &appliance_config::state::DesiredState) -> NetworkForm {
    use appliance_config::state::Addressing as Running;
    let mut f = NetworkForm {
        mode: "dhcp".into(),
        hostname: s.hostname.clone(),
        domain: s.domain.clone().unwrap_or_default(),
        search: s.network.search.join(" "),
        dns: s
            .network
            .dns
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(" "),
        ..NetworkForm::default()
    };
    if let Some(Running::Manual { address, gateway }) =
        s.network.interfaces.first().map(|i| &i.addressing)
    {
        f.mode = "static".into();
        f.address = address.addr.to_string();
        f.netmask = format!("/{}", address.prefix);
        f.gateway = gateway.map(|g| g.to_string()).unwrap_or_default();
    }
    f
}

/// The time form of a recorded step.
pub fn time_of(t: &TimeSettings) -> TimeForm {
    match &t.clock {
        Clock::Ntp { servers } => TimeForm {
            time_zone: t.time_zone.clone(),
            ntp: "on".into(),
            ntp_servers: servers.join(" "),
            ..TimeForm::default()
        },
        Clock::Manual { date, time } => TimeForm {
            time_zone: t.time_zone.clone(),
            date: date.to_string(),
            time: time.to_string(),
            ..TimeForm::default()
        },
    }
}

/// The roles form of a recorded step: user names only (passwords are
/// never sent back to the browser).
pub fn roles_of(r: &Roles) -> RolesForm {
    RolesForm {
        linotp_admin_user: r.linotp_admin.user.clone(),
        appliance_admin_user: r.appliance_admin.user.clone(),
        ..RolesForm::default()
    }
}

/// The RADIUS form of a recorded step.
pub fn radius_of(r: &RadiusClients) -> RadiusForm {
    RadiusForm {
        no_configuration: on(r.clients.is_empty()),
        clients: r
            .clients
            .iter()
            .map(|c| ClientForm {
                name: c.name.clone(),
                address: c.network.to_string(),
                secret: c.secret.clone(),
                short_name: c.short_name.clone().unwrap_or_default(),
                legacy: on(c.legacy),
            })
            .collect(),
    }
}

/// The keys form of a recorded step.
pub fn keys_of(k: &KeysChoice) -> KeysForm {
    KeysForm {
        regenerate_ssh: on(k.ssh),
        regenerate_tls: on(k.tls),
        regenerate_db_key: on(k.db_key),
        regenerate_db_passwords: on(k.db_passwords),
        shutdown: on(k.shutdown),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_running_configuration_fills_the_network_form() {
        let mut s = appliance_config::state::fallback();
        s.hostname = "otp1".into();
        let f = network_running(&s);
        assert_eq!((f.mode.as_str(), f.hostname.as_str()), ("dhcp", "otp1"));
        s.network.interfaces[0].addressing = appliance_config::state::Addressing::Manual {
            address: handover::Ipv4Cidr {
                addr: "192.0.2.10".parse().unwrap(),
                prefix: 24,
            },
            gateway: Some("192.0.2.1".parse().unwrap()),
        };
        s.network.dns = vec!["192.0.2.53".parse().unwrap()];
        let f = network_running(&s);
        assert_eq!(f.dns, "192.0.2.53");
        assert_eq!(
            (
                f.mode.as_str(),
                f.address.as_str(),
                f.netmask.as_str(),
                f.gateway.as_str()
            ),
            ("static", "192.0.2.10", "/24", "192.0.2.1")
        );
        assert!(appliance_wizard::network::validate(&f).is_ok(), "{f:?}");
    }

    #[test]
    fn radius_rows_are_read_by_index() {
        let f = Fields::from_urlencoded(
            b"no_configuration=&clients%5B1%5D.name=b&clients%5B0%5D.name=a&clients%5B0%5D.secret=s%26x&clients%5B999%5D.name=z&clients%5Bx%5D.name=y",
        );
        let r = radius(&f);
        assert_eq!(r.clients.len(), 2);
        assert_eq!(r.clients[0].name, "a");
        assert_eq!(r.clients[0].secret.expose(), "s&x");
        assert_eq!(r.clients[1].name, "b");
    }
}
