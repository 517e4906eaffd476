//! How loaded the human side looks to the escalation engine, observed from the router.

use crate::TenantId;
use crate::escalation::{Load, LoadSource, Topic};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Weight of the newest observed wait (an exponentially weighted mean over answers and
/// abandons).
pub const LOAD_ALPHA: f64 = 0.05;

/// The escalation engine's view of the human side inside an
/// [`Operation`](super::Operation): per brand, the exponentially weighted wait of its human
/// requests (each answer or abandonment adds one observation) against its SLA, and whether any
/// human is registered at all.
///
/// Thresholds of soft escalations rise with this load (see the escalation policy's `load`
/// section), so a peak holds back borderline hand-overs instead of queueing them.
///
/// # Example
/// ```
/// use switchboard::operation::ObservedLoad;
/// use switchboard::escalation::LoadSource;
/// use switchboard::TenantId;
/// let mut load = ObservedLoad::default();
/// load.observe_wait(TenantId(0), 60_000, 30_000);
/// let seen = load.load(TenantId(0), None);
/// assert_eq!(seen.projected_wait_ms, 3_000); // 5% of the first 60 s wait
/// assert_eq!(seen.sla_ms, 30_000);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ObservedLoad {
    /// Per brand: weighted wait (ms) and the SLA (ms) it is measured against.
    per: BTreeMap<TenantId, (f64, u64)>,
    /// Whether any human is registered: derived from the router before every use, so it is not
    /// part of the saved state.
    #[serde(skip)]
    staffed: bool,
}

impl ObservedLoad {
    /// Adds one observed wait of a request of `tenant` whose SLA is `sla_ms`.
    pub fn observe_wait(&mut self, tenant: TenantId, wait_ms: u64, sla_ms: u64) {
        let e = self.per.entry(tenant).or_insert((0.0, sla_ms));
        #[allow(clippy::cast_precision_loss)]
        {
            e.0 += LOAD_ALPHA * (wait_ms as f64 - e.0);
        }
        e.1 = sla_ms;
    }

    /// Records whether any human is registered.
    pub fn set_staffed(&mut self, staffed: bool) {
        self.staffed = staffed;
    }

    /// The weighted wait of `tenant`'s requests so far (ms), if any were observed.
    #[must_use]
    pub fn wait_ms(&self, tenant: TenantId) -> Option<f64> {
        self.per.get(&tenant).map(|e| e.0)
    }
}

impl LoadSource for ObservedLoad {
    fn load(&self, tenant: TenantId, _topic: Option<Topic>) -> Load {
        match self.per.get(&tenant) {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Some(&(w, sla)) => Load {
                projected_wait_ms: w.max(0.0) as u64,
                sla_ms: sla,
                staffed: self.staffed,
                in_hours: true,
            },
            None => Load {
                staffed: self.staffed,
                ..Load::quiet()
            },
        }
    }
}
