//! The router's error type.
//!
//! Every operation validates its input completely before it changes anything: when a call returns an
//! error, the router's state and its pending effects are exactly as they were before the call.

use crate::{AgentId, OfferId, TaskId, Time};
use thiserror::Error;

/// Everything that can go wrong when driving a [`Router`](crate::Router).
///
/// # Example
/// ```
/// use switchboard::{Router, RouterConfig, RouterError, Time, AgentId};
/// let mut router = Router::new(RouterConfig::default()).unwrap();
/// let err = router.remove_agent(Time::ZERO, AgentId(9)).unwrap_err();
/// assert_eq!(err, RouterError::UnknownAgent(AgentId(9)));
/// assert_eq!(err.to_string(), "unknown agent 9");
/// ```
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum RouterError {
    /// No agent with this id is registered.
    #[error("unknown agent {0}")]
    UnknownAgent(AgentId),
    /// An agent with this id is already registered.
    #[error("agent {0} is already registered")]
    DuplicateAgent(AgentId),
    /// No live task with this id exists.
    #[error("unknown task {0}")]
    UnknownTask(TaskId),
    /// A live task with this id already exists.
    #[error("task {0} already exists")]
    DuplicateTask(TaskId),
    /// No outstanding offer with this id exists (never made, already answered, rescinded or expired).
    #[error("unknown or already settled offer {0}")]
    UnknownOffer(OfferId),
    /// The offer was made to a different agent.
    #[error("offer {offer} was made to agent {expected}, not agent {got}")]
    WrongAgent {
        /// The offer answered.
        offer: OfferId,
        /// The agent the offer was made to.
        expected: AgentId,
        /// The agent who answered.
        got: AgentId,
    },
    /// The offer's lease ran out before the answer arrived.
    #[error("offer {offer} expired at {expired_at}, answer came at {now}")]
    OfferExpired {
        /// The offer answered.
        offer: OfferId,
        /// When the lease ended.
        expired_at: Time,
        /// When the answer arrived.
        now: Time,
    },
    /// A call carried a time earlier than one the router has already seen.
    #[error("time went backwards: last seen {last}, got {now}")]
    TimeWentBackwards {
        /// The latest time seen so far.
        last: Time,
        /// The time passed in.
        now: Time,
    },
    /// A score, weight or sentiment was NaN or infinite, or outside its documented range.
    #[error("invalid number for {field}: {value}")]
    InvalidNumber {
        /// Which input field.
        field: &'static str,
        /// The value given.
        value: f64,
    },
    /// An agent was given no capacity on any channel.
    #[error("agent {0} has zero capacity on every channel")]
    ZeroCapacity(AgentId),
    /// An agent's new capacity on a channel is below the work it already holds there.
    #[error("agent {agent}: capacity {capacity} on {channel} is below its current load {load}")]
    CapacityBelowLoad {
        /// The agent.
        agent: AgentId,
        /// The channel.
        channel: crate::Channel,
        /// Requested capacity.
        capacity: u16,
        /// Current load (in service, wrap-up and offered).
        load: u16,
    },
    /// A skill level outside `1..=MAX_LEVEL`.
    #[error("skill level {level} out of range 1..={max}")]
    InvalidLevel {
        /// The level given.
        level: u8,
        /// The highest level allowed.
        max: u8,
    },
    /// A skill, tag or tenant id that the router's catalog never issued.
    #[error("unknown {kind} id {id}")]
    UnknownName {
        /// "skill", "tag" or "tenant".
        kind: &'static str,
        /// The raw id.
        id: u32,
    },
    /// The operation is not allowed in the task's current state.
    #[error("task {task} is {state}; cannot {operation}")]
    InvalidTaskState {
        /// The task.
        task: TaskId,
        /// Its current state.
        state: &'static str,
        /// What was attempted.
        operation: &'static str,
    },
    /// A saved [`RouterState`](crate::RouterState) is internally inconsistent.
    #[error("corrupt router state: {0}")]
    CorruptState(String),
    /// A saved state or journal was written with an incompatible schema version.
    #[error("incompatible state schema version {found} (this build reads version {expected})")]
    IncompatibleState {
        /// Version found.
        found: u32,
        /// Version this build understands.
        expected: u32,
    },
    /// A configuration value is invalid.
    #[error("invalid configuration: {path}: {problem}")]
    InvalidConfig {
        /// Path of the field, e.g. `offer_timeout_ms`.
        path: &'static str,
        /// What is wrong.
        problem: String,
    },
}

/// A broken state invariant, found by [`Router::check_invariants`](crate::Router::check_invariants)
/// or [`Router::check_work_conservation`](crate::Router::check_work_conservation): always a bug in
/// the router, never the caller's fault.
///
/// # Example
/// ```
/// use switchboard::{Router, RouterConfig};
/// let router = Router::new(RouterConfig::default()).unwrap();
/// assert_eq!(router.check_invariants(), Ok(()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct InvariantViolation {
    /// What is wrong, e.g. `task 7 is in a queue but not waiting`.
    pub message: String,
}
