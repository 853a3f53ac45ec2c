//! The other limits on a real socket: per-client and global caps, the TLS
//! handshake deadline, the keep-alive idle timeout, and a certificate
//! reload seen by new connections.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod support;

use std::net::Ipv4Addr;
use std::time::Duration;

use appliance_web::conns::Stats;
use appliance_web::limits::Limits;
use tokio::io::AsyncWriteExt;

const A: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_client_cap_closes_the_extra_connection_and_serves_others() {
    let limits = Limits {
        per_client: 4,
        ..Limits::default()
    };
    let server = support::start("per-client", limits).await;
    let tracker = server.tracker.clone();
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(support::tcp_from(A, server.addr).await.unwrap());
    }
    assert!(support::wait_until(Duration::from_secs(2), || tracker.open_from(A.into()) == 4).await);

    // The fifth from the same address is closed at once, before any TLS.
    let mut fifth = support::tcp_from(A, server.addr).await.unwrap();
    let closed = support::closed_within(&mut fifth, Duration::from_secs(2)).await;
    assert!(closed.is_some(), "the fifth connection stayed open");
    assert_eq!(Stats::get(&tracker.stats.refused_per_client), 1);
    assert_eq!(tracker.open_from(A.into()), 4);

    // Another client is served meanwhile.
    let page = support::get(B, server.addr, "/healthz").await.unwrap();
    assert_eq!(page.status, "HTTP/1.1 200 OK");

    // A freed place can be taken again.
    drop(held.pop());
    assert!(support::wait_until(Duration::from_secs(2), || tracker.open_from(A.into()) == 3).await);
    let page = support::get(A, server.addr, "/healthz").await.unwrap();
    assert_eq!(page.status, "HTTP/1.1 200 OK");
    assert_eq!(Stats::get(&tracker.stats.refused_per_client), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_global_cap_closes_connections_beyond_it() {
    let limits = Limits {
        global: 3,
        ..Limits::default()
    };
    let server = support::start("global", limits).await;
    let tracker = server.tracker.clone();
    let mut held = Vec::new();
    for i in 0..3 {
        let from = Ipv4Addr::new(127, 0, 1, 1 + i);
        held.push(support::tcp_from(from, server.addr).await.unwrap());
    }
    assert!(support::wait_until(Duration::from_secs(2), || tracker.open_total() == 3).await);
    let mut extra = support::tcp_from(Ipv4Addr::new(127, 0, 1, 9), server.addr)
        .await
        .unwrap();
    assert!(support::closed_within(&mut extra, Duration::from_secs(2))
        .await
        .is_some());
    assert_eq!(Stats::get(&tracker.stats.refused_global), 1);
    drop(held);
    assert!(support::wait_until(Duration::from_secs(2), || tracker.open_total() == 0).await);
    let page = support::get(A, server.addr, "/").await.unwrap();
    assert_eq!(page.status, "HTTP/1.1 200 OK");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handshake_deadline_closes_silent_and_trickling_connections() {
    let limits = Limits {
        handshake: Duration::from_secs(2),
        ..Limits::default()
    };
    let server = support::start("handshake", limits).await;
    let tracker = server.tracker.clone();
    // One says nothing; one sends the first bytes of a TLS record, one
    // every 500 ms, and never finishes its ClientHello.
    let mut silent = support::tcp_from(A, server.addr).await.unwrap();
    let mut trickler = support::tcp_from(B, server.addr).await.unwrap();
    let trickle = tokio::spawn(async move {
        let start = tokio::time::Instant::now();
        for byte in [0x16u8, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc] {
            if trickler.write_all(&[byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let rest = support::closed_within(&mut trickler, Duration::from_secs(10)).await;
        rest.map(|_| start.elapsed())
    });
    let silent_closed = support::closed_within(&mut silent, Duration::from_secs(10))
        .await
        .expect("the silent connection was closed");
    let trickler_closed = trickle.await.unwrap().expect("the trickler was closed");
    for (what, t) in [("silent", silent_closed), ("trickling", trickler_closed)] {
        assert!(
            t >= Duration::from_millis(1800) && t <= Duration::from_secs(4),
            "{what} connection closed after {t:?}, deadline 2 s"
        );
    }
    // The socket closes as the timed-out handshake is dropped, a moment
    // before the server's task counts it: wait for the count briefly.
    assert!(
        support::wait_until(Duration::from_secs(2), || {
            Stats::get(&tracker.stats.handshake_timeouts) == 2
        })
        .await,
        "handshake timeouts counted: {}",
        Stats::get(&tracker.stats.handshake_timeouts)
    );
    // A normal client still gets through.
    let page = support::get(A, server.addr, "/healthz").await.unwrap();
    assert_eq!(page.status, "HTTP/1.1 200 OK");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_after_the_head_deadline() {
    let limits = Limits {
        head: Duration::from_secs(2),
        ..Limits::default()
    };
    let server = support::start("idle", limits).await;
    let tcp = support::tcp_from(A, server.addr).await.unwrap();
    let (stream, _) = support::tls(tcp).await.unwrap();
    let (mut reader, mut writer) = tokio::io::split(stream);
    writer
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    // The response arrives and the connection stays open (keep-alive) …
    let mut buf = [0u8; 1024];
    let n = tokio::io::AsyncReadExt::read(&mut reader, &mut buf)
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    assert!(text.ends_with("ok\n"), "{text}");
    // … until no next request has come for the head deadline.
    let idle = support::closed_within(&mut reader, Duration::from_secs(10))
        .await
        .expect("the idle connection was closed");
    assert!(
        idle >= Duration::from_millis(1800) && idle <= Duration::from_secs(4),
        "closed after {idle:?}, deadline 2 s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reloaded_certificate_is_served_to_new_connections() {
    let server = support::start("reload", Limits::default()).await;
    let before = support::get(A, server.addr, "/").await.unwrap();
    assert_eq!(before.cert_sha256, server.certs.current().cert_sha256);
    assert!(before.text.contains(&before.cert_sha256));

    // A connection opened before the reload.
    let tcp = support::tcp_from(A, server.addr).await.unwrap();
    let (mut old, old_cert) = support::tls(tcp).await.unwrap();
    assert_eq!(
        appliance_web::certs::colon_hex_sha256(&old_cert),
        before.cert_sha256
    );

    support::write_pair(&server.dir);
    let id = server.certs.reload().expect("reload");
    let after = support::get(A, server.addr, "/").await.unwrap();
    assert_ne!(after.cert_sha256, before.cert_sha256);
    assert_eq!(after.cert_sha256, id.cert_sha256);
    assert!(
        after.text.contains(&id.cert_sha256),
        "the page shows the new fingerprint"
    );
    assert!(after.text.contains(&id.spki_sha256));
    assert!(!after.text.contains(&before.cert_sha256));

    // The older connection keeps working.
    old.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    let _ = tokio::io::AsyncReadExt::read_to_string(&mut old, &mut text).await;
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_with_too_many_fields_gets_431() {
    let limits = Limits::default();
    let fields = limits.headers + 1;
    let server = support::start("fields", limits).await;
    let tcp = support::tcp_from(A, server.addr).await.unwrap();
    let (mut stream, _) = support::tls(tcp).await.unwrap();
    let mut head = String::from("GET / HTTP/1.1\r\nHost: localhost\r\n");
    for i in 0..fields {
        head.push_str(&format!("X-Field-{i}: {i}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut text = String::new();
    let _ = tokio::io::AsyncReadExt::read_to_string(&mut stream, &mut text).await;
    assert!(
        text.starts_with("HTTP/1.1 431 Request Header Fields Too Large"),
        "{text}"
    );
}
