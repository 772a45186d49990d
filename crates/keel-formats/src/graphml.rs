//! GraphML as published by the Internet Topology Zoo (and written by networkx).
//!
//! Nodes: `label` is the site name, `Latitude`/`Longitude` its location, every
//! other attribute goes to `Site::attributes`. Edges: `LinkSpeedRaw` (bit/s) is
//! the capacity, else `ReadOptions::default_capacity`; Keel's own `latency_ms`,
//! `metric` and `cost` are read when present. Undirected edges become two arcs.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use keel_model::{Bandwidth, GeoPoint, Latency, LatencySource, NewLink, Site, Topology};
use roxmltree::Node;

use crate::ReadOptions;
use crate::assemble::{TopoAssembler, parse_num, stem};
use crate::error::{FormatError, Location, found};
use crate::xml::{self, attr, children, loc, pos};

struct Key<'a> {
    name: &'a str,
    default: Option<String>,
}

/// Attribute values of one element by attribute name, with key defaults filled
/// in; each value keeps its node for error positions.
type Data<'a, 'i> = BTreeMap<&'a str, (String, Option<Node<'a, 'i>>)>;

pub(crate) fn read(content: &str, file: &str, opts: &ReadOptions) -> Result<Topology, FormatError> {
    let doc = xml::parse(content, file)?;
    let root = doc.root_element();
    if root.tag_name().name() != "graphml" {
        return Err(FormatError::syntax(
            file,
            loc(root, &[]),
            "expected a <graphml> root element",
        ));
    }
    let keys = read_keys(root);
    let graph = xml::child(root, "graph")
        .ok_or_else(|| FormatError::syntax(file, loc(root, &[]), "expected a <graph> element"))?;
    let directed = graph.attribute("edgedefault") == Some("directed");
    let mut asm = TopoAssembler::new(file, &stem(file), opts.merge_parallel);

    for node in children(graph, "node") {
        let at = loc(node, &["id"]);
        let id = attr(node, "id", file, &at)?;
        let mut data = read_data(node, &keys, &["node", "all"]);
        let name = data.remove("label").map(|(v, _)| v);
        let lat = take_number(&mut data, "Latitude", file, &at)?;
        let lon = take_number(&mut data, "Longitude", file, &at)?;
        let site = Site {
            name: name
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| id.to_string()),
            location: lat.zip(lon).map(|(lat, lon)| GeoPoint { lat, lon }),
            attributes: data
                .into_iter()
                .map(|(k, (v, _))| (k.to_string(), v))
                .collect(),
            ..Site::new(id)
        };
        asm.add_site(site, at)?;
    }

    for edge in children(graph, "edge") {
        let at = loc(edge, &["id", "source", "target"]);
        let src = asm.site_id(attr(edge, "source", file, &at)?, &at)?;
        let dst = asm.site_id(attr(edge, "target", file, &at)?, &at)?;
        let mut data = read_data(edge, &keys, &["edge", "all"]);
        let capacity = match take_number(&mut data, "LinkSpeedRaw", file, &at)? {
            Some(bps) => Bandwidth::from_bps(bps),
            None => opts.default_capacity.ok_or_else(|| {
                FormatError::syntax(
                    file,
                    at.clone(),
                    "no capacity: the edge has no LinkSpeedRaw; pass a default capacity",
                )
            })?,
        };
        let link = NewLink {
            latency: take_number(&mut data, "latency_ms", file, &at)?.map(Latency::from_ms),
            metric: take_number(&mut data, "metric", file, &at)?,
            cost: take_number(&mut data, "cost", file, &at)?,
            ..NewLink::new(src, dst, capacity)
        };
        let edge_directed = match edge.attribute("directed") {
            Some(d) => d == "true" || d == "1",
            None => directed,
        };
        if edge_directed {
            // A directed edge is one arc: its GraphML id (if any) names it.
            let id = edge.attribute("id").map(str::to_string);
            asm.push_arc(NewLink { id, ..link }, at)?;
        } else {
            let back = NewLink {
                src: dst,
                dst: src,
                ..link.clone()
            };
            asm.push_arc(link, at.clone())?;
            asm.push_arc(back, at)?;
        }
    }
    asm.finish(loc(graph, &[]))
}

fn read_keys<'a>(root: Node<'a, '_>) -> HashMap<&'a str, (Key<'a>, &'a str)> {
    let mut keys = HashMap::new();
    for k in children(root, "key") {
        let Some(id) = k.attribute("id") else {
            continue;
        };
        let name = k.attribute("attr.name").unwrap_or(id);
        let default = xml::child(k, "default").map(xml::text);
        let domain = k.attribute("for").unwrap_or("all");
        keys.insert(id, (Key { name, default }, domain));
    }
    keys
}

fn read_data<'a, 'i>(
    el: Node<'a, 'i>,
    keys: &HashMap<&'a str, (Key<'a>, &'a str)>,
    domains: &[&str],
) -> Data<'a, 'i> {
    let mut data = Data::new();
    for d in children(el, "data") {
        let Some(key) = d.attribute("key") else {
            continue;
        };
        // An undeclared key is kept under its own id rather than rejected.
        let name = keys.get(key).map_or(key, |(k, _)| k.name);
        data.insert(name, (xml::text(d), Some(d)));
    }
    for (k, domain) in keys.values() {
        if let Some(v) = &k.default
            && domains.contains(domain)
        {
            data.entry(k.name).or_insert_with(|| (v.clone(), None));
        }
    }
    data
}

fn take_number(
    data: &mut Data,
    name: &str,
    file: &str,
    at: &Location,
) -> Result<Option<f64>, FormatError> {
    let Some((text, node)) = data.remove(name) else {
        return Ok(None);
    };
    match parse_num(&text) {
        Some(v) => Ok(Some(v)),
        None => {
            let mut here = node.map_or_else(|| at.clone(), pos);
            here.element.clone_from(&at.element);
            Err(FormatError::syntax(
                file,
                here,
                format!("expected a number in {name}, found {}", found(&text)),
            ))
        }
    }
}

/// A directed GraphML graph: one edge per arc, ids kept. Site kind, medium and
/// SRLGs are not written.
pub(crate) fn write(t: &Topology) -> String {
    const RESERVED: [&str; 3] = ["label", "Latitude", "Longitude"];
    let attr_names: BTreeSet<&str> = t
        .sites()
        .iter()
        .flat_map(|s| s.attributes.keys().map(String::as_str))
        .filter(|k| !RESERVED.contains(k))
        .collect();
    let attr_key: BTreeMap<&str, String> = attr_names
        .iter()
        .enumerate()
        .map(|(i, n)| (*n, format!("a{i}")))
        .collect();
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <graphml xmlns=\"http://graphml.graphdrawing.org/xmlns\">\n",
    );
    let mut key = |id: &str, domain: &str, name: &str, ty: &str| {
        let _ = writeln!(
            out,
            "  <key id=\"{id}\" for=\"{domain}\" attr.name=\"{}\" attr.type=\"{ty}\"/>",
            xml::escape(name)
        );
    };
    key("label", "node", "label", "string");
    key("lat", "node", "Latitude", "double");
    key("lon", "node", "Longitude", "double");
    for (name, id) in &attr_key {
        key(id, "node", name, "string");
    }
    key("cap", "edge", "LinkSpeedRaw", "double");
    key("latency", "edge", "latency_ms", "double");
    key("metric", "edge", "metric", "double");
    key("cost", "edge", "cost", "double");
    let _ = writeln!(
        out,
        "  <graph id=\"{}\" edgedefault=\"directed\">",
        xml::escape(t.name())
    );
    for s in t.sites() {
        let _ = writeln!(out, "    <node id=\"{}\">", xml::escape(&s.id));
        let mut data = |k: &str, v: &str| {
            let _ = writeln!(out, "      <data key=\"{k}\">{}</data>", xml::escape(v));
        };
        data("label", &s.name);
        if let Some(p) = s.location {
            data("lat", &p.lat.to_string());
            data("lon", &p.lon.to_string());
        }
        for (k, v) in &s.attributes {
            if let Some(id) = attr_key.get(k.as_str()) {
                data(id, v);
            }
        }
        out.push_str("    </node>\n");
    }
    for l in t.links() {
        let _ = writeln!(
            out,
            "    <edge id=\"{}\" source=\"{}\" target=\"{}\">",
            xml::escape(&l.id),
            xml::escape(&t.site(l.src).id),
            xml::escape(&t.site(l.dst).id)
        );
        let _ = writeln!(out, "      <data key=\"cap\">{}</data>", l.capacity.bps());
        if l.latency_source == LatencySource::Given {
            let _ = writeln!(out, "      <data key=\"latency\">{}</data>", l.latency.ms());
        }
        let _ = writeln!(out, "      <data key=\"metric\">{}</data>", l.metric);
        let _ = writeln!(out, "      <data key=\"cost\">{}</data>", l.cost);
        out.push_str("    </edge>\n");
    }
    out.push_str("  </graph>\n</graphml>\n");
    out
}
