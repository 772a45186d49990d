//! Readers and writers on inline fixtures and on the shared real data.

mod common;

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use keel_formats::*;
use keel_model::{Bandwidth, LatencySource, Topology, TrafficMatrix};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn arc<'a>(t: &'a Topology, src: &str, dst: &str) -> Vec<&'a keel_model::Link> {
    let (s, d) = (t.site_by_id(src), t.site_by_id(dst));
    t.links()
        .iter()
        .filter(|l| Some(l.src) == s && Some(l.dst) == d)
        .collect()
}

// ---------------------------------------------------------------- fixtures

#[test]
fn graphml_fixture_two_arcs_per_edge_and_defaults() {
    let err = parse_topology(GRAPHML, "fx.graphml", None, &ReadOptions::default())
        .expect_err("an edge has no capacity");
    let msg = err.to_string();
    assert!(
        msg.starts_with("fx.graphml:13:5: <edge source=\"1\" target=\"2\">: no capacity"),
        "{msg}"
    );

    let t = parse_topology(GRAPHML, "fx.graphml", None, &with_default_capacity()).expect("parses");
    assert_eq!(t.name(), "fx");
    assert_eq!(
        (t.site_count(), t.link_count()),
        (3, 6),
        "self loop dropped"
    );
    let paris = &t.sites()[0];
    assert_eq!((paris.id.as_str(), paris.name.as_str()), ("0", "Paris"));
    assert_eq!(
        paris.attributes.get("Country").map(String::as_str),
        Some("France")
    );
    assert!(!paris.attributes.contains_key("label"));
    assert_eq!(paris.location.map(|p| (p.lat, p.lon)), Some((48.85, 2.35)));
    let fwd = arc(&t, "0", "1");
    assert_eq!(fwd.len(), 1);
    assert_eq!(fwd[0].capacity.bps(), 1e10);
    assert!(matches!(
        fwd[0].latency_source,
        LatencySource::GreatCircle { .. }
    ));
    assert_eq!(arc(&t, "1", "0")[0].capacity.bps(), 1e10);
    let par: Vec<f64> = arc(&t, "1", "2").iter().map(|l| l.capacity.bps()).collect();
    assert_eq!(par, [1e9, 2.5e9]);
    assert_eq!(arc(&t, "1", "2")[1].id, "1->2#2");

    let merged = parse_topology(
        GRAPHML,
        "fx.graphml",
        None,
        &ReadOptions {
            merge_parallel: true,
            ..with_default_capacity()
        },
    )
    .expect("parses");
    assert_eq!(merged.link_count(), 4);
    assert_eq!(arc(&merged, "2", "1")[0].capacity.bps(), 3.5e9);
}

#[test]
fn sndlib_fixture_topology_and_demands() {
    assert!(parse_topology(SNDLIB, "fx.xml", None, &ReadOptions::default()).is_err());
    let t = parse_topology(SNDLIB, "fx.xml", None, &with_default_capacity()).expect("parses");
    assert_eq!((t.site_count(), t.link_count()), (3, 4));
    assert_eq!(arc(&t, "LYS", "PAR")[0].capacity.bps(), 1e10);
    assert_eq!(
        arc(&t, "MRS", "LYS")[0].capacity.bps(),
        1e9,
        "default, not the module"
    );
    assert_eq!(
        t.sites()[0].location.map(|p| (p.lat, p.lon)),
        Some((48.85, 2.35))
    );

    let tm = parse_traffic(SNDLIB, "fx.xml", &t, None, &ReadOptions::default()).expect("demands");
    assert_eq!(
        tm.len(),
        1,
        "zero and self demands skipped, duplicates summed"
    );
    assert_eq!(tm.demands()[0].rate.bps(), 20e6);
    let series =
        parse_traffic_series(SNDLIB, "fx.xml", &t, None, &ReadOptions::default()).expect("series");
    assert_eq!(series.len(), 1);
    assert_eq!(series[0].0, "20240101-0000");
}

#[test]
fn repetita_fixture_graph_and_demands() {
    let t =
        parse_topology(REPETITA_GRAPH, "fx.graph", None, &ReadOptions::default()).expect("parses");
    assert_eq!((t.site_count(), t.link_count()), (3, 4));
    assert_eq!(t.sites()[1].id, "1");
    assert_eq!(t.sites()[1].name, "1_Lyon");
    let l = &t.links()[2];
    assert_eq!(l.id, "edge_2");
    assert_eq!(l.capacity.bps(), 1e9);
    assert_eq!(l.metric, 5.0);
    assert_eq!(l.latency.ms(), 1.5);
    assert_eq!(l.latency_source, LatencySource::Given);

    let tm = parse_traffic(
        REPETITA_DEMANDS,
        "fx.demands",
        &t,
        None,
        &ReadOptions::default(),
    )
    .expect("demands");
    let rates: Vec<f64> = tm.demands().iter().map(|d| d.rate.bps()).collect();
    assert_eq!(rates, [1.25e6, 0.5e6]);
}

#[test]
fn node_link_fixture_ids_units_and_attributes() {
    let t = node_link_topology();
    assert_eq!((t.site_count(), t.link_count()), (3, 4));
    assert_eq!(t.sites()[2].id, "mrs");
    assert_eq!(t.sites()[0].name, "Paris");
    assert_eq!(
        t.sites()[0].attributes.get("pop").map(String::as_str),
        Some("2100000")
    );
    assert!(t.sites()[0].location.is_some());
    assert_eq!(
        arc(&t, "1", "0")[0].capacity.bps(),
        400e6,
        "unitless in Mbit/s"
    );
    let l = arc(&t, "mrs", "1")[0];
    assert_eq!(
        (l.capacity.bps(), l.latency.ms(), l.metric),
        (1e10, 1.5, 3.0)
    );

    let gbit = ReadOptions {
        unit: Bandwidth::from_gbps(1.0),
        ..ReadOptions::default()
    };
    let t = parse_topology(NODE_LINK, "x.json", None, &gbit).expect("parses");
    assert_eq!(arc(&t, "0", "1")[0].capacity.bps(), 400e9);
}

#[test]
fn native_toml_fixture() {
    let t = parse_topology(NATIVE_TOML, "x.toml", None, &ReadOptions::default()).expect("parses");
    assert_eq!(t.name(), "tri");
    assert_eq!((t.site_count(), t.link_count()), (3, 4));
    assert_eq!(arc(&t, "mrs", "lys")[0].latency.ms(), 3.0);
    for f in [
        TopologyFormat::NativeToml,
        TopologyFormat::NativeJson,
        TopologyFormat::GraphMl,
    ] {
        let text = write_topology(&t, f).expect("writes");
        let back =
            parse_topology(&text, "tri", Some(f), &ReadOptions::default()).expect("reads back");
        if f == TopologyFormat::GraphMl {
            // GraphML carries no site kind.
            assert_eq!(back.link_count(), 4);
            assert_eq!(back.links(), t.links());
        } else {
            assert_eq!(back, t, "{f}");
        }
    }
    assert!(matches!(
        write_topology(&t, TopologyFormat::Repetita),
        Err(FormatError::Unsupported { .. })
    ));
}

#[test]
fn text_and_csv_fixtures() {
    let t = node_link_topology();
    let tm = parse_traffic(TEXT_TM, "tm.txt", &t, None, &ReadOptions::default()).expect("text");
    // 0->1 twice (summed), 1->mrs voice, mrs->0; the diagonal and zero skipped.
    let got: Vec<(String, String, String, f64)> = tm
        .demands()
        .iter()
        .map(|d| {
            (
                t.site(d.src).id.clone(),
                t.site(d.dst).id.clone(),
                tm.classes().get(d.class).name.clone(),
                d.rate.bps(),
            )
        })
        .collect();
    let want = [
        ("0", "1", "best-effort", 15e6),
        ("1", "mrs", "voice", 2.5e6),
        ("mrs", "0", "best-effort", 10e6),
    ];
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert_eq!((g.0.as_str(), g.1.as_str(), g.2.as_str(), g.3), w);
    }
    // Names resolve when no id matches.
    let by_name = parse_traffic(
        "Paris Lyon 1\n",
        "n.txt",
        &t,
        Some(TrafficFormat::Text),
        &ReadOptions::default(),
    )
    .expect("names");
    assert_eq!(by_name.demands()[0].src, t.site_by_id("0").expect("site"));

    let tm = parse_traffic(CSV_TM, "tm.csv", &t, None, &ReadOptions::default()).expect("csv");
    assert_eq!(tm.len(), 2, "first time stamp only");
    assert_eq!(tm.demands()[0].rate.bps(), 2e6, "duplicates summed");
    let series =
        parse_traffic_series(CSV_TM, "tm.csv", &t, None, &ReadOptions::default()).expect("series");
    let labels: Vec<&str> = series.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(labels, ["t0", "t1"]);
    assert_eq!(series[1].1.total(), 7e6);
    // Explicit units in the column name win over the option.
    let bps = parse_traffic(
        "src,dst,rate_bps\n0,1,42\n",
        "b.csv",
        &t,
        None,
        &ReadOptions::default(),
    )
    .expect("csv");
    assert_eq!(bps.total(), 42.0);
}

#[test]
fn detection_from_content_and_extension() {
    let p = Path::new("noext");
    assert_eq!(
        detect_topology_format(p, GRAPHML),
        Some(TopologyFormat::GraphMl)
    );
    assert_eq!(
        detect_topology_format(p, SNDLIB),
        Some(TopologyFormat::SndlibXml)
    );
    assert_eq!(
        detect_topology_format(p, REPETITA_GRAPH),
        Some(TopologyFormat::Repetita)
    );
    assert_eq!(
        detect_topology_format(p, NODE_LINK),
        Some(TopologyFormat::NodeLinkJson)
    );
    assert_eq!(
        detect_topology_format(p, NATIVE_TOML),
        Some(TopologyFormat::NativeToml)
    );
    assert_eq!(
        detect_traffic_format(p, SNDLIB),
        Some(TrafficFormat::SndlibXml)
    );
    assert_eq!(
        detect_traffic_format(p, REPETITA_DEMANDS),
        Some(TrafficFormat::Repetita)
    );
    assert_eq!(detect_traffic_format(p, TEXT_TM), Some(TrafficFormat::Text));
    assert_eq!(detect_traffic_format(p, CSV_TM), Some(TrafficFormat::Csv));
    let err = parse_topology("hello world", "x.dat", None, &ReadOptions::default())
        .expect_err("undetectable");
    assert_eq!(
        err.to_string(),
        "x.dat: could not detect the format; pass --format"
    );
}

// ---------------------------------------------------------------- error messages

fn err_topology(content: &str, file: &str, opts: &ReadOptions) -> String {
    parse_topology(content, file, None, opts)
        .expect_err("must fail")
        .to_string()
}

#[test]
fn errors_name_file_line_element_and_expectation() {
    let opts = with_default_capacity();
    let cases: Vec<(String, &str, &str)> = vec![
        (
            GRAPHML.replace(
                "<data key=\"d1\">45.76</data>",
                "<data key=\"d1\">north</data>",
            ),
            "z.graphml",
            "z.graphml:10:44: <node id=\"1\">: expected a number in Latitude, found \"north\"",
        ),
        (
            GRAPHML.replace("target=\"1\"", "target=\"9\""),
            "z.graphml",
            "z.graphml:12:5: <edge source=\"0\" target=\"9\">: unknown site `9`",
        ),
        (
            GRAPHML.replace("</graphml>", ""),
            "z.graphml",
            "z.graphml:18:1: invalid XML: the root node was opened but never closed",
        ),
        (
            SNDLIB.replace("<capacity>10000.0</capacity>", "<capacity>abc</capacity>"),
            "s.xml",
            "s.xml:16:25: <link id=\"L1\">: expected a number in <capacity>, found \"abc\"",
        ),
        (
            SNDLIB.replace("<target>LYS</target>", "<target>NOPE</target>"),
            "s.xml",
            "s.xml:14:4: <link id=\"L1\">: unknown site `NOPE`",
        ),
        (
            REPETITA_GRAPH.replace("1000000 1500\nedge_3", "1000000 fast\nedge_3"),
            "r.graph",
            "r.graph:11:22: expected a number (delay in µs), found \"fast\"",
        ),
        (
            REPETITA_GRAPH.replace("edge_1 1 0", "edge_1 1 7"),
            "r.graph",
            "r.graph:10:10: expected a node index in 0..3, found \"7\"",
        ),
        (
            REPETITA_GRAPH.replace("EDGES 4", "EDGES 5"),
            "r.graph",
            "r.graph:13: unexpected end of file: EDGES at line 7 announces 5 lines, found 4",
        ),
        (
            NODE_LINK.replace("\"capacity\": 400", "\"capacity\": true"),
            "n.json",
            "n.json: links[0] (0 -> 1): expected \"capacity\" to be a number, found \"true\"",
        ),
        (
            NODE_LINK.replace("\"target\": 1,", "\"target\": 5,"),
            "n.json",
            "n.json: links[0] (0 -> 5): unknown site `5`",
        ),
        (
            NODE_LINK.replace("\"links\"", "\"links\" ["),
            "n.json",
            "n.json:4:10: expected `:`",
        ),
        (
            NATIVE_TOML.replace("capacity = \"10G\"", "capacity = \"10X\""),
            "t.toml",
            "t.toml:27:12: invalid bandwidth `10X`: unknown unit",
        ),
        (
            NATIVE_TOML.replace("to = \"mrs\"", "to = \"nice\""),
            "t.toml",
            "t.toml: unknown site `nice`",
        ),
    ];
    let mut wrong = Vec::new();
    for (content, file, want) in cases {
        let got = err_topology(&content, file, &opts);
        if !got.starts_with(want) {
            wrong.push(format!("\n got: {got}\nwant: {want}"));
        }
    }

    let t = node_link_topology();
    let traffic_cases: Vec<(String, &str, &str)> = vec![
        (
            TEXT_TM.replace("mrs 0 1e1", "mrs zz 1e1"),
            "t.txt",
            "t.txt:6:5: unknown site `zz`",
        ),
        (
            TEXT_TM.replace("0 1 5", "0 1 five"),
            "t.txt",
            "t.txt:7:5: expected a number (the demand value), found \"five\"",
        ),
        (
            TEXT_TM.replace("voice", "gold"),
            "t.txt",
            "t.txt:3:11: unknown class of service `gold` (expected one of voice",
        ),
        (
            "0 1\n".into(),
            "t.txt",
            "t.txt:1:1: expected `src dst value [class]`, found 2 fields",
        ),
        (
            "# unit: furlongs\n0 1 1\n".into(),
            "t.txt",
            "t.txt:1: expected a unit like",
        ),
        (
            CSV_TM.replace("t1,0,1,3", "t1,0,1,x"),
            "c.csv",
            "c.csv:4:8: expected a number in column `value`, found \"x\"",
        ),
        (
            CSV_TM.replace("t0,1,mrs,2", "t0,1,mrs"),
            "c.csv",
            "c.csv:3:9: expected 4 fields as in the header, found 3",
        ),
        (
            "a,b,c\n".into(),
            "c.csv",
            "c.csv:1: expected a header naming src, dst and value columns",
        ),
        (
            "src,dst,value\n0,\"1,5\n".into(),
            "c.csv",
            "c.csv:2:3: unterminated quoted field",
        ),
        (
            REPETITA_DEMANDS
                .replace("DEMANDS 3", "DEMANDS 2")
                .replace(" 2 ", " mrs "),
            "d.demands",
            "d.demands:5:1: unexpected content after the last record: \"demand_2 0 mrs 250\"",
        ),
        (
            "DEMANDS x\n".into(),
            "d.demands",
            "d.demands:1:1: expected `DEMANDS <count>`, found \"DEMANDS x\"",
        ),
        (
            "{\"demands\": [{\"src\": \"0\", \"dst\": \"1\"}]}".into(),
            "j.json",
            "j.json:1:37: missing field `rate`",
        ),
        (
            "[[demands]]\nsrc = \"0\"\ndst = \"1\"\nrate = -3\n".into(),
            "j.toml",
            "j.toml:4:8: -3 must be finite and >= 0",
        ),
    ];
    for (content, file, want) in traffic_cases {
        let got = parse_traffic(&content, file, &t, None, &ReadOptions::default())
            .expect_err("must fail")
            .to_string();
        if !got.starts_with(want) {
            wrong.push(format!("\n got: {got}\nwant: {want}"));
        }
    }
    let sndlib = parse_topology(SNDLIB, "s.xml", None, &with_default_capacity()).expect("parses");
    let bad = SNDLIB.replace("<demandValue> 12.5", "<demandValue> lots");
    let got = parse_traffic(&bad, "s.xml", &sndlib, None, &ReadOptions::default())
        .expect_err("must fail")
        .to_string();
    let want =
        "s.xml:25:64: <demand id=\"PAR_MRS\">: expected a number in <demandValue>, found \"lots\"";
    if got != want {
        wrong.push(format!("\n got: {got}\nwant: {want}"));
    }
    assert!(wrong.is_empty(), "{}", wrong.concat());
    // Unreachable pairs are reported where they occur.
    let one_way = parse_topology(
        r#"{"directed": true, "nodes": [{"id": "a"}, {"id": "b"}], "links": [{"source": "a", "target": "b", "capacity": 1}]}"#,
        "ow.json",
        None,
        &ReadOptions::default(),
    )
    .expect("parses");
    let got = parse_traffic(
        "a b 1\nb a 1\n",
        "ow.txt",
        &one_way,
        None,
        &ReadOptions::default(),
    )
    .expect_err("b cannot reach a")
    .to_string();
    assert_eq!(
        got,
        "ow.txt:2:5: demand b -> a: no path between these sites"
    );

    let missing = Path::new("/nonexistent/keel/x.graphml");
    let err = read_topology(missing, None, &ReadOptions::default()).expect_err("no file");
    assert!(matches!(err, FormatError::Io { .. }));
    assert!(
        err.to_string().starts_with("/nonexistent/keel/x.graphml: "),
        "{err}"
    );
}

// ---------------------------------------------------------------- shared data

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().and_then(|e| e.to_str()) == Some(ext));
    v.sort();
    v
}

/// (file relative to topologies/, format, sites, arcs, arcs with merge_parallel)
const INVENTORY: &[(&str, TopologyFormat, usize, usize, usize)] = {
    use TopologyFormat::*;
    &[
        ("graphml/topology-zoo/Abilene.graphml", GraphMl, 11, 28, 28),
        (
            "graphml/topology-zoo/Cogentco.graphml",
            GraphMl,
            197,
            490,
            486,
        ),
        ("graphml/topology-zoo/Colt.graphml", GraphMl, 153, 382, 354),
        (
            "graphml/topology-zoo/Deltacom.graphml",
            GraphMl,
            113,
            366,
            322,
        ),
        (
            "graphml/topology-zoo/DialtelecomCz.graphml",
            GraphMl,
            193,
            302,
            302,
        ),
        (
            "graphml/topology-zoo/Geant2012.graphml",
            GraphMl,
            40,
            122,
            122,
        ),
        ("graphml/topology-zoo/GtsCe.graphml", GraphMl, 149, 386, 386),
        (
            "graphml/topology-zoo/Interoute.graphml",
            GraphMl,
            110,
            312,
            292,
        ),
        ("graphml/topology-zoo/Ion.graphml", GraphMl, 125, 300, 292),
        ("graphml/topology-zoo/Kdl.graphml", GraphMl, 754, 1798, 1790),
        (
            "graphml/topology-zoo/TataNld.graphml",
            GraphMl,
            145,
            388,
            372,
        ),
        (
            "graphml/topology-zoo/Uninett2010.graphml",
            GraphMl,
            74,
            202,
            202,
        ),
        (
            "graphml/topology-zoo/UsCarrier.graphml",
            GraphMl,
            158,
            378,
            378,
        ),
        ("teal-json/ASN2k.json", NodeLinkJson, 1739, 8558, 8558),
        ("teal-json/B4.json", NodeLinkJson, 12, 38, 38),
        ("teal-json/Kdl.json", NodeLinkJson, 754, 1790, 1790),
        ("teal-json/UsCarrier.json", NodeLinkJson, 158, 378, 378),
        ("sndlib-xml/abilene.xml", SndlibXml, 12, 30, 30),
        ("sndlib-xml/geant.xml", SndlibXml, 22, 72, 72),
        ("sndlib-xml/janos-us.xml", SndlibXml, 26, 168, 84),
        ("sndlib-xml/nobel-eu.xml", SndlibXml, 28, 82, 82),
        ("repetita/Abilene.graph", Repetita, 11, 28, 28),
        ("repetita/Cogentco.graph", Repetita, 197, 490, 486),
        ("repetita/Deltacom.graph", Repetita, 113, 366, 322),
        ("repetita/Geant2012.graph", Repetita, 40, 122, 122),
        ("repetita/GtsCe.graph", Repetita, 149, 386, 386),
        ("repetita/UsCarrier.graph", Repetita, 158, 378, 378),
    ]
};

fn load_all(data: &Path) -> Vec<(String, Topology)> {
    INVENTORY
        .iter()
        .map(|(rel, fmt, sites, arcs, merged)| {
            let path = data.join("topologies").join(rel);
            let content = fs::read_to_string(&path).expect("readable");
            assert_eq!(detect_topology_format(&path, &content), Some(*fmt), "{rel}");
            let t = read_topology(&path, None, &with_default_capacity())
                .unwrap_or_else(|e| panic!("{rel}: {e}"));
            assert_eq!((t.site_count(), t.link_count()), (*sites, *arcs), "{rel}");
            let m = read_topology(
                &path,
                Some(*fmt),
                &ReadOptions {
                    merge_parallel: true,
                    ..with_default_capacity()
                },
            )
            .unwrap_or_else(|e| panic!("{rel}: {e}"));
            assert_eq!(m.link_count(), *merged, "{rel} merged");
            let cap = |t: &Topology| t.links().iter().map(|l| l.capacity.bps()).sum::<f64>();
            assert!(
                close(cap(&t), cap(&m)),
                "{rel}: merging keeps total capacity"
            );
            (rel.to_string(), t)
        })
        .collect()
}

#[test]
fn every_shared_topology_parses_with_known_counts_and_round_trips() {
    let data = data_or_skip!();
    let inventory: HashSet<&str> = INVENTORY.iter().map(|i| i.0).collect();
    for dir in [
        "graphml/topology-zoo",
        "teal-json",
        "sndlib-xml",
        "repetita",
    ] {
        for ext in ["graphml", "json", "xml", "graph"] {
            for f in files(&data.join("topologies").join(dir), ext) {
                let rel = format!(
                    "{dir}/{}",
                    f.file_name().and_then(|n| n.to_str()).unwrap_or("")
                );
                assert!(
                    inventory.contains(rel.as_str()),
                    "{rel} missing from the test inventory"
                );
            }
        }
    }
    for (rel, t) in load_all(&data) {
        for f in [TopologyFormat::NativeToml, TopologyFormat::NativeJson] {
            let text = write_topology(&t, f).expect("writes");
            let back = parse_topology(&text, "copy", Some(f), &ReadOptions::default())
                .unwrap_or_else(|e| panic!("{rel} {f}: {e}"));
            assert!(back == t, "{rel}: {f} round trip differs");
        }
        let text = write_topology(&t, TopologyFormat::GraphMl).expect("writes");
        let back = parse_topology(
            &text,
            &format!("{}.graphml", t.name()),
            None,
            &ReadOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{rel} graphml: {e}"));
        assert!(back == t, "{rel}: GraphML round trip differs");
    }
}

#[test]
fn shared_topology_details() {
    let data = data_or_skip!();
    let topo = data.join("topologies");
    // Zoo GraphML without capacities needs a default, and the error names the edge.
    let err = read_topology(
        &topo.join("graphml/topology-zoo/Geant2012.graphml"),
        None,
        &ReadOptions::default(),
    )
    .expect_err("no default capacity")
    .to_string();
    assert!(
        err.contains("Geant2012.graphml:396:5: <edge source=\"0\" target=\"1\">: no capacity"),
        "{err}"
    );
    let g = read_topology(
        &topo.join("graphml/topology-zoo/Geant2012.graphml"),
        None,
        &with_default_capacity(),
    )
    .expect("parses");
    assert_eq!(arc(&g, "0", "34")[0].capacity.bps(), 2.5e9, "LinkSpeedRaw");
    assert_eq!(arc(&g, "0", "1")[0].capacity.bps(), 1e9, "default");

    let a = read_topology(
        &topo.join("sndlib-xml/abilene.xml"),
        None,
        &ReadOptions::default(),
    )
    .expect("abilene has pre-installed capacities");
    assert!(
        a.links()
            .iter()
            .all(|l| l.capacity.bps() == 9920e6 || l.capacity.bps() == 2480e6)
    );
    assert!(
        read_topology(
            &topo.join("sndlib-xml/geant.xml"),
            None,
            &ReadOptions::default()
        )
        .is_err()
    );

    let r = read_topology(
        &topo.join("repetita/Abilene.graph"),
        None,
        &ReadOptions::default(),
    )
    .expect("parses");
    assert_eq!(r.sites()[0].name, "0_New_York");
    assert!(r.links().iter().all(|l| l.capacity.bps() == 9953280e3));
    assert_eq!(r.links()[0].latency.ms(), 1.913);

    let b4 = read_topology(
        &topo.join("teal-json/B4.json"),
        None,
        &ReadOptions::default(),
    )
    .expect("parses");
    assert_eq!(b4.sites()[3].id, "4", "file order kept");
    assert!(b4.links().iter().all(|l| l.capacity.bps() == 5e9));
}

/// (count, sum) of `src dst value` lines with src != dst and value != 0.
fn sum_lines(
    content: &str,
    sep: char,
    cols: (usize, usize, usize),
    pick: impl Fn(&[&str]) -> bool,
) -> (usize, f64) {
    let mut n = 0;
    let mut s = 0.0;
    for l in content.lines() {
        let f: Vec<&str> = if sep == ' ' {
            l.split_whitespace().collect()
        } else {
            l.split(sep).collect()
        };
        let Some(v) = f.get(cols.2).and_then(|v| v.trim().parse::<f64>().ok()) else {
            continue;
        };
        if f[cols.0] != f[cols.1] && v != 0.0 && pick(&f) {
            n += 1;
            s += v;
        }
    }
    (n, s)
}

fn check(tm: &TrafficMatrix, want: (usize, f64), scale: f64, what: &str) {
    assert_eq!(tm.len(), want.0, "{what}: demand count");
    assert!(
        close(tm.total(), want.1 * scale),
        "{what}: total {} vs {}",
        tm.total(),
        want.1 * scale
    );
}

#[test]
fn shared_traffic_matrices_match_independent_sums() {
    let data = data_or_skip!();
    let topo = data.join("topologies");
    let traffic = data.join("traffic");
    let opts = ReadOptions::default();

    // Teal B4: node ids, Mbit/s.
    let b4 = read_topology(&topo.join("teal-json/B4.json"), None, &opts).expect("B4");
    let b4_tms = files(&traffic.join("teal/B4"), "txt");
    assert_eq!(b4_tms.len(), 36);
    for f in &b4_tms {
        let content = fs::read_to_string(f).expect("readable");
        let tm = read_traffic(f, &b4, None, &opts).expect("B4 TM");
        check(
            &tm,
            sum_lines(&content, ' ', (0, 1, 2), |_| true),
            1e6,
            "B4",
        );
    }
    // Teal toy UsCarrier: diagonal present in the file, skipped.
    let usc =
        read_topology(&topo.join("teal-json/UsCarrier.json"), None, &opts).expect("UsCarrier");
    let tm = read_traffic(
        &traffic.join("teal/UsCarrier/UsCarrier_toy_00.txt"),
        &usc,
        None,
        &opts,
    )
    .expect("toy TM");
    check(&tm, (158 * 157, (158 * 157) as f64), 1e6, "UsCarrier toy");

    // SNDlib Abilene CSV onto the SNDlib network: first time stamp and all 288.
    let ab = read_topology(&topo.join("sndlib-xml/abilene.xml"), None, &opts).expect("abilene");
    let csv = traffic.join("sndlib/abilene/abilene_5min_20040301.csv");
    let content = fs::read_to_string(&csv).expect("readable");
    let tm = read_traffic(&csv, &ab, None, &opts).expect("csv");
    check(
        &tm,
        sum_lines(&content, ',', (1, 2, 3), |f| f[0] == "20040301-0000"),
        1e6,
        "abilene csv",
    );
    let series = read_traffic_series(&csv, &ab, None, &opts).expect("series");
    assert_eq!(series.len(), 288);
    assert_eq!(series[0].0, "20040301-0000");
    assert_eq!(series[287].0, "20040301-2355");
    let last = &series[287].1;
    check(
        last,
        sum_lines(&content, ',', (1, 2, 3), |f| f[0] == "20040301-2355"),
        1e6,
        "abilene csv last",
    );

    // The matching raw XML interval gives the same matrix as the CSV rows.
    let xml = traffic.join("sndlib/abilene/xml/demandMatrix-abilene-zhang-5min-20040301-0005.xml");
    let from_xml = read_traffic(&xml, &ab, None, &opts).expect("xml TM");
    assert_eq!(&from_xml, &series[1].1, "XML 0005 == CSV 0005");
    let labelled = read_traffic_series(&xml, &ab, None, &opts).expect("series");
    assert_eq!(labelled[0].0, "20040301-0005");

    // The static demands inside the network file: 132, total 3000002 Mbit/s.
    let stat =
        read_traffic(&topo.join("sndlib-xml/abilene.xml"), &ab, None, &opts).expect("static");
    check(&stat, (132, 3000002.0), 1e6, "abilene static");

    // YATES CSV (diagonal kept in the file) onto the same network.
    let y = traffic.join("yates/abilene/abilene_X01_realOD_5min.csv");
    let content = fs::read_to_string(&y).expect("readable");
    let series = read_traffic_series(&y, &ab, None, &opts).expect("yates");
    assert_eq!(series.len(), 36);
    check(
        &series[35].1,
        sum_lines(&content, ',', (1, 2, 3), |f| f[0] == "35"),
        1e6,
        "yates",
    );

    // GEANT: the network has no capacities; 15-min CSV.
    let ge = read_topology(
        &topo.join("sndlib-xml/geant.xml"),
        None,
        &with_default_capacity(),
    )
    .expect("geant");
    let csv = traffic.join("sndlib/geant/geant_15min_20050504.csv");
    let content = fs::read_to_string(&csv).expect("readable");
    let series = read_traffic_series(&csv, &ge, None, &opts).expect("geant");
    let first = series[0].0.clone();
    check(
        &series[0].1,
        sum_lines(&content, ',', (1, 2, 3), |f| f[0] == first),
        1e6,
        "geant",
    );

    // Repetita demands onto the .graph: kbit/s.
    for net in ["Abilene", "Geant2012", "UsCarrier"] {
        let g =
            read_topology(&topo.join(format!("repetita/{net}.graph")), None, &opts).expect("graph");
        for f in files(&traffic.join("repetita"), "demands")
            .into_iter()
            .filter(|f| {
                f.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&format!("{net}.")))
            })
        {
            let content = fs::read_to_string(&f).expect("readable");
            // Repetita files may repeat a pair; the reader sums, so count pairs.
            let pairs: HashSet<(&str, &str)> = content
                .lines()
                .skip(2)
                .filter_map(|l| {
                    let v: Vec<&str> = l.split_whitespace().collect();
                    (v.len() == 4 && v[1] != v[2] && v[3] != "0").then(|| (v[1], v[2]))
                })
                .collect();
            let (_, sum) = sum_lines(&content, ' ', (1, 2, 3), |f| f.len() == 4);
            let tm = read_traffic(&f, &g, None, &opts).unwrap_or_else(|e| panic!("{e}"));
            check(&tm, (pairs.len(), sum), 1e3, net);
        }
    }
}

#[test]
fn written_traffic_reads_back_exactly_in_every_format() {
    let t = node_link_topology();
    let classes = keel_model::ClassSet::default();
    for model in generate::TmModel::ALL {
        let opts = generate::GenOptions {
            model,
            seed: 9,
            scale: 3.7,
            class: classes.by_name("video").expect("class"),
            ..Default::default()
        };
        let tm = generate::generate(&t, &classes, &opts).expect("generates");
        assert!(!tm.is_empty(), "{model}");
        for f in [
            TrafficFormat::NativeToml,
            TrafficFormat::NativeJson,
            TrafficFormat::Text,
            TrafficFormat::Csv,
        ] {
            let text = write_traffic(&t, &tm, f).expect("writes");
            // A unit option that must not matter: the files say bit/s.
            let odd = ReadOptions {
                unit: Bandwidth::from_gbps(7.0),
                ..ReadOptions::default()
            };
            let back = parse_traffic(&text, "tm", &t, Some(f), &odd)
                .unwrap_or_else(|e| panic!("{f}: {e}"));
            assert_eq!(back, tm, "{model} via {f}");
            assert_eq!(
                detect_traffic_format(Path::new("tm"), &text),
                Some(f),
                "{f}"
            );
        }
    }
    assert!(matches!(
        write_traffic(
            &t,
            &TrafficMatrix::new(&t, classes, vec![]).expect("empty"),
            TrafficFormat::Repetita
        ),
        Err(FormatError::Unsupported { .. })
    ));
}

#[test]
fn generated_traffic_on_shared_topologies_round_trips() {
    let data = data_or_skip!();
    let classes = keel_model::ClassSet::default();
    for rel in [
        "teal-json/B4.json",
        "sndlib-xml/abilene.xml",
        "repetita/Geant2012.graph",
    ] {
        let t = read_topology(
            &data.join("topologies").join(rel),
            None,
            &with_default_capacity(),
        )
        .expect("parses");
        let tm =
            generate::generate(&t, &classes, &generate::GenOptions::default()).expect("gravity");
        for f in [
            TrafficFormat::NativeToml,
            TrafficFormat::Text,
            TrafficFormat::Csv,
        ] {
            let text = write_traffic(&t, &tm, f).expect("writes");
            let back = parse_traffic(&text, "x", &t, None, &ReadOptions::default()).expect("reads");
            assert_eq!(back, tm, "{rel} via {f}");
        }
    }
}
