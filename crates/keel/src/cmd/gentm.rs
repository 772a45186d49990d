//! `keel gen-tm`: generate a traffic matrix for a topology.

use std::path::{Path, PathBuf};

use anyhow::Context;
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
/// Model parameters (--param KEY=VALUE, repeatable; rates take a unit such as
/// "1500M", a plain number is in --unit):
///   gravity   total_demand=RATE  random=true|false (noise on each entry)
///   uniform   max_demand=RATE
///   bimodal   fraction=P  low_range=LO:HI  high_range=LO:HI  (max_demand sets
///             the default ranges)
///   poisson   lam=X  decay=X  const_factor=RATE
///
/// NCFlow's own parameters per topology: --ncflow-params FILE (NCFlow's
/// PROBLEM_ARGS as JSON, or a file holding it under "problem_args") with
/// --ncflow-topology NAME (its key such as `cogentco`, or the topology file
/// name such as `Cogentco.graphml`). Its numbers are in NCFlow's capacity unit,
/// in which every arc has 1000; they are read in --unit, so load the topology
/// with `--default-capacity 1000M --merge-parallel` and keep --unit 1M (NCFlow
/// gives a merged pair of parallel arcs 1000 too, where --merge-parallel sums
/// them). --param values override the file's.
///
/// Examples:
///   keel gen-tm -t data/b4.json --model gravity --scale 16 --seed 7 --out tm.toml
///   keel gen-tm -t data/b4.json --param total_demand=20G --param random=false --out tm.txt
///   keel gen-tm -t Cogentco.graphml --default-capacity 1000M --merge-parallel \
///       --ncflow-params ncflow_tm_generation_params.json --ncflow-topology Cogentco \
///       --model bimodal --scale 16 --seed 1 --out cogentco-bimodal-16.txt
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
    /// Set a model parameter, e.g. `total_demand=1500M`, `random=false`,
    /// `low_range=0:15M` (repeatable; see above for the keys of each model).
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// NCFlow's traffic-generation parameters (JSON), used with --ncflow-topology.
    #[arg(long, value_name = "FILE", requires = "ncflow_topology")]
    pub ncflow_params: Option<PathBuf>,
    /// Which topology's entry of --ncflow-params to use (key or file name).
    #[arg(long, value_name = "NAME", requires = "ncflow_params")]
    pub ncflow_topology: Option<String>,
    /// Which model entry of --ncflow-params to use; default the --model name.
    /// NCFlow has two poisson variants: poisson-high-intra and poisson-high-inter.
    #[arg(long, value_name = "ENTRY", requires = "ncflow_params")]
    pub ncflow_model: Option<String>,
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
    let unit = args.topo.unit;
    let mut params = ModelParams::default();
    if let (Some(file), Some(name)) = (&args.ncflow_params, &args.ncflow_topology) {
        let entry = args.ncflow_model.as_deref().unwrap_or(args.model.name());
        apply_ncflow_params(&mut params, file, name, entry, unit)?;
    }
    for kv in &args.params {
        let (key, value) = kv.split_once('=').ok_or_else(|| {
            UsageError(format!(
                "--param `{kv}` is not KEY=VALUE (e.g. total_demand=1500M)"
            ))
        })?;
        set_param(
            &mut params,
            key.trim(),
            &ParamValue::Text(value.trim()),
            unit,
        )
        .map_err(|e| UsageError(format!("--param {kv}: {e}")))?;
    }
    let (topology, _) = args.topo.load()?;
    let classes = ClassSet::default();
    let opts = GenOptions {
        model: args.model,
        scale: args.scale,
        seed: args.seed,
        params,
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

/// The parameter names `--param` and NCFlow's files use.
const PARAM_KEYS: &str = "total_demand, random, max_demand, fraction, low_range, high_range, \
                          lam, decay, const_factor";

/// A parameter value from the command line or from NCFlow's JSON.
enum ParamValue<'a> {
    Text(&'a str),
    Json(&'a serde_json::Value),
}

impl ParamValue<'_> {
    fn number(&self) -> Result<f64, String> {
        let v = match self {
            ParamValue::Text(t) => t
                .parse::<f64>()
                .map_err(|_| format!("`{t}` is not a number"))?,
            ParamValue::Json(j) => j.as_f64().ok_or_else(|| format!("{j} is not a number"))?,
        };
        if v.is_finite() && v >= 0.0 {
            Ok(v)
        } else {
            Err(format!("{v} must be finite and >= 0"))
        }
    }

    /// A rate: a plain number is in `unit`, text may carry its own ("1500M").
    fn rate(&self, unit: Bandwidth) -> Result<Bandwidth, String> {
        match self {
            ParamValue::Text(t) if t.parse::<f64>().is_err() => {
                let b: Bandwidth = t.parse().map_err(|e| format!("{e}"))?;
                if b.bps().is_finite() && b.bps() >= 0.0 {
                    Ok(b)
                } else {
                    Err(format!("`{t}` must be finite and >= 0"))
                }
            }
            _ => Ok(Bandwidth::from_bps(self.number()? * unit.bps())),
        }
    }

    fn range(&self, unit: Bandwidth) -> Result<(Bandwidth, Bandwidth), String> {
        let (lo, hi) = match self {
            ParamValue::Text(t) => {
                let (lo, hi) = t
                    .split_once(':')
                    .or_else(|| t.split_once(','))
                    .ok_or_else(|| format!("`{t}` is not a range LO:HI"))?;
                (
                    ParamValue::Text(lo.trim()).rate(unit)?,
                    ParamValue::Text(hi.trim()).rate(unit)?,
                )
            }
            ParamValue::Json(j) => match j.as_array().map(Vec::as_slice) {
                Some([lo, hi]) => (
                    ParamValue::Json(lo).rate(unit)?,
                    ParamValue::Json(hi).rate(unit)?,
                ),
                _ => return Err(format!("{j} is not a range [LO, HI]")),
            },
        };
        if lo.bps() > hi.bps() {
            return Err(format!("lower bound {lo} exceeds upper bound {hi}"));
        }
        Ok((lo, hi))
    }

    fn flag(&self) -> Result<bool, String> {
        match self {
            ParamValue::Text(t) => match t.to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" => Ok(true),
                "false" | "no" | "0" => Ok(false),
                _ => Err(format!("`{t}` is not true or false")),
            },
            ParamValue::Json(j) => j
                .as_bool()
                .ok_or_else(|| format!("{j} is not true or false")),
        }
    }
}

/// Sets one named parameter; the error names what is wrong with it.
fn set_param(
    p: &mut ModelParams,
    key: &str,
    value: &ParamValue,
    unit: Bandwidth,
) -> Result<(), String> {
    match key {
        "total_demand" => p.total_demand = Some(value.rate(unit)?),
        "random" => p.random = Some(value.flag()?),
        "max_demand" => p.max_demand = Some(value.rate(unit)?),
        "fraction" => {
            let f = value.number()?;
            if f > 1.0 {
                return Err(format!("{f} must be within [0, 1]"));
            }
            p.fraction = Some(f);
        }
        "low_range" => p.low_range = Some(value.range(unit)?),
        "high_range" => p.high_range = Some(value.range(unit)?),
        "lam" => p.lam = Some(value.number()?),
        "decay" => p.decay = Some(value.number()?),
        "const_factor" => p.const_factor = Some(value.rate(unit)?),
        _ => return Err(format!("unknown parameter `{key}` (known: {PARAM_KEYS})")),
    }
    Ok(())
}

/// Fills `params` from NCFlow's parameter file: topology `name`, model `entry`.
fn apply_ncflow_params(
    params: &mut ModelParams,
    file: &Path,
    name: &str,
    entry: &str,
    unit: Bandwidth,
) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let doc: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| UsageError(format!("--ncflow-params {}: not JSON: {e}", file.display())))?;
    let table = doc
        .get("problem_args")
        .unwrap_or(&doc)
        .as_object()
        .ok_or_else(|| {
            UsageError(format!(
                "--ncflow-params {}: expected an object of topologies (NCFlow's PROBLEM_ARGS)",
                file.display()
            ))
        })?;
    let wanted = name.trim().to_ascii_lowercase();
    let matches = |key: &str, v: &serde_json::Value| {
        let fname = v.get("fname").and_then(|f| f.as_str()).unwrap_or("");
        let stem = fname.rsplit_once('.').map_or(fname, |(s, _)| s);
        [key, fname, stem]
            .iter()
            .any(|c| !c.is_empty() && c.to_ascii_lowercase() == wanted)
    };
    let (key, topo) = table.iter().find(|(k, v)| matches(k, v)).ok_or_else(|| {
        UsageError(format!(
            "--ncflow-topology `{name}` is not in {} (it has: {})",
            file.display(),
            table.keys().cloned().collect::<Vec<_>>().join(", ")
        ))
    })?;
    let models = topo.as_object().map(|o| {
        o.iter()
            .filter(|(_, v)| v.is_object())
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    });
    let values = topo.get(entry).and_then(|v| v.as_object()).ok_or_else(|| {
        UsageError(format!(
            "{}: topology `{key}` has no model entry `{entry}` (it has: {}){}",
            file.display(),
            models.unwrap_or_default(),
            if entry == "poisson" {
                "; choose one with --ncflow-model"
            } else {
                ""
            }
        ))
    })?;
    for (k, v) in values {
        set_param(params, k, &ParamValue::Json(v), unit)
            .map_err(|e| UsageError(format!("{}: {key}.{entry}.{k}: {e}", file.display())))?;
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
