//! `keel topo`: inspect a topology.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use keel_model::{Bandwidth, LatencySource, Topology};
use serde_json::json;

use crate::input::TopologyArgs;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Sites, links, capacity totals, degree, diameter and SRLGs of a topology.
    ///
    /// Example: keel topo info -t data/uscarrier.json
    Info {
        #[command(flatten)]
        topo: TopologyArgs,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: Command) -> anyhow::Result<()> {
    let Command::Info { topo, json } = cmd;
    let (t, source) = topo.load()?;
    let info = Info::of(&t);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&info.to_json(&t, &source))?
        );
    } else {
        print!("{}", info.to_text(&t, &source));
    }
    Ok(())
}

struct Info {
    undirected_pairs: usize,
    unpaired_arcs: usize,
    capacity_total: f64,
    capacity_min: f64,
    capacity_max: f64,
    degree_min: usize,
    degree_max: usize,
    degree_mean: f64,
    /// Hop diameter over directed links; None when not strongly connected.
    diameter_hops: Option<usize>,
    strongly_connected: bool,
    latency_given: usize,
    latency_derived: usize,
    latency_unknown: usize,
    srlgs: BTreeMap<String, usize>,
}

impl Info {
    fn of(t: &Topology) -> Info {
        let pairs: BTreeSet<(usize, usize)> = t
            .links()
            .iter()
            .map(|l| (l.src.index(), l.dst.index()))
            .collect();
        let undirected: BTreeSet<(usize, usize)> =
            pairs.iter().map(|&(a, b)| (a.min(b), a.max(b))).collect();
        let unpaired_arcs = pairs
            .iter()
            .filter(|&&(a, b)| !pairs.contains(&(b, a)))
            .count();
        let mut neighbours = vec![BTreeSet::new(); t.site_count()];
        for &(a, b) in &undirected {
            neighbours[a].insert(b);
            neighbours[b].insert(a);
        }
        let degrees: Vec<usize> = neighbours.iter().map(BTreeSet::len).collect();
        let caps: Vec<f64> = t.links().iter().map(|l| l.capacity.bps()).collect();
        let mut srlgs = BTreeMap::new();
        for l in t.links() {
            for g in &l.srlgs {
                *srlgs.entry(g.clone()).or_insert(0) += 1;
            }
        }
        let count = |f: fn(&LatencySource) -> bool| {
            t.links().iter().filter(|l| f(&l.latency_source)).count()
        };
        let diameter = hop_diameter(t);
        Info {
            undirected_pairs: undirected.len(),
            unpaired_arcs,
            capacity_total: caps.iter().sum(),
            capacity_min: caps.iter().copied().fold(f64::INFINITY, f64::min),
            capacity_max: caps.iter().copied().fold(0.0, f64::max),
            degree_min: degrees.iter().copied().min().unwrap_or(0),
            degree_max: degrees.iter().copied().max().unwrap_or(0),
            degree_mean: degrees.iter().sum::<usize>() as f64 / degrees.len().max(1) as f64,
            diameter_hops: diameter,
            strongly_connected: diameter.is_some(),
            latency_given: count(|s| matches!(s, LatencySource::Given)),
            latency_derived: count(|s| matches!(s, LatencySource::GreatCircle { .. })),
            latency_unknown: count(|s| matches!(s, LatencySource::Unknown)),
            srlgs,
        }
    }

    fn to_text(&self, t: &Topology, source: &str) -> String {
        let bw = |v: f64| Bandwidth::from_bps(v).to_string();
        let mut o = format!("network      {}  ({source})\n", t.name());
        o += &format!("sites        {}\n", t.site_count());
        o += &format!(
            "links        {} directed ({} site pairs, {} arcs without a reverse)\n",
            t.link_count(),
            self.undirected_pairs,
            self.unpaired_arcs
        );
        if t.link_count() > 0 {
            o += &format!(
                "capacity     total {}, per link {} .. {}\n",
                bw(self.capacity_total),
                bw(self.capacity_min),
                bw(self.capacity_max)
            );
        }
        o += &format!(
            "degree       min {}, mean {:.2}, max {}\n",
            self.degree_min, self.degree_mean, self.degree_max
        );
        o += &match self.diameter_hops {
            Some(d) => format!("diameter     {d} hops (strongly connected)\n"),
            None => "diameter     infinite: not every site reaches every other\n".to_string(),
        };
        o += &format!(
            "latency      {} given, {} derived from coordinates, {} unknown (taken as 0)\n",
            self.latency_given, self.latency_derived, self.latency_unknown
        );
        if self.srlgs.is_empty() {
            o += "SRLGs        none\n";
        } else {
            o += &format!("SRLGs        {}\n", self.srlgs.len());
            for (g, n) in &self.srlgs {
                o += &format!("  {g:<20} {n} links\n");
            }
        }
        o
    }

    fn to_json(&self, t: &Topology, source: &str) -> serde_json::Value {
        json!({
            "name": t.name(),
            "source": source,
            "sites": t.site_count(),
            "links": t.link_count(),
            "site_pairs": self.undirected_pairs,
            "arcs_without_reverse": self.unpaired_arcs,
            "capacity_bps": { "total": self.capacity_total, "min": self.capacity_min, "max": self.capacity_max },
            "degree": { "min": self.degree_min, "mean": self.degree_mean, "max": self.degree_max },
            "diameter_hops": self.diameter_hops,
            "strongly_connected": self.strongly_connected,
            "latency": { "given": self.latency_given, "derived": self.latency_derived, "unknown": self.latency_unknown },
            "srlgs": self.srlgs,
        })
    }
}

/// Largest BFS hop distance between any ordered pair; None if some pair is unreachable.
fn hop_diameter(t: &Topology) -> Option<usize> {
    let n = t.site_count();
    let mut diameter = 0;
    let mut dist = vec![usize::MAX; n];
    for s in t.site_ids() {
        dist.fill(usize::MAX);
        dist[s.index()] = 0;
        let mut queue = VecDeque::from([s]);
        let mut seen = 1;
        while let Some(u) = queue.pop_front() {
            for &l in t.out_links(u) {
                let v = t.link(l).dst;
                if dist[v.index()] == usize::MAX {
                    dist[v.index()] = dist[u.index()] + 1;
                    diameter = diameter.max(dist[v.index()]);
                    seen += 1;
                    queue.push_back(v);
                }
            }
        }
        if seen < n {
            return None;
        }
    }
    Some(diameter)
}
