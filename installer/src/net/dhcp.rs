//! The DHCP client state machine: DISCOVER → OFFER → REQUEST → ACK, with
//! retransmission on an exponential schedule (default 4, 8, 16 s ± 1 s,
//! RFC 2131 §4.1), a total timeout (default 30 s) and NAK → start over.
//!
//! It talks to the network only through [`Transport`] and reads time only
//! through [`Clock`], so the unit tests below drive it with a scripted fake
//! server and a fake clock; [`super::raw::PacketTransport`] is the real
//! transport (AF_PACKET, see [`super::raw`]).
//!
//! Renewal is not implemented yet: the lease is obtained once, and
//! [`super::lease`] warns when it is shorter than 2 h.

use std::io;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use dhcproto::v4::Message;

use super::packet::{self, ReplyKind};

mod error;
pub use error::{plural, DhcpError};

/// Sends and receives DHCP payloads (the UDP data, without IP/UDP headers).
pub trait Transport {
    /// Broadcasts one DHCP message from port 68 to port 67.
    fn send(&mut self, payload: &[u8]) -> io::Result<()>;
    /// Waits at most `timeout` for one datagram to port 68; `Ok(None)` on timeout.
    fn recv(&mut self, timeout: Duration) -> io::Result<Option<Vec<u8>>>;
}

/// A monotonic clock: time since an arbitrary start.
pub trait Clock {
    /// Now.
    fn now(&self) -> Duration;
}

/// The real clock ([`Instant`]-based).
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock(Instant);

impl MonotonicClock {
    /// A clock starting now.
    pub fn new() -> Self {
        MonotonicClock(Instant::now())
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for MonotonicClock {
    fn now(&self) -> Duration {
        self.0.elapsed()
    }
}

/// Timing of the exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpParams {
    /// Waits between retransmissions; after the last one it is repeated.
    pub schedule: Vec<Duration>,
    /// Each wait is varied by up to ± this much (RFC 2131: ±1 s).
    pub jitter: Duration,
    /// The whole exchange gives up after this long.
    pub total: Duration,
}

impl Default for DhcpParams {
    fn default() -> Self {
        DhcpParams {
            schedule: [4, 8, 16].map(Duration::from_secs).to_vec(),
            jitter: Duration::from_secs(1),
            total: Duration::from_secs(30),
        }
    }
}

/// A successful exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acked {
    /// The DHCPACK.
    pub ack: Message,
    /// The server that sent it.
    pub server: Ipv4Addr,
}

/// A small deterministic mixer for the retransmission jitter (not security relevant).
fn mix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn wait_for(params: &DhcpParams, attempt: usize, seed: u64) -> Duration {
    let base = params
        .schedule
        .get(attempt)
        .or(params.schedule.last())
        .copied()
        .unwrap_or(Duration::from_secs(4));
    let j = params.jitter.as_millis() as u64;
    if j == 0 {
        return base;
    }
    let r = mix(seed ^ attempt as u64) % (2 * j + 1);
    (base + Duration::from_millis(r)).saturating_sub(Duration::from_millis(j))
}

enum State {
    Selecting,
    Requesting { offered: Ipv4Addr, server: Ipv4Addr },
}

/// One step the exchange reports through `progress`.
fn say(progress: &mut dyn FnMut(&str), line: String) {
    progress(&line);
}

/// Runs the exchange for `mac`, starting with transaction id `xid`.
pub fn obtain(
    transport: &mut dyn Transport,
    clock: &dyn Clock,
    params: &DhcpParams,
    mac: [u8; 6],
    mut xid: u32,
    progress: &mut dyn FnMut(&str),
) -> Result<Acked, DhcpError> {
    let start = clock.now();
    let deadline = start + params.total;
    let mut state = State::Selecting;
    let mut attempt = 0usize;
    let mut next_send = start;
    let (mut discovers, mut requests, mut naks) = (0u32, 0u32, 0u32);
    let mut last_offer = None;
    loop {
        let now = clock.now();
        if now >= deadline {
            let seconds = params.total.as_secs();
            return Err(match last_offer {
                None => DhcpError::NoOffer { discovers, seconds },
                Some((offered, server)) => DhcpError::NoAck {
                    discovers,
                    requests,
                    naks,
                    offered,
                    server,
                    seconds,
                },
            });
        }
        if now >= next_send {
            // A REQUEST that went unanswered through the whole schedule: start over.
            if matches!(state, State::Requesting { .. }) && attempt > params.schedule.len() {
                say(
                    progress,
                    "no DHCPACK; starting over with DHCPDISCOVER".into(),
                );
                state = State::Selecting;
                attempt = 0;
                xid = xid.wrapping_add(1);
            }
            let secs = (now - start).as_secs().min(u64::from(u16::MAX)) as u16;
            let msg = match state {
                State::Selecting => {
                    discovers += 1;
                    say(progress, format!("DHCPDISCOVER #{discovers}"));
                    packet::discover(xid, mac, secs)
                }
                State::Requesting { offered, server } => {
                    requests += 1;
                    say(progress, format!("DHCPREQUEST for {offered} to {server}"));
                    packet::request(xid, mac, secs, offered, server)
                }
            };
            transport
                .send(&packet::encode(&msg)?)
                .map_err(|source| DhcpError::Io {
                    what: "send",
                    source,
                })?;
            next_send = now + wait_for(params, attempt, u64::from(xid));
            attempt += 1;
        }
        let wait = next_send.min(deadline).saturating_sub(now);
        let Some(bytes) = transport.recv(wait).map_err(|source| DhcpError::Io {
            what: "receive",
            source,
        })?
        else {
            continue;
        };
        let Some(reply) = packet::parse_reply(&bytes, xid, mac) else {
            continue;
        };
        match (&state, reply.kind) {
            (State::Selecting, ReplyKind::Offer) => {
                say(
                    progress,
                    format!("DHCPOFFER of {} from {}", reply.yiaddr, reply.server),
                );
                last_offer = Some((reply.yiaddr, reply.server));
                state = State::Requesting {
                    offered: reply.yiaddr,
                    server: reply.server,
                };
                attempt = 0;
                next_send = clock.now();
            }
            (State::Requesting { server, .. }, ReplyKind::Ack) if reply.server == *server => {
                say(
                    progress,
                    format!("DHCPACK of {} from {}", reply.yiaddr, reply.server),
                );
                return Ok(Acked {
                    server: reply.server,
                    ack: reply.message,
                });
            }
            (State::Requesting { server, .. }, ReplyKind::Nak) if reply.server == *server => {
                naks += 1;
                say(
                    progress,
                    format!("DHCPNAK from {}; starting over", reply.server),
                );
                state = State::Selecting;
                attempt = 0;
                xid = xid.wrapping_add(1);
                next_send = clock.now();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dhcproto::v4::{DhcpOption, MessageType, Opcode, OptionCode};
    use dhcproto::{Decodable, Decoder, Encodable};
    use std::cell::Cell;
    use std::collections::VecDeque;
    use std::rc::Rc;

    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 9];
    const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const OFFERED: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 50);

    #[derive(Clone)]
    struct FakeClock(Rc<Cell<Duration>>);

    impl Clock for FakeClock {
        fn now(&self) -> Duration {
            self.0.get()
        }
    }

    /// A scripted server: `answer` sees every request and returns replies
    /// (with a delay); received requests and their send times are kept.
    struct FakeNet<F: FnMut(&Message, usize) -> Vec<(Duration, Message)>> {
        clock: FakeClock,
        answer: F,
        queue: VecDeque<(Duration, Vec<u8>)>,
        sent: Vec<(Duration, Message)>,
    }

    impl<F: FnMut(&Message, usize) -> Vec<(Duration, Message)>> Transport for FakeNet<F> {
        fn send(&mut self, payload: &[u8]) -> io::Result<()> {
            let msg = Message::decode(&mut Decoder::new(payload)).unwrap();
            let now = self.clock.now();
            for (delay, reply) in (self.answer)(&msg, self.sent.len()) {
                self.queue.push_back((now + delay, reply.to_vec().unwrap()));
            }
            self.sent.push((now, msg));
            Ok(())
        }
        fn recv(&mut self, timeout: Duration) -> io::Result<Option<Vec<u8>>> {
            let now = self.clock.now();
            if let Some((at, _)) = self.queue.front() {
                if *at <= now + timeout {
                    let (at, bytes) = self.queue.pop_front().unwrap();
                    self.clock.0.set(at.max(now));
                    return Ok(Some(bytes));
                }
            }
            self.clock.0.set(now + timeout);
            Ok(None)
        }
    }

    fn reply_to(req: &Message, kind: MessageType, extra: Vec<DhcpOption>) -> Message {
        let z = Ipv4Addr::UNSPECIFIED;
        let yi = if kind == MessageType::Nak { z } else { OFFERED };
        let mut m = Message::new_with_id(req.xid(), z, yi, z, z, &MAC);
        m.set_opcode(Opcode::BootReply);
        m.opts_mut().insert(DhcpOption::MessageType(kind));
        m.opts_mut().insert(DhcpOption::ServerIdentifier(SERVER));
        for o in extra {
            m.opts_mut().insert(o);
        }
        m
    }

    fn kind(m: &Message) -> MessageType {
        m.opts().msg_type().unwrap()
    }

    fn fast() -> DhcpParams {
        DhcpParams {
            schedule: [4, 8, 16].map(Duration::from_secs).to_vec(),
            jitter: Duration::ZERO,
            total: Duration::from_secs(30),
        }
    }

    type Outcome = (
        Result<Acked, DhcpError>,
        Vec<(Duration, Message)>,
        Vec<String>,
    );

    fn run<F: FnMut(&Message, usize) -> Vec<(Duration, Message)>>(
        params: &DhcpParams,
        answer: F,
    ) -> Outcome {
        let clock = FakeClock(Rc::new(Cell::new(Duration::from_secs(100))));
        let mut net = FakeNet {
            clock: clock.clone(),
            answer,
            queue: VecDeque::new(),
            sent: Vec::new(),
        };
        let mut lines = Vec::new();
        let r = obtain(&mut net, &clock, params, MAC, 42, &mut |l| {
            lines.push(l.to_string())
        });
        (r, net.sent, lines)
    }

    #[test]
    fn offer_then_ack() {
        let (r, sent, lines) = run(&fast(), |req, _| {
            let k = match kind(req) {
                MessageType::Discover => MessageType::Offer,
                _ => MessageType::Ack,
            };
            vec![(Duration::from_millis(300), reply_to(req, k, vec![]))]
        });
        let acked = r.unwrap();
        assert_eq!(acked.server, SERVER);
        assert_eq!(acked.ack.yiaddr(), OFFERED);
        assert_eq!(sent.len(), 2);
        assert_eq!(kind(&sent[0].1), MessageType::Discover);
        assert_eq!(kind(&sent[1].1), MessageType::Request);
        // The REQUEST names the offer and its server (options 50 and 54).
        assert_eq!(
            sent[1].1.opts().get(OptionCode::RequestedIpAddress),
            Some(&DhcpOption::RequestedIpAddress(OFFERED))
        );
        assert_eq!(
            sent[1].1.opts().get(OptionCode::ServerIdentifier),
            Some(&DhcpOption::ServerIdentifier(SERVER))
        );
        // The REQUEST goes out as soon as the OFFER arrives.
        assert_eq!(sent[1].0 - sent[0].0, Duration::from_millis(300));
        assert!(sent.iter().all(|(_, m)| m.flags().broadcast()));
        assert_eq!(
            lines,
            vec![
                "DHCPDISCOVER #1",
                "DHCPOFFER of 192.0.2.50 from 192.0.2.1",
                "DHCPREQUEST for 192.0.2.50 to 192.0.2.1",
                "DHCPACK of 192.0.2.50 from 192.0.2.1",
            ]
        );
    }

    #[test]
    fn no_server_backs_off_4_8_16_and_times_out_after_30_s() {
        let (r, sent, _) = run(&fast(), |_, _| vec![]);
        let times: Vec<u64> = sent.iter().map(|(t, _)| t.as_secs() - 100).collect();
        assert_eq!(times, vec![0, 4, 12, 28]);
        assert!(sent.iter().all(|(_, m)| kind(m) == MessageType::Discover));
        let err = r.unwrap_err();
        assert_eq!(
            err.to_string(),
            "sent 4 DISCOVERs over 30 s, no OFFER received"
        );
        let f = err.failure("eth0");
        assert_eq!(f.interface, "eth0");
        assert_eq!(f.tried, "sent 4 DISCOVERs over 30 s, no OFFER received");
        assert_eq!(
            f.hint,
            "no DHCP server answered on eth0 — is the VM's network adapter connected?"
        );
    }

    #[test]
    fn schedule_is_a_parameter_and_the_last_wait_repeats() {
        let params = DhcpParams {
            schedule: vec![Duration::from_millis(100), Duration::from_millis(200)],
            jitter: Duration::ZERO,
            total: Duration::from_millis(750),
        };
        let (r, sent, _) = run(&params, |_, _| vec![]);
        let times: Vec<u128> = sent.iter().map(|(t, _)| t.as_millis() - 100_000).collect();
        assert_eq!(times, vec![0, 100, 300, 500, 700]);
        assert!(matches!(r, Err(DhcpError::NoOffer { discovers: 5, .. })));
    }

    #[test]
    fn jitter_stays_within_one_second() {
        let params = DhcpParams::default();
        for attempt in 0..3 {
            for seed in 0..50u64 {
                let w = wait_for(&params, attempt, seed);
                let base = Duration::from_secs(4 << attempt);
                assert!(w >= base - Duration::from_secs(1) && w <= base + Duration::from_secs(1));
            }
        }
    }

    #[test]
    fn nak_restarts_with_discover_and_a_new_xid() {
        let (r, sent, lines) = run(&fast(), |req, n| {
            let k = match (kind(req), n) {
                (MessageType::Discover, _) => MessageType::Offer,
                (_, 1) => MessageType::Nak,
                _ => MessageType::Ack,
            };
            vec![(Duration::from_millis(10), reply_to(req, k, vec![]))]
        });
        assert!(r.is_ok());
        let kinds: Vec<_> = sent.iter().map(|(_, m)| kind(m)).collect();
        assert_eq!(
            kinds,
            vec![
                MessageType::Discover,
                MessageType::Request,
                MessageType::Discover,
                MessageType::Request
            ]
        );
        assert_ne!(sent[0].1.xid(), sent[2].1.xid());
        assert!(lines
            .iter()
            .any(|l| l == "DHCPNAK from 192.0.2.1; starting over"));
    }

    #[test]
    fn endless_naks_fail_naming_the_refusal() {
        let (r, _, _) = run(&fast(), |req, _| {
            let k = match kind(req) {
                MessageType::Discover => MessageType::Offer,
                _ => MessageType::Nak,
            };
            vec![(Duration::from_secs(1), reply_to(req, k, vec![]))]
        });
        let err = r.unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("192.0.2.1 offered 192.0.2.50 but refused the REQUEST (NAK)"),
            "{text}"
        );
        assert!(err
            .failure("eth0")
            .hint
            .contains("refuses to lease 192.0.2.50"));
    }

    #[test]
    fn offer_without_ack_retransmits_the_request_then_rediscovers() {
        let (r, sent, _) = run(&fast(), |req, _| match kind(req) {
            MessageType::Discover => {
                vec![(Duration::ZERO, reply_to(req, MessageType::Offer, vec![]))]
            }
            _ => vec![],
        });
        let kinds: Vec<_> = sent.iter().map(|(_, m)| kind(m)).collect();
        // REQUEST at 0, 4, 12, 28: the whole schedule, then the deadline.
        assert_eq!(kinds[0], MessageType::Discover);
        assert_eq!(&kinds[1..], &[MessageType::Request; 4]);
        let err = r.unwrap_err();
        assert_eq!(
            err.to_string(),
            "sent 1 DISCOVER and 4 REQUESTs over 30 s; 192.0.2.1 offered 192.0.2.50 but never acknowledged it"
        );
    }

    #[test]
    fn ignores_foreign_and_unexpected_replies() {
        let (r, sent, _) = run(&fast(), |req, _| match kind(req) {
            MessageType::Discover => {
                let mut other = reply_to(req, MessageType::Offer, vec![]);
                other.set_xid(req.xid() ^ 1);
                vec![
                    (Duration::from_millis(1), other),
                    // An ACK while selecting is not for us to take.
                    (
                        Duration::from_millis(2),
                        reply_to(req, MessageType::Ack, vec![]),
                    ),
                    (
                        Duration::from_millis(3),
                        reply_to(req, MessageType::Offer, vec![]),
                    ),
                ]
            }
            _ => vec![(
                Duration::from_millis(1),
                reply_to(req, MessageType::Ack, vec![]),
            )],
        });
        assert!(r.is_ok());
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[1].0 - sent[0].0, Duration::from_millis(3));
    }

    #[test]
    fn transport_errors_become_failures() {
        struct Broken;
        impl Transport for Broken {
            fn send(&mut self, _: &[u8]) -> io::Result<()> {
                Err(io::Error::from_raw_os_error(libc::ENETDOWN))
            }
            fn recv(&mut self, _: Duration) -> io::Result<Option<Vec<u8>>> {
                Ok(None)
            }
        }
        let clock = MonotonicClock::new();
        let err = obtain(&mut Broken, &clock, &fast(), MAC, 1, &mut |_| {}).unwrap_err();
        let f = err.failure("eth3");
        assert!(f.tried.starts_with("dhcp send failed:"), "{}", f.tried);
        assert!(f.hint.contains("could not use eth3"));
    }
}
