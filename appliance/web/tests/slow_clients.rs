//! The acceptance point for slow clients, on a real socket with the
//! appliance's own limits: 64 connections that trickle one byte every 5 s
//! do not keep a normal client from getting the page within 1 s, and the
//! head deadline closes them.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod support;

use std::net::Ipv4Addr;
use std::time::Duration;

use appliance_web::conns::Stats;
use appliance_web::limits::Limits;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

const TRICKLERS: usize = 64;
const TRICKLE_EVERY: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_tricklers_do_not_delay_a_normal_client() {
    let limits = Limits::default();
    let head = limits.head;
    let server = support::start("tricklers", limits).await;
    let served = server.certs.current().cert_sha256.clone();

    // Each trickler comes from an address of its own (127.0.0.2 …), as 64
    // hosts would, finishes the TLS handshake, then sends its request head
    // one byte every 5 s. It reports how long after its handshake the
    // server closed it.
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(TRICKLERS);
    let mut tricklers = Vec::new();
    for i in 0..TRICKLERS {
        let from = Ipv4Addr::new(127, 0, 0, 2 + i as u8);
        let addr = server.addr;
        let ready = ready_tx.clone();
        tricklers.push(tokio::spawn(async move {
            let tcp = support::tcp_from(from, addr)
                .await
                .expect("trickler connects");
            let (stream, _) = support::tls(tcp).await.expect("trickler handshake");
            let since = Instant::now();
            let (mut reader, mut writer) = tokio::io::split(stream);
            let head = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
            writer.write_all(&head[..1]).await.expect("first byte");
            ready.send(()).await.expect("report ready");
            let mut next = 1;
            loop {
                tokio::select! {
                    closed = support::closed_within(&mut reader, Duration::from_secs(60)) => {
                        closed.expect("closed within a minute");
                        return since.elapsed();
                    }
                    () = tokio::time::sleep(TRICKLE_EVERY) => {
                        if writer.write_all(&head[next..=next]).await.is_err() {
                            return since.elapsed();
                        }
                        next += 1;
                    }
                }
            }
        }));
    }
    drop(ready_tx);
    let all_ready = async {
        for _ in 0..TRICKLERS {
            ready_rx
                .recv()
                .await
                .expect("a trickler failed before its first byte");
        }
    };
    tokio::time::timeout(Duration::from_secs(10), all_ready)
        .await
        .expect("all tricklers through their handshakes within 10 s");
    let tracker = server.tracker.clone();
    assert!(
        support::wait_until(Duration::from_secs(2), || tracker.open_total() == TRICKLERS).await,
        "the server holds {} connections, not {TRICKLERS}",
        tracker.open_total()
    );

    // The normal client, timed from connect to the last byte of the page.
    let started = Instant::now();
    let page = support::get(Ipv4Addr::LOCALHOST, server.addr, "/")
        .await
        .expect("the normal client is served");
    let took = started.elapsed();
    assert_eq!(page.status, "HTTP/1.1 200 OK");
    assert!(page.text.contains("This appliance is ready for set-up"));
    assert!(
        page.text.contains(&served),
        "the page shows the served fingerprint"
    );
    assert_eq!(page.cert_sha256, served);
    eprintln!("normal client with {TRICKLERS} tricklers connected: {took:?}");
    assert!(
        took < Duration::from_secs(1),
        "the normal client waited {took:?}"
    );
    // The tricklers were still connected while it was served.
    assert!(tracker.open_total() >= TRICKLERS);

    // The head deadline closes every trickler: not before it, and well
    // before the head would be complete (36 bytes at one per 5 s).
    let mut times = Vec::new();
    for t in tricklers {
        times.push(t.await.expect("trickler task"));
    }
    let (first, last) = (
        *times.iter().min().expect("times"),
        *times.iter().max().expect("times"),
    );
    eprintln!("tricklers closed after {first:?} … {last:?} (head deadline {head:?})");
    assert!(
        first >= head - Duration::from_millis(500),
        "closed early: {first:?}"
    );
    assert!(
        last <= head + Duration::from_secs(4),
        "closed late: {last:?}"
    );
    // The socket closes when hyper drops the connection, a moment before
    // the server's task counts the timeout: wait for the count briefly.
    let counted = support::wait_until(Duration::from_secs(2), || {
        Stats::get(&tracker.stats.head_timeouts) == TRICKLERS as u64
    })
    .await;
    assert!(
        counted,
        "every trickler was closed by the head deadline: {} of {TRICKLERS} counted",
        Stats::get(&tracker.stats.head_timeouts)
    );
    assert!(support::wait_until(Duration::from_secs(2), || tracker.open_total() == 0).await);
}
