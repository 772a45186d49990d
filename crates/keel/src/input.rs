//! Loading topologies and traffic from files or the built-in default.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use keel_formats::{FormatError, ReadOptions, TopologyFormat, TrafficFormat};
use keel_model::{Bandwidth, ModelError, Topology, TrafficMatrix};

/// The built-in default backbone: Abilene with a demo traffic matrix across classes.
const DEFAULT_TOPOLOGY: &str = include_str!("../../../data/abilene.toml");
const DEFAULT_TRAFFIC: &str = include_str!("../../../data/abilene-demo-traffic.toml");
pub const DEFAULT_NAME: &str = "built-in Abilene (data/abilene.toml)";

/// How to read a topology file.
#[derive(Args, Debug, Clone)]
pub struct TopologyArgs {
    /// Topology file: GraphML (Topology Zoo), SNDlib XML, Repetita .graph,
    /// node-link JSON (Teal/NCFlow) or Keel's native TOML/JSON. The format is
    /// detected from the content. Without it, the built-in Abilene backbone.
    #[arg(short, long, value_name = "FILE")]
    pub topology: Option<PathBuf>,
    /// Force the topology format instead of detecting it.
    #[arg(long, value_name = "FORMAT")]
    pub topology_format: Option<TopologyFormat>,
    /// Capacity for links whose file gives none (e.g. "10G"). Topology Zoo
    /// GraphML rarely carries capacities.
    #[arg(long, value_name = "RATE")]
    pub default_capacity: Option<Bandwidth>,
    /// What a number without a unit means in formats that have none (node-link
    /// JSON capacities, text and CSV traffic matrices), e.g. "1M" or "1".
    #[arg(long, value_name = "RATE", default_value = "1M")]
    pub unit: Bandwidth,
    /// Merge parallel links between the same pair of sites, summing capacity.
    #[arg(long)]
    pub merge_parallel: bool,
}

impl TopologyArgs {
    pub fn read_options(&self) -> ReadOptions {
        ReadOptions {
            default_capacity: self.default_capacity,
            unit: self.unit,
            merge_parallel: self.merge_parallel,
        }
    }

    pub fn load(&self) -> anyhow::Result<(Topology, String)> {
        let opts = self.read_options();
        match &self.topology {
            Some(path) => {
                let topo = keel_formats::read_topology(path, self.topology_format, &opts)?;
                Ok((topo, path.display().to_string()))
            }
            None => {
                let topo = keel_formats::parse_topology(
                    DEFAULT_TOPOLOGY,
                    "data/abilene.toml",
                    Some(TopologyFormat::NativeToml),
                    &opts,
                )
                .context("the built-in topology is broken")?;
                Ok((topo, DEFAULT_NAME.to_string()))
            }
        }
    }

    pub fn is_default(&self) -> bool {
        self.topology.is_none()
    }
}

/// Where the traffic matrix comes from (`keel solve`, `keel whatif`).
#[derive(Args, Debug, Clone)]
pub struct TrafficArgs {
    /// Traffic matrix: `src dst rate` text, CSV, SNDlib or Repetita demands, or
    /// Keel's native TOML/JSON. Detected from the content.
    #[arg(long, value_name = "FILE")]
    pub traffic: Option<PathBuf>,
    /// Force the traffic format instead of detecting it.
    #[arg(long, value_name = "FORMAT")]
    pub traffic_format: Option<TrafficFormat>,
}

impl TrafficArgs {
    pub fn load(
        &self,
        topo_args: &TopologyArgs,
        topology: &Topology,
    ) -> anyhow::Result<TrafficMatrix> {
        load_traffic(
            self.traffic.as_deref(),
            self.traffic_format,
            topo_args,
            topology,
        )
    }
}

/// Reads a traffic matrix file, or the built-in demo one for the built-in topology.
pub fn load_traffic(
    path: Option<&Path>,
    format: Option<TrafficFormat>,
    topo_args: &TopologyArgs,
    topology: &Topology,
) -> anyhow::Result<TrafficMatrix> {
    let opts = topo_args.read_options();
    match path {
        Some(p) => Ok(keel_formats::read_traffic(p, topology, format, &opts)?),
        None if topo_args.is_default() => Ok(keel_formats::parse_traffic(
            DEFAULT_TRAFFIC,
            "data/abilene-demo-traffic.toml",
            topology,
            Some(TrafficFormat::NativeToml),
            &opts,
        )
        .context("the built-in traffic matrix is broken")?),
        None => Err(UsageError(
            "--traffic is required with --topology (generate one with `keel gen-tm`)".into(),
        )
        .into()),
    }
}

pub fn is_input_error(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.is::<FormatError>()
            || e.is::<ModelError>()
            || e.is::<keel_formats::generate::GenError>()
            || e.is::<std::io::Error>()
            || e.is::<UsageError>()
    })
}

/// A request that cannot be carried out as asked (bad flag combination etc.).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Writes `content` to `path`, or to standard output for `-`.
pub fn write_output(path: &Path, content: &str) -> anyhow::Result<()> {
    if path == Path::new("-") {
        print!("{content}");
        return Ok(());
    }
    std::fs::write(path, content).with_context(|| format!("cannot write {}", path.display()))
}
