//! Value checks after the typed parse. Each failure is `(JSON path, message)`.

use crate::{Handover, NetMode};

type Check = Result<(), (String, String)>;

fn fail(path: impl Into<String>, message: impl Into<String>) -> Check {
    Err((path.into(), message.into()))
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// One RFC 1123 label: 1–63 of `a–z A–Z 0–9 -`, not starting or ending with `-`.
pub(crate) fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && !s.starts_with('-')
        && !s.ends_with('-')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A DNS name of labels separated by dots, at most 253 characters.
fn is_domain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_label)
}

fn non_empty(path: &str, value: &str) -> Check {
    if value.trim().is_empty() {
        return fail(path, "must not be empty");
    }
    if value.chars().any(char::is_control) {
        return fail(path, "must not contain control characters");
    }
    Ok(())
}

/// Checks every value of `h`.
pub(crate) fn record(h: &Handover) -> Check {
    if h.format != crate::FORMAT {
        return fail("format", format!("must be {}", crate::FORMAT));
    }
    if !is_lower_hex(&h.install_id, 32) {
        return fail("install_id", "must be 32 lowercase hex digits");
    }
    non_empty("installer.product", &h.installer.product)?;
    non_empty("installer.version", &h.installer.version)?;
    non_empty("release.model", &h.release.model)?;
    non_empty("release.channel", &h.release.channel)?;
    non_empty("release.version", &h.release.version)?;
    for (i, c) in h.release.components.iter().enumerate() {
        non_empty(&format!("release.components[{i}].name"), &c.name)?;
        if !is_lower_hex(&c.sha256, 64) {
            return fail(
                format!("release.components[{i}].sha256"),
                "must be 64 lowercase hex digits",
            );
        }
    }
    if h.serial.is_empty()
        || !h
            .serial
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
    {
        return fail(
            "serial",
            "must be A–Z, 0–9 and dashes, e.g. ABCD-EFGH-JKMN-PQRS",
        );
    }
    for (i, m) in h.entitlement.models.iter().enumerate() {
        non_empty(&format!("entitlement.models[{i}]"), m)?;
    }
    network(h)?;
    let layout = &h.keyboard.layout;
    if layout.is_empty()
        || !layout
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        return fail("keyboard.layout", "must be a layout name like us or de");
    }
    Ok(())
}

fn network(h: &Handover) -> Check {
    let n = &h.network;
    if n.interface.is_empty() || n.interface.len() > 15 || n.interface.contains(['/', ' ', ':']) {
        return fail("network.interface", "must be an interface name like eth0");
    }
    if n.mode == NetMode::Manual && n.address.is_none() {
        return fail("network.address", "is required when mode is manual");
    }
    if let Some(a) = n.address {
        if a.addr.is_unspecified() || a.addr.is_broadcast() || a.addr.is_multicast() {
            return fail(
                "network.address",
                format!("{} is not a host address", a.addr),
            );
        }
        if let Some(gw) = n.gateway {
            if n.mode == NetMode::Manual && !a.contains(gw) {
                return fail("network.gateway", format!("{gw} is not inside {a}"));
            }
        }
    }
    if n.dns.len() > 3 {
        return fail("network.dns", "at most 3 name servers");
    }
    if !is_label(&n.hostname) {
        return fail(
            "network.hostname",
            "must be one label of letters, digits and dashes (1–63 characters)",
        );
    }
    if let Some(d) = &n.domain {
        if !is_domain(d) {
            return fail("network.domain", format!("{d:?} is not a DNS domain"));
        }
    }
    for (i, s) in n.search.iter().enumerate() {
        if !is_domain(s) {
            return fail(
                format!("network.search[{i}]"),
                format!("{s:?} is not a DNS domain"),
            );
        }
    }
    Ok(())
}
