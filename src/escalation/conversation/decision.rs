//! What a conversation decides and why: the [`Load`] it reads, the [`Rule`]s, [`Action`]s,
//! [`Directive`]s and [`Notice`]s of a [`Decision`], its score [`Contribution`]s, and the
//! [`Context`] a call runs in.

use super::*;

/// What the human side looks like right now, as the host's [`LoadSource`](crate::escalation::LoadSource)
/// reports it.
///
/// # Example
/// ```
/// use switchboard::escalation::Load;
/// let peak = Load { projected_wait_ms: 600_000, sla_ms: 60_000, staffed: true, in_hours: true };
/// assert_eq!(peak.pressure(60_000), 10.0);
/// assert_eq!(Load::quiet().pressure(60_000), 0.0);
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Load {
    /// Projected wait for a human now (ms).
    pub projected_wait_ms: u64,
    /// The SLA the wait is measured against (ms); 0 uses the policy's `routing.sla_ms`.
    pub sla_ms: u64,
    /// Whether any human who could take the conversation is staffed.
    pub staffed: bool,
    /// Whether it is inside service hours.
    pub in_hours: bool,
}

impl Default for Load {
    fn default() -> Self {
        Load::quiet()
    }
}

impl Load {
    /// Humans staffed, in hours, no wait.
    #[must_use]
    pub const fn quiet() -> Self {
        Load {
            projected_wait_ms: 0,
            sla_ms: 0,
            staffed: true,
            in_hours: true,
        }
    }
    /// Projected wait ÷ SLA (`default_sla_ms` when the load names none).
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn pressure(&self, default_sla_ms: u64) -> f64 {
        let sla = if self.sla_ms == 0 {
            default_sla_ms
        } else {
            self.sla_ms
        };
        self.projected_wait_ms as f64 / sla.max(1) as f64
    }
}

/// Why the host should call in more humans.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapacityReason {
    /// A conversation needed a human and none is staffed.
    NoHumanStaffed,
    /// … outside service hours.
    OutsideHours,
    /// A soft escalation was held back because the projected wait is over the SLA.
    HeldBack,
    /// An escalation went to a queue whose projected wait is over the SLA.
    Overloaded,
}

/// A request for more human capacity (the elastic pool).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CapacityNeed {
    /// The conversation.
    pub conversation: ConversationId,
    /// Its tenant.
    pub tenant: TenantId,
    /// The topic, which names the skill needed (see the policy's routes).
    pub topic: Option<Topic>,
    /// Why.
    pub reason: CapacityReason,
    /// Projected wait ÷ SLA seen.
    pub pressure: f64,
}

/// A rule that fired, recorded in [`Decision::fired`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Rule {
    /// Hard: the customer asked for a human.
    ExplicitRequest,
    /// The first explicit request got one clarifying offer.
    ClarifyOffered,
    /// Hard: a legal / safety / compliance topic.
    HardTopic {
        /// The topic.
        topic: Topic,
    },
    /// Hard: the bot failed.
    BotError,
    /// Hard: too many consecutive fallbacks.
    FallbackLoop {
        /// How many.
        count: u32,
    },
    /// Hard: a dispute by a top-tier customer or over a high order value.
    Dispute {
        /// Customer tier.
        tier: u8,
        /// Order value.
        order_value: f64,
    },
    /// Hard: a guardrail rule with the `escalate` action.
    Guardrail {
        /// The rule.
        rule: String,
        /// Its action.
        action: GuardAction,
    },
    /// Soft: the score jumped over the jump threshold.
    ScoreJump,
    /// Soft: the score stayed over the up threshold for k turns.
    ScoreSustained {
        /// Turns above.
        turns: u32,
    },
    /// Soft escalation held back by load (would have escalated at the unshifted thresholds).
    LoadGated,
    /// Soft escalation suppressed by the cooldown after a hand-back.
    Cooldown,
    /// Soft escalation suppressed: the conversation reached its maximum of soft hand-offs.
    MaxHandoffs,
    /// No human staffed: degraded to callback or ticket.
    NoHumanStaffed,
    /// Outside service hours: degraded to callback or ticket.
    OutsideHours,
    /// A callback or ticket is already scheduled.
    AlreadyScheduled,
    /// A transfer is already pending.
    AlreadyPending,
    /// The host confirmed the task was queued.
    Queued,
    /// The transfer failed.
    TransferFailed {
        /// Why.
        reason: TransferFailure,
        /// Attempt that failed.
        attempt: u32,
    },
    /// The host did not confirm the route request in time.
    AckTimeout,
    /// No human was assigned in time.
    AssignTimeout,
    /// The customer cancelled the transfer.
    CustomerCancelled,
    /// A human was assigned.
    Assigned,
    /// The human released the conversation.
    HumanReleased,
    /// Hand-back by rule: routine intent, score low for m turns.
    HandBackRule {
        /// Turns below the down threshold.
        turns: u32,
    },
    /// A hard trigger fired while the conversation was already pending a human: the queued
    /// task's priority was raised to this (see [`Directive::Reprioritize`]).
    PriorityRaised {
        /// The new priority class.
        class: u8,
        /// The new base priority.
        base: f64,
    },
    /// The human accepted the hand-back.
    HandBackAccepted,
    /// The human declined the hand-back.
    HandBackDeclined,
    /// The human did not answer the hand-back offer in time.
    HandBackTimeout,
    /// The customer needs the human after all (hard trigger or score over the up threshold
    /// during a hand-back offer).
    HandBackInterrupted,
}

impl Rule {
    /// Snake-case name (the serde tag).
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Rule::ExplicitRequest => "explicit_request",
            Rule::ClarifyOffered => "clarify_offered",
            Rule::HardTopic { .. } => "hard_topic",
            Rule::BotError => "bot_error",
            Rule::FallbackLoop { .. } => "fallback_loop",
            Rule::Dispute { .. } => "dispute",
            Rule::Guardrail { .. } => "guardrail",
            Rule::ScoreJump => "score_jump",
            Rule::ScoreSustained { .. } => "score_sustained",
            Rule::LoadGated => "load_gated",
            Rule::Cooldown => "cooldown",
            Rule::MaxHandoffs => "max_handoffs",
            Rule::NoHumanStaffed => "no_human_staffed",
            Rule::OutsideHours => "outside_hours",
            Rule::AlreadyScheduled => "already_scheduled",
            Rule::AlreadyPending => "already_pending",
            Rule::Queued => "queued",
            Rule::TransferFailed { .. } => "transfer_failed",
            Rule::AckTimeout => "ack_timeout",
            Rule::AssignTimeout => "assign_timeout",
            Rule::CustomerCancelled => "customer_cancelled",
            Rule::Assigned => "assigned",
            Rule::HumanReleased => "human_released",
            Rule::HandBackRule { .. } => "hand_back_rule",
            Rule::PriorityRaised { .. } => "priority_raised",
            Rule::HandBackAccepted => "hand_back_accepted",
            Rule::HandBackDeclined => "hand_back_declined",
            Rule::HandBackTimeout => "hand_back_timeout",
            Rule::HandBackInterrupted => "hand_back_interrupted",
        }
    }

    pub(super) fn is_hard(&self) -> bool {
        matches!(
            self,
            Rule::ExplicitRequest
                | Rule::HardTopic { .. }
                | Rule::BotError
                | Rule::FallbackLoop { .. }
                | Rule::Dispute { .. }
                | Rule::Guardrail {
                    action: GuardAction::Escalate,
                    ..
                }
        )
    }
}

/// Hard trigger or score.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// A hard trigger: never gated by load.
    Hard,
    /// The score with hysteresis: gated by load.
    Soft,
}

/// Where an escalation went.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// To a live human through the router.
    Human,
    /// A callback (no human staffed or outside hours).
    Callback,
    /// A ticket (no human staffed or outside hours).
    Ticket,
}

impl From<Fallback> for Route {
    fn from(f: Fallback) -> Self {
        match f {
            Fallback::Callback => Route::Callback,
            Fallback::Ticket => Route::Ticket,
        }
    }
}

/// The decision's headline.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Nothing changes hands.
    Continue,
    /// The bot asks once whether the customer wants a human.
    Clarify,
    /// Escalate.
    Escalate {
        /// Hard trigger or score.
        layer: Layer,
        /// Live human, callback or ticket.
        route: Route,
    },
    /// A soft escalation that a quiet day would have made was held back by load.
    HoldBack,
    /// A failed transfer is retried.
    Retry,
    /// The pending transfer gave up (failures, timeouts): callback or ticket instead.
    Degrade {
        /// Callback or ticket.
        route: Route,
    },
    /// The customer cancelled the pending transfer; back to the bot.
    Cancelled,
    /// A human joined.
    Connected,
    /// The bot offers the human to take the conversation back.
    OfferHandBack,
    /// The conversation is back with the bot.
    HandBack,
    /// The human keeps the conversation (hand-back declined or interrupted).
    KeepHuman,
    /// The outgoing reply must not be sent.
    BlockReply,
}

impl Action {
    /// Short name for tables: `escalate_hard_human`, `continue`, ….
    #[must_use]
    pub fn label(&self) -> String {
        match self {
            Action::Continue => "continue".into(),
            Action::Clarify => "clarify".into(),
            Action::Escalate { layer, route } => format!(
                "escalate_{}_{}",
                match layer {
                    Layer::Hard => "hard",
                    Layer::Soft => "soft",
                },
                route_name(*route)
            ),
            Action::HoldBack => "hold_back".into(),
            Action::Retry => "retry".into(),
            Action::Degrade { route } => format!("degrade_{}", route_name(*route)),
            Action::Cancelled => "cancelled".into(),
            Action::Connected => "connected".into(),
            Action::OfferHandBack => "offer_hand_back".into(),
            Action::HandBack => "hand_back".into(),
            Action::KeepHuman => "keep_human".into(),
            Action::BlockReply => "block_reply".into(),
        }
    }
}

pub(super) fn route_name(r: Route) -> &'static str {
    match r {
        Route::Human => "human",
        Route::Callback => "callback",
        Route::Ticket => "ticket",
    }
}

/// What the host tells the customer.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "notice", rename_all = "snake_case")]
pub enum Notice {
    /// "Would you like a person, or can I help with …?" (once per conversation).
    Clarify,
    /// "A person will join; the expected wait is …". The bot keeps helping meanwhile.
    HumanPending {
        /// Honest wait estimate (ms).
        estimate_ms: u64,
    },
    /// "We will call you back."
    CallbackScheduled,
    /// "We opened a ticket."
    TicketOpened,
    /// "You are back with the assistant."
    BackToBot,
}

/// Something the host must do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Directive {
    /// Route to a human: `router.arrive(now, handover.task.clone())`, then report
    /// [`Signal::Queued`] (or [`Signal::TransferFailed`]).
    Route(Box<Handover>),
    /// Raise the queued router task's priority:
    /// `router.reprioritize(now, task, priority, customer)`. Emitted when a hard trigger fires
    /// while the conversation is already pending a human (the customer asks again, a legal
    /// threat, a dispute…): the task moves up to the hard-trigger class with
    /// `routing.pending_hard_boost` more base points, once per kind of trigger. If the host has
    /// not queued the task yet, it applies this right after `router.arrive`.
    Reprioritize {
        /// The task.
        task: TaskId,
        /// The new priority.
        priority: Priority,
        /// The customer profile to keep (tier, sentiment).
        customer: CustomerProfile,
    },
    /// Cancel the router task (`router.cancel`).
    CancelRoute {
        /// The task.
        task: TaskId,
    },
    /// Schedule a callback with this hand-over.
    Callback(Box<Handover>),
    /// Open a ticket with this hand-over.
    Ticket(Box<Handover>),
    /// Tell the customer.
    Notify(Notice),
    /// Run an external classifier and answer with [`Signal::Classified`].
    Classify {
        /// Request id to answer with.
        request: u64,
        /// Which classifier (from the policy's `classifiers.external`).
        classifier: String,
        /// The turn's text.
        text: String,
    },
    /// Do not send the outgoing reply.
    BlockReply,
    /// Store / forward / send this masked text instead of the original.
    MaskText {
        /// The masked text.
        masked: String,
    },
    /// Offer the human to hand the conversation back (answer with
    /// [`Signal::HandBackAccepted`] / [`Signal::HandBackDeclined`]).
    OfferHandBack {
        /// The agent.
        agent: AgentId,
    },
    /// The bot has the conversation again; here is what happened meanwhile.
    HandBack(Box<StretchSummary>),
    /// More human capacity is needed (also reported through
    /// [`CapacitySignal`](crate::escalation::CapacitySignal) by the engine).
    NeedCapacity(CapacityNeed),
}

/// A normalised feature of the score.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    /// Negative smoothed sentiment.
    SentimentLevel,
    /// Worsening sentiment.
    SentimentTrend,
    /// Consecutive fallbacks.
    Fallbacks,
    /// Repetitions (decayed).
    Repetition,
    /// Low intent confidence.
    LowIntentConfidence,
    /// Conversation length.
    Length,
    /// Customer tier.
    Tier,
    /// No-input timeouts (decayed).
    NoInput,
    /// Topic risk.
    Topic,
}

/// One feature's part in the score.
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Contribution {
    /// The feature.
    pub feature: Feature,
    /// Its normalised value in `[0, 1]`.
    pub value: f64,
    /// Its weight.
    pub weight: f64,
    /// `weight * value` (the term of the weighted sum, before any logistic).
    pub contribution: f64,
}

/// The thresholds a decision used.
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Up threshold after the load shift.
    pub up: f64,
    /// Jump threshold after the load shift.
    pub jump: f64,
    /// Hand-back threshold (not shifted).
    pub down: f64,
    /// The load shift applied to `up` and `jump`.
    pub load_shift: f64,
}

/// The outcome of one observed signal, with everything needed to audit it.
///
/// # Example
/// ```
/// use switchboard::{Catalog, Time};
/// use switchboard::escalation::*;
/// let mut catalog = Catalog::new();
/// let tenant = catalog.tenant("acme");
/// let policy = EscalationPolicy::compile(PolicyConfig::default(), &mut catalog).unwrap();
/// let classifier = BuiltinClassifier::new().unwrap();
/// let mut conv = Conversation::new(ConversationId(1), tenant, Time::ZERO);
/// let ctx = Context { policy: &policy, load: &Load::quiet(), classifier: &classifier, guardrail: None };
/// let d = conv.observe(&ctx, Time::from_secs(5), Signal::Turn(Turn::customer("转人工!"))).unwrap();
/// assert_eq!(d.action, Action::Escalate { layer: Layer::Hard, route: Route::Human });
/// assert_eq!(d.fired, vec![Rule::ExplicitRequest]);
/// assert_eq!(d.owner.name(), "pending_human");
/// let audit = serde_json::to_string(&d).unwrap();   // serialisable for audit
/// assert!(audit.contains("\"explicit_request\""));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// The conversation.
    pub conversation: ConversationId,
    /// When.
    pub at: Time,
    /// Customer turns so far.
    pub turn: u32,
    /// The headline.
    pub action: Action,
    /// The owner after the decision.
    pub owner: Owner,
    /// Rules that fired, in evaluation order.
    pub fired: Vec<Rule>,
    /// Each feature's contribution.
    pub contributions: [Contribution; 9],
    /// The score.
    pub score: f64,
    /// Thresholds used.
    pub thresholds: Thresholds,
    /// The load seen.
    pub load: Load,
    /// Projected wait ÷ SLA.
    pub pressure: f64,
    /// The policy version.
    pub policy_version: String,
    /// What the host must do, in order.
    pub effects: Vec<Directive>,
}

/// What a conversation needs from its surroundings for one decision.
#[derive(Debug)]
pub struct Context<'a, L, K> {
    /// The policy.
    pub policy: &'a EscalationPolicy,
    /// The load source.
    pub load: &'a L,
    /// The synchronous classifier.
    pub classifier: &'a K,
    /// The guardrail, if any.
    pub guardrail: Option<&'a Guardrail>,
}
