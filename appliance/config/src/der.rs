//! Just enough DER to take the SubjectPublicKeyInfo out of a certificate
//! (for the public-key pin the console shows) and PEM to get the DER.

use base64::Engine as _;

/// One TLV: (tag, header + value bytes, value bytes).
fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *b.first()?;
    let first = *b.get(1)?;
    let (len, head) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | usize::from(*b.get(2 + i)?);
        }
        (len, 2 + n)
    };
    let end = head.checked_add(len)?;
    Some((tag, b.get(..end)?, b.get(head..end)?))
}

const SEQUENCE: u8 = 0x30;

/// The DER of the certificate's SubjectPublicKeyInfo, or `None` when
/// `cert` is not a certificate.
pub fn spki_of_cert(cert: &[u8]) -> Option<&[u8]> {
    let (tag, _, cert_body) = tlv(cert)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, _, tbs) = tlv(cert_body)?;
    if tag != SEQUENCE {
        return None;
    }
    let mut rest = tbs;
    // [0] version (optional), serial, signature, issuer, validity, subject.
    let (tag, whole, _) = tlv(rest)?;
    if tag == 0xA0 {
        rest = &rest[whole.len()..];
    }
    for _ in 0..5 {
        let (_, whole, _) = tlv(rest)?;
        rest = &rest[whole.len()..];
    }
    let (tag, whole, _) = tlv(rest)?;
    (tag == SEQUENCE).then_some(whole)
}

/// The DER inside the first PEM block labelled `label` (e.g. `CERTIFICATE`).
pub fn pem_block(text: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = start + text[start..].find(&end)?;
    let b64: String = text[start..stop].split_whitespace().collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}
