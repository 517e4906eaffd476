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

mod agents;
pub mod batch;
mod indexes;
mod invariants;
mod matching;
mod moves;
pub mod persist;
mod queries;
mod tasks;
mod validate;

use crate::explain::Counters;
use crate::offer::OfferRec;
use crate::queue::{Queue, QueueSig};
use crate::{
    AgentId, AgentKind, AgentSnapshot, AgentSpec, AgentState, AgentView, Capacity, Catalog,
    Channel, CustomerProfile, DefaultScoring, Effect, Event, Explanation, Ineligible, MAX_LEVEL,
    OfferId, OfferReason, OrderKey, Preferences, Priority, QueueId, QueueReason, QueueSnapshot,
    Requirements, RescindReason, RouterConfig, RouterError, Scoring, SeededRng, Snapshot, Strategy,
    TagId, TaskId, TaskSpec, TaskState, TaskView, TenantId, Time,
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
/// `P` is the [`Scoring`], statically dispatched.
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
pub struct Router<P: Scoring = DefaultScoring> {
    cfg: RouterConfig,
    scoring: P,
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

impl Router<DefaultScoring> {
    /// A router with the default scoring.
    ///
    /// # Errors
    /// [`RouterError::InvalidConfig`] if the configuration does not [validate](RouterConfig::validate).
    pub fn new(config: RouterConfig) -> Result<Self, RouterError> {
        Router::with_scoring(config, DefaultScoring)
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

impl<P: Scoring> Router<P> {
    /// A router with a custom [`Scoring`].
    ///
    /// # Errors
    /// [`RouterError::InvalidConfig`] if the configuration does not [validate](RouterConfig::validate).
    pub fn with_scoring(config: RouterConfig, scoring: P) -> Result<Self, RouterError> {
        config.validate()?;
        let mut r = Router {
            rng: SeededRng::new(config.seed),
            cfg: config,
            scoring,
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
    use crate::{Scoring, TaskId};

    pub(crate) enum PhaseRef {
        Waiting,
        Offered(Vec<crate::OfferId>),
        Serving(u32),
    }

    impl<P: Scoring> Router<P> {
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
mod tests;
