//! The OTP service end to end on an activated appliance (after
//! `wizard-bios`'s checks, in root's `unsupported` shell on the serial
//! console): a TEST user is added to the default realm's flat-file
//! resolver; the LinOTP Administrator chosen in the wizard logs in to the
//! management pages in Chromium (pinned to the appliance's public key),
//! enrols an HOTP token for that user with a PIN and adds the self-service
//! `resync` policy; the test reads the `otpauth://` URI from the page,
//! computes the OTPs itself (RFC 4226, its own HMAC code) and
//! authenticates with `validate/check` through the forwarded 8443 and with
//! Debian's `radtest` through a forwarded UDP port to FreeRADIUS, as the
//! RADIUS client the wizard configured.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use argon2::password_hash::{PasswordHasher, SaltString};
use browser_test::otp::{self, Enrolled};
use hmac::{Hmac, Mac};

use crate::harness::child::{tool_output, Vm};
use crate::otp_checks::{check_validate, request};
use crate::reference_boot::Shown;
use crate::wizard_after::shell;
use crate::wizard_flow::Inputs;

/// The TEST user of the default realm.
pub const USER: &str = "alice";
/// Its TEST resolver password (self-service login).
pub const USER_PASSWORD: &str = "Alice-TEST-pw1";
/// The TEST token's PIN.
pub const PIN: &str = "4711";
/// The flat-file resolver of the default realm on the appliance.
const USERS_FILE: &str = "/var/lib/appliance-otp/users";
/// The self-service policy a user's resync after a restore needs.
pub const RESYNC_POLICY: &str = r#"[{"name":"selfservice-resync","scope":"selfservice","actions":["resync"],"realm":"*","user":"*"}]"#;

/// Host ports forwarded to the appliance's address.
#[derive(Debug, Clone, Copy)]
pub struct OtpPorts {
    pub https: u16,
    /// UDP, to FreeRADIUS's 1812.
    pub radius: u16,
}

/// The flat-file line of [`USER`] (Argon2id of [`USER_PASSWORD`] with a
/// fixed TEST salt).
pub fn user_line() -> Result<String> {
    let salt = SaltString::encode_b64(b"TEST salt, tests")
        .map_err(|e| anyhow::anyhow!("the TEST salt: {e}"))?;
    let hash = argon2::Argon2::default()
        .hash_password(USER_PASSWORD.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing the TEST password: {e}"))?;
    Ok(format!("{USER}:{hash}:2001:2001:Alice Example"))
}

/// In root's shell: adds [`USER`] to the resolver and restarts the OTP
/// service (it reads the file at start), then waits until `validate/check`
/// answers through 8443 on `port`. When it does not, the service's status
/// and journal are in the error.
pub fn add_user(vm: &mut Vm, port: u16, fingerprint: &str) -> Result<()> {
    let mut n = 100;
    let line = user_line()?;
    let (out, code) = shell(
        vm,
        &mut n,
        &format!(
            "printf '%s\\n' '{line}' >> {USERS_FILE} && systemctl restart appliance-otp.service && systemctl is-active appliance-otp.service"
        ),
    )?;
    ensure!(code == 0, "adding {USER} to {USERS_FILE}: {out}");
    let started = Instant::now();
    if let Err(e) = check_validate(port, fingerprint, started, Duration::from_secs(120)) {
        let (journal, _) = shell(
            vm,
            &mut n,
            "systemctl status --no-pager -l appliance-otp.service; journalctl --no-pager -n 40 -u appliance-otp.service",
        )?;
        return Err(e.context(format!("the OTP service after adding {USER}:\n{journal}")));
    }
    Ok(())
}

/// The management pages: log in, enrol an HOTP token for [`USER`] with
/// [`PIN`], save [`RESYNC_POLICY`]. Returns the token the page showed.
pub async fn enrol(shown: &Shown, port: u16, i: &Inputs, dir: &Path) -> Result<Enrolled> {
    let (browser, mut r) = browser_test::open_local(
        &shown.spki,
        port,
        &dir.join("chromium-profile-otp"),
        "wizard-bios-screenshots/otp",
    )
    .await?;
    let (login, password) = i.linotp_admin;
    otp::login(&mut r, login, password).await?;
    let token = otp::enrol_hotp(&mut r, USER, PIN).await?;
    otp::set_policies(&mut r, RESYNC_POLICY).await?;
    r.goto("/manage/tokens").await?;
    let text = r.text().await?;
    ensure!(
        text.contains(&token.serial) && text.contains(USER),
        "the Token View does not list {} for {USER}: {text}",
        token.serial
    );
    r.check("otp-token-view").await?;
    r.goto("/manage/users").await?;
    let text = r.text().await?;
    ensure!(text.contains(USER), "the User View lacks {USER}: {text}");
    r.check("otp-user-view").await?;
    browser.close().await?;
    Ok(token)
}

/// After a restore, in the management pages: the User View
/// lists [`USER`] by realm, the Token View the token assigned to them, the
/// policies the self-service `resync`.
pub async fn restored_in_pages(
    shown: &Shown,
    port: u16,
    i: &Inputs,
    dir: &Path,
    serial: &str,
) -> Result<()> {
    let (browser, mut r) = browser_test::open_local(
        &shown.spki,
        port,
        &dir.join("chromium-profile-restored"),
        "journey-bios-screenshots/restored",
    )
    .await?;
    let (login, password) = i.linotp_admin;
    otp::login(&mut r, login, password).await?;
    let text = r.text().await?;
    ensure!(
        text.contains(serial) && text.contains(USER),
        "the restored Token View lacks {serial} for {USER}: {text}"
    );
    r.goto("/manage/users").await?;
    let text = r.text().await?;
    ensure!(text.contains(USER), "the User View lacks {USER}: {text}");
    r.check("restored-users").await?;
    r.goto("/manage/policies").await?;
    let text = r.text().await?;
    ensure!(
        text.contains("selfservice-resync"),
        "the restored policies lack selfservice-resync: {text}"
    );
    r.check("restored-policies").await?;
    browser.close().await
}

/// The user resynchronises the token on `/selfservice` with the OTPs of
/// `counter` and `counter + 1`.
pub async fn selfservice_resync(
    shown: &Shown,
    port: u16,
    dir: &Path,
    token: &Enrolled,
    counter: u64,
) -> Result<()> {
    let (seed, _) = parse_hotp_uri(&token.uri)?;
    let (browser, mut r) = browser_test::open_local(
        &shown.spki,
        port,
        &dir.join("chromium-profile-user"),
        "journey-bios-screenshots/selfservice",
    )
    .await?;
    let text = otp::selfservice_resync(
        &mut r,
        (USER, USER_PASSWORD),
        &token.serial,
        (&hotp(&seed, counter), &hotp(&seed, counter + 1)),
    )
    .await?;
    ensure!(
        text.contains("Your token is synchronised again."),
        "the self-service resync: {text}"
    );
    browser.close().await
}

/// The seed and first counter of an `otpauth://hotp/` URI.
pub fn parse_hotp_uri(uri: &str) -> Result<(Vec<u8>, u64)> {
    let query = uri
        .split_once('?')
        .map(|(_, q)| q)
        .with_context(|| format!("no query in {uri}"))?;
    let mut secret = None;
    let mut counter = None;
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("secret", v)) => secret = Some(v.to_string()),
            Some(("counter", v)) => counter = v.parse().ok(),
            Some(("algorithm", v)) => ensure!(v == "SHA1", "the test computes SHA-1 only: {uri}"),
            Some(("digits", v)) => ensure!(v == "6", "the test computes 6 digits only: {uri}"),
            _ => {}
        }
    }
    let secret = secret.with_context(|| format!("no secret in {uri}"))?;
    let seed = data_encoding::BASE32_NOPAD
        .decode(secret.trim_end_matches('=').as_bytes())
        .with_context(|| format!("the secret of {uri} is not base32"))?;
    Ok((
        seed,
        counter.with_context(|| format!("no counter in {uri}"))?,
    ))
}

/// RFC 4226 HOTP, SHA-1, 6 digits.
pub fn hotp(seed: &[u8], counter: u64) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(seed).expect("HMAC takes any key length");
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let o = usize::from(h[19] & 0x0f);
    let bin = u32::from_be_bytes([h[o] & 0x7f, h[o + 1], h[o + 2], h[o + 3]]);
    format!("{:06}", bin % 1_000_000)
}

/// `validate/check` (POST) through 8443: `result.value`.
pub fn validate(port: u16, fingerprint: &str, user: &str, pass: &str) -> Result<bool> {
    let (status, body) = request(
        port,
        fingerprint,
        "POST",
        "/validate/check",
        &format!("user={user}&pass={pass}"),
    )?;
    ensure!(status == 200, "validate/check answered {status}: {body}");
    let v: serde_json::Value =
        serde_json::from_str(&body).with_context(|| format!("not JSON: {body}"))?;
    ensure!(v["result"]["status"] == true, "not handled: {v}");
    v["result"]["value"]
        .as_bool()
        .with_context(|| format!("no result.value: {v}"))
}

/// `radtest` to the forwarded port: Access-Accept or not.
pub fn radtest(port: u16, user: &str, pass: &str, secret: &str) -> Result<bool> {
    // radtest exits 1 on a reject: the answer is in its output.
    let out = tool_output(
        "radtest",
        &[user, pass, &format!("127.0.0.1:{port}"), "0", secret],
        "freeradius-utils",
    )?;
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("Received Access-Accept") {
        Ok(true)
    } else if text.contains("Received Access-Reject") {
        Ok(false)
    } else {
        bail!("radtest got no answer from 127.0.0.1:{port}: {text}")
    }
}

/// The token's first OTPs: `validate/check` accepts PIN+OTP once and
/// refuses its replay; RADIUS accepts the next one once and rejects its
/// replay. Returns the next unused counter.
pub fn authenticate(
    ports: OtpPorts,
    shown: &Shown,
    token: &Enrolled,
    radius_secret: &str,
) -> Result<u64> {
    let (seed, first) = parse_hotp_uri(&token.uri)?;
    let fp = &shown.tls_colon;
    let pass = format!("{PIN}{}", hotp(&seed, first));
    ensure!(
        validate(ports.https, fp, USER, &pass)?,
        "validate/check refused {USER}'s first OTP"
    );
    ensure!(
        !validate(ports.https, fp, USER, &pass)?,
        "validate/check accepted a replayed OTP"
    );
    let pass = format!("{PIN}{}", hotp(&seed, first + 1));
    let deadline = Instant::now() + Duration::from_secs(60);
    // FreeRADIUS was restarted by the activation; a lost UDP packet is
    // retried by radtest itself.
    let accepted = loop {
        match radtest(ports.radius, USER, &pass, radius_secret) {
            Ok(a) => break a,
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_secs(3)),
        }
    };
    ensure!(accepted, "RADIUS rejected {USER}'s next OTP");
    ensure!(
        !radtest(ports.radius, USER, &pass, radius_secret)?,
        "RADIUS accepted a replayed OTP"
    );
    Ok(first + 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hotp_matches_rfc_4226_appendix_d() {
        let seed = b"12345678901234567890";
        let want = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (c, w) in want.iter().enumerate() {
            assert_eq!(hotp(seed, c as u64), *w, "counter {c}");
        }
    }

    #[test]
    fn uri_gives_seed_and_counter() {
        let uri = "otpauth://hotp/Appliance:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Appliance&algorithm=SHA1&digits=6&counter=0";
        let (seed, c) = parse_hotp_uri(uri).unwrap();
        assert_eq!(seed, b"12345678901234567890");
        assert_eq!(c, 0);
        assert!(parse_hotp_uri("otpauth://hotp/x?counter=0").is_err());
        assert!(parse_hotp_uri(&uri.replace("SHA1", "SHA256")).is_err());
    }

    #[test]
    fn the_user_line_is_a_flat_file_line_with_argon2id() {
        let line = user_line().unwrap();
        let fields: Vec<&str> = line.split(':').collect();
        assert_eq!(fields.len(), 5, "{line}");
        assert_eq!(fields[0], USER);
        assert!(fields[1].starts_with("$argon2id$"), "{line}");
        assert!(!line.contains('\''), "quoted in the shell with '…'");
    }
}
