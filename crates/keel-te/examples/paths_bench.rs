//! Times `compute_paths` alone on a topology and traffic matrix, and optionally
//! checks it against the reference implementation kept for the tests.
//!
//! ```text
//! cargo run --release -p keel-te --example paths_bench -- \
//!     TOPOLOGY TRAFFIC [--default-capacity 1000M] [--merge-parallel] \
//!     [--kind edge-disjoint] [--metric inv-cap] [-k 4] [--repeat N] \
//!     [--reference] [--check]
//! ```
//!
//! `--reference` times the reference implementation too; `--check` compares the
//! two outputs (and implies `--reference`).

#[path = "../tests/paths/reference.rs"]
mod reference;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use keel_formats::ReadOptions;
use keel_te::{PathKind, PathMetric, PathOptions, compute_paths};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("paths_bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let mut files: Vec<PathBuf> = Vec::new();
    let mut read = ReadOptions::default();
    let mut opts = PathOptions {
        latency_bounds: true,
        ..PathOptions::default()
    };
    let (mut repeat, mut with_reference, mut check) = (1usize, false, false);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--default-capacity" => {
                read.default_capacity = Some(value()?.parse().map_err(|e| format!("{e}"))?)
            }
            "--merge-parallel" => read.merge_parallel = true,
            "--kind" => opts.kind = value()?.parse::<PathKind>().map_err(|e| e.to_string())?,
            "--metric" => {
                opts.metric = value()?.parse::<PathMetric>().map_err(|e| e.to_string())?
            }
            "-k" => opts.k = value()?.parse().map_err(|e| format!("-k: {e}"))?,
            "--repeat" => repeat = value()?.parse().map_err(|e| format!("--repeat: {e}"))?,
            "--ignore-latency-bounds" => opts.latency_bounds = false,
            "--reference" => with_reference = true,
            "--check" => (with_reference, check) = (true, true),
            _ if a.starts_with('-') => return Err(format!("unknown option {a}")),
            _ => files.push(PathBuf::from(a)),
        }
    }
    let [topo_file, tm_file] = files.as_slice() else {
        return Err("usage: paths_bench TOPOLOGY TRAFFIC [options]".into());
    };
    let topo = keel_formats::read_topology(topo_file, None, &read).map_err(|e| e.to_string())?;
    let tm = keel_formats::read_traffic(tm_file, &topo, None, &read).map_err(|e| e.to_string())?;
    println!(
        "{} sites, {} links, {} demands; {} k={} by {}",
        topo.site_count(),
        topo.link_count(),
        tm.len(),
        opts.kind,
        opts.k,
        opts.metric
    );
    let mut fast = None;
    for _ in 0..repeat.max(1) {
        let (t, cpu) = (Instant::now(), cpu_ms());
        let out = compute_paths(&topo, &tm, &opts);
        println!(
            "compute_paths: {:.1} ms ({} ms CPU), {} candidates",
            t.elapsed().as_secs_f64() * 1e3,
            cpu_ms() - cpu,
            out.total()
        );
        fast = Some(out);
    }
    if with_reference {
        let (t, cpu) = (Instant::now(), cpu_ms());
        let old = reference::compute_paths(&topo, &tm, &opts);
        println!(
            "reference:     {:.1} ms ({} ms CPU), {} candidates",
            t.elapsed().as_secs_f64() * 1e3,
            cpu_ms() - cpu,
            old.total()
        );
        if check {
            let new = fast.ok_or("no run")?;
            let differ = new
                .per_demand
                .iter()
                .zip(&old.per_demand)
                .filter(|(a, b)| a != b)
                .count();
            println!("demands whose paths differ: {differ}");
            if differ > 0 || new.per_demand.len() != old.per_demand.len() {
                return Err("outputs differ".into());
            }
        }
    }
    Ok(())
}

/// CPU time of the whole process so far (user + system, all threads) in ms,
/// from /proc on Linux (0 elsewhere): on a shared machine it says more about
/// the work done than the wall clock.
fn cpu_ms() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0;
    };
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields overall, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (ticks(11) + ticks(12)) * 10
}
