//! Verification: every way a file can be wrong is refused with its own error.

use crate::keys::{SecretKey, TrustStore};
use crate::manifest::*;
use crate::registry::{Entitled, Entitlement, SerialRecord};
use crate::serial::Serial;
use crate::signed::{self, VerifyError};
use base64::Engine;

pub(crate) const NOW: u64 = 1_800_000_000;

pub(crate) fn key(n: u8) -> SecretKey {
    SecretKey::from_seed([n; 32], true)
}

pub(crate) fn trust(keys: &[&SecretKey]) -> TrustStore {
    TrustStore {
        keys: keys.iter().map(|k| k.public()).collect(),
        ..TrustStore::default()
    }
}

pub(crate) fn manifest() -> Manifest {
    Manifest {
        format: 1,
        model: "example-appliance".into(),
        channel: "stable".into(),
        metadata_version: 5,
        expires: NOW + 3600,
        release: "1.0.0".into(),
        min_ram_mib: 1024,
        layout: Layout {
            min_disk_mib: 1024,
            partitions: vec![
                Partition {
                    name: "boot".into(),
                    label: "APPBOOT".into(),
                    kind: PartitionKind::Boot,
                    filesystem: Filesystem::Vfat,
                    size_mib: 256,
                    grow: false,
                },
                Partition {
                    name: "data".into(),
                    label: "APPDATA".into(),
                    kind: PartitionKind::Linux,
                    filesystem: Filesystem::None,
                    size_mib: 64,
                    grow: true,
                },
            ],
        },
        components: vec![
            Component {
                name: "kernel".into(),
                kind: ComponentKind::BootFile,
                size: 10,
                sha256: "ab".repeat(32),
                compression: Compression::None,
                content_size: 10,
                destination: Destination {
                    partition: "boot".into(),
                    path: Some("/vmlinuz".into()),
                },
                chunks: Chunks {
                    size: CHUNK_SIZE,
                    sha256: vec!["ab".repeat(32)],
                },
            },
            Component {
                name: "rootfs".into(),
                kind: ComponentKind::PartitionImage,
                size: 1000,
                sha256: "cd".repeat(32),
                compression: Compression::Gzip,
                content_size: 64 << 20,
                destination: Destination {
                    partition: "data".into(),
                    path: None,
                },
                chunks: Chunks {
                    size: CHUNK_SIZE,
                    sha256: vec!["cd".repeat(32)],
                },
            },
        ],
        boot: Boot {
            kernel: "/vmlinuz".into(),
            initrd: "/vmlinuz".into(),
            cmdline: "appliance.boot=LABEL=APPBOOT".into(),
        },
    }
}

fn verify_m(bytes: &[u8], t: &TrustStore, minimum: u64) -> Result<Manifest, VerifyError> {
    Manifest::verify(bytes, t, NOW, minimum, "example-appliance", "stable")
}

/// Re-signs an altered payload (what a vendor bug, not an attacker, makes).
fn signed_with(m: &Manifest, k: &SecretKey) -> Vec<u8> {
    m.sign(&[k]).unwrap()
}

#[test]
fn a_good_manifest_verifies() {
    let k = key(1);
    let bytes = signed_with(&manifest(), &k);
    assert_eq!(verify_m(&bytes, &trust(&[&k]), 0).unwrap(), manifest());
}

#[test]
fn a_tampered_manifest_is_refused() {
    let k = key(1);
    let bytes = signed_with(&manifest(), &k);
    let mut env: signed::Envelope = serde_json::from_slice(&bytes).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = String::from_utf8(b64.decode(&env.payload).unwrap()).unwrap();
    env.payload = b64.encode(payload.replace("1.0.0", "6.6.6"));
    let bytes = serde_json::to_vec(&env).unwrap();
    assert_eq!(
        verify_m(&bytes, &trust(&[&k]), 0),
        Err(VerifyError::BadSignature {
            what: "manifest",
            key_id: k.id.clone()
        })
    );
}

#[test]
fn a_flipped_signature_bit_is_refused() {
    let k = key(1);
    let bytes = signed_with(&manifest(), &k);
    let mut env: signed::Envelope = serde_json::from_slice(&bytes).unwrap();
    let mut sig = hex::decode(&env.signatures[0].sig).unwrap();
    sig[10] ^= 1;
    env.signatures[0].sig = hex::encode(sig);
    let bytes = serde_json::to_vec(&env).unwrap();
    assert!(matches!(
        verify_m(&bytes, &trust(&[&k]), 0),
        Err(VerifyError::BadSignature { .. })
    ));
}

#[test]
fn a_wrong_key_is_refused_naming_both_sides() {
    let (signer, trusted) = (key(1), key(2));
    let bytes = signed_with(&manifest(), &signer);
    match verify_m(&bytes, &trust(&[&trusted]), 0) {
        Err(VerifyError::UntrustedKey {
            signed_by,
            trusted: t,
            ..
        }) => {
            assert_eq!(signed_by, vec![signer.id.clone()]);
            assert_eq!(t, vec![trusted.id.clone()]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn key_rotation_old_and_new_key_both_sign() {
    let (old, new) = (key(1), key(2));
    let bytes = manifest().sign(&[&old, &new]).unwrap();
    // An old ISO trusts the old key, a new ISO the new one: both accept.
    assert!(verify_m(&bytes, &trust(&[&old]), 0).is_ok());
    assert!(verify_m(&bytes, &trust(&[&new]), 0).is_ok());
}

#[test]
fn expired_metadata_is_refused() {
    let k = key(1);
    let mut m = manifest();
    m.expires = NOW - 1;
    let bytes = signed_with(&m, &k);
    assert_eq!(
        verify_m(&bytes, &trust(&[&k]), 0),
        Err(VerifyError::Expired {
            what: "manifest",
            expires: NOW - 1,
            now: NOW
        })
    );
}

#[test]
fn rollback_below_seen_or_iso_floor_is_refused() {
    let k = key(1);
    let bytes = signed_with(&manifest(), &k);
    let rollback = Err(VerifyError::Rollback {
        what: "manifest",
        found: 5,
        minimum: 6,
    });
    assert_eq!(verify_m(&bytes, &trust(&[&k]), 6), rollback);
    let mut t = trust(&[&k]);
    t.min_manifest_version = 6;
    assert_eq!(verify_m(&bytes, &t, 0), rollback);
    assert!(verify_m(&bytes, &trust(&[&k]), 5).is_ok());
}

#[test]
fn malformed_input_is_refused_with_the_key_path() {
    let k = key(1);
    let t = trust(&[&k]);
    assert!(matches!(
        verify_m(b"{not json", &t, 0),
        Err(VerifyError::Malformed { .. })
    ));
    let mut m = serde_json::to_value(manifest()).unwrap();
    m["components"][1]["compression"] = "zstd".into();
    let bytes = signed::sign("manifest", m.to_string().as_bytes(), &[&k]);
    match verify_m(&bytes, &t, 0) {
        Err(VerifyError::Malformed { reason, .. }) => {
            assert!(reason.starts_with("components[1].compression"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_format_wrong_type_and_wrong_model_are_refused() {
    let k = key(1);
    let t = trust(&[&k]);
    let mut m = manifest();
    m.format = 2;
    assert!(matches!(
        verify_m(&signed_with(&m, &k), &t, 0),
        Err(VerifyError::UnsupportedFormat { found: 2, .. })
    ));
    let serial_env = signed::sign("serial", &serde_json::to_vec(&manifest()).unwrap(), &[&k]);
    assert!(matches!(
        verify_m(&serial_env, &t, 0),
        Err(VerifyError::WrongType { .. })
    ));
    let bytes = signed_with(&manifest(), &k);
    assert!(matches!(
        Manifest::verify(&bytes, &t, NOW, 0, "other-appliance", "stable"),
        Err(VerifyError::Mismatch { .. })
    ));
}

#[test]
fn semantic_problems_are_caught_before_signing() {
    let mut m = manifest();
    m.components[0].destination.partition = "nope".into();
    assert_eq!(
        m.sign(&[&key(1)]).unwrap_err(),
        "components[0].destination.partition: no partition named \"nope\""
    );
    let mut m = manifest();
    m.layout.min_disk_mib = 100;
    assert!(m.validate().unwrap_err().starts_with("layout.min_disk_mib"));
    let mut m = manifest();
    m.components[0].destination.path = Some("/../x".into());
    assert!(m.validate().unwrap_err().starts_with("boot.kernel"));
    let mut m = manifest();
    m.components[0].destination.path = Some("/../x".into());
    m.boot.kernel = "/../x".into();
    m.boot.initrd = "/../x".into();
    assert!(m.validate().unwrap_err().contains("destination.path"));
}

pub(crate) fn record(serial: &Serial) -> SerialRecord {
    SerialRecord {
        format: 1,
        serial_id: serial.registry_id(),
        metadata_version: 1,
        expires: NOW + 60,
        entitlements: vec![Entitlement {
            model: "example-appliance".into(),
            channels: vec![],
            until: None,
        }],
    }
}

#[test]
fn serial_records_verify_and_entitle() {
    let k = key(3);
    let s = Serial::parse(crate::serial::EXAMPLE).unwrap();
    let bytes = record(&s).sign(&[&k]).unwrap();
    let r = SerialRecord::verify(&bytes, &trust(&[&k]), NOW, 0, &s).unwrap();
    assert!(matches!(
        r.entitles("example-appliance", "stable", NOW),
        Entitled::Yes(_)
    ));
    assert_eq!(
        r.entitles("other", "stable", NOW),
        Entitled::OtherModels(vec!["example-appliance".into()])
    );
}

#[test]
fn an_ended_entitlement_says_when() {
    let s = Serial::parse(crate::serial::EXAMPLE).unwrap();
    let mut r = record(&s);
    r.entitlements[0].until = Some(NOW - 5);
    assert_eq!(
        r.entitles("example-appliance", "stable", NOW),
        Entitled::Ended { until: NOW - 5 }
    );
}

#[test]
fn a_tampered_serial_record_is_refused() {
    let k = key(3);
    let s = Serial::parse(crate::serial::EXAMPLE).unwrap();
    let bytes = record(&s).sign(&[&k]).unwrap();
    let mut env: signed::Envelope = serde_json::from_slice(&bytes).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = String::from_utf8(b64.decode(&env.payload).unwrap()).unwrap();
    env.payload = b64.encode(payload.replace("example-appliance", "premium-appliance"));
    let bytes = serde_json::to_vec(&env).unwrap();
    assert!(matches!(
        SerialRecord::verify(&bytes, &trust(&[&k]), NOW, 0, &s),
        Err(VerifyError::BadSignature {
            what: "serial record",
            ..
        })
    ));
}

#[test]
fn a_record_copied_to_another_serial_is_refused() {
    let k = key(3);
    let s = Serial::parse(crate::serial::EXAMPLE).unwrap();
    let other = Serial::from_data(&[1; 15]);
    let bytes = record(&other).sign(&[&k]).unwrap();
    assert!(matches!(
        SerialRecord::verify(&bytes, &trust(&[&k]), NOW, 0, &s),
        Err(VerifyError::Mismatch { .. })
    ));
}

#[test]
fn serial_record_expiry_and_rollback() {
    let k = key(3);
    let s = Serial::parse(crate::serial::EXAMPLE).unwrap();
    let bytes = record(&s).sign(&[&k]).unwrap();
    let t = trust(&[&k]);
    assert!(matches!(
        SerialRecord::verify(&bytes, &t, NOW + 60, 0, &s),
        Err(VerifyError::Expired { .. })
    ));
    assert!(matches!(
        SerialRecord::verify(&bytes, &t, NOW, 2, &s),
        Err(VerifyError::Rollback {
            found: 1,
            minimum: 2,
            ..
        })
    ));
}

#[test]
fn publish_writes_a_repository_the_verifier_accepts() {
    let root = std::env::temp_dir().join(format!("vendor-repo-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let kernel = root.join("in-kernel");
    let image = root.join("in-image");
    std::fs::write(&kernel, b"kernel bytes").unwrap();
    std::fs::write(&image, vec![7u8; 1 << 20]).unwrap();
    let mut m = manifest();
    let input = crate::publish::ReleaseInput {
        model: m.model.clone(),
        channel: m.channel.clone(),
        release: m.release.clone(),
        min_ram_mib: m.min_ram_mib,
        layout: m.layout.clone(),
        components: vec![
            crate::publish::ComponentInput {
                name: "kernel".into(),
                kind: ComponentKind::BootFile,
                file: kernel,
                compression: Compression::None,
                destination: m.components[0].destination.clone(),
            },
            crate::publish::ComponentInput {
                name: "rootfs".into(),
                kind: ComponentKind::PartitionImage,
                file: image,
                compression: Compression::Gzip,
                destination: m.components[1].destination.clone(),
            },
        ],
        boot: m.boot.clone(),
    };
    let k = key(4);
    let first = crate::publish::publish_release(&root, &input, &[&k], NOW, 3600).unwrap();
    let second = crate::publish::publish_release(&root, &input, &[&k], NOW, 3600).unwrap();
    assert_eq!((first.metadata_version, second.metadata_version), (1, 2));
    let bytes = std::fs::read(root.join(crate::manifest_path(&m.model, &m.channel))).unwrap();
    m = verify_m(&bytes, &trust(&[&k]), 2).unwrap();
    let rootfs = &m.components[1];
    assert_eq!(rootfs.content_size, 1 << 20);
    assert!(rootfs.size < 1 << 20);
    let object = std::fs::read(root.join(rootfs.object_path())).unwrap();
    assert_eq!(object.len() as u64, rootfs.size);
    use sha2::Digest;
    assert_eq!(hex::encode(sha2::Sha256::digest(&object)), rootfs.sha256);
    assert_eq!(rootfs.chunks, Chunks::of(&object, CHUNK_SIZE));
    let _ = std::fs::remove_dir_all(&root);
}
