use super::*;

fn temp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("qt-appl-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn records_for_dhcp_and_manual() {
    let d = handover::Handover::parse(&handover_json(true, "fw-1").unwrap()).unwrap();
    assert_eq!(d.network.mode, handover::NetMode::Dhcp);
    assert_eq!(d.network.address, None);
    assert_eq!(d.network.hostname, "fw-1");
    assert_eq!(d.network.mac.to_string(), "52:54:00:12:34:56");
    let m = handover::Handover::parse(&handover_json(false, "fw-2").unwrap()).unwrap();
    assert_eq!(m.network.mode, handover::NetMode::Manual);
    assert_eq!(m.network.address.unwrap().to_string(), "10.0.2.15/24");
    assert_eq!(m.network.gateway, Some(Ipv4Addr::new(10, 0, 2, 2)));
}

#[test]
fn test_disk_has_appboot_with_the_record_and_the_rootfs() {
    let dir = temp("disk");
    let rootfs: Vec<u8> = (0..(1u32 << 20)).map(|i| (i % 251) as u8).collect();
    fs::write(dir.join("rootfs.img"), &rootfs).unwrap();
    let json = handover_json(true, "fw-disk").unwrap();
    build_disk(&dir.join("rootfs.img"), &json, &dir.join("disk.img")).unwrap();

    let mut f = File::open(dir.join("disk.img")).unwrap();
    let mbr = mbrman::MBR::read_from(&mut f, 512).unwrap();
    let p1 = &mbr[1];
    let p2 = &mbr[2];
    assert_eq!(
        (p1.sys, p1.starting_lba, p1.sectors),
        (0x0C, 2048, (48 << 20) / 512)
    );
    assert_eq!((p2.sys, p2.starting_lba), (0x83, 2048 + (48 << 20) / 512));
    assert_eq!(p2.sectors as usize * 512, rootfs.len());

    let disk = fs::read(dir.join("disk.img")).unwrap();
    let start = p1.starting_lba as usize * 512;
    let boot = &disk[start..start + p1.sectors as usize * 512];
    assert_eq!(&boot[0x47..0x52], b"APPBOOT    ", "FAT32 label at 0x47");
    let fs = fatfs::FileSystem::new(Cursor::new(boot.to_vec()), fatfs::FsOptions::new()).unwrap();
    assert_eq!(fs.fat_type(), fatfs::FatType::Fat32);
    let mut text = String::new();
    fs.root_dir()
        .open_file("handover/handover.json")
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, json);
    let data_start = p2.starting_lba as usize * 512;
    assert!(disk[data_start..] == rootfs[..]);
    fs::remove_dir_all(&dir).unwrap();
}

/// A one-thread TLS server with a fresh self-signed certificate; answers
/// `n` connections with a fixed page. Returns (port, fingerprint hex).
fn tls_server(n: usize) -> (u16, String) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let der = ck.cert.der().to_vec();
    let fp: String = Sha256::digest(&der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(der)],
            rustls::pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into()),
        )
        .unwrap();
    let cfg = Arc::new(cfg);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for _ in 0..n {
            let Ok((tcp, _)) = listener.accept() else {
                return;
            };
            let conn = rustls::ServerConnection::new(Arc::clone(&cfg)).unwrap();
            let mut s = rustls::StreamOwned::new(conn, tcp);
            let mut buf = [0u8; 1024];
            if s.read(&mut buf).is_ok() {
                let _ = s.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
                );
                s.conn.send_close_notify();
                let _ = s.flush();
            }
        }
    });
    (port, fp)
}

#[test]
fn pinned_client_accepts_only_the_printed_certificate() {
    let (port, fp) = tls_server(3);
    let page = https_get(port, &fp).unwrap();
    assert!(
        page.starts_with("HTTP/1.1 200 OK") && page.ends_with("hi"),
        "{page}"
    );
    // The colon form (as printed on the console) works too.
    let colons = fp
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).to_uppercase())
        .collect::<Vec<_>>()
        .join(":");
    assert!(https_get(port, &colons).is_ok());
    let wrong = format!(
        "{}{}",
        if fp.starts_with('0') { "1" } else { "0" },
        &fp[1..]
    );
    let err = format!("{:#}", https_get(port, &wrong).unwrap_err());
    assert!(err.contains("not the pinned one"), "{err}");
    assert!(PinnedCert::new("abcd").is_err());
}

#[test]
fn appliance_scenarios_are_listed_and_need_no_iso() {
    let all = crate::scenario::all();
    for name in [
        "appliance-firstboot",
        "appliance-firstboot-manual",
        "appliance-bad-record",
    ] {
        let s = all.iter().find(|s| s.name == name).unwrap();
        assert!(!s.needs_iso() && s.needs_appliance(), "{name}");
    }
    // The installer's boot and flow scenarios need the ISO, not the appliance.
    assert!(all
        .iter()
        .filter(|s| !matches!(s.script, Script::Custom(_)))
        .all(|s| s.needs_iso() && !s.needs_appliance()));
}
