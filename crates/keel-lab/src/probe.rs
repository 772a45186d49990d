//! An exact loss probe: sequence-numbered UDP over IPv6. The sender paces
//! packets on a fixed schedule and ends with a few "end" packets carrying its
//! count; the receiver accounts loss from the sequence numbers alone.
//!
//! The functions work in the current network namespace; run them in a site's
//! namespace through a subprocess ([`crate::Lab::exec_in`]).

use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use socket2::{Domain, Protocol, Socket, Type};

use crate::error::{LabError, Result};

/// Longest probe run.
pub const MAX_DURATION: Duration = Duration::from_secs(120);
/// Highest probe rate.
pub const MAX_RATE_PPS: u32 = 100_000;
/// Most packets in one run (bounds the receiver's memory).
pub const MAX_PACKETS: u64 = MAX_RATE_PPS as u64 * 120;
/// Header bytes; the smallest payload.
pub const HEADER_LEN: usize = 40;
/// Largest payload: fits a 1500-byte MTU without fragmentation.
pub const MAX_PAYLOAD: usize = 1452;
/// Loss windows listed in a report (the count of lost packets is always exact).
pub const MAX_LOSS_WINDOWS: usize = 10_000;
/// Receive buffer asked for (bytes).
const RECEIVE_BUFFER: usize = 8 << 20;
/// End packets sent, and their spacing: one lost end packet is harmless.
const END_PACKETS: u32 = 5;
const END_SPACING: Duration = Duration::from_millis(20);
/// How long the receiver keeps listening after the first end packet, for
/// stragglers on other paths.
const LINGER: Duration = Duration::from_millis(250);

const MAGIC: [u8; 4] = *b"KLPB";
const VERSION: u8 = 1;
const KIND_DATA: u8 = 0;
const KIND_END: u8 = 1;

/// One probe packet's header (big-endian on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub kind: u8,
    /// Identifies one sender run; the receiver follows the first it sees.
    pub run: u64,
    /// Data: sequence number. End: number of data packets sent.
    pub seq: u64,
    /// Send time, ns since the Unix epoch.
    pub sent_ns: u64,
    /// The sender's packet interval, ns.
    pub interval_ns: u64,
}

impl Header {
    pub fn encode(&self, buf: &mut [u8]) {
        buf[0..4].copy_from_slice(&MAGIC);
        buf[4] = VERSION;
        buf[5] = self.kind;
        buf[6..8].fill(0);
        buf[8..16].copy_from_slice(&self.run.to_be_bytes());
        buf[16..24].copy_from_slice(&self.seq.to_be_bytes());
        buf[24..32].copy_from_slice(&self.sent_ns.to_be_bytes());
        buf[32..40].copy_from_slice(&self.interval_ns.to_be_bytes());
    }

    /// `None` for anything that is not a probe packet of this version.
    pub fn decode(buf: &[u8]) -> Option<Header> {
        if buf.len() < HEADER_LEN || buf[0..4] != MAGIC || buf[4] != VERSION {
            return None;
        }
        let word = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[i..i + 8]);
            u64::from_be_bytes(b)
        };
        let kind = buf[5];
        (kind == KIND_DATA || kind == KIND_END).then(|| Header {
            kind,
            run: word(8),
            seq: word(16),
            sent_ns: word(24),
            interval_ns: word(32),
        })
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// What the sender did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendReport {
    pub run: u64,
    /// Data packets sent (sequence numbers used), including failed sends.
    pub sent: u64,
    /// Sends the kernel refused (e.g. no route while a link is down); these
    /// count as lost at the receiver.
    pub send_errors: u64,
    pub elapsed_ms: f64,
}

/// What the receiver saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeReport {
    /// Data packets the sender sent (from its end packet, or given, or else
    /// the highest sequence number seen + 1).
    pub sent: u64,
    /// Distinct sequence numbers received (below `sent`).
    pub received: u64,
    pub lost: u64,
    pub duplicates: u64,
    /// Packets that arrived after a higher sequence number.
    pub reordered: u64,
    /// Longest interval between two consecutive arrivals, ms: the loss window
    /// as the receiver felt it.
    pub max_gap_ms: f64,
    /// Runs of lost sequence numbers: (first, last, duration ms by the send
    /// schedule), in order; at most [`MAX_LOSS_WINDOWS`].
    pub loss_windows: Vec<(u64, u64, f64)>,
    /// More loss windows than listed.
    pub loss_windows_truncated: bool,
    /// Whether an end packet arrived (else `sent` is inferred).
    pub end_received: bool,
    /// One-way delay (same clock at both ends: one machine), ms.
    pub delay_min_ms: Option<f64>,
    pub delay_max_ms: Option<f64>,
    pub delay_mean_ms: Option<f64>,
}

/// The receiver's bookkeeping, separate from the socket so that it can be
/// tested with made-up arrivals.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    seen: Vec<u64>,
    unique: u64,
    duplicates: u64,
    reordered: u64,
    max_seq: Option<u64>,
    last_arrival_ms: Option<f64>,
    max_gap_ms: f64,
    interval_ns: u64,
    sent: Option<u64>,
    delay_sum_ms: f64,
    delay_min_ms: Option<f64>,
    delay_max_ms: Option<f64>,
    ignored: u64,
}

impl Tally {
    pub fn new() -> Tally {
        Tally::default()
    }

    /// One data packet: its sequence number, send time (ns since the epoch),
    /// the sender's interval, and its arrival (ms since the receiver started;
    /// `arrival_ns`, ns since the epoch, for the one-way delay).
    pub fn record(
        &mut self,
        seq: u64,
        sent_ns: u64,
        interval_ns: u64,
        arrival_ms: f64,
        arrival_ns: u64,
    ) {
        if seq >= MAX_PACKETS {
            self.ignored += 1;
            return;
        }
        let (word, bit) = ((seq / 64) as usize, seq % 64);
        if self.seen.len() <= word {
            self.seen.resize(word + 1, 0);
        }
        if self.seen[word] & (1 << bit) != 0 {
            self.duplicates += 1;
            return;
        }
        self.seen[word] |= 1 << bit;
        self.unique += 1;
        if self.max_seq.is_some_and(|m| seq < m) {
            self.reordered += 1;
        }
        self.max_seq = Some(self.max_seq.map_or(seq, |m| m.max(seq)));
        if let Some(last) = self.last_arrival_ms {
            self.max_gap_ms = self.max_gap_ms.max(arrival_ms - last);
        }
        self.last_arrival_ms = Some(arrival_ms);
        if interval_ns > 0 {
            self.interval_ns = interval_ns;
        }
        let delay = (arrival_ns as f64 - sent_ns as f64) / 1e6;
        self.delay_sum_ms += delay;
        self.delay_min_ms = Some(self.delay_min_ms.map_or(delay, |d| d.min(delay)));
        self.delay_max_ms = Some(self.delay_max_ms.map_or(delay, |d| d.max(delay)));
    }

    /// The sender's count (from an end packet or given by the caller).
    pub fn set_sent(&mut self, sent: u64) {
        self.sent = Some(sent.min(MAX_PACKETS));
    }

    pub fn sent_known(&self) -> bool {
        self.sent.is_some()
    }

    fn has(&self, seq: u64) -> bool {
        self.seen
            .get((seq / 64) as usize)
            .is_some_and(|w| w & (1 << (seq % 64)) != 0)
    }

    pub fn report(&self) -> ProbeReport {
        let sent = self
            .sent
            .unwrap_or_else(|| self.max_seq.map_or(0, |m| m + 1));
        let interval_ms = self.interval_ns as f64 / 1e6;
        let mut received = 0;
        let mut windows = Vec::new();
        let mut truncated = false;
        let mut run_start = None;
        for seq in 0..=sent {
            let got = seq < sent && self.has(seq);
            if got {
                received += 1;
            }
            match (run_start, seq < sent && !got) {
                (None, true) => run_start = Some(seq),
                (Some(first), false) => {
                    if windows.len() < MAX_LOSS_WINDOWS {
                        let last = seq - 1;
                        windows.push((first, last, (last - first + 1) as f64 * interval_ms));
                    } else {
                        truncated = true;
                    }
                    run_start = None;
                }
                _ => {}
            }
        }
        ProbeReport {
            sent,
            received,
            lost: sent - received,
            duplicates: self.duplicates,
            reordered: self.reordered,
            max_gap_ms: self.max_gap_ms,
            loss_windows: windows,
            loss_windows_truncated: truncated,
            end_received: false,
            delay_min_ms: self.delay_min_ms,
            delay_max_ms: self.delay_max_ms,
            delay_mean_ms: (self.unique > 0).then(|| self.delay_sum_ms / self.unique as f64),
        }
    }
}

fn probe_io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> LabError {
    let what = what.into();
    move |source| LabError::Socket {
        what: format!("probe: {what}"),
        source,
    }
}

/// An unconnected UDP socket on any address (so that ICMP errors do not
/// fail later sends), with the traffic class set from `dscp`.
fn sender_socket(dscp: Option<u8>) -> Result<Socket> {
    let socket = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))
        .map_err(probe_io("UDP socket"))?;
    if let Some(d) = dscp {
        // Traffic class = DSCP << 2 (ECN bits zero).
        socket
            .set_tclass_v6(u32::from(d) << 2)
            .map_err(probe_io("setting the traffic class"))?;
    }
    let any = SocketAddr::from(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, 0, 0, 0));
    socket.bind(&any.into()).map_err(probe_io("bind"))?;
    Ok(socket)
}

/// Sends `rate_pps × duration` sequence-numbered packets to `dst` on a fixed
/// schedule, then the end packets. `dscp` sets the IPv6 traffic class.
pub fn send(
    dst: SocketAddrV6,
    rate_pps: u32,
    duration: Duration,
    dscp: Option<u8>,
    payload_len: usize,
) -> Result<SendReport> {
    if rate_pps == 0 || rate_pps > MAX_RATE_PPS {
        return Err(LabError::ProbeParam(format!(
            "rate must be 1..={MAX_RATE_PPS} packets/s, not {rate_pps}"
        )));
    }
    if duration.is_zero() || duration > MAX_DURATION {
        return Err(LabError::ProbeParam(format!(
            "duration must be above 0 and at most {} s, not {:?}",
            MAX_DURATION.as_secs(),
            duration
        )));
    }
    if !(HEADER_LEN..=MAX_PAYLOAD).contains(&payload_len) {
        return Err(LabError::ProbeParam(format!(
            "payload must be {HEADER_LEN}..={MAX_PAYLOAD} bytes, not {payload_len}"
        )));
    }
    if dscp.is_some_and(|d| d > 63) {
        return Err(LabError::ProbeParam(format!(
            "DSCP must be 0..=63, not {}",
            dscp.unwrap_or_default()
        )));
    }
    let socket: UdpSocket = sender_socket(dscp)?.into();
    let count =
        ((f64::from(rate_pps) * duration.as_secs_f64()).round() as u64).clamp(1, MAX_PACKETS);
    let interval = Duration::from_secs(1) / rate_pps;
    let interval_ns = u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX);
    let run = now_ns() ^ (u64::from(std::process::id()) << 32);
    let mut buf = vec![0u8; payload_len];
    let mut errors = 0u64;
    let start = Instant::now();
    for seq in 0..count {
        // Scheduled, not relative to the previous send: a late packet does
        // not shift the rest, so the rate stays exact on average.
        let due = start + interval * u32::try_from(seq).unwrap_or(u32::MAX);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        Header {
            kind: KIND_DATA,
            run,
            seq,
            sent_ns: now_ns(),
            interval_ns,
        }
        .encode(&mut buf);
        // A refused send (no route while a link is down) is a lost packet.
        if socket.send_to(&buf, dst).is_err() {
            errors += 1;
        }
    }
    let elapsed_ms = start.elapsed().as_secs_f64() * 1e3;
    for i in 0..END_PACKETS {
        if i > 0 {
            std::thread::sleep(END_SPACING);
        }
        Header {
            kind: KIND_END,
            run,
            seq: count,
            sent_ns: now_ns(),
            interval_ns,
        }
        .encode(&mut buf);
        let _ = socket.send_to(&buf, dst);
    }
    Ok(SendReport {
        run,
        sent: count,
        send_errors: errors,
        elapsed_ms,
    })
}

/// A bound probe receiver: bind first (so the sender can start once it is
/// known to listen), then [`Receiver::run`].
#[derive(Debug)]
pub struct Receiver {
    socket: UdpSocket,
}

impl Receiver {
    pub fn bind(addr: SocketAddrV6) -> Result<Receiver> {
        let socket = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))
            .map_err(probe_io("UDP socket"))?;
        // A large buffer, so that a busy receiver does not drop what the
        // network delivered (the kernel caps it at net.core.rmem_max; a
        // smaller buffer only matters at high rates, so failure is ignored).
        let _ = socket.set_recv_buffer_size(RECEIVE_BUFFER);
        socket
            .bind(&SocketAddr::from(addr).into())
            .map_err(probe_io(format!("bind {addr}")))?;
        Ok(Receiver {
            socket: socket.into(),
        })
    }

    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.socket.local_addr().map_err(probe_io("local address"))
    }

    /// Counts the first sender run it hears until its end packets (plus a
    /// short linger) or until `until` has passed, whichever is first.
    /// `sent` overrides the sender's count (when the end packets may be lost).
    pub fn run(self, until: Duration, sent: Option<u64>) -> Result<ProbeReport> {
        let until = until.min(MAX_DURATION + Duration::from_secs(60));
        let start = Instant::now();
        let deadline = start + until;
        let mut tally = Tally::new();
        if let Some(s) = sent {
            tally.set_sent(s);
        }
        let mut run = None;
        let mut end_at: Option<Instant> = None;
        let mut buf = [0u8; 2048];
        loop {
            let now = Instant::now();
            let stop = end_at.map_or(deadline, |e| (e + LINGER).min(deadline));
            if now >= stop {
                break;
            }
            self.socket
                .set_read_timeout(Some((stop - now).min(Duration::from_millis(50))))
                .map_err(probe_io("read timeout"))?;
            let n = match self.socket.recv_from(&mut buf) {
                Ok((n, _)) => n,
                Err(e) if crate::error::is_timeout(&e) => {
                    continue;
                }
                Err(e) => return Err(probe_io("receive")(e)),
            };
            let arrival_ms = start.elapsed().as_secs_f64() * 1e3;
            let Some(h) = Header::decode(&buf[..n]) else {
                continue;
            };
            if *run.get_or_insert(h.run) != h.run {
                continue; // another sender's run
            }
            match h.kind {
                KIND_DATA => tally.record(h.seq, h.sent_ns, h.interval_ns, arrival_ms, now_ns()),
                _ => {
                    if sent.is_none() {
                        tally.set_sent(h.seq);
                    }
                    end_at.get_or_insert_with(Instant::now);
                }
            }
        }
        let mut report = tally.report();
        report.end_received = end_at.is_some();
        Ok(report)
    }
}

/// Binds `bind` and receives one run until its end or `until` (see [`Receiver::run`]).
pub fn receive(bind: SocketAddrV6, until: Duration) -> Result<ProbeReport> {
    Receiver::bind(bind)?.run(until, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn feed(t: &mut Tally, arrivals: &[(u64, f64)]) {
        for &(seq, at) in arrivals {
            t.record(seq, seq * 2 * MS, 2 * MS, at, seq * 2 * MS + 5 * MS);
        }
    }

    #[test]
    fn header_round_trip() {
        let h = Header {
            kind: KIND_END,
            run: 7,
            seq: 1 << 40,
            sent_ns: 123,
            interval_ns: 2_000_000,
        };
        let mut buf = [0u8; HEADER_LEN];
        h.encode(&mut buf);
        assert_eq!(Header::decode(&buf), Some(h));
        assert_eq!(Header::decode(&buf[..HEADER_LEN - 1]), None);
        buf[0] = b'X';
        assert_eq!(Header::decode(&buf), None);
    }

    #[test]
    fn no_loss() {
        let mut t = Tally::new();
        feed(
            &mut t,
            &(0..100).map(|s| (s, s as f64 * 2.0)).collect::<Vec<_>>(),
        );
        t.set_sent(100);
        let r = t.report();
        assert_eq!(
            (r.sent, r.received, r.lost, r.duplicates, r.reordered),
            (100, 100, 0, 0, 0)
        );
        assert!(r.loss_windows.is_empty());
        assert!((r.max_gap_ms - 2.0).abs() < 1e-9);
        assert_eq!(r.delay_min_ms, Some(5.0));
        assert_eq!(r.delay_max_ms, Some(5.0));
    }

    #[test]
    fn gaps_reordering_and_duplicates() {
        let mut t = Tally::new();
        // 4 and 6 lost, 2 arrives after 3, 2 again as a duplicate; 10..=19 lost
        // (20 ms at 2 ms per packet), then a 21-ms silence before 20.
        feed(
            &mut t,
            &[
                (0, 0.0),
                (1, 2.0),
                (3, 6.0),
                (2, 6.5),
                (2, 6.6),
                (5, 10.0),
                (7, 14.0),
                (8, 16.0),
                (9, 18.0),
                (20, 40.0),
                (21, 42.0),
            ],
        );
        t.set_sent(23);
        let r = t.report();
        assert_eq!(r.received, 10);
        assert_eq!(r.lost, 13);
        assert_eq!(r.duplicates, 1);
        assert_eq!(r.reordered, 1);
        assert!((r.max_gap_ms - 22.0).abs() < 1e-9);
        assert_eq!(
            r.loss_windows,
            vec![(4, 4, 2.0), (6, 6, 2.0), (10, 19, 20.0), (22, 22, 2.0)]
        );
    }

    #[test]
    fn sent_inferred_without_end_packet() {
        let mut t = Tally::new();
        feed(&mut t, &[(0, 0.0), (2, 4.0)]);
        let r = t.report();
        assert_eq!((r.sent, r.received, r.lost), (3, 2, 1));
        assert_eq!(r.loss_windows, vec![(1, 1, 2.0)]);
        let empty = Tally::new().report();
        assert_eq!((empty.sent, empty.lost, empty.max_gap_ms), (0, 0, 0.0));
    }

    #[test]
    fn everything_lost_is_one_window() {
        let mut t = Tally::new();
        t.set_sent(5);
        let r = t.report();
        assert_eq!(r.lost, 5);
        // No packet arrived, so the interval is unknown: the window has no duration.
        assert_eq!(r.loss_windows, vec![(0, 4, 0.0)]);
    }

    #[test]
    fn bounded_sequence_numbers() {
        let mut t = Tally::new();
        t.record(MAX_PACKETS, 0, 1, 0.0, 0);
        assert_eq!(t.report().received, 0);
    }

    #[test]
    fn rejects_out_of_range_parameters() {
        let dst = SocketAddrV6::new(Ipv6Addr::LOCALHOST, 9, 0, 0);
        let second = Duration::from_secs(1);
        assert!(send(dst, 0, second, None, 64).is_err());
        assert!(send(dst, MAX_RATE_PPS + 1, second, None, 64).is_err());
        assert!(send(dst, 10, MAX_DURATION + second, None, 64).is_err());
        assert!(send(dst, 10, second, None, 10).is_err());
        assert!(send(dst, 10, second, Some(64), 64).is_err());
    }

    #[test]
    fn dscp_sets_the_traffic_class() {
        let Ok(socket) = sender_socket(Some(46)) else {
            eprintln!("SKIP: no IPv6");
            return;
        };
        assert_eq!(socket.tclass_v6().expect("tclass"), 46 << 2);
        let plain = sender_socket(None).expect("socket");
        assert_eq!(plain.tclass_v6().expect("tclass"), 0);
    }

    #[test]
    fn loopback_high_rate_accounting() {
        let Ok(rx) = Receiver::bind(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 0, 0, 0)) else {
            eprintln!("SKIP: no IPv6 loopback");
            return;
        };
        let Ok(SocketAddr::V6(addr)) = rx.local_addr() else {
            panic!("IPv6 receiver");
        };
        let handle = std::thread::spawn(move || rx.run(Duration::from_secs(20), None));
        let sent = send(addr, 20_000, Duration::from_millis(500), None, HEADER_LEN).expect("send");
        let report = handle.join().expect("receiver thread").expect("receive");
        assert_eq!(sent.sent, 10_000);
        // The schedule is never ahead of time.
        assert!(sent.elapsed_ms >= 499.0, "{}", sent.elapsed_ms);
        assert_eq!(report.sent, 10_000);
        assert_eq!(report.received + report.lost, report.sent);
        assert_eq!(report.duplicates, 0);
        eprintln!("20k pps on loopback: lost {} of 10000", report.lost);
    }

    #[test]
    fn loopback_run() {
        // Plain loopback, no root needed: 200 packets at 2000/s.
        let Ok(rx) = Receiver::bind(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 0, 0, 0)) else {
            eprintln!("SKIP: no IPv6 loopback");
            return;
        };
        let Ok(SocketAddr::V6(addr)) = rx.local_addr() else {
            panic!("IPv6 receiver");
        };
        let handle = std::thread::spawn(move || rx.run(Duration::from_secs(10), None));
        let sent = send(addr, 2000, Duration::from_millis(100), Some(46), 100).expect("send");
        let report = handle.join().expect("receiver thread").expect("receive");
        assert_eq!(sent.sent, 200);
        assert_eq!(report.sent, 200);
        assert!(report.end_received);
        assert_eq!(report.lost, 0, "{report:?}");
    }
}
