//! The failure model: elements that fail, scenarios, scenario sets, and the
//! per-element probability of being down.

use keel_model::{LinkId, SiteId, Topology};
use keel_te::RiskModel;
use serde::Serialize;

use crate::SimError;

/// Something that fails as one: a physical link (both directions, see
/// [`RiskModel`]), a site with every arc at it, or a shared-risk link group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "index")]
pub enum Element {
    Link(u32),
    Node(SiteId),
    Srlg(u32),
}

impl Element {
    /// `link:A->B`, `node:NYC`, `srlg:conduit-7`: the syntax scenario files use.
    pub fn name(&self, topo: &Topology, risk: &RiskModel) -> String {
        match *self {
            Element::Link(l) => format!("link:{}", risk.link_name(topo, l)),
            Element::Node(s) => format!("node:{}", topo.site(s).id),
            Element::Srlg(g) => format!("srlg:{}", risk.srlg_names[g as usize]),
        }
    }
}

/// Elements down at the same time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Scenario {
    pub elements: Vec<Element>,
}

/// Arcs and sites out of service in a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    pub arcs: Vec<bool>,
    pub sites: Vec<bool>,
}

impl Failed {
    pub fn arc(&self, l: LinkId) -> bool {
        self.arcs.get(l.index()).copied().unwrap_or(false)
    }
    pub fn site(&self, s: SiteId) -> bool {
        self.sites.get(s.index()).copied().unwrap_or(false)
    }
    pub fn failed_arcs(&self) -> impl Iterator<Item = LinkId> + '_ {
        self.arcs
            .iter()
            .enumerate()
            .filter(|(_, f)| **f)
            .map(|(i, _)| LinkId(i as u32))
    }
}

impl Scenario {
    pub fn name(&self, topo: &Topology, risk: &RiskModel) -> String {
        self.elements
            .iter()
            .map(|e| e.name(topo, risk))
            .collect::<Vec<_>>()
            .join(" + ")
    }

    pub fn failed(&self, topo: &Topology, risk: &RiskModel) -> Failed {
        let mut arcs = vec![false; topo.link_count()];
        let mut sites = vec![false; topo.site_count()];
        for e in &self.elements {
            match *e {
                Element::Link(l) => {
                    for a in &risk.link_arcs[l as usize] {
                        arcs[a.index()] = true;
                    }
                }
                Element::Srlg(g) => {
                    for a in &risk.srlg_arcs[g as usize] {
                        arcs[a.index()] = true;
                    }
                }
                Element::Node(s) => {
                    sites[s.index()] = true;
                    for a in topo.out_links(s).iter().chain(topo.in_links(s)) {
                        arcs[a.index()] = true;
                    }
                }
            }
        }
        Failed { arcs, sites }
    }
}

/// A built-in scenario set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScenarioKind {
    SingleLink,
    SingleSrlg,
    SingleNode,
    DoubleLink,
}

impl std::str::FromStr for ScenarioKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "single-link" => ScenarioKind::SingleLink,
            "single-srlg" => ScenarioKind::SingleSrlg,
            "single-node" => ScenarioKind::SingleNode,
            "double-link" => ScenarioKind::DoubleLink,
            _ => return Err(format!("unknown scenario set `{s}`")),
        })
    }
}

/// Scenarios with their probability and what the set leaves out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioSet {
    pub scenarios: Vec<Scenario>,
    /// Probability of each scenario: exactly its elements down, every other
    /// element of `universe` up (independent failures).
    pub probability: Vec<f64>,
    /// Probability that no element of the universe is down.
    pub none_probability: f64,
    /// Scenarios of the set left out by pruning, and their total probability.
    pub pruned: usize,
    pub pruned_probability: f64,
    /// Elements whose states the probabilities range over.
    pub universe: Vec<Element>,
}

/// Probability of being down (unavailability) of every element.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Probabilities {
    pub link: Vec<f64>,
    pub node: Vec<f64>,
    pub srlg: Vec<f64>,
    /// How each link's figure was obtained.
    pub link_source: Vec<ProbabilitySource>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "from")]
pub enum ProbabilitySource {
    /// From the length (km), derived from coordinates or latency.
    Length { km: f64 },
    /// Neither length nor latency known: `DEFAULT_LINK_KM` assumed.
    AssumedLength { km: f64 },
    /// Given in a probabilities file.
    Given,
}

/// Fibre cuts per 1000 km of route per year. Keel's default assumption, of the
/// order operators report for long-haul terrestrial fibre; override it with
/// measured figures through a probabilities file.
pub const CUTS_PER_1000_KM_YEAR: f64 = 3.0;
/// Mean time to repair a cut, hours.
pub const CUT_REPAIR_HOURS: f64 = 12.0;
/// Down-probability of the terminal equipment of a link, whatever its length.
pub const LINK_EQUIPMENT_UNAVAILABILITY: f64 = 1e-5;
/// Length assumed for a link with neither coordinates nor latency.
pub const DEFAULT_LINK_KM: f64 = 500.0;
/// Down-probability of a site (power, chassis) and of an SRLG (a conduit or
/// shared span failing as a whole, beyond its links' own cuts).
pub const NODE_UNAVAILABILITY: f64 = 1e-5;
pub const SRLG_UNAVAILABILITY: f64 = 1e-4;
/// Fibre propagation (µs/km) used to turn a given latency back into a length.
const FIBRE_US_PER_KM: f64 = 4.9;

impl Probabilities {
    /// Defaults: a link is down with probability
    /// km·CUTS_PER_1000_KM_YEAR/1000·CUT_REPAIR_HOURS/8760 + equipment, its
    /// length from the great-circle distance, else from its latency at fibre
    /// speed, else `DEFAULT_LINK_KM`. The longer arc of a pair counts.
    pub fn defaults(topo: &Topology, risk: &RiskModel) -> Self {
        let per_km = CUTS_PER_1000_KM_YEAR / 1000.0 * CUT_REPAIR_HOURS / 8760.0;
        let mut link = Vec::with_capacity(risk.link_count());
        let mut link_source = Vec::with_capacity(risk.link_count());
        for arcs in &risk.link_arcs {
            let mut km: Option<f64> = None;
            for a in arcs {
                let l = topo.link(*a);
                let k = match l.latency_source {
                    keel_model::LatencySource::GreatCircle { km } => Some(km),
                    keel_model::LatencySource::Given if l.latency.ms() > 0.0 => {
                        Some(l.latency.ms() * 1000.0 / FIBRE_US_PER_KM)
                    }
                    _ => None,
                };
                if let Some(k) = k {
                    km = Some(km.map_or(k, |x: f64| x.max(k)));
                }
            }
            let (km, src) = match km {
                Some(km) => (km, ProbabilitySource::Length { km }),
                None => (
                    DEFAULT_LINK_KM,
                    ProbabilitySource::AssumedLength {
                        km: DEFAULT_LINK_KM,
                    },
                ),
            };
            link.push((km * per_km + LINK_EQUIPMENT_UNAVAILABILITY).min(1.0));
            link_source.push(src);
        }
        Probabilities {
            link,
            node: vec![NODE_UNAVAILABILITY; topo.site_count()],
            srlg: vec![SRLG_UNAVAILABILITY; risk.srlg_names.len()],
            link_source,
        }
    }

    pub fn of(&self, e: Element) -> f64 {
        match e {
            Element::Link(l) => self.link[l as usize],
            Element::Node(s) => self.node[s.index()],
            Element::Srlg(g) => self.srlg[g as usize],
        }
    }

    /// Overrides from text: one `link|node|srlg ID PROBABILITY` per line
    /// (`#` starts a comment). A link is named by either arc's id.
    pub fn apply_file(
        &mut self,
        text: &str,
        topo: &Topology,
        risk: &RiskModel,
    ) -> Result<(), SimError> {
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let bad = |msg: String| SimError::Probabilities { line: n + 1, msg };
            let parts: Vec<&str> = line.split_whitespace().collect();
            let [kind, id, p] = parts[..] else {
                return Err(bad(format!(
                    "expected `link|node|srlg ID PROBABILITY`, got `{line}`"
                )));
            };
            let p: f64 = p
                .parse()
                .ok()
                .filter(|p: &f64| (0.0..=1.0).contains(p))
                .ok_or_else(|| bad(format!("probability `{p}` is not a number in [0, 1]")))?;
            match parse_element(&format!("{kind}:{id}"), topo, risk).map_err(bad)? {
                Element::Link(l) => {
                    self.link[l as usize] = p;
                    self.link_source[l as usize] = ProbabilitySource::Given;
                }
                Element::Node(s) => self.node[s.index()] = p,
                Element::Srlg(g) => self.srlg[g as usize] = p,
            }
        }
        Ok(())
    }
}

/// `link:ID`, `node:ID`, `srlg:NAME`, or a bare arc id (a link).
pub fn parse_element(token: &str, topo: &Topology, risk: &RiskModel) -> Result<Element, String> {
    let (kind, id) = match token.split_once(':') {
        Some((k @ ("link" | "node" | "srlg"), id)) => (k, id),
        _ => ("link", token),
    };
    match kind {
        "node" => topo
            .site_by_id(id)
            .map(Element::Node)
            .ok_or_else(|| format!("no site `{id}`")),
        "srlg" => risk
            .srlg_by_name(id)
            .map(Element::Srlg)
            .ok_or_else(|| format!("no SRLG `{id}`")),
        _ => risk
            .link_by_name(topo, id)
            .map(Element::Link)
            .ok_or_else(|| format!("no link `{id}` (name a link by an arc id, e.g. `A->B`)")),
    }
}

/// Scenarios from text: one per line, its elements separated by spaces or
/// commas (`link:A->B node:C srlg:conduit-7`; `#` starts a comment).
pub fn parse_scenarios(
    text: &str,
    topo: &Topology,
    risk: &RiskModel,
) -> Result<Vec<Scenario>, SimError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut elements = Vec::new();
        for tok in line
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|t| !t.is_empty())
        {
            let e = parse_element(tok, topo, risk)
                .map_err(|msg| SimError::Scenario { line: n + 1, msg })?;
            if !elements.contains(&e) {
                elements.push(e);
            }
        }
        out.push(Scenario { elements });
    }
    if out.is_empty() {
        return Err(SimError::Scenario {
            line: 0,
            msg: "the file lists no scenario".into(),
        });
    }
    Ok(out)
}

/// Probabilities of `scenarios` over `universe` (independent elements).
pub fn with_probabilities(
    scenarios: Vec<Scenario>,
    universe: Vec<Element>,
    probs: &Probabilities,
    pruned: (usize, f64),
) -> ScenarioSet {
    let none: f64 = universe.iter().map(|e| 1.0 - probs.of(*e)).product();
    let probability = scenarios
        .iter()
        .map(|s| scenario_probability(s, none, probs))
        .collect();
    ScenarioSet {
        scenarios,
        probability,
        none_probability: none,
        pruned: pruned.0,
        pruned_probability: pruned.1,
        universe,
    }
}

fn scenario_probability(s: &Scenario, none: f64, probs: &Probabilities) -> f64 {
    s.elements
        .iter()
        .map(|e| {
            let u = probs.of(*e);
            if u >= 1.0 {
                f64::INFINITY
            } else {
                u / (1.0 - u)
            }
        })
        .product::<f64>()
        * none
}

/// A built-in set. `double-link` keeps the `max_pairs` most probable pairs of
/// links (ranked by the product of their probabilities, ties by link order);
/// the rest are counted as pruned with their total probability, which the
/// availability figures report as not evaluated.
pub fn scenario_set(
    kind: ScenarioKind,
    topo: &Topology,
    risk: &RiskModel,
    probs: &Probabilities,
    max_pairs: usize,
) -> ScenarioSet {
    let links: Vec<Element> = (0..risk.link_count() as u32).map(Element::Link).collect();
    let single = |u: Vec<Element>| {
        let s = u.iter().map(|e| Scenario { elements: vec![*e] }).collect();
        (s, u)
    };
    let (scenarios, universe, pruned) = match kind {
        ScenarioKind::SingleLink => {
            let (s, u) = single(links);
            (s, u, (0, 0.0))
        }
        ScenarioKind::SingleNode => {
            let (s, u) = single(topo.site_ids().map(Element::Node).collect());
            (s, u, (0, 0.0))
        }
        ScenarioKind::SingleSrlg => {
            let (s, u) = single(
                (0..risk.srlg_names.len() as u32)
                    .map(Element::Srlg)
                    .collect(),
            );
            (s, u, (0, 0.0))
        }
        ScenarioKind::DoubleLink => {
            let n = links.len();
            let mut pairs: Vec<(f64, u32, u32)> = Vec::with_capacity(n * n.saturating_sub(1) / 2);
            for a in 0..n as u32 {
                for b in a + 1..n as u32 {
                    pairs.push((probs.link[a as usize] * probs.link[b as usize], a, b));
                }
            }
            pairs.sort_by(|x, y| y.0.total_cmp(&x.0).then((x.1, x.2).cmp(&(y.1, y.2))));
            let none: f64 = links.iter().map(|e| 1.0 - probs.of(*e)).product();
            let rest = pairs.split_off(pairs.len().min(max_pairs));
            let rest_p: f64 = rest
                .iter()
                .map(|&(_, a, b)| {
                    let s = Scenario {
                        elements: vec![Element::Link(a), Element::Link(b)],
                    };
                    scenario_probability(&s, none, probs)
                })
                .sum();
            let s = pairs
                .into_iter()
                .map(|(_, a, b)| Scenario {
                    elements: vec![Element::Link(a), Element::Link(b)],
                })
                .collect();
            (s, links, (rest.len(), rest_p))
        }
    };
    with_probabilities(scenarios, universe, probs, pruned)
}

/// The elements a list of scenarios mentions (the universe of a file's set).
pub fn universe_of(scenarios: &[Scenario]) -> Vec<Element> {
    let mut u: Vec<Element> = scenarios
        .iter()
        .flat_map(|s| s.elements.iter().copied())
        .collect();
    u.sort_unstable();
    u.dedup();
    u
}
