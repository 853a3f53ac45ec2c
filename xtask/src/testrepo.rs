//! The test vendor, made at test time under `target/test-vendor/` and never
//! committed: a TEST signing key, TLS material (see [`crate::testvendor`]),
//! and a repository with the sample appliance (channel `stable`) and the
//! test serials ([`qemu_tests::vendor`]); with `--reference`, also the
//! reference appliance on the channel `reference` ([`publish_reference`]).
//! `cargo xtask bench install` and the full install with 128 MiB of RAM add
//! the bench release on the channel `bench` ([`publish_bench`]). The ISOs built for the tests take their vendor
//! settings from here ([`iso_vendor`]); `cargo xtask iso` trusts its key and
//! CA when none are given ([`trust`]).

use crate::appliance;
use crate::project;
use crate::reference;
use crate::repo::{self, AddSerial, DEFAULT_VALID_DAYS, SNAPSHOT_VALID_DAYS};
use crate::testvendor::{self, TlsMaterial};
use crate::vendorcfg::{Trust, Vendor};
use anyhow::{Context, Result};
use qemu_tests::vendor as serials;
use std::path::{Path, PathBuf};
use vendor_repo::registry::Entitlement;
use vendor_repo::SecretKey;

/// Where the test backend listens on the host; QEMU guests reach it as
/// 10.0.2.2 through user networking.
pub const PORT: u16 = 18443;
/// The backend URL a test ISO has built in.
pub const BACKEND_URL: &str = "https://10.0.2.2:18443/";

/// The test vendor's files.
pub struct TestVendor {
    /// The TEST signing key.
    pub key: SecretKey,
    /// Its public key file.
    pub public_key: PathBuf,
    /// The repository root (served by nginx in the tests).
    pub repo: PathBuf,
    /// CA, server certificate and key.
    pub tls: TlsMaterial,
}

/// The directory.
pub fn dir() -> PathBuf {
    project::target_dir().join("test-vendor")
}

/// Makes sure key and TLS material exist (no repository content).
pub fn ensure_keys() -> Result<TestVendor> {
    let dir = dir();
    let key_path = dir.join("TEST-ONLY-signing-key.json");
    let key = if key_path.exists() {
        repo::read_key(&key_path)?
    } else {
        repo::keygen(&key_path, true)?
    };
    let tls = testvendor::ensure_tls(&dir.join("tls"), std::time::SystemTime::now())?;
    Ok(TestVendor {
        public_key: repo::public_path(&key_path),
        repo: dir.join("repo"),
        key,
        tls,
    })
}

impl TestVendor {
    /// The test key and the test CA.
    pub fn trust(&self) -> Trust {
        Trust {
            public_key: self.public_key.clone(),
            ca: self.tls.ca_cert.clone(),
        }
    }

    /// The test repository, when it has a snapshot to take floors from.
    pub fn floors_from(&self) -> Option<PathBuf> {
        self.repo
            .join(vendor_repo::snapshot::PATH)
            .is_file()
            .then(|| self.repo.clone())
    }

    /// The vendor settings of an ISO built for the tests: the test backend,
    /// the tests' model and channel, the test key and CA.
    pub fn iso_vendor(&self) -> Vendor {
        Vendor {
            backend_url: BACKEND_URL.into(),
            model: serials::MODEL.into(),
            channel: serials::CHANNEL.into(),
            trusted_keys: vec![self.public_key.clone()],
            ca: self.tls.ca_cert.clone(),
            min_manifest_version: 0,
            min_serial_version: 0,
            floors_from: self.floors_from(),
        }
    }
}

/// The test key and CA (made when missing), for builds given no other.
pub fn trust() -> Result<Trust> {
    Ok(ensure_keys()?.trust())
}

/// The vendor settings of an ISO built for the tests (keys made when missing).
pub fn iso_vendor() -> Result<Vendor> {
    Ok(ensure_keys()?.iso_vendor())
}

/// Everything, including a freshly published repository with the sample
/// appliance and the test serials.
pub fn ensure() -> Result<TestVendor> {
    let v = ensure_keys()?;
    let opts = appliance::Options::from_env(None)?;
    let components = appliance::build(&opts).context("building the sample appliance")?;
    let release = opts.out.join("release.json");
    let text = serde_json::to_string_pretty(&release_description(&components))?;
    std::fs::write(&release, text + "\n")
        .with_context(|| format!("writing {}", release.display()))?;
    publish_into(&v, &release)?;
    Ok(v)
}

/// The sample appliance's `components.json` as a release description for
/// `repo publish` (docs/repository.md). The partition image is stored
/// gzip-compressed; boot files as they are.
pub fn release_description(c: &appliance::Components) -> serde_json::Value {
    use appliance::{BOOT_PARTITION_BYTES, CMDLINE_SERIAL, ROOTFS_BYTES, ROOTFS_LABEL};
    let mib = |b: u64| b.div_ceil(1 << 20);
    let components: Vec<serde_json::Value> = c
        .components
        .iter()
        .map(|x| {
            serde_json::json!({
                "name": x.name,
                "kind": x.kind,
                "file": x.file,
                "compression": if x.kind == "partition-image" { "gzip" } else { "none" },
                "destination": x.destination,
            })
        })
        .collect();
    // The cmdline minus the console, which the installer adds.
    let cmdline: Vec<&str> = CMDLINE_SERIAL
        .split_whitespace()
        .filter(|w| !w.starts_with("console="))
        .collect();
    serde_json::json!({
        "model": c.model,
        "channel": c.channel,
        "release": c.version,
        "min_ram_mib": 1024,
        "layout": {
            "min_disk_mib": mib(c.layout.min_disk_bytes),
            "partitions": [
                {"name": "boot", "label": handover::BOOT_LABEL, "kind": "boot",
                 "filesystem": "vfat", "size_mib": mib(BOOT_PARTITION_BYTES)},
                {"name": "data", "label": ROOTFS_LABEL, "kind": "linux",
                 "filesystem": "none", "size_mib": mib(ROOTFS_BYTES), "grow": true},
            ],
        },
        "components": components,
        "boot": {"kernel": "/vmlinuz", "initrd": "/initrd.img", "cmdline": cmdline.join(" ")},
    })
}

/// Builds the reference appliance (root, minutes) and publishes it into
/// `v.repo` on [`reference::CHANNEL`] of the same model, so the test serials
/// entitle it and an ISO built with `--channel reference` installs it. The
/// sample appliance stays on `stable` for the fast fault matrix.
pub fn publish_reference(v: &TestVendor) -> Result<()> {
    let built = reference::build(None, false, None).context("building the reference appliance")?;
    repo::publish(
        &v.repo,
        &v.key,
        &built.release,
        DEFAULT_VALID_DAYS,
        SNAPSHOT_VALID_DAYS,
    )
}

/// The test-only kernel parameter stage 1 answers with the data
/// partition's marker (docs/appliance.md).
pub const TEST_MARKER: &str = "appliance.test_marker";

/// Publishes the reference appliance built in `dir` into `v.repo` on
/// [`reference::CHANNEL`] for the QEMU installs, with [`TEST_MARKER`] added
/// to its kernel command line so the scenarios can see the data partition
/// kept across reboots. The release description goes to the test vendor's
/// directory (`reference-release.json`, naming the files in `dir`); `dir`
/// is not changed.
pub fn publish_reference_for_tests(v: &TestVendor, dir: &Path) -> Result<()> {
    let path = dir.join("release.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let release = test_release(&text, dir)?;
    let out = self::dir().join("reference-release.json");
    std::fs::write(&out, serde_json::to_string_pretty(&release)? + "\n")
        .with_context(|| format!("writing {}", out.display()))?;
    repo::publish(
        &v.repo,
        &v.key,
        &out,
        DEFAULT_VALID_DAYS,
        SNAPSHOT_VALID_DAYS,
    )
}

/// `release.json` of `dir` with absolute file names and [`TEST_MARKER`]
/// on the command line.
fn test_release(text: &str, dir: &Path) -> Result<serde_json::Value> {
    let mut d: serde_json::Value =
        serde_json::from_str(text).context("the reference release.json is not JSON")?;
    let dir = std::path::absolute(dir)?;
    for c in d["components"]
        .as_array_mut()
        .context("release.json: no components")?
    {
        let file = c["file"]
            .as_str()
            .context("release.json: a component without a file")?;
        c["file"] = dir.join(file).display().to_string().into();
    }
    let cmdline = d["boot"]["cmdline"]
        .as_str()
        .context("release.json: no boot.cmdline")?;
    d["boot"]["cmdline"] = format!("{cmdline} {TEST_MARKER}").trim().into();
    Ok(d)
}

/// Publishes the sample appliance and the test serials into `v.repo`.
pub fn publish_into(v: &TestVendor, appliance_release: &Path) -> Result<()> {
    repo::publish(
        &v.repo,
        &v.key,
        appliance_release,
        DEFAULT_VALID_DAYS,
        SNAPSHOT_VALID_DAYS,
    )?;
    let ent = |model: &str, until: Option<u64>| Entitlement {
        model: model.into(),
        channels: vec![],
        until,
    };
    for (serial, entitlement) in [
        (serials::entitled(), ent(serials::MODEL, None)),
        (serials::entitled_yz(), ent(serials::MODEL, None)),
        (serials::other_model(), ent(serials::OTHER_MODEL, None)),
        (
            serials::ended(),
            ent(serials::MODEL, Some(repo::parse_date("2020-01-01")?)),
        ),
    ] {
        repo::add_serial(AddSerial {
            repo: &v.repo,
            key: &v.key,
            serial: Some(serial),
            entitlements: vec![entitlement],
            valid_days: DEFAULT_VALID_DAYS,
            snapshot_days: SNAPSHOT_VALID_DAYS,
        })?;
    }
    Ok(())
}

/// The bench release ([`publish_bench`]).
pub struct BenchRelease {
    /// The data partition image's request path on the test backend (`/objects/sha256/…`).
    pub object: String,
}

/// Publishes the bench release on [`hardware::BENCH_CHANNEL`] of the test
/// model into `v.repo`: the sample appliance's kernel and initrd (from
/// [`ensure`]'s build) and a [`hardware::BENCH_IMAGE_MIB`] MiB raw data
/// partition image of deterministic pseudo-random bytes, stored
/// uncompressed so that the installer and a raw copy move the same bytes.
/// It asks for [`hardware::BENCH_MIN_RAM_MIB`] MiB, so the installer's
/// own floor, not the release's RAM check, decides how little RAM suffices.
pub fn publish_bench(v: &TestVendor) -> Result<BenchRelease> {
    use appliance::{BOOT_PARTITION_BYTES, CMDLINE_SERIAL};
    use qemu_tests::suites::hardware;
    let appliance_dir = appliance::default_dir();
    let dir = project::target_dir().join("bench-release");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let image = dir.join("data.img");
    let bytes = hardware::BENCH_IMAGE_MIB << 20;
    if std::fs::metadata(&image).map(|m| m.len()).ok() != Some(bytes) {
        let data = appliance::payload(0xBE7C_4000_0000_0000, bytes as usize);
        std::fs::write(&image, data).with_context(|| format!("writing {}", image.display()))?;
    }
    let cmdline: Vec<&str> = CMDLINE_SERIAL
        .split_whitespace()
        .filter(|w| !w.starts_with("console="))
        .collect();
    let file = |name: &str| appliance_dir.join(name).display().to_string();
    let release = serde_json::json!({
        "model": serials::MODEL,
        "channel": hardware::BENCH_CHANNEL,
        "release": format!("{}-bench", appliance::VERSION),
        "min_ram_mib": hardware::BENCH_MIN_RAM_MIB,
        "layout": {
            "min_disk_mib": 1024,
            "partitions": [
                {"name": "boot", "label": handover::BOOT_LABEL, "kind": "boot",
                 "filesystem": "vfat", "size_mib": BOOT_PARTITION_BYTES >> 20},
                {"name": "data", "label": "BENCHDATA", "kind": "linux",
                 "filesystem": "none", "size_mib": hardware::BENCH_IMAGE_MIB, "grow": true},
            ],
        },
        "components": [
            {"name": "kernel", "kind": "boot-file", "file": file("vmlinuz"),
             "compression": "none", "destination": {"partition": "boot", "path": "/vmlinuz"}},
            {"name": "initrd", "kind": "boot-file", "file": file("initrd.img"),
             "compression": "none", "destination": {"partition": "boot", "path": "/initrd.img"}},
            {"name": hardware::BENCH_COMPONENT, "kind": "partition-image",
             "file": image.display().to_string(),
             "compression": "none", "destination": {"partition": "data"}},
        ],
        "boot": {"kernel": "/vmlinuz", "initrd": "/initrd.img", "cmdline": cmdline.join(" ")},
    });
    let description = dir.join("release.json");
    std::fs::write(&description, serde_json::to_string_pretty(&release)? + "\n")
        .with_context(|| format!("writing {}", description.display()))?;
    repo::publish(
        &v.repo,
        &v.key,
        &description,
        DEFAULT_VALID_DAYS,
        SNAPSHOT_VALID_DAYS,
    )
    .context("publishing the bench release")?;
    let sha = crate::inputs::sha256_file(&image)?;
    Ok(BenchRelease {
        object: format!("/{}", vendor_repo::object_path(&sha)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::product;

    /// A plain `cargo xtask iso` talks to the test backend about the model
    /// the test repository serves: the product defaults are the test vendor's.
    #[test]
    fn the_test_release_names_the_files_and_sets_the_marker() {
        let text = serde_json::to_string(&reference::release_description()).unwrap();
        let d = test_release(&text, Path::new("/srv/ref")).unwrap();
        assert_eq!(
            d["boot"]["cmdline"],
            format!("appliance.root=2 appliance.data=3 quiet {TEST_MARKER}")
        );
        let files: Vec<&str> = d["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["file"].as_str().unwrap())
            .collect();
        assert!(!files.is_empty());
        assert!(
            files.iter().all(|f| f.starts_with("/srv/ref/")),
            "{files:?}"
        );
        let err = format!("{:#}", test_release("{}", Path::new("/x")).unwrap_err());
        assert!(err.contains("components"), "{err}");
    }

    #[test]
    fn the_product_defaults_are_the_test_vendors() {
        assert_eq!(product::DEFAULT_BACKEND_URL, BACKEND_URL);
        assert_eq!(product::DEFAULT_MODEL, serials::MODEL);
        assert_eq!(product::DEFAULT_CHANNEL, serials::CHANNEL);
        assert_eq!(appliance::MODEL, serials::MODEL);
        assert_eq!(appliance::CHANNEL, serials::CHANNEL);
        assert!(BACKEND_URL.contains(&format!(":{PORT}/")));
    }
}
