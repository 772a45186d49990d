//! `keel forecast`: forecast backtests and traffic-matrix estimation on measured
//! traffic-matrix series (SNDlib's Abilene and GEANT data).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use keel_forecast::{
    BacktestConfig, BacktestReport, ForecastError, Method, Routing, TmSeries, TomoOptions,
    choose_season, estimate_series,
};
use keel_formats::{ReadOptions, TopologyFormat, TrafficFormat};
use keel_model::{Bandwidth, Topology};
use serde::Serialize;
use serde_json::json;

use crate::input::UsageError;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    Backtest(BacktestArgs),
    TmEstimate(TmArgs),
}

/// A measured network of the shared data set.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// Abilene (Internet2), 12 sites, 5-minute matrices over 7 days (March 2004).
    Abilene,
    /// GEANT, 22 sites, 15-minute matrices over about 3.5 days (May 2005).
    Geant,
}

impl Network {
    fn name(self) -> &'static str {
        match self {
            Network::Abilene => "abilene",
            Network::Geant => "geant",
        }
    }
}

/// Where the measured data is.
#[derive(clap::Args, Debug, Clone)]
pub struct DataArgs {
    /// Which measured network.
    #[arg(long, value_enum, default_value = "abilene")]
    pub network: Network,
    /// Root of the shared data (holding `topologies/sndlib-xml/<network>.xml` and
    /// `traffic/sndlib/<network>/*.csv`, time,src,dst,value in Mbit/s).
    /// SNDlib data is under the ZIB Academic License, so it is read from there
    /// and never copied into the repository.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "../shared/data",
        env = "KEEL_SHARED_DATA"
    )]
    pub data: PathBuf,
}

/// Rolling-origin backtest of traffic forecasts on measured series.
///
/// Every demand (ordered pair of sites) is one series; every link is another,
/// its load derived by routing each demand on its single shortest path (hop
/// count: SNDlib files carry no IGP metrics; ties go to the lowest link ids, no
/// ECMP), so link series are sums of demand series, not separate measurements.
///
/// At each origin (every --origin-step after --min-train) each method sees only
/// the past and forecasts --horizon ahead:
///   holt-winters     additive triple exponential smoothing, daily season (weekly
///                    when three weeks of history exist), parameters fitted by
///                    minimising one-step squared error (grid + Nelder-Mead),
///                    re-fitted every --refit-every, initial daily profile
///                    smoothed over ±--seasonal-smoothing
///   seasonal-naive   the value one day earlier
///   naive            the last value (persistence)
/// Prediction intervals (80%, 95%) come from each method's own h-step errors on
/// the history. Scores: MAPE on points at or above --noise-floor (percentages of
/// near-zero traffic say nothing), sMAPE, WAPE (Σ|error| / Σ actual) and the
/// share of actual values inside each interval.
///
/// Examples:
///   keel forecast backtest
///   keel forecast backtest --network geant --horizon 1h --json > geant.json
///   keel forecast backtest --data /srv/shared/data --horizon 30m --series links
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct BacktestArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// How far ahead to forecast (a whole number of samples, at most a day).
    #[arg(long, default_value = "1h")]
    pub horizon: humantime::Duration,
    /// Time between forecast origins; default the horizon.
    #[arg(long)]
    pub origin_step: Option<humantime::Duration>,
    /// History before the first origin; default 3 days, or the data less one day
    /// when that is shorter (never under two seasons plus the horizon).
    #[arg(long)]
    pub min_train: Option<humantime::Duration>,
    /// Re-estimate parameters and interval quantiles this often.
    #[arg(long, default_value = "1d")]
    pub refit_every: humantime::Duration,
    /// Holt-Winters smooths its initial daily profile over this much time either
    /// side (a moving average; 0s for none): a day of 5-minute samples is noisy.
    #[arg(long, default_value = "1h")]
    pub seasonal_smoothing: humantime::Duration,
    /// MAPE counts only actual values at or above this rate (e.g. 1M).
    #[arg(long, default_value = "1M")]
    pub noise_floor: Bandwidth,
    /// Which series: demands, links or all.
    #[arg(long, value_enum, default_value = "all")]
    pub series: SeriesKind,
    /// Print one JSON object (with per-series scores).
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesKind {
    Demands,
    Links,
    All,
}

/// Estimate traffic matrices from link counters and score them against the
/// measured ones ("demand deduction").
///
/// At every time step the measured matrix is turned into what a network would
/// report: the load of each link (single shortest path routing, hop count, as
/// in `keel forecast backtest`) and the traffic entering and leaving at each
/// site. From those counters alone two estimates are made:
///   gravity       x_ij = in_i * out_j / total
///   tomogravity   the matrix closest to the gravity prior (weighted by 1/prior)
///                 that reproduces the counters, x >= 0 (a convex QP, Clarabel)
/// and each is scored by its relative L2 error ||estimate - measured|| /
/// ||measured||. Printed: median and spread over all time steps.
///
/// Examples:
///   keel forecast tm-estimate
///   keel forecast tm-estimate --network geant --json > geant-tm.json
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct TmArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Weight of the prior against the counters, in units of the mean prior
    /// entry; small values let the counters decide all they can.
    #[arg(long, default_value_t = TomoOptions::default().prior_weight)]
    pub prior_weight: f64,
    /// Print one JSON object (with the errors of every step).
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Backtest(args) => backtest(args),
        Command::TmEstimate(args) => tm_estimate(args),
    }
}

/// The measured series of a network, on its SNDlib topology.
struct Dataset {
    topology: Topology,
    tms: TmSeries,
    routing: Routing,
    source: String,
}

fn load(args: &DataArgs) -> anyhow::Result<Dataset> {
    let root = &args.data;
    if !root.is_dir() {
        return Err(UsageError(format!(
            "no data directory {}: give --data DIR (the shared data root, holding topologies/ and traffic/)",
            root.display()
        ))
        .into());
    }
    let net = args.network.name();
    let topo_path = root
        .join("topologies/sndlib-xml")
        .join(format!("{net}.xml"));
    // GEANT's SNDlib file has no capacities; they do not matter here.
    let opts = ReadOptions {
        default_capacity: Some(Bandwidth::from_gbps(10.0)),
        ..ReadOptions::default()
    };
    let topology = keel_formats::read_topology(&topo_path, Some(TopologyFormat::SndlibXml), &opts)?;
    let dir = root.join("traffic/sndlib").join(net);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(UsageError(format!("no CSV traffic files in {}", dir.display())).into());
    }
    let mut matrices = Vec::new();
    for f in &files {
        matrices.extend(keel_formats::read_traffic_series(
            f,
            &topology,
            Some(TrafficFormat::Csv),
            &opts,
        )?);
    }
    let tms = TmSeries::from_matrices(&topology, &matrices).map_err(|e| input_error(e, &dir))?;
    let routing =
        Routing::shortest_paths(&topology, &tms.pairs).map_err(|e| input_error(e, &topo_path))?;
    Ok(Dataset {
        topology,
        tms,
        routing,
        source: dir.display().to_string(),
    })
}

/// Problems with the data are the user's to fix (exit 2); a solver failure is not.
fn input_error(e: ForecastError, what: &Path) -> anyhow::Error {
    match e {
        ForecastError::Solver(_) => anyhow::Error::new(e),
        other => UsageError(format!("{}: {other}", what.display())).into(),
    }
}

fn steps(d: humantime::Duration, step_minutes: i64, flag: &str) -> anyhow::Result<usize> {
    let secs = d.as_secs();
    let step = step_minutes as u64 * 60;
    if secs == 0 || secs % step != 0 || d.subsec_nanos() != 0 {
        return Err(UsageError(format!(
            "{flag} {d} is not a positive whole number of {step_minutes}-minute samples"
        ))
        .into());
    }
    Ok((secs / step) as usize)
}

fn span(ds: &Dataset) -> String {
    let first = ds.tms.labels.iter().find(|l| !l.is_empty());
    let last = ds.tms.labels.iter().rev().find(|l| !l.is_empty());
    format!(
        "{} samples of {} min ({} .. {}), {} filled gaps",
        ds.tms.len(),
        ds.tms.step_minutes,
        first.map_or("?", String::as_str),
        last.map_or("?", String::as_str),
        ds.tms.observed.iter().filter(|o| !**o).count()
    )
}

#[derive(Serialize)]
struct Part<'a> {
    kind: &'static str,
    names: Vec<String>,
    report: &'a BacktestReport,
}

fn backtest(args: BacktestArgs) -> anyhow::Result<()> {
    let mut o = String::new();
    let started = Instant::now();
    let ds = load(&args.data)?;
    let step = ds.tms.step_minutes;
    let per_day = ds.tms.per_day();
    let horizon = steps(args.horizon, step, "--horizon")?;
    let origin_step = match args.origin_step {
        Some(d) => steps(d, step, "--origin-step")?,
        None => horizon,
    };
    let refit_every = steps(args.refit_every, step, "--refit-every")?;
    let seasonal_smoothing = if args.seasonal_smoothing.as_secs() == 0 {
        0
    } else {
        steps(args.seasonal_smoothing, step, "--seasonal-smoothing")?
    };
    let n = ds.tms.len();
    let min_train = match args.min_train {
        Some(d) => steps(d, step, "--min-train")?,
        None => (3 * per_day).min(n.saturating_sub(per_day)),
    };
    let season = choose_season(min_train, per_day);
    if horizon > season {
        return Err(UsageError(format!(
            "--horizon {} is longer than the season",
            args.horizon
        ))
        .into());
    }
    let min_train = min_train.max(2 * season + horizon);
    let cfg = BacktestConfig {
        season,
        horizon,
        min_train,
        origin_step,
        refit_every,
        seasonal_smoothing,
        noise_floor: args.noise_floor.bps() / 1e6,
    };
    let sites = ds.topology.sites();
    let mut parts = Vec::new();
    if args.series != SeriesKind::Links {
        let names: Vec<String> = ds
            .tms
            .pairs
            .iter()
            .map(|&(s, d)| format!("{}->{}", sites[s].id, sites[d].id))
            .collect();
        let report = keel_forecast::backtest(&ds.tms.values, &ds.tms.observed, &cfg)
            .map_err(|e| input_error(e, Path::new(&ds.source)))?;
        parts.push(("demands", names, report));
    }
    if args.series != SeriesKind::Demands {
        let links = ds.routing.link_series(&ds.tms);
        let names: Vec<String> = ds.topology.links().iter().map(|l| l.id.clone()).collect();
        let report = keel_forecast::backtest(&links, &ds.tms.observed, &cfg)
            .map_err(|e| input_error(e, Path::new(&ds.source)))?;
        parts.push(("links", names, report));
    }
    let elapsed = started.elapsed();
    if args.json {
        let out = json!({
            "network": args.data.network.name(),
            "source": ds.source,
            "samples": n,
            "step_minutes": step,
            "routing": "single shortest path per pair, hop count, lowest link ids on ties",
            "noise_floor_mbps": cfg.noise_floor,
            "parts": parts.iter().map(|(kind, names, report)| Part { kind, names: names.clone(), report }).collect::<Vec<_>>(),
            "seconds": elapsed.as_secs_f64(),
        });
        writeln!(o, "{}", serde_json::to_string_pretty(&out)?)?;
        return emit(&o);
    }
    writeln!(
        o,
        "network    {} — {} sites, {} links ({})",
        ds.topology.name(),
        sites.len(),
        ds.topology.link_count(),
        ds.source
    )?;
    writeln!(o, "data       {}", span(&ds))?;
    writeln!(
        o,
        "routing    each demand on its single shortest path (hop count); link loads derived"
    )?;
    writeln!(
        o,
        "backtest   horizon {} ({horizon} samples), season {} samples ({}), first origin after {} samples, origins every {origin_step} samples, refit every {refit_every}, profile smoothed ±{seasonal_smoothing}",
        args.horizon,
        season,
        if season == per_day { "a day" } else { "a week" },
        min_train,
    )?;
    writeln!(
        o,
        "MAPE       on points >= {} Mbit/s; series with half their points below have none",
        cfg.noise_floor
    )?;
    for (kind, _, r) in &parts {
        writeln!(o)?;
        writeln!(o, "{kind}: {} series, {} origins", r.series, r.origins)?;
        writeln!(
            o,
            "  {:<15} {:>11} {:>11} {:>12} {:>7} {:>8} {:>8}",
            "method", "median MAPE", "pooled MAPE", "median sMAPE", "WAPE", "cover80", "cover95"
        )?;
        for s in &r.summary {
            let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}%"));
            writeln!(
                o,
                "  {:<15} {:>11} {:>11} {:>12} {:>7} {:>8} {:>8}",
                s.method.name(),
                pct(s.median_mape),
                pct(s.pooled_mape),
                format!("{:.2}%", s.median_smape),
                format!("{:.2}%", s.pooled_wape),
                format!("{:.1}%", 100.0 * s.coverage80),
                format!("{:.1}%", 100.0 * s.coverage95),
            )?;
        }
        let with_mape = r.method(Method::HoltWinters).map_or(0, |s| s.mape_series);
        writeln!(
            o,
            "  holt-winters has the lower MAPE on {} of {with_mape} series against seasonal-naive, {} against naive",
            r.hw_beats_seasonal_naive, r.hw_beats_naive
        )?;
    }
    writeln!(o)?;
    writeln!(o, "runtime    {:.1} s", elapsed.as_secs_f64())?;
    emit(&o)
}

/// Prints the report; a reader that has gone (`| head`) ends it quietly.
fn emit(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = p * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (pos - lo as f64) * (sorted[hi] - sorted[lo])
}

fn tm_estimate(args: TmArgs) -> anyhow::Result<()> {
    if !(args.prior_weight.is_finite() && args.prior_weight > 0.0) {
        return Err(UsageError(format!(
            "--prior-weight {} must be positive",
            args.prior_weight
        ))
        .into());
    }
    let mut o = String::new();
    let started = Instant::now();
    let ds = load(&args.data)?;
    let opts = TomoOptions {
        prior_weight: args.prior_weight,
    };
    let errors = estimate_series(&ds.routing, &ds.tms, ds.topology.site_count(), &opts)?;
    let elapsed = started.elapsed();
    let stats = |get: fn(&keel_forecast::StepError) -> f64| {
        let mut v: Vec<f64> = errors.iter().map(get).collect();
        v.sort_by(f64::total_cmp);
        let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
        (
            percentile(&v, 0.5),
            percentile(&v, 0.1),
            percentile(&v, 0.9),
            mean,
        )
    };
    let g = stats(|e| e.gravity);
    let t = stats(|e| e.tomogravity);
    let better = errors.iter().filter(|e| e.tomogravity < e.gravity).count();
    if args.json {
        let out = json!({
            "network": args.data.network.name(),
            "source": ds.source,
            "sites": ds.topology.site_count(),
            "links": ds.topology.link_count(),
            "pairs": ds.tms.pairs.len(),
            "steps": errors.len(),
            "prior_weight": args.prior_weight,
            "routing": "single shortest path per pair, hop count, lowest link ids on ties",
            "gravity": {"median": g.0, "p10": g.1, "p90": g.2, "mean": g.3},
            "tomogravity": {"median": t.0, "p10": t.1, "p90": t.2, "mean": t.3},
            "tomogravity_better_steps": better,
            "per_step": errors.iter().map(|e| json!({
                "time": ds.tms.labels[e.time], "gravity": e.gravity, "tomogravity": e.tomogravity
            })).collect::<Vec<_>>(),
            "seconds": elapsed.as_secs_f64(),
        });
        writeln!(o, "{}", serde_json::to_string_pretty(&out)?)?;
        return emit(&o);
    }
    writeln!(
        o,
        "network    {} — {} sites, {} links, {} demands ({})",
        ds.topology.name(),
        ds.topology.site_count(),
        ds.topology.link_count(),
        ds.tms.pairs.len(),
        ds.source
    )?;
    writeln!(o, "data       {}", span(&ds))?;
    writeln!(
        o,
        "counters   {} link loads (single shortest path, hop count) + {} ingress + {} egress totals per step",
        ds.topology.link_count(),
        ds.topology.site_count(),
        ds.topology.site_count()
    )?;
    writeln!(o)?;
    writeln!(o, "relative L2 error over {} steps", errors.len())?;
    writeln!(
        o,
        "  {:<12} {:>8} {:>8} {:>8} {:>8}",
        "estimate", "median", "p10", "p90", "mean"
    )?;
    for (name, s) in [("gravity", g), ("tomogravity", t)] {
        writeln!(
            o,
            "  {:<12} {:>7.1}% {:>7.1}% {:>7.1}% {:>7.1}%",
            name,
            100.0 * s.0,
            100.0 * s.1,
            100.0 * s.2,
            100.0 * s.3
        )?;
    }
    writeln!(
        o,
        "  tomogravity is closer than gravity at {better} of {} steps",
        errors.len()
    )?;
    writeln!(o)?;
    writeln!(o, "runtime    {:.1} s", elapsed.as_secs_f64())?;
    emit(&o)
}
