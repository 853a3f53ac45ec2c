//! Unit tests for the runtime module index.

use super::*;

/// The sd_mod chain of Debian 6.1, shaped as depmod writes it (dependency lists in
/// reverse load order), plus ext4's crc32c softdep and a few unrelated lines.
const DEP: &str = "\
kernel/drivers/scsi/sd_mod.ko: kernel/block/t10-pi.ko kernel/lib/crc64-rocksoft.ko kernel/drivers/scsi/scsi_mod.ko kernel/drivers/scsi/scsi_common.ko kernel/lib/crc-t10dif.ko kernel/lib/crc64.ko kernel/crypto/crct10dif_common.ko
kernel/block/t10-pi.ko: kernel/lib/crc64-rocksoft.ko kernel/lib/crc-t10dif.ko kernel/lib/crc64.ko kernel/crypto/crct10dif_common.ko
kernel/lib/crc64-rocksoft.ko: kernel/lib/crc64.ko
kernel/lib/crc64.ko:
kernel/lib/crc-t10dif.ko: kernel/crypto/crct10dif_common.ko
kernel/crypto/crct10dif_common.ko:
kernel/arch/x86/crypto/crct10dif-pclmul.ko: kernel/crypto/crct10dif_common.ko
kernel/crypto/crct10dif_generic.ko: kernel/crypto/crct10dif_common.ko
kernel/drivers/scsi/scsi_mod.ko: kernel/drivers/scsi/scsi_common.ko
kernel/drivers/scsi/scsi_common.ko:
kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko kernel/fs/mbcache.ko kernel/lib/crc16.ko
kernel/fs/jbd2/jbd2.ko:
kernel/fs/mbcache.ko:
kernel/lib/crc16.ko:
kernel/arch/x86/crypto/crc32c-intel.ko:
kernel/crypto/crc32c_generic.ko:
kernel/drivers/virtio/virtio_pci.ko:
";

const ALIAS: &str = "\
# Aliases extracted from modules themselves.
alias crypto-crct10dif crct10dif_pclmul
alias crct10dif crct10dif_pclmul
alias crypto-crct10dif crct10dif_generic
alias crct10dif crct10dif_generic
alias crypto-crc32c crc32c_intel
alias crc32c crc32c_intel
alias crypto-crc32c crc32c_generic
alias crc32c crc32c_generic
alias scsi:t-0x00* sd_mod
alias scsi:t-0x0e* sd_mod
alias pci:v00001AF4d*sv*sd*bc*sc*i* virtio_pci
alias pci:v00001AF4d00001000* virtio_pci
alias pci:v00008086d* e1000_not_shipped
alias fs-ext4 ext4
";

const SOFTDEP: &str = "\
# Soft dependencies extracted from modules themselves.
softdep crc_t10dif pre: crct10dif
softdep crc64_rocksoft pre: crc64
softdep ext4 pre: crc32c
";

const BUILTIN: &str = "\
kernel/drivers/input/serio/i8042.ko
kernel/drivers/input/keyboard/atkbd.ko
kernel/drivers/input/serio/serio.ko
kernel/drivers/input/serio/libps2.ko
";

fn index() -> ModuleIndex {
    ModuleIndex::parse(DEP, ALIAS, SOFTDEP, BUILTIN).expect("fixture parses")
}

fn names(steps: &[LoadStep]) -> Vec<&str> {
    steps.iter().map(|s| s.name.as_str()).collect()
}

/// Every hard dependency of every step is loaded before it.
fn assert_deps_first(index: &ModuleIndex, steps: &[LoadStep]) {
    for (i, step) in steps.iter().enumerate() {
        let entry = &index.modules[&step.name];
        for dep in &entry.deps {
            let pos = steps
                .iter()
                .position(|s| &s.name == dep)
                .unwrap_or_else(|| panic!("{dep} (needed by {}) not in order", step.name));
            assert!(pos < i, "{dep} must load before {}", step.name);
        }
    }
}

#[test]
fn sd_mod_load_order_matches_modprobe_shape() {
    let index = index();
    let steps = index.load_order("sd_mod").unwrap();
    // modprobe --show-depends gives crct10dif-pclmul before crct10dif_generic (alias
    // priority); we order alternatives of one alias by name, which loads the same set.
    assert_eq!(
        names(&steps),
        [
            "crct10dif_common",
            "crc64",
            "crct10dif_generic",
            "crct10dif_pclmul",
            "crc_t10dif",
            "scsi_common",
            "scsi_mod",
            "crc64_rocksoft",
            "t10_pi",
            "sd_mod",
        ]
    );
    assert_deps_first(&index, &steps);
    let last = steps.last().unwrap();
    assert_eq!(last.path, "kernel/drivers/scsi/sd_mod.ko");
    assert!(!last.optional);
    let optional: Vec<&str> = steps
        .iter()
        .filter(|s| s.optional)
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(optional, ["crct10dif_generic", "crct10dif_pclmul"]);
    let pclmul = steps.iter().find(|s| s.name == "crct10dif_pclmul").unwrap();
    assert_eq!(pclmul.path, "kernel/arch/x86/crypto/crct10dif-pclmul.ko");
}

#[test]
fn load_order_accepts_dashed_names() {
    let index = index();
    let steps = index.load_order("crc-t10dif").unwrap();
    assert_eq!(
        names(&steps),
        [
            "crct10dif_common",
            "crct10dif_generic",
            "crct10dif_pclmul",
            "crc_t10dif"
        ]
    );
}

#[test]
fn ext4_pre_softdep_via_alias_loads_both_providers_optionally() {
    let index = index();
    let steps = index.load_order("ext4").unwrap();
    assert_eq!(
        names(&steps),
        [
            "crc32c_generic",
            "crc32c_intel",
            "crc16",
            "mbcache",
            "jbd2",
            "ext4"
        ],
        "modprobe also puts the pre-softdeps before the hard deps"
    );
    let flags: Vec<bool> = steps.iter().map(|s| s.optional).collect();
    assert_eq!(flags, [true, true, false, false, false, false]);
}

#[test]
fn post_softdeps_come_after_the_module() {
    let dep = "kernel/a.ko:\nkernel/b.ko:\nkernel/c.ko: kernel/d.ko\nkernel/d.ko:\n";
    let softdep = "softdep a pre: b post: c\n";
    let index = ModuleIndex::parse(dep, "", softdep, "").unwrap();
    let steps = index.load_order("a").unwrap();
    assert_eq!(names(&steps), ["b", "a", "d", "c"]);
    assert_eq!(
        steps.iter().map(|s| s.optional).collect::<Vec<_>>(),
        [true, false, true, true],
        "a post-softdep's own hard deps are optional too"
    );
}

#[test]
fn module_needed_hard_after_soft_becomes_required() {
    // r's deps in load order: x, b, c. x has a pre-softdep on b, so b is first
    // reached as optional; then r needs b for real.
    let dep = "kernel/r.ko: kernel/c.ko kernel/b.ko kernel/x.ko\n\
               kernel/x.ko:\nkernel/b.ko: kernel/e.ko\nkernel/e.ko:\nkernel/c.ko:\n";
    let index = ModuleIndex::parse(dep, "", "softdep x pre: b\n", "").unwrap();
    let steps = index.load_order("r").unwrap();
    assert_eq!(names(&steps), ["e", "b", "x", "c", "r"]);
    assert!(
        steps.iter().all(|s| !s.optional),
        "b and its dep e are hard deps of r: {steps:?}"
    );
}

#[test]
fn cycles_terminate_and_list_each_module_once() {
    let dep = "kernel/a.ko: kernel/b.ko\nkernel/b.ko: kernel/a.ko\n";
    let index = ModuleIndex::parse(dep, "", "", "").unwrap();
    let steps = index.load_order("a").unwrap();
    assert_eq!(names(&steps), ["b", "a"]);

    let soft = "softdep a post: b\nsoftdep b pre: a post: a\n";
    let index = ModuleIndex::parse("kernel/a.ko:\nkernel/b.ko:\n", "", soft, "").unwrap();
    let steps = index.load_order("a").unwrap();
    assert_eq!(names(&steps), ["a", "b"]);
    let steps = index.load_order("b").unwrap();
    assert_eq!(names(&steps), ["a", "b"]);
}

#[test]
fn builtin_and_unknown_modules() {
    let index = index();
    assert!(index.is_builtin("i8042"));
    assert!(index.is_builtin("libps2"));
    assert!(!index.is_builtin("sd_mod"));
    assert_eq!(index.load_order("atkbd").unwrap(), Vec::new());
    match index.load_order("no-such-mod") {
        Err(KmodError::UnknownModule { name }) => assert_eq!(name, "no_such_mod"),
        other => panic!("expected UnknownModule, got {other:?}"),
    }
    let msg = index.load_order("nope").unwrap_err().to_string();
    assert!(msg.contains("nope"), "{msg}");
}

#[test]
fn softdep_on_builtin_or_missing_module_is_skipped() {
    let index = ModuleIndex::parse(
        "kernel/a.ko:\n",
        "",
        "softdep a pre: serio missing-thing\n",
        "kernel/drivers/input/serio/serio.ko\n",
    )
    .unwrap();
    assert_eq!(names(&index.load_order("a").unwrap()), ["a"]);
}

#[test]
fn contains_and_paths_normalise_names() {
    let index = index();
    assert!(index.contains("crc-t10dif"));
    assert!(index.contains("crc_t10dif"));
    assert!(index.contains("t10-pi"));
    assert!(!index.contains("i8042"), "built-in is not shipped");
    assert_eq!(index.module_path("t10_pi"), Some("kernel/block/t10-pi.ko"));
    assert_eq!(index.module_names().count(), 17);
}

#[test]
fn modalias_lookup_sorted_deduplicated_and_shipped_only() {
    let index = index();
    assert_eq!(
        index.modules_for_modalias("pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00"),
        ["virtio_pci"],
        "two matching patterns, one module"
    );
    assert_eq!(index.modules_for_modalias("scsi:t-0x00"), ["sd_mod"]);
    assert!(index.modules_for_modalias("scsi:t-0x05").is_empty());
    assert_eq!(
        index.modules_for_modalias("crypto-crc32c"),
        ["crc32c_generic", "crc32c_intel"]
    );
    assert!(
        index
            .modules_for_modalias("pci:v00008086d0000100Esv00008086sd00001100bc02sc00i00")
            .is_empty(),
        "alias for a module that is not shipped"
    );
}

#[test]
fn module_names_from_paths() {
    assert_eq!(
        module_name_from_path("kernel/fs/nls/nls_iso8859-1.ko").as_deref(),
        Some("nls_iso8859_1")
    );
    assert_eq!(module_name_from_path("x-y.ko.xz").as_deref(), Some("x_y"));
    assert_eq!(module_name_from_path("x.ko.zst").as_deref(), Some("x"));
    assert_eq!(module_name_from_path("kernel/x.o"), None);
    assert_eq!(module_name_from_path("kernel/.ko"), None);
}

fn parse_err(
    dep: &str,
    alias: &str,
    softdep: &str,
    builtin: &str,
) -> (&'static str, usize, String) {
    match ModuleIndex::parse(dep, alias, softdep, builtin) {
        Err(KmodError::IndexParse { file, line, reason }) => (file, line, reason),
        other => panic!("expected a parse error, got {other:?}"),
    }
}

#[test]
fn parse_errors_name_file_and_line() {
    let (file, line, reason) =
        parse_err("kernel/a.ko:\n\n# c\nkernel/b.ko kernel/a.ko\n", "", "", "");
    assert_eq!((file, line), ("modules.dep", 4));
    assert!(reason.contains("':'"), "{reason}");

    let (file, line, reason) = parse_err("kernel/a.ko: kernel/zz.ko\n", "", "", "");
    assert_eq!((file, line), ("modules.dep", 1));
    assert!(reason.contains("zz"), "{reason}");

    let (file, line, reason) = parse_err("kernel/a.ko:\nkernel/x/a.ko:\n", "", "", "");
    assert_eq!((file, line), ("modules.dep", 2));
    assert!(reason.contains("twice"), "{reason}");

    let (file, line, _) = parse_err("kernel/a.txt:\n", "", "", "");
    assert_eq!((file, line), ("modules.dep", 1));

    let (file, line, _) = parse_err("", "alias a b\nalias onlytwo\n", "", "");
    assert_eq!((file, line), ("modules.alias", 2));
    let (file, line, reason) = parse_err("", "\noptions a b\n", "", "");
    assert_eq!((file, line), ("modules.alias", 2));
    assert!(reason.contains("options"), "{reason}");

    let (file, line, _) = parse_err("", "", "softdep\n", "");
    assert_eq!((file, line), ("modules.softdep", 1));
    let (file, line, _) = parse_err("", "", "blacklist x\n", "");
    assert_eq!((file, line), ("modules.softdep", 1));

    let (file, line, _) = parse_err("", "", "", "kernel/a.ko\nnot-a-module\n");
    assert_eq!((file, line), ("modules.builtin", 2));

    let err = ModuleIndex::parse("", "", "", "oops\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "modules.builtin line 1: \"oops\" is not a .ko path"
    );
}

#[test]
fn softdep_names_before_pre_or_post_are_ignored_like_libkmod() {
    let dep = "kernel/cifs.ko:\nkernel/gcm.ko:\nkernel/md5.ko:\n";
    let soft = "softdep cifs gcm pre: md5\n";
    let index = ModuleIndex::parse(dep, "", soft, "").unwrap();
    assert_eq!(names(&index.load_order("cifs").unwrap()), ["md5", "cifs"]);
}

#[test]
fn repeated_softdep_lines_accumulate() {
    let dep = "kernel/a.ko:\nkernel/b.ko:\nkernel/c.ko:\n";
    let soft = "softdep a pre: b\nsoftdep a post: c\n";
    let index = ModuleIndex::parse(dep, "", soft, "").unwrap();
    assert_eq!(names(&index.load_order("a").unwrap()), ["b", "a", "c"]);
}

#[test]
fn prefix_lookup_finds_what_trying_every_pattern_finds() {
    // Patterns with no literal start, short and long ones, brackets, an
    // escape and a `?`, each for a module of its own, against modaliases
    // that match several, one or none of them.
    let patterns = [
        "*",
        "*:PNP0A03:*",
        "p*",
        "pci:*",
        "pci:v00008086d*",
        "pci:v00008086d0000100[0-9E]sv*",
        "pci:v00008086d0000100Esv*sd*bc*sc*i*",
        "pci:v0000808?d*",
        "pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00",
        "pci:v00008086d0000100E",
        "pci\\:v*",
        "acpi*:PNP0A03:*",
        "scsi:t-0x05*",
        "usb:v0BDAp8153d*dc*dsc*dp*icFFiscFFip00in*",
    ];
    let dep: String = (0..patterns.len())
        .map(|i| format!("kernel/m{i}.ko:\n"))
        .collect();
    let alias: String = patterns
        .iter()
        .enumerate()
        .map(|(i, p)| format!("alias {p} m{i}\n"))
        .collect();
    let index = ModuleIndex::parse(&dep, &alias, "", "").unwrap();
    let modaliases = [
        "pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00",
        "pci:v00008086d00007010sv00001AF4sd00001100bc01sc01i80",
        "pci:v00008087d00000001sv00000000sd00000000bc00sc00i00",
        "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00",
        "acpi:PNP0A03:",
        "scsi:t-0x05",
        "usb:v0BDAp8153d3000dc00dsc00dp00icFFiscFFip00in00",
        "platform:i8042",
        "",
    ];
    for m in modaliases {
        let mut expected: Vec<String> = patterns
            .iter()
            .enumerate()
            .filter(|(_, p)| glob_match(p, m))
            .map(|(i, _)| format!("m{i}"))
            .collect();
        expected.sort();
        assert_eq!(index.modules_for_modalias(m), expected, "{m}");
    }
    assert_eq!(
        index.modules_for_modalias("pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00"),
        ["m0", "m10", "m2", "m3", "m4", "m5", "m6", "m7", "m8"],
        "the brute force agrees with a list written out"
    );
}
