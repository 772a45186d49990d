//! Rolling-origin evaluation of the forecasting methods on many series.
//!
//! For every origin o (from `min_train` on, every `origin_step` samples) each
//! method sees only `y[..o]` and forecasts leads 1..=horizon, which are scored
//! against `y[o..o + horizon]`. Parameters and interval quantiles are re-estimated
//! every `refit_every` samples (a day by default) on all data before the origin;
//! between refits Holt–Winters keeps filtering the new observations with the
//! parameters it has, as a deployed forecaster would. Refitting at every origin
//! changes little (the parameters drift slowly) and costs 12 to 24 times more.

use rayon::prelude::*;
use serde::Serialize;

use crate::ForecastError;
use crate::model::{Forecast, HoltWinters, Naive, SeasonalNaive};

/// The methods compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    HoltWinters,
    SeasonalNaive,
    Naive,
}

impl Method {
    pub const ALL: [Method; 3] = [Method::HoltWinters, Method::SeasonalNaive, Method::Naive];

    pub fn name(self) -> &'static str {
        match self {
            Method::HoltWinters => "holt-winters",
            Method::SeasonalNaive => "seasonal-naive",
            Method::Naive => "naive",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BacktestConfig {
    /// Season length in samples (a day, or a week when the history allows).
    pub season: usize,
    /// Leads forecast at each origin, in samples.
    pub horizon: usize,
    /// Samples before the first origin (at least two seasons plus one).
    pub min_train: usize,
    /// Samples between origins.
    pub origin_step: usize,
    /// Samples between re-estimations of parameters and interval quantiles.
    pub refit_every: usize,
    /// Holt–Winters smooths its initial seasonal profile over ±this many
    /// samples (see [`HoltWinters::fit_smoothed`]); 0 for none.
    pub seasonal_smoothing: usize,
    /// MAPE counts only actual values at or above this (same unit as the series):
    /// percentage errors on near-zero traffic are noise, not skill.
    pub noise_floor: f64,
}

/// Scores of one method on one series, over all origins and leads.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SeriesScore {
    /// Mean absolute percentage error (%) over points with actual >= the noise
    /// floor; `None` when fewer than half the points are.
    pub mape: Option<f64>,
    /// Symmetric MAPE (%, 0..200) over all points where actual + forecast > 0.
    pub smape: f64,
    /// Σ|error| / Σ actual (%).
    pub wape: f64,
    pub coverage80: f64,
    pub coverage95: f64,
    pub points: usize,
}

#[derive(Debug, Clone, Default)]
struct Acc {
    ape: f64,
    n_ape: usize,
    smape: f64,
    n_smape: usize,
    abs_err: f64,
    actual: f64,
    c80: usize,
    c95: usize,
    n: usize,
}

impl Acc {
    fn add(&mut self, y: f64, f: &Forecast, h: usize, floor: f64) {
        let p = f.point[h];
        let e = (y - p).abs();
        if y >= floor && y > 0.0 {
            self.ape += e / y;
            self.n_ape += 1;
        }
        if y.abs() + p.abs() > 0.0 {
            self.smape += 2.0 * e / (y.abs() + p.abs());
            self.n_smape += 1;
        }
        self.abs_err += e;
        self.actual += y.abs();
        let (lo, hi) = f.pi80[h];
        self.c80 += usize::from(lo <= y && y <= hi);
        let (lo, hi) = f.pi95[h];
        self.c95 += usize::from(lo <= y && y <= hi);
        self.n += 1;
    }

    fn merge(&mut self, o: &Acc) {
        self.ape += o.ape;
        self.n_ape += o.n_ape;
        self.smape += o.smape;
        self.n_smape += o.n_smape;
        self.abs_err += o.abs_err;
        self.actual += o.actual;
        self.c80 += o.c80;
        self.c95 += o.c95;
        self.n += o.n;
    }

    fn score(&self) -> SeriesScore {
        let ratio = |a: f64, b: usize| if b == 0 { 0.0 } else { a / b as f64 };
        SeriesScore {
            mape: (self.n_ape * 2 >= self.n && self.n_ape > 0)
                .then(|| 100.0 * self.ape / self.n_ape as f64),
            smape: 100.0 * ratio(self.smape, self.n_smape),
            wape: if self.actual > 0.0 {
                100.0 * self.abs_err / self.actual
            } else {
                0.0
            },
            coverage80: ratio(self.c80 as f64, self.n),
            coverage95: ratio(self.c95 as f64, self.n),
            points: self.n,
        }
    }
}

/// One method over all series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MethodSummary {
    pub method: Method,
    /// Median over series (that have a MAPE) of the per-series MAPE.
    pub median_mape: Option<f64>,
    /// Series that have a MAPE (enough points above the noise floor).
    pub mape_series: usize,
    /// MAPE over all points of all series at or above the noise floor.
    pub pooled_mape: Option<f64>,
    pub median_smape: f64,
    /// Σ|error| / Σ actual over everything (%).
    pub pooled_wape: f64,
    pub coverage80: f64,
    pub coverage95: f64,
    pub points: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BacktestReport {
    pub config: BacktestConfig,
    pub series: usize,
    pub origins: usize,
    pub summary: Vec<MethodSummary>,
    /// Per series, one score per method (in [`Method::ALL`] order).
    pub per_series: Vec<Vec<SeriesScore>>,
    /// Series where Holt–Winters has a strictly lower MAPE than seasonal naive,
    /// among those with a MAPE.
    pub hw_beats_seasonal_naive: usize,
    /// Same against naive.
    pub hw_beats_naive: usize,
}

impl BacktestReport {
    pub fn method(&self, m: Method) -> Option<&MethodSummary> {
        self.summary.iter().find(|s| s.method == m)
    }
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Runs the rolling-origin backtest on every series (same length, same time
/// axis). `observed[t]` false marks a filled gap: it is forecast through but
/// never scored.
pub fn backtest(
    series: &[Vec<f64>],
    observed: &[bool],
    cfg: &BacktestConfig,
) -> Result<BacktestReport, ForecastError> {
    let n = observed.len();
    if let Some(s) = series.iter().find(|s| s.len() != n) {
        return Err(ForecastError::Invalid(format!(
            "series of {} samples on a time axis of {n}",
            s.len()
        )));
    }
    if cfg.origin_step == 0 || cfg.refit_every == 0 {
        return Err(ForecastError::Invalid(
            "origin step and refit interval must be positive".into(),
        ));
    }
    if cfg.min_train < 2 * cfg.season + cfg.horizon {
        return Err(ForecastError::Invalid(format!(
            "training needs two seasons plus the horizon: {} samples, not {}",
            2 * cfg.season + cfg.horizon,
            cfg.min_train
        )));
    }
    if cfg.min_train + cfg.horizon > n {
        return Err(ForecastError::TooShort {
            what: "a backtest".into(),
            needed: cfg.min_train + cfg.horizon,
            got: n,
        });
    }
    let origins: Vec<usize> = (cfg.min_train..=n - cfg.horizon)
        .step_by(cfg.origin_step)
        .collect();
    let accs: Vec<[Acc; 3]> = series
        .par_iter()
        .map(|y| one_series(y, observed, &origins, cfg))
        .collect::<Result<_, _>>()?;

    let mut summary = Vec::new();
    for (k, method) in Method::ALL.into_iter().enumerate() {
        let mut pooled = Acc::default();
        for a in &accs {
            pooled.merge(&a[k]);
        }
        let scores: Vec<SeriesScore> = accs.iter().map(|a| a[k].score()).collect();
        let mapes: Vec<f64> = scores.iter().filter_map(|s| s.mape).collect();
        let p = pooled.score();
        summary.push(MethodSummary {
            method,
            median_mape: median(mapes.clone()),
            mape_series: mapes.len(),
            pooled_mape: (pooled.n_ape > 0).then(|| 100.0 * pooled.ape / pooled.n_ape as f64),
            median_smape: median(scores.iter().map(|s| s.smape).collect()).unwrap_or(0.0),
            pooled_wape: p.wape,
            coverage80: p.coverage80,
            coverage95: p.coverage95,
            points: p.points,
        });
    }
    let per_series: Vec<Vec<SeriesScore>> = accs
        .iter()
        .map(|a| a.iter().map(Acc::score).collect())
        .collect();
    let beats = |other: usize| {
        per_series
            .iter()
            .filter(|s| matches!((s[0].mape, s[other].mape), (Some(a), Some(b)) if a < b))
            .count()
    };
    Ok(BacktestReport {
        config: cfg.clone(),
        series: series.len(),
        origins: origins.len(),
        summary,
        hw_beats_seasonal_naive: beats(1),
        hw_beats_naive: beats(2),
        per_series,
    })
}

fn one_series(
    y: &[f64],
    observed: &[bool],
    origins: &[usize],
    cfg: &BacktestConfig,
) -> Result<[Acc; 3], ForecastError> {
    let (m, h) = (cfg.season, cfg.horizon);
    let mut accs: [Acc; 3] = Default::default();
    let mut models: Option<(HoltWinters, usize, SeasonalNaive, Naive)> = None;
    for &o in origins {
        let refit = (o - cfg.min_train) % cfg.refit_every < cfg.origin_step;
        let (hw, seen, sn, nv) = match (&mut models, refit) {
            (Some(models), false) => models,
            (slot, _) => slot.insert((
                HoltWinters::fit_smoothed(&y[..o], m, h, cfg.seasonal_smoothing)?,
                o,
                SeasonalNaive::fit(&y[..o], m, h)?,
                Naive::fit(&y[..o], h)?,
            )),
        };
        while *seen < o {
            hw.observe(y[*seen]);
            *seen += 1;
        }
        let forecasts = [
            hw.forecast(h),
            sn.forecast(&y[..o], h),
            nv.forecast(&y[..o], h),
        ];
        for lead in 0..h {
            let t = o + lead;
            if !observed[t] {
                continue;
            }
            for (acc, f) in accs.iter_mut().zip(&forecasts) {
                acc.add(y[t], f, lead, cfg.noise_floor);
            }
        }
    }
    Ok(accs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(m: usize) -> BacktestConfig {
        BacktestConfig {
            season: m,
            horizon: 4,
            min_train: 3 * m,
            origin_step: 2,
            refit_every: m,
            seasonal_smoothing: 0,
            noise_floor: 1.0,
        }
    }

    #[test]
    fn scores_every_method_and_skips_gaps() {
        let m = 12;
        let y: Vec<f64> = (0..6 * m).map(|t| 50.0 + 10.0 * (t % m) as f64).collect();
        let mut observed = vec![true; y.len()];
        observed[4 * m] = false;
        let r = backtest(&[y.clone(), y], &observed, &cfg(m)).expect("runs");
        assert_eq!(r.series, 2);
        assert_eq!(r.summary.len(), 3);
        let hw = r.method(Method::HoltWinters).expect("hw");
        let sn = r.method(Method::SeasonalNaive).expect("sn");
        // A pure season: both seasonal methods are exact.
        assert!(hw.median_mape.expect("mape") < 1e-6, "{hw:?}");
        assert!(sn.median_mape.expect("mape") < 1e-9, "{sn:?}");
        // Naive is not: the series ramps within the day.
        assert!(
            r.method(Method::Naive)
                .and_then(|s| s.median_mape)
                .expect("mape")
                > 1.0
        );
        // One point skipped in each window that covers it.
        let full = r.origins * 4 * 2;
        assert!(
            hw.points < full && hw.points >= full - 2 * 4,
            "{} of {full}",
            hw.points
        );
    }

    #[test]
    fn mape_ignores_points_below_the_noise_floor() {
        let m = 12;
        // Tiny values with big relative swings: no MAPE, but sMAPE exists.
        let y: Vec<f64> = (0..6 * m).map(|t| 0.01 * ((t * 7) % 5) as f64).collect();
        let r = backtest(&[y], &vec![true; 6 * m], &cfg(m)).expect("runs");
        let hw = r.method(Method::HoltWinters).expect("hw");
        assert_eq!(hw.median_mape, None);
        assert_eq!(hw.mape_series, 0);
        assert!(hw.median_smape > 0.0);
    }

    #[test]
    fn refuses_a_config_that_cannot_train() {
        let y = vec![vec![1.0; 100]];
        let obs = vec![true; 100];
        let mut c = cfg(12);
        c.min_train = 20;
        assert!(matches!(
            backtest(&y, &obs, &c),
            Err(ForecastError::Invalid(_))
        ));
        c.min_train = 99;
        assert!(matches!(
            backtest(&y, &obs, &c),
            Err(ForecastError::TooShort { .. })
        ));
    }
}
