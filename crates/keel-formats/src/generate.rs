//! Synthetic traffic matrices after NCFlow's models (`lib/traffic_matrix.py`),
//! deterministic for a seed (ChaCha8).
//!
//! - gravity: `tm[u,v] = max(N(f, f/4), 0) · total`, with
//!   `f = out_cap(u)/Σ out_cap · in_cap(v)/(Σ in_cap − in_cap(u))`, computed within
//!   each strongly connected component (capacities of arcs inside it); each
//!   component gets the share of `total` that its capacity has, so the expected
//!   sum is `total` (with one component, exactly NCFlow's model);
//! - uniform: `tm[u,v] ~ U(0, max_demand)`;
//! - bimodal: `U(high_range)` with probability `fraction`, else `U(low_range)`;
//! - poisson: `Poisson(lam · decay^hops(u,v)) · const_factor`.
//!
//! Defaults scale with the topology so that scale 1 is a moderate load in any
//! unit: gravity `total = 0.0025 · Σ arc capacity` (NCFlow's constants relative
//! to its 1000-per-arc capacities), uniform `max = 2 · total / pairs` (same
//! expected total), bimodal `fraction 0.2, low [0, m/2], high [m, 2m]` with
//! `m = max` (same expected total), poisson `lam 1000, decay 0.9` and
//! `const_factor` giving the same expected total. Only ordered pairs of distinct
//! sites with a directed path get demands; zero entries are omitted; every rate
//! is finally multiplied by `scale`.

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;

use keel_model::{
    Bandwidth, ClassId, ClassSet, Demand, ModelError, SiteId, Topology, TrafficMatrix,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Poisson, StandardNormal};
use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TmModel {
    Gravity,
    Uniform,
    Bimodal,
    Poisson,
}

impl TmModel {
    pub const ALL: [TmModel; 4] = [
        TmModel::Gravity,
        TmModel::Uniform,
        TmModel::Bimodal,
        TmModel::Poisson,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TmModel::Gravity => "gravity",
            TmModel::Uniform => "uniform",
            TmModel::Bimodal => "bimodal",
            TmModel::Poisson => "poisson",
        }
    }
}

impl fmt::Display for TmModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TmModel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim().to_ascii_lowercase();
        TmModel::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| format!("unknown traffic model `{s}` (expected one of gravity, uniform, bimodal, poisson)"))
    }
}

/// Per-model knobs; `None` takes the topology-derived default (see the module
/// documentation). Rates are absolute.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelParams {
    /// Gravity: expected total of the matrix.
    pub total_demand: Option<Bandwidth>,
    /// Gravity: draw each entry from N(f, f/4) (NCFlow's `random=True`);
    /// false gives the plain gravity matrix. Default true.
    pub random: Option<bool>,
    /// Uniform: upper bound of each entry; bimodal: `m` of the default ranges.
    pub max_demand: Option<Bandwidth>,
    /// Bimodal: probability of the high range. Default 0.2.
    pub fraction: Option<f64>,
    pub low_range: Option<(Bandwidth, Bandwidth)>,
    pub high_range: Option<(Bandwidth, Bandwidth)>,
    /// Poisson: mean at hop distance 0. Default 1000.
    pub lam: Option<f64>,
    /// Poisson: factor per hop. Default 0.9.
    pub decay: Option<f64>,
    /// Poisson: rate of one Poisson count.
    pub const_factor: Option<Bandwidth>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GenOptions {
    pub model: TmModel,
    /// Multiplies every rate (NCFlow's scale factor).
    pub scale: f64,
    pub seed: u64,
    pub params: ModelParams,
    /// Class of every demand.
    pub class: ClassId,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            model: TmModel::Gravity,
            scale: 1.0,
            seed: 0,
            params: ModelParams::default(),
            class: ClassSet::default().default_class(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Error)]
pub enum GenError {
    #[error("invalid traffic-model parameter {name}: {reason}")]
    InvalidParam { name: &'static str, reason: String },
    #[error("generated traffic is invalid: {0}")]
    Model(#[from] ModelError),
}

fn invalid(name: &'static str, reason: impl Into<String>) -> GenError {
    GenError::InvalidParam {
        name,
        reason: reason.into(),
    }
}

fn check(name: &'static str, v: f64) -> Result<f64, GenError> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(invalid(name, format!("{v} must be finite and >= 0")))
    }
}

fn check_range(name: &'static str, r: (Bandwidth, Bandwidth)) -> Result<(f64, f64), GenError> {
    let (lo, hi) = (check(name, r.0.bps())?, check(name, r.1.bps())?);
    if lo > hi {
        return Err(invalid(
            name,
            format!("lower bound {lo} exceeds upper bound {hi}"),
        ));
    }
    Ok((lo, hi))
}

/// What the generators need to know about the topology.
struct Shape {
    n: usize,
    /// reach[u][v]: a directed path u -> v exists.
    reach: Vec<Vec<bool>>,
    pairs: usize,
    total_capacity: f64,
}

impl Shape {
    fn of(t: &Topology) -> Self {
        let reach: Vec<Vec<bool>> = t.site_ids().map(|s| t.reachable_from(s)).collect();
        let pairs = reach
            .iter()
            .enumerate()
            .map(|(u, r)| {
                r.iter()
                    .enumerate()
                    .filter(|&(v, &ok)| ok && v != u)
                    .count()
            })
            .sum();
        Shape {
            n: t.site_count(),
            reach,
            pairs,
            total_capacity: t.links().iter().map(|l| l.capacity.bps()).sum(),
        }
    }

    fn reachable_pairs(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.n).flat_map(move |u| {
            (0..self.n)
                .filter(move |&v| v != u && self.reach[u][v])
                .map(move |v| (u, v))
        })
    }
}

/// Hop counts from `src` over directed links (usize::MAX when unreachable).
fn hops_from(t: &Topology, src: SiteId) -> Vec<usize> {
    let mut dist = vec![usize::MAX; t.site_count()];
    dist[src.index()] = 0;
    let mut queue = VecDeque::from([src]);
    while let Some(s) = queue.pop_front() {
        for &l in t.out_links(s) {
            let d = t.link(l).dst;
            if dist[d.index()] == usize::MAX {
                dist[d.index()] = dist[s.index()] + 1;
                queue.push_back(d);
            }
        }
    }
    dist
}

impl ModelParams {
    /// Every parameter, with the defaults for `topology` filled in.
    pub fn resolve(&self, topology: &Topology) -> Result<ModelParams, GenError> {
        self.resolve_with(topology, &Shape::of(topology))
    }

    fn resolve_with(&self, t: &Topology, shape: &Shape) -> Result<ModelParams, GenError> {
        let total = match self.total_demand {
            Some(b) => check("total_demand", b.bps())?,
            None => 0.0025 * shape.total_capacity,
        };
        let max = match self.max_demand {
            Some(b) => check("max_demand", b.bps())?,
            None if shape.pairs > 0 => 2.0 * total / shape.pairs as f64,
            None => 0.0,
        };
        let fraction = self.fraction.unwrap_or(0.2);
        if !(0.0..=1.0).contains(&fraction) {
            return Err(invalid(
                "fraction",
                format!("{fraction} must be within [0, 1]"),
            ));
        }
        let bw = Bandwidth::from_bps;
        let low = self.low_range.unwrap_or((bw(0.0), bw(max / 2.0)));
        let high = self.high_range.unwrap_or((bw(max), bw(2.0 * max)));
        check_range("low_range", low)?;
        check_range("high_range", high)?;
        let lam = check("lam", self.lam.unwrap_or(1000.0))?;
        let decay = check("decay", self.decay.unwrap_or(0.9))?;
        let const_factor = match self.const_factor {
            Some(b) => check("const_factor", b.bps())?,
            None => {
                // Expected sum of the Poisson means over reachable pairs.
                let mut mass = 0.0;
                for u in t.site_ids() {
                    let hops = hops_from(t, u);
                    for (v, &h) in hops.iter().enumerate() {
                        if v != u.index() && h != usize::MAX {
                            mass += lam * decay.powi(h.min(i32::MAX as usize) as i32);
                        }
                    }
                }
                if mass > 0.0 { total / mass } else { 0.0 }
            }
        };
        Ok(ModelParams {
            total_demand: Some(bw(total)),
            random: Some(self.random.unwrap_or(true)),
            max_demand: Some(bw(max)),
            fraction: Some(fraction),
            low_range: Some(low),
            high_range: Some(high),
            lam: Some(lam),
            decay: Some(decay),
            const_factor: Some(bw(const_factor)),
        })
    }
}

/// A traffic matrix for `topology` with `classes`; every demand in `opts.class`.
pub fn generate(
    topology: &Topology,
    classes: &ClassSet,
    opts: &GenOptions,
) -> Result<TrafficMatrix, GenError> {
    let scale = check("scale", opts.scale)?;
    if opts.class.index() >= classes.len() {
        return Err(invalid(
            "class",
            format!("#{} is not in the class set", opts.class.0),
        ));
    }
    let shape = Shape::of(topology);
    let p = opts.params.resolve_with(topology, &shape)?;
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let base = match opts.model {
        TmModel::Gravity => gravity(topology, &shape, &p, &mut rng),
        TmModel::Uniform => {
            let max = p.max_demand.map_or(0.0, Bandwidth::bps);
            shape
                .reachable_pairs()
                .map(|(u, v)| (u, v, max * rng.random::<f64>()))
                .collect()
        }
        TmModel::Bimodal => bimodal(&shape, &p, &mut rng),
        TmModel::Poisson => poisson(topology, &shape, &p, &mut rng)?,
    };
    let demands = base
        .into_iter()
        .map(|(u, v, r)| (u, v, r * scale))
        .filter(|&(_, _, r)| r > 0.0)
        .map(|(u, v, r)| Demand {
            src: SiteId(u as u32),
            dst: SiteId(v as u32),
            class: opts.class,
            rate: Bandwidth::from_bps(r),
        })
        .collect();
    Ok(TrafficMatrix::new(topology, classes.clone(), demands)?)
}

type Entries = Vec<(usize, usize, f64)>;

fn uniform_in(rng: &mut ChaCha8Rng, (lo, hi): (Bandwidth, Bandwidth)) -> f64 {
    // Not `random_range`: it panics on an empty range, which lo == hi is.
    lo.bps() + (hi.bps() - lo.bps()) * rng.random::<f64>()
}

fn gravity(t: &Topology, shape: &Shape, p: &ModelParams, rng: &mut ChaCha8Rng) -> Entries {
    let n = shape.n;
    // Component of u: its smallest mutually reachable site.
    let comp: Vec<usize> = (0..n)
        .map(|u| {
            (0..n)
                .find(|&v| shape.reach[u][v] && shape.reach[v][u])
                .unwrap_or(u)
        })
        .collect();
    let mut out_cap = vec![0.0; n];
    let mut in_cap = vec![0.0; n];
    for l in t.links() {
        let (s, d) = (l.src.index(), l.dst.index());
        if comp[s] == comp[d] {
            out_cap[s] += l.capacity.bps();
            in_cap[d] += l.capacity.bps();
        }
    }
    let mut comp_out = vec![0.0; n];
    let mut comp_in = vec![0.0; n];
    for u in 0..n {
        comp_out[comp[u]] += out_cap[u];
        comp_in[comp[u]] += in_cap[u];
    }
    let all_out: f64 = comp_out.iter().sum();
    let total = p.total_demand.map_or(0.0, Bandwidth::bps);
    let random = p.random.unwrap_or(true);
    let mut entries = Vec::new();
    if all_out <= 0.0 {
        return entries;
    }
    for u in 0..n {
        let c = comp[u];
        let share = total * comp_out[c] / all_out;
        for v in (0..n).filter(|&v| v != u && comp[v] == c) {
            let rest_in = comp_in[c] - in_cap[u];
            if rest_in <= 0.0 {
                continue;
            }
            let frac = out_cap[u] / comp_out[c] * in_cap[v] / rest_in;
            let f = if random {
                let z: f64 = rng.sample(StandardNormal);
                (frac + frac / 4.0 * z).max(0.0)
            } else {
                frac
            };
            entries.push((u, v, f * share));
        }
    }
    entries
}

fn bimodal(shape: &Shape, p: &ModelParams, rng: &mut ChaCha8Rng) -> Entries {
    let fraction = p.fraction.unwrap_or(0.2);
    let zero = (Bandwidth::ZERO, Bandwidth::ZERO);
    let (low, high) = (p.low_range.unwrap_or(zero), p.high_range.unwrap_or(zero));
    shape
        .reachable_pairs()
        .map(|(u, v)| {
            let range = if rng.random::<f64>() < fraction {
                high
            } else {
                low
            };
            (u, v, uniform_in(rng, range))
        })
        .collect()
}

fn poisson(
    t: &Topology,
    shape: &Shape,
    p: &ModelParams,
    rng: &mut ChaCha8Rng,
) -> Result<Entries, GenError> {
    let lam = p.lam.unwrap_or(0.0);
    let decay = p.decay.unwrap_or(0.0);
    let cf = p.const_factor.map_or(0.0, Bandwidth::bps);
    let mut entries = Vec::new();
    for u in 0..shape.n {
        let hops = hops_from(t, SiteId(u as u32));
        for v in (0..shape.n).filter(|&v| v != u && shape.reach[u][v]) {
            let mean = lam * decay.powi(hops[v].min(i32::MAX as usize) as i32);
            if mean.is_nan() || mean <= 0.0 {
                continue;
            }
            let dist = Poisson::new(mean)
                .map_err(|e| invalid("lam", format!("Poisson mean {mean}: {e}")))?;
            let count: f64 = dist.sample(rng);
            entries.push((u, v, count * cf));
        }
    }
    Ok(entries)
}
