//! Every reader on hostile input: random bytes, and real files truncated or with
//! bytes flipped, inserted or deleted. A reader must return Ok or a
//! FormatError, never panic; line-based readers must say which line.

mod common;

use std::fs;
use std::sync::OnceLock;

use common::*;
use keel_formats::*;
use keel_model::Topology;
use proptest::prelude::*;
use proptest::sample::Index;

#[derive(Clone, Copy, Debug)]
enum Kind {
    Topology(TopologyFormat),
    /// Traffic onto the topology at this index of `Corpus::topologies`.
    Traffic(TrafficFormat, usize),
}

struct Corpus {
    topologies: Vec<Topology>,
    files: Vec<(String, String, Kind)>,
}

fn corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(|| {
        use TopologyFormat as T;
        use TrafficFormat as R;
        let opts = with_default_capacity();
        let parse = |c: &str, f: T| parse_topology(c, "t", Some(f), &opts).expect("fixture parses");
        let mut topologies = vec![
            node_link_topology(),
            parse(SNDLIB, T::SndlibXml),
            parse(REPETITA_GRAPH, T::Repetita),
        ];
        let mut files: Vec<(String, String, Kind)> = vec![
            (
                "fx.graphml".into(),
                GRAPHML.into(),
                Kind::Topology(T::GraphMl),
            ),
            ("fx.xml".into(), SNDLIB.into(), Kind::Topology(T::SndlibXml)),
            (
                "fx.graph".into(),
                REPETITA_GRAPH.into(),
                Kind::Topology(T::Repetita),
            ),
            (
                "fx.json".into(),
                NODE_LINK.into(),
                Kind::Topology(T::NodeLinkJson),
            ),
            (
                "fx.toml".into(),
                NATIVE_TOML.into(),
                Kind::Topology(T::NativeToml),
            ),
            ("fx.txt".into(), TEXT_TM.into(), Kind::Traffic(R::Text, 0)),
            ("fx.csv".into(), CSV_TM.into(), Kind::Traffic(R::Csv, 0)),
            (
                "fx-d.xml".into(),
                SNDLIB.into(),
                Kind::Traffic(R::SndlibXml, 1),
            ),
            (
                "fx.demands".into(),
                REPETITA_DEMANDS.into(),
                Kind::Traffic(R::Repetita, 2),
            ),
        ];
        let t0 = &topologies[0];
        let tm = parse_traffic(TEXT_TM, "tm", t0, None, &ReadOptions::default()).expect("fixture");
        for f in [R::NativeToml, R::NativeJson] {
            let text = write_traffic(t0, &tm, f).expect("writes");
            files.push((format!("fx.{f}"), text, Kind::Traffic(f, 0)));
        }
        let text = write_topology(t0, T::NativeJson).expect("writes");
        files.push(("fx-native.json".into(), text, Kind::Topology(T::NativeJson)));

        if let Some(data) = common::data_dir() {
            let read = |rel: &str, max_lines: usize| {
                let s = fs::read_to_string(data.join(rel)).expect("readable");
                s.lines()
                    .take(max_lines)
                    .map(|l| format!("{l}\n"))
                    .collect::<String>()
            };
            let mut real_topology = |rel: &str, f: T| {
                let content = read(rel, usize::MAX);
                let t = parse_topology(&content, rel, Some(f), &opts).expect("real file parses");
                files.push((rel.to_string(), content, Kind::Topology(f)));
                topologies.push(t);
                topologies.len() - 1
            };
            let b4 = real_topology("topologies/teal-json/B4.json", T::NodeLinkJson);
            let ab = real_topology("topologies/sndlib-xml/abilene.xml", T::SndlibXml);
            let rep = real_topology("topologies/repetita/Abilene.graph", T::Repetita);
            real_topology(
                "topologies/graphml/topology-zoo/Abilene.graphml",
                T::GraphMl,
            );
            for (rel, f, t, lines) in [
                ("traffic/teal/B4/B4_real_00.txt", R::Text, b4, usize::MAX),
                (
                    "traffic/sndlib/abilene/abilene_5min_20040301.csv",
                    R::Csv,
                    ab,
                    400,
                ),
                (
                    "traffic/sndlib/abilene/xml/demandMatrix-abilene-zhang-5min-20040301-0005.xml",
                    R::SndlibXml,
                    ab,
                    usize::MAX,
                ),
                (
                    "traffic/repetita/Abilene.0000.demands",
                    R::Repetita,
                    rep,
                    usize::MAX,
                ),
            ] {
                files.push((rel.to_string(), read(rel, lines), Kind::Traffic(f, t)));
            }
        }
        Corpus { topologies, files }
    })
}

fn is_line_based(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Topology(TopologyFormat::Repetita)
            | Kind::Traffic(
                TrafficFormat::Repetita | TrafficFormat::Text | TrafficFormat::Csv,
                _
            )
    )
}

/// Runs the reader for `kind` (and detection), returning its error if any.
fn read(content: &str, name: &str, kind: Kind) -> Option<FormatError> {
    let c = corpus();
    let opts = with_default_capacity();
    match kind {
        Kind::Topology(f) => {
            let _ = parse_topology(content, name, None, &opts);
            parse_topology(content, name, Some(f), &opts).err()
        }
        Kind::Traffic(f, t) => {
            let t = &c.topologies[t];
            let _ = parse_traffic(content, name, t, None, &opts);
            let _ = parse_traffic_series(content, name, t, Some(f), &opts);
            parse_traffic(content, name, t, Some(f), &opts).err()
        }
    }
}

/// Every reader, with and without a format, on the same text.
fn read_everything(content: &str) {
    let c = corpus();
    let opts = ReadOptions::default();
    let _ = parse_topology(content, "x", None, &opts);
    for f in TopologyFormat::ALL {
        let _ = parse_topology(content, "x", Some(f), &opts);
    }
    let t = &c.topologies[0];
    let _ = parse_traffic(content, "x", t, None, &opts);
    for f in TrafficFormat::ALL {
        let _ = parse_traffic_series(content, "x", t, Some(f), &opts);
    }
}

#[derive(Clone, Debug)]
enum Mutation {
    Truncate(Index),
    Flip(Index, u8),
    Insert(Index, u8),
    Delete(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        // Bytes that matter to the grammars, as well as any byte.
        (
            any::<Index>(),
            prop_oneof![
                Just(b'<'),
                Just(b'"'),
                Just(b'\n'),
                Just(b','),
                Just(b' '),
                Just(b'-'),
                Just(b'9'),
                any::<u8>()
            ]
        )
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<Index>().prop_map(Mutation::Delete),
    ]
}

fn apply(content: &str, muts: &[Mutation]) -> String {
    let mut b = content.as_bytes().to_vec();
    for m in muts {
        let at = |i: &Index, n: usize| if n == 0 { 0 } else { i.index(n) };
        match m {
            Mutation::Truncate(i) => b.truncate(at(i, b.len())),
            Mutation::Flip(i, x) if !b.is_empty() => {
                let k = at(i, b.len());
                b[k] ^= x | 1;
            }
            Mutation::Insert(i, x) => {
                let k = at(i, b.len() + 1);
                b.insert(k, *x);
            }
            Mutation::Delete(i) if !b.is_empty() => {
                let k = at(i, b.len());
                b.remove(k);
            }
            _ => {}
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

proptest! {
    // PROPTEST_CASES raises the count for a deeper local run.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(192),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        read_everything(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn random_tokens_never_panic(s in "(NODES|EDGES|DEMANDS|label|[0-9]{1,3}|-?[0-9]\\.[0-9]e[0-9]|<network>|<graphml>|<node id=\"a\">|\\{|\\}|\\[|\\]|\"|:|,|=|#| |\n){0,60}") {
        read_everything(&s);
    }

    #[test]
    fn mutated_files_never_panic(pick in any::<Index>(), muts in prop::collection::vec(mutation(), 1..5)) {
        let files = &corpus().files;
        let (name, content, kind) = &files[pick.index(files.len())];
        let mutated = apply(content, &muts);
        if let Some(e) = read(&mutated, name, *kind) {
            // Whatever went wrong is located somewhere (the native formats may
            // report model errors that only name ids).
            let located = e.location().is_some_and(|l| l.line.is_some() || l.element.is_some());
            let native = matches!(kind, Kind::Topology(TopologyFormat::NativeToml | TopologyFormat::NativeJson)
                | Kind::Traffic(TrafficFormat::NativeToml | TrafficFormat::NativeJson, _));
            prop_assert!(located || native || matches!(e, FormatError::UnknownFormat { .. }), "{name}: {e}");
        }
    }

    #[test]
    fn truncated_line_based_files_name_the_line(pick in any::<Index>(), cut in any::<Index>()) {
        let files: Vec<_> = corpus().files.iter().filter(|f| is_line_based(f.2)).collect();
        let (name, content, kind) = files[pick.index(files.len())];
        let mut k = cut.index(content.len() + 1);
        while !content.is_char_boundary(k) {
            k -= 1;
        }
        if let Some(e) = read(&content[..k], name, *kind) {
            prop_assert!(e.line().is_some(), "{name} cut at {k}: {e}");
            prop_assert!(e.to_string().starts_with(&format!("{name}:")), "{e}");
        }
    }
}

#[test]
fn truncated_repetita_graph_points_past_the_end() {
    let cut = &REPETITA_GRAPH[..REPETITA_GRAPH.find("edge_3").expect("fixture")];
    let e = parse_topology(cut, "g.graph", None, &ReadOptions::default()).expect_err("truncated");
    assert_eq!(
        e.to_string(),
        "g.graph:12: unexpected end of file: EDGES at line 7 announces 4 lines, found 3"
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    for s in [
        "[".repeat(100_000),
        "{\"a\":".repeat(100_000),
        "<a>".repeat(100_000),
    ] {
        read_everything(&s);
    }
}
