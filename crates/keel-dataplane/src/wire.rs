//! Route and rule messages, encoded and decoded here.
//!
//! nlink 0.33 carries them (its `RouteConfig` and `FromNetlink` traits are open
//! for this), but its typed builders cannot express what Keel needs: a
//! different `encap seg6` per nexthop of a multipath route, a gateway on a
//! seg6local route, a `tos` selector on a rule; and its route parser drops the
//! segment lists. So the bytes are written and read here, by the kernel's
//! uapi layouts (rtnetlink.h, fib_rules.h, seg6_iptunnel.h, seg6_local.h).

use std::collections::HashMap;
use std::net::Ipv6Addr;

use ipnet::Ipv6Net;
use nlink::netlink::InterfaceRef;
use nlink::netlink::MessageBuilder;
use nlink::netlink::parse::{FromNetlink, PResult};
use nlink::netlink::route::{ResolvedRouteInterfaces, RouteConfig};

use crate::plan::{Hop, RouteAction, RouteKey, RuleEntry, SidBehaviour};
use crate::{DataplaneError, RTPROT_KEEL};

pub const AF_INET6: u8 = 10;
const RTN_UNICAST: u8 = 1;
const RTN_LOCAL: u8 = 2;
const RTN_UNREACHABLE: u8 = 7;
const RTN_THROW: u8 = 9;
const RT_TABLE_UNSPEC: u8 = 0;
const FR_ACT_TO_TBL: u8 = 1;
const NLA_F_NESTED: u16 = 0x8000;
const NLA_TYPE_MASK: u16 = 0x3fff;

// rtnetlink.h
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_MULTIPATH: u16 = 9;
const RTA_TABLE: u16 = 15;
const RTA_ENCAP_TYPE: u16 = 21;
const RTA_ENCAP: u16 = 22;
// lwtunnel.h
const LWTUNNEL_ENCAP_SEG6: u16 = 5;
const LWTUNNEL_ENCAP_SEG6_LOCAL: u16 = 7;
// seg6_iptunnel.h
const SEG6_IPTUNNEL_SRH: u16 = 1;
const SEG6_IPTUN_MODE_ENCAP: u32 = 1;
const IPV6_SRCRT_TYPE_4: u8 = 4;
// seg6_local.h
const SEG6_LOCAL_ACTION: u16 = 1;
const SEG6_LOCAL_TABLE: u16 = 3;
const SEG6_LOCAL_NH6: u16 = 5;
const SEG6_LOCAL_ACTION_END: u32 = 1;
const SEG6_LOCAL_ACTION_END_X: u32 = 2;
const SEG6_LOCAL_ACTION_END_DT6: u32 = 7;
// fib_rules.h
const FRA_IIFNAME: u16 = 3;
const FRA_PRIORITY: u16 = 6;
const FRA_TABLE: u16 = 15;
const FRA_PROTOCOL: u16 = 21;

// ---------------------------------------------------------------- encoding

fn put_attr(buf: &mut Vec<u8>, kind: u16, payload: &[u8]) {
    let len = 4 + payload.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(payload);
    buf.resize(buf.len().next_multiple_of(4), 0);
}

fn put_u32(buf: &mut Vec<u8>, kind: u16, v: u32) {
    put_attr(buf, kind, &v.to_ne_bytes());
}

/// Starts a nested attribute; [`end_nest`] writes its length.
fn start_nest(buf: &mut Vec<u8>, kind: u16) -> usize {
    let at = buf.len();
    buf.extend_from_slice(&[0, 0]);
    buf.extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
    at
}

fn end_nest(buf: &mut [u8], at: usize) {
    let len = (buf.len() - at) as u16;
    buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
}

/// `encap seg6 mode encap segs ...`: the SRH the kernel pushes.
fn put_seg6_encap(buf: &mut Vec<u8>, segments: &[Ipv6Addr]) {
    put_attr(buf, RTA_ENCAP_TYPE, &LWTUNNEL_ENCAP_SEG6.to_ne_bytes());
    let nest = start_nest(buf, RTA_ENCAP);
    let n = segments.len();
    let mut srh = Vec::with_capacity(4 + 8 + 16 * n);
    srh.extend_from_slice(&SEG6_IPTUN_MODE_ENCAP.to_ne_bytes());
    // nexthdr (the kernel fills it), hdrlen in 8-octet units after the first 8,
    // type 4, segments left, last entry, flags, tag.
    let last = (n.saturating_sub(1)) as u8;
    srh.extend_from_slice(&[0, (2 * n) as u8, IPV6_SRCRT_TYPE_4, last, last, 0, 0, 0]);
    // The SRH lists segments last first.
    for s in segments.iter().rev() {
        srh.extend_from_slice(&s.octets());
    }
    put_attr(buf, SEG6_IPTUNNEL_SRH, &srh);
    end_nest(buf, nest);
}

fn put_seg6local(buf: &mut Vec<u8>, behaviour: &SidBehaviour) {
    put_attr(
        buf,
        RTA_ENCAP_TYPE,
        &LWTUNNEL_ENCAP_SEG6_LOCAL.to_ne_bytes(),
    );
    let nest = start_nest(buf, RTA_ENCAP);
    match behaviour {
        SidBehaviour::End => put_u32(buf, SEG6_LOCAL_ACTION, SEG6_LOCAL_ACTION_END),
        SidBehaviour::EndX { nh6 } => {
            put_u32(buf, SEG6_LOCAL_ACTION, SEG6_LOCAL_ACTION_END_X);
            put_attr(buf, SEG6_LOCAL_NH6, &nh6.octets());
        }
        SidBehaviour::EndDt6 { table } => {
            put_u32(buf, SEG6_LOCAL_ACTION, SEG6_LOCAL_ACTION_END_DT6);
            put_u32(buf, SEG6_LOCAL_TABLE, *table);
        }
    }
    end_nest(buf, nest);
}

fn rtmsg(key: &RouteKey) -> [u8; 12] {
    let table = if key.table < 256 {
        key.table as u8
    } else {
        RT_TABLE_UNSPEC
    };
    // family, dst_len, src_len, tos, table, protocol, scope (universe), type, flags
    let mut m = [
        AF_INET6,
        key.prefix.prefix_len(),
        0,
        0,
        table,
        RTPROT_KEEL,
        0,
        RTN_UNICAST,
        0,
        0,
        0,
        0,
    ];
    m[8..12].copy_from_slice(&0u32.to_ne_bytes());
    m
}

fn put_key(buf: &mut Vec<u8>, key: &RouteKey) {
    if key.prefix.prefix_len() > 0 {
        put_attr(buf, RTA_DST, &key.prefix.network().octets());
    }
    put_u32(buf, RTA_TABLE, key.table);
    put_u32(buf, RTA_PRIORITY, key.metric);
}

/// A route, ready for nlink's `add_route` / `replace_route` / `del_route`.
pub struct WireRoute {
    add: Vec<u8>,
    del: Vec<u8>,
}

impl WireRoute {
    pub fn new(
        key: &RouteKey,
        action: Option<&RouteAction>,
        ifindex: &dyn Fn(&str) -> Option<u32>,
    ) -> Result<Self, DataplaneError> {
        let mut del = rtmsg(key).to_vec();
        put_key(&mut del, key);
        let mut add = rtmsg(key).to_vec();
        match action {
            Some(RouteAction::Local { .. }) => add[7] = RTN_LOCAL,
            Some(RouteAction::Unreachable) => add[7] = RTN_UNREACHABLE,
            Some(RouteAction::Throw) => add[7] = RTN_THROW,
            _ => {}
        }
        put_key(&mut add, key);
        let index = |dev: &str| {
            ifindex(dev).ok_or_else(|| DataplaneError::Map(format!("no interface {dev}")))
        };
        match action {
            None | Some(RouteAction::Unreachable) | Some(RouteAction::Throw) => {}
            Some(RouteAction::Local { dev }) => put_u32(&mut add, RTA_OIF, index(dev)?),
            Some(RouteAction::Sid { behaviour, hop }) => {
                put_u32(&mut add, RTA_OIF, index(&hop.dev)?);
                if let Some(via) = hop.via {
                    put_attr(&mut add, RTA_GATEWAY, &via.octets());
                }
                put_seg6local(&mut add, behaviour);
            }
            Some(RouteAction::Forward { hops }) if hops.len() == 1 => {
                let hop = &hops[0];
                put_u32(&mut add, RTA_OIF, index(&hop.dev)?);
                if let Some(via) = hop.via {
                    put_attr(&mut add, RTA_GATEWAY, &via.octets());
                }
                if !hop.segments.is_empty() {
                    put_seg6_encap(&mut add, &hop.segments);
                }
            }
            Some(RouteAction::Forward { hops }) => {
                let mut mp = Vec::new();
                for hop in hops {
                    let start = mp.len();
                    // struct rtnexthop: len, flags, hops (weight - 1), ifindex
                    mp.extend_from_slice(&[0, 0, 0, (hop.weight.clamp(1, 256) - 1) as u8]);
                    mp.extend_from_slice(&index(&hop.dev)?.to_ne_bytes());
                    if let Some(via) = hop.via {
                        put_attr(&mut mp, RTA_GATEWAY, &via.octets());
                    }
                    if !hop.segments.is_empty() {
                        put_seg6_encap(&mut mp, &hop.segments);
                    }
                    let len = (mp.len() - start) as u16;
                    mp[start..start + 2].copy_from_slice(&len.to_ne_bytes());
                }
                put_attr(&mut add, RTA_MULTIPATH, &mp);
            }
        }
        Ok(WireRoute { add, del })
    }
}

impl RouteConfig for WireRoute {
    fn device_ref(&self) -> Option<&InterfaceRef> {
        None
    }
    fn multipath_device_refs(&self) -> Vec<Option<&InterfaceRef>> {
        Vec::new()
    }
    fn family(&self) -> u8 {
        AF_INET6
    }
    fn write_add(&self, builder: &mut MessageBuilder, _: &ResolvedRouteInterfaces) {
        builder.append_bytes(&self.add);
    }
    fn write_delete(&self, builder: &mut MessageBuilder) {
        builder.append_bytes(&self.del);
    }
}

/// The body of an RTM_NEWRULE / RTM_DELRULE for one of Keel's rules.
pub fn rule_body(rule: &RuleEntry) -> Vec<u8> {
    let table = if rule.table < 256 {
        rule.table as u8
    } else {
        RT_TABLE_UNSPEC
    };
    // struct fib_rule_hdr: family, dst_len, src_len, tos, table, res1, res2, action, flags
    let mut b = vec![
        AF_INET6,
        0,
        0,
        rule.dsfield.unwrap_or(0),
        table,
        0,
        0,
        FR_ACT_TO_TBL,
        0,
        0,
        0,
        0,
    ];
    put_u32(&mut b, FRA_PRIORITY, rule.priority);
    put_u32(&mut b, FRA_TABLE, rule.table);
    if let Some(iif) = &rule.iif {
        let mut name = iif.as_bytes().to_vec();
        name.push(0);
        put_attr(&mut b, FRA_IIFNAME, &name);
    }
    put_attr(&mut b, FRA_PROTOCOL, &[RTPROT_KEEL]);
    b
}

// if_addr.h
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_FLAGS: u16 = 8;
const IFA_PROTO: u16 = 11;
const IFA_F_NODAD: u32 = 0x02;

/// An interface address marked with Keel's protocol (`IFA_PROTO`), so that a
/// later run can tell its own addresses from everyone else's; no DAD, as on
/// point-to-point links the plan's addresses are unique by construction.
pub struct WireAddress {
    iface: InterfaceRef,
    addr: Ipv6Addr,
    len: u8,
}

impl WireAddress {
    pub fn new(ifindex: u32, net: Ipv6Net) -> Self {
        WireAddress {
            iface: InterfaceRef::Index(ifindex),
            addr: net.addr(),
            len: net.prefix_len(),
        }
    }

    fn header(&self, b: &mut MessageBuilder, ifindex: u32) {
        // struct ifaddrmsg: family, prefixlen, flags, scope (universe), index
        let mut h = vec![AF_INET6, self.len, IFA_F_NODAD as u8, 0];
        h.extend_from_slice(&ifindex.to_ne_bytes());
        b.append_bytes(&h);
    }

    fn body(&self, b: &mut MessageBuilder, ifindex: u32, full: bool) {
        self.header(b, ifindex);
        let mut attrs = Vec::new();
        put_attr(&mut attrs, IFA_LOCAL, &self.addr.octets());
        put_attr(&mut attrs, IFA_ADDRESS, &self.addr.octets());
        if full {
            put_u32(&mut attrs, IFA_FLAGS, IFA_F_NODAD);
            put_attr(&mut attrs, IFA_PROTO, &[RTPROT_KEEL]);
        }
        b.append_bytes(&attrs);
    }
}

impl nlink::netlink::addr::AddressConfig for WireAddress {
    fn interface_ref(&self) -> &InterfaceRef {
        &self.iface
    }
    fn family(&self) -> u8 {
        AF_INET6
    }
    fn prefix_len(&self) -> u8 {
        self.len
    }
    fn write_add(&self, b: &mut MessageBuilder, ifindex: u32) -> nlink::Result<()> {
        self.body(b, ifindex, true);
        Ok(())
    }
    fn write_replace(&self, b: &mut MessageBuilder, ifindex: u32) -> nlink::Result<()> {
        self.body(b, ifindex, true);
        Ok(())
    }
    fn write_delete(&self, b: &mut MessageBuilder, ifindex: u32) -> nlink::Result<()> {
        self.body(b, ifindex, false);
        Ok(())
    }
}

// ---------------------------------------------------------------- decoding

/// One message of a dump, undecoded: nlink transports it, this module reads it.
pub struct Raw(pub Vec<u8>);

/// Dump requests carry a header of the message's kind; an IPv6 `rtmsg` or
/// `fib_rule_hdr` (both 12 bytes, family first) selects IPv6 entries.
pub struct RawRoute(pub Raw);
pub struct RawRule(pub Raw);

impl FromNetlink for RawRoute {
    fn parse(input: &mut &[u8]) -> PResult<Self> {
        let v = input.to_vec();
        *input = &input[input.len()..];
        Ok(RawRoute(Raw(v)))
    }
    fn write_dump_header(buf: &mut Vec<u8>) {
        buf.extend_from_slice(&[AF_INET6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    }
}

pub struct RawAddr(pub Raw);

impl FromNetlink for RawAddr {
    fn parse(input: &mut &[u8]) -> PResult<Self> {
        let v = input.to_vec();
        *input = &input[input.len()..];
        Ok(RawAddr(Raw(v)))
    }
    fn write_dump_header(buf: &mut Vec<u8>) {
        buf.extend_from_slice(&[AF_INET6, 0, 0, 0, 0, 0, 0, 0]);
    }
}

/// An IPv6 address from a dump: the address, its interface index, and
/// whether Keel set it.
pub fn decode_address(payload: &[u8]) -> Option<(u32, Ipv6Net, bool)> {
    let hdr = payload.get(..8)?;
    if hdr[0] != AF_INET6 {
        return None;
    }
    let index = u32::from_ne_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
    let mut addr = None;
    let mut keel = false;
    for (k, p) in attrs(&payload[8..]) {
        match k {
            IFA_ADDRESS if addr.is_none() => addr = addr_of(p),
            IFA_LOCAL => addr = addr_of(p),
            IFA_PROTO => keel = p.first() == Some(&RTPROT_KEEL),
            _ => {}
        }
    }
    Some((index, Ipv6Net::new(addr?, hdr[1]).ok()?, keel))
}

impl FromNetlink for RawRule {
    fn parse(input: &mut &[u8]) -> PResult<Self> {
        let v = input.to_vec();
        *input = &input[input.len()..];
        Ok(RawRule(Raw(v)))
    }
    fn write_dump_header(buf: &mut Vec<u8>) {
        buf.extend_from_slice(&[AF_INET6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    }
}

/// Attributes of a netlink payload: (type without flags, payload).
fn attrs(mut b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if b.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        let kind = u16::from_ne_bytes([b[2], b[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > b.len() {
            return None;
        }
        let payload = &b[4..len];
        b = &b[len.next_multiple_of(4).min(b.len())..];
        Some((kind, payload))
    })
}

fn u32_of(p: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(p.get(..4)?.try_into().ok()?))
}

fn addr_of(p: &[u8]) -> Option<Ipv6Addr> {
    let o: [u8; 16] = p.get(..16)?.try_into().ok()?;
    Some(Ipv6Addr::from(o))
}

fn decode_segments(encap: &[u8]) -> Option<Vec<Ipv6Addr>> {
    let (_, srh) = attrs(encap).find(|(k, _)| *k == SEG6_IPTUNNEL_SRH)?;
    // mode (4 bytes), then the 8-byte SRH header, then the segments last first.
    let list = srh.get(12..)?;
    let mut segs: Vec<Ipv6Addr> = list.chunks_exact(16).filter_map(addr_of).collect();
    segs.reverse();
    Some(segs)
}

fn decode_seg6local(encap: &[u8]) -> Option<SidBehaviour> {
    let mut action = None;
    let mut table = None;
    let mut nh6 = None;
    for (k, p) in attrs(encap) {
        match k {
            SEG6_LOCAL_ACTION => action = u32_of(p),
            SEG6_LOCAL_TABLE => table = u32_of(p),
            SEG6_LOCAL_NH6 => nh6 = addr_of(p),
            _ => {}
        }
    }
    match action? {
        SEG6_LOCAL_ACTION_END => Some(SidBehaviour::End),
        SEG6_LOCAL_ACTION_END_X => Some(SidBehaviour::EndX { nh6: nh6? }),
        SEG6_LOCAL_ACTION_END_DT6 => Some(SidBehaviour::EndDt6 { table: table? }),
        _ => None,
    }
}

/// Nexthop attributes common to a single-path route and a multipath entry.
struct HopAttrs {
    via: Option<Ipv6Addr>,
    encap_type: Option<u16>,
    encap: Option<Vec<u8>>,
}

fn hop_attrs(b: &[u8]) -> HopAttrs {
    let mut h = HopAttrs {
        via: None,
        encap_type: None,
        encap: None,
    };
    for (k, p) in attrs(b) {
        match k {
            RTA_GATEWAY => h.via = addr_of(p),
            RTA_ENCAP_TYPE => h.encap_type = p.get(..2).map(|x| u16::from_ne_bytes([x[0], x[1]])),
            RTA_ENCAP => h.encap = Some(p.to_vec()),
            _ => {}
        }
    }
    h
}

fn hop_of(dev: String, weight: u16, h: &HopAttrs) -> Hop {
    let segments = match (h.encap_type, &h.encap) {
        (Some(LWTUNNEL_ENCAP_SEG6), Some(e)) => decode_segments(e).unwrap_or_default(),
        _ => Vec::new(),
    };
    Hop {
        dev,
        via: h.via,
        weight,
        segments,
    }
}

/// A Keel-owned IPv6 route from a dump; `None` for anyone else's.
pub fn decode_route(
    payload: &[u8],
    names: &HashMap<u32, String>,
) -> Option<(RouteKey, RouteAction)> {
    let hdr = payload.get(..12)?;
    if hdr[0] != AF_INET6 || hdr[5] != RTPROT_KEEL {
        return None;
    }
    let dst_len = hdr[1];
    let mut table = u32::from(hdr[4]);
    let mut dst = Ipv6Addr::UNSPECIFIED;
    let mut metric = 0;
    let mut oif = None;
    let mut multipath = None;
    let body = &payload[12..];
    for (k, p) in attrs(body) {
        match k {
            RTA_DST => dst = addr_of(p)?,
            RTA_TABLE => table = u32_of(p)?,
            RTA_PRIORITY => metric = u32_of(p)?,
            RTA_OIF => oif = u32_of(p),
            RTA_MULTIPATH => multipath = Some(p),
            _ => {}
        }
    }
    let name = |i: u32| names.get(&i).cloned().unwrap_or_else(|| format!("if{i}"));
    let key = RouteKey {
        table,
        prefix: Ipv6Net::new(dst, dst_len).ok()?,
        metric,
    };
    if hdr[7] == RTN_UNREACHABLE {
        return Some((key, RouteAction::Unreachable));
    }
    if hdr[7] == RTN_THROW {
        return Some((key, RouteAction::Throw));
    }
    if hdr[7] == RTN_LOCAL {
        let dev = name(oif.unwrap_or(0));
        return Some((key, RouteAction::Local { dev }));
    }
    let top = hop_attrs(body);
    if top.encap_type == Some(LWTUNNEL_ENCAP_SEG6_LOCAL) {
        let behaviour = decode_seg6local(top.encap.as_deref()?)?;
        let hop = Hop {
            dev: name(oif.unwrap_or(0)),
            via: top.via,
            weight: 1,
            segments: Vec::new(),
        };
        return Some((key, RouteAction::Sid { behaviour, hop }));
    }
    let mut hops = Vec::new();
    if let Some(mut mp) = multipath {
        while mp.len() >= 8 {
            let len = u16::from_ne_bytes([mp[0], mp[1]]) as usize;
            if len < 8 || len > mp.len() {
                break;
            }
            let weight = u16::from(mp[3]) + 1;
            let ifindex = u32::from_ne_bytes([mp[4], mp[5], mp[6], mp[7]]);
            hops.push(hop_of(name(ifindex), weight, &hop_attrs(&mp[8..len])));
            mp = &mp[len.next_multiple_of(4).min(mp.len())..];
        }
    } else {
        hops.push(hop_of(name(oif.unwrap_or(0)), 1, &top));
    }
    hops.sort();
    Some((key, RouteAction::Forward { hops }))
}

/// A Keel-owned IPv6 rule from a dump; `None` for anyone else's.
pub fn decode_rule(payload: &[u8]) -> Option<RuleEntry> {
    let hdr = payload.get(..12)?;
    if hdr[0] != AF_INET6 {
        return None;
    }
    let mut rule = RuleEntry {
        priority: 0,
        iif: None,
        dsfield: (hdr[3] != 0).then_some(hdr[3]),
        table: u32::from(hdr[4]),
    };
    let mut protocol = None;
    for (k, p) in attrs(&payload[12..]) {
        match k {
            FRA_PRIORITY => rule.priority = u32_of(p)?,
            FRA_TABLE => rule.table = u32_of(p)?,
            FRA_IIFNAME => {
                let s = p.split(|&c| c == 0).next().unwrap_or_default();
                rule.iif = Some(String::from_utf8_lossy(s).into_owned());
            }
            FRA_PROTOCOL => protocol = p.first().copied(),
            _ => {}
        }
    }
    (protocol == Some(RTPROT_KEEL) && crate::RULE_PRIORITIES.contains(&rule.priority))
        .then_some(rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().expect("address")
    }

    fn round_trip(key: RouteKey, action: RouteAction) {
        let names: HashMap<u32, String> = [(3, "ab".to_string()), (4, "ac".to_string())].into();
        let index = |d: &str| names.iter().find(|(_, n)| *n == d).map(|(i, _)| *i);
        let w = WireRoute::new(&key, Some(&action), &index).expect("encodes");
        let (k, back) = decode_route(&w.add, &names).expect("decodes");
        assert_eq!(k, key);
        assert_eq!(back, action);
    }

    #[test]
    fn multipath_with_segments_round_trips() {
        let key = RouteKey {
            table: 246,
            prefix: "fd00:0:3::/64".parse().expect("prefix"),
            metric: 64,
        };
        let mut hops = vec![
            Hop {
                dev: "ab".into(),
                via: Some(a("fd00:ffff::2")),
                weight: 3,
                segments: vec![a("fc00:0:1::2:1"), a("fc00:0:3::")],
            },
            Hop {
                dev: "ac".into(),
                via: Some(a("fd00:ffff:1::2")),
                weight: 1,
                segments: vec![a("fc00:0:3::")],
            },
        ];
        hops.sort();
        round_trip(key.clone(), RouteAction::Forward { hops });
        round_trip(
            RouteKey {
                table: 1001,
                ..key.clone()
            },
            RouteAction::Forward {
                hops: vec![Hop {
                    dev: "ac".into(),
                    via: None,
                    weight: 1,
                    segments: vec![],
                }],
            },
        );
    }

    #[test]
    fn addresses_carry_keels_mark() {
        use nlink::netlink::addr::AddressConfig;
        let net: Ipv6Net = "fd00:ffff::1/64".parse().expect("prefix");
        let mut b = MessageBuilder::new(20, 0);
        WireAddress::new(7, net)
            .write_add(&mut b, 7)
            .expect("encodes");
        // Skip the 16-byte netlink header the builder starts with.
        let msg = b.finish();
        assert_eq!(decode_address(&msg[16..]), Some((7, net, true)));
        let mut d = MessageBuilder::new(21, 0);
        WireAddress::new(7, net)
            .write_delete(&mut d, 7)
            .expect("encodes");
        assert_eq!(decode_address(&d.finish()[16..]), Some((7, net, false)));
    }

    #[test]
    fn unreachable_round_trips() {
        round_trip(
            RouteKey {
                table: 1001,
                prefix: "::/0".parse().expect("prefix"),
                metric: 4096,
            },
            RouteAction::Unreachable,
        );
        round_trip(
            RouteKey {
                table: 1001,
                prefix: "fc00:0:1::2:2/128".parse().expect("prefix"),
                metric: 64,
            },
            RouteAction::Throw,
        );
    }

    #[test]
    fn local_copies_round_trip() {
        round_trip(
            RouteKey {
                table: 254,
                prefix: "fd00:0:1::1/128".parse().expect("prefix"),
                metric: 64,
            },
            RouteAction::Local { dev: "ab".into() },
        );
    }

    #[test]
    fn sids_round_trip() {
        for behaviour in [
            SidBehaviour::End,
            SidBehaviour::EndX {
                nh6: a("fd00:ffff::2"),
            },
            SidBehaviour::EndDt6 { table: 254 },
        ] {
            round_trip(
                RouteKey {
                    table: 254,
                    prefix: "fc00:0:1::1/128".parse().expect("prefix"),
                    metric: 64,
                },
                RouteAction::Sid {
                    behaviour,
                    hop: Hop {
                        dev: "ab".into(),
                        via: Some(a("fe80::4b:1")),
                        weight: 1,
                        segments: vec![],
                    },
                },
            );
        }
    }

    #[test]
    fn rules_round_trip_and_foreign_ones_are_ignored() {
        let r = RuleEntry {
            priority: 1100,
            iif: Some("kt1".into()),
            dsfield: Some(46 << 2),
            table: 1001,
        };
        assert_eq!(decode_rule(&rule_body(&r)), Some(r.clone()));
        let mut foreign = rule_body(&r);
        // Same rule without Keel's protocol attribute (the last 8 bytes).
        foreign.truncate(foreign.len() - 8);
        assert_eq!(decode_rule(&foreign), None);
    }
}
