//! The `keel` binary end to end: results, files written, and errors for bad input.

mod common;

use common::*;

use serde_json::Value;

#[test]
fn default_solve_prints_the_summary() {
    let o = keel(&["solve"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "Abilene",
        "carried",
        "MLU",
        "runtime",
        "paths",
        "build",
        "solve",
        "gap",
        "verified    ok",
    ] {
        assert!(text.contains(needle), "summary lacks `{needle}`:\n{text}");
    }
    // One line per class that has demand in the demo traffic.
    for class in [
        "voice",
        "video",
        "interactive",
        "business",
        "bulk",
        "best-effort",
    ] {
        assert!(text.contains(class), "summary lacks class {class}:\n{text}");
    }
}

#[test]
fn out_file_holds_every_candidate_path_and_consistent_rates() {
    let out = tmp("alloc.json");
    let o = keel(&[
        "solve",
        "--json",
        "--paths",
        "3",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: Value = serde_json::from_slice(&o.stdout).expect("json summary");
    let alloc: Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("alloc file")).expect("json");
    let demands = alloc["demands"].as_array().expect("demands");
    assert_eq!(
        demands.len() as u64,
        summary["traffic"]["demands"].as_u64().expect("count")
    );
    let mut carried = 0.0;
    let mut candidates = 0;
    for d in demands {
        let paths = d["paths"].as_array().expect("paths");
        assert!(!paths.is_empty() && paths.len() <= 3);
        candidates += paths.len();
        let sum: f64 = paths
            .iter()
            .map(|p| p["rate_bps"].as_f64().expect("rate"))
            .sum();
        assert!((sum - d["carried_bps"].as_f64().expect("carried")).abs() <= 1e-6 * sum.max(1.0));
        assert!(sum <= d["demand_bps"].as_f64().expect("demand") * (1.0 + 1e-9));
        for p in paths {
            let sites = p["sites"].as_array().expect("sites");
            assert_eq!(sites.first(), Some(&d["src"]));
            assert_eq!(sites.last(), Some(&d["dst"]));
            assert_eq!(sites.len(), p["links"].as_array().expect("links").len() + 1);
        }
        carried += sum;
    }
    assert_eq!(
        candidates as u64,
        summary["paths"]["candidates"].as_u64().expect("n")
    );
    let reported = summary["carried_bps"].as_f64().expect("carried");
    assert!((carried - reported).abs() <= 1e-6 * reported);
}

#[test]
fn missing_file_is_an_input_error() {
    let o = keel(&["solve", "-t", "no/such/file.graphml", "--traffic", "x.txt"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no/such/file.graphml"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn malformed_topology_names_file_and_line() {
    let f = tmp("broken.graph");
    std::fs::write(&f, "NODES 2\nlabel x y\na 0 0\nb 1 1\n\nEDGES 1\nlabel src dest weight bw delay\ne0 0 7 1 1000 10\n")
        .expect("write");
    let o = keel(&["topo", "info", "-t", f.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("broken.graph") && err.contains(":8"), "{err}");
}

#[test]
fn traffic_naming_an_unknown_site_is_refused() {
    let f = tmp("tm.txt");
    std::fs::write(&f, "0 1 10\n0 atlantis 5\n").expect("write");
    let o = keel(&[
        "solve",
        "-t",
        "data/b4.json",
        "--traffic",
        f.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("atlantis"), "{}", stderr(&o));
}

#[test]
fn topology_without_traffic_says_what_to_do() {
    let o = keel(&["solve", "-t", "data/b4.json"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("gen-tm"), "{}", stderr(&o));
}

#[test]
fn help_teaches_with_examples() {
    let o = keel(&["solve", "--help"]);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("Examples") && text.contains("--objective"),
        "{text}"
    );
}

#[test]
fn convert_round_trips_through_native_toml() {
    let out = tmp("abilene-converted.toml");
    let o = keel(&[
        "convert",
        "topology",
        "-t",
        "data/abilene.graphml",
        "--default-capacity",
        "10G",
        out.to_str().expect("utf-8"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let a = keel(&[
        "topo",
        "info",
        "--json",
        "-t",
        "data/abilene.graphml",
        "--default-capacity",
        "10G",
    ]);
    let b = keel(&["topo", "info", "--json", "-t", out.to_str().expect("utf-8")]);
    let (mut a, mut b): (Value, Value) = (
        serde_json::from_slice(&a.stdout).expect("json"),
        serde_json::from_slice(&b.stdout).expect("json"),
    );
    a["source"] = Value::Null;
    b["source"] = Value::Null;
    assert_eq!(a, b);
}

#[test]
fn fast_solver_reports_a_certified_gap_and_a_verified_allocation() {
    let tm = tmp("b4-fast.toml");
    let g = keel(&[
        "gen-tm",
        "-t",
        "data/b4.json",
        "--model",
        "gravity",
        "--scale",
        "300",
        "--seed",
        "4",
        "--out",
        tm.to_str().expect("utf-8"),
    ]);
    assert!(g.status.success(), "{}", stderr(&g));
    for objective in ["max-flow", "mlu", "max-concurrent"] {
        let o = keel(&[
            "solve",
            "-t",
            "data/b4.json",
            "--traffic",
            tm.to_str().expect("utf-8"),
            "--solver",
            "fast",
            "--gap",
            "0.01",
            "--objective",
            objective,
            "--json",
        ]);
        assert!(o.status.success(), "{objective}: {}", stderr(&o));
        let v: Value = serde_json::from_slice(&o.stdout).expect("json");
        assert_eq!(v["solver"], "fast");
        assert_eq!(v["verified"], true);
        assert_eq!(v["objective"]["gap_kind"], "certified");
        let gap = v["objective"]["gap"].as_f64().expect("gap");
        let stop = v["fast"]["stop"].as_str().expect("stop");
        assert!(
            gap <= 0.01 || stop != "gap reached",
            "{objective}: gap {gap}, stop {stop}"
        );
    }
}
