mod common;

use common::*;
use keel_model::{Allocation, DemandAllocation, DemandId, LinkId, Path, PathFlow, SiteId};
use keel_te::{CandidatePaths, Tolerance, Violation, verify, verify_routing};

/// The diamond with d0 s→t 12G and d1 a→t 6G, and a valid allocation:
/// d0 4G via a and 5G via b, d1 6G.
struct Case {
    topo: keel_model::Topology,
    tm: keel_model::TrafficMatrix,
    paths: CandidatePaths,
    alloc: Allocation,
}

fn case() -> Case {
    let topo = diamond();
    let tm = traffic(
        &topo,
        &[("s", "t", "best-effort", 12.0), ("a", "t", "voice", 6.0)],
    );
    let l = |id| link(&topo, id);
    let via_a = Path::new(vec![l("s->a"), l("a->t")]);
    let via_b = Path::new(vec![l("s->b"), l("b->t")]);
    let direct = Path::new(vec![l("a->t")]);
    let paths = CandidatePaths {
        per_demand: vec![vec![via_a.clone(), via_b.clone()], vec![direct.clone()]],
    };
    let flow = |path: &Path, gbps: f64| PathFlow {
        path: path.clone(),
        rate: gbps * G,
    };
    let alloc = Allocation {
        demands: vec![
            DemandAllocation {
                demand: DemandId(0),
                paths: vec![flow(&via_a, 4.0), flow(&via_b, 5.0)],
            },
            DemandAllocation {
                demand: DemandId(1),
                paths: vec![flow(&direct, 6.0)],
            },
        ],
    };
    Case {
        topo,
        tm,
        paths,
        alloc,
    }
}

fn check(c: &Case) -> Result<keel_te::VerifyReport, Vec<Violation>> {
    verify(
        &c.topo,
        &c.tm,
        Some(&c.paths),
        &c.alloc,
        Tolerance {
            relative: 1e-9,
            absolute: 1e-6,
        },
    )
}

fn violations(c: &Case) -> Vec<Violation> {
    match check(c) {
        Ok(_) => panic!("expected violations"),
        Err(v) => v,
    }
}

#[test]
fn accepts_a_valid_allocation_and_recomputes_figures() {
    let c = case();
    let r = check(&c).expect("valid");
    assert!(close(r.carried, 15.0 * G, 1e-12));
    assert!(close(r.total_demand, 18.0 * G, 1e-12));
    assert!(close(r.mlu, 1.0, 1e-12));
    assert_eq!(r.max_load_link, Some(link(&c.topo, "a->t")));
    assert!(close(r.concurrent, 0.75, 1e-12));
    let voice = r
        .per_class
        .iter()
        .find(|f| f.name == "voice")
        .expect("voice");
    assert!(close(voice.carried, 6.0 * G, 1e-12));
}

#[test]
fn over_capacity() {
    let mut c = case();
    c.alloc.demands[1].paths[0].rate = 6.5 * G;
    let v = violations(&c);
    assert!(
        v.iter()
            .any(|x| matches!(x, Violation::OverCapacity { link, .. } if *link == LinkId(1))),
        "{v:?}"
    );
    // Within the tolerance it passes.
    c.alloc.demands[1].paths[0].rate = 6.0 * G * (1.0 + 1e-12);
    c.tm = traffic(
        &c.topo,
        &[("s", "t", "best-effort", 12.0), ("a", "t", "voice", 7.0)],
    );
    assert!(check(&c).is_ok());
}

#[test]
fn over_demand() {
    let mut c = case();
    c.alloc.demands[0].paths[1].rate = 9.0 * G; // 4 + 9 > 12
    let v = violations(&c);
    assert!(
        v.iter().any(|x| matches!(
            x,
            Violation::OverDemand {
                demand: DemandId(0),
                ..
            }
        )),
        "{v:?}"
    );
}

#[test]
fn negative_and_non_finite_rates() {
    let mut c = case();
    c.alloc.demands[0].paths[0].rate = -G;
    c.alloc.demands[1].paths[0].rate = f64::NAN;
    let v = violations(&c);
    let invalid: Vec<_> = v
        .iter()
        .filter(|x| matches!(x, Violation::InvalidRate { .. }))
        .collect();
    assert_eq!(invalid.len(), 2, "{v:?}");
}

#[test]
fn non_contiguous_path() {
    let mut c = case();
    let l = |id| link(&c.topo, id);
    // s→a then b→t: starts right, ends right, but jumps.
    c.alloc.demands[0].paths[0].path = Path::new(vec![l("s->a"), l("b->t")]);
    let v = violations(&c);
    assert!(
        v.iter()
            .any(|x| matches!(x, Violation::NotContiguous { position: 1, .. })),
        "{v:?}"
    );
    assert!(
        v.iter()
            .any(|x| matches!(x, Violation::NotCandidate { .. }))
    );
}

#[test]
fn wrong_endpoints() {
    let mut c = case();
    let l = |id| link(&c.topo, id);
    c.alloc.demands[0].paths[0].path = Path::new(vec![l("s->a")]);
    c.alloc.demands[1].paths[0].path = Path::new(vec![l("s->a"), l("a->t")]);
    let v = violations(&c);
    assert!(v.iter().any(|x| matches!(
        x,
        Violation::WrongDestination {
            demand: DemandId(0),
            found: SiteId(1),
            ..
        }
    )));
    assert!(v.iter().any(|x| matches!(
        x,
        Violation::WrongSource {
            demand: DemandId(1),
            found: SiteId(0),
            ..
        }
    )));
}

#[test]
fn loops() {
    // Needs a cycle: add t→s and route s→a→t→s→b→t.
    let topo = topology(
        &["s", "a", "b", "t"],
        &[
            arc("s", "a", 10.0),
            arc("a", "t", 10.0),
            arc("s", "b", 5.0),
            arc("b", "t", 5.0),
            arc("t", "s", 5.0),
        ],
    );
    let tm = traffic(&topo, &[("s", "t", "bulk", 1.0)]);
    let l = |id| link(&topo, id);
    let looping = Path::new(vec![l("s->a"), l("a->t"), l("t->s"), l("s->b"), l("b->t")]);
    let alloc = Allocation {
        demands: vec![DemandAllocation {
            demand: DemandId(0),
            paths: vec![PathFlow {
                path: looping,
                rate: 1.0,
            }],
        }],
    };
    let v = verify(&topo, &tm, None, &alloc, Tolerance::default()).expect_err("loop");
    assert!(
        v.iter()
            .any(|x| matches!(x, Violation::Loop { site, .. } if *site == SiteId(0))),
        "{v:?}"
    );
    // The message names what is wrong.
    assert!(
        v.iter()
            .any(|x| x.to_string().contains("visits site #0 twice"))
    );
}

#[test]
fn not_a_candidate_only_when_candidates_are_given() {
    let mut c = case();
    c.paths.per_demand[0].pop(); // the b-branch is no longer a candidate
    let v = violations(&c);
    assert_eq!(
        v,
        vec![Violation::NotCandidate {
            demand: DemandId(0),
            path: 1
        }]
    );
    assert!(verify(&c.topo, &c.tm, None, &c.alloc, Tolerance::default()).is_ok());
}

#[test]
fn structural_errors() {
    let mut c = case();
    c.alloc.demands[0].paths[0].path = Path::new(vec![]);
    c.alloc.demands[0].paths[1].path = Path::new(vec![LinkId(99)]);
    c.alloc.demands[1].demand = DemandId(7);
    let v = violations(&c);
    assert!(
        v.iter()
            .any(|x| matches!(x, Violation::EmptyPath { path: 0, .. }))
    );
    assert!(v.iter().any(|x| matches!(
        x,
        Violation::UnknownLink {
            link: LinkId(99),
            ..
        }
    )));
    assert!(v.iter().any(|x| matches!(
        x,
        Violation::DemandMismatch {
            index: 1,
            found: DemandId(7)
        }
    )));

    let mut short = case();
    short.alloc.demands.pop();
    assert!(violations(&short).contains(&Violation::DemandCount {
        expected: 2,
        found: 1
    }));
}

#[test]
fn routing_mode_scales_capacity_and_requires_all_demand() {
    let mut c = case();
    let tol = Tolerance {
        relative: 1e-9,
        absolute: 1e-6,
    };
    let routing =
        |c: &Case, u: f64| verify_routing(&c.topo, &c.tm, Some(&c.paths), &c.alloc, u, tol);
    // d0 carries 9G of 12G: not a routing of all demand.
    let v = routing(&c, 10.0).expect_err("under demand");
    assert!(
        v.iter()
            .any(|x| matches!(x, Violation::UnderDemand { demand, .. } if *demand == DemandId(0))),
        "{v:?}"
    );
    // Route all of d0, overloading links; it passes at its own MLU and not below.
    c.alloc.demands[0].paths[1].rate = 8.0 * G;
    let mlu = verify(
        &c.topo,
        &c.tm,
        None,
        &c.alloc,
        Tolerance {
            relative: 1.0e9,
            absolute: 0.0,
        },
    )
    .expect("only capacities could fail, and the tolerance is huge")
    .mlu;
    assert!(mlu > 1.0, "the case should overload a link, mlu {mlu}");
    assert!(routing(&c, mlu).is_ok());
    let v = routing(&c, mlu * 0.99).expect_err("over the claimed utilisation");
    assert!(
        v.iter()
            .all(|x| matches!(x, Violation::OverCapacity { .. })),
        "{v:?}"
    );
}
