//! The appliance's own secrets, made on first boot: a TLS key with a
//! self-signed certificate, and the one-time setup token.

use std::net::Ipv4Addr;

use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};

/// Errors making the identity.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// rcgen failed.
    #[error("cannot create the TLS certificate: {0}")]
    Cert(#[from] rcgen::Error),
    /// The kernel's random number generator failed.
    #[error("cannot read random bytes from the kernel")]
    Random,
}

/// Key and certificate.
pub struct Identity {
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PKCS#8 DER (secret).
    pub key_der: Vec<u8>,
    /// The private key, PEM (secret).
    pub key_pem: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("fingerprint", &fingerprint_hex(&self.cert_der))
            .finish_non_exhaustive()
    }
}

/// Current year from the clock (for the validity period), at least 2024.
fn this_year() -> i32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // Average Gregorian year: 365.2425 days.
    let year = 1970 + (secs / 31_556_952) as i32;
    year.max(2024)
}

/// An ECDSA P-256 key and a self-signed certificate for `hostname` and
/// `address` (both in the subject alternative names; CN = hostname), valid
/// from January 1st of this year for ten years.
pub fn generate(hostname: &str, address: Option<Ipv4Addr>) -> Result<Identity, TlsError> {
    let key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::new(vec![hostname.to_string()])?;
    if let Some(ip) = address {
        params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress(std::net::IpAddr::V4(ip)));
    }
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, hostname);
    params.distinguished_name = dn;
    let year = this_year();
    params.not_before = rcgen::date_time_ymd(year, 1, 1);
    params.not_after = rcgen::date_time_ymd(year + 10, 1, 1);
    let cert = params.self_signed(&key)?;
    Ok(Identity {
        cert_der: cert.der().to_vec(),
        cert_pem: cert.pem(),
        key_der: key.serialize_der(),
        key_pem: key.serialize_pem(),
    })
}

/// SHA-256 of `der` as uppercase hex pairs joined by colons (`AB:CD:…`),
/// the way browsers show it.
pub fn fingerprint_colons(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// SHA-256 of `der` as lowercase hex without separators (for the event line).
pub fn fingerprint_hex(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Bytes of randomness in a setup token (160 bits).
pub const TOKEN_BYTES: usize = 20;

/// A fresh setup token from the kernel's random number generator.
pub fn new_token() -> Result<String, TlsError> {
    let mut bytes = [0u8; TOKEN_BYTES];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| TlsError::Random)?;
    Ok(format_token(&bytes))
}

/// RFC 4648 base32 (`A–Z 2–7`, no padding: 160 bits are 32 characters) in
/// eight groups of four joined by dashes.
pub fn format_token(bytes: &[u8; TOKEN_BYTES]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut chars = Vec::with_capacity(32);
    for chunk in bytes.chunks(5) {
        let mut v: u64 = 0;
        for &b in chunk {
            v = (v << 8) | u64::from(b);
        }
        for i in (0..8).rev() {
            chars.push(ALPHABET[((v >> (i * 5)) & 31) as usize] as char);
        }
    }
    chars
        .chunks(4)
        .map(|g| g.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_base32_in_groups() {
        assert_eq!(
            format_token(&[0u8; TOKEN_BYTES]),
            "AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA"
        );
        // RFC 4648 test vector: "fooba" → MZXW6YTB.
        let mut b = [0u8; TOKEN_BYTES];
        b[..5].copy_from_slice(b"fooba");
        assert!(format_token(&b).starts_with("MZXW-6YTB-AAAA"));
        assert_eq!(
            format_token(&[0xFF; TOKEN_BYTES]),
            "7777-7777-7777-7777-7777-7777-7777-7777"
        );
        let t = new_token().unwrap();
        assert_eq!(t.len(), 39);
        assert_ne!(t, new_token().unwrap());
    }

    #[test]
    fn fingerprints_of_known_bytes() {
        // SHA-256("abc")
        let colons = fingerprint_colons(b"abc");
        assert!(colons.starts_with("BA:78:16:BF:8F:01:CF:EA"), "{colons}");
        assert_eq!(colons.len(), 32 * 3 - 1);
        assert_eq!(
            fingerprint_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn certificate_names_host_and_address() {
        let id = generate("appliance", Some(Ipv4Addr::new(10, 0, 2, 15))).unwrap();
        assert!(id.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(id.key_pem.contains("PRIVATE KEY"));
        // The SAN extension holds the DNS name and the IP address octets.
        let der = &id.cert_der;
        assert!(der.windows(9).any(|w| w == b"appliance"));
        assert!(der.windows(6).any(|w| w == [0x87, 4, 10, 0, 2, 15]));
        // rustls accepts the pair.
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![rustls::pki_types::CertificateDer::from(id.cert_der.clone())],
                rustls::pki_types::PrivateKeyDer::Pkcs8(id.key_der.clone().into()),
            );
        assert!(cfg.is_ok());
    }
}
