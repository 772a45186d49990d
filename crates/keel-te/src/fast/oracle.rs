//! The smoothed dual and its gradient: one pass over all candidate paths.
//!
//! Both problems are dualised over link prices λ ≥ 0 (one per link: few, even for
//! continental networks), and the per-demand minimum over paths is replaced by a
//! soft minimum of temperature μ. The result is smooth in λ, its gradient is a link
//! load vector, and the flows that produce that load are a primal point.

use rayon::prelude::*;

use super::compact::Compact;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// max Σx s.t. Σ_p x_dp ≤ D_d, loads ≤ c. Dual (minimise over λ ≥ 0):
    /// Σ c_e λ_e + Σ_d D_d·max(0, 1 − min_p λ(p)); each demand may also "drop"
    /// its traffic at value 0, which the soft maximum includes.
    MaxFlow,
    /// Route all demand: Σ_d D_d·min_p λ(p) (maximise over prices with Σ c·λ = 1)
    /// bounds the maximum utilisation from below.
    Routing,
}

pub(crate) struct Eval {
    /// The smoothed dual value.
    pub smooth: f64,
    /// The exact (non-smooth) dual value at the same prices: a bound.
    pub exact: f64,
    /// Link loads of the smoothed flows (scaled units).
    pub load: Vec<f64>,
}

/// e^a for a ≤ 0, with weights below e^-40 (4e-18 of the largest, which is 1)
/// taken as 0: at small μ most paths are that far from their demand's
/// cheapest, and skipping `exp` for them is a large part of an evaluation.
#[inline]
fn soft_exp(a: f64) -> f64 {
    if a < -40.0 { 0.0 } else { a.exp() }
}

/// Soft flows of one demand over its path prices, written to `out`; returns the
/// demand's (smooth, exact) dual terms.
fn demand_terms(kind: Kind, rate: f64, prices: &[f64], mu: f64, out: &mut [f64]) -> (f64, f64) {
    let min_price = prices.iter().copied().fold(f64::INFINITY, f64::min);
    match kind {
        Kind::MaxFlow => {
            // Utilities a_p = (1 − π_p)/μ against the drop option's 0.
            let top = ((1.0 - min_price) / mu).max(0.0);
            let mut sum = (-top).exp();
            for (o, &pi) in out.iter_mut().zip(prices) {
                *o = soft_exp((1.0 - pi) / mu - top);
                sum += *o;
            }
            for o in out.iter_mut() {
                *o *= rate / sum;
            }
            (
                rate * mu * (top + sum.ln()),
                rate * (1.0 - min_price).max(0.0),
            )
        }
        Kind::Routing => {
            let mut sum = 0.0;
            for (o, &pi) in out.iter_mut().zip(prices) {
                *o = soft_exp(-(pi - min_price) / mu);
                sum += *o;
            }
            for o in out.iter_mut() {
                *o *= rate / sum;
            }
            (rate * (min_price - mu * sum.ln()), rate * min_price)
        }
    }
}

/// Smoothed and exact dual terms of all demands plus the soft flows' link loads;
/// the flows themselves (one entry per path) go to `x`. For `MaxFlow` the Σ c·λ
/// term is included; for `Routing` it is not (the caller keeps Σ c·λ = 1).
pub(crate) fn evaluate(c: &Compact, kind: Kind, price: &[f64], mu: f64, x: &mut [f64]) -> Eval {
    let n_segs = c.segments.count();
    let seg_price = c.segments.per_segment(price, |a, b| a + b, 0.0);
    let (smooth, exact, seg_flow) = split_by_chunks(c, x)
        .into_par_iter()
        .enumerate()
        .map(|(k, (range, out))| {
            let nodes = c.forest.nodes(k);
            let mut node_price = Vec::new();
            nodes.sums_down(&seg_price, &mut node_price);
            let mut node_flow = vec![0.0; nodes.len()];
            let base = c.path_start[range.start];
            let (mut smooth, mut exact) = (0.0, 0.0);
            let mut prices = Vec::new();
            for i in range {
                let paths = c.paths(i);
                let tips = &c.forest.tip[paths.clone()];
                prices.clear();
                prices.extend(tips.iter().map(|&n| node_price[n as usize]));
                let flows = &mut out[paths.start - base..paths.end - base];
                let (s, e) = demand_terms(kind, c.rate[i], &prices, mu, flows);
                smooth += s;
                exact += e;
                for (&n, &v) in tips.iter().zip(flows.iter()) {
                    node_flow[n as usize] += v;
                }
            }
            let mut seg_flow = vec![0.0; n_segs];
            nodes.flows_up(&mut node_flow, &mut seg_flow);
            (smooth, exact, seg_flow)
        })
        .reduce(
            || (0.0, 0.0, vec![0.0; n_segs]),
            |mut a, b| {
                a.0 += b.0;
                a.1 += b.1;
                a.2.iter_mut().zip(&b.2).for_each(|(x, y)| *x += y);
                a
            },
        );
    let fixed = match kind {
        Kind::MaxFlow => c.cap.iter().zip(price).map(|(c, l)| c * l).sum(),
        Kind::Routing => 0.0,
    };
    Eval {
        smooth: smooth + fixed,
        exact: exact + fixed,
        load: c.segments.spread(&seg_flow, c.link_count()),
    }
}

/// `x` cut into the path ranges of `c.chunks()`, for parallel writes.
pub(super) fn split_by_chunks<'x>(
    c: &Compact,
    x: &'x mut [f64],
) -> Vec<(std::ops::Range<usize>, &'x mut [f64])> {
    let ranges = c.chunks();
    let mut pieces = Vec::with_capacity(ranges.len());
    let mut rest = x;
    for r in ranges.iter().cloned() {
        let len = c.path_start[r.end] - c.path_start[r.start];
        let (head, tail) = rest.split_at_mut(len);
        pieces.push((r, head));
        rest = tail;
    }
    pieces
}
