//! What the appliance shows: the console announcement, the `APPLIANCE-EVENT`
//! line and the setup page. Pure text rendering.

use std::fmt::Write;

/// Product name when the handover record does not say.
pub const PRODUCT: &str = "Example Appliance";
/// HTTPS port of the setup page.
pub const PORT: u16 = 8443;

/// Everything the console and the page show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct View {
    /// Product name.
    pub product: String,
    /// e.g. `1.0.0 (example-appliance, stable)`; `None` without a record.
    pub release: Option<String>,
    /// The host name in use.
    pub hostname: String,
    /// `dhcp` or `manual`, or `None` without a record.
    pub network_mode: Option<String>,
    /// Address with prefix, e.g. `10.0.2.15/24`.
    pub address: Option<String>,
    /// Default gateway.
    pub gateway: Option<String>,
    /// Name servers.
    pub dns: Vec<String>,
    /// Keyboard layout.
    pub keyboard: Option<String>,
    /// The serial number, masked except for its last group.
    pub serial_masked: Option<String>,
    /// Problems to show (the handover record, the network), one line each.
    pub problems: Vec<String>,
}

impl View {
    /// The address without prefix, if any.
    pub fn ip(&self) -> Option<&str> {
        self.address
            .as_deref()
            .map(|a| a.split('/').next().unwrap_or(a))
    }

    /// `https://<ip>:8443`, or `None` without an address.
    pub fn url(&self) -> Option<String> {
        self.ip().map(|ip| format!("https://{ip}:{PORT}"))
    }
}

/// The console announcement. `fingerprint` is the colon form.
pub fn announcement(view: &View, fingerprint: &str, token: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s);
    for p in &view.problems {
        let _ = writeln!(s, "PROBLEM: {p}");
    }
    let release = view.release.as_deref().unwrap_or("(release unknown)");
    let state = if view.problems.is_empty() {
        "is ready"
    } else {
        "started with problems"
    };
    let _ = writeln!(s, "{} {release} {state}.", view.product);
    match view.url() {
        Some(url) => {
            let _ = writeln!(s, "Open {url} in a browser.");
        }
        None => {
            let _ = writeln!(
                s,
                "No network address: the setup page on port {PORT} cannot be reached."
            );
        }
    }
    let _ = writeln!(
        s,
        "The certificate is self-signed; check that the browser shows"
    );
    let _ = writeln!(s, "SHA256 fingerprint: {fingerprint}");
    let _ = writeln!(s, "One-time setup token: {token}");
    s
}

/// The machine-readable line for tests: `APPLIANCE-EVENT {json}`.
/// `fingerprint_hex` is lowercase hex without colons.
pub fn ready_event(view: &View, fingerprint_hex: &str) -> String {
    let handover = if view.problems.is_empty() {
        "ok".to_string()
    } else {
        view.problems.join("; ")
    };
    let v = serde_json::json!({
        "event": "ready",
        "url": view.url(),
        "fingerprint": fingerprint_hex,
        "hostname": view.hostname,
        "handover": handover,
    });
    format!("APPLIANCE-EVENT {v}")
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The placeholder setup page.
pub fn page(view: &View) -> String {
    let none = "—".to_string();
    let opt = |o: &Option<String>| escape(o.as_deref().unwrap_or(&none));
    let dns = if view.dns.is_empty() {
        none.clone()
    } else {
        escape(&view.dns.join(", "))
    };
    let rows = [
        ("Product", escape(&view.product)),
        ("Release", opt(&view.release)),
        ("Host name", escape(&view.hostname)),
        ("Network", opt(&view.network_mode)),
        ("Address", opt(&view.address)),
        ("Gateway", opt(&view.gateway)),
        ("DNS servers", dns),
        ("Keyboard layout", opt(&view.keyboard)),
        ("Serial number", opt(&view.serial_masked)),
    ];

    let mut s = String::new();
    let title = escape(&format!("{} setup", view.product));
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n\
         <style>body{{font-family:sans-serif;max-width:40em;margin:2em auto;padding:0 1em}}\
         th{{text-align:left;padding-right:1em}}.problem{{color:#a00;border:1px solid #a00;padding:.5em}}</style>\n\
         </head>\n<body>\n<h1>{title}</h1>\n"
    );
    for p in &view.problems {
        let _ = writeln!(s, "<p class=\"problem\">Problem: {}</p>", escape(p));
    }
    s.push_str("<table>\n");
    for (k, v) in rows {
        let _ = writeln!(s, "<tr><th>{k}</th><td>{v}</td></tr>");
    }
    s.push_str("</table>\n");
    s.push_str(
        "<h2>Set up</h2>\n\
         <p>Enter the one-time setup token shown on the appliance's console.</p>\n\
         <form method=\"post\" action=\"/setup\">\n\
         <label for=\"token\">Setup token</label>\n\
         <input id=\"token\" name=\"token\" autocomplete=\"off\" placeholder=\"XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX\" required>\n\
         <button type=\"submit\">Continue</button>\n\
         </form>\n\
         <p><em>The setup wizard is a later milestone: this page is a placeholder and \
         does not accept the token yet.</em></p>\n</body>\n</html>\n",
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> View {
        View {
            product: PRODUCT.into(),
            release: Some("1.0.0 (example-appliance, stable)".into()),
            hostname: "appliance".into(),
            network_mode: Some("dhcp".into()),
            address: Some("10.0.2.15/24".into()),
            gateway: Some("10.0.2.2".into()),
            dns: vec!["10.0.2.3".into()],
            keyboard: Some("de".into()),
            serial_masked: Some("****-****-****-PQRS".into()),
            problems: vec![],
        }
    }

    #[test]
    fn announcement_has_url_fingerprint_and_token() {
        let a = announcement(&view(), "AB:CD", "TOKN-1234");
        assert!(a.contains("Example Appliance 1.0.0 (example-appliance, stable) is ready.\n"));
        assert!(
            a.contains("Open https://10.0.2.15:8443 in a browser.\n"),
            "{a}"
        );
        assert!(a.contains("\nSHA256 fingerprint: AB:CD\n"), "{a}");
        assert!(a.contains("\nOne-time setup token: TOKN-1234\n"), "{a}");
        assert!(!a.contains("PROBLEM"));
    }

    #[test]
    fn announcement_without_address_or_with_problems() {
        let mut v = view();
        v.address = None;
        v.problems = vec!["/boot/handover/handover.json: network.mac: bad".into()];
        let a = announcement(&v, "AB", "T");
        assert!(a.starts_with("\nPROBLEM: /boot/handover/handover.json: network.mac: bad\n"));
        assert!(a.contains("started with problems"));
        assert!(a.contains("cannot be reached"));
    }

    #[test]
    fn ready_event_is_one_json_line_without_the_token() {
        let e = ready_event(&view(), "abcd");
        let json = e.strip_prefix("APPLIANCE-EVENT ").unwrap();
        assert!(!json.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(v["event"], "ready");
        assert_eq!(v["url"], "https://10.0.2.15:8443");
        assert_eq!(v["fingerprint"], "abcd");
        assert_eq!(v["hostname"], "appliance");
        assert_eq!(v["handover"], "ok");
        let mut bad = view();
        bad.address = None;
        bad.problems = vec!["a".into(), "b".into()];
        let v: serde_json::Value =
            serde_json::from_str(&ready_event(&bad, "x")["APPLIANCE-EVENT ".len()..]).unwrap();
        assert_eq!(v["url"], serde_json::Value::Null);
        assert_eq!(v["handover"], "a; b");
    }

    #[test]
    fn page_shows_the_facts_and_says_it_is_a_placeholder() {
        let p = page(&view());
        for want in [
            "<tr><th>Host name</th><td>appliance</td></tr>",
            "<tr><th>Address</th><td>10.0.2.15/24</td></tr>",
            "<tr><th>Gateway</th><td>10.0.2.2</td></tr>",
            "<tr><th>DNS servers</th><td>10.0.2.3</td></tr>",
            "<tr><th>Keyboard layout</th><td>de</td></tr>",
            "<tr><th>Serial number</th><td>****-****-****-PQRS</td></tr>",
            "<tr><th>Release</th><td>1.0.0 (example-appliance, stable)</td></tr>",
            "name=\"token\"",
            "The setup wizard is a later milestone",
        ] {
            assert!(p.contains(want), "missing {want}");
        }
        assert!(!p.contains("class=\"problem\""));
        assert!(!p.to_lowercase().contains("password"));
    }

    #[test]
    fn page_shows_problems_escaped() {
        let mut v = view();
        v.problems = vec!["network.hostname: \"<b>\" is bad & wrong".into()];
        v.hostname = "x<y".into();
        let p = page(&v);
        assert!(p.contains(
            "<p class=\"problem\">Problem: network.hostname: &quot;&lt;b&gt;&quot; is bad &amp; wrong</p>"
        ));
        assert!(p.contains("<td>x&lt;y</td>"));
    }
}
