//! DHCP replies as the client handles them: dhcproto's decoder behind
//! `installer::net::packet::parse_reply`, then an ACK turned into a network
//! configuration (`installer::net::lease::from_ack`) and the files rendered
//! from it.
#![no_main]

use installer::net::{lease, packet, render};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Answer for whatever transaction and MAC the packet names, so every
    // decodable reply reaches the lease code (the real client drops the
    // others before looking further).
    let (Some(xid), Some(mac)) = (data.get(4..8), data.get(28..34)) else {
        return;
    };
    let xid = u32::from_be_bytes(xid.try_into().expect("4 bytes"));
    let mac: [u8; 6] = mac.try_into().expect("6 bytes");
    let Some(reply) = packet::parse_reply(data, xid, mac) else {
        return;
    };
    if reply.kind != packet::ReplyKind::Ack {
        return;
    }
    match lease::from_ack("eth0", &reply.message, reply.server) {
        Ok(l) => {
            let c = &l.config;
            assert!(!c.address.addr.is_unspecified());
            assert!(c.address.prefix <= 32);
            assert!(c.dns.len() <= lease::MAX_DNS);
            // What goes into /etc/hosts and resolv.conf is checked text.
            assert!(lease::is_label(&c.hostname), "{:?}", c.hostname);
            assert!(
                c.domain.iter().all(|d| lease::is_domain(d)),
                "{:?}",
                c.domain
            );
            assert!(
                c.search.iter().all(|d| lease::is_domain(d)),
                "{:?}",
                c.search
            );
            let _ = (render::fqdn(c), render::resolv_conf(c), render::hosts(c));
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    let _ = lease::human_duration(u32::from_be_bytes([data[0], data[1], data[2], data[3]]));
});
