//! Inputs ([`Event`]) and outputs ([`Effect`]) of the routing state machine.
//!
//! Every method of [`Router`](crate::Router) that changes state has an [`Event`] twin, so a host
//! can journal events and replay them ([`Router::handle`](crate::Router::handle)): the same events
//! at the same times always produce the same effects (invariant 7) and the same state (invariant 8).

use crate::{
    AgentId, AgentSpec, AgentState, Channel, CustomerProfile, OfferId, Priority, QueueId,
    Requirements, TaskId, TaskSpec, Time,
};
use serde::{Deserialize, Serialize};

/// An input to the router. Pair it with the time it happened and pass both to
/// [`Router::handle`](crate::Router::handle).
///
/// # Example
/// ```
/// use switchboard::{Event, Router, RouterConfig, Time, AgentSpec, AgentId, AgentState, Channel};
/// let mut router = Router::new(RouterConfig::default()).unwrap();
/// let join = Event::AddAgent(AgentSpec::new(AgentId(1)).capacity(Channel::Chat, 3)
///     .state(AgentState::Available));
/// router.handle(Time::ZERO, join.clone()).unwrap();
/// let line = serde_json::to_string(&join).unwrap();     // journal it
/// let back: Event = serde_json::from_str(&line).unwrap();
/// assert_eq!(back, join);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// [`Router::add_agent`](crate::Router::add_agent).
    AddAgent(AgentSpec),
    /// [`Router::update_agent`](crate::Router::update_agent).
    UpdateAgent(AgentSpec),
    /// [`Router::remove_agent`](crate::Router::remove_agent).
    RemoveAgent {
        /// The agent.
        agent: AgentId,
    },
    /// [`Router::set_agent_state`](crate::Router::set_agent_state).
    SetAgentState {
        /// The agent.
        agent: AgentId,
        /// The new state.
        state: AgentState,
    },
    /// [`Router::arrive`](crate::Router::arrive).
    Arrive(TaskSpec),
    /// [`Router::accept`](crate::Router::accept).
    Accept {
        /// The offer.
        offer: OfferId,
        /// The agent answering.
        agent: AgentId,
    },
    /// [`Router::reject`](crate::Router::reject).
    Reject {
        /// The offer.
        offer: OfferId,
        /// The agent answering.
        agent: AgentId,
    },
    /// [`Router::complete`](crate::Router::complete).
    Complete {
        /// The task.
        task: TaskId,
    },
    /// [`Router::finish_wrap_up`](crate::Router::finish_wrap_up).
    FinishWrapUp {
        /// The task.
        task: TaskId,
    },
    /// [`Router::cancel`](crate::Router::cancel).
    Cancel {
        /// The task.
        task: TaskId,
    },
    /// [`Router::abandon`](crate::Router::abandon).
    Abandon {
        /// The task.
        task: TaskId,
    },
    /// [`Router::transfer`](crate::Router::transfer).
    Transfer {
        /// The task.
        task: TaskId,
        /// The new channel.
        channel: Channel,
        /// The new hard requirements.
        requirements: Requirements,
    },
    /// [`Router::reprioritize`](crate::Router::reprioritize).
    Reprioritize {
        /// The task.
        task: TaskId,
        /// New priority.
        priority: Priority,
        /// New customer profile.
        customer: CustomerProfile,
    },
    /// [`Router::retarget`](crate::Router::retarget).
    Retarget {
        /// The task.
        task: TaskId,
        /// The new target.
        target: crate::Retarget,
    },
    /// [`Router::set_shares`](crate::Router::set_shares).
    SetShares {
        /// The new shares.
        shares: Vec<crate::TenantShare>,
    },
    /// [`Router::handle_timeout`](crate::Router::handle_timeout).
    Tick,
    /// [`Router::dispatch_batch`](crate::Router::dispatch_batch).
    DispatchBatch,
}

/// Why an offer was withdrawn.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RescindReason {
    /// Another agent accepted first (fan-out).
    TakenByOther,
    /// The task was cancelled.
    Cancelled,
    /// The customer abandoned.
    Abandoned,
    /// The task waited longer than its maximum.
    TimedOut,
    /// The task was transferred.
    Transferred,
    /// The agent left `Available` or was removed.
    AgentUnavailable,
    /// The agent's skills changed and no longer meet the task's requirements.
    NoLongerEligible,
}

/// Why a task (re-)entered a queue.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueReason {
    /// It arrived.
    Arrived,
    /// Its only outstanding offer was rejected.
    Rejected,
    /// Its only outstanding offer expired.
    Expired,
    /// Its offer was rescinded because the agent became unavailable or ineligible.
    Rescinded,
    /// The agent serving it went offline or was removed.
    AgentOffline,
    /// It was transferred.
    Transferred,
    /// It was given a new target ([`Router::retarget`](crate::Router::retarget)).
    Retargeted,
}

/// An output of the router: something the host must carry out or may record. Drain them with
/// [`Router::poll_effect`](crate::Router::poll_effect) or
/// [`Router::drain_effects`](crate::Router::drain_effects).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Effect {
    /// Deliver this offer to the agent. It expires at `expires_at`.
    Offer {
        /// The offer id to answer with.
        offer: OfferId,
        /// The task.
        task: TaskId,
        /// The agent.
        agent: AgentId,
        /// The channel.
        channel: Channel,
        /// End of the lease.
        expires_at: Time,
    },
    /// Withdraw this offer from the agent.
    OfferRescinded {
        /// The offer.
        offer: OfferId,
        /// The task.
        task: TaskId,
        /// The agent.
        agent: AgentId,
        /// Why.
        reason: RescindReason,
    },
    /// The offer's lease ran out; tell the agent it is gone.
    OfferExpired {
        /// The offer.
        offer: OfferId,
        /// The task.
        task: TaskId,
        /// The agent.
        agent: AgentId,
    },
    /// The agent accepted: connect the customer.
    Assigned {
        /// The task.
        task: TaskId,
        /// The agent.
        agent: AgentId,
        /// The accepted offer.
        offer: OfferId,
    },
    /// The task is waiting in a queue.
    Queued {
        /// The task.
        task: TaskId,
        /// The queue.
        queue: QueueId,
        /// Why.
        reason: QueueReason,
    },
    /// Service ended; the agent's capacity is held for wrap-up until `until`.
    WrapUpStarted {
        /// The task.
        task: TaskId,
        /// The agent.
        agent: AgentId,
        /// When wrap-up ends by itself.
        until: Time,
    },
    /// The task is done and the agent's capacity is free.
    Completed {
        /// The task.
        task: TaskId,
        /// The agent who served it.
        agent: AgentId,
    },
    /// The task was cancelled by the host.
    Cancelled {
        /// The task.
        task: TaskId,
    },
    /// The customer gave up.
    Abandoned {
        /// The task.
        task: TaskId,
    },
    /// The task waited past its `max_wait_ms` and was removed.
    TimedOut {
        /// The task.
        task: TaskId,
    },
    /// The agent missed `max_missed_offers` offers in a row and was set `Away`.
    AgentAutoAway {
        /// The agent.
        agent: AgentId,
    },
}
