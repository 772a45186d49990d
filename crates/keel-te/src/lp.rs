//! A thin wrapper over Clarabel for LPs in the form
//! min cᵀx s.t. equality rows, ≤ rows, x ≥ 0.
//!
//! Clarabel's form is min ½xᵀPx + qᵀx s.t. Ax + s = b, s ∈ K. Equalities go to a
//! zero cone, ≤ rows and the bounds −x ≤ 0 to one non-negative cone, in that order.

use std::time::{Duration, Instant};

use clarabel::algebra::CscMatrix;
use clarabel::solver::{
    DefaultSettingsBuilder, DefaultSolver, IPSolver, SolverStatus, SupportedConeT,
};

use crate::error::TeError;

/// Index of a row among the rows of its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Row {
    Eq(usize),
    Le(usize),
}

#[derive(Debug, Default)]
struct Rows {
    start: Vec<usize>,
    cols: Vec<usize>,
    vals: Vec<f64>,
    rhs: Vec<f64>,
}

impl Rows {
    fn push(&mut self, coeffs: impl IntoIterator<Item = (usize, f64)>, rhs: f64) -> usize {
        self.start.push(self.cols.len());
        for (c, v) in coeffs {
            self.cols.push(c);
            self.vals.push(v);
        }
        self.rhs.push(rhs);
        self.rhs.len() - 1
    }
    fn len(&self) -> usize {
        self.rhs.len()
    }
    fn row(&self, i: usize) -> impl Iterator<Item = (usize, f64)> + '_ {
        let end = self.start.get(i + 1).copied().unwrap_or(self.cols.len());
        let start = self.start[i];
        self.cols[start..end]
            .iter()
            .copied()
            .zip(self.vals[start..end].iter().copied())
    }
}

/// An LP being built: variables are non-negative, the objective is minimised.
#[derive(Debug, Default)]
pub(crate) struct Lp {
    cost: Vec<f64>,
    eq: Rows,
    le: Rows,
}

/// Accuracy settings passed to Clarabel.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LpSettings {
    pub tolerance: f64,
    pub max_iter: u32,
}

#[derive(Debug, Clone)]
pub(crate) struct LpSolution {
    pub x: Vec<f64>,
    /// Multipliers of the equality rows (free sign).
    pub eq_duals: Vec<f64>,
    /// Multipliers of the ≤ rows (≥ 0 up to solver accuracy).
    pub le_duals: Vec<f64>,
    pub primal_objective: f64,
    pub dual_objective: f64,
    /// Matrix assembly and solver setup.
    pub setup_time: Duration,
    /// Interior-point iterations.
    pub solve_time: Duration,
}

impl LpSolution {
    pub fn dual(&self, row: Row) -> f64 {
        match row {
            Row::Eq(i) => self.eq_duals[i],
            Row::Le(i) => self.le_duals[i],
        }
    }

    /// Clarabel's relative primal–dual objective gap.
    pub fn relative_gap(&self) -> f64 {
        let (p, d) = (self.primal_objective, self.dual_objective);
        (p - d).abs() / p.abs().max(d.abs()).max(1e-12)
    }
}

impl Lp {
    pub fn new() -> Self {
        Lp::default()
    }

    /// A new variable with objective coefficient `cost`.
    pub fn var(&mut self, cost: f64) -> usize {
        self.cost.push(cost);
        self.cost.len() - 1
    }

    pub fn set_cost(&mut self, var: usize, cost: f64) {
        self.cost[var] = cost;
    }

    pub fn add_eq(&mut self, coeffs: impl IntoIterator<Item = (usize, f64)>, rhs: f64) -> Row {
        Row::Eq(self.eq.push(coeffs, rhs))
    }

    pub fn add_le(&mut self, coeffs: impl IntoIterator<Item = (usize, f64)>, rhs: f64) -> Row {
        Row::Le(self.le.push(coeffs, rhs))
    }

    /// Assembles A column by column. Rows are visited in increasing order, so each
    /// column's entries come out sorted; a repeated (row, column) pair is summed.
    fn matrix(&self) -> CscMatrix<f64> {
        let n = self.cost.len();
        let (m_eq, m_le) = (self.eq.len(), self.le.len());
        let m = m_eq + m_le + n;
        let mut count = vec![1usize; n]; // the bound row of each column
        for &c in self.eq.cols.iter().chain(&self.le.cols) {
            count[c] += 1;
        }
        let mut colptr = Vec::with_capacity(n + 1);
        colptr.push(0);
        for c in &count {
            let last = colptr.last().copied().unwrap_or(0);
            colptr.push(last + c);
        }
        let nnz = colptr[n];
        let mut rowval = vec![0usize; nnz];
        let mut nzval = vec![0.0; nnz];
        let mut fill = colptr[..n].to_vec();
        let mut put = |row: usize, col: usize, val: f64| {
            let at = fill[col];
            if at > colptr[col] && rowval[at - 1] == row {
                nzval[at - 1] += val;
            } else {
                rowval[at] = row;
                nzval[at] = val;
                fill[col] += 1;
            }
        };
        for i in 0..m_eq {
            for (c, v) in self.eq.row(i) {
                put(i, c, v);
            }
        }
        for i in 0..m_le {
            for (c, v) in self.le.row(i) {
                put(m_eq + i, c, v);
            }
        }
        for j in 0..n {
            put(m_eq + m_le + j, j, -1.0);
        }
        // Merged duplicates leave unused slots at the end of a column: compact.
        let mut out_ptr = Vec::with_capacity(n + 1);
        let (mut out_rows, mut out_vals) = (Vec::with_capacity(nnz), Vec::with_capacity(nnz));
        out_ptr.push(0);
        for j in 0..n {
            out_rows.extend_from_slice(&rowval[colptr[j]..fill[j]]);
            out_vals.extend_from_slice(&nzval[colptr[j]..fill[j]]);
            out_ptr.push(out_rows.len());
        }
        CscMatrix::new(m, n, out_ptr, out_rows, out_vals)
    }

    pub fn solve(&self, settings: LpSettings) -> Result<LpSolution, TeError> {
        let started = Instant::now();
        let n = self.cost.len();
        let (m_eq, m_le) = (self.eq.len(), self.le.len());
        let a = self.matrix();
        let mut b = Vec::with_capacity(m_eq + m_le + n);
        b.extend_from_slice(&self.eq.rhs);
        b.extend_from_slice(&self.le.rhs);
        b.extend(std::iter::repeat_n(0.0, n));
        let mut cones = Vec::with_capacity(2);
        if m_eq > 0 {
            cones.push(SupportedConeT::ZeroConeT(m_eq));
        }
        cones.push(SupportedConeT::NonnegativeConeT(m_le + n));
        let p = CscMatrix::<f64>::zeros((n, n));
        let tol = settings.tolerance;
        let clarabel_settings = DefaultSettingsBuilder::default()
            .verbose(false)
            .max_iter(settings.max_iter)
            .tol_gap_abs(tol)
            .tol_gap_rel(tol)
            .tol_feas(tol)
            .build()
            .map_err(|e| TeError::SolverFailed {
                status: format!("bad settings: {e}"),
            })?;
        let mut solver = DefaultSolver::new(&p, &self.cost, &a, &b, &cones, clarabel_settings)
            .map_err(|e| TeError::SolverFailed {
                status: format!("setup: {e}"),
            })?;
        let setup_time = started.elapsed();
        let started = Instant::now();
        solver.solve();
        let solve_time = started.elapsed();
        let sol = &solver.solution;
        match sol.status {
            SolverStatus::PrimalInfeasible | SolverStatus::AlmostPrimalInfeasible => {
                return Err(TeError::Infeasible { stage: None });
            }
            SolverStatus::DualInfeasible | SolverStatus::AlmostDualInfeasible => {
                return Err(TeError::Unbounded { stage: None });
            }
            // The caller repairs the primal and certifies a bound from any dual, so
            // a not fully converged point is still usable when it is finite.
            SolverStatus::Solved
            | SolverStatus::AlmostSolved
            | SolverStatus::MaxIterations
            | SolverStatus::MaxTime
            | SolverStatus::InsufficientProgress => {}
            other => {
                return Err(TeError::SolverFailed {
                    status: format!("{other:?}"),
                });
            }
        }
        if sol.x.iter().chain(&sol.z).any(|v| !v.is_finite()) {
            return Err(TeError::SolverFailed {
                status: format!("{:?} with non-finite values", sol.status),
            });
        }
        Ok(LpSolution {
            x: sol.x.clone(),
            eq_duals: sol.z[..m_eq].to_vec(),
            le_duals: sol.z[m_eq..m_eq + m_le].to_vec(),
            primal_objective: sol.obj_val,
            dual_objective: sol.obj_val_dual,
            setup_time,
            solve_time,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTINGS: LpSettings = LpSettings {
        tolerance: 1e-9,
        max_iter: 200,
    };

    #[test]
    fn solves_a_small_lp_with_duals() {
        // max x + 2y s.t. x + y <= 4, y <= 3, x - y = 0 -> x = y = 2, objective 6.
        let mut lp = Lp::new();
        let x = lp.var(-1.0);
        let y = lp.var(-2.0);
        let cap = lp.add_le([(x, 1.0), (y, 1.0)], 4.0);
        let ycap = lp.add_le([(y, 1.0)], 3.0);
        lp.add_eq([(x, 1.0), (y, -1.0)], 0.0);
        let s = lp.solve(SETTINGS).expect("solves");
        assert!((s.x[x] - 2.0).abs() < 1e-6 && (s.x[y] - 2.0).abs() < 1e-6);
        assert!((s.primal_objective + 6.0).abs() < 1e-6);
        // The shared row is binding with price 1.5; y's own bound is slack.
        assert!((s.dual(cap) - 1.5).abs() < 1e-6, "{}", s.dual(cap));
        assert!(s.dual(ycap).abs() < 1e-6);
        assert!(s.relative_gap() < 1e-6);
    }

    #[test]
    fn merges_repeated_coefficients_and_reports_infeasibility() {
        let mut lp = Lp::new();
        let x = lp.var(-1.0);
        // x + x <= 2 written as two terms.
        lp.add_le([(x, 1.0), (x, 1.0)], 2.0);
        let s = lp.solve(SETTINGS).expect("solves");
        assert!((s.x[x] - 1.0).abs() < 1e-6);

        let mut bad = Lp::new();
        let x = bad.var(1.0);
        bad.add_eq([(x, 1.0)], -1.0);
        assert!(matches!(
            bad.solve(SETTINGS),
            Err(TeError::Infeasible { .. })
        ));
    }
}
