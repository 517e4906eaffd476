//! Visibility: real-time snapshots and explanations of routing decisions.

use crate::{AgentId, AgentState, Channel, QueueId, SkillId, TagId, TenantId, Time};
use serde::{Deserialize, Serialize};

/// Why an agent cannot be offered a task right now.
///
/// # Example
/// ```
/// use switchboard::{Ineligible, SkillId};
/// let r = Ineligible::LevelTooLow { skill: SkillId(1), have: 3, need: 5 };
/// assert_eq!(r.to_string(), "level 3 in skill#1, needs 5");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Ineligible {
    /// The agent lacks a required skill.
    MissingSkill {
        /// The skill.
        skill: SkillId,
    },
    /// The agent's level is below the requirement.
    LevelTooLow {
        /// The skill.
        skill: SkillId,
        /// The agent's level.
        have: u8,
        /// The required minimum.
        need: u8,
    },
    /// The agent lacks a required tag.
    MissingTag {
        /// The tag.
        tag: TagId,
    },
    /// The agent is not certified for the task's tenant.
    NotCertified {
        /// The tenant.
        tenant: TenantId,
    },
    /// The agent is not `Available`.
    NotAvailable {
        /// Its state.
        state: AgentState,
    },
    /// The agent has no free capacity on the channel.
    AtCapacity {
        /// The channel.
        channel: Channel,
        /// Current load.
        load: u16,
        /// Capacity.
        capacity: u16,
    },
    /// The agent declined this task and its back-off has not ended.
    DeclinedRecently {
        /// When the back-off ends.
        until: Time,
    },
}

impl std::fmt::Display for Ineligible {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ineligible::MissingSkill { skill } => write!(f, "missing {skill}"),
            Ineligible::LevelTooLow { skill, have, need } => {
                write!(f, "level {have} in {skill}, needs {need}")
            }
            Ineligible::MissingTag { tag } => write!(f, "missing {tag}"),
            Ineligible::NotCertified { tenant } => write!(f, "not certified for {tenant}"),
            Ineligible::NotAvailable { state } => write!(f, "agent is {}", state.name()),
            Ineligible::AtCapacity {
                channel,
                load,
                capacity,
            } => write!(f, "at capacity on {channel} ({load}/{capacity})"),
            Ineligible::DeclinedRecently { until } => write!(f, "declined; back-off until {until}"),
        }
    }
}

/// The answer of [`Router::explain`](crate::Router::explain): can this agent take this task now,
/// and if not, every reason why not.
///
/// # Example
/// ```
/// # use switchboard::*;
/// let mut router = Router::new(RouterConfig::default()).unwrap();
/// let returns = router.catalog_mut().skill("returns");
/// let brand = router.catalog_mut().tenant("acme");
/// router.add_agent(Time::ZERO, AgentSpec::new(AgentId(1)).skill(returns, 3)
///     .capacity(Channel::Chat, 2)).unwrap();
/// router.arrive(Time::ZERO, TaskSpec::new(TaskId(1), brand, Channel::Chat)
///     .requires(Requirements::default().skill(returns, 5))).unwrap();
/// let why = router.explain(TaskId(1), AgentId(1)).unwrap();
/// assert!(!why.eligible());
/// assert_eq!(why.reasons.len(), 2); // level too low, and offline
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// The agent.
    pub agent: AgentId,
    /// Every reason the agent cannot take the task now (empty = it can).
    pub reasons: Vec<Ineligible>,
    /// The agent's match score for the task (as `BestScore` would see it).
    pub score: f64,
    /// Whether the agent declined this task before.
    pub declined_before: bool,
}

impl Explanation {
    /// Whether the agent could be offered the task now.
    #[must_use]
    pub fn eligible(&self) -> bool {
        self.reasons.is_empty()
    }
}

/// Real-time view of one queue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueueSnapshot {
    /// The queue.
    pub queue: QueueId,
    /// Its channel.
    pub channel: Channel,
    /// Tasks waiting (not counting offered ones).
    pub waiting: usize,
    /// Longest current wait among waiting tasks (ms since `created_at`).
    pub oldest_wait_ms: u64,
    /// Agents meeting the queue's requirements.
    pub eligible_agents: usize,
    /// Of those, how many are `Available` with free capacity on the channel.
    pub eligible_free: usize,
}

/// Real-time view of one agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentSnapshot {
    /// The agent.
    pub agent: AgentId,
    /// Presence.
    pub state: AgentState,
    /// Load per channel (offers + in service + wrap-up).
    pub load: [u16; Channel::COUNT],
    /// Capacity per channel.
    pub capacity: [u16; Channel::COUNT],
    /// Outstanding offers.
    pub offers: usize,
    /// Time since the agent's idle key (last accepted assignment or becoming available), ms.
    pub idle_ms: u64,
}

/// A point-in-time view of the whole router: [`Router::snapshot`](crate::Router::snapshot).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// When it was taken.
    pub at: Time,
    /// Every queue that has waiting tasks, by id.
    pub queues: Vec<QueueSnapshot>,
    /// Every agent, in registration order.
    pub agents: Vec<AgentSnapshot>,
    /// Live tasks by state: waiting, offered, in service, wrap-up.
    pub tasks_waiting: usize,
    /// Tasks with outstanding offers.
    pub tasks_offered: usize,
    /// Tasks in service.
    pub tasks_in_service: usize,
    /// Tasks in wrap-up.
    pub tasks_wrap_up: usize,
}

/// Lifetime counters of the router (conservation: `arrived = live + completed + cancelled +
/// abandoned + timed_out`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Tasks that arrived.
    pub arrived: u64,
    /// Tasks completed.
    pub completed: u64,
    /// Tasks cancelled.
    pub cancelled: u64,
    /// Tasks abandoned.
    pub abandoned: u64,
    /// Tasks timed out.
    pub timed_out: u64,
    /// Offers made.
    pub offers: u64,
    /// Offers rejected.
    pub rejected: u64,
    /// Offers expired.
    pub expired: u64,
}

/// Agents eligible for a target, by how ready they are ([`Router::eligible_count`](crate::Router::eligible_count)).
///
/// # Example
/// ```
/// use switchboard::explain::EligibleCount;
/// let e = EligibleCount { registered: 3, available: 2, free: 1 };
/// assert!(e.free <= e.available && e.available <= e.registered);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EligibleCount {
    /// Registered agents meeting the target, in any state.
    pub registered: usize,
    /// Of those, agents that are `Available`.
    pub available: usize,
    /// Of those, agents with free capacity on the channel right now.
    pub free: usize,
}
