//! Link emulation in user space, for kernels without netem: each lab link is
//! a pair of VXLAN devices whose tunnel endpoints live in the lab's wire
//! namespace and point at this relay (in the relay namespace). The relay
//! holds every frame for its link's latency, paces it at the link's rate
//! (tail drop beyond [`QUEUE_LIMIT`] of queueing) and hands it to the other
//! end by rewriting the VNI.
//!
//! Run it in the relay namespace ([`crate::Lab::exec_in_relay`]) with the
//! configuration the lab wrote ([`crate::Lab::relay_config_path`]).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{Ipv6Addr, SocketAddrV6, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{LabError, Result};

/// The VXLAN port, on both sides of the relay.
pub const VXLAN_PORT: u16 = 4789;
/// The wire namespace's underlay address (tunnel endpoints of all links).
pub const WIRE_ADDRESS: Ipv6Addr = Ipv6Addr::new(0xfdff, 0x6b6c, 0, 0, 0, 0, 0, 1);
/// The relay namespace's address.
pub const RELAY_ADDRESS: Ipv6Addr = Ipv6Addr::new(0xfdff, 0x6b6c, 0, 0, 0, 0, 0, 2);
/// Queueing a frame may see before it is dropped (like a router buffer).
pub const QUEUE_LIMIT: Duration = Duration::from_millis(100);
/// Within this of the next departure the relay polls instead of blocking.
const PRECISE_WINDOW: Duration = Duration::from_millis(25);
/// Sleep between polls: the relay's timing resolution.
const POLL_SLICE: Duration = Duration::from_micros(200);
/// VXLAN header bytes before the inner Ethernet frame.
const VXLAN_HEADER: usize = 8;

/// One direction of one link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RelayLeg {
    /// VNI of the sending end's device.
    pub vni_in: u32,
    /// VNI of the receiving end's device.
    pub vni_out: u32,
    pub latency_ms: f64,
    pub rate_bps: f64,
}

/// What the relay does: written by the lab, read by the relay process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RelayConfig {
    pub lab: String,
    pub listen: SocketAddrV6,
    pub forward_to: SocketAddrV6,
    pub legs: Vec<RelayLeg>,
}

impl RelayConfig {
    pub fn read(path: &Path) -> Result<RelayConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| LabError::io(path, e))?;
        serde_json::from_str(&text).map_err(|source| LabError::State {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// The VNI of a VXLAN datagram (`None` without the valid-VNI flag).
pub fn vni_of(datagram: &[u8]) -> Option<u32> {
    if datagram.len() < VXLAN_HEADER || datagram[0] & 0x08 == 0 {
        return None;
    }
    Some(u32::from_be_bytes([
        0,
        datagram[4],
        datagram[5],
        datagram[6],
    ]))
}

fn set_vni(datagram: &mut [u8], vni: u32) {
    let b = vni.to_be_bytes();
    datagram[4..7].copy_from_slice(&b[1..4]);
}

/// Per-leg pacing: when the leg's transmitter is free again.
#[derive(Debug, Clone)]
struct Pacer {
    vni_out: u32,
    latency: Duration,
    rate_bps: f64,
    free_at: Option<Instant>,
}

impl Pacer {
    /// The departure time of a frame of `len` bytes arriving `now`, or `None`
    /// when the queue is full.
    fn schedule(&mut self, len: usize, now: Instant) -> Option<Instant> {
        let start = self.free_at.map_or(now, |f| f.max(now));
        if start.duration_since(now) > QUEUE_LIMIT {
            return None;
        }
        let tx = Duration::from_secs_f64(len as f64 * 8.0 / self.rate_bps.max(1.0));
        let done = start + tx;
        self.free_at = Some(done);
        Some(done + self.latency)
    }
}

/// Counters of one relay run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayStats {
    pub forwarded: u64,
    pub dropped_queue: u64,
    pub dropped_unknown: u64,
}

/// Relays until `until` has passed (forever with `None`).
pub fn run(config: &RelayConfig, until: Option<Duration>) -> Result<RelayStats> {
    let io = |what: &str| {
        let what = format!("relay: {what}");
        move |source| LabError::Socket { what, source }
    };
    let socket = UdpSocket::bind(config.listen).map_err(io("bind"))?;
    let mut pacers: HashMap<u32, Pacer> = config
        .legs
        .iter()
        .map(|l| {
            (
                l.vni_in,
                Pacer {
                    vni_out: l.vni_out,
                    latency: Duration::from_secs_f64(l.latency_ms.max(0.0) / 1e3),
                    rate_bps: l.rate_bps,
                    free_at: None,
                },
            )
        })
        .collect();
    let deadline = until.map(|u| Instant::now() + u);
    // Departure time, arrival order (ties keep FIFO), datagram.
    let mut queue: BinaryHeap<Reverse<(Instant, u64, Vec<u8>)>> = BinaryHeap::new();
    let mut order = 0u64;
    let mut stats = RelayStats::default();
    let mut buf = vec![0u8; 65_536];
    let mut nonblocking = false;
    loop {
        let now = Instant::now();
        while let Some(Reverse((due, _, _))) = queue.peek() {
            if *due > now {
                break;
            }
            if let Some(Reverse((_, _, d))) = queue.pop() {
                // A refused send is a lost frame, as on a real link.
                if socket.send_to(&d, config.forward_to).is_ok() {
                    stats.forwarded += 1;
                }
            }
        }
        if deadline.is_some_and(|d| now >= d) {
            return Ok(stats);
        }
        let next_due = queue.peek().map(|Reverse((due, _, _))| *due);
        // Socket timeouts tick in jiffies (up to 10 ms late): block on the
        // socket only while the next departure is far; close to it, poll the
        // socket and sleep in short (high-resolution) slices instead.
        let precise = next_due.is_some_and(|d| d.saturating_duration_since(now) < PRECISE_WINDOW);
        let wait = match next_due {
            Some(d) if !precise => d.saturating_duration_since(now) - PRECISE_WINDOW / 2,
            _ => Duration::from_millis(50),
        };
        if precise != nonblocking {
            socket.set_nonblocking(precise).map_err(io("socket mode"))?;
            nonblocking = precise;
        }
        if !precise {
            socket
                .set_read_timeout(Some(wait.max(Duration::from_millis(1))))
                .map_err(io("read timeout"))?;
        }
        let n = match socket.recv_from(&mut buf) {
            Ok((n, _)) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && precise => {
                let left = next_due.map_or(Duration::ZERO, |d| d.saturating_duration_since(now));
                std::thread::sleep(left.min(POLL_SLICE));
                continue;
            }
            Err(e) if crate::error::is_timeout(&e) => {
                continue;
            }
            Err(e) => return Err(io("receive")(e)),
        };
        let Some(pacer) = vni_of(&buf[..n]).and_then(|v| pacers.get_mut(&v)) else {
            stats.dropped_unknown += 1;
            continue;
        };
        let now = Instant::now();
        let Some(due) = pacer.schedule(n - VXLAN_HEADER, now) else {
            stats.dropped_queue += 1;
            continue;
        };
        let mut d = buf[..n].to_vec();
        set_vni(&mut d, pacer.vni_out);
        order += 1;
        queue.push(Reverse((due, order, d)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vni_rewrite() {
        let mut d = vec![0x08, 0, 0, 0, 0, 0, 11, 0, 0xaa];
        assert_eq!(vni_of(&d), Some(11));
        set_vni(&mut d, 0x12_3456);
        assert_eq!(vni_of(&d), Some(0x12_3456));
        assert_eq!(d[8], 0xaa);
        assert_eq!(vni_of(&[0u8; 8]), None);
        assert_eq!(vni_of(&[0x08; 4]), None);
    }

    #[test]
    fn pacing_and_tail_drop() {
        let mut p = Pacer {
            vni_out: 2,
            latency: Duration::from_millis(10),
            rate_bps: 8e6, // 1 byte per µs
            free_at: None,
        };
        let t0 = Instant::now();
        let a = p.schedule(1000, t0).expect("room");
        assert_eq!(
            a - t0,
            Duration::from_micros(1000) + Duration::from_millis(10)
        );
        let b = p.schedule(1000, t0).expect("room");
        assert_eq!(b - a, Duration::from_micros(1000));
        // 100 ms of backlog: 100 more frames fit, then the queue is full.
        let fits = (0..200).filter(|_| p.schedule(1000, t0).is_some()).count();
        assert_eq!(fits, 99);
    }

    #[test]
    fn relays_with_delay_on_loopback() {
        // The relay between two plain sockets on loopback (no root needed).
        let Ok(peer) = UdpSocket::bind(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 0, 0, 0)) else {
            eprintln!("SKIP: no IPv6 loopback");
            return;
        };
        let Ok(std::net::SocketAddr::V6(forward_to)) = peer.local_addr() else {
            panic!("IPv6");
        };
        let probe = UdpSocket::bind(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 0, 0, 0)).expect("bind");
        let listen = {
            let s = UdpSocket::bind(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 0, 0, 0)).expect("bind");
            match s.local_addr() {
                Ok(std::net::SocketAddr::V6(a)) => a,
                _ => panic!("IPv6"),
            }
        };
        let config = RelayConfig {
            lab: "t".into(),
            listen,
            forward_to,
            legs: vec![RelayLeg {
                vni_in: 1,
                vni_out: 2,
                latency_ms: 30.0,
                rate_bps: 1e9,
            }],
        };
        let relay = std::thread::spawn(move || run(&config, Some(Duration::from_millis(500))));
        std::thread::sleep(Duration::from_millis(50));
        let sent = Instant::now();
        let frame = [0x08, 0, 0, 0, 0, 0, 1, 0, 1, 2, 3];
        probe.send_to(&frame, listen).expect("send");
        probe
            .send_to(&[0x08, 0, 0, 0, 0, 0, 9, 0], listen)
            .expect("send");
        peer.set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        let mut buf = [0u8; 64];
        let (n, _) = peer.recv_from(&mut buf).expect("relayed frame");
        let delay = sent.elapsed();
        assert_eq!(n, frame.len());
        assert_eq!(vni_of(&buf[..n]), Some(2));
        assert!(delay >= Duration::from_millis(30), "{delay:?}");
        let stats = relay.join().expect("thread").expect("relay");
        assert_eq!((stats.forwarded, stats.dropped_unknown), (1, 1));
    }
}
