//! `cargo xtask repo license`: a support and subscription licence file for
//! the appliance's set-up wizard (format: docs/wizard.md), signed with a
//! licence key made by `repo keygen`. A licence signed with a test key says
//! so in its `comment` and `issuer`, so it is never mistaken for a real one.

use anyhow::{bail, Context, Result};
use appliance_wizard::date::Date;
use appliance_wizard::licence;
use std::path::Path;
use vendor_repo::SecretKey;

/// What the licence says.
pub struct LicenseInput {
    /// Who holds it.
    pub licensee: String,
    /// The product it is for.
    pub product: String,
    /// First valid day (`None`: today).
    pub valid_from: Option<String>,
    /// Last valid day (`None`: a year after the first).
    pub expire: Option<String>,
    /// Tokens covered.
    pub token_num: u32,
    /// Subscription level.
    pub subscription: String,
    /// Optional contact address.
    pub contact_email: Option<String>,
}

/// The comment of every licence signed with a test key.
pub const TEST_COMMENT: &str = "TEST LICENCE: signed with a test key, for tests and demos only";

fn date_from_days(days: u64) -> Result<Date> {
    let (y, m, d) = image_builder::date::civil_from_days(days);
    Date::parse(&format!("{y:04}-{m:02}-{d:02}")).map_err(|e| anyhow::anyhow!("{e}"))
}

fn days_of(d: Date) -> u64 {
    image_builder::date::days_from_civil(u32::from(d.year), u32::from(d.month), u32::from(d.day))
}

/// The licence file's text.
pub fn issue(key: &SecretKey, input: &LicenseInput, today_days: u64) -> Result<String> {
    let date = |flag: &str, v: &str| {
        Date::parse(v).map_err(|e| anyhow::anyhow!("--{flag} {v}: not a date: {e}"))
    };
    let valid_from = match &input.valid_from {
        Some(v) => date("valid-from", v)?,
        None => date_from_days(today_days)?,
    };
    let expire = match &input.expire {
        Some(v) => date("expire", v)?,
        None => date_from_days(days_of(valid_from) + 365)?,
    };
    if expire < valid_from {
        bail!("--expire {expire} is before --valid-from {valid_from}");
    }
    if input.token_num == 0 {
        bail!("--token-num must be at least 1");
    }
    let mut fields: Vec<(&str, String)> = Vec::new();
    if key.test_only {
        fields.push(("comment", TEST_COMMENT.to_string()));
    }
    fields.push(("licensee", input.licensee.clone()));
    fields.push(("product", input.product.clone()));
    fields.push(("valid-from", valid_from.to_string()));
    fields.push(("expire", expire.to_string()));
    fields.push(("token-num", input.token_num.to_string()));
    fields.push(("subscription", input.subscription.clone()));
    if let Some(c) = &input.contact_email {
        fields.push(("contact-email", c.clone()));
    }
    fields.push((
        "issuer",
        if key.test_only {
            format!("TEST {}", key.id)
        } else {
            key.id.clone()
        },
    ));
    for (k, v) in &fields {
        if v.trim().is_empty()
            || v.chars().any(char::is_control)
            || v.contains('=') && *k != "comment"
        {
            bail!("--{k}: {v:?} must be one line of text without control characters or \"=\"");
        }
    }
    let text = licence::issue(&fields, |m| key.sign(m));
    // What was written must read back as the wizard reads it, signature included.
    let back = licence::parse(&text).map_err(|e| anyhow::anyhow!("{}", e.message))?;
    licence::verify_signature(&back, &[key.public()])
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    Ok(text)
}

/// Writes the licence to `out` and says what it is.
pub fn write(key: &SecretKey, input: &LicenseInput, out: &Path) -> Result<()> {
    let text = issue(key, input, crate::repo::now() / 86_400)?;
    std::fs::write(out, &text).with_context(|| format!("writing {}", out.display()))?;
    let l = licence::parse(&text).map_err(|e| anyhow::anyhow!("{}", e.message))?;
    println!(
        "{}licence for {} ({}), {} to {}, {} tokens, {} -> {}",
        if key.test_only { "TEST " } else { "" },
        l.licensee,
        l.product,
        l.valid_from,
        l.expire,
        l.token_num,
        l.subscription,
        out.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> LicenseInput {
        LicenseInput {
            licensee: "Example Corp".into(),
            product: "example-appliance".into(),
            valid_from: None,
            expire: None,
            token_num: 50,
            subscription: "standard".into(),
            contact_email: None,
        }
    }

    #[test]
    fn a_test_key_issues_a_marked_licence_that_verifies() {
        let key = SecretKey::from_seed([3; 32], true);
        let today = image_builder::date::days_from_civil(2026, 12, 7);
        let text = issue(&key, &input(), today).unwrap();
        let l = licence::parse(&text).unwrap();
        assert_eq!(l.valid_from.to_string(), "2026-12-07");
        assert_eq!(l.expire.to_string(), "2027-12-07");
        assert_eq!(l.extra["comment"], TEST_COMMENT);
        assert!(l.extra["issuer"].starts_with("TEST ed25519:"));
        licence::verify_signature(&l, &[key.public()]).unwrap();
        let other = SecretKey::from_seed([4; 32], true);
        assert!(licence::verify_signature(&l, &[other.public()]).is_err());
        // A production key's licence carries no TEST marks.
        let prod = SecretKey::from_seed([5; 32], false);
        let text = issue(&prod, &input(), today).unwrap();
        assert!(!text.contains("TEST"), "{text}");
    }

    #[test]
    fn bad_input_is_named() {
        let key = SecretKey::from_seed([3; 32], true);
        let mut i = input();
        i.expire = Some("2020-01-01".into());
        i.valid_from = Some("2026-01-01".into());
        let e = issue(&key, &i, 0).unwrap_err().to_string();
        assert!(
            e.contains("--expire 2020-01-01 is before --valid-from 2026-01-01"),
            "{e}"
        );
        let mut i = input();
        i.licensee = "a\nproduct = other".into();
        let e = issue(&key, &i, 0).unwrap_err().to_string();
        assert!(e.contains("--licensee"), "{e}");
        let mut i = input();
        i.valid_from = Some("2026-02-30".into());
        let e = issue(&key, &i, 0).unwrap_err().to_string();
        assert!(e.contains("--valid-from 2026-02-30: not a date"), "{e}");
    }
}
