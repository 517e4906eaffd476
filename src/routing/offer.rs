//! Offers: leases of a task to an agent.
//!
//! An offer reserves one unit of the agent's capacity on the task's channel until it is accepted,
//! rejected, rescinded or expires. Every answer names the offer id; an answer for an offer that is
//! no longer outstanding is refused with [`RouterError::UnknownOffer`](crate::RouterError::UnknownOffer),
//! so a late or duplicated answer can neither assign a task twice nor leak capacity.

use crate::{Strategy, Time};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Unique id of an offer; never reused by a router.
///
/// # Example
/// ```
/// use switchboard::OfferId;
/// assert_eq!(OfferId(5).to_string(), "o5");
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OfferId(pub u64);

impl fmt::Display for OfferId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "o{}", self.0)
    }
}

/// Why an agent received an offer, kept for [`Router::explain_offer`](crate::Router::explain_offer).
///
/// # Example
/// ```
/// use switchboard::{OfferReason, Strategy};
/// let r = OfferReason { strategy: Strategy::BestScore, score: Some(17.0),
///     rank: 0, redeclined: false, batch: false };
/// assert_eq!(r.rank, 0);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OfferReason {
    /// The strategy that chose the agent.
    pub strategy: Strategy,
    /// The agent's match score (only for [`Strategy::BestScore`]; `None` if it was not finite).
    pub score: Option<f64>,

    /// The agent's rank among the agents offered this task at once (0 = first choice).
    pub rank: u32,
    /// Whether the agent had declined this task before (offered again after its back-off
    /// because no agent that had not declined was free).
    pub redeclined: bool,
    /// Whether the offer came from a batch assignment ([`Router::dispatch_batch`](crate::Router::dispatch_batch)),
    /// which maximises the total match score instead of applying the task's strategy.
    #[serde(default)]
    pub batch: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct OfferRec {
    pub(crate) task: crate::TaskId,
    pub(crate) agent: u32,
    pub(crate) created_at: Time,
    pub(crate) expires_at: Time,
    /// Sequence number of the expiry timer.
    pub(crate) timer: u64,
    pub(crate) reason: OfferReason,
}
