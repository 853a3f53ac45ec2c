//! Shared fixtures: a context and one valid form per step (all TEST data).
#![allow(dead_code)]

use appliance_wizard::date::Date;
use appliance_wizard::{claim, keys, licence, network, radius, roles, time, Context, FieldError};
use serde_json::{json, Value};

/// A valid setup code (TEST).
pub const CODE: &str = "0DT7-M1EV-8N2F-Z";
/// A signature of the right shape (TEST; not a real signature).
pub const SIG: &str =
    "Zm9vZm9vZm9vZm9vZm9vZm9vZm9vZm9vZm9vZm9vZm9vZm9vZm9vZm9vZm9vZm9vZm9vZm9vZm9vZm9vZm9vYQ==";

pub fn ctx() -> Context {
    Context {
        product: "example-appliance".into(),
        today: Date::parse("2026-12-07").expect("date"),
        time_zones: ["Etc/UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo"]
            .map(String::from)
            .to_vec(),
        hostname: Some("otp-server-01".into()),
        setup_code: Some(CODE.replace('-', "")),
    }
}

pub fn licence_text() -> String {
    format!(
        "-----BEGIN LICENSE-----\n\
         # TEST licence\n\
         licensee = Example Corp\n\
         product = example-appliance\n\
         valid-from = 2026-01-01\n\
         expire = 2027-12-31\n\
         token-num = 50\n\
         subscription = standard\n\
         contact-email = ops@example.com\n\
         -----END LICENSE-----\n\
         -----BEGIN LICENSE SIGNATURE-----\n\
         {}\n{}\n\
         -----END LICENSE SIGNATURE-----\n",
        &SIG[..64],
        &SIG[64..]
    )
}

/// The valid form of `step` as a browser would post it.
pub fn good(step: &str) -> Value {
    match step {
        "claim" => json!({ "setup_code": CODE }),
        "licence" => json!({
            "accept": "on",
            "licence": licence_text(),
            "update_key": "VEVTVCB1cGRhdGUga2V5IC0gbm90IGEgcmVhbCBrZXk=",
        }),
        "network" => json!({
            "mode": "static", "address": "192.0.2.10", "netmask": "255.255.255.0",
            "gateway": "192.0.2.1", "hostname": "otp1", "domain": "example.com",
            "search": "example.com corp.example.com", "dns": "192.0.2.53, 2001:db8::53",
        }),
        "time" => json!({
            "time_zone": "Europe/Berlin", "ntp": "on",
            "ntp_servers": "pool.ntp.org 192.0.2.123", "date": "", "time": "",
        }),
        "roles" => json!({
            "linotp_admin_user": "admin",
            "linotp_admin_password": "Lin0tp-Admin!",
            "linotp_admin_repeat": "Lin0tp-Admin!",
            "root_password": "R00t-Password#",
            "root_repeat": "R00t-Password#",
            "appliance_admin_user": "appadmin",
            "appliance_admin_password": "Appliance-Adm1n",
            "appliance_admin_repeat": "Appliance-Adm1n",
        }),
        "radius" => json!({
            "no_configuration": "",
            "clients": [
                { "name": "vpn", "address": "192.0.2.0/24", "secret": "Xk9#mP2$vL7qR4wZ",
                  "short_name": "vpn", "legacy": "" },
                { "name": "wlan-ctrl", "address": "2001:db8:1::/64",
                  "secret": "Qq8!\"back\\slash\"-TEST", "short_name": "", "legacy": "on" },
            ],
        }),
        "keys" => serde_json::to_value(keys::KeysForm::initial()).expect("keys form"),
        other => panic!("unknown step {other}"),
    }
}

/// Sets `path` (dot-separated; numbers index arrays) in `form`. A path
/// ending in `.replace` takes `[from, to]` and replaces text in the field.
pub fn set(form: &mut Value, path: &str, value: &Value) {
    if let Some(field) = path.strip_suffix(".replace") {
        let from = value[0]
            .as_str()
            .expect("from")
            .replace("signature-placeholder", &SIG[..64]);
        let to = value[1].as_str().expect("to");
        let old = form[field].as_str().expect("text field").to_string();
        assert!(old.contains(&from), "{path}: {from:?} not in the base form");
        form[field] = Value::String(old.replacen(&from, to, 1));
        return;
    }
    let mut v = form;
    for part in path.split('.') {
        v = match part.parse::<usize>() {
            Ok(i) => &mut v[i],
            Err(_) => &mut v[part],
        };
    }
    *v = value.clone();
}

/// Validates `form` as step `step`; the errors, or none.
pub fn run(step: &str, form: &Value, ctx: &Context) -> Vec<FieldError> {
    fn f<T: serde::de::DeserializeOwned>(v: &Value) -> T {
        serde_json::from_value(v.clone()).expect("form deserializes")
    }
    match step {
        "claim" => claim::validate(&f(form)).err(),
        "licence" => licence::validate(&f(form), ctx).err(),
        "network" => network::validate(&f(form)).err(),
        "time" => time::validate(&f(form), ctx).err(),
        "roles" => roles::validate(&f(form), ctx).err(),
        "radius" => radius::validate(&f(form)).err(),
        "keys" => keys::validate(&f(form)).err(),
        other => panic!("unknown step {other}"),
    }
    .unwrap_or_default()
}
