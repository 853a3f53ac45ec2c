//! The page on `/`: the fingerprints to compare, and the way to the set-up
//! wizard while the appliance is not set up. Pure: text in, HTML out.

/// Escapes text for HTML element content and quoted attribute values.
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

/// "This appliance is ready for set-up" with the fingerprints of the
/// certificate being served, to compare with the browser and the console.
/// Self-contained: no script, no style sheet, no image, no link.
pub fn ready(cert_sha256: &str, spki_sha256: &str, setup: bool) -> String {
    let start = if setup {
        "<p><a href=\"/setup\">Start the set-up</a></p>\n"
    } else {
        ""
    };
    format!(
        "<!DOCTYPE html>\n\
<html lang=\"en\">\n\
<head>\n\
<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<title>Appliance set-up</title>\n\
</head>\n\
<body>\n\
<main>\n\
<h1>This appliance is ready for set-up</h1>\n\
<p>Before you go on, compare these values with the ones shown on the \
appliance's console and in your browser's certificate viewer. If they \
differ, you are not talking to this appliance: stop here.</p>\n\
<dl>\n\
<dt>TLS certificate SHA-256</dt>\n<dd><code id=\"cert-sha256\">{cert}</code></dd>\n\
<dt>Public key SHA-256</dt>\n<dd><code id=\"spki-sha256\">{spki}</code></dd>\n\
</dl>\n\
{start}\
</main>\n\
</body>\n\
</html>\n",
        cert = escape(cert_sha256),
        spki = escape(spki_sha256),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_the_five_html_characters() {
        assert_eq!(
            escape(r#"<a href="x">&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn the_page_repeats_both_fingerprints_and_loads_nothing() {
        let html = ready("AB:CD", "q+/=", false);
        assert!(html.contains("<h1>This appliance is ready for set-up</h1>"));
        assert!(html.contains("<code id=\"cert-sha256\">AB:CD</code>"));
        assert!(html.contains("<code id=\"spki-sha256\">q+/=</code>"));
        for loader in ["src=", "href=", "<link", "<script", "<style", "url(", "://"] {
            assert!(!html.contains(loader), "the page contains {loader}");
        }
    }
}
