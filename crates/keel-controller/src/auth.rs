//! Bearer tokens and roles. Secrets are shown once and stored only as SHA-256
//! hashes; a 256-bit random secret needs no salt or slow hash to resist guessing.

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, Code};

/// Ordered by power: each role may do what the roles before it may, except that a
/// tenant is confined to its own services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Reads the network, services and allocations; changes nothing.
    Viewer,
    /// Manages its own tenant's services and sees only them.
    Tenant,
    /// Operates the network: drains, capacities, failure injection, any service.
    Operator,
    /// Everything, including tokens.
    Admin,
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "tenant" => Ok(Role::Tenant),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            _ => Err(format!(
                "unknown role `{s}`; one of admin, operator, tenant, viewer"
            )),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Viewer => "viewer",
            Role::Tenant => "tenant",
            Role::Operator => "operator",
            Role::Admin => "admin",
        })
    }
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    pub name: String,
    pub role: Role,
    /// Set exactly for tenant tokens.
    pub tenant: Option<String>,
}

impl Principal {
    pub fn system() -> Self {
        Principal {
            name: "controller".into(),
            role: Role::Admin,
            tenant: None,
        }
    }

    /// Reading the network and every service.
    pub fn can_read_network(&self) -> bool {
        self.role != Role::Tenant
    }

    pub fn can_operate(&self) -> bool {
        self.role >= Role::Operator
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Whether this caller may see or change a service of `tenant`.
    pub fn owns(&self, tenant: &str) -> bool {
        match self.role {
            Role::Tenant => self.tenant.as_deref() == Some(tenant),
            Role::Viewer => false,
            Role::Operator | Role::Admin => true,
        }
    }

    pub fn require(&self, ok: bool, what: &str) -> Result<(), ApiError> {
        if ok {
            Ok(())
        } else {
            Err(ApiError::new(
                Code::Forbidden,
                format!("role {} may not {what}", self.role),
            ))
        }
    }
}

/// A fresh secret: `keel_` and 64 hex digits.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("keel_{}", hex(&bytes))
}

pub fn hash(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_unique_and_hash_stably() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert_eq!(a.len(), 5 + 64);
        assert_eq!(hash(&a), hash(&a));
        assert_ne!(hash(&a), hash(&b));
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn tenants_own_only_their_services() {
        let t = Principal {
            name: "t".into(),
            role: Role::Tenant,
            tenant: Some("acme".into()),
        };
        assert!(t.owns("acme"));
        assert!(!t.owns("globex"));
        assert!(!t.can_read_network());
        let v = Principal {
            name: "v".into(),
            role: Role::Viewer,
            tenant: None,
        };
        assert!(v.can_read_network() && !v.owns("acme") && !v.can_operate());
        assert!(Principal::system().owns("anyone"));
    }
}
