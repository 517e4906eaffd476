//! A deliberately naive reference implementation of the routing state machine: a **test oracle**
//! and benchmark baseline, not part of the supported API (hidden from the documentation; it may
//! change in any release).
//!
//! [`NaiveRouter`] has the same semantics and the same call surface as [`Router`](crate::Router),
//! but none of its indexes. It serves two purposes:
//!
//! * **Test oracle.** The property tests (`tests/model.rs`) drive a `Router` and a `NaiveRouter`
//!   with the same random calls and require identical results and identical effect sequences.
//!   Here the [matching rule](crate::router) is stated *globally*: after every call, and after
//!   every individual timer fired by [`NaiveRouter::handle_timeout`], scan **all** waiting tasks in
//!   priority order, take the first one that has at least one free, eligible agent (found by
//!   scanning **all** agents and checking the requirements directly), offer it, and repeat until no
//!   such task exists. `Router` reaches the same decisions by looking only at what a call touched;
//!   if both are right, they agree.
//! * **Benchmark baseline.** It is the "obvious" implementation: agents in a `Vec` in registration
//!   order with hash-set skills, tags and certifications; every waiting task in one `Vec` kept
//!   sorted by [`OrderKey`]; timers found by scanning offers and tasks. A matching pass costs
//!   `O(agents × waiting tasks)`, a timer look-up `O(offers + tasks)`.
//!
//! Timers fire in `(time, creation sequence)` order. The creation counter advances at exactly the
//! points where `Router` creates a timer (an offer; a decline when `decline_backoff_ms > 0`; a
//! completion when `wrap_up_ms > 0`; an arrival with `max_wait_ms`), so timers due at the same
//! instant fire in the same order in both implementations.
//!
//! Do not use it in production: it is correct but slow by design.

mod calls;
mod matching;

use crate::explain::Counters;
use crate::{
    AgentId, AgentKind, AgentSnapshot, AgentSpec, AgentState, AgentView, Capacity, Catalog,
    Channel, CustomerProfile, DefaultScoring, Effect, Event, Explanation, Ineligible, MAX_LEVEL,
    OfferId, OfferReason, OrderKey, Preferences, Priority, QueueId, QueueReason, QueueSnapshot,
    Requirements, RescindReason, RouterConfig, RouterError, Scoring, SeededRng, SkillId, Snapshot,
    Strategy, TagId, TaskId, TaskSpec, TaskState, TaskView, TenantId, Time,
};
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

#[derive(Debug, Clone)]
struct NaiveAgent {
    id: AgentId,
    kind: AgentKind,
    skills: HashMap<SkillId, u8>,
    tags: HashSet<TagId>,
    certs: HashSet<TenantId>,
    capacity: Capacity,
    load: [u16; Channel::COUNT],
    state: AgentState,
    idle_since: Time,
    missed: u32,
    /// Outstanding offers, oldest first.
    offers: Vec<OfferId>,
    /// Tasks in service or wrap-up, in the order they were accepted.
    work: Vec<TaskId>,
    /// Removed agents keep their place so registration indexes stay stable.
    removed: bool,
}

impl NaiveAgent {
    fn meets(&self, q: &NaiveQueue, catalog: &Catalog) -> bool {
        q.requirements
            .skills
            .iter()
            .all(|r| self.skills.get(&r.skill).is_some_and(|&l| l >= r.min_level))
            && q.requirements.tags.iter().all(|t| self.tags.contains(t))
            && q.cert_tenant.is_none_or(|t| self.certs.contains(&t))
            && q.requirements.filter.as_ref().is_none_or(|f| {
                // Evaluated directly on every check: the oracle keeps no eligibility cache.
                let (skills, tags, certs) = self.sorted();
                f.matches(
                    &AgentView {
                        id: self.id,
                        kind: self.kind,
                        skills: &skills,
                        tags: &tags,
                        certifications: &certs,
                        capacity: self.capacity,
                        load: self.load,
                    },
                    catalog,
                )
            })
    }

    fn has_room(&self, channel: Channel) -> bool {
        !self.removed
            && self.state == AgentState::Available
            && self.load[channel.index()] < self.capacity.get(channel)
    }

    /// Sorted copies of skills, tags and certifications, for an [`AgentView`].
    fn sorted(&self) -> (Vec<(SkillId, u8)>, Vec<TagId>, Vec<TenantId>) {
        let mut skills: Vec<(SkillId, u8)> = self.skills.iter().map(|(&s, &l)| (s, l)).collect();
        skills.sort_unstable();
        let mut tags: Vec<TagId> = self.tags.iter().copied().collect();
        tags.sort_unstable();
        let mut certs: Vec<TenantId> = self.certs.iter().copied().collect();
        certs.sort_unstable();
        (skills, tags, certs)
    }
}

#[derive(Debug, Clone, PartialEq)]
struct NaiveQueue {
    channel: Channel,
    cert_tenant: Option<TenantId>,
    tenant: Option<TenantId>,
    requirements: Requirements,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum NaivePhase {
    Waiting,
    Offered(Vec<OfferId>),
    InService(u32),
    /// Agent slot, end of wrap-up, creation sequence of the wrap-up timer.
    WrapUp(u32, Time, u64),
}

#[derive(Debug, Clone)]
struct Decline {
    slot: u32,
    until: Time,
    /// Creation sequence of the back-off timer while it has not fired.
    timer: Option<u64>,
}

#[derive(Debug, Clone)]
struct NaiveTask {
    tenant: TenantId,
    channel: Channel,
    queue: u32,
    key: OrderKey,
    created_at: Time,
    preferences: Preferences,
    customer: CustomerProfile,
    priority: Priority,
    sla_ms: u64,
    strategy: Strategy,
    fanout: u8,
    phase: NaivePhase,
    declines: Vec<Decline>,
    /// Deadline and creation sequence of the maximum-wait timer while it has not fired.
    max_wait: Option<(Time, u64)>,
}

impl NaiveTask {
    fn backoff_until(&self, slot: u32) -> Option<Time> {
        self.declines
            .iter()
            .find(|d| d.slot == slot)
            .map(|d| d.until)
    }
}

#[derive(Debug, Clone)]
struct NaiveOffer {
    task: TaskId,
    slot: u32,
    created_at: Time,
    expires_at: Time,
    timer: u64,
    reason: OfferReason,
}

#[derive(Debug, Clone, Copy)]
enum Due {
    Offer(OfferId),
    Backoff(TaskId, u32),
    WrapUp(TaskId),
    MaxWait(TaskId),
}

/// The naive reference router: same semantics and call surface as [`Router`](crate::Router),
/// implemented by linear scans. See the [module docs](crate::reference).
///
/// # Example
/// ```
/// use switchboard::reference::NaiveRouter;
/// use switchboard::*;
/// let mut naive = NaiveRouter::new(RouterConfig::default())?;
/// let mut fast = Router::new(RouterConfig::default())?;
/// let brand = naive.catalog_mut().tenant("acme");
/// assert_eq!(fast.catalog_mut().tenant("acme"), brand);
/// let agent = AgentSpec::new(AgentId(1)).capacity(Channel::Chat, 1).state(AgentState::Available);
/// naive.add_agent(Time::ZERO, agent.clone())?;
/// fast.add_agent(Time::ZERO, agent)?;
/// let task = TaskSpec::new(TaskId(7), brand, Channel::Chat);
/// naive.arrive(Time::from_secs(1), task.clone())?;
/// fast.arrive(Time::from_secs(1), task)?;
/// assert_eq!(naive.drain_effects().collect::<Vec<_>>(), fast.drain_effects().collect::<Vec<_>>());
/// # Ok::<(), RouterError>(())
/// ```
#[derive(Debug, Clone)]
pub struct NaiveRouter<P: Scoring = DefaultScoring> {
    cfg: RouterConfig,
    scoring: P,
    catalog: Catalog,
    now: Time,
    agents: Vec<NaiveAgent>,
    queues: Vec<NaiveQueue>,
    tasks: HashMap<TaskId, NaiveTask>,
    /// Every waiting task, sorted by its [`OrderKey`] (serve first = first).
    waiting: Vec<(OrderKey, TaskId)>,
    offers: BTreeMap<OfferId, NaiveOffer>,
    timer_seq: u64,
    next_offer: u64,
    next_seq: u64,
    rr_cursor: [Option<u32>; Channel::COUNT],
    rng: SeededRng,
    effects: VecDeque<Effect>,
    counters: Counters,
}

impl NaiveRouter<DefaultScoring> {
    /// A naive router with the default scoring.
    ///
    /// # Errors
    /// [`RouterError::InvalidConfig`] if the configuration does not validate.
    pub fn new(config: RouterConfig) -> Result<Self, RouterError> {
        NaiveRouter::with_scoring(config, DefaultScoring)
    }
}

fn sla_secs(ms: u64) -> f64 {
    Time::from_millis(ms).as_secs_f64()
}

fn invalid_state(task: TaskId, phase: &NaivePhase, operation: &'static str) -> RouterError {
    RouterError::InvalidTaskState {
        task,
        state: match phase {
            NaivePhase::Waiting => "waiting",
            NaivePhase::Offered(_) => "offered",
            NaivePhase::InService(_) => "in service",
            NaivePhase::WrapUp(..) => "in wrap-up",
        },
        operation,
    }
}

fn to_u32(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

impl<P: Scoring> NaiveRouter<P> {
    /// A naive router with a custom [`Scoring`].
    ///
    /// # Errors
    /// [`RouterError::InvalidConfig`] if the configuration does not validate.
    pub fn with_scoring(config: RouterConfig, scoring: P) -> Result<Self, RouterError> {
        config.validate()?;
        Ok(NaiveRouter {
            rng: SeededRng::new(config.seed),
            cfg: config,
            scoring,
            catalog: Catalog::new(),
            now: Time::ZERO,
            agents: Vec::new(),
            queues: Vec::new(),
            tasks: HashMap::new(),
            waiting: Vec::new(),
            offers: BTreeMap::new(),
            timer_seq: 0,
            next_offer: 1,
            next_seq: 0,
            rr_cursor: [None; Channel::COUNT],
            effects: VecDeque::new(),
            counters: Counters::default(),
        })
    }

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
    /// Number of waiting tasks.
    #[must_use]
    pub fn waiting_tasks(&self) -> usize {
        self.waiting.len()
    }
    /// Every waiting task, in serving order (the first is served first).
    #[must_use]
    pub fn waiting_order(&self) -> Vec<TaskId> {
        self.waiting.iter().map(|&(_, t)| t).collect()
    }
    /// Number of registered agents.
    #[must_use]
    pub fn agent_count(&self) -> usize {
        self.agents.iter().filter(|a| !a.removed).count()
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
            NaivePhase::Waiting => TaskState::Waiting,
            NaivePhase::Offered(list) => TaskState::Offered(list.clone()),
            NaivePhase::InService(s) => TaskState::InService(self.agent_id(*s)),
            NaivePhase::WrapUp(s, _, _) => TaskState::WrapUp(self.agent_id(*s)),
        })
    }
    /// The queue a live task belongs to.
    #[must_use]
    pub fn task_queue(&self, task: TaskId) -> Option<QueueId> {
        self.tasks.get(&task).map(|t| QueueId(t.queue))
    }
    /// A live task's priority class and score at `now` (see [`crate::queue`]).
    #[must_use]
    pub fn task_priority_at(&self, task: TaskId, now: Time) -> Option<(u8, f64)> {
        let t = self.tasks.get(&task)?;
        let q = self.queues.get(t.queue as usize)?;
        let s = self.task_score(t, &q.requirements);
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
        self.find_agent(agent)
            .map(|s| self.agents[s as usize].state)
    }
    /// An agent's load on a channel (offers + in service + wrap-up).
    #[must_use]
    pub fn agent_load(&self, agent: AgentId, channel: Channel) -> Option<u16> {
        self.find_agent(agent)
            .map(|s| self.agents[s as usize].load[channel.index()])
    }
    /// The task, agent and lease end of an outstanding offer.
    #[must_use]
    pub fn offer(&self, offer: OfferId) -> Option<(TaskId, AgentId, Time)> {
        self.offers
            .get(&offer)
            .map(|o| (o.task, self.agent_id(o.slot), o.expires_at))
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
    /// When [`NaiveRouter::handle_timeout`] should next be called: the earliest timer that has not
    /// fired and whose subject is still live (an outstanding offer, a decline back-off of a live
    /// task, a wrap-up, a maximum wait). Equals [`Router::poll_timeout`](crate::Router::poll_timeout),
    /// which also drops a timer as soon as its subject settles.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Time> {
        self.next_due().map(|(at, _, _)| at)
    }

    /// Applies an [`Event`]. See [`Router::handle`](crate::Router::handle).
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
            // The reference routes immediately only: a batch point is a plain matching pass.
            Event::DispatchBatch => {
                self.check_time(now)?;
                self.now = now;
                self.match_all();
                Ok(())
            }
        }
    }

    /// Can `agent` take `task` right now, and if not, why not? See
    /// [`Router::explain`](crate::Router::explain).
    ///
    /// # Errors
    /// [`RouterError::UnknownTask`], [`RouterError::UnknownAgent`].
    pub fn explain(&self, task: TaskId, agent: AgentId) -> Result<Explanation, RouterError> {
        let t = self
            .tasks
            .get(&task)
            .ok_or(RouterError::UnknownTask(task))?;
        let slot = self.slot_of(agent)?;
        let a = &self.agents[slot as usize];
        let q = &self.queues[t.queue as usize];
        let mut reasons = Vec::new();
        for r in &q.requirements.skills {
            match a.skills.get(&r.skill) {
                None => reasons.push(Ineligible::MissingSkill { skill: r.skill }),
                Some(&l) if l < r.min_level => reasons.push(Ineligible::LevelTooLow {
                    skill: r.skill,
                    have: l,
                    need: r.min_level,
                }),
                Some(_) => {}
            }
        }
        for &tag in &q.requirements.tags {
            if !a.tags.contains(&tag) {
                reasons.push(Ineligible::MissingTag { tag });
            }
        }
        if let Some(tenant) = q.cert_tenant
            && !a.certs.contains(&tenant)
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
        Ok(Explanation {
            agent,
            reasons,
            score: self.match_score(slot, t),
            declined_before: t.backoff_until(slot).is_some(),
        })
    }

    /// A real-time view of queues and agents at `now`. See
    /// [`Router::snapshot`](crate::Router::snapshot).
    #[must_use]
    pub fn snapshot(&self, now: Time) -> Snapshot {
        let mut queues = Vec::new();
        for (qi, q) in self.queues.iter().enumerate() {
            let waiting: Vec<&NaiveTask> = self
                .waiting
                .iter()
                .filter_map(|(_, id)| self.tasks.get(id))
                .filter(|t| t.queue as usize == qi)
                .collect();
            if waiting.is_empty() {
                continue;
            }
            let live = || {
                self.agents
                    .iter()
                    .filter(|a| !a.removed && a.meets(q, &self.catalog))
            };
            queues.push(QueueSnapshot {
                queue: QueueId(to_u32(qi)),
                channel: q.channel,
                waiting: waiting.len(),
                oldest_wait_ms: waiting
                    .iter()
                    .map(|t| now.millis_since(t.created_at))
                    .max()
                    .unwrap_or(0),
                eligible_agents: live().count(),
                eligible_free: live().filter(|a| a.has_room(q.channel)).count(),
            });
        }
        let agents = self
            .agents
            .iter()
            .enumerate()
            .filter(|(_, a)| !a.removed)
            .map(|(s, a)| AgentSnapshot {
                agent: a.id,
                state: a.state,
                load: a.load,
                capacity: a.capacity.0,
                offers: a.offers.len(),
                idle_ms: now.millis_since(self.idle_key(to_u32(s))),
            })
            .collect();
        let count =
            |f: fn(&NaivePhase) -> bool| self.tasks.values().filter(|t| f(&t.phase)).count();
        Snapshot {
            at: now,
            queues,
            agents,
            tasks_waiting: count(|p| matches!(p, NaivePhase::Waiting)),
            tasks_offered: count(|p| matches!(p, NaivePhase::Offered(_))),
            tasks_in_service: count(|p| matches!(p, NaivePhase::InService(_))),
            tasks_wrap_up: count(|p| matches!(p, NaivePhase::WrapUp(..))),
        }
    }
}
