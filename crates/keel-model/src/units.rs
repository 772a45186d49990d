//! Bandwidth and latency with the units operators write ("400G", "1.6T", "12.5ms").

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid {what} `{input}`: {reason}")]
pub struct ParseUnitError {
    pub what: &'static str,
    pub input: String,
    pub reason: &'static str,
}

/// A rate in bit/s. Serialised as a string with an SI suffix when that is exact
/// ("100G"), otherwise as a plain number of bit/s; both forms are accepted back.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Bandwidth(f64);

const BW_UNITS: [(&str, f64); 5] = [("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)];

impl Bandwidth {
    pub const ZERO: Bandwidth = Bandwidth(0.0);

    pub const fn from_bps(bps: f64) -> Self {
        Bandwidth(bps)
    }
    pub fn from_kbps(v: f64) -> Self {
        Bandwidth(v * 1e3)
    }
    pub fn from_mbps(v: f64) -> Self {
        Bandwidth(v * 1e6)
    }
    pub fn from_gbps(v: f64) -> Self {
        Bandwidth(v * 1e9)
    }
    pub const fn bps(self) -> f64 {
        self.0
    }
    pub fn gbps(self) -> f64 {
        self.0 / 1e9
    }
}

impl fmt::Display for Bandwidth {
    /// Human form with three significant decimals, e.g. `9.95 Gbit/s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        for (suffix, scale) in BW_UNITS {
            if v.abs() >= scale {
                return write!(f, "{} {suffix}bit/s", trim_float(v / scale));
            }
        }
        write!(f, "{} bit/s", trim_float(v))
    }
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

impl FromStr for Bandwidth {
    type Err = ParseUnitError;

    /// Accepts `1000`, `10G`, `10 Gbit/s`, `10Gbps`, `400 Mb/s`, `1.6T`, `2.5e9`.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |reason| ParseUnitError {
            what: "bandwidth",
            input: input.to_string(),
            reason,
        };
        let s = input.trim();
        let split = s
            .find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
            .unwrap_or(s.len());
        let (num, unit) = s.split_at(split);
        let value: f64 = num.trim().parse().map_err(|_| err("expected a number"))?;
        let unit = unit.trim();
        let unit = unit
            .strip_suffix("bit/s")
            .or_else(|| unit.strip_suffix("bps"))
            .or_else(|| unit.strip_suffix("b/s"))
            .unwrap_or(unit);
        let scale = match unit {
            "" => 1.0,
            "k" | "K" => 1e3,
            "M" => 1e6,
            "G" => 1e9,
            "T" => 1e12,
            "P" => 1e15,
            _ => return Err(err("unknown unit (use bit/s with k, M, G, T or P)")),
        };
        let bps = value * scale;
        if !bps.is_finite() || bps < 0.0 {
            return Err(err("must be finite and >= 0"));
        }
        Ok(Bandwidth(bps))
    }
}

impl Serialize for Bandwidth {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        for (suffix, scale) in BW_UNITS {
            let q = v / scale;
            if q >= 1.0 && q.fract() == 0.0 && q < 9.0e15 && q * scale == v {
                return s.serialize_str(&format!("{q}{suffix}"));
            }
        }
        s.serialize_f64(v)
    }
}

impl<'de> Deserialize<'de> for Bandwidth {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UnitVisitor::<Bandwidth>::new(
            "a rate: bit/s or a string like \"100G\"",
        ))
    }
}

/// One-way latency, held in milliseconds. Numbers are milliseconds; strings carry a
/// unit (`12ms`, `300us`, `0.2s`).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Latency(f64);

impl Latency {
    pub const ZERO: Latency = Latency(0.0);

    pub const fn from_ms(ms: f64) -> Self {
        Latency(ms)
    }
    pub fn from_us(us: f64) -> Self {
        Latency(us / 1e3)
    }
    pub fn from_secs(s: f64) -> Self {
        Latency(s * 1e3)
    }
    pub const fn ms(self) -> f64 {
        self.0
    }
}

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ms", trim_float(self.0))
    }
}

impl FromStr for Latency {
    type Err = ParseUnitError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |reason| ParseUnitError {
            what: "latency",
            input: input.to_string(),
            reason,
        };
        let s = input.trim();
        let split = s
            .find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E' || c == 'µ')
            .unwrap_or(s.len());
        let (num, unit) = s.split_at(split);
        let value: f64 = num.trim().parse().map_err(|_| err("expected a number"))?;
        let ms = match unit.trim() {
            "" | "ms" => value,
            "us" | "µs" => value / 1e3,
            "ns" => value / 1e6,
            "s" => value * 1e3,
            _ => return Err(err("unknown unit (use s, ms, us or ns)")),
        };
        if !ms.is_finite() || ms < 0.0 {
            return Err(err("must be finite and >= 0"));
        }
        Ok(Latency(ms))
    }
}

impl Serialize for Latency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.0)
    }
}

impl<'de> Deserialize<'de> for Latency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UnitVisitor::<Latency>::new(
            "a latency: milliseconds or a string like \"300us\"",
        ))
    }
}

trait FromNumber: FromStr<Err = ParseUnitError> {
    fn from_number(v: f64) -> Self;
}
impl FromNumber for Bandwidth {
    fn from_number(v: f64) -> Self {
        Bandwidth(v)
    }
}
impl FromNumber for Latency {
    fn from_number(v: f64) -> Self {
        Latency(v)
    }
}

struct UnitVisitor<T> {
    expecting: &'static str,
    _t: std::marker::PhantomData<T>,
}

impl<T> UnitVisitor<T> {
    fn new(expecting: &'static str) -> Self {
        UnitVisitor {
            expecting,
            _t: std::marker::PhantomData,
        }
    }
}

impl<T: FromNumber> Visitor<'_> for UnitVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.expecting)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        if !v.is_finite() || v < 0.0 {
            return Err(E::custom(format!("{v} must be finite and >= 0")));
        }
        Ok(T::from_number(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        self.visit_f64(v as f64)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        self.visit_f64(v as f64)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        v.parse().map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_operator_spellings() {
        for (s, bps) in [
            ("1000", 1e3),
            ("10G", 10e9),
            ("10 Gbit/s", 10e9),
            ("10Gbps", 10e9),
            ("400 Mb/s", 400e6),
            ("1.6T", 1.6e12),
            ("2.5e9", 2.5e9),
            ("100k", 1e5),
        ] {
            assert_eq!(s.parse::<Bandwidth>().map(Bandwidth::bps), Ok(bps), "{s}");
        }
        assert!("10X".parse::<Bandwidth>().is_err());
        assert!("-1G".parse::<Bandwidth>().is_err());
        assert!("fast".parse::<Bandwidth>().is_err());
        assert_eq!("300us".parse::<Latency>().map(Latency::ms), Ok(0.3));
        assert_eq!("0.2s".parse::<Latency>().map(Latency::ms), Ok(200.0));
        assert_eq!("7".parse::<Latency>().map(Latency::ms), Ok(7.0));
        assert!("7 parsecs".parse::<Latency>().is_err());
    }

    #[test]
    fn serialises_exactly() {
        for bps in [100e9, 1.6e12, 9953280e3, 1234.5, 0.0, 5000.0, 0.1] {
            let b = Bandwidth::from_bps(bps);
            let json = serde_json::to_string(&b).expect("serialise");
            let back: Bandwidth = serde_json::from_str(&json).expect("parse back");
            assert_eq!(back, b, "{json}");
        }
        assert_eq!(
            serde_json::to_string(&Bandwidth::from_gbps(400.0)).ok(),
            Some("\"400G\"".into())
        );
        assert_eq!(Bandwidth::from_gbps(9.95328).to_string(), "9.953 Gbit/s");
    }
}
