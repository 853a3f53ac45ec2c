//! Enrolment: the parameters of a new HOTP or TOTP token (LinOTP's
//! `admin/init` names), its seed, and the `otpauth://` URI an
//! authenticator app reads from a QR code.

use appliance_otp::hotp::Algorithm;
use appliance_otp::names::Serial;
use appliance_otp::token::{TokenKind, DEFAULT_TIME_STEP, DEFAULT_TIME_WINDOW};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Deserialize;
use zeroize::Zeroizing;

/// `admin/init`'s fields (form or query). Empty fields count as absent,
/// as HTML forms send them.
#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct InitForm {
    /// `hotp` (default) or `totp`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Generated (`OATH` + 8 hex digits) when empty.
    pub serial: String,
    /// `sha1` (default), `sha256` or `sha512`.
    pub hashlib: String,
    /// 6 (default), 7 or 8.
    pub otplen: String,
    /// The seed in hex; generated when empty (the usual case: the QR code
    /// carries it to the app).
    pub otpkey: String,
    /// TOTP step in seconds (default 30).
    pub timestep: String,
    /// Assign to this user (optional) in `realm` (default realm when empty).
    pub user: String,
    pub realm: String,
    /// The token PIN (optional).
    pub pin: String,
}

impl std::fmt::Debug for InitForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InitForm")
            .field("type", &self.kind)
            .field("serial", &self.serial)
            .field("user", &self.user)
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

/// A bad field: its name and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

fn bad(field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        field,
        message: message.into(),
    }
}

/// A checked enrolment with its seed.
pub struct Enrolment {
    pub serial: Serial,
    pub kind: TokenKind,
    pub algorithm: Algorithm,
    pub digits: u8,
    pub seed: Zeroizing<Vec<u8>>,
}

fn random_bytes(n: usize) -> Zeroizing<Vec<u8>> {
    let mut bytes = Zeroizing::new(vec![0u8; n]);
    getrandom::getrandom(&mut bytes).expect("the operating system's random generator");
    bytes
}

/// A new serial: `OATH` and 8 random hex digits (LinOTP's prefix).
pub fn new_serial() -> Serial {
    let bytes = random_bytes(4);
    Serial::new(&format!("OATH{}", hex::encode_upper(&*bytes))).expect("a valid serial")
}

impl InitForm {
    pub fn parse(&self) -> Result<Enrolment, FieldError> {
        let algorithm = match self.hashlib.trim() {
            "" => Algorithm::Sha1,
            name => Algorithm::parse(name)
                .ok_or_else(|| bad("hashlib", "must be sha1, sha256 or sha512"))?,
        };
        let kind = match self.kind.trim().to_ascii_lowercase().as_str() {
            "" | "hotp" => TokenKind::Hotp,
            "totp" => {
                let step = match self.timestep.trim() {
                    "" => DEFAULT_TIME_STEP,
                    text => match text.parse::<u64>() {
                        Ok(n) if (1..=300).contains(&n) => n,
                        _ => {
                            return Err(bad(
                                "timestep",
                                "must be a number of seconds from 1 to 300 (usually 30)",
                            ))
                        }
                    },
                };
                TokenKind::Totp {
                    step,
                    window: DEFAULT_TIME_WINDOW,
                }
            }
            _ => return Err(bad("type", "must be hotp or totp")),
        };
        let digits = match self.otplen.trim() {
            "" => 6,
            "6" => 6,
            "7" => 7,
            "8" => 8,
            _ => return Err(bad("otplen", "must be 6, 7 or 8")),
        };
        let serial = match self.serial.trim() {
            "" => new_serial(),
            text => Serial::new(text).map_err(|e| bad("serial", e.to_string()))?,
        };
        let seed = match self.otpkey.trim() {
            // The HMAC's block-sized key: 20 bytes for SHA-1 (RFC 4226's
            // recommendation), 32 and 64 for SHA-256 and SHA-512.
            "" => random_bytes(match algorithm {
                Algorithm::Sha1 => 20,
                Algorithm::Sha256 => 32,
                Algorithm::Sha512 => 64,
            }),
            text => {
                let bytes = Zeroizing::new(
                    hex::decode(text)
                        .map_err(|_| bad("otpkey", "must be hexadecimal (two digits a byte)"))?,
                );
                if bytes.len() < 16 {
                    return Err(bad(
                        "otpkey",
                        "must be at least 16 bytes (32 hex digits); leave it empty to generate one",
                    ));
                }
                bytes
            }
        };
        Ok(Enrolment {
            serial,
            kind,
            algorithm,
            digits,
            seed,
        })
    }
}

/// What a label or parameter may keep unescaped (RFC 3986 unreserved).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The Key URI (`otpauth://hotp/ISSUER:LABEL?secret=…`) authenticator apps
/// read: base32 seed without padding, algorithm, digits, and the counter
/// (HOTP) or period (TOTP).
pub fn otpauth_uri(issuer: &str, label: &str, e: &Enrolment) -> String {
    let secret = data_encoding::BASE32_NOPAD.encode(&e.seed);
    let issuer_enc = utf8_percent_encode(issuer, COMPONENT);
    let label_enc = utf8_percent_encode(label, COMPONENT);
    let moving = match e.kind {
        TokenKind::Hotp => "counter=0".to_string(),
        TokenKind::Totp { step, .. } => format!("period={step}"),
    };
    format!(
        "otpauth://{kind}/{issuer_enc}:{label_enc}?secret={secret}&issuer={issuer_enc}&algorithm={alg}&digits={digits}&{moving}",
        kind = e.kind.name(),
        alg = e.algorithm.name(),
        digits = e.digits,
    )
}

/// The URI as a QR code in SVG (error correction M, 4-module quiet zone).
pub fn qr_svg(uri: &str) -> Result<String, qrcode::types::QrError> {
    let code = qrcode::QrCode::with_error_correction_level(uri.as_bytes(), qrcode::EcLevel::M)?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> InitForm {
        let mut f = InitForm::default();
        for (k, v) in pairs {
            let v = v.to_string();
            match *k {
                "type" => f.kind = v,
                "serial" => f.serial = v,
                "hashlib" => f.hashlib = v,
                "otplen" => f.otplen = v,
                "otpkey" => f.otpkey = v,
                "timestep" => f.timestep = v,
                _ => panic!("{k}"),
            }
        }
        f
    }

    #[test]
    fn defaults_are_linotps() {
        let e = form(&[]).parse().unwrap();
        assert_eq!(e.kind, TokenKind::Hotp);
        assert_eq!(
            (e.algorithm, e.digits, e.seed.len()),
            (Algorithm::Sha1, 6, 20)
        );
        assert!(e.serial.as_str().starts_with("OATH") && e.serial.as_str().len() == 12);
        let t = form(&[("type", "TOTP"), ("hashlib", "sha256")])
            .parse()
            .unwrap();
        assert_eq!(
            t.kind,
            TokenKind::Totp {
                step: 30,
                window: 180
            }
        );
        assert_eq!(t.seed.len(), 32);
    }

    #[test]
    fn each_bad_field_is_named() {
        for (pairs, field) in [
            (&[("type", "sms")][..], "type"),
            (&[("hashlib", "md5")][..], "hashlib"),
            (&[("otplen", "9")][..], "otplen"),
            (&[("serial", "a b")][..], "serial"),
            (&[("otpkey", "xyz")][..], "otpkey"),
            (&[("otpkey", "3132")][..], "otpkey"),
            (&[("type", "totp"), ("timestep", "0")][..], "timestep"),
        ] {
            let err = form(pairs).parse().err().unwrap();
            assert_eq!(err.field, field, "{err}");
        }
    }

    #[test]
    fn golden_otpauth_uris() {
        let seed = b"12345678901234567890";
        let hotp = form(&[("serial", "OATH0001"), ("otpkey", &hex::encode(seed))])
            .parse()
            .unwrap();
        assert_eq!(
            otpauth_uri("OTP appliance", "alice@staff", &hotp),
            "otpauth://hotp/OTP%20appliance:alice%40staff?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=OTP%20appliance&algorithm=SHA1&digits=6&counter=0"
        );
        let totp = form(&[
            ("serial", "T1"),
            ("type", "totp"),
            ("otplen", "8"),
            ("otpkey", &hex::encode(seed)),
        ])
        .parse()
        .unwrap();
        assert_eq!(
            otpauth_uri("otp", "T1", &totp),
            "otpauth://totp/otp:T1?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=otp&algorithm=SHA1&digits=8&period=30"
        );
        let svg = qr_svg(&otpauth_uri("otp", "T1", &totp)).unwrap();
        assert!(svg.starts_with("<?xml") && svg.contains("<svg"), "{svg}");
    }
}
