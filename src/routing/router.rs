//! The routing state machine.
//!
//! [`Router`] is a pure, deterministic core: it does no I/O, reads no clock and spawns nothing.
//! Every call takes the current [`Time`]; the effects the host must carry out accumulate in an
//! output queue drained with [`Router::poll_effect`] / [`Router::drain_effects`]. Timers (offer
//! leases, decline back-offs, wrap-up, maximum waits) fire only when the host calls
//! [`Router::handle_timeout`]; [`Router::poll_timeout`] says when.
//!
//! # The matching rule
//!
//! After every call the router restores *work conservation*: while some waiting task has a free,
//! eligible agent, it takes the **highest-priority such task** (see [`crate::queue`] for the order)
//! and offers it to up to `fanout` of those agents, chosen by the task's [`Strategy`]. An agent is
//! *free* on a channel when it is `Available` and its load (offers + in service + wrap-up) there is
//! below its capacity; *eligible* when it meets the task's hard requirements and is not inside a
//! back-off for having declined the task. Agents that declined the task before (back-off over) are
//! chosen only after every agent that has not.
//!
//! The router never scans all waiting tasks to do this. Only the tasks and agents touched by the
//! call can form new (task, free agent) pairs; for a touched agent the router looks at the heads of
//! the queues it qualifies for (each queue is ordered), for a touched task at the intersection of
//! its queue's eligible-agent bitset with the channel's free-agent bitset.
//!
//! A task with outstanding offers gets no further offers until they all resolve.

pub mod batch;
mod invariants;
pub mod persist;

use crate::explain::Counters;
use crate::offer::OfferRec;
use crate::queue::{Queue, QueueSig};
use crate::{
    AgentId, AgentKind, AgentSnapshot, AgentSpec, AgentState, AgentView, Capacity, Catalog,
    Channel, CustomerProfile, DefaultPolicy, Effect, Event, Explanation, Ineligible, MAX_LEVEL,
    OfferId, OfferReason, OrderKey, Policy, Preferences, Priority, QueueId, QueueReason,
    QueueSnapshot, Requirements, RescindReason, RouterConfig, RouterError, SeededRng, Snapshot,
    Strategy, TagId, TaskId, TaskSpec, TaskState, TaskView, TenantId, Time,
};
use fixedbitset::FixedBitSet;
use rustc_hash::FxHashMap;
use std::cmp::Ordering;
use std::collections::BTreeSet;

#[derive(Debug, Clone)]
struct AgentRec {
    id: AgentId,
    kind: AgentKind,
    skills: Vec<(crate::SkillId, u8)>,
    tags: Vec<TagId>,
    certs: Vec<TenantId>,
    capacity: Capacity,
    load: [u16; Channel::COUNT],
    state: AgentState,
    idle_since: Time,
    offers: Vec<OfferId>,
    work: Vec<TaskId>,
    queues: Vec<u32>,
    missed: u32,
    /// The keys this agent is filed under in the strategy indexes.
    ix: Indexed,
}

/// Where an agent currently sits in the per-channel strategy indexes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Indexed {
    idle: Time,
    load: [u16; Channel::COUNT],
    cap: [u16; Channel::COUNT],
    /// Channels on which the agent is free (filed in the indexes).
    mask: u8,
}

/// A free agent's place in the least-occupied order: load ÷ capacity ascending (exactly, by
/// cross-multiplication), then most spare slots, then idle key, then registration order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct OccKey {
    load: u16,
    cap: u16,
    idle: Time,
    slot: u32,
}

impl Ord for OccKey {
    fn cmp(&self, o: &Self) -> Ordering {
        (u64::from(self.load) * u64::from(o.cap))
            .cmp(&(u64::from(o.load) * u64::from(self.cap)))
            .then((o.cap.saturating_sub(o.load)).cmp(&self.cap.saturating_sub(self.load)))
            .then(self.idle.cmp(&o.idle))
            .then(self.slot.cmp(&o.slot))
    }
}

impl PartialOrd for OccKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// How many index entries a strategy walk may visit before it falls back to collecting every
/// candidate from the bitsets (bounds the cost when few free agents are eligible).
const INDEX_WALK_BUDGET: usize = 128;
/// How many routings of a queue skip the walk after one of its walks gave up.
const WALK_BACKOFF: u16 = 32;
/// Walk a strategy index only when at least one agent in this many is eligible for the queue;
/// rarer queues go straight to the bitsets.
const INDEX_WALK_RATIO: u64 = 32;
const IDX_IDLE: u8 = 1;
/// Slots per bitset word.
const BLOCK: usize = usize::BITS as usize;
/// Block minimum of a block with no free agent.
const NO_KEY: Time = Time(u64::MAX);
const IDX_OCC: u8 = 2;

impl AgentRec {
    fn level(&self, skill: crate::SkillId) -> Option<u8> {
        self.skills
            .binary_search_by_key(&skill, |&(s, _)| s)
            .ok()
            .map(|i| self.skills[i].1)
    }
    fn view(&self) -> AgentView<'_> {
        AgentView {
            id: self.id,
            kind: self.kind,
            skills: &self.skills,
            tags: &self.tags,
            certifications: &self.certs,
            capacity: self.capacity,
            load: self.load,
        }
    }
    fn has_room(&self, channel: Channel) -> bool {
        self.state == AgentState::Available
            && self.load[channel.index()] < self.capacity.get(channel)
    }
    fn meets(&self, queue: &Queue, catalog: &Catalog) -> bool {
        queue
            .requirements
            .skills
            .iter()
            .all(|r| self.level(r.skill).is_some_and(|l| l >= r.min_level))
            && queue
                .requirements
                .tags
                .iter()
                .all(|t| self.tags.binary_search(t).is_ok())
            && queue
                .cert_tenant
                .is_none_or(|t| self.certs.binary_search(&t).is_ok())
            && queue
                .requirements
                .filter
                .as_ref()
                .is_none_or(|f| f.matches(&self.view(), catalog))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Waiting,
    Offered(Vec<OfferId>),
    InService(u32),
    /// Agent slot and the wrap-up timer (time, sequence).
    WrapUp(u32, Time, u64),
}

static NO_PREFERENCES: Preferences = Preferences {
    skills: Vec::new(),
    tags: Vec::new(),
    preferred_agent: None,
};

impl TaskRec {
    fn customer(&self) -> CustomerProfile {
        CustomerProfile {
            value_tier: self.value_tier,
            sentiment: self.sentiment,
        }
    }
    fn priority(&self) -> Priority {
        Priority {
            class: self.key.class,
            base: self.base,
        }
    }
}

#[derive(Debug, Clone)]
struct TaskRec {
    tenant: TenantId,
    channel: Channel,
    queue: u32,
    key: OrderKey,
    created_at: Time,
    /// Soft preferences; boxed because most tasks have none.
    preferences: Option<Box<Preferences>>,
    sentiment: f64,
    base: f64,
    value_tier: u8,
    sla_ms: u64,
    strategy: Strategy,
    fanout: u8,
    phase: Phase,
    /// (agent slot, back-off end, back-off timer sequence) for every agent that declined the task.
    declines: thin_vec::ThinVec<(u32, Time, u64)>,
    /// Pending max-wait timer (time, sequence), removed when the task ends.
    /// `(time, sequence)`; sequence 0 means none (timer sequences start at 1).
    max_wait_timer: (Time, u64),
}

impl TaskRec {
    fn backoff_until(&self, slot: u32) -> Option<Time> {
        self.declines
            .iter()
            .find(|&&(s, _, _)| s == slot)
            .map(|&(_, t, _)| t)
    }
    fn in_backoff(&self, slot: u32, now: Time) -> bool {
        self.backoff_until(slot).is_some_and(|t| t > now)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKind {
    OfferExpiry(OfferId),
    Backoff { task: TaskId, seq: u64, slot: u32 },
    WrapUpEnd { task: TaskId, seq: u64 },
    MaxWait { task: TaskId, seq: u64 },
}

/// The routing state machine. See the [module docs](crate::router) for the matching rule and the
/// [crate docs](crate) for a tutorial.
///
/// `P` is the scoring [`Policy`], statically dispatched.
///
/// # Example
/// ```
/// use switchboard::*;
/// let mut router = Router::new(RouterConfig::default()).unwrap();
/// let brand = router.catalog_mut().tenant("acme");
/// router.add_agent(Time::ZERO, AgentSpec::new(AgentId(1)).capacity(Channel::Chat, 2)
///     .state(AgentState::Available)).unwrap();
/// router.arrive(Time::from_secs(1), TaskSpec::new(TaskId(10), brand, Channel::Chat)).unwrap();
/// let offer = router.drain_effects().find_map(|e| match e {
///     Effect::Offer { offer, .. } => Some(offer), _ => None }).unwrap();
/// router.accept(Time::from_secs(2), offer, AgentId(1)).unwrap();
/// assert_eq!(router.task_state(TaskId(10)), Some(TaskState::InService(AgentId(1))));
/// ```
#[derive(Debug, Clone)]
pub struct Router<P: Policy = DefaultPolicy> {
    cfg: RouterConfig,
    policy: P,
    catalog: Catalog,
    now: Time,
    agents: Vec<Option<AgentRec>>,
    agent_slot: FxHashMap<AgentId, u32>,
    live: FixedBitSet,
    skill_idx: Vec<FixedBitSet>,
    tag_idx: Vec<FixedBitSet>,
    cert_idx: Vec<FixedBitSet>,
    free: [FixedBitSet; Channel::COUNT],
    /// Free agents per channel by idle key (longest idle first).
    idle_idx: [BTreeSet<(Time, u32)>; Channel::COUNT],
    /// Free agents per channel by occupancy (least occupied first).
    occ_idx: [BTreeSet<OccKey>; Channel::COUNT],
    /// Which of those indexes exist (bit 0: idle, bit 1: occupancy), per channel. An index is
    /// built the first time a task on the channel uses its strategy, then kept up to date.
    idx_built: [u8; Channel::COUNT],
    /// Every agent's idle key by slot, dense so that scanning candidates stays in cache.
    idle_keys: Vec<Time>,
    /// Per channel, per block of 64 slots (one bitset word): the least idle key among the
    /// block's free agents (`Time(u64::MAX)` if none). A longest-idle scan skips every block whose
    /// minimum cannot beat the best candidate found so far. Kept lazily: see `stale_blocks`.
    block_min: [Vec<Time>; Channel::COUNT],
    /// Per channel, one bit per block: its `block_min` entry may be stale (a free bit or idle
    /// key in the block changed since it was computed). Stale blocks are recomputed just before a
    /// longest-idle scan reads them, so changes between scans cost one bit each, and a block
    /// changed many times is recomputed once.
    stale_blocks: [Vec<u64>; Channel::COUNT],
    queues: Vec<Queue>,
    queue_by_sig: FxHashMap<QueueSig, u32>,
    /// Queues with at least one waiting task (lets a freed agent skip empty queues without
    /// touching them).
    nonempty: FixedBitSet,
    tasks: FxHashMap<TaskId, TaskRec>,
    offers: FxHashMap<OfferId, OfferRec>,
    /// Pending timers in firing order; entries are removed when their subject settles, so the
    /// set stays as small as the live work and `poll_timeout` is exact.
    timers: BTreeSet<(Time, u64, TimerKind)>,
    timer_seq: u64,
    next_offer: u64,
    next_seq: u64,
    rr_cursor: [Option<u32>; Channel::COUNT],
    rng: SeededRng,
    effects: std::collections::VecDeque<Effect>,
    counters: Counters,
    dirty_tasks: Vec<TaskId>,
    dirty_agents: Vec<u32>,
    /// Decline back-offs ending at or before this time have been noticed by the matching (see
    /// `run_matching`). Not persisted: a restored router starts at zero and rescans once.
    backoffs_seen: Time,
    /// Per tenant: tasks holding capacity (offered, in service or in wrap-up).
    held: Vec<u32>,
    /// Per tenant: its share, if configured (a dense copy of `cfg.shares`).
    share_of: Vec<Option<crate::TenantShare>>,
}

/// How a waiting task ranks for a freed agent: its tenant's tier (see [`crate::TenantShare`];
/// always 1 without shares), then its queue order.
type Rank = (u8, OrderKey);

impl Router<DefaultPolicy> {
    /// A router with the default policy.
    ///
    /// # Errors
    /// [`RouterError::InvalidConfig`] if the configuration does not [validate](RouterConfig::validate).
    pub fn new(config: RouterConfig) -> Result<Self, RouterError> {
        Router::with_policy(config, DefaultPolicy)
    }
}

fn and_ones(a: &FixedBitSet, b: &FixedBitSet, mut f: impl FnMut(u32) -> bool) {
    let (a, b) = (a.as_slice(), b.as_slice());
    for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
        let mut w = x & y;
        while w != 0 {
            let bit = w.trailing_zeros() as usize;
            w &= w - 1;
            let slot = i * usize::BITS as usize + bit;
            // Slots are issued as u32 (see `add_agent`), so this never truncates.
            #[allow(clippy::cast_possible_truncation)]
            if !f(slot as u32) {
                return;
            }
        }
    }
}

fn set_bit(set: &mut FixedBitSet, slot: u32, on: bool) {
    let i = slot as usize;
    if on {
        set.grow_and_insert(i);
    } else if i < set.len() {
        set.remove(i);
    }
}

impl<P: Policy> Router<P> {
    /// A router with a custom [`Policy`].
    ///
    /// # Errors
    /// [`RouterError::InvalidConfig`] if the configuration does not [validate](RouterConfig::validate).
    pub fn with_policy(config: RouterConfig, policy: P) -> Result<Self, RouterError> {
        config.validate()?;
        let mut r = Router {
            rng: SeededRng::new(config.seed),
            cfg: config,
            policy,
            catalog: Catalog::new(),
            now: Time::ZERO,
            agents: Vec::new(),
            agent_slot: FxHashMap::default(),
            live: FixedBitSet::new(),
            skill_idx: Vec::new(),
            tag_idx: Vec::new(),
            cert_idx: Vec::new(),
            free: std::array::from_fn(|_| FixedBitSet::new()),
            idle_idx: std::array::from_fn(|_| BTreeSet::new()),
            occ_idx: std::array::from_fn(|_| BTreeSet::new()),
            idx_built: [0; Channel::COUNT],
            idle_keys: Vec::new(),
            block_min: std::array::from_fn(|_| Vec::new()),
            stale_blocks: std::array::from_fn(|_| Vec::new()),
            queues: Vec::new(),
            queue_by_sig: FxHashMap::default(),
            nonempty: FixedBitSet::new(),
            tasks: FxHashMap::default(),
            offers: FxHashMap::default(),
            timers: BTreeSet::new(),
            timer_seq: 0,
            next_offer: 1,
            next_seq: 0,
            rr_cursor: [None; Channel::COUNT],
            effects: std::collections::VecDeque::new(),
            counters: Counters::default(),
            dirty_tasks: Vec::new(),
            dirty_agents: Vec::new(),
            backoffs_seen: Time::ZERO,
            held: Vec::new(),
            share_of: Vec::new(),
        };
        r.rebuild_share_index();
        Ok(r)
    }

    /// Rebuilds `share_of` from `cfg.shares`.
    fn rebuild_share_index(&mut self) {
        self.share_of.clear();
        for s in &self.cfg.shares {
            let i = s.tenant.0 as usize;
            if self.share_of.len() <= i {
                self.share_of.resize(i + 1, None);
            }
            self.share_of[i] = Some(*s);
        }
    }

    /// Re-files every task's queue after the queue signature rule changed (shares switched on
    /// or off), in arrival order so that new queue ids are deterministic.
    fn refile_queues(&mut self) {
        let mut order: Vec<(u64, TaskId)> =
            self.tasks.iter().map(|(&id, t)| (t.key.seq, id)).collect();
        order.sort_unstable();
        for (_, task) in order {
            let t = self.tref(task);
            let (old_q, key, tenant, channel, waiting) = (
                t.queue,
                t.key,
                t.tenant,
                t.channel,
                t.phase == Phase::Waiting,
            );
            let reqs = self.queues[old_q as usize].requirements.clone();
            let q = self.get_or_create_queue(channel, tenant, reqs);
            if q == old_q {
                continue;
            }
            if waiting {
                self.queue_remove(old_q, key);
                self.queue_insert(q, key, task);
            }
            self.tmut(task).queue = q;
        }
    }

    /// The tier of a tenant's waiting tasks right now (lower is served first).
    fn tier(&self, tenant: Option<TenantId>) -> u8 {
        match tenant {
            Some(t) => self
                .share_of
                .get(t.0 as usize)
                .copied()
                .flatten()
                .map_or(1, |s| {
                    s.tier(self.held.get(t.0 as usize).copied().unwrap_or(0))
                }),
            None => 1,
        }
    }

    /// Counts a task of `tenant` starting (`+1`) or stopping (`-1`) to hold capacity.
    fn hold(&mut self, tenant: TenantId, on: bool) {
        let i = tenant.0 as usize;
        if self.held.len() <= i {
            self.held.resize(i + 1, 0);
        }
        if on {
            self.held[i] += 1;
        } else {
            self.held[i] = self.held[i].saturating_sub(1);
        }
    }

    /// How many tasks wait in a queue (`None` for an unknown queue).
    #[must_use]
    pub fn queue_len(&self, queue: QueueId) -> Option<usize> {
        self.queues.get(queue.0 as usize).map(|q| q.waiting.len())
    }

    /// How many agents would be eligible for a task of `tenant` on `channel` with these
    /// requirements: registered (any state), `Available`, and free on the channel right now.
    /// Uses the queue's bitset when such a queue exists, the skill/tag/tenant indexes otherwise.
    ///
    /// # Example
    /// ```
    /// use switchboard::*;
    /// let mut r = Router::new(RouterConfig::default()).unwrap();
    /// let acme = r.catalog_mut().tenant("acme");
    /// r.add_agent(Time::ZERO, AgentSpec::new(AgentId(1)).capacity(Channel::Chat, 1)).unwrap();
    /// let e = r.eligible_count(Channel::Chat, acme, &Requirements::default());
    /// assert_eq!((e.registered, e.available, e.free), (1, 0, 0)); // offline by default
    /// ```
    #[must_use]
    pub fn eligible_count(
        &self,
        channel: Channel,
        tenant: TenantId,
        reqs: &Requirements,
    ) -> crate::explain::EligibleCount {
        let sig = self.queue_sig(channel, tenant, reqs.canonical());
        let owned;
        let set = if let Some(&q) = self.queue_by_sig.get(&sig) {
            &self.queues[q as usize].eligible
        } else {
            owned = self.build_queue(QueueId(u32::MAX), sig);
            &owned.eligible
        };
        let mut e = crate::explain::EligibleCount::default();
        for s in set.ones() {
            let Some(a) = self.agents[s].as_ref() else {
                continue;
            };
            e.registered += 1;
            if a.state == AgentState::Available {
                e.available += 1;
            }
            if self.free[channel.index()].contains(s) {
                e.free += 1;
            }
        }
        e
    }

    /// Tasks of `tenant` currently holding capacity (offered, in service or in wrap-up).
    ///
    /// # Example
    /// ```
    /// use switchboard::*;
    /// let mut r = Router::new(RouterConfig::default()).unwrap();
    /// let t = r.catalog_mut().tenant("acme");
    /// assert_eq!(r.tenant_held(t), 0);
    /// ```
    #[must_use]
    pub fn tenant_held(&self, tenant: TenantId) -> u32 {
        self.held.get(tenant.0 as usize).copied().unwrap_or(0)
    }

    // ----------------------------------------------------------------- accessors

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &RouterConfig {
        &self.cfg
    }
    /// The name tables.
    #[must_use]
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }
    /// The name tables, to intern new skills, tags and tenants.
    pub fn catalog_mut(&mut self) -> &mut Catalog {
        &mut self.catalog
    }
    /// The latest time the router has seen.
    #[must_use]
    pub fn now(&self) -> Time {
        self.now
    }
    /// Lifetime counters.
    #[must_use]
    pub fn counters(&self) -> &Counters {
        &self.counters
    }
    /// Number of live tasks (waiting, offered, in service or wrap-up).
    #[must_use]
    pub fn live_tasks(&self) -> usize {
        self.tasks.len()
    }
    /// Number of tasks waiting in queues.
    #[must_use]
    pub fn waiting_tasks(&self) -> usize {
        self.queues.iter().map(|q| q.waiting.len()).sum()
    }
    /// Number of registered agents.
    #[must_use]
    pub fn agent_count(&self) -> usize {
        self.agent_slot.len()
    }
    /// Number of queues created so far.
    #[must_use]
    pub fn queue_count(&self) -> usize {
        self.queues.len()
    }
    /// Number of outstanding offers.
    #[must_use]
    pub fn outstanding_offers(&self) -> usize {
        self.offers.len()
    }

    /// Where a live task is; `None` for unknown or finished tasks.
    #[must_use]
    pub fn task_state(&self, task: TaskId) -> Option<TaskState> {
        let t = self.tasks.get(&task)?;
        Some(match &t.phase {
            Phase::Waiting => TaskState::Waiting,
            Phase::Offered(o) => TaskState::Offered(o.clone()),
            Phase::InService(s) => TaskState::InService(self.agent_id(*s)),
            Phase::WrapUp(s, _, _) => TaskState::WrapUp(self.agent_id(*s)),
        })
    }

    /// The channel of a live task.
    #[must_use]
    pub fn task_channel(&self, task: TaskId) -> Option<Channel> {
        self.tasks.get(&task).map(|t| t.channel)
    }

    /// The id the next offer will get (offer ids run from 1 without gaps).
    #[must_use]
    pub fn next_offer_id(&self) -> u64 {
        self.next_offer
    }

    /// The queue a live task belongs to.
    #[must_use]
    pub fn task_queue(&self, task: TaskId) -> Option<QueueId> {
        self.tasks.get(&task).map(|t| QueueId(t.queue))
    }

    /// A live task's priority score at `now` (see [`crate::queue`]).
    #[must_use]
    pub fn task_priority_at(&self, task: TaskId, now: Time) -> Option<(u8, f64)> {
        let t = self.tasks.get(&task)?;
        let s = self.task_score(t, &self.queues[t.queue as usize].requirements);
        Some((
            t.key.class,
            self.cfg.priority.score_at(
                s,
                t.created_at.as_secs_f64(),
                sla_secs(t.sla_ms),
                now.as_secs_f64(),
            ),
        ))
    }

    /// An agent's state.
    #[must_use]
    pub fn agent_state(&self, agent: AgentId) -> Option<AgentState> {
        self.agent(agent).map(|a| a.state)
    }

    /// An agent's load on a channel (offers + in service + wrap-up).
    #[must_use]
    pub fn agent_load(&self, agent: AgentId, channel: Channel) -> Option<u16> {
        self.agent(agent).map(|a| a.load[channel.index()])
    }

    /// The agent and task of an outstanding offer.
    #[must_use]
    pub fn offer(&self, offer: OfferId) -> Option<(TaskId, AgentId, Time)> {
        self.offers
            .get(&offer)
            .map(|o| (o.task, self.agent_id(o.agent), o.expires_at))
    }

    /// Why the agent of an outstanding offer was chosen.
    #[must_use]
    pub fn explain_offer(&self, offer: OfferId) -> Option<&OfferReason> {
        self.offers.get(&offer).map(|o| &o.reason)
    }

    /// The next effect, if any.
    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    /// All pending effects, oldest first.
    pub fn drain_effects(&mut self) -> std::collections::vec_deque::Drain<'_, Effect> {
        self.effects.drain(..)
    }

    /// When [`Router::handle_timeout`] should next be called. May be earlier than necessary
    /// (a timer whose subject is gone), never later.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Time> {
        self.timers.first().map(|&(t, _, _)| t)
    }

    fn agent(&self, id: AgentId) -> Option<&AgentRec> {
        self.agent_slot
            .get(&id)
            .and_then(|&s| self.agents[s as usize].as_ref())
    }

    fn agent_id(&self, slot: u32) -> AgentId {
        self.agents[slot as usize]
            .as_ref()
            .map_or(AgentId(u64::MAX), |a| a.id)
    }

    fn slot_of(&self, id: AgentId) -> Result<u32, RouterError> {
        self.agent_slot
            .get(&id)
            .copied()
            .ok_or(RouterError::UnknownAgent(id))
    }

    fn arec(&mut self, slot: u32) -> &mut AgentRec {
        // Slots handed around internally always refer to live agents.
        match self.agents[slot as usize].as_mut() {
            Some(a) => a,
            None => unreachable!("internal slot {slot} refers to a removed agent"),
        }
    }

    fn aref(&self, slot: u32) -> &AgentRec {
        match self.agents[slot as usize].as_ref() {
            Some(a) => a,
            None => unreachable!("internal slot {slot} refers to a removed agent"),
        }
    }

    fn tref(&self, id: TaskId) -> &TaskRec {
        match self.tasks.get(&id) {
            Some(t) => t,
            None => unreachable!("internal task {id} is gone"),
        }
    }

    fn tmut(&mut self, id: TaskId) -> &mut TaskRec {
        match self.tasks.get_mut(&id) {
            Some(t) => t,
            None => unreachable!("internal task {id} is gone"),
        }
    }

    // ----------------------------------------------------------------- validation

    fn check_time(&self, now: Time) -> Result<(), RouterError> {
        if now < self.now {
            Err(RouterError::TimeWentBackwards {
                last: self.now,
                now,
            })
        } else {
            Ok(())
        }
    }

    fn check_skill(&self, skill: crate::SkillId) -> Result<(), RouterError> {
        if (skill.0 as usize) < self.catalog.skill_count() {
            Ok(())
        } else {
            Err(RouterError::UnknownName {
                kind: "skill",
                id: skill.0,
            })
        }
    }
    fn check_tag(&self, tag: TagId) -> Result<(), RouterError> {
        if (tag.0 as usize) < self.catalog.tag_count() {
            Ok(())
        } else {
            Err(RouterError::UnknownName {
                kind: "tag",
                id: tag.0,
            })
        }
    }
    fn check_tenant(&self, tenant: TenantId) -> Result<(), RouterError> {
        if (tenant.0 as usize) < self.catalog.tenant_count() {
            Ok(())
        } else {
            Err(RouterError::UnknownName {
                kind: "tenant",
                id: tenant.0,
            })
        }
    }
    fn check_level(level: u8) -> Result<(), RouterError> {
        if (1..=MAX_LEVEL).contains(&level) {
            Ok(())
        } else {
            Err(RouterError::InvalidLevel {
                level,
                max: MAX_LEVEL,
            })
        }
    }
    fn check_number(field: &'static str, value: f64) -> Result<(), RouterError> {
        if value.is_finite() {
            Ok(())
        } else {
            Err(RouterError::InvalidNumber { field, value })
        }
    }

    fn check_agent_spec(&self, spec: &AgentSpec) -> Result<(), RouterError> {
        if spec.capacity.is_zero() {
            return Err(RouterError::ZeroCapacity(spec.id));
        }
        for &(s, l) in &spec.skills {
            self.check_skill(s)?;
            Self::check_level(l)?;
        }
        for &t in &spec.tags {
            self.check_tag(t)?;
        }
        for &t in &spec.certifications {
            self.check_tenant(t)?;
        }
        Ok(())
    }

    fn check_requirements(&self, r: &Requirements) -> Result<(), RouterError> {
        for req in &r.skills {
            self.check_skill(req.skill)?;
            Self::check_level(req.min_level)?;
        }
        for &t in &r.tags {
            self.check_tag(t)?;
        }
        Ok(())
    }

    fn check_preferences(&self, p: &Preferences) -> Result<(), RouterError> {
        for &(s, w) in &p.skills {
            self.check_skill(s)?;
            Self::check_number("preferences.skills weight", w)?;
        }
        for &(t, w) in &p.tags {
            self.check_tag(t)?;
            Self::check_number("preferences.tags weight", w)?;
        }
        Ok(())
    }

    fn check_customer(customer: &CustomerProfile, priority: &Priority) -> Result<(), RouterError> {
        Self::check_number("customer.sentiment", customer.sentiment)?;
        if !(-1.0..=1.0).contains(&customer.sentiment) {
            return Err(RouterError::InvalidNumber {
                field: "customer.sentiment (must be in [-1, 1])",
                value: customer.sentiment,
            });
        }
        Self::check_number("priority.base", priority.base)
    }

    fn task_view<'a>(&self, t: &'a TaskRec, reqs: &'a Requirements) -> TaskView<'a> {
        TaskView {
            tenant: t.tenant,
            channel: t.channel,
            requirements: reqs,
            preferences: t.preferences.as_deref().unwrap_or(&NO_PREFERENCES),
            customer: t.customer(),
            priority: t.priority(),
            sla_ms: t.sla_ms,
        }
    }

    fn task_score(&self, t: &TaskRec, reqs: &Requirements) -> f64 {
        self.policy
            .task_score(&self.task_view(t, reqs), &self.cfg.priority)
    }

    fn make_key(
        &self,
        score: f64,
        created_at: Time,
        sla_ms: u64,
        class: u8,
        seq: u64,
    ) -> Result<OrderKey, RouterError> {
        if !score.is_finite() {
            return Err(RouterError::InvalidNumber {
                field: "task score (from Policy::task_score)",
                value: score,
            });
        }
        let key = self
            .cfg
            .priority
            .key(score, created_at.as_secs_f64(), sla_secs(sla_ms));
        OrderKey::new(class, key, seq).ok_or(RouterError::InvalidNumber {
            field: "priority key",
            value: key,
        })
    }

    // ----------------------------------------------------------------- indexes

    fn index_agent(&mut self, slot: u32, on: bool) {
        let Some(a) = self.agents[slot as usize].as_ref() else {
            return;
        };
        let (skills, tags, certs) = (
            a.skills.iter().map(|s| s.0.0).collect::<Vec<_>>(),
            a.tags.iter().map(|t| t.0).collect::<Vec<_>>(),
            a.certs.iter().map(|t| t.0).collect::<Vec<_>>(),
        );
        for (idx, ids) in [
            (&mut self.skill_idx, skills),
            (&mut self.tag_idx, tags),
            (&mut self.cert_idx, certs),
        ] {
            for id in ids {
                let id = id as usize;
                if idx.len() <= id {
                    idx.resize_with(id + 1, FixedBitSet::new);
                }
                set_bit(&mut idx[id], slot, on);
            }
        }
        set_bit(&mut self.live, slot, on);
    }

    /// Re-files an agent in the free bitsets and strategy indexes after any change to its
    /// presence, load, capacity, offers or idle time.
    fn refresh_free(&mut self, slot: u32) {
        let a = self.aref(slot);
        let idle = self.idle_key(a);
        let mut mask = 0u8;
        for c in Channel::ALL {
            if a.has_room(c) {
                mask |= 1 << c.index();
            }
        }
        let (old, load, cap) = (a.ix, a.load, a.capacity.0);
        for c in 0..Channel::COUNT {
            let was = old.mask & (1 << c) != 0;
            let is = mask & (1 << c) != 0;
            if was == is
                && (!is || (old.idle == idle && old.load[c] == load[c] && old.cap[c] == cap[c]))
            {
                continue;
            }
            let built = self.idx_built[c];
            // The idle index's key ignores load: skip it when only the load moved.
            let idle_same = was == is && old.idle == idle;
            if was {
                if built & IDX_IDLE != 0 && !idle_same {
                    self.idle_idx[c].remove(&(old.idle, slot));
                }
                if built & IDX_OCC != 0 {
                    self.occ_idx[c].remove(&OccKey {
                        load: old.load[c],
                        cap: old.cap[c],
                        idle: old.idle,
                        slot,
                    });
                }
            }
            if is {
                if built & IDX_IDLE != 0 && !idle_same {
                    self.idle_idx[c].insert((idle, slot));
                }
                if built & IDX_OCC != 0 {
                    self.occ_idx[c].insert(OccKey {
                        load: load[c],
                        cap: cap[c],
                        idle,
                        slot,
                    });
                }
            }
            if was != is {
                set_bit(&mut self.free[c], slot, is);
            }
        }
        let i = slot as usize;
        if self.idle_keys.len() <= i {
            self.idle_keys.resize(i + 1, Time::ZERO);
        }
        self.idle_keys[i] = idle;
        if idle != old.idle || mask != old.mask {
            let (word, bit) = (i / BLOCK / BLOCK, i / BLOCK % BLOCK);
            for c in 0..Channel::COUNT {
                if (mask | old.mask) & (1 << c) != 0 {
                    let stale = &mut self.stale_blocks[c];
                    if stale.len() <= word {
                        stale.resize(word + 1, 0);
                    }
                    stale[word] |= 1 << bit;
                }
            }
        }
        self.arec(slot).ix = Indexed {
            idle,
            load,
            cap,
            mask,
        };
    }

    fn refresh_agent_queues(&mut self, slot: u32) {
        let mut list = Vec::new();
        for qi in 0..self.queues.len() {
            let meets = self.aref(slot).meets(&self.queues[qi], &self.catalog);
            #[allow(clippy::cast_possible_truncation)]
            let q = qi as u32; // queue count is bounded by u32 (see get_or_create_queue)
            let queue = &mut self.queues[qi];
            if queue.eligible.contains(slot as usize) != meets {
                set_bit(&mut queue.eligible, slot, meets);
                if meets {
                    queue.eligible_n += 1;
                } else {
                    queue.eligible_n -= 1;
                }
            }
            if meets {
                list.push(q);
            }
        }
        self.arec(slot).queues = list;
    }

    fn get_or_create_queue(
        &mut self,
        channel: Channel,
        tenant: TenantId,
        reqs: Requirements,
    ) -> u32 {
        let sig = self.queue_sig(channel, tenant, reqs);
        if let Some(&q) = self.queue_by_sig.get(&sig) {
            return q;
        }
        let qi = u32::try_from(self.queues.len()).unwrap_or(u32::MAX);
        let queue = self.build_queue(QueueId(qi), sig.clone());
        for slot in queue.eligible.ones() {
            #[allow(clippy::cast_possible_truncation)]
            self.arec(slot as u32).queues.push(qi);
        }
        self.queues.push(queue);
        self.queue_by_sig.insert(sig, qi);
        qi
    }

    /// The signature of the queue for a task of `tenant` on `channel` with canonical `reqs`.
    fn queue_sig(&self, channel: Channel, tenant: TenantId, reqs: Requirements) -> QueueSig {
        QueueSig {
            channel,
            cert_tenant: reqs.certification.then_some(tenant),
            tenant: (!self.cfg.shares.is_empty()).then_some(tenant),
            requirements: reqs,
        }
    }

    /// A queue for `sig` with its eligibility bitset filled: the skill, tag and certification
    /// indexes narrow the candidates, then each candidate is checked in full (filter included).
    fn build_queue(&self, id: QueueId, sig: QueueSig) -> Queue {
        let mut cand = self.live.clone();
        let empty = FixedBitSet::new();
        for r in &sig.requirements.skills {
            cand.intersect_with(self.skill_idx.get(r.skill.0 as usize).unwrap_or(&empty));
        }
        for t in &sig.requirements.tags {
            cand.intersect_with(self.tag_idx.get(t.0 as usize).unwrap_or(&empty));
        }
        if let Some(t) = sig.cert_tenant {
            cand.intersect_with(self.cert_idx.get(t.0 as usize).unwrap_or(&empty));
        }
        let mut queue = Queue {
            id,
            channel: sig.channel,
            cert_tenant: sig.cert_tenant,
            tenant: sig.tenant,
            requirements: sig.requirements,
            waiting: std::collections::BTreeMap::new(),
            eligible: FixedBitSet::with_capacity(self.agents.len()),
            eligible_n: 0,
            skip_walks: 0,
        };
        for slot in cand.ones() {
            if self.agents[slot]
                .as_ref()
                .is_some_and(|a| a.meets(&queue, &self.catalog))
            {
                queue.eligible.insert(slot);
                queue.eligible_n += 1;
            }
        }
        queue
    }

    fn queue_insert(&mut self, q: u32, key: OrderKey, task: TaskId) {
        self.queues[q as usize].waiting.insert(key, task);
        set_bit(&mut self.nonempty, q, true);
    }

    fn queue_remove(&mut self, q: u32, key: OrderKey) {
        let queue = &mut self.queues[q as usize];
        queue.waiting.remove(&key);
        if queue.waiting.is_empty() {
            set_bit(&mut self.nonempty, q, false);
        }
    }

    fn push_timer(&mut self, at: Time, kind: TimerKind) -> u64 {
        self.timer_seq += 1;
        self.timers.insert((at, self.timer_seq, kind));
        self.timer_seq
    }

    /// Removes a task record and every timer that belongs to it.
    fn drop_task(&mut self, task: TaskId) {
        if let Some(t) = self.tasks.remove(&task) {
            if t.phase != Phase::Waiting {
                self.hold(t.tenant, false);
            }
            let seq = t.key.seq;
            if let (at, n @ 1..) = t.max_wait_timer {
                self.timers
                    .remove(&(at, n, TimerKind::MaxWait { task, seq }));
            }
            if let Phase::WrapUp(_, at, n) = t.phase {
                self.timers
                    .remove(&(at, n, TimerKind::WrapUpEnd { task, seq }));
            }
            for (slot, at, n) in t.declines {
                self.timers
                    .remove(&(at, n, TimerKind::Backoff { task, seq, slot }));
            }
        }
    }

    // ----------------------------------------------------------------- agents

    /// Registers an agent. It receives offers at once if its state is `Available`.
    ///
    /// # Errors
    /// [`RouterError::DuplicateAgent`], [`RouterError::ZeroCapacity`],
    /// [`RouterError::InvalidLevel`], [`RouterError::UnknownName`],
    /// [`RouterError::TimeWentBackwards`]. The router is unchanged on error.
    pub fn add_agent(&mut self, now: Time, spec: AgentSpec) -> Result<(), RouterError> {
        self.check_time(now)?;
        if self.agent_slot.contains_key(&spec.id) {
            return Err(RouterError::DuplicateAgent(spec.id));
        }
        self.check_agent_spec(&spec)?;
        let slot = u32::try_from(self.agents.len()).map_err(|_| RouterError::InvalidConfig {
            path: "agents",
            problem: "more than u32::MAX agents registered".into(),
        })?;
        self.now = now;
        let (skills, tags, certs) = normalise_agent(&spec);
        self.agents.push(Some(AgentRec {
            id: spec.id,
            kind: spec.kind,
            skills,
            tags,
            certs,
            capacity: spec.capacity,
            load: [0; Channel::COUNT],
            state: spec.state,
            idle_since: now,
            offers: Vec::new(),
            work: Vec::new(),
            queues: Vec::new(),
            missed: 0,
            ix: Indexed::default(),
        }));
        self.agent_slot.insert(spec.id, slot);
        self.index_agent(slot, true);
        self.refresh_agent_queues(slot);
        self.refresh_free(slot);
        self.dirty_agents.push(slot);
        self.run_matching();
        Ok(())
    }

    /// Changes an agent's skills, tags, certifications, kind and capacity (its state is left as
    /// is; use [`Router::set_agent_state`]). Outstanding offers for tasks the agent no longer
    /// qualifies for are rescinded and their tasks re-queued in their old place.
    ///
    /// # Errors
    /// As [`Router::add_agent`], plus [`RouterError::UnknownAgent`] and
    /// [`RouterError::CapacityBelowLoad`] when a channel's new capacity is below the work the agent
    /// holds there.
    pub fn update_agent(&mut self, now: Time, spec: AgentSpec) -> Result<(), RouterError> {
        self.check_time(now)?;
        let slot = self.slot_of(spec.id)?;
        self.check_agent_spec(&spec)?;
        let a = self.aref(slot);
        for c in Channel::ALL {
            if spec.capacity.get(c) < a.load[c.index()] {
                return Err(RouterError::CapacityBelowLoad {
                    agent: spec.id,
                    channel: c,
                    capacity: spec.capacity.get(c),
                    load: a.load[c.index()],
                });
            }
        }
        self.now = now;
        self.index_agent(slot, false);
        let (skills, tags, certs) = normalise_agent(&spec);
        {
            let a = self.arec(slot);
            a.skills = skills;
            a.tags = tags;
            a.certs = certs;
            a.kind = spec.kind;
            a.capacity = spec.capacity;
        }
        self.index_agent(slot, true);
        self.refresh_agent_queues(slot);
        let stale: Vec<OfferId> = self
            .aref(slot)
            .offers
            .iter()
            .copied()
            .filter(|o| {
                self.offers.get(o).is_some_and(|rec| {
                    let q = self.tref(rec.task).queue;
                    !self.queues[q as usize].eligible.contains(slot as usize)
                })
            })
            .collect();
        for o in stale {
            self.withdraw_offer(o, RescindReason::NoLongerEligible, QueueReason::Rescinded);
        }
        self.refresh_free(slot);
        self.dirty_agents.push(slot);
        self.run_matching();
        Ok(())
    }

    /// Changes an agent's presence. Leaving `Available` rescinds its outstanding offers (the
    /// tasks go back to their old place); going `Offline` also re-queues the tasks it is serving
    /// (keeping their place) and completes those in wrap-up. See [`AgentState`].
    ///
    /// # Errors
    /// [`RouterError::UnknownAgent`], [`RouterError::TimeWentBackwards`].
    pub fn set_agent_state(
        &mut self,
        now: Time,
        agent: AgentId,
        state: AgentState,
    ) -> Result<(), RouterError> {
        self.check_time(now)?;
        let slot = self.slot_of(agent)?;
        self.now = now;
        self.change_state(slot, state);
        self.run_matching();
        Ok(())
    }

    fn change_state(&mut self, slot: u32, state: AgentState) {
        let old = self.aref(slot).state;
        if old == state {
            return;
        }
        self.arec(slot).state = state;
        if old == AgentState::Available {
            let offers = self.aref(slot).offers.clone();
            for o in offers {
                self.withdraw_offer(o, RescindReason::AgentUnavailable, QueueReason::Rescinded);
            }
        }
        if state == AgentState::Offline {
            let work = std::mem::take(&mut self.arec(slot).work);
            for t in work {
                let (channel, phase) = {
                    let task = self.tref(t);
                    (task.channel, task.phase.clone())
                };
                self.arec(slot).load[channel.index()] -= 1;
                match phase {
                    Phase::WrapUp(..) => self.finish_task_record(t, slot),
                    _ => self.requeue(t, QueueReason::AgentOffline),
                }
            }
        }
        if state == AgentState::Available {
            let now = self.now;
            let a = self.arec(slot);
            a.idle_since = now;
            a.missed = 0;
            self.dirty_agents.push(slot);
        }
        self.refresh_free(slot);
    }

    /// Removes an agent. Its offers are rescinded and its work in hand is re-queued, keeping its
    /// place, exactly as if it had gone offline first.
    ///
    /// # Errors
    /// [`RouterError::UnknownAgent`], [`RouterError::TimeWentBackwards`].
    pub fn remove_agent(&mut self, now: Time, agent: AgentId) -> Result<(), RouterError> {
        self.check_time(now)?;
        let slot = self.slot_of(agent)?;
        self.now = now;
        self.change_state(slot, AgentState::Offline);
        self.index_agent(slot, false);
        for q in std::mem::take(&mut self.arec(slot).queues) {
            let queue = &mut self.queues[q as usize];
            set_bit(&mut queue.eligible, slot, false);
            queue.eligible_n -= 1;
        }
        for c in 0..Channel::COUNT {
            set_bit(&mut self.free[c], slot, false);
        }
        self.agents[slot as usize] = None;
        self.agent_slot.remove(&agent);
        self.dirty_agents.retain(|&s| s != slot);
        self.run_matching();
        Ok(())
    }

    // ----------------------------------------------------------------- tasks

    /// A task arrives. It joins the queue for its channel and requirements and is offered at once
    /// if a free, eligible agent exists.
    ///
    /// # Errors
    /// [`RouterError::DuplicateTask`], [`RouterError::UnknownName`], [`RouterError::InvalidLevel`],
    /// [`RouterError::InvalidNumber`] (NaN/infinite scores or weights, sentiment outside
    /// `[-1, 1]`, `created_at` in the future), [`RouterError::InvalidConfig`] (fan-out 0),
    /// [`RouterError::TimeWentBackwards`].
    pub fn arrive(&mut self, now: Time, spec: TaskSpec) -> Result<(), RouterError> {
        self.check_time(now)?;
        if self.tasks.contains_key(&spec.id) {
            return Err(RouterError::DuplicateTask(spec.id));
        }
        self.check_tenant(spec.tenant)?;
        self.check_requirements(&spec.requirements)?;
        self.check_preferences(&spec.preferences)?;
        Self::check_customer(&spec.customer, &spec.priority)?;
        if spec.fanout == Some(0) {
            return Err(RouterError::InvalidConfig {
                path: "task.fanout",
                problem: "must be at least 1".into(),
            });
        }
        let created_at = spec.created_at.unwrap_or(now);
        if created_at > now {
            #[allow(clippy::cast_precision_loss)]
            return Err(RouterError::InvalidNumber {
                field: "created_at (in the future)",
                value: created_at.as_millis() as f64,
            });
        }
        let mut reqs = spec.requirements;
        reqs.canonicalize();
        let sla_ms = spec.sla_ms.unwrap_or(self.cfg.default_sla_ms);
        let mut rec = TaskRec {
            tenant: spec.tenant,
            channel: spec.channel,
            queue: 0,
            key: OrderKey {
                class: 0,
                key: ordered_float::NotNan::default(),
                seq: 0,
            },
            created_at,
            preferences: (spec.preferences != Preferences::default())
                .then(|| Box::new(spec.preferences)),
            sentiment: spec.customer.sentiment,
            base: spec.priority.base,
            value_tier: spec.customer.value_tier,
            sla_ms,
            strategy: spec.strategy.unwrap_or(self.cfg.default_strategy),
            fanout: spec.fanout.unwrap_or(self.cfg.default_fanout),
            phase: Phase::Waiting,
            declines: thin_vec::ThinVec::new(),
            max_wait_timer: (Time::ZERO, 0),
        };
        let score = self.task_score(&rec, &reqs);
        let seq = self.next_seq;
        rec.key = self.make_key(score, created_at, sla_ms, spec.priority.class, seq)?;
        // ---- validated: mutate from here on.
        self.now = now;
        self.next_seq += 1;
        rec.queue = self.get_or_create_queue(spec.channel, spec.tenant, reqs);
        if let Some(max) = spec.max_wait_ms {
            let at = created_at.plus_millis(max);
            let n = self.push_timer(at, TimerKind::MaxWait { task: spec.id, seq });
            rec.max_wait_timer = (at, n);
        }
        let (q, key) = (rec.queue, rec.key);
        self.tasks.insert(spec.id, rec);
        self.counters.arrived += 1;
        self.effects.push_back(Effect::Queued {
            task: spec.id,
            queue: QueueId(q),
            reason: QueueReason::Arrived,
        });
        self.collect_ended_backoffs();
        if self.cfg.dispatch == crate::Dispatch::Batched {
            self.queue_insert(q, key, spec.id);
            self.dirty_tasks.clear();
        } else if self.dirty_tasks.is_empty() && self.dirty_agents.is_empty() {
            // Nothing else is pending, so this task is the only one that can be matched: try it
            // before filing it in its queue.
            if !self.offer_task_from(spec.id, false) {
                self.queue_insert(q, key, spec.id);
            }
        } else {
            self.queue_insert(q, key, spec.id);
            self.dirty_tasks.push(spec.id);
            self.run_matching();
        }
        Ok(())
    }

    /// The agent accepts an offer: the task goes into service; any other offers for it
    /// (fan-out) are rescinded.
    ///
    /// # Errors
    /// [`RouterError::UnknownOffer`] (never made, already answered, rescinded or expired),
    /// [`RouterError::WrongAgent`], [`RouterError::OfferExpired`] (answer at or after the lease
    /// end, even if [`Router::handle_timeout`] has not run yet), [`RouterError::UnknownAgent`],
    /// [`RouterError::TimeWentBackwards`].
    pub fn accept(&mut self, now: Time, offer: OfferId, agent: AgentId) -> Result<(), RouterError> {
        let slot = self.check_answer(now, offer, agent)?;
        self.now = now;
        let Some(rec) = self.offers.remove(&offer) else {
            return Err(RouterError::UnknownOffer(offer));
        };
        self.timers
            .remove(&(rec.expires_at, rec.timer, TimerKind::OfferExpiry(offer)));
        let task = rec.task;
        let others: Vec<OfferId> = match &self.tref(task).phase {
            Phase::Offered(list) => list.iter().copied().filter(|&o| o != offer).collect(),
            _ => Vec::new(),
        };
        for o in others {
            self.rescind(o, RescindReason::TakenByOther);
        }
        self.tmut(task).phase = Phase::InService(slot);
        let a = self.arec(slot);
        a.offers.retain(|&o| o != offer);
        a.work.push(task);
        a.idle_since = now;
        a.missed = 0;
        self.refresh_free(slot);
        self.effects
            .push_back(Effect::Assigned { task, agent, offer });
        self.run_matching();
        Ok(())
    }

    /// The agent rejects an offer. The task returns to its old place and is offered to the next
    /// best agent; this agent is kept from it for `decline_backoff_ms`.
    ///
    /// # Errors
    /// As [`Router::accept`].
    pub fn reject(&mut self, now: Time, offer: OfferId, agent: AgentId) -> Result<(), RouterError> {
        self.check_answer(now, offer, agent)?;
        self.now = now;
        self.counters.rejected += 1;
        self.decline(offer, QueueReason::Rejected);
        self.run_matching();
        Ok(())
    }

    fn check_answer(&self, now: Time, offer: OfferId, agent: AgentId) -> Result<u32, RouterError> {
        self.check_time(now)?;
        let slot = self.slot_of(agent)?;
        let rec = self
            .offers
            .get(&offer)
            .ok_or(RouterError::UnknownOffer(offer))?;
        if rec.agent != slot {
            return Err(RouterError::WrongAgent {
                offer,
                expected: self.agent_id(rec.agent),
                got: agent,
            });
        }
        if now >= rec.expires_at {
            return Err(RouterError::OfferExpired {
                offer,
                expired_at: rec.expires_at,
                now,
            });
        }
        Ok(slot)
    }

    /// Service ends. With `wrap_up_ms = 0` the task is done at once; otherwise the agent's
    /// capacity is held for wrap-up.
    ///
    /// # Errors
    /// [`RouterError::UnknownTask`], [`RouterError::InvalidTaskState`] unless in service,
    /// [`RouterError::TimeWentBackwards`].
    pub fn complete(&mut self, now: Time, task: TaskId) -> Result<(), RouterError> {
        self.check_time(now)?;
        let t = self
            .tasks
            .get(&task)
            .ok_or(RouterError::UnknownTask(task))?;
        let Phase::InService(slot) = t.phase else {
            return Err(invalid_state(task, &t.phase, "complete"));
        };
        let seq = t.key.seq;
        self.now = now;
        if self.cfg.wrap_up_ms == 0 {
            self.finish_task(task, slot);
        } else {
            let until = now.plus_millis(self.cfg.wrap_up_ms);
            let n = self.push_timer(until, TimerKind::WrapUpEnd { task, seq });
            self.tmut(task).phase = Phase::WrapUp(slot, until, n);
            let agent = self.agent_id(slot);
            self.effects
                .push_back(Effect::WrapUpStarted { task, agent, until });
        }
        self.run_matching();
        Ok(())
    }

    /// Ends wrap-up early: the task is done and the capacity freed.
    ///
    /// # Errors
    /// [`RouterError::UnknownTask`], [`RouterError::InvalidTaskState`] unless in wrap-up,
    /// [`RouterError::TimeWentBackwards`].
    pub fn finish_wrap_up(&mut self, now: Time, task: TaskId) -> Result<(), RouterError> {
        self.check_time(now)?;
        let t = self
            .tasks
            .get(&task)
            .ok_or(RouterError::UnknownTask(task))?;
        let Phase::WrapUp(slot, _, _) = t.phase else {
            return Err(invalid_state(task, &t.phase, "finish wrap-up"));
        };
        self.now = now;
        self.finish_task(task, slot);
        self.run_matching();
        Ok(())
    }

    /// The host cancels a task that is waiting or offered.
    ///
    /// # Errors
    /// [`RouterError::UnknownTask`], [`RouterError::InvalidTaskState`] once in service
    /// (complete it instead), [`RouterError::TimeWentBackwards`].
    pub fn cancel(&mut self, now: Time, task: TaskId) -> Result<(), RouterError> {
        self.end_unserved(now, task, RescindReason::Cancelled, "cancel")?;
        self.counters.cancelled += 1;
        self.effects.push_back(Effect::Cancelled { task });
        self.run_matching();
        Ok(())
    }

    /// The customer gives up while waiting or while offered.
    ///
    /// # Errors
    /// As [`Router::cancel`].
    pub fn abandon(&mut self, now: Time, task: TaskId) -> Result<(), RouterError> {
        self.end_unserved(now, task, RescindReason::Abandoned, "abandon")?;
        self.counters.abandoned += 1;
        self.effects.push_back(Effect::Abandoned { task });
        self.run_matching();
        Ok(())
    }

    fn end_unserved(
        &mut self,
        now: Time,
        task: TaskId,
        why: RescindReason,
        op: &'static str,
    ) -> Result<(), RouterError> {
        self.check_time(now)?;
        let t = self
            .tasks
            .get(&task)
            .ok_or(RouterError::UnknownTask(task))?;
        if !matches!(t.phase, Phase::Waiting | Phase::Offered(_)) {
            return Err(invalid_state(task, &t.phase, op));
        }
        self.now = now;
        self.unplace(task, why);
        self.drop_task(task);
        Ok(())
    }

    /// Moves a task that is waiting, offered or in service to another channel and requirement set
    /// (another queue). It keeps its age and priority; an agent serving it is freed.
    ///
    /// # Errors
    /// [`RouterError::UnknownTask`], [`RouterError::InvalidTaskState`] in wrap-up,
    /// [`RouterError::UnknownName`], [`RouterError::InvalidLevel`],
    /// [`RouterError::TimeWentBackwards`].
    pub fn transfer(
        &mut self,
        now: Time,
        task: TaskId,
        channel: Channel,
        requirements: Requirements,
    ) -> Result<(), RouterError> {
        self.check_time(now)?;
        let t = self
            .tasks
            .get(&task)
            .ok_or(RouterError::UnknownTask(task))?;
        if matches!(t.phase, Phase::WrapUp(..)) {
            return Err(invalid_state(task, &t.phase, "transfer"));
        }
        self.check_requirements(&requirements)?;
        self.now = now;
        let tenant = t.tenant;
        self.unplace(task, RescindReason::Transferred);
        let q = self.get_or_create_queue(channel, tenant, requirements.canonical());
        let t = self.tmut(task);
        t.queue = q;
        t.channel = channel;
        self.requeue(task, QueueReason::Transferred);
        self.run_matching();
        Ok(())
    }

    /// Changes a live task's priority and customer profile (e.g. a sentiment update). A waiting
    /// task moves to its new place in `O(log n)`; its age and arrival sequence are kept.
    ///
    /// # Errors
    /// [`RouterError::UnknownTask`], [`RouterError::InvalidNumber`],
    /// [`RouterError::TimeWentBackwards`].
    pub fn reprioritize(
        &mut self,
        now: Time,
        task: TaskId,
        priority: Priority,
        customer: CustomerProfile,
    ) -> Result<(), RouterError> {
        self.check_time(now)?;
        let t = self
            .tasks
            .get(&task)
            .ok_or(RouterError::UnknownTask(task))?;
        Self::check_customer(&customer, &priority)?;
        let mut probe = t.clone();
        probe.base = priority.base;
        probe.sentiment = customer.sentiment;
        probe.value_tier = customer.value_tier;
        probe.key.class = priority.class;
        let score = self.task_score(&probe, &self.queues[t.queue as usize].requirements);
        let key = self.make_key(score, t.created_at, t.sla_ms, priority.class, t.key.seq)?;
        self.now = now;
        let (old, q, waiting) = (t.key, t.queue, t.phase == Phase::Waiting);
        if waiting {
            let queue = &mut self.queues[q as usize];
            queue.waiting.remove(&old);
            queue.waiting.insert(key, task);
            // Still non-empty: the task is back in the same queue.
        }
        let t = self.tmut(task);
        t.key = key;
        t.base = priority.base;
        t.sentiment = customer.sentiment;
        t.value_tier = customer.value_tier;
        self.run_matching();
        Ok(())
    }

    /// Gives a **waiting** task a new target in one step: requirements (and so queue), and
    /// optionally strategy, priority and preferences. It keeps its channel, tenant, age, arrival
    /// sequence and decline back-offs, so it keeps its place in line relative to tasks of equal
    /// priority. This is how [workflow](crate::workflow) steps widen and exception rules move
    /// tasks; it never disturbs an outstanding offer (the task must be waiting).
    ///
    /// # Errors
    /// [`RouterError::UnknownTask`], [`RouterError::InvalidTaskState`] unless waiting,
    /// [`RouterError::UnknownName`], [`RouterError::InvalidLevel`],
    /// [`RouterError::InvalidNumber`], [`RouterError::TimeWentBackwards`]. Nothing changes on
    /// error.
    ///
    /// # Example
    /// ```
    /// use switchboard::*;
    /// let mut r = Router::new(RouterConfig::default()).unwrap();
    /// let acme = r.catalog_mut().tenant("acme");
    /// let vip = r.catalog_mut().tag("vip");
    /// r.add_agent(Time::ZERO, AgentSpec::new(AgentId(1)).capacity(Channel::Chat, 1)
    ///     .state(AgentState::Available)).unwrap();
    /// // Nobody is tagged vip: the task waits.
    /// r.arrive(Time::ZERO, TaskSpec::new(TaskId(1), acme, Channel::Chat)
    ///     .requires(Requirements::default().tag(vip))).unwrap();
    /// assert_eq!(r.task_state(TaskId(1)), Some(TaskState::Waiting));
    /// // Widen: anyone may take it now.
    /// r.retarget(Time::from_secs(30), TaskId(1), Retarget::new(Requirements::default())).unwrap();
    /// assert!(matches!(r.task_state(TaskId(1)), Some(TaskState::Offered(_))));
    /// ```
    pub fn retarget(
        &mut self,
        now: Time,
        task: TaskId,
        target: crate::Retarget,
    ) -> Result<(), RouterError> {
        self.check_time(now)?;
        let t = self
            .tasks
            .get(&task)
            .ok_or(RouterError::UnknownTask(task))?;
        if t.phase != Phase::Waiting {
            return Err(invalid_state(task, &t.phase, "retarget"));
        }
        self.check_requirements(&target.requirements)?;
        if let Some(p) = &target.preferences {
            self.check_preferences(p)?;
        }
        let priority = target.priority.unwrap_or(t.priority());
        Self::check_number("priority.base", priority.base)?;
        let mut reqs = target.requirements;
        reqs.canonicalize();
        let mut probe = t.clone();
        probe.base = priority.base;
        probe.key.class = priority.class;
        if let Some(p) = &target.preferences {
            probe.preferences = (*p != Preferences::default()).then(|| Box::new(p.clone()));
        }
        let score = self.task_score(&probe, &reqs);
        let key = self.make_key(score, t.created_at, t.sla_ms, priority.class, t.key.seq)?;
        // ---- validated: mutate from here on.
        self.now = now;
        let (old_q, old_key, tenant, channel) = (t.queue, t.key, t.tenant, t.channel);
        self.queue_remove(old_q, old_key);
        let q = self.get_or_create_queue(channel, tenant, reqs);
        let t = self.tmut(task);
        t.queue = q;
        t.key = key;
        t.base = priority.base;
        t.preferences = probe.preferences;
        if let Some(s) = target.strategy {
            t.strategy = s;
        }
        self.queue_insert(q, key, task);
        self.effects.push_back(Effect::Queued {
            task,
            queue: QueueId(q),
            reason: QueueReason::Retargeted,
        });
        self.dirty_tasks.push(task);
        self.run_matching();
        Ok(())
    }

    /// Replaces the tenant shares ([`RouterConfig::shares`]). Waiting tasks keep their places;
    /// when shares are switched on or off, the waiting lines are re-filed (per tenant with
    /// shares, shared without) in arrival order.
    ///
    /// # Errors
    /// [`RouterError::InvalidConfig`] (a tenant listed twice, a cap below the reservation),
    /// [`RouterError::UnknownName`] for a tenant not in the catalog,
    /// [`RouterError::TimeWentBackwards`]. Nothing changes on error.
    ///
    /// # Example
    /// ```
    /// use switchboard::*;
    /// let mut r = Router::new(RouterConfig::default()).unwrap();
    /// let acme = r.catalog_mut().tenant("acme");
    /// r.set_shares(Time::ZERO, vec![TenantShare { tenant: acme, reserved: 10, cap: Some(50) }]).unwrap();
    /// assert_eq!(r.config().shares.len(), 1);
    /// ```
    pub fn set_shares(
        &mut self,
        now: Time,
        shares: Vec<crate::TenantShare>,
    ) -> Result<(), RouterError> {
        self.check_time(now)?;
        for s in &shares {
            self.check_tenant(s.tenant)?;
        }
        let cfg = RouterConfig {
            shares,
            ..self.cfg.clone()
        };
        cfg.validate()?;
        self.now = now;
        let refile = cfg.shares.is_empty() != self.cfg.shares.is_empty();
        self.cfg = cfg;
        self.rebuild_share_index();
        if refile {
            self.refile_queues();
        }
        // Tiers only reorder competing tasks: no (task, free agent) pair appears or vanishes,
        // except through back-offs that ended by `now`.
        self.run_matching();
        Ok(())
    }

    /// Fires every timer due at or before `now`: offer expiries (the task goes back to its place,
    /// the agent gets a back-off), back-off ends, wrap-up ends and maximum waits.
    ///
    /// # Errors
    /// [`RouterError::TimeWentBackwards`].
    pub fn handle_timeout(&mut self, now: Time) -> Result<(), RouterError> {
        self.check_time(now)?;
        self.now = now;
        while let Some(&(at, _, kind)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            self.fire(at, kind);
            self.run_matching();
        }
        Ok(())
    }

    fn fire(&mut self, at: Time, kind: TimerKind) {
        match kind {
            TimerKind::OfferExpiry(o) => {
                let Some(rec) = self.offers.get(&o) else {
                    return;
                };
                if rec.expires_at > at {
                    return;
                }
                let (task, slot) = (rec.task, rec.agent);
                let agent = self.agent_id(slot);
                self.effects.push_back(Effect::OfferExpired {
                    offer: o,
                    task,
                    agent,
                });
                self.counters.expired += 1;
                self.decline(o, QueueReason::Expired);
                let max = self.cfg.max_missed_offers;
                let a = self.arec(slot);
                a.missed += 1;
                if max.is_some_and(|m| a.missed >= m) && a.state == AgentState::Available {
                    self.change_state(slot, AgentState::Away);
                    self.effects.push_back(Effect::AgentAutoAway { agent });
                }
            }
            TimerKind::Backoff { task, seq, slot } => {
                if let Some(t) = self.tasks.get(&task)
                    && t.key.seq == seq
                    && t.phase == Phase::Waiting
                    && t.backoff_until(slot) == Some(at)
                {
                    self.dirty_tasks.push(task);
                }
            }
            TimerKind::WrapUpEnd { task, seq } => {
                if let Some(t) = self.tasks.get(&task)
                    && let (true, Phase::WrapUp(slot, _, _)) = (t.key.seq == seq, &t.phase)
                {
                    let slot = *slot;
                    self.finish_task(task, slot);
                }
            }
            TimerKind::MaxWait { task, seq } => {
                if let Some(t) = self.tasks.get(&task)
                    && t.key.seq == seq
                    && matches!(t.phase, Phase::Waiting | Phase::Offered(_))
                {
                    self.unplace(task, RescindReason::TimedOut);
                    self.drop_task(task);
                    self.counters.timed_out += 1;
                    self.effects.push_back(Effect::TimedOut { task });
                }
            }
        }
    }

    // ----------------------------------------------------------------- events

    /// Applies an [`Event`] — the journaled form of every state-changing call.
    ///
    /// # Errors
    /// Whatever the corresponding method returns.
    pub fn handle(&mut self, now: Time, event: Event) -> Result<(), RouterError> {
        match event {
            Event::AddAgent(spec) => self.add_agent(now, spec),
            Event::UpdateAgent(spec) => self.update_agent(now, spec),
            Event::RemoveAgent { agent } => self.remove_agent(now, agent),
            Event::SetAgentState { agent, state } => self.set_agent_state(now, agent, state),
            Event::Arrive(spec) => self.arrive(now, spec),
            Event::Accept { offer, agent } => self.accept(now, offer, agent),
            Event::Reject { offer, agent } => self.reject(now, offer, agent),
            Event::Complete { task } => self.complete(now, task),
            Event::FinishWrapUp { task } => self.finish_wrap_up(now, task),
            Event::Cancel { task } => self.cancel(now, task),
            Event::Abandon { task } => self.abandon(now, task),
            Event::Transfer {
                task,
                channel,
                requirements,
            } => self.transfer(now, task, channel, requirements),
            Event::Reprioritize {
                task,
                priority,
                customer,
            } => self.reprioritize(now, task, priority, customer),
            Event::Retarget { task, target } => self.retarget(now, task, target),
            Event::SetShares { shares } => self.set_shares(now, shares),
            Event::Tick => self.handle_timeout(now),
            Event::DispatchBatch => self.dispatch_batch(now).map(|_| ()),
        }
    }

    // ----------------------------------------------------------------- internals: task moves

    /// Puts a task (not currently in a queue) into its queue, keeping its key.
    fn requeue(&mut self, task: TaskId, reason: QueueReason) {
        let t = self.tmut(task);
        let (was_held, tenant) = (t.phase != Phase::Waiting, t.tenant);
        t.phase = Phase::Waiting;
        if was_held {
            self.hold(tenant, false);
        }
        let t = self.tref(task);
        let (q, key) = (t.queue, t.key);
        self.queue_insert(q, key, task);
        self.effects.push_back(Effect::Queued {
            task,
            queue: QueueId(q),
            reason,
        });
        self.dirty_tasks.push(task);
    }

    /// Takes a task out of wherever it is (queue, offers, agent) without deciding where it goes.
    fn unplace(&mut self, task: TaskId, why: RescindReason) {
        let (phase, q, key, channel) = {
            let t = self.tref(task);
            (t.phase.clone(), t.queue, t.key, t.channel)
        };
        match phase {
            Phase::Waiting => {
                self.queue_remove(q, key);
            }
            Phase::Offered(list) => {
                for o in list {
                    self.rescind(o, why);
                }
            }
            Phase::InService(slot) | Phase::WrapUp(slot, _, _) => {
                let a = self.arec(slot);
                a.work.retain(|&t| t != task);
                a.load[channel.index()] -= 1;
                self.refresh_free(slot);
                self.dirty_agents.push(slot);
            }
        }
    }

    /// Removes an offer record and frees the agent's capacity; the task is not touched.
    fn release_offer(&mut self, offer: OfferId) -> Option<(TaskId, u32)> {
        let rec = self.offers.remove(&offer)?;
        self.timers
            .remove(&(rec.expires_at, rec.timer, TimerKind::OfferExpiry(offer)));
        let channel = self.tref(rec.task).channel;
        let a = self.arec(rec.agent);
        a.offers.retain(|&o| o != offer);
        a.load[channel.index()] -= 1;
        self.refresh_free(rec.agent);
        self.dirty_agents.push(rec.agent);
        Some((rec.task, rec.agent))
    }

    /// Rescinds one offer of a task whose phase the caller rewrites.
    fn rescind(&mut self, offer: OfferId, reason: RescindReason) {
        if let Some((task, slot)) = self.release_offer(offer) {
            let agent = self.agent_id(slot);
            self.effects.push_back(Effect::OfferRescinded {
                offer,
                task,
                agent,
                reason,
            });
        }
    }

    /// Rescinds one offer and re-queues its task if that was its last offer.
    fn withdraw_offer(&mut self, offer: OfferId, reason: RescindReason, qreason: QueueReason) {
        let Some(task) = self.offers.get(&offer).map(|o| o.task) else {
            return;
        };
        self.rescind(offer, reason);
        self.drop_offer_from_task(task, offer, qreason);
    }

    fn drop_offer_from_task(&mut self, task: TaskId, offer: OfferId, qreason: QueueReason) {
        let t = self.tmut(task);
        if let Phase::Offered(list) = &mut t.phase {
            list.retain(|&o| o != offer);
            if list.is_empty() {
                self.requeue(task, qreason);
            }
        }
    }

    /// Reject or expiry: free the agent, record the back-off, re-queue if last offer.
    fn decline(&mut self, offer: OfferId, qreason: QueueReason) {
        let Some((task, slot)) = self.release_offer(offer) else {
            return;
        };
        let until = self.now.plus_millis(self.cfg.decline_backoff_ms);
        let seq = self.tref(task).key.seq;
        let n = if self.cfg.decline_backoff_ms > 0 {
            self.push_timer(until, TimerKind::Backoff { task, seq, slot })
        } else {
            0
        };
        let t = self.tmut(task);
        let old = match t.declines.iter_mut().find(|d| d.0 == slot) {
            Some(d) => Some(std::mem::replace(d, (slot, until, n))),
            None => {
                t.declines.push((slot, until, n));
                None
            }
        };
        if let Some((_, at, n)) = old {
            self.timers
                .remove(&(at, n, TimerKind::Backoff { task, seq, slot }));
        }
        self.drop_offer_from_task(task, offer, qreason);
    }

    fn finish_task(&mut self, task: TaskId, slot: u32) {
        let channel = self.tref(task).channel;
        let a = self.arec(slot);
        a.work.retain(|&t| t != task);
        a.load[channel.index()] -= 1;
        self.finish_task_record(task, slot);
    }

    /// Removes a finished task (its capacity already released from the agent's load).
    fn finish_task_record(&mut self, task: TaskId, slot: u32) {
        self.drop_task(task);
        self.counters.completed += 1;
        self.refresh_free(slot);
        self.dirty_agents.push(slot);
        let agent = self.agent_id(slot);
        self.effects.push_back(Effect::Completed { task, agent });
    }

    // ----------------------------------------------------------------- internals: matching

    /// A back-off is over for every call from its end on, not only once `handle_timeout` has
    /// fired its timer: marks dirty the tasks whose back-offs ended since the last look.
    fn collect_ended_backoffs(&mut self) {
        if self.now > self.backoffs_seen {
            let from = (
                self.backoffs_seen.plus_millis(1),
                0,
                TimerKind::OfferExpiry(OfferId(0)),
            );
            for &(at, _, kind) in self.timers.range(from..) {
                if at > self.now {
                    break;
                }
                if let TimerKind::Backoff { task, .. } = kind {
                    self.dirty_tasks.push(task);
                }
            }
            self.backoffs_seen = self.now;
        }
    }

    fn run_matching(&mut self) {
        if self.cfg.dispatch == crate::Dispatch::Batched {
            // Offers are made only at decision points (`dispatch_batch`).
            self.dirty_tasks.clear();
            self.dirty_agents.clear();
            return;
        }
        self.collect_ended_backoffs();
        if self.dirty_tasks.is_empty()
            && let Some(&slot) = self.dirty_agents.first()
            && self.dirty_agents.iter().all(|&s| s == slot)
        {
            // Only this agent freed capacity: the tasks it can now take have no other free,
            // eligible agent (work conservation held before the call, and no back-off ended),
            // so each goes straight to it, best task first.
            while let Some((_, t)) = self.best_task_for_agent(slot, None) {
                self.offer_to(t, slot);
            }
            self.dirty_agents.clear();
            return;
        }
        if self.dirty_agents.is_empty() && self.dirty_tasks.len() == 1 {
            // Only this task can have gained a free agent: offering it is the whole pass.
            let t = self.dirty_tasks[0];
            if self
                .tasks
                .get(&t)
                .is_some_and(|x| x.phase == Phase::Waiting)
            {
                self.offer_task(t);
            }
            self.dirty_tasks.clear();
            return;
        }
        loop {
            let mut best: Option<(Rank, TaskId)> = None;
            for &t in &self.dirty_tasks {
                let Some(task) = self.tasks.get(&t) else {
                    continue;
                };
                if task.phase != Phase::Waiting {
                    continue;
                }
                let rank = (self.tier(self.queues[task.queue as usize].tenant), task.key);
                if best.is_some_and(|(k, _)| rank > k) {
                    continue;
                }
                if self.has_free_candidate(task) {
                    best = Some((rank, t));
                }
            }
            for &slot in &self.dirty_agents {
                if let Some(found) = self.best_task_for_agent(slot, best.map(|b| b.0)) {
                    best = Some(found);
                }
            }
            match best {
                Some((_, t)) => {
                    // The candidate predicates above and in `offer_task` are the same, so an
                    // offer is always made; the guard only rules out spinning if they ever differ.
                    if !self.offer_task(t) {
                        debug_assert!(false, "matching found task {t} but no agent");
                        break;
                    }
                }
                None => break,
            }
        }
        self.dirty_tasks.clear();
        self.dirty_agents.clear();
    }

    fn has_free_candidate(&self, task: &TaskRec) -> bool {
        let q = &self.queues[task.queue as usize];
        let mut found = false;
        and_ones(&q.eligible, &self.free[task.channel.index()], |slot| {
            if task.in_backoff(slot, self.now) {
                true
            } else {
                found = true;
                false
            }
        });
        found
    }

    /// The best waiting task `slot` can take now, if better than `bound`.
    fn best_task_for_agent(&self, slot: u32, bound: Option<Rank>) -> Option<(Rank, TaskId)> {
        let a = self.agents[slot as usize].as_ref()?;
        if a.state != AgentState::Available {
            return None;
        }
        let mut best: Option<(Rank, TaskId)> = None;
        let mut limit = bound;
        for &q in &a.queues {
            if !self.nonempty.contains(q as usize) {
                continue;
            }
            let queue = &self.queues[q as usize];
            if !a.has_room(queue.channel) {
                continue;
            }
            let tier = self.tier(queue.tenant);
            for (key, &tid) in &queue.waiting {
                let rank = (tier, *key);
                if limit.is_some_and(|l| rank > l) {
                    break;
                }
                if self.tref(tid).in_backoff(slot, self.now) {
                    continue;
                }
                best = Some((rank, tid));
                limit = Some(rank);
                break;
            }
        }
        best
    }

    /// The best free candidate for `task` by `strategy` — agents that never declined it first —
    /// in one pass over the candidate bitsets (two for `Random`), as `(slot, score, redeclined)`.
    /// Equivalent to `select(.., 1)` on the fresh candidates, then on the redeclined ones.
    fn pick_one(&mut self, task: TaskId, strategy: Strategy) -> Option<(u32, Option<f64>, bool)> {
        if strategy == Strategy::LongestIdle {
            // The longest-idle scan below reads the block minimums.
            let c = self.tref(task).channel.index();
            self.refresh_block_mins(c);
        }
        let now = self.now;
        let t = self.tref(task);
        let q = &self.queues[t.queue as usize];
        let ch = t.channel;
        let c = ch.index();
        let free = &self.free[c];
        // Tier of a candidate: 0 never declined, 1 declined with the back-off over, None in back-off.
        let tier = |slot: u32| match t.backoff_until(slot) {
            None => Some(0usize),
            Some(until) if until <= now => Some(1),
            Some(_) => None,
        };
        match strategy {
            Strategy::LongestIdle if t.declines.is_empty() => {
                // The common case, tight: nobody declined, so every candidate is in tier 0 and
                // only the dense idle keys are read.
                // Blocks are visited in slot order, so on equal keys the earlier slot (found
                // first) wins, and a block whose least key is not below the best so far holds no
                // better candidate.
                let idle_keys = &self.idle_keys;
                let mins = &self.block_min[c];
                let mut best_key = NO_KEY;
                let mut best = None;
                for (i, (&e, &f)) in q
                    .eligible
                    .as_slice()
                    .iter()
                    .zip(free.as_slice())
                    .enumerate()
                {
                    let mut w = e & f;
                    if w == 0 || mins.get(i).is_some_and(|&m| m >= best_key) {
                        continue;
                    }
                    while w != 0 {
                        let slot = i * BLOCK + w.trailing_zeros() as usize;
                        w &= w - 1;
                        let key = idle_keys[slot];
                        if key < best_key {
                            best_key = key;
                            best = Some(slot);
                        }
                    }
                }
                #[allow(clippy::cast_possible_truncation)]
                best.map(|slot| (slot as u32, None, false))
            }
            Strategy::LongestIdle | Strategy::LeastOccupied => {
                let mut best: [Option<OccKey>; 2] = [None, None];
                let idle_keys = &self.idle_keys;
                and_ones(&q.eligible, free, |slot| {
                    if let Some(k) = tier(slot) {
                        let better = if strategy == Strategy::LongestIdle {
                            // Dense keys: no agent record is touched.
                            let idle = idle_keys[slot as usize];
                            best[k].is_none_or(|b| (idle, slot) < (b.idle, b.slot))
                        } else {
                            let ix = &self.aref(slot).ix;
                            let occ = OccKey {
                                load: ix.load[c],
                                cap: ix.cap[c],
                                idle: ix.idle,
                                slot,
                            };
                            best[k].is_none_or(|b| occ < b)
                        };
                        if better {
                            let ix = &self.aref(slot).ix;
                            best[k] = Some(OccKey {
                                load: ix.load[c],
                                cap: ix.cap[c],
                                idle: ix.idle,
                                slot,
                            });
                        }
                    }
                    true
                });
                let (k, b) = best
                    .iter()
                    .enumerate()
                    .find_map(|(k, b)| b.map(|b| (k, b)))?;
                Some((b.slot, None, k == 1))
            }
            Strategy::BestScore => {
                let view = self.task_view(t, &q.requirements);
                let mut best: [Option<(f64, u32)>; 2] = [None, None];
                and_ones(&q.eligible, free, |slot| {
                    if let Some(k) = tier(slot) {
                        let v = self.policy.match_score(
                            &self.aref(slot).view(),
                            &view,
                            &self.cfg.scoring,
                        );
                        let v = if v.is_finite() { v } else { f64::NEG_INFINITY };
                        // Strictly greater: ties keep the earlier slot.
                        if best[k].is_none_or(|(bv, _)| v > bv) {
                            best[k] = Some((v, slot));
                        }
                    }
                    true
                });
                let (k, (v, slot)) = best
                    .iter()
                    .enumerate()
                    .find_map(|(k, b)| b.map(|b| (k, b)))?;
                Some((slot, v.is_finite().then_some(v), k == 1))
            }
            Strategy::RoundRobin => {
                let cursor = self.rr_cursor[c];
                // Per tier: the first candidate, and the first after the cursor.
                let mut first: [Option<u32>; 2] = [None, None];
                let mut after: [Option<u32>; 2] = [None, None];
                and_ones(&q.eligible, free, |slot| {
                    if let Some(k) = tier(slot) {
                        first[k].get_or_insert(slot);
                        if cursor.is_some_and(|cur| slot > cur) {
                            after[k].get_or_insert(slot);
                        }
                    }
                    true
                });
                let k = (0..2).find(|&k| first[k].is_some())?;
                let slot = after[k].or(first[k])?;
                self.rr_cursor[c] = Some(slot);
                Some((slot, None, k == 1))
            }
            Strategy::Random => {
                let mut count = [0usize; 2];
                and_ones(&q.eligible, free, |slot| {
                    if let Some(k) = tier(slot) {
                        count[k] += 1;
                    }
                    true
                });
                let k = (0..2).find(|&k| count[k] > 0)?;
                let n = count[k];
                let mut target = self.rng.below(n);
                let t = self.tref(task);
                let q = &self.queues[t.queue as usize];
                let mut found = None;
                and_ones(&q.eligible, &self.free[c], |slot| {
                    let tk = match t.backoff_until(slot) {
                        None => Some(0usize),
                        Some(until) if until <= now => Some(1),
                        Some(_) => None,
                    };
                    if tk == Some(k) {
                        if target == 0 {
                            found = Some(slot);
                            return false;
                        }
                        target -= 1;
                    }
                    true
                });
                found.map(|slot| (slot, None, k == 1))
            }
        }
    }

    /// Recomputes every stale `block_min` entry of channel `c`.
    fn refresh_block_mins(&mut self, c: usize) {
        let mut stale = std::mem::take(&mut self.stale_blocks[c]);
        for (wi, w) in stale.iter_mut().enumerate() {
            while *w != 0 {
                let block = wi * BLOCK + w.trailing_zeros() as usize;
                *w &= *w - 1;
                self.recompute_block_min(c, block);
            }
        }
        self.stale_blocks[c] = stale;
    }

    fn recompute_block_min(&mut self, c: usize, block: usize) {
        let word = self.free[c].as_slice().get(block).copied().unwrap_or(0);
        let keys = self.idle_keys.get(block * BLOCK..).unwrap_or(&[]);
        let mut w = word;
        let mut min = NO_KEY;
        while w != 0 {
            let bit = w.trailing_zeros() as usize;
            w &= w - 1;
            if let Some(&k) = keys.get(bit) {
                min = min.min(k);
            }
        }
        let mins = &mut self.block_min[c];
        if mins.len() <= block {
            mins.resize(block + 1, NO_KEY);
        }
        mins[block] = min;
    }

    /// Whether `block_min[c][block]` may be stale.
    fn block_is_stale(&self, c: usize, block: usize) -> bool {
        self.stale_blocks[c]
            .get(block / BLOCK)
            .is_some_and(|&w| w & (1 << (block % BLOCK)) != 0)
    }

    /// Offers a waiting task to one known agent, its only free candidate.
    fn offer_to(&mut self, task: TaskId, slot: u32) {
        let t = self.tref(task);
        let (q, key, strategy) = (t.queue, t.key, t.strategy);
        let score = (strategy == Strategy::BestScore)
            .then(|| {
                let view = self.task_view(t, &self.queues[q as usize].requirements);
                self.policy
                    .match_score(&self.aref(slot).view(), &view, &self.cfg.scoring)
            })
            .filter(|v| v.is_finite());
        let reason = OfferReason {
            strategy,
            score,
            rank: 0,
            redeclined: t.backoff_until(slot).is_some(),
            batch: false,
        };
        // Keep the strategies' state exactly as a one-candidate pick would leave it.
        let c = self.tref(task).channel.index();
        match strategy {
            Strategy::RoundRobin => self.rr_cursor[c] = Some(slot),
            Strategy::Random => {
                self.rng.below(1);
            }
            _ => {}
        }
        self.queue_remove(q, key);
        let id = self.make_offer(task, slot, reason);
        let t = self.tmut(task);
        t.phase = Phase::Offered(vec![id]);
        let tenant = t.tenant;
        self.hold(tenant, true);
    }

    /// Builds the strategy index for a channel on first use.
    fn ensure_index(&mut self, channel: Channel, strategy: Strategy) {
        let c = channel.index();
        let bit = if strategy == Strategy::LongestIdle {
            IDX_IDLE
        } else {
            IDX_OCC
        };
        if self.idx_built[c] & bit != 0 {
            return;
        }
        self.idx_built[c] |= bit;
        for (i, a) in self.agents.iter().enumerate() {
            let Some(a) = a else { continue };
            if a.ix.mask & (1 << c) == 0 {
                continue;
            }
            let slot = u32::try_from(i).unwrap_or(u32::MAX);
            if bit == IDX_IDLE {
                self.idle_idx[c].insert((a.ix.idle, slot));
            } else {
                self.occ_idx[c].insert(OccKey {
                    load: a.ix.load[c],
                    cap: a.ix.cap[c],
                    idle: a.ix.idle,
                    slot,
                });
            }
        }
    }

    /// Offers a waiting task to its best free candidates; `false` if there were none.
    fn offer_task(&mut self, task: TaskId) -> bool {
        self.offer_task_from(task, true)
    }

    /// As [`Router::offer_task`]; `queued` says whether the task sits in its queue (an arrival
    /// is tried before it is filed).
    fn offer_task_from(&mut self, task: TaskId, queued: bool) -> bool {
        let now = self.now;
        let (strategy, fanout) = {
            let t = self.tref(task);
            (t.strategy, usize::from(t.fanout))
        };

        // Strategies with a global order walk their index; the others (and long walks) score
        // the candidates collected from the bitsets.
        let walked = match strategy {
            Strategy::LongestIdle | Strategy::LeastOccupied
                if self.agent_slot.len() as u64
                    <= u64::from(self.queues[self.tref(task).queue as usize].eligible_n)
                        * INDEX_WALK_RATIO =>
            {
                let qi = self.tref(task).queue as usize;
                if self.queues[qi].skip_walks > 0 {
                    self.queues[qi].skip_walks -= 1;
                    None
                } else {
                    self.ensure_index(self.tref(task).channel, strategy);
                    let walked = self.walk_index(task, strategy, fanout);
                    if walked.is_none() {
                        self.queues[qi].skip_walks = WALK_BACKOFF;
                    }
                    walked
                }
            }
            _ => None,
        };
        let (mut picks, redeclined_from) = if let Some((fresh, old)) = walked {
            let mut picks: Vec<(u32, Option<f64>)> =
                fresh.into_iter().take(fanout).map(|s| (s, None)).collect();
            let n = picks.len();
            picks.extend(old.into_iter().take(fanout - n).map(|s| (s, None)));
            (picks, if n < fanout { n } else { usize::MAX })
        } else if fanout == 1 {
            // One pick: a single pass over the candidates, nothing collected.
            match self.pick_one(task, strategy) {
                Some((slot, score, redeclined)) => {
                    (vec![(slot, score)], if redeclined { 0 } else { usize::MAX })
                }
                None => (Vec::new(), 0),
            }
        } else {
            let (fresh, old) = {
                let t = self.tref(task);
                let q = &self.queues[t.queue as usize];
                let (mut fresh, mut old) = (Vec::new(), Vec::new());
                and_ones(&q.eligible, &self.free[t.channel.index()], |slot| {
                    match t.backoff_until(slot) {
                        None => fresh.push(slot),
                        Some(until) if until <= now => old.push(slot),
                        Some(_) => {}
                    }
                    true
                });
                (fresh, old)
            };
            let mut picks = self.select(task, strategy, fresh, fanout);
            let mut redeclined_from = picks.len();
            if picks.len() < fanout {
                let more = self.select(task, strategy, old, fanout - picks.len());
                picks.extend(more);
            } else {
                redeclined_from = usize::MAX;
            }
            (picks, redeclined_from)
        };
        picks.truncate(fanout);
        if picks.is_empty() {
            return false;
        }
        if queued {
            let (q, key) = {
                let t = self.tref(task);
                (t.queue, t.key)
            };
            self.queue_remove(q, key);
        }
        let mut ids = Vec::with_capacity(picks.len());
        for (rank, (slot, score)) in picks.into_iter().enumerate() {
            let reason = OfferReason {
                strategy,
                score,

                rank: u32::try_from(rank).unwrap_or(u32::MAX),
                redeclined: rank >= redeclined_from,
                batch: false,
            };
            ids.push(self.make_offer(task, slot, reason));
        }
        let t = self.tmut(task);
        t.phase = Phase::Offered(ids);
        let tenant = t.tenant;
        self.hold(tenant, true);
        true
    }

    fn make_offer(&mut self, task: TaskId, slot: u32, reason: OfferReason) -> OfferId {
        let id = OfferId(self.next_offer);
        self.next_offer += 1;
        let now = self.now;
        let expires_at = now.plus_millis(self.cfg.offer_timeout_ms);
        let channel = self.tref(task).channel;
        let timer = self.push_timer(expires_at, TimerKind::OfferExpiry(id));
        self.offers.insert(
            id,
            OfferRec {
                task,
                agent: slot,
                created_at: now,
                expires_at,
                timer,
                reason,
            },
        );
        let a = self.arec(slot);
        a.load[channel.index()] += 1;
        a.offers.push(id);
        let agent = a.id;
        self.refresh_free(slot);
        self.counters.offers += 1;
        self.effects.push_back(Effect::Offer {
            offer: id,
            task,
            agent,
            channel,
            expires_at,
        });
        id
    }

    /// The later of the agent's idle-since time and its newest pending offer. Offer ids grow
    /// with time and the agent lists its offers in id order, so the newest is the last.
    fn idle_key(&self, a: &AgentRec) -> Time {
        a.offers
            .last()
            .and_then(|o| self.offers.get(o))
            .map_or(a.idle_since, |r| r.created_at.max(a.idle_since))
    }

    /// Walks the channel's strategy index in order, collecting eligible candidates until `k`
    /// agents that never declined the task are found. Returns `(fresh, redeclined)`, or `None`
    /// if the walk exceeded its budget (the caller then collects from the bitsets).
    fn walk_index(
        &self,
        task: TaskId,
        strategy: Strategy,
        k: usize,
    ) -> Option<(Vec<u32>, Vec<u32>)> {
        let t = self.tref(task);
        let q = &self.queues[t.queue as usize];
        let c = t.channel.index();
        let now = self.now;
        let (mut fresh, mut old) = (Vec::new(), Vec::new());
        let mut steps = 0usize;
        let mut visit = |slot: u32| -> Option<bool> {
            steps += 1;
            if steps > INDEX_WALK_BUDGET {
                return None;
            }
            if q.eligible.contains(slot as usize) {
                match t.backoff_until(slot) {
                    None => fresh.push(slot),
                    Some(until) if until <= now => old.push(slot),
                    Some(_) => {}
                }
            }
            Some(fresh.len() < k)
        };
        let walked = match strategy {
            Strategy::LongestIdle => self.idle_idx[c]
                .iter()
                .map(|&(_, s)| visit(s))
                .find(|r| *r != Some(true)),
            _ => self.occ_idx[c]
                .iter()
                .map(|o| visit(o.slot))
                .find(|r| *r != Some(true)),
        };
        if walked == Some(None) {
            return None;
        }
        Some((fresh, old))
    }

    /// Picks up to `k` of `cands` (ascending slots) by `strategy`.
    fn select(
        &mut self,
        task: TaskId,
        strategy: Strategy,
        mut cands: Vec<u32>,
        k: usize,
    ) -> Vec<(u32, Option<f64>)> {
        if cands.is_empty() || k == 0 {
            return Vec::new();
        }
        let channel = self.tref(task).channel;
        match strategy {
            Strategy::BestScore => {
                let t = self.tref(task);
                let reqs = &self.queues[t.queue as usize].requirements;
                let view = self.task_view(t, reqs);
                let mut scored: Vec<(f64, u32)> = cands
                    .iter()
                    .map(|&s| {
                        let v =
                            self.policy
                                .match_score(&self.aref(s).view(), &view, &self.cfg.scoring);
                        (if v.is_finite() { v } else { f64::NEG_INFINITY }, s)
                    })
                    .collect();
                let cmp = |a: &(f64, u32), b: &(f64, u32)| {
                    b.0.partial_cmp(&a.0)
                        .unwrap_or(Ordering::Equal)
                        .then(a.1.cmp(&b.1))
                };
                take_best(&mut scored, k, cmp)
                    .into_iter()
                    .map(|(v, s)| (s, v.is_finite().then_some(v)))
                    .collect()
            }
            Strategy::LongestIdle => {
                let mut keyed: Vec<(Time, u32)> = cands
                    .iter()
                    .map(|&s| (self.idle_key(self.aref(s)), s))
                    .collect();
                take_best(&mut keyed, k, Ord::cmp)
                    .into_iter()
                    .map(|(_, s)| (s, None))
                    .collect()
            }
            Strategy::LeastOccupied => {
                let c = channel.index();
                let mut keyed: Vec<(u32, u32, Time, u32)> = cands
                    .iter()
                    .map(|&s| {
                        let a = self.aref(s);
                        (
                            u32::from(a.load[c]),
                            u32::from(a.capacity.0[c]),
                            self.idle_key(a),
                            s,
                        )
                    })
                    .collect();
                let cmp = |x: &(u32, u32, Time, u32), y: &(u32, u32, Time, u32)| {
                    // load/cap ascending, compared exactly by cross-multiplication
                    (u64::from(x.0) * u64::from(y.1))
                        .cmp(&(u64::from(y.0) * u64::from(x.1)))
                        .then((y.1 - y.0).cmp(&(x.1 - x.0)))
                        .then(x.2.cmp(&y.2))
                        .then(x.3.cmp(&y.3))
                };
                take_best(&mut keyed, k, cmp)
                    .into_iter()
                    .map(|x| (x.3, None))
                    .collect()
            }
            Strategy::RoundRobin => {
                let mut out = Vec::new();
                let c = channel.index();
                while out.len() < k && !cands.is_empty() {
                    let i = match self.rr_cursor[c] {
                        Some(cur) => cands.iter().position(|&s| s > cur).unwrap_or(0),
                        None => 0,
                    };
                    let s = cands.remove(i);
                    self.rr_cursor[c] = Some(s);
                    out.push((s, None));
                }
                out
            }
            Strategy::Random => {
                let mut out = Vec::new();
                while out.len() < k && !cands.is_empty() {
                    let i = self.rng.below(cands.len());
                    out.push((cands.remove(i), None));
                }
                out
            }
        }
    }

    // ----------------------------------------------------------------- visibility

    /// Can `agent` take `task` right now, and if not, why not? Works for tasks in any state;
    /// availability reasons reflect the agent's current presence and load.
    ///
    /// # Errors
    /// [`RouterError::UnknownTask`], [`RouterError::UnknownAgent`].
    pub fn explain(&self, task: TaskId, agent: AgentId) -> Result<Explanation, RouterError> {
        let t = self
            .tasks
            .get(&task)
            .ok_or(RouterError::UnknownTask(task))?;
        let slot = self.slot_of(agent)?;
        let a = self.aref(slot);
        let q = &self.queues[t.queue as usize];
        let mut reasons = Vec::new();
        for r in &q.requirements.skills {
            match a.level(r.skill) {
                None => reasons.push(Ineligible::MissingSkill { skill: r.skill }),
                Some(l) if l < r.min_level => reasons.push(Ineligible::LevelTooLow {
                    skill: r.skill,
                    have: l,
                    need: r.min_level,
                }),
                Some(_) => {}
            }
        }
        for &tag in &q.requirements.tags {
            if a.tags.binary_search(&tag).is_err() {
                reasons.push(Ineligible::MissingTag { tag });
            }
        }
        if let Some(tenant) = q.cert_tenant
            && a.certs.binary_search(&tenant).is_err()
        {
            reasons.push(Ineligible::NotCertified { tenant });
        }
        if a.state != AgentState::Available {
            reasons.push(Ineligible::NotAvailable { state: a.state });
        }
        let c = t.channel;
        if a.load[c.index()] >= a.capacity.get(c) {
            reasons.push(Ineligible::AtCapacity {
                channel: c,
                load: a.load[c.index()],
                capacity: a.capacity.get(c),
            });
        }
        if let Some(until) = t.backoff_until(slot).filter(|&u| u > self.now) {
            reasons.push(Ineligible::DeclinedRecently { until });
        }
        let score = self.policy.match_score(
            &a.view(),
            &self.task_view(t, &q.requirements),
            &self.cfg.scoring,
        );
        Ok(Explanation {
            agent,
            reasons,
            score,
            declined_before: t.backoff_until(slot).is_some(),
        })
    }

    /// A real-time view of queues and agents at `now` (used for ages; does not change state).
    #[must_use]
    pub fn snapshot(&self, now: Time) -> Snapshot {
        let mut queues = Vec::new();
        for q in &self.queues {
            if q.waiting.is_empty() {
                continue;
            }
            let oldest = q
                .waiting
                .values()
                .map(|t| now.millis_since(self.tref(*t).created_at))
                .max()
                .unwrap_or(0);
            let mut free = 0;
            and_ones(&q.eligible, &self.free[q.channel.index()], |_| {
                free += 1;
                true
            });
            queues.push(QueueSnapshot {
                queue: q.id,
                channel: q.channel,
                waiting: q.waiting.len(),
                oldest_wait_ms: oldest,
                eligible_agents: q.eligible.count_ones(..),
                eligible_free: free,
            });
        }
        let agents = self
            .agents
            .iter()
            .flatten()
            .map(|a| AgentSnapshot {
                agent: a.id,
                state: a.state,
                load: a.load,
                capacity: a.capacity.0,
                offers: a.offers.len(),
                idle_ms: now.millis_since(self.idle_key(a)),
            })
            .collect();
        let mut counts = [0usize; 4];
        for t in self.tasks.values() {
            counts[match t.phase {
                Phase::Waiting => 0,
                Phase::Offered(_) => 1,
                Phase::InService(_) => 2,
                Phase::WrapUp(..) => 3,
            }] += 1;
        }
        Snapshot {
            at: now,
            queues,
            agents,
            tasks_waiting: counts[0],
            tasks_offered: counts[1],
            tasks_in_service: counts[2],
            tasks_wrap_up: counts[3],
        }
    }

    // ----------------------------------------------------------------- invariants

    /// Checks the invariants of DESIGN.md §4 that are properties of one state (conservation,
    /// capacity, eligibility, work conservation) plus the consistency of every index, by
    /// recomputing them from scratch. `O(tasks × agents)`: for tests and fuzzing.
    ///
    /// # Errors
    /// A description of the first violation found.
    pub fn check_invariants(&self) -> Result<(), String> {
        invariants::check(self)?;
        self.check_strategy_indexes()
    }

    /// Invariant 4 alone (no waiting task has a free, eligible agent outside a back-off), also
    /// for [`Dispatch::Batched`](crate::Dispatch::Batched) routers, where it holds right after
    /// [`Router::dispatch_batch`]. `O(tasks × agents)`: for tests.
    ///
    /// # Errors
    /// A description of the first violation found.
    pub fn check_work_conservation(&self) -> Result<(), String> {
        invariants::work_conservation(self)
    }

    /// The strategy indexes hold exactly the free agents, under their current keys.
    fn check_strategy_indexes(&self) -> Result<(), String> {
        for c in 0..Channel::COUNT {
            for (b, &m) in self.block_min[c].iter().enumerate() {
                if self.block_is_stale(c, b) {
                    continue;
                }
                let word = self.free[c].as_slice().get(b).copied().unwrap_or(0);
                let want = (0..BLOCK)
                    .filter(|bit| word & (1 << bit) != 0)
                    .filter_map(|bit| self.idle_keys.get(b * BLOCK + bit).copied())
                    .min()
                    .unwrap_or(NO_KEY);
                if m != want {
                    return Err(format!("block minimum {b} on {} is stale", Channel::ALL[c]));
                }
            }
        }
        for (i, q) in self.queues.iter().enumerate() {
            if self.nonempty.contains(i) == q.waiting.is_empty() {
                return Err(format!("non-empty bit wrong for queue {i}"));
            }
        }
        for c in 0..Channel::COUNT {
            let mut idle = BTreeSet::new();
            let mut occ = BTreeSet::new();
            for (i, a) in self.agents.iter().enumerate() {
                let Some(a) = a else { continue };
                let slot = u32::try_from(i).unwrap_or(u32::MAX);
                if self.idle_keys.get(i) != Some(&self.idle_key(a)) {
                    return Err(format!("dense idle key of agent {} is stale", a.id));
                }
                if a.has_room(Channel::ALL[c]) {
                    let key = self.idle_key(a);
                    idle.insert((key, slot));
                    occ.insert(OccKey {
                        load: a.load[c],
                        cap: a.capacity.0[c],
                        idle: key,
                        slot,
                    });
                }
            }
            if self.idx_built[c] & IDX_IDLE != 0 && idle != self.idle_idx[c] {
                return Err(format!(
                    "longest-idle index for {} is stale",
                    Channel::ALL[c]
                ));
            }
            if self.idx_built[c] & IDX_OCC != 0 && occ != self.occ_idx[c] {
                return Err(format!(
                    "least-occupied index for {} is stale",
                    Channel::ALL[c]
                ));
            }
        }
        Ok(())
    }
}

fn sla_secs(ms: u64) -> f64 {
    Time::from_millis(ms).as_secs_f64()
}

fn invalid_state(task: TaskId, phase: &Phase, operation: &'static str) -> RouterError {
    RouterError::InvalidTaskState {
        task,
        state: match phase {
            Phase::Waiting => "waiting",
            Phase::Offered(_) => "offered",
            Phase::InService(_) => "in service",
            Phase::WrapUp(..) => "in wrap-up",
        },
        operation,
    }
}

fn normalise_agent(spec: &AgentSpec) -> (Vec<(crate::SkillId, u8)>, Vec<TagId>, Vec<TenantId>) {
    let mut skills = spec.skills.clone();
    skills.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    skills.dedup_by_key(|s| s.0);
    let mut tags = spec.tags.clone();
    tags.sort_unstable();
    tags.dedup();
    let mut certs = spec.certifications.clone();
    certs.sort_unstable();
    certs.dedup();
    (skills, tags, certs)
}

/// The `k` smallest elements under `cmp`, in order.
fn take_best<T: Copy>(v: &mut [T], k: usize, cmp: impl Fn(&T, &T) -> Ordering) -> Vec<T> {
    if k == 1 {
        return v
            .iter()
            .copied()
            .min_by(|a, b| cmp(a, b))
            .into_iter()
            .collect();
    }
    v.sort_by(|a, b| cmp(a, b));
    v.iter().take(k).copied().collect()
}

// Internal read access for the invariant checker.
pub(crate) mod internals {
    use super::{AgentRec, Phase, Router, TaskRec};
    use crate::{Policy, TaskId};

    pub(crate) enum PhaseRef {
        Waiting,
        Offered(Vec<crate::OfferId>),
        Serving(u32),
    }

    impl<P: Policy> Router<P> {
        pub(crate) fn i_agents(&self) -> impl Iterator<Item = (u32, AgentRefs<'_>)> {
            self.agents.iter().enumerate().filter_map(|(i, a)| {
                a.as_ref().map(|a| {
                    #[allow(clippy::cast_possible_truncation)]
                    let i = i as u32;
                    (i, AgentRefs(a))
                })
            })
        }
        pub(crate) fn i_tasks(&self) -> impl Iterator<Item = (TaskId, TaskRefs<'_>)> {
            self.tasks.iter().map(|(k, v)| (*k, TaskRefs(v)))
        }
        pub(crate) fn i_queues(&self) -> &[crate::queue::Queue] {
            &self.queues
        }
        pub(crate) fn i_offers(
            &self,
        ) -> impl Iterator<Item = (crate::OfferId, &crate::offer::OfferRec)> {
            self.offers.iter().map(|(k, v)| (*k, v))
        }
        pub(crate) fn i_free(&self, c: usize) -> &fixedbitset::FixedBitSet {
            &self.free[c]
        }
        pub(crate) fn i_now(&self) -> crate::Time {
            self.now
        }
        pub(crate) fn i_counters(&self) -> &crate::explain::Counters {
            &self.counters
        }
    }

    pub(crate) struct AgentRefs<'a>(&'a AgentRec);
    impl AgentRefs<'_> {
        pub(crate) fn meets(&self, q: &crate::queue::Queue, catalog: &crate::Catalog) -> bool {
            self.0.meets(q, catalog)
        }
        pub(crate) fn has_room(&self, c: crate::Channel) -> bool {
            self.0.has_room(c)
        }
        pub(crate) fn load(&self) -> [u16; crate::Channel::COUNT] {
            self.0.load
        }
        pub(crate) fn capacity(&self) -> crate::Capacity {
            self.0.capacity
        }
        pub(crate) fn offers(&self) -> &[crate::OfferId] {
            &self.0.offers
        }
        pub(crate) fn work(&self) -> &[TaskId] {
            &self.0.work
        }
        pub(crate) fn queues(&self) -> &[u32] {
            &self.0.queues
        }
        pub(crate) fn id(&self) -> crate::AgentId {
            self.0.id
        }
    }

    pub(crate) struct TaskRefs<'a>(&'a TaskRec);
    impl TaskRefs<'_> {
        pub(crate) fn tenant(&self) -> crate::TenantId {
            self.0.tenant
        }
        pub(crate) fn phase(&self) -> PhaseRef {
            match &self.0.phase {
                Phase::Waiting => PhaseRef::Waiting,
                Phase::Offered(o) => PhaseRef::Offered(o.clone()),
                Phase::InService(s) | Phase::WrapUp(s, _, _) => PhaseRef::Serving(*s),
            }
        }
        pub(crate) fn queue(&self) -> u32 {
            self.0.queue
        }
        pub(crate) fn key(&self) -> crate::OrderKey {
            self.0.key
        }
        pub(crate) fn channel(&self) -> crate::Channel {
            self.0.channel
        }
        pub(crate) fn in_backoff(&self, slot: u32, now: crate::Time) -> bool {
            self.0.in_backoff(slot, now)
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::reference::NaiveRouter;
    use crate::*;

    /// Rare-skill queues too small to walk the longest-idle index (fewer than one agent in 32
    /// eligible), their agents spread over four 64-slot blocks: every offer comes from the bitset
    /// scan that skips blocks by their least idle key, while offers, answers, completions and
    /// breaks keep changing those keys. Every decision must equal the naive reference's.
    #[test]
    fn block_skipping_scans_match_the_reference() {
        for seed in 1..=2u64 {
            drive(seed);
        }
    }

    /// A freed agent's old idle key lowers its block's least key; a scan that then skipped the
    /// block by a minimum computed while the agent was busy would miss the longest-idle agent.
    #[test]
    fn a_freed_agent_lowers_its_block_minimum() {
        let cfg = RouterConfig::default();
        let mut fast = Router::new(cfg.clone()).unwrap();
        let mut slow = NaiveRouter::new(cfg).unwrap();
        for c in [fast.catalog_mut(), slow.catalog_mut()] {
            c.tenant("acme");
            c.skill("common");
            c.skill("rare");
            c.skill("odd");
        }
        let step = |fast: &mut Router, slow: &mut NaiveRouter, ms: u64, ev: Event| {
            let t = Time::from_millis(ms);
            assert_eq!(
                fast.handle(t, ev.clone()),
                slow.handle(t, ev.clone()),
                "{ev:?}"
            );
            let ea: Vec<Effect> = fast.drain_effects().collect();
            let eb: Vec<Effect> = slow.drain_effects().collect();
            assert_eq!(ea, eb, "at {ms} ms for {ev:?}");
            ea.into_iter()
                .find_map(|e| match e {
                    Effect::Offer { offer, agent, .. } => Some((offer, agent)),
                    _ => None,
                })
                .unwrap_or((OfferId(0), AgentId(u64::MAX)))
        };
        let task = |id: u64, skill: u32| {
            Event::Arrive(
                TaskSpec::new(TaskId(id), TenantId(0), Channel::Chat)
                    .requires(Requirements::default().skill(SkillId(skill), 3)),
            )
        };
        let state = |agent: u64, state: AgentState| Event::SetAgentState {
            agent: AgentId(agent),
            state,
        };
        // 130 agents in three blocks; the rare skill at slots 10 and 80, the odd one at 20:
        // both queues are scanned, not walked.
        for id in 0..130u64 {
            let mut spec = AgentSpec::new(AgentId(id))
                .skill(SkillId(0), 5)
                .capacity(Channel::Chat, 1)
                .state(AgentState::Available);
            if id == 10 || id == 80 {
                spec = spec.skill(SkillId(1), 7);
            }
            if id == 20 {
                spec = spec.skill(SkillId(2), 7);
            }
            step(&mut fast, &mut slow, 0, Event::AddAgent(spec));
        }
        // Agent 80 takes rare task 1 at 500 ms (idle key 500).
        step(&mut fast, &mut slow, 500, state(10, AgentState::Away));
        let (o1, a1) = step(&mut fast, &mut slow, 500, task(1, 1));
        assert_eq!(a1, AgentId(80));
        step(
            &mut fast,
            &mut slow,
            500,
            Event::Accept {
                offer: o1,
                agent: a1,
            },
        );
        step(&mut fast, &mut slow, 600, state(10, AgentState::Available));
        // Agent 10 takes rare task 2 at 800 ms.
        let (o2, a2) = step(&mut fast, &mut slow, 800, task(2, 1));
        assert_eq!(a2, AgentId(10));
        step(
            &mut fast,
            &mut slow,
            800,
            Event::Accept {
                offer: o2,
                agent: a2,
            },
        );
        // Every other agent of 80's block becomes idle at 850 ms, and a scan (for the odd
        // task) sees that block at its least free key then: 850.
        for id in (64..128).filter(|&id| id != 80) {
            step(&mut fast, &mut slow, 850, state(id, AgentState::Away));
            step(&mut fast, &mut slow, 850, state(id, AgentState::Available));
        }
        let (_, a3) = step(&mut fast, &mut slow, 860, task(3, 2));
        assert_eq!(a3, AgentId(20));
        // Both rare agents finish: 80 is free again with idle key 500, 10 with 800.
        step(
            &mut fast,
            &mut slow,
            900,
            Event::Complete { task: TaskId(1) },
        );
        step(
            &mut fast,
            &mut slow,
            900,
            Event::Complete { task: TaskId(2) },
        );
        // The next rare task goes to 80, idle longest, in the block scanned after 10's.
        let (_, a4) = step(&mut fast, &mut slow, 1_000, task(4, 1));
        assert_eq!(a4, AgentId(80));
        fast.check_invariants().unwrap();
    }

    fn drive(seed: u64) {
        let cfg = RouterConfig {
            default_strategy: Strategy::LongestIdle,
            offer_timeout_ms: 20_000,
            seed,
            ..RouterConfig::default()
        };
        let mut fast = Router::new(cfg.clone()).unwrap();
        let mut slow = NaiveRouter::new(cfg).unwrap();
        for c in [fast.catalog_mut(), slow.catalog_mut()] {
            c.tenant("acme");
            c.skill("common");
            c.skill("rare");
            c.skill("odd");
        }
        let mut rng = SeededRng::new(seed);
        let mut now = Time::ZERO;
        let step = |fast: &mut Router, slow: &mut NaiveRouter, t: Time, ev: Event| {
            let a = fast.handle(t, ev.clone());
            let b = slow.handle(t, ev.clone());
            assert_eq!(a, b, "result differs (seed {seed}) at {t} for {ev:?}");
            let ea: Vec<Effect> = fast.drain_effects().collect();
            let eb: Vec<Effect> = slow.drain_effects().collect();
            assert_eq!(ea, eb, "effects differ (seed {seed}) at {t} for {ev:?}");
            ea
        };
        const AGENTS: u64 = 200;
        for id in 0..AGENTS {
            let mut spec = AgentSpec::new(AgentId(id))
                .skill(SkillId(0), 5)
                .capacity(Channel::Chat, 1 + (id % 3) as u16)
                .state(AgentState::Available);
            if id % 37 == 5 {
                spec = spec.skill(SkillId(1), 7);
            }
            if id % 41 == 3 {
                spec = spec.skill(SkillId(2), 7);
            }
            step(&mut fast, &mut slow, now, Event::AddAgent(spec));
        }
        let mut offers: Vec<(OfferId, AgentId)> = Vec::new();
        let mut serving: Vec<TaskId> = Vec::new();
        let mut away: Vec<AgentId> = Vec::new();
        for id in 0..500u64 {
            now = now.plus_millis(rng.below(4) as u64 * rng.below(1_500) as u64);
            let ev = match rng.below(10) {
                0..=3 => {
                    let skill = [1, 1, 2, 0][rng.below(4)];
                    Event::Arrive(
                        TaskSpec::new(TaskId(id), TenantId(0), Channel::Chat)
                            .requires(Requirements::default().skill(SkillId(skill), 3)),
                    )
                }
                4..=6 if !offers.is_empty() => {
                    let (offer, agent) = offers.swap_remove(rng.below(offers.len()));
                    if rng.below(6) == 0 {
                        Event::Reject { offer, agent }
                    } else {
                        Event::Accept { offer, agent }
                    }
                }
                7 | 8 if !serving.is_empty() => Event::Complete {
                    task: serving.swap_remove(rng.below(serving.len())),
                },
                9 if away.is_empty() || rng.below(2) == 0 => {
                    let agent = AgentId(rng.below(AGENTS as usize) as u64);
                    away.push(agent);
                    Event::SetAgentState {
                        agent,
                        state: AgentState::Away,
                    }
                }
                9 => Event::SetAgentState {
                    agent: away.swap_remove(rng.below(away.len())),
                    state: AgentState::Available,
                },
                _ => Event::Tick,
            };
            for e in step(&mut fast, &mut slow, now, ev) {
                match e {
                    Effect::Offer { offer, agent, .. } => offers.push((offer, agent)),
                    Effect::Assigned { task, .. } => serving.push(task),
                    _ => {}
                }
            }
        }
        fast.check_invariants().unwrap();
        assert!(fast.counters().offers > 120, "{}", fast.counters().offers);
    }
}
