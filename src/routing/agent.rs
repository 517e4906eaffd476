//! Agents: the humans and AI bots that serve tasks.

use crate::{Capacity, Channel, SkillId, TagId, TenantId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The host's id for an agent.
///
/// # Example
/// ```
/// use switchboard::AgentId;
/// assert_eq!(AgentId(42).to_string(), "42");
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AgentId(pub u64);

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Human or AI bot.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentKind {
    /// A human agent.
    #[default]
    Human,
    /// An AI bot.
    Bot,
}

/// An agent's presence. Only [`AgentState::Available`] agents receive offers.
///
/// | state | receives offers | keeps work in hand | outstanding offers |
/// |---|---|---|---|
/// | `Available` | yes | yes | kept |
/// | `Away` (break) | no | yes | rescinded, task re-queued |
/// | `WrapUp` (not ready after work) | no | yes | rescinded, task re-queued |
/// | `Offline` | no | **no**: in-service work is re-queued keeping its place, wrap-up work completes | rescinded |
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    /// Logged out.
    #[default]
    Offline,
    /// Ready for work.
    Available,
    /// On a break or otherwise not ready.
    Away,
    /// Finishing after-work; not ready for new work.
    WrapUp,
}

impl AgentState {
    /// Lower-case name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            AgentState::Offline => "offline",
            AgentState::Available => "available",
            AgentState::Away => "away",
            AgentState::WrapUp => "wrap_up",
        }
    }
}

/// Everything the router needs to know about an agent. Build one with [`AgentSpec::new`] and the
/// chained setters.
///
/// # Example
/// ```
/// use switchboard::{AgentSpec, AgentId, AgentState, Catalog, Channel};
/// let mut catalog = Catalog::new();
/// let agent = AgentSpec::new(AgentId(1))
///     .skill(catalog.skill("apparel"), 8)
///     .tag(catalog.tag("lang:zh"))
///     .certified(catalog.tenant("acme"))
///     .capacity(Channel::Chat, 5)
///     .capacity(Channel::Voice, 1)
///     .state(AgentState::Available);
/// assert_eq!(agent.capacity.get(Channel::Chat), 5);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentSpec {
    /// The host's id.
    pub id: AgentId,
    /// Human or bot.
    #[serde(default)]
    pub kind: AgentKind,
    /// Skills with levels `1..=MAX_LEVEL`. A skill listed twice keeps the higher level.
    #[serde(default)]
    pub skills: Vec<(SkillId, u8)>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<TagId>,
    /// Tenants (brands) this agent is certified for.
    #[serde(default)]
    pub certifications: Vec<TenantId>,
    /// Per-channel capacity; at least one channel must be non-zero.
    pub capacity: Capacity,
    /// Presence when the agent is added.
    #[serde(default)]
    pub state: AgentState,
}

impl AgentSpec {
    /// An offline human agent with no skills and no capacity yet.
    #[must_use]
    pub fn new(id: AgentId) -> Self {
        AgentSpec {
            id,
            kind: AgentKind::Human,
            skills: Vec::new(),
            tags: Vec::new(),
            certifications: Vec::new(),
            capacity: Capacity::default(),
            state: AgentState::Offline,
        }
    }
    /// Adds a skill at a level.
    #[must_use]
    pub fn skill(mut self, skill: SkillId, level: u8) -> Self {
        self.skills.push((skill, level));
        self
    }
    /// Adds a tag.
    #[must_use]
    pub fn tag(mut self, tag: TagId) -> Self {
        self.tags.push(tag);
        self
    }
    /// Adds a tenant certification.
    #[must_use]
    pub fn certified(mut self, tenant: TenantId) -> Self {
        self.certifications.push(tenant);
        self
    }
    /// Sets capacity on a channel.
    #[must_use]
    pub fn capacity(mut self, channel: Channel, n: u16) -> Self {
        self.capacity = self.capacity.with(channel, n);
        self
    }
    /// Sets the initial state.
    #[must_use]
    pub fn state(mut self, state: AgentState) -> Self {
        self.state = state;
        self
    }
    /// Sets the kind.
    #[must_use]
    pub fn kind(mut self, kind: AgentKind) -> Self {
        self.kind = kind;
        self
    }
}
