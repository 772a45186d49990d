//! `keel gen-tm` model parameters: `--param KEY=VALUE` and NCFlow's parameter files.

mod common;

use common::*;

use std::path::Path;
use std::process::Output;

/// Sum of the rates of a `src dst rate` text matrix written by gen-tm, in bit/s.
fn total_bps(path: &Path) -> f64 {
    let text = std::fs::read_to_string(path).expect("tm file");
    assert!(text.contains("# unit: bit/s"), "{text}");
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            l.split_whitespace()
                .nth(2)
                .expect("rate column")
                .parse::<f64>()
                .expect("rate")
        })
        .sum()
}

fn gen_tm(out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "gen-tm",
        "-t",
        "data/b4.json",
        "--seed",
        "3",
        "--out",
        out.to_str().expect("utf-8"),
    ];
    args.extend_from_slice(extra);
    keel(&args)
}

#[test]
fn total_demand_param_sets_the_total() {
    // Without noise the gravity matrix sums to exactly total_demand · scale.
    let out = tmp("plain.txt");
    let o = gen_tm(
        &out,
        &[
            "--param",
            "total_demand=20G",
            "--param",
            "random=false",
            "--scale",
            "2",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let total = total_bps(&out);
    assert!((total - 40e9).abs() <= 40e9 * 1e-9, "total {total}");

    // A plain number is in --unit (default Mbit/s); with noise the total stays
    // close to the requested one and scales with it.
    let small = tmp("small.txt");
    let big = tmp("big.txt");
    let o = gen_tm(&small, &["--param", "total_demand=5000"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = gen_tm(&big, &["--param", "total_demand=50000"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (s, b) = (total_bps(&small), total_bps(&big));
    assert!((s - 5e9).abs() < 0.1 * 5e9, "total {s}");
    // Same seed, same noise: ten times the parameter is ten times every entry.
    assert!((b - 10.0 * s).abs() <= 1e-6 * b, "{b} vs {s}");
}

#[test]
fn unknown_param_key_exits_2_naming_it() {
    let out = tmp("bad.txt");
    let o = gen_tm(&out, &["--param", "totl_demand=5G"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("totl_demand"), "{}", stderr(&o));
    assert!(stderr(&o).contains("total_demand"), "{}", stderr(&o));
}

#[test]
fn bad_param_values_exit_2() {
    let out = tmp("bad-value.txt");
    for bad in [
        "total_demand=5Q",
        "total_demand=-1",
        "fraction=1.5",
        "low_range=5:1",
        "random=maybe",
        "total_demand",
    ] {
        let o = gen_tm(&out, &["--model", "bimodal", "--param", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", stderr(&o));
        assert!(stderr(&o).contains("--param"), "{bad}: {}", stderr(&o));
    }
}

#[test]
fn ncflow_params_are_read_in_unit() {
    let params = tmp("params.json");
    std::fs::write(
        &params,
        r#"{"problem_args": {"b-four": {"fname": "B4.json",
            "gravity": {"total_demand": 300.0, "random": false},
            "uniform": {"max_demand": 0.5}}}}"#,
    )
    .expect("write");
    let p = params.to_str().expect("utf-8");
    let out = tmp("ncflow.txt");
    // By key, in the default unit (Mbit/s).
    let o = gen_tm(&out, &["--ncflow-params", p, "--ncflow-topology", "b-four"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let total = total_bps(&out);
    assert!((total - 300e6).abs() <= 300e6 * 1e-9, "total {total}");
    // By file stem, in another unit, with --param overriding the file.
    let o = gen_tm(
        &out,
        &[
            "--ncflow-params",
            p,
            "--ncflow-topology",
            "b4",
            "--unit",
            "1G",
            "--param",
            "total_demand=100",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let total = total_bps(&out);
    assert!((total - 100e9).abs() <= 100e9 * 1e-9, "total {total}");
    // A model the file has no entry for, and a topology it does not know.
    let o = gen_tm(
        &out,
        &[
            "--ncflow-params",
            p,
            "--ncflow-topology",
            "b-four",
            "--model",
            "bimodal",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("bimodal"), "{}", stderr(&o));
    let o = gen_tm(
        &out,
        &["--ncflow-params", p, "--ncflow-topology", "atlantis"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("atlantis"), "{}", stderr(&o));
}

#[test]
fn help_explains_params_with_an_example() {
    let o = keel(&["gen-tm", "--help"]);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    for needle in ["--param", "total_demand=", "--ncflow-params", "Examples"] {
        assert!(text.contains(needle), "help lacks `{needle}`:\n{text}");
    }
}
