//! SSH host key fingerprints as `ssh-keygen -l` shows them: the key's size
//! in bits, `SHA256:` and the unpadded base64 of the SHA-256 of the public
//! key blob, and the key type (`ED25519`, `ECDSA`, `RSA`). Pure parsing of
//! `*.pub` lines; the reading is the caller's.

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// One host key's fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKey {
    /// `ED25519`, `ECDSA`, `RSA`, or the algorithm name for others.
    pub kind: String,
    /// Size in bits (`ssh-keygen -l`'s first column).
    pub bits: u32,
    /// `SHA256:…` (base64 without padding).
    pub sha256: String,
    /// The file it came from.
    pub file: String,
}

/// Why a `.pub` line is not a public key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: not an OpenSSH public key ({why})")]
pub struct KeyError {
    pub file: String,
    pub why: String,
}

/// Reads one length-prefixed string of the SSH wire format.
fn take<'a>(blob: &mut &'a [u8]) -> Option<&'a [u8]> {
    let (len, rest) = blob.split_first_chunk::<4>()?;
    let len = u32::from_be_bytes(*len) as usize;
    if rest.len() < len {
        return None;
    }
    let (s, rest) = rest.split_at(len);
    *blob = rest;
    Some(s)
}

/// The bits of an RSA modulus (an mpint: big-endian, maybe a leading 0).
fn mpint_bits(n: &[u8]) -> u32 {
    let n: Vec<u8> = n.iter().copied().skip_while(|b| *b == 0).collect();
    match n.first() {
        Some(first) => (n.len() as u32 - 1) * 8 + (8 - first.leading_zeros()),
        None => 0,
    }
}

/// The fingerprint of one `.pub` file's text (`type base64 [comment]`).
pub fn fingerprint(file: &str, text: &str) -> Result<HostKey, KeyError> {
    let err = |why: &str| KeyError {
        file: file.to_string(),
        why: why.to_string(),
    };
    let mut words = text.split_whitespace();
    let algo = words.next().ok_or_else(|| err("the file is empty"))?;
    let b64 = words.next().ok_or_else(|| err("no key after the type"))?;
    let blob = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| err("the key is not base64"))?;
    let mut rest = blob.as_slice();
    let inner = take(&mut rest).ok_or_else(|| err("the key blob is cut short"))?;
    if inner != algo.as_bytes() {
        return Err(err("the key blob's type differs from the line's"));
    }
    let (kind, bits) = match algo {
        "ssh-ed25519" => ("ED25519".to_string(), 256),
        "ssh-rsa" => {
            let _e = take(&mut rest).ok_or_else(|| err("the RSA exponent is missing"))?;
            let n = take(&mut rest).ok_or_else(|| err("the RSA modulus is missing"))?;
            ("RSA".to_string(), mpint_bits(n))
        }
        a if a.starts_with("ecdsa-sha2-nistp") => {
            let bits = match &a["ecdsa-sha2-nistp".len()..] {
                "256" => 256,
                "384" => 384,
                "521" => 521,
                _ => return Err(err("unknown ECDSA curve")),
            };
            ("ECDSA".to_string(), bits)
        }
        other => (other.to_string(), 0),
    };
    let digest = Sha256::digest(&blob);
    Ok(HostKey {
        kind,
        bits,
        sha256: format!(
            "SHA256:{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
        ),
        file: file.to_string(),
    })
}

/// The fingerprints of every `ssh_host_*_key.pub` in `dir`, sorted by
/// file name; unreadable or damaged files are reported, not skipped.
pub fn host_keys(dir: &std::path::Path) -> Vec<Result<HostKey, KeyError>> {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("ssh_host_") && n.ends_with("_key.pub"))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .map(|p| {
            let name = p.display().to_string();
            match std::fs::read_to_string(p) {
                Ok(text) => fingerprint(&name, &text),
                Err(e) => Err(KeyError {
                    file: name,
                    why: e.to_string(),
                }),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damaged_lines_say_what_is_wrong() {
        let e = fingerprint("k.pub", "").unwrap_err();
        assert_eq!(
            e.to_string(),
            "k.pub: not an OpenSSH public key (the file is empty)"
        );
        let e = fingerprint("k.pub", "ssh-ed25519 !!!").unwrap_err();
        assert!(e.to_string().contains("not base64"), "{e}");
        // "ssh-rsa" inside, "ssh-ed25519" outside.
        let e = fingerprint("k.pub", "ssh-ed25519 AAAAB3NzaC1yc2E= x").unwrap_err();
        assert!(e.to_string().contains("differs"), "{e}");
    }

    #[test]
    fn rsa_modulus_bits_skip_the_sign_byte() {
        assert_eq!(mpint_bits(&[0x00, 0x80, 0, 0]), 24);
        assert_eq!(mpint_bits(&[0x01, 0xff]), 9);
        assert_eq!(mpint_bits(&[]), 0);
    }
}
