use super::*;
use crate::testutil::TempTree;
use nix::errno::Errno;

const DEP: &str = "\
kernel/drivers/ata/ata_piix.ko: kernel/drivers/ata/libata.ko kernel/drivers/scsi/scsi_mod.ko kernel/drivers/scsi/scsi_common.ko
kernel/drivers/ata/libata.ko: kernel/drivers/scsi/scsi_mod.ko kernel/drivers/scsi/scsi_common.ko
kernel/drivers/scsi/scsi_mod.ko: kernel/drivers/scsi/scsi_common.ko
kernel/drivers/scsi/scsi_common.ko:
kernel/drivers/scsi/sr_mod.ko: kernel/drivers/cdrom/cdrom.ko kernel/drivers/scsi/scsi_mod.ko kernel/drivers/scsi/scsi_common.ko
kernel/drivers/cdrom/cdrom.ko:
kernel/drivers/scsi/sd_mod.ko: kernel/lib/crc-t10dif.ko kernel/drivers/scsi/scsi_mod.ko kernel/drivers/scsi/scsi_common.ko
kernel/lib/crc-t10dif.ko:
kernel/arch/x86/crypto/crct10dif-pclmul.ko:
kernel/drivers/net/ethernet/intel/e1000/e1000.ko:
kernel/fs/isofs/isofs.ko: kernel/drivers/cdrom/cdrom.ko
";

const ALIAS: &str = "\
alias pci:v00008086d00007010sv*sd*bc*sc*i* ata_piix
alias scsi:t-0x05* sr_mod
alias scsi:t-0x00* sd_mod
alias pci:v00008086d0000100Esv*sd*bc*sc*i* e1000
alias crypto-crct10dif crct10dif_pclmul
alias fs-iso9660 isofs
alias virtio:d00000002v* virtio_blk
";

const SOFTDEP: &str = "softdep crc_t10dif pre: crypto-crct10dif\n";
const BUILTIN: &str = "kernel/drivers/block/virtio_blk.ko\nkernel/fs/efivarfs/efivarfs.ko\n";

const PIIX: &str = "pci:v00008086d00007010sv00001AF4sd00001100bc01sc01i80";
const CDROM: &str = "scsi:t-0x05";
const DISK: &str = "scsi:t-0x00";
const NIC: &str = "pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00";

fn index() -> ModuleIndex {
    ModuleIndex::parse(DEP, ALIAS, SOFTDEP, BUILTIN).unwrap()
}

/// Records loads; fails modules listed in `fail`, reports EEXIST for `already`.
#[derive(Default)]
struct FakeLoader {
    calls: Vec<(String, String)>,
    fail: Vec<&'static str>,
    already: Vec<&'static str>,
}

impl ModuleLoader for &mut FakeLoader {
    fn load(&mut self, step: &LoadStep, params: &str) -> Result<Loaded, String> {
        self.calls.push((step.name.clone(), params.to_string()));
        if self.fail.contains(&step.name.as_str()) {
            return Err(format!("fake failure of {}", step.name));
        }
        if self.already.contains(&step.name.as_str()) {
            return Ok(Loaded::Already);
        }
        Ok(Loaded::Now)
    }
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn names(loader: &FakeLoader) -> Vec<&str> {
    loader.calls.iter().map(|(n, _)| n.as_str()).collect()
}

#[test]
fn a_pass_loads_dependencies_first_and_only_once() {
    let idx = index();
    let cmd = KernelCmdline::parse("");
    let mut fake = FakeLoader::default();
    let mut cp = Coldplug::new(&idx, &cmd, &mut fake);
    assert_eq!(cp.pass(&set(&[PIIX])), 4);
    assert_eq!(cp.pass(&set(&[PIIX])), 0, "a modalias is handled once");
    assert_eq!(cp.loaded_count(), 4);
    drop(cp);
    assert_eq!(
        names(&fake),
        ["scsi_common", "scsi_mod", "libata", "ata_piix"]
    );
}

#[test]
fn later_passes_pick_up_new_devices_without_reloading() {
    let idx = index();
    let cmd = KernelCmdline::parse("");
    let mut fake = FakeLoader::default();
    let mut cp = Coldplug::new(&idx, &cmd, &mut fake);
    cp.pass(&set(&[PIIX]));
    // The SCSI scan made a CD-ROM device appear.
    assert!(cp.has_new(&set(&[PIIX, CDROM])));
    assert_eq!(cp.pass(&set(&[PIIX, CDROM])), 2);
    assert!(!cp.has_new(&set(&[PIIX, CDROM])));
    drop(cp);
    assert_eq!(names(&fake)[4..], ["cdrom", "sr_mod"]);
}

#[test]
fn optional_softdep_failure_does_not_stop_the_module() {
    let idx = index();
    let cmd = KernelCmdline::parse("");
    let mut fake = FakeLoader {
        fail: vec!["crct10dif_pclmul"],
        ..Default::default()
    };
    let mut cp = Coldplug::new(&idx, &cmd, &mut fake);
    cp.pass(&set(&[DISK]));
    assert!(
        cp.failures().is_empty(),
        "optional failures are not reported: {:?}",
        cp.failures()
    );
    assert!(cp.loaded_names().contains(&"sd_mod".to_string()));
    assert!(!cp.loaded_names().contains(&"crct10dif_pclmul".to_string()));
}

#[test]
fn required_dependency_failure_is_reported_for_both_modules() {
    let idx = index();
    let cmd = KernelCmdline::parse("");
    let mut fake = FakeLoader {
        fail: vec!["libata"],
        ..Default::default()
    };
    let mut cp = Coldplug::new(&idx, &cmd, &mut fake);
    assert_eq!(
        cp.pass(&set(&[PIIX, CDROM])),
        4,
        "scsi_common, scsi_mod, cdrom, sr_mod"
    );
    let failed: Vec<(&str, &str)> = cp
        .failures()
        .iter()
        .map(|f| (f.name.as_str(), f.error.as_str()))
        .collect();
    assert_eq!(
        failed,
        [
            ("libata", "fake failure of libata"),
            (
                "ata_piix",
                "needs libata, which failed: fake failure of libata"
            )
        ]
    );
    drop(cp);
    assert!(
        !names(&fake).contains(&"ata_piix"),
        "ata_piix is not tried after its dependency failed"
    );
}

#[test]
fn blacklist_skips_alias_matches_but_not_dependencies() {
    let idx = index();
    let cmd = KernelCmdline::parse("modprobe.blacklist=e1000,cdrom");
    let mut fake = FakeLoader::default();
    let mut cp = Coldplug::new(&idx, &cmd, &mut fake);
    assert_eq!(cp.pass(&set(&[NIC])), 0);
    assert_eq!(
        cp.pass(&set(&[NIC, CDROM])),
        4,
        "cdrom still loads as sr_mod's dependency"
    );
    assert!(cp.failures().is_empty());
    drop(cp);
    assert!(!names(&fake).contains(&"e1000"));
}

#[test]
fn cmdline_parameters_are_passed_to_the_module() {
    let idx = index();
    let cmd = KernelCmdline::parse("ata-piix.prefer_ms_hyperv=0 libata.force=1.5Gbps");
    let mut fake = FakeLoader::default();
    let mut cp = Coldplug::new(&idx, &cmd, &mut fake);
    cp.pass(&set(&[PIIX]));
    drop(cp);
    let params: Vec<(&str, &str)> = fake
        .calls
        .iter()
        .map(|(n, p)| (n.as_str(), p.as_str()))
        .collect();
    assert!(
        params.contains(&("ata_piix", "prefer_ms_hyperv=0")),
        "{params:?}"
    );
    assert!(params.contains(&("libata", "force=1.5Gbps")), "{params:?}");
    assert!(params.contains(&("scsi_mod", "")), "{params:?}");
}

#[test]
fn load_by_name_handles_builtin_unknown_and_already_loaded() {
    let idx = index();
    let cmd = KernelCmdline::parse("");
    let mut fake = FakeLoader {
        already: vec!["cdrom"],
        ..Default::default()
    };
    let mut cp = Coldplug::new(&idx, &cmd, &mut fake);
    assert_eq!(
        cp.load_by_name("efivarfs"),
        Ok(0),
        "built in: nothing to load"
    );
    assert_eq!(cp.load_by_name("isofs"), Ok(2), "EEXIST counts as loaded");
    let err = cp.load_by_name("no_such_module").unwrap_err();
    assert!(err.contains("no_such_module"), "{err}");
    assert_eq!(cp.failures().len(), 1);
    assert_eq!(cp.failures()[0].name, "no_such_module");
    assert_eq!(cp.loaded_names(), ["cdrom", "isofs"]);
}

#[test]
fn run_coldplug_repeats_until_quiet() {
    let idx = index();
    let cmd = KernelCmdline::parse("");
    let mut fake = FakeLoader::default();
    let mut cp = Coldplug::new(&idx, &cmd, &mut fake);
    // Devices appear over the first passes, as after an HBA probe.
    let appear = [vec![PIIX], vec![PIIX, CDROM], vec![PIIX, CDROM, DISK]];
    let mut calls = 0;
    let timing = Timing {
        interval: Duration::from_millis(5),
        quiet: Duration::from_millis(40),
        cap: Duration::from_secs(5),
    };
    let quiet = run_coldplug(
        &mut cp,
        || {
            let s = set(&appear[calls.min(2)]);
            calls += 1;
            s
        },
        timing,
    );
    assert!(quiet);
    assert!(
        calls >= 4,
        "kept scanning after the last new device ({calls} scans)"
    );
    assert_eq!(
        cp.loaded_names(),
        [
            "ata_piix",
            "cdrom",
            "crc_t10dif",
            "crct10dif_pclmul",
            "libata",
            "scsi_common",
            "scsi_mod",
            "sd_mod",
            "sr_mod"
        ]
    );
}

#[test]
fn run_coldplug_rescans_at_once_after_a_change() {
    let idx = index();
    let cmd = KernelCmdline::parse("");
    let mut fake = FakeLoader::default();
    let mut cp = Coldplug::new(&idx, &cmd, &mut fake);
    let appear = [vec![PIIX], vec![PIIX, CDROM], vec![PIIX, CDROM]];
    let mut calls = 0;
    // A long interval: only the passes right after a change may skip it.
    let timing = Timing {
        interval: Duration::from_secs(30),
        quiet: Duration::ZERO,
        cap: Duration::from_secs(60),
    };
    let start = Instant::now();
    let quiet = run_coldplug(
        &mut cp,
        || {
            let s = set(&appear[calls.min(2)]);
            calls += 1;
            s
        },
        timing,
    );
    assert!(quiet);
    assert_eq!(calls, 3, "two passes with news, one quiet pass");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(cp.loaded_names().contains(&"sr_mod".to_string()));
}

#[test]
fn run_coldplug_stops_at_the_cap() {
    let idx = index();
    let cmd = KernelCmdline::parse("");
    let mut fake = FakeLoader::default();
    let mut cp = Coldplug::new(&idx, &cmd, &mut fake);
    let mut n = 0;
    let timing = Timing {
        interval: Duration::from_millis(5),
        quiet: Duration::from_secs(10),
        cap: Duration::from_millis(60),
    };
    let start = Instant::now();
    let quiet = run_coldplug(
        &mut cp,
        || {
            n += 1;
            set(&[&format!("platform:never-quiet-{n}")])
        },
        timing,
    );
    assert!(!quiet);
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn sysfs_walk_collects_modalias_files_without_following_symlinks() {
    let t = TempTree::new("modalias");
    t.write(
        "sys/devices/pci0000:00/0000:00:01.1/modalias",
        format!("{PIIX}\n").as_bytes(),
    );
    t.write(
        "sys/devices/pci0000:00/0000:00:01.1/ata2/host1/target1:0:0/1:0:0:0/modalias",
        b"scsi:t-0x05\n",
    );
    t.write("sys/devices/platform/empty/modalias", b"\n");
    t.write(
        "sys/devices/platform/serial8250/uevent",
        b"DRIVER=serial8250\n",
    );
    t.symlink(
        "sys/devices/pci0000:00/0000:00:01.1/subsystem",
        "../../../devices",
    );
    let found = scan_modaliases(&t.path().join("sys/devices"));
    assert_eq!(found, set(&[PIIX, CDROM]));
}

#[test]
fn index_files_load_with_optional_softdep_and_builtin() {
    let t = TempTree::new("index");
    t.write("modules.dep", DEP.as_bytes());
    let err = load_index(t.path()).unwrap_err().to_string();
    assert!(err.contains("modules.alias"), "{err}");
    t.write("modules.alias", ALIAS.as_bytes());
    let idx = load_index(t.path()).unwrap();
    assert!(idx.contains("sd_mod"));
    assert_eq!(idx.modules_for_modalias(CDROM), ["sr_mod"]);
}

#[test]
fn errno_descriptions_name_the_cause() {
    assert!(describe_errno(Errno::ENODEV).starts_with("no matching hardware"));
    assert!(describe_errno(Errno::EKEYREJECTED).contains("signature"));
    assert!(describe_errno(Errno::E2BIG).contains("E2BIG"));
}

/// An initramfs's index that knows only the PIIX controller.
fn piix_only_index() -> ModuleIndex {
    ModuleIndex::parse(
        "kernel/drivers/ata/ata_piix.ko: kernel/drivers/ata/libata.ko kernel/drivers/scsi/scsi_mod.ko kernel/drivers/scsi/scsi_common.ko
kernel/drivers/ata/libata.ko: kernel/drivers/scsi/scsi_mod.ko kernel/drivers/scsi/scsi_common.ko
kernel/drivers/scsi/scsi_mod.ko: kernel/drivers/scsi/scsi_common.ko
kernel/drivers/scsi/scsi_common.ko:
",
        "alias pci:v00008086d00007010sv*sd*bc*sc*i* ata_piix\n",
        "",
        "",
    )
    .unwrap()
}

#[test]
fn a_second_index_matches_what_the_first_did_not_and_loads_nothing_twice() {
    // The initramfs knows only the PIIX controller; the pack's index also
    // knows the NIC.
    let small = piix_only_index();
    let big = index();
    let cmd = KernelCmdline::parse("");
    let mut first = FakeLoader::default();
    let mut second = FakeLoader::default();
    let mut cp = Coldplug::new(&small, &cmd, &mut first);
    assert_eq!(cp.pass(&set(&[PIIX, NIC])), 4);
    assert_eq!(
        cp.switch_index(&big, &mut second),
        1,
        "only the NIC driver is new"
    );
    assert_eq!(cp.pass(&set(&[PIIX, NIC])), 0, "nothing is matched twice");
    assert_eq!(cp.loaded_count(), 5);
    drop(cp);
    assert_eq!(names(&second), ["e1000"]);
}

#[test]
fn the_pauses_switch_to_a_second_index_and_the_quiet_time_starts_again() {
    // As in the UI: the pack's index arrives in a pause between quiet
    // passes, and what it loads counts as a change.
    let small = piix_only_index();
    let big = index();
    let cmd = KernelCmdline::parse("");
    let mut first = FakeLoader::default();
    let mut pack_loader = FakeLoader::default();
    let mut second = Some(&mut pack_loader);
    let mut cp = Coldplug::new(&small, &cmd, &mut first);
    let timing = Timing {
        interval: Duration::from_millis(5),
        quiet: Duration::from_millis(40),
        cap: Duration::from_secs(5),
    };
    let (mut pauses, mut switched_at) = (0, None);
    let mut scans = 0;
    let quiet = run_coldplug_idle(
        &mut cp,
        || {
            scans += 1;
            set(&[PIIX, NIC])
        },
        timing,
        |cp| {
            pauses += 1;
            let Some(loader) = second.take() else {
                return false;
            };
            switched_at = Some(cp.loaded_count());
            cp.switch_index(&big, loader) > 0
        },
    );
    assert!(quiet);
    assert_eq!(switched_at, Some(4), "switched after the first quiet pass");
    assert!(pauses >= 2, "the quiet time ran on after the switch");
    assert!(scans >= 3, "{scans} scans");
    assert!(cp.loaded_names().contains(&"e1000".to_string()));
    drop(cp);
    assert_eq!(names(&pack_loader), ["e1000"]);
}

#[test]
fn idle_gets_a_pause_even_when_a_slow_pass_used_up_the_quiet_time() {
    let idx = index();
    let cmd = KernelCmdline::parse("");
    let mut fake = FakeLoader::default();
    let mut cp = Coldplug::new(&idx, &cmd, &mut fake);
    // No quiet time at all: the first pass without news is already quiet.
    let timing = Timing {
        interval: Duration::from_secs(30),
        quiet: Duration::ZERO,
        cap: Duration::from_secs(60),
    };
    let (mut scans, mut pauses) = (0, 0);
    let start = Instant::now();
    let quiet = run_coldplug_idle(
        &mut cp,
        || {
            scans += 1;
            set(&[PIIX])
        },
        timing,
        |_| {
            pauses += 1;
            false
        },
    );
    assert!(quiet);
    assert_eq!((scans, pauses), (2, 1), "one pass with news, one quiet");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "no sleep after the last pause: {:?}",
        start.elapsed()
    );
}
