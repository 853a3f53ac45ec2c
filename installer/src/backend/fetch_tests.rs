use super::*;

#[test]
fn clock_earlier_than_the_build_is_a_problem() {
    let build = 1_700_000_000;
    let at = |s| UNIX_EPOCH + Duration::from_secs(s);
    assert_eq!(clock_problem(at(build), build), None);
    assert_eq!(clock_problem(at(build + 86_400 * 400), build), None);
    let msg = clock_problem(at(1_546_300_800), build).unwrap();
    assert!(msg.contains("reads 2019-01-01 00:00:00 UTC"), "{msg}");
    assert!(msg.contains("built (2023-11-14 22:13:20 UTC)"), "{msg}");
    assert!(msg.contains("firmware setup"), "{msg}");
    assert!(clock_problem(UNIX_EPOCH - Duration::from_secs(5), build).is_some());
}

#[test]
fn bad_ca_files_are_rejected_up_front() {
    let err = Client::new(b"", Timeouts::default()).unwrap_err();
    assert!(matches!(err, FetchError::BadCa { .. }), "{err}");
    assert!(
        err.to_string().contains("no PEM CERTIFICATE block"),
        "{err}"
    );
    let garbage = b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n";
    let err = Client::new(garbage, Timeouts::default()).unwrap_err();
    assert!(matches!(err, FetchError::BadCa { .. }), "{err}");
    assert!(err.hint().contains("vendor's CA certificate"));
}

#[test]
fn tls_errors_map_to_their_cause() {
    let url = "https://backend.example:8443/meta.json";
    let t = |s| rustls::pki_types::UnixTime::since_unix_epoch(Duration::from_secs(s));
    let e = classify_tls(
        url,
        &rustls::Error::InvalidCertificate(CertificateError::NotValidYetContext {
            time: t(1_546_300_800),
            not_before: t(1_700_000_000),
        }),
    );
    assert!(e.to_string().starts_with(url), "{e}");
    assert!(e.to_string().contains("check the clock"), "{e}");
    let hint = e.hint();
    assert!(hint.contains("It reads 2019-01-01 00:00:00 UTC"), "{hint}");
    assert!(
        hint.contains("valid from 2023-11-14 22:13:20 UTC"),
        "{hint}"
    );

    let e = classify_tls(
        url,
        &rustls::Error::InvalidCertificate(CertificateError::Expired),
    );
    assert!(e.to_string().contains("has expired"), "{e}");
    assert!(e
        .hint()
        .starts_with("is the machine's clock right? The vendor certificate has expired."));

    let e = classify_tls(
        url,
        &rustls::Error::InvalidCertificate(CertificateError::NotValidForName),
    );
    assert_eq!(
        e,
        FetchError::TlsWrongName {
            url: url.into(),
            host: "backend.example".into()
        }
    );
    let e = classify_tls(url, &rustls::Error::DecryptError);
    assert!(matches!(e, FetchError::TlsOther { .. }), "{e}");
}

#[test]
fn io_errors_are_found_below_wrappers() {
    let url = "https://b.example/x";
    let wrapped =
        std::io::Error::other(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
    assert_eq!(
        classify(url, &wrapped),
        FetchError::Refused { url: url.into() }
    );
    let tls_inside = std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
    );
    assert!(matches!(
        classify(url, &tls_inside),
        FetchError::TlsUntrusted { .. }
    ));
    let other = std::io::Error::other("reset");
    assert!(matches!(classify(url, &other), FetchError::Io { .. }));
}
