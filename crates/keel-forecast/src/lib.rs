//! Seeing ahead: per-series traffic forecasts, their rolling-origin evaluation, and
//! traffic-matrix estimation from link counters.
//!
//! Pure computation over numbers the caller passes in (no files, no clocks):
//!
//! - [`model`]: additive Holt–Winters (triple exponential smoothing) with its
//!   parameters fitted by minimising one-step-ahead squared error, the seasonal-naive
//!   and naive (persistence) baselines, and prediction intervals from the empirical
//!   quantiles of each method's own h-step errors on the history.
//! - [`backtest`]: rolling-origin evaluation (fit on the past, forecast h steps,
//!   score against what came) with MAPE above a noise floor, sMAPE, WAPE and the
//!   empirical coverage of the 80% and 95% intervals.
//! - [`series`]: a time-indexed series of traffic matrices as dense per-pair
//!   series, the single-shortest-path routing matrix and the link loads it implies.
//! - [`tomo`]: the gravity prior from ingress/egress totals and tomogravity (the
//!   prior corrected so that the routing reproduces the link counters, x ≥ 0).

pub mod backtest;
mod error;
pub mod model;
pub mod series;
pub mod tomo;

pub use backtest::{BacktestConfig, BacktestReport, Method, MethodSummary, SeriesScore, backtest};
pub use error::ForecastError;
pub use model::{Forecast, HoltWinters, HwParams, Naive, SeasonalNaive, choose_season};
pub use series::{Routing, TmSeries, margins};
pub use tomo::{
    Counters, Estimate, StepError, TomoOptions, estimate_from_truth, estimate_series, gravity,
    relative_l2, tomogravity,
};
