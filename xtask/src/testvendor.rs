//! TEST-ONLY TLS material for the test vendor backend.
//!
//! The test repository is served over HTTPS by nginx on a loopback port; QEMU
//! guests reach it through user networking as `10.0.2.2`. [`ensure_tls`]
//! keeps, in one directory (callers use `target/test-vendor/tls/`):
//!
//! | file | what |
//! |---|---|
//! | `TEST-ONLY-vendor-ca.pem` / `.key` | the test vendor CA (pinned in test ISOs) and its key |
//! | `TEST-ONLY-server.pem` / `.key` | nginx's certificate (SANs 10.0.2.2, 127.0.0.1, localhost), signed by the CA |
//! | `TEST-ONLY-other-ca.pem` | an unrelated CA, for "wrong CA" tests (its key is thrown away) |
//!
//! **These are test keys.** They are generated on the build machine at test
//! time, never leave `target/`, and must never be used for anything real; the
//! CA's common name says so.
//!
//! Files are regenerated when missing, unreadable, or expiring within
//! [`RENEW_BEFORE`]. The server certificate is valid for [`SERVER_VALIDITY`]
//! and the CAs for [`CA_VALIDITY`] (longer, so that renewing the server
//! certificate keeps the CA an already built ISO pins); every `notBefore` is
//! [`BACKDATE`] in the past to tolerate guest clock skew.

use std::fs;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use time::OffsetDateTime;

/// Common name of the test vendor CA.
pub const CA_CN: &str = "Example Appliance TEST ONLY vendor CA \u{2014} not for production";
/// Common name of the unrelated CA.
pub const OTHER_CA_CN: &str =
    "Example Appliance TEST ONLY unrelated CA \u{2014} not for production";
/// Validity of the server certificate.
pub const SERVER_VALIDITY: Duration = Duration::from_secs(90 * 86_400);
/// Validity of the CAs.
pub const CA_VALIDITY: Duration = Duration::from_secs(2 * 365 * 86_400);
/// Certificates expiring sooner than this are regenerated.
pub const RENEW_BEFORE: Duration = Duration::from_secs(7 * 86_400);
/// How far in the past every `notBefore` lies.
pub const BACKDATE: Duration = Duration::from_secs(86_400);

const CA_PEM: &str = "TEST-ONLY-vendor-ca.pem";
const CA_KEY: &str = "TEST-ONLY-vendor-ca.key";
const SERVER_PEM: &str = "TEST-ONLY-server.pem";
const SERVER_KEY: &str = "TEST-ONLY-server.key";
const OTHER_CA_PEM: &str = "TEST-ONLY-other-ca.pem";

/// Paths of the test TLS material (all inside the directory given to [`ensure_tls`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsMaterial {
    /// The test vendor CA certificate (PEM): what a test ISO pins.
    pub ca_cert: PathBuf,
    /// The test vendor CA's private key (PEM, mode 0600).
    pub ca_key: PathBuf,
    /// nginx's certificate (PEM), signed by the test vendor CA.
    pub server_cert: PathBuf,
    /// nginx's private key (PEM, mode 0600).
    pub server_key: PathBuf,
    /// An unrelated CA certificate (PEM) for "wrong CA" tests.
    pub other_ca_cert: PathBuf,
}

impl TlsMaterial {
    fn in_dir(dir: &Path) -> TlsMaterial {
        TlsMaterial {
            ca_cert: dir.join(CA_PEM),
            ca_key: dir.join(CA_KEY),
            server_cert: dir.join(SERVER_PEM),
            server_key: dir.join(SERVER_KEY),
            other_ca_cert: dir.join(OTHER_CA_PEM),
        }
    }
}

/// Makes sure `dir` holds valid test TLS material at time `now`, generating
/// whatever is missing, unreadable, not matching, or expiring within
/// [`RENEW_BEFORE`]. Returns the paths.
pub fn ensure_tls(dir: &Path, now: SystemTime) -> Result<TlsMaterial> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let m = TlsMaterial::in_dir(dir);
    let renew_at = now + RENEW_BEFORE;

    let ca_ok = cert_usable(&m.ca_cert, None, renew_at) && key_matches(&m.ca_key, &m.ca_cert)?;
    if !ca_ok {
        write_ca(&m.ca_cert, Some(&m.ca_key), CA_CN, now)?;
    }
    let ca_pem = read(&m.ca_cert)?.context("the test CA was just written")?;
    let server_ok = ca_ok
        && cert_usable(&m.server_cert, Some(&ca_pem), renew_at)
        && key_matches(&m.server_key, &m.server_cert)?;
    if !server_ok {
        write_server(&m, &ca_pem, now)?;
    }
    for key in [&m.ca_key, &m.server_key] {
        // Kept private even if someone loosened the mode.
        fs::set_permissions(key, fs::Permissions::from_mode(0o600))
            .with_context(|| format!("chmod 600 {}", key.display()))?;
    }
    if !cert_usable(&m.other_ca_cert, None, renew_at) {
        write_ca(&m.other_ca_cert, None, OTHER_CA_CN, now)?;
    }
    Ok(m)
}

/// The file's text, or `None` when it does not exist.
fn read(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        // Unreadable as text (e.g. garbage): regenerate rather than fail.
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// The key at `key_path` parses and is the private half of the certificate at `cert_path`.
fn key_matches(key_path: &Path, cert_path: &Path) -> Result<bool> {
    let (Some(key), Some(cert)) = (read(key_path)?, read(cert_path)?) else {
        return Ok(false);
    };
    let Ok(key) = KeyPair::from_pem(&key) else {
        return Ok(false);
    };
    let Ok((_, pem)) = x509_parser::pem::parse_x509_pem(cert.as_bytes()) else {
        return Ok(false);
    };
    let Ok(cert) = pem.parse_x509() else {
        return Ok(false);
    };
    Ok(cert.public_key().subject_public_key.data.as_ref() == key.public_key_raw())
}

/// The certificate at `path` parses, is valid beyond `renew_at`, and (when
/// `issuer_pem` is given) is signed by that CA.
fn cert_usable(path: &Path, issuer_pem: Option<&str>, renew_at: SystemTime) -> bool {
    let Ok(Some(pem)) = read(path) else {
        return false;
    };
    let Ok((_, pem)) = x509_parser::pem::parse_x509_pem(pem.as_bytes()) else {
        return false;
    };
    let Ok(cert) = pem.parse_x509() else {
        return false;
    };
    let not_after = cert.validity().not_after.timestamp();
    if not_after <= unix(renew_at) {
        return false;
    }
    match issuer_pem {
        None => true,
        Some(issuer_pem) => {
            let Ok((_, ipem)) = x509_parser::pem::parse_x509_pem(issuer_pem.as_bytes()) else {
                return false;
            };
            let Ok(issuer) = ipem.parse_x509() else {
                return false;
            };
            cert.issuer() == issuer.subject()
                && cert.verify_signature(Some(issuer.public_key())).is_ok()
        }
    }
}

fn unix(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

fn validity(params: &mut CertificateParams, now: SystemTime, length: Duration) {
    let start = OffsetDateTime::from(now - BACKDATE);
    params.not_before = start;
    params.not_after = start + length;
}

fn ca_params(cn: &str, now: SystemTime) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::OrganizationName, "Example Appliance (TEST ONLY)");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    validity(&mut params, now, CA_VALIDITY);
    params
}

/// Writes a fresh self-signed CA certificate (and its key, when `key_path` is given).
fn write_ca(cert_path: &Path, key_path: Option<&Path>, cn: &str, now: SystemTime) -> Result<()> {
    let key = KeyPair::generate().context("generating a CA key")?;
    let cert = ca_params(cn, now)
        .self_signed(&key)
        .context("signing the test CA")?;
    if let Some(key_path) = key_path {
        write_atomic(key_path, key.serialize_pem().as_bytes(), 0o600)?;
    }
    write_atomic(cert_path, cert.pem().as_bytes(), 0o644)
}

/// Writes a fresh server certificate and key signed by the CA in `m`.
fn write_server(m: &TlsMaterial, ca_pem: &str, now: SystemTime) -> Result<()> {
    let ca_key_pem = read(&m.ca_key)?.context("the test CA key is missing")?;
    let ca_key = KeyPair::from_pem(&ca_key_pem).context("parsing the test CA key")?;
    let issuer =
        Issuer::from_ca_cert_pem(ca_pem, ca_key).context("parsing the test CA certificate")?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "TEST ONLY vendor backend (10.0.2.2)");
    params.distinguished_name = dn;
    params.subject_alt_names = vec![
        SanType::IpAddress(IpAddr::V4(Ipv4Addr::new(10, 0, 2, 2))),
        SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        SanType::DnsName("localhost".try_into().context("SAN localhost")?),
    ];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    validity(&mut params, now, SERVER_VALIDITY);
    let key = KeyPair::generate().context("generating the server key")?;
    let cert = params
        .signed_by(&key, &issuer)
        .context("signing the server certificate")?;
    write_atomic(&m.server_key, key.serialize_pem().as_bytes(), 0o600)?;
    write_atomic(&m.server_cert, cert.pem().as_bytes(), 0o644)
}

/// Writes `bytes` to a temporary file created with `mode`, then renames it over `path`.
fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let Some(name) = path.file_name() else {
        bail!("{} has no file name", path.display());
    };
    let mut tmp_name = name.to_os_string();
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    // The umask may have removed bits; set exactly `mode`.
    f.set_permissions(fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-tls-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn parse(path: &Path) -> (String, i64, i64, Vec<String>) {
        let text = fs::read_to_string(path).unwrap();
        let (_, pem) = x509_parser::pem::parse_x509_pem(text.as_bytes()).unwrap();
        assert_eq!(pem.label, "CERTIFICATE");
        let cert = pem.parse_x509().unwrap();
        let cn = cert
            .subject()
            .iter_common_name()
            .next()
            .unwrap()
            .as_str()
            .unwrap()
            .to_string();
        let sans = cert
            .subject_alternative_name()
            .unwrap()
            .map(|s| {
                s.value
                    .general_names
                    .iter()
                    .map(|g| match g {
                        x509_parser::extensions::GeneralName::IPAddress(b) => {
                            let b: [u8; 4] = (*b).try_into().unwrap();
                            format!("IP {}", Ipv4Addr::from(b))
                        }
                        x509_parser::extensions::GeneralName::DNSName(n) => format!("DNS {n}"),
                        other => format!("{other}"),
                    })
                    .collect()
            })
            .unwrap_or_default();
        (
            cn,
            cert.validity().not_before.timestamp(),
            cert.validity().not_after.timestamp(),
            sans,
        )
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn generates_everything_parsable_with_private_keys() {
        let dir = tempdir("gen");
        let now = SystemTime::now();
        let m = ensure_tls(&dir, now).unwrap();
        assert_eq!(m.ca_cert, dir.join("TEST-ONLY-vendor-ca.pem"));
        assert_eq!(m.server_cert, dir.join("TEST-ONLY-server.pem"));
        assert_eq!(m.server_key, dir.join("TEST-ONLY-server.key"));
        assert_eq!(m.other_ca_cert, dir.join("TEST-ONLY-other-ca.pem"));

        let (cn, nb, na, _) = parse(&m.ca_cert);
        assert_eq!(
            cn,
            "Example Appliance TEST ONLY vendor CA \u{2014} not for production"
        );
        assert_eq!(nb, unix(now) - 86_400, "notBefore a day in the past");
        assert!(na > unix(now + SERVER_VALIDITY));

        let (_, nb, na, sans) = parse(&m.server_cert);
        assert_eq!(nb, unix(now) - 86_400);
        assert_eq!(na - nb, 90 * 86_400);
        assert_eq!(sans, ["IP 10.0.2.2", "IP 127.0.0.1", "DNS localhost"]);
        assert!(cert_usable(
            &m.server_cert,
            Some(&fs::read_to_string(&m.ca_cert).unwrap()),
            now
        ));
        assert!(!cert_usable(
            &m.server_cert,
            Some(&fs::read_to_string(&m.other_ca_cert).unwrap()),
            now
        ));
        let (other_cn, ..) = parse(&m.other_ca_cert);
        assert!(other_cn.contains("TEST ONLY unrelated CA"));

        for key in [&m.server_key, &m.ca_key] {
            assert_eq!(mode(key), 0o600, "{}", key.display());
            let text = fs::read_to_string(key).unwrap();
            assert!(text.starts_with("-----BEGIN PRIVATE KEY-----"));
            KeyPair::from_pem(&text).unwrap();
        }
        assert_eq!(mode(&m.server_cert), 0o644);
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 5, "no temporary files left: {names:?}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn regenerates_only_what_is_missing_or_expiring() {
        let dir = tempdir("regen");
        let t0 = SystemTime::now();
        let m = ensure_tls(&dir, t0).unwrap();
        let snapshot = |p: &Path| fs::read(p).unwrap();
        let (ca, server, other) = (
            snapshot(&m.ca_cert),
            snapshot(&m.server_cert),
            snapshot(&m.other_ca_cert),
        );

        // A day later: everything is kept.
        ensure_tls(&dir, t0 + Duration::from_secs(86_400)).unwrap();
        assert_eq!(snapshot(&m.ca_cert), ca);
        assert_eq!(snapshot(&m.server_cert), server);
        assert_eq!(snapshot(&m.other_ca_cert), other);

        // 84 days later the server certificate expires within 7 days (it was
        // backdated by one): it is renewed, signed by the same CA.
        let later = t0 + Duration::from_secs(84 * 86_400);
        ensure_tls(&dir, later).unwrap();
        assert_eq!(snapshot(&m.ca_cert), ca, "the CA is kept");
        assert_ne!(
            snapshot(&m.server_cert),
            server,
            "the server cert is renewed"
        );
        let ca_text = fs::read_to_string(&m.ca_cert).unwrap();
        assert!(cert_usable(&m.server_cert, Some(&ca_text), later));
        let server = snapshot(&m.server_cert);

        // A server key that does not belong to the certificate: regenerated.
        fs::copy(&m.ca_key, &m.server_key).unwrap();
        fs::set_permissions(&m.server_key, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(!key_matches(&m.server_key, &m.server_cert).unwrap());
        ensure_tls(&dir, later).unwrap();
        assert!(key_matches(&m.server_key, &m.server_cert).unwrap());
        assert_ne!(snapshot(&m.server_cert), server);
        assert_eq!(mode(&m.server_key), 0o600);
        let server = snapshot(&m.server_cert);

        // A missing server key: the pair is regenerated.
        fs::remove_file(&m.server_key).unwrap();
        ensure_tls(&dir, later).unwrap();
        assert_ne!(snapshot(&m.server_cert), server);
        assert_eq!(mode(&m.server_key), 0o600);

        // A garbage CA: everything signed by it is regenerated too.
        fs::write(&m.ca_cert, "not a certificate").unwrap();
        let server = snapshot(&m.server_cert);
        ensure_tls(&dir, later).unwrap();
        assert_ne!(snapshot(&m.ca_cert), ca);
        assert_ne!(snapshot(&m.server_cert), server);
        let ca_text = fs::read_to_string(&m.ca_cert).unwrap();
        assert!(cert_usable(&m.server_cert, Some(&ca_text), later));
        assert_eq!(snapshot(&m.other_ca_cert), other);

        // Past the CAs' lifetime: all of it is new.
        let much_later = later + CA_VALIDITY;
        let (ca, other) = (snapshot(&m.ca_cert), snapshot(&m.other_ca_cert));
        ensure_tls(&dir, much_later).unwrap();
        assert_ne!(snapshot(&m.ca_cert), ca);
        assert_ne!(snapshot(&m.other_ca_cert), other);
        fs::remove_dir_all(&dir).unwrap();
    }
}
