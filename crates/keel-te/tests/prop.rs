//! Property tests on random small networks: every exact solution is feasible by
//! the independent verifier, its bound is valid and tight, and it is at least as
//! good as the greedy baseline.

mod common;

use common::*;
use keel_model::{ClassId, TrafficMatrix};
use keel_te::{
    CandidatePaths, Fairness, Objective, PathKind, PathMetric, PathOptions, Problem, SolveOptions,
    Tolerance, Violation, bound, compute_paths, greedy, solve_exact, summarize, verify,
};
use proptest::prelude::*;
use rand::Rng;

const TIGHT: Tolerance = Tolerance {
    relative: 1e-7,
    absolute: 1e-6,
};

struct Instance {
    topo: keel_model::Topology,
    tm: TrafficMatrix,
    paths: CandidatePaths,
}

fn instance(
    seed: u64,
    n: usize,
    extra: usize,
    demands: usize,
    classes: u16,
    kind: usize,
) -> Instance {
    let mut r = rng(seed);
    let topo = random_topology(&mut r, n, extra);
    let tm = random_traffic(&mut r, &topo, demands, classes);
    let opts = PathOptions {
        k: r.random_range(1..=4),
        kind: PathKind::ALL[kind],
        metric: PathMetric::ALL[r.random_range(0..4)],
        latency_bounds: true,
    };
    let paths = compute_paths(&topo, &tm, &opts);
    Instance { topo, tm, paths }
}

fn opts(objective: Objective, class_priority: bool, fairness: Fairness) -> SolveOptions {
    SolveOptions {
        objective,
        class_priority,
        fairness,
        ..SolveOptions::default()
    }
}

/// Smallest carried fraction over demands with traffic and a path.
fn routable_concurrent(inst: &Instance, alloc: &keel_model::Allocation) -> f64 {
    inst.tm
        .demands()
        .iter()
        .zip(&inst.paths.per_demand)
        .zip(&alloc.demands)
        .filter(|((d, p), _)| d.rate.bps() > 0.0 && !p.is_empty())
        .map(|((d, _), a)| a.carried() / d.rate.bps())
        .fold(1.0, f64::min)
}

fn random_prices(seed: u64, links: usize) -> Vec<f64> {
    let mut r = rng(seed ^ 0x5eed);
    (0..links)
        .map(|_| {
            if r.random_bool(0.4) {
                0.0
            } else {
                r.random_range(0.0..2.0)
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn exact_solutions_are_feasible_optimal_and_beat_greedy(
        seed in any::<u64>(),
        n in 4usize..=9,
        extra in 0usize..=8,
        demands in 2usize..=14,
        classes in 1u16..=3,
        kind in 0usize..3,
    ) {
        let inst = instance(seed, n, extra, demands, classes, kind);
        let problem = Problem { topology: &inst.topo, traffic: &inst.tm, paths: &inst.paths };
        let base = greedy(&problem);
        let base_summary = summarize(&inst.topo, &inst.tm, &base);
        prop_assert!(verify(&inst.topo, &inst.tm, Some(&inst.paths), &base, TIGHT).is_ok());
        let prices = random_prices(seed, inst.topo.link_count());

        // Max-flow.
        let mf = solve_exact(&problem, &opts(Objective::MaxFlow, false, Fairness::None))
            .expect("max-flow solves");
        let report = verify(&inst.topo, &inst.tm, Some(&inst.paths), &mf.allocation, TIGHT);
        prop_assert!(report.is_ok(), "{:?}", report.err());
        let tol = 1e-9 * mf.bound.abs() + 1e-6;
        prop_assert!(mf.value <= mf.bound + tol, "{} > {}", mf.value, mf.bound);
        prop_assert!(mf.gap <= 1e-5, "max-flow gap {}", mf.gap);
        // Interior-point accuracy: the repaired optimum may sit up to its certified
        // gap (asserted <= 1e-5 above) below the true one.
        prop_assert!(
            mf.value >= base_summary.carried * (1.0 - 1e-6) - 1e-6,
            "LP {} below greedy {}",
            mf.value,
            base_summary.carried
        );
        prop_assert!(bound::max_flow_upper_bound(&problem, &prices) >= mf.value * (1.0 - 1e-9));

        // Max-concurrent.
        let mc = solve_exact(&problem, &opts(Objective::MaxConcurrent, false, Fairness::None))
            .expect("max-concurrent solves");
        let report = verify(&inst.topo, &inst.tm, Some(&inst.paths), &mc.allocation, TIGHT);
        prop_assert!(report.is_ok(), "{:?}", report.err());
        prop_assert!(mc.value <= mc.bound + 1e-9, "{} > {}", mc.value, mc.bound);
        prop_assert!(mc.gap <= 1e-5, "concurrent gap {}", mc.gap);
        prop_assert!((mc.value - routable_concurrent(&inst, &mc.allocation)).abs() < 1e-12);
        prop_assert!(mc.value >= routable_concurrent(&inst, &base) - 1e-6);
        prop_assert!(bound::max_concurrent_upper_bound(&problem, &prices) >= mc.value - 1e-9);

        // Min-MLU, when every demand with traffic has a path.
        let all_routable = inst.tm.demands().iter().zip(&inst.paths.per_demand)
            .all(|(d, p)| d.rate.bps() == 0.0 || !p.is_empty());
        let mlu = solve_exact(&problem, &opts(Objective::MinMlu, false, Fairness::None));
        if !all_routable {
            prop_assert!(mlu.is_err());
        } else {
            let mlu = mlu.expect("mlu solves");
            prop_assert!(mlu.value >= mlu.bound - 1e-9, "{} < {}", mlu.value, mlu.bound);
            prop_assert!(mlu.gap <= 1e-5, "mlu gap {}", mlu.gap);
            prop_assert!(bound::min_mlu_lower_bound(&problem, &prices) <= mlu.value + 1e-9);
            let s = summarize(&inst.topo, &inst.tm, &mlu.allocation);
            prop_assert!((s.carried - inst.tm.total()).abs() <= 1e-9 * inst.tm.total());
            prop_assert!((s.mlu - mlu.value).abs() <= 1e-12 * mlu.value.max(1.0));
            match verify(&inst.topo, &inst.tm, Some(&inst.paths), &mlu.allocation, TIGHT) {
                Ok(_) => {}
                Err(v) => {
                    // Above 100% the only thing allowed to fail is capacity, by at
                    // most the reported utilisation.
                    prop_assert!(mlu.value > 1.0, "{:?}", v);
                    for x in v {
                        match x {
                            Violation::OverCapacity { load, capacity, .. } => {
                                prop_assert!(load <= mlu.value * capacity * (1.0 + 1e-9));
                            }
                            other => prop_assert!(false, "{}", other),
                        }
                    }
                }
            }
            if (base_summary.carried - inst.tm.total()).abs() <= 1e-9 * inst.tm.total() {
                prop_assert!(mlu.value <= base_summary.mlu * (1.0 + 1e-6) + 1e-9);
            }
        }
    }

    #[test]
    fn strict_priority_gives_the_top_class_its_solo_max_flow(
        seed in any::<u64>(),
        n in 4usize..=8,
        extra in 0usize..=6,
        demands in 3usize..=12,
        kind in 0usize..3,
    ) {
        let inst = instance(seed, n, extra, demands, 3, kind);
        let problem = Problem { topology: &inst.topo, traffic: &inst.tm, paths: &inst.paths };
        let prio = solve_exact(&problem, &opts(Objective::MaxFlow, true, Fairness::None))
            .expect("solves");
        let report = verify(&inst.topo, &inst.tm, Some(&inst.paths), &prio.allocation, TIGHT);
        prop_assert!(report.is_ok(), "{:?}", report.err());

        // The default classes have distinct priorities and class 0 is the highest.
        let top = ClassId(0);
        let keep: Vec<usize> = (0..inst.tm.len())
            .filter(|&d| inst.tm.demands()[d].class == top)
            .collect();
        let solo_tm = TrafficMatrix::new(
            &inst.topo,
            inst.tm.classes().clone(),
            keep.iter().map(|&d| inst.tm.demands()[d]).collect(),
        ).expect("sub-matrix");
        let solo_paths = CandidatePaths {
            per_demand: keep.iter().map(|&d| inst.paths.per_demand[d].clone()).collect(),
        };
        let solo = solve_exact(
            &Problem { topology: &inst.topo, traffic: &solo_tm, paths: &solo_paths },
            &opts(Objective::MaxFlow, false, Fairness::None),
        ).expect("solo solves");
        let top_carried = prio.per_class[top.index()].carried;
        prop_assert!(
            (top_carried - solo.value).abs() <= 1e-6 * solo.value.max(1.0),
            "top class {} vs alone {}", top_carried, solo.value
        );

        // Priority never carries more in total than plain max-flow.
        let plain = solve_exact(&problem, &opts(Objective::MaxFlow, false, Fairness::None))
            .expect("solves");
        prop_assert!(prio.value <= plain.bound * (1.0 + 1e-9) + 1e-6);
    }

    #[test]
    fn max_min_fair_solutions_are_feasible(
        seed in any::<u64>(),
        n in 4usize..=7,
        demands in 2usize..=8,
        ratio in any::<bool>(),
        class_priority in any::<bool>(),
    ) {
        let inst = instance(seed, n, 3, demands, 2, 0);
        let problem = Problem { topology: &inst.topo, traffic: &inst.tm, paths: &inst.paths };
        let objective = if ratio { Objective::MaxConcurrent } else { Objective::MaxFlow };
        let fair = solve_exact(&problem, &opts(objective, class_priority, Fairness::MaxMin))
            .expect("solves");
        let report = verify(&inst.topo, &inst.tm, Some(&inst.paths), &fair.allocation, TIGHT);
        prop_assert!(report.is_ok(), "{:?}", report.err());
        // Without priority, the fair allocation's worst ratio is the max-concurrent
        // optimum (the first filling level), and ratio fairness can't beat it.
        if ratio && !class_priority {
            let mc = solve_exact(&problem, &opts(Objective::MaxConcurrent, false, Fairness::None))
                .expect("solves");
            prop_assert!((fair.value - mc.value).abs() <= 1e-6, "{} vs {}", fair.value, mc.value);
        }
    }
}
