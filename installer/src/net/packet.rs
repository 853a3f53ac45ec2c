//! DHCPv4 messages the client sends (DISCOVER, REQUEST) and the replies it
//! accepts (OFFER, ACK, NAK), built and parsed with `dhcproto`.
//!
//! Every request sets the BOOTP broadcast flag (0x8000): the client has no
//! address yet, so a server that unicasts the reply to `yiaddr` would only
//! reach us through the AF_PACKET socket; with the flag it broadcasts, which
//! both receive paths see.

use std::net::Ipv4Addr;

use dhcproto::v4::{DhcpOption, Flags, HType, Message, MessageType, Opcode, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable};

/// Options asked for in option 55, in this order.
pub const PARAMETER_REQUEST: [u8; 14] = [1, 3, 6, 12, 15, 26, 28, 42, 51, 54, 58, 59, 119, 121];

/// BOOTP messages are at least 300 bytes (RFC 1542 §2.1); some relays drop shorter ones.
pub const BOOTP_MIN_LEN: usize = 300;

/// Errors building a DHCP message.
#[derive(Debug, thiserror::Error)]
pub enum PacketError {
    /// dhcproto could not encode the message.
    #[error("cannot encode the DHCP {kind}: {source}")]
    Encode {
        /// DISCOVER or REQUEST.
        kind: &'static str,
        /// The encoder's error.
        source: dhcproto::error::EncodeError,
    },
}

fn base(xid: u32, mac: [u8; 6], secs: u16, kind: MessageType) -> Message {
    let z = Ipv4Addr::UNSPECIFIED;
    let mut msg = Message::new_with_id(xid, z, z, z, z, &mac);
    msg.set_opcode(Opcode::BootRequest)
        .set_htype(HType::Eth)
        .set_secs(secs)
        .set_flags(Flags::default().set_broadcast());
    let opts = msg.opts_mut();
    opts.insert(DhcpOption::MessageType(kind));
    // Option 61: hardware type 1 (Ethernet) followed by the MAC (RFC 2132 §9.14).
    let mut client_id = vec![1u8];
    client_id.extend_from_slice(&mac);
    opts.insert(DhcpOption::ClientIdentifier(client_id));
    opts.insert(DhcpOption::ParameterRequestList(
        PARAMETER_REQUEST
            .iter()
            .map(|&c| OptionCode::from(c))
            .collect(),
    ));
    msg
}

/// A DHCPDISCOVER from `mac` with transaction id `xid`, `secs` seconds into the exchange.
pub fn discover(xid: u32, mac: [u8; 6], secs: u16) -> Message {
    base(xid, mac, secs, MessageType::Discover)
}

/// A DHCPREQUEST (SELECTING state) for `offered` from the server `server`.
pub fn request(xid: u32, mac: [u8; 6], secs: u16, offered: Ipv4Addr, server: Ipv4Addr) -> Message {
    let mut msg = base(xid, mac, secs, MessageType::Request);
    msg.opts_mut()
        .insert(DhcpOption::RequestedIpAddress(offered));
    msg.opts_mut().insert(DhcpOption::ServerIdentifier(server));
    msg
}

/// Encodes `msg`, padded with zeros to [`BOOTP_MIN_LEN`].
pub fn encode(msg: &Message) -> Result<Vec<u8>, PacketError> {
    let kind = match msg.opts().msg_type() {
        Some(MessageType::Request) => "REQUEST",
        _ => "DISCOVER",
    };
    let mut bytes = msg
        .to_vec()
        .map_err(|source| PacketError::Encode { kind, source })?;
    if bytes.len() < BOOTP_MIN_LEN {
        bytes.resize(BOOTP_MIN_LEN, 0);
    }
    Ok(bytes)
}

/// What kind of server reply a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    /// DHCPOFFER.
    Offer,
    /// DHCPACK.
    Ack,
    /// DHCPNAK.
    Nak,
}

/// A server reply addressed to this client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// OFFER, ACK or NAK.
    pub kind: ReplyKind,
    /// The server identifier (option 54), or `siaddr` when absent.
    pub server: Ipv4Addr,
    /// The offered or acknowledged address.
    pub yiaddr: Ipv4Addr,
    /// The whole message, for its options.
    pub message: Message,
}

/// Options whose length dhcproto's decoder takes on trust (a debug
/// assertion, or `len - n` that underflows): code, shortest and longest
/// value after consecutive parts are joined (RFC 3396), as it does.
const TRUSTED_LENGTHS: [(u8, usize, usize); 8] = [
    (80, 0, 0),           // rapid commit
    (81, 3, usize::MAX),  // client FQDN: flags, two rcodes, name
    (94, 3, 3),           // client network interface
    (151, 1, usize::MAX), // bulk lease query status: code, text
    (152, 4, 4),          // bulk lease query times
    (153, 4, 4),
    (154, 4, 4),
    (155, 4, 4),
];

/// Whether every option in the options area (from offset 240) that
/// dhcproto would decode unchecked has a length it can take. A packet
/// whose options run past its end is left to the decoder, which refuses it.
fn options_fit(bytes: &[u8]) -> bool {
    let fits = |code: u8, len: usize| {
        TRUSTED_LENGTHS
            .iter()
            .find(|(c, _, _)| *c == code)
            .is_none_or(|(_, min, max)| (*min..=*max).contains(&len))
    };
    let mut rest = bytes.get(240..).unwrap_or(&[]);
    let mut run: Option<(u8, usize)> = None;
    while let Some((&code, tail)) = rest.split_first() {
        if code == 0 || code == 255 {
            // Pad and end close a run of parts.
            if let Some((c, len)) = run.take() {
                if !fits(c, len) {
                    return false;
                }
            }
            if code == 255 {
                return true;
            }
            rest = tail;
            continue;
        }
        let Some((&len, value)) = tail.split_first() else {
            break;
        };
        let len = usize::from(len);
        run = match run {
            Some((c, total)) if c == code => Some((c, total + len)),
            Some((c, total)) if !fits(c, total) => return false,
            _ => Some((code, len)),
        };
        rest = value.get(len..).unwrap_or(&[]);
    }
    run.is_none_or(|(c, len)| fits(c, len))
}

/// Parses `bytes` as a reply to transaction `xid` from `mac`; `None` when
/// it is not a DHCP reply for us (other clients' traffic is normal) or its
/// options would trip the decoder.
pub fn parse_reply(bytes: &[u8], xid: u32, mac: [u8; 6]) -> Option<Reply> {
    if !options_fit(bytes) {
        return None;
    }
    let message = Message::decode(&mut Decoder::new(bytes)).ok()?;
    if message.opcode() != Opcode::BootReply || message.xid() != xid {
        return None;
    }
    // The MAC is the first 6 bytes of the 16-byte chaddr field (offset 28).
    // Not `Message::chaddr()`: it slices by the packet's `hlen` and panics
    // when a reply claims more than 16 bytes (any host on the link can send
    // one).
    if bytes.get(28..34)? != mac || !(6..=16).contains(&message.hlen()) {
        return None;
    }
    let kind = match message.opts().msg_type()? {
        MessageType::Offer => ReplyKind::Offer,
        MessageType::Ack => ReplyKind::Ack,
        MessageType::Nak => ReplyKind::Nak,
        _ => return None,
    };
    let server = match message.opts().get(OptionCode::ServerIdentifier) {
        Some(DhcpOption::ServerIdentifier(ip)) => *ip,
        _ => message.siaddr(),
    };
    Some(Reply {
        kind,
        server,
        yiaddr: message.yiaddr(),
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x02, 0, 0, 0xaa, 0xbb, 0xcc];

    /// Finds option `code` in the options area of an encoded message (from 0xF0).
    fn option(bytes: &[u8], code: u8) -> Option<&[u8]> {
        let mut i = 240;
        while i < bytes.len() {
            match bytes[i] {
                0 => i += 1,
                255 => return None,
                c => {
                    let len = bytes[i + 1] as usize;
                    if c == code {
                        return Some(&bytes[i + 2..i + 2 + len]);
                    }
                    i += 2 + len;
                }
            }
        }
        None
    }

    #[test]
    fn a_reply_whose_hardware_address_is_longer_than_its_field_is_ignored() {
        // Found by the dhcp fuzz target: `hlen` 0x61 in a reply made
        // dhcproto's chaddr() slice past its 16 bytes and panic.
        // The fuzzer's input, 241 bytes: these 70, zeros, 0x12 at 233, 0x34 at 240.
        let mut bytes = hex::decode(
            "026161616161616102020106001234567800008000000000000a000201000011fb00\
             06000f0a0002020000000052540012345600000000000000000000000000000000000000",
        )
        .unwrap();
        bytes.resize(241, 0);
        bytes[233] = 0x12;
        bytes[240] = 0x34;
        assert_eq!(bytes[2], 0x61, "hlen");
        // The target answers for the transaction and MAC the packet names.
        let xid = u32::from_be_bytes([0x61; 4]);
        let mac = [0x01, 0x00, 0x00, 0x11, 0xfb, 0x00];
        assert_eq!(parse_reply(&bytes, xid, mac), None);
    }

    /// A reply header (op 2, Ethernet, xid 0, no MAC), the magic cookie and
    /// these options.
    fn with_options(options: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 240];
        b[0] = 2;
        b[1] = 1;
        b[2] = 6;
        b[236..240].copy_from_slice(&[99, 130, 83, 99]);
        b.extend_from_slice(options);
        b
    }

    #[test]
    fn options_the_decoder_takes_on_trust_must_have_their_length() {
        // Found by the dhcp fuzz target: option 153 with 0 bytes and option
        // 81 with 1 byte tripped dhcproto's debug assertions (and `len - 3`).
        let ack = [53, 1, 5];
        for bad in [
            &[153u8, 0][..],
            &[81, 1, 0],
            &[80, 1, 0],
            &[94, 2, 0, 0],
            &[151, 0],
        ] {
            let b = with_options(&[&ack[..], bad, &[255]].concat());
            assert!(!options_fit(&b), "{bad:?}");
            assert_eq!(parse_reply(&b, 0, [0; 6]), None, "{bad:?}");
        }
        // Parts of one option are joined before the length counts.
        assert!(options_fit(&with_options(&[81, 1, 0, 81, 2, 0, 0, 255])));
        assert!(!options_fit(&with_options(&[
            81, 1, 0, 0, 81, 2, 0, 0, 255
        ])));
        assert!(options_fit(&with_options(&[
            153, 4, 0, 0, 0, 1, 80, 0, 255
        ])));
        // Without an end option, and cut short: left to the decoder.
        assert!(options_fit(&with_options(&[53, 1, 5, 12, 9, b'a'])));
        assert!(!options_fit(&with_options(&[53, 1, 5, 152, 2, 0, 0])));
    }

    #[test]
    fn discover_golden_fields() {
        let b = encode(&discover(0x1234_5678, MAC, 3)).unwrap();
        assert_eq!(b.len(), BOOTP_MIN_LEN); // padded to the BOOTP minimum
        assert_eq!(b[0], 1); // 0x00: op BOOTREQUEST
        assert_eq!(b[1], 1); // 0x01: htype Ethernet
        assert_eq!(b[2], 6); // 0x02: hlen
        assert_eq!(&b[4..8], &[0x12, 0x34, 0x56, 0x78]); // 0x04: xid
        assert_eq!(&b[8..10], &[0, 3]); // 0x08: secs
        assert_eq!(&b[10..12], &[0x80, 0x00]); // 0x0A: flags, broadcast bit set
        assert_eq!(&b[12..28], &[0; 16]); // 0x0C: ciaddr, yiaddr, siaddr, giaddr all 0
        assert_eq!(&b[28..34], &MAC); // 0x1C: chaddr
        assert_eq!(&b[236..240], &[99, 130, 83, 99]); // 0xEC: magic cookie
        assert_eq!(option(&b, 53), Some(&[1u8][..])); // option 53: DHCPDISCOVER
        assert_eq!(option(&b, 61), Some(&[1, 2, 0, 0, 0xaa, 0xbb, 0xcc][..])); // option 61: type 1 + MAC
        let prl = option(&b, 55).unwrap(); // option 55: parameter request list
        assert_eq!(prl, &PARAMETER_REQUEST[..]);
        assert_eq!(option(&b, 50), None); // no requested address in a DISCOVER
    }

    #[test]
    fn request_golden_fields() {
        let offered = Ipv4Addr::new(192, 0, 2, 50);
        let server = Ipv4Addr::new(192, 0, 2, 1);
        let b = encode(&request(7, MAC, 0, offered, server)).unwrap();
        assert_eq!(&b[10..12], &[0x80, 0x00]); // 0x0A: broadcast flag
        assert_eq!(&b[12..16], &[0; 4]); // 0x0C: ciaddr stays 0 in SELECTING
        assert_eq!(option(&b, 53), Some(&[3u8][..])); // option 53: DHCPREQUEST
        assert_eq!(option(&b, 50), Some(&[192, 0, 2, 50][..])); // option 50: requested address
        assert_eq!(option(&b, 54), Some(&[192, 0, 2, 1][..])); // option 54: server identifier
    }

    fn reply(kind: MessageType, xid: u32, mac: [u8; 6]) -> Vec<u8> {
        let z = Ipv4Addr::UNSPECIFIED;
        let mut m = Message::new_with_id(xid, z, Ipv4Addr::new(192, 0, 2, 50), z, z, &mac);
        m.set_opcode(Opcode::BootReply);
        m.opts_mut().insert(DhcpOption::MessageType(kind));
        m.opts_mut()
            .insert(DhcpOption::ServerIdentifier(Ipv4Addr::new(192, 0, 2, 1)));
        m.to_vec().unwrap()
    }

    #[test]
    fn parses_offer_ack_and_nak() {
        for (t, k) in [
            (MessageType::Offer, ReplyKind::Offer),
            (MessageType::Ack, ReplyKind::Ack),
            (MessageType::Nak, ReplyKind::Nak),
        ] {
            let r = parse_reply(&reply(t, 9, MAC), 9, MAC).unwrap();
            assert_eq!(r.kind, k);
            assert_eq!(r.server, Ipv4Addr::new(192, 0, 2, 1));
            assert_eq!(r.yiaddr, Ipv4Addr::new(192, 0, 2, 50));
        }
    }

    #[test]
    fn ignores_other_transactions_clients_and_requests() {
        assert!(parse_reply(&reply(MessageType::Offer, 8, MAC), 9, MAC).is_none());
        let other = [2, 0, 0, 0, 0, 1];
        assert!(parse_reply(&reply(MessageType::Offer, 9, other), 9, MAC).is_none());
        // Our own DISCOVER seen on the wire is a BOOTREQUEST, not a reply.
        let own = encode(&discover(9, MAC, 0)).unwrap();
        assert!(parse_reply(&own, 9, MAC).is_none());
        assert!(parse_reply(&[1, 2, 3], 9, MAC).is_none());
    }
}
