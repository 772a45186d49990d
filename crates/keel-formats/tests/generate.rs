//! NCFlow-style traffic-matrix generators.

mod common;

use keel_formats::generate::{GenError, GenOptions, ModelParams, TmModel, generate};
use keel_formats::{ReadOptions, read_topology};
use keel_model::{
    Bandwidth, ClassSet, NewLink, Site, SiteId, Topology, TopologyBuilder, TrafficMatrix,
};

/// Ten sites on a bidirectional ring with two chords; capacities vary so that
/// gravity is not uniform.
fn ring() -> Topology {
    let mut b = TopologyBuilder::new("ring");
    let n = 10u32;
    for i in 0..n {
        b.add_site(Site::new(format!("s{i}"))).expect("site");
    }
    let mut link = |a: u32, z: u32, gbps: f64| {
        for (s, d) in [(a, z), (z, a)] {
            b.add_link(NewLink::new(
                SiteId(s),
                SiteId(d),
                Bandwidth::from_gbps(gbps),
            ))
            .expect("link");
        }
    };
    for i in 0..n {
        link(i, (i + 1) % n, 10.0 * f64::from(1 + i % 3));
    }
    link(0, 5, 100.0);
    link(2, 7, 40.0);
    b.build().expect("topology")
}

fn gen_with(
    t: &Topology,
    model: TmModel,
    seed: u64,
    scale: f64,
    params: ModelParams,
) -> TrafficMatrix {
    let opts = GenOptions {
        model,
        seed,
        scale,
        params,
        ..GenOptions::default()
    };
    generate(t, &ClassSet::default(), &opts).expect("generates")
}

fn gen_tm(t: &Topology, model: TmModel, seed: u64, scale: f64) -> TrafficMatrix {
    gen_with(t, model, seed, scale, ModelParams::default())
}

fn within(got: f64, want: f64, rel: f64) -> bool {
    (got - want).abs() <= rel * want.abs()
}

#[test]
fn model_names_parse() {
    for m in TmModel::ALL {
        assert_eq!(m.to_string().parse::<TmModel>(), Ok(m));
    }
    assert_eq!("Gravity".parse::<TmModel>(), Ok(TmModel::Gravity));
    assert!("exponential".parse::<TmModel>().is_err());
}

#[test]
fn same_seed_same_matrix_other_seed_other_matrix() {
    let t = ring();
    for m in TmModel::ALL {
        let a = gen_tm(&t, m, 42, 1.0);
        assert!(!a.is_empty(), "{m}");
        assert_eq!(a, gen_tm(&t, m, 42, 1.0), "{m}: not deterministic");
        assert_ne!(a, gen_tm(&t, m, 43, 1.0), "{m}: seed ignored");
        let be = ClassSet::default().default_class();
        assert!(
            a.demands()
                .iter()
                .all(|d| d.class == be && d.src != d.dst && d.rate.bps() > 0.0)
        );
    }
}

#[test]
fn the_random_stream_is_stable() {
    // Users record seeds: a change of generator or stream must be deliberate.
    let tm = gen_tm(&ring(), TmModel::Uniform, 1, 1.0);
    let first = tm.demands()[0];
    assert_eq!((first.src, first.dst), (SiteId(0), SiteId(1)));
    let max = 2.0 * 0.0025 * ring().links().iter().map(|l| l.capacity.bps()).sum::<f64>() / 90.0;
    assert!(first.rate.bps() > 0.0 && first.rate.bps() < max);
    assert_eq!(first.rate.bps(), STABLE_FIRST_UNIFORM, "stream changed");
}

const STABLE_FIRST_UNIFORM: f64 = 14757807.667711094;

#[test]
fn scale_multiplies_exactly() {
    let t = ring();
    for m in TmModel::ALL {
        let one = gen_tm(&t, m, 7, 1.0);
        for scale in [0.5, 3.0, 128.0] {
            let s = gen_tm(&t, m, 7, scale);
            assert_eq!(s.len(), one.len(), "{m}");
            for (a, b) in one.demands().iter().zip(s.demands()) {
                assert_eq!((a.src, a.dst), (b.src, b.dst));
                assert_eq!(b.rate.bps(), a.rate.bps() * scale, "{m} x{scale}");
            }
        }
        assert!(gen_tm(&t, m, 7, 0.0).is_empty());
    }
}

#[test]
fn expected_totals_match_the_parameters() {
    let t = ring();
    let cap: f64 = t.links().iter().map(|l| l.capacity.bps()).sum();
    let p = ModelParams::default().resolve(&t).expect("defaults");
    let total = 0.0025 * cap;
    assert_eq!(p.total_demand.map(Bandwidth::bps), Some(total));
    assert_eq!(p.max_demand.map(Bandwidth::bps), Some(2.0 * total / 90.0));
    // Averages over seeds, with loose bounds: each model aims at the same total.
    for (m, tol) in [
        (TmModel::Gravity, 0.05),
        (TmModel::Uniform, 0.05),
        (TmModel::Bimodal, 0.1),
        (TmModel::Poisson, 0.05),
    ] {
        let mean = (0..20).map(|s| gen_tm(&t, m, s, 1.0).total()).sum::<f64>() / 20.0;
        assert!(
            within(mean, total, tol),
            "{m}: mean total {mean} vs {total}"
        );
    }
    // An explicit total is honoured; without noise gravity is exact.
    let params = ModelParams {
        total_demand: Some(Bandwidth::from_gbps(3.0)),
        ..ModelParams::default()
    };
    let noisy = gen_with(&t, TmModel::Gravity, 5, 1.0, params.clone());
    assert!(within(noisy.total(), 3e9, 0.1), "{}", noisy.total());
    let exact = gen_with(
        &t,
        TmModel::Gravity,
        5,
        1.0,
        ModelParams {
            random: Some(false),
            ..params
        },
    );
    assert!(within(exact.total(), 3e9, 1e-9), "{}", exact.total());
    assert_eq!(exact.len(), 90);
    // The gravity shape: the out-share of the source times the in-share of the
    // destination, e.g. demands out of the hub 0 exceed those out of site 1.
    let out_of = |s: u32| -> f64 {
        exact
            .demands()
            .iter()
            .filter(|d| d.src == SiteId(s))
            .map(|d| d.rate.bps())
            .sum()
    };
    let out_cap = |s: u32| -> f64 {
        t.out_links(SiteId(s))
            .iter()
            .map(|l| t.link(*l).capacity.bps())
            .sum()
    };
    assert!(within(out_of(0) / out_of(1), out_cap(0) / out_cap(1), 1e-9));
}

#[test]
fn explicit_parameters_bound_the_entries() {
    let t = ring();
    let params = ModelParams {
        max_demand: Some(Bandwidth::from_mbps(10.0)),
        ..ModelParams::default()
    };
    let u = gen_with(&t, TmModel::Uniform, 3, 2.0, params.clone());
    assert!(u.demands().iter().all(|d| d.rate.bps() <= 20e6));
    let b = gen_with(
        &t,
        TmModel::Bimodal,
        3,
        1.0,
        ModelParams {
            fraction: Some(1.0),
            high_range: Some((Bandwidth::from_mbps(5.0), Bandwidth::from_mbps(5.0))),
            ..params
        },
    );
    assert_eq!(b.len(), 90);
    assert!(b.demands().iter().all(|d| d.rate.bps() == 5e6));
    // Poisson entries are whole counts of const_factor.
    let p = gen_with(
        &t,
        TmModel::Poisson,
        3,
        1.0,
        ModelParams {
            decay: Some(0.5),
            lam: Some(50.0),
            const_factor: Some(Bandwidth::from_mbps(1.0)),
            ..ModelParams::default()
        },
    );
    assert!(
        p.demands().iter().all(|d| d.rate.bps() % 1e6 == 0.0),
        "counts x 1 Mbit/s"
    );
}

#[test]
fn only_pairs_with_a_path_get_demands() {
    // a -> b -> c, and an isolated d.
    let mut b = TopologyBuilder::new("line");
    for id in ["a", "b", "c", "d"] {
        b.add_site(Site::new(id)).expect("site");
    }
    for (s, d) in [(0, 1), (1, 2)] {
        b.add_link(NewLink::new(
            SiteId(s),
            SiteId(d),
            Bandwidth::from_gbps(1.0),
        ))
        .expect("link");
    }
    let t = b.build().expect("topology");
    for m in [TmModel::Uniform, TmModel::Bimodal, TmModel::Poisson] {
        let tm = gen_tm(&t, m, 1, 1.0);
        let pairs: Vec<(u32, u32)> = tm.demands().iter().map(|d| (d.src.0, d.dst.0)).collect();
        assert!(
            pairs.iter().all(|p| [(0, 1), (0, 2), (1, 2)].contains(p)),
            "{m}: {pairs:?}"
        );
    }
    // No strongly connected pair: gravity has nothing to spread.
    assert!(gen_tm(&t, TmModel::Gravity, 1, 1.0).is_empty());
}

#[test]
fn invalid_parameters_are_errors() {
    let t = ring();
    let classes = ClassSet::default();
    let bad = |opts: GenOptions| generate(&t, &classes, &opts).expect_err("invalid");
    assert!(matches!(
        bad(GenOptions {
            scale: -1.0,
            ..Default::default()
        }),
        GenError::InvalidParam { name: "scale", .. }
    ));
    assert!(matches!(
        bad(GenOptions {
            scale: f64::NAN,
            ..Default::default()
        }),
        GenError::InvalidParam { .. }
    ));
    let params = |p: ModelParams| GenOptions {
        params: p,
        ..Default::default()
    };
    let e = bad(params(ModelParams {
        fraction: Some(1.5),
        ..Default::default()
    }));
    assert_eq!(
        e.to_string(),
        "invalid traffic-model parameter fraction: 1.5 must be within [0, 1]"
    );
    assert!(matches!(
        bad(params(ModelParams {
            low_range: Some((Bandwidth::from_mbps(2.0), Bandwidth::from_mbps(1.0))),
            ..Default::default()
        })),
        GenError::InvalidParam {
            name: "low_range",
            ..
        }
    ));
    assert!(matches!(
        bad(GenOptions {
            model: TmModel::Poisson,
            params: ModelParams {
                lam: Some(1e300),
                ..Default::default()
            },
            ..Default::default()
        }),
        GenError::InvalidParam { name: "lam", .. }
    ));
    assert!(matches!(
        bad(GenOptions {
            class: keel_model::ClassId(99),
            ..Default::default()
        }),
        GenError::InvalidParam { name: "class", .. }
    ));
}

#[test]
fn shared_topologies_get_moderate_gravity_loads() {
    let data = data_or_skip!();
    let opts = ReadOptions {
        default_capacity: Some(Bandwidth::from_gbps(1.0)),
        ..ReadOptions::default()
    };
    for rel in [
        "teal-json/B4.json",
        "graphml/topology-zoo/GtsCe.graphml",
        "repetita/Abilene.graph",
    ] {
        let t = read_topology(&data.join("topologies").join(rel), None, &opts).expect("parses");
        let cap: f64 = t.links().iter().map(|l| l.capacity.bps()).sum();
        for m in TmModel::ALL {
            let tm = gen_tm(&t, m, 11, 1.0);
            assert!(
                within(tm.total(), 0.0025 * cap, 0.25),
                "{rel} {m}: {} vs {}",
                tm.total(),
                0.0025 * cap
            );
        }
    }
}
