//! Queues and the ordering of waiting tasks.
//!
//! # The ordering formula
//!
//! Waiting tasks are ordered first by **priority class** (higher first, strictly), then by their
//! **priority score at time `now`**:
//!
//! ```text
//! score(now) = S + aging · wait(now) + urgency · (wait(now) − sla)
//!   S        = Scoring::task_score  (default: base + value_tier·w_value − sentiment·w_sentiment)
//!   wait(now)= now − created_at     (seconds)
//!   sla      = the task's SLA target (seconds)
//! ```
//!
//! and finally by arrival sequence (earlier first). Because every task ages at the same rates
//! `aging` and `urgency`, `score(now) − (aging + urgency)·now` does not depend on `now`:
//!
//! ```text
//! key = S − (aging + urgency) · created_at − urgency · sla
//! ```
//!
//! so the router stores this static **key** in an ordered map and never re-sorts as time passes.
//! The order between two tasks changes only through events (a priority or sentiment update), which
//! re-key one task in `O(log n)`. A task that is offered and comes back (rejected, expired,
//! rescinded, agent went offline) keeps its key and sequence number, so it returns to exactly its
//! old place. A task whose SLA target is shorter overtakes one that arrived slightly earlier with a
//! looser target: `urgency · Δsla` points. Starvation within a class is impossible: a waiting task's
//! score grows without bound relative to any newer arrival with the same `S`.

use crate::{Channel, Requirements, TaskId, TenantId};
use ordered_float::NotNan;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

/// Identifies a queue: one per distinct (channel, canonical hard requirements, tenant if
/// certification is required).
///
/// # Example
/// ```
/// use switchboard::QueueId;
/// assert_eq!(QueueId(3).to_string(), "q3");
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct QueueId(pub u32);

impl fmt::Display for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "q{}", self.0)
    }
}

/// The weights of the ordering formula (see the [module docs](crate::queue)). All must be finite;
/// `aging` and `urgency` must be non-negative.
///
/// # Example
/// ```
/// use switchboard::PriorityWeights;
/// let w = PriorityWeights::default();
/// // One point per minute waited; a value tier is worth five minutes of waiting.
/// assert_eq!(w.aging_per_sec, 1.0 / 60.0);
/// assert_eq!(w.value_tier, 5.0);
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PriorityWeights {
    /// Points per customer value tier.
    pub value_tier: f64,
    /// Points per unit of negative sentiment (`sentiment = -1` adds this much).
    pub sentiment: f64,
    /// Points per second waited.
    pub aging_per_sec: f64,
    /// Points per second of SLA urgency (per second closer to, or past, the SLA deadline).
    pub urgency_per_sec: f64,
}

impl Default for PriorityWeights {
    fn default() -> Self {
        PriorityWeights {
            value_tier: 5.0,
            sentiment: 5.0,
            aging_per_sec: 1.0 / 60.0,
            urgency_per_sec: 1.0 / 60.0,
        }
    }
}

impl PriorityWeights {
    /// The static key of a task (see the module docs). `created_secs` and `sla_secs` in seconds.
    #[must_use]
    pub fn key(&self, score: f64, created_secs: f64, sla_secs: f64) -> f64 {
        score
            - (self.aging_per_sec + self.urgency_per_sec) * created_secs
            - self.urgency_per_sec * sla_secs
    }

    /// The priority score at `now_secs` of a task with static score `score`.
    #[must_use]
    pub fn score_at(&self, score: f64, created_secs: f64, sla_secs: f64, now_secs: f64) -> f64 {
        let wait = now_secs - created_secs;
        score + self.aging_per_sec * wait + self.urgency_per_sec * (wait - sla_secs)
    }
}

/// A waiting task's place: class, static key, arrival sequence. `Ord` puts the task to serve
/// first *first* (`a < b` means `a` goes before `b`).
///
/// # Example
/// ```
/// use switchboard::OrderKey;
/// let vip = OrderKey::new(1, 0.0, 7).unwrap();
/// let normal_old = OrderKey::new(0, 50.0, 1).unwrap();
/// assert!(vip < normal_old);                                 // class beats score
/// assert!(OrderKey::new(0, 2.0, 9).unwrap() < OrderKey::new(0, 1.0, 1).unwrap());
/// assert!(OrderKey::new(0, 1.0, 1).unwrap() < OrderKey::new(0, 1.0, 2).unwrap());
/// assert!(OrderKey::new(0, f64::NAN, 1).is_none());
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OrderKey {
    /// Priority class (higher first).
    pub class: u8,
    /// Static key (higher first).
    pub key: NotNan<f64>,
    /// Arrival sequence (lower first).
    pub seq: u64,
}

impl OrderKey {
    /// A key, or `None` if `key` is NaN or infinite.
    #[must_use]
    pub fn new(class: u8, key: f64, seq: u64) -> Option<Self> {
        if !key.is_finite() {
            return None;
        }
        NotNan::new(key)
            .ok()
            .map(|key| OrderKey { class, key, seq })
    }
}

impl Ord for OrderKey {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .class
            .cmp(&self.class)
            .then_with(|| other.key.cmp(&self.key))
            .then_with(|| self.seq.cmp(&other.seq))
    }
}

impl PartialOrd for OrderKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// One queue: tasks with identical hard requirements, in serving order.
#[derive(Debug, Clone)]
pub(crate) struct Queue {
    pub(crate) id: QueueId,
    pub(crate) channel: Channel,
    pub(crate) cert_tenant: Option<TenantId>,
    /// The tenant whose tasks this queue holds, when tenant shares are configured (waiting lines
    /// are then kept per tenant so that a freed agent can rank heads by tenant tier).
    pub(crate) tenant: Option<TenantId>,
    pub(crate) requirements: Requirements,
    pub(crate) waiting: BTreeMap<OrderKey, TaskId>,
    /// Agents (by slot) meeting the requirements, whatever their presence or load.
    pub(crate) eligible: fixedbitset::FixedBitSet,
    /// Number of bits set in `eligible`.
    pub(crate) eligible_n: u32,
    /// After a strategy-index walk for this queue gives up, the next this-many routings skip
    /// the walk and scan the candidate bitsets directly (a performance hint, not state that
    /// affects any decision).
    pub(crate) skip_walks: u16,
}

/// Hash key of a queue.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct QueueSig {
    pub(crate) channel: Channel,
    pub(crate) cert_tenant: Option<TenantId>,
    pub(crate) tenant: Option<TenantId>,
    pub(crate) requirements: Requirements,
}
