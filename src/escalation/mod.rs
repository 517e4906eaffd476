//! AI → human escalation: when a conversation must move to a human, with what urgency and to
//! whom, and when it may go back to the bot.
//!
//! The AI bot answers first. Turn by turn the host reports [`Signal`]s — turns with their
//! [`Evidence`] (sentiment, intent confidence, fallbacks, explicit requests, repetition, topic,
//! customer tier and order value, disputes, no-input) and ownership events — and a
//! [`Conversation`] answers each with a [`Decision`]: the [`Action`], the [`Rule`]s that fired,
//! each feature's [`Contribution`], the [`Thresholds`] used, the [`Load`] seen and the policy
//! version, serialisable for audit. Like the router it is a pure state machine: no clock, no I/O,
//! no threads; timers fire when the host sends [`Signal::Tick`] at
//! [`Conversation::poll_timeout`] (or calls [`EscalationEngine::handle_timeout`]).
//!
//! # The policy in three layers
//!
//! 1. **Hard triggers** escalate at once and are never gated by load: an explicit request for a
//!    human (detected in Chinese and English by the [`BuiltinClassifier`] — 人工, 转人工, 真人,
//!    客服, "human", "agent", "real person", … — or reported by the host; optionally answered
//!    once with a clarifying offer, never in a loop), legal / safety topics, a guardrail rule with
//!    the `escalate` action, a bot error, the fallback loop (n consecutive fallbacks), and a
//!    dispute by a top-tier customer or over a high order value.
//! 2. **A score** over normalised evidence in `[0, 1]` with non-negative weights (so more negative
//!    evidence never lowers it): smoothed sentiment level and trend, consecutive fallbacks,
//!    decayed repetitions and no-inputs, low intent confidence, length, tier and topic risk;
//!    optionally squashed by a logistic.
//! 3. **Hysteresis**: a soft escalation needs the score at or above the up threshold for `k`
//!    customer turns in a row, or a jump over the jump threshold; a cooldown after each hand-back
//!    and a cap on soft hand-offs keep a conversation from ping-ponging.
//!
//! **Load gating**: both soft thresholds shift by `clamp(slope × (wait / SLA − 1), −max_relax,
//! max_raise)`, so at a sales peak only the conversations that need a person get one and on a
//! quiet day the bar drops. A soft escalation that the unshifted thresholds would have made is
//! reported as [`Action::HoldBack`] and as a [`CapacityNeed`]. With no human staffed or outside
//! hours the escalation still happens, as a callback or ticket with an honest notice.
//!
//! # Ownership
//!
//! See [`ownership`]: bot → pending human → human → hand-back offered → bot, with timeouts for
//! the route confirmation, assignment and the hand-back offer, retries of failed transfers, and
//! callback / ticket when everything fails. Nobody-owned is not a state.
//!
//! # Routing
//!
//! An escalation to a live human emits [`Directive::Route`] with a [`Handover`]: a
//! [`TaskSpec`](crate::TaskSpec) for [`Router::arrive`](crate::Router::arrive) — requirements
//! from the topic's route in the policy, priority class and base rising with tier, hard trigger,
//! score and order value, `created_at` at the escalation so the router ages the wait, the previous
//! human preferred — and a [`HandoverPacket`] for the agent. See `docs/ESCALATION.md` for
//! configuration and tuning, with a worked example.
//!
//! # Example
//! ```
//! use switchboard::{Catalog, Time};
//! use switchboard::escalation::*;
//!
//! let mut catalog = Catalog::new();
//! let acme = catalog.tenant("acme");
//! let cfg: PolicyConfig = serde_json::from_str(r#"{ "version": "v7", "hard": { "clarify_once": true } }"#)?;
//! let policy = EscalationPolicy::compile(cfg, &mut catalog)?;
//! let mut engine = EscalationEngine::with_defaults(policy)?;
//! let c = ConversationId(9);
//! engine.open(Time::ZERO, c, acme)?;
//!
//! // The first request gets one clarifying offer, the second escalates.
//! let d = engine.observe(Time::from_secs(1), c, Signal::Turn(Turn::customer("人工")))?;
//! assert_eq!(d.action, Action::Clarify);
//! let d = engine.observe(Time::from_secs(9), c, Signal::Turn(Turn::customer("转人工！")))?;
//! assert_eq!(d.action, Action::Escalate { layer: Layer::Hard, route: Route::Human });
//! assert_eq!(d.policy_version, "v7");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod conversation;
mod engine;
pub mod guardrail;
pub mod handoff;
pub mod ownership;
pub mod policy;
pub mod replay;
pub mod signal;

pub use conversation::{
    Action, CapacityNeed, CapacityReason, Context, Contribution, Conversation, Decision, Directive,
    Feature, Layer, Load, Notice, Route, Rule, Thresholds,
};
pub use engine::{CapacitySignal, EscalationEngine, EscalationState, LoadSource, Metrics};
pub use handoff::{Goal, Handover, HandoverPacket, StretchSummary, TurnRecord};
pub use ownership::Owner;
pub use policy::{
    ClassifierConfig, EscalationPolicy, Fallback, HandBackConfig, HardTriggers, Hysteresis,
    LoadGate, Logistic, PendingConfig, PolicyConfig, RoutingConfig, ScoreConfig, TopicRoute,
    Weights,
};
pub use signal::{
    BuiltinClassifier, Classifier, ConversationId, Evidence, Signal, Speaker, Topic,
    TransferFailure, Turn, TurnView,
};

use crate::Time;
use thiserror::Error;

/// Everything that can go wrong in the escalation engine. A call that returns an error changed
/// nothing.
///
/// # Example
/// ```
/// use switchboard::escalation::{ConversationId, EscalationError};
/// let e = EscalationError::UnknownConversation(ConversationId(3));
/// assert_eq!(e.to_string(), "unknown conversation conv#3");
/// ```
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum EscalationError {
    /// A policy field is invalid; `path` names it (e.g. `hysteresis.k_turns`).
    #[error("invalid escalation policy: {path}: {problem}")]
    InvalidConfig {
        /// Path of the field.
        path: String,
        /// What is wrong.
        problem: String,
    },
    /// Evidence carried a NaN, infinite or out-of-range number.
    #[error("invalid number for {field}: {value}")]
    InvalidNumber {
        /// Which field.
        field: &'static str,
        /// The value.
        value: f64,
    },
    /// A call carried a time earlier than one already seen.
    #[error("time went backwards: last seen {last}, got {now}")]
    TimeWentBackwards {
        /// The latest time seen.
        last: Time,
        /// The time passed in.
        now: Time,
    },
    /// An ownership signal that does not fit the current owner.
    #[error("signal {signal} is not valid while the owner is {owner}")]
    InvalidTransition {
        /// The current owner.
        owner: &'static str,
        /// The signal.
        signal: &'static str,
    },
    /// A classifier answer for a request that is not open.
    #[error("no open classifier request {0}")]
    UnknownRequest(u64),
    /// No open conversation with this id.
    #[error("unknown conversation {0}")]
    UnknownConversation(ConversationId),
    /// A conversation with this id is already open.
    #[error("conversation {0} is already open")]
    DuplicateConversation(ConversationId),
}

/// `docs/ESCALATION.md`, compiled as a doctest so its worked example stays true.
#[cfg(doctest)]
#[doc = include_str!("../../docs/ESCALATION.md")]
pub struct EscalationGuide;
