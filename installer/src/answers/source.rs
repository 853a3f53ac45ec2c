//! Where an answer file comes from, in order of precedence: the kernel
//! command line (`installer.answers=http(s)://...`), a volume labelled
//! `ANSWERS`, and the file embedded in the initramfs. The first source
//! present is used; a broken one is an error (never a silent fall-through
//! to the next).
//!
//! A file from the network is used only when it is authenticated
//! ([`trust`]): pinned by `installer.answers_sha256=`, or fetched over https
//! from a server whose certificate chains to the vendor CA built into the
//! ISO, or whose certificate (or CA) is pinned by
//! `installer.answers_cert_sha256=`. Anything else is refused before a
//! single byte is fetched.

use super::fetch::{fetch, Tls};
use super::volume;
use super::{parse, KeyError, Loaded, Origin, Rejected, EMBEDDED_FILE};
use crate::cmdline::KernelCmdline;
use crate::net::{Interface, NetOps};
use crate::secret::SecretUrl;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Duration;

/// Kernel parameter: the URL of the answer file.
pub const PARAM_URL: &str = "installer.answers";
/// Kernel parameter: the expected SHA-256 of the file at the URL (hex).
pub const PARAM_SHA256: &str = "installer.answers_sha256";
/// Kernel parameter: the SHA-256 (hex) of the https server's certificate, or
/// of a CA certificate the server sends and its certificate chains to.
pub const PARAM_CERT_SHA256: &str = "installer.answers_cert_sha256";
/// Kernel parameter: the adapter to run DHCP on before fetching.
pub const PARAM_INTERFACE: &str = "installer.answers_interface";
/// Attempts to fetch the URL before giving up.
pub const FETCH_ATTEMPTS: u32 = 4;
/// A CA bundle (relative to `/`) also trusted for an https URL whose file is
/// pinned by its SHA-256, when present.
pub const CA_BUNDLE: &str = "etc/ssl/certs/ca-certificates.crt";

/// The URL for messages and events: user name, password, query (which
/// may carry tokens) and fragment are masked.
pub fn display_url(url: &str) -> String {
    crate::cmdline::mask_url(url)
}

/// How a network answer file is authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trust {
    /// The file's SHA-256 (lower-case hex) from `installer.answers_sha256=`.
    pub sha256: Option<String>,
    /// Which certificates an https server may present.
    pub tls: Tls,
}

/// Decides how the answer file at `url` is authenticated, or refuses it
/// (naming the way to fix it). `vendor_ca`: the vendor CA built into the ISO
/// (PEM); `bundle`: other CA certificates in the initramfs (PEM). Pure.
pub fn trust(
    url: &str,
    cmdline: &KernelCmdline,
    vendor_ca: Option<&[u8]>,
    bundle: Option<&[u8]>,
) -> Result<Trust, KeyError> {
    let shown = display_url(url);
    let https = url.starts_with("https://");
    if !(https || url.starts_with("http://")) {
        return Err(KeyError::new(
            PARAM_URL,
            format!("{shown} is not an http:// or https:// URL"),
        ));
    }
    let sha256 = cmdline.get(PARAM_SHA256).map(parse_sha256).transpose()?;
    let cert = cmdline
        .get(PARAM_CERT_SHA256)
        .map(parse_cert_sha256)
        .transpose()?;
    let pin_hint = format!("add {PARAM_SHA256}=<SHA-256 of the file>");
    if !https {
        return match (sha256, cert) {
            (Some(sha256), _) => Ok(Trust {
                sha256: Some(sha256),
                tls: Tls::Roots(Vec::new()),
            }),
            (None, Some(_)) => Err(KeyError::new(
                PARAM_URL,
                format!(
                    "{shown} is not authenticated: {PARAM_CERT_SHA256} applies to https:// only; \
                     {pin_hint}, or serve the file over https"
                ),
            )),
            (None, None) => Err(KeyError::new(
                PARAM_URL,
                format!(
                    "{shown} is not authenticated: {pin_hint}, or serve it over https with a \
                     certificate from the vendor CA (or one pinned with \
                     {PARAM_CERT_SHA256}=<SHA-256 of the certificate>)"
                ),
            )),
        };
    }
    let tls = match (cert, &sha256, vendor_ca) {
        (Some(pin), _, _) => Tls::Fingerprint(pin),
        (None, Some(_), _) => {
            let mut pem = bundle.unwrap_or_default().to_vec();
            pem.push(b'\n');
            pem.extend_from_slice(vendor_ca.unwrap_or_default());
            Tls::Roots(pem)
        }
        (None, None, Some(ca)) => Tls::Roots(ca.to_vec()),
        (None, None, None) => {
            return Err(KeyError::new(
                PARAM_URL,
                format!(
                    "{shown} cannot be authenticated: this ISO has no vendor CA; {pin_hint}, or \
                     add {PARAM_CERT_SHA256}=<SHA-256 of the server's certificate>"
                ),
            ))
        }
    };
    Ok(Trust { sha256, tls })
}

/// The adapter for fetching: the one named by `wanted`, else the first with
/// link, else the first whose driver does not report link, else the first.
pub fn pick_interface(list: &[Interface], wanted: Option<&str>) -> Result<String, KeyError> {
    if let Some(w) = wanted {
        return if list.iter().any(|i| i.name == w) {
            Ok(w.to_string())
        } else {
            let names: Vec<&str> = list.iter().map(|i| i.name.as_str()).collect();
            Err(KeyError::new(
                PARAM_INTERFACE,
                format!("{w} does not exist; adapters: {}", names.join(", ")),
            ))
        };
    }
    list.iter()
        .find(|i| i.link == Some(true))
        .or_else(|| list.iter().find(|i| i.link.is_none()))
        .or_else(|| list.first())
        .map(|i| i.name.clone())
        .ok_or_else(|| {
            KeyError::new(
                PARAM_URL,
                "no network adapter was found to fetch the answer file with",
            )
        })
}

/// Parses the expected SHA-256 (64 hex digits, any case) into lower case.
pub fn parse_sha256(expected: &str) -> Result<String, KeyError> {
    let want = expected.trim().to_ascii_lowercase();
    if want.len() != 64 || !want.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(KeyError::new(
            PARAM_SHA256,
            format!(
                "\"{}\" is not a SHA-256 (64 hex digits)",
                crate::flow::validate::shown(expected)
            ),
        ));
    }
    Ok(want)
}

/// Parses `installer.answers_cert_sha256=`: 64 hex digits, any case, and
/// `:` between byte pairs allowed (as certificate tools print them).
pub fn parse_cert_sha256(text: &str) -> Result<[u8; 32], KeyError> {
    let hex: String = text.trim().chars().filter(|c| *c != ':').collect();
    let bad = || {
        KeyError::new(
            PARAM_CERT_SHA256,
            format!(
                "\"{}\" is not a SHA-256 (64 hex digits)",
                crate::flow::validate::shown(text)
            ),
        )
    };
    if hex.len() != 64 || !hex.is_ascii() {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(out)
}

/// Compares the SHA-256 of `data` with `want` (from [`parse_sha256`]).
pub fn check_sha256(data: &[u8], want: &str, url: &str) -> Result<(), KeyError> {
    let got: String = Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if got != want {
        return Err(KeyError::new(
            PARAM_SHA256,
            format!(
                "the file at {} has SHA-256 {got}, expected {want}",
                display_url(url)
            ),
        ));
    }
    Ok(())
}

/// Finds and reads the answer file. `None`: there is none. `net` is used
/// only for a URL (DHCP on the chosen adapter, then the lease is applied so
/// the URL can be reached); `say` receives progress lines for the screen.
pub fn load(
    root: &Path,
    cmdline: &KernelCmdline,
    net: &mut dyn NetOps,
    say: &mut dyn FnMut(&str),
) -> Option<Result<Loaded, Rejected>> {
    if let Some(url) = cmdline.get(PARAM_URL) {
        let secret = SecretUrl::new(url);
        // From here on no log line or event can carry them.
        for part in secret.secret_parts() {
            crate::secret::register(&part);
        }
        let source = format!("{PARAM_URL}={secret}");
        let vendor_ca = std::fs::read(root.join(crate::vendor::config::CA_PEM)).ok();
        let bundle = std::fs::read(root.join(CA_BUNDLE)).ok();
        let text = trust(url, cmdline, vendor_ca.as_deref(), bundle.as_deref())
            .map_err(|e| vec![e])
            .and_then(|trust| from_url(&secret, &trust, cmdline, net, say));
        return Some(finish(source, Origin::Network, text));
    }
    if let Some(found) = volume::find(root) {
        let source = format!("volume {} on {}", volume::LABEL, found.device.display());
        say(&format!("Reading the answer file from {source}..."));
        let text = volume::read_answers(&found).map_err(|e| vec![KeyError::new("", e.to_string())]);
        return Some(finish(source, Origin::Volume, text));
    }
    let embedded = root.join(EMBEDDED_FILE);
    if embedded.exists() {
        let source = format!("/{EMBEDDED_FILE} (in the initramfs)");
        let text = std::fs::read_to_string(&embedded).map_err(|e| {
            vec![KeyError::new(
                "",
                format!("cannot read /{EMBEDDED_FILE}: {e}"),
            )]
        });
        return Some(finish(source, Origin::Embedded, text));
    }
    None
}

fn finish(
    source: String,
    origin: Origin,
    text: Result<String, Vec<KeyError>>,
) -> Result<Loaded, Rejected> {
    text.and_then(|t| parse(&t))
        .map(|file| Loaded {
            source: source.clone(),
            origin,
            file,
        })
        .map_err(|errors| Rejected { source, errors })
}

/// DHCP, then fetch with bounded retries, then the hash check.
fn from_url(
    url: &SecretUrl,
    trust: &Trust,
    cmdline: &KernelCmdline,
    net: &mut dyn NetOps,
    say: &mut dyn FnMut(&str),
) -> Result<String, Vec<KeyError>> {
    let shown = url.to_string();
    let iface =
        pick_interface(&net.interfaces(), cmdline.get(PARAM_INTERFACE)).map_err(|e| vec![e])?;
    say(&format!(
        "Fetching the answer file {shown}: configuring {iface} by DHCP first..."
    ));
    let config = net
        .dhcp(&iface, &mut |line| say(&format!("  {line}")))
        .map_err(|f| {
            vec![KeyError::new(
                PARAM_URL,
                format!(
                    "cannot fetch {shown}: DHCP on {} failed: {}; {}",
                    f.interface, f.tried, f.hint
                ),
            )]
        })?;
    net.apply(&config).map_err(|e| {
        vec![KeyError::new(
            PARAM_URL,
            format!("cannot fetch {shown}: applying the DHCP lease on {iface} failed: {e}"),
        )]
    })?;
    let data = fetch(url, &trust.tls, say, FETCH_ATTEMPTS, Duration::from_secs(2))
        .map_err(|e| vec![KeyError::new(PARAM_URL, e)])?;
    if let Some(want) = &trust.sha256 {
        check_sha256(&data, want, url.expose()).map_err(|e| vec![e])?;
    }
    String::from_utf8(data).map_err(|_| {
        vec![KeyError::new(
            PARAM_URL,
            format!("the file at {shown} is not UTF-8 text"),
        )]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface(name: &str, link: Option<bool>) -> Interface {
        Interface {
            name: name.into(),
            driver: None,
            mac: String::new(),
            link,
        }
    }

    #[test]
    fn urls_are_shown_without_credentials_or_query() {
        assert_eq!(
            display_url("https://user:pw@example.com/a.json?token=x"),
            "https://***@example.com/a.json?***"
        );
        assert_eq!(
            display_url("http://10.0.2.2:8080/answers.json"),
            "http://10.0.2.2:8080/answers.json"
        );
        assert_eq!(display_url("http://host"), "http://host");
        assert_eq!(display_url("https://h?token=x"), "https://h?***");
        assert_eq!(display_url("https://h/a#token=x"), "https://h/a#***");
    }

    const PIN: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn only_authenticated_urls_are_trusted() {
        let ca: &[u8] = b"VENDOR";
        let bundle: &[u8] = b"BUNDLE";
        let pin_bytes = parse_cert_sha256(PIN).unwrap();
        let ok = |words: &str, ca: Option<&[u8]>| {
            trust(
                KernelCmdline::parse(words).get(PARAM_URL).unwrap(),
                &KernelCmdline::parse(words),
                ca,
                Some(bundle),
            )
        };
        let refused = |words: &str, ca: Option<&[u8]>| ok(words, ca).unwrap_err().to_string();
        // Plain http needs the file's hash.
        let e = refused("installer.answers=http://u:p@h/a.json?t=1", Some(ca));
        assert_eq!(
            e,
            "installer.answers: http://***@h/a.json?*** is not authenticated: add \
             installer.answers_sha256=<SHA-256 of the file>, or serve it over https with a \
             certificate from the vendor CA (or one pinned with \
             installer.answers_cert_sha256=<SHA-256 of the certificate>)"
        );
        let e = refused(
            &format!("installer.answers=http://h/a.json installer.answers_cert_sha256={PIN}"),
            Some(ca),
        );
        assert!(e.contains("applies to https:// only"), "{e}");
        assert_eq!(
            ok(
                &format!("installer.answers=http://h/a.json installer.answers_sha256={PIN}"),
                Some(ca)
            ),
            Ok(Trust {
                sha256: Some(PIN.into()),
                tls: Tls::Roots(Vec::new())
            })
        );
        // https: the vendor CA alone, unless a certificate is pinned.
        assert_eq!(
            ok("installer.answers=https://h/a.json", Some(ca)),
            Ok(Trust {
                sha256: None,
                tls: Tls::Roots(ca.to_vec())
            })
        );
        let e = refused("installer.answers=https://h/a.json", None);
        assert!(
            e.contains("this ISO has no vendor CA; add installer.answers_sha256="),
            "{e}"
        );
        let upper = PIN.to_ascii_uppercase();
        let colons: Vec<&str> = (0..32).map(|i| &upper[2 * i..2 * i + 2]).collect();
        assert_eq!(
            ok(
                &format!(
                    "installer.answers=https://h/a.json installer.answers_cert_sha256={}",
                    colons.join(":")
                ),
                None
            ),
            Ok(Trust {
                sha256: None,
                tls: Tls::Fingerprint(pin_bytes)
            })
        );
        // A pinned file over https may come from any CA the ISO knows.
        assert_eq!(
            ok(
                &format!("installer.answers=https://h/a.json installer.answers_sha256={PIN}"),
                Some(ca)
            ),
            Ok(Trust {
                sha256: Some(PIN.into()),
                tls: Tls::Roots(b"BUNDLE\nVENDOR".to_vec())
            })
        );
        let e = refused(
            "installer.answers=https://h/a.json installer.answers_cert_sha256=12",
            Some(ca),
        );
        assert_eq!(
            e,
            "installer.answers_cert_sha256: \"12\" is not a SHA-256 (64 hex digits)"
        );
    }

    #[test]
    fn an_unpinned_http_url_is_refused_before_any_network_use() {
        let t = crate::testutil::TempTree::new("answers-http");
        let cmdline =
            KernelCmdline::parse("installer.answers=http://h/a.json installer.unattended");
        let r = load(t.path(), &cmdline, &mut NoNet, &mut |_| {})
            .unwrap()
            .unwrap_err();
        assert_eq!(r.source, "installer.answers=http://h/a.json");
        assert_eq!(r.errors.len(), 1);
        assert_eq!(r.errors[0].key, PARAM_URL);
        assert!(
            r.errors[0]
                .message
                .contains("is not authenticated: add installer.answers_sha256="),
            "{}",
            r.errors[0]
        );
    }

    #[test]
    fn interface_preference() {
        let l = [
            iface("eth0", Some(false)),
            iface("eth1", None),
            iface("eth2", Some(true)),
        ];
        assert_eq!(pick_interface(&l, None).unwrap(), "eth2");
        assert_eq!(pick_interface(&l[..2], None).unwrap(), "eth1");
        assert_eq!(pick_interface(&l[..1], None).unwrap(), "eth0");
        assert_eq!(pick_interface(&l, Some("eth0")).unwrap(), "eth0");
        assert_eq!(
            pick_interface(&l, Some("eth9")).unwrap_err().to_string(),
            "installer.answers_interface: eth9 does not exist; adapters: eth0, eth1, eth2"
        );
        assert!(pick_interface(&[], None).is_err());
    }

    #[test]
    fn sha256_is_compared_in_any_case() {
        // sha256("abc")
        let abc = parse_sha256(" BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD")
            .unwrap();
        assert_eq!(
            abc,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(check_sha256(b"abc", &abc, "http://h/a").is_ok());
        let e = check_sha256(b"abd", &abc, "http://h/a?t=1").unwrap_err();
        assert_eq!(e.key, PARAM_SHA256);
        assert!(
            e.message
                .starts_with("the file at http://h/a?*** has SHA-256 "),
            "{e}"
        );
        assert!(e.message.ends_with(&format!("expected {abc}")));
        let e = parse_sha256("xyz").unwrap_err();
        assert_eq!(
            e.to_string(),
            "installer.answers_sha256: \"xyz\" is not a SHA-256 (64 hex digits)"
        );
    }

    #[test]
    fn embedded_file_is_the_last_source() {
        let t = crate::testutil::TempTree::new("answers-source");
        let cmdline = KernelCmdline::parse("quiet");
        let mut net = NoNet;
        assert_eq!(load(t.path(), &cmdline, &mut net, &mut |_| {}), None);
        t.write(EMBEDDED_FILE, br#"{"version": 1, "keyboard": "de"}"#);
        let loaded = load(t.path(), &cmdline, &mut net, &mut |_| {})
            .unwrap()
            .unwrap();
        assert_eq!(
            loaded.source,
            "/etc/installer/answers.json (in the initramfs)"
        );
        assert_eq!(loaded.file.keyboard.as_deref(), Some("de"));
        assert_eq!(loaded.origin, Origin::Embedded);
        t.write(EMBEDDED_FILE, br#"{"version": 1, "keyboard": 7}"#);
        let rejected = load(t.path(), &cmdline, &mut net, &mut |_| {})
            .unwrap()
            .unwrap_err();
        assert_eq!(
            rejected.errors[0].to_string(),
            "keyboard: invalid type: integer `7`, expected a string"
        );
    }

    #[test]
    fn a_bad_url_is_refused_before_any_network_use() {
        let t = crate::testutil::TempTree::new("answers-url");
        let cmdline = KernelCmdline::parse("installer.answers=ftp://h/a.json");
        let r = load(t.path(), &cmdline, &mut NoNet, &mut |_| {})
            .unwrap()
            .unwrap_err();
        assert_eq!(
            r.errors[0].to_string(),
            "installer.answers: ftp://h/a.json is not an http:// or https:// URL"
        );
        let cmdline =
            KernelCmdline::parse("installer.answers=http://h/a.json installer.answers_sha256=12");
        let r = load(t.path(), &cmdline, &mut NoNet, &mut |_| {})
            .unwrap()
            .unwrap_err();
        assert_eq!(r.errors[0].key, PARAM_SHA256);
    }

    /// NetOps that must not be used.
    struct NoNet;

    impl NetOps for NoNet {
        fn interfaces(&mut self) -> Vec<Interface> {
            panic!("no network use expected")
        }
        fn dhcp(
            &mut self,
            _: &str,
            _: &mut dyn FnMut(&str),
        ) -> Result<crate::net::NetConfig, crate::net::DhcpFailure> {
            panic!("no network use expected")
        }
        fn apply(&mut self, _: &crate::net::NetConfig) -> Result<(), String> {
            panic!("no network use expected")
        }
        fn doctor(&mut self, _: &crate::net::NetConfig) -> Vec<crate::net::Check> {
            panic!("no network use expected")
        }
    }
}
