//! SNDlib XML (namespace `http://sndlib.zib.de/network`): network instances and
//! the dynamic demand-matrix files.
//!
//! Links are undirected (two arcs); capacity is `preInstalledModule/capacity`,
//! else `ReadOptions::default_capacity` (installable `additionalModules` are not
//! capacity). Demands are directed. Values are in `<meta><unit>`, Mbit/s when
//! absent. Coordinates are x = longitude, y = latitude when geographical.

use keel_model::{Bandwidth, GeoPoint, NewLink, Site, Topology, TrafficMatrix};
use roxmltree::{Document, Node};

use crate::ReadOptions;
use crate::assemble::{TopoAssembler, TrafficAssembler, stem};
use crate::error::{FormatError, Location, found};
use crate::xml::{self, attr, child, children, loc, number};

fn network<'a, 'i>(doc: &'a Document<'i>, file: &str) -> Result<Node<'a, 'i>, FormatError> {
    let root = doc.root_element();
    if root.tag_name().name() != "network" {
        return Err(FormatError::syntax(
            file,
            loc(root, &[]),
            "expected a <network> root element (SNDlib)",
        ));
    }
    Ok(root)
}

/// bit/s per unit of the file's values.
fn unit(root: Node, file: &str) -> Result<f64, FormatError> {
    let Some(u) = child(root, "meta").and_then(|m| child(m, "unit")) else {
        return Ok(1e6);
    };
    match xml::text(u).to_ascii_uppercase().as_str() {
        "BITPERSEC" => Ok(1.0),
        "KBITPERSEC" => Ok(1e3),
        "MBITPERSEC" | "" => Ok(1e6),
        "GBITPERSEC" => Ok(1e9),
        "TBITPERSEC" => Ok(1e12),
        other => Err(FormatError::syntax(
            file,
            loc(u, &[]),
            format!(
                "expected a unit like MBITPERSEC or GBITPERSEC, found {}",
                found(other)
            ),
        )),
    }
}

/// The text of a required child element.
fn child_text(
    node: Node,
    name: &'static str,
    file: &str,
    at: &Location,
) -> Result<String, FormatError> {
    match child(node, name) {
        Some(c) => Ok(xml::text(c)),
        None => Err(FormatError::syntax(
            file,
            at.clone(),
            format!("expected a <{name}> element"),
        )),
    }
}

pub(crate) fn read_topology(
    content: &str,
    file: &str,
    opts: &ReadOptions,
) -> Result<Topology, FormatError> {
    let doc = xml::parse(content, file)?;
    let root = network(&doc, file)?;
    let scale = unit(root, file)?;
    let structure = child(root, "networkStructure").ok_or_else(|| {
        FormatError::syntax(
            file,
            loc(root, &[]),
            "expected a <networkStructure> element",
        )
    })?;
    let mut asm = TopoAssembler::new(file, &stem(file), opts.merge_parallel);

    let nodes = child(structure, "nodes");
    // Pixel coordinates are drawing positions, not places.
    let geographical = nodes
        .and_then(|n| n.attribute("coordinatesType"))
        .is_none_or(|t| t.eq_ignore_ascii_case("geographical"));
    for node in nodes.into_iter().flat_map(|n| children(n, "node")) {
        let at = loc(node, &["id"]);
        let id = attr(node, "id", file, &at)?;
        let mut site = Site::new(id);
        if let Some(c) = child(node, "coordinates") {
            let coord = |name| {
                child(c, name)
                    .map(|n| number(n, &format!("<{name}>"), file, &at))
                    .transpose()
            };
            if let (Some(x), Some(y)) = (coord("x")?, coord("y")?) {
                if geographical {
                    site.location = Some(GeoPoint { lat: y, lon: x });
                } else {
                    site.attributes.insert("x".into(), x.to_string());
                    site.attributes.insert("y".into(), y.to_string());
                }
            }
        }
        asm.add_site(site, at)?;
    }

    let links = child(structure, "links");
    for link in links.into_iter().flat_map(|n| children(n, "link")) {
        let at = loc(link, &["id"]);
        let src = asm.site_id(&child_text(link, "source", file, &at)?, &at)?;
        let dst = asm.site_id(&child_text(link, "target", file, &at)?, &at)?;
        let preinstalled =
            match child(link, "preInstalledModule").and_then(|m| child(m, "capacity")) {
                Some(c) => number(c, "<capacity>", file, &at)?,
                None => 0.0,
            };
        // A zero pre-installed module means nothing is installed.
        let capacity = if preinstalled > 0.0 {
            Bandwidth::from_bps(preinstalled * scale)
        } else if preinstalled < 0.0 {
            Bandwidth::from_bps(preinstalled)
        } else {
            opts.default_capacity.ok_or_else(|| {
                FormatError::syntax(
                    file,
                    at.clone(),
                    "no capacity: the link has no <preInstalledModule>; pass a default capacity",
                )
            })?
        };
        asm.push_arc(NewLink::new(src, dst, capacity), at.clone())?;
        asm.push_arc(NewLink::new(dst, src, capacity), at)?;
    }
    asm.finish(loc(structure, &[]))
}

/// The demands of a network or demand-matrix file, with its `<meta><time>`.
pub(crate) fn read_traffic(
    content: &str,
    file: &str,
    topology: &Topology,
) -> Result<(Option<String>, TrafficMatrix), FormatError> {
    let doc = xml::parse(content, file)?;
    let root = network(&doc, file)?;
    let scale = unit(root, file)?;
    let time = child(root, "meta")
        .and_then(|m| child(m, "time"))
        .map(xml::text)
        .filter(|t| !t.is_empty());
    let mut asm = TrafficAssembler::new(file, topology);
    let class = asm.classes().default_class();
    let demands = child(root, "demands");
    for d in demands.into_iter().flat_map(|n| children(n, "demand")) {
        let at = loc(d, &["id"]);
        let src = asm.site(&child_text(d, "source", file, &at)?, &at)?;
        let dst = asm.site(&child_text(d, "target", file, &at)?, &at)?;
        let value = match child(d, "demandValue") {
            Some(v) => number(v, "<demandValue>", file, &at)?,
            None => {
                return Err(FormatError::syntax(
                    file,
                    at,
                    "expected a <demandValue> element",
                ));
            }
        };
        asm.add(src, dst, class, value * scale, at)?;
    }
    Ok((time, asm.finish()?))
}
