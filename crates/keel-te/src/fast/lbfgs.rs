//! Projected L-BFGS for minimisation over {z ≥ 0}.
//!
//! Variables at their bound whose gradient pushes them further out are held
//! fixed; on the others the two-loop recursion gives a quasi-Newton direction,
//! and a projected backtracking search keeps the point feasible. The smoothed
//! dual's curvature spans decades (μ shrinks), which a limited-memory Hessian
//! model follows far better than spectral step lengths.

use std::collections::VecDeque;

const MEMORY: usize = 10;
const SUFFICIENT_DECREASE: f64 = 1e-4;
const MAX_BACKTRACKS: usize = 20;

pub(crate) struct Lbfgs {
    pub z: Vec<f64>,
    pub f: f64,
    pub g: Vec<f64>,
    s: VecDeque<Vec<f64>>,
    y: VecDeque<Vec<f64>>,
    /// Length of the first (model-free) step, as a move of the largest coordinate.
    first_move: f64,
}

impl Lbfgs {
    pub fn new(z: Vec<f64>, f: f64, g: Vec<f64>) -> Lbfgs {
        Lbfgs {
            z,
            f,
            g,
            s: VecDeque::new(),
            y: VecDeque::new(),
            first_move: 1e-2,
        }
    }

    /// Sets how far the largest coordinate moves on a step without curvature
    /// information (the default, 1e-2, suits prices of order 1).
    pub fn with_first_move(mut self, first_move: f64) -> Lbfgs {
        self.first_move = first_move;
        self
    }

    /// The objective changed (new smoothing): keep the point, drop the model.
    pub fn reset(&mut self, f: f64, g: Vec<f64>) {
        self.f = f;
        self.g = g;
        self.s.clear();
        self.y.clear();
    }

    fn direction(&self, free: &[bool]) -> Vec<f64> {
        let mask = |v: &[f64]| -> Vec<f64> {
            v.iter()
                .zip(free)
                .map(|(x, f)| if *f { *x } else { 0.0 })
                .collect()
        };
        let dot = |a: &[f64], b: &[f64]| -> f64 {
            a.iter()
                .zip(b)
                .zip(free)
                .filter(|(_, f)| **f)
                .map(|((x, y), _)| x * y)
                .sum()
        };
        let mut q = mask(&self.g);
        let mut alpha = Vec::with_capacity(self.s.len());
        for (s, y) in self.s.iter().zip(&self.y).rev() {
            let sy = dot(s, y);
            if sy <= 0.0 {
                alpha.push(0.0);
                continue;
            }
            let a = dot(s, &q) / sy;
            q.iter_mut().zip(y).for_each(|(q, y)| *q -= a * y);
            alpha.push(a);
        }
        let gamma = match (self.s.back(), self.y.back()) {
            (Some(s), Some(y)) => {
                let yy = dot(y, y);
                if yy > 0.0 {
                    (dot(s, y) / yy).max(1e-12)
                } else {
                    1.0
                }
            }
            _ => {
                // No curvature yet: move the largest coordinate by `first_move`.
                let g_max = q.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
                if g_max > 0.0 {
                    self.first_move / g_max
                } else {
                    1.0
                }
            }
        };
        q.iter_mut().for_each(|v| *v *= gamma);
        for ((s, y), a) in self.s.iter().zip(&self.y).zip(alpha.iter().rev()) {
            let sy = dot(s, y);
            if sy <= 0.0 {
                continue;
            }
            let b = dot(y, &q) / sy;
            q.iter_mut().zip(s).for_each(|(q, s)| *q += (a - b) * s);
        }
        mask(&q).into_iter().map(|v| -v).collect()
    }

    /// One iteration; false when no descent is possible any more.
    pub fn step(&mut self, mut eval: impl FnMut(&[f64]) -> (f64, Vec<f64>)) -> bool {
        let free: Vec<bool> = self
            .z
            .iter()
            .zip(&self.g)
            .map(|(z, g)| *z > 0.0 || *g < 0.0)
            .collect();
        let mut dir = self.direction(&free);
        let mut slope: f64 = dir.iter().zip(&self.g).map(|(d, g)| d * g).sum();
        if slope >= 0.0 || !slope.is_finite() {
            // The model went bad: fall back to steepest descent and start over.
            self.s.clear();
            self.y.clear();
            dir = self.direction(&free);
            slope = dir.iter().zip(&self.g).map(|(d, g)| d * g).sum();
            if slope >= 0.0 || !slope.is_finite() {
                return false;
            }
        }
        let mut t = 1.0;
        let mut accepted = None;
        for _ in 0..MAX_BACKTRACKS {
            let trial: Vec<f64> = self
                .z
                .iter()
                .zip(&dir)
                .map(|(z, d)| (z + t * d).max(0.0))
                .collect();
            let decrease: f64 = trial
                .iter()
                .zip(&self.z)
                .zip(&self.g)
                .map(|((t, z), g)| (t - z) * g)
                .sum();
            let (f, g) = eval(&trial);
            if f <= self.f + SUFFICIENT_DECREASE * decrease.min(0.0) && f.is_finite() {
                accepted = Some((trial, f, g));
                break;
            }
            t *= 0.5;
        }
        let Some((trial, f, g)) = accepted else {
            self.s.clear();
            self.y.clear();
            return false;
        };
        let s: Vec<f64> = trial.iter().zip(&self.z).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = g.iter().zip(&self.g).map(|(a, b)| a - b).collect();
        let sy: f64 = s.iter().zip(&y).map(|(a, b)| a * b).sum();
        let ss: f64 = s.iter().map(|a| a * a).sum();
        let yy: f64 = y.iter().map(|a| a * a).sum();
        // Relative curvature test: the variables' scale is the caller's choice
        // (routing prices are of order 1/Σc), so an absolute threshold would
        // throw away every pair there.
        if sy > 1e-10 * (ss * yy).sqrt() {
            self.s.push_back(s);
            self.y.push_back(y);
            if self.s.len() > MEMORY {
                self.s.pop_front();
                self.y.pop_front();
            }
        }
        self.z = trial;
        self.f = f;
        self.g = g;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimises_a_bound_constrained_ill_conditioned_quadratic() {
        let a = [1.0, 1e4, 0.01, 5.0, 300.0];
        let b = [2.0, -1.0, 3.0, 0.5, 1e-3];
        let eval = |z: &[f64]| {
            let f = (0..5).map(|i| a[i] * (z[i] - b[i]).powi(2)).sum();
            let g = (0..5).map(|i| 2.0 * a[i] * (z[i] - b[i])).collect();
            (f, g)
        };
        let z0 = vec![1.0; 5];
        let (f, g) = eval(&z0);
        let mut opt = Lbfgs::new(z0, f, g);
        for _ in 0..200 {
            if !opt.step(eval) {
                break;
            }
        }
        for (z, want) in opt.z.iter().zip([2.0, 0.0, 3.0, 0.5, 1e-3]) {
            assert!((z - want).abs() < 1e-6, "{:?}", opt.z);
        }
    }
}
