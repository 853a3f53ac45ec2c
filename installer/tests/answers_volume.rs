//! The ANSWERS volume label as real tools write it: FAT12/16/32 images from
//! mkfs.fat (dosfstools) and an ISO 9660 image from genisoimage. A missing
//! tool fails the test.

use installer::answers::volume::{probe, FsKind, Probe};
use std::path::{Path, PathBuf};

fn tool(program: &str, args: &[&str]) {
    // Tests may run reference tools directly.
    #[allow(clippy::disallowed_methods)]
    let out = std::process::Command::new(program).args(args).output();
    match out {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "{program} {args:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!("{program} is required for this test (dosfstools / genisoimage): {e}"),
    }
}

struct Dir(PathBuf);

impl Dir {
    fn new(label: &str) -> Dir {
        let p =
            std::env::temp_dir().join(format!("installer-volume-{}-{label}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create the test directory");
        Dir(p)
    }
    fn file(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn probe_file(path: &str) -> Option<Probe> {
    let mut f = std::fs::File::open(Path::new(path)).expect("open the image");
    probe(&mut f)
}

#[test]
#[ignore = "needs mkfs.fat (dosfstools)"]
fn mkfs_fat_labels_are_found_for_fat12_16_and_32() {
    let d = Dir::new("fat");
    for (bits, kib) in [("12", "1440"), ("16", "16384"), ("32", "40960")] {
        let img = d.file(&format!("fat{bits}.img"));
        tool("mkfs.fat", &["-F", bits, "-n", "ANSWERS", "-C", &img, kib]);
        assert_eq!(
            probe_file(&img),
            Some(Probe {
                kind: FsKind::Fat,
                label: "ANSWERS".into()
            }),
            "FAT{bits}"
        );
    }
    let other = d.file("other.img");
    tool("mkfs.fat", &["-n", "DATA", "-C", &other, "1440"]);
    assert_eq!(probe_file(&other).map(|p| p.label), Some("DATA".into()));
}

#[test]
#[ignore = "needs mkfs.fat and fatlabel (dosfstools)"]
fn fatlabel_changes_are_seen() {
    let d = Dir::new("fatlabel");
    let img = d.file("relabelled.img");
    tool("mkfs.fat", &["-n", "OLD", "-C", &img, "1440"]);
    tool("fatlabel", &[&img, "ANSWERS"]);
    assert_eq!(probe_file(&img).map(|p| p.label), Some("ANSWERS".into()));
}

#[test]
#[ignore = "needs genisoimage"]
fn genisoimage_volume_id_is_found() {
    let d = Dir::new("iso");
    let src = d.file("src");
    std::fs::create_dir_all(&src).expect("create the source directory");
    std::fs::write(Path::new(&src).join("answers.json"), br#"{"version": 1}"#)
        .expect("write answers.json");
    let iso = d.file("answers.iso");
    tool(
        "genisoimage",
        &["-quiet", "-R", "-J", "-V", "ANSWERS", "-o", &iso, &src],
    );
    assert_eq!(
        probe_file(&iso),
        Some(Probe {
            kind: FsKind::Iso9660,
            label: "ANSWERS".into()
        })
    );
}
