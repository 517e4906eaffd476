//! The SLA ledger: accounting per tenant, queue and interval, and guarantee evaluation.
//!
//! The ledger is fed by the host (or the [simulator](crate::sim)) next to the router:
//!
//! 1. [`Ledger::arrival`] when a task is submitted (tenant, queue, SLA target, outreach or not);
//! 2. [`Ledger::observe`] with every [`Effect`] the router emits, at the time it was drained —
//!    `Assigned` answers a task, `Completed` ends its handling, `Abandoned` / `TimedOut` /
//!    `Cancelled` end it unanswered;
//! 3. [`Ledger::agent_state`] when an agent logs in, goes on a break or logs out, and
//!    [`Ledger::agent_capacity`] with the agent's slots (for occupancy);
//! 4. [`Ledger::outcome`] when the host learns a satisfaction score or a conversion;
//! 5. [`Ledger::conversation_closed`] with every conversation the escalation engine closes (or
//!    [`Ledger::ai_conversation`] from any AI front line, e.g. the simulator's containment model),
//!    for **AI containment** and **escalation rate** per tenant and interval.
//!
//! **Occupancy** is busy slot-time ÷ (capacity × staffed time): a slot is busy from the answer
//! (`Assigned`) until the task releases it (`Completed`, wrap-up included, or a requeue), counted
//! only while the agent is staffed (not `Offline`); capacity is the agent's slots over every
//! channel ([`Ledger::agent_capacity`]), or, when never reported, the most tasks the agent held at
//! once. So an agent with three chat slots who holds two chats all day is at 67%, never above
//! 100%.
//!
//! Every contact is counted in the interval in which it was **offered** (its `created_at`), the
//! usual contact-center convention: a contact offered at 10:29 and answered at 10:31 belongs to
//! 10:00–10:30. "Answered within target" compares the wait (answer time − `created_at`) with the
//! task's own SLA target. Every service level names the [`SlDefinition`] it uses.
//!
//! AI conversations are counted in the interval in which they **started**. Containment is
//! contained ÷ conversations and escalation rate is escalated ÷ conversations, where *contained*
//! means the conversation never went to a human **and** the customer never asked for one (a
//! customer who asked and was refused is [`AiOutcome::Refused`], neither contained nor escalated)
//! — the same rule as the escalation engine's [`Metrics`](crate::escalation::Metrics).
//!
//! Output is deterministic: rows are sorted by tenant, queue and interval, agents by id (never
//! hash order).
//!
//! # Example
//! ```
//! use switchboard::*;
//! use switchboard::ledger::{Ledger, LedgerConfig, Arrival, Guarantee, Outcome};
//!
//! let mut router = Router::new(RouterConfig::default())?;
//! let brand = router.catalog_mut().tenant("acme");
//! let mut ledger = Ledger::new(LedgerConfig::default());
//! let mut offers = Vec::new();
//! // Drain the router's effects into the ledger, keeping the offers to answer.
//! let mut pump = |router: &mut Router, ledger: &mut Ledger, now: Time, offers: &mut Vec<OfferId>| {
//!     for e in router.drain_effects() {
//!         if let Effect::Offer { offer, .. } = e { offers.push(offer); }
//!         ledger.observe(now, &e);
//!     }
//! };
//! router.add_agent(Time::ZERO, AgentSpec::new(AgentId(1)).capacity(Channel::Chat, 1)
//!     .state(AgentState::Available))?;
//! ledger.agent_state(Time::ZERO, AgentId(1), AgentState::Available);
//! for (i, secs) in [(1, 0), (2, 1)] {
//!     let now = Time::from_secs(secs);
//!     router.arrive(now, TaskSpec::new(TaskId(i), brand, Channel::Chat).sla_ms(20_000))?;
//!     ledger.arrival(now, Arrival::new(TaskId(i), brand).sla_ms(20_000)
//!         .queue(router.task_queue(TaskId(i))));
//!     pump(&mut router, &mut ledger, now, &mut offers);
//! }
//! // The agent takes task 1 at once; task 2 waits 60 s.
//! router.accept(Time::from_secs(1), offers[0], AgentId(1))?;
//! pump(&mut router, &mut ledger, Time::from_secs(1), &mut offers);
//! router.complete(Time::from_secs(61), TaskId(1))?;
//! pump(&mut router, &mut ledger, Time::from_secs(61), &mut offers);
//! router.accept(Time::from_secs(61), offers[1], AgentId(1))?;
//! pump(&mut router, &mut ledger, Time::from_secs(61), &mut offers);
//! ledger.outcome(TaskId(1), Outcome::csat(5.0));
//!
//! let report = ledger.report(Time::from_secs(120));
//! let row = &report.intervals[0];
//! assert_eq!((row.offered, row.answered, row.answered_within), (2, 2, 1));
//! assert_eq!(row.service_level, Some(0.5));
//! assert_eq!(report.tenants[0].csat_avg, Some(5.0));
//!
//! let breaches = ledger.evaluate(brand, &Guarantee::answer_rate(0.8, 20_000));
//! assert_eq!(breaches.len(), 1);
//! assert_eq!(breaches[0].tasks, vec![TaskId(2)]);
//! # Ok::<(), RouterError>(())
//! ```

mod report;

pub use report::*;

use crate::escalation::Conversation;
use crate::staffing::SlDefinition;
use crate::{
    AgentId, AgentState, Capacity, Channel, Effect, QueueId, TaskId, TaskSpec, TenantId, Time,
};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Ledger settings.
///
/// # Example
/// ```
/// use switchboard::ledger::LedgerConfig;
/// let c: LedgerConfig = serde_json::from_str(r#"{"interval_minutes": 15}"#).unwrap();
/// assert_eq!(c.interval_ms().unwrap(), 900_000);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LedgerConfig {
    /// Interval length in minutes: 15, 30 or 60.
    pub interval_minutes: u32,
    /// How abandons count in the service level.
    pub definition: SlDefinition,
    /// SLA target for arrivals that give none, ms.
    pub default_sla_ms: u64,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        LedgerConfig {
            interval_minutes: 30,
            definition: SlDefinition::AbandonsMissed,
            default_sla_ms: 60_000,
        }
    }
}

impl LedgerConfig {
    /// The interval in ms, or an error naming the field.
    ///
    /// # Errors
    /// [`LedgerError::InvalidInterval`] unless 15, 30 or 60 minutes.
    pub fn interval_ms(&self) -> Result<u64, LedgerError> {
        match self.interval_minutes {
            15 | 30 | 60 => Ok(u64::from(self.interval_minutes) * 60_000),
            m => Err(LedgerError::InvalidInterval(m)),
        }
    }
}

/// Errors of the ledger's configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// Interval must be 15, 30 or 60 minutes.
    #[error("interval_minutes: {0} is not 15, 30 or 60")]
    InvalidInterval(u32),
}

/// What the ledger needs to know about an arriving task.
///
/// # Example
/// ```
/// use switchboard::{TaskId, TenantId, Channel};
/// use switchboard::ledger::Arrival;
/// let a = Arrival::new(TaskId(1), TenantId(0)).channel(Channel::Outreach).sla_ms(30_000);
/// assert!(a.outreach);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Arrival {
    /// The task.
    pub task: TaskId,
    /// Its tenant.
    pub tenant: TenantId,
    /// Its queue, if known (ask [`Router::task_queue`](crate::Router::task_queue) after arrival).
    #[serde(default)]
    pub queue: Option<QueueId>,
    /// Its channel.
    pub channel: Channel,
    /// SLA target, ms; `None` uses [`LedgerConfig::default_sla_ms`].
    #[serde(default)]
    pub sla_ms: Option<u64>,
    /// When the customer started waiting; `None` = the arrival time.
    #[serde(default)]
    pub created_at: Option<Time>,
    /// A proactive / pre-sale outreach task (billed only on conversion).
    #[serde(default)]
    pub outreach: bool,
}

impl Arrival {
    /// A chat arrival with no queue, default SLA.
    #[must_use]
    pub fn new(task: TaskId, tenant: TenantId) -> Self {
        Arrival {
            task,
            tenant,
            queue: None,
            channel: Channel::Chat,
            sla_ms: None,
            created_at: None,
            outreach: false,
        }
    }
    /// From a [`TaskSpec`] (outreach when its channel is [`Channel::Outreach`]).
    #[must_use]
    pub fn from_spec(spec: &TaskSpec, queue: Option<QueueId>) -> Self {
        Arrival {
            task: spec.id,
            tenant: spec.tenant,
            queue,
            channel: spec.channel,
            sla_ms: spec.sla_ms,
            created_at: spec.created_at,
            outreach: spec.channel == Channel::Outreach,
        }
    }
    /// Sets the queue.
    #[must_use]
    pub fn queue(mut self, q: Option<QueueId>) -> Self {
        self.queue = q;
        self
    }
    /// Sets the channel (outreach when [`Channel::Outreach`]).
    #[must_use]
    pub fn channel(mut self, c: Channel) -> Self {
        self.channel = c;
        self.outreach |= c == Channel::Outreach;
        self
    }
    /// Sets the SLA target.
    #[must_use]
    pub fn sla_ms(mut self, ms: u64) -> Self {
        self.sla_ms = Some(ms);
        self
    }
    /// Marks the task as outreach.
    #[must_use]
    pub fn outreach(mut self) -> Self {
        self.outreach = true;
        self
    }
}

/// A host-reported outcome of a task.
///
/// # Example
/// ```
/// use switchboard::ledger::Outcome;
/// let o = Outcome::csat(4.0).and_converted(true);
/// assert_eq!(o.converted, Some(true));
/// ```
#[derive(Copy, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// Satisfaction score (any scale the host uses consistently, e.g. 1–5).
    #[serde(default)]
    pub csat: Option<f64>,
    /// Whether an outreach / pre-sale task converted.
    #[serde(default)]
    pub converted: Option<bool>,
}

impl Outcome {
    /// A satisfaction score.
    #[must_use]
    pub fn csat(score: f64) -> Self {
        Outcome {
            csat: Some(score),
            converted: None,
        }
    }
    /// A conversion result.
    #[must_use]
    pub fn converted(yes: bool) -> Self {
        Outcome {
            csat: None,
            converted: Some(yes),
        }
    }
    /// Adds a conversion result.
    #[must_use]
    pub fn and_converted(mut self, yes: bool) -> Self {
        self.converted = Some(yes);
        self
    }
}

/// How an AI-first conversation ended, for containment and escalation rate.
///
/// # Example
/// ```
/// use switchboard::{Catalog, Time};
/// use switchboard::escalation::*;
/// use switchboard::ledger::AiOutcome;
/// let mut catalog = Catalog::new();
/// let acme = catalog.tenant("acme");
/// let policy = EscalationPolicy::compile(PolicyConfig::default(), &mut catalog)?;
/// let mut engine = EscalationEngine::with_defaults(policy)?;
/// engine.open(Time::ZERO, ConversationId(1), acme)?;
/// engine.observe(Time::from_secs(2), ConversationId(1), Signal::Turn(Turn::customer("thanks")))?;
/// let conv = engine.close(ConversationId(1))?;
/// assert_eq!(AiOutcome::of(&conv), AiOutcome::Contained);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AiOutcome {
    /// The bot resolved it: never escalated, and the customer never asked for a human.
    Contained,
    /// Escalated to a human at least once (live, callback or ticket).
    Escalated,
    /// The customer asked for a human but was never escalated: not contained.
    Refused,
}

impl AiOutcome {
    /// The outcome of a (closed) conversation: escalated if it had any hand-off, refused if the
    /// customer asked for a human without one, contained otherwise.
    #[must_use]
    pub fn of(conversation: &Conversation) -> Self {
        if conversation.handoffs() > 0 {
            AiOutcome::Escalated
        } else if conversation.explicit_requests() > 0 {
            AiOutcome::Refused
        } else {
            AiOutcome::Contained
        }
    }
}

#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct AiCounts {
    contained: u64,
    escalated: u64,
    refused: u64,
}

impl AiCounts {
    fn add(&mut self, o: AiOutcome) {
        match o {
            AiOutcome::Contained => self.contained += 1,
            AiOutcome::Escalated => self.escalated += 1,
            AiOutcome::Refused => self.refused += 1,
        }
    }
    fn merge(&mut self, o: &AiCounts) {
        self.contained += o.contained;
        self.escalated += o.escalated;
        self.refused += o.refused;
    }
    #[allow(clippy::cast_precision_loss)]
    fn finish(self, tenant: TenantId, interval_start: Option<Time>) -> AiStats {
        let n = self.contained + self.escalated + self.refused;
        let share = |k: u64| (n > 0).then(|| k as f64 / n as f64);
        AiStats {
            tenant,
            interval_start,
            conversations: n,
            contained: self.contained,
            escalated: self.escalated,
            refused: self.refused,
            containment: share(self.contained),
            escalation_rate: share(self.escalated),
        }
    }
}

/// How a task ended (so far).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fate {
    /// Still waiting (or offered) when the report was taken.
    Waiting,
    /// Answered after waiting this long, ms.
    Answered(u64),
    /// The customer abandoned after this long, ms.
    Abandoned(u64),
    /// Removed after its maximum wait, ms.
    TimedOut(u64),
    /// Cancelled by the host after this long, ms.
    Cancelled(u64),
}

/// The ledger's record of one task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// The task.
    pub task: TaskId,
    /// Tenant.
    pub tenant: TenantId,
    /// Queue, if known.
    pub queue: Option<QueueId>,
    /// When the customer started waiting.
    pub created_at: Time,
    /// SLA target, ms.
    pub sla_ms: u64,
    /// Outreach task.
    pub outreach: bool,
    /// How it ended.
    pub fate: Fate,
    /// The agent who answered it.
    pub agent: Option<AgentId>,
    /// Handling time (answer to completion), ms.
    pub handle_ms: Option<u64>,
    /// Host-reported outcome.
    pub outcome: Outcome,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct AgentBook {
    agent: AgentId,
    state: AgentState,
    /// Time up to which `staffed_ms` and `busy_ms` are integrated.
    since: Time,
    staffed_ms: u64,
    /// Slot-milliseconds busy while staffed.
    busy_ms: u64,
    /// Tasks held now (answered, not yet released).
    active: u32,
    /// Most tasks held at once.
    peak: u32,
    /// Reported slots over every channel (0 = never reported).
    slots: u32,
    handle_ms: u64,
    answered: u64,
    csat_sum: f64,
    csat_n: u64,
    outreach: u64,
    converted: u64,
}

impl AgentBook {
    fn new(agent: AgentId) -> Self {
        AgentBook {
            agent,
            state: AgentState::default(),
            since: Time::default(),
            staffed_ms: 0,
            busy_ms: 0,
            active: 0,
            peak: 0,
            slots: 0,
            handle_ms: 0,
            answered: 0,
            csat_sum: 0.0,
            csat_n: 0,
            outreach: 0,
            converted: 0,
        }
    }

    /// Integrates staffed and busy time up to `now`.
    fn advance(&mut self, now: Time) {
        if now <= self.since {
            return;
        }
        if self.state != AgentState::Offline {
            let dt = now.millis_since(self.since);
            self.staffed_ms += dt;
            self.busy_ms = self
                .busy_ms
                .saturating_add(dt.saturating_mul(u64::from(self.active)));
        }
        self.since = now;
    }

    /// The slots occupancy is measured against.
    fn capacity(&self) -> u32 {
        self.slots.max(self.peak).max(1)
    }
}

/// What the ledger knows of one task id: its latest record and its handling now.
#[derive(Copy, Clone, Debug, Serialize, Deserialize)]
struct TaskSlot {
    /// Index in `records` of the latest record (`NO_RECORD`: none).
    rec: usize,
    /// Answer time, while in service (`answered`).
    answered_at: Time,
    /// The agent book whose slot the task holds (`NO_BOOK`: none).
    holder: u32,
    answered: bool,
}

const NO_RECORD: usize = usize::MAX;
const NO_BOOK: u32 = u32::MAX;
/// Ids up to this far beyond twice the number of tasks (or agents) seen are kept in the dense
/// table of an [`IdTable`].
const DENSE_SLACK: u64 = 4096;

impl TaskSlot {
    const EMPTY: TaskSlot = TaskSlot {
        rec: NO_RECORD,
        answered_at: Time::ZERO,
        holder: NO_BOOK,
        answered: false,
    };
}

/// A `u64` id → `V` map: a table indexed by the id for ids that are small next to the number of
/// entries (the usual numbering from 0 or 1: no hashing, and neighbours in time sit together in
/// cache), a hash map for the others. Unset entries read as `empty`. An id lives in one of the two
/// for good: the map is asked first (when not empty), so an id filed there before the table grew
/// past it is still found; the table never grows beyond twice the count the caller gives plus
/// [`DENSE_SLACK`], whatever the ids.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound(
    serialize = "V: Serialize + Copy",
    deserialize = "V: Deserialize<'de> + Copy"
))]
struct IdTable<V> {
    dense: Vec<V>,
    #[serde(with = "crate::serde_util::sorted_map")]
    sparse: FxHashMap<u64, V>,
    empty: V,
}

impl<V: Copy> IdTable<V> {
    fn new(empty: V) -> Self {
        IdTable {
            dense: Vec::new(),
            sparse: FxHashMap::default(),
            empty,
        }
    }

    /// The entry of `id`, if it was ever made (it may still read as `empty`).
    #[inline]
    fn get_mut(&mut self, id: u64) -> Option<&mut V> {
        if !self.sparse.is_empty()
            && let Some(v) = self.sparse.get_mut(&id)
        {
            return Some(v);
        }
        usize::try_from(id).ok().and_then(|i| self.dense.get_mut(i))
    }

    /// The entry of `id`, made `empty` if new; `count` (entries in use) bounds the table.
    #[inline]
    fn entry(&mut self, id: u64, count: usize) -> &mut V {
        if !self.sparse.is_empty() && self.sparse.contains_key(&id) {
            return self.sparse.entry(id).or_insert(self.empty);
        }
        let bound = (count as u64).saturating_mul(2).saturating_add(DENSE_SLACK);
        match usize::try_from(id) {
            Ok(i) if i < self.dense.len() || id < bound => {
                if i >= self.dense.len() {
                    self.dense.resize(i + 1, self.empty);
                }
                &mut self.dense[i]
            }
            _ => self.sparse.entry(id).or_insert(self.empty),
        }
    }
}

/// The SLA ledger. See the [module documentation](self).
///
/// It serialises whole (hash maps as sorted lists, so equal ledgers give equal bytes): the
/// composed [`Operation`](crate::operation::Operation) keeps it in its snapshots.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Ledger {
    config: LedgerConfig,
    interval_ms: u64,
    records: Vec<TaskRecord>,
    /// Task → latest record, answer time while in service, and the agent slot it holds.
    tasks: IdTable<TaskSlot>,
    /// One book per agent, in order of first sight (sorted by id only for the report).
    books: Vec<AgentBook>,
    /// Agent → index in `books` (`NO_BOOK`: none yet).
    book_of: IdTable<u32>,
    /// AI conversations per tenant and interval start (sorted only for the report).
    #[serde(with = "crate::serde_util::sorted_map")]
    ai: FxHashMap<(TenantId, Time), AiCounts>,
    unknown_effects: u64,
}

/// The book of `agent` in `books`, created if new.
#[inline]
fn book(books: &mut Vec<AgentBook>, book_of: &mut IdTable<u32>, agent: AgentId) -> u32 {
    let b = book_of.entry(agent.0, books.len());
    if *b == NO_BOOK {
        // More than 2^32 agents do not fit in memory.
        *b = u32::try_from(books.len()).unwrap_or(NO_BOOK);
        books.push(AgentBook::new(agent));
    }
    *b
}

impl Ledger {
    /// An empty ledger. An invalid interval falls back to 30 minutes (check
    /// [`LedgerConfig::interval_ms`] first to reject it).
    #[must_use]
    pub fn new(config: LedgerConfig) -> Self {
        let interval_ms = config.interval_ms().unwrap_or(1_800_000);
        Ledger {
            config,
            interval_ms,
            records: Vec::new(),
            tasks: IdTable::new(TaskSlot::EMPTY),
            books: Vec::new(),
            book_of: IdTable::new(NO_BOOK),
            ai: FxHashMap::default(),
            unknown_effects: 0,
        }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &LedgerConfig {
        &self.config
    }

    /// Every task record, in arrival order.
    #[must_use]
    pub fn records(&self) -> &[TaskRecord] {
        &self.records
    }

    /// Effects about tasks the ledger was never told about (should be 0).
    #[must_use]
    pub fn unknown_effects(&self) -> u64 {
        self.unknown_effects
    }

    /// Records an arrival. A task id seen before starts a new record (ids may be reused after a
    /// task ends).
    pub fn arrival(&mut self, now: Time, a: Arrival) {
        let created = a.created_at.unwrap_or(now).min(now);
        let n = self.records.len();
        self.tasks.entry(a.task.0, n).rec = n;
        self.records.push(TaskRecord {
            task: a.task,
            tenant: a.tenant,
            queue: a.queue,
            created_at: created,
            sla_ms: a.sla_ms.unwrap_or(self.config.default_sla_ms),
            outreach: a.outreach,
            fate: Fate::Waiting,
            agent: None,
            handle_ms: None,
            outcome: Outcome::default(),
        });
    }

    /// The latest record of `task`; an unknown task is counted in `unknown_effects`.
    fn rec(&mut self, task: TaskId) -> Option<&mut TaskRecord> {
        let i = self.tasks.get_mut(task.0).map_or(NO_RECORD, |s| s.rec);
        let r = self.records.get_mut(i);
        if r.is_none() {
            self.unknown_effects += 1;
        }
        r
    }

    /// The book of `agent`, created if new.
    fn book(&mut self, agent: AgentId) -> &mut AgentBook {
        let b = book(&mut self.books, &mut self.book_of, agent);
        &mut self.books[b as usize]
    }

    /// Records one router effect drained at `now`.
    pub fn observe(&mut self, now: Time, effect: &Effect) {
        match *effect {
            Effect::Assigned { task, agent, .. } => {
                // `agent` takes a slot for `task` (a re-assignment after a requeue counts again).
                let b = book(&mut self.books, &mut self.book_of, agent);
                let slot = self.tasks.entry(task.0, self.records.len());
                let released = std::mem::replace(&mut slot.holder, b);
                if let Some(old) = self.books.get_mut(released as usize) {
                    old.advance(now);
                    old.active = old.active.saturating_sub(1);
                }
                let book = &mut self.books[b as usize];
                book.advance(now);
                book.active = book.active.saturating_add(1);
                book.peak = book.peak.max(book.active);
                match self.records.get_mut(slot.rec) {
                    Some(r) => {
                        if r.fate == Fate::Waiting {
                            r.fate = Fate::Answered(now.millis_since(r.created_at));
                            r.agent = Some(agent);
                            slot.answered_at = now;
                            slot.answered = true;
                            book.answered += 1;
                        }
                    }
                    None => self.unknown_effects += 1,
                }
            }
            Effect::WrapUpStarted { task, agent, .. } | Effect::Completed { task, agent } => {
                let Some(slot) = self.tasks.get_mut(task.0) else {
                    return;
                };
                if slot.answered {
                    slot.answered = false;
                    let ms = now.millis_since(slot.answered_at);
                    match self.records.get_mut(slot.rec) {
                        Some(r) => r.handle_ms = Some(ms),
                        None => self.unknown_effects += 1,
                    }
                    let b = match self.books.get(slot.holder as usize) {
                        Some(h) if h.agent == agent => slot.holder,
                        _ => book(&mut self.books, &mut self.book_of, agent),
                    };
                    self.books[b as usize].handle_ms += ms;
                }
                if matches!(effect, Effect::Completed { .. }) {
                    self.release(now, task);
                }
            }
            Effect::Queued { task, .. } => self.release(now, task),
            Effect::Abandoned { task } => {
                self.release(now, task);
                self.end(now, task, Fate::Abandoned);
            }
            Effect::TimedOut { task } => {
                self.release(now, task);
                self.end(now, task, Fate::TimedOut);
            }
            Effect::Cancelled { task } => {
                self.release(now, task);
                self.end(now, task, Fate::Cancelled);
            }
            _ => {}
        }
    }

    /// The slot `task` held, if any, is free.
    fn release(&mut self, now: Time, task: TaskId) {
        if let Some(slot) = self.tasks.get_mut(task.0) {
            let held = std::mem::replace(&mut slot.holder, NO_BOOK);
            if let Some(b) = self.books.get_mut(held as usize) {
                b.advance(now);
                b.active = b.active.saturating_sub(1);
            }
        }
    }

    fn end(&mut self, now: Time, task: TaskId, fate: fn(u64) -> Fate) {
        if let Some(r) = self.rec(task)
            && r.fate == Fate::Waiting
        {
            r.fate = fate(now.millis_since(r.created_at));
        }
    }

    /// Records an agent's presence change (for occupancy: staffed time is time not `Offline`).
    pub fn agent_state(&mut self, now: Time, agent: AgentId, state: AgentState) {
        let b = self.book(agent);
        b.advance(now);
        b.state = state;
    }

    /// Records an agent's capacity: occupancy is measured against the sum of its slots over every
    /// channel (see the [module documentation](self)). Without it, the most tasks the agent held
    /// at once stand in.
    ///
    /// # Example
    /// ```
    /// use switchboard::{AgentId, AgentState, Capacity, Channel, Effect, OfferId, TaskId, TenantId, Time};
    /// use switchboard::ledger::{Arrival, Ledger, LedgerConfig};
    /// let mut l = Ledger::new(LedgerConfig::default());
    /// let a = AgentId(1);
    /// l.agent_state(Time::ZERO, a, AgentState::Available);
    /// l.agent_capacity(a, Capacity::default().with(Channel::Chat, 3));
    /// // Two chats held for the whole hour: 2 of 3 slots busy.
    /// for t in [1, 2] {
    ///     l.arrival(Time::ZERO, Arrival::new(TaskId(t), TenantId(0)));
    ///     l.observe(Time::ZERO, &Effect::Assigned { task: TaskId(t), agent: a, offer: OfferId(t) });
    /// }
    /// let r = l.report(Time::from_secs(3600));
    /// assert_eq!(r.agents[0].capacity, 3);
    /// assert!((r.agents[0].occupancy.unwrap() - 2.0 / 3.0).abs() < 1e-12);
    /// ```
    pub fn agent_capacity(&mut self, agent: AgentId, capacity: Capacity) {
        let slots = capacity.0.iter().map(|&c| u32::from(c)).sum();
        self.book(agent).slots = slots;
    }

    /// Records a host-reported outcome, attributed to the task's tenant and answering agent.
    /// Unknown tasks are counted in [`Ledger::unknown_effects`].
    pub fn outcome(&mut self, task: TaskId, outcome: Outcome) {
        let Some(r) = self.rec(task) else { return };
        if let Some(c) = outcome.csat
            && c.is_finite()
        {
            r.outcome.csat = Some(c);
        }
        if outcome.converted.is_some() {
            r.outcome.converted = outcome.converted;
        }
        let (agent, outreach) = (r.agent, r.outreach);
        if let Some(a) = agent {
            let b = self.book(a);
            if let Some(c) = outcome.csat
                && c.is_finite()
            {
                b.csat_sum += c;
                b.csat_n += 1;
            }
            if outreach && outcome.converted.is_some() {
                b.outreach += 1;
                b.converted += u64::from(outcome.converted == Some(true));
            }
        }
    }

    /// Records one AI-first conversation of `tenant` that started at `started`, with how it
    /// ended: for containment and escalation rate in the interval it started in.
    ///
    /// # Example
    /// ```
    /// use switchboard::{TenantId, Time};
    /// use switchboard::ledger::{AiOutcome, Ledger, LedgerConfig};
    /// let mut l = Ledger::new(LedgerConfig::default());
    /// for o in [AiOutcome::Contained, AiOutcome::Contained, AiOutcome::Escalated, AiOutcome::Refused] {
    ///     l.ai_conversation(Time::from_secs(60), TenantId(0), o);
    /// }
    /// let r = l.report(Time::from_secs(3600));
    /// assert_eq!(r.ai[0].conversations, 4);
    /// assert_eq!((r.ai[0].containment, r.ai[0].escalation_rate), (Some(0.5), Some(0.25)));
    /// ```
    pub fn ai_conversation(&mut self, started: Time, tenant: TenantId, outcome: AiOutcome) {
        let k = (tenant, self.interval_of(started));
        self.ai.entry(k).or_default().add(outcome);
    }

    /// Records a conversation closed by the escalation engine
    /// ([`EscalationEngine::close`](crate::escalation::EscalationEngine::close) returns it): its
    /// tenant, start and [`AiOutcome::of`].
    pub fn conversation_closed(&mut self, conversation: &Conversation) {
        self.ai_conversation(
            conversation.started(),
            conversation.tenant(),
            AiOutcome::of(conversation),
        );
    }

    /// Start of the interval containing `t`.
    #[must_use]
    pub fn interval_of(&self, t: Time) -> Time {
        Time(t.0 - t.0 % self.interval_ms)
    }

    /// The report as of `now` (agents still staffed are counted up to `now`).
    #[must_use]
    pub fn report(&self, now: Time) -> LedgerReport {
        // Hashed while counting, sorted once for the output.
        let mut rows: FxHashMap<(TenantId, Option<QueueId>, Time), Acc> = FxHashMap::default();
        let mut tenants: BTreeMap<TenantId, Acc> = BTreeMap::new();
        for r in &self.records {
            let k = (r.tenant, r.queue, self.interval_of(r.created_at));
            rows.entry(k).or_default().add(r);
            tenants.entry(r.tenant).or_default().add(r);
        }
        let mut rows: Vec<_> = rows.into_iter().collect();
        rows.sort_unstable_by_key(|&(k, _)| k);
        let def = self.config.definition;
        let intervals = rows
            .into_iter()
            .map(|((tenant, queue, start), acc)| acc.finish(tenant, queue, Some(start), def))
            .collect();
        let tenants = tenants
            .into_iter()
            .map(|(tenant, acc)| acc.finish(tenant, None, None, def))
            .collect();
        let mut books: Vec<&AgentBook> = self.books.iter().collect();
        books.sort_unstable_by_key(|b| b.agent);
        let agents = books
            .into_iter()
            .map(|b| {
                let agent = b.agent;
                let mut b = b.clone();
                b.advance(now);
                let capacity = b.capacity();
                #[allow(clippy::cast_precision_loss)]
                AgentStats {
                    agent,
                    answered: b.answered,
                    handle_secs: b.handle_ms as f64 / 1000.0,
                    busy_secs: b.busy_ms as f64 / 1000.0,
                    staffed_secs: b.staffed_ms as f64 / 1000.0,
                    capacity,
                    occupancy: (b.staffed_ms > 0)
                        .then(|| b.busy_ms as f64 / (f64::from(capacity) * b.staffed_ms as f64)),
                    csat_avg: (b.csat_n > 0).then(|| b.csat_sum / b.csat_n as f64),
                    outreach: b.outreach,
                    converted: b.converted,
                }
            })
            .collect();
        let mut ai_rows: Vec<(&(TenantId, Time), &AiCounts)> = self.ai.iter().collect();
        ai_rows.sort_unstable_by_key(|&(&k, _)| k);
        let mut ai_totals: BTreeMap<TenantId, AiCounts> = BTreeMap::new();
        let ai = ai_rows
            .into_iter()
            .map(|(&(tenant, start), c)| {
                ai_totals.entry(tenant).or_default().merge(c);
                c.finish(tenant, Some(start))
            })
            .collect();
        let ai_tenants = ai_totals
            .into_iter()
            .map(|(tenant, c)| c.finish(tenant, None))
            .collect();
        LedgerReport {
            interval_minutes: self.config.interval_minutes,
            definition: def,
            intervals,
            tenants,
            agents,
            ai,
            ai_tenants,
        }
    }

    /// Evaluates a guarantee for one tenant; returns every breach (empty = kept).
    #[must_use]
    pub fn evaluate(&self, tenant: TenantId, guarantee: &Guarantee) -> Vec<Breach> {
        match *guarantee {
            Guarantee::AnswerRate {
                min_rate,
                within_ms,
                definition,
                min_offered,
            } => {
                let mut per: BTreeMap<Time, (Acc, Vec<TaskId>)> = BTreeMap::new();
                for r in self.records.iter().filter(|r| r.tenant == tenant) {
                    let e = per.entry(self.interval_of(r.created_at)).or_default();
                    e.0.add_judged(r, within_ms);
                    let met = match r.fate {
                        Fate::Answered(w) => w <= within_ms,
                        Fate::Abandoned(w) => {
                            w <= within_ms
                                && matches!(
                                    definition,
                                    SlDefinition::ShortAbandonsMet
                                        | SlDefinition::ShortAbandonsExcluded
                                )
                        }
                        _ => false,
                    };
                    let excluded = match r.fate {
                        Fate::Waiting | Fate::Cancelled(_) => true,
                        Fate::Abandoned(w) => {
                            definition == SlDefinition::AbandonsExcluded
                                || (definition == SlDefinition::ShortAbandonsExcluded
                                    && w <= within_ms)
                        }
                        _ => false,
                    };
                    if !met && !excluded {
                        e.1.push(r.task);
                    }
                }
                per.into_iter()
                    .filter_map(|(start, (acc, tasks))| {
                        let row = acc.finish(tenant, None, Some(start), definition);
                        let rate = row.service_level?;
                        (row.offered >= min_offered && rate < min_rate).then(|| Breach {
                            tenant,
                            interval_start: Some(start),
                            what: format!(
                                "answer rate {:.1}% < {:.1}% within {} s ({}), offered {}",
                                rate * 100.0,
                                min_rate * 100.0,
                                within_ms as f64 / 1000.0,
                                definition,
                                row.offered
                            ),
                            value: rate,
                            tasks,
                        })
                    })
                    .collect()
            }
            Guarantee::OutreachConversion => {
                let tasks: Vec<TaskId> = self
                    .records
                    .iter()
                    .filter(|r| {
                        r.tenant == tenant && r.outreach && r.outcome.converted != Some(true)
                    })
                    .map(|r| r.task)
                    .collect();
                if tasks.is_empty() {
                    return Vec::new();
                }
                let n_out = self
                    .records
                    .iter()
                    .filter(|r| r.tenant == tenant && r.outreach)
                    .count();
                #[allow(clippy::cast_precision_loss)]
                let value = (n_out - tasks.len()) as f64 / n_out as f64;
                vec![Breach {
                    tenant,
                    interval_start: None,
                    what: format!(
                        "{} of {} outreach tasks without conversion: not billable",
                        tasks.len(),
                        n_out
                    ),
                    value,
                    tasks,
                }]
            }
        }
    }
}

#[cfg(test)]
mod tests;
