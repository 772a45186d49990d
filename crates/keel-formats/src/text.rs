//! Plain-text and CSV traffic matrices.
//!
//! Text: one demand per line, `src dst value [class]`, whitespace separated,
//! `#` starts a comment. Values are in `ReadOptions::unit` unless a comment line
//! `# unit: bit/s` (or `kbit/s`, `Mbit/s`, `10G`...) sets the unit for the
//! lines after it; Keel writes that line so reading back is exact.
//!
//! CSV: a header row names the columns: `src` (or `source`, `from`), `dst` (or
//! `target`, `to`, `dest`), `value` (or `rate`, `demand`: in `ReadOptions::unit`;
//! `rate_bps`, `value_mbps`... carry their unit), and optionally `time` and
//! `class`. Fields may be double-quoted (within one line). With a `time`
//! column a file holds one matrix per time stamp, in order of appearance.

use std::collections::HashMap;
use std::fmt::Write as _;

use keel_model::{Bandwidth, Topology, TrafficMatrix};

use crate::ReadOptions;
use crate::assemble::{TrafficAssembler, fields, parse_num};
use crate::error::{FormatError, Location, found};

/// The unit set by a `# unit: ...` comment, if `comment` is one.
fn unit_directive(comment: &str) -> Option<Result<f64, String>> {
    let c = comment.trim();
    let (key, value) = c.split_once(':')?;
    if !key.trim().eq_ignore_ascii_case("unit") {
        return None;
    }
    let value = value.trim();
    // "bit/s" alone means one of them.
    let spelled = if value.starts_with(|c: char| c.is_ascii_alphabetic()) {
        format!("1 {value}")
    } else {
        value.to_string()
    };
    Some(match spelled.parse::<Bandwidth>() {
        Ok(b) if b.bps() > 0.0 => Ok(b.bps()),
        _ => Err(format!(
            "expected a unit like `bit/s`, `Mbit/s` or `10G` after `unit:`, found {}",
            found(value)
        )),
    })
}

pub(crate) fn read_text(
    content: &str,
    file: &str,
    topology: &Topology,
    opts: &ReadOptions,
) -> Result<TrafficMatrix, FormatError> {
    let mut asm = TrafficAssembler::new(file, topology);
    let default_class = asm.classes().default_class();
    let mut unit = opts.unit.bps();
    for (i, line) in content.lines().enumerate() {
        let n = i + 1;
        let (data, comment) = match line.find('#') {
            Some(p) => (&line[..p], Some(&line[p + 1..])),
            None => (line, None),
        };
        let f = fields(data);
        if f.is_empty() {
            match comment.and_then(unit_directive) {
                Some(Ok(u)) => unit = u,
                Some(Err(msg)) => return Err(FormatError::syntax(file, Location::line(n), msg)),
                None => {}
            }
            continue;
        }
        if !(3..=4).contains(&f.len()) {
            let col = f.get(4).map_or(f[0].0, |x| x.0);
            return Err(FormatError::syntax(
                file,
                Location::at(n, col),
                format!("expected `src dst value [class]`, found {} fields", f.len()),
            ));
        }
        let src = asm.site(f[0].1, &Location::at(n, f[0].0))?;
        let dst = asm.site(f[1].1, &Location::at(n, f[1].0))?;
        let at = Location::at(n, f[2].0);
        let value = parse_num(f[2].1).ok_or_else(|| {
            FormatError::syntax(
                file,
                at.clone(),
                format!(
                    "expected a number (the demand value), found {}",
                    found(f[2].1)
                ),
            )
        })?;
        let class = match f.get(3) {
            Some(&(col, name)) => asm.class(name, &Location::at(n, col))?,
            None => default_class,
        };
        asm.add(src, dst, class, value * unit, at)?;
    }
    asm.finish()
}

/// Splits a CSV line into trimmed fields with their 1-based columns; an
/// unterminated quote is an error at its column.
fn split_csv(line: &str) -> Result<Vec<(usize, String)>, (usize, String)> {
    let chars: Vec<char> = line.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        while i < chars.len() && chars[i] == ' ' {
            i += 1;
        }
        let start = i + 1;
        let mut value = String::new();
        if chars.get(i) == Some(&'"') {
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err((start, "unterminated quoted field".into())),
                    Some('"') if chars.get(i + 1) == Some(&'"') => {
                        value.push('"');
                        i += 2;
                    }
                    Some('"') => {
                        i += 1;
                        break;
                    }
                    Some(&c) => {
                        value.push(c);
                        i += 1;
                    }
                }
            }
            while i < chars.len() && chars[i] != ',' {
                if !chars[i].is_whitespace() {
                    return Err((i + 1, "expected `,` after a quoted field".into()));
                }
                i += 1;
            }
        } else {
            while i < chars.len() && chars[i] != ',' {
                value.push(chars[i]);
                i += 1;
            }
            value = value.trim().to_string();
        }
        out.push((start, value));
        if i >= chars.len() {
            return Ok(out);
        }
        i += 1; // the comma
    }
}

struct Columns {
    src: usize,
    dst: usize,
    value: usize,
    /// bit/s per unit of the value column, when its name says.
    unit: Option<f64>,
    time: Option<usize>,
    class: Option<usize>,
}

fn value_column(name: &str) -> Option<Option<f64>> {
    let (base, unit) = match name.rsplit_once('_') {
        Some((b, u)) => (b, Some(u)),
        None => (name, None),
    };
    if !matches!(base, "value" | "rate" | "demand") {
        return None;
    }
    match unit {
        None => Some(None),
        Some("bps") => Some(Some(1.0)),
        Some("kbps") => Some(Some(1e3)),
        Some("mbps") => Some(Some(1e6)),
        Some("gbps") => Some(Some(1e9)),
        Some("tbps") => Some(Some(1e12)),
        Some(_) => None,
    }
}

fn columns(header: &[(usize, String)]) -> Option<Columns> {
    let mut src = None;
    let mut dst = None;
    let mut value = None;
    let mut unit = None;
    let mut time = None;
    let mut class = None;
    for (i, (_, name)) in header.iter().enumerate() {
        let name = name.to_ascii_lowercase();
        match name.as_str() {
            "src" | "source" | "from" | "origin" => src = Some(i),
            "dst" | "target" | "to" | "dest" | "destination" => dst = Some(i),
            "time" | "timestamp" => time = Some(i),
            "class" => class = Some(i),
            other => {
                if let Some(u) = value_column(other) {
                    value = Some(i);
                    unit = u;
                }
            }
        }
    }
    Some(Columns {
        src: src?,
        dst: dst?,
        value: value?,
        unit,
        time,
        class,
    })
}

pub(crate) fn read_csv(
    content: &str,
    file: &str,
    topology: &Topology,
    opts: &ReadOptions,
    all: bool,
) -> Result<Vec<(String, TrafficMatrix)>, FormatError> {
    let split = |n: usize, line: &str| {
        split_csv(line).map_err(|(col, msg)| FormatError::syntax(file, Location::at(n, col), msg))
    };
    let mut rows = content
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let Some((hn, header)) = rows.next() else {
        return Ok(Vec::new());
    };
    let header = split(hn, header)?;
    let cols = columns(&header).ok_or_else(|| {
        let names: Vec<&str> = header.iter().map(|(_, s)| s.as_str()).collect();
        FormatError::syntax(
            file,
            Location::line(hn),
            format!(
                "expected a header naming src, dst and value columns, found {}",
                found(&names.join(","))
            ),
        )
    })?;
    let unit = cols.unit.unwrap_or(opts.unit.bps());
    let needed = [
        Some(cols.src),
        Some(cols.dst),
        Some(cols.value),
        cols.time,
        cols.class,
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or(0)
        + 1;
    let mut series: Vec<(String, TrafficAssembler)> = Vec::new();
    let mut by_time: HashMap<String, usize> = HashMap::new();
    for (n, line) in rows {
        let f = split(n, line)?;
        if f.len() < needed {
            let col = f.last().map_or(1, |(c, s)| c + s.chars().count());
            return Err(FormatError::syntax(
                file,
                Location::at(n, col),
                format!(
                    "expected {} fields as in the header, found {}",
                    header.len(),
                    f.len()
                ),
            ));
        }
        let time = cols.time.map_or(String::new(), |t| f[t].1.clone());
        let slot = match by_time.get(&time) {
            Some(&s) => Some(s),
            // Rows of later time stamps are still checked, not kept.
            None if !all && !series.is_empty() => None,
            None => {
                by_time.insert(time.clone(), series.len());
                series.push((time, TrafficAssembler::new(file, topology)));
                Some(series.len() - 1)
            }
        };
        let asm = &mut series[slot.unwrap_or(0)].1;
        let cell = |i: usize| (&f[i].1, Location::at(n, f[i].0));
        let (s, at) = cell(cols.src);
        let src = asm.site(s, &at)?;
        let (d, at) = cell(cols.dst);
        let dst = asm.site(d, &at)?;
        let class = match cols.class.map(cell) {
            Some((c, at)) if !c.is_empty() => asm.class(c, &at)?,
            _ => asm.classes().default_class(),
        };
        let (v, at) = cell(cols.value);
        let value = parse_num(v).ok_or_else(|| {
            FormatError::syntax(
                file,
                at.clone(),
                format!(
                    "expected a number in column `{}`, found {}",
                    header[cols.value].1,
                    found(v)
                ),
            )
        })?;
        if slot.is_some() {
            asm.add(src, dst, class, value * unit, at)?;
        }
    }
    let stem = crate::assemble::stem(file);
    series
        .into_iter()
        .map(|(time, asm)| {
            let label = if cols.time.is_some() {
                time
            } else {
                stem.clone()
            };
            Ok((label, asm.finish()?))
        })
        .collect()
}

fn check_token(what: &str, s: &str) -> Result<(), FormatError> {
    if s.is_empty() || s.contains(|c: char| c.is_whitespace() || c == '#') {
        return Err(FormatError::Unsupported {
            what: format!(
                "writing {what} `{s}` (empty, or with whitespace or `#`) in the text format; use csv, toml or json"
            ),
        });
    }
    Ok(())
}

pub(crate) fn write_text(t: &Topology, tm: &TrafficMatrix) -> Result<String, FormatError> {
    let mut out = format!(
        "# Keel traffic matrix for {}: {} demands\n# unit: bit/s\n# src dst rate class\n",
        // A line break in the name would end the comment.
        t.name().replace(['\n', '\r'], " "),
        tm.len()
    );
    for d in tm.demands() {
        let (src, dst) = (&t.site(d.src).id, &t.site(d.dst).id);
        let class = &tm.classes().get(d.class).name;
        check_token("site id", src)?;
        check_token("site id", dst)?;
        check_token("class", class)?;
        let _ = writeln!(out, "{src} {dst} {} {class}", d.rate.bps());
    }
    Ok(out)
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) || s.trim() != s {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub(crate) fn write_csv(t: &Topology, tm: &TrafficMatrix) -> String {
    let mut out = String::from("src,dst,class,rate_bps\n");
    for d in tm.demands() {
        let _ = writeln!(
            out,
            "{},{},{},{}",
            csv_field(&t.site(d.src).id),
            csv_field(&t.site(d.dst).id),
            csv_field(&tm.classes().get(d.class).name),
            d.rate.bps()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_quoted_csv() {
        let f = split_csv(r#"a, "b,c" ,"d""e",,f"#).expect("valid");
        let v: Vec<&str> = f.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(v, ["a", "b,c", "d\"e", "", "f"]);
        assert_eq!(f[1].0, 4);
        assert_eq!(split_csv("a,\"b").err().map(|e| e.0), Some(3));
        assert_eq!(split_csv("\"a\" x").err().map(|e| e.0), Some(5));
    }

    #[test]
    fn unit_directives() {
        assert_eq!(unit_directive(" unit: bit/s"), Some(Ok(1.0)));
        assert_eq!(unit_directive("Unit: Mbit/s"), Some(Ok(1e6)));
        assert_eq!(unit_directive("unit: 10G"), Some(Ok(1e10)));
        assert!(matches!(unit_directive("unit: parsecs"), Some(Err(_))));
        assert_eq!(unit_directive("units are fun"), None);
        assert_eq!(value_column("rate_bps"), Some(Some(1.0)));
        assert_eq!(value_column("value"), Some(None));
        assert_eq!(value_column("value_parsec"), None);
    }
}
