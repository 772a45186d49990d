//! networkx node-link JSON, as used by Teal and NCFlow:
//! `{"directed": bool, "multigraph": bool, "nodes": [{"id": ..}], "links": [{"source", "target", "capacity"}]}`
//! (`"edges"` is accepted for `"links"`, as newer networkx writes).
//!
//! Node ids may be numbers or strings; they become site ids verbatim. Accepted
//! node attributes: `label` or `name` (site name), `Latitude`/`lat`/`latitude`
//! and `Longitude`/`lon`/`lng`/`longitude` (location); other scalar attributes
//! are kept in `Site::attributes`. Accepted link attributes: `capacity` (a
//! number in `ReadOptions::unit`, or a string with a unit such as "10G"),
//! `latency`/`latency_ms`/`delay` (a number of milliseconds, or a string with a
//! unit such as "300us"), `weight`/`metric` (IGP metric), `cost`, and `id` (the
//! arc id, for directed graphs). An undirected graph gives two arcs per link.

use keel_model::{Bandwidth, GeoPoint, Latency, NewLink, Site, Topology};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::ReadOptions;
use crate::assemble::{TopoAssembler, stem};
use crate::error::{FormatError, Location, found};
use crate::native::json_error;

#[derive(Deserialize)]
struct Doc {
    /// networkx's reader treats a missing flag as undirected.
    #[serde(default)]
    directed: bool,
    nodes: Vec<Map<String, Value>>,
    #[serde(default, alias = "edges")]
    links: Vec<Map<String, Value>>,
}

/// Node and link ids as site ids: integers print as such, strings verbatim.
fn id_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn describe(v: &Value) -> String {
    found(&v.to_string())
}

struct Ctx<'a> {
    file: &'a str,
}

impl Ctx<'_> {
    fn err(&self, at: &Location, msg: String) -> FormatError {
        FormatError::syntax(self.file, at.clone(), msg)
    }

    fn id(
        &self,
        obj: &Map<String, Value>,
        key: &str,
        at: &Location,
    ) -> Result<String, FormatError> {
        match obj.get(key) {
            Some(v) => id_string(v).ok_or_else(|| {
                self.err(
                    at,
                    format!(
                        "expected \"{key}\" to be a number or a string, found {}",
                        describe(v)
                    ),
                )
            }),
            None => Err(self.err(at, format!("expected a \"{key}\" field"))),
        }
    }

    fn number(
        &self,
        obj: &Map<String, Value>,
        keys: &[&str],
        at: &Location,
    ) -> Result<Option<f64>, FormatError> {
        for k in keys {
            if let Some(v) = obj.get(*k) {
                return match v.as_f64().filter(|x| x.is_finite()) {
                    Some(x) => Ok(Some(x)),
                    None => Err(self.err(
                        at,
                        format!("expected \"{k}\" to be a number, found {}", describe(v)),
                    )),
                };
            }
        }
        Ok(None)
    }
}

pub(crate) fn read(content: &str, file: &str, opts: &ReadOptions) -> Result<Topology, FormatError> {
    let doc: Doc = serde_json::from_str(content).map_err(|e| json_error(&e, file))?;
    let cx = Ctx { file };
    let mut asm = TopoAssembler::new(file, &stem(file), opts.merge_parallel);

    for (i, node) in doc.nodes.iter().enumerate() {
        let mut at = Location::element(format!("nodes[{i}]"));
        let id = cx.id(node, "id", &at)?;
        at = Location::element(format!("nodes[{i}] (id {id})"));
        let lat = cx.number(node, &["Latitude", "lat", "latitude"], &at)?;
        let lon = cx.number(node, &["Longitude", "lon", "lng", "longitude"], &at)?;
        const KNOWN: [&str; 10] = [
            "id",
            "label",
            "name",
            "Latitude",
            "lat",
            "latitude",
            "Longitude",
            "lon",
            "lng",
            "longitude",
        ];
        let site = Site {
            name: ["label", "name"]
                .iter()
                .find_map(|k| node.get(*k).and_then(scalar_string))
                .unwrap_or_else(|| id.clone()),
            location: lat.zip(lon).map(|(lat, lon)| GeoPoint { lat, lon }),
            attributes: node
                .iter()
                .filter(|(k, _)| !KNOWN.contains(&k.as_str()))
                .filter_map(|(k, v)| Some((k.clone(), scalar_string(v)?)))
                .collect(),
            ..Site::new(id)
        };
        asm.add_site(site, at)?;
    }

    for (i, link) in doc.links.iter().enumerate() {
        let mut at = Location::element(format!("links[{i}]"));
        let (s, t) = (cx.id(link, "source", &at)?, cx.id(link, "target", &at)?);
        at = Location::element(format!("links[{i}] ({s} -> {t})"));
        let src = asm.site_id(&s, &at)?;
        let dst = asm.site_id(&t, &at)?;
        let capacity = match link.get("capacity") {
            Some(Value::String(c)) => c
                .parse::<Bandwidth>()
                .map_err(|e| cx.err(&at, format!("expected a capacity in \"capacity\": {e}")))?,
            Some(v) => match v.as_f64().filter(|x| x.is_finite()) {
                Some(x) => Bandwidth::from_bps(x * opts.unit.bps()),
                None => {
                    return Err(cx.err(
                        &at,
                        format!(
                            "expected \"capacity\" to be a number, found {}",
                            describe(v)
                        ),
                    ));
                }
            },
            None => opts.default_capacity.ok_or_else(|| {
                cx.err(
                    &at,
                    "no capacity: the link has no \"capacity\"; pass a default capacity".into(),
                )
            })?,
        };
        let latency = match ["latency", "latency_ms", "delay"]
            .iter()
            .find_map(|k| link.get(*k))
        {
            None => None,
            Some(Value::String(l)) => Some(
                l.parse::<Latency>()
                    .map_err(|e| cx.err(&at, format!("expected a latency: {e}")))?,
            ),
            Some(v) => match v.as_f64().filter(|x| x.is_finite()) {
                Some(ms) => Some(Latency::from_ms(ms)),
                None => {
                    return Err(cx.err(
                        &at,
                        format!("expected a latency in ms, found {}", describe(v)),
                    ));
                }
            },
        };
        let new = NewLink {
            latency,
            metric: cx.number(link, &["weight", "metric"], &at)?,
            cost: cx.number(link, &["cost"], &at)?,
            ..NewLink::new(src, dst, capacity)
        };
        if doc.directed {
            let id = link.get("id").and_then(id_string);
            asm.push_arc(NewLink { id, ..new }, at)?;
        } else {
            let back = NewLink {
                src: dst,
                dst: src,
                ..new.clone()
            };
            asm.push_arc(new, at.clone())?;
            asm.push_arc(back, at)?;
        }
    }
    asm.finish(Location::element("nodes"))
}
