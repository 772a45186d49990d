//! The independent view: what iproute2 (`ip -json`) says is in a namespace.
//! Tests compare it with what [`crate::Kernel`] reports and with what they
//! expect; it shares no code with the netlink side.

use std::process::Command;

use serde_json::Value;

use crate::DataplaneError;

/// Runs `ip [-n NETNS] -json ARGS...` and parses its output.
pub fn ip_json(netns: Option<&str>, args: &[&str]) -> Result<Value, DataplaneError> {
    let mut cmd = Command::new("ip");
    if let Some(ns) = netns {
        cmd.args(["-n", ns]);
    }
    cmd.arg("-json").args(args);
    let out = cmd
        .output()
        .map_err(|e| DataplaneError::Oracle(format!("ip: {e}")))?;
    if !out.status.success() {
        return Err(DataplaneError::Oracle(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    if text.trim().is_empty() {
        return Ok(Value::Array(Vec::new()));
    }
    serde_json::from_str(&text).map_err(|e| DataplaneError::Oracle(format!("ip -json: {e}")))
}

/// One nexthop of a route as iproute2 prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OracleHop {
    pub dev: Option<String>,
    pub gateway: Option<String>,
    pub weight: u16,
    /// `encap seg6` segments, first first.
    pub segs: Vec<String>,
}

/// One IPv6 route as iproute2 prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OracleRoute {
    pub dst: String,
    pub table: String,
    pub protocol: String,
    pub metric: Option<u64>,
    /// The seg6local action (`End`, `End.X`, `End.DT6`), for a local SID.
    pub seg6local: Option<String>,
    pub hops: Vec<OracleHop>,
}

fn hop(v: &Value) -> OracleHop {
    // iproute2 prints `"encap": "seg6", "mode": ..., "segs": [...]` flat.
    let segs = v
        .get("segs")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    OracleHop {
        dev: v.get("dev").and_then(Value::as_str).map(str::to_string),
        gateway: v.get("gateway").and_then(Value::as_str).map(str::to_string),
        weight: v
            .get("weight")
            .and_then(Value::as_u64)
            .and_then(|w| u16::try_from(w).ok())
            .unwrap_or(1),
        segs,
    }
}

/// `ip -6 route show table all`, parsed.
pub fn routes(netns: Option<&str>) -> Result<Vec<OracleRoute>, DataplaneError> {
    let v = ip_json(netns, &["-6", "route", "show", "table", "all"])?;
    let list = v
        .as_array()
        .ok_or_else(|| DataplaneError::Oracle("route list is not an array".into()))?;
    Ok(list
        .iter()
        .map(|r| {
            let s = |k: &str| r.get(k).and_then(Value::as_str).map(str::to_string);
            let seg6local = (r.get("encap").and_then(Value::as_str) == Some("seg6local"))
                .then(|| s("action"))
                .flatten();
            let hops = match r.get("nexthops").and_then(Value::as_array) {
                Some(nh) => nh.iter().map(hop).collect(),
                None => vec![hop(r)],
            };
            OracleRoute {
                dst: s("dst").unwrap_or_default(),
                table: s("table").unwrap_or_else(|| "main".to_string()),
                protocol: match r.get("protocol") {
                    Some(Value::String(p)) => p.clone(),
                    Some(Value::Number(n)) => n.to_string(),
                    _ => "boot".to_string(),
                },
                metric: r.get("metric").and_then(Value::as_u64),
                seg6local,
                hops,
            }
        })
        .collect())
}

/// `ip -6 rule show`, as raw JSON objects.
pub fn rules(netns: Option<&str>) -> Result<Vec<Value>, DataplaneError> {
    match ip_json(netns, &["-6", "rule", "show"])? {
        Value::Array(a) => Ok(a),
        _ => Err(DataplaneError::Oracle("rule list is not an array".into())),
    }
}

/// A link's transmitted packets (`ip -s link show DEV`).
pub fn tx_packets(netns: Option<&str>, dev: &str) -> Result<u64, DataplaneError> {
    let v = ip_json(netns, &["-s", "link", "show", "dev", dev])?;
    v.get(0)
        .and_then(|l| l.get("stats64"))
        .and_then(|s| s.get("tx"))
        .and_then(|t| t.get("packets"))
        .and_then(Value::as_u64)
        .ok_or_else(|| DataplaneError::Oracle(format!("no tx counters for {dev}")))
}
