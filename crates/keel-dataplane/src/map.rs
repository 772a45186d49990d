use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::DataplaneError;

/// Which kernel interface carries which topology link at this site: link id
/// (`A->B`) to interface name. Given by the site's operator (or the lab).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InterfaceMap(pub BTreeMap<String, String>);

impl InterfaceMap {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or changes one entry; returns the map for chaining.
    pub fn with(mut self, link: impl Into<String>, ifname: impl Into<String>) -> Self {
        self.0.insert(link.into(), ifname.into());
        self
    }

    /// Reads `{"A->B": "eth1", ...}`.
    pub fn from_json(text: &str) -> Result<Self, DataplaneError> {
        let map: Self =
            serde_json::from_str(text).map_err(|e| DataplaneError::Map(e.to_string()))?;
        for (link, ifname) in &map.0 {
            // The kernel's limit (IFNAMSIZ - 1); a longer name can never match.
            if ifname.is_empty() || ifname.len() > 15 {
                return Err(DataplaneError::Map(format!(
                    "link {link}: interface name {ifname:?} is not a valid Linux name"
                )));
            }
        }
        Ok(map)
    }

    pub fn to_json(&self) -> String {
        // A map of strings always serialises.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The interface of a link.
    pub fn lookup(&self, link: &str) -> Option<&str> {
        self.0.get(link).map(String::as_str)
    }

    /// The link an interface carries (the reverse lookup, for link events).
    pub fn link_of(&self, ifname: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(_, i)| i.as_str() == ifname)
            .map(|(l, _)| l.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(l, i)| (l.as_str(), i.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_and_lookups() {
        let m = InterfaceMap::new().with("A->B", "ab").with("A->C", "ac");
        let back = InterfaceMap::from_json(&m.to_json()).expect("parses");
        assert_eq!(back, m);
        assert_eq!(back.lookup("A->C"), Some("ac"));
        assert_eq!(back.link_of("ab"), Some("A->B"));
        assert_eq!(back.lookup("B->A"), None);
    }

    #[test]
    fn rejects_bad_names() {
        assert!(InterfaceMap::from_json(r#"{"A->B": "a-very-long-interface-name"}"#).is_err());
        assert!(InterfaceMap::from_json(r#"{"A->B": 3}"#).is_err());
    }
}
