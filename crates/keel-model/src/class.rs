use serde::{Deserialize, Serialize};

use crate::{Latency, ModelError};

/// Index of a class in its [`ClassSet`]; lower priority value = served first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClassId(pub u16);

impl ClassId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A class of service. Classes are served in strict priority order (0 first), the
/// B4/SWAN way; a latency bound restricts the class to paths within it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassOfService {
    pub name: String,
    pub priority: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_bound: Option<Latency>,
    /// DSCP code point the ingress marks this class with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dscp: Option<u8>,
}

/// The classes known to a traffic matrix, by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClassSet {
    classes: Vec<ClassOfService>,
}

impl Default for ClassSet {
    /// Six standard classes, highest priority first, with their usual DSCP marks
    /// (EF, AF41, AF31, AF21, AF11, default).
    fn default() -> Self {
        let c = |name: &str, priority, dscp| ClassOfService {
            name: name.to_string(),
            priority,
            latency_bound: None,
            dscp: Some(dscp),
        };
        ClassSet {
            classes: vec![
                c("voice", 0, 46),
                c("video", 1, 34),
                c("interactive", 2, 26),
                c("business", 3, 18),
                c("bulk", 4, 10),
                c("best-effort", 5, 0),
            ],
        }
    }
}

impl ClassSet {
    pub fn new(classes: Vec<ClassOfService>) -> Result<Self, ModelError> {
        if classes.is_empty() {
            return Err(ModelError::Invalid(
                "a class set needs at least one class".into(),
            ));
        }
        for (i, c) in classes.iter().enumerate() {
            if c.name.trim().is_empty() {
                return Err(ModelError::Invalid(format!("class #{i} has an empty name")));
            }
            if classes[..i].iter().any(|o| o.name == c.name) {
                return Err(ModelError::DuplicateClass(c.name.clone()));
            }
            if let Some(d) = c.dscp.filter(|d| *d > 63) {
                return Err(ModelError::Invalid(format!(
                    "class `{}`: DSCP {d} is out of range 0..=63",
                    c.name
                )));
            }
        }
        if classes.len() > u16::MAX as usize {
            return Err(ModelError::Invalid("too many classes".into()));
        }
        Ok(ClassSet { classes })
    }

    /// The class used when a demand names none.
    pub fn default_class(&self) -> ClassId {
        self.by_name("best-effort").unwrap_or_else(|| {
            // The lowest-priority class: the safest default for unlabelled traffic.
            let idx = (0..self.classes.len())
                .max_by_key(|&i| self.classes[i].priority)
                .unwrap_or(0);
            ClassId(idx as u16)
        })
    }

    pub fn by_name(&self, name: &str) -> Option<ClassId> {
        self.classes
            .iter()
            .position(|c| c.name == name)
            .map(|i| ClassId(i as u16))
    }

    pub fn resolve(&self, name: &str) -> Result<ClassId, ModelError> {
        self.by_name(name)
            .ok_or_else(|| ModelError::UnknownClass(name.to_string()))
    }

    pub fn get(&self, id: ClassId) -> &ClassOfService {
        &self.classes[id.index()]
    }

    pub fn len(&self) -> usize {
        self.classes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (ClassId, &ClassOfService)> {
        self.classes
            .iter()
            .enumerate()
            .map(|(i, c)| (ClassId(i as u16), c))
    }

    /// Distinct priority levels, highest priority (smallest value) first.
    pub fn priority_levels(&self) -> Vec<u8> {
        let mut p: Vec<u8> = self.classes.iter().map(|c| c.priority).collect();
        p.sort_unstable();
        p.dedup();
        p
    }
}
