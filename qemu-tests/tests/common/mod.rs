//! Shared by the HTTPS tests: TEST-ONLY TLS material and free ports.

#![allow(dead_code, clippy::unwrap_used)] // test helpers; each test file uses a part

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use std::fs;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// A TEST-ONLY CA and a server certificate for 127.0.0.1 signed by it.
/// Returns (CA PEM, server cert path, server key path).
pub fn tls(dir: &Path) -> (String, PathBuf, PathBuf) {
    let now = time::OffsetDateTime::from(SystemTime::now());
    let mut ca = CertificateParams::default();
    ca.distinguished_name
        .push(DnType::CommonName, "qemu-tests TEST ONLY CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    ca.not_before = now - time::Duration::days(1);
    ca.not_after = now + time::Duration::days(2);
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);

    let mut server = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    server
        .subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    server.not_before = now - time::Duration::days(1);
    server.not_after = now + time::Duration::days(2);
    let key = KeyPair::generate().unwrap();
    let cert = server.signed_by(&key, &issuer).unwrap();
    let (cert_path, key_path) = (dir.join("server.pem"), dir.join("server.key"));
    fs::write(&cert_path, cert.pem()).unwrap();
    fs::write(&key_path, key.serialize_pem()).unwrap();
    (ca_cert.pem(), cert_path, key_path)
}

pub fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}
