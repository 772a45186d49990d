//! Every topology and traffic reader on arbitrary input: any outcome but a
//! panic (or a hang) is fine.
#![no_main]

use std::sync::OnceLock;

use keel_formats::{
    ReadOptions, TopologyFormat, TrafficFormat, parse_topology, parse_traffic,
    parse_traffic_series,
};
use keel_model::Topology;
use libfuzzer_sys::fuzz_target;

/// A small topology whose sites traffic inputs can name.
fn topology() -> &'static Topology {
    static T: OnceLock<Topology> = OnceLock::new();
    T.get_or_init(|| {
        let spec = r#"{"directed": false, "nodes": [{"id": 0}, {"id": 1}, {"id": "a"}],
            "links": [{"source": 0, "target": 1, "capacity": 10}, {"source": 1, "target": "a", "capacity": 5}]}"#;
        match parse_topology(spec, "fuzz.json", Some(TopologyFormat::NodeLinkJson), &ReadOptions::default()) {
            Ok(t) => t,
            Err(e) => panic!("the fuzz topology must parse: {e}"),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let opts = ReadOptions::default();
    let _ = parse_topology(text, "fuzz", None, &opts);
    for f in TopologyFormat::ALL {
        let _ = parse_topology(text, "fuzz", Some(f), &opts);
    }
    let t = topology();
    let _ = parse_traffic(text, "fuzz", t, None, &opts);
    for f in TrafficFormat::ALL {
        let _ = parse_traffic(text, "fuzz", t, Some(f), &opts);
        let _ = parse_traffic_series(text, "fuzz", t, Some(f), &opts);
    }
});
