//! Egress queueing (tc htb), one class per QoS class of the state.

use std::collections::HashMap;

use keel_southbound::site::SiteState;
use nlink::netlink::{Connection, Route};

use crate::kernel::LinkInfo;
use crate::{DataplaneError, InterfaceMap, ReconcileReport};

pub(crate) async fn reconcile(
    _conn: &Connection<Route>,
    _state: &SiteState,
    _map: &InterfaceMap,
    _links: &HashMap<String, LinkInfo>,
    _report: &mut ReconcileReport,
) -> Result<(), DataplaneError> {
    Ok(())
}

pub(crate) async fn remove_all(
    _conn: &Connection<Route>,
    _links: &HashMap<String, LinkInfo>,
) -> Result<usize, DataplaneError> {
    Ok(0)
}

pub(crate) async fn class_bytes(
    _conn: &Connection<Route>,
    _ifindex: u32,
) -> Result<Vec<(String, u64)>, DataplaneError> {
    Ok(Vec::new())
}
