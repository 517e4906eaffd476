//! # switchboard
//!
//! The brain of an "AI + elastic human cloud" customer-service operation: it decides **who
//! serves which conversation, in what order, and when the bot must hand a conversation to a
//! human**. Everything is a pure, deterministic state machine in the sans-I/O style: you feed it
//! inputs with the current time, it hands back outputs (offer this task to that agent, tell the
//! customer a person will join, mask that reply, call more agents in…). No I/O, no clock, no
//! threads.
//!
//! ## The operation in one engine
//!
//! [`Operation`](operation::Operation) composes the engines a host needs — the bot front line
//! (guardrail → [`escalation`]), the [`workflow`]s, the [`Router`] and the [`ledger`] — behind one
//! input type and one output type, with merged timers and one journal. This is where to start:
//!
//! ```
//! use switchboard::*;
//! use switchboard::escalation::{ConversationId, Signal, Turn};
//! use switchboard::operation::{Input, Operation, OperationConfig, Output};
//!
//! let mut op = Operation::new(OperationConfig::with_bots(RouterConfig::default()))?;
//! let acme = op.router_mut().catalog_mut().tenant("acme-fashion");
//! op.handle(Time::ZERO, Event::AddAgent(AgentSpec::new(AgentId(1))
//!     .capacity(Channel::Chat, 3).state(AgentState::Available)).into())?;
//!
//! // The bot has the customer; "a real person" is a hard trigger: a hand-over, then an offer.
//! op.handle(Time::from_secs(1), Input::Open { conversation: ConversationId(7), tenant: acme })?;
//! op.handle(Time::from_secs(3), Input::Signal { conversation: ConversationId(7),
//!     signal: Signal::Turn(Turn::customer("I want to talk to a real person")) })?;
//! let outputs: Vec<Output> = op.drain_outputs().collect();
//! assert!(outputs.iter().any(|o| matches!(o, Output::Handover { .. })));
//! assert!(outputs.iter().any(|o| matches!(o.as_router(), Some(Effect::Offer { .. }))));
//! // Timers of every engine, merged: call op.handle_timeout(t) at op.poll_timeout().
//! assert!(op.poll_timeout().is_some());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The [`Driver`] runs the same engine durably (persist before act, snapshots of every engine,
//! recovery equal to replay). The guide `docs/OPERATION.md` gives the order inside, every input
//! and output, and the table below says which part to take if you need only one engine.
//!
//! ## Which part do I need?
//!
//! | you want | use |
//! |---|---|
//! | bot first, escalation, workflows, routing, the guarantees ledger, durable | [`Driver`] over an [`Operation`](operation::Operation) |
//! | the same, in memory or under your own storage | [`Operation`](operation::Operation) |
//! | skill-based routing of tasks you create | [`Router`] (or a [`Driver`] opened with a [`RouterConfig`]) |
//! | only the AI → human decision | [`EscalationEngine`] |
//! | bullseye workflows over your own router | [`WorkflowEngine`](workflow::WorkflowEngine) and [`workflow::drive`] |
//! | answer-rate / CSAT accounting | [`Ledger`](ledger::Ledger) |
//! | a sales day before it happens, staffing | `sim` (feature `sim`), [`staffing`] |
//!
//! ## Crate features
//!
//! | feature | adds |
//! |---|---|
//! | `sqlite` (default) | `SqliteStorage`, the durable embedded store |
//! | `toml` (default) | TOML policy files, scenarios and configurations (JSON is always there) |
//! | `sim` (default) | the simulator and staffing plan verification (`rand`, `rand_distr`) |
//! | `charts`, `cli` | charts of simulation runs; the `switchboard` command-line tool |
//! | `full` | all of the above |
//! | `python` | the Python bindings (built with maturin) |
//!
//! With `default-features = false` the crate is the pure core: no SQLite, TOML or distributions.
//!
//! ## Tutorial: the router alone
//!
//! Create a router, intern the names you will use, and register agents:
//!
//! ```
//! use switchboard::*;
//!
//! let mut router = Router::new(RouterConfig::default())?;
//! let acme = router.catalog_mut().tenant("acme-fashion");
//! let sizing = router.catalog_mut().skill("apparel.sizing");
//! let zh = router.catalog_mut().tag("lang:zh");
//!
//! let t0 = Time::from_secs(0);
//! router.add_agent(t0, AgentSpec::new(AgentId(1))
//!     .skill(sizing, 8).tag(zh).certified(acme)
//!     .capacity(Channel::Chat, 3)
//!     .state(AgentState::Available))?;
//! router.add_agent(t0, AgentSpec::new(AgentId(2))
//!     .skill(sizing, 4).tag(zh)
//!     .capacity(Channel::Chat, 3)
//!     .state(AgentState::Available))?;
//! # Ok::<(), RouterError>(())
//! ```
//!
//! A task arrives with hard requirements; only agent 1 is certified for the brand, so the router
//! offers it to agent 1. Offers are leases: they name an id and expire.
//!
//! ```
//! # use switchboard::*;
//! # let mut router = Router::new(RouterConfig::default())?;
//! # let acme = router.catalog_mut().tenant("acme-fashion");
//! # let sizing = router.catalog_mut().skill("apparel.sizing");
//! # let t0 = Time::from_secs(0);
//! # router.add_agent(t0, AgentSpec::new(AgentId(1)).skill(sizing, 8).certified(acme)
//! #     .capacity(Channel::Chat, 3).state(AgentState::Available))?;
//! # router.add_agent(t0, AgentSpec::new(AgentId(2)).skill(sizing, 4)
//! #     .capacity(Channel::Chat, 3).state(AgentState::Available))?;
//! let t1 = Time::from_secs(5);
//! router.arrive(t1, TaskSpec::new(TaskId(100), acme, Channel::Chat)
//!     .requires(Requirements::default().skill(sizing, 6).certified()))?;
//!
//! let effects: Vec<Effect> = router.drain_effects().collect();
//! let Some(Effect::Offer { offer, agent, expires_at, .. }) = effects.last().cloned() else { panic!() };
//! assert_eq!(agent, AgentId(1));
//! assert_eq!(expires_at, t1.plus_millis(router.config().offer_timeout_ms));
//!
//! // Why not agent 2?
//! let why = router.explain(TaskId(100), AgentId(2))?;
//! assert_eq!(why.reasons[0], Ineligible::LevelTooLow { skill: sizing, have: 4, need: 6 });
//!
//! // The agent accepts; the task is in service. A duplicate answer is refused.
//! router.accept(Time::from_secs(7), offer, AgentId(1))?;
//! assert!(router.accept(Time::from_secs(7), offer, AgentId(1)).is_err());
//! router.complete(Time::from_secs(300), TaskId(100))?;
//! assert_eq!(router.counters().completed, 1);
//! # Ok::<(), RouterError>(())
//! ```
//!
//! Timers run on your clock: ask [`Router::poll_timeout`] when to call
//! [`Router::handle_timeout`]. Every state-changing call has an [`Event`] twin, so journaling the
//! events and replaying them through [`Router::handle`] rebuilds the same state.
//!
//! ## What is where
//!
//! The crate is grouped by subsystem; each module is also re-exported at the root under its short
//! path (`switchboard::agent`, `switchboard::workflow`, …), and the main types at the root itself.
//!
//! | subsystem | concept | module |
//! |---|---|---|
//! | [`operation`]: the composed engine | one input and one output type, the order inside, one journal | [`operation`]: [`Operation`](operation::Operation), [`Input`](operation::Input), [`Output`](operation::Output), [`OperationState`](operation::OperationState) |
//! | [`routing`]: the pure state machine | [`Agent`](agent) | [`agent`]: [`AgentSpec`], [`AgentState`], [`AgentId`] |
//! | | [`Task`](task) | [`task`]: [`TaskSpec`], [`Requirements`], [`Preferences`], [`CustomerProfile`] |
//! | | Skill / level, Tag, Tenant | [`skill`], [`tag`], [`tenant`], interned by [`catalog`] |
//! | | Channel and capacity | [`channel`] |
//! | | [`Queue`](queue) and the ordering formula | [`queue`] |
//! | | [`Offer`](offer) | [`offer`] |
//! | | selection strategies and scoring ([`Scoring`]) | [`strategy`] |
//! | | the state machine | [`router`]; inputs and outputs in [`event`]; settings in [`config`]; errors in [`error`] |
//! | | snapshots and explanations | [`explain`] |
//! | | whole-state snapshots for durability | [`router::persist`]: [`RouterState`] |
//! | | batch assignment | [`router::batch`] ([`Router::dispatch_batch`]), solvers in [`assignment`] |
//! | | time, seeded randomness | [`time`], [`rng`] |
//! | [`policy`]: configuration as documents | policy files | [`policy`]: [`PolicySet`], [`ValidPolicy`] |
//! | | target expressions, skill taxonomy | [`expr`], [`taxonomy`] |
//! | | workflows and their engine | [`workflow`] |
//! | [`escalation`]: the AI front line | conversations, decisions, the engine, replay | [`escalation`] |
//! | | guardrails | [`guardrail`] |
//! | [`planning`]: days, not calls | ledger of outcomes and guarantees | [`ledger`] |
//! | | staffing plans (Erlang C / A) | [`staffing`] |
//! | | the simulator (feature `sim`) | `sim` |
//! | [`host`]: integration around the core | journal, storage, transport, clock, driver | [`storage`], [`transport`], [`clock`], [`driver`]; SQLite in `sqlite` (feature `sqlite`) |
//!
//! ## Durable operation
//!
//! The [`Driver`] wraps the composed operation for hosts that want batteries included: it
//! journals every accepted input through a [`Storage`] *before* delivering the outputs through a
//! [`Transport`], snapshots every engine periodically, and on restart recovers from snapshot +
//! journal, fires what ran out while it was down (offers, workflow steps, conversation timers)
//! and re-delivers the offers still outstanding.
//!
//! ## Guarantees
//!
//! * **Never panics on input**: every bad input gets a typed [`RouterError`] and leaves the
//!   router unchanged.
//! * **Deterministic**: the same calls at the same times give the same effects; ties break by
//!   registration or arrival order; randomness only from the seeded [`SeededRng`].
//! * **Invariants** (conservation, capacity, eligibility, work conservation) are checked after
//!   every step of random operation sequences by property tests and a fuzz target, using
//!   [`Router::check_invariants`].

#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod escalation;
pub mod host;
pub mod operation;
pub mod planning;
pub mod policy;
#[cfg(feature = "python")]
mod python;
// The test oracle and bench baseline: hidden, not part of the supported API.
#[doc(hidden)]
pub mod reference;
pub mod routing;
mod serde_util;

// The short module paths (`switchboard::agent`, `switchboard::sim`, …): each subsystem's modules
// re-exported at the root.
pub use escalation::guardrail;
#[cfg(feature = "sqlite")]
pub use host::sqlite;
pub use host::{clock, driver, storage, transport};
#[cfg(feature = "sim")]
pub use planning::sim;
pub use planning::{ledger, staffing};
pub use policy::{expr, taxonomy, workflow};
pub use routing::{
    agent, assignment, catalog, channel, config, error, event, explain, offer, queue, rng, router,
    skill, strategy, tag, task, tenant, time,
};

pub use agent::{AgentId, AgentKind, AgentSpec, AgentState};
pub use catalog::Catalog;
pub use channel::{Capacity, Channel};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{Dispatch, RouterConfig, ScoreWeights};
pub use driver::{Driver, DriverError, DriverOptions, RecoveryReport, Submitted};
pub use error::{InvariantViolation, RouterError};
pub use escalation::{
    Conversation, ConversationId, Decision, EscalationEngine, EscalationError, EscalationPolicy,
    PolicyConfig,
};
pub use event::{Effect, Event, QueueReason, RescindReason};
pub use explain::{AgentSnapshot, Counters, Explanation, Ineligible, QueueSnapshot, Snapshot};
pub use guardrail::{GuardAction, Guardrail, GuardrailConfig, GuardrailError};
pub use offer::{OfferId, OfferReason};
pub use policy::{ConfigErrors, ConfigIssue, PolicySet, ValidPolicy, Warning, WarningKind};
pub use queue::{OrderKey, PriorityWeights, QueueId};
pub use rng::SeededRng;
pub use router::Router;
pub use router::batch::BatchReport;
pub use router::persist::{RouterState, STATE_VERSION};
pub use skill::{MAX_LEVEL, SkillId, SkillReq};
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteError, SqliteOptions, SqliteStorage, Synchronous};
pub use storage::{
    DamagedRecord, JOURNAL_VERSION, JournalRecord, Loaded, MemoryStorage, RecordError, Storage,
};
pub use strategy::{AgentView, DefaultScoring, Scoring, Strategy, TaskView};
pub use tag::TagId;
pub use task::{
    CustomerProfile, Preferences, Priority, Requirements, Retarget, TaskId, TaskSpec, TaskState,
};
pub use tenant::{TenantId, TenantShare};
pub use time::Time;
pub use transport::{ChannelTransport, Transport, VecTransport};

/// The README and the guides in `docs/`, whose Rust code blocks compile (and run, unless marked
/// `no_run` or `ignore`) as doctests.
#[cfg(doctest)]
mod doc_files {
    #[doc = include_str!("../README.md")]
    struct Readme;
    #[doc = include_str!("../docs/INTEGRATION.md")]
    struct Integration;
    #[doc = include_str!("../docs/WORKFLOWS.md")]
    struct Workflows;
}
