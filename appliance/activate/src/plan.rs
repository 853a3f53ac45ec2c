//! The **activation plan** (pure): a completed wizard, the current desired
//! state and a few facts about the running system → everything activation
//! will do, as a value: the new desired state, the files to write, the
//! secrets and keys to make, the units to restart or reload, whether the
//! address changes (then the change waits for a confirmation from the new
//! address) and whether the appliance powers off afterwards. Nothing here
//! reads the clock, the disk or random numbers; [`crate::apply`] does.

use std::collections::BTreeSet;

use appliance_config::paths;
use appliance_config::render;
use appliance_config::state::{Addressing, DesiredState, KeyKind};
use appliance_wizard::licence;
use appliance_wizard::network::HTTPS_PORT;
use appliance_wizard::radius::render_clients_conf;
use appliance_wizard::state::{to_desired_state, Completed, MapError};
use appliance_wizard::time::Clock;
use appliance_wizard::Secret;
use handover::Ipv4Cidr;

/// How long the old address stays while the new one waits for its
/// confirmation, unless the request says otherwise.
pub const DEFAULT_GRACE_SECONDS: u64 = 600;

/// systemd units activation restarts or reloads.
pub const NETWORKD: &str = "systemd-networkd.service";
/// chrony.
pub const CHRONY: &str = "chrony.service";
/// FreeRADIUS.
pub const FREERADIUS: &str = "freeradius.service";
/// OpenSSH's server.
pub const SSHD: &str = "ssh.service";
/// The 8443 service; reloaded (SIGHUP) for a new certificate.
pub const WEB: &str = "appliance-web.service";

/// The OTP service (reads the database key and password at its start).
pub const OTP: &str = "appliance-otp.service";
/// The group that may read the web roles' credentials.
pub const WEB_GROUP: &str = "appliance-web";
/// The group FreeRADIUS reads its configuration as.
pub const RADIUS_GROUP: &str = "freerad";

/// What the running system is like (read by the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// The first interface's IPv4 address now (static or from DHCP), if any.
    pub current_address: Option<Ipv4Cidr>,
    /// How long the old address stays for a confirmation.
    pub grace_seconds: u64,
    /// Whether `/usr/bin/appliance-otp` is installed.
    pub otp_tool: bool,
}

/// A file activation writes (not a key: those are made at apply time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// Absolute path inside the appliance.
    pub path: &'static str,
    /// The contents.
    pub bytes: Vec<u8>,
    /// Permission bits.
    pub mode: u32,
    /// Group owner (`None`: root).
    pub group: Option<&'static str>,
}

/// A secret made from a typed password at apply time (salted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretToMake {
    /// root's crypt(3) hash in `/etc/shadow`.
    RootPassword(Secret),
    /// A web role's credentials file (Argon2id), 0640 root:appliance-web.
    Credentials {
        /// The file.
        path: &'static str,
        /// The login name.
        login: String,
        /// The password as typed.
        password: Secret,
    },
}

/// What happens to the internal database passwords.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbPasswords {
    /// Not ticked.
    Keep,
    /// `appliance-otp provision --rotate-password`.
    Rotate,
    /// Ticked, but the image has no `appliance-otp`: skipped with a note.
    SkipNoTool,
}

/// The old address kept while the new one waits for its confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressChange {
    /// The interface (its networkd file gets a drop-in).
    pub interface: String,
    /// The address kept for the grace period, if the system had one.
    pub old: Option<Ipv4Cidr>,
    /// The new address (`None`: DHCP decides).
    pub new: Option<Ipv4Cidr>,
}

/// Everything one activation does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivationPlan {
    /// The desired state after activation (a new generation).
    pub state: DesiredState,
    /// Files stored with the generation: `clients.conf`, licence, update key.
    pub files: Vec<PlannedFile>,
    /// Secrets made from the typed passwords.
    pub secrets: Vec<SecretToMake>,
    /// Keys made anew (stored with the generation).
    pub regenerate: Vec<KeyKind>,
    /// The internal database passwords.
    pub db_passwords: DbPasswords,
    /// Set the clock to this local time (`YYYY-MM-DD HH:MM:SS`) in the new
    /// time zone (manual clock).
    pub set_clock: Option<String>,
    /// The kernel's new host name, when it changes.
    pub set_hostname: Option<String>,
    /// Units to restart after the switch.
    pub restart: Vec<&'static str>,
    /// Units to reload after the switch.
    pub reload: Vec<&'static str>,
    /// Set when the address changes.
    pub address_change: Option<AddressChange>,
    /// Whether the change must be confirmed from the new address.
    pub needs_confirm: bool,
    /// Power off after activation.
    pub shutdown: bool,
    /// The wizard's URL after activation (static address), for the page.
    pub new_url: Option<String>,
    /// Seconds the old address stays (with `needs_confirm`).
    pub grace_seconds: u64,
}

/// Why no plan could be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The wizard's results do not map onto a desired state.
    #[error("the wizard's network or time settings: {0}")]
    Map(#[from] MapError),
    /// A state does not render.
    #[error("the configuration cannot be rendered: {0}")]
    Render(#[from] appliance_config::state::StateError),
}

/// The grace drop-in of `interface`'s networkd file.
pub fn grace_dropin(interface: &str) -> String {
    format!("/etc/systemd/network/10-appliance-{interface}.network.d/50-previous-address.conf")
}

/// The drop-in's text: the old address as a second address.
pub fn grace_dropin_text(old: Ipv4Cidr) -> String {
    format!(
        "# Written by appliance-firstboot: the address before the set-up wizard's\n# activation, kept until the new address is confirmed or rolled back.\n[Network]\nAddress={old}\n"
    )
}

fn first_static(st: &DesiredState) -> Option<(String, Option<Ipv4Cidr>)> {
    let itf = st.network.interfaces.first()?;
    Some((
        itf.name.clone(),
        match &itf.addressing {
            Addressing::Manual { address, .. } => Some(*address),
            Addressing::Dhcp => None,
        },
    ))
}

/// The change of the first interface's address from `current` (running
/// now, at `facts.current_address`) to `new`, if any: what needs the
/// grace period and the confirmation from the new address.
pub fn address_change(
    current: &DesiredState,
    new: &DesiredState,
    facts: &Facts,
) -> Option<AddressChange> {
    let (interface, old_static) = first_static(current).unwrap_or_default();
    let (_, new_static) = first_static(new).unwrap_or_default();
    let was = facts.current_address.or(old_static);
    let changes = match (new_static, was) {
        (Some(new), Some(old)) => new.addr != old.addr,
        (Some(_), None) => true,
        // DHCP after a static address: the lease decides, most likely
        // another address.
        (None, _) => old_static.is_some(),
    };
    changes.then_some(AddressChange {
        interface,
        old: was,
        new: new_static,
    })
}

/// The URL of the web interface at a change's new address (`None`: DHCP).
pub fn url_at(change: &AddressChange) -> Option<String> {
    change
        .new
        .map(|a| format!("https://{}:{HTTPS_PORT}/", a.addr))
}

/// The units that read a path whose content differs between two renders.
fn changed_units(old: &render::Rendered, new: &render::Rendered) -> BTreeSet<&'static str> {
    let mut units = BTreeSet::new();
    for (path, entry) in new {
        if old.get(path).map(|e| &e.content) != Some(&entry.content) {
            units.extend(entry.units.iter().copied());
        }
    }
    for (path, entry) in old {
        if !new.contains_key(path) {
            units.extend(entry.units.iter().copied());
        }
    }
    units
}

/// Makes the plan (pure).
pub fn plan(
    c: &Completed,
    current: &DesiredState,
    facts: &Facts,
) -> Result<ActivationPlan, PlanError> {
    let mut state = to_desired_state(current, c)?;
    state.ntp_servers = Some(match &c.time.clock {
        Clock::Ntp { servers } => servers.clone(),
        Clock::Manual { .. } => Vec::new(),
    });
    let set_clock = match &c.time.clock {
        Clock::Manual { date, time } => Some(format!("{date} {time}")),
        Clock::Ntp { .. } => None,
    };
    let old_render = render::render(current)?;
    let new_render = render::render(&state)?;
    let mut restart: BTreeSet<&'static str> = changed_units(&old_render, &new_render)
        .into_iter()
        // Adapter names (.link) and consoles take effect at the next boot;
        // restarting udev, the gettys or the console setup now would only
        // disturb a running console.
        .filter(|u| *u == NETWORKD || *u == CHRONY)
        .collect();
    restart.insert(FREERADIUS);

    let mut files = vec![PlannedFile {
        path: paths::RADIUS_CLIENTS,
        bytes: render_clients_conf(&c.radius).into_bytes(),
        mode: 0o640,
        group: Some(RADIUS_GROUP),
    }];
    files.push(PlannedFile {
        path: paths::LICENCE,
        bytes: licence::file_text(&c.licence.licence).into_bytes(),
        mode: 0o644,
        group: None,
    });
    files.push(PlannedFile {
        path: paths::UPDATE_KEY,
        bytes: format!("{}\n", c.licence.update_key.trim()).into_bytes(),
        mode: 0o644,
        group: None,
    });

    let secrets = vec![
        SecretToMake::RootPassword(c.roles.root.password.clone()),
        SecretToMake::Credentials {
            path: paths::APPLIANCE_ADMIN,
            login: c.roles.appliance_admin.user.clone(),
            password: c.roles.appliance_admin.password.clone(),
        },
        SecretToMake::Credentials {
            path: paths::OTP_ADMIN,
            login: c.roles.linotp_admin.user.clone(),
            password: c.roles.linotp_admin.password.clone(),
        },
    ];

    let k = c.keys;
    let mut regenerate = Vec::new();
    let mut reload = Vec::new();
    if k.ssh {
        regenerate.extend([KeyKind::SshEd25519, KeyKind::SshEcdsa]);
        restart.insert(SSHD);
    }
    if k.tls {
        regenerate.push(KeyKind::Tls);
        reload.push(WEB);
    }
    if k.db_key {
        regenerate.push(KeyKind::DbKey);
        // The running OTP service holds the previous key: restarted, it
        // binds the new one (its store holds no token yet).
        if facts.otp_tool {
            restart.insert(OTP);
        }
    }
    let db_passwords = match (k.db_passwords, facts.otp_tool) {
        (false, _) => DbPasswords::Keep,
        (true, true) => DbPasswords::Rotate,
        (true, false) => DbPasswords::SkipNoTool,
    };

    let (_, new_static) = first_static(&state).unwrap_or_default();
    let address_change = address_change(current, &state, facts);
    let needs_confirm = address_change.is_some() && !k.shutdown;
    if needs_confirm {
        restart.insert(NETWORKD);
    }
    let set_hostname = (state.hostname != current.hostname).then(|| state.hostname.clone());
    Ok(ActivationPlan {
        new_url: c
            .network
            .url_after_activation()
            .or_else(|| new_static.map(|a| format!("https://{}:{HTTPS_PORT}/", a.addr))),
        state,
        files,
        secrets,
        regenerate,
        db_passwords,
        set_clock,
        set_hostname,
        restart: restart.into_iter().collect(),
        reload,
        address_change,
        needs_confirm,
        shutdown: k.shutdown,
        grace_seconds: facts.grace_seconds,
    })
}

impl ActivationPlan {
    /// Every path activation may write besides the rendered files: what
    /// the undo record keeps the previous contents of.
    pub fn touched_paths(&self) -> Vec<String> {
        let mut out: BTreeSet<String> = self.files.iter().map(|f| f.path.to_string()).collect();
        for s in &self.secrets {
            if let SecretToMake::Credentials { path, .. } = s {
                out.insert(path.to_string());
            }
        }
        for k in &self.regenerate {
            for p in key_paths(*k) {
                out.insert(p.to_string());
            }
        }
        if let Some(ch) = &self.address_change {
            out.insert(grace_dropin(&ch.interface));
        }
        out.into_iter().collect()
    }
}

/// The files of a key kind.
pub fn key_paths(kind: KeyKind) -> Vec<String> {
    match kind {
        KeyKind::SshEd25519 => vec![
            paths::SSH_ED25519.into(),
            format!("{}.pub", paths::SSH_ED25519),
        ],
        KeyKind::SshEcdsa => vec![paths::SSH_ECDSA.into(), format!("{}.pub", paths::SSH_ECDSA)],
        KeyKind::Tls => vec![paths::TLS_KEY.into(), paths::TLS_CERT.into()],
        KeyKind::DbKey => vec![paths::DB_KEY.into()],
        KeyKind::SetupCode => vec![
            paths::SETUP_SECRET.into(),
            paths::SETUP_COUNTER.into(),
            paths::SETUP_HASH.into(),
        ],
    }
}
