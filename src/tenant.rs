//! Tenants: the brands served from the shared pool.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An interned tenant (brand).
///
/// # Example
/// ```
/// use switchboard::Catalog;
/// let mut catalog = Catalog::new();
/// let brand = catalog.tenant("acme-fashion");
/// assert_eq!(catalog.tenant_name(brand), Some("acme-fashion"));
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TenantId(pub u32);

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tenant#{}", self.0)
    }
}
