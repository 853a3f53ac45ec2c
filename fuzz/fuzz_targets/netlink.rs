//! Netlink answers as the installer reads them: a datagram split into
//! messages (`split`), attributes (`attrs`), links and IPv4 addresses.
#![no_main]

use installer::net::netlink::{self, Addr, Link};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(replies) = netlink::split(data) else {
        return;
    };
    for r in &replies {
        assert!(r.payload.len() <= data.len());
        let _ = netlink::error_code(&r.payload);
        if let Some(link) = Link::parse(&r.payload) {
            let _ = (link.is_up(), link.mac_string());
        }
        let _ = Addr::parse(&r.payload);
        for (_, attr) in netlink::attrs(&r.payload) {
            assert!(attr.len() <= r.payload.len());
        }
    }
});
