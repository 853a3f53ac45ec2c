//! Where an answer file comes from, in order of precedence: the kernel
//! command line (`installer.answers=http(s)://...`, optionally checked with
//! `installer.answers_sha256=`), a volume labelled `ANSWERS`, and the file
//! embedded in the initramfs. The first source present is used; a broken
//! one is an error (never a silent fall-through to the next).

use super::volume;
use super::{parse, KeyError, Loaded, Rejected, EMBEDDED_FILE};
use crate::cmdline::KernelCmdline;
use crate::net::{Interface, NetOps};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Duration;

/// Kernel parameter: the URL of the answer file.
pub const PARAM_URL: &str = "installer.answers";
/// Kernel parameter: the expected SHA-256 of the file at the URL (hex).
pub const PARAM_SHA256: &str = "installer.answers_sha256";
/// Kernel parameter: the adapter to run DHCP on before fetching.
pub const PARAM_INTERFACE: &str = "installer.answers_interface";
/// Attempts to fetch the URL before giving up.
pub const FETCH_ATTEMPTS: u32 = 4;
/// A CA bundle used for https URLs when present.
pub const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The URL for messages and events: user name, password and query (which
/// may carry tokens) are masked.
pub fn display_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (format!("{s}://"), r),
        None => (String::new(), url),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let host = match authority.rsplit_once('@') {
        Some((_, host)) => format!("***@{host}"),
        None => authority.to_string(),
    };
    let path = match path.split_once('?') {
        Some((p, _)) => format!("{p}?***"),
        None => path.to_string(),
    };
    format!("{scheme}{host}{path}")
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
        let source = format!("{PARAM_URL}={}", display_url(url));
        return Some(
            from_url(url, cmdline, net, say)
                .and_then(|text| parse(&text))
                .map(|file| Loaded {
                    source: source.clone(),
                    file,
                })
                .map_err(|errors| Rejected { source, errors }),
        );
    }
    if let Some(found) = volume::find(root) {
        let source = format!("volume {} on {}", volume::LABEL, found.device.display());
        say(&format!("Reading the answer file from {source}..."));
        let text = volume::read_answers(&found).map_err(|e| vec![KeyError::new("", e.to_string())]);
        return Some(finish(source, text));
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
        return Some(finish(source, text));
    }
    None
}

fn finish(source: String, text: Result<String, Vec<KeyError>>) -> Result<Loaded, Rejected> {
    text.and_then(|t| parse(&t))
        .map(|file| Loaded {
            source: source.clone(),
            file,
        })
        .map_err(|errors| Rejected { source, errors })
}

/// DHCP, then fetch with bounded retries, then the optional hash check.
fn from_url(
    url: &str,
    cmdline: &KernelCmdline,
    net: &mut dyn NetOps,
    say: &mut dyn FnMut(&str),
) -> Result<String, Vec<KeyError>> {
    let shown = display_url(url);
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(vec![KeyError::new(
            PARAM_URL,
            format!("{shown} is not an http:// or https:// URL"),
        )]);
    }
    // A malformed hash is reported before any network traffic.
    let expected = cmdline
        .get(PARAM_SHA256)
        .map(parse_sha256)
        .transpose()
        .map_err(|e| vec![e])?;
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
    let data = fetch(url, say, FETCH_ATTEMPTS, Duration::from_secs(2))
        .map_err(|e| vec![KeyError::new(PARAM_URL, e)])?;
    if let Some(want) = &expected {
        check_sha256(&data, want, url).map_err(|e| vec![e])?;
    }
    String::from_utf8(data).map_err(|_| {
        vec![KeyError::new(
            PARAM_URL,
            format!("the file at {shown} is not UTF-8 text"),
        )]
    })
}

/// A reqwest error with its causes, without the URL (which may hold a
/// password or a token).
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// GET with up to `attempts` tries, waiting `first_wait` and then twice as
/// long each time (2, 4, 8 s for the installer); client errors (4xx) are not
/// retried. At most 1 MiB is read.
fn fetch(
    url: &str,
    say: &mut dyn FnMut(&str),
    attempts: u32,
    first_wait: Duration,
) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let shown = display_url(url);
    let mut builder = reqwest::blocking::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .no_proxy();
    if let Ok(pem) = std::fs::read(CA_BUNDLE) {
        for cert in reqwest::Certificate::from_pem_bundle(&pem).unwrap_or_default() {
            builder = builder.add_root_certificate(cert);
        }
    }
    let client = builder
        .build()
        .map_err(|e| format!("cannot fetch {shown}: {}", describe(e)))?;
    let mut last = String::new();
    let mut wait = first_wait;
    for attempt in 1..=attempts {
        if attempt > 1 {
            say(&format!("  retrying in {} s ({last})", wait.as_secs()));
            std::thread::sleep(wait);
            wait *= 2;
        }
        match client.get(url).send() {
            Ok(resp) if resp.status().is_success() => {
                let mut data = Vec::new();
                resp.take(volume::MAX_SIZE + 1)
                    .read_to_end(&mut data)
                    .map_err(|e| format!("cannot read {shown}: {e}"))?;
                if data.len() as u64 > volume::MAX_SIZE {
                    return Err(format!("{shown} is larger than 1 MiB"));
                }
                say(&format!("  fetched {} bytes", data.len()));
                return Ok(data);
            }
            Ok(resp) if resp.status().is_client_error() => {
                return Err(format!("{shown} answered {}", resp.status()));
            }
            Ok(resp) => last = format!("{shown} answered {}", resp.status()),
            Err(e) => last = format!("cannot fetch {shown}: {}", describe(e)),
        }
    }
    Err(format!("{last} (after {attempts} attempts)"))
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

    #[test]
    fn fetch_errors_never_show_credentials_and_retries_are_bounded() {
        // A port nobody listens on: bind, note it, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://admin:s3cret@127.0.0.1:{port}/a.json?token=t0ken");
        let mut lines = Vec::new();
        let e = fetch(&url, &mut |l| lines.push(l.to_string()), 3, Duration::ZERO).unwrap_err();
        assert!(
            e.starts_with(&format!(
                "cannot fetch http://***@127.0.0.1:{port}/a.json?***: "
            )),
            "{e}"
        );
        assert!(e.ends_with("(after 3 attempts)"), "{e}");
        let all = format!("{e}\n{}", lines.join("\n"));
        assert!(!all.contains("s3cret") && !all.contains("t0ken"), "{all}");
        assert_eq!(lines.len(), 2, "two retries: {lines:?}");
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
