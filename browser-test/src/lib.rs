//! Test support shared by the set-up wizard's browser tests (the host test
//! in `appliance/web/tests/browser.rs` and the QEMU scenario
//! `wizard-bios`): Debian's `chromium` driven over WebDriver
//! (`chromedriver`) with `fantoccini`, trusting the server under test ONLY
//! through `--ignore-certificate-errors-spki-list=<public key SHA-256>`,
//! and the checks every page of the wizard gets: a screenshot, at most
//! 100 KB transferred and no request to another host (the browser's
//! performance entries), and axe-core with no serious or critical
//! violation.
//!
//! - [`cmd`] — the one place that starts processes (`chromedriver`, `npm`);
//! - [`axe`] — axe-core from the npm registry, checked against a pinned
//!   SHA-256 (the repository carries no copy);
//! - [`session`] — chromedriver plus a Chromium session with the pin;
//! - [`page`] — the keyboard (Tab, Space, arrows, Enter, text) and the
//!   per-page checks;
//! - [`backup`] — System → Backup (download) and System → Restore;
//! - [`dashboard`] — the dashboard after set-up (sign in, Status, SSH);
//! - [`otp`] — the OTP service's management pages (log in, enrol, policies);
//! - [`wizard`] — the wizard's steps with their bad inputs and expected
//!   messages, parametrised by [`wizard::Inputs`], walked by both tests.

pub mod axe;
pub mod backup;
pub mod cmd;
pub mod dashboard;
pub mod otp;
pub mod page;
pub mod session;
pub mod wizard;

use std::path::{Path, PathBuf};

pub use fantoccini::key::Key;
pub use page::{Page, PageFigures};
pub use session::Browser;

/// Debian's chromium.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's chromium-driver.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Fails naming the package when chromium or chromedriver is missing: a
/// browser test never passes without its browser.
pub fn require_tools() -> anyhow::Result<()> {
    for tool in [CHROMIUM, CHROMEDRIVER] {
        anyhow::ensure!(
            Path::new(tool).exists(),
            "{tool} is missing: install chromium and chromium-driver (.ci/install-deps)"
        );
    }
    Ok(())
}

/// The workspace's `target/` (or `CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// Chromium pinned to `spki` (one key hash, or several separated by
/// commas) with a page on `https://127.0.0.1:<port>` (a forwarded port),
/// screenshots under `target/<shots>/`, the profile in `profile`.
pub async fn open_local(
    spki: &str,
    port: u16,
    profile: &Path,
    shots: &str,
) -> anyhow::Result<(Browser, Page)> {
    let axe = axe::source(&target_dir())?;
    let browser = Browser::start(spki, profile).await?;
    let page = Page::new(
        browser.client.clone(),
        &format!("https://127.0.0.1:{port}"),
        axe,
        target_dir().join(shots),
    )?;
    Ok((browser, page))
}
