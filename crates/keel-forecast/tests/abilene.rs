//! On the measured Abilene matrices (SNDlib, 5-minute, 2004-03-01..07), read from
//! the shared data beside the repository (`../shared/data`, or
//! `KEEL_SHARED_DATA`). SNDlib data is under the ZIB Academic License and is not
//! copied into the repository; without the shared data these tests say so and
//! pass, and CI, which has it, runs them.

use std::path::PathBuf;

use keel_forecast::{
    BacktestConfig, Method, Routing, TmSeries, TomoOptions, backtest, estimate_from_truth,
};
use keel_formats::{ReadOptions, TopologyFormat, TrafficFormat};

fn data_root() -> Option<PathBuf> {
    let root = std::env::var_os("KEEL_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    if root.join("traffic/sndlib/abilene").is_dir() {
        Some(root)
    } else {
        eprintln!(
            "skipped: no shared data at {} (set KEEL_SHARED_DATA to its root)",
            root.display()
        );
        None
    }
}

fn load(root: &std::path::Path) -> (keel_model::Topology, TmSeries, Routing) {
    let opts = ReadOptions::default();
    let topo = keel_formats::read_topology(
        &root.join("topologies/sndlib-xml/abilene.xml"),
        Some(TopologyFormat::SndlibXml),
        &opts,
    )
    .expect("abilene.xml reads");
    let dir = root.join("traffic/sndlib/abilene");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("traffic dir lists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    files.sort();
    let mut matrices = Vec::new();
    for f in &files {
        matrices.extend(
            keel_formats::read_traffic_series(f, &topo, Some(TrafficFormat::Csv), &opts)
                .expect("csv reads"),
        );
    }
    let tms = TmSeries::from_matrices(&topo, &matrices).expect("series");
    let routing = Routing::shortest_paths(&topo, &tms.pairs).expect("routes");
    (topo, tms, routing)
}

#[test]
fn abilene_backtest_runs_and_holt_winters_beats_seasonal_naive() {
    let Some(root) = data_root() else { return };
    let (topo, tms, routing) = load(&root);
    assert_eq!(topo.site_count(), 12);
    assert_eq!(tms.len(), 7 * 288);
    assert!(tms.observed.iter().all(|o| *o));
    let cfg = BacktestConfig {
        season: 288,
        horizon: 12,
        min_train: 3 * 288,
        origin_step: 12,
        refit_every: 288,
        seasonal_smoothing: 12,
        noise_floor: 1.0,
    };
    let links = routing.link_series(&tms);
    let r = backtest(&links, &tms.observed, &cfg).expect("backtest runs");
    assert_eq!(r.series, 30);
    assert_eq!(r.origins, 96);
    let mape = |m: Method| r.method(m).and_then(|s| s.median_mape).expect("has a MAPE");
    let (hw, sn, naive) = (
        mape(Method::HoltWinters),
        mape(Method::SeasonalNaive),
        mape(Method::Naive),
    );
    // Measured (bench/results/forecast-backtest.md): 8.4% vs 20.2%. Persistence
    // is better still at one hour ahead (8.1%), which this test records rather
    // than hides.
    assert!(hw < sn, "holt-winters {hw}% vs seasonal naive {sn}%");
    assert!(naive < hw, "naive {naive}% vs holt-winters {hw}%");
    assert!(r.hw_beats_seasonal_naive * 10 >= 9 * r.series);
    // The intervals cover roughly their nominal rate on real traffic.
    let cov = r.method(Method::HoltWinters).expect("hw");
    assert!((0.7..=0.9).contains(&cov.coverage80), "{}", cov.coverage80);
    assert!(
        (0.88..=0.99).contains(&cov.coverage95),
        "{}",
        cov.coverage95
    );
}

#[test]
fn abilene_tomogravity_improves_on_gravity() {
    let Some(root) = data_root() else { return };
    let (topo, tms, routing) = load(&root);
    let mut errors = Vec::new();
    // Every 2 hours over the week: enough to see the pattern, cheap in debug builds.
    for t in (0..tms.len()).step_by(24) {
        let truth = tms.at(t);
        let e = estimate_from_truth(
            &routing,
            &tms.pairs,
            topo.site_count(),
            &truth,
            &TomoOptions::default(),
        )
        .expect("estimates");
        assert!(e.tomogravity.iter().all(|v| *v >= 0.0));
        assert!(e.tomogravity_error < e.gravity_error, "step {t}: {e:?}");
        errors.push((e.gravity_error, e.tomogravity_error));
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let g = median(errors.iter().map(|e| e.0).collect());
    let t = median(errors.iter().map(|e| e.1).collect());
    // Measured over all 2016 steps: gravity 47.7%, tomogravity 28.6%.
    assert!((0.40..0.55).contains(&g), "gravity {g}");
    assert!((0.22..0.35).contains(&t), "tomogravity {t}");
}
