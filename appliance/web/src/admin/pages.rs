//! The dashboard's pages (maud: every value escaped; no script): the
//! sign-in, System → Status, System → Advanced → SSH configuration, and the
//! navigation (System → Backup and System → Restore are in `backup_pages`).

use maud::{html, Markup};

use super::facts::{uptime_text, Facts};
use super::ssh::{HostKey, KeyError};
use crate::site::layout;

/// The dashboard's pages, for the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Here {
    Status,
    Ssh,
    Backup,
    Restore,
}

pub(super) fn nav(here: Here, login: &str, csrf: &str) -> Markup {
    let current = |h: Here| (h == here).then_some("page");
    html! {
        nav.site aria-label="Dashboard" {
            ul {
                li { "System → " a href="/system/status" aria-current=[current(Here::Status)] { "Status" } }
                li { "System → Advanced → " a href="/system/advanced/ssh" aria-current=[current(Here::Ssh)] { "SSH configuration" } }
                li { "System → " a href="/system/backup" aria-current=[current(Here::Backup)] { "Backup" } }
                li { "System → " a href="/system/restore" aria-current=[current(Here::Restore)] { "Restore" } }
                li {
                    form method="post" action="/logout" {
                        input type="hidden" name="csrf" value=(csrf);
                        button type="submit" { "Sign out " (login) }
                    }
                }
            }
        }
    }
}

/// The sign-in form (`notice`: why it is shown again).
pub fn login(csrf: &str, notice: Option<&str>, error: Option<&str>) -> String {
    let invalid = error.is_some();
    layout(
        "Sign in",
        None,
        None,
        html! {
            p { "Sign in as the Appliance Administrator chosen during set-up." }
            @if let Some(n) = notice { div.notice role="alert" { p { (n) } } }
            form method="post" action="/login" novalidate {
                input type="hidden" name="csrf" value=(csrf);
                div.field {
                    label for="login" { "Appliance Administrator" }
                    input type="text" id="login" name="login" autocomplete="username" spellcheck="false";
                }
                div.field.invalid[invalid] {
                    label for="password" { "Password" }
                    input type="password" id="password" name="password" autocomplete="current-password"
                        aria-invalid=[invalid.then_some("true")]
                        aria-describedby=[invalid.then_some("password-error")];
                    @if let Some(e) = error { div.field-error id="password-error" { p { (e) } } }
                }
                div.buttons { button type="submit" { "Sign in" } }
            }
        },
    )
}

fn list(items: &[String]) -> Markup {
    html! {
        @if items.is_empty() { "none" } @else {
            @for (i, item) in items.iter().enumerate() { @if i > 0 { ", " } (item) }
        }
    }
}

/// System → Status.
pub fn status(f: &Facts, login: &str, csrf: &str) -> String {
    let addresses: Vec<String> = f.addresses.iter().map(|a| a.to_string()).collect();
    let or_unknown = |s: &str| {
        if s.is_empty() {
            "unknown".to_string()
        } else {
            s.to_string()
        }
    };
    layout(
        "System status",
        Some(nav(Here::Status, login, csrf)),
        None,
        html! {
            @if !f.problems.is_empty() {
                div.notice role="alert" { @for p in &f.problems { p { "Not readable: " (p) } } }
            }
            h2 { "Product" }
            dl.facts {
                dt { "Product" } dd { (or_unknown(&f.product)) }
                dt { "Version" } dd id="version" { (or_unknown(&f.version)) }
                dt { "Install id" } dd { code { (or_unknown(&f.install_id)) } }
                dt { "Uptime" } dd { (f.uptime.map_or_else(|| "unknown".to_string(), uptime_text)) }
            }
            h2 { "Network" }
            dl.facts {
                dt { "Host name" } dd id="hostname" { (or_unknown(&f.hostname)) }
                dt { "Addressing" } dd { (or_unknown(&f.addressing)) }
                dt { "Addresses" } dd id="addresses" { (list(&addresses)) }
                dt { "Gateway" } dd { (or_unknown(&f.gateway)) }
                dt { "Name servers" } dd id="dns" { (list(&f.dns)) }
                dt { "Search domains" } dd { (list(&f.search)) }
            }
            h2 { "Time" }
            dl.facts {
                dt { "Time zone" } dd id="time-zone" { (or_unknown(&f.time_zone)) }
                dt { "NTP servers" } dd id="ntp" { (list(&f.ntp_servers)) }
            }
            h2 { "Web certificate" }
            dl.facts {
                dt { "TLS certificate SHA-256" } dd { code id="cert-sha256" { (f.cert_sha256) } }
                dt { "Public key SHA-256" } dd { code id="spki-sha256" { (f.spki_sha256) } }
            }
        },
    )
}

/// System → Advanced → SSH configuration: the host keys' fingerprints.
pub fn ssh(keys: &[Result<HostKey, KeyError>], login: &str, csrf: &str) -> String {
    layout(
        "SSH configuration",
        Some(nav(Here::Ssh, login, csrf)),
        None,
        html! {
            p { "The SSH host keys of this appliance, as " code { "ssh-keygen -l" } " shows them. \
                 Compare them with what an SSH client shows at its first connection, \
                 for example when a redundant peer is set up." }
            @if keys.is_empty() { div.notice role="alert" { p { "No SSH host key was found." } } }
            @else {
                table.keys {
                    caption.visually-hidden { "SSH host keys" }
                    thead { tr { th scope="col" { "Type" } th scope="col" { "Bits" } th scope="col" { "Fingerprint" } } }
                    tbody {
                        @for k in keys {
                            @match k {
                                Ok(k) => tr { td { (k.kind) } td { (k.bits) } td { code { (k.sha256) } } },
                                Err(e) => tr { td colspan="3" { (e.to_string()) } },
                            }
                        }
                    }
                }
            }
        },
    )
}
