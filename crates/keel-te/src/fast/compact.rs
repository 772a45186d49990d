//! Candidate paths packed into flat arrays, in capacity-scaled units.

use crate::Problem;

/// The part of a problem the fast solver iterates over: demands with traffic and
/// at least one candidate path, their paths as link-index runs, all rates and
/// capacities divided by the largest capacity.
pub(crate) struct Compact {
    /// Index of each kept demand in the traffic matrix.
    pub demand: Vec<usize>,
    /// Scaled rate of each kept demand.
    pub rate: Vec<f64>,
    /// Paths of kept demand i are `path_start[i]..path_start[i + 1]`.
    pub path_start: Vec<usize>,
    /// Links of path p are `links[link_start[p]..link_start[p + 1]]`.
    pub link_start: Vec<usize>,
    pub links: Vec<u32>,
    /// Scaled capacity of each link (the residual one in later priority stages).
    pub cap: Vec<f64>,
    /// bit/s per scaled unit.
    pub scale: f64,
}

impl Compact {
    /// Packs the demands `keep` selects; `capacity` in bit/s per link.
    pub fn new(problem: &Problem, capacity: &[f64], keep: impl Fn(usize) -> bool) -> Compact {
        let scale = problem
            .topology
            .links()
            .iter()
            .map(|l| l.capacity.bps())
            .fold(0.0_f64, f64::max)
            .max(f64::MIN_POSITIVE);
        let mut c = Compact {
            demand: Vec::new(),
            rate: Vec::new(),
            path_start: vec![0],
            link_start: vec![0],
            links: Vec::new(),
            cap: capacity.iter().map(|v| v.max(0.0) / scale).collect(),
            scale,
        };
        for (d, (demand, paths)) in problem
            .traffic
            .demands()
            .iter()
            .zip(&problem.paths.per_demand)
            .enumerate()
        {
            if demand.rate.bps() <= 0.0 || paths.is_empty() || !keep(d) {
                continue;
            }
            c.demand.push(d);
            c.rate.push(demand.rate.bps() / scale);
            for p in paths {
                c.links.extend(p.links.iter().map(|l| l.0));
                c.link_start.push(c.links.len());
            }
            c.path_start.push(c.link_start.len() - 1);
        }
        c
    }

    pub fn demand_count(&self) -> usize {
        self.rate.len()
    }

    pub fn path_count(&self) -> usize {
        self.link_start.len() - 1
    }

    pub fn link_count(&self) -> usize {
        self.cap.len()
    }

    pub fn paths(&self, i: usize) -> std::ops::Range<usize> {
        self.path_start[i]..self.path_start[i + 1]
    }

    pub fn path_links(&self, p: usize) -> &[u32] {
        &self.links[self.link_start[p]..self.link_start[p + 1]]
    }

    pub fn total_rate(&self) -> f64 {
        self.rate.iter().sum()
    }

    /// Contiguous demand ranges for parallel work: enough pieces to balance two
    /// to a few dozen threads, few enough that per-piece load vectors stay cheap.
    pub fn chunks(&self) -> Vec<std::ops::Range<usize>> {
        let n = self.demand_count();
        let pieces = (rayon::current_num_threads() * 8).clamp(1, n.max(1));
        let size = n.div_ceil(pieces).max(1);
        (0..n).step_by(size).map(|s| s..(s + size).min(n)).collect()
    }
}
