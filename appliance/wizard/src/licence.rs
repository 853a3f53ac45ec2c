//! Step 1, licence: the licence agreement checkbox, the support and
//! subscription licence file and the update key. The file's layout is
//! defined in docs/wizard.md; here its structure and dates are checked (the
//! ed25519 signature is verified by the server with the vendor's public key).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::date::Date;
use crate::{checkbox, shown, Context, FieldError};

/// The largest licence file accepted, in bytes.
pub const MAX_FILE: usize = 64 * 1024;
/// First line of the licence block.
pub const BEGIN: &str = "-----BEGIN LICENSE-----";
/// Last line of the licence block.
pub const END: &str = "-----END LICENSE-----";
/// First line of the signature block.
pub const BEGIN_SIG: &str = "-----BEGIN LICENSE SIGNATURE-----";
/// Last line of the signature block.
pub const END_SIG: &str = "-----END LICENSE SIGNATURE-----";
/// Keys a licence must have.
pub const REQUIRED: [&str; 6] = [
    "licensee",
    "product",
    "valid-from",
    "expire",
    "token-num",
    "subscription",
];
/// Keys a licence may have besides [`REQUIRED`].
pub const OPTIONAL: [&str; 7] = [
    "comment",
    "contact-name",
    "contact-email",
    "contact-phone",
    "address",
    "issuer",
    "version",
];

/// The licence form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LicenceForm {
    /// "I accept the license agreement" checkbox.
    pub accept: String,
    /// The licence file's text.
    pub licence: String,
    /// The update key.
    pub update_key: String,
}

/// A licence whose structure and dates are valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Licence {
    /// Who holds it.
    pub licensee: String,
    /// The product it is for.
    pub product: String,
    /// First valid day.
    pub valid_from: Date,
    /// Last valid day.
    pub expire: Date,
    /// How many tokens it covers.
    pub token_num: u32,
    /// Subscription level.
    pub subscription: String,
    /// The optional keys present.
    pub extra: BTreeMap<String, String>,
    /// The lines between the licence markers, as signed.
    pub signed_text: String,
    /// The signature, base64 (64 bytes).
    pub signature: String,
}

/// The accepted licence step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenceStep {
    /// The licence.
    pub licence: Licence,
    /// The update key, base64 (32 bytes).
    pub update_key: String,
}

const FIELD: &str = "licence";
const LABEL: &str = "Licence file";

fn is_b64(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '+' || c == '/'
}

/// Whether `s` is padded base64 of exactly `bytes` bytes (1 ≤ bytes % 3).
fn base64_of(s: &str, bytes: usize) -> bool {
    let pad = (3 - bytes % 3) % 3;
    let len = bytes.div_ceil(3) * 4;
    // ASCII first: the slices are byte positions.
    s.is_ascii()
        && s.len() == len
        && s[..len - pad].chars().all(is_b64)
        && s[len - pad..].chars().all(|c| c == '=')
}

fn format_error(detail: String) -> FieldError {
    FieldError::new(
        FIELD,
        format!("{LABEL} is not in the licence format: {detail}; upload the file as issued"),
    )
}

/// Reads a licence file's structure (no date or product checks).
pub fn parse(text: &str) -> Result<Licence, FieldError> {
    if text.len() > MAX_FILE {
        return Err(FieldError::new(
            FIELD,
            format!("{LABEL} is larger than 64 KiB: upload the licence file, not another file"),
        ));
    }
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    let mut it = lines
        .iter()
        .enumerate()
        .skip_while(|(_, l)| l.trim().is_empty());
    match it.next() {
        Some((_, l)) if l.trim() == BEGIN => {}
        _ => return Err(format_error(format!("the first line must be {BEGIN}"))),
    }
    let mut fields = BTreeMap::new();
    let mut signed = Vec::new();
    let mut ended = false;
    for (i, line) in it.by_ref() {
        let n = i + 1;
        if line.trim() == END {
            ended = true;
            break;
        }
        if line.trim() == BEGIN_SIG {
            break;
        }
        signed.push(*line);
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(format_error(format!("line {n} is not \"key = value\"")));
        };
        let key = key.trim();
        let value = value.trim();
        if value.chars().any(char::is_control) {
            return Err(format_error(format!(
                "line {n} contains a control character"
            )));
        }
        if !REQUIRED.contains(&key) && !OPTIONAL.contains(&key) {
            return Err(format_error(format!(
                "line {n} has the unknown key {}",
                shown(key)
            )));
        }
        if fields.insert(key.to_string(), value.to_string()).is_some() {
            return Err(format_error(format!("line {n} repeats the key {key}")));
        }
    }
    if !ended {
        return Err(format_error(format!("{END} is missing")));
    }
    let mut it = it.skip_while(|(_, l)| l.trim().is_empty());
    match it.next() {
        Some((_, l)) if l.trim() == BEGIN_SIG => {}
        _ => return Err(format_error(format!("{BEGIN_SIG} must follow {END}"))),
    }
    let mut signature = String::new();
    let mut sig_ended = false;
    for (_, line) in it.by_ref() {
        if line.trim() == END_SIG {
            sig_ended = true;
            break;
        }
        signature.push_str(line.trim());
    }
    if !sig_ended {
        return Err(format_error(format!("{END_SIG} is missing")));
    }
    if it.any(|(_, l)| !l.trim().is_empty()) {
        return Err(format_error(format!("there is text after {END_SIG}")));
    }
    if !base64_of(&signature, 64) {
        return Err(format_error(
            "the signature is not 64 bytes of base64 (88 characters)".to_string(),
        ));
    }
    for key in REQUIRED {
        if fields.get(key).is_none_or(|v| v.is_empty()) {
            return Err(format_error(format!("the key {key} is missing or empty")));
        }
    }
    let date = |key: &str| {
        Date::parse(&fields[key]).map_err(|e| format_error(format!("{key} is not a date: {e}")))
    };
    let valid_from = date("valid-from")?;
    let expire = date("expire")?;
    if expire < valid_from {
        return Err(format_error("expire is before valid-from".to_string()));
    }
    let token_num = fields["token-num"]
        .parse::<u32>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format_error("token-num must be a whole number above 0".to_string()))?;
    let take =
        |fields: &mut BTreeMap<String, String>, k: &str| fields.remove(k).unwrap_or_default();
    let licensee = take(&mut fields, "licensee");
    let product = take(&mut fields, "product");
    let subscription = take(&mut fields, "subscription");
    for key in ["valid-from", "expire", "token-num"] {
        fields.remove(key);
    }
    Ok(Licence {
        licensee,
        product,
        valid_from,
        expire,
        token_num,
        subscription,
        extra: fields,
        signed_text: signed.join("\n"),
        signature,
    })
}

/// Checks the licence step.
pub fn validate(form: &LicenceForm, ctx: &Context) -> Result<LicenceStep, Vec<FieldError>> {
    let mut errors = Vec::new();
    let label = "\"I accept the license agreement\"";
    if !checkbox("accept", label, &form.accept, &mut errors) && errors.is_empty() {
        errors.push(FieldError::new(
            "accept",
            format!("{label} must be ticked to continue: read the agreement and tick the box"),
        ));
    }
    let licence = if form.licence.trim().is_empty() {
        errors.push(FieldError::new(
            FIELD,
            format!("{LABEL} is required: upload the support and subscription licence file"),
        ));
        None
    } else {
        match parse(&form.licence) {
            Ok(l) if l.product != ctx.product => {
                errors.push(FieldError::new(
                    FIELD,
                    format!(
                        "{LABEL} is for the product {}, not {}: upload the licence issued for this appliance",
                        shown(&l.product),
                        ctx.product
                    ),
                ));
                None
            }
            Ok(l) if l.valid_from > ctx.today => {
                errors.push(FieldError::new(
                    FIELD,
                    format!(
                        "{LABEL} is not valid yet: it starts on {}; check the appliance's date or use the current licence",
                        l.valid_from
                    ),
                ));
                None
            }
            Ok(l) if l.expire < ctx.today => {
                errors.push(FieldError::new(
                    FIELD,
                    format!("{LABEL} expired on {}: upload a current licence", l.expire),
                ));
                None
            }
            Ok(l) => Some(l),
            Err(e) => {
                errors.push(e);
                None
            }
        }
    };
    let key = form.update_key.trim();
    if key.is_empty() {
        errors.push(FieldError::new(
            "update_key",
            "Update key is required: paste the update key delivered with the licence",
        ));
    } else if !base64_of(key, 32) {
        errors.push(FieldError::new(
            "update_key",
            "Update key is not in its format: 44 characters of base64 ending in \"=\" (32 bytes)",
        ));
    }
    match licence {
        Some(licence) if errors.is_empty() => Ok(LicenceStep {
            licence,
            update_key: key.to_string(),
        }),
        // A missing licence always left an error above.
        _ => Err(errors),
    }
}

/// The licence key's public half the appliance trusts (vendor-repo's key
/// file format: `{"key_id", "public_key"}`).
pub use vendor_repo::PublicKey as LicenceKey;

/// Checks the ed25519 signature of a parsed licence against the vendor's
/// licence keys: the signed text is [`Licence::signed_text`].
pub fn verify_signature(licence: &Licence, keys: &[LicenceKey]) -> Result<(), FieldError> {
    use base64::Engine as _;
    if keys.is_empty() {
        return Err(FieldError::new(
            FIELD,
            format!(
                "{LABEL} cannot be checked: this appliance has no vendor licence key installed; reinstall the appliance from a complete image"
            ),
        ));
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&licence.signature)
        .ok()
        .and_then(|b| <[u8; 64]>::try_from(b).ok());
    let good = raw.is_some_and(|raw| {
        let sig = ed25519_dalek::Signature::from_bytes(&raw);
        keys.iter().any(|k| {
            k.key
                .verify_strict(licence.signed_text.as_bytes(), &sig)
                .is_ok()
        })
    });
    if good {
        Ok(())
    } else {
        Err(FieldError::new(
            FIELD,
            format!(
                "{LABEL} is not signed by this product's vendor licence key: it was changed after it was issued, or it is for another vendor; upload the file exactly as issued"
            ),
        ))
    }
}

/// [`validate`] plus the signature: a well-formed licence whose signature
/// does not verify gets the signature's message instead of any date or
/// product message (a forged file's dates mean nothing).
pub fn validate_signed(
    form: &LicenceForm,
    ctx: &Context,
    keys: &[LicenceKey],
) -> Result<LicenceStep, Vec<FieldError>> {
    let result = validate(form, ctx);
    if form.licence.trim().is_empty() {
        return result;
    }
    let Ok(parsed) = parse(&form.licence) else {
        return result;
    };
    match verify_signature(&parsed, keys) {
        Ok(()) => result,
        Err(sig) => {
            let mut errors = result.err().unwrap_or_default();
            errors.retain(|e| e.field != FIELD);
            let at = errors
                .iter()
                .position(|e| e.field == "update_key")
                .unwrap_or(errors.len());
            errors.insert(at, sig);
            Err(errors)
        }
    }
}

/// The text of a licence file with `fields` (`key`, `value`) in order,
/// signed by `sign` (ed25519 over the lines between the markers joined
/// with `\n`), the signature wrapped at 64 characters. What
/// `cargo xtask repo license` writes; [`parse`] reads it back.
pub fn issue(fields: &[(&str, String)], sign: impl FnOnce(&[u8]) -> [u8; 64]) -> String {
    use base64::Engine as _;
    let body: Vec<String> = fields.iter().map(|(k, v)| format!("{k} = {v}")).collect();
    let signed = body.join("\n");
    let sig = base64::engine::general_purpose::STANDARD.encode(sign(signed.as_bytes()));
    let mut out = format!("{BEGIN}\n{signed}\n{END}\n{BEGIN_SIG}\n");
    for chunk in sig.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(END_SIG);
    out.push('\n');
    out
}

/// The file text of an accepted licence (the page re-submits it when the
/// licence step is sent again without a new upload).
pub fn file_text(l: &Licence) -> String {
    let mut out = format!("{BEGIN}\n{}\n{END}\n{BEGIN_SIG}\n", l.signed_text);
    for chunk in l.signature.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(END_SIG);
    out.push('\n');
    out
}
