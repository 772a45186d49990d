//! Traffic matrices over time as dense per-pair series, and the link loads a
//! routing implies.

use keel_model::{Bandwidth, ClassSet, Demand, SiteId, Topology, TrafficMatrix};
use keel_te::{PathKind, PathMetric, PathOptions, compute_paths};

use crate::ForecastError;

/// Traffic matrices on a regular time grid: one series per ordered pair of
/// distinct sites (zero where a matrix has no entry), in Mbit/s.
#[derive(Debug, Clone, PartialEq)]
pub struct TmSeries {
    /// Time stamp of each sample (the input labels; filled gaps get `""`).
    pub labels: Vec<String>,
    /// Minutes between samples.
    pub step_minutes: i64,
    /// Ordered pairs (source, destination) of site indices.
    pub pairs: Vec<(usize, usize)>,
    /// values[pair][time], Mbit/s.
    pub values: Vec<Vec<f64>>,
    /// False where no matrix was given for that time (filled, never scored).
    pub observed: Vec<bool>,
}

impl TmSeries {
    /// Builds the series from matrices labelled with SNDlib time stamps
    /// (`YYYYMMDD-HHMM`, start of the interval). The step is the smallest gap
    /// between consecutive stamps; a missing stamp is filled with the value one
    /// day earlier, else the previous value, and marked unobserved.
    pub fn from_matrices(
        topology: &Topology,
        matrices: &[(String, TrafficMatrix)],
    ) -> Result<Self, ForecastError> {
        if matrices.len() < 2 {
            return Err(ForecastError::TooShort {
                what: "a traffic-matrix series".into(),
                needed: 2,
                got: matrices.len(),
            });
        }
        let mut stamped = Vec::with_capacity(matrices.len());
        for (label, tm) in matrices {
            let minute = parse_stamp(label).ok_or_else(|| {
                ForecastError::Invalid(format!(
                    "`{label}` is not a time stamp YYYYMMDD-HHMM (SNDlib's)"
                ))
            })?;
            stamped.push((minute, label, tm));
        }
        stamped.sort_by_key(|s| s.0);
        if let Some(w) = stamped.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(ForecastError::Invalid(format!(
                "time stamp {} given twice",
                w[0].1
            )));
        }
        let step = stamped
            .windows(2)
            .map(|w| w[1].0 - w[0].0)
            .min()
            .unwrap_or(1);
        let (first, last) = (stamped[0].0, stamped[stamped.len() - 1].0);
        if let Some(w) = stamped.windows(2).find(|w| (w[1].0 - w[0].0) % step != 0) {
            return Err(ForecastError::Invalid(format!(
                "time stamps {} and {} are off the {step}-minute grid",
                w[0].1, w[1].1
            )));
        }
        let len = ((last - first) / step + 1) as usize;
        let n = topology.site_count();
        let pairs: Vec<(usize, usize)> = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .collect();
        let pair_index = |s: SiteId, d: SiteId| {
            let (i, j) = (s.index(), d.index());
            i * (n - 1) + if j > i { j - 1 } else { j }
        };
        let mut values = vec![vec![0.0; len]; pairs.len()];
        let mut observed = vec![false; len];
        let mut labels = vec![String::new(); len];
        for (minute, label, tm) in &stamped {
            let t = ((minute - first) / step) as usize;
            observed[t] = true;
            labels[t] = (*label).clone();
            for d in tm.demands() {
                values[pair_index(d.src, d.dst)][t] += d.rate.bps() / 1e6;
            }
        }
        let per_day = (1440 / step).max(1) as usize;
        for t in 0..len {
            if !observed[t] {
                for v in values.iter_mut() {
                    v[t] = if t >= per_day {
                        v[t - per_day]
                    } else if t > 0 {
                        v[t - 1]
                    } else {
                        0.0
                    };
                }
            }
        }
        Ok(TmSeries {
            labels,
            step_minutes: step,
            pairs,
            values,
            observed,
        })
    }

    pub fn len(&self) -> usize {
        self.observed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.observed.is_empty()
    }

    /// Samples per day at this step.
    pub fn per_day(&self) -> usize {
        (1440 / self.step_minutes.max(1)) as usize
    }

    /// The matrix at time t as one value per pair.
    pub fn at(&self, t: usize) -> Vec<f64> {
        self.values.iter().map(|v| v[t]).collect()
    }
}

/// Minutes since 1970-01-01 of `YYYYMMDD-HHMM`.
fn parse_stamp(s: &str) -> Option<i64> {
    let (date, time) = s.trim().split_once('-')?;
    if date.len() != 8 || time.len() != 4 {
        return None;
    }
    let num = |t: &str| t.parse::<i64>().ok();
    let (y, mo, d) = (num(&date[..4])?, num(&date[4..6])?, num(&date[6..])?);
    let (h, mi) = (num(&time[..2])?, num(&time[2..])?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 1440 + h * 60 + mi)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Which links each pair's traffic crosses: one shortest path per pair.
#[derive(Debug, Clone, PartialEq)]
pub struct Routing {
    pub links: usize,
    /// per pair, the link indices of its path.
    pub paths: Vec<Vec<usize>>,
}

impl Routing {
    /// Routes every pair on its single shortest path by IGP metric (SNDlib
    /// files carry none, so that is hop count), ties broken by keel-te's order
    /// (lowest link ids). Real IGPs split ties over equal-cost paths (ECMP);
    /// with unit metrics on Abilene and GEANT a single path is the documented
    /// simplification — the link loads are then derived, not measured.
    pub fn shortest_paths(
        topology: &Topology,
        pairs: &[(usize, usize)],
    ) -> Result<Self, ForecastError> {
        let classes = ClassSet::default();
        let class = classes.default_class();
        let demands = pairs
            .iter()
            .map(|&(s, d)| Demand {
                src: SiteId(s as u32),
                dst: SiteId(d as u32),
                class,
                rate: Bandwidth::from_bps(1.0),
            })
            .collect();
        let tm = TrafficMatrix::new(topology, classes, demands)
            .map_err(|e| ForecastError::Invalid(format!("cannot route every pair: {e}")))?;
        let opts = PathOptions {
            k: 1,
            kind: PathKind::Shortest,
            metric: PathMetric::Igp,
            latency_bounds: false,
        };
        let cands = compute_paths(topology, &tm, &opts);
        let paths = tm
            .ids()
            .map(|id| {
                cands
                    .of(id)
                    .first()
                    .map(|p| p.links.iter().map(|l| l.index()).collect())
                    .ok_or_else(|| {
                        ForecastError::Invalid(format!("pair {:?} has no path", pairs[id.index()]))
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(Routing {
            links: topology.link_count(),
            paths,
        })
    }

    /// Link loads of one matrix (one value per pair).
    pub fn loads(&self, x: &[f64]) -> Vec<f64> {
        let mut y = vec![0.0; self.links];
        for (path, v) in self.paths.iter().zip(x) {
            for &l in path {
                y[l] += v;
            }
        }
        y
    }

    /// Per-link series of a matrix series: series[link][time].
    pub fn link_series(&self, tms: &TmSeries) -> Vec<Vec<f64>> {
        let mut out = vec![vec![0.0; tms.len()]; self.links];
        for (path, v) in self.paths.iter().zip(&tms.values) {
            for &l in path {
                for (o, x) in out[l].iter_mut().zip(v) {
                    *o += x;
                }
            }
        }
        out
    }
}

/// Traffic entering at each site and leaving at each site (row and column sums).
pub fn margins(pairs: &[(usize, usize)], sites: usize, x: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let (mut ingress, mut egress) = (vec![0.0; sites], vec![0.0; sites]);
    for (&(s, d), v) in pairs.iter().zip(x) {
        ingress[s] += v;
        egress[d] += v;
    }
    (ingress, egress)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_time_stamps() {
        assert_eq!(parse_stamp("19700101-0000"), Some(0));
        assert_eq!(parse_stamp("19700102-0105"), Some(1440 + 65));
        let a = parse_stamp("20040229-2355").expect("leap day");
        let b = parse_stamp("20040301-0000").expect("next day");
        assert_eq!(b - a, 5);
        assert_eq!(parse_stamp("20041301-0000"), None);
        assert_eq!(parse_stamp("abilene"), None);
    }
}
