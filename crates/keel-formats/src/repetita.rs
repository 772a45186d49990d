//! Repetita `.graph` and `.demands` files.
//!
//! ```text
//! NODES 2                          DEMANDS 1
//! label x y                        label src dest bw
//! 0_Paris 2.35 48.85               demand_0 0 1 1000
//! 1_Lyon 4.83 45.76
//!
//! EDGES 2
//! label src dest weight bw delay
//! edge_0 0 1 10 1000000 391
//! edge_1 1 0 10 1000000 391
//! ```
//!
//! Sites are named by node index ("0".."n-1"), with the label as name and
//! x/y as longitude/latitude when they are valid coordinates. Arcs are directed
//! and keep their label as id; `weight` is the IGP metric, `bw` the capacity in
//! kbit/s, `delay` the latency in microseconds. Demand `bw` is in kbit/s.

use keel_model::{Bandwidth, GeoPoint, Latency, NewLink, Site, Topology, TrafficMatrix};

use crate::ReadOptions;
use crate::assemble::{TopoAssembler, TrafficAssembler, eof_line, fields, parse_num, stem};
use crate::error::{FormatError, Location, found};

/// Non-blank lines with their 1-based numbers.
struct Lines<'a> {
    file: &'a str,
    eof: usize,
    iter: std::iter::Enumerate<std::str::Lines<'a>>,
}

type Fields<'a> = Vec<(usize, &'a str)>;

impl<'a> Lines<'a> {
    fn new(content: &'a str, file: &'a str) -> Self {
        Lines {
            file,
            eof: eof_line(content),
            iter: content.lines().enumerate(),
        }
    }

    fn next(&mut self) -> Option<(usize, Fields<'a>)> {
        self.iter.by_ref().find_map(|(i, l)| {
            let f = fields(l);
            (!f.is_empty()).then_some((i + 1, f))
        })
    }

    fn expect(&mut self, what: &str) -> Result<(usize, Fields<'a>), FormatError> {
        self.next().ok_or_else(|| {
            FormatError::syntax(
                self.file,
                Location::line(self.eof),
                format!("unexpected end of file: expected {what}"),
            )
        })
    }

    /// `KEYWORD count`, e.g. `NODES 11`.
    fn section(&mut self, keyword: &str) -> Result<(usize, usize), FormatError> {
        let (line, f) = self.expect(&format!("`{keyword} <count>`"))?;
        let count = match f.as_slice() {
            [(_, k), (_, n)] if *k == keyword => n.parse::<usize>().ok(),
            _ => None,
        };
        let count = count.ok_or_else(|| {
            FormatError::syntax(
                self.file,
                Location::at(line, f[0].0),
                format!("expected `{keyword} <count>`, found {}", found(&join(&f))),
            )
        })?;
        Ok((line, count))
    }

    /// The column-header line that follows a section line, if present.
    fn skip_header(&mut self) -> Option<(usize, Fields<'a>)> {
        let (line, f) = self.next()?;
        if f[0].1 == "label" {
            self.next()
        } else {
            Some((line, f))
        }
    }

    fn err(&self, line: usize, col: usize, msg: String) -> FormatError {
        FormatError::syntax(self.file, Location::at(line, col), msg)
    }
}

fn join(f: &Fields) -> String {
    f.iter().map(|(_, s)| *s).collect::<Vec<_>>().join(" ")
}

/// Reads `count` records of at least `min_fields` fields after a section line.
fn records<'a>(
    lines: &mut Lines<'a>,
    section: (&str, usize, usize),
    layout: &str,
    min_fields: usize,
) -> Result<Vec<(usize, Fields<'a>)>, FormatError> {
    let (keyword, header_line, count) = section;
    let mut out = Vec::new();
    let mut first = true;
    while out.len() < count {
        let next = if std::mem::take(&mut first) {
            lines.skip_header()
        } else {
            lines.next()
        };
        let Some((line, f)) = next else {
            return Err(FormatError::syntax(
                lines.file,
                Location::line(lines.eof),
                format!(
                    "unexpected end of file: {keyword} at line {header_line} announces {count} \
                     lines, found {}",
                    out.len()
                ),
            ));
        };
        if f.len() < min_fields {
            let end = f.last().map_or(1, |(c, s)| c + s.chars().count());
            return Err(lines.err(
                line,
                end,
                format!("expected `{layout}`, found {}", found(&join(&f))),
            ));
        }
        out.push((line, f));
    }
    Ok(out)
}

fn num(
    lines: &Lines,
    line: usize,
    (col, s): (usize, &str),
    what: &str,
) -> Result<f64, FormatError> {
    parse_num(s).ok_or_else(|| {
        lines.err(
            line,
            col,
            format!("expected a number ({what}), found {}", found(s)),
        )
    })
}

fn index(
    lines: &Lines,
    line: usize,
    (col, s): (usize, &str),
    n: usize,
) -> Result<usize, FormatError> {
    match s.parse::<usize>() {
        Ok(i) if i < n => Ok(i),
        _ => Err(lines.err(
            line,
            col,
            format!("expected a node index in 0..{n}, found {}", found(s)),
        )),
    }
}

fn no_trailing(lines: &mut Lines) -> Result<(), FormatError> {
    match lines.next() {
        Some((line, f)) => Err(lines.err(
            line,
            f[0].0,
            format!(
                "unexpected content after the last record: {}",
                found(&join(&f))
            ),
        )),
        None => Ok(()),
    }
}

pub(crate) fn read_graph(
    content: &str,
    file: &str,
    opts: &ReadOptions,
) -> Result<Topology, FormatError> {
    let mut lines = Lines::new(content, file);
    let (nodes_line, n) = lines.section("NODES")?;
    let mut asm = TopoAssembler::new(file, &stem(file), opts.merge_parallel);
    for (i, (line, f)) in records(&mut lines, ("NODES", nodes_line, n), "label x y", 3)?
        .into_iter()
        .enumerate()
    {
        let x = num(&lines, line, f[1], "x")?;
        let y = num(&lines, line, f[2], "y")?;
        let p = GeoPoint { lat: y, lon: x };
        let site = Site {
            name: f[0].1.to_string(),
            // Synthetic topologies may use plane coordinates: not a place.
            location: p.is_valid().then_some(p),
            ..Site::new(i.to_string())
        };
        asm.add_site(site, Location::line(line))?;
    }
    let (edges_line, m) = lines.section("EDGES")?;
    let layout = "label src dest weight bw delay";
    for (line, f) in records(&mut lines, ("EDGES", edges_line, m), layout, 6)? {
        let src = index(&lines, line, f[1], n)?;
        let dst = index(&lines, line, f[2], n)?;
        let link = NewLink {
            id: Some(f[0].1.to_string()),
            metric: Some(num(&lines, line, f[3], "weight")?),
            latency: Some(Latency::from_us(num(&lines, line, f[5], "delay in µs")?)),
            ..NewLink::new(
                keel_model::SiteId(src as u32),
                keel_model::SiteId(dst as u32),
                Bandwidth::from_kbps(num(&lines, line, f[4], "bw in kbit/s")?),
            )
        };
        asm.push_arc(
            link,
            Location::line(line).with_element(format!("edge `{}`", f[0].1)),
        )?;
    }
    no_trailing(&mut lines)?;
    asm.finish(Location::line(nodes_line))
}

pub(crate) fn read_demands(
    content: &str,
    file: &str,
    topology: &Topology,
) -> Result<TrafficMatrix, FormatError> {
    let mut lines = Lines::new(content, file);
    let (header, k) = lines.section("DEMANDS")?;
    let mut asm = TrafficAssembler::new(file, topology);
    let class = asm.classes().default_class();
    for (line, f) in records(&mut lines, ("DEMANDS", header, k), "label src dest bw", 4)? {
        let src = asm.site(f[1].1, &Location::at(line, f[1].0))?;
        let dst = asm.site(f[2].1, &Location::at(line, f[2].0))?;
        let bw = num(&lines, line, f[3], "bw in kbit/s")?;
        asm.add(src, dst, class, bw * 1e3, Location::at(line, f[3].0))?;
    }
    no_trailing(&mut lines)?;
    asm.finish()
}
