//! Good inputs, the clients.conf renderer, the summary, the step rules and
//! the state's serde and mapping to the desired state.

mod common;

use appliance_wizard::network::Addressing;
use appliance_wizard::state::{Buttons, MapError, NavError, Step, StepResult, WizardState};
use appliance_wizard::time::Clock;
use appliance_wizard::{claim, keys, licence, network, radius, roles, summary, time};
use serde_json::{json, Value};

fn form<T: serde::de::DeserializeOwned>(step: &str, changes: Value) -> T {
    let mut v = common::good(step);
    for (path, value) in changes.as_object().expect("object") {
        common::set(&mut v, path, value);
    }
    serde_json::from_value(v).expect("form")
}

#[test]
fn good_inputs_are_accepted() {
    let ctx = common::ctx();
    let good: &[(&str, Value)] = &[
        ("claim", json!({"setup_code": "0dt7 m1ev 8n2f z"})),
        ("claim", json!({"setup_code": "0DT7M1EV8N2FZ"})),
        ("claim", json!({"setup_code": "ODT7-MIEV-8N2F-Z"})),
        ("claim", json!({"setup_code": "odt7-mlev-8n2f-z "})),
        ("licence", json!({"accept": "true"})),
        ("licence", json!({"licence.replace": ["\n", "\r\n"]})),
        (
            "licence",
            json!({"licence.replace": ["-----BEGIN LICENSE-----", "\n\n-----BEGIN LICENSE-----"]}),
        ),
        (
            "licence",
            json!({"licence.replace": ["expire = 2027-12-31", "expire = 2026-12-07"]}),
        ),
        (
            "licence",
            json!({"licence.replace": ["valid-from = 2026-01-01", "valid-from = 2026-12-07"]}),
        ),
        (
            "network",
            json!({"mode": "dhcp", "address": "", "netmask": "", "gateway": "", "dns": ""}),
        ),
        (
            "network",
            json!({"address": "192.0.2.10/24", "netmask": ""}),
        ),
        ("network", json!({"netmask": "/24"})),
        ("network", json!({"netmask": "24"})),
        (
            "network",
            json!({"address": "192.0.2.10", "netmask": "/31", "gateway": "192.0.2.11"}),
        ),
        ("network", json!({"netmask": "/32", "gateway": ""})),
        (
            "network",
            json!({"gateway": "", "domain": "", "search": ""}),
        ),
        (
            "network",
            json!({"hostname": "OTP-1", "domain": "Example.COM."}),
        ),
        (
            "network",
            json!({"dns": "2001:db8::53\n192.0.2.53,192.0.2.54"}),
        ),
        (
            "time",
            json!({"ntp_servers": "ntp1.example.com, 192.0.2.123 2001:db8::123 pool.ntp.org time.example"}),
        ),
        (
            "time",
            json!({"ntp": "", "date": "2028-02-29", "time": "23:59:59"}),
        ),
        (
            "time",
            json!({"ntp": "", "date": "2000-02-29", "time": "00:00", "ntp_servers": ""}),
        ),
        ("time", json!({"time_zone": "Etc/UTC"})),
        (
            "roles",
            json!({"linotp_admin_password": "Pässwört-123", "linotp_admin_repeat": "Pässwört-123"}),
        ),
        (
            "roles",
            json!({"root_password": "correct Horse 9 battery", "root_repeat": "correct Horse 9 battery"}),
        ),
        ("roles", json!({"linotp_admin_user": "_otp.admin-1"})),
        (
            "radius",
            json!({"no_configuration": "on", "clients": [{"name": "", "address": "", "secret": "", "short_name": ""}]}),
        ),
        ("radius", json!({"no_configuration": "on", "clients": []})),
        ("radius", json!({"clients.0.address": "192.0.2.7"})),
        ("radius", json!({"clients.0.address": "10.0.0.0/8"})),
        ("radius", json!({"clients.0.secret": "12345678"})),
        (
            "radius",
            json!({"clients.1.address": "2001:DB8:0001:0000::/64"}),
        ),
        (
            "keys",
            json!({"regenerate_ssh": "", "regenerate_tls": "", "regenerate_db_key": "", "regenerate_db_passwords": "", "shutdown": "on"}),
        ),
    ];
    for (step, changes) in good {
        let mut v = common::good(step);
        for (path, value) in changes.as_object().expect("object") {
            common::set(&mut v, path, value);
        }
        let errors = common::run(step, &v, &ctx);
        assert!(errors.is_empty(), "{step} {changes}: {errors:?}");
    }
}

#[test]
fn typed_values_are_normalised() {
    let n = network::validate(&form(
        "network",
        json!({"hostname": "OTP-1", "domain": "Example.COM.", "netmask": "/24"}),
    ))
    .expect("valid");
    assert_eq!(n.hostname, "otp-1");
    assert_eq!(n.domain.as_deref(), Some("example.com"));
    assert_eq!(
        n.addressing,
        Addressing::Static {
            address: "192.0.2.10".parse().expect("ip"),
            prefix: 24,
            gateway: Some("192.0.2.1".parse().expect("ip"))
        }
    );
    assert_eq!(
        n.url_after_activation().as_deref(),
        Some("https://192.0.2.10:8443/")
    );
    let code =
        claim::validate(&form("claim", json!({"setup_code": "odt7-mlev-8n2f-z"}))).expect("code");
    assert_eq!(code.to_string(), common::CODE);
    let t = time::validate(
        &form(
            "time",
            json!({"ntp": "", "date": "2028-02-29", "time": "07:05"}),
        ),
        &common::ctx(),
    )
    .expect("time");
    match t.clock {
        Clock::Manual { date, time } => assert_eq!(format!("{date} {time}"), "2028-02-29 07:05:00"),
        other => panic!("manual clock expected, got {other:?}"),
    }
    let l = licence::validate(&form("licence", json!({})), &common::ctx()).expect("licence");
    assert_eq!(
        (l.licence.licensee.as_str(), l.licence.token_num),
        ("Example Corp", 50)
    );
    assert_eq!(
        l.licence.extra.get("contact-email").map(String::as_str),
        Some("ops@example.com")
    );
    assert_eq!(l.licence.signature, common::SIG);
    let r = radius::validate(&form(
        "radius",
        json!({"clients.1.address": "2001:DB8:0001:0000::/64"}),
    ))
    .expect("radius");
    assert_eq!(r.clients[1].network.to_string(), "2001:db8:1::/64");
    let k = keys::validate(&keys::KeysForm::initial()).expect("keys");
    assert!(k.ssh && k.tls && k.db_key && k.db_passwords && !k.shutdown);
}

#[test]
fn forms_do_not_print_secrets() {
    let r: roles::RolesForm = form("roles", json!({}));
    let c: claim::ClaimForm = form("claim", json!({}));
    let rad: radius::RadiusForm = form("radius", json!({}));
    let text = format!("{r:?} {c:?} {rad:?}");
    for secret in [
        "Lin0tp-Admin!",
        "R00t-Password#",
        "Appliance-Adm1n",
        common::CODE,
        "Xk9#mP2$vL7qR4wZ",
    ] {
        assert!(!text.contains(secret), "{secret} printed");
    }
}

const GOLDEN_CLIENTS_CONF: &str = r#"# RADIUS clients, written by the appliance's setup wizard.
# Change them in the appliance's web interface; edits here are replaced.

client vpn {
	ipaddr = 192.0.2.0/24
	secret = "Xk9#mP2$vL7qR4wZ"
	shortname = vpn
	require_message_authenticator = yes
}

client wlan-ctrl {
	ipv6addr = 2001:db8:1::/64
	secret = "Qq8!\"back\\slash\"-TEST"
	require_message_authenticator = no
}
"#;

#[test]
fn clients_conf_is_golden_and_independent_of_row_order() {
    let r = radius::validate(&form("radius", json!({}))).expect("radius");
    assert_eq!(radius::render_clients_conf(&r), GOLDEN_CLIENTS_CONF);
    let mut reversed: radius::RadiusForm = form("radius", json!({}));
    reversed.clients.reverse();
    let r2 = radius::validate(&reversed).expect("radius");
    assert_eq!(radius::render_clients_conf(&r2), GOLDEN_CLIENTS_CONF);
}

#[test]
fn clients_conf_without_clients() {
    let r = radius::validate(&form(
        "radius",
        json!({"no_configuration": "on", "clients": []}),
    ))
    .expect("radius");
    assert_eq!(
        radius::render_clients_conf(&r),
        "# RADIUS clients, written by the appliance's setup wizard.\n\
         # Change them in the appliance's web interface; edits here are replaced.\n\
         # No clients: every RADIUS request is refused.\n"
    );
}

#[test]
fn radius_warnings_do_not_block() {
    let r = radius::validate(&form(
        "radius",
        json!({"clients.0.secret": "12345678", "clients.0.address": "10.0.0.0/8",
               "clients.1.address": "10.1.0.0/16", "clients.1.secret": "y".repeat(65)}),
    ))
    .expect("radius");
    let msgs: Vec<&str> = r.warnings.iter().map(|w| w.message.as_str()).collect();
    assert_eq!(
        msgs,
        [
            "Client 1: address 10.0.0.0/8 is a large network: every host in it may send requests with this secret",
            "Client 1: secret has only 8 characters; 16 or more are recommended",
            "Client 2: address 10.1.0.0/16 overlaps client vpn's 10.0.0.0/8; the most specific network wins",
            "Client 2: address 10.1.0.0/16 is a large network: every host in it may send requests with this secret",
            "Client 2: secret has 65 characters; some NAS accept at most 64",
        ]
    );
}

fn results() -> Vec<StepResult> {
    let ctx = common::ctx();
    vec![
        StepResult::Licence(licence::validate(&form("licence", json!({})), &ctx).expect("licence")),
        StepResult::Network(
            network::validate(&form("network", json!({"dns": "192.0.2.53"}))).expect("network"),
        ),
        StepResult::Time(time::validate(&form("time", json!({})), &ctx).expect("time")),
        StepResult::Roles(roles::validate(&form("roles", json!({})), &ctx).expect("roles")),
        StepResult::Radius(radius::validate(&form("radius", json!({}))).expect("radius")),
        StepResult::Keys(keys::validate(&keys::KeysForm::initial()).expect("keys")),
    ]
}

fn done_wizard() -> WizardState {
    let mut w = WizardState::new();
    for r in results() {
        w.complete(r).expect("in order");
    }
    w
}

#[test]
fn buttons_follow_the_step_rules() {
    let mut w = WizardState::new();
    assert_eq!(
        w.buttons(false),
        Buttons {
            previous: false,
            next: false,
            activate: false
        }
    );
    assert_eq!(
        w.buttons(true),
        Buttons {
            previous: false,
            next: true,
            activate: false
        }
    );
    assert_eq!(w.back(true), Err(NavError::NoStep("before")));
    let r = results();
    for step_result in r.iter().take(3).cloned() {
        w.complete(step_result).expect("in order");
    }
    assert_eq!(w.current, Step::Roles);
    // The roles page blocks both buttons until its form is valid.
    assert_eq!(
        w.buttons(false),
        Buttons {
            previous: false,
            next: false,
            activate: false
        }
    );
    assert_eq!(
        w.back(false),
        Err(NavError::Blocked {
            step: Step::Roles,
            what: "Previous"
        })
    );
    assert_eq!(
        w.buttons(true),
        Buttons {
            previous: true,
            next: true,
            activate: false
        }
    );
    w.back(true).expect("back from a valid roles page");
    assert_eq!(w.current, Step::Time);
    // Other pages: Previous is always possible, Next only when valid.
    assert_eq!(
        w.buttons(false),
        Buttons {
            previous: true,
            next: false,
            activate: false
        }
    );
    assert_eq!(w.open(Step::Radius), Err(NavError::NotYet(Step::Radius)));
    w.open(Step::Roles).expect("roles opens once time is done");
    assert_eq!(
        w.complete(r[4].clone()),
        Err(NavError::WrongStep {
            sent: Step::Radius,
            current: Step::Roles
        })
    );
    for step_result in r.iter().skip(3).cloned() {
        w.complete(step_result).expect("in order");
    }
    assert_eq!(w.current, Step::Keys);
    assert_eq!(
        w.buttons(true),
        Buttons {
            previous: true,
            next: false,
            activate: true
        }
    );
    assert_eq!(
        w.buttons(false),
        Buttons {
            previous: true,
            next: false,
            activate: false
        }
    );
    assert!(w.completed().is_some());
}

#[test]
fn a_new_host_name_undoes_the_roles_step() {
    let mut w = done_wizard();
    w.open(Step::Network).expect("open");
    let same = results()[1].clone();
    w.complete(same).expect("same network");
    assert!(w.is_done(Step::Roles), "same host name keeps the roles");
    w.open(Step::Network).expect("open");
    let n = network::validate(&form(
        "network",
        json!({"hostname": "otp2", "dns": "192.0.2.53"}),
    ))
    .expect("network");
    w.complete(StepResult::Network(n)).expect("new network");
    assert!(!w.is_done(Step::Roles));
    assert!(w.completed().is_none());
    assert!(!w.can_open(Step::Radius));
}

#[test]
fn state_round_trips_through_json() {
    let mut w = done_wizard();
    let text = serde_json::to_string(&w).expect("serialize");
    let back: WizardState = serde_json::from_str(&text).expect("deserialize");
    // Warnings are shown once, not stored.
    if let Some(r) = w.radius.as_mut() {
        r.warnings.clear();
    }
    assert_eq!(back, w);
    let fresh: WizardState =
        serde_json::from_str(&serde_json::to_string(&WizardState::new()).expect("json"))
            .expect("json");
    assert_eq!(fresh, WizardState::new());
    let bad = text.replace("\"current\":\"keys\"", "\"current\":\"finale\"");
    let err = serde_json::from_str::<WizardState>(&bad).expect_err("unknown step");
    assert!(
        err.to_string().contains("unknown variant `finale`"),
        "{err}"
    );
}

#[test]
fn completed_wizard_maps_to_desired_state() {
    let w = done_wizard();
    let c = w.completed().expect("completed");
    let before = appliance_config::state::fallback();
    let after = appliance_wizard::state::to_desired_state(&before, &c).expect("maps");
    assert_eq!(after.hostname, "otp1");
    assert_eq!(after.domain.as_deref(), Some("example.com"));
    assert_eq!(after.time_zone, "Europe/Berlin");
    assert_eq!(
        after.network.dns,
        ["192.0.2.53".parse::<std::net::Ipv4Addr>().expect("ip")]
    );
    assert_eq!(after.network.search, ["example.com", "corp.example.com"]);
    let json = serde_json::to_value(&after.network.interfaces[0].addressing).expect("json");
    assert_eq!(
        json,
        json!({"mode": "manual", "address": "192.0.2.10/24", "gateway": "192.0.2.1"})
    );
    assert_eq!(after.keys, before.keys);
    assert_eq!(after.identity, before.identity);

    let mut c6 = c.clone();
    c6.network = network::validate(&form("network", json!({}))).expect("network with IPv6 DNS");
    assert_eq!(
        appliance_wizard::state::to_desired_state(&before, &c6),
        Err(MapError::Ipv6Dns("2001:db8::53".parse().expect("ip")))
    );
    let mut none = before.clone();
    none.network.interfaces.clear();
    assert_eq!(
        appliance_wizard::state::to_desired_state(&none, &c),
        Err(MapError::NoInterface)
    );
}

const GOLDEN_SUMMARY: &str = "Licence
  Licensee: Example Corp
  Product: example-appliance
  Valid: 2026-01-01 to 2027-12-31
  Token limit: 50
  Subscription: standard
Network
  Configuration: static 192.0.2.10/24
  Gateway: 192.0.2.1
  Host name: otp1.example.com
  Search: example.com, corp.example.com
  DNS servers: 192.0.2.53
  After activation: https://192.0.2.10:8443/
Time
  Time zone: Europe/Berlin
  Clock: NTP from pool.ntp.org, 192.0.2.123
Roles
  LinOTP Administrator: admin (new password set)
  Root Administrator: root (new password set)
  Appliance Administrator: appadmin (new password set)
RADIUS clients
  vpn: 192.0.2.0/24, short name vpn, Message-Authenticator required
  wlan-ctrl: 2001:db8:1::/64, Message-Authenticator not required
Keys and activation
  Regenerate SSH host keys: yes
  Regenerate the TLS certificate: yes
  Regenerate the database encryption key: yes
  Regenerate the internal database passwords: yes
  Shut down after activation: no
";

#[test]
fn summary_is_golden_and_hides_secrets() {
    let c = done_wizard().completed().expect("completed");
    let s = summary::render(&c);
    assert_eq!(s, GOLDEN_SUMMARY);
    for secret in ["Lin0tp-Admin!", "R00t-Password#", "Xk9#mP2$vL7qR4wZ"] {
        assert!(!s.contains(secret));
    }
}

#[test]
fn roles_page_marks_valid_fields_and_blocks_until_complete() {
    let ctx = common::ctx();
    let empty = roles::RolesForm::default();
    assert!(roles::valid_fields(&empty, &ctx).is_empty());
    assert!(!roles::step_complete(&empty, &ctx));
    let partly: roles::RolesForm = form(
        "roles",
        json!({"root_password": "", "root_repeat": "", "appliance_admin_repeat": "Typo-Adm1n"}),
    );
    assert_eq!(
        roles::valid_fields(&partly, &ctx),
        [
            "linotp_admin_user",
            "linotp_admin_password",
            "linotp_admin_repeat",
            "appliance_admin_user",
            "appliance_admin_password",
        ]
    );
    assert!(!roles::step_complete(&partly, &ctx));
    let full: roles::RolesForm = form("roles", json!({}));
    assert_eq!(roles::valid_fields(&full, &ctx), roles::FIELDS);
    assert!(roles::step_complete(&full, &ctx));
}

#[test]
fn messages_quote_typed_text_safely() {
    use appliance_wizard::shown;
    assert_eq!(shown("a\"b\\c"), r#""a\"b\\c""#);
    assert_eq!(shown("x\u{1b}[31m\u{202e}"), r#""x\u{1b}[31m\u{202e}""#);
    assert_eq!(shown(&"y".repeat(41)), format!("\"{}…\"", "y".repeat(40)));
}
