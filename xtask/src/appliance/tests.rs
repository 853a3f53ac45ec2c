use super::*;
use std::io::Read;

const EPOCH: u64 = 1_764_300_000; // 2025-11-28 03:20:00 UTC

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("xtask-appl-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn rootfs_is_deterministic_64_mib_fat32_with_its_files() {
    let a = rootfs(EPOCH).unwrap();
    let b = rootfs(EPOCH).unwrap();
    assert_eq!(a.len() as u64, ROOTFS_BYTES);
    assert!(a == b, "two builds with the same epoch differ");
    let c = rootfs(EPOCH + 1).unwrap();
    assert!(
        a != c,
        "the epoch must reach the image (timestamps, volume id)"
    );

    // FAT32 boot sector: label at 0x47, "FAT32   " at 0x52.
    assert_eq!(&a[0x47..0x52], b"APPDATA    ");
    assert_eq!(&a[0x52..0x5A], b"FAT32   ");

    let fs = FileSystem::new(Cursor::new(a), FsOptions::new()).unwrap();
    assert_eq!(fs.fat_type(), FatType::Fat32);
    assert_eq!(fs.volume_label(), "APPDATA");
    let root = fs.root_dir();
    let mut release = String::new();
    root.open_file("release.json")
        .unwrap()
        .read_to_string(&mut release)
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&release).unwrap();
    assert_eq!(v["model"], MODEL);
    assert_eq!(v["version"], VERSION);
    assert_eq!(v["payload"]["size"], PAYLOAD_BYTES);
    let mut payload_bytes = Vec::new();
    root.open_file("payload.bin")
        .unwrap()
        .read_to_end(&mut payload_bytes)
        .unwrap();
    assert_eq!(payload_bytes.len(), PAYLOAD_BYTES);
    assert_eq!(v["payload"]["sha256"], hex::encode(sha256(&payload_bytes)));
    let entry = root
        .iter()
        .map(|e| e.unwrap())
        .find(|e| e.file_name() == "release.json")
        .unwrap();
    let m = entry.modified();
    assert_eq!(
        (
            m.date.year,
            m.date.month,
            m.date.day,
            m.time.hour,
            m.time.min
        ),
        (2025, 11, 28, 3, 20)
    );
}

#[test]
#[ignore = "needs fsck.vfat (dosfstools)"]
fn rootfs_passes_fsck_vfat() {
    let dir = temp("fsck");
    let img = dir.join("rootfs.img");
    fs::write(&img, rootfs(EPOCH).unwrap()).unwrap();
    // Fails (does not skip) when dosfstools is missing.
    let out = Cmd::new("fsck.vfat")
        .arg("-n")
        .arg(&img)
        .read()
        .expect("fsck.vfat -n rootfs.img (install dosfstools)");
    // Clean: only the summary line ("<image>: N files, used/total clusters").
    let lines: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert!(
        lines.len() == 2 && lines[0].starts_with("fsck.fat") && lines[1].contains(" files, "),
        "fsck.vfat complained:\n{}{}",
        out.stdout,
        out.stderr
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn payload_is_seeded_and_does_not_compress() {
    let a = payload(7, 1 << 20);
    assert_eq!(a, payload(7, 1 << 20));
    assert_ne!(a, payload(8, 1 << 20));
    assert_eq!(payload(7, 13), a[..13]);
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(&a).unwrap();
    let packed = z.finish().unwrap();
    assert!(packed.len() > a.len() * 99 / 100, "{} bytes", packed.len());
}

#[test]
fn components_json_describes_files_layout_and_cmdlines() {
    let dir = temp("components");
    for (f, data) in [
        ("vmlinuz", &b"kernel"[..]),
        ("initrd.img", b"initrd"),
        ("rootfs.img", b"rootfs"),
    ] {
        fs::write(dir.join(f), data).unwrap();
    }
    let c = Components::describe(&dir, EPOCH).unwrap();
    let v = serde_json::to_value(&c).unwrap();
    assert_eq!(v["model"], "example-appliance");
    assert_eq!(v["build_epoch"], EPOCH);
    assert_eq!(
        v["kernel_cmdline"]["serial"],
        "console=ttyS0,115200 appliance.boot=LABEL=APPBOOT"
    );
    assert_eq!(
        v["kernel_cmdline"]["vga"],
        "console=tty0 appliance.boot=LABEL=APPBOOT"
    );
    assert_eq!(v["layout"]["min_disk_bytes"], 1u64 << 30);
    assert_eq!(
        v["layout"]["partitions"][0],
        serde_json::json!({"name": "boot", "filesystem": "fat32", "label": "APPBOOT",
                           "size_bytes": 256u64 << 20, "min_size_bytes": null})
    );
    assert_eq!(v["layout"]["partitions"][1]["min_size_bytes"], 64u64 << 20);
    let comps = v["components"].as_array().unwrap();
    assert_eq!(comps.len(), 3);
    assert_eq!(
        comps[0],
        serde_json::json!({
            "name": "kernel", "kind": "boot-file", "file": "vmlinuz", "size": 6,
            // sha256("kernel")
            "sha256": hex::encode(sha256(b"kernel")),
            "destination": {"partition": "boot", "path": "/vmlinuz"}
        })
    );
    assert_eq!(comps[1]["destination"]["path"], "/initrd.img");
    assert_eq!(comps[2]["kind"], "partition-image");
    assert_eq!(
        comps[2]["destination"],
        serde_json::json!({"partition": "data"})
    );
    fs::remove_dir_all(&dir).unwrap();
}
