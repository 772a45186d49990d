mod common;

use common::*;
use keel_model::{Bandwidth, ClassSet, Demand, DemandId, Path, Topology, TrafficMatrix};
use keel_te::{
    CandidatePaths, Fairness, GapKind, Objective, PathOptions, Problem, Solution, SolveOptions,
    TeError, Tolerance, bound, compute_paths, greedy, solve_exact, summarize, verify,
};

fn solve(
    topo: &Topology,
    tm: &TrafficMatrix,
    objective: Objective,
    class_priority: bool,
    fairness: Fairness,
) -> (CandidatePaths, Solution) {
    let paths = compute_paths(topo, tm, &PathOptions::default());
    let problem = Problem {
        topology: topo,
        traffic: tm,
        paths: &paths,
    };
    let sol = solve_exact(
        &problem,
        &SolveOptions {
            objective,
            class_priority,
            fairness,
            ..SolveOptions::default()
        },
    )
    .expect("solves");
    (paths, sol)
}

fn carried(sol: &Solution, d: usize) -> f64 {
    sol.allocation.demands[d].carried()
}

fn assert_valid(topo: &Topology, tm: &TrafficMatrix, paths: &CandidatePaths, sol: &Solution) {
    let tol = Tolerance {
        relative: 1e-9,
        absolute: 1e-6,
    };
    if let Err(v) = verify(topo, tm, Some(paths), &sol.allocation, tol) {
        panic!("violations: {v:?}");
    }
}

/// Diamond: d0 s→t 12G (best-effort) over the a- and b-branches, d1 a→t 6G (voice)
/// sharing a→t. Max-flow 15 (all that can enter t), concurrent 5/6 (18t − 5 ≤ 10),
/// and both orders of strict priority are known by hand.
fn diamond_tm(topo: &Topology, scale: f64) -> TrafficMatrix {
    traffic(
        topo,
        &[
            ("s", "t", "best-effort", 12.0 * scale),
            ("a", "t", "voice", 6.0 * scale),
        ],
    )
}

#[test]
fn diamond_max_flow() {
    let topo = diamond();
    let tm = diamond_tm(&topo, 1.0);
    let (paths, sol) = solve(&topo, &tm, Objective::MaxFlow, false, Fairness::None);
    assert_valid(&topo, &tm, &paths, &sol);
    assert!(close(sol.value, 15.0 * G, 1e-7), "{}", sol.value);
    assert!(sol.bound >= sol.value);
    assert!(close(sol.bound, 15.0 * G, 1e-6), "{}", sol.bound);
    assert_eq!(sol.gap_kind, GapKind::Certified);
    assert!(sol.gap < 1e-6);
    assert_eq!(sol.stages, 1);
    assert_eq!(
        sol.allocation.demands[0].paths.len(),
        2,
        "every candidate path"
    );
}

#[test]
fn diamond_strict_priority_both_ways() {
    let topo = diamond();
    let tm = diamond_tm(&topo, 1.0);
    // Voice (d1) first: it takes 6 on a→t, leaving best-effort 5 + 4.
    let (paths, sol) = solve(&topo, &tm, Objective::MaxFlow, true, Fairness::None);
    assert_valid(&topo, &tm, &paths, &sol);
    assert!(close(carried(&sol, 1), 6.0 * G, 1e-7));
    assert!(close(carried(&sol, 0), 9.0 * G, 1e-7));
    assert_eq!(sol.stages, 2);
    assert_eq!(sol.gap_kind, GapKind::SolverReported);
    let voice = sol
        .per_class
        .iter()
        .find(|c| c.name == "voice")
        .expect("voice");
    assert!(close(voice.carried, 6.0 * G, 1e-7));

    // Best-effort above voice: s→t takes 12 (5 + 7) and voice gets the 3 left.
    let classes = ClassSet::new(vec![class("voice", 1, None), class("best-effort", 0, None)])
        .expect("classes");
    let tm2 = traffic_with(
        &topo,
        classes,
        &[("s", "t", "best-effort", 12.0), ("a", "t", "voice", 6.0)],
    );
    let (paths, sol) = solve(&topo, &tm2, Objective::MaxFlow, true, Fairness::None);
    assert_valid(&topo, &tm2, &paths, &sol);
    assert!(close(carried(&sol, 0), 12.0 * G, 1e-7));
    assert!(close(carried(&sol, 1), 3.0 * G, 1e-7));
    assert!(close(sol.value, 15.0 * G, 1e-7));
}

#[test]
fn diamond_max_concurrent() {
    let topo = diamond();
    let tm = diamond_tm(&topo, 1.0);
    let (paths, sol) = solve(&topo, &tm, Objective::MaxConcurrent, false, Fairness::None);
    assert_valid(&topo, &tm, &paths, &sol);
    assert!(close(sol.value, 5.0 / 6.0, 1e-7), "{}", sol.value);
    assert!(sol.bound >= sol.value - 1e-12 && sol.gap < 1e-6);
    assert_eq!(sol.gap_kind, GapKind::Certified);
    let s = summarize(&topo, &tm, &sol.allocation);
    assert!(s.concurrent >= 5.0 / 6.0 - 1e-7);

    // Voice first: it gets all 6, then best-effort 9 of 12.
    let (paths, sol) = solve(&topo, &tm, Objective::MaxConcurrent, true, Fairness::None);
    assert_valid(&topo, &tm, &paths, &sol);
    assert!(close(carried(&sol, 1), 6.0 * G, 1e-7));
    assert!(close(carried(&sol, 0), 9.0 * G, 1e-7));
    assert!(close(sol.value, 0.75, 1e-7));
}

#[test]
fn diamond_min_mlu() {
    let topo = diamond();
    // d0 6G, d1 3G: x on the a-branch balances (x + 3)/10 = (6 − x)/5 at x = 3.
    let tm = diamond_tm(&topo, 0.5);
    for priority in [false, true] {
        let (paths, sol) = solve(&topo, &tm, Objective::MinMlu, priority, Fairness::MaxMin);
        assert_valid(&topo, &tm, &paths, &sol);
        assert!(close(sol.value, 0.6, 1e-7), "{}", sol.value);
        assert!(sol.bound <= sol.value + 1e-12 && close(sol.bound, 0.6, 1e-6));
        assert_eq!(sol.gap_kind, GapKind::Certified);
        assert_eq!(sol.stages, 1);
        assert!(close(sol.allocation.carried(), 9.0 * G, 1e-9), "all routed");
    }
    // Over capacity is allowed for MLU: 12G + 6G needs U = 1.2.
    let tm = diamond_tm(&topo, 1.0);
    let (_, sol) = solve(&topo, &tm, Objective::MinMlu, false, Fairness::None);
    assert!(close(sol.value, 1.2, 1e-7));
}

/// a→b→c, 10G each: A a→c, B a→b, C b→c.
fn line() -> Topology {
    topology(
        &["a", "b", "c"],
        &[arc("a", "b", 10.0), arc("b", "c", 10.0)],
    )
}

#[test]
fn max_min_fair_in_rate() {
    let topo = line();
    // Max-flow would starve A; max-min gives B its 3, then A and C split b→c.
    let tm = traffic(
        &topo,
        &[
            ("a", "c", "bulk", 10.0),
            ("a", "b", "bulk", 3.0),
            ("b", "c", "bulk", 10.0),
        ],
    );
    let (paths, sol) = solve(&topo, &tm, Objective::MaxFlow, true, Fairness::MaxMin);
    assert_valid(&topo, &tm, &paths, &sol);
    let got: Vec<f64> = (0..3).map(|d| carried(&sol, d) / G).collect();
    for (g, want) in got.iter().zip([5.0, 3.0, 5.0]) {
        assert!(close(*g, want, 1e-6), "{got:?}");
    }
    assert_eq!(sol.gap_kind, GapKind::SolverReported);
    assert!(sol.stages >= 2);

    let (_, plain) = solve(&topo, &tm, Objective::MaxFlow, true, Fairness::None);
    // Max-flow carries more in total, at the expense of fairness to A.
    assert!(close(plain.value, 13.0 * G, 1e-7));
    assert!(sol.value < plain.value);
}

#[test]
fn max_min_fair_in_ratio() {
    let topo = line();
    // Ratios: b→c carries 10t + 20t, so t = 1/3 for A and C; B is then satisfied.
    let tm = traffic(
        &topo,
        &[
            ("a", "c", "bulk", 10.0),
            ("a", "b", "bulk", 4.0),
            ("b", "c", "bulk", 20.0),
        ],
    );
    let (paths, sol) = solve(&topo, &tm, Objective::MaxConcurrent, true, Fairness::MaxMin);
    assert_valid(&topo, &tm, &paths, &sol);
    let got: Vec<f64> = (0..3).map(|d| carried(&sol, d) / G).collect();
    for (g, want) in got.iter().zip([10.0 / 3.0, 4.0, 20.0 / 3.0]) {
        assert!(close(*g, want, 1e-6), "{got:?}");
    }
    assert!(close(sol.value, 1.0 / 3.0, 1e-6));
    // In absolute rate the same matrix is split 5 / 4 / 5.
    let (_, abs) = solve(&topo, &tm, Objective::MaxFlow, false, Fairness::MaxMin);
    let got: Vec<f64> = (0..3).map(|d| carried(&abs, d) / G).collect();
    for (g, want) in got.iter().zip([5.0, 4.0, 5.0]) {
        assert!(close(*g, want, 1e-6), "{got:?}");
    }
}

#[test]
fn max_min_respects_priority_levels() {
    let topo = line();
    // Voice A is alone at the top and takes everything it wants; then B and C
    // share what is left in max-min fashion.
    let tm = traffic(
        &topo,
        &[
            ("a", "c", "voice", 7.0),
            ("a", "b", "bulk", 10.0),
            ("b", "c", "bulk", 10.0),
        ],
    );
    let (paths, sol) = solve(&topo, &tm, Objective::MaxFlow, true, Fairness::MaxMin);
    assert_valid(&topo, &tm, &paths, &sol);
    let got: Vec<f64> = (0..3).map(|d| carried(&sol, d) / G).collect();
    for (g, want) in got.iter().zip([7.0, 3.0, 3.0]) {
        assert!(close(*g, want, 1e-6), "{got:?}");
    }
}

#[test]
fn all_demand_fits() {
    let topo = diamond();
    let tm = diamond_tm(&topo, 0.25);
    for objective in [Objective::MaxFlow, Objective::MaxConcurrent] {
        let (paths, sol) = solve(&topo, &tm, objective, false, Fairness::None);
        assert_valid(&topo, &tm, &paths, &sol);
        assert!(close(sol.allocation.carried(), tm.total(), 1e-9));
        assert!(sol.gap < 1e-6, "{objective}: gap {}", sol.gap);
    }
}

#[test]
fn empty_and_zero_rate_traffic() {
    let topo = diamond();
    let empty = traffic(&topo, &[]);
    for &objective in Objective::ALL {
        let (_, sol) = solve(&topo, &empty, objective, true, Fairness::MaxMin);
        assert_eq!(sol.stages, 0);
        assert_eq!(sol.gap, 0.0);
        assert!(sol.allocation.demands.is_empty());
    }
    let zero = traffic(&topo, &[("s", "t", "voice", 0.0), ("a", "t", "bulk", 0.0)]);
    for &objective in Objective::ALL {
        let (paths, sol) = solve(&topo, &zero, objective, true, Fairness::None);
        assert_valid(&topo, &zero, &paths, &sol);
        assert_eq!(sol.allocation.carried(), 0.0);
        assert_eq!(sol.allocation.demands.len(), 2);
        assert_eq!(sol.allocation.demands[0].paths.len(), 2);
    }
}

#[test]
fn demand_without_candidate_path() {
    let topo = diamond();
    let classes =
        ClassSet::new(vec![class("tight", 0, Some(0.5)), class("bulk", 1, None)]).expect("classes");
    let tm = traffic_with(
        &topo,
        classes,
        &[("s", "t", "tight", 3.0), ("s", "t", "bulk", 20.0)],
    );
    let paths = compute_paths(&topo, &tm, &PathOptions::default());
    assert!(paths.per_demand[0].is_empty());
    let problem = Problem {
        topology: &topo,
        traffic: &tm,
        paths: &paths,
    };
    for objective in [Objective::MaxFlow, Objective::MaxConcurrent] {
        let sol = solve_exact(
            &problem,
            &SolveOptions {
                objective,
                ..SolveOptions::default()
            },
        )
        .expect("solves");
        assert_eq!(carried(&sol, 0), 0.0);
        assert!(sol.allocation.demands[0].paths.is_empty());
    }
    let max_flow = solve_exact(&problem, &SolveOptions::default()).expect("solves");
    assert!(close(max_flow.value, 15.0 * G, 1e-7));
    // Concurrency is over the demands that have a path.
    let conc = solve_exact(
        &problem,
        &SolveOptions {
            objective: Objective::MaxConcurrent,
            ..SolveOptions::default()
        },
    )
    .expect("solves");
    assert!(close(conc.value, 0.75, 1e-7));
    let err = solve_exact(
        &problem,
        &SolveOptions {
            objective: Objective::MinMlu,
            ..SolveOptions::default()
        },
    )
    .expect_err("MLU needs every demand routed");
    assert!(matches!(
        err,
        TeError::NoCandidatePath {
            demand: DemandId(0),
            ..
        }
    ));
    assert!(err.to_string().contains("s -> t"), "{err}");
}

#[test]
fn rejects_inconsistent_paths() {
    let topo = diamond();
    let tm = diamond_tm(&topo, 1.0);
    let wrong_count = CandidatePaths {
        per_demand: vec![Vec::new()],
    };
    let bad_path = CandidatePaths {
        per_demand: vec![vec![Path::new(vec![link(&topo, "s->b")])], Vec::new()],
    };
    for paths in [wrong_count, bad_path] {
        let problem = Problem {
            topology: &topo,
            traffic: &tm,
            paths: &paths,
        };
        assert!(matches!(
            solve_exact(&problem, &SolveOptions::default()),
            Err(TeError::InvalidInput(_))
        ));
    }
}

#[test]
fn bounds_hold_for_arbitrary_prices() {
    let topo = diamond();
    let tm = diamond_tm(&topo, 1.0);
    let paths = compute_paths(&topo, &tm, &PathOptions::default());
    let problem = Problem {
        topology: &topo,
        traffic: &tm,
        paths: &paths,
    };
    // λ = 0: the max-flow bound is the total demand, the concurrent bound 1.
    let zero = vec![0.0; topo.link_count()];
    assert!(close(
        bound::max_flow_upper_bound(&problem, &zero),
        18.0 * G,
        1e-12
    ));
    assert_eq!(bound::max_concurrent_upper_bound(&problem, &zero), 1.0);
    assert_eq!(bound::min_mlu_lower_bound(&problem, &zero), 0.0);
    // Price only the links into t: the cut bound 15G, exactly.
    let mut cut = zero.clone();
    cut[link(&topo, "a->t").index()] = 1.0;
    cut[link(&topo, "b->t").index()] = 1.0;
    assert!(close(
        bound::max_flow_upper_bound(&problem, &cut),
        15.0 * G,
        1e-12
    ));
    assert!(close(
        bound::max_concurrent_upper_bound(&problem, &cut),
        15.0 / 18.0,
        1e-12
    ));
    assert!(close(
        bound::min_mlu_lower_bound(&problem, &cut),
        18.0 / 15.0,
        1e-12
    ));
    // Negative and NaN prices are ignored rather than breaking validity.
    let junk = vec![-5.0, f64::NAN, 0.0, 0.0];
    assert!(close(
        bound::max_flow_upper_bound(&problem, &junk),
        18.0 * G,
        1e-12
    ));
}

#[test]
fn greedy_is_feasible_and_priority_ordered() {
    let topo = diamond();
    let tm = diamond_tm(&topo, 1.0);
    let paths = compute_paths(&topo, &tm, &PathOptions::default());
    let problem = Problem {
        topology: &topo,
        traffic: &tm,
        paths: &paths,
    };
    let alloc = greedy(&problem);
    let report = verify(&topo, &tm, Some(&paths), &alloc, Tolerance::default()).expect("feasible");
    // Voice (d1) goes first and gets its 6G on a→t; best-effort then gets the
    // remaining 4G of a→t and the 5G b-branch.
    assert!(close(alloc.demands[1].carried(), 6.0 * G, 1e-12));
    assert!(close(alloc.demands[0].carried(), 9.0 * G, 1e-12));
    assert!(close(report.carried, 15.0 * G, 1e-12));
    let s = summarize(&topo, &tm, &alloc);
    assert!(close(s.mlu, 1.0, 1e-12));
    assert!(close(s.concurrent, 0.75, 1e-12));
    assert!(close(s.fraction, 15.0 / 18.0, 1e-12));
    assert_eq!(s.per_class.len(), tm.classes().len());
}

#[test]
fn tiny_and_huge_rates_stay_accurate() {
    // Scaling keeps the LP well conditioned across units.
    let topo = diamond();
    for scale in [1e-6, 1e3] {
        let classes = ClassSet::default();
        let be = classes.by_name("best-effort").expect("class");
        let tm = TrafficMatrix::new(
            &topo,
            classes,
            vec![Demand {
                src: topo.site_by_id("s").expect("s"),
                dst: topo.site_by_id("t").expect("t"),
                class: be,
                rate: Bandwidth::from_gbps(100.0 * scale),
            }],
        )
        .expect("tm");
        let (paths, sol) = solve(&topo, &tm, Objective::MaxFlow, true, Fairness::None);
        assert_valid(&topo, &tm, &paths, &sol);
        let want = (100.0 * scale).min(15.0) * G;
        assert!(close(sol.value, want, 1e-7), "{scale}: {}", sol.value);
        assert!(sol.gap < 1e-6, "{scale}: {}", sol.gap);
    }
}

#[test]
fn names_round_trip() {
    for &o in Objective::ALL {
        assert_eq!(o.to_string().parse::<Objective>(), Ok(o));
    }
    for &f in Fairness::ALL {
        assert_eq!(f.to_string().parse::<Fairness>(), Ok(f));
    }
    assert_eq!("mlu".parse::<Objective>(), Ok(Objective::MinMlu));
    assert!("min-cost".parse::<Objective>().is_err());
    let d = SolveOptions::default();
    assert_eq!(
        (d.objective, d.class_priority, d.fairness, d.tolerance),
        (Objective::MaxFlow, true, Fairness::None, 1e-8)
    );
}

#[test]
fn concurrent_level_is_accurate_for_tiny_demands_beside_large_ones() {
    // A 1 bit/s demand beside multi-Gbit/s ones: the level is a ratio, so the tiny
    // demand's share must be as exact as the others' (regression: IPM noise once
    // left it at 85% of its rate when everything fits).
    let topo = diamond();
    let tm = traffic(
        &topo,
        &[
            ("s", "t", "best-effort", 5.0),
            ("a", "t", "best-effort", 1e-9),
            ("s", "b", "best-effort", 2.0),
        ],
    );
    let (paths, sol) = solve(&topo, &tm, Objective::MaxConcurrent, false, Fairness::None);
    assert_valid(&topo, &tm, &paths, &sol);
    assert!(close(sol.value, 1.0, 1e-7), "{}", sol.value);
    assert!(sol.gap < 1e-6, "{}", sol.gap);
}

/// Σ IGP metric × rate over an allocation.
fn metric_load(topo: &Topology, sol: &Solution) -> f64 {
    sol.allocation
        .demands
        .iter()
        .flat_map(|d| d.paths.iter())
        .map(|pf| pf.rate * pf.path.metric(topo))
        .sum()
}

#[test]
fn prefer_short_keeps_the_optimum_on_shorter_paths() {
    for seed in 0..6 {
        let mut r = rng(seed);
        let topo = random_topology(&mut r, 9, 8);
        let tm = random_traffic(&mut r, &topo, 24, 3);
        let paths = compute_paths(&topo, &tm, &PathOptions::default());
        let problem = Problem {
            topology: &topo,
            traffic: &tm,
            paths: &paths,
        };
        for (objective, class_priority) in [
            (Objective::MaxFlow, true),
            (Objective::MaxFlow, false),
            (Objective::MaxConcurrent, false),
        ] {
            let opts = SolveOptions {
                objective,
                class_priority,
                ..SolveOptions::default()
            };
            let plain = solve_exact(&problem, &opts).expect("solves");
            let short = solve_exact(
                &problem,
                &SolveOptions {
                    prefer_short: true,
                    ..opts
                },
            )
            .expect("solves");
            assert_valid(&topo, &tm, &paths, &short);
            // Same objective (and, with priority, the same carried per class)...
            assert!(
                close(short.value, plain.value, 1e-6),
                "seed {seed} {objective}: {} vs {}",
                short.value,
                plain.value
            );
            if class_priority {
                for (a, b) in short.per_class.iter().zip(&plain.per_class) {
                    // Within IPM accuracy relative to all traffic.
                    assert!(
                        (a.carried - b.carried).abs() <= 1e-6 * tm.total(),
                        "seed {seed} {objective}: {a:?} vs {b:?}"
                    );
                }
            }
            // ... the bound still certifies it, and the paths are no longer.
            assert!(short.bound >= short.value * (1.0 - 1e-9));
            let (s, p) = (metric_load(&topo, &short), metric_load(&topo, &plain));
            assert!(s <= p * (1.0 + 1e-6), "seed {seed} {objective}: {s} > {p}");
        }
    }
}
