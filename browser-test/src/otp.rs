//! The OTP service's management pages as the LinOTP Administrator uses
//! them: log in, enrol an HOTP token for a user with a PIN (the page shows
//! the `otpauth://` URI as a QR code and as text, read here from the
//! text), and save the policies. Every page gets [`Page::check`].

use anyhow::{ensure, Context, Result};
use serde_json::Value;

use crate::Page;

/// Logs in on `/manage/login`; lands on the Token View.
pub async fn login(r: &mut Page, login: &str, password: &str) -> Result<()> {
    r.goto("/manage/login").await?;
    r.check("otp-login").await?;
    r.type_in("login", login).await?;
    r.type_in("password", password).await?;
    r.submit().await?;
    r.expect_path("/manage/tokens")
        .await
        .context("the LinOTP Administrator's login")?;
    r.check("otp-tokens").await?;
    Ok(())
}

/// A token as the enrolment page shows it once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolled {
    pub serial: String,
    /// `otpauth://hotp/…?secret=…&counter=…`.
    pub uri: String,
}

/// Enrols an HOTP token (SHA-1, 6 digits) for `user` in the default realm
/// with `pin`; returns its serial and URI. The page must draw the QR code.
pub async fn enrol_hotp(r: &mut Page, user: &str, pin: &str) -> Result<Enrolled> {
    r.goto("/manage/enrol").await?;
    r.check("otp-enrol").await?;
    r.choose("type", "hotp").await?;
    r.type_in("user", user).await?;
    r.type_in("pin", pin).await?;
    r.submit().await?;
    let text = r.text().await?;
    ensure!(
        text.contains("Token enrolled"),
        "the enrolment for {user}: {text}"
    );
    let has_qr = r
        .js("return document.querySelector('#qr svg') !== null", vec![])
        .await?;
    ensure!(
        has_qr == Value::Bool(true),
        "no QR code on the page: {text}"
    );
    let serial = r
        .js(
            "return document.getElementById('serial').textContent",
            vec![],
        )
        .await?;
    let uri = r.value("otpauth-uri").await?;
    let (Some(serial), Some(uri)) = (serial.as_str(), uri.as_str()) else {
        anyhow::bail!("no serial or URI on the page: {text}");
    };
    ensure!(uri.starts_with("otpauth://hotp/"), "not an HOTP URI: {uri}");
    r.check("otp-enrolled").await?;
    Ok(Enrolled {
        serial: serial.trim().to_string(),
        uri: uri.to_string(),
    })
}

/// Saves `json` as the whole policy set on `/manage/policies`.
pub async fn set_policies(r: &mut Page, json: &str) -> Result<()> {
    r.goto("/manage/policies").await?;
    r.js(
        "document.getElementById('policies-json').value = arguments[0]; return true",
        vec![Value::String(json.to_string())],
    )
    .await?;
    r.click("form[action='/manage/policies'] button[type=submit]")
        .await?;
    let text = r.text().await?;
    ensure!(
        text.contains("Policies saved."),
        "saving the policies: {text}"
    );
    r.check("otp-policies").await?;
    Ok(())
}

/// A user resynchronises their token on `/selfservice` with two
/// consecutive OTPs; returns the page's message.
pub async fn selfservice_resync(
    r: &mut Page,
    user: (&str, &str),
    serial: &str,
    otps: (&str, &str),
) -> Result<String> {
    r.goto("/selfservice").await?;
    r.check("selfservice").await?;
    r.type_in("user", user.0).await?;
    r.type_in("password", user.1).await?;
    r.type_in("serial", serial).await?;
    r.type_in("otp1", otps.0).await?;
    r.type_in("otp2", otps.1).await?;
    r.submit().await?;
    r.check("selfservice-result").await?;
    r.text().await
}
