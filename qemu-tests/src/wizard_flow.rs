//! The QEMU scenario `wizard-bios`'s side of the set-up wizard: its
//! [`INPUTS`] (QEMU's 10.0.2.0/24) for the steps shared with the host
//! browser test ([`browser_test::wizard`]: every step's bad inputs and
//! expected messages, by keyboard, every page checked), the TEST licence it
//! uploads, and the wait for the progress page after Activate.
//!
//! [`crate::wizard_after`] checks the appliance against [`INPUTS`] after
//! the activation.

use std::time::Duration;

use anyhow::Result;
pub use browser_test::wizard::Inputs;
use browser_test::Page;

/// The TEST licence key's seed: the licence the scenario uploads is signed
/// with it. Its public half is `appliance/licence-key.test.pub`, which the
/// image carries unless built with `--licence-key` (xtask's
/// `debroot::licence::TEST_SEED` is the same seed, checked by its test).
pub const LICENCE_TEST_SEED: [u8; 32] = [9; 32];
/// A TEST update key (32 bytes of base64).
pub const UPDATE_KEY: &str = "VEVTVCB1cGRhdGUga2V5IC0gbm90IGEgcmVhbCBrZXk=";

/// The values of `wizard-bios` (TEST passwords).
pub const INPUTS: Inputs = Inputs {
    address: "10.0.2.20",
    network: "10.0.2.0",
    outside_gateway: "10.0.3.1",
    gateway: "10.0.2.2",
    dns: "10.0.2.3",
    hostname: "otp-server-01",
    domain: "example.test",
    time_zone: "Europe/Berlin",
    ntp_servers: ["192.0.2.123", "198.51.100.123"],
    update_key: UPDATE_KEY,
    linotp_admin: ("admin", "Lin0tp-Admin!"),
    root_password: "R00t-Password#",
    appliance_admin: ("appadmin", "Appliance-Adm1n"),
    radius: ("vpn", "10.0.2.0/24", "Xk9#mP2$vL7qR4wZ"),
    no_radius: false,
};

/// A TEST licence for the appliance's product, valid from 2026 to 2099.
pub fn test_licence() -> String {
    let key = vendor_repo::SecretKey::from_seed(LICENCE_TEST_SEED, true);
    let fields = [
        (
            "comment",
            "TEST LICENCE: signed with a test key, for tests only".to_string(),
        ),
        ("licensee", "Example Corp".to_string()),
        ("product", "example-appliance".to_string()),
        ("valid-from", "2026-01-01".to_string()),
        ("expire", "2099-12-31".to_string()),
        ("token-num", "50".to_string()),
        ("subscription", "standard".to_string()),
    ];
    appliance_wizard::licence::issue(&fields, |m| key.sign(m))
}

/// The progress page after Activate, reloaded (it refreshes itself too)
/// until it names the new address, within `timeout`. Returns its text.
pub async fn progress_names(r: &mut Page, new_url: &str, timeout: Duration) -> Result<String> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let text = r.text().await?;
        if text.contains(new_url) {
            r.check("activation-pending-confirm").await?;
            return Ok(text);
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!(
                "the page after Activate did not name {new_url} within {timeout:?}: {text}"
            );
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
        r.c.refresh().await?;
        r.loaded().await?;
    }
}
