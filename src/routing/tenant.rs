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

/// A tenant's share of the shared pool (see [`RouterConfig::shares`](crate::RouterConfig::shares)).
///
/// Counted in **tasks holding capacity**: a task counts against its tenant from the moment it is
/// offered until its wrap-up ends (a fanned-out offer counts once).
///
/// * `reserved`: while the tenant holds fewer tasks than this and has a task waiting, any freed
///   capacity that task can use goes to it (or to another tenant below its own reservation)
///   before it goes to a tenant at or over its reservation.
/// * `cap`: a tenant holding this many tasks or more is served only with capacity that no
///   tenant under its cap can use right now — it *borrows* idle capacity, so nothing sits idle
///   while anyone waits, but it never takes capacity another tenant within its share could use.
///
/// # Example
/// ```
/// use switchboard::{TenantId, TenantShare};
/// let s: TenantShare = serde_json::from_str(r#"{"tenant": 3, "reserved": 50, "cap": 400}"#).unwrap();
/// assert_eq!(s, TenantShare { tenant: TenantId(3), reserved: 50, cap: Some(400) });
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantShare {
    /// The tenant.
    pub tenant: TenantId,
    /// Tasks in hand below which the tenant is served first.
    #[serde(default)]
    pub reserved: u32,
    /// Tasks in hand from which the tenant only borrows idle capacity (`None`: no cap).
    #[serde(default)]
    pub cap: Option<u32>,
}

impl TenantShare {
    /// The tenant's tier with `held` tasks in hand: 0 below its reservation, 1 within its share,
    /// 2 at or over its cap (borrowing). Lower tiers are served first.
    #[must_use]
    pub fn tier(&self, held: u32) -> u8 {
        if held < self.reserved {
            0
        } else if self.cap.is_none_or(|c| held < c) {
            1
        } else {
            2
        }
    }
}
