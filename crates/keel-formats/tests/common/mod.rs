//! Fixtures shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use keel_formats::{ReadOptions, TopologyFormat, parse_topology};
use keel_model::{Bandwidth, Topology};

/// The shared data set (`../shared/data` beside the repository); None (with a message) when
/// absent, so the tests that need it skip instead of failing.
pub fn data_dir() -> Option<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if d.join("topologies").is_dir() {
        Some(d)
    } else {
        eprintln!("SKIPPED: shared data not found at {}", d.display());
        None
    }
}

#[macro_export]
macro_rules! data_or_skip {
    () => {
        match common::data_dir() {
            Some(d) => d,
            None => return,
        }
    };
}

pub fn with_default_capacity() -> ReadOptions {
    ReadOptions {
        default_capacity: Some(Bandwidth::from_gbps(1.0)),
        ..ReadOptions::default()
    }
}

pub const GRAPHML: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<graphml xmlns="http://graphml.graphdrawing.org/xmlns">
  <key attr.name="label" attr.type="string" for="node" id="d0"/>
  <key attr.name="Latitude" attr.type="double" for="node" id="d1"/>
  <key attr.name="Longitude" attr.type="double" for="node" id="d2"/>
  <key attr.name="Country" attr.type="string" for="node" id="d3"/>
  <key attr.name="LinkSpeedRaw" attr.type="double" for="edge" id="d4"/>
  <graph edgedefault="undirected">
    <node id="0"><data key="d0">Paris</data><data key="d1">48.85</data><data key="d2">2.35</data><data key="d3">France</data></node>
    <node id="1"><data key="d0">Lyon</data><data key="d1">45.76</data><data key="d2">4.83</data></node>
    <node id="2"><data key="d0">Marseille</data><data key="d1">43.3</data><data key="d2">5.37</data></node>
    <edge source="0" target="1"><data key="d4">10000000000.0</data></edge>
    <edge source="1" target="2"/>
    <edge source="1" target="2"><data key="d4">2500000000</data></edge>
    <edge source="2" target="2"/>
  </graph>
</graphml>
"#;

pub const SNDLIB: &str = r#"<?xml version="1.0" encoding="ISO-8859-1"?>
<network xmlns="http://sndlib.zib.de/network" version="1.0">
 <meta>
  <unit>MBITPERSEC</unit>
  <time>20240101-0000</time>
 </meta>
 <networkStructure>
  <nodes coordinatesType="geographical">
   <node id="PAR"><coordinates><x>2.35</x><y>48.85</y></coordinates></node>
   <node id="LYS"><coordinates><x>4.83</x><y>45.76</y></coordinates></node>
   <node id="MRS"><coordinates><x>5.37</x><y>43.3</y></coordinates></node>
  </nodes>
  <links>
   <link id="L1">
    <source>PAR</source><target>LYS</target>
    <preInstalledModule><capacity>10000.0</capacity><cost>0.0</cost></preInstalledModule>
   </link>
   <link id="L2">
    <source>LYS</source><target>MRS</target>
    <additionalModules><addModule><capacity>40000.0</capacity><cost>1.0</cost></addModule></additionalModules>
   </link>
  </links>
 </networkStructure>
 <demands>
  <demand id="PAR_MRS"><source>PAR</source><target>MRS</target><demandValue> 12.5 </demandValue></demand>
  <demand id="MRS_PAR"><source>MRS</source><target>PAR</target><demandValue>0.0</demandValue></demand>
  <demand id="LYS_LYS"><source>LYS</source><target>LYS</target><demandValue>3.0</demandValue></demand>
  <demand id="PAR_MRS_2"><source>PAR</source><target>MRS</target><demandValue>7.5</demandValue></demand>
 </demands>
</network>
"#;

pub const REPETITA_GRAPH: &str = "NODES 3
label x y
0_Paris 2.35 48.85
1_Lyon 4.83 45.76
2_Marseille 5.37 43.3

EDGES 4
label src dest weight bw delay
edge_0 0 1 10 10000000 2000
edge_1 1 0 10 10000000 2000
edge_2 1 2 5 1000000 1500
edge_3 2 1 5 1000000 1500
";

pub const REPETITA_DEMANDS: &str = "DEMANDS 3
label src dest bw
demand_0 0 2 1000
demand_1 2 0 500
demand_2 0 2 250
";

pub const NODE_LINK: &str = r#"{"directed": false, "multigraph": false, "graph": {},
 "nodes": [{"id": 0, "label": "Paris", "lat": 48.85, "lon": 2.35, "pop": 2100000},
           {"id": 1, "label": "Lyon"}, {"id": "mrs"}],
 "links": [{"source": 0, "target": 1, "capacity": 400},
           {"source": 1, "target": "mrs", "capacity": "10G", "latency": 1.5, "weight": 3}]}"#;

pub const NATIVE_TOML: &str = r#"name = "tri"

[[sites]]
id = "par"
name = "Paris"
lat = 48.85
lon = 2.35

[[sites]]
id = "lys"
lat = 45.76
lon = 4.83

[[sites]]
id = "mrs"
kind = "datacenter"

[[links]]
from = "par"
to = "lys"
capacity = "100G"
bidirectional = true

[[links]]
from = "lys"
to = "mrs"
capacity = "10G"
latency = "3ms"
bidirectional = true
"#;

/// Text TM for the node-link fixture (ids 0, 1, mrs).
pub const TEXT_TM: &str = "# a comment
0 1 10
1 mrs 2.5 voice   # trailing comment
0 0 7
0 mrs 0
mrs 0 1e1
0 1 5
";

pub const CSV_TM: &str = "time,src,dst,value
t0,0,1,1.5
t0,1,mrs,2
t1,0,1,3
t0,0,1,0.5
t1,mrs,0,4
";

pub fn node_link_topology() -> Topology {
    parse_topology(
        NODE_LINK,
        "tri.json",
        Some(TopologyFormat::NodeLinkJson),
        &ReadOptions::default(),
    )
    .expect("node-link fixture parses")
}
