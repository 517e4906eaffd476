//! Tasks: the units of work the router places.

use crate::{AgentId, Channel, SkillId, SkillReq, Strategy, TagId, TenantId, Time};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The host's id for a task.
///
/// # Example
/// ```
/// use switchboard::TaskId;
/// assert_eq!(TaskId(7).to_string(), "7");
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskId(pub u64);

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Hard requirements: an agent that misses any of them is never offered the task.
///
/// Tasks with equal requirements (after [`Requirements::canonical`]) and the same channel share one
/// [queue](crate::QueueId).
///
/// # Example
/// ```
/// use switchboard::{Requirements, SkillId, TagId};
/// let r = Requirements::default()
///     .skill(SkillId(2), 5)
///     .skill(SkillId(1), 3)
///     .skill(SkillId(2), 7)
///     .tag(TagId(0))
///     .certified();
/// let c = r.canonical();
/// assert_eq!(c.skills.len(), 2);            // skill 2 kept once, at the stricter level 7
/// assert_eq!(c.skills[1].min_level, 7);
/// assert!(c.certification);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Requirements {
    /// Skills with minimum levels.
    #[serde(default)]
    pub skills: Vec<SkillReq>,
    /// Tags the agent must carry.
    #[serde(default)]
    pub tags: Vec<TagId>,
    /// Whether the agent must be certified for the task's tenant.
    #[serde(default)]
    pub certification: bool,
    /// A residual agent predicate (the part of a [target expression](crate::expr) the indexes
    /// cannot answer), evaluated once per agent and queue, never per routing decision. Tasks
    /// with equal filters share a queue. Built by
    /// [`Expr::compile_for`](crate::expr::Expr::compile_for) or [`Requirements::filter`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<crate::expr::Filter>,
}

impl Requirements {
    /// Adds a skill requirement.
    #[must_use]
    pub fn skill(mut self, skill: SkillId, min_level: u8) -> Self {
        self.skills.push(SkillReq::new(skill, min_level));
        self
    }
    /// Adds a tag requirement.
    #[must_use]
    pub fn tag(mut self, tag: TagId) -> Self {
        self.tags.push(tag);
        self
    }
    /// Requires certification for the task's tenant.
    #[must_use]
    pub fn certified(mut self) -> Self {
        self.certification = true;
        self
    }
    /// Adds an agent filter (replacing any earlier one).
    ///
    /// # Example
    /// ```
    /// use switchboard::{Requirements, expr::Filter};
    /// let r = Requirements::default().filter(Filter::new(r#"not has_tag("trainee")"#).unwrap());
    /// assert!(r.filter.is_some());
    /// ```
    #[must_use]
    pub fn filter(mut self, filter: crate::expr::Filter) -> Self {
        self.filter = Some(filter);
        self
    }
    /// Sorted, de-duplicated form (a skill listed twice keeps its highest minimum).
    #[must_use]
    pub fn canonical(&self) -> Requirements {
        let mut r = self.clone();
        r.canonicalize();
        r
    }

    /// Puts these requirements in [canonical](Requirements::canonical) form in place.
    pub fn canonicalize(&mut self) {
        self.skills
            .sort_by(|a, b| a.skill.cmp(&b.skill).then(b.min_level.cmp(&a.min_level)));
        self.skills.dedup_by_key(|r| r.skill);
        self.tags.sort_unstable();
        self.tags.dedup();
    }
}

/// Soft preferences: they raise an agent's match score under
/// [`Strategy::BestScore`] but never exclude anyone.
///
/// # Example
/// ```
/// use switchboard::{Preferences, SkillId, TagId, AgentId};
/// let p = Preferences::default()
///     .skill(SkillId(4), 2.0)
///     .tag(TagId(1), 5.0)
///     .agent(AgentId(9));
/// assert_eq!(p.preferred_agent, Some(AgentId(9)));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Preferences {
    /// Skills with a weight per level point.
    #[serde(default)]
    pub skills: Vec<(SkillId, f64)>,
    /// Tags with a weight added when the agent carries the tag.
    #[serde(default)]
    pub tags: Vec<(TagId, f64)>,
    /// An agent to prefer (e.g. the customer's previous agent).
    #[serde(default)]
    pub preferred_agent: Option<AgentId>,
}

impl Preferences {
    /// Adds a preferred skill with a weight per level point.
    #[must_use]
    pub fn skill(mut self, skill: SkillId, weight: f64) -> Self {
        self.skills.push((skill, weight));
        self
    }
    /// Adds a preferred tag with a weight.
    #[must_use]
    pub fn tag(mut self, tag: TagId, weight: f64) -> Self {
        self.tags.push((tag, weight));
        self
    }
    /// Prefers an agent.
    #[must_use]
    pub fn agent(mut self, agent: AgentId) -> Self {
        self.preferred_agent = Some(agent);
        self
    }
}

/// What the host knows about the customer behind a task.
///
/// # Example
/// ```
/// use switchboard::CustomerProfile;
/// let vip_and_upset = CustomerProfile { value_tier: 3, sentiment: -0.8 };
/// assert!(vip_and_upset.sentiment < 0.0);
/// ```
#[derive(Copy, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomerProfile {
    /// Customer value tier, 0 (standard) and up.
    #[serde(default)]
    pub value_tier: u8,
    /// Sentiment in `[-1, 1]`; negative is unhappy.
    #[serde(default)]
    pub sentiment: f64,
}

/// A task's place in line: a strict class, then a score. See [`PriorityWeights`](crate::PriorityWeights)
/// for the full ordering formula.
///
/// # Example
/// ```
/// use switchboard::Priority;
/// let urgent = Priority { class: 2, base: 10.0 };
/// assert!(urgent.class > Priority::default().class);
/// ```
#[derive(Copy, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Priority {
    /// Strict class: any waiting task of a higher class is served first.
    #[serde(default)]
    pub class: u8,
    /// Base score within the class (finite).
    #[serde(default)]
    pub base: f64,
}

/// Everything the router needs to know about an arriving task.
///
/// # Example
/// ```
/// use switchboard::{TaskSpec, TaskId, Catalog, Channel, Requirements};
/// let mut catalog = Catalog::new();
/// let brand = catalog.tenant("acme");
/// let task = TaskSpec::new(TaskId(1), brand, Channel::Chat)
///     .requires(Requirements::default().skill(catalog.skill("returns"), 5).certified())
///     .sla_ms(30_000);
/// assert_eq!(task.sla_ms, Some(30_000));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskSpec {
    /// The host's id.
    pub id: TaskId,
    /// The brand the task belongs to.
    pub tenant: TenantId,
    /// The channel.
    pub channel: Channel,
    /// Hard requirements.
    #[serde(default)]
    pub requirements: Requirements,
    /// Soft preferences.
    #[serde(default)]
    pub preferences: Preferences,
    /// Customer profile.
    #[serde(default)]
    pub customer: CustomerProfile,
    /// Priority class and base score.
    #[serde(default)]
    pub priority: Priority,
    /// SLA target: answer within this many ms of `created_at`. `None` uses the router default.
    #[serde(default)]
    pub sla_ms: Option<u64>,
    /// Give up (effect [`TimedOut`](crate::Effect::TimedOut)) after waiting this long
    /// since `created_at`. `None` waits forever.
    #[serde(default)]
    pub max_wait_ms: Option<u64>,
    /// When the customer started waiting (e.g. before a bot hand-off); ages count from here.
    /// `None` means the arrival call's `now`. Must not be in the future.
    #[serde(default)]
    pub created_at: Option<Time>,
    /// Agent selection strategy; `None` uses the router default.
    #[serde(default)]
    pub strategy: Option<Strategy>,
    /// Offer to up to this many agents at once; the first to accept wins. `None` uses the router
    /// default; must be at least 1.
    #[serde(default)]
    pub fanout: Option<u8>,
}

impl TaskSpec {
    /// A task with no requirements, neutral profile and default priority.
    #[must_use]
    pub fn new(id: TaskId, tenant: TenantId, channel: Channel) -> Self {
        TaskSpec {
            id,
            tenant,
            channel,
            requirements: Requirements::default(),
            preferences: Preferences::default(),
            customer: CustomerProfile::default(),
            priority: Priority::default(),
            sla_ms: None,
            max_wait_ms: None,
            created_at: None,
            strategy: None,
            fanout: None,
        }
    }
    /// Sets the hard requirements.
    #[must_use]
    pub fn requires(mut self, requirements: Requirements) -> Self {
        self.requirements = requirements;
        self
    }
    /// Sets the soft preferences.
    #[must_use]
    pub fn prefers(mut self, preferences: Preferences) -> Self {
        self.preferences = preferences;
        self
    }
    /// Sets the customer profile.
    #[must_use]
    pub fn customer(mut self, customer: CustomerProfile) -> Self {
        self.customer = customer;
        self
    }
    /// Sets the priority.
    #[must_use]
    pub fn priority(mut self, class: u8, base: f64) -> Self {
        self.priority = Priority { class, base };
        self
    }
    /// Sets the SLA target.
    #[must_use]
    pub fn sla_ms(mut self, ms: u64) -> Self {
        self.sla_ms = Some(ms);
        self
    }
    /// Sets the maximum wait.
    #[must_use]
    pub fn max_wait_ms(mut self, ms: u64) -> Self {
        self.max_wait_ms = Some(ms);
        self
    }
    /// Sets when the customer started waiting.
    #[must_use]
    pub fn created_at(mut self, t: Time) -> Self {
        self.created_at = Some(t);
        self
    }
    /// Sets the selection strategy.
    #[must_use]
    pub fn strategy(mut self, s: Strategy) -> Self {
        self.strategy = Some(s);
        self
    }
    /// Sets the fan-out.
    #[must_use]
    pub fn fanout(mut self, n: u8) -> Self {
        self.fanout = Some(n);
        self
    }
}

/// Where a live task is, as reported by [`Router::task_state`](crate::Router::task_state).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// In a queue, waiting for an agent.
    Waiting,
    /// Reserved for one or more agents via outstanding offers.
    Offered(Vec<crate::OfferId>),
    /// Being served by an agent.
    InService(AgentId),
    /// Served; the agent is finishing after-work and the capacity is still held.
    WrapUp(AgentId),
}

impl TaskState {
    /// Lower-case name.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            TaskState::Waiting => "waiting",
            TaskState::Offered(_) => "offered",
            TaskState::InService(_) => "in_service",
            TaskState::WrapUp(_) => "wrap_up",
        }
    }
}

/// A new routing target for a waiting task: what [`Router::retarget`](crate::Router::retarget)
/// applies in one step (a workflow step change, an exception rule). Fields left `None` keep the
/// task's current value.
///
/// # Example
/// ```
/// use switchboard::{Retarget, Requirements, SkillId, Strategy};
/// let r = Retarget::new(Requirements::default().skill(SkillId(0), 4))
///     .strategy(Strategy::BestScore);
/// assert_eq!(r.strategy, Some(Strategy::BestScore));
/// assert!(r.priority.is_none());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Retarget {
    /// The new hard requirements (the task keeps its channel and tenant).
    pub requirements: Requirements,
    /// A new strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<Strategy>,
    /// A new priority (class and base).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    /// New soft preferences (replacing the old ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferences: Option<Preferences>,
}

impl Retarget {
    /// A retarget to `requirements`, keeping everything else.
    #[must_use]
    pub fn new(requirements: Requirements) -> Self {
        Retarget {
            requirements,
            ..Retarget::default()
        }
    }
    /// Sets the strategy.
    #[must_use]
    pub fn strategy(mut self, s: Strategy) -> Self {
        self.strategy = Some(s);
        self
    }
    /// Sets the priority.
    #[must_use]
    pub fn priority(mut self, p: Priority) -> Self {
        self.priority = Some(p);
        self
    }
    /// Sets the preferences.
    #[must_use]
    pub fn preferences(mut self, p: Preferences) -> Self {
        self.preferences = Some(p);
        self
    }
}
