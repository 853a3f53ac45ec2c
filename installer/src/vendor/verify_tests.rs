use super::*;
use std::collections::BTreeMap;
use vendor_repo::manifest::*;
use vendor_repo::registry::Entitlement;
use vendor_repo::snapshot::Entry;
use vendor_repo::{SecretKey, Snapshot, TrustStore};

const NOW: u64 = 1_800_000_000;
const BUILT: u64 = NOW - 86_400;

struct FakeFetch {
    files: BTreeMap<String, Vec<u8>>,
    down: bool,
    asked: Vec<String>,
}

impl Fetch for FakeFetch {
    fn get(&mut self, url: &str, _max: u64) -> Result<Vec<u8>, FetchFailure> {
        self.asked.push(url.to_string());
        if self.down {
            return Err(FetchFailure::Problem(Problem {
                kind: "unreachable",
                detail: "connection refused".into(),
                hint: "is the server running?".into(),
            }));
        }
        self.files.get(url).cloned().ok_or(FetchFailure::NotFound)
    }
}

fn key() -> SecretKey {
    SecretKey::from_seed([5; 32], true)
}

fn config() -> VendorConfig {
    VendorConfig {
        backend_url: "https://repo.test/".into(),
        model: "example-appliance".into(),
        channel: "stable".into(),
        trust: TrustStore {
            keys: vec![key().public()],
            ..TrustStore::default()
        },
        ca_pem: Vec::new(),
    }
}

fn manifest(version: u64) -> Manifest {
    Manifest {
        format: 1,
        model: "example-appliance".into(),
        channel: "stable".into(),
        metadata_version: version,
        expires: NOW + 100,
        release: "1.0.0".into(),
        min_ram_mib: 1024,
        layout: Layout {
            min_disk_mib: 1024,
            partitions: vec![Partition {
                name: "boot".into(),
                label: "APPBOOT".into(),
                kind: PartitionKind::Boot,
                filesystem: Filesystem::Vfat,
                size_mib: 256,
                grow: false,
            }],
        },
        components: vec![Component {
            name: "kernel".into(),
            kind: ComponentKind::BootFile,
            size: 1,
            sha256: "00".repeat(32),
            compression: Compression::None,
            content_size: 1,
            destination: Destination {
                partition: "boot".into(),
                path: Some("/vmlinuz".into()),
            },
            chunks: Chunks {
                size: CHUNK_SIZE,
                sha256: vec!["00".repeat(32)],
            },
        }],
        boot: Boot {
            kernel: "/vmlinuz".into(),
            initrd: "/vmlinuz".into(),
            cmdline: String::new(),
        },
    }
}

fn record(serial: &Serial, models: &[&str], version: u64) -> SerialRecord {
    SerialRecord {
        format: 1,
        serial_id: serial.registry_id(),
        metadata_version: version,
        expires: NOW + 100,
        entitlements: models
            .iter()
            .map(|m| Entitlement {
                model: m.to_string(),
                channels: vec![],
                until: Some(NOW + 50),
            })
            .collect(),
    }
}

/// A snapshot listing what `f` serves now, signed by `k`, version 7.
fn snapshot(f: &FakeFetch, expires: u64) -> Snapshot {
    let c = config();
    let mut s = Snapshot {
        format: 1,
        metadata_version: 7,
        expires,
        manifests: BTreeMap::new(),
        serials: BTreeMap::new(),
    };
    let manifest_path = vendor_repo::manifest_path("example-appliance", "stable");
    let version = |b: &[u8], what| {
        let payload = vendor_repo::signed::open(b, what, what, &c.trust).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        v["metadata_version"].as_u64().unwrap()
    };
    if let Some(b) = f.files.get(&c.url(&manifest_path)) {
        s.manifests
            .insert(manifest_path, Entry::of(version(b, "manifest"), b));
    }
    let id = serial().registry_id();
    if let Some(b) = f.files.get(&c.url(&format!("serials/{id}.json"))) {
        s.serials.insert(id, Entry::of(version(b, "serial"), b));
    }
    s
}

fn serve_snapshot(f: &mut FakeFetch, s: &Snapshot, k: &SecretKey) {
    let url = config().url(vendor_repo::snapshot::PATH);
    f.files.insert(url, s.sign(&[k]).unwrap());
}

fn repo(serial: &Serial, models: &[&str]) -> FakeFetch {
    let c = config();
    let mut files = BTreeMap::new();
    files.insert(
        c.url(&vendor_repo::serial_path(serial)),
        record(serial, models, 1).sign(&[&key()]).unwrap(),
    );
    files.insert(
        c.url(&vendor_repo::manifest_path("example-appliance", "stable")),
        manifest(4).sign(&[&key()]).unwrap(),
    );
    let mut f = FakeFetch {
        files,
        down: false,
        asked: vec![],
    };
    let s = snapshot(&f, NOW + 7 * 86_400);
    serve_snapshot(&mut f, &s, &key());
    f
}

fn serial() -> Serial {
    Serial::parse(vendor_repo::serial::EXAMPLE).unwrap()
}

#[test]
fn entitled_serial_is_verified_with_the_release() {
    let mut f = repo(&serial(), &["example-appliance"]);
    let mut seen = Seen::default();
    match check_serial(&config(), &mut f, &mut seen, NOW, BUILT, &serial()) {
        SerialCheck::Verified(v) => {
            assert_eq!(v.release, "1.0.0");
            assert_eq!(v.until, Some(NOW + 50));
            assert_eq!(v.manifest_version, 4);
        }
        other => panic!("{other:?}"),
    }
    // The serial itself never appears in a URL.
    assert!(f.asked.iter().all(|u| !u.contains("7K3M")), "{:?}", f.asked);
}

#[test]
fn unknown_serial_is_a_404_on_the_record() {
    let mut f = repo(&serial(), &["example-appliance"]);
    let other = Serial::from_data(&[3; 15]);
    let got = check_serial(&config(), &mut f, &mut Seen::default(), NOW, BUILT, &other);
    assert_eq!(got, SerialCheck::Unknown);
}

#[test]
fn other_model_is_the_seed_no_support_case() {
    let mut f = repo(&serial(), &["other-appliance"]);
    match check_serial(
        &config(),
        &mut f,
        &mut Seen::default(),
        NOW,
        BUILT,
        &serial(),
    ) {
        SerialCheck::NoSupport { detail } => {
            assert!(detail.contains("other-appliance"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn missing_manifest_is_no_support_too() {
    let mut f = repo(&serial(), &["example-appliance"]);
    f.files.retain(|k, _| !k.contains("manifest"));
    assert!(matches!(
        check_serial(
            &config(),
            &mut f,
            &mut Seen::default(),
            NOW,
            BUILT,
            &serial()
        ),
        SerialCheck::NoSupport { .. }
    ));
}

#[test]
fn ended_entitlement_says_so() {
    let mut f = repo(&serial(), &["example-appliance"]);
    let got = check_serial(
        &config(),
        &mut f,
        &mut Seen::default(),
        NOW + 60,
        BUILT,
        &serial(),
    );
    assert_eq!(got, SerialCheck::Ended { until: NOW + 50 });
}

#[test]
fn clock_before_build_is_checked_before_asking() {
    let mut f = repo(&serial(), &["example-appliance"]);
    match check_serial(
        &config(),
        &mut f,
        &mut Seen::default(),
        BUILT - 1,
        BUILT,
        &serial(),
    ) {
        SerialCheck::Problem(p) => assert_eq!(p.kind, "clock"),
        other => panic!("{other:?}"),
    }
    assert!(f.asked.is_empty());
}

#[test]
fn server_down_is_a_problem_with_a_hint() {
    let mut f = repo(&serial(), &["example-appliance"]);
    f.down = true;
    match check_serial(
        &config(),
        &mut f,
        &mut Seen::default(),
        NOW,
        BUILT,
        &serial(),
    ) {
        SerialCheck::Problem(p) => assert_eq!(p.kind, "unreachable"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn tampered_or_rolled_back_metadata_is_untrusted() {
    let c = config();
    let mut f = repo(&serial(), &["example-appliance"]);
    let url = c.url(&vendor_repo::serial_path(&serial()));
    let tampered: Vec<u8> = f.files[&url]
        .iter()
        .map(|&b| if b == b'"' { b'\'' } else { b })
        .collect();
    f.files.insert(url, tampered);
    match check_serial(&c, &mut f, &mut Seen::default(), NOW, BUILT, &serial()) {
        SerialCheck::Problem(p) => assert_eq!(p.kind, "untrusted"),
        other => panic!("{other:?}"),
    }

    // A manifest older than one already accepted in this run is refused.
    let mut f = repo(&serial(), &["example-appliance"]);
    let mut seen = Seen::default();
    seen.record(
        &vendor_repo::manifest_path("example-appliance", "stable"),
        5,
    );
    match check_serial(&c, &mut f, &mut seen, NOW, BUILT, &serial()) {
        SerialCheck::Problem(p) => {
            assert_eq!(p.kind, "untrusted");
            assert!(p.detail.contains("rollback"), "{}", p.detail);
        }
        other => panic!("{other:?}"),
    }
}

fn problem(got: SerialCheck) -> Problem {
    match got {
        SerialCheck::Problem(p) => p,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn check(f: &mut FakeFetch) -> SerialCheck {
    check_serial(&config(), f, &mut Seen::default(), NOW, BUILT, &serial())
}

#[test]
fn the_snapshot_is_fetched_first() {
    let mut f = repo(&serial(), &["example-appliance"]);
    assert!(matches!(check(&mut f), SerialCheck::Verified(_)));
    assert_eq!(
        f.asked[0], "https://repo.test/snapshot.json",
        "{:?}",
        f.asked
    );
}

#[test]
fn an_older_unexpired_manifest_is_refused_against_the_snapshot() {
    let c = config();
    let mut f = repo(&serial(), &["example-appliance"]);
    // The mirror serves release 3, still signed and unexpired, while the
    // vendor's current snapshot lists version 4.
    f.files.insert(
        c.url(&vendor_repo::manifest_path("example-appliance", "stable")),
        manifest(3).sign(&[&key()]).unwrap(),
    );
    let p = problem(check(&mut f));
    assert_eq!(p.kind, "untrusted");
    assert!(
        p.detail.contains("release manifest")
            && p.detail.contains("metadata version 3")
            && p.detail.contains("version 4 is current"),
        "{}",
        p.detail
    );
    assert!(p.hint.contains("mirror"), "{}", p.hint);
}

#[test]
fn an_older_serial_record_is_refused_against_the_snapshot() {
    let c = config();
    let mut f = repo(&serial(), &["example-appliance"]);
    // The vendor revoked the entitlement (record version 2) …
    let url = c.url(&vendor_repo::serial_path(&serial()));
    f.files.insert(
        url.clone(),
        record(&serial(), &[], 2).sign(&[&key()]).unwrap(),
    );
    let s = snapshot(&f, NOW + 7 * 86_400);
    serve_snapshot(&mut f, &s, &key());
    // … and a mirror replays version 1, which still entitles.
    f.files.insert(
        url,
        record(&serial(), &["example-appliance"], 1)
            .sign(&[&key()])
            .unwrap(),
    );
    let p = problem(check(&mut f));
    assert!(
        p.detail.contains("serial record")
            && p.detail.contains("metadata version 1")
            && p.detail.contains("version 2 is current"),
        "{}",
        p.detail
    );
    // Refused before the manifest is asked for.
    assert!(
        f.asked.iter().all(|u| !u.contains("manifest")),
        "{:?}",
        f.asked
    );
}

#[test]
fn an_expired_snapshot_is_refused_naming_the_file_its_expiry_and_the_clock() {
    let mut f = repo(&serial(), &["example-appliance"]);
    let s = snapshot(&f, NOW - 3600);
    serve_snapshot(&mut f, &s, &key());
    let p = problem(check(&mut f));
    assert_eq!(p.kind, "untrusted");
    assert!(
        p.detail.contains("snapshot.json")
            && p.detail.contains("expired")
            && p.detail.contains(&crate::flow::text::date(NOW - 3600)),
        "{}",
        p.detail
    );
    assert!(
        p.hint.contains("clock") && p.hint.contains("repo timestamp"),
        "{}",
        p.hint
    );
    assert_eq!(
        f.asked.len(),
        1,
        "nothing after the snapshot: {:?}",
        f.asked
    );
}

#[test]
fn a_snapshot_signed_by_the_wrong_key_is_refused() {
    let mut f = repo(&serial(), &["example-appliance"]);
    let s = snapshot(&f, NOW + 7 * 86_400);
    serve_snapshot(&mut f, &s, &SecretKey::from_seed([9; 32], true));
    let p = problem(check(&mut f));
    assert_eq!(p.kind, "untrusted");
    assert!(
        p.detail.contains("snapshot") && p.detail.contains("not signed by a trusted key"),
        "{}",
        p.detail
    );
}

#[test]
fn a_missing_snapshot_or_one_below_the_iso_floor_is_refused() {
    let mut f = repo(&serial(), &["example-appliance"]);
    f.files.retain(|k, _| !k.ends_with("snapshot.json"));
    let p = problem(check(&mut f));
    assert!(p.detail.contains("no snapshot.json"), "{}", p.detail);

    // The ISO was built when snapshot 8 was current; the mirror serves 7.
    let mut f = repo(&serial(), &["example-appliance"]);
    let mut c = config();
    c.trust.min_snapshot_version = 8;
    let p = problem(check_serial(
        &c,
        &mut f,
        &mut Seen::default(),
        NOW,
        BUILT,
        &serial(),
    ));
    assert!(p.detail.contains("rollback"), "{}", p.detail);
}
