//! Whole-state snapshots of a [`Router`], for durable storage and bounded recovery time.
//!
//! [`Router::export_state`] captures everything that determines future behaviour — agents, tasks,
//! offers, timers, counters, sequence numbers and the random generator — as a [`RouterState`],
//! a plain serde value. [`Router::from_state`] rebuilds the indexes from it. A router restored from
//! a snapshot makes exactly the same decisions as the router that was saved (invariant 8); pending
//! effects are not part of the state (drain them before saving).
//!
//! Priority keys are `f64`: store snapshots in a format that round-trips floats exactly (a binary
//! format, or `serde_json` with its `float_roundtrip` feature), or ties between tasks may resolve
//! differently after a restore.
//!
//! Snapshots may come from disk, so [`Router::from_state`] checks every cross-reference and refuses
//! an inconsistent state with [`RouterError::CorruptState`] instead of panicking later.

use super::{AgentRec, Phase, Router, TaskRec, TimerKind};
use crate::explain::Counters;
use crate::offer::OfferRec;
use crate::queue::{Queue, QueueSig};
use crate::{
    AgentId, AgentKind, AgentState, Capacity, Catalog, Channel, OfferId, OfferReason, OrderKey,
    Preferences, QueueId, Requirements, RouterConfig, RouterError, Scoring, SeededRng, SkillId,
    Strategy, TagId, TaskId, TenantId, Time,
};
use fixedbitset::FixedBitSet;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// Version of the [`RouterState`] schema. Bumped on any incompatible change; a state with another
/// version is refused.
pub const STATE_VERSION: u32 = 1;

/// A serialisable snapshot of a router's complete state. Opaque: produce it with
/// [`Router::export_state`], consume it with [`Router::from_state`].
///
/// # Example
/// ```
/// use switchboard::*;
/// let mut router = Router::new(RouterConfig::default()).unwrap();
/// let brand = router.catalog_mut().tenant("acme");
/// router.arrive(Time::from_secs(1), TaskSpec::new(TaskId(1), brand, Channel::Chat)).unwrap();
/// let json = serde_json::to_string(&router.export_state()).unwrap();
/// let state: RouterState = serde_json::from_str(&json).unwrap();
/// let restored = Router::from_state(state, DefaultScoring).unwrap();
/// assert_eq!(restored.export_state(), router.export_state());
/// assert_eq!(restored.task_state(TaskId(1)), Some(TaskState::Waiting));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RouterState {
    version: u32,
    config: RouterConfig,
    catalog: Catalog,
    now: Time,
    agents: Vec<Option<SavedAgent>>,
    queues: Vec<SavedQueue>,
    tasks: Vec<SavedTask>,
    offers: Vec<SavedOffer>,
    timers: Vec<(Time, u64, SavedTimer)>,
    timer_seq: u64,
    next_offer: u64,
    next_seq: u64,
    rr_cursor: [Option<u32>; Channel::COUNT],
    rng: SeededRng,
    counters: Counters,
}

impl RouterState {
    /// The schema version this state was written with.
    #[must_use]
    pub fn version(&self) -> u32 {
        self.version
    }
    /// The time of the last call the router saw.
    #[must_use]
    pub fn now(&self) -> Time {
        self.now
    }
    /// Number of live tasks in the snapshot.
    #[must_use]
    pub fn live_tasks(&self) -> usize {
        self.tasks.len()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct SavedAgent {
    id: AgentId,
    kind: AgentKind,
    skills: Vec<(SkillId, u8)>,
    tags: Vec<TagId>,
    certs: Vec<TenantId>,
    capacity: Capacity,
    load: [u16; Channel::COUNT],
    state: AgentState,
    idle_since: Time,
    offers: Vec<OfferId>,
    work: Vec<TaskId>,
    missed: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct SavedQueue {
    channel: Channel,
    cert_tenant: Option<TenantId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tenant: Option<TenantId>,
    requirements: Requirements,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum SavedPhase {
    Waiting,
    Offered(Vec<OfferId>),
    InService(u32),
    WrapUp(u32, Time, u64),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct SavedTask {
    id: TaskId,
    tenant: TenantId,
    channel: Channel,
    queue: u32,
    key: OrderKey,
    created_at: Time,
    preferences: Option<Preferences>,
    sentiment: f64,
    base: f64,
    value_tier: u8,
    sla_ms: u64,
    strategy: Strategy,
    fanout: u8,
    phase: SavedPhase,
    declines: Vec<(u32, Time, u64)>,
    max_wait_timer: Option<(Time, u64)>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct SavedOffer {
    id: OfferId,
    task: TaskId,
    agent: u32,
    created_at: Time,
    expires_at: Time,
    timer: u64,
    reason: OfferReason,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
enum SavedTimer {
    OfferExpiry(OfferId),
    Backoff { task: TaskId, seq: u64, slot: u32 },
    WrapUpEnd { task: TaskId, seq: u64 },
    MaxWait { task: TaskId, seq: u64 },
}

impl From<TimerKind> for SavedTimer {
    fn from(k: TimerKind) -> Self {
        match k {
            TimerKind::OfferExpiry(o) => SavedTimer::OfferExpiry(o),
            TimerKind::Backoff { task, seq, slot } => SavedTimer::Backoff { task, seq, slot },
            TimerKind::WrapUpEnd { task, seq } => SavedTimer::WrapUpEnd { task, seq },
            TimerKind::MaxWait { task, seq } => SavedTimer::MaxWait { task, seq },
        }
    }
}

impl From<SavedTimer> for TimerKind {
    fn from(k: SavedTimer) -> Self {
        match k {
            SavedTimer::OfferExpiry(o) => TimerKind::OfferExpiry(o),
            SavedTimer::Backoff { task, seq, slot } => TimerKind::Backoff { task, seq, slot },
            SavedTimer::WrapUpEnd { task, seq } => TimerKind::WrapUpEnd { task, seq },
            SavedTimer::MaxWait { task, seq } => TimerKind::MaxWait { task, seq },
        }
    }
}

fn corrupt(msg: impl Into<String>) -> RouterError {
    RouterError::CorruptState(msg.into())
}

impl<P: Scoring> Router<P> {
    /// A complete, serialisable snapshot of the state (see [`RouterState`]). Pending effects are
    /// not included.
    ///
    /// # Complexity
    /// `O(agents + tasks + offers + timers)`, plus sorting tasks and offers by id order.
    #[must_use]
    pub fn export_state(&self) -> RouterState {
        let agents = self
            .agents
            .iter()
            .map(|a| {
                a.as_ref().map(|a| SavedAgent {
                    id: a.id,
                    kind: a.kind,
                    skills: a.skills.clone(),
                    tags: a.tags.clone(),
                    certs: a.certs.clone(),
                    capacity: a.capacity,
                    load: a.load,
                    state: a.state,
                    idle_since: a.idle_since,
                    offers: a.offers.clone(),
                    work: a.work.clone(),
                    missed: a.missed,
                })
            })
            .collect();
        let queues = self
            .queues
            .iter()
            .map(|q| SavedQueue {
                channel: q.channel,
                cert_tenant: q.cert_tenant,
                tenant: q.tenant,
                requirements: q.requirements.clone(),
            })
            .collect();
        let mut tasks: Vec<SavedTask> = self
            .tasks
            .iter()
            .map(|(&id, t)| SavedTask {
                id,
                tenant: t.tenant,
                channel: t.channel,
                queue: t.queue,
                key: t.key,
                created_at: t.created_at,
                preferences: t.preferences.as_deref().cloned(),
                sentiment: t.sentiment,
                base: t.base,
                value_tier: t.value_tier,
                sla_ms: t.sla_ms,
                strategy: t.strategy,
                fanout: t.fanout,
                phase: match &t.phase {
                    Phase::Waiting => SavedPhase::Waiting,
                    Phase::Offered(o) => SavedPhase::Offered(o.clone()),
                    Phase::InService(s) => SavedPhase::InService(*s),
                    Phase::WrapUp(s, at, n) => SavedPhase::WrapUp(*s, *at, *n),
                },
                declines: t.declines.to_vec(),
                max_wait_timer: (t.max_wait_timer.1 > 0).then_some(t.max_wait_timer),
            })
            .collect();
        tasks.sort_by_key(|t| t.key.seq);
        let mut offers: Vec<SavedOffer> = self
            .offers
            .iter()
            .map(|(&id, o)| SavedOffer {
                id,
                task: o.task,
                agent: o.agent,
                created_at: o.created_at,
                expires_at: o.expires_at,
                timer: o.timer,
                reason: o.reason.clone(),
            })
            .collect();
        offers.sort_by_key(|o| o.id);
        RouterState {
            version: STATE_VERSION,
            config: self.cfg.clone(),
            catalog: self.catalog.clone(),
            now: self.now,
            agents,
            queues,
            tasks,
            offers,
            timers: self
                .timers
                .iter()
                .map(|&(at, n, k)| (at, n, SavedTimer::from(k)))
                .collect(),
            timer_seq: self.timer_seq,
            next_offer: self.next_offer,
            next_seq: self.next_seq,
            rr_cursor: self.rr_cursor,
            rng: self.rng.clone(),
            counters: self.counters.clone(),
        }
    }

    /// Rebuilds a router (and all its indexes) from a snapshot.
    ///
    /// # Errors
    /// [`RouterError::IncompatibleState`] for another schema version,
    /// [`RouterError::InvalidConfig`] for an invalid saved configuration, and
    /// [`RouterError::CorruptState`] when any cross-reference does not hold (a task in an unknown
    /// queue, an offer for an agent that does not list it, a load that does not match the work…).
    ///
    /// # Complexity
    /// `O(agents × queues + tasks log tasks + offers + timers)`.
    pub fn from_state(state: RouterState, scoring: P) -> Result<Self, RouterError> {
        if state.version != STATE_VERSION {
            return Err(RouterError::IncompatibleState {
                found: state.version,
                expected: STATE_VERSION,
            });
        }
        let mut r = Router::with_scoring(state.config, scoring)?;
        r.catalog = state.catalog;
        r.now = state.now;
        r.timer_seq = state.timer_seq;
        r.next_offer = state.next_offer;
        r.next_seq = state.next_seq;
        r.rr_cursor = state.rr_cursor;
        r.rng = state.rng;
        r.counters = state.counters;
        let n_agents = state.agents.len();
        let n_queues = state.queues.len();

        // Queues first (agents' queue lists are computed against them).
        for (i, q) in state.queues.into_iter().enumerate() {
            let qi = u32::try_from(i).map_err(|_| corrupt("too many queues"))?;
            let sig = QueueSig {
                channel: q.channel,
                cert_tenant: q.cert_tenant,
                tenant: q.tenant,
                requirements: q.requirements.canonical(),
            };
            if r.queue_by_sig.insert(sig.clone(), qi).is_some() {
                return Err(corrupt(format!("queue {i} duplicates an earlier queue")));
            }
            r.queues.push(Queue {
                id: QueueId(qi),
                channel: sig.channel,
                cert_tenant: sig.cert_tenant,
                tenant: sig.tenant,
                requirements: sig.requirements,
                waiting: std::collections::BTreeMap::new(),
                eligible: FixedBitSet::with_capacity(n_agents),
                eligible_n: 0,
                skip_walks: 0,
            });
        }

        // Agents.
        for (i, a) in state.agents.into_iter().enumerate() {
            let slot = u32::try_from(i).map_err(|_| corrupt("too many agents"))?;
            let Some(a) = a else {
                r.agents.push(None);
                continue;
            };
            let spec_like = crate::AgentSpec {
                id: a.id,
                kind: a.kind,
                skills: a.skills.clone(),
                tags: a.tags.clone(),
                certifications: a.certs.clone(),
                capacity: a.capacity,
                state: a.state,
            };
            r.check_agent_spec(&spec_like)?;
            if r.agent_slot.insert(a.id, slot).is_some() {
                return Err(corrupt(format!("agent {} appears twice", a.id)));
            }
            let (skills, tags, certs) = super::normalise_agent(&spec_like);
            r.agents.push(Some(AgentRec {
                id: a.id,
                kind: a.kind,
                skills,
                tags,
                certs,
                capacity: a.capacity,
                load: a.load,
                state: a.state,
                idle_since: a.idle_since,
                offers: a.offers,
                work: a.work,
                queues: Vec::new(),
                missed: a.missed,
                ix: super::Indexed::default(),
            }));
            r.index_agent(slot, true);
            r.refresh_agent_queues(slot);
        }

        // Offers.
        let mut offer_count = FxHashMap::<u32, Vec<OfferId>>::default();
        for o in state.offers {
            if o.agent as usize >= n_agents || r.agents[o.agent as usize].is_none() {
                return Err(corrupt(format!("offer {} names a missing agent", o.id)));
            }
            offer_count.entry(o.agent).or_default().push(o.id);
            let rec = OfferRec {
                task: o.task,
                agent: o.agent,
                created_at: o.created_at,
                expires_at: o.expires_at,
                timer: o.timer,
                reason: o.reason,
            };
            if o.id.0 >= r.next_offer || o.timer > r.timer_seq {
                return Err(corrupt(format!("offer {} is beyond the id counters", o.id)));
            }
            if r.offers.insert(o.id, rec).is_some() {
                return Err(corrupt(format!("offer {} appears twice", o.id)));
            }
        }

        // Tasks.
        for t in state.tasks {
            if t.queue as usize >= n_queues {
                return Err(corrupt(format!(
                    "task {} is in unknown queue {}",
                    t.id, t.queue
                )));
            }
            let q = &r.queues[t.queue as usize];
            if q.channel != t.channel {
                return Err(corrupt(format!(
                    "task {} channel differs from its queue",
                    t.id
                )));
            }
            if OrderKey::new(t.key.class, t.key.key.into_inner(), t.key.seq).is_none() {
                return Err(corrupt(format!("task {} has a non-finite key", t.id)));
            }
            let phase = match t.phase {
                SavedPhase::Waiting => Phase::Waiting,
                SavedPhase::Offered(list) => {
                    if list.is_empty() {
                        return Err(corrupt(format!("task {} offered with no offers", t.id)));
                    }
                    for o in &list {
                        if r.offers.get(o).is_none_or(|rec| rec.task != t.id) {
                            return Err(corrupt(format!("task {} lists foreign offer {o}", t.id)));
                        }
                    }
                    Phase::Offered(list)
                }
                SavedPhase::InService(s) => Phase::InService(s),
                SavedPhase::WrapUp(s, at, n) => Phase::WrapUp(s, at, n),
            };
            if let Phase::InService(s) | Phase::WrapUp(s, _, _) = phase {
                let holds = r
                    .agents
                    .get(s as usize)
                    .and_then(Option::as_ref)
                    .is_some_and(|a| a.work.contains(&t.id));
                if !holds {
                    return Err(corrupt(format!(
                        "task {} served by an agent that does not hold it",
                        t.id
                    )));
                }
            }
            if t.key.seq >= r.next_seq {
                return Err(corrupt(format!(
                    "task {} sequence is not below next_seq",
                    t.id
                )));
            }
            if phase == Phase::Waiting && r.queues[t.queue as usize].waiting.contains_key(&t.key) {
                return Err(corrupt(format!("task {} shares its queue key", t.id)));
            }
            if phase == Phase::Waiting {
                r.queue_insert(t.queue, t.key, t.id);
            }
            let rec = TaskRec {
                tenant: t.tenant,
                channel: t.channel,
                queue: t.queue,
                key: t.key,
                created_at: t.created_at,
                preferences: t.preferences.map(Box::new),
                sentiment: t.sentiment,
                base: t.base,
                value_tier: t.value_tier,
                sla_ms: t.sla_ms,
                strategy: t.strategy,
                fanout: t.fanout,
                phase,
                declines: t.declines.into_iter().collect(),
                max_wait_timer: t.max_wait_timer.unwrap_or((Time::ZERO, 0)),
            };
            if rec.phase != Phase::Waiting {
                r.hold(rec.tenant, true);
            }
            if r.queues[rec.queue as usize]
                .tenant
                .is_some_and(|q| q != rec.tenant)
            {
                return Err(corrupt(format!(
                    "task {} is in another tenant's queue",
                    t.id
                )));
            }
            if r.tasks.insert(t.id, rec).is_some() {
                return Err(corrupt(format!("task {} appears twice", t.id)));
            }
        }

        // Cross-checks: every offer's task lists it; each agent's offers, work and load agree.
        for (id, o) in &r.offers {
            match r.tasks.get(&o.task).map(|t| &t.phase) {
                Some(Phase::Offered(list)) if list.contains(id) => {}
                _ => return Err(corrupt(format!("offer {id} is not listed by its task"))),
            }
        }
        for (slot, a) in r.agents.iter().enumerate() {
            let Some(a) = a else { continue };
            let mut load = [0u16; Channel::COUNT];
            let mut listed = a.offers.clone();
            listed.sort_unstable();
            let mut owned = offer_count
                .remove(&u32::try_from(slot).unwrap_or(u32::MAX))
                .unwrap_or_default();
            owned.sort_unstable();
            if listed != owned {
                return Err(corrupt(format!("agent {} offer list mismatch", a.id)));
            }
            for o in &a.offers {
                let ch = r
                    .offers
                    .get(o)
                    .and_then(|o| r.tasks.get(&o.task))
                    .map(|t| t.channel);
                let Some(ch) = ch else {
                    return Err(corrupt(format!("agent {} lists unknown offer {o}", a.id)));
                };
                load[ch.index()] = load[ch.index()].saturating_add(1);
            }
            for t in &a.work {
                let Some(task) = r.tasks.get(t) else {
                    return Err(corrupt(format!("agent {} holds unknown task {t}", a.id)));
                };
                match task.phase {
                    Phase::InService(s) | Phase::WrapUp(s, _, _) if s as usize == slot => {}
                    _ => {
                        return Err(corrupt(format!(
                            "agent {} holds task {t} it does not serve",
                            a.id
                        )));
                    }
                }
                load[task.channel.index()] = load[task.channel.index()].saturating_add(1);
            }
            if load != a.load {
                return Err(corrupt(format!(
                    "agent {} load does not match its work",
                    a.id
                )));
            }
            if Channel::ALL
                .iter()
                .any(|&c| load[c.index()] > a.capacity.get(c))
            {
                return Err(corrupt(format!("agent {} is over capacity", a.id)));
            }
        }
        for (at, n, k) in state.timers {
            if n > r.timer_seq {
                return Err(corrupt(format!("timer {n} is beyond the timer counter")));
            }
            r.timers.insert((at, n, k.into()));
        }
        let slots: Vec<u32> = (0..n_agents)
            .filter(|&i| r.agents[i].is_some())
            .filter_map(|i| u32::try_from(i).ok())
            .collect();
        for slot in slots {
            r.refresh_free(slot);
        }
        Ok(r)
    }
}
