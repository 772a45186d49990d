use serde::{Deserialize, Serialize};

use crate::{Bandwidth, ClassId, ClassSet, ModelError, SiteId, Topology};

/// Index of a demand in its [`TrafficMatrix`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DemandId(pub u32);

impl DemandId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Traffic of one class from one site to another.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Demand {
    pub src: SiteId,
    pub dst: SiteId,
    pub class: ClassId,
    pub rate: Bandwidth,
}

/// Demands by class of service, checked against a topology.
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficMatrix {
    classes: ClassSet,
    demands: Vec<Demand>,
}

impl TrafficMatrix {
    /// Checks every demand: sites exist, differ and are connected; the rate is
    /// finite and non-negative; the class exists.
    pub fn new(
        topology: &Topology,
        classes: ClassSet,
        demands: Vec<Demand>,
    ) -> Result<Self, ModelError> {
        check(topology, &classes, &demands, true)?;
        Ok(TrafficMatrix { classes, demands })
    }

    /// Like [`TrafficMatrix::new`], but demands between sites the topology does
    /// not connect are accepted: after failures some traffic has no path and is
    /// simply not carried.
    pub fn new_allow_unreachable(
        topology: &Topology,
        classes: ClassSet,
        demands: Vec<Demand>,
    ) -> Result<Self, ModelError> {
        check(topology, &classes, &demands, false)?;
        Ok(TrafficMatrix { classes, demands })
    }

    pub fn classes(&self) -> &ClassSet {
        &self.classes
    }
    pub fn demands(&self) -> &[Demand] {
        &self.demands
    }
    pub fn demand(&self, id: DemandId) -> &Demand {
        &self.demands[id.index()]
    }
    pub fn len(&self) -> usize {
        self.demands.len()
    }
    pub fn is_empty(&self) -> bool {
        self.demands.is_empty()
    }
    pub fn ids(&self) -> impl Iterator<Item = DemandId> + use<> {
        (0..self.demands.len() as u32).map(DemandId)
    }
    pub fn total(&self) -> f64 {
        self.demands.iter().map(|d| d.rate.bps()).sum()
    }

    /// Every rate multiplied by `factor` (NCFlow's scale factor).
    pub fn scaled(&self, factor: f64) -> Result<Self, ModelError> {
        if !(factor.is_finite() && factor >= 0.0) {
            return Err(ModelError::Invalid(format!(
                "scale factor {factor} must be finite and >= 0"
            )));
        }
        let demands = self
            .demands
            .iter()
            .map(|d| Demand {
                rate: Bandwidth::from_bps(d.rate.bps() * factor),
                ..*d
            })
            .collect();
        Ok(TrafficMatrix {
            classes: self.classes.clone(),
            demands,
        })
    }
}

/// Sites exist and differ, the rate is finite and non-negative, the class exists,
/// and (when asked) the destination is reachable from the source.
fn check(
    topology: &Topology,
    classes: &ClassSet,
    demands: &[Demand],
    require_reachable: bool,
) -> Result<(), ModelError> {
    let name = |s: SiteId| {
        topology
            .sites()
            .get(s.index())
            .map(|x| x.id.clone())
            .ok_or_else(|| ModelError::UnknownSite(format!("#{}", s.0)))
    };
    let mut reach: Vec<Option<Vec<bool>>> = vec![None; topology.site_count()];
    for d in demands {
        let (src, dst) = (name(d.src)?, name(d.dst)?);
        if d.class.index() >= classes.len() {
            return Err(ModelError::UnknownClass(format!("#{}", d.class.0)));
        }
        let rate = d.rate.bps();
        if !(rate.is_finite() && rate >= 0.0) {
            return Err(ModelError::InvalidRate { src, dst, rate });
        }
        if d.src == d.dst {
            return Err(ModelError::SelfDemand { src, dst });
        }
        if !require_reachable {
            continue;
        }
        let mask = reach[d.src.index()].get_or_insert_with(|| topology.reachable_from(d.src));
        if !mask[d.dst.index()] {
            return Err(ModelError::Disconnected { src, dst });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NewLink, Site, TopologyBuilder};

    #[test]
    fn names_what_is_wrong() {
        let mut b = TopologyBuilder::new("t");
        let a = b.add_site(Site::new("a")).expect("site");
        let z = b.add_site(Site::new("z")).expect("site");
        let lonely = b.add_site(Site::new("lonely")).expect("site");
        b.add_link(NewLink::new(a, z, Bandwidth::from_gbps(1.0)))
            .expect("link");
        let t = b.build().expect("topology");
        let classes = ClassSet::default();
        let be = classes.default_class();
        let d = |src, dst, rate| Demand {
            src,
            dst,
            class: be,
            rate: Bandwidth::from_bps(rate),
        };
        assert!(TrafficMatrix::new(&t, classes.clone(), vec![d(a, z, 5.0)]).is_ok());
        let err = |demands| TrafficMatrix::new(&t, classes.clone(), demands).err();
        assert_eq!(
            err(vec![d(z, a, 1.0)]),
            Some(ModelError::Disconnected {
                src: "z".into(),
                dst: "a".into()
            })
        );
        assert!(matches!(
            err(vec![d(a, lonely, 1.0)]),
            Some(ModelError::Disconnected { .. })
        ));
        assert!(matches!(
            err(vec![d(a, a, 1.0)]),
            Some(ModelError::SelfDemand { .. })
        ));
        assert!(matches!(
            err(vec![d(a, z, f64::NAN)]),
            Some(ModelError::InvalidRate { .. })
        ));
        assert!(matches!(
            err(vec![Demand {
                class: ClassId(99),
                ..d(a, z, 1.0)
            }]),
            Some(ModelError::UnknownClass(_))
        ));
        assert!(matches!(
            err(vec![d(SiteId(42), z, 1.0)]),
            Some(ModelError::UnknownSite(_))
        ));
        // After failures, unreachable demands are allowed but nothing else is.
        assert!(
            TrafficMatrix::new_allow_unreachable(&t, classes.clone(), vec![d(z, a, 1.0)]).is_ok()
        );
        assert!(matches!(
            TrafficMatrix::new_allow_unreachable(&t, classes.clone(), vec![d(a, a, 1.0)]),
            Err(ModelError::SelfDemand { .. })
        ));
    }
}
