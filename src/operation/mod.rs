//! The whole operation in one sans-I/O engine: bot first, escalation when needed, workflows
//! that widen, the router, and the guarantees ledger — one [`Input`] type, one [`Output`]
//! type, one journal.
//!
//! An [`Operation`] owns the engines that each stay usable alone — the
//! [`EscalationEngine`] (with its [`Guardrail`]), the [`WorkflowEngine`], the [`Router`] and
//! the [`Ledger`] — and composes them in a fixed order. No engine holds another: each returns
//! what it wants done (escalation [directives](crate::escalation::Directive), workflow router
//! commands, router effects) and the operation carries it out.
//!
//! # Life of an input
//!
//! [`Operation::handle`] takes an input with the time it happened (never earlier than the
//! last one):
//!
//! 1. **guardrail → escalation**: a conversation's turn is scanned by the guardrail and scored
//!    by the escalation engine, which decides (continue, clarify, escalate, hold back…);
//! 2. its directives are carried out in order: a hand-over becomes a router task — through
//!    the brand's workflow for the [`handover_workflow`](OperationConfig::handover_workflow)
//!    task type when the policy has one — and the engine is told it is queued; notices,
//!    masked text, call-backs, tickets and capacity requests become outputs;
//! 3. **workflow → router**: the workflow engine's [`RouterCommand`]s (arrive with the step's
//!    target, retarget on widening, cancel for a call-back rule) are applied to the router one
//!    at a time, each decision reading the router as the previous command left it;
//! 4. **router → ledger and back**: every router effect is recorded by the ledger and becomes
//!    an output; an assignment, a completion (the start of wrap-up, or the end of the task
//!    without one) or an unserved end of a conversation's task is signalled back to the
//!    escalation engine (`Assigned`, `HumanReleased`; `CustomerCancelled` when the customer
//!    abandoned, `TransferFailed` when the router timed the task out or the host cancelled it),
//!    whose decisions go round again from step 2 until nothing is left to do;
//! 5. the observed wait of every answered or abandoned request feeds the escalation engine's
//!    view of load ([`ObservedLoad`]), so soft escalations hold back at a peak.
//!
//! Timers of all engines are merged: ask [`poll_timeout`](Operation::poll_timeout), call
//! [`handle_timeout`](Operation::handle_timeout) (or feed [`Input::Tick`]) then; drain
//! outputs with [`poll_output`](Operation::poll_output) or
//! [`drain_outputs`](Operation::drain_outputs).
//!
//! # Durability
//!
//! [`export_state`](Operation::export_state) returns one versioned [`OperationState`]: the
//! configuration and every engine's state (conversations with their hysteresis, cooldowns and
//! pending hand-overs; workflow steps and timers; the router; the ledger; the load view).
//! [`Operation::from_state`] restores it; restoring and then applying the inputs that followed
//! gives the same state as applying every input from the start. The
//! [`Driver`](crate::Driver) journals inputs before acting and snapshots this state.
//!
//! # Example
//! ```
//! use switchboard::*;
//! use switchboard::escalation::{ConversationId, Signal, Turn};
//! use switchboard::operation::{Input, Operation, OperationConfig, Output};
//!
//! let config = OperationConfig::with_bots(RouterConfig::default());
//! let mut op = Operation::new(config)?;
//! let acme = op.router_mut().catalog_mut().tenant("acme");
//! op.handle(Time::ZERO, Input::Router { event: Event::AddAgent(AgentSpec::new(AgentId(1))
//!     .capacity(Channel::Chat, 2).state(AgentState::Available)) })?;
//!
//! // The bot answers first; an explicit request for a human is a hard trigger.
//! op.handle(Time::from_secs(1), Input::Open { conversation: ConversationId(1), tenant: acme })?;
//! op.handle(Time::from_secs(2), Input::Signal { conversation: ConversationId(1),
//!     signal: Signal::Turn(Turn::customer("I want to talk to a real person")) })?;
//! let out: Vec<Output> = op.drain_outputs().collect();
//! let Some((offer, agent)) = out.iter().find_map(|o| match o {
//!     Output::Router { effect: Effect::Offer { offer, agent, .. } } => Some((*offer, *agent)),
//!     _ => None,
//! }) else { panic!("no offer") };
//! assert!(out.iter().any(|o| matches!(o, Output::Handover { .. })));
//!
//! // The agent accepts: the conversation is the human's now.
//! op.handle(Time::from_secs(5), Input::Router { event: Event::Accept { offer, agent } })?;
//! assert_eq!(op.conversation(ConversationId(1)).unwrap().owner().name(), "human");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod io;
mod load;

pub use io::{Input, Output};
pub use load::{LOAD_ALPHA, ObservedLoad};

use crate::escalation::{
    Action, BuiltinClassifier, Conversation, ConversationId, Decision, Directive, EscalationEngine,
    EscalationError, EscalationState, PolicyConfig as EscalationConfig, Signal, TransferFailure,
};
use crate::expr::AttrValue;
use crate::guardrail::{Guardrail, GuardrailConfig, GuardrailError};
use crate::ledger::{Arrival, Ledger, LedgerConfig, LedgerError};
use crate::policy::{ConfigErrors, PolicySet, ValidPolicy};
use crate::workflow::{RouterCommand, WorkflowEngine, WorkflowError, WorkflowState};
use crate::{
    DefaultScoring, Effect, Event, Router, RouterConfig, RouterError, RouterState, Scoring, TaskId,
    TaskSpec, TaskState, TenantId, Time,
};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Version of [`OperationState`]; a snapshot of another version is refused. (Version 1 was the
/// router-only [`RouterState`] snapshot of earlier releases.)
pub const OPERATION_STATE_VERSION: u32 = 2;

/// The task type whose workflow routes hand-overs by default.
pub const DEFAULT_HANDOVER_WORKFLOW: &str = "escalation";

/// What an [`Operation`] runs: plain data, part of every snapshot.
///
/// # Example
/// ```
/// use switchboard::RouterConfig;
/// use switchboard::operation::OperationConfig;
/// // A router alone (what `Driver::open` builds from a `RouterConfig`):
/// let plain = OperationConfig::from(RouterConfig::default());
/// assert!(plain.escalation.is_none() && plain.policy.is_none());
/// // With the bot front line and its default escalation policy:
/// let bots = OperationConfig::with_bots(RouterConfig::default());
/// assert!(bots.escalation.is_some());
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OperationConfig {
    /// Router settings, used when there is no [`policy`](Self::policy).
    pub router: RouterConfig,
    /// A routing policy (names, tenants and shares, router settings, workflows). When set, the
    /// router is built from it and its workflows run.
    pub policy: Option<PolicySet>,
    /// The escalation policy of the bot front line; `None`: no bot conversations.
    pub escalation: Option<EscalationConfig>,
    /// Guardrail phrase lists scanned on every turn (with the bot front line).
    pub guardrail: Option<GuardrailConfig>,
    /// The ledger's intervals and service-level definition.
    pub ledger: LedgerConfig,
    /// The task type whose workflow routes hand-overs (when the policy has one for the brand).
    pub handover_workflow: String,
}

impl Default for OperationConfig {
    fn default() -> Self {
        OperationConfig {
            router: RouterConfig::default(),
            policy: None,
            escalation: None,
            guardrail: None,
            ledger: LedgerConfig::default(),
            handover_workflow: DEFAULT_HANDOVER_WORKFLOW.into(),
        }
    }
}

impl From<RouterConfig> for OperationConfig {
    fn from(router: RouterConfig) -> Self {
        OperationConfig {
            router,
            ..OperationConfig::default()
        }
    }
}

impl OperationConfig {
    /// A router with the bot front line under the default escalation policy.
    #[must_use]
    pub fn with_bots(router: RouterConfig) -> Self {
        OperationConfig {
            router,
            escalation: Some(EscalationConfig::default()),
            ..OperationConfig::default()
        }
    }
}

/// Why the operation refused an input. Nothing changes on error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum OperationError {
    /// The router refused.
    #[error(transparent)]
    Router(#[from] RouterError),
    /// The workflow engine refused.
    #[error(transparent)]
    Workflow(#[from] WorkflowError),
    /// The escalation engine refused.
    #[error(transparent)]
    Escalation(#[from] EscalationError),
    /// The routing policy does not validate.
    #[error("policy: {0}")]
    Policy(#[from] ConfigErrors),
    /// The guardrail configuration does not build.
    #[error(transparent)]
    Guardrail(#[from] GuardrailError),
    /// The ledger configuration is invalid.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// Inputs must come in time order.
    #[error("time went backwards: {now:?} is before {last:?}")]
    TimeWentBackwards {
        /// The input's time.
        now: Time,
        /// The last input's time.
        last: Time,
    },
    /// A conversation input, but the operation has no escalation policy.
    #[error("no bot front line: the operation has no escalation policy")]
    NoBots,
    /// A request names a workflow, but the operation has no routing policy.
    #[error("no workflows: the operation has no routing policy")]
    NoWorkflows,
    /// A signal only the composition itself sends (`queued`, `assigned`).
    #[error("signal {0:?} is sent by the operation itself, not by the host")]
    ReservedSignal(&'static str),
    /// A snapshot of another version.
    #[error("operation state version {found}, expected {expected}")]
    Version {
        /// Found.
        found: u32,
        /// Expected.
        expected: u32,
    },
}

/// A router task that serves a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// The conversation.
    pub conversation: ConversationId,
}

/// Where a new request goes.
#[derive(Clone, Copy)]
enum Via<'a> {
    /// Straight to the router.
    Router,
    /// Through the workflow of this task type.
    Workflow(&'a str),
    /// Through the hand-over workflow of the configuration.
    Handover,
}

/// What a live task needs for the load view: its brand, creation time and SLA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Live {
    tenant: TenantId,
    created: Time,
    sla_ms: u64,
}

/// Everything an [`Operation`] holds, versioned: restore it with [`Operation::from_state`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OperationState {
    /// [`OPERATION_STATE_VERSION`] when written.
    pub version: u32,
    /// The configuration (with the policy last swapped in).
    pub config: OperationConfig,
    /// The time of the last input.
    pub now: Time,
    /// The router.
    pub router: RouterState,
    /// The workflow engine, with a routing policy.
    pub workflows: Option<WorkflowState>,
    /// The escalation engine, with an escalation policy.
    pub escalation: Option<EscalationState>,
    /// The load view.
    pub load: ObservedLoad,
    /// The ledger.
    pub ledger: Ledger,
    /// Router tasks that serve conversations.
    pub links: Vec<(TaskId, Link)>,
    /// Live tasks' brand, creation and SLA (for the load view).
    live: Vec<(TaskId, Live)>,
    /// Hand-over contexts of open conversations ([`Input::HandoverContext`]).
    #[serde(default)]
    contexts: Vec<(ConversationId, HandoverContext)>,
}

/// What the host told about a conversation's customer for its hand-overs
/// ([`Input::HandoverContext`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct HandoverContext {
    workflow: Option<String>,
    attrs: BTreeMap<String, AttrValue>,
    sla_ms: Option<u64>,
}

type Bots = EscalationEngine<ObservedLoad, (), BuiltinClassifier>;

/// The composed engine. See the [module documentation](self).
#[derive(Debug)]
pub struct Operation<P: Scoring = DefaultScoring> {
    config: OperationConfig,
    now: Time,
    router: Router<P>,
    flows: Option<WorkflowEngine>,
    bots: Option<Bots>,
    ledger: Ledger,
    links: BTreeMap<TaskId, Link>,
    live: FxHashMap<TaskId, Live>,
    /// Tasks the escalation engine withdrew (not reported back to it as failures).
    withdrawn: BTreeSet<TaskId>,
    /// Hand-over contexts of open conversations.
    contexts: BTreeMap<ConversationId, HandoverContext>,
    outputs: VecDeque<Output>,
}

impl Operation<DefaultScoring> {
    /// Builds the operation with the default scoring policy.
    ///
    /// # Errors
    /// When the routing policy, router settings, escalation policy, guardrail or ledger
    /// configuration is invalid.
    pub fn new(config: OperationConfig) -> Result<Self, OperationError> {
        Self::with_scoring(config, DefaultScoring)
    }
}

impl<P: Scoring + Clone> Operation<P> {
    /// Builds the operation with a scoring policy of the host's.
    ///
    /// # Errors
    /// As [`Operation::new`].
    pub fn with_scoring(config: OperationConfig, policy: P) -> Result<Self, OperationError> {
        config.ledger.interval_ms()?;
        let valid = config
            .policy
            .as_ref()
            .map(PolicySet::validate)
            .transpose()?;
        let mut router = match &valid {
            Some(v) => v.router_with(policy)?,
            None => Router::with_scoring(config.router.clone(), policy)?,
        };
        let flows = valid
            .as_ref()
            .map(|v| WorkflowEngine::new(v.workflows().clone(), router.catalog()))
            .transpose()?;
        let bots = Self::build_bots(&config, &mut router)?;
        Ok(Operation {
            ledger: Ledger::new(config.ledger.clone()),
            now: router.now(),
            config,
            router,
            flows,
            bots,
            links: BTreeMap::new(),
            contexts: BTreeMap::new(),
            live: FxHashMap::default(),
            withdrawn: BTreeSet::new(),
            outputs: VecDeque::new(),
        })
    }

    /// Restores an operation from [`export_state`](Self::export_state).
    ///
    /// # Errors
    /// [`OperationError::Version`] for a snapshot of another version; otherwise as
    /// [`Operation::new`] and [`Router::from_state`].
    pub fn from_state(state: OperationState, policy: P) -> Result<Self, OperationError> {
        if state.version != OPERATION_STATE_VERSION {
            return Err(OperationError::Version {
                found: state.version,
                expected: OPERATION_STATE_VERSION,
            });
        }
        let config = state.config;
        let valid: Option<ValidPolicy> = config
            .policy
            .as_ref()
            .map(PolicySet::validate)
            .transpose()?;
        let mut router = Router::from_state(state.router, policy)?;
        let flows = match (&valid, state.workflows) {
            (Some(v), Some(ws)) => Some(WorkflowEngine::from_state(
                v.workflows().clone(),
                router.catalog(),
                ws,
            )?),
            (Some(v), None) => Some(WorkflowEngine::new(
                v.workflows().clone(),
                router.catalog(),
            )?),
            (None, _) => None,
        };
        let mut bots = Self::build_bots(&config, &mut router)?;
        if let (Some(b), Some(es)) = (&mut bots, state.escalation) {
            b.restore(es);
            *b.load_source_mut() = state.load;
        }
        Ok(Operation {
            config,
            now: state.now,
            router,
            flows,
            bots,
            ledger: state.ledger,
            links: state.links.into_iter().collect(),
            contexts: state.contexts.into_iter().collect(),
            live: state.live.into_iter().collect(),
            withdrawn: BTreeSet::new(),
            outputs: VecDeque::new(),
        })
    }

    fn build_bots(
        config: &OperationConfig,
        router: &mut Router<P>,
    ) -> Result<Option<Bots>, OperationError> {
        let Some(cfg) = &config.escalation else {
            return Ok(None);
        };
        let policy =
            crate::escalation::EscalationPolicy::compile(cfg.clone(), router.catalog_mut())?;
        let mut engine = EscalationEngine::new(
            policy,
            ObservedLoad::default(),
            (),
            BuiltinClassifier::new()?,
        );
        if let Some(g) = &config.guardrail {
            engine = engine.with_guardrail(Guardrail::new(g, router.catalog_mut())?);
        }
        Ok(Some(engine))
    }
}

impl<P: Scoring> Operation<P> {
    /// The configuration (with the policy last swapped in).
    #[must_use]
    pub fn config(&self) -> &OperationConfig {
        &self.config
    }
    /// The router (read-only: change it through [`handle`](Self::handle)).
    #[must_use]
    pub fn router(&self) -> &Router<P> {
        &self.router
    }
    /// The router, mutably — for interning names and reading queries at set-up. Changing
    /// routing state here bypasses the journal and the ledger: use [`handle`](Self::handle).
    pub fn router_mut(&mut self) -> &mut Router<P> {
        &mut self.router
    }
    /// The workflow engine, with a routing policy.
    #[must_use]
    pub fn workflows(&self) -> Option<&WorkflowEngine> {
        self.flows.as_ref()
    }
    /// The escalation engine, with an escalation policy.
    #[must_use]
    pub fn escalation(&self) -> Option<&EscalationEngine<ObservedLoad, (), BuiltinClassifier>> {
        self.bots.as_ref()
    }
    /// An open conversation.
    #[must_use]
    pub fn conversation(&self, id: ConversationId) -> Option<&Conversation> {
        self.bots.as_ref().and_then(|b| b.conversation(id))
    }
    /// The ledger.
    #[must_use]
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }
    /// The ledger, mutably — for what the host records itself, outside the inputs: AI
    /// conversations of channels the bot front line does not play, presence the router does
    /// not see (an agent `Away` for routing, so work in hand finishes, but off shift for
    /// occupancy). This bypasses the journal: a replay does not see it.
    pub fn ledger_mut(&mut self) -> &mut Ledger {
        &mut self.ledger
    }
    /// The time of the last input.
    #[must_use]
    pub fn now(&self) -> Time {
        self.now
    }
    /// The conversation a router task serves, if any.
    #[must_use]
    pub fn link(&self, task: TaskId) -> Option<ConversationId> {
        self.links.get(&task).map(|l| l.conversation)
    }

    /// The next output, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }
    /// Drains every pending output, in order.
    pub fn drain_outputs(&mut self) -> impl Iterator<Item = Output> + '_ {
        self.outputs.drain(..)
    }

    /// When the next timer of any engine is due: call
    /// [`handle_timeout`](Self::handle_timeout) then.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Time> {
        let routing = match &self.flows {
            Some(f) => f.poll_timeout(&self.router),
            None => self.router.poll_timeout(),
        };
        let bots = self.bots.as_ref().and_then(EscalationEngine::poll_timeout);
        match (routing, bots) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Fires every timer due by `now`: the router's offers and waits, workflow steps and
    /// exception rules, and conversation timers (pending-human timeouts, hand-back offers).
    ///
    /// # Errors
    /// [`OperationError::TimeWentBackwards`]; nothing changes then.
    pub fn handle_timeout(&mut self, now: Time) -> Result<(), OperationError> {
        self.handle(now, Input::Tick)
    }

    /// Applies one input at `now`. See the [module documentation](self) for the order.
    ///
    /// # Errors
    /// The refusing engine's error, [`OperationError::TimeWentBackwards`],
    /// [`OperationError::NoBots`], [`OperationError::NoWorkflows`] or
    /// [`OperationError::ReservedSignal`]. Nothing changes on error: inputs are checked before
    /// any engine changes.
    pub fn handle(&mut self, now: Time, input: Input) -> Result<(), OperationError> {
        if now < self.now {
            return Err(OperationError::TimeWentBackwards {
                now,
                last: self.now,
            });
        }
        match input {
            Input::Router { event } => self.router_event(now, event)?,
            Input::Request {
                spec,
                workflow,
                attrs,
            } => {
                self.check_request(&spec, workflow.as_deref())?;
                let via = workflow.as_deref().map_or(Via::Router, Via::Workflow);
                self.enter(now, spec, via, attrs)?;
            }
            Input::Open {
                conversation,
                tenant,
            } => {
                let b = self.bots.as_mut().ok_or(OperationError::NoBots)?;
                b.open(now, conversation, tenant)?;
            }
            Input::Signal {
                conversation,
                signal,
            } => {
                if matches!(signal, Signal::Queued { .. } | Signal::Assigned { .. }) {
                    return Err(OperationError::ReservedSignal(signal.name()));
                }
                self.refresh_staffed();
                let b = self.bots.as_mut().ok_or(OperationError::NoBots)?;
                let d = b.observe(now, conversation, signal)?;
                self.now = now;
                self.decide(now, d);
            }
            Input::Close { conversation } => {
                let b = self.bots.as_mut().ok_or(OperationError::NoBots)?;
                let conv = b.close(conversation)?;
                self.now = now;
                self.ledger.conversation_closed(&conv);
                self.contexts.remove(&conversation);
                let outcome = crate::ledger::AiOutcome::of(&conv);
                // A request still waiting for this conversation is withdrawn.
                // Its hand-overs have ids `conversation << 8 | n` (the escalation engine's).
                let first = TaskId(conversation.0.wrapping_shl(8));
                let tasks: Vec<TaskId> = self
                    .links
                    .range(first..=TaskId(first.0 | 0xff))
                    .filter(|(_, l)| l.conversation == conversation)
                    .map(|(t, _)| *t)
                    .collect();
                for t in tasks {
                    self.links.remove(&t);
                    self.withdraw(now, t);
                }
                self.outputs.push_back(Output::Closed {
                    conversation,
                    outcome,
                });
            }
            Input::HandoverContext {
                conversation,
                workflow,
                attrs,
                sla_ms,
            } => {
                let b = self.bots.as_ref().ok_or(OperationError::NoBots)?;
                if b.conversation(conversation).is_none() {
                    return Err(EscalationError::UnknownConversation(conversation).into());
                }
                if workflow.is_some() && self.flows.is_none() {
                    return Err(OperationError::NoWorkflows);
                }
                self.contexts.insert(
                    conversation,
                    HandoverContext {
                        workflow,
                        attrs,
                        sla_ms,
                    },
                );
            }
            Input::Outcome { task, outcome } => self.ledger.outcome(task, outcome),
            Input::SwapPolicy { policy } => self.swap_policy(now, *policy)?,
            Input::Tick => self.fire_timers(now)?,
        }
        self.now = now;
        self.pump(now);
        Ok(())
    }

    /// Exports every engine's state and the configuration, versioned.
    #[must_use]
    pub fn export_state(&self) -> OperationState {
        let mut live: Vec<(TaskId, Live)> = self.live.iter().map(|(t, l)| (*t, *l)).collect();
        live.sort_unstable_by_key(|e| e.0);
        OperationState {
            version: OPERATION_STATE_VERSION,
            config: self.config.clone(),
            now: self.now,
            router: self.router.export_state(),
            workflows: self.flows.as_ref().map(WorkflowEngine::export_state),
            escalation: self.bots.as_ref().map(EscalationEngine::export_state),
            load: self
                .bots
                .as_ref()
                .map(|b| b.load_source().clone())
                .unwrap_or_default(),
            ledger: self.ledger.clone(),
            links: self.links.iter().map(|(t, l)| (*t, *l)).collect(),
            live,
            contexts: self.contexts.iter().map(|(c, x)| (*c, x.clone())).collect(),
        }
    }

    // ------------------------------------------------------------------------------- inputs

    fn router_event(&mut self, now: Time, event: Event) -> Result<(), OperationError> {
        let arrival = match &event {
            Event::Arrive(spec) => Some(Arrival::from_spec(spec, None).channel(spec.channel)),
            _ => None,
        };
        let presence = match &event {
            Event::AddAgent(spec) | Event::UpdateAgent(spec) => {
                Some((spec.id, Some(spec.capacity), spec.state))
            }
            Event::SetAgentState { agent, state } => Some((*agent, None, *state)),
            Event::RemoveAgent { agent } => Some((*agent, None, crate::AgentState::Offline)),
            _ => None,
        };
        let tick = matches!(event, Event::Tick);
        if tick {
            return self.fire_timers(now);
        }
        let task = match &event {
            Event::Arrive(spec) => Some((spec.id, spec.tenant, spec.sla_ms)),
            _ => None,
        };
        self.router.handle(now, event)?;
        if let Some((agent, capacity, state)) = presence {
            if let Some(c) = capacity {
                self.ledger.agent_capacity(agent, c);
            }
            self.ledger.agent_state(now, agent, state);
        }
        if let (Some(a), Some((id, tenant, sla))) = (arrival, task) {
            self.track(now, id, tenant, sla);
            self.ledger
                .arrival(now, a.queue(self.router.task_queue(id)));
        }
        Ok(())
    }

    fn check_request(&self, spec: &TaskSpec, workflow: Option<&str>) -> Result<(), OperationError> {
        if workflow.is_some() && self.flows.is_none() {
            return Err(OperationError::NoWorkflows);
        }
        if self.router.task_state(spec.id).is_some() {
            return Err(RouterError::DuplicateTask(spec.id).into());
        }
        Ok(())
    }

    /// A new human request: through its workflow if it names one the policy has, else straight
    /// to the router; recorded by the ledger.
    fn enter(
        &mut self,
        now: Time,
        spec: TaskSpec,
        via: Via<'_>,
        attrs: BTreeMap<String, AttrValue>,
    ) -> Result<(), OperationError> {
        let (id, tenant, sla, channel) = (spec.id, spec.tenant, spec.sla_ms, spec.channel);
        let arrival = Arrival::from_spec(&spec, None).channel(channel);
        let workflow = match via {
            Via::Router => None,
            Via::Workflow(w) => Some(w),
            Via::Handover => Some(self.config.handover_workflow.as_str()),
        };
        match (workflow, &mut self.flows) {
            (Some(w), Some(flows)) => {
                let arrive = flows.arrive(&self.router, now, spec, w, attrs)?;
                self.run_commands(now, Some(arrive))?;
            }
            (Some(_), None) => return Err(OperationError::NoWorkflows),
            (None, _) => self.router.arrive(now, spec)?,
        }
        self.track(now, id, tenant, sla);
        self.ledger
            .arrival(now, arrival.queue(self.router.task_queue(id)));
        Ok(())
    }

    fn track(&mut self, now: Time, id: TaskId, tenant: TenantId, sla_ms: Option<u64>) {
        let sla_ms = sla_ms.unwrap_or(self.config.ledger.default_sla_ms);
        self.live.insert(
            id,
            Live {
                tenant,
                created: now,
                sla_ms,
            },
        );
    }

    fn swap_policy(&mut self, now: Time, policy: PolicySet) -> Result<(), OperationError> {
        let valid = policy.validate()?;
        let Some(flows) = &mut self.flows else {
            return Err(OperationError::NoWorkflows);
        };
        // Check the new workflows compile before anything changes.
        let mut probe = self.router.catalog().clone();
        valid.intern_names(&mut probe);
        WorkflowEngine::new(valid.workflows().clone(), &probe)?;
        valid.apply_to(&mut self.router, flows, now)?;
        self.config.policy = Some(policy);
        Ok(())
    }

    fn fire_timers(&mut self, now: Time) -> Result<(), OperationError> {
        let now = now.max(self.router.now());
        self.router.handle_timeout(now)?;
        if let Some(f) = &mut self.flows {
            f.start_timeout(now);
        }
        self.run_commands(now, None)?;
        self.pump(now);
        self.refresh_staffed();
        if let Some(b) = &mut self.bots
            && b.poll_timeout().is_some_and(|t| t <= now)
        {
            for d in b.handle_timeout(now) {
                self.decide(now, d);
            }
        }
        Ok(())
    }

    /// Applies the workflow engine's router commands — `first`, then every one it asks for
    /// next — one at a time, so that each of its decisions reads the router as the previous
    /// command left it. A command the router refuses is reported back to the engine.
    fn run_commands(
        &mut self,
        now: Time,
        first: Option<RouterCommand>,
    ) -> Result<(), OperationError> {
        let Some(flows) = &mut self.flows else {
            return Ok(());
        };
        let mut next = first;
        loop {
            if let Some(cmd) = next.take()
                && let Err(e) = cmd.apply(&mut self.router, now)
            {
                flows.command_failed(e);
            }
            match flows.poll_command(&self.router)? {
                Some(cmd) => next = Some(cmd),
                None => return Ok(()),
            }
        }
    }

    fn refresh_staffed(&mut self) {
        let staffed = self.router.agent_count() > 0;
        if let Some(b) = &mut self.bots {
            b.load_source_mut().set_staffed(staffed);
        }
    }

    // ------------------------------------------------------------------ escalation directives

    /// Carries out an escalation decision's directives, in order.
    fn decide(&mut self, now: Time, d: Decision) {
        let conversation = d.conversation;
        if d.action != Action::Continue {
            self.outputs.push_back(Output::Decision {
                conversation,
                action: d.action,
                fired: d.fired.clone(),
                score: d.score,
            });
        }
        for e in d.effects {
            match e {
                Directive::Route(mut h) => {
                    let task = h.task.id;
                    let context = self.contexts.get(&conversation);
                    if let Some(sla) = context.and_then(|c| c.sla_ms) {
                        h.task.sla_ms = Some(sla);
                    }
                    let attrs = context.map(|c| c.attrs.clone()).unwrap_or_default();
                    // The conversation's own hand-over workflow, or the configuration's.
                    let own_wf: Option<String> = context.and_then(|c| c.workflow.clone());
                    let spec = h.task.clone();
                    let wf_name = own_wf
                        .as_deref()
                        .unwrap_or(self.config.handover_workflow.as_str());
                    let through_flow =
                        match (&self.flows, self.router.catalog().tenant_name(spec.tenant)) {
                            (Some(f), Some(t)) => f.workflows().get(t, wf_name).is_some(),
                            _ => false,
                        };
                    let via = match (through_flow, own_wf.as_deref()) {
                        (false, _) => Via::Router,
                        (true, Some(w)) => Via::Workflow(w),
                        (true, None) => Via::Handover,
                    };
                    let entered = self.enter(now, spec, via, attrs).is_ok();
                    let signal = if entered {
                        self.links.insert(task, Link { conversation });
                        self.outputs.push_back(Output::Handover {
                            conversation,
                            task,
                            handover: h,
                        });
                        Signal::Queued { task }
                    } else {
                        Signal::TransferFailed {
                            reason: TransferFailure::Rejected,
                        }
                    };
                    self.signal(now, conversation, signal);
                }
                Directive::Reprioritize {
                    task,
                    priority,
                    customer,
                } => {
                    if matches!(
                        self.router.task_state(task),
                        Some(TaskState::Waiting | TaskState::Offered(_))
                    ) {
                        // Refused only for a task that is not live, checked above.
                        let _ = self.router.reprioritize(now, task, priority, customer);
                    }
                }
                Directive::CancelRoute { task } => {
                    self.links.remove(&task);
                    self.withdraw(now, task);
                }
                Directive::Callback(handover) => self.outputs.push_back(Output::Callback {
                    conversation,
                    handover,
                }),
                Directive::Ticket(handover) => self.outputs.push_back(Output::Ticket {
                    conversation,
                    handover,
                }),
                Directive::Notify(notice) => self.outputs.push_back(Output::Notice {
                    conversation,
                    notice,
                }),
                Directive::Classify {
                    request,
                    classifier,
                    text,
                } => self.outputs.push_back(Output::Classify {
                    conversation,
                    request,
                    classifier,
                    text,
                }),
                Directive::BlockReply => {
                    self.outputs.push_back(Output::BlockReply { conversation });
                }
                Directive::MaskText { masked } => self.outputs.push_back(Output::MaskText {
                    conversation,
                    masked,
                }),
                Directive::OfferHandBack { agent } => {
                    self.outputs.push_back(Output::OfferHandBack {
                        conversation,
                        agent,
                    });
                }
                Directive::HandBack(summary) => self.outputs.push_back(Output::HandBack {
                    conversation,
                    summary,
                }),
                Directive::NeedCapacity(need) => {
                    self.outputs.push_back(Output::CapacityNeeded { need });
                }
            }
        }
    }

    /// Feeds a signal of the composition's own to a conversation and carries out the decision.
    /// A conversation that closed meanwhile is skipped.
    fn signal(&mut self, now: Time, conversation: ConversationId, signal: Signal) {
        let Some(b) = &mut self.bots else {
            return;
        };
        if b.conversation(conversation).is_none() {
            return;
        }
        if let Ok(d) = b.observe(now, conversation, signal) {
            self.decide(now, d);
        }
    }

    /// Cancels a waiting or offered task on the escalation engine's behalf (not reported back
    /// to it as a failed transfer).
    fn withdraw(&mut self, now: Time, task: TaskId) {
        if matches!(
            self.router.task_state(task),
            Some(TaskState::Waiting | TaskState::Offered(_))
        ) && self.router.cancel(now, task).is_ok()
        {
            self.withdrawn.insert(task);
        }
    }

    // ----------------------------------------------------------------------- router effects

    /// Drains the workflow and router effects into outputs and the ledger, and signals the
    /// conversations concerned, until nothing is left to do.
    fn pump(&mut self, now: Time) {
        loop {
            if let Some(f) = &mut self.flows {
                while let Some(effect) = f.poll_effect() {
                    self.outputs.push_back(Output::Workflow { effect });
                }
            }
            let effects: Vec<Effect> = self.router.drain_effects().collect();
            if effects.is_empty() {
                break;
            }
            let mut work: Vec<(ConversationId, Signal)> = Vec::new();
            for effect in effects {
                self.ledger.observe(now, &effect);
                match &effect {
                    Effect::Assigned { task, agent, .. } => {
                        self.observe_wait(now, *task);
                        if let Some(l) = self.links.get(task) {
                            work.push((l.conversation, Signal::Assigned { agent: *agent }));
                        }
                    }
                    // The human is done with the conversation when they complete the task
                    // (wrap-up, if any, is after-work): the bot has it again.
                    Effect::WrapUpStarted { task, .. } => {
                        if let Some(l) = self.links.remove(task) {
                            work.push((l.conversation, Signal::HumanReleased));
                        }
                    }
                    Effect::Completed { task, .. } => {
                        if let Some(l) = self.links.remove(task) {
                            work.push((l.conversation, Signal::HumanReleased));
                        }
                        self.ended(*task);
                    }
                    // The customer gave up waiting: they no longer want a human (no retry).
                    Effect::Abandoned { task } => {
                        self.observe_wait(now, *task);
                        if let Some(l) = self.links.remove(task) {
                            work.push((l.conversation, Signal::CustomerCancelled));
                        }
                        self.ended(*task);
                    }
                    // The router gave up (maximum wait): a failed transfer the escalation
                    // engine retries or turns into a call-back or ticket.
                    Effect::TimedOut { task } => {
                        self.observe_wait(now, *task);
                        if let Some(l) = self.links.remove(task) {
                            work.push((
                                l.conversation,
                                Signal::TransferFailed {
                                    reason: TransferFailure::TimedOut,
                                },
                            ));
                        }
                        self.ended(*task);
                    }
                    Effect::Cancelled { task } => {
                        let ours = self.withdrawn.remove(task);
                        if let Some(l) = self.links.remove(task)
                            && !ours
                        {
                            work.push((
                                l.conversation,
                                Signal::TransferFailed {
                                    reason: TransferFailure::Rejected,
                                },
                            ));
                        }
                        self.ended(*task);
                    }
                    _ => {}
                }
                self.outputs.push_back(Output::Router { effect });
            }
            self.refresh_staffed();
            for (c, s) in work {
                self.signal(now, c, s);
            }
        }
    }

    /// One observed wait for the load view (answered or abandoned request).
    fn observe_wait(&mut self, now: Time, task: TaskId) {
        let Some(l) = self.live.get(&task) else {
            return;
        };
        let (tenant, wait, sla) = (l.tenant, now.millis_since(l.created), l.sla_ms);
        if let Some(b) = &mut self.bots {
            b.load_source_mut().observe_wait(tenant, wait, sla);
        }
    }

    /// A task left the router for good.
    fn ended(&mut self, task: TaskId) {
        self.live.remove(&task);
        if let Some(f) = &mut self.flows {
            f.forget(task);
        }
    }
}

/// `docs/OPERATION.md`, whose code blocks run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/OPERATION.md")]
struct OperationGuide;
