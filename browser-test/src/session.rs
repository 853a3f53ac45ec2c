//! chromedriver and one headless Chromium session that trusts a server's
//! certificate only through its public key hash.

use std::path::Path;

use anyhow::{Context, Result};
use fantoccini::{Client, ClientBuilder};
use serde_json::json;

use crate::cmd::Driver;
use crate::{CHROMEDRIVER, CHROMIUM};

/// A Chromium session and the chromedriver behind it (stopped on drop).
pub struct Browser {
    pub client: Client,
    _driver: Driver,
}

/// Chromium's command line: headless, nothing in the background that
/// would talk to the network, a fresh profile in `profile`, and the one
/// public key (base64 of the SubjectPublicKeyInfo's SHA-256) whose
/// certificate is accepted.
pub fn chromium_args(spki: &str, profile: &Path) -> Vec<String> {
    let mut args: Vec<String> = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1100,1400",
    ]
    .map(String::from)
    .to_vec();
    args.push(format!("--user-data-dir={}", profile.display()));
    args.push(format!("--ignore-certificate-errors-spki-list={spki}"));
    args
}

/// Where a test keeps what a session downloaded: `downloads/` in its
/// profile.
pub fn downloads(profile: &Path) -> std::path::PathBuf {
    profile.join("downloads")
}

impl Browser {
    /// Starts chromedriver and a Chromium session trusting `spki` only;
    /// `profile` is a directory of the caller's (a fresh one per session).
    pub async fn start(spki: &str, profile: &Path) -> Result<Browser> {
        crate::require_tools()?;
        let driver = Driver::start(CHROMEDRIVER)?;
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": CHROMIUM, "args": chromium_args(spki, profile) }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&driver.url())
            .await
            .context("a chromium session through chromedriver")?;
        Ok(Browser {
            client,
            _driver: driver,
        })
    }

    /// Ends the session (chromedriver stops when `self` drops).
    pub async fn close(self) -> Result<()> {
        self.client.close().await.context("closing the session")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pin_and_the_quiet_flags_are_on_the_command_line() {
        let args = chromium_args("K4vP1Dnw=", Path::new("/tmp/p"));
        assert!(args.contains(&"--ignore-certificate-errors-spki-list=K4vP1Dnw=".to_string()));
        assert!(args.contains(&"--user-data-dir=/tmp/p".to_string()));
        assert!(args.contains(&"--disable-background-networking".to_string()));
        // The pin is the only way in: no blanket acceptance of certificates.
        assert!(!args.iter().any(|a| a == "--ignore-certificate-errors"));
    }
}
