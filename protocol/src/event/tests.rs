use super::*;
use crate::ids;
use crate::stage::{Stage, StageAt};

fn net_config() -> NetConfig {
    NetConfig {
        interface: "eth0".into(),
        address: Ipv4Cidr {
            addr: Ipv4Addr::new(10, 0, 2, 15),
            prefix: 24,
        },
        gateway: Some(Ipv4Addr::new(10, 0, 2, 2)),
        dns: vec![Ipv4Addr::new(10, 0, 2, 3)],
        hostname: "appliance".into(),
        domain: Some("example.test".into()),
        search: vec!["example.test".into()],
        mtu: Some(1500),
        routes: vec![Route {
            destination: Ipv4Cidr {
                addr: Ipv4Addr::new(192, 0, 2, 0),
                prefix: 24,
            },
            gateway: Ipv4Addr::new(10, 0, 2, 1),
        }],
        source: NetSource::Dhcp {
            server: Ipv4Addr::new(10, 0, 2, 2),
            lease_seconds: 86400,
        },
    }
}

/// One example of every event (`every_event_has_an_example_and_its_wire_name`
/// counts the names [`Event::name`] knows).
fn examples() -> Vec<Event> {
    vec![
        Event::Started {
            version: "0.1.0".into(),
            console: "ttyS0".into(),
            firmware: Firmware::Uefi,
            secure_boot: true,
            loader: Some("grub".into()),
            cmdline: "console=ttyS0,115200n8".into(),
        },
        Event::Modules {
            loaded: 7,
            failed: vec![ModuleFailure {
                name: "crct10dif_pclmul".into(),
                error: "no such device".into(),
            }],
            seconds: 2.5,
        },
        Event::Medium {
            device: "/dev/sr0".into(),
            kind: MediumKind::Cdrom,
        },
        Event::MediumMissing {
            seen: vec!["/dev/sda".into()],
        },
        Event::FirstScreen,
        Event::Power {
            action: PowerAction::PowerOff,
        },
        Event::Prompt {
            id: ids::MENU.into(),
        },
        Event::Invalid {
            id: ids::MANUAL_GATEWAY.into(),
            input: "10.0.0.1".into(),
            message: "10.0.0.1 is outside 192.0.2.0/24".into(),
        },
        Event::DhcpFailed {
            interface: "eth0".into(),
            tried: "sent 4 DISCOVERs".into(),
            hint: "is a cable connected?".into(),
        },
        Event::Network {
            config: net_config(),
        },
        Event::Doctor {
            checks: vec![Check {
                name: "gateway".into(),
                ok: false,
                detail: "no reply".into(),
                hint: Some("check the cable".into()),
            }],
        },
        Event::Keyboard {
            layout: "de".into(),
            applied: true,
        },
        Event::Answers {
            source: "/etc/installer/answers.json".into(),
        },
        Event::AnswersError {
            key: "network.gateway".into(),
            message: "10.0.0.1 is outside 192.0.2.0/24".into(),
        },
        Event::Serial {
            outcome: "verified".into(),
            serial: "XXXX-XXXX-XXXX-HV5B".into(),
            message: "Entitled until 2030-01-01".into(),
        },
        Event::Disks {
            disks: vec![DiskInfo {
                device: "/dev/sda".into(),
                model: "QEMU HARDDISK".into(),
                serial: "TARGET0001".into(),
                size_bytes: 2 << 30,
                bus: "ata".into(),
                refusal: None,
            }],
        },
        Event::Install {
            device: "/dev/sda".into(),
            table: TableKind::Mbr,
            release: "1.0.0".into(),
        },
        Event::InstallProgress {
            stage: Stage::Download,
            component: Some("rootfs".into()),
            done: 1 << 20,
            total: 64 << 20,
        },
        Event::Installed {
            install_id: "0f3c".into(),
            seconds: 41.5,
            downloaded: 70_000_000,
        },
        Event::InstallFailed {
            stage: StageAt {
                stage: Stage::Download,
                component: Some("rootfs".into()),
            },
            message: "sha256 mismatch".into(),
            hint: "retry".into(),
            bundle: None,
        },
    ]
}

#[test]
fn every_event_round_trips() {
    for e in examples() {
        let json = e.to_json();
        assert_eq!(Event::from_json(&json).unwrap(), e, "{json}");
        let line = e.serial_line();
        assert_eq!(Event::from_serial_line(&line).unwrap().unwrap(), e);
    }
}

#[test]
fn every_event_has_an_example_and_its_wire_name() {
    let ex = examples();
    let names: std::collections::BTreeSet<&str> = ex.iter().map(Event::name).collect();
    assert_eq!(names.len(), ex.len(), "one example per event");
    assert_eq!(names.len(), 20, "a new event needs an example here");
    for e in &ex {
        let v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(v["event"], e.name());
    }
}

/// The exact text of events as the installer wrote them before the types
/// moved here; the harness and docs/events.md rely on it.
#[test]
fn golden_json() {
    let golden = [
        r#"{"event":"started","version":"0.1.0","console":"ttyS0","firmware":"uefi","secure_boot":true,"loader":"grub","cmdline":"console=ttyS0,115200n8"}"#,
        r#"{"event":"modules","loaded":7,"failed":[{"name":"crct10dif_pclmul","error":"no such device"}],"seconds":2.5}"#,
        r#"{"event":"medium","device":"/dev/sr0","kind":"cdrom"}"#,
        r#"{"event":"medium-missing","seen":["/dev/sda"]}"#,
        r#"{"event":"first-screen"}"#,
        r#"{"event":"power","action":"poweroff"}"#,
        r#"{"event":"prompt","id":"menu"}"#,
        r#"{"event":"invalid","id":"manual.gateway","input":"10.0.0.1","message":"10.0.0.1 is outside 192.0.2.0/24"}"#,
        r#"{"event":"dhcp-failed","interface":"eth0","tried":"sent 4 DISCOVERs","hint":"is a cable connected?"}"#,
        r#"{"event":"network","config":{"interface":"eth0","address":{"addr":"10.0.2.15","prefix":24},"gateway":"10.0.2.2","dns":["10.0.2.3"],"hostname":"appliance","domain":"example.test","search":["example.test"],"mtu":1500,"routes":[{"destination":{"addr":"192.0.2.0","prefix":24},"gateway":"10.0.2.1"}],"source":{"kind":"dhcp","server":"10.0.2.2","lease_seconds":86400}}}"#,
        r#"{"event":"doctor","checks":[{"name":"gateway","ok":false,"detail":"no reply","hint":"check the cable"}]}"#,
        r#"{"event":"keyboard","layout":"de","applied":true}"#,
        r#"{"event":"answers","source":"/etc/installer/answers.json"}"#,
        r#"{"event":"answers-error","key":"network.gateway","message":"10.0.0.1 is outside 192.0.2.0/24"}"#,
        r#"{"event":"serial","outcome":"verified","serial":"XXXX-XXXX-XXXX-HV5B","message":"Entitled until 2030-01-01"}"#,
        r#"{"event":"disks","disks":[{"device":"/dev/sda","model":"QEMU HARDDISK","serial":"TARGET0001","size_bytes":2147483648,"bus":"ata","refusal":null}]}"#,
        r#"{"event":"install","device":"/dev/sda","table":"mbr","release":"1.0.0"}"#,
        r#"{"event":"install-progress","stage":"download","component":"rootfs","done":1048576,"total":67108864}"#,
        r#"{"event":"installed","install_id":"0f3c","seconds":41.5,"downloaded":70000000}"#,
        r#"{"event":"install-failed","stage":"downloading rootfs","message":"sha256 mismatch","hint":"retry","bundle":null}"#,
    ];
    for (e, want) in examples().iter().zip(golden) {
        assert_eq!(e.to_json(), want);
    }
    assert_eq!(
        serde_json::to_string(&NetSource::Manual).unwrap(),
        r#"{"kind":"manual"}"#
    );
    assert_eq!(
        Event::Power {
            action: PowerAction::Reboot
        }
        .serial_line(),
        "INSTALLER-EVENT {\"event\":\"power\",\"action\":\"reboot\"}\n"
    );
    assert_eq!(
        Event::Started {
            version: "1".into(),
            console: "tty1".into(),
            firmware: Firmware::Bios,
            secure_boot: false,
            loader: None,
            cmdline: String::new(),
        }
        .to_json(),
        r#"{"event":"started","version":"1","console":"tty1","firmware":"bios","secure_boot":false,"loader":null,"cmdline":""}"#
    );
}

#[test]
fn serial_lines_with_noise_and_without_prefix() {
    let line = "\x1b[0m\x1b[37mINSTALLER-EVENT {\"event\":\"first-screen\"}\r";
    assert_eq!(
        Event::from_serial_line(line).unwrap().unwrap(),
        Event::FirstScreen
    );
    assert!(Event::from_serial_line("Loading drivers...").is_none());
    assert!(Event::from_serial_line("INSTALLER-EVENT {\"event\":")
        .unwrap()
        .is_err());
    assert!(
        Event::from_serial_line("INSTALLER-EVENT {\"event\":\"no-such\"}")
            .unwrap()
            .is_err()
    );
}

#[test]
fn prompt_ids_are_unique_and_documented() {
    let set: std::collections::BTreeSet<&str> = ids::ALL.iter().copied().collect();
    assert_eq!(set.len(), ids::ALL.len());
    let docs = include_str!("../../../docs/events.md");
    for id in ids::ALL {
        assert!(
            docs.contains(&format!("`{id}`")),
            "docs/events.md lacks {id}"
        );
    }
}
