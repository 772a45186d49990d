//! Figures of merit of an allocation.

use keel_model::{Allocation, ClassId, LinkId, Topology, TrafficMatrix};
use serde::Serialize;

/// Demand and carried rate (bit/s) of one class of service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassFigures {
    pub class: ClassId,
    pub name: String,
    pub demand: f64,
    pub carried: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub total_demand: f64,
    pub carried: f64,
    /// carried / total demand; 1 when there is no demand.
    pub fraction: f64,
    /// Maximum link utilisation (load / capacity); 0 when nothing is carried.
    pub mlu: f64,
    pub max_load_link: Option<LinkId>,
    /// Smallest carried / rate over demands with a positive rate; 1 when none.
    pub concurrent: f64,
    /// Every class of the traffic matrix, in class order.
    pub per_class: Vec<ClassFigures>,
}

/// Demand and carried rate per class. Allocation entries are matched to demands by
/// their `demand` id; entries naming no demand are ignored.
pub fn class_figures(tm: &TrafficMatrix, alloc: &Allocation) -> Vec<ClassFigures> {
    let mut out: Vec<ClassFigures> = tm
        .classes()
        .iter()
        .map(|(id, c)| ClassFigures {
            class: id,
            name: c.name.clone(),
            demand: 0.0,
            carried: 0.0,
        })
        .collect();
    for d in tm.demands() {
        if let Some(f) = out.get_mut(d.class.index()) {
            f.demand += d.rate.bps();
        }
    }
    for da in &alloc.demands {
        let Some(d) = tm.demands().get(da.demand.index()) else {
            continue;
        };
        if let Some(f) = out.get_mut(d.class.index()) {
            f.carried += da.carried();
        }
    }
    out
}

pub fn summarize(topo: &Topology, tm: &TrafficMatrix, alloc: &Allocation) -> Summary {
    let total_demand = tm.total();
    let carried = alloc.carried();
    let mut load = vec![0.0; topo.link_count()];
    for pf in alloc.demands.iter().flat_map(|d| &d.paths) {
        for l in pf.path.links.iter() {
            if let Some(x) = load.get_mut(l.index()) {
                *x += pf.rate;
            }
        }
    }
    let mut mlu = 0.0;
    let mut max_load_link = None;
    for (i, l) in topo.links().iter().enumerate() {
        let u = load[i] / l.capacity.bps();
        if load[i] > 0.0 && u > mlu {
            mlu = u;
            max_load_link = Some(LinkId(i as u32));
        }
    }
    let mut carried_by_demand = vec![0.0; tm.len()];
    for da in &alloc.demands {
        if let Some(c) = carried_by_demand.get_mut(da.demand.index()) {
            *c += da.carried();
        }
    }
    let concurrent = tm
        .demands()
        .iter()
        .zip(&carried_by_demand)
        .filter(|(d, _)| d.rate.bps() > 0.0)
        .map(|(d, c)| c / d.rate.bps())
        .fold(1.0_f64, f64::min);
    Summary {
        total_demand,
        carried,
        fraction: if total_demand > 0.0 {
            carried / total_demand
        } else {
            1.0
        },
        mlu,
        max_load_link,
        concurrent,
        per_class: class_figures(tm, alloc),
    }
}
