use std::collections::{BTreeMap, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::{Bandwidth, GeoPoint, Latency, ModelError, great_circle_km};

/// Dense index of a site in its [`Topology`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SiteId(pub u32);

/// Dense index of a directed link (arc) in its [`Topology`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LinkId(pub u32);

impl SiteId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}
impl LinkId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SiteKind {
    Datacenter,
    #[default]
    Pop,
    Edge,
    CloudExchange,
    Ixp,
}

/// Transmission medium; sets the propagation speed used to derive latency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Medium {
    #[default]
    Fibre,
    HollowCoreFibre,
    Microwave,
    Satellite,
}

impl Medium {
    /// One-way propagation delay per km of great-circle distance.
    pub fn us_per_km(self) -> f64 {
        match self {
            // Light in silica (n ≈ 1.47).
            Medium::Fibre => 4.9,
            // Light in air-filled hollow-core fibre travels at ~0.997 c.
            Medium::HollowCoreFibre => 3.4,
            // Radio through air. For a satellite hop this is a floor: the slant
            // range to the satellite is longer than the ground distance.
            Medium::Microwave | Medium::Satellite => 3.3,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Site {
    /// Stable identifier, unique in the topology.
    pub id: String,
    /// Human-readable name (defaults to the id).
    pub name: String,
    pub kind: SiteKind,
    pub location: Option<GeoPoint>,
    /// Free attributes carried from the source format (country, operator, ...).
    pub attributes: BTreeMap<String, String>,
}

impl Site {
    pub fn new(id: impl Into<String>) -> Self {
        let id = id.into();
        Site {
            name: id.clone(),
            id,
            kind: SiteKind::default(),
            location: None,
            attributes: BTreeMap::new(),
        }
    }
}

/// Where a link's latency came from, so reports can say when it was derived.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "source")]
pub enum LatencySource {
    /// Given by the input.
    Given,
    /// Derived from the great-circle distance between the ends and the medium.
    GreatCircle { km: f64 },
    /// Neither given nor derivable (an end lacks coordinates): taken as 0.
    Unknown,
}

/// A directed link (arc). An undirected link is two arcs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    pub id: String,
    pub src: SiteId,
    pub dst: SiteId,
    pub capacity: Bandwidth,
    pub latency: Latency,
    pub latency_source: LatencySource,
    /// IGP / TE metric used for shortest paths.
    pub metric: f64,
    /// Monetary or administrative cost.
    pub cost: f64,
    pub medium: Medium,
    /// Shared-risk link groups this arc belongs to.
    pub srlgs: Vec<String>,
}

/// Everything needed to add a link; optional fields get documented defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct NewLink {
    pub id: Option<String>,
    pub src: SiteId,
    pub dst: SiteId,
    pub capacity: Bandwidth,
    pub latency: Option<Latency>,
    /// Defaults to 1 (hop count).
    pub metric: Option<f64>,
    /// Defaults to 0.
    pub cost: Option<f64>,
    pub medium: Medium,
    pub srlgs: Vec<String>,
}

impl NewLink {
    pub fn new(src: SiteId, dst: SiteId, capacity: Bandwidth) -> Self {
        NewLink {
            id: None,
            src,
            dst,
            capacity,
            latency: None,
            metric: None,
            cost: None,
            medium: Medium::default(),
            srlgs: Vec::new(),
        }
    }
}

/// A validated backbone: sites, directed links and adjacency.
#[derive(Debug, Clone, PartialEq)]
pub struct Topology {
    name: String,
    sites: Vec<Site>,
    links: Vec<Link>,
    by_site_id: HashMap<String, SiteId>,
    out_links: Vec<Vec<LinkId>>,
    in_links: Vec<Vec<LinkId>>,
}

/// Builds a [`Topology`], checking each site and link as it is added.
#[derive(Debug, Default)]
pub struct TopologyBuilder {
    name: String,
    sites: Vec<Site>,
    links: Vec<Link>,
    by_site_id: HashMap<String, SiteId>,
    link_ids: HashMap<String, LinkId>,
}

impl TopologyBuilder {
    pub fn new(name: impl Into<String>) -> Self {
        TopologyBuilder {
            name: name.into(),
            ..Default::default()
        }
    }

    pub fn add_site(&mut self, site: Site) -> Result<SiteId, ModelError> {
        if site.id.is_empty() {
            return Err(ModelError::Invalid("a site has an empty id".into()));
        }
        if self.by_site_id.contains_key(&site.id) {
            return Err(ModelError::DuplicateSite(site.id));
        }
        if let Some(p) = site.location.filter(|p| !p.is_valid()) {
            return Err(ModelError::InvalidCoordinates {
                site: site.id,
                lat: p.lat,
                lon: p.lon,
            });
        }
        let id = SiteId(u32::try_from(self.sites.len()).map_err(|_| too_many("sites"))?);
        self.by_site_id.insert(site.id.clone(), id);
        self.sites.push(site);
        Ok(id)
    }

    pub fn site_id(&self, id: &str) -> Result<SiteId, ModelError> {
        self.by_site_id
            .get(id)
            .copied()
            .ok_or_else(|| ModelError::UnknownSite(id.to_string()))
    }

    pub fn add_link(&mut self, l: NewLink) -> Result<LinkId, ModelError> {
        let site = |s: SiteId| {
            self.sites
                .get(s.index())
                .ok_or_else(|| ModelError::UnknownSite(format!("#{}", s.0)))
        };
        let (a, b) = (site(l.src)?, site(l.dst)?);
        let id = match l.id {
            Some(id) if !id.is_empty() => id,
            Some(_) => return Err(ModelError::Invalid("a link has an empty id".into())),
            None => self.fresh_link_id(&a.id, &b.id),
        };
        if self.link_ids.contains_key(&id) {
            return Err(ModelError::DuplicateLink(id));
        }
        if l.src == l.dst {
            return Err(ModelError::SelfLoop {
                link: id,
                site: a.id.clone(),
            });
        }
        let cap = l.capacity.bps();
        if !(cap.is_finite() && cap > 0.0) {
            return Err(ModelError::NonPositiveCapacity {
                link: id,
                capacity: cap,
            });
        }
        let metric = l.metric.unwrap_or(1.0);
        let cost = l.cost.unwrap_or(0.0);
        if !(metric.is_finite() && metric > 0.0) {
            return Err(ModelError::InvalidMetric {
                link: id,
                field: "metric",
                value: metric,
            });
        }
        if !(cost.is_finite() && cost >= 0.0) {
            return Err(ModelError::InvalidMetric {
                link: id,
                field: "cost",
                value: cost,
            });
        }
        let (latency, latency_source) = match (l.latency, a.location, b.location) {
            (Some(lat), _, _) => {
                if !(lat.ms().is_finite() && lat.ms() >= 0.0) {
                    return Err(ModelError::InvalidLatency {
                        link: id,
                        latency_s: lat.ms() / 1e3,
                    });
                }
                (lat, LatencySource::Given)
            }
            (None, Some(pa), Some(pb)) => {
                let km = great_circle_km(pa, pb);
                (
                    Latency::from_us(km * l.medium.us_per_km()),
                    LatencySource::GreatCircle { km },
                )
            }
            (None, _, _) => (Latency::ZERO, LatencySource::Unknown),
        };
        let link_id = LinkId(u32::try_from(self.links.len()).map_err(|_| too_many("links"))?);
        self.link_ids.insert(id.clone(), link_id);
        self.links.push(Link {
            id,
            src: l.src,
            dst: l.dst,
            capacity: l.capacity,
            latency,
            latency_source,
            metric,
            cost,
            medium: l.medium,
            srlgs: l.srlgs,
        });
        Ok(link_id)
    }

    /// `A->B`, or `A->B#2`, `#3`... for parallel links.
    fn fresh_link_id(&self, a: &str, b: &str) -> String {
        let base = format!("{a}->{b}");
        if !self.link_ids.contains_key(&base) {
            return base;
        }
        (2..)
            .map(|n| format!("{base}#{n}"))
            .find(|c| !self.link_ids.contains_key(c))
            .unwrap_or(base)
    }

    pub fn build(self) -> Result<Topology, ModelError> {
        if self.sites.is_empty() {
            return Err(ModelError::Empty);
        }
        let n = self.sites.len();
        let mut out_links = vec![Vec::new(); n];
        let mut in_links = vec![Vec::new(); n];
        for (i, l) in self.links.iter().enumerate() {
            out_links[l.src.index()].push(LinkId(i as u32));
            in_links[l.dst.index()].push(LinkId(i as u32));
        }
        Ok(Topology {
            name: self.name,
            sites: self.sites,
            links: self.links,
            by_site_id: self.by_site_id,
            out_links,
            in_links,
        })
    }
}

fn too_many(what: &str) -> ModelError {
    ModelError::Invalid(format!("too many {what} (limit 2^32)"))
}

impl Topology {
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn sites(&self) -> &[Site] {
        &self.sites
    }
    pub fn links(&self) -> &[Link] {
        &self.links
    }
    pub fn site(&self, id: SiteId) -> &Site {
        &self.sites[id.index()]
    }
    pub fn link(&self, id: LinkId) -> &Link {
        &self.links[id.index()]
    }
    pub fn site_count(&self) -> usize {
        self.sites.len()
    }
    pub fn link_count(&self) -> usize {
        self.links.len()
    }
    pub fn site_ids(&self) -> impl Iterator<Item = SiteId> + use<> {
        (0..self.sites.len() as u32).map(SiteId)
    }
    pub fn link_ids(&self) -> impl Iterator<Item = LinkId> + use<> {
        (0..self.links.len() as u32).map(LinkId)
    }
    pub fn site_by_id(&self, id: &str) -> Option<SiteId> {
        self.by_site_id.get(id).copied()
    }
    pub fn resolve_site(&self, id: &str) -> Result<SiteId, ModelError> {
        self.site_by_id(id)
            .ok_or_else(|| ModelError::UnknownSite(id.to_string()))
    }
    pub fn out_links(&self, s: SiteId) -> &[LinkId] {
        &self.out_links[s.index()]
    }
    pub fn in_links(&self, s: SiteId) -> &[LinkId] {
        &self.in_links[s.index()]
    }

    /// Sites reachable from `from` over directed links (BFS), as a mask.
    pub fn reachable_from(&self, from: SiteId) -> Vec<bool> {
        let mut seen = vec![false; self.sites.len()];
        let mut queue = VecDeque::from([from]);
        seen[from.index()] = true;
        while let Some(s) = queue.pop_front() {
            for &l in self.out_links(s) {
                let d = self.links[l.index()].dst;
                if !seen[d.index()] {
                    seen[d.index()] = true;
                    queue.push_back(d);
                }
            }
        }
        seen
    }

    /// The same topology with new link capacities in bit/s (one per link, by
    /// link id). 0 marks a link that is down: it stays, so link ids do not
    /// change, but nothing may be routed over it.
    pub fn with_capacities(&self, capacity: &[f64]) -> Result<Topology, ModelError> {
        if capacity.len() != self.links.len() {
            return Err(ModelError::Invalid(format!(
                "{} capacities for {} links",
                capacity.len(),
                self.links.len()
            )));
        }
        let mut t = self.clone();
        for (l, &c) in t.links.iter_mut().zip(capacity) {
            if !(c.is_finite() && c >= 0.0) {
                return Err(ModelError::Invalid(format!(
                    "link `{}`: capacity {c} bit/s must be finite and >= 0",
                    l.id
                )));
            }
            l.capacity = Bandwidth::from_bps(c);
        }
        Ok(t)
    }

    /// Rebuilds the topology with a new name (formats use the file name).
    pub fn renamed(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site_at(id: &str, lat: f64, lon: f64) -> Site {
        Site {
            location: Some(GeoPoint { lat, lon }),
            ..Site::new(id)
        }
    }

    #[test]
    fn derives_latency_from_distance_and_medium() {
        let mut b = TopologyBuilder::new("t");
        let ny = b
            .add_site(site_at("ny", 40.71427, -74.00597))
            .expect("site");
        let chi = b
            .add_site(site_at("chi", 41.85003, -87.65005))
            .expect("site");
        let fibre = b
            .add_link(NewLink::new(ny, chi, Bandwidth::from_gbps(100.0)))
            .expect("link");
        let hcf = b
            .add_link(NewLink {
                medium: Medium::HollowCoreFibre,
                ..NewLink::new(chi, ny, Bandwidth::from_gbps(100.0))
            })
            .expect("link");
        let t = b.build().expect("topology");
        let LatencySource::GreatCircle { km } = t.link(fibre).latency_source else {
            panic!("latency should be derived")
        };
        assert!((t.link(fibre).latency.ms() - km * 4.9e-3).abs() < 1e-9);
        assert!(t.link(hcf).latency.ms() < t.link(fibre).latency.ms() * 0.7);
        assert_eq!(t.link(fibre).id, "ny->chi");
    }

    #[test]
    fn rejects_bad_links_by_name() {
        let mut b = TopologyBuilder::new("t");
        let a = b.add_site(Site::new("a")).expect("site");
        let z = b.add_site(Site::new("z")).expect("site");
        assert_eq!(
            b.add_site(Site::new("a")),
            Err(ModelError::DuplicateSite("a".into()))
        );
        assert!(matches!(
            b.add_link(NewLink::new(a, a, Bandwidth::from_gbps(1.0))),
            Err(ModelError::SelfLoop { .. })
        ));
        assert!(matches!(
            b.add_link(NewLink::new(a, z, Bandwidth::ZERO)),
            Err(ModelError::NonPositiveCapacity { .. })
        ));
        b.add_link(NewLink::new(a, z, Bandwidth::from_gbps(1.0)))
            .expect("first link");
        let parallel = b
            .add_link(NewLink::new(a, z, Bandwidth::from_gbps(1.0)))
            .expect("parallel link");
        assert_eq!(parallel, LinkId(1));
        assert!(matches!(
            b.add_link(NewLink {
                id: Some("a->z".into()),
                ..NewLink::new(z, a, Bandwidth::from_gbps(1.0))
            }),
            Err(ModelError::DuplicateLink(_))
        ));
        let t = b.build().expect("topology");
        assert_eq!(t.link(parallel).id, "a->z#2");
        assert_eq!(t.reachable_from(z), vec![false, true]);
    }
}
