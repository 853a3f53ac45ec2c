//! The summary of all steps shown before Activate (plain text lines; the
//! page escapes them). Passwords and secrets never appear.

use crate::network::Addressing;
use crate::state::Completed;
use crate::time::Clock;

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// The summary, one `Label: value` line per fact under a heading per step.
pub fn render(c: &Completed) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    let l = &c.licence.licence;
    line("Licence".into());
    line(format!("  Licensee: {}", l.licensee));
    line(format!("  Product: {}", l.product));
    line(format!("  Valid: {} to {}", l.valid_from, l.expire));
    line(format!("  Token limit: {}", l.token_num));
    line(format!("  Subscription: {}", l.subscription));
    let n = &c.network;
    line("Network".into());
    match n.addressing {
        Addressing::Dhcp => line("  Configuration: DHCP".into()),
        Addressing::Static {
            address,
            prefix,
            gateway,
        } => {
            line(format!("  Configuration: static {address}/{prefix}"));
            line(format!(
                "  Gateway: {}",
                gateway.map_or("none".to_string(), |g| g.to_string())
            ));
        }
    }
    let fqdn = match &n.domain {
        Some(d) => format!("{}.{d}", n.hostname),
        None => n.hostname.clone(),
    };
    line(format!("  Host name: {fqdn}"));
    let join = |v: Vec<String>| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    line(format!("  Search: {}", join(n.search.clone())));
    line(format!(
        "  DNS servers: {}",
        join(n.dns.iter().map(|d| d.to_string()).collect())
    ));
    match n.url_after_activation() {
        Some(u) => line(format!("  After activation: {u}")),
        None => line("  After activation: the address the DHCP server gives".into()),
    }
    line("Time".into());
    line(format!("  Time zone: {}", c.time.time_zone));
    match &c.time.clock {
        Clock::Ntp { servers } => line(format!("  Clock: NTP from {}", servers.join(", "))),
        Clock::Manual { date, time } => line(format!("  Clock: set to {date} {time}")),
    }
    line("Roles".into());
    let r = &c.roles;
    line(format!(
        "  LinOTP Administrator: {} (new password set)",
        r.linotp_admin.user
    ));
    line(format!(
        "  Root Administrator: {} (new password set)",
        r.root.user
    ));
    line(format!(
        "  Appliance Administrator: {} (new password set)",
        r.appliance_admin.user
    ));
    line("RADIUS clients".into());
    if c.radius.clients.is_empty() {
        line("  none (no configuration)".into());
    }
    for cl in &c.radius.clients {
        let short = cl
            .short_name
            .as_deref()
            .map(|s| format!(", short name {s}"))
            .unwrap_or_default();
        let ma = if cl.legacy {
            "not required"
        } else {
            "required"
        };
        line(format!(
            "  {}: {}{short}, Message-Authenticator {ma}",
            cl.name, cl.network
        ));
    }
    let k = &c.keys;
    line("Keys and activation".into());
    line(format!("  Regenerate SSH host keys: {}", yes_no(k.ssh)));
    line(format!(
        "  Regenerate the TLS certificate: {}",
        yes_no(k.tls)
    ));
    line(format!(
        "  Regenerate the database encryption key: {}",
        yes_no(k.db_key)
    ));
    line(format!(
        "  Regenerate the internal database passwords: {}",
        yes_no(k.db_passwords)
    ));
    line(format!(
        "  Shut down after activation: {}",
        yes_no(k.shutdown)
    ));
    out
}
