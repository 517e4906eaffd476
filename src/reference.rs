//! A deliberately naive reference implementation of the routing state machine.
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

use crate::explain::Counters;
use crate::{
    AgentId, AgentKind, AgentSnapshot, AgentSpec, AgentState, AgentView, Capacity, Catalog,
    Channel, CustomerProfile, DefaultPolicy, Effect, Event, Explanation, Ineligible, MAX_LEVEL,
    OfferId, OfferReason, OrderKey, Policy, Preferences, Priority, QueueId, QueueReason,
    QueueSnapshot, Requirements, RescindReason, RouterConfig, RouterError, SeededRng, SkillId,
    Snapshot, Strategy, TagId, TaskId, TaskSpec, TaskState, TaskView, TenantId, Time,
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
pub struct NaiveRouter<P: Policy = DefaultPolicy> {
    cfg: RouterConfig,
    policy: P,
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

impl NaiveRouter<DefaultPolicy> {
    /// A naive router with the default policy.
    ///
    /// # Errors
    /// [`RouterError::InvalidConfig`] if the configuration does not validate.
    pub fn new(config: RouterConfig) -> Result<Self, RouterError> {
        NaiveRouter::with_policy(config, DefaultPolicy)
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

impl<P: Policy> NaiveRouter<P> {
    /// A naive router with a custom [`Policy`].
    ///
    /// # Errors
    /// [`RouterError::InvalidConfig`] if the configuration does not validate.
    pub fn with_policy(config: RouterConfig, policy: P) -> Result<Self, RouterError> {
        config.validate()?;
        Ok(NaiveRouter {
            rng: SeededRng::new(config.seed),
            cfg: config,
            policy,
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

    // ----------------------------------------------------------------- helpers

    fn find_agent(&self, id: AgentId) -> Option<u32> {
        self.agents
            .iter()
            .position(|a| !a.removed && a.id == id)
            .map(to_u32)
    }

    fn slot_of(&self, id: AgentId) -> Result<u32, RouterError> {
        self.find_agent(id).ok_or(RouterError::UnknownAgent(id))
    }

    fn agent_id(&self, slot: u32) -> AgentId {
        self.agents
            .get(slot as usize)
            .filter(|a| !a.removed)
            .map_or(AgentId(u64::MAX), |a| a.id)
    }

    fn check_time(&self, now: Time) -> Result<(), RouterError> {
        if now < self.now {
            return Err(RouterError::TimeWentBackwards {
                last: self.now,
                now,
            });
        }
        Ok(())
    }

    fn check_skill(&self, skill: SkillId) -> Result<(), RouterError> {
        if (skill.0 as usize) < self.catalog.skill_count() {
            return Ok(());
        }
        Err(RouterError::UnknownName {
            kind: "skill",
            id: skill.0,
        })
    }

    fn check_tag(&self, tag: TagId) -> Result<(), RouterError> {
        if (tag.0 as usize) < self.catalog.tag_count() {
            return Ok(());
        }
        Err(RouterError::UnknownName {
            kind: "tag",
            id: tag.0,
        })
    }

    fn check_tenant(&self, tenant: TenantId) -> Result<(), RouterError> {
        if (tenant.0 as usize) < self.catalog.tenant_count() {
            return Ok(());
        }
        Err(RouterError::UnknownName {
            kind: "tenant",
            id: tenant.0,
        })
    }

    fn check_level(level: u8) -> Result<(), RouterError> {
        if level == 0 || level > MAX_LEVEL {
            return Err(RouterError::InvalidLevel {
                level,
                max: MAX_LEVEL,
            });
        }
        Ok(())
    }

    fn check_number(field: &'static str, value: f64) -> Result<(), RouterError> {
        if value.is_finite() {
            return Ok(());
        }
        Err(RouterError::InvalidNumber { field, value })
    }

    fn check_agent_spec(&self, spec: &AgentSpec) -> Result<(), RouterError> {
        if spec.capacity.0.iter().all(|&c| c == 0) {
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

    fn check_customer(customer: &CustomerProfile, priority: &Priority) -> Result<(), RouterError> {
        Self::check_number("customer.sentiment", customer.sentiment)?;
        if customer.sentiment < -1.0 || customer.sentiment > 1.0 {
            return Err(RouterError::InvalidNumber {
                field: "customer.sentiment (must be in [-1, 1])",
                value: customer.sentiment,
            });
        }
        Self::check_number("priority.base", priority.base)
    }

    fn task_view<'a>(t: &'a NaiveTask, reqs: &'a Requirements) -> TaskView<'a> {
        TaskView {
            tenant: t.tenant,
            channel: t.channel,
            requirements: reqs,
            preferences: &t.preferences,
            customer: t.customer,
            priority: t.priority,
            sla_ms: t.sla_ms,
        }
    }

    fn task_score(&self, t: &NaiveTask, reqs: &Requirements) -> f64 {
        self.policy
            .task_score(&Self::task_view(t, reqs), &self.cfg.priority)
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

    fn match_score(&self, slot: u32, t: &NaiveTask) -> f64 {
        let a = &self.agents[slot as usize];
        let (skills, tags, certs) = a.sorted();
        let view = AgentView {
            id: a.id,
            kind: a.kind,
            skills: &skills,
            tags: &tags,
            certifications: &certs,
            capacity: a.capacity,
            load: a.load,
        };
        let reqs = &self.queues[t.queue as usize].requirements;
        self.policy
            .match_score(&view, &Self::task_view(t, reqs), &self.cfg.scoring)
    }

    fn queue_for(&mut self, channel: Channel, tenant: TenantId, reqs: Requirements) -> u32 {
        let q = NaiveQueue {
            channel,
            cert_tenant: reqs.certification.then_some(tenant),
            tenant: (!self.cfg.shares.is_empty()).then_some(tenant),
            requirements: reqs,
        };
        if let Some(i) = self.queues.iter().position(|x| *x == q) {
            return to_u32(i);
        }
        self.queues.push(q);
        to_u32(self.queues.len() - 1)
    }

    fn new_timer(&mut self) -> u64 {
        self.timer_seq += 1;
        self.timer_seq
    }

    fn idle_key(&self, slot: u32) -> Time {
        let a = &self.agents[slot as usize];
        a.offers
            .iter()
            .filter_map(|o| self.offers.get(o).map(|r| r.created_at))
            .fold(a.idle_since, Time::max)
    }

    // ----------------------------------------------------------------- agents

    /// Registers an agent. See [`Router::add_agent`](crate::Router::add_agent).
    ///
    /// # Errors
    /// As [`Router::add_agent`](crate::Router::add_agent).
    pub fn add_agent(&mut self, now: Time, spec: AgentSpec) -> Result<(), RouterError> {
        self.check_time(now)?;
        if self.find_agent(spec.id).is_some() {
            return Err(RouterError::DuplicateAgent(spec.id));
        }
        self.check_agent_spec(&spec)?;
        if u32::try_from(self.agents.len()).is_err() {
            return Err(RouterError::InvalidConfig {
                path: "agents",
                problem: "more than u32::MAX agents registered".into(),
            });
        }
        self.now = now;
        let mut agent = NaiveAgent {
            id: spec.id,
            kind: spec.kind,
            skills: HashMap::new(),
            tags: HashSet::new(),
            certs: HashSet::new(),
            capacity: spec.capacity,
            load: [0; Channel::COUNT],
            state: spec.state,
            idle_since: now,
            missed: 0,
            offers: Vec::new(),
            work: Vec::new(),
            removed: false,
        };
        Self::set_profile(&mut agent, &spec);
        self.agents.push(agent);
        self.match_all();
        Ok(())
    }

    fn set_profile(agent: &mut NaiveAgent, spec: &AgentSpec) {
        agent.skills.clear();
        for &(s, l) in &spec.skills {
            let e = agent.skills.entry(s).or_insert(l);
            *e = (*e).max(l);
        }
        agent.tags = spec.tags.iter().copied().collect();
        agent.certs = spec.certifications.iter().copied().collect();
        agent.kind = spec.kind;
        agent.capacity = spec.capacity;
    }

    /// Changes an agent's profile. See [`Router::update_agent`](crate::Router::update_agent).
    ///
    /// # Errors
    /// As [`Router::update_agent`](crate::Router::update_agent).
    pub fn update_agent(&mut self, now: Time, spec: AgentSpec) -> Result<(), RouterError> {
        self.check_time(now)?;
        let slot = self.slot_of(spec.id)?;
        self.check_agent_spec(&spec)?;
        let load = self.agents[slot as usize].load;
        for c in Channel::ALL {
            if spec.capacity.get(c) < load[c.index()] {
                return Err(RouterError::CapacityBelowLoad {
                    agent: spec.id,
                    channel: c,
                    capacity: spec.capacity.get(c),
                    load: load[c.index()],
                });
            }
        }
        self.now = now;
        Self::set_profile(&mut self.agents[slot as usize], &spec);
        let stale: Vec<OfferId> = self.agents[slot as usize]
            .offers
            .iter()
            .copied()
            .filter(|o| {
                self.offers.get(o).is_some_and(|rec| {
                    self.tasks.get(&rec.task).is_some_and(|t| {
                        !self.agents[slot as usize]
                            .meets(&self.queues[t.queue as usize], &self.catalog)
                    })
                })
            })
            .collect();
        for o in stale {
            self.withdraw_offer(o, RescindReason::NoLongerEligible, QueueReason::Rescinded);
        }
        self.match_all();
        Ok(())
    }

    /// Changes an agent's presence. See [`Router::set_agent_state`](crate::Router::set_agent_state).
    ///
    /// # Errors
    /// As [`Router::set_agent_state`](crate::Router::set_agent_state).
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
        self.match_all();
        Ok(())
    }

    fn change_state(&mut self, slot: u32, state: AgentState) {
        let old = self.agents[slot as usize].state;
        if old == state {
            return;
        }
        self.agents[slot as usize].state = state;
        if old == AgentState::Available {
            for o in self.agents[slot as usize].offers.clone() {
                self.withdraw_offer(o, RescindReason::AgentUnavailable, QueueReason::Rescinded);
            }
        }
        if state == AgentState::Offline {
            for t in std::mem::take(&mut self.agents[slot as usize].work) {
                let Some(task) = self.tasks.get(&t) else {
                    continue;
                };
                let (channel, in_wrap_up) =
                    (task.channel, matches!(task.phase, NaivePhase::WrapUp(..)));
                self.agents[slot as usize].load[channel.index()] -= 1;
                if in_wrap_up {
                    self.finish_record(t, slot);
                } else {
                    self.requeue(t, QueueReason::AgentOffline);
                }
            }
        }
        if state == AgentState::Available {
            let now = self.now;
            let a = &mut self.agents[slot as usize];
            a.idle_since = now;
            a.missed = 0;
        }
    }

    /// Removes an agent. See [`Router::remove_agent`](crate::Router::remove_agent).
    ///
    /// # Errors
    /// As [`Router::remove_agent`](crate::Router::remove_agent).
    pub fn remove_agent(&mut self, now: Time, agent: AgentId) -> Result<(), RouterError> {
        self.check_time(now)?;
        let slot = self.slot_of(agent)?;
        self.now = now;
        self.change_state(slot, AgentState::Offline);
        self.agents[slot as usize].removed = true;
        self.match_all();
        Ok(())
    }

    // ----------------------------------------------------------------- tasks

    /// A task arrives. See [`Router::arrive`](crate::Router::arrive).
    ///
    /// # Errors
    /// As [`Router::arrive`](crate::Router::arrive).
    pub fn arrive(&mut self, now: Time, spec: TaskSpec) -> Result<(), RouterError> {
        self.check_time(now)?;
        if self.tasks.contains_key(&spec.id) {
            return Err(RouterError::DuplicateTask(spec.id));
        }
        self.check_tenant(spec.tenant)?;
        self.check_requirements(&spec.requirements)?;
        for &(s, w) in &spec.preferences.skills {
            self.check_skill(s)?;
            Self::check_number("preferences.skills weight", w)?;
        }
        for &(t, w) in &spec.preferences.tags {
            self.check_tag(t)?;
            Self::check_number("preferences.tags weight", w)?;
        }
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
        let reqs = spec.requirements.canonical();
        let sla_ms = spec.sla_ms.unwrap_or(self.cfg.default_sla_ms);
        let mut task = NaiveTask {
            tenant: spec.tenant,
            channel: spec.channel,
            queue: 0,
            key: OrderKey {
                class: 0,
                key: ordered_float::NotNan::default(),
                seq: 0,
            },
            created_at,
            preferences: spec.preferences,
            customer: spec.customer,
            priority: spec.priority,
            sla_ms,
            strategy: spec.strategy.unwrap_or(self.cfg.default_strategy),
            fanout: spec.fanout.unwrap_or(self.cfg.default_fanout),
            phase: NaivePhase::Waiting,
            declines: Vec::new(),
            max_wait: None,
        };
        let score = self.task_score(&task, &reqs);
        task.key = self.make_key(
            score,
            created_at,
            sla_ms,
            spec.priority.class,
            self.next_seq,
        )?;
        // Validated: mutate from here on.
        self.now = now;
        self.next_seq += 1;
        task.queue = self.queue_for(spec.channel, spec.tenant, reqs);
        if let Some(max) = spec.max_wait_ms {
            task.max_wait = Some((created_at.plus_millis(max), self.new_timer()));
        }
        self.tasks.insert(spec.id, task);
        self.counters.arrived += 1;
        self.requeue(spec.id, QueueReason::Arrived);
        self.match_all();
        Ok(())
    }

    fn check_answer(&self, now: Time, offer: OfferId, agent: AgentId) -> Result<u32, RouterError> {
        self.check_time(now)?;
        let slot = self.slot_of(agent)?;
        let rec = self
            .offers
            .get(&offer)
            .ok_or(RouterError::UnknownOffer(offer))?;
        if rec.slot != slot {
            return Err(RouterError::WrongAgent {
                offer,
                expected: self.agent_id(rec.slot),
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

    /// The agent accepts an offer. See [`Router::accept`](crate::Router::accept).
    ///
    /// # Errors
    /// As [`Router::accept`](crate::Router::accept).
    pub fn accept(&mut self, now: Time, offer: OfferId, agent: AgentId) -> Result<(), RouterError> {
        let slot = self.check_answer(now, offer, agent)?;
        self.now = now;
        let Some(rec) = self.offers.remove(&offer) else {
            return Err(RouterError::UnknownOffer(offer));
        };
        let task = rec.task;
        let others: Vec<OfferId> = self
            .offers
            .iter()
            .filter(|(_, o)| o.task == task)
            .map(|(&id, _)| id)
            .collect();
        for o in others {
            self.rescind(o, RescindReason::TakenByOther);
        }
        if let Some(t) = self.tasks.get_mut(&task) {
            t.phase = NaivePhase::InService(slot);
        }
        let a = &mut self.agents[slot as usize];
        a.offers.retain(|&o| o != offer);
        a.work.push(task);
        a.idle_since = now;
        a.missed = 0;
        self.effects
            .push_back(Effect::Assigned { task, agent, offer });
        self.match_all();
        Ok(())
    }

    /// The agent rejects an offer. See [`Router::reject`](crate::Router::reject).
    ///
    /// # Errors
    /// As [`Router::accept`](crate::Router::accept).
    pub fn reject(&mut self, now: Time, offer: OfferId, agent: AgentId) -> Result<(), RouterError> {
        self.check_answer(now, offer, agent)?;
        self.now = now;
        self.counters.rejected += 1;
        self.decline(offer, QueueReason::Rejected);
        self.match_all();
        Ok(())
    }

    /// Service ends. See [`Router::complete`](crate::Router::complete).
    ///
    /// # Errors
    /// As [`Router::complete`](crate::Router::complete).
    pub fn complete(&mut self, now: Time, task: TaskId) -> Result<(), RouterError> {
        self.check_time(now)?;
        let t = self
            .tasks
            .get(&task)
            .ok_or(RouterError::UnknownTask(task))?;
        let NaivePhase::InService(slot) = t.phase else {
            return Err(invalid_state(task, &t.phase, "complete"));
        };
        self.now = now;
        if self.cfg.wrap_up_ms == 0 {
            self.finish_task(task, slot);
        } else {
            let until = now.plus_millis(self.cfg.wrap_up_ms);
            let timer = self.new_timer();
            if let Some(t) = self.tasks.get_mut(&task) {
                t.phase = NaivePhase::WrapUp(slot, until, timer);
            }
            let agent = self.agent_id(slot);
            self.effects
                .push_back(Effect::WrapUpStarted { task, agent, until });
        }
        self.match_all();
        Ok(())
    }

    /// Ends wrap-up early. See [`Router::finish_wrap_up`](crate::Router::finish_wrap_up).
    ///
    /// # Errors
    /// As [`Router::finish_wrap_up`](crate::Router::finish_wrap_up).
    pub fn finish_wrap_up(&mut self, now: Time, task: TaskId) -> Result<(), RouterError> {
        self.check_time(now)?;
        let t = self
            .tasks
            .get(&task)
            .ok_or(RouterError::UnknownTask(task))?;
        let NaivePhase::WrapUp(slot, _, _) = t.phase else {
            return Err(invalid_state(task, &t.phase, "finish wrap-up"));
        };
        self.now = now;
        self.finish_task(task, slot);
        self.match_all();
        Ok(())
    }

    /// The host cancels a waiting or offered task. See [`Router::cancel`](crate::Router::cancel).
    ///
    /// # Errors
    /// As [`Router::cancel`](crate::Router::cancel).
    pub fn cancel(&mut self, now: Time, task: TaskId) -> Result<(), RouterError> {
        self.end_unserved(now, task, RescindReason::Cancelled, "cancel")?;
        self.counters.cancelled += 1;
        self.effects.push_back(Effect::Cancelled { task });
        self.match_all();
        Ok(())
    }

    /// The customer gives up. See [`Router::abandon`](crate::Router::abandon).
    ///
    /// # Errors
    /// As [`Router::abandon`](crate::Router::abandon).
    pub fn abandon(&mut self, now: Time, task: TaskId) -> Result<(), RouterError> {
        self.end_unserved(now, task, RescindReason::Abandoned, "abandon")?;
        self.counters.abandoned += 1;
        self.effects.push_back(Effect::Abandoned { task });
        self.match_all();
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
        if !matches!(t.phase, NaivePhase::Waiting | NaivePhase::Offered(_)) {
            return Err(invalid_state(task, &t.phase, op));
        }
        self.now = now;
        self.unplace(task, why);
        self.tasks.remove(&task);
        Ok(())
    }

    /// Moves a task to another channel and requirement set. See
    /// [`Router::transfer`](crate::Router::transfer).
    ///
    /// # Errors
    /// As [`Router::transfer`](crate::Router::transfer).
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
        if matches!(t.phase, NaivePhase::WrapUp(..)) {
            return Err(invalid_state(task, &t.phase, "transfer"));
        }
        self.check_requirements(&requirements)?;
        let tenant = t.tenant;
        self.now = now;
        self.unplace(task, RescindReason::Transferred);
        let q = self.queue_for(channel, tenant, requirements.canonical());
        if let Some(t) = self.tasks.get_mut(&task) {
            t.queue = q;
            t.channel = channel;
        }
        self.requeue(task, QueueReason::Transferred);
        self.match_all();
        Ok(())
    }

    /// Gives a waiting task a new target. See [`Router::retarget`](crate::Router::retarget).
    ///
    /// # Errors
    /// As [`Router::retarget`](crate::Router::retarget).
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
        if t.phase != NaivePhase::Waiting {
            return Err(invalid_state(task, &t.phase, "retarget"));
        }
        self.check_requirements(&target.requirements)?;
        if let Some(p) = &target.preferences {
            for &(s, w) in &p.skills {
                self.check_skill(s)?;
                Self::check_number("preferences.skills weight", w)?;
            }
            for &(tag, w) in &p.tags {
                self.check_tag(tag)?;
                Self::check_number("preferences.tags weight", w)?;
            }
        }
        let priority = target.priority.unwrap_or(t.priority);
        Self::check_number("priority.base", priority.base)?;
        let reqs = target.requirements.canonical();
        let mut probe = t.clone();
        probe.priority = priority;
        if let Some(p) = &target.preferences {
            probe.preferences = p.clone();
        }
        let score = self.task_score(&probe, &reqs);
        let key = self.make_key(score, t.created_at, t.sla_ms, priority.class, t.key.seq)?;
        self.now = now;
        let (tenant, channel) = (t.tenant, t.channel);
        let q = self.queue_for(channel, tenant, reqs);
        self.waiting.retain(|&(_, id)| id != task);
        if let Some(t) = self.tasks.get_mut(&task) {
            t.queue = q;
            t.key = key;
            t.priority = priority;
            t.preferences = probe.preferences;
            if let Some(s) = target.strategy {
                t.strategy = s;
            }
        }
        self.insert_waiting(key, task);
        self.effects.push_back(Effect::Queued {
            task,
            queue: QueueId(q),
            reason: QueueReason::Retargeted,
        });
        self.match_all();
        Ok(())
    }

    /// Replaces the tenant shares. See [`Router::set_shares`](crate::Router::set_shares).
    ///
    /// # Errors
    /// As [`Router::set_shares`](crate::Router::set_shares).
    pub fn set_shares(
        &mut self,
        now: Time,
        shares: Vec<crate::TenantShare>,
    ) -> Result<(), RouterError> {
        self.check_time(now)?;
        for s in &shares {
            if (s.tenant.0 as usize) >= self.catalog.tenant_count() {
                return Err(RouterError::UnknownName {
                    kind: "tenant",
                    id: s.tenant.0,
                });
            }
        }
        let cfg = RouterConfig {
            shares,
            ..self.cfg.clone()
        };
        cfg.validate()?;
        self.now = now;
        let refile = cfg.shares.is_empty() != self.cfg.shares.is_empty();
        self.cfg = cfg;
        if refile {
            let mut order: Vec<(u64, TaskId)> =
                self.tasks.iter().map(|(&id, t)| (t.key.seq, id)).collect();
            order.sort_unstable();
            for (_, id) in order {
                let Some(t) = self.tasks.get(&id) else {
                    continue;
                };
                let (channel, tenant) = (t.channel, t.tenant);
                let reqs = self.queues[t.queue as usize].requirements.clone();
                let q = self.queue_for(channel, tenant, reqs);
                if let Some(t) = self.tasks.get_mut(&id) {
                    t.queue = q;
                }
            }
        }
        self.match_all();
        Ok(())
    }

    /// Changes a live task's priority and customer profile. See
    /// [`Router::reprioritize`](crate::Router::reprioritize).
    ///
    /// # Errors
    /// As [`Router::reprioritize`](crate::Router::reprioritize).
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
        probe.priority = priority;
        probe.customer = customer;
        let score = self.task_score(&probe, &self.queues[t.queue as usize].requirements);
        let key = self.make_key(score, t.created_at, t.sla_ms, priority.class, t.key.seq)?;
        self.now = now;
        let waiting = t.phase == NaivePhase::Waiting;
        if waiting {
            self.waiting.retain(|&(_, id)| id != task);
            self.insert_waiting(key, task);
        }
        if let Some(t) = self.tasks.get_mut(&task) {
            t.key = key;
            t.priority = priority;
            t.customer = customer;
        }
        self.match_all();
        Ok(())
    }

    // ----------------------------------------------------------------- timers

    /// The earliest pending timer: (time, creation sequence, what).
    fn next_due(&self) -> Option<(Time, u64, Due)> {
        let mut best: Option<(Time, u64, Due)> = None;
        let mut consider = |at: Time, seq: u64, due: Due| {
            if best.is_none_or(|(bt, bs, _)| (at, seq) < (bt, bs)) {
                best = Some((at, seq, due));
            }
        };
        for (&id, o) in &self.offers {
            consider(o.expires_at, o.timer, Due::Offer(id));
        }
        for (&id, t) in &self.tasks {
            for d in &t.declines {
                if let Some(seq) = d.timer {
                    consider(d.until, seq, Due::Backoff(id, d.slot));
                }
            }
            if let NaivePhase::WrapUp(_, until, seq) = t.phase {
                consider(until, seq, Due::WrapUp(id));
            }
            if let Some((at, seq)) = t.max_wait {
                consider(at, seq, Due::MaxWait(id));
            }
        }
        best
    }

    /// Fires every timer due at or before `now`, one at a time in (time, creation) order, and
    /// applies the matching rule after each. See
    /// [`Router::handle_timeout`](crate::Router::handle_timeout).
    ///
    /// # Errors
    /// [`RouterError::TimeWentBackwards`].
    pub fn handle_timeout(&mut self, now: Time) -> Result<(), RouterError> {
        self.check_time(now)?;
        self.now = now;
        while let Some((at, _, due)) = self.next_due() {
            if at > now {
                break;
            }
            self.fire(due);
            self.match_all();
        }
        self.match_all();
        Ok(())
    }

    fn fire(&mut self, due: Due) {
        match due {
            Due::Offer(o) => {
                let Some(rec) = self.offers.get(&o) else {
                    return;
                };
                let (task, slot) = (rec.task, rec.slot);
                let agent = self.agent_id(slot);
                self.effects.push_back(Effect::OfferExpired {
                    offer: o,
                    task,
                    agent,
                });
                self.counters.expired += 1;
                self.decline(o, QueueReason::Expired);
                let max = self.cfg.max_missed_offers;
                let a = &mut self.agents[slot as usize];
                a.missed += 1;
                if max.is_some_and(|m| a.missed >= m) && a.state == AgentState::Available {
                    self.change_state(slot, AgentState::Away);
                    self.effects.push_back(Effect::AgentAutoAway { agent });
                }
            }
            Due::Backoff(task, slot) => {
                // A back-off end only makes the agent eligible again; the matching rule that
                // runs after every timer does the rest.
                if let Some(t) = self.tasks.get_mut(&task) {
                    for d in &mut t.declines {
                        if d.slot == slot {
                            d.timer = None;
                        }
                    }
                }
            }
            Due::WrapUp(task) => {
                if let Some(&NaivePhase::WrapUp(slot, _, _)) =
                    self.tasks.get(&task).map(|t| &t.phase)
                {
                    self.finish_task(task, slot);
                }
            }
            Due::MaxWait(task) => {
                let Some(t) = self.tasks.get_mut(&task) else {
                    return;
                };
                t.max_wait = None;
                if matches!(t.phase, NaivePhase::Waiting | NaivePhase::Offered(_)) {
                    self.unplace(task, RescindReason::TimedOut);
                    self.tasks.remove(&task);
                    self.counters.timed_out += 1;
                    self.effects.push_back(Effect::TimedOut { task });
                }
            }
        }
    }

    // ----------------------------------------------------------------- events

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

    // ----------------------------------------------------------------- task moves

    fn insert_waiting(&mut self, key: OrderKey, task: TaskId) {
        let at = self.waiting.partition_point(|(k, _)| *k < key);
        self.waiting.insert(at, (key, task));
    }

    fn requeue(&mut self, task: TaskId, reason: QueueReason) {
        let Some(t) = self.tasks.get_mut(&task) else {
            return;
        };
        t.phase = NaivePhase::Waiting;
        let (q, key) = (t.queue, t.key);
        self.insert_waiting(key, task);
        self.effects.push_back(Effect::Queued {
            task,
            queue: QueueId(q),
            reason,
        });
    }

    fn unplace(&mut self, task: TaskId, why: RescindReason) {
        let Some(t) = self.tasks.get(&task) else {
            return;
        };
        let (phase, channel) = (t.phase.clone(), t.channel);
        match phase {
            NaivePhase::Waiting => self.waiting.retain(|&(_, id)| id != task),
            NaivePhase::Offered(list) => {
                for o in list {
                    self.rescind(o, why);
                }
            }
            NaivePhase::InService(slot) | NaivePhase::WrapUp(slot, _, _) => {
                let a = &mut self.agents[slot as usize];
                a.work.retain(|&t| t != task);
                a.load[channel.index()] -= 1;
            }
        }
    }

    fn release_offer(&mut self, offer: OfferId) -> Option<(TaskId, u32)> {
        let rec = self.offers.remove(&offer)?;
        let channel = self.tasks.get(&rec.task)?.channel;
        let a = &mut self.agents[rec.slot as usize];
        a.offers.retain(|&o| o != offer);
        a.load[channel.index()] -= 1;
        Some((rec.task, rec.slot))
    }

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

    fn withdraw_offer(&mut self, offer: OfferId, reason: RescindReason, qreason: QueueReason) {
        let Some(task) = self.offers.get(&offer).map(|o| o.task) else {
            return;
        };
        self.rescind(offer, reason);
        self.drop_offer_from_task(task, offer, qreason);
    }

    fn drop_offer_from_task(&mut self, task: TaskId, offer: OfferId, qreason: QueueReason) {
        let Some(t) = self.tasks.get_mut(&task) else {
            return;
        };
        if let NaivePhase::Offered(list) = &mut t.phase {
            list.retain(|&o| o != offer);
            if list.is_empty() {
                self.requeue(task, qreason);
            }
        }
    }

    fn decline(&mut self, offer: OfferId, qreason: QueueReason) {
        let Some((task, slot)) = self.release_offer(offer) else {
            return;
        };
        let until = self.now.plus_millis(self.cfg.decline_backoff_ms);
        let timer = (self.cfg.decline_backoff_ms > 0).then(|| self.new_timer());
        if let Some(t) = self.tasks.get_mut(&task) {
            match t.declines.iter_mut().find(|d| d.slot == slot) {
                Some(d) => {
                    d.until = until;
                    d.timer = timer;
                }
                None => t.declines.push(Decline { slot, until, timer }),
            }
        }
        self.drop_offer_from_task(task, offer, qreason);
    }

    fn finish_task(&mut self, task: TaskId, slot: u32) {
        let Some(channel) = self.tasks.get(&task).map(|t| t.channel) else {
            return;
        };
        let a = &mut self.agents[slot as usize];
        a.work.retain(|&t| t != task);
        a.load[channel.index()] -= 1;
        self.finish_record(task, slot);
    }

    fn finish_record(&mut self, task: TaskId, slot: u32) {
        self.tasks.remove(&task);
        self.counters.completed += 1;
        let agent = self.agent_id(slot);
        self.effects.push_back(Effect::Completed { task, agent });
    }

    // ----------------------------------------------------------------- matching

    /// Whether the agent in `slot` could be offered `t` right now.
    fn can_take(&self, slot: u32, t: &NaiveTask) -> bool {
        let a = &self.agents[slot as usize];
        a.has_room(t.channel)
            && a.meets(&self.queues[t.queue as usize], &self.catalog)
            && t.backoff_until(slot).is_none_or(|u| u <= self.now)
    }

    /// The matching rule, stated globally: while some waiting task has a free, eligible agent,
    /// offer the first such task in serving order.
    /// The tier of a tenant's waiting tasks (see [`crate::TenantShare`]), from a count of its
    /// tasks holding capacity.
    fn tier(&self, tenant: TenantId) -> u8 {
        self.cfg
            .shares
            .iter()
            .find(|s| s.tenant == tenant)
            .map_or(1, |s| {
                let held = self
                    .tasks
                    .values()
                    .filter(|t| t.tenant == tenant && t.phase != NaivePhase::Waiting)
                    .count();
                s.tier(u32::try_from(held).unwrap_or(u32::MAX))
            })
    }

    fn match_all(&mut self) {
        loop {
            // The best waiting task by (tenant tier, order key) that some agent can take.
            let found = self
                .waiting
                .iter()
                .filter(|(_, id)| {
                    self.tasks.get(id).is_some_and(|t| {
                        (0..self.agents.len()).any(|s| self.can_take(to_u32(s), t))
                    })
                })
                .filter_map(|&(key, id)| Some(((self.tier(self.tasks.get(&id)?.tenant), key), id)))
                .min()
                .map(|(_, id)| id);
            match found {
                Some(task) => self.offer_task(task),
                None => break,
            }
        }
    }

    fn offer_task(&mut self, task: TaskId) {
        let Some(t) = self.tasks.get(&task) else {
            return;
        };
        let (mut fresh, mut old) = (Vec::new(), Vec::new());
        for s in 0..self.agents.len() {
            let slot = to_u32(s);
            if self.can_take(slot, t) {
                if t.backoff_until(slot).is_some() {
                    old.push(slot);
                } else {
                    fresh.push(slot);
                }
            }
        }
        let (strategy, fanout) = (t.strategy, usize::from(t.fanout));

        let mut picks = self.select(task, strategy, fresh, fanout);
        let mut redeclined_from = picks.len();
        if picks.len() < fanout {
            let more = self.select(task, strategy, old, fanout - picks.len());
            picks.extend(more);
        } else {
            redeclined_from = usize::MAX;
        }
        if picks.is_empty() {
            return;
        }
        self.waiting.retain(|&(_, id)| id != task);
        let mut ids = Vec::new();
        for (rank, (slot, score)) in picks.into_iter().enumerate() {
            let reason = OfferReason {
                strategy,
                score,

                rank: to_u32(rank),
                redeclined: rank >= redeclined_from,
                batch: false,
            };
            ids.push(self.make_offer(task, slot, reason));
        }
        if let Some(t) = self.tasks.get_mut(&task) {
            t.phase = NaivePhase::Offered(ids);
        }
    }

    fn make_offer(&mut self, task: TaskId, slot: u32, reason: OfferReason) -> OfferId {
        let id = OfferId(self.next_offer);
        self.next_offer += 1;
        let now = self.now;
        let expires_at = now.plus_millis(self.cfg.offer_timeout_ms);
        let channel = self.tasks.get(&task).map_or(Channel::Chat, |t| t.channel);
        let timer = self.new_timer();
        self.offers.insert(
            id,
            NaiveOffer {
                task,
                slot,
                created_at: now,
                expires_at,
                timer,
                reason,
            },
        );
        let a = &mut self.agents[slot as usize];
        a.load[channel.index()] += 1;
        a.offers.push(id);
        let agent = a.id;
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

    /// Picks up to `k` of `cands` (ascending registration order) by `strategy`, by sorting the
    /// whole candidate list.
    fn select(
        &mut self,
        task: TaskId,
        strategy: Strategy,
        mut cands: Vec<u32>,
        k: usize,
    ) -> Vec<(u32, Option<f64>)> {
        let Some(t) = self.tasks.get(&task) else {
            return Vec::new();
        };
        if cands.is_empty() || k == 0 {
            return Vec::new();
        }
        let c = t.channel.index();
        match strategy {
            Strategy::BestScore => {
                let mut scored: Vec<(f64, u32)> = cands
                    .iter()
                    .map(|&s| {
                        let v = self.match_score(s, t);
                        (if v.is_finite() { v } else { f64::NEG_INFINITY }, s)
                    })
                    .collect();
                scored.sort_by(|a, b| {
                    b.0.partial_cmp(&a.0)
                        .unwrap_or(Ordering::Equal)
                        .then(a.1.cmp(&b.1))
                });
                scored
                    .into_iter()
                    .take(k)
                    .map(|(v, s)| (s, v.is_finite().then_some(v)))
                    .collect()
            }
            Strategy::LongestIdle => {
                let mut keyed: Vec<(Time, u32)> =
                    cands.iter().map(|&s| (self.idle_key(s), s)).collect();
                keyed.sort();
                keyed.into_iter().take(k).map(|(_, s)| (s, None)).collect()
            }
            Strategy::LeastOccupied => {
                let mut keyed: Vec<(u64, u64, Time, u32)> = cands
                    .iter()
                    .map(|&s| {
                        let a = &self.agents[s as usize];
                        (
                            u64::from(a.load[c]),
                            u64::from(a.capacity.0[c]),
                            self.idle_key(s),
                            s,
                        )
                    })
                    .collect();
                // Lowest load/capacity (exactly, by cross-multiplication), then most spare slots,
                // then longest idle, then registration order.
                keyed.sort_by(|x, y| {
                    (x.0 * y.1)
                        .cmp(&(y.0 * x.1))
                        .then((y.1 - y.0).cmp(&(x.1 - x.0)))
                        .then(x.2.cmp(&y.2))
                        .then(x.3.cmp(&y.3))
                });
                keyed.into_iter().take(k).map(|x| (x.3, None)).collect()
            }
            Strategy::RoundRobin => {
                let mut out = Vec::new();
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
