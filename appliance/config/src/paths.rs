//! Where the appliance keeps things (absolute paths inside the appliance;
//! everything is resolved below a root directory, `/` in production).
//! docs/appliance.md lists them with their modes.

/// The handover record as stage 1 leaves it.
pub const HANDOVER: &str = "/run/appliance/handover.json";
/// The installer's keyboard list (code → XKB layout and variant), put into
/// the root image at build time.
pub const KEYMAP_INDEX: &str = "/usr/share/appliance/keymaps.json";
/// Persistent configuration and secrets (on the data partition).
pub const ETC_APPLIANCE: &str = "/etc/appliance";
/// The generations of the desired state.
pub const STATE_DIR: &str = "/etc/appliance/state";
/// TLS certificate for 8443 (PEM, 0644).
pub const TLS_CERT: &str = "/etc/appliance/tls/cert.pem";
/// TLS private key for 8443 (PKCS#8 PEM, 0600).
pub const TLS_KEY: &str = "/etc/appliance/tls/key.pem";
/// The database encryption key (96 bytes, 0400).
pub const DB_KEY: &str = "/etc/appliance/db.key";
/// The setup code's secret (32 bytes, 0400).
pub const SETUP_SECRET: &str = "/etc/appliance/setup-code.secret";
/// The setup code's rotation counter (decimal text, 0600).
pub const SETUP_COUNTER: &str = "/etc/appliance/setup-code.counter";
/// The setup code's verifier (Argon2id PHC string, 0600).
pub const SETUP_HASH: &str = "/etc/appliance/setup-code.hash";
/// Present once the setup wizard has finished: no setup code any more.
pub const SETUP_DONE: &str = "/etc/appliance/setup-done";
/// SSH host keys (OpenSSH format, 0600; `.pub` 0644).
pub const SSH_ED25519: &str = "/etc/ssh/ssh_host_ed25519_key";
/// See [`SSH_ED25519`].
pub const SSH_ECDSA: &str = "/etc/ssh/ssh_host_ecdsa_key";
/// The console text agetty shows above the login prompt (in `/run`: it
/// holds the setup code, which never goes to the disk).
pub const ISSUE: &str = "/run/issue.d/50-appliance.issue";
/// Where agetty finds [`ISSUE`]: it reads `/run/issue.d` only when there
/// is no `/etc/issue`, and the image has one; a symbolic link to it.
pub const ISSUE_LINK: &str = "/etc/issue.d/50-appliance.issue";
/// Touching this file makes running agettys show the issue text again.
pub const AGETTY_RELOAD: &str = "/run/agetty.reload";
/// Name servers for DHCP interfaces (without systemd-resolved); the
/// rendered `/etc/resolv.conf` links here.
pub const RUN_RESOLV: &str = "/run/appliance/resolv.conf";
/// systemd-networkd's per-link state (DNS servers learnt by DHCP).
pub const NETIF_LINKS: &str = "/run/systemd/netif/links";
/// chrony's configuration, rendered when the desired state names NTP servers.
pub const CHRONY_CONF: &str = "/etc/chrony/chrony.conf";
/// The web roles' credentials (`{"login", "password_hash"}`, Argon2id PHC;
/// 0640 root:appliance-web), written by activation.
pub const CREDENTIALS_DIR: &str = "/etc/appliance/credentials";
/// The Appliance Administrator's credentials.
pub const APPLIANCE_ADMIN: &str = "/etc/appliance/credentials/appliance-admin.json";
/// The LinOTP Administrator's credentials.
pub const OTP_ADMIN: &str = "/etc/appliance/credentials/otp-admin.json";
/// FreeRADIUS's clients (0640 root:freerad), written by activation.
pub const RADIUS_CLIENTS: &str = "/etc/freeradius/3.0/clients.conf";
/// The support and subscription licence file as uploaded (0644).
pub const LICENCE: &str = "/etc/appliance/licence/licence.lic";
/// The update key from the licence step (base64, 0644).
pub const UPDATE_KEY: &str = "/etc/appliance/licence/update.key";
/// The setup wizard's state (0600, owned by appliance-web; holds the typed
/// passwords until activation).
pub const WIZARD_STATE: &str = "/var/lib/appliance-web/wizard.json";
/// Where the web service drops its requests for the root side.
pub const REQUESTS_DIR: &str = "/var/lib/appliance-web/requests";
/// Activation's progress for the web (world-readable, no secrets).
pub const ACTIVATION_STATUS: &str = "/run/appliance/activation.json";
/// An activation that is not final yet (its generation, the one before,
/// the confirmation deadline); read at every boot.
pub const ACTIVATION_RECORD: &str = "/etc/appliance/activation-pending.json";
/// Serializes requests, confirmation and rollback.
pub const ACTIVATION_LOCK: &str = "/run/appliance/activation.lock";
/// The image's licence verification keys.
pub const LICENCE_KEYS: &str = "/usr/share/appliance/licence-key.pub";
