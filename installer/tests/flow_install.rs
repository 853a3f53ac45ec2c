//! The install step with a scripted machine: requirements, disk choice,
//! agreement, failure and retry, and answer-file disk selection.

mod support;

use installer::answers::{self, Loaded, Origin};
use installer::event::Event;
use installer::flow::{AnswersInput, Outcome};
use installer::install::verify_io::VerifyError;
use installer::install::{DiskState, Failure, InstallError};
use installer::power::PowerAction;
use support::{disk, options, slirp_lease, FakeInstall, FakeNet, FakeVendor, Run, GOOD_SERIAL};

fn dhcp() -> FakeNet {
    let mut net = FakeNet::with(&["eth0"]);
    net.leases.push_back(Ok(slirp_lease("eth0")));
    net
}

/// DHCP, the serial, the default layout, then `rest`.
fn run(rest: &[&str], install: FakeInstall) -> Run {
    let mut input = vec!["d", "s", GOOD_SERIAL, "", ""];
    input.extend_from_slice(rest);
    Run::go_full(
        &input,
        dhcp(),
        FakeVendor::default(),
        install,
        options(AnswersInput::None, false),
    )
}

fn unattended(json: &str, install: FakeInstall) -> Run {
    Run::go_full(
        &["p"],
        dhcp(),
        FakeVendor::default(),
        install,
        options(
            AnswersInput::Loaded(Loaded {
                source: "test".into(),
                origin: installer::answers::Origin::Embedded,
                file: answers::parse(json).expect("a valid answer file"),
            }),
            true,
        ),
    )
}

fn failed() -> Failure {
    let hash = VerifyError::HashMismatch {
        expected: "aa".into(),
        actual: "bb".into(),
    };
    Failure {
        error: InstallError::fetch("rootfs", hash.into()),
        disk: DiskState::NoPartitionTable,
        wipe_error: None,
        bundle: None,
    }
}

#[test]
fn one_disk_is_picked_and_the_agreement_names_it() {
    let r = run(&["y", ""], FakeInstall::default());
    assert_eq!(r.outcome, Outcome::Power(PowerAction::Reboot));
    let out = &r.term.out;
    assert!(out.contains("/dev/sda  ATA QEMU HARDDISK  serial QM00001  20.0 GiB  ata"));
    assert!(out.contains("ALL DATA ON THIS DISK WILL BE LOST."));
    assert!(
        out.contains("Disk:          /dev/sda (ATA QEMU HARDDISK, 20.0 GiB), MBR partition table")
    );
    assert_eq!(r.install.jobs.len(), 1);
    assert_eq!(r.install.jobs[0].layout.partitions[0].first_lba, 2048);
    // The CD drive with the medium was listed with its reason.
    let disks = r.events.iter().find_map(|e| match e {
        Event::Disks { disks } => Some(disks.clone()),
        _ => None,
    });
    let disks = disks.unwrap();
    assert_eq!(
        disks[1].refusal.as_deref(),
        Some("it holds the installation medium")
    );
}

#[test]
fn no_at_the_agreement_changes_nothing() {
    let r = run(&["n", "e", "y", "p"], FakeInstall::default());
    assert!(r.install.jobs.is_empty());
    assert!(r.term.out.contains("Nothing was changed."));
    assert_eq!(r.outcome, Outcome::Power(PowerAction::PowerOff));
}

#[test]
fn several_disks_are_listed_and_one_is_chosen() {
    let mut m = FakeInstall::default();
    m.hardware.disks = vec![disk("sda", 20, "A"), disk("sdb", 40, "B")];
    let r = run(&["9", "sdb", "y", ""], m);
    assert_eq!(r.install.jobs[0].disk.name, "sdb");
    assert_eq!(r.invalid()[0].0, "install.disk");
    assert_eq!(
        r.invalid()[0].2,
        "\"9\" is not in the list; type a number from 1 to 2 or a disk name"
    );
}

#[test]
fn too_little_ram_or_disk_stops_before_any_write() {
    let mut m = FakeInstall::default();
    m.hardware.mem_total_kib = 400_000;
    let r = run(&["p"], m);
    assert!(r.install.jobs.is_empty());
    assert!(r
        .term
        .out
        .contains("this machine has 390.6 MiB of RAM; the appliance needs 1024 MiB"));
    assert_eq!(r.prompts().last().map(String::as_str), Some("stop.action"));

    let mut m = FakeInstall::default();
    m.hardware.disks = vec![disk("sda", 0, "S")];
    let r = run(&["p"], m);
    assert!(r.install.jobs.is_empty());
    assert!(r.term.out.contains("no disk can take the installation"));
    assert!(r
        .term
        .out
        .contains("it is too small: 0 B but this appliance needs at least 1.0 GiB"));
}

#[test]
fn no_disk_on_hyper_v_explains_where_disks_come_from() {
    let mut m = FakeInstall::default();
    m.hardware.disks = vec![disk("sr0", 1, "")];
    m.hardware.platform = "Microsoft Corporation Virtual Machine".into();
    let r = run(&["p"], m);
    assert!(r.term.out.contains("no disk can take the installation"));
    assert!(
        r.term.out.contains("this is a Hyper-V virtual machine"),
        "{}",
        r.term.out
    );
    assert!(r.term.out.contains("hv_storvsc"));
}

#[test]
fn a_failed_install_offers_retry_and_the_retry_succeeds() {
    let mut m = FakeInstall::default();
    m.results.push_back(Err(failed()));
    let r = run(&["y", "", "x", "r"], m);
    assert_eq!(r.install.jobs.len(), 2);
    assert_eq!(r.outcome, Outcome::Power(PowerAction::Reboot));
    assert!(r
        .term
        .out
        .contains("The installation failed while downloading rootfs"));
    assert!(r.term.out.contains(
        "\n    SHA-256 mismatch: expected aa, got bb\n    the component is not the one the signed manifest describes"
    ));
    assert!(r
        .term
        .out
        .contains("\n    The disk was left without a partition table: it will not boot"));
    let failed = r
        .events
        .iter()
        .find(|e| matches!(e, Event::InstallFailed { .. }))
        .map(Event::to_json);
    assert_eq!(
        failed.as_deref(),
        Some(
            r#"{"event":"install-failed","stage":"downloading rootfs","message":"SHA-256 mismatch: expected aa, got bb","hint":"the component is not the one the signed manifest describes: it was altered or damaged. Nothing written is used; tell the vendor, then retry","bundle":null}"#
        )
    );
    let progress = r
        .events
        .iter()
        .find(|e| matches!(e, Event::InstallProgress { .. }))
        .map(Event::to_json);
    assert_eq!(
        progress.as_deref(),
        Some(
            r#"{"event":"install-progress","stage":"download","component":"rootfs","done":4,"total":4}"#
        )
    );
    let names = r.names();
    assert!(names.contains(&"install-failed".to_string()));
    assert!(names.contains(&"installed".to_string()));
}

#[test]
fn unattended_selection_by_serial_and_ambiguity() {
    let base = r#""version": 1, "network": {"mode": "dhcp"}, "serial": "7K3M-Q9TD-2XWB-HV5B", "erase_disk": true"#;
    let two = || {
        let mut m = FakeInstall::default();
        m.hardware.disks = vec![disk("sda", 20, "A"), disk("sdb", 40, "B")];
        m
    };
    let r = unattended(&format!(r#"{{{base}, "disk": {{"serial": "B"}}}}"#), two());
    assert_eq!(r.install.jobs[0].disk.name, "sdb");
    assert!(r.prompts().is_empty(), "{:?}", r.prompts());
    assert_eq!(r.outcome, Outcome::Power(PowerAction::Reboot));

    let r = unattended(&format!("{{{base}}}"), two());
    assert!(r.install.jobs.is_empty());
    assert!(r.term.out.contains("2 disks match {}"), "{}", r.term.out);
    assert_eq!(r.prompts(), ["stop.action"]);

    let r = unattended(
        &format!(r#"{{{base}, "disk": {{"size": "smallest"}}, "partition_table": "gpt"}}"#),
        two(),
    );
    assert!(r.install.jobs.is_empty(), "GPT on BIOS is refused");
    assert!(r.term.out.contains("partition_table"), "{}", r.term.out);
}

#[test]
fn unattended_failure_stops_with_the_cause() {
    let mut m = FakeInstall::default();
    m.results.push_back(Err(failed()));
    let r = unattended(
        r#"{"version": 1, "network": {"mode": "dhcp"}, "serial": "7K3M-Q9TD-2XWB-HV5B", "erase_disk": true}"#,
        m,
    );
    assert_eq!(r.install.jobs.len(), 1);
    assert!(r
        .term
        .out
        .contains("the installation failed while downloading rootfs"));
    assert_eq!(r.prompts(), ["stop.action"]);
}

/// A complete answer file naming `sdb` by serial, with the consent to erase.
const NAMED_SDB: &str = r#"{"version": 1, "network": {"mode": "dhcp"}, "serial": "7K3M-Q9TD-2XWB-HV5B", "keyboard": "de", "disk": {"serial": "B"}, "erase_disk": true}"#;

fn with_origin(origin: Origin, unattended: bool, removable: bool) -> Run {
    let mut m = FakeInstall::default();
    let mut sdb = disk("sdb", 40, "B");
    if removable {
        sdb.removable = true;
        sdb.bus = "usb";
    }
    m.hardware.disks = vec![disk("sda", 20, "A"), sdb];
    Run::go_full(
        &["y", "", "p"],
        dhcp(),
        FakeVendor::default(),
        m,
        options(
            AnswersInput::Loaded(Loaded {
                source: "test".into(),
                origin,
                file: answers::parse(NAMED_SDB).expect("a valid answer file"),
            }),
            unattended,
        ),
    )
}

#[test]
fn only_trusted_answers_replace_the_agreement() {
    use Origin::*;
    // (origin, installer.unattended, sdb removable, agreement and Enter asked)
    let table = [
        (Embedded, false, false, false),
        (Embedded, true, false, false),
        (Network, false, false, true),
        (Network, true, false, false),
        (Volume, false, false, true),
        (Volume, true, false, false),
        (Embedded, false, true, true),
        (Embedded, true, true, false),
        (Network, false, true, true),
        (Network, true, true, false),
        (Volume, false, true, true),
        (Volume, true, true, false),
    ];
    for (origin, unattended, removable, asked) in table {
        let case = format!("{origin:?} unattended={unattended} removable={removable}");
        let r = with_origin(origin, unattended, removable);
        let expected: &[&str] = if asked {
            &["install.agree", "install.start"]
        } else {
            &[]
        };
        assert_eq!(r.prompts(), expected, "{case}");
        assert_eq!(r.install.jobs.len(), 1, "{case}");
        assert_eq!(r.install.jobs[0].disk.name, "sdb", "{case}");
        assert_eq!(
            r.term.out.contains("installer.unattended"),
            asked,
            "{case}: {}",
            r.term.out
        );
    }
}

#[test]
fn no_at_the_agreement_spares_a_named_removable_disk() {
    let mut m = FakeInstall::default();
    let mut sdb = disk("sdb", 40, "B");
    sdb.removable = true;
    m.hardware.disks = vec![disk("sda", 20, "A"), sdb];
    let r = Run::go_full(
        &["n", "e", "y", "p"],
        dhcp(),
        FakeVendor::default(),
        m,
        options(
            AnswersInput::Loaded(Loaded {
                source: "/etc/installer/answers.json (in the initramfs)".into(),
                origin: Origin::Embedded,
                file: answers::parse(NAMED_SDB).expect("a valid answer file"),
            }),
            false,
        ),
    );
    assert!(r.install.jobs.is_empty());
    assert!(
        r.term.out.contains("/dev/sdb is removable"),
        "{}",
        r.term.out
    );
    assert!(r.term.out.contains("Nothing was changed."));
}
