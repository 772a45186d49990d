//! `keel whatif` and `keel solve --protect` end to end: scenario files, errors
//! naming the bad element with exit status 2, and the figures' consistency.

mod common;

use common::*;

#[test]
fn scenario_file_runs_and_ranks() {
    let file = tmp("scenarios.txt");
    std::fs::write(
        &file,
        "# two scenarios\nlink:KSCY->IPLS\nnode:DNVR, SNVA->LOSA  # a site and a link\n",
    )
    .expect("write");
    let o = keel(&[
        "whatif",
        "--failures",
        file.to_str().expect("utf-8"),
        "--reoptimise",
        "affected",
        "--no-class-priority",
        "--json",
    ]);
    let v = json(&o);
    // Without a TTY there is no progress bar on stderr.
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
    let scenarios = v["scenarios"].as_array().expect("scenarios");
    assert_eq!(scenarios.len(), 2);
    let names: Vec<&str> = scenarios
        .iter()
        .map(|s| s["scenario"].as_str().expect("name"))
        .collect();
    assert!(names.contains(&"link:KSCY->IPLS"), "{names:?}");
    assert!(names.contains(&"node:DNVR + link:SNVA->LOSA"), "{names:?}");
    // Ranked by lost demand after re-optimisation, most first.
    let lost: Vec<f64> = scenarios
        .iter()
        .map(|s| s["reopt"]["lost_bps"].as_f64().expect("lost"))
        .collect();
    assert!(lost[0] >= lost[1], "{lost:?}");
    // Losing a site loses at least its own traffic, for good.
    let node = scenarios
        .iter()
        .find(|s| s["scenario"].as_str() == Some("node:DNVR + link:SNVA->LOSA"))
        .expect("node scenario");
    assert!(node["reopt"]["lost_bps"].as_f64().expect("lost") > 0.0);
    // Worst-case utilisation per link never below its base.
    for w in v["worst_links"].as_array().expect("worst") {
        assert!(w["local"].as_f64().expect("local") >= w["base"].as_f64().expect("base") - 1e-12);
    }
}

#[test]
fn bad_scenario_file_names_line_and_element() {
    let file = tmp("bad.txt");
    std::fs::write(&file, "link:KSCY->IPLS\nlink:NOPE->X\n").expect("write");
    let o = keel(&["whatif", "--failures", file.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("line 2") && e.contains("NOPE->X"), "{e}");
}

#[test]
fn bad_probability_and_set_are_input_errors() {
    let file = tmp("probs.txt");
    std::fs::write(&file, "link KSCY->IPLS 1.5\n").expect("write");
    let o = keel(&["whatif", "--probabilities", file.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("1.5"), "{}", stderr(&o));
    let o = keel(&["whatif", "--failures", "triple-link"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("single-link"), "{}", stderr(&o));
}

#[test]
fn given_probabilities_change_availability() {
    let file = tmp("p.txt");
    // Every other link never fails; KSCY-IPLS is down a tenth of the time.
    let all = json(&keel(&["whatif", "--reoptimise", "none", "--json"]));
    let mut text = String::new();
    for s in all["scenarios"].as_array().expect("scenarios") {
        let link = s["scenario"]
            .as_str()
            .expect("name")
            .trim_start_matches("link:");
        let p = if link == "KSCY->IPLS" { "0.1" } else { "0" };
        text.push_str(&format!("link {link} {p}\n"));
    }
    std::fs::write(&file, text).expect("write");
    let v = json(&keel(&[
        "whatif",
        "--reoptimise",
        "none",
        "--probabilities",
        file.to_str().expect("utf-8"),
        "--json",
    ]));
    let s = v["scenarios"]
        .as_array()
        .expect("scenarios")
        .iter()
        .find(|s| s["scenario"] == "link:KSCY->IPLS")
        .expect("scenario");
    let carried = v["base"]["carried_per_class_bps"]["bulk"]
        .as_f64()
        .expect("bulk");
    let delivered = s["local"]["delivered_bps"]["bulk"]
        .as_f64()
        .expect("delivered");
    let a = v["availability"]
        .as_array()
        .expect("availability")
        .iter()
        .find(|a| a["class"] == "bulk")
        .expect("bulk");
    // Exactly two states have probability: no failure (0.9) and this one (0.1).
    let want = 0.9 + 0.1 * delivered / carried;
    let got = a["local_lower"].as_f64().expect("figure");
    assert!((got - want).abs() < 1e-9, "{got} vs {want}");
}

#[test]
fn protect_prices_and_checks_every_failure() {
    let v = json(&keel(&[
        "solve",
        "--protect",
        "2",
        "--no-class-priority",
        "--json",
    ]));
    let p = &v["protect"];
    let t = |k: &str| p["throughput_bps"][k].as_f64().expect("throughput");
    assert!(t("0") >= t("1") && t("1") >= t("2"), "{p}");
    assert!((v["carried_bps"].as_f64().expect("carried") - t("2")).abs() <= 1e-6 * t("0"));
    // Abilene has 14 physical links: 14 single + 91 double failures.
    assert_eq!(p["checked_failure_sets"], 105);
    assert_eq!(p["failed_checks"], 0);
    assert_eq!(v["verified"], true);
    let o = keel(&["solve", "--protect", "1", "--objective", "mlu"]);
    assert_eq!(o.status.code(), Some(2));
}
