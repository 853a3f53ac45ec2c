//! Build-side module resolution on a small tree of crafted `.ko` ELF files.
// Test code: a failed fixture step should abort the test with its error.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::Path;

use image_builder::kmod::{KmodError, ModuleDb, ModuleIndex, ModuleRef};
use object::write::Object;
use object::{Architecture, BinaryFormat, Endianness, SectionKind};

/// An x86-64 ELF relocatable object with a `.modinfo` section holding `entries`
/// as NUL-terminated strings, like a kernel module.
fn ko_bytes(entries: &[&str]) -> Vec<u8> {
    let mut obj = Object::new(BinaryFormat::Elf, Architecture::X86_64, Endianness::Little);
    let text = obj.add_section(Vec::new(), b".text".to_vec(), SectionKind::Text);
    obj.append_section_data(text, &[0xC3], 1);
    let modinfo = obj.add_section(Vec::new(), b".modinfo".to_vec(), SectionKind::ReadOnlyData);
    let mut data = Vec::new();
    for e in entries {
        data.extend_from_slice(e.as_bytes());
        data.push(0);
    }
    obj.append_section_data(modinfo, &data, 1);
    obj.write().expect("ELF written")
}

fn put(root: &Path, rel: &str, entries: &[&str]) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, ko_bytes(entries)).unwrap();
}

/// A miniature `lib/modules/<kver>` tree shaped like Debian 6.1's storage stack.
fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    put(
        r,
        "kernel/drivers/scsi/scsi_common.ko",
        &["name=scsi_common", "depends="],
    );
    put(
        r,
        "kernel/drivers/scsi/scsi_mod.ko",
        &["depends=scsi_common", "name=scsi_mod"],
    );
    put(
        r,
        "kernel/drivers/scsi/sd_mod.ko",
        &[
            "alias=scsi:t-0x0e*",
            "alias=scsi:t-0x00*",
            "depends=scsi_mod,t10-pi",
            "license=GPL",
            "name=sd_mod",
        ],
    );
    put(
        r,
        "kernel/block/t10-pi.ko",
        &["depends=crc-t10dif", "name=t10_pi"],
    );
    put(
        r,
        "kernel/lib/crc-t10dif.ko",
        &["softdep=pre: crct10dif", "name=crc_t10dif"],
    );
    put(
        r,
        "kernel/arch/x86/crypto/crct10dif-pclmul.ko",
        &["alias=crct10dif", "alias=crypto-crct10dif"],
    );
    put(
        r,
        "kernel/crypto/crct10dif_generic.ko",
        &["alias=crct10dif"],
    );
    put(
        r,
        "kernel/fs/ext4/ext4.ko",
        &[
            "depends=jbd2",
            "softdep=pre: crypto-crc32c",
            "alias=fs-ext4",
        ],
    );
    put(r, "kernel/fs/jbd2/jbd2.ko", &["depends="]);
    put(
        r,
        "kernel/arch/x86/crypto/crc32c-intel.ko",
        &["alias=crypto-crc32c"],
    );
    put(
        r,
        "kernel/crypto/crc32c_generic.ko",
        &["alias=crypto-crc32c", "alias=crc32c"],
    );
    put(
        r,
        "kernel/lib/cyc_a.ko",
        &["depends=cyc_b", "softdep=post: cyc_a"],
    );
    put(r, "kernel/lib/cyc_b.ko", &["depends=cyc_a"]);
    put(
        r,
        "kernel/drivers/net/nic.ko",
        &[
            "alias=pci:v00001234d*",
            "firmware=nic/fw.bin",
            "softdep=pre: no-such-thing",
        ],
    );
    put(r, "kernel/drivers/input/kbd.ko", &["depends=i8042"]);
    // Not modules: ignored by the scan.
    fs::write(r.join("kernel/README"), b"not a module").unwrap();
    std::os::unix::fs::symlink("scsi/sd_mod.ko", r.join("kernel/drivers/link.ko")).unwrap();
    fs::write(
        r.join("modules.builtin"),
        "kernel/drivers/input/serio/i8042.ko\n",
    )
    .unwrap();
    dir
}

fn names(set: &[ModuleRef]) -> Vec<&str> {
    set.iter().map(|m| m.name.as_str()).collect()
}

#[test]
fn scan_reads_modinfo_of_every_ko() {
    let dir = tree();
    let db = ModuleDb::scan(dir.path()).unwrap();
    assert_eq!(db.modules().count(), 15, "symlink and README skipped");
    let sd = db.get("sd_mod").unwrap();
    assert_eq!(sd.path, "kernel/drivers/scsi/sd_mod.ko");
    assert_eq!(sd.info.name.as_deref(), Some("sd_mod"));
    assert_eq!(sd.info.depends, ["scsi_mod", "t10-pi"]);
    assert_eq!(sd.info.aliases, ["scsi:t-0x0e*", "scsi:t-0x00*"]);
    let t10 = db.get("t10-pi").unwrap();
    assert_eq!(t10.name, "t10_pi", "name = file stem with - replaced by _");
    assert_eq!(
        db.get("crc_t10dif").unwrap().info.softdep.pre,
        ["crct10dif"]
    );
    assert_eq!(db.get("nic").unwrap().info.firmware, ["nic/fw.bin"]);
    assert!(db.is_builtin("i8042"));
    assert_eq!(db.builtin_text(), "kernel/drivers/input/serio/i8042.ko\n");
}

#[test]
fn closure_follows_depends_and_softdeps_through_aliases() {
    let dir = tree();
    let db = ModuleDb::scan(dir.path()).unwrap();
    let set = db.closure(&["sd_mod"]).unwrap();
    assert_eq!(
        names(&set),
        [
            "crc_t10dif",
            "crct10dif_generic",
            "crct10dif_pclmul",
            "scsi_common",
            "scsi_mod",
            "sd_mod",
            "t10_pi"
        ]
    );
    assert_eq!(set[2].path, "kernel/arch/x86/crypto/crct10dif-pclmul.ko");

    let set = db.closure(&["ext4"]).unwrap();
    assert_eq!(
        names(&set),
        ["crc32c_generic", "crc32c_intel", "ext4", "jbd2"]
    );
}

#[test]
fn roots_may_be_dashed_names_or_aliases() {
    let dir = tree();
    let db = ModuleDb::scan(dir.path()).unwrap();
    assert_eq!(names(&db.closure(&["crc-t10dif"]).unwrap()).len(), 3);
    assert_eq!(
        names(&db.closure(&["fs-ext4"]).unwrap()),
        ["crc32c_generic", "crc32c_intel", "ext4", "jbd2"]
    );
}

#[test]
fn cycles_are_handled() {
    let dir = tree();
    let db = ModuleDb::scan(dir.path()).unwrap();
    assert_eq!(names(&db.closure(&["cyc_a"]).unwrap()), ["cyc_a", "cyc_b"]);
}

#[test]
fn unknown_root_is_an_error_naming_it() {
    let dir = tree();
    let db = ModuleDb::scan(dir.path()).unwrap();
    let err = db.closure(&["sd_mod", "no-such-driver"]).unwrap_err();
    assert!(
        matches!(&err, KmodError::UnknownModule { name } if name == "no_such_driver"),
        "{err:?}"
    );
    assert!(err.to_string().contains("no_such_driver"), "{err}");
}

#[test]
fn builtin_roots_and_unresolved_softdeps_are_reported() {
    let dir = tree();
    let db = ModuleDb::scan(dir.path()).unwrap();
    let report = db.closure_report(&["i8042", "nic", "kbd"]).unwrap();
    assert_eq!(report.builtin_roots, ["i8042"]);
    assert_eq!(
        names(&report.modules),
        ["kbd", "nic"],
        "built-in dep i8042 needs nothing"
    );
    assert_eq!(
        report.unresolved_softdeps,
        [("nic".to_owned(), "no-such-thing".to_owned())]
    );
}

#[test]
fn tree_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = ModuleDb::scan(dir.path()).unwrap_err();
    assert!(matches!(err, KmodError::NotModuleTree { .. }), "{err:?}");

    put(dir.path(), "kernel/a/x-y.ko", &[]);
    put(dir.path(), "kernel/b/x_y.ko", &[]);
    match ModuleDb::scan(dir.path()).unwrap_err() {
        KmodError::DuplicateModule {
            name,
            first,
            second,
        } => {
            assert_eq!(name, "x_y");
            assert_eq!(first, "kernel/a/x-y.ko");
            assert_eq!(second, "kernel/b/x_y.ko");
        }
        other => panic!("expected DuplicateModule, got {other:?}"),
    }

    let dir = tempfile::tempdir().unwrap();
    put(dir.path(), "kernel/a.ko", &["depends=ghost"]);
    let db = ModuleDb::scan(dir.path()).unwrap();
    let err = db.closure(&["a"]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "module a depends on ghost, which is neither in the module tree nor built in"
    );

    let dir = tempfile::tempdir().unwrap();
    let mut obj = Object::new(BinaryFormat::Elf, Architecture::X86_64, Endianness::Little);
    let text = obj.add_section(Vec::new(), b".text".to_vec(), SectionKind::Text);
    obj.append_section_data(text, &[0xC3], 1);
    fs::create_dir_all(dir.path().join("kernel")).unwrap();
    fs::write(dir.path().join("kernel/bare.ko"), obj.write().unwrap()).unwrap();
    let err = ModuleDb::scan(dir.path()).unwrap_err();
    assert!(matches!(err, KmodError::NoModinfo { .. }), "{err:?}");
    assert!(err.to_string().contains("bare.ko"), "{err}");
}

const EXPECTED_DEP: &str = "\
kernel/arch/x86/crypto/crc32c-intel.ko:
kernel/arch/x86/crypto/crct10dif-pclmul.ko:
kernel/block/t10-pi.ko: kernel/lib/crc-t10dif.ko
kernel/crypto/crc32c_generic.ko:
kernel/crypto/crct10dif_generic.ko:
kernel/drivers/scsi/scsi_common.ko:
kernel/drivers/scsi/scsi_mod.ko: kernel/drivers/scsi/scsi_common.ko
kernel/drivers/scsi/sd_mod.ko: kernel/block/t10-pi.ko kernel/lib/crc-t10dif.ko kernel/drivers/scsi/scsi_mod.ko kernel/drivers/scsi/scsi_common.ko
kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko
kernel/fs/jbd2/jbd2.ko:
kernel/lib/crc-t10dif.ko:
";

const EXPECTED_ALIAS: &str = "\
# Aliases extracted from modules themselves.
alias crc32c crc32c_generic
alias crypto-crc32c crc32c_generic
alias crypto-crc32c crc32c_intel
alias crct10dif crct10dif_generic
alias crct10dif crct10dif_pclmul
alias crypto-crct10dif crct10dif_pclmul
alias fs-ext4 ext4
alias scsi:t-0x00* sd_mod
alias scsi:t-0x0e* sd_mod
";

const EXPECTED_SOFTDEP: &str = "\
# Soft dependencies extracted from modules themselves.
softdep crc_t10dif pre: crct10dif
softdep ext4 pre: crypto-crc32c
";

#[test]
fn render_index_writes_depmod_text_formats() {
    let dir = tree();
    let db = ModuleDb::scan(dir.path()).unwrap();
    let set = db.closure(&["sd_mod", "ext4"]).unwrap();
    let files = db.render_index(&set).unwrap();
    // modules.dep: dependency lists in reverse load order (modprobe loads from the end).
    assert_eq!(files.dep, EXPECTED_DEP);
    assert_eq!(files.alias, EXPECTED_ALIAS);
    assert_eq!(files.softdep, EXPECTED_SOFTDEP);
    assert_eq!(files.builtin, "kernel/drivers/input/serio/i8042.ko\n");
    let names: Vec<&str> = files.files().iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "modules.alias",
            "modules.builtin",
            "modules.dep",
            "modules.softdep"
        ]
    );
}

#[test]
fn rendered_index_round_trips_through_the_runtime_parser() {
    let dir = tree();
    let db = ModuleDb::scan(dir.path()).unwrap();
    let set = db.closure(&["sd_mod", "ext4"]).unwrap();
    let f = db.render_index(&set).unwrap();
    let index = ModuleIndex::parse(&f.dep, &f.alias, &f.softdep, &f.builtin).unwrap();
    let steps = index.load_order("sd_mod").unwrap();
    let order: Vec<(&str, bool)> = steps
        .iter()
        .map(|s| (s.name.as_str(), s.optional))
        .collect();
    assert_eq!(
        order,
        [
            // depends=scsi_mod,t10-pi: the scsi chain first, in modinfo order.
            ("scsi_common", false),
            ("scsi_mod", false),
            ("crct10dif_generic", true),
            ("crct10dif_pclmul", true),
            ("crc_t10dif", false),
            ("t10_pi", false),
            ("sd_mod", false),
        ]
    );
    assert_eq!(index.modules_for_modalias("scsi:t-0x00"), ["sd_mod"]);
    assert!(index.is_builtin("i8042"));
    assert!(index.contains("crc32c-intel"));
    assert!(!index.contains("nic"), "not in the chosen set");
}

#[test]
fn render_index_rejects_a_set_missing_a_hard_dependency() {
    let dir = tree();
    let db = ModuleDb::scan(dir.path()).unwrap();
    let set: Vec<ModuleRef> = db
        .closure(&["sd_mod"])
        .unwrap()
        .into_iter()
        .filter(|m| m.name != "scsi_common")
        .collect();
    let err = db.render_index(&set).unwrap_err();
    assert_eq!(
        err.to_string(),
        "module set is not closed: scsi_mod depends on scsi_common, which is not in the set"
    );
}

#[test]
fn scan_and_render_are_deterministic() {
    let render = || {
        let dir = tree();
        let db = ModuleDb::scan(dir.path()).unwrap();
        let set = db.closure(&["sd_mod", "ext4", "cyc_a", "nic"]).unwrap();
        db.render_index(&set).unwrap()
    };
    assert_eq!(render(), render());
}
