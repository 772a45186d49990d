//! `keel convert`: between topology and traffic formats.

use std::path::PathBuf;

use keel_formats::{TopologyFormat, TrafficFormat};

use crate::cmd::gentm::format_for;
use crate::input::{self, TopologyArgs, UsageError};

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Convert a topology, e.g. Topology Zoo GraphML to Keel's native TOML.
    ///
    /// Example: keel convert topology -t Abilene.graphml --default-capacity 10G abilene.toml
    Topology {
        #[command(flatten)]
        topo: TopologyArgs,
        /// Output file (`-` for standard output).
        out: PathBuf,
        /// Output format: toml or json (Keel's native schema); by default from the
        /// extension.
        #[arg(long, value_name = "FORMAT")]
        to: Option<TopologyFormat>,
    },
    /// Convert a traffic matrix, resolving its sites against a topology.
    ///
    /// Example: keel convert traffic -t data/b4.json tm.txt tm.toml
    Traffic {
        #[command(flatten)]
        topo: TopologyArgs,
        /// Input traffic matrix.
        input: PathBuf,
        /// Output file (`-` for standard output).
        out: PathBuf,
        /// Input format, when detection is not wanted.
        #[arg(long, value_name = "FORMAT")]
        from: Option<TrafficFormat>,
        /// Output format: toml, json, csv or text; by default from the extension.
        #[arg(long, value_name = "FORMAT")]
        to: Option<TrafficFormat>,
    },
}

pub fn run(cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Topology { topo, out, to } => {
            if topo.topology.is_none() {
                return Err(UsageError("--topology is required".into()).into());
            }
            let (t, _) = topo.load()?;
            let format = to.unwrap_or(match out.extension().and_then(|e| e.to_str()) {
                Some("json") => TopologyFormat::NativeJson,
                Some("graphml") => TopologyFormat::GraphMl,
                _ => TopologyFormat::NativeToml,
            });
            input::write_output(&out, &keel_formats::write_topology(&t, format)?)
        }
        Command::Traffic {
            topo,
            input: path,
            out,
            from,
            to,
        } => {
            if topo.topology.is_none() {
                return Err(UsageError("--topology is required".into()).into());
            }
            let (t, _) = topo.load()?;
            let tm = input::load_traffic(Some(&path), from, &topo, &t)?;
            let format = to.unwrap_or_else(|| format_for(&out));
            input::write_output(&out, &keel_formats::write_traffic(&t, &tm, format)?)
        }
    }
}
