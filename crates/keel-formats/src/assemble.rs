//! Shared by the readers: turning parsed sites, arcs and demands into validated
//! model objects, with every model error tied to where its input came from.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use keel_model::{
    Bandwidth, ClassId, ClassSet, Demand, ModelError, NewLink, Site, SiteId, Topology,
    TopologyBuilder, TrafficMatrix,
};

use crate::error::{FormatError, Location};

/// Collects sites and arcs of a foreign format, then builds the topology.
pub(crate) struct TopoAssembler<'a> {
    file: &'a str,
    builder: TopologyBuilder,
    site_ids: Vec<String>,
    arcs: Vec<(NewLink, Location)>,
    merge_parallel: bool,
}

impl<'a> TopoAssembler<'a> {
    pub fn new(file: &'a str, name: &str, merge_parallel: bool) -> Self {
        TopoAssembler {
            file,
            builder: TopologyBuilder::new(name),
            site_ids: Vec::new(),
            arcs: Vec::new(),
            merge_parallel,
        }
    }

    pub fn add_site(&mut self, site: Site, at: Location) -> Result<SiteId, FormatError> {
        let id = site.id.clone();
        let sid = self
            .builder
            .add_site(site)
            .map_err(|e| FormatError::model(self.file, at, e))?;
        self.site_ids.push(id);
        Ok(sid)
    }

    pub fn site_id(&self, id: &str, at: &Location) -> Result<SiteId, FormatError> {
        self.builder
            .site_id(id)
            .map_err(|e| FormatError::model(self.file, at.clone(), e))
    }

    /// Queues an arc. Self loops are dropped: some Topology Zoo files have them
    /// and they can carry no traffic between distinct sites.
    pub fn push_arc(&mut self, link: NewLink, at: Location) -> Result<(), FormatError> {
        if link.src == link.dst {
            return Ok(());
        }
        // Checked before merging, where a bad capacity would otherwise be hidden
        // in a sum.
        let cap = link.capacity.bps();
        if !(cap.is_finite() && cap > 0.0) {
            let name = link.id.clone().unwrap_or_else(|| self.arc_name(&link));
            return Err(FormatError::model(
                self.file,
                at,
                ModelError::NonPositiveCapacity {
                    link: name,
                    capacity: cap,
                },
            ));
        }
        self.arcs.push((link, at));
        Ok(())
    }

    fn arc_name(&self, link: &NewLink) -> String {
        let name = |s: SiteId| self.site_ids.get(s.index()).map_or("?", String::as_str);
        format!("{}->{}", name(link.src), name(link.dst))
    }

    /// Builds the topology; `at` locates the "no sites" error.
    pub fn finish(mut self, at: Location) -> Result<Topology, FormatError> {
        let arcs = std::mem::take(&mut self.arcs);
        let arcs = if self.merge_parallel {
            merge_parallel(arcs)
        } else {
            arcs
        };
        for (link, at) in arcs {
            self.builder
                .add_link(link)
                .map_err(|e| FormatError::model(self.file, at, e))?;
        }
        self.builder
            .build()
            .map_err(|e| FormatError::model(self.file, at, e))
    }
}

/// Collapses arcs with the same (src, dst) into the first one, summing capacity;
/// the other attributes are the first arc's.
fn merge_parallel(arcs: Vec<(NewLink, Location)>) -> Vec<(NewLink, Location)> {
    let mut out: Vec<(NewLink, Location)> = Vec::with_capacity(arcs.len());
    let mut index: HashMap<(SiteId, SiteId), usize> = HashMap::new();
    for (link, at) in arcs {
        match index.entry((link.src, link.dst)) {
            Entry::Occupied(e) => {
                let first = &mut out[*e.get()].0;
                first.capacity = Bandwidth::from_bps(first.capacity.bps() + link.capacity.bps());
            }
            Entry::Vacant(e) => {
                e.insert(out.len());
                out.push((link, at));
            }
        }
    }
    out
}

/// Collects demands of a foreign format: zero and self demands are skipped,
/// duplicates (same src, dst, class) summed, and unreachable pairs reported
/// where they occur.
pub(crate) struct TrafficAssembler<'a> {
    file: &'a str,
    topology: &'a Topology,
    classes: ClassSet,
    by_name: HashMap<&'a str, Option<SiteId>>,
    index: HashMap<(SiteId, SiteId, ClassId), usize>,
    demands: Vec<Demand>,
    reach: Vec<Option<Vec<bool>>>,
}

impl<'a> TrafficAssembler<'a> {
    pub fn new(file: &'a str, topology: &'a Topology) -> Self {
        let mut by_name: HashMap<&str, Option<SiteId>> = HashMap::new();
        for (i, s) in topology.sites().iter().enumerate() {
            by_name
                .entry(s.name.as_str())
                .and_modify(|v| *v = None)
                .or_insert(Some(SiteId(i as u32)));
        }
        TrafficAssembler {
            file,
            topology,
            classes: ClassSet::default(),
            by_name,
            index: HashMap::new(),
            demands: Vec::new(),
            reach: vec![None; topology.site_count()],
        }
    }

    pub fn classes(&self) -> &ClassSet {
        &self.classes
    }

    /// A site by id, else by name when that name is unique.
    pub fn site(&self, key: &str, at: &Location) -> Result<SiteId, FormatError> {
        self.topology
            .site_by_id(key)
            .or_else(|| self.by_name.get(key).copied().flatten())
            .ok_or_else(|| {
                FormatError::model(self.file, at.clone(), ModelError::UnknownSite(key.into()))
            })
    }

    pub fn class(&self, name: &str, at: &Location) -> Result<ClassId, FormatError> {
        self.classes.by_name(name).ok_or_else(|| {
            let known: Vec<&str> = self.classes.iter().map(|(_, c)| c.name.as_str()).collect();
            FormatError::syntax(
                self.file,
                at.clone(),
                format!(
                    "unknown class of service `{name}` (expected one of {})",
                    known.join(", ")
                ),
            )
        })
    }

    pub fn add(
        &mut self,
        src: SiteId,
        dst: SiteId,
        class: ClassId,
        rate_bps: f64,
        at: Location,
    ) -> Result<(), FormatError> {
        let name = |s: SiteId| self.topology.site(s).id.clone();
        if !(rate_bps.is_finite() && rate_bps >= 0.0) {
            let error = ModelError::InvalidRate {
                src: name(src),
                dst: name(dst),
                rate: rate_bps,
            };
            return Err(FormatError::model(self.file, at, error));
        }
        if src == dst || rate_bps == 0.0 {
            return Ok(());
        }
        let topology = self.topology;
        let mask = self.reach[src.index()].get_or_insert_with(|| topology.reachable_from(src));
        if !mask[dst.index()] {
            let error = ModelError::Disconnected {
                src: name(src),
                dst: name(dst),
            };
            return Err(FormatError::model(self.file, at, error));
        }
        match self.index.entry((src, dst, class)) {
            Entry::Occupied(e) => {
                let d = &mut self.demands[*e.get()];
                d.rate = Bandwidth::from_bps(d.rate.bps() + rate_bps);
            }
            Entry::Vacant(e) => {
                e.insert(self.demands.len());
                self.demands.push(Demand {
                    src,
                    dst,
                    class,
                    rate: Bandwidth::from_bps(rate_bps),
                });
            }
        }
        Ok(())
    }

    pub fn finish(self) -> Result<TrafficMatrix, FormatError> {
        TrafficMatrix::new(self.topology, self.classes, self.demands)
            .map_err(|e| FormatError::model(self.file, Location::default(), e))
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_col(content: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(content.len());
    while !content.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &content[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// Whitespace-separated fields of a line with their 1-based (character) columns.
pub(crate) fn fields(line: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start: Option<(usize, usize)> = None;
    for (col, (i, c)) in line.char_indices().enumerate() {
        match (c.is_whitespace(), start) {
            (true, Some((s, scol))) => {
                out.push((scol, &line[s..i]));
                start = None;
            }
            (false, None) => start = Some((i, col + 1)),
            _ => {}
        }
    }
    if let Some((s, scol)) = start {
        out.push((scol, &line[s..]));
    }
    out
}

/// The line number to blame for a premature end of file.
pub(crate) fn eof_line(content: &str) -> usize {
    let n = content.lines().count();
    if n == 0 || content.ends_with('\n') {
        n + 1
    } else {
        n
    }
}

/// A finite number, or None. Rust's parser also takes "inf" and "NaN", which no
/// format here means.
pub(crate) fn parse_num(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

/// The file stem of a source name, used as the topology name.
pub(crate) fn stem(source: &str) -> String {
    std::path::Path::new(source)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(source)
        .to_string()
}

/// Text from file bytes: UTF-8 (a BOM is dropped), or Latin-1 when an XML
/// declaration says so (SNDlib files declare ISO-8859-1).
pub(crate) fn decode(bytes: &[u8], file: &str) -> Result<String, FormatError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.to_string()),
        Err(e) => {
            let head = &bytes[..bytes.len().min(200)];
            let head = String::from_utf8_lossy(head).to_ascii_lowercase();
            if head.starts_with("<?xml") && (head.contains("iso-8859-1") || head.contains("latin1"))
            {
                return Ok(bytes.iter().map(|&b| char::from(b)).collect());
            }
            let valid = &bytes[..e.valid_up_to()];
            let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
            let col = valid.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
            Err(FormatError::syntax(
                file,
                Location::at(line, col),
                "the file is not valid UTF-8",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let s = "ab\ncdé\nf";
        assert_eq!(line_col(s, 0), (1, 1));
        assert_eq!(line_col(s, 4), (2, 2));
        assert_eq!(line_col(s, s.len()), (3, 2));
        assert_eq!(line_col(s, 7), (2, 4)); // inside 'é' rounds down
    }

    #[test]
    fn fields_have_columns() {
        assert_eq!(fields("  a bc\té "), vec![(3, "a"), (5, "bc"), (8, "é")]);
        assert_eq!(fields(""), vec![]);
        assert_eq!(eof_line("a\nb\n"), 3);
        assert_eq!(eof_line("a\nb"), 2);
        assert_eq!(eof_line(""), 1);
    }

    #[test]
    fn decodes_latin1_xml_only() {
        let xml = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>\xe9</a>";
        assert_eq!(
            decode(xml, "f").ok().as_deref(),
            Some("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>é</a>")
        );
        let err = decode(b"a\nb\xff", "f").expect_err("not utf-8");
        assert_eq!(err.line(), Some(2));
        assert_eq!(decode(b"\xEF\xBB\xBFx", "f").ok().as_deref(), Some("x"));
    }
}
