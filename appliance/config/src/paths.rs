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
