//! The set-up wizard's claim as a browser makes it, over the forwarded
//! 8443 port with TLS pinned to the printed certificate: `GET /setup`
//! gives the `__Host-claim` cookie and the same token in the form's `csrf`
//! field; `POST /setup/claim` sends both with the setup code and a
//! same-origin `Origin`. A wrong code is refused (403); the code on the
//! console opens a session (`303` to the first step, `__Host-setup` set).

use anyhow::{bail, ensure, Context, Result};

use crate::harness::tls::https_request;
use crate::steps::{GUEST_ADDRESS, GUEST_PORT};

/// One HTTP response, split.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    /// Everything after the blank line (chunk framing left in).
    pub body: String,
}

impl Reply {
    /// Parses a whole response as [`https_request`] returns it.
    pub fn parse(text: &str) -> Result<Reply> {
        let (head, body) = text
            .split_once("\r\n\r\n")
            .context("the response has no end of headers")?;
        let mut lines = head.lines();
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("not an HTTP status line: {status_line:?}"))?;
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Ok(Reply {
            status,
            headers,
            body: body.to_string(),
        })
    }

    /// The value of `name=` from the response's `Set-Cookie` headers.
    pub fn cookie(&self, name: &str) -> Option<String> {
        let prefix = format!("{name}=");
        self.headers
            .iter()
            .filter(|(k, _)| k == "set-cookie")
            .find_map(|(_, v)| v.strip_prefix(&prefix))
            .map(|v| v.split(';').next().unwrap_or_default().to_string())
    }

    /// The first header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The Host a browser opening the printed URL sends.
fn host() -> String {
    format!("{GUEST_ADDRESS}:{GUEST_PORT}")
}

fn send(port: u16, fingerprint: &str, request: &str) -> Result<Reply> {
    let got = https_request(port, fingerprint, request.as_bytes())?;
    Reply::parse(&got.response)
}

/// `GET /setup`, then `POST /setup/claim` with `code`; the POST's reply.
pub fn claim(port: u16, fingerprint: &str, code: &str) -> Result<Reply> {
    let host = host();
    let page = send(
        port,
        fingerprint,
        &format!("GET /setup HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    )
    .context("GET /setup")?;
    ensure!(page.status == 200, "GET /setup answered {}", page.status);
    let token = page
        .cookie("__Host-claim")
        .context("GET /setup set no __Host-claim cookie")?;
    let field = page
        .body
        .split_once("name=\"csrf\" value=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(v, _)| v.to_string())
        .context("the claim form has no csrf field")?;
    ensure!(
        field == token,
        "the form's csrf field is not the __Host-claim cookie"
    );
    // Hex token and a code of letters, digits and dashes: nothing to escape.
    let plain = |s: &str| s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    ensure!(
        plain(&token) && plain(code),
        "unexpected characters in the token or code"
    );
    let body = format!("csrf={token}&setup_code={code}");
    send(
        port,
        fingerprint,
        &format!(
            "POST /setup/claim HTTP/1.1\r\nHost: {host}\r\nOrigin: https://{host}\r\n\
             Cookie: __Host-claim={token}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .context("POST /setup/claim")
}

/// `n` different well-formed setup codes (check character right), none
/// of them `shown`.
pub fn wrong_codes(shown: &str, n: usize) -> Result<Vec<String>> {
    let codes: Vec<String> = (0..n as u64 + 1)
        .map(|counter| {
            let code = appliance_config::setup_code::SetupCode::derive(&[0x5a; 32], counter);
            code.canonical().to_string()
        })
        .filter(|c| c != shown)
        .take(n)
        .collect();
    if codes.len() < n {
        bail!("no {n} well-formed wrong codes differ from {shown}")
    }
    Ok(codes)
}

/// A well-formed setup code (check character right) that is not `shown`.
fn wrong_code(shown: &str) -> Result<String> {
    Ok(wrong_codes(shown, 1)?.remove(0))
}

/// One wrong code (refused, 403), then the printed one (a session and a
/// redirect to the first step). One wrong attempt stays under the limit.
pub fn claim_with_printed_code(port: u16, fingerprint: &str, code: &str) -> Result<()> {
    let wrong = wrong_code(code)?;
    let r = claim(port, fingerprint, &wrong).context("the claim with a wrong code")?;
    ensure!(
        r.status == 403
            && r.body
                .contains("Setup code is not the one the console shows now"),
        "a wrong setup code was not refused: {} {}",
        r.status,
        r.body
    );
    ensure!(
        r.cookie("__Host-setup").is_none(),
        "a wrong setup code got a session cookie"
    );
    let r = claim(port, fingerprint, code).context("the claim with the printed code")?;
    ensure!(
        r.status == 303,
        "the printed setup code was not accepted: {} {}",
        r.status,
        r.body
    );
    ensure!(
        r.header("location") == Some("/setup/step/licence"),
        "the claim redirected to {:?}, not the first step",
        r.header("location")
    );
    let session = r
        .cookie("__Host-setup")
        .context("the claim set no __Host-setup session cookie")?;
    ensure!(
        session.len() == 64 && session.chars().all(|c| c.is_ascii_hexdigit()),
        "the session cookie is not 64 hex digits"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_gives_its_status_cookies_and_location() {
        let r = Reply::parse(
            "HTTP/1.1 303 See Other\r\nlocation: /setup/step/licence\r\n\
             set-cookie: __Host-claim=; Max-Age=0\r\n\
             Set-Cookie: __Host-setup=abcd; Secure; HttpOnly\r\n\r\nbody",
        )
        .unwrap();
        assert_eq!(r.status, 303);
        assert_eq!(r.header("location"), Some("/setup/step/licence"));
        assert_eq!(r.cookie("__Host-setup").as_deref(), Some("abcd"));
        assert_eq!(r.cookie("__Host-claim").as_deref(), Some(""));
        assert_eq!(r.cookie("other"), None);
        assert_eq!(r.body, "body");
        assert!(Reply::parse("garbage").is_err());
        assert!(Reply::parse("HTTP/1.1 abc\r\n\r\n").is_err());
    }

    #[test]
    fn the_wrong_code_is_well_formed_and_not_the_shown_one() {
        let a = wrong_code("KKRE-M1HB-2NC7-E").unwrap();
        assert!(appliance_config::setup_code::SetupCode::parse(&a).is_ok());
        assert_ne!(wrong_code(&a).unwrap(), a);
        let two = wrong_codes(&a, 2).unwrap();
        assert_eq!(two.len(), 2);
        assert!(two[0] != two[1] && !two.contains(&a));
    }
}
