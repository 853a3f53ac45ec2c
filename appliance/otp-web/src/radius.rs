//! FreeRADIUS's configuration for the OTP service: the clients the set-up
//! wizard validated (its `clients.conf`, Message-Authenticator required
//! unless a client is marked legacy), an `rlm_rest` instance that sends
//! User-Name and User-Password to the service's `validate/radius`, and a
//! virtual server that authenticates every request with it.
//!
//! `validate/radius` is `validate/check` with the verdict in the HTTP
//! status, which is what `rlm_rest` reads in `authenticate`: 204 accept,
//! 401 reject, 400 a request without user or password.
//!
//! Pure renderers: the texts are golden-tested; the appliance writes them
//! under `/etc/freeradius/3.0/` and checks them with `freeradius -XC`.

use appliance_wizard::radius::{render_clients_conf, RadiusClients};

/// Where FreeRADIUS reaches the service and listens itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RadiusSetup {
    /// The OTP service's base URL (loopback), e.g. `http://127.0.0.1:5000`.
    pub otp_url: String,
    /// The RADIUS authentication port (1812).
    pub auth_port: u16,
    /// Seconds `rlm_rest` waits for the service.
    pub timeout_seconds: u32,
}

impl Default for RadiusSetup {
    fn default() -> RadiusSetup {
        RadiusSetup {
            otp_url: "http://127.0.0.1:5000".to_string(),
            auth_port: 1812,
            timeout_seconds: 4,
        }
    }
}

/// The path names the files are written to, relative to FreeRADIUS's
/// configuration directory.
pub const CLIENTS: &str = "clients.conf";
pub const REST_MODULE: &str = "mods-enabled/otp_rest";
pub const SITE: &str = "sites-enabled/otp";

#[derive(Debug, thiserror::Error)]
pub enum RadiusError {
    #[error("otp_url: {0:?} must be an http:// URL of the loopback service without quotes, spaces or braces")]
    Url(String),
}

fn check_url(url: &str) -> Result<(), RadiusError> {
    let ok = url.starts_with("http://")
        && !url.ends_with('/')
        && url.bytes().all(|b| {
            b.is_ascii_graphic() && !matches!(b, b'"' | b'\'' | b'{' | b'}' | b'\\' | b'$')
        });
    if ok {
        Ok(())
    } else {
        Err(RadiusError::Url(url.to_string()))
    }
}

/// The `rlm_rest` instance `otp_rest`.
pub fn render_rest_module(setup: &RadiusSetup) -> Result<String, RadiusError> {
    check_url(&setup.otp_url)?;
    Ok(format!(
        "# The appliance's OTP service checks User-Password (PIN followed by the OTP).
# Written by the appliance; edits here are replaced.
rest otp_rest {{
\tconnect_uri = \"{url}\"
\tconnect_timeout = {timeout}.0

\tauthenticate {{
\t\turi = \"${{..connect_uri}}/validate/radius\"
\t\tmethod = 'post'
\t\tbody = 'post'
\t\tdata = \"user=%{{urlquote:%{{User-Name}}}}&pass=%{{urlquote:%{{User-Password}}}}\"
\t\ttimeout = {timeout}.0
\t}}

\tpool {{
\t\tstart = 0
\t\tmin = 0
\t\tmax = 32
\t\tspare = 4
\t\tuses = 0
\t\tretry_delay = 1
\t\tlifetime = 0
\t\tidle_timeout = 60
\t}}
}}
",
        url = setup.otp_url,
        timeout = setup.timeout_seconds,
    ))
}

/// The virtual server `otp`: every Access-Request with a User-Password is
/// authenticated by `otp_rest`; anything else is rejected. Replies carry
/// no attributes, so there is nothing to filter from an Access-Reject.
/// `urlquote` comes from the `expr` module (enabled in Debian's
/// configuration).
pub fn render_site(setup: &RadiusSetup) -> String {
    format!(
        "# RADIUS authentication against the appliance's OTP service.
# Written by the appliance; edits here are replaced.
server otp {{
\tlisten {{
\t\ttype = auth
\t\tipaddr = *
\t\tport = {port}
\t\tlimit {{
\t\t\tmax_connections = 16
\t\t\tlifetime = 0
\t\t\tidle_timeout = 30
\t\t}}
\t}}

\tauthorize {{
\t\tif (&User-Password) {{
\t\t\tupdate control {{
\t\t\t\t&Auth-Type := otp_rest
\t\t\t}}
\t\t}}
\t\telse {{
\t\t\tupdate control {{
\t\t\t\t&Auth-Type := Reject
\t\t\t}}
\t\t}}
\t}}

\tauthenticate {{
\t\tAuth-Type otp_rest {{
\t\t\totp_rest
\t\t}}
\t}}
}}
",
        port = setup.auth_port
    )
}

/// Every file, path relative to the configuration directory and text.
pub fn render_all(
    setup: &RadiusSetup,
    clients: &RadiusClients,
) -> Result<Vec<(&'static str, String)>, RadiusError> {
    Ok(vec![
        (CLIENTS, render_clients_conf(clients)),
        (REST_MODULE, render_rest_module(setup)?),
        (SITE, render_site(setup)),
    ])
}

/// The files the appliance's image carries (in the repository under
/// `appliance/otp-web/radius/`, installed below `/etc/freeradius/3.0/`):
/// the module and the site for the loopback service, and a `clients.conf`
/// without clients (activation writes the wizard's), as (path relative to
/// FreeRADIUS's directory, file name in the repository).
pub const IMAGE_FILES: &[(&str, &str)] = &[
    (CLIENTS, "clients.conf"),
    (REST_MODULE, "otp_rest"),
    (SITE, "otp"),
];

#[cfg(test)]
mod image_files {
    use super::*;

    /// The image's files are the renderers' output for the default setup
    /// and no clients; `UPDATE_GOLDEN=1` rewrites them.
    #[test]
    fn the_image_files_are_rendered() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("radius");
        let none = RadiusClients {
            clients: vec![],
            warnings: vec![],
        };
        let rendered = render_all(&RadiusSetup::default(), &none).unwrap();
        for ((path, text), (image_path, file)) in rendered.iter().zip(IMAGE_FILES) {
            assert_eq!(path, image_path);
            let at = dir.join(file);
            if std::env::var_os("UPDATE_GOLDEN").is_some() {
                std::fs::write(&at, text).unwrap();
            }
            let shipped = std::fs::read_to_string(&at).unwrap();
            assert_eq!(
                &shipped,
                text,
                "{} differs from the renderer (UPDATE_GOLDEN=1)",
                at.display()
            );
        }
        assert!(rendered[0].1.contains("No clients"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use appliance_wizard::radius::{Client, Subnet};
    use appliance_wizard::Secret;

    #[test]
    fn golden_rest_module_and_site() {
        let setup = RadiusSetup::default();
        let rest = render_rest_module(&setup).unwrap();
        assert!(rest.contains("rest otp_rest {\n\tconnect_uri = \"http://127.0.0.1:5000\"\n"));
        assert!(rest.contains(
            "\t\turi = \"${..connect_uri}/validate/radius\"\n\t\tmethod = 'post'\n\t\tbody = 'post'\n\t\tdata = \"user=%{urlquote:%{User-Name}}&pass=%{urlquote:%{User-Password}}\"\n"
        ));
        assert_eq!(rest.matches('{').count(), rest.matches('}').count());
        let site = render_site(&setup);
        assert!(site.contains("\t\tport = 1812\n"));
        assert!(site.contains("\t\t\t\t&Auth-Type := otp_rest\n"));
        assert!(site.contains("\t\t\t\t&Auth-Type := Reject\n"));
        assert_eq!(site.matches('{').count(), site.matches('}').count());
        assert_eq!(
            render_site(&RadiusSetup {
                auth_port: 18120,
                ..setup.clone()
            })
            .replace("18120", "1812"),
            site
        );
    }

    #[test]
    fn a_url_that_could_break_the_file_is_refused() {
        for url in [
            "https://x",
            "http://127.0.0.1:5000/",
            "http://a\"b",
            "http://a b",
            "http://${x}",
        ] {
            let setup = RadiusSetup {
                otp_url: url.into(),
                ..RadiusSetup::default()
            };
            let err = render_rest_module(&setup).unwrap_err();
            assert!(err.to_string().starts_with("otp_url: "), "{err}");
        }
    }

    #[test]
    fn clients_require_message_authenticator_unless_legacy() {
        let client = |name: &str, legacy| Client {
            name: name.into(),
            network: Subnet {
                addr: "192.0.2.0".parse().unwrap(),
                prefix: 24,
            },
            secret: Secret("TEST-radius-secret".into()),
            short_name: None,
            legacy,
        };
        let clients = RadiusClients {
            clients: vec![client("vpn", false), client("old-nas", true)],
            warnings: vec![],
        };
        let files = render_all(&RadiusSetup::default(), &clients).unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.0).collect();
        assert_eq!(names, [CLIENTS, REST_MODULE, SITE]);
        let conf = &files[0].1;
        assert!(
            conf.contains("client vpn {\n\tipaddr = 192.0.2.0/24\n"),
            "{conf}"
        );
        assert!(conf.contains("client vpn {\n\tipaddr = 192.0.2.0/24\n\tsecret = \"TEST-radius-secret\"\n\trequire_message_authenticator = yes\n}"), "{conf}");
        assert!(conf.contains("client old-nas {\n\tipaddr = 192.0.2.0/24\n\tsecret = \"TEST-radius-secret\"\n\trequire_message_authenticator = no\n}"), "{conf}");
    }
}
