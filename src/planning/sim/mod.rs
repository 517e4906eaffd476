//! A discrete-event simulator that drives the composed engine, one [`Operation`].
//!
//! It is not a model of the router: every arrival, acceptance, completion, abandonment and shift
//! change — and every bot conversation's opening, turn and close — is an [`Input`] to a real
//! [`Operation`] (escalation with its guardrail → workflows → [`Router`](crate::Router) →
//! [`Ledger`]), the production code path; the simulator books what its [`Output`]s say, and the
//! report is built from the operation's ledger. What is synthetic is the world around it:
//!
//! * **arrivals**: a Poisson process per [`Stream`] whose rate is `per_hour × profile(t)`,
//!   piecewise constant per simulated minute (exact sampling, no thinning);
//! * **AI front line**: a share `ai_containment` of conversations is resolved by the bot and never
//!   reaches the router; the rest are escalated to humans. Every conversation goes to the
//!   ledger's [`ai_conversation`](Ledger::ai_conversation), so its report has containment and
//!   escalation rate per tenant and interval;
//! * **handling** times: fixed, exponential or lognormal, drawn at arrival (so the same seed
//!   gives every policy the same work — common random numbers);
//! * **patience**: each customer abandons after a drawn patience unless answered first;
//! * **agents** accept each offer after `accept_delay`; work **shifts** (`Away` at the end, so
//!   work in hand finishes) and take staggered **breaks**;
//! * **outcomes**: satisfaction falls with the wait; outreach tasks convert with a probability.
//!
//! Two optional layers of the operation come into play:
//!
//! * **workflows**: with a [`policy`](Scenario::policy), a stream with a
//!   [`workflow`](Stream::workflow) hands its tasks to a real
//!   [`WorkflowEngine`](crate::workflow::WorkflowEngine): bullseye steps widen the target as
//!   the task ages, exception rules raise priority, overflow to another brand's pool, send to a
//!   bot or withdraw for a call back, and the policy's brand shares (reservations and caps) hold
//!   in the router;
//! * **escalation**: with an [`escalation`](Scenario::escalation) policy, a stream with a
//!   [`bot`](Stream::bot) model plays each conversation turn by turn through a real
//!   [`EscalationEngine`](crate::escalation::EscalationEngine): sentiment drifts, the bot falls
//!   back, customers ask for a human (and insist); the engine decides after every turn, sees the
//!   simulated pool's load (the operation's [`ObservedLoad`](crate::operation::ObservedLoad): the
//!   observed wait of each brand's human requests against their SLA) and holds soft escalations
//!   back at a peak; an escalation becomes the hand-over's router task, routed through the stream's
//!   workflow with its attributes and SLA ([`Input::HandoverContext`]), and pending-human
//!   timeouts turn into call backs.
//!
//! Everything is seeded ([`Scenario::seed`], PCG-64) and deterministic: the same scenario gives
//! the same report, bit for bit.
//!
//! # Example
//! ```
//! use switchboard::sim::{Scenario, run};
//! let s: Scenario = serde_json::from_str(r#"{
//!   "duration_hours": 1, "seed": 7,
//!   "pool": [{"name": "team", "count": 12, "channels": {"voice": 1}}],
//!   "traffic": [{"tenant": "acme", "name": "calls", "channel": "voice", "per_hour": 120,
//!                "service": {"exponential": {"mean_secs": 300}}}]
//! }"#).unwrap();
//! let out = run(&s).unwrap();
//! let acme = &out.report.tenants[0];
//! assert_eq!(acme.tenant, "acme");
//! assert!(acme.offered > 80 && acme.offered < 170);
//! assert_eq!(out.report, run(&s).unwrap().report); // deterministic
//! ```

mod calendar;
#[cfg(feature = "charts")]
pub mod chart;
mod report;
pub mod scenario;
pub mod verify;

pub use report::{SeriesPoint, SimReport, TenantReport};
pub use scenario::{
    AgentGroup, AttrChoice, BotModel, Breaks, CsatModel, Dist, MAX_ARRIVALS_PER_HOUR, PolicySource,
    Profile, Scenario, ScenarioError, Shift, Stream,
};
pub use verify::{CellCheck, Verdict, VerifiedPlan, VerifyRound, VerifySettings, verify_plan};

use crate::escalation::{Action, ConversationId, EscalationError, Evidence, Signal, Speaker, Turn};
use crate::expr::AttrValue;
use crate::ledger::{AiOutcome, Ledger, Outcome};
use crate::operation::{
    DEFAULT_HANDOVER_WORKFLOW, Input, Operation, OperationConfig, OperationError, Output,
};
use crate::workflow::{WorkflowEffect, WorkflowError};
use crate::{
    AgentId, AgentSpec, AgentState, Effect, Event, OfferId, Requirements, RouterError, TaskId,
    TaskSpec, TenantId, Time,
};
use calendar::Calendar;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Exp, LogNormal, StandardNormal};
use rand_pcg::Pcg64Mcg;
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::BTreeMap;
use std::sync::Arc;
use thiserror::Error;

/// What can stop a simulation.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum SimError {
    /// The scenario is invalid; the message names the path.
    #[error("invalid scenario: {0}")]
    Scenario(String),
    /// The router refused a call the simulator made (a bug in the simulator or the router).
    #[error("router error at {at}: {source}")]
    Router {
        /// Simulated time.
        at: Time,
        /// The router's error.
        source: RouterError,
    },
    /// The workflow engine refused a task (e.g. a target bound to a task's attributes names an
    /// unknown skill).
    #[error("workflow error at {at}: {source}")]
    Workflow {
        /// Simulated time.
        at: Time,
        /// The engine's error.
        source: WorkflowError,
    },
    /// The escalation engine refused a signal (a bug in the simulator or the engine).
    #[error("escalation error at {at}: {source}")]
    Escalation {
        /// Simulated time.
        at: Time,
        /// The engine's error.
        source: EscalationError,
    },
    /// The composed engine refused an input for another reason (a bug in the simulator).
    #[error("operation error at {at}: {source}")]
    Operation {
        /// Simulated time.
        at: Time,
        /// The engine's error.
        source: OperationError,
    },
}

impl SimError {
    /// The composed engine's error at `at`, as the engine that refused.
    fn of(at: u64, e: OperationError) -> Self {
        let at = Time(at);
        match e {
            OperationError::Router(source) => SimError::Router { at, source },
            OperationError::Workflow(source) => SimError::Workflow { at, source },
            OperationError::Escalation(source) => SimError::Escalation { at, source },
            source => SimError::Operation { at, source },
        }
    }
}

/// The result of [`run`]: the report and the full ledger (every task record).
#[derive(Debug, Clone)]
pub struct SimRun {
    /// The report.
    pub report: SimReport,
    /// The ledger, for custom analyses: the operation's, so it also holds any hand-over the
    /// escalation engine made for a conversation the simulator was closing (withdrawn at once,
    /// as `Cancelled`), which the report leaves out.
    pub ledger: Ledger,
}

/// Runs a scenario to the end.
///
/// # Errors
/// [`SimError::Scenario`] for an invalid scenario.
pub fn run(scenario: &Scenario) -> Result<SimRun, SimError> {
    run_with_progress(scenario, |_| {})
}

/// Runs a scenario, calling `progress` with the share of simulated time done (about 100 times).
///
/// # Errors
/// As [`run`].
pub fn run_with_progress(
    scenario: &Scenario,
    progress: impl FnMut(f64),
) -> Result<SimRun, SimError> {
    scenario.check_fields().map_err(SimError::Scenario)?;
    let mut sim = Sim::new(scenario)?;
    sim.run(progress)?;
    Ok(sim.finish())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Arrival(u32),
    /// A customer turn in a bot conversation.
    Turn(u32),
    Accept(u64, u64),
    Complete(u64),
    Abandon(u64),
    ShiftStart(u32),
    ShiftEnd(u32),
    BreakStart(u32),
    BreakEnd(u32),
    Sample,
}

const WAITING: u8 = 0;
const SERVING: u8 = 1;
const DONE: u8 = 2;

/// `TaskSim::conv` / `ConvSim::task` when there is none.
const NONE: u32 = u32::MAX;

struct TaskSim {
    stream: u32,
    service_ms: u64,
    created: u64,
    state: u8,
    /// The bot conversation it escalates, or [`NONE`].
    conv: u32,
}

/// A conversation of a bot-model stream.
struct ConvSim {
    stream: u32,
    started: u64,
    /// Customer turns until the bot resolves it.
    turns_left: u32,
    turns: u32,
    sentiment: f64,
    tier: u8,
    asked: bool,
    /// Still open in the escalation engine.
    open: bool,
    /// To be closed once the outputs at hand are handled.
    closing: bool,
    /// Its router task while a human is wanted, or [`NONE`].
    task: u32,
    /// It reached the router at least once.
    routed: bool,
    /// Counted in the ledger's AI outcomes.
    counted: bool,
}

/// Per-tenant counts beyond the ledger's task records.
#[derive(Clone, Copy, Default)]
pub(crate) struct Extra {
    pub(crate) contained: u64,
    pub(crate) refused: u64,
    pub(crate) offline: u64,
    pub(crate) callbacks: u64,
    pub(crate) held_back: u64,
}

struct AgentSim {
    on_shift: bool,
    on_break: bool,
    added: bool,
    spec: AgentSpec,
}

struct StreamRt {
    tenant: TenantId,
    tenant_ix: usize,
    spec: TaskSpec,
    service: Sampler,
    patience: Option<Sampler>,
    /// Task type run through the workflow engine.
    workflow: Option<Arc<str>>,
    /// Attribute draws: name, then fixed value or cumulative weights.
    attrs: Vec<(String, AttrDraw)>,
    /// Cumulative tier weights (empty: tier 0).
    tiers: Vec<f64>,
    bot: Option<BotRt>,
    /// Rate per ms in the current minute, and that minute's end.
    seg_end: u64,
}

enum AttrDraw {
    Fixed(AttrValue),
    /// The values and their cumulative weights.
    Weighted(Vec<String>, Vec<f64>),
}

#[derive(Clone, Copy)]
struct BotRt {
    model: BotModelRt,
    gap: Sampler,
}

#[derive(Clone, Copy)]
struct BotModelRt {
    p_geo: f64,
    ask_human: f64,
    ask_again: f64,
    fallback: f64,
    sentiment_start: f64,
    sentiment_drift: f64,
    sentiment_noise: f64,
    intent_confidence: f64,
}

/// Index of the first cumulative weight above `u × total`.
fn pick(cum: &[f64], u: f64) -> usize {
    let total = cum.last().copied().unwrap_or(0.0);
    let x = u * total;
    cum.iter()
        .position(|&c| x < c)
        .unwrap_or(cum.len().saturating_sub(1))
}

fn cumulative(w: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut acc = 0.0;
    w.map(|x| {
        acc += x;
        acc
    })
    .collect()
}

#[derive(Clone, Copy)]
enum Sampler {
    Fixed(f64),
    Exp(Exp<f64>),
    LogNormal(LogNormal<f64>),
}

impl Sampler {
    fn new(d: &Dist) -> Result<Self, SimError> {
        let bad = |e: &dyn std::fmt::Display| SimError::Scenario(e.to_string());
        Ok(match *d {
            Dist::Fixed { secs } => Sampler::Fixed(secs),
            Dist::Exponential { mean_secs } => {
                Sampler::Exp(Exp::new(1.0 / mean_secs).map_err(|e| bad(&e))?)
            }
            Dist::Lognormal { mean_secs, cv } => {
                Sampler::LogNormal(LogNormal::from_mean_cv(mean_secs, cv).map_err(|e| bad(&e))?)
            }
        })
    }
    fn ms(&self, rng: &mut Pcg64Mcg) -> u64 {
        let s = match self {
            Sampler::Fixed(s) => *s,
            Sampler::Exp(d) => d.sample(rng),
            Sampler::LogNormal(d) => d.sample(rng),
        };
        secs_to_ms(s)
    }
}

fn secs_to_ms(s: f64) -> u64 {
    Time::from_secs_f64(s).map_or(u64::MAX / 4, Time::as_millis)
}

/// Conversation `c` of the simulator is `ConversationId(CONV_BASE + c)` in the engine, so the
/// ids of its hand-over tasks (`conversation << 8 | n`, at least [`HANDOVER_BASE`]) never
/// collide with the ids of direct requests (their index in `tasks`, below 2³²).
const CONV_BASE: u64 = 1 << 32;
/// The smallest router id of a hand-over task.
const HANDOVER_BASE: u64 = CONV_BASE << 8;

struct Sim<'a> {
    sc: &'a Scenario,
    /// The composed engine: escalation, workflows, router and ledger.
    op: Operation,
    rng: Pcg64Mcg,
    accept: Sampler,
    /// Future events (FIFO among equal times).
    heap: Calendar<Kind>,
    /// Simulated time of the event or timer being handled.
    now: u64,
    end: u64,
    /// End of the warm-up (contained conversations before it are not reported).
    warm: u64,
    tasks: Vec<TaskSim>,
    /// Router ids of hand-over tasks → their index in `tasks`.
    handovers: FxHashMap<u64, u32>,
    /// Hand-overs the engine retried for a conversation whose customer had just left (its
    /// close withdraws them at once): in the ledger, not in the report.
    ghosts: FxHashSet<TaskId>,
    convs: Vec<ConvSim>,
    agents: Vec<AgentSim>,
    streams: Vec<StreamRt>,
    tenants: Vec<String>,
    events: u64,
    stale_answers: u64,
    /// Per tenant: waiting now, max waiting in the bucket, arrivals in the bucket, contained.
    waiting: Vec<u64>,
    waiting_max: Vec<u64>,
    arrivals: Vec<u64>,
    extra: Vec<Extra>,
    contained_bucket: Vec<u64>,
    /// Per tenant, conversations resolved in the bucket (contained, escalated or refused; at
    /// arrival without a bot model, at the engine's decision with one) and of those escalated.
    resolved_bucket: Vec<u64>,
    escalated_bucket: Vec<u64>,
    on_shift: u64,
    series: Vec<SeriesPoint>,
    /// Outputs being handled (a buffer kept between inputs).
    outs: Vec<Output>,
    /// Conversations to close once the outputs at hand are handled.
    closing: Vec<u32>,
    satisfied: Vec<Option<bool>>,
}

fn scenario_err(e: impl std::fmt::Display) -> SimError {
    SimError::Scenario(e.to_string())
}

/// The task type whose workflow routes hand-overs: the first bot stream's workflow (see
/// `docs/SIMULATION.md` when bot streams name different ones).
fn handover_workflow(sc: &Scenario) -> String {
    sc.traffic
        .iter()
        .filter(|s| s.bot.is_some())
        .find_map(|s| s.workflow.clone())
        .unwrap_or_else(|| DEFAULT_HANDOVER_WORKFLOW.into())
}

impl<'a> Sim<'a> {
    fn new(sc: &'a Scenario) -> Result<Self, SimError> {
        let (set, policy) = match &sc.policy {
            None => (None, None),
            Some(PolicySource::Path(p)) => {
                return Err(SimError::Scenario(format!(
                    "policy: {:?} is not loaded; read the scenario with Scenario::from_path",
                    p.display().to_string()
                )));
            }
            Some(PolicySource::Inline(set)) => {
                let valid = set
                    .validate()
                    .map_err(|e| SimError::Scenario(format!("policy: {e}")))?;
                (Some((**set).clone()), Some(valid))
            }
        };
        let config = OperationConfig {
            router: sc.router.clone(),
            policy: set,
            escalation: sc.escalation.clone(),
            guardrail: None,
            ledger: sc.ledger.clone(),
            handover_workflow: handover_workflow(sc),
        };
        let mut op = Operation::new(config).map_err(|e| match e {
            OperationError::Router(source) => SimError::Router {
                at: Time::ZERO,
                source,
            },
            OperationError::Escalation(e) => SimError::Scenario(format!("escalation: {e}")),
            OperationError::Ledger(e) => SimError::Scenario(format!("ledger: {e}")),
            e => SimError::Scenario(format!("policy: {e}")),
        })?;
        let mut tenants: Vec<String> = sc.traffic.iter().map(|s| s.tenant.clone()).collect();
        tenants.sort();
        tenants.dedup();
        let declared = policy.is_some();
        let mut streams = Vec::new();
        for (i, s) in sc.traffic.iter().enumerate() {
            if let (Some(w), Some(f)) = (&s.workflow, op.workflows())
                && f.workflows().get(&s.tenant, w).is_none()
            {
                return Err(scenario_err(format!(
                    "traffic[{i}].workflow: the policy has no workflow \"{w}\" for tenant \"{}\" (nor a default one)",
                    s.tenant
                )));
            }
            let cat = op.router_mut().catalog_mut();
            let tenant = cat.tenant(&s.tenant);
            let mut req = Requirements::default();
            for (k, &l) in &s.requires {
                let id = if declared {
                    cat.find_skill(k).ok_or_else(|| {
                        scenario_err(format!(
                            "traffic[{i}].requires.{k}: skill not declared in the policy"
                        ))
                    })?
                } else {
                    cat.skill(k)
                };
                req = req.skill(id, l);
            }
            for t in &s.tags {
                let id = if declared {
                    cat.find_tag(t).ok_or_else(|| {
                        scenario_err(format!(
                            "traffic[{i}].tags: \"{t}\" is not declared in the policy"
                        ))
                    })?
                } else {
                    cat.tag(t)
                };
                req = req.tag(id);
            }
            if s.certified {
                req = req.certified();
            }
            let mut spec = TaskSpec::new(TaskId(0), tenant, s.channel)
                .requires(req)
                .priority(s.priority, 0.0)
                .sla_ms(secs_to_ms(s.sla_secs));
            spec.strategy = s.strategy;
            let attrs = s
                .attributes
                .iter()
                .map(|(k, v)| {
                    let d = match v {
                        AttrChoice::Fixed(v) => AttrDraw::Fixed(v.clone()),
                        AttrChoice::Weighted(w) => AttrDraw::Weighted(
                            w.keys().cloned().collect(),
                            cumulative(w.values().copied()),
                        ),
                    };
                    (k.clone(), d)
                })
                .collect();
            let bot = match &s.bot {
                None => None,
                Some(b) => Some(BotRt {
                    model: BotModelRt {
                        p_geo: 1.0 / b.mean_turns,
                        ask_human: b.ask_human,
                        ask_again: b.ask_again,
                        fallback: b.fallback,
                        sentiment_start: b.sentiment_start,
                        sentiment_drift: b.sentiment_drift,
                        sentiment_noise: b.sentiment_noise,
                        intent_confidence: b.intent_confidence,
                    },
                    gap: Sampler::new(&b.turn_gap)?,
                }),
            };
            streams.push(StreamRt {
                tenant,
                tenant_ix: tenants.binary_search(&s.tenant).unwrap_or(0),
                spec,
                service: Sampler::new(&s.service)?,
                patience: s.patience.as_ref().map(Sampler::new).transpose()?,
                workflow: s.workflow.as_deref().map(Arc::from),
                attrs,
                tiers: cumulative(s.tiers.iter().copied()),
                bot,
                seg_end: 0,
            });
        }
        let mut agents = Vec::new();
        for (gi, g) in sc.pool.iter().enumerate() {
            for _ in 0..g.count {
                let id = AgentId(agents.len() as u64);
                let cat = op.router_mut().catalog_mut();
                let mut spec = AgentSpec::new(id).state(AgentState::Available).kind(g.kind);
                for (k, &l) in &g.skills {
                    let sk = if declared {
                        cat.find_skill(k).ok_or_else(|| {
                            scenario_err(format!(
                                "pool[{gi}].skills.{k}: skill not declared in the policy"
                            ))
                        })?
                    } else {
                        cat.skill(k)
                    };
                    spec = spec.skill(sk, l);
                }
                for t in &g.tags {
                    let tg = if declared {
                        cat.find_tag(t).ok_or_else(|| {
                            scenario_err(format!(
                                "pool[{gi}].tags: \"{t}\" is not declared in the policy"
                            ))
                        })?
                    } else {
                        cat.tag(t)
                    };
                    spec = spec.tag(tg);
                }
                for t in &g.certified {
                    spec = spec.certified(cat.tenant(t));
                }
                for (&c, &n) in &g.channels {
                    spec = spec.capacity(c, n);
                }
                if let Some(p) = &policy {
                    spec = p.taxonomy().expand(&spec);
                }
                agents.push(AgentSim {
                    on_shift: false,
                    on_break: false,
                    added: false,
                    spec,
                });
            }
        }
        // No scenario pool: the policy's own pool, on duty the whole run.
        let policy_pool = match &policy {
            Some(p) if sc.pool.is_empty() => p.pool_agents(0, AgentState::Available),
            _ => Vec::new(),
        };
        for spec in policy_pool {
            if spec.capacity.0.iter().all(|&c| c == 0) {
                return Err(scenario_err(
                    "policy.pool: a group has no capacity on any channel; the simulator needs one \
                     (e.g. capacity = { chat = 3 })",
                ));
            }
            agents.push(AgentSim {
                on_shift: false,
                on_break: false,
                added: false,
                spec,
            });
        }
        let n = tenants.len();
        let mut sim = Sim {
            sc,
            op,
            rng: Pcg64Mcg::seed_from_u64(sc.seed),
            accept: Sampler::new(&sc.accept_delay)?,
            heap: Calendar::new(),
            now: 0,
            end: secs_to_ms(sc.duration_hours * 3600.0),
            warm: secs_to_ms(sc.warmup_hours * 3600.0),
            tasks: Vec::new(),
            handovers: FxHashMap::default(),
            ghosts: FxHashSet::default(),
            convs: Vec::new(),
            agents,
            streams,
            tenants,
            events: 0,
            stale_answers: 0,
            waiting: vec![0; n],
            waiting_max: vec![0; n],
            arrivals: vec![0; n],
            extra: vec![Extra::default(); n],
            contained_bucket: vec![0; n],
            resolved_bucket: vec![0; n],
            escalated_bucket: vec![0; n],
            on_shift: 0,
            series: Vec::new(),
            outs: Vec::new(),
            closing: Vec::new(),
            satisfied: Vec::new(),
        };
        sim.schedule_agents();
        for i in 0..sim.streams.len() {
            sim.next_arrival(i, 0);
        }
        sim.push(0, Kind::Sample);
        Ok(sim)
    }

    fn push(&mut self, t: u64, k: Kind) {
        debug_assert!(
            t >= self.now,
            "event at {t} scheduled in the past ({})",
            self.now
        );
        self.heap.push(t, k);
    }

    fn schedule_agents(&mut self) {
        let mut ix = 0u32;
        let n_groups = self.sc.pool.len();
        for gi in 0..n_groups {
            let g = &self.sc.pool[gi];
            let whole = [scenario::Shift {
                start_hour: 0.0,
                end_hour: f64::INFINITY,
            }];
            let shifts: Vec<scenario::Shift> = if g.shifts.is_empty() {
                whole.to_vec()
            } else {
                g.shifts.clone()
            };
            let breaks = g.breaks;
            let count = g.count;
            for k in 0..count {
                let a = ix + k;
                for s in &shifts {
                    let start = secs_to_ms(s.start_hour * 3600.0);
                    let end = if s.end_hour.is_finite() {
                        secs_to_ms(s.end_hour * 3600.0)
                    } else {
                        u64::MAX / 2
                    };
                    self.push(start, Kind::ShiftStart(a));
                    if end < self.end {
                        self.push(end, Kind::ShiftEnd(a));
                    }
                    if let Some(b) = breaks {
                        let every = secs_to_ms(b.every_minutes * 60.0).max(1);
                        let len = secs_to_ms(b.minutes * 60.0);
                        // Stagger: agent k starts its first break at (k/count) of a cycle.
                        let offset = every * u64::from(k) / u64::from(count.max(1));
                        let mut t = start + offset + every / 2;
                        while t + len < end.min(self.end) {
                            self.push(t, Kind::BreakStart(a));
                            self.push(t + len, Kind::BreakEnd(a));
                            t += every;
                        }
                    }
                }
            }
            ix += count;
        }
        // Agents of the policy's pool: on duty from the start.
        for a in ix..u32::try_from(self.agents.len()).unwrap_or(u32::MAX) {
            self.push(0, Kind::ShiftStart(a));
        }
    }

    /// Schedules the next arrival of stream `i` after `from` (piecewise-constant rate per minute).
    fn next_arrival(&mut self, i: usize, from: u64) {
        const MINUTE: u64 = 60_000;
        let per_hour = self.sc.traffic[i].per_hour;
        let mut t = from;
        loop {
            if t >= self.end {
                return;
            }
            let seg_end = (t / MINUTE + 1) * MINUTE;
            #[allow(clippy::cast_precision_loss)]
            let hour = (t / MINUTE) as f64 / 60.0 + 1.0 / 120.0;
            let rate_ms = per_hour * self.sc.traffic[i].profile.at(hour) / 3_600_000.0;
            if rate_ms > 0.0 {
                let u: f64 = self.rng.random();
                let gap = -(1.0 - u).ln() / rate_ms;
                #[allow(clippy::cast_precision_loss)]
                let room = (seg_end - t) as f64;
                if gap < room {
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    let at = t + gap as u64;
                    self.streams[i].seg_end = seg_end;
                    #[allow(clippy::cast_possible_truncation)]
                    self.push(at, Kind::Arrival(i as u32));
                    return;
                }
            }
            // Memoryless: nothing in this minute, start afresh at its end.
            t = seg_end;
        }
    }

    fn run(&mut self, mut progress: impl FnMut(f64)) -> Result<(), SimError> {
        let tick = (self.end / 100).max(1);
        let mut next_tick = tick;
        while let Some(t) = self.heap.peek_time() {
            if t > self.end {
                break;
            }
            // Router, workflow and escalation timers due at or before the next event fire first,
            // one at a time, so what a timer causes (an offer's answer a few seconds later) is
            // scheduled before that event is handled, never in the simulated past.
            if let Some(due) = self.op.poll_timeout().filter(|d| d.0 <= t) {
                // A deadline can already be past: fire it at the engine's clock then.
                let now = due.max(self.op.now()).max(self.op.router().now());
                self.op
                    .handle_timeout(now)
                    .map_err(|e| SimError::of(now.0, e))?;
                self.now = now.0;
                self.events += 1;
                self.drain(now.0)?;
                continue;
            }
            let Some((t, kind)) = self.heap.pop() else {
                break;
            };
            self.now = t;
            self.events += 1;
            self.handle(t, kind)?;
            self.drain(t)?;
            if t >= next_tick {
                progress(t as f64 / self.end as f64);
                next_tick = t + tick;
            }
        }
        progress(1.0);
        Ok(())
    }

    /// Applies one input to the engine; its outputs wait for [`drain`](Self::drain).
    fn input(&mut self, t: u64, input: Input) -> Result<(), SimError> {
        self.op
            .handle(Time(t), input)
            .map_err(|e| SimError::of(t, e))
    }

    /// The index in `tasks` of router task `task`, if the simulator tracks it.
    fn task_ix(&self, task: TaskId) -> Option<usize> {
        if task.0 < HANDOVER_BASE {
            usize::try_from(task.0)
                .ok()
                .filter(|&i| i < self.tasks.len())
        } else {
            self.handovers.get(&task.0).map(|&i| i as usize)
        }
    }

    /// The simulator's conversation of an engine conversation id.
    fn conv_ix(&self, id: ConversationId) -> Option<u32> {
        id.0.checked_sub(CONV_BASE)
            .and_then(|c| u32::try_from(c).ok())
            .filter(|&c| (c as usize) < self.convs.len())
    }

    /// Draws a new task's service time and patience for stream `i` and books it (waiting).
    /// Returns its index and patience.
    fn book_task(&mut self, t: u64, i: usize, conv: u32) -> Result<(u32, Option<u64>), SimError> {
        let ti = self.streams[i].tenant_ix;
        let ix = u32::try_from(self.tasks.len())
            .ok()
            .filter(|&ix| u64::from(ix) < CONV_BASE)
            .ok_or_else(|| scenario_err("more than 4 billion tasks"))?;
        let service_ms = self.streams[i].service.ms(&mut self.rng).max(1);
        let patience = self.streams[i].patience.map(|p| p.ms(&mut self.rng));
        #[allow(clippy::cast_possible_truncation)]
        self.tasks.push(TaskSim {
            stream: i as u32,
            service_ms,
            created: t,
            state: WAITING,
            conv,
        });
        self.satisfied.push(None);
        self.waiting[ti] += 1;
        self.waiting_max[ti] = self.waiting_max[ti].max(self.waiting[ti]);
        Ok((ix, patience))
    }

    /// A new human request of stream `i` (not from a bot conversation): a router task, through
    /// its workflow if any. Its router id is its index.
    fn enter(&mut self, t: u64, i: usize) -> Result<(), SimError> {
        let (ix, patience) = self.book_task(t, i, NONE)?;
        let id = u64::from(ix);
        let mut spec = self.streams[i].spec.clone();
        spec.id = TaskId(id);
        if !self.streams[i].tiers.is_empty() {
            spec.customer.value_tier = self.draw_tier(i);
        }
        let (workflow, attrs) = self.draw_workflow(i);
        self.input(
            t,
            Input::Request {
                spec,
                workflow,
                attrs,
            },
        )?;
        if let Some(p) = patience {
            self.push(t.saturating_add(p), Kind::Abandon(id));
        }
        Ok(())
    }

    /// The task type whose workflow routes stream `i`'s requests (with a policy) and their
    /// attributes, drawn.
    fn draw_workflow(&mut self, i: usize) -> (Option<String>, BTreeMap<String, AttrValue>) {
        let mut attrs = BTreeMap::new();
        let workflow = match (&self.streams[i].workflow, self.op.workflows()) {
            (Some(w), Some(_)) => {
                for (k, d) in &self.streams[i].attrs {
                    let v = match d {
                        AttrDraw::Fixed(v) => v.clone(),
                        AttrDraw::Weighted(values, cum) => {
                            let j = pick(cum, self.rng.random::<f64>());
                            AttrValue::Str(values.get(j).cloned().unwrap_or_default())
                        }
                    };
                    attrs.insert(k.clone(), v);
                }
                Some(w.to_string())
            }
            _ => None,
        };
        (workflow, attrs)
    }

    /// The engine routed conversation `c` to a human as router task `task`: book it like a
    /// request of the conversation's stream (service time, patience).
    fn handover(&mut self, t: u64, c: u32, task: TaskId) -> Result<(), SimError> {
        let cv = &self.convs[c as usize];
        if !cv.open || cv.closing {
            // A hand-over for a conversation being closed: the close withdraws it at once; not
            // a request of the simulated world.
            self.ghosts.insert(task);
            return Ok(());
        }
        let i = cv.stream as usize;
        self.count_conversation(c, AiOutcome::Escalated);
        let (ix, patience) = self.book_task(t, i, c)?;
        self.handovers.insert(task.0, ix);
        let cv = &mut self.convs[c as usize];
        cv.task = ix;
        cv.routed = true;
        if let Some(p) = patience {
            self.push(t.saturating_add(p), Kind::Abandon(task.0));
        }
        Ok(())
    }

    /// A customer value tier of stream `i`, drawn from its weights (which must not be empty).
    fn draw_tier(&mut self, i: usize) -> u8 {
        let u = self.rng.random::<f64>();
        u8::try_from(pick(&self.streams[i].tiers, u)).unwrap_or(u8::MAX)
    }

    /// A conversation of bot-model stream `i` opens; its first turn is now.
    fn open_conversation(&mut self, t: u64, i: usize) -> Result<(), SimError> {
        let Some(bot) = self.streams[i].bot else {
            return Ok(());
        };
        let m = bot.model;
        let u: f64 = self.rng.random();
        // Geometric number of turns with mean 1 / p (at least one).
        let turns = if m.p_geo >= 1.0 {
            1.0
        } else {
            1.0 + ((1.0 - u).ln() / (1.0 - m.p_geo).ln()).floor()
        };
        let tier = if self.streams[i].tiers.is_empty() {
            0
        } else {
            self.draw_tier(i)
        };
        let c =
            u32::try_from(self.convs.len()).map_err(|_| scenario_err("too many conversations"))?;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        self.convs.push(ConvSim {
            stream: i as u32,
            started: t,
            turns_left: turns.min(10_000.0) as u32,
            turns: 0,
            sentiment: m.sentiment_start,
            tier,
            asked: false,
            open: true,
            closing: false,
            task: NONE,
            routed: false,
            counted: false,
        });
        if self.op.escalation().is_none() {
            return Ok(());
        }
        let conversation = ConversationId(CONV_BASE + u64::from(c));
        self.input(
            t,
            Input::Open {
                conversation,
                tenant: self.streams[i].tenant,
            },
        )?;
        // Its hand-overs are requests of its stream: that workflow, attributes and SLA.
        let (workflow, attrs) = self.draw_workflow(i);
        self.input(
            t,
            Input::HandoverContext {
                conversation,
                workflow,
                attrs,
                sla_ms: Some(secs_to_ms(self.sc.traffic[i].sla_secs)),
            },
        )?;
        self.turn(t, c)
    }

    /// A customer turn of conversation `c` while the bot has it.
    fn turn(&mut self, t: u64, c: u32) -> Result<(), SimError> {
        let cv = &self.convs[c as usize];
        if !cv.open || cv.closing || cv.task != NONE || self.op.escalation().is_none() {
            return Ok(());
        }
        let i = cv.stream as usize;
        let Some(bot) = self.streams[i].bot else {
            return Ok(());
        };
        let m = bot.model;
        let z: f64 = StandardNormal.sample(&mut self.rng);
        let (u_ask, u_fb, u_ic): (f64, f64, f64) =
            (self.rng.random(), self.rng.random(), self.rng.random());
        let cv = &mut self.convs[c as usize];
        cv.sentiment = (cv.sentiment + m.sentiment_drift + m.sentiment_noise * z).clamp(-1.0, 1.0);
        let ask = u_ask < if cv.asked { m.ask_again } else { m.ask_human };
        cv.asked |= ask;
        let mut turn = Turn::new(Speaker::Customer)
            .with(Evidence::Sentiment {
                value: cv.sentiment,
                confidence: 1.0,
            })
            .with(Evidence::IntentConfidence {
                value: (m.intent_confidence + 0.4 * (u_ic - 0.5)).clamp(0.0, 1.0),
            });
        if cv.turns == 0 {
            turn = turn.with(Evidence::Customer {
                tier: cv.tier,
                order_value: 0.0,
            });
        }
        if ask {
            turn = turn.with(Evidence::ExplicitRequest { confidence: 1.0 });
        }
        if u_fb < m.fallback {
            turn = turn.with(Evidence::Fallback);
        }
        cv.turns += 1;
        self.input(
            t,
            Input::Signal {
                conversation: ConversationId(CONV_BASE + u64::from(c)),
                signal: Signal::Turn(turn),
            },
        )?;
        // The decision's hand-over, call back or ticket is booked before the bot goes on.
        self.drain(t)?;
        let cv = &mut self.convs[c as usize];
        if cv.open && !cv.closing && cv.task == NONE {
            cv.turns_left = cv.turns_left.saturating_sub(1);
            if cv.turns_left == 0 {
                self.close_conversation(t, c)?;
            } else {
                let gap = bot.gap.ms(&mut self.rng);
                self.push(t.saturating_add(gap), Kind::Turn(c));
            }
        }
        Ok(())
    }

    /// Counts conversation `c` in the report (once); the engine counts it in the ledger's AI
    /// outcomes when it closes (see [`finish`](Self::finish) for those still open).
    fn count_conversation(&mut self, c: u32, outcome: AiOutcome) {
        let cv = &mut self.convs[c as usize];
        if cv.counted {
            return;
        }
        cv.counted = true;
        let (started, i) = (cv.started, cv.stream as usize);
        let ti = self.streams[i].tenant_ix;
        self.resolved_bucket[ti] += 1;
        match outcome {
            AiOutcome::Contained => self.contained_bucket[ti] += 1,
            AiOutcome::Escalated => self.escalated_bucket[ti] += 1,
            AiOutcome::Refused => {}
        }
        if started >= self.warm {
            let x = &mut self.extra[ti];
            match outcome {
                AiOutcome::Contained => x.contained += 1,
                AiOutcome::Refused => x.refused += 1,
                AiOutcome::Escalated => {}
            }
        }
    }

    /// Closes conversation `c` in the engine now; the engine reports its outcome (contained,
    /// escalated or refused) in [`Output::Closed`].
    fn close_conversation(&mut self, t: u64, c: u32) -> Result<(), SimError> {
        let cv = &mut self.convs[c as usize];
        if !cv.open {
            return Ok(());
        }
        cv.open = false;
        cv.closing = false;
        self.input(
            t,
            Input::Close {
                conversation: ConversationId(CONV_BASE + u64::from(c)),
            },
        )
    }

    /// Closes conversation `c` once the outputs at hand are handled.
    fn close_later(&mut self, c: u32) {
        let cv = &mut self.convs[c as usize];
        if cv.open && !cv.closing {
            cv.closing = true;
            self.closing.push(c);
        }
    }

    /// Handles the engine's outputs — and what they cause — until there are none.
    fn drain(&mut self, t: u64) -> Result<(), SimError> {
        loop {
            let mut outs = std::mem::take(&mut self.outs);
            outs.extend(self.op.drain_outputs());
            if outs.is_empty() {
                if self.closing.is_empty() {
                    self.outs = outs;
                    return Ok(());
                }
                let closing = std::mem::take(&mut self.closing);
                for &c in &closing {
                    self.close_conversation(t, c)?;
                }
                self.closing = closing;
                self.closing.clear();
                self.outs = outs;
                continue;
            }
            for o in outs.drain(..) {
                self.output(t, o)?;
            }
            self.outs = outs;
        }
    }

    /// Books one output of the engine.
    fn output(&mut self, t: u64, o: Output) -> Result<(), SimError> {
        match o {
            Output::Router { effect } => self.effect(t, &effect),
            Output::Workflow {
                effect: WorkflowEffect::Callback { task, .. },
            } => {
                if let Some(ix) = self.task_ix(task) {
                    let ts = &self.tasks[ix];
                    if ts.created >= self.warm {
                        self.extra[self.streams[ts.stream as usize].tenant_ix].callbacks += 1;
                    }
                }
            }
            Output::Decision {
                conversation,
                action: Action::HoldBack,
                ..
            } => {
                if let Some(c) = self.conv_ix(conversation) {
                    let cv = &self.convs[c as usize];
                    if cv.started >= self.warm {
                        self.extra[self.streams[cv.stream as usize].tenant_ix].held_back += 1;
                    }
                }
            }
            Output::Handover {
                conversation, task, ..
            } => {
                if let Some(c) = self.conv_ix(conversation) {
                    self.handover(t, c, task)?;
                }
            }
            Output::Callback { conversation, .. } | Output::Ticket { conversation, .. } => {
                if let Some(c) = self.conv_ix(conversation) {
                    self.offline(c);
                }
            }
            Output::Closed {
                conversation,
                outcome,
            } => {
                if let Some(c) = self.conv_ix(conversation) {
                    self.count_conversation(c, outcome);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Conversation `c` goes to a call back or a ticket: counted, and closed.
    fn offline(&mut self, c: u32) {
        self.count_conversation(c, AiOutcome::Escalated);
        let cv = &self.convs[c as usize];
        let (started, routed, task) = (cv.started, cv.routed, cv.task);
        let ti = self.streams[cv.stream as usize].tenant_ix;
        // The engine withdrew its queued request for this call back: the request is still
        // waiting here (its cancellation comes next). One that ended otherwise at this very
        // moment (a workflow's own callback rule, an abandonment) is not called back twice.
        let withdrawn = task != NONE && self.tasks[task as usize].state == WAITING;
        if withdrawn {
            self.tasks[task as usize].conv = NONE;
            self.convs[c as usize].task = NONE;
        }
        if started >= self.warm {
            // A request that waited in the router is already in `offered`.
            if !routed {
                self.extra[ti].offline += 1;
            } else if withdrawn {
                self.extra[ti].callbacks += 1;
            }
        }
        self.close_later(c);
    }

    /// Books one router effect: offers are answered after the accept delay, assignments
    /// complete after the service time, and a conversation whose customer abandoned closes.
    fn effect(&mut self, t: u64, e: &Effect) {
        match *e {
            Effect::Offer {
                offer, task, agent, ..
            } if self.task_ix(task).is_some() => {
                let d = self.accept.ms(&mut self.rng);
                self.push(t.saturating_add(d), Kind::Accept(offer.0, agent.0));
            }
            Effect::Assigned { task, .. } => {
                let Some(ix) = self.task_ix(task) else {
                    return;
                };
                let ts = &mut self.tasks[ix];
                ts.state = SERVING;
                let ti = self.streams[ts.stream as usize].tenant_ix;
                self.waiting[ti] -= 1;
                let done = t.saturating_add(ts.service_ms);
                debug_assert!(done >= self.now);
                self.heap.push(done, Kind::Complete(task.0));
            }
            Effect::Abandoned { task } | Effect::TimedOut { task } | Effect::Cancelled { task } => {
                let Some(ix) = self.task_ix(task) else {
                    return;
                };
                let ts = &mut self.tasks[ix];
                if ts.state == WAITING {
                    ts.state = DONE;
                    let ti = self.streams[ts.stream as usize].tenant_ix;
                    self.waiting[ti] -= 1;
                    let conv = ts.conv;
                    if conv != NONE {
                        let cv = &mut self.convs[conv as usize];
                        if cv.task as usize == ix {
                            cv.task = NONE;
                        }
                        // The customer who gave up leaves the conversation. A request cancelled
                        // or timed out otherwise is the engine's to retry or call back.
                        if matches!(e, Effect::Abandoned { .. }) {
                            self.close_later(conv);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn handle(&mut self, t: u64, kind: Kind) -> Result<(), SimError> {
        let now = Time(t);
        match kind {
            Kind::Arrival(i) => {
                let i = i as usize;
                self.next_arrival(i, t);
                let st = &self.sc.traffic[i];
                let ti = self.streams[i].tenant_ix;
                self.arrivals[ti] += 1;
                if self.streams[i].bot.is_some() {
                    return self.open_conversation(t, i);
                }
                let contained =
                    st.ai_containment > 0.0 && self.rng.random::<f64>() < st.ai_containment;
                // The bot of a stream without a bot model is not played: the host records its
                // conversation's outcome itself.
                self.op.ledger_mut().ai_conversation(
                    now,
                    self.streams[i].tenant,
                    if contained {
                        AiOutcome::Contained
                    } else {
                        AiOutcome::Escalated
                    },
                );
                self.resolved_bucket[ti] += 1;
                if contained {
                    if t >= self.warm {
                        self.extra[ti].contained += 1;
                    }
                    self.contained_bucket[ti] += 1;
                    return Ok(());
                }
                self.escalated_bucket[ti] += 1;
                self.enter(t, i)?;
            }
            Kind::Turn(c) => self.turn(t, c)?,
            Kind::Accept(offer, agent) => {
                let event = Event::Accept {
                    offer: OfferId(offer),
                    agent: AgentId(agent),
                };
                if self.op.handle(now, Input::Router { event }).is_err() {
                    // Rescinded or expired meanwhile: a late answer, refused by the router.
                    self.stale_answers += 1;
                }
            }
            Kind::Complete(task) => {
                let Some(ix) = self.task_ix(TaskId(task)) else {
                    return Ok(());
                };
                let event = Event::Complete { task: TaskId(task) };
                self.input(t, Input::Router { event })?;
                let conv = self.tasks[ix].conv;
                if conv != NONE {
                    self.convs[conv as usize].task = NONE;
                    self.close_conversation(t, conv)?;
                }
                let ts = &mut self.tasks[ix];
                ts.state = DONE;
                let st = &self.sc.traffic[ts.stream as usize];
                #[allow(clippy::cast_precision_loss)]
                let wait_min =
                    t.saturating_sub(ts.service_ms).saturating_sub(ts.created) as f64 / 60_000.0;
                let p = (st.csat.base - st.csat.per_minute_wait * wait_min).clamp(0.0, 1.0);
                let happy = self.rng.random::<f64>() < p;
                self.satisfied[ix] = Some(happy);
                let mut outcome = Outcome::csat(if happy { 1.0 } else { 0.0 });
                if st.outreach {
                    outcome = outcome.and_converted(self.rng.random::<f64>() < st.conversion);
                }
                self.input(
                    t,
                    Input::Outcome {
                        task: TaskId(task),
                        outcome,
                    },
                )?;
            }
            Kind::Abandon(task) => {
                if let Some(ix) = self.task_ix(TaskId(task))
                    && self.tasks[ix].state == WAITING
                {
                    let event = Event::Abandon { task: TaskId(task) };
                    self.input(t, Input::Router { event })?;
                }
            }
            Kind::ShiftStart(a) => {
                let ag = &mut self.agents[a as usize];
                if !ag.on_shift {
                    ag.on_shift = true;
                    self.on_shift += 1;
                    let (added, on_break) = (ag.added, ag.on_break);
                    ag.added = true;
                    let spec = ag.spec.clone();
                    let state = if on_break {
                        AgentState::Away
                    } else {
                        AgentState::Available
                    };
                    let event = if added {
                        Event::SetAgentState {
                            agent: spec.id,
                            state,
                        }
                    } else {
                        Event::AddAgent(spec.state(state))
                    };
                    self.input(t, Input::Router { event })?;
                }
            }
            Kind::ShiftEnd(a) => {
                let ag = &mut self.agents[a as usize];
                if ag.on_shift {
                    ag.on_shift = false;
                    self.on_shift -= 1;
                    let agent = AgentId(u64::from(a));
                    let event = Event::SetAgentState {
                        agent,
                        state: AgentState::Away,
                    };
                    self.input(t, Input::Router { event })?;
                    // Away for the router, so work in hand finishes; off shift for occupancy.
                    self.op
                        .ledger_mut()
                        .agent_state(now, agent, AgentState::Offline);
                }
            }
            Kind::BreakStart(a) | Kind::BreakEnd(a) => {
                let start = matches!(kind, Kind::BreakStart(_));
                let ag = &mut self.agents[a as usize];
                ag.on_break = start;
                if ag.on_shift {
                    let state = if start {
                        AgentState::Away
                    } else {
                        AgentState::Available
                    };
                    let event = Event::SetAgentState {
                        agent: AgentId(u64::from(a)),
                        state,
                    };
                    self.input(t, Input::Router { event })?;
                }
            }
            Kind::Sample => {
                self.sample(t);
                let b = u64::from(self.sc.bucket_minutes) * 60_000;
                self.push(t + b, Kind::Sample);
            }
        }
        Ok(())
    }

    fn sample(&mut self, t: u64) {
        for (i, name) in self.tenants.iter().enumerate() {
            let (n, c) = (self.arrivals[i], self.contained_bucket[i]);
            let (r, e) = (self.resolved_bucket[i], self.escalated_bucket[i]);
            #[allow(clippy::cast_precision_loss)]
            let share = |k: u64| (r > 0).then(|| k as f64 / r as f64);
            self.series.push(SeriesPoint {
                tenant: name.clone(),
                at_secs: t / 1000,
                arrivals: n,
                contained: c,
                containment: share(c),
                escalation_rate: share(e),
                waiting_now: self.waiting[i],
                waiting_max: self.waiting_max[i],
                agents_on_shift: self.on_shift,
                offered: 0,
                service_level: None,
                abandon_rate: None,
            });
            self.arrivals[i] = 0;
            self.contained_bucket[i] = 0;
            self.resolved_bucket[i] = 0;
            self.escalated_bucket[i] = 0;
            self.waiting_max[i] = self.waiting[i];
        }
    }

    fn finish(mut self) -> SimRun {
        // Escalated conversations still open at the end: the engine counts a conversation in
        // the ledger's AI outcomes when it closes; the report counts them as escalated.
        for cv in &self.convs {
            if cv.open && cv.counted {
                let tenant = self.streams[cv.stream as usize].tenant;
                self.op.ledger_mut().ai_conversation(
                    Time(cv.started),
                    tenant,
                    AiOutcome::Escalated,
                );
            }
        }
        // The router's tenant ids (a policy interns its own tenants first) → report rows.
        let names: BTreeMap<TenantId, usize> = self
            .streams
            .iter()
            .map(|s| (s.tenant, s.tenant_ix))
            .collect();
        let ledger = self.op.ledger().clone();
        let report = report::build(
            self.sc,
            &ledger,
            &self.tenants,
            &names,
            &self.extra,
            self.op.escalation().map(|b| b.metrics().clone()),
            self.series,
            self.events,
            self.stale_answers,
            self.end,
            &self.ghosts,
        );
        SimRun { report, ledger }
    }
}
