//! The **console text**: where to go and what to compare. The same text is
//! agetty's issue file (`/run/issue.d/50-appliance.issue`, shown above the
//! login prompt) and is printed on the kernel's consoles, followed by one
//! machine-readable `APPLIANCE-READY {json}` line for the test harness.
//! Pure: addresses, fingerprints and the setup code come in as values.

use std::net::IpAddr;

use serde::Serialize;

use crate::keys::Fingerprints;
use crate::setup_code::SetupCode;
use crate::state::DesiredState;

/// The port of the set-up and administration pages.
pub const WEB_PORT: u16 = 8443;
/// The prefix of the machine-readable line.
pub const READY_PREFIX: &str = "APPLIANCE-READY ";

/// Everything the text shows.
#[derive(Debug, Clone)]
pub struct ConsoleFacts<'a> {
    /// The desired state (host name, product).
    pub state: &'a DesiredState,
    /// The appliance's current addresses.
    pub addresses: &'a [IpAddr],
    /// Key fingerprints.
    pub fingerprints: &'a Fingerprints,
    /// The setup code, until the setup is done.
    pub setup_code: Option<&'a SetupCode>,
}

/// `https://10.0.2.15:8443/` (IPv6 in brackets).
pub fn url(addr: &IpAddr) -> String {
    match addr {
        IpAddr::V4(a) => format!("https://{a}:{WEB_PORT}/"),
        IpAddr::V6(a) => format!("https://[{a}]:{WEB_PORT}/"),
    }
}

/// agetty treats a backslash as the start of an escape; none of our
/// values should contain one, but a host name or product from elsewhere
/// must never inject an escape.
fn agetty_safe(s: &str) -> String {
    s.replace('\\', "\\\\")
}

/// The human-readable text (issue file and consoles).
pub fn text(f: &ConsoleFacts<'_>) -> String {
    let st = f.state;
    let mut out = String::new();
    let title = if st.identity.version.is_empty() {
        st.identity.product.clone()
    } else {
        format!("{} {}", st.identity.product, st.identity.version)
    };
    out.push_str(&format!("{title} ({})\n", st.fqdn()));
    if f.addresses.is_empty() {
        out.push_str("No network address yet; this text is refreshed when one is assigned.\n");
    } else {
        out.push_str("Open in a browser:\n");
        for a in f.addresses {
            out.push_str(&format!("  {}\n", url(a)));
        }
    }
    let fp = f.fingerprints;
    if let Some(c) = fp.tls_colon() {
        out.push_str(&format!("TLS certificate SHA-256: {c}\n"));
    }
    if let Some(s) = &fp.spki_sha256_b64 {
        out.push_str(&format!("Public key SHA-256: {s}\n"));
    }
    for (alg, sum) in &fp.ssh {
        out.push_str(&format!("SSH host key {alg}: {sum}\n"));
    }
    if let Some(code) = f.setup_code {
        out.push_str(&format!("Setup code: {code}\n"));
    }
    out.push('\n');
    agetty_safe(&out)
}

#[derive(Serialize)]
struct Ready<'a> {
    hostname: &'a str,
    addresses: Vec<String>,
    urls: Vec<String>,
    tls_sha256: Option<&'a str>,
    spki_sha256: Option<&'a str>,
    ssh: std::collections::BTreeMap<String, &'a str>,
    setup_pending: bool,
    tty1_keys: Option<&'a str>,
}

/// The machine-readable line (no trailing newline). It carries the
/// fingerprints but never the setup code; `setup_pending` says whether one
/// is shown. `tty1_keys` is the kernel's keymap of the VGA console's top
/// letter row ([`crate::keymap::top_row`]), `None` when it could not be read.
pub fn ready_line(f: &ConsoleFacts<'_>, tty1_keys: Option<&str>) -> String {
    let fp = f.fingerprints;
    let ready = Ready {
        hostname: &f.state.hostname,
        addresses: f.addresses.iter().map(|a| a.to_string()).collect(),
        urls: f.addresses.iter().map(url).collect(),
        tls_sha256: fp.tls_sha256_hex.as_deref(),
        spki_sha256: fp.spki_sha256_b64.as_deref(),
        ssh: fp
            .ssh
            .iter()
            .map(|(a, s)| (a.to_lowercase(), s.as_str()))
            .collect(),
        setup_pending: f.setup_code.is_some(),
        tty1_keys,
    };
    let json = serde_json::to_string(&ready).unwrap_or_else(|_| "{}".into());
    format!("{READY_PREFIX}{json}")
}
