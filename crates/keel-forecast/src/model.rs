//! Forecasting models for one series sampled at a fixed step.
//!
//! Written by hand rather than taken from a crate: the ETS crates for Rust
//! (`augurs-ets`) fit non-seasonal models only, and state-space ETS fitting is
//! impractical for seasons of 96 or 288 samples (one day of 15- or 5-minute
//! samples) anyway, while the classic Holt–Winters recursions below are a few
//! lines and cost O(n) per evaluation whatever the season length.

use serde::Serialize;

use crate::ForecastError;

/// Smoothing parameters of additive Holt–Winters, each in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HwParams {
    /// Level.
    pub alpha: f64,
    /// Trend.
    pub beta: f64,
    /// Season.
    pub gamma: f64,
}

/// Point forecasts for leads 1..=h and prediction intervals around them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Forecast {
    pub point: Vec<f64>,
    /// 80% interval per lead: (low, high).
    pub pi80: Vec<(f64, f64)>,
    /// 95% interval per lead.
    pub pi95: Vec<(f64, f64)>,
}

/// Quantiles of the h-step errors (actual − forecast) per lead, which turn a
/// point forecast into intervals: [point + q(0.10), point + q(0.90)] etc.
/// Empirical quantiles rather than a Gaussian σ because traffic errors are skewed
/// and heavy-tailed (bursts), so symmetric intervals would misstate both tails.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ErrorQuantiles {
    /// Per lead: [q0.025, q0.10, q0.90, q0.975].
    per_lead: Vec<[f64; 4]>,
}

impl ErrorQuantiles {
    fn from_errors(errors: Vec<Vec<f64>>) -> Self {
        let per_lead = errors
            .into_iter()
            .map(|mut e| {
                e.retain(|v| v.is_finite());
                if e.is_empty() {
                    return [0.0; 4];
                }
                e.sort_by(f64::total_cmp);
                [
                    quantile(&e, 0.025),
                    quantile(&e, 0.10),
                    quantile(&e, 0.90),
                    quantile(&e, 0.975),
                ]
            })
            .collect();
        ErrorQuantiles { per_lead }
    }

    fn apply(&self, point: Vec<f64>) -> Forecast {
        let q = |h: usize| {
            self.per_lead
                .get(h)
                .or(self.per_lead.last())
                .copied()
                .unwrap_or([0.0; 4])
        };
        let pi80 = point
            .iter()
            .enumerate()
            .map(|(h, p)| (p + q(h)[1], p + q(h)[2]))
            .collect();
        let pi95 = point
            .iter()
            .enumerate()
            .map(|(h, p)| (p + q(h)[0], p + q(h)[3]))
            .collect();
        Forecast { point, pi80, pi95 }
    }
}

/// Linear-interpolated quantile of sorted values (type 7, as R and numpy).
fn quantile(sorted: &[f64], p: f64) -> f64 {
    let pos = p * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (pos - lo as f64) * (sorted[hi] - sorted[lo])
}

/// The running state of additive Holt–Winters.
#[derive(Debug, Clone)]
struct State {
    level: f64,
    trend: f64,
    /// Seasonal index of time t at `t % m`.
    season: Vec<f64>,
    /// Index of the next observation.
    t: usize,
}

impl State {
    /// Classic initialisation from the first two seasons: level and trend from
    /// their means, seasonal indices averaged over both (less noisy than one),
    /// then a circular moving average of ±`smooth` samples over the profile.
    fn init(y: &[f64], m: usize, smooth: usize) -> State {
        let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
        let (l1, l2) = (mean(&y[..m]), mean(&y[m..2 * m]));
        let trend = (l2 - l1) / m as f64;
        let raw: Vec<f64> = (0..m)
            .map(|i| ((y[i] - l1) + (y[m + i] - l2)) / 2.0)
            .collect();
        // Two days of 5-minute samples give a very noisy daily profile; adding
        // that noise to every forecast is what makes unsmoothed Holt-Winters lose
        // to persistence an hour ahead (bench/results/forecast-backtest.md).
        let half = smooth.min((m - 1) / 2);
        let season = (0..m)
            .map(|i| {
                let window = (0..=2 * half).map(|k| raw[(i + m + k - half) % m]);
                window.sum::<f64>() / (2 * half + 1) as f64
            })
            .collect();
        // l1 is the level at the middle of the first season; move it to its end.
        State {
            level: l1 + trend * (m as f64 - 1.0) / 2.0,
            trend,
            season,
            t: m,
        }
    }

    /// Forecast for lead h >= 1 (time t + h − 1); valid for h <= m.
    fn forecast(&self, h: usize) -> f64 {
        let m = self.season.len();
        self.level + h as f64 * self.trend + self.season[(self.t + h - 1) % m]
    }

    fn update(&mut self, y: f64, p: &HwParams) {
        let m = self.season.len();
        let i = self.t % m;
        let s_old = self.season[i];
        let level = p.alpha * (y - s_old) + (1.0 - p.alpha) * (self.level + self.trend);
        self.trend = p.beta * (level - self.level) + (1.0 - p.beta) * self.trend;
        self.level = level;
        self.season[i] = p.gamma * (y - level) + (1.0 - p.gamma) * s_old;
        self.t += 1;
    }
}

/// One-step-ahead sum of squared errors over y[2m..] after initialising on the
/// first two seasons (the second season is also filtered, as a warm-up).
fn sse(y: &[f64], m: usize, smooth: usize, p: &HwParams) -> f64 {
    let mut s = State::init(y, m, smooth);
    let mut total = 0.0;
    for (t, &v) in y.iter().enumerate().skip(m) {
        if t >= 2 * m {
            let e = v - s.forecast(1);
            total += e * e;
        }
        s.update(v, p);
    }
    total
}

fn sigmoid(u: f64) -> f64 {
    1.0 / (1.0 + (-u).exp())
}

fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-6, 1.0 - 1e-6);
    (p / (1.0 - p)).ln()
}

fn params_of(u: &[f64; 3]) -> HwParams {
    HwParams {
        alpha: sigmoid(u[0]),
        beta: sigmoid(u[1]),
        gamma: sigmoid(u[2]),
    }
}

/// Nelder–Mead on an unconstrained 3-vector, at most `max_evals` evaluations.
fn nelder_mead(
    f: impl Fn(&[f64; 3]) -> f64,
    start: [f64; 3],
    step: f64,
    max_evals: usize,
) -> [f64; 3] {
    let mut simplex: Vec<([f64; 3], f64)> = Vec::with_capacity(4);
    simplex.push((start, f(&start)));
    for k in 0..3 {
        let mut x = start;
        x[k] += step;
        simplex.push((x, f(&x)));
    }
    let mut evals = 4;
    let comb = |a: &[f64; 3], b: &[f64; 3], t: f64| -> [f64; 3] {
        [
            a[0] + t * (b[0] - a[0]),
            a[1] + t * (b[1] - a[1]),
            a[2] + t * (b[2] - a[2]),
        ]
    };
    while evals < max_evals {
        simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
        let (best, worst) = (simplex[0].1, simplex[3].1);
        if (worst - best).abs() <= 1e-10 * (best.abs() + 1e-300) {
            break;
        }
        let mut centroid = [0.0; 3];
        for (x, _) in &simplex[..3] {
            for k in 0..3 {
                centroid[k] += x[k] / 3.0;
            }
        }
        let xw = simplex[3].0;
        let xr = comb(&centroid, &xw, -1.0);
        let fr = f(&xr);
        evals += 1;
        if fr < simplex[0].1 {
            let xe = comb(&centroid, &xw, -2.0);
            let fe = f(&xe);
            evals += 1;
            simplex[3] = if fe < fr { (xe, fe) } else { (xr, fr) };
        } else if fr < simplex[2].1 {
            simplex[3] = (xr, fr);
        } else {
            let xc = comb(&centroid, &xw, 0.5);
            let fc = f(&xc);
            evals += 1;
            if fc < simplex[3].1 {
                simplex[3] = (xc, fc);
            } else {
                let x0 = simplex[0].0;
                for item in simplex.iter_mut().skip(1) {
                    let x = comb(&x0, &item.0, 0.5);
                    *item = (x, f(&x));
                    evals += 1;
                }
            }
        }
    }
    simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
    simplex[0].0
}

/// Additive Holt–Winters with season length `m`, fitted on a history.
///
/// Fitting: a coarse grid (4 × 3 × 3 points) picks the start, then Nelder–Mead
/// refines in logit space (so every parameter stays in (0, 1) without
/// constraints). The grid guards against the local minima the one-step SSE
/// surface has in γ for long seasons; Nelder–Mead needs no gradients, which the
/// recursions would make tedious, and 3 parameters are its sweet spot. About 150
/// SSE evaluations of O(n) each.
#[derive(Debug, Clone)]
pub struct HoltWinters {
    pub params: HwParams,
    pub season: usize,
    state: State,
    errors: ErrorQuantiles,
}

impl HoltWinters {
    /// Fits on `history` (two seasons to initialise, then at least `horizon + 1`
    /// more to fit on and to measure errors for the intervals; a third season
    /// makes both much better) and readies forecasts of up to `horizon` steps
    /// after its end.
    pub fn fit(history: &[f64], season: usize, horizon: usize) -> Result<Self, ForecastError> {
        Self::fit_smoothed(history, season, horizon, 0)
    }

    /// As [`fit`](Self::fit), with the initial seasonal profile smoothed by a
    /// circular moving average of ±`smooth` samples (0: none). Worth it when a
    /// season holds many noisy samples (a day of 5-minute traffic).
    pub fn fit_smoothed(
        history: &[f64],
        season: usize,
        horizon: usize,
        smooth: usize,
    ) -> Result<Self, ForecastError> {
        check(history, season, horizon, 2)?;
        if history.len() < 2 * season + horizon + 1 {
            return Err(ForecastError::TooShort {
                what: format!("Holt-Winters with season {season}"),
                needed: 2 * season + horizon + 1,
                got: history.len(),
            });
        }
        let m = season;
        let mut best = (f64::INFINITY, [0.0; 3]);
        for a in [0.05, 0.2, 0.5, 0.8] {
            for b in [0.001, 0.02, 0.1] {
                for g in [0.05, 0.2, 0.5] {
                    let u = [logit(a), logit(b), logit(g)];
                    let v = sse(history, m, smooth, &params_of(&u));
                    if v < best.0 {
                        best = (v, u);
                    }
                }
            }
        }
        let u = nelder_mead(|u| sse(history, m, smooth, &params_of(u)), best.1, 0.7, 120);
        let params = params_of(&u);
        Ok(Self::with_params(history, season, horizon, smooth, params))
    }

    /// Holt–Winters with given parameters (no fitting); history as in
    /// [`fit_smoothed`](Self::fit_smoothed), which must have accepted it.
    pub fn with_params(
        history: &[f64],
        season: usize,
        horizon: usize,
        smooth: usize,
        params: HwParams,
    ) -> Self {
        let m = season;
        let mut state = State::init(history, m, smooth);
        let mut errors = vec![Vec::new(); horizon];
        for (t, &v) in history.iter().enumerate().skip(m) {
            // Errors from the third season on, once the state has settled.
            if t >= 2 * m {
                for (h, errs) in errors.iter_mut().enumerate() {
                    if let Some(actual) = history.get(t + h) {
                        errs.push(actual - state.forecast(h + 1));
                    }
                }
            }
            state.update(v, &params);
        }
        HoltWinters {
            params,
            season,
            state,
            errors: ErrorQuantiles::from_errors(errors),
        }
    }

    /// Takes in the next observation (after the history or the last observe).
    pub fn observe(&mut self, y: f64) {
        self.state.update(y, &self.params);
    }

    /// Forecasts leads 1..=horizon from the last observation, with intervals
    /// from the fitted h-step error quantiles (of the fitting history).
    pub fn forecast(&self, horizon: usize) -> Forecast {
        let h = horizon.min(self.season);
        let point = (1..=h).map(|k| self.state.forecast(k)).collect();
        self.errors.apply(point)
    }
}

/// Seasonal naive: the value one season earlier. Intervals from its errors on the
/// fitting history (the same for every lead up to a season).
#[derive(Debug, Clone)]
pub struct SeasonalNaive {
    pub season: usize,
    errors: ErrorQuantiles,
}

impl SeasonalNaive {
    pub fn fit(history: &[f64], season: usize, horizon: usize) -> Result<Self, ForecastError> {
        check(history, season, horizon, 2)?;
        let m = season;
        let errs: Vec<f64> = (m..history.len())
            .map(|t| history[t] - history[t - m])
            .collect();
        Ok(SeasonalNaive {
            season,
            errors: ErrorQuantiles::from_errors(vec![errs]),
        })
    }

    /// Forecast after the end of `seen` (the fitting history or a longer one).
    pub fn forecast(&self, seen: &[f64], horizon: usize) -> Forecast {
        let (n, m) = (seen.len(), self.season);
        let point = (1..=horizon.min(m))
            .map(|h| {
                seen.get((n + h - 1).wrapping_sub(m))
                    .copied()
                    .unwrap_or(f64::NAN)
            })
            .collect();
        self.errors.apply(point)
    }
}

/// Seasonal-naive forecast of `horizon` steps after `history`.
pub fn seasonal_naive(
    history: &[f64],
    season: usize,
    horizon: usize,
) -> Result<Forecast, ForecastError> {
    Ok(SeasonalNaive::fit(history, season, horizon)?.forecast(history, horizon))
}

/// Naive (persistence): the last value for every lead. Intervals from the h-step
/// changes on the fitting history.
#[derive(Debug, Clone)]
pub struct Naive {
    errors: ErrorQuantiles,
}

impl Naive {
    pub fn fit(history: &[f64], horizon: usize) -> Result<Self, ForecastError> {
        if history.len() < horizon + 2 {
            return Err(ForecastError::TooShort {
                what: "naive forecast".into(),
                needed: horizon + 2,
                got: history.len(),
            });
        }
        if let Some(v) = history.iter().find(|v| !v.is_finite()) {
            return Err(ForecastError::Invalid(format!(
                "series holds a non-finite value {v}"
            )));
        }
        let n = history.len();
        let errors = (1..=horizon)
            .map(|h| (h..n).map(|t| history[t] - history[t - h]).collect())
            .collect();
        Ok(Naive {
            errors: ErrorQuantiles::from_errors(errors),
        })
    }

    pub fn forecast(&self, seen: &[f64], horizon: usize) -> Forecast {
        let last = seen.last().copied().unwrap_or(f64::NAN);
        self.errors.apply(vec![last; horizon])
    }
}

/// Naive forecast of `horizon` steps after `history`.
pub fn naive(history: &[f64], horizon: usize) -> Result<Forecast, ForecastError> {
    Ok(Naive::fit(history, horizon)?.forecast(history, horizon))
}

fn check(y: &[f64], season: usize, horizon: usize, seasons: usize) -> Result<(), ForecastError> {
    if season < 2 {
        return Err(ForecastError::Invalid(format!(
            "season length {season} must be at least 2"
        )));
    }
    if horizon == 0 || horizon > season {
        return Err(ForecastError::Invalid(format!(
            "horizon {horizon} must be between 1 and the season length {season}"
        )));
    }
    if let Some(v) = y.iter().find(|v| !v.is_finite()) {
        return Err(ForecastError::Invalid(format!(
            "series holds a non-finite value {v}"
        )));
    }
    if y.len() < seasons * season {
        return Err(ForecastError::TooShort {
            what: format!("a forecast with season {season}"),
            needed: seasons * season,
            got: y.len(),
        });
    }
    Ok(())
}

/// The season to model for a history of `len` samples at `per_day` samples a
/// day: weekly when at least three weeks are there (two to initialise, one to
/// fit), as a weekly season also carries the daily shape; daily otherwise.
pub fn choose_season(len: usize, per_day: usize) -> usize {
    if len >= 21 * per_day {
        7 * per_day
    } else {
        per_day
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, Normal};

    fn daily(n: usize, m: usize) -> Vec<f64> {
        (0..n)
            .map(|t| {
                let x = 2.0 * std::f64::consts::PI * (t % m) as f64 / m as f64;
                100.0 + 40.0 * x.sin() + 10.0 * (3.0 * x).cos()
            })
            .collect()
    }

    #[test]
    fn pure_seasonal_series_is_forecast_near_exactly() {
        let m = 48;
        let y = daily(6 * m, m);
        let hw = HoltWinters::fit(&y[..5 * m], m, 12).expect("fits");
        let f = hw.forecast(12);
        for (h, p) in f.point.iter().enumerate() {
            let actual = y[5 * m + h];
            assert!(
                (p - actual).abs() < 1e-6 * actual,
                "lead {}: {p} vs {actual}",
                h + 1
            );
        }
        let sn = seasonal_naive(&y[..5 * m], m, 12).expect("baseline");
        assert!((sn.point[0] - y[5 * m]).abs() < 1e-9);
    }

    #[test]
    fn seasonal_series_with_trend_is_tracked() {
        let m = 24;
        let y: Vec<f64> = daily(8 * m, m)
            .iter()
            .enumerate()
            .map(|(t, v)| v + 0.5 * t as f64)
            .collect();
        let hw = HoltWinters::fit(&y[..7 * m], m, 6).expect("fits");
        let f = hw.forecast(6);
        for (h, p) in f.point.iter().enumerate() {
            let actual = y[7 * m + h];
            assert!(
                (p - actual).abs() < 1e-3 * actual,
                "lead {}: {p} vs {actual}",
                h + 1
            );
        }
        // Seasonal naive cannot follow a trend: it is a day behind.
        let sn = seasonal_naive(&y[..7 * m], m, 6).expect("baseline");
        assert!((sn.point[0] - y[7 * m]).abs() > 10.0);
    }

    #[test]
    fn weekly_season_is_chosen_and_forecast_when_history_allows() {
        let per_day = 24;
        assert_eq!(choose_season(20 * per_day, per_day), per_day);
        assert_eq!(choose_season(21 * per_day, per_day), 7 * per_day);
        // Weekdays at one level, weekends at another, plus a daily shape.
        let y: Vec<f64> = (0..28 * per_day)
            .map(|t| {
                let day = t / per_day;
                let hour = (t % per_day) as f64;
                let base = if day % 7 >= 5 { 50.0 } else { 100.0 };
                base + 20.0 * (2.0 * std::f64::consts::PI * hour / 24.0).sin()
            })
            .collect();
        let n = 26 * per_day;
        let m = choose_season(n, per_day);
        let hw = HoltWinters::fit(&y[..n], m, 12).expect("fits");
        let f = hw.forecast(12);
        for (h, p) in f.point.iter().enumerate() {
            assert!((p - y[n + h]).abs() < 1e-6 * y[n + h], "lead {}", h + 1);
        }
    }

    #[test]
    fn intervals_cover_about_their_nominal_rate_on_noise() {
        let m = 24;
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let noise = Normal::new(0.0, 5.0).expect("normal");
        let y: Vec<f64> = daily(60 * m, m)
            .into_iter()
            .map(|v| v + noise.sample(&mut rng))
            .collect();
        let train = 20 * m;
        let hw = HoltWinters::fit(&y[..train], m, 1).expect("fits");
        let mut hw = hw;
        let (mut c80, mut c95, mut n) = (0, 0, 0);
        let mut sn_c80 = 0;
        for t in train..y.len() {
            let f = hw.forecast(1);
            let (lo, hi) = f.pi80[0];
            c80 += usize::from(lo <= y[t] && y[t] <= hi);
            let (lo, hi) = f.pi95[0];
            c95 += usize::from(lo <= y[t] && y[t] <= hi);
            let sn = seasonal_naive(&y[..t], m, 1).expect("baseline");
            let (lo, hi) = sn.pi80[0];
            sn_c80 += usize::from(lo <= y[t] && y[t] <= hi);
            n += 1;
            hw.observe(y[t]);
        }
        let (r80, r95) = (c80 as f64 / n as f64, c95 as f64 / n as f64);
        assert!((0.74..=0.86).contains(&r80), "80% interval covers {r80}");
        assert!((0.91..=0.985).contains(&r95), "95% interval covers {r95}");
        let s80 = sn_c80 as f64 / n as f64;
        assert!(
            (0.74..=0.86).contains(&s80),
            "seasonal-naive 80% covers {s80}"
        );
    }

    #[test]
    fn smoothing_the_profile_helps_on_noisy_samples() {
        let m = 96;
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let noise = Normal::new(0.0, 15.0).expect("normal");
        let clean = daily(4 * m, m);
        let y: Vec<f64> = clean.iter().map(|v| v + noise.sample(&mut rng)).collect();
        let err = |smooth: usize| {
            let hw = HoltWinters::fit_smoothed(&y[..3 * m], m, 4, smooth).expect("fits");
            let mut hw = hw;
            let mut total = 0.0;
            for t in 3 * m..4 * m - 4 {
                total += (hw.forecast(4).point[3] - clean[t + 3]).abs();
                hw.observe(y[t]);
            }
            total
        };
        let (raw, smoothed) = (err(0), err(4));
        assert!(smoothed < raw, "smoothed {smoothed} vs raw {raw}");
    }

    #[test]
    fn naive_repeats_the_last_value() {
        let y = [1.0, 2.0, 3.0, 4.0, 5.0];
        let f = naive(&y, 2).expect("naive");
        assert_eq!(f.point, vec![5.0, 5.0]);
        // Every 1-step change is +1, so the interval collapses onto +1.
        assert!((f.pi80[0].0 - 6.0).abs() < 1e-12 && (f.pi80[0].1 - 6.0).abs() < 1e-12);
    }

    #[test]
    fn refuses_short_or_bad_series() {
        assert!(matches!(
            HoltWinters::fit(&[1.0; 7], 4, 2),
            Err(ForecastError::TooShort { needed: 8, .. })
        ));
        assert!(matches!(
            HoltWinters::fit(&[1.0; 40], 4, 5),
            Err(ForecastError::Invalid(_))
        ));
        let mut y = vec![1.0; 40];
        y[3] = f64::NAN;
        assert!(matches!(
            HoltWinters::fit(&y, 4, 2),
            Err(ForecastError::Invalid(_))
        ));
        assert!(matches!(
            HoltWinters::fit(&[1.0; 10], 4, 2),
            Err(ForecastError::TooShort { needed: 11, .. })
        ));
    }
}
