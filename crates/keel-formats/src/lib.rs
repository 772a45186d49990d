//! Readers and writers for backbone topology and traffic-matrix formats, and
//! NCFlow-style traffic-matrix generators ([`generate`]).
//!
//! Topologies (read; native and GraphML also written):
//!
//! | format | units | notes |
//! |---|---|---|
//! | Topology Zoo GraphML (`graphml`) | `LinkSpeedRaw` bit/s | undirected edges become two arcs; no capacity → [`ReadOptions::default_capacity`] |
//! | SNDlib XML (`sndlib`) | Mbit/s (`<meta><unit>`) | `preInstalledModule/capacity`, else the default capacity |
//! | Repetita `.graph` (`repetita`) | bw kbit/s, delay µs | site ids are the node indices `0..n-1` |
//! | networkx node-link JSON (`node-link`) | capacity in [`ReadOptions::unit`] | Teal / NCFlow files |
//! | native TOML / JSON (`toml`, `json`) | see `keel_model::spec` | exact round trip |
//!
//! Traffic matrices (read; native, text and CSV also written):
//!
//! | format | units | notes |
//! |---|---|---|
//! | text (`text`) | [`ReadOptions::unit`], or a `# unit: bit/s` line | `src dst value [class]` per line, `#` comments |
//! | CSV (`csv`) | `value` in [`ReadOptions::unit`]; `rate_bps`, `value_mbps`... in their unit | header names the columns; optional `time` and `class` |
//! | SNDlib XML (`sndlib`) | Mbit/s | `<demands>` of a network or dynamic TM file |
//! | Repetita `.demands` (`repetita`) | kbit/s | |
//! | native TOML / JSON (`toml`, `json`) | see `keel_model::spec` | strict: exactly the model's rules |
//!
//! Foreign traffic formats skip zero and self (diagonal) entries and sum
//! duplicates of the same (src, dst, class); sites are matched by id first, then
//! by unique name. Foreign topology formats drop self loops.

mod assemble;
mod error;
pub mod generate;
mod graphml;
mod native;
mod nodelink;
mod repetita;
mod sndlib;
mod text;
mod xml;

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use keel_model::{Bandwidth, Topology, TrafficMatrix};
use serde::Deserialize;
use serde::de::IgnoredAny;

pub use error::{FormatError, Location};

/// A topology file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TopologyFormat {
    GraphMl,
    SndlibXml,
    Repetita,
    NodeLinkJson,
    NativeToml,
    NativeJson,
}

/// A traffic-matrix file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrafficFormat {
    Text,
    Csv,
    SndlibXml,
    Repetita,
    NativeToml,
    NativeJson,
}

impl TopologyFormat {
    pub const ALL: [TopologyFormat; 6] = [
        TopologyFormat::GraphMl,
        TopologyFormat::SndlibXml,
        TopologyFormat::Repetita,
        TopologyFormat::NodeLinkJson,
        TopologyFormat::NativeToml,
        TopologyFormat::NativeJson,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            TopologyFormat::GraphMl => "graphml",
            TopologyFormat::SndlibXml => "sndlib",
            TopologyFormat::Repetita => "repetita",
            TopologyFormat::NodeLinkJson => "node-link",
            TopologyFormat::NativeToml => "toml",
            TopologyFormat::NativeJson => "json",
        }
    }
}

impl TrafficFormat {
    pub const ALL: [TrafficFormat; 6] = [
        TrafficFormat::Text,
        TrafficFormat::Csv,
        TrafficFormat::SndlibXml,
        TrafficFormat::Repetita,
        TrafficFormat::NativeToml,
        TrafficFormat::NativeJson,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            TrafficFormat::Text => "text",
            TrafficFormat::Csv => "csv",
            TrafficFormat::SndlibXml => "sndlib",
            TrafficFormat::Repetita => "repetita",
            TrafficFormat::NativeToml => "toml",
            TrafficFormat::NativeJson => "json",
        }
    }
}

impl fmt::Display for TopologyFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for TrafficFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TopologyFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "graphml" | "zoo" => TopologyFormat::GraphMl,
            "sndlib" | "sndlib-xml" | "xml" => TopologyFormat::SndlibXml,
            "repetita" | "graph" => TopologyFormat::Repetita,
            "node-link" | "nodelink" | "node-link-json" | "teal" | "networkx" => {
                TopologyFormat::NodeLinkJson
            }
            "toml" | "native-toml" => TopologyFormat::NativeToml,
            "json" | "native-json" => TopologyFormat::NativeJson,
            _ => return Err(unknown_format(s, &TopologyFormat::ALL.map(Self::name))),
        })
    }
}

impl FromStr for TrafficFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "text" | "txt" => TrafficFormat::Text,
            "csv" => TrafficFormat::Csv,
            "sndlib" | "sndlib-xml" | "xml" => TrafficFormat::SndlibXml,
            "repetita" | "demands" => TrafficFormat::Repetita,
            "toml" | "native-toml" => TrafficFormat::NativeToml,
            "json" | "native-json" => TrafficFormat::NativeJson,
            _ => return Err(unknown_format(s, &TrafficFormat::ALL.map(Self::name))),
        })
    }
}

fn unknown_format(s: &str, names: &[&str]) -> String {
    format!(
        "unknown format `{s}` (expected one of {})",
        names.join(", ")
    )
}

/// How to interpret what a file leaves open.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadOptions {
    /// Capacity of links whose file gives none (most Topology Zoo GraphML). When
    /// `None`, such a link is an error naming it.
    pub default_capacity: Option<Bandwidth>,
    /// What a number without a unit means in formats that have none: node-link
    /// JSON capacities, text and CSV traffic values. Default 1 Mbit/s.
    pub unit: Bandwidth,
    /// Collapse parallel arcs between the same ordered pair of sites into one,
    /// summing capacity (as NCFlow does). Default false.
    pub merge_parallel: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            default_capacity: None,
            unit: Bandwidth::from_mbps(1.0),
            merge_parallel: false,
        }
    }
}

/// Guesses a topology format from the content, using the file extension only
/// when the content does not tell.
pub fn detect_topology_format(path: &Path, content: &str) -> Option<TopologyFormat> {
    let content = content.trim_start_matches('\u{feff}').trim_start();
    if content.starts_with('<') {
        match xml_root(content) {
            Some("graphml") => return Some(TopologyFormat::GraphMl),
            Some("network") => return Some(TopologyFormat::SndlibXml),
            _ => {}
        }
    } else if content.starts_with('{') {
        let keys = json_keys(content);
        return Some(if keys.nodes.is_some() {
            TopologyFormat::NodeLinkJson
        } else {
            TopologyFormat::NativeJson
        });
    } else if first_word(content) == Some("NODES") {
        return Some(TopologyFormat::Repetita);
    } else if !content.is_empty() && looks_like_toml(content, &["sites", "links", "name"]) {
        return Some(TopologyFormat::NativeToml);
    }
    match extension(path).as_deref() {
        Some("graphml") => Some(TopologyFormat::GraphMl),
        Some("xml") => Some(TopologyFormat::SndlibXml),
        Some("graph") => Some(TopologyFormat::Repetita),
        Some("json") => Some(TopologyFormat::NodeLinkJson),
        Some("toml") => Some(TopologyFormat::NativeToml),
        _ => None,
    }
}

/// Guesses a traffic format from the content, using the file extension only
/// when the content does not tell.
pub fn detect_traffic_format(path: &Path, content: &str) -> Option<TrafficFormat> {
    let content = content.trim_start_matches('\u{feff}').trim_start();
    if content.starts_with('<') {
        if xml_root(content) == Some("network") {
            return Some(TrafficFormat::SndlibXml);
        }
    } else if content.starts_with('{') {
        return Some(TrafficFormat::NativeJson);
    } else if first_word(content) == Some("DEMANDS") {
        return Some(TrafficFormat::Repetita);
    } else if let Some(line) = content
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
    {
        // TOML lines are `[table]` or `key = value`; text and CSV have neither.
        if line.starts_with('[') || line.contains('=') {
            if looks_like_toml(content, &["demands", "classes"]) {
                return Some(TrafficFormat::NativeToml);
            }
        } else if line.contains(',') {
            return Some(TrafficFormat::Csv);
        }
        let fields = line.split_whitespace().count();
        if (3..=4).contains(&fields) {
            return Some(TrafficFormat::Text);
        }
    }
    match extension(path).as_deref() {
        Some("txt") => Some(TrafficFormat::Text),
        Some("csv") => Some(TrafficFormat::Csv),
        Some("xml") => Some(TrafficFormat::SndlibXml),
        Some("demands") => Some(TrafficFormat::Repetita),
        Some("toml") => Some(TrafficFormat::NativeToml),
        Some("json") => Some(TrafficFormat::NativeJson),
        _ => None,
    }
}

fn extension(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
}

fn first_word(content: &str) -> Option<&str> {
    content.split_whitespace().next()
}

/// Local name of the root element, skipping the prolog.
fn xml_root(content: &str) -> Option<&str> {
    let mut rest = content;
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix("<?") {
            rest = &r[r.find("?>")? + 2..];
        } else if let Some(r) = rest.strip_prefix("<!--") {
            rest = &r[r.find("-->")? + 3..];
        } else if let Some(r) = rest.strip_prefix("<!") {
            rest = &r[r.find('>')? + 1..];
        } else {
            let r = rest.strip_prefix('<')?;
            let end = r
                .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
                .unwrap_or(r.len());
            let name = &r[..end];
            return Some(name.rsplit(':').next().unwrap_or(name));
        }
    }
}

#[derive(Deserialize, Default)]
struct JsonKeys {
    nodes: Option<IgnoredAny>,
}

fn json_keys(content: &str) -> JsonKeys {
    // Invalid JSON: fall back to a textual hint, so the chosen parser reports
    // the syntax error.
    serde_json::from_str(content).unwrap_or_else(|_| JsonKeys {
        nodes: content.contains("\"nodes\"").then_some(IgnoredAny),
    })
}

/// TOML with one of `keys` at the top level: a line starting `[[key]]` or
/// `key =` (cheap, and enough for syntax errors to come from the TOML parser),
/// else a table that parses and has one of them.
fn looks_like_toml(content: &str, keys: &[&str]) -> bool {
    let starts_key = |l: &str| {
        keys.iter().any(|k| {
            l.strip_prefix("[[")
                .and_then(|r| r.strip_prefix(k))
                .is_some_and(|r| r.starts_with("]]"))
                || l.strip_prefix(k)
                    .is_some_and(|r| r.trim_start().starts_with('='))
        })
    };
    content.lines().map(str::trim_start).any(starts_key)
        || toml::from_str::<toml::Table>(content)
            .is_ok_and(|table| keys.iter().any(|k| table.contains_key(*k)))
}

fn read_file(path: &Path) -> Result<String, FormatError> {
    let bytes = std::fs::read(path).map_err(|error| FormatError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    assemble::decode(&bytes, &path.display().to_string())
}

/// Reads a topology file; the format is detected when not given.
pub fn read_topology(
    path: &Path,
    format: Option<TopologyFormat>,
    opts: &ReadOptions,
) -> Result<Topology, FormatError> {
    let content = read_file(path)?;
    parse_topology(&content, &path.display().to_string(), format, opts)
}

/// Parses a topology from text. `source` names it in errors and gives the
/// topology its name (file stem) where the format has none.
pub fn parse_topology(
    content: &str,
    source: &str,
    format: Option<TopologyFormat>,
    opts: &ReadOptions,
) -> Result<Topology, FormatError> {
    let content = content.strip_prefix('\u{feff}').unwrap_or(content);
    let format = format
        .or_else(|| detect_topology_format(Path::new(source), content))
        .ok_or_else(|| FormatError::UnknownFormat {
            file: source.to_string(),
        })?;
    match format {
        TopologyFormat::GraphMl => graphml::read(content, source, opts),
        TopologyFormat::SndlibXml => sndlib::read_topology(content, source, opts),
        TopologyFormat::Repetita => repetita::read_graph(content, source, opts),
        TopologyFormat::NodeLinkJson => nodelink::read(content, source, opts),
        TopologyFormat::NativeToml => native::read_topology_toml(content, source),
        TopologyFormat::NativeJson => native::read_topology_json(content, source),
    }
}

/// Reads a traffic matrix onto `topology`; the format is detected when not
/// given. For a CSV file with several time stamps, the first one.
pub fn read_traffic(
    path: &Path,
    topology: &Topology,
    format: Option<TrafficFormat>,
    opts: &ReadOptions,
) -> Result<TrafficMatrix, FormatError> {
    let content = read_file(path)?;
    parse_traffic(
        &content,
        &path.display().to_string(),
        topology,
        format,
        opts,
    )
}

/// Parses a traffic matrix from text; see [`read_traffic`].
pub fn parse_traffic(
    content: &str,
    source: &str,
    topology: &Topology,
    format: Option<TrafficFormat>,
    opts: &ReadOptions,
) -> Result<TrafficMatrix, FormatError> {
    let series = parse_traffic_impl(content, source, topology, format, opts, false)?;
    match series.into_iter().next() {
        Some((_, tm)) => Ok(tm),
        None => TrafficMatrix::new(topology, Default::default(), Vec::new())
            .map_err(|e| FormatError::model(source, Location::default(), e)),
    }
}

/// Every traffic matrix in a file, in order, each with its label: the time
/// stamp for CSV with a `time` column and for SNDlib XML with `<meta><time>`,
/// otherwise the file stem.
pub fn read_traffic_series(
    path: &Path,
    topology: &Topology,
    format: Option<TrafficFormat>,
    opts: &ReadOptions,
) -> Result<Vec<(String, TrafficMatrix)>, FormatError> {
    let content = read_file(path)?;
    parse_traffic_series(
        &content,
        &path.display().to_string(),
        topology,
        format,
        opts,
    )
}

/// Parses every traffic matrix in a text; see [`read_traffic_series`].
pub fn parse_traffic_series(
    content: &str,
    source: &str,
    topology: &Topology,
    format: Option<TrafficFormat>,
    opts: &ReadOptions,
) -> Result<Vec<(String, TrafficMatrix)>, FormatError> {
    parse_traffic_impl(content, source, topology, format, opts, true)
}

fn parse_traffic_impl(
    content: &str,
    source: &str,
    topology: &Topology,
    format: Option<TrafficFormat>,
    opts: &ReadOptions,
    all: bool,
) -> Result<Vec<(String, TrafficMatrix)>, FormatError> {
    let content = content.strip_prefix('\u{feff}').unwrap_or(content);
    let format = format
        .or_else(|| detect_traffic_format(Path::new(source), content))
        .ok_or_else(|| FormatError::UnknownFormat {
            file: source.to_string(),
        })?;
    let label = assemble::stem(source);
    let one = |tm: Result<TrafficMatrix, FormatError>| tm.map(|tm| vec![(label.clone(), tm)]);
    match format {
        TrafficFormat::Text => one(text::read_text(content, source, topology, opts)),
        TrafficFormat::Csv => text::read_csv(content, source, topology, opts, all),
        TrafficFormat::SndlibXml => sndlib::read_traffic(content, source, topology)
            .map(|(time, tm)| vec![(time.unwrap_or(label.clone()), tm)]),
        TrafficFormat::Repetita => one(repetita::read_demands(content, source, topology)),
        TrafficFormat::NativeToml => one(native::read_traffic_toml(content, source, topology)),
        TrafficFormat::NativeJson => one(native::read_traffic_json(content, source, topology)),
    }
}

/// Writes a topology: native TOML or JSON (exact round trip) or GraphML.
pub fn write_topology(topology: &Topology, format: TopologyFormat) -> Result<String, FormatError> {
    match format {
        TopologyFormat::NativeToml => native::write_topology_toml(topology),
        TopologyFormat::NativeJson => native::write_topology_json(topology),
        TopologyFormat::GraphMl => Ok(graphml::write(topology)),
        other => Err(FormatError::Unsupported {
            what: format!("writing {other} topologies"),
        }),
    }
}

/// Writes a traffic matrix: native TOML or JSON, text or CSV (rates in bit/s,
/// marked as such so that reading back is exact whatever the unit option).
pub fn write_traffic(
    topology: &Topology,
    tm: &TrafficMatrix,
    format: TrafficFormat,
) -> Result<String, FormatError> {
    match format {
        TrafficFormat::NativeToml => native::write_traffic_toml(topology, tm),
        TrafficFormat::NativeJson => native::write_traffic_json(topology, tm),
        TrafficFormat::Text => text::write_text(topology, tm),
        TrafficFormat::Csv => Ok(text::write_csv(topology, tm)),
        other => Err(FormatError::Unsupported {
            what: format!("writing {other} traffic matrices"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_round_trip() {
        for f in TopologyFormat::ALL {
            assert_eq!(f.to_string().parse::<TopologyFormat>(), Ok(f));
        }
        for f in TrafficFormat::ALL {
            assert_eq!(f.to_string().parse::<TrafficFormat>(), Ok(f));
        }
        let err = "yaml".parse::<TopologyFormat>().expect_err("unknown");
        assert!(err.contains("graphml, sndlib"), "{err}");
    }

    #[test]
    fn detects_from_content_before_extension() {
        let p = Path::new("x.txt");
        let t = |c| detect_topology_format(p, c);
        assert_eq!(
            t("<?xml version=\"1.0\"?>\n<!-- c --><graphml xmlns=\"x\">"),
            Some(TopologyFormat::GraphMl)
        );
        assert_eq!(
            t("<network xmlns=\"http://sndlib.zib.de/network\">"),
            Some(TopologyFormat::SndlibXml)
        );
        assert_eq!(
            t(r#"{"directed": true, "nodes": [], "links": []}"#),
            Some(TopologyFormat::NodeLinkJson)
        );
        assert_eq!(
            t(r#"{"name": "x", "sites": []}"#),
            Some(TopologyFormat::NativeJson)
        );
        assert_eq!(t("NODES 2\nlabel x y\n"), Some(TopologyFormat::Repetita));
        assert_eq!(
            t("name = \"x\"\n[[sites]]\nid = \"a\"\n"),
            Some(TopologyFormat::NativeToml)
        );
        assert_eq!(t("[[sites]]\nid = \n"), Some(TopologyFormat::NativeToml));
        assert_eq!(t("hello"), None);
        assert_eq!(
            detect_topology_format(Path::new("a.graph"), ""),
            Some(TopologyFormat::Repetita)
        );

        let r = |c| detect_traffic_format(p, c);
        assert_eq!(r("time,src,dst,value\n"), Some(TrafficFormat::Csv));
        assert_eq!(r("# unit: bit/s\n0 1 2.5\n"), Some(TrafficFormat::Text));
        assert_eq!(r("DEMANDS 1\n"), Some(TrafficFormat::Repetita));
        assert_eq!(
            r("[[demands]]\nsrc = \"a\"\n"),
            Some(TrafficFormat::NativeToml)
        );
        assert_eq!(r("{\"demands\": []}"), Some(TrafficFormat::NativeJson));
        assert_eq!(
            r("<?xml version=\"1.0\"?><network>"),
            Some(TrafficFormat::SndlibXml)
        );
        assert_eq!(r("what"), Some(TrafficFormat::Text)); // by extension
        assert_eq!(detect_traffic_format(Path::new("x"), "what"), None);
    }
}
