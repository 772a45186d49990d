//! Keel's native, human-facing schema (read as TOML or JSON by `keel-formats`).
//!
//! Sites are named by id rather than index. Converting a [`Topology`] to a
//! [`TopologySpec`] and back gives an identical topology: derived latencies are
//! not written, so they are derived again from the same coordinates.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{
    Allocation, Bandwidth, ClassOfService, ClassSet, Demand, GeoPoint, Latency, LatencySource,
    Medium, ModelError, NewLink, Site, SiteKind, Topology, TopologyBuilder, TrafficMatrix,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopologySpec {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub sites: Vec<SiteSpec>,
    #[serde(default)]
    pub links: Vec<LinkSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteSpec {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub kind: SiteKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// Defaults to `from->to`. With `bidirectional`, the reverse arc gets `to->from`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub from: String,
    pub to: String,
    pub capacity: Bandwidth,
    /// One-way latency; derived from coordinates when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
    #[serde(default)]
    pub medium: Medium,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub srlgs: Vec<String>,
    /// Also create the reverse arc with the same attributes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bidirectional: bool,
}

impl TopologySpec {
    pub fn into_topology(self) -> Result<Topology, ModelError> {
        let mut b = TopologyBuilder::new(self.name);
        for s in self.sites {
            let location = match (s.lat, s.lon) {
                (Some(lat), Some(lon)) => Some(GeoPoint { lat, lon }),
                (None, None) => None,
                _ => {
                    return Err(ModelError::Invalid(format!(
                        "site `{}` has only one of lat/lon",
                        s.id
                    )));
                }
            };
            b.add_site(Site {
                name: s.name.unwrap_or_else(|| s.id.clone()),
                id: s.id,
                kind: s.kind,
                location,
                attributes: s.attributes,
            })?;
        }
        for l in self.links {
            let (src, dst) = (b.site_id(&l.from)?, b.site_id(&l.to)?);
            let arc = |id, src, dst| NewLink {
                id,
                src,
                dst,
                capacity: l.capacity,
                latency: l.latency,
                metric: l.metric,
                cost: l.cost,
                medium: l.medium,
                srlgs: l.srlgs.clone(),
            };
            b.add_link(arc(l.id.clone(), src, dst))?;
            if l.bidirectional {
                b.add_link(arc(None, dst, src))?;
            }
        }
        b.build()
    }

    pub fn from_topology(t: &Topology) -> Self {
        let sites = t
            .sites()
            .iter()
            .map(|s| SiteSpec {
                id: s.id.clone(),
                name: (s.name != s.id).then(|| s.name.clone()),
                kind: s.kind,
                lat: s.location.map(|p| p.lat),
                lon: s.location.map(|p| p.lon),
                attributes: s.attributes.clone(),
            })
            .collect();
        let links = t
            .links()
            .iter()
            .map(|l| LinkSpec {
                id: Some(l.id.clone()),
                from: t.site(l.src).id.clone(),
                to: t.site(l.dst).id.clone(),
                capacity: l.capacity,
                latency: (l.latency_source == LatencySource::Given).then_some(l.latency),
                metric: Some(l.metric),
                cost: Some(l.cost),
                medium: l.medium,
                srlgs: l.srlgs.clone(),
                bidirectional: false,
            })
            .collect();
        TopologySpec {
            name: t.name().to_string(),
            sites,
            links,
        }
    }
}

/// A traffic matrix by site id and class name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficSpec {
    /// Classes of service; the six standard ones when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<ClassOfService>>,
    #[serde(default)]
    pub demands: Vec<DemandSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemandSpec {
    pub src: String,
    pub dst: String,
    /// Class name; the default class (best-effort) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    pub rate: Bandwidth,
}

impl TrafficSpec {
    pub fn into_traffic(self, topology: &Topology) -> Result<TrafficMatrix, ModelError> {
        let classes = match self.classes {
            Some(c) => ClassSet::new(c)?,
            None => ClassSet::default(),
        };
        let demands = self
            .demands
            .into_iter()
            .map(|d| {
                Ok(Demand {
                    src: topology.resolve_site(&d.src)?,
                    dst: topology.resolve_site(&d.dst)?,
                    class: match &d.class {
                        Some(c) => classes.resolve(c)?,
                        None => classes.default_class(),
                    },
                    rate: d.rate,
                })
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        TrafficMatrix::new(topology, classes, demands)
    }

    pub fn from_traffic(topology: &Topology, tm: &TrafficMatrix) -> Self {
        let classes = (tm.classes() != &ClassSet::default())
            .then(|| tm.classes().iter().map(|(_, c)| c.clone()).collect());
        let demands = tm
            .demands()
            .iter()
            .map(|d| DemandSpec {
                src: topology.site(d.src).id.clone(),
                dst: topology.site(d.dst).id.clone(),
                class: Some(tm.classes().get(d.class).name.clone()),
                rate: d.rate,
            })
            .collect();
        TrafficSpec { classes, demands }
    }
}

/// An allocation as written by `keel solve --out`: every candidate path of every
/// demand, by site and link id, with its rate (0 when unused).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AllocationSpec {
    pub topology: String,
    pub demands: Vec<DemandAllocationSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DemandAllocationSpec {
    pub src: String,
    pub dst: String,
    pub class: String,
    pub demand_bps: f64,
    pub carried_bps: f64,
    pub paths: Vec<PathSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathSpec {
    pub sites: Vec<String>,
    pub links: Vec<String>,
    pub latency_ms: f64,
    pub rate_bps: f64,
}

impl AllocationSpec {
    pub fn new(topology: &Topology, tm: &TrafficMatrix, alloc: &Allocation) -> Self {
        let demands = alloc
            .demands
            .iter()
            .map(|da| {
                let d = tm.demand(da.demand);
                DemandAllocationSpec {
                    src: topology.site(d.src).id.clone(),
                    dst: topology.site(d.dst).id.clone(),
                    class: tm.classes().get(d.class).name.clone(),
                    demand_bps: d.rate.bps(),
                    carried_bps: da.carried(),
                    paths: da
                        .paths
                        .iter()
                        .map(|pf| PathSpec {
                            sites: pf
                                .path
                                .sites(topology)
                                .into_iter()
                                .map(|s| topology.site(s).id.clone())
                                .collect(),
                            links: pf
                                .path
                                .links
                                .iter()
                                .map(|l| topology.link(*l).id.clone())
                                .collect(),
                            latency_ms: pf.path.latency_ms(topology),
                            rate_bps: pf.rate,
                        })
                        .collect(),
                }
            })
            .collect();
        AllocationSpec {
            topology: topology.name().to_string(),
            demands,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidirectional_links_and_round_trip() {
        let json = r#"{
            "name": "tiny",
            "sites": [
                {"id": "ny", "lat": 40.7, "lon": -74.0, "kind": "datacenter"},
                {"id": "chi", "name": "Chicago", "lat": 41.8, "lon": -87.6},
                {"id": "den"}
            ],
            "links": [
                {"from": "ny", "to": "chi", "capacity": "400G", "bidirectional": true,
                 "srlgs": ["conduit-1"]},
                {"from": "chi", "to": "den", "capacity": 1e11, "latency": "7ms",
                 "medium": "microwave", "metric": 20}
            ]
        }"#;
        let spec: TopologySpec = serde_json::from_str(json).expect("parse");
        let topo = spec.into_topology().expect("valid");
        assert_eq!(topo.link_count(), 3);
        assert_eq!(topo.links()[1].id, "chi->ny");
        assert!(matches!(
            topo.links()[0].latency_source,
            LatencySource::GreatCircle { .. }
        ));
        assert_eq!(topo.links()[2].latency.ms(), 7.0);
        let back = TopologySpec::from_topology(&topo)
            .into_topology()
            .expect("round trip");
        assert_eq!(back, topo);
    }

    #[test]
    fn unknown_fields_and_sites_are_named() {
        let bad = r#"{"sites": [{"id": "a", "colour": "red"}]}"#;
        let err = serde_json::from_str::<TopologySpec>(bad).expect_err("unknown field");
        assert!(err.to_string().contains("colour"), "{err}");
        let spec: TopologySpec = serde_json::from_str(
            r#"{"sites": [{"id": "a"}], "links": [{"from": "a", "to": "b", "capacity": "1G"}]}"#,
        )
        .expect("parse");
        assert_eq!(
            spec.into_topology().err(),
            Some(ModelError::UnknownSite("b".into()))
        );
    }
}
