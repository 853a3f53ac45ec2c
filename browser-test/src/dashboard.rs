//! The dashboard after set-up as the Appliance Administrator uses it:
//! sign in on `/`, System → Status, System → Advanced → SSH configuration,
//! sign out. Every page gets [`Page::check`].

use std::time::Duration;

use anyhow::{ensure, Context, Result};

use crate::Page;

/// What the dashboard pages must show.
pub struct Expect<'a> {
    pub hostname: &'a str,
    /// The TLS certificate's SHA-256 as the console prints it (`AB:CD:…`).
    pub tls_colon: &'a str,
    /// The SSH host keys' `SHA256:…` fingerprints.
    pub ssh: Vec<&'a str>,
}

/// Signs in on `/` with `login`/`password`; lands on System → Status.
/// Right after a confirmation `/` may still be the page before set-up
/// (the root side finishes the activation a moment later): it is reloaded
/// until the sign-in form is there, for at most two minutes.
pub async fn sign_in(r: &mut Page, login: &str, password: &str) -> Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        r.goto("/").await?;
        let form = r
            .js("return document.getElementById('login') !== null", vec![])
            .await?;
        if form == serde_json::Value::Bool(true) {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!("`/` has no sign-in form after 120 s: {}", r.text().await?);
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    r.check("dashboard-sign-in").await?;
    r.type_in("login", login).await?;
    r.type_in("password", password).await?;
    r.submit().await?;
    r.expect_path("/system/status")
        .await
        .context("the Appliance Administrator's sign-in")
}

/// Signs in with `login`/`password`, checks Status and SSH against
/// `want`, signs out.
pub async fn walk(r: &mut Page, login: &str, password: &str, want: &Expect<'_>) -> Result<()> {
    sign_in(r, login, password).await?;
    r.check("dashboard-status").await?;
    let text = r.text().await?;
    for need in [want.hostname, want.tls_colon] {
        ensure!(text.contains(need), "System → Status lacks {need}: {text}");
    }
    r.goto("/system/advanced/ssh").await?;
    r.check("dashboard-ssh").await?;
    let text = r.text().await?;
    for fp in &want.ssh {
        ensure!(
            text.contains(fp),
            "the SSH configuration page lacks {fp}: {text}"
        );
    }
    r.click("form[action='/logout'] button").await?;
    r.expect_path("/").await.context("signing out")?;
    Ok(())
}
