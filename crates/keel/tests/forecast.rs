//! `keel forecast`: runs on a small synthetic data directory laid out like the
//! shared data, and refuses bad input with exit status 2.

mod common;

use common::*;

use std::path::{Path, PathBuf};

const NETWORK: &str = r#"<?xml version="1.0" encoding="ISO-8859-1"?>
<network xmlns="http://sndlib.zib.de/network" version="1.0">
 <networkStructure>
  <nodes coordinatesType="geographical">
   <node id="AMS"/>
   <node id="FRA"/>
   <node id="VIE"/>
  </nodes>
  <links>
   <link id="A1"><source>AMS</source><target>FRA</target></link>
   <link id="A2"><source>FRA</source><target>VIE</target></link>
  </links>
 </networkStructure>
</network>
"#;

/// A data root with a 3-site line and 5 days of hourly matrices with a daily
/// cycle; `bad_label` puts a malformed time stamp in.
fn data_dir(name: &str, bad_label: bool) -> PathBuf {
    let root = std::env::temp_dir().join(format!("keel-forecast-{}-{name}", std::process::id()));
    let topo = root.join("topologies/sndlib-xml");
    let traffic = root.join("traffic/sndlib/abilene");
    std::fs::create_dir_all(&topo).expect("dir");
    std::fs::create_dir_all(&traffic).expect("dir");
    std::fs::write(topo.join("abilene.xml"), NETWORK).expect("write");
    let sites = ["AMS", "FRA", "VIE"];
    let mut csv = String::from("time,src,dst,value\n");
    for day in 1..=5 {
        for hour in 0..24 {
            let label = if bad_label && day == 3 && hour == 5 {
                "2024010-0500".to_string()
            } else {
                format!("202401{day:02}-{hour:02}00")
            };
            let phase = 2.0 * std::f64::consts::PI * hour as f64 / 24.0;
            for (i, s) in sites.iter().enumerate() {
                for (j, d) in sites.iter().enumerate() {
                    if i != j {
                        let base = 10.0 * (1 + i + 2 * j) as f64;
                        let v = base * (1.5 + phase.sin());
                        csv.push_str(&format!("{label},{s},{d},{v}\n"));
                    }
                }
            }
        }
    }
    std::fs::write(traffic.join("abilene_1h.csv"), csv).expect("write");
    root
}

#[test]
fn backtest_runs_on_a_data_directory() {
    let root = data_dir("ok", false);
    let data = root.to_str().expect("utf-8 path");
    let out = json(&keel(&[
        "forecast",
        "backtest",
        "--data",
        data,
        "--horizon",
        "2h",
        "--json",
    ]));
    let parts = out["parts"].as_array().expect("parts");
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0]["kind"], "demands");
    assert_eq!(parts[0]["report"]["series"], 6);
    assert_eq!(parts[1]["kind"], "links");
    assert_eq!(parts[1]["report"]["series"], 4);
    // A clean daily cycle: Holt-Winters and seasonal naive forecast it (nearly) exactly.
    let summary = parts[0]["report"]["summary"].as_array().expect("summary");
    assert_eq!(summary[0]["method"], "holt-winters");
    let mape = summary[0]["median_mape"].as_f64().expect("mape");
    assert!(mape < 1.0, "holt-winters MAPE {mape}%");
    assert!(summary[1]["median_mape"].as_f64().expect("mape") < 1e-6);

    let text = keel(&["forecast", "backtest", "--data", data, "--series", "links"]);
    assert!(text.status.success(), "{}", stderr(&text));
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(stdout.contains("links: 4 series"), "{stdout}");
    assert!(!stdout.contains("demands:"), "{stdout}");
}

#[test]
fn tm_estimate_runs_on_a_data_directory() {
    let root = data_dir("tm", false);
    let data = root.to_str().expect("utf-8 path");
    let out = json(&keel(&[
        "forecast",
        "tm-estimate",
        "--data",
        data,
        "--json",
    ]));
    assert_eq!(out["steps"], 120);
    assert_eq!(out["pairs"], 6);
    let g = out["gravity"]["median"].as_f64().expect("gravity");
    let t = out["tomogravity"]["median"].as_f64().expect("tomogravity");
    // The counters do not pin every demand down on a line (AMS->FRA and AMS->VIE
    // share every counter but one), but they correct most of the prior's error.
    assert!(t < 0.5 * g, "tomogravity {t}, gravity {g}");
}

#[test]
fn bad_input_exits_2_with_a_message() {
    let missing = keel(&["forecast", "backtest", "--data", "/nonexistent/keel-data"]);
    assert_eq!(missing.status.code(), Some(2), "{}", stderr(&missing));
    assert!(
        stderr(&missing).contains("no data directory"),
        "{}",
        stderr(&missing)
    );

    let root = data_dir("horizon", false);
    let data = root.to_str().expect("utf-8 path");
    let odd = keel(&["forecast", "backtest", "--data", data, "--horizon", "90m"]);
    assert_eq!(odd.status.code(), Some(2), "{}", stderr(&odd));
    assert!(
        stderr(&odd).contains("60-minute samples"),
        "{}",
        stderr(&odd)
    );

    let weight = keel(&[
        "forecast",
        "tm-estimate",
        "--data",
        data,
        "--prior-weight=-1",
    ]);
    assert_eq!(weight.status.code(), Some(2), "{}", stderr(&weight));

    let bad = data_dir("label", true);
    let out = keel(&[
        "forecast",
        "tm-estimate",
        "--data",
        bad.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("2024010-0500"), "{}", stderr(&out));
    assert!(Path::new(&bad).exists());
}
