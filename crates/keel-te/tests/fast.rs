//! The fast solver on random small networks, checked against the independent
//! verifier and the exact solver: its allocation is feasible, its bound is on the
//! right side of the exact optimum, and its value is within the gap it reports.

mod common;

use common::*;
use keel_te::{
    FastOptions, GapKind, Hooks, Objective, PathKind, PathMetric, PathOptions, Problem,
    SolveOptions, StopReason, Tolerance, compute_paths, solve_exact, solve_fast, verify,
    verify_routing,
};
use proptest::prelude::*;
use rand::Rng;

const TIGHT: Tolerance = Tolerance {
    relative: 1e-7,
    absolute: 1e-6,
};

fn check(seed: u64, objective: Objective, class_priority: bool) -> Result<(), TestCaseError> {
    let mut r = rng(seed);
    let n = r.random_range(4..9);
    let extra = r.random_range(0..8);
    let topo = random_topology(&mut r, n, extra);
    let demands = r.random_range(1..25);
    let tm = random_traffic(&mut r, &topo, demands, 3);
    let paths = compute_paths(
        &topo,
        &tm,
        &PathOptions {
            k: r.random_range(1..=4),
            kind: PathKind::Shortest,
            metric: PathMetric::ALL[r.random_range(0..4)],
            latency_bounds: false,
        },
    );
    let problem = Problem {
        topology: &topo,
        traffic: &tm,
        paths: &paths,
    };
    let opts = FastOptions {
        objective,
        class_priority,
        gap: 1e-3,
        time_limit: None,
    };
    let fast = match solve_fast(&problem, &opts, None, Hooks::default()) {
        Ok(f) => f,
        // Routing all demand is impossible when a demand has no path; the exact
        // solver must agree.
        Err(keel_te::TeError::NoCandidatePath { .. }) => {
            let exact_opts = SolveOptions {
                objective,
                ..Default::default()
            };
            prop_assert!(solve_exact(&problem, &exact_opts).is_err());
            return Ok(());
        }
        Err(e) => return Err(TestCaseError::fail(format!("fast solver failed: {e}"))),
    };
    let sol = &fast.solution;
    let verified = match objective {
        Objective::MinMlu => {
            verify_routing(&topo, &tm, Some(&paths), &sol.allocation, sol.value, TIGHT)
        }
        _ => verify(&topo, &tm, Some(&paths), &sol.allocation, TIGHT),
    };
    prop_assert!(verified.is_ok(), "verifier: {:?}", verified.err());
    if fast.stop == StopReason::GapReached {
        prop_assert!(sol.gap <= 1e-3 + 1e-12, "gap {} above target", sol.gap);
    }
    if sol.gap_kind != GapKind::Certified {
        return Ok(());
    }
    let exact = solve_exact(
        &problem,
        &SolveOptions {
            objective,
            class_priority: false,
            ..Default::default()
        },
    )
    .map_err(|e| TestCaseError::fail(format!("exact: {e}")))?;
    let opt = exact.value;
    let slack = 1e-6 * opt.abs().max(1e-9);
    if objective.maximises() {
        prop_assert!(
            sol.bound >= opt - slack,
            "bound {} below optimum {opt}",
            sol.bound
        );
        prop_assert!(
            sol.value <= opt + slack,
            "value {} above optimum {opt}",
            sol.value
        );
        prop_assert!(sol.value >= sol.bound * (1.0 - sol.gap) - slack);
    } else {
        prop_assert!(
            sol.bound <= opt + slack,
            "bound {} above optimum {opt}",
            sol.bound
        );
        prop_assert!(
            sol.value >= opt - slack,
            "value {} below optimum {opt}",
            sol.value
        );
        prop_assert!(sol.value <= sol.bound * (1.0 + sol.gap) + slack);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn max_flow(seed in any::<u64>(), priority in any::<bool>()) {
        check(seed, Objective::MaxFlow, priority)?;
    }

    #[test]
    fn min_mlu(seed in any::<u64>()) {
        check(seed, Objective::MinMlu, false)?;
    }

    #[test]
    fn max_concurrent(seed in any::<u64>()) {
        check(seed, Objective::MaxConcurrent, false)?;
    }
}

#[test]
fn cancellation_returns_a_feasible_allocation() {
    let mut r = rng(7);
    let topo = random_topology(&mut r, 8, 6);
    let tm = random_traffic(&mut r, &topo, 30, 1);
    let paths = compute_paths(&topo, &tm, &PathOptions::default());
    let problem = Problem {
        topology: &topo,
        traffic: &tm,
        paths: &paths,
    };
    let cancel = std::sync::atomic::AtomicBool::new(true);
    let hooks = Hooks {
        progress: None,
        cancel: Some(&cancel),
    };
    let out = solve_fast(
        &problem,
        &FastOptions {
            gap: 0.0,
            ..Default::default()
        },
        None,
        hooks,
    )
    .expect("solve");
    assert!(matches!(
        out.stop,
        StopReason::Cancelled | StopReason::GapReached
    ));
    assert!(verify(&topo, &tm, Some(&paths), &out.solution.allocation, TIGHT).is_ok());
}

#[test]
fn warm_start_from_its_own_prices_converges_at_least_as_fast() {
    let mut r = rng(11);
    let topo = random_topology(&mut r, 9, 8);
    let tm = random_traffic(&mut r, &topo, 40, 1);
    let paths = compute_paths(&topo, &tm, &PathOptions::default());
    let problem = Problem {
        topology: &topo,
        traffic: &tm,
        paths: &paths,
    };
    let opts = FastOptions::default();
    let cold = solve_fast(&problem, &opts, None, Hooks::default()).expect("cold");
    let warm = solve_fast(&problem, &opts, Some(&cold.warm), Hooks::default()).expect("warm");
    assert!(
        warm.iterations <= cold.iterations,
        "{} > {}",
        warm.iterations,
        cold.iterations
    );
    assert!(verify(&topo, &tm, Some(&paths), &warm.solution.allocation, TIGHT).is_ok());
}

#[test]
fn routing_warm_start_is_verified_and_within_its_gap() {
    for objective in [Objective::MinMlu, Objective::MaxConcurrent] {
        let mut r = rng(13);
        let topo = random_topology(&mut r, 9, 8);
        let tm = random_traffic(&mut r, &topo, 40, 1);
        let paths = compute_paths(&topo, &tm, &PathOptions::default());
        let problem = Problem {
            topology: &topo,
            traffic: &tm,
            paths: &paths,
        };
        let opts = FastOptions {
            objective,
            class_priority: false,
            gap: 1e-3,
            time_limit: None,
        };
        let cold = solve_fast(&problem, &opts, None, Hooks::default()).expect("cold");
        let warm = solve_fast(&problem, &opts, Some(&cold.warm), Hooks::default()).expect("warm");
        let sol = &warm.solution;
        let verified = match objective {
            Objective::MinMlu => {
                verify_routing(&topo, &tm, Some(&paths), &sol.allocation, sol.value, TIGHT)
            }
            _ => verify(&topo, &tm, Some(&paths), &sol.allocation, TIGHT),
        };
        assert!(verified.is_ok(), "{objective:?}: {:?}", verified.err());
        assert_eq!(warm.stop, StopReason::GapReached, "{objective:?}");
        assert!(sol.gap <= 1e-3 + 1e-12, "{objective:?}: gap {}", sol.gap);
        let (lo, hi) = if objective.maximises() {
            (sol.value, sol.bound)
        } else {
            (sol.bound, sol.value)
        };
        assert!(lo <= hi * (1.0 + 1e-9), "{objective:?}: {lo} > {hi}");
    }
}
