//! `keel gen-tm`: generate a traffic matrix for a topology.

use std::path::{Path, PathBuf};

use keel_formats::TrafficFormat;
use keel_formats::generate::{GenOptions, ModelParams, TmModel};
use keel_model::{Bandwidth, ClassSet, Demand, Topology, TrafficMatrix};

use crate::input::{self, TopologyArgs, UsageError};

/// Generate a traffic matrix with NCFlow's models, deterministically from a seed.
///
/// Models: gravity (demand follows the capacity at each end, with noise),
/// uniform, bimodal (a few large demands among many small ones) and poisson
/// (decaying with hop distance). Default parameters give a moderate load at
/// scale 1; --scale multiplies every demand.
///
/// Examples:
///   keel gen-tm -t data/b4.json --model gravity --scale 16 --seed 7 --out tm.toml
///   keel gen-tm --class-mix voice=0.1,video=0.3,bulk=0.6 --out demo.toml
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    pub topo: TopologyArgs,
    /// Traffic model.
    #[arg(short, long, default_value = "gravity")]
    pub model: TmModel,
    /// Multiply every demand by this factor.
    #[arg(short, long, default_value_t = 1.0)]
    pub scale: f64,
    /// Random seed; the same seed gives the same matrix.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Split every demand across classes of service, e.g.
    /// `voice=0.05,video=0.25,bulk=0.7` (fractions must add up to 1).
    #[arg(long, value_name = "MIX")]
    pub class_mix: Option<String>,
    /// Output file (`-` for standard output).
    #[arg(short, long, default_value = "-", value_name = "FILE")]
    pub out: PathBuf,
    /// Output format; by default from the file extension (.toml, .json, .csv,
    /// .txt), TOML otherwise.
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<TrafficFormat>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if !(args.scale.is_finite() && args.scale >= 0.0) {
        return Err(UsageError(format!("--scale {} must be finite and >= 0", args.scale)).into());
    }
    let (topology, _) = args.topo.load()?;
    let classes = ClassSet::default();
    let opts = GenOptions {
        model: args.model,
        scale: args.scale,
        seed: args.seed,
        params: ModelParams::default(),
        class: classes.default_class(),
    };
    let mut tm = keel_formats::generate::generate(&topology, &classes, &opts)?;
    if let Some(mix) = &args.class_mix {
        tm = split_classes(&topology, &tm, mix)?;
    }
    let format = args.format.unwrap_or_else(|| format_for(&args.out));
    let text = keel_formats::write_traffic(&topology, &tm, format)?;
    input::write_output(&args.out, &text)?;
    if args.out != Path::new("-") {
        eprintln!(
            "keel: wrote {} demands, {} in total, to {}",
            tm.len(),
            Bandwidth::from_bps(tm.total()),
            args.out.display()
        );
    }
    Ok(())
}

pub fn format_for(path: &Path) -> TrafficFormat {
    match path.extension().and_then(|e| e.to_str()) {
        Some("json") => TrafficFormat::NativeJson,
        Some("csv") => TrafficFormat::Csv,
        Some("txt") => TrafficFormat::Text,
        _ => TrafficFormat::NativeToml,
    }
}

/// Splits each demand into one demand per class of the mix.
fn split_classes(
    topology: &Topology,
    tm: &TrafficMatrix,
    mix: &str,
) -> anyhow::Result<TrafficMatrix> {
    let classes = tm.classes().clone();
    let mut shares = Vec::new();
    for part in mix.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, share) = part
            .split_once('=')
            .ok_or_else(|| UsageError(format!("--class-mix: `{part}` is not class=fraction")))?;
        let class = classes.resolve(name.trim())?;
        let share: f64 = share.trim().parse().map_err(|_| {
            UsageError(format!(
                "--class-mix: `{share}` is not a number (in `{part}`)"
            ))
        })?;
        if !(share.is_finite() && share >= 0.0) {
            return Err(UsageError(format!("--class-mix: fraction {share} must be >= 0")).into());
        }
        shares.push((class, share));
    }
    let total: f64 = shares.iter().map(|(_, s)| s).sum();
    if (total - 1.0).abs() > 1e-9 {
        return Err(UsageError(format!("--class-mix: fractions add up to {total}, not 1")).into());
    }
    let demands = tm
        .demands()
        .iter()
        .flat_map(|d| {
            shares.iter().map(move |&(class, share)| Demand {
                class,
                rate: Bandwidth::from_bps(d.rate.bps() * share),
                ..*d
            })
        })
        .filter(|d| d.rate.bps() > 0.0)
        .collect();
    Ok(TrafficMatrix::new(topology, classes, demands)?)
}
