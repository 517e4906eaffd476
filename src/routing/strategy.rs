//! Agent selection strategies and the scoring trait ([`Scoring`]).
//!
//! When a task can go to several free, eligible agents, the task's [`Strategy`] picks among them.
//! Every strategy ends its comparison with the agents' registration order, so the choice is
//! deterministic. Agents that declined the task earlier (and whose back-off is over) are only
//! considered after every agent that has not declined it.

use crate::{AgentId, AgentKind, Capacity, Channel, CustomerProfile, Preferences, Priority};
use crate::{PriorityWeights, Requirements, ScoreWeights, SkillId, TagId, TenantId};
use serde::{Deserialize, Serialize};

/// How to pick among eligible agents with free capacity.
///
/// | strategy | picks | tie-break |
/// |---|---|---|
/// | `BestScore` | highest [`Scoring::match_score`] | registration order |
/// | `LongestIdle` | earliest *idle key*: the later of the agent's last accepted assignment (or becoming available) and its newest pending offer — rejected or expired offers do not reset it | registration order |
/// | `LeastOccupied` | lowest load ÷ capacity on the task's channel, then most spare slots | idle key, then registration order |
/// | `RoundRobin` | next agent after the previous round-robin pick on this channel, in registration order, wrapping | — |
/// | `Random` | uniform, from the router's seeded generator | — |
///
/// # Example
/// ```
/// use switchboard::Strategy;
/// let s: Strategy = serde_json::from_str("\"least_occupied\"").unwrap();
/// assert_eq!(s, Strategy::LeastOccupied);
/// ```
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Highest match score (skill levels and soft preferences).
    BestScore,
    /// The agent who has waited longest for work.
    #[default]
    LongestIdle,
    /// The agent with the most spare capacity on the channel (spreads multi-chat load).
    LeastOccupied,
    /// Rotate through agents.
    RoundRobin,
    /// Seeded uniform choice.
    Random,
}

/// What a [`Scoring`] sees of an agent.
#[derive(Debug, Clone, Copy)]
pub struct AgentView<'a> {
    /// The agent's id.
    pub id: AgentId,
    /// Human or bot.
    pub kind: AgentKind,
    /// Skills and levels, sorted by skill.
    pub skills: &'a [(SkillId, u8)],
    /// Tags, sorted.
    pub tags: &'a [TagId],
    /// Certifications, sorted.
    pub certifications: &'a [TenantId],
    /// Capacity per channel.
    pub capacity: Capacity,
    /// Current load per channel (offers + in service + wrap-up).
    pub load: [u16; Channel::COUNT],
}

impl AgentView<'_> {
    /// The agent's level in `skill`, if it has it.
    #[must_use]
    pub fn level(&self, skill: SkillId) -> Option<u8> {
        self.skills
            .binary_search_by_key(&skill, |&(s, _)| s)
            .ok()
            .map(|i| self.skills[i].1)
    }
    /// Whether the agent carries `tag`.
    #[must_use]
    pub fn has_tag(&self, tag: TagId) -> bool {
        self.tags.binary_search(&tag).is_ok()
    }
}

/// What a [`Scoring`] sees of a task.
#[derive(Debug, Clone, Copy)]
pub struct TaskView<'a> {
    /// The tenant.
    pub tenant: TenantId,
    /// The channel.
    pub channel: Channel,
    /// Canonical hard requirements.
    pub requirements: &'a Requirements,
    /// Soft preferences.
    pub preferences: &'a Preferences,
    /// Customer profile.
    pub customer: CustomerProfile,
    /// Priority.
    pub priority: Priority,
    /// SLA target in ms.
    pub sla_ms: u64,
}

/// Replaceable scoring: the host can swap the default formulas without virtual calls, because the
/// router is generic over its policy (`Router<P: Scoring>`).
///
/// Both methods must be pure functions of their arguments (determinism, invariant 7).
///
/// # Example
/// ```
/// use switchboard::{Scoring, AgentView, TaskView, PriorityWeights, ScoreWeights, Router, RouterConfig};
/// /// Serve VIPs first, ignore everything else.
/// #[derive(Debug, Default)]
/// struct VipOnly;
/// impl Scoring for VipOnly {
///     fn task_score(&self, task: &TaskView<'_>, _w: &PriorityWeights) -> f64 {
///         f64::from(task.customer.value_tier) * 100.0
///     }
/// }
/// let router: Router<VipOnly> = Router::with_scoring(RouterConfig::default(), VipOnly).unwrap();
/// # let _ = router;
/// ```
pub trait Scoring {
    /// The static score `S` of a task within its priority class (see
    /// [`PriorityWeights`] for how it combines with aging and SLA urgency). Must be finite, or
    /// the arrival is refused with [`RouterError::InvalidNumber`](crate::RouterError::InvalidNumber).
    fn task_score(&self, task: &TaskView<'_>, weights: &PriorityWeights) -> f64 {
        task.priority.base + weights.value_tier * f64::from(task.customer.value_tier)
            - weights.sentiment * task.customer.sentiment
    }

    /// How well `agent` fits `task` under [`Strategy::BestScore`]; higher is better. Non-finite
    /// results rank below every finite one.
    fn match_score(
        &self,
        agent: &AgentView<'_>,
        task: &TaskView<'_>,
        weights: &ScoreWeights,
    ) -> f64 {
        let mut score = 0.0;
        for req in &task.requirements.skills {
            score += weights.required_level * f64::from(agent.level(req.skill).unwrap_or(0));
        }
        for &(skill, w) in &task.preferences.skills {
            score += w * f64::from(agent.level(skill).unwrap_or(0));
        }
        for &(tag, w) in &task.preferences.tags {
            if agent.has_tag(tag) {
                score += w;
            }
        }
        if task.preferences.preferred_agent == Some(agent.id) {
            score += weights.preferred_agent;
        }
        score
    }
}

/// The default scoring: the formulas documented on [`Scoring`]'s provided methods.
#[derive(Debug, Default, Clone, Copy)]
pub struct DefaultScoring;

impl Scoring for DefaultScoring {}
