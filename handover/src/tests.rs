use super::*;
use std::net::Ipv4Addr;

fn example() -> Handover {
    Handover::parse(EXAMPLE_JSON).unwrap()
}

/// Replaces one field of the example (by JSON pointer) and parses.
fn with(pointer: &str, value: serde_json::Value) -> Result<Handover, HandoverError> {
    let mut v: serde_json::Value = serde_json::from_str(EXAMPLE_JSON).unwrap();
    *v.pointer_mut(pointer).unwrap() = value;
    Handover::parse(&v.to_string())
}

#[test]
fn golden_example_parses_into_these_values() {
    let h = example();
    assert_eq!(h.format, 1);
    assert_eq!(h.install_id, "3f2a9c0e5b7d41e8a6c2f0b9d8e7a615");
    assert_eq!(h.installed_at, 1_764_300_000);
    assert_eq!(h.installer.product, "Example Appliance");
    assert_eq!(h.release.model, "example-appliance");
    assert_eq!(h.release.components.len(), 3);
    assert_eq!(h.release.components[0].name, "kernel");
    assert_eq!(h.serial, "ABCD-EFGH-JKMN-PQRS");
    assert_eq!(h.entitlement.expires, Some(1_790_000_000));
    let n = &h.network;
    assert_eq!(n.mode, NetMode::Manual);
    assert_eq!(n.mac, MacAddr([0x52, 0x54, 0, 0x12, 0x34, 0x56]));
    assert_eq!(
        n.address,
        Some(Ipv4Cidr {
            addr: Ipv4Addr::new(10, 0, 2, 15),
            prefix: 24
        })
    );
    assert_eq!(n.gateway, Some(Ipv4Addr::new(10, 0, 2, 2)));
    assert_eq!(n.dns, vec![Ipv4Addr::new(10, 0, 2, 3)]);
    assert_eq!(n.domain.as_deref(), Some("example.test"));
    assert!(n.search.is_empty());
    assert_eq!(h.keyboard.layout, "de");
    assert_eq!(h.console, Console::Serial);
}

#[test]
fn golden_example_round_trips_byte_for_byte() {
    assert_eq!(example().to_json_pretty().unwrap(), EXAMPLE_JSON);
}

#[test]
fn docs_show_the_golden_example() {
    let doc = include_str!("../../docs/handover.md");
    let block = format!("```json\n{EXAMPLE_JSON}```");
    assert!(
        doc.contains(&block),
        "docs/handover.md must show handover/src/example.json verbatim"
    );
}

#[test]
fn unknown_fields_are_ignored_at_every_level() {
    let mut v: serde_json::Value = serde_json::from_str(EXAMPLE_JSON).unwrap();
    v["added_later"] = serde_json::json!({"x": 1});
    v["network"]["ipv6"] = serde_json::json!("auto");
    assert_eq!(Handover::parse(&v.to_string()).unwrap(), example());
}

#[test]
fn other_formats_are_refused_before_anything_else() {
    let e = Handover::parse(r#"{"format": 2, "whatever": true}"#).unwrap_err();
    assert!(matches!(e, HandoverError::UnsupportedFormat { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "format: 2 is not supported; this appliance reads format 1 (was it installed by a newer installer?)"
    );
    assert_eq!(e.path(), Some("format"));
    let e = Handover::parse(r#"{"format": "1"}"#).unwrap_err();
    assert!(
        e.to_string().starts_with("format: \"1\" is not supported"),
        "{e}"
    );
    let e = Handover::parse(r#"{"install_id": "x"}"#).unwrap_err();
    assert!(matches!(e, HandoverError::MissingFormat), "{e}");
    assert!(matches!(
        Handover::parse("[1]").unwrap_err(),
        HandoverError::NotAnObject
    ));
}

#[test]
fn syntax_errors_say_where() {
    let e = Handover::parse("{\"format\": 1,\n  \"serial\": }").unwrap_err();
    assert!(matches!(e, HandoverError::Syntax(_)));
    assert!(e.to_string().contains("line 2"), "{e}");
}

#[test]
fn type_errors_name_the_json_path() {
    let e = with("/network/mac", serde_json::json!("52:54:00:12:34")).unwrap_err();
    assert_eq!(e.path(), Some("network.mac"));
    assert!(
        e.to_string()
            .starts_with("network.mac: \"52:54:00:12:34\" is not a MAC address"),
        "{e}"
    );

    let e = with("/release/components/1/sha256", serde_json::json!(7)).unwrap_err();
    assert_eq!(e.path(), Some("release.components[1].sha256"));

    let e = with("/console", serde_json::json!("ttyS1")).unwrap_err();
    assert_eq!(e.path(), Some("console"));
    assert!(e.to_string().contains("unknown variant `ttyS1`"), "{e}");

    let mut v: serde_json::Value = serde_json::from_str(EXAMPLE_JSON).unwrap();
    v["keyboard"].as_object_mut().unwrap().remove("layout");
    let e = Handover::parse(&v.to_string()).unwrap_err();
    assert_eq!(e.to_string(), "keyboard: missing field `layout`");
}

#[test]
fn value_errors_name_the_json_path() {
    let cases = [
        ("/install_id", serde_json::json!("ABC"), "install_id"),
        (
            "/release/components/0/sha256",
            serde_json::json!("00"),
            "release.components[0].sha256",
        ),
        ("/serial", serde_json::json!("abcd-efgh"), "serial"),
        (
            "/network/hostname",
            serde_json::json!("-bad"),
            "network.hostname",
        ),
        (
            "/network/hostname",
            serde_json::json!("a.b"),
            "network.hostname",
        ),
        (
            "/network/gateway",
            serde_json::json!("192.0.2.1"),
            "network.gateway",
        ),
        (
            "/network/address",
            serde_json::Value::Null,
            "network.address",
        ),
        (
            "/network/address",
            serde_json::json!("10.0.2.15/33"),
            "network.address",
        ),
        (
            "/network/domain",
            serde_json::json!("bad..domain"),
            "network.domain",
        ),
        (
            "/network/search",
            serde_json::json!(["ok.test", "no way"]),
            "network.search[1]",
        ),
        (
            "/network/dns",
            serde_json::json!(["1.1.1.1", "1.0.0.1", "8.8.8.8", "9.9.9.9"]),
            "network.dns",
        ),
        (
            "/network/interface",
            serde_json::json!(""),
            "network.interface",
        ),
        (
            "/keyboard/layout",
            serde_json::json!("DE"),
            "keyboard.layout",
        ),
        (
            "/installer/product",
            serde_json::json!(" "),
            "installer.product",
        ),
    ];
    for (pointer, value, path) in cases {
        let e = with(pointer, value.clone()).unwrap_err();
        assert_eq!(e.path(), Some(path), "{pointer} = {value}: {e}");
    }
}

#[test]
fn dhcp_mode_needs_no_address_and_optional_lists_may_be_omitted() {
    let mut v: serde_json::Value = serde_json::from_str(EXAMPLE_JSON).unwrap();
    v["network"] = serde_json::json!({
        "mode": "dhcp", "interface": "ens3", "mac": "52:54:00:AB:CD:EF",
        "address": null, "gateway": null, "hostname": "fw1", "domain": null
    });
    let h = Handover::parse(&v.to_string()).unwrap();
    assert_eq!(h.network.mode, NetMode::Dhcp);
    assert!(h.network.dns.is_empty() && h.network.search.is_empty());
    // MACs are printed lowercase.
    assert!(h
        .to_json_pretty()
        .unwrap()
        .contains("\"mac\": \"52:54:00:ab:cd:ef\""));
}

#[test]
fn to_json_refuses_invalid_records() {
    let mut h = example();
    h.network.hostname = "bad name".into();
    assert_eq!(
        h.to_json_pretty().unwrap_err().path(),
        Some("network.hostname")
    );
}

#[test]
fn serial_masking_keeps_only_the_last_group() {
    assert_eq!(example().masked_serial(), "****-****-****-PQRS");
    assert_eq!(mask_serial("ABCDEFGH"), "****EFGH");
    assert_eq!(mask_serial("AB"), "AB");
    assert_eq!(mask_serial(""), "");
}

#[test]
fn console_kernel_arguments() {
    assert_eq!(Console::Serial.kernel_arg(), "console=ttyS0,115200");
    assert_eq!(Console::Vga.kernel_arg(), "console=tty0");
}
