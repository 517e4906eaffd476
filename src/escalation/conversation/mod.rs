//! The per-conversation state machine and its decisions.

use super::handoff::{Goal, Handover, HandoverPacket, StretchSummary, TurnRecord};
use super::policy::Fallback;
use super::signal::{signature, similarity};
use super::{
    Classifier, ConversationId, EscalationError, EscalationPolicy, Evidence, Owner, Signal,
    Speaker, Topic, TransferFailure, Turn, TurnView,
};
use crate::guardrail::{GuardAction, Guardrail, Hit, normalize};
use crate::{AgentId, CustomerProfile, Preferences, Priority, TaskId, TaskSpec, TenantId, Time};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

mod decision;

pub use decision::*;

const TRAJECTORY: usize = 32;
const HITS_KEPT: usize = 32;
const OPEN_REQUESTS: usize = 64;

/// One conversation's state machine: evidence, score, hysteresis and ownership.
///
/// Drive it with [`Conversation::observe`]; every call returns a [`Decision`]. It reads no clock:
/// call it with [`Signal::Tick`] at [`Conversation::poll_timeout`] for its timers. A call that
/// returns an error changed nothing.
///
/// # Example
/// ```
/// use switchboard::{Catalog, Time};
/// use switchboard::escalation::*;
/// let mut catalog = Catalog::new();
/// let tenant = catalog.tenant("acme");
/// let policy = EscalationPolicy::compile(PolicyConfig::default(), &mut catalog).unwrap();
/// let mut conv = Conversation::new(ConversationId(7), tenant, Time::ZERO);
/// let ctx = Context { policy: &policy, load: &Load::quiet(), classifier: &(), guardrail: None };
/// // Two turns of strong frustration: the score stays above the up threshold for k = 2 turns.
/// let angry = || Signal::Turn(Turn::new(Speaker::Customer)
///     .with(Evidence::Sentiment { value: -1.0, confidence: 1.0 })
///     .with(Evidence::Topic { topic: Topic::Complaint, confidence: 1.0 }));
/// let d1 = conv.observe(&ctx, Time::from_secs(1), angry()).unwrap();
/// assert_eq!(d1.action, Action::Continue);
/// let d2 = conv.observe(&ctx, Time::from_secs(2), angry()).unwrap();
/// assert_eq!(d2.action, Action::Escalate { layer: Layer::Soft, route: Route::Human });
/// // The host queues it, a human joins, and later releases it.
/// let Some(Directive::Route(handover)) = d2.effects.first() else { panic!() };
/// conv.observe(&ctx, Time::from_secs(3), Signal::Queued { task: handover.task.id }).unwrap();
/// let d = conv.observe(&ctx, Time::from_secs(9), Signal::Assigned { agent: switchboard::AgentId(4) }).unwrap();
/// assert_eq!(d.action, Action::Connected);
/// let d = conv.observe(&ctx, Time::from_secs(99), Signal::HumanReleased).unwrap();
/// assert_eq!(d.action, Action::HandBack);
/// assert_eq!(conv.owner(), &Owner::Bot);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    id: ConversationId,
    tenant: TenantId,
    started: Time,
    last: Time,
    owner: Owner,
    /// Customer turns in the conversation.
    turn: u32,
    /// Customer turns in the current bot or human stretch.
    stretch_turns: u32,
    // evidence
    sentiment_level: f64,
    sentiment_trend: f64,
    sentiment_seen: bool,
    fallbacks: u32,
    repetition: f64,
    no_input: f64,
    intent_confidence: Option<f64>,
    tier: u8,
    order_value: f64,
    topic_risk: f64,
    last_topic: Option<Topic>,
    topics: Vec<Topic>,
    stretch_topics: Vec<Topic>,
    // hysteresis
    above: u32,
    above_base: u32,
    below: u32,
    handoffs: u32,
    soft_handoffs: u32,
    hand_backs: u32,
    cooldown_turn: u32,
    cooldown_until: Time,
    clarified: bool,
    explicit_requests: u32,
    scheduled: Option<Route>,
    previous_agent: Option<AgentId>,
    escalated_at: Option<Time>,
    layer: Layer,
    reasons: Vec<Rule>,
    route_seq: u64,
    // history
    last_turns: VecDeque<TurnRecord>,
    stretch_log: VecDeque<TurnRecord>,
    signatures: VecDeque<Vec<u32>>,
    trajectory: VecDeque<(u32, f64)>,
    hits: VecDeque<Hit>,
    next_request: u64,
    open_requests: VecDeque<u64>,
    /// Turns at which an escalation was decided (for metrics).
    escalation_turns: Vec<u32>,
    /// Priority of the pending transfer's task, as last sent.
    #[serde(default)]
    pending_priority: Option<Priority>,
    /// Kinds of hard trigger that already raised the pending transfer's priority (bits).
    #[serde(default)]
    pending_boosts: u8,
}

fn finite_in(field: &'static str, v: f64, lo: f64, hi: f64) -> Result<(), EscalationError> {
    if v.is_finite() && v >= lo && v <= hi {
        Ok(())
    } else {
        Err(EscalationError::InvalidNumber { field, value: v })
    }
}

fn validate_evidence(e: &Evidence) -> Result<(), EscalationError> {
    match e {
        Evidence::Sentiment { value, confidence } => {
            finite_in("sentiment.value", *value, -1.0, 1.0)?;
            finite_in("sentiment.confidence", *confidence, 0.0, 1.0)
        }
        Evidence::IntentConfidence { value } => {
            finite_in("intent_confidence.value", *value, 0.0, 1.0)
        }
        Evidence::ExplicitRequest { confidence } => {
            finite_in("explicit_request.confidence", *confidence, 0.0, 1.0)
        }
        Evidence::Repetition { similarity } => {
            finite_in("repetition.similarity", *similarity, 0.0, 1.0)
        }
        Evidence::Topic { confidence, .. } => finite_in("topic.confidence", *confidence, 0.0, 1.0),
        Evidence::Customer { order_value, .. } => {
            finite_in("customer.order_value", *order_value, 0.0, f64::MAX)
        }
        Evidence::Dispute { order_value } => {
            finite_in("dispute.order_value", *order_value, 0.0, f64::MAX)
        }
        Evidence::Fallback | Evidence::BotError | Evidence::NoInput => Ok(()),
    }
}

fn push_bounded<T>(q: &mut VecDeque<T>, v: T, cap: usize) {
    if cap == 0 {
        return;
    }
    while q.len() >= cap {
        q.pop_front();
    }
    q.push_back(v);
}

/// One bit per kind of hard trigger among `rules`.
fn hard_kinds(rules: &[Rule]) -> u8 {
    rules.iter().fold(0u8, |m, r| {
        m | match r {
            Rule::ExplicitRequest => 1,
            Rule::HardTopic { .. } => 2,
            Rule::BotError => 4,
            Rule::FallbackLoop { .. } => 8,
            Rule::Dispute { .. } => 16,
            Rule::Guardrail { .. } if r.is_hard() => 32,
            _ => 0,
        }
    })
}

fn clamp01(v: f64) -> f64 {
    if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) }
}

impl Conversation {
    /// A new conversation, owned by the bot.
    #[must_use]
    pub fn new(id: ConversationId, tenant: TenantId, now: Time) -> Self {
        Conversation {
            id,
            tenant,
            started: now,
            last: now,
            owner: Owner::Bot,
            turn: 0,
            stretch_turns: 0,
            sentiment_level: 0.0,
            sentiment_trend: 0.0,
            sentiment_seen: false,
            fallbacks: 0,
            repetition: 0.0,
            no_input: 0.0,
            intent_confidence: None,
            tier: 0,
            order_value: 0.0,
            topic_risk: 0.0,
            last_topic: None,
            topics: Vec::new(),
            stretch_topics: Vec::new(),
            above: 0,
            above_base: 0,
            below: 0,
            handoffs: 0,
            soft_handoffs: 0,
            hand_backs: 0,
            cooldown_turn: 0,
            cooldown_until: Time::ZERO,
            clarified: false,
            explicit_requests: 0,
            scheduled: None,
            previous_agent: None,
            escalated_at: None,
            layer: Layer::Soft,
            reasons: Vec::new(),
            route_seq: 0,
            last_turns: VecDeque::new(),
            stretch_log: VecDeque::new(),
            signatures: VecDeque::new(),
            trajectory: VecDeque::new(),
            hits: VecDeque::new(),
            next_request: 0,
            open_requests: VecDeque::new(),
            escalation_turns: Vec::new(),
            pending_priority: None,
            pending_boosts: 0,
        }
    }

    /// The conversation id.
    #[must_use]
    pub fn id(&self) -> ConversationId {
        self.id
    }
    /// The tenant.
    #[must_use]
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }
    /// When it started.
    #[must_use]
    pub fn started(&self) -> Time {
        self.started
    }
    /// The owner.
    #[must_use]
    pub fn owner(&self) -> &Owner {
        &self.owner
    }
    /// Customer turns so far.
    #[must_use]
    pub fn turns(&self) -> u32 {
        self.turn
    }
    /// Escalations so far (hard and soft, live or callback / ticket).
    #[must_use]
    pub fn handoffs(&self) -> u32 {
        self.handoffs
    }
    /// Hand-backs to the bot so far.
    #[must_use]
    pub fn hand_backs(&self) -> u32 {
        self.hand_backs
    }
    /// Explicit requests for a human so far.
    #[must_use]
    pub fn explicit_requests(&self) -> u32 {
        self.explicit_requests
    }
    /// Customer turns at which an escalation was decided.
    #[must_use]
    pub fn escalation_turns(&self) -> &[u32] {
        &self.escalation_turns
    }
    /// The smoothed sentiment level in `[-1, 1]`.
    #[must_use]
    pub fn sentiment(&self) -> f64 {
        self.sentiment_level
    }
    /// The current score under `policy` (what the next decision would start from).
    #[must_use]
    pub fn score(&self, policy: &EscalationPolicy) -> f64 {
        self.contributions(policy).1
    }

    /// When the host should call [`observe`](Conversation::observe) with [`Signal::Tick`].
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Time> {
        self.owner.deadline()
    }

    /// Feeds one signal at `now` and decides.
    ///
    /// # Errors
    /// * [`EscalationError::TimeWentBackwards`] when `now` is before the last call;
    /// * [`EscalationError::InvalidNumber`] for NaN, infinite or out-of-range evidence;
    /// * [`EscalationError::InvalidTransition`] for an ownership signal that does not fit the
    ///   current owner (e.g. `Assigned` while the bot owns the conversation);
    /// * [`EscalationError::UnknownRequest`] for a classifier answer nobody asked for.
    ///
    /// The conversation is unchanged after an error.
    ///
    /// # Complexity
    /// `O(evidence + text)`: constant work per piece of evidence, one normalisation and automaton
    /// pass over the text, and a comparison with the last `repetition_window` customer turns.
    pub fn observe<L: super::LoadSource, K: Classifier>(
        &mut self,
        ctx: &Context<'_, L, K>,
        now: Time,
        signal: Signal,
    ) -> Result<Decision, EscalationError> {
        if now < self.last {
            return Err(EscalationError::TimeWentBackwards {
                last: self.last,
                now,
            });
        }
        self.check(&signal)?;
        let policy = ctx.policy;
        let mut fired = Vec::new();
        let mut effects = Vec::new();
        let mut evidence = Vec::new();
        let mut advancing = false;
        let mut control = None;
        match signal {
            Signal::Turn(turn) => {
                advancing = turn.speaker == Speaker::Customer;
                evidence = self.take_turn(ctx, now, turn, &mut fired, &mut effects);
            }
            Signal::Evidence(e) => evidence.push(e),
            Signal::Classified {
                request,
                evidence: ev,
            } => {
                self.open_requests.retain(|&r| r != request);
                evidence = ev;
            }
            other => control = Some(other),
        }
        self.last = now;
        for e in &evidence {
            self.apply(policy, e);
        }
        self.hard_triggers(policy, &evidence, &mut fired);
        let hard = fired.iter().any(Rule::is_hard);
        // ----- score and thresholds
        let (contributions, score) = self.contributions(policy);
        let load = ctx.load.load(self.tenant, self.last_topic);
        let pressure = load.pressure(policy.cfg.routing.sla_ms);
        let gate = &policy.cfg.load;
        let shift = (gate.slope * (pressure - 1.0)).clamp(-gate.max_relax, gate.max_raise);
        let shift = if shift.is_finite() {
            shift
        } else {
            gate.max_raise
        };
        let y = &policy.cfg.hysteresis;
        let thresholds = Thresholds {
            up: y.up_threshold + shift,
            jump: y.jump_threshold + shift,
            down: policy.cfg.hand_back.down_threshold,
            load_shift: shift,
        };
        let mut action = Action::Continue;
        match self.owner.clone() {
            Owner::Bot => {
                if advancing {
                    self.above = if score >= thresholds.up {
                        self.above.saturating_add(1)
                    } else {
                        0
                    };
                    self.above_base = if score >= y.up_threshold {
                        self.above_base.saturating_add(1)
                    } else {
                        0
                    };
                }
                let mut soft = false;
                if !hard {
                    let jump = score >= thresholds.jump;
                    let eff = jump || (advancing && self.above >= y.k_turns);
                    let base =
                        score >= y.jump_threshold || (advancing && self.above_base >= y.k_turns);
                    if eff || base {
                        if self.stretch_turns < self.cooldown_turn || now < self.cooldown_until {
                            fired.push(Rule::Cooldown);
                        } else if self.soft_handoffs >= y.max_handoffs {
                            fired.push(Rule::MaxHandoffs);
                        } else if eff {
                            fired.push(if jump {
                                Rule::ScoreJump
                            } else {
                                Rule::ScoreSustained { turns: self.above }
                            });
                            soft = true;
                        } else {
                            fired.push(Rule::LoadGated);
                            action = Action::HoldBack;
                            effects.push(Directive::NeedCapacity(
                                self.need(CapacityReason::HeldBack, pressure),
                            ));
                        }
                    }
                }
                let only_explicit = fired
                    .iter()
                    .filter(|r| r.is_hard())
                    .all(|r| matches!(r, Rule::ExplicitRequest));
                if hard && only_explicit && policy.cfg.hard.clarify_once && !self.clarified {
                    self.clarified = true;
                    fired.push(Rule::ClarifyOffered);
                    action = Action::Clarify;
                    effects.push(Directive::Notify(Notice::Clarify));
                } else if hard || soft {
                    let layer = if hard { Layer::Hard } else { Layer::Soft };
                    let env = Env {
                        now,
                        score,
                        load,
                        pressure,
                    };
                    action = self.escalate(ctx, &env, layer, &mut fired, &mut effects);
                }
            }
            Owner::PendingHuman { task, .. } => {
                if hard {
                    fired.push(Rule::AlreadyPending);
                    let env = Env {
                        now,
                        score,
                        load,
                        pressure,
                    };
                    self.raise_pending(ctx, &env, task, &mut fired, &mut effects);
                    effects.push(Directive::Notify(Notice::HumanPending {
                        estimate_ms: load.projected_wait_ms,
                    }));
                }
            }
            Owner::Human { agent, .. } => {
                if advancing && policy.cfg.hand_back.by_rule {
                    let routine = self
                        .last_topic
                        .is_none_or(|t| policy.cfg.hand_back.routine_topics.contains(&t));
                    self.below = if score < thresholds.down && routine && !hard {
                        self.below.saturating_add(1)
                    } else {
                        0
                    };
                    if self.below >= policy.cfg.hand_back.m_turns {
                        fired.push(Rule::HandBackRule { turns: self.below });
                        self.owner = Owner::HandBackOffered {
                            agent,
                            since: self.human_since(now),
                            deadline: now.plus_millis(policy.cfg.hand_back.offer_timeout_ms),
                        };
                        action = Action::OfferHandBack;
                        effects.push(Directive::OfferHandBack { agent });
                    }
                }
            }
            Owner::HandBackOffered { agent, since, .. } => {
                if hard || (advancing && score >= thresholds.up) {
                    fired.push(Rule::HandBackInterrupted);
                    self.owner = Owner::Human { agent, since };
                    self.below = 0;
                    action = Action::KeepHuman;
                }
            }
        }
        if let Some(signal) = control {
            let env = Env {
                now,
                score,
                load,
                pressure,
            };
            action = self.control(ctx, &env, signal, &mut fired, &mut effects);
        }
        if action == Action::Continue && effects.iter().any(|e| matches!(e, Directive::BlockReply))
        {
            action = Action::BlockReply;
        }
        Ok(Decision {
            conversation: self.id,
            at: now,
            turn: self.turn,
            action,
            owner: self.owner.clone(),
            fired,
            contributions,
            score,
            thresholds,
            load,
            pressure,
            policy_version: policy.cfg.version.clone(),
            effects,
        })
    }

    /// Validates a signal against the current state without changing anything.
    fn check(&self, signal: &Signal) -> Result<(), EscalationError> {
        let bad = || EscalationError::InvalidTransition {
            owner: self.owner.name(),
            signal: signal.name(),
        };
        match signal {
            Signal::Turn(t) => t.evidence.iter().try_for_each(validate_evidence),
            Signal::Evidence(e) => validate_evidence(e),
            Signal::Classified { request, evidence } => {
                if !self.open_requests.contains(request) {
                    return Err(EscalationError::UnknownRequest(*request));
                }
                evidence.iter().try_for_each(validate_evidence)
            }
            Signal::Tick => Ok(()),
            Signal::Queued { task } => match &self.owner {
                Owner::PendingHuman { task: t, .. } if t == task => Ok(()),
                _ => Err(bad()),
            },
            Signal::Assigned { .. } | Signal::HumanReleased => {
                if self.owner.is_human_side()
                    && !(matches!(signal, Signal::HumanReleased)
                        && matches!(self.owner, Owner::PendingHuman { .. }))
                {
                    Ok(())
                } else {
                    Err(bad())
                }
            }
            Signal::TransferFailed { .. } | Signal::CustomerCancelled => match self.owner {
                Owner::PendingHuman { .. } => Ok(()),
                _ => Err(bad()),
            },
            Signal::HandBackAccepted | Signal::HandBackDeclined => match self.owner {
                Owner::HandBackOffered { .. } => Ok(()),
                _ => Err(bad()),
            },
        }
    }

    /// Runs the classifier, repetition detection and the guardrail over a turn; records it.
    fn take_turn<L: super::LoadSource, K: Classifier>(
        &mut self,
        ctx: &Context<'_, L, K>,
        now: Time,
        turn: Turn,
        fired: &mut Vec<Rule>,
        effects: &mut Vec<Directive>,
    ) -> Vec<Evidence> {
        let policy = ctx.policy;
        let customer = turn.speaker == Speaker::Customer;
        let mut evidence = turn.evidence;
        if customer {
            self.turn = self.turn.saturating_add(1);
            self.stretch_turns = self.stretch_turns.saturating_add(1);
            let d = policy.cfg.score.decay;
            self.repetition *= d;
            self.no_input *= d;
        }
        if turn.speaker == Speaker::Bot && !evidence.iter().any(|e| matches!(e, Evidence::Fallback))
        {
            self.fallbacks = 0;
        }
        let mut stored = None;
        if let Some(text) = &turn.text {
            let norm = normalize(text);
            ctx.classifier.classify(
                TurnView {
                    speaker: turn.speaker,
                    text,
                    normalized: norm.text(),
                },
                &mut evidence,
            );
            if customer && policy.cfg.classifiers.repetition {
                let sig = signature(text);
                let best = self
                    .signatures
                    .iter()
                    .map(|s| similarity(s, &sig))
                    .fold(0.0, f64::max);
                if best >= policy.cfg.classifiers.repetition_similarity {
                    evidence.push(Evidence::Repetition { similarity: best });
                }
                push_bounded(
                    &mut self.signatures,
                    sig,
                    policy.cfg.classifiers.repetition_window,
                );
            }
            if let Some(g) = ctx.guardrail {
                let scan = g.scan(self.tenant, turn.speaker, text);
                for h in &scan.hits {
                    push_bounded(&mut self.hits, h.clone(), HITS_KEPT);
                    if h.action >= GuardAction::Flag {
                        let r = Rule::Guardrail {
                            rule: h.rule.clone(),
                            action: h.action,
                        };
                        if !fired.contains(&r) {
                            fired.push(r);
                        }
                    }
                }
                if turn.speaker != Speaker::Customer
                    && scan.hits.iter().any(|h| h.action == GuardAction::Block)
                {
                    effects.push(Directive::BlockReply);
                }
                if let Some(m) = scan.masked {
                    stored = Some(m.clone());
                    effects.push(Directive::MaskText { masked: m });
                }
            }
            if customer {
                for name in &policy.cfg.classifiers.external {
                    let request = self.next_request;
                    self.next_request = self.next_request.wrapping_add(1);
                    push_bounded(&mut self.open_requests, request, OPEN_REQUESTS);
                    effects.push(Directive::Classify {
                        request,
                        classifier: name.clone(),
                        text: text.clone(),
                    });
                }
            }
        }
        let blocked = effects.iter().any(|e| matches!(e, Directive::BlockReply));
        let rec = TurnRecord {
            at: now,
            speaker: turn.speaker,
            text: if blocked { None } else { stored.or(turn.text) },
        };
        let keep = policy.cfg.routing.last_turns;
        if self.owner.is_human_side() {
            push_bounded(&mut self.stretch_log, rec.clone(), keep);
        }
        push_bounded(&mut self.last_turns, rec, keep);
        evidence
    }

    /// Folds one piece of evidence into the state.
    fn apply(&mut self, policy: &EscalationPolicy, e: &Evidence) {
        let s = &policy.cfg.score;
        match *e {
            Evidence::Sentiment { value, confidence } => {
                let old = self.sentiment_level;
                let a = s.sentiment_alpha * confidence;
                self.sentiment_level = (old + a * (value - old)).clamp(-1.0, 1.0);
                self.sentiment_trend +=
                    s.sentiment_alpha * ((self.sentiment_level - old) - self.sentiment_trend);
                self.sentiment_seen = true;
                push_bounded(
                    &mut self.trajectory,
                    (self.turn, self.sentiment_level),
                    TRAJECTORY,
                );
            }
            Evidence::IntentConfidence { value } => self.intent_confidence = Some(value),
            Evidence::Fallback => self.fallbacks = self.fallbacks.saturating_add(1),
            Evidence::ExplicitRequest { confidence } => {
                if confidence >= policy.cfg.hard.explicit_min_confidence {
                    self.explicit_requests = self.explicit_requests.saturating_add(1);
                }
            }
            Evidence::Repetition { similarity } => self.repetition += similarity,
            Evidence::Topic { topic, confidence } => {
                self.last_topic = Some(topic);
                let risk = s.topic_risk.get(&topic).copied().unwrap_or(0.0) * confidence;
                self.topic_risk = self.topic_risk.max(risk);
                if !self.topics.contains(&topic) {
                    self.topics.push(topic);
                }
                if !self.stretch_topics.contains(&topic) {
                    self.stretch_topics.push(topic);
                }
            }
            Evidence::Customer { tier, order_value } => {
                self.tier = tier;
                self.order_value = order_value;
            }
            Evidence::Dispute { order_value } => {
                self.order_value = self.order_value.max(order_value);
            }
            Evidence::NoInput => self.no_input += 1.0,
            Evidence::BotError => {}
        }
    }

    /// Hard triggers fired by this input's evidence.
    fn hard_triggers(
        &self,
        policy: &EscalationPolicy,
        evidence: &[Evidence],
        fired: &mut Vec<Rule>,
    ) {
        let h = &policy.cfg.hard;
        let mut push = |r: Rule| {
            if !fired.contains(&r) {
                fired.push(r);
            }
        };
        for e in evidence {
            match *e {
                Evidence::ExplicitRequest { confidence }
                    if h.explicit_request && confidence >= h.explicit_min_confidence =>
                {
                    push(Rule::ExplicitRequest);
                }
                Evidence::Topic { topic, confidence }
                    if h.topics.contains(&topic) && confidence >= h.topic_min_confidence =>
                {
                    push(Rule::HardTopic { topic });
                }
                Evidence::BotError if h.bot_error => push(Rule::BotError),
                Evidence::Dispute { order_value } => {
                    let v = self.order_value.max(order_value);
                    if self.tier >= h.dispute_min_tier || v >= h.dispute_min_order_value {
                        push(Rule::Dispute {
                            tier: self.tier,
                            order_value: v,
                        });
                    }
                }
                Evidence::Fallback => {
                    if let Some(m) = h.max_consecutive_fallbacks
                        && self.fallbacks >= m
                    {
                        push(Rule::FallbackLoop {
                            count: self.fallbacks,
                        });
                    }
                }
                _ => {}
            }
        }
    }

    /// Each feature's contribution and the score.
    fn contributions(&self, policy: &EscalationPolicy) -> ([Contribution; 9], f64) {
        let s = &policy.cfg.score;
        let w = &s.weights;
        let ratio = |a: f64, b: f64| clamp01(a / b);
        let features = [
            (
                Feature::SentimentLevel,
                w.sentiment_level,
                clamp01(-self.sentiment_level),
            ),
            (
                Feature::SentimentTrend,
                w.sentiment_trend,
                ratio(-self.sentiment_trend, s.trend_saturation),
            ),
            (
                Feature::Fallbacks,
                w.fallbacks,
                ratio(f64::from(self.fallbacks), f64::from(s.fallback_saturation)),
            ),
            (
                Feature::Repetition,
                w.repetition,
                ratio(self.repetition, s.repetition_saturation),
            ),
            (
                Feature::LowIntentConfidence,
                w.low_intent_confidence,
                self.intent_confidence.map_or(0.0, |c| clamp01(1.0 - c)),
            ),
            (
                Feature::Length,
                w.length,
                ratio(
                    f64::from(self.stretch_turns),
                    f64::from(s.length_saturation),
                ),
            ),
            (
                Feature::Tier,
                w.tier,
                ratio(f64::from(self.tier), f64::from(s.tier_saturation)),
            ),
            (Feature::NoInput, w.no_input, ratio(self.no_input, 3.0)),
            (Feature::Topic, w.topic, clamp01(self.topic_risk)),
        ];
        let mut sum = 0.0;
        let out = features.map(|(feature, weight, value)| {
            let contribution = weight * value;
            sum += contribution;
            Contribution {
                feature,
                value,
                weight,
                contribution,
            }
        });
        let score = match &s.logistic {
            Some(l) => 1.0 / (1.0 + (-(l.bias + l.scale * sum)).exp()),
            None => sum,
        };
        (out, score)
    }

    fn need(&self, reason: CapacityReason, pressure: f64) -> CapacityNeed {
        CapacityNeed {
            conversation: self.id,
            tenant: self.tenant,
            topic: self.last_topic,
            reason,
            pressure,
        }
    }

    fn human_since(&self, now: Time) -> Time {
        match self.owner {
            Owner::Human { since, .. } | Owner::HandBackOffered { since, .. } => since,
            _ => now,
        }
    }

    /// Builds the router task and hand-over packet.
    fn handover<L, K: Classifier>(
        &mut self,
        ctx: &Context<'_, L, K>,
        env: &Env,
        layer: Layer,
    ) -> Handover {
        let r = &ctx.policy.cfg.routing;
        self.route_seq = self.route_seq.wrapping_add(1);
        let id = TaskId(self.id.0.wrapping_shl(8) | (self.route_seq & 0xff));
        let topic = self
            .reasons
            .iter()
            .find_map(|r| match r {
                Rule::HardTopic { topic } => Some(*topic),
                _ => None,
            })
            .or(self.last_topic);
        let class = u8::from(self.tier >= r.class_tier) + u8::from(layer == Layer::Hard);
        let base = r.priority_per_tier * f64::from(self.tier)
            + r.priority_per_score * env.score.max(0.0)
            + r.priority_per_log_order_value * self.order_value.max(0.0).ln_1p();
        let base = if base.is_finite() { base } else { 0.0 };
        let mut priority = Priority { class, base };
        // A retried transfer keeps a priority that hard triggers raised meanwhile.
        if let Some(p) = self.pending_priority
            && (p.class, p.base) > (priority.class, priority.base)
        {
            priority = p;
        }
        let mut prefs = Preferences::default();
        if r.prefer_previous_agent
            && let Some(a) = self.previous_agent
        {
            prefs = prefs.agent(a);
        }
        let task = TaskSpec {
            id,
            tenant: self.tenant,
            channel: r.channel,
            requirements: ctx.policy.requirements(topic),
            preferences: prefs,
            customer: CustomerProfile {
                value_tier: self.tier,
                sentiment: self.sentiment_level.clamp(-1.0, 1.0),
            },
            priority,
            sla_ms: Some(r.sla_ms),
            max_wait_ms: None,
            created_at: Some(self.escalated_at.unwrap_or(env.now).min(env.now)),
            strategy: None,
            fanout: None,
        };
        let last_turns: Vec<TurnRecord> = self.last_turns.iter().cloned().collect();
        let packet = HandoverPacket {
            summary: ctx.classifier.summarize(&last_turns),
            reasons: self.reasons.clone(),
            last_turns,
            topics: self.topics.clone(),
            sentiment: self.trajectory.iter().copied().collect(),
            guardrail_hits: self.hits.iter().cloned().collect(),
            score: env.score,
            tier: self.tier,
            order_value: self.order_value,
            previous_agent: self.previous_agent,
            wait_estimate_ms: env.load.projected_wait_ms,
        };
        Handover {
            task,
            goal: if topic == Some(Topic::PreSale) {
                Goal::Convert
            } else {
                Goal::Resolve
            },
            packet,
        }
    }

    fn escalate<L, K: Classifier>(
        &mut self,
        ctx: &Context<'_, L, K>,
        env: &Env,
        layer: Layer,
        fired: &mut Vec<Rule>,
        effects: &mut Vec<Directive>,
    ) -> Action {
        let p = &ctx.policy.cfg;
        let route = if !env.load.staffed {
            fired.push(Rule::NoHumanStaffed);
            Route::from(p.pending.fallback)
        } else if !env.load.in_hours {
            fired.push(Rule::OutsideHours);
            Route::from(p.pending.fallback)
        } else {
            Route::Human
        };
        if route != Route::Human && self.scheduled.is_some() {
            fired.push(Rule::AlreadyScheduled);
            effects.push(Directive::Notify(match route {
                Route::Ticket => Notice::TicketOpened,
                _ => Notice::CallbackScheduled,
            }));
            return Action::Continue;
        }
        self.handoffs = self.handoffs.saturating_add(1);
        if layer == Layer::Soft {
            self.soft_handoffs = self.soft_handoffs.saturating_add(1);
        }
        self.escalation_turns.push(self.turn);
        self.above = 0;
        self.above_base = 0;
        self.escalated_at = Some(env.now);
        self.layer = layer;
        self.reasons = fired
            .iter()
            .filter(|r| r.is_hard() || matches!(r, Rule::ScoreJump | Rule::ScoreSustained { .. }))
            .cloned()
            .collect();
        self.pending_priority = None;
        self.pending_boosts = 0;
        let h = self.handover(ctx, env, layer);
        match route {
            Route::Human => {
                self.scheduled = None;
                self.pending_priority = Some(h.task.priority);
                // The triggers that escalated do not raise the transfer again.
                self.pending_boosts = hard_kinds(fired);
                self.owner = Owner::PendingHuman {
                    since: env.now,
                    task: h.task.id,
                    queued: false,
                    attempt: 1,
                    ack_deadline: env.now.plus_millis(p.pending.ack_timeout_ms),
                    assign_deadline: env.now.plus_millis(p.pending.assign_timeout_ms),
                };
                effects.push(Directive::Route(Box::new(h)));
                effects.push(Directive::Notify(Notice::HumanPending {
                    estimate_ms: env.load.projected_wait_ms,
                }));
                if env.pressure > 1.0 {
                    effects.push(Directive::NeedCapacity(
                        self.need(CapacityReason::Overloaded, env.pressure),
                    ));
                }
            }
            Route::Callback | Route::Ticket => {
                self.scheduled = Some(route);
                self.offline(route, h, effects);
                let reason = if env.load.staffed {
                    CapacityReason::OutsideHours
                } else {
                    CapacityReason::NoHumanStaffed
                };
                effects.push(Directive::NeedCapacity(self.need(reason, env.pressure)));
            }
        }
        Action::Escalate { layer, route }
    }

    /// A hard trigger while pending a human: raise the queued task to the hard-trigger class and
    /// add `pending_hard_boost` base points (on top of what the current tier, score and order
    /// value would give), once per kind of trigger that did not already escalate or raise this
    /// transfer, so repeating the same request does not keep jumping the queue.
    fn raise_pending<L, K: Classifier>(
        &mut self,
        ctx: &Context<'_, L, K>,
        env: &Env,
        task: TaskId,
        fired: &mut Vec<Rule>,
        effects: &mut Vec<Directive>,
    ) {
        let kinds = hard_kinds(fired);
        let new_kinds = kinds & !self.pending_boosts;
        let Some(old) = self.pending_priority else {
            return;
        };
        if new_kinds == 0 {
            return;
        }
        // What a hard escalation would get now, from the current evidence.
        let r = &ctx.policy.cfg.routing;
        let class = u8::from(self.tier >= r.class_tier) + 1;
        let base = r.priority_per_tier * f64::from(self.tier)
            + r.priority_per_score * env.score.max(0.0)
            + r.priority_per_log_order_value * self.order_value.max(0.0).ln_1p();
        let base = if base.is_finite() { base } else { 0.0 };
        let raised = Priority {
            class: class.max(old.class),
            base: base.max(old.base) + r.pending_hard_boost,
        };
        self.pending_boosts |= kinds;
        if (raised.class, raised.base) <= (old.class, old.base) {
            // `pending_hard_boost` is 0 and nothing else rose.
            return;
        }
        self.pending_priority = Some(raised);
        self.layer = Layer::Hard;
        for r in fired.iter().filter(|r| r.is_hard()) {
            if !self.reasons.contains(r) {
                self.reasons.push(r.clone());
            }
        }
        fired.push(Rule::PriorityRaised {
            class: raised.class,
            base: raised.base,
        });
        effects.push(Directive::Reprioritize {
            task,
            priority: raised,
            customer: CustomerProfile {
                value_tier: self.tier,
                sentiment: self.sentiment_level.clamp(-1.0, 1.0),
            },
        });
    }

    fn offline(&mut self, route: Route, h: Handover, effects: &mut Vec<Directive>) {
        if route == Route::Ticket {
            effects.push(Directive::Ticket(Box::new(h)));
            effects.push(Directive::Notify(Notice::TicketOpened));
        } else {
            effects.push(Directive::Callback(Box::new(h)));
            effects.push(Directive::Notify(Notice::CallbackScheduled));
        }
    }

    /// The pending transfer gives up: callback or ticket, back to the bot.
    fn degrade<L, K: Classifier>(
        &mut self,
        ctx: &Context<'_, L, K>,
        env: &Env,
        effects: &mut Vec<Directive>,
    ) -> Action {
        let route = Route::from(ctx.policy.cfg.pending.fallback);
        let h = self.handover(ctx, env, self.layer);
        self.owner = Owner::Bot;
        self.scheduled = Some(route);
        self.offline(route, h, effects);
        effects.push(Directive::NeedCapacity(
            self.need(CapacityReason::Overloaded, env.pressure),
        ));
        Action::Degrade { route }
    }

    fn start_human(&mut self, agent: AgentId, now: Time) {
        self.owner = Owner::Human { agent, since: now };
        self.previous_agent = Some(agent);
        self.reset_stretch();
        self.stretch_log.clear();
    }

    fn reset_stretch(&mut self) {
        self.stretch_turns = 0;
        self.fallbacks = 0;
        self.repetition = 0.0;
        self.no_input = 0.0;
        self.intent_confidence = None;
        self.topic_risk = 0.0;
        self.stretch_topics.clear();
        self.above = 0;
        self.above_base = 0;
        self.below = 0;
    }

    fn hand_back<L, K: Classifier>(
        &mut self,
        ctx: &Context<'_, L, K>,
        now: Time,
        effects: &mut Vec<Directive>,
    ) -> Action {
        let agent = self
            .owner
            .agent()
            .or(self.previous_agent)
            .unwrap_or(AgentId(0));
        let log: Vec<TurnRecord> = self.stretch_log.iter().cloned().collect();
        let summary = StretchSummary {
            agent,
            from: self.human_since(now),
            to: now,
            customer_turns: self.stretch_turns,
            summary: ctx.classifier.summarize(&log),
            last_turns: log,
            topics: self.stretch_topics.clone(),
        };
        self.owner = Owner::Bot;
        self.hand_backs = self.hand_backs.saturating_add(1);
        self.reset_stretch();
        self.stretch_log.clear();
        self.scheduled = None;
        self.cooldown_turn = ctx.policy.cfg.hysteresis.cooldown_turns;
        self.cooldown_until = now.plus_millis(ctx.policy.cfg.hysteresis.cooldown_ms);
        effects.push(Directive::HandBack(Box::new(summary)));
        effects.push(Directive::Notify(Notice::BackToBot));
        Action::HandBack
    }

    /// Ownership signals and timers (already validated by `check`).
    fn control<L, K: Classifier>(
        &mut self,
        ctx: &Context<'_, L, K>,
        env: &Env,
        signal: Signal,
        fired: &mut Vec<Rule>,
        effects: &mut Vec<Directive>,
    ) -> Action {
        let now = env.now;
        let p = &ctx.policy.cfg;
        match (self.owner.clone(), signal) {
            (Owner::PendingHuman { .. }, Signal::Queued { .. }) => {
                if let Owner::PendingHuman { queued, .. } = &mut self.owner {
                    *queued = true;
                }
                fired.push(Rule::Queued);
                Action::Continue
            }
            (_, Signal::Assigned { agent }) => {
                fired.push(Rule::Assigned);
                self.start_human(agent, now);
                Action::Connected
            }
            (Owner::PendingHuman { task, .. }, Signal::CustomerCancelled) => {
                fired.push(Rule::CustomerCancelled);
                self.owner = Owner::Bot;
                effects.push(Directive::CancelRoute { task });
                Action::Cancelled
            }
            (Owner::PendingHuman { attempt, task, .. }, Signal::TransferFailed { reason }) => {
                fired.push(Rule::TransferFailed { reason, attempt });
                self.retry_or_degrade(ctx, env, attempt, task, false, effects)
            }
            (
                Owner::PendingHuman {
                    queued,
                    ack_deadline,
                    assign_deadline,
                    attempt,
                    task,
                    ..
                },
                Signal::Tick,
            ) => {
                if now >= assign_deadline {
                    fired.push(Rule::AssignTimeout);
                    effects.push(Directive::CancelRoute { task });
                    self.degrade(ctx, env, effects)
                } else if !queued && now >= ack_deadline {
                    fired.push(Rule::AckTimeout);
                    self.retry_or_degrade(ctx, env, attempt, task, true, effects)
                } else {
                    Action::Continue
                }
            }
            (Owner::Human { .. } | Owner::HandBackOffered { .. }, Signal::HumanReleased) => {
                fired.push(Rule::HumanReleased);
                self.hand_back(ctx, now, effects)
            }
            (Owner::HandBackOffered { .. }, Signal::HandBackAccepted) => {
                fired.push(Rule::HandBackAccepted);
                self.hand_back(ctx, now, effects)
            }
            (Owner::HandBackOffered { agent, since, .. }, Signal::HandBackDeclined) => {
                fired.push(Rule::HandBackDeclined);
                self.owner = Owner::Human { agent, since };
                self.below = 0;
                Action::KeepHuman
            }
            (Owner::HandBackOffered { deadline, .. }, Signal::Tick) if now >= deadline => {
                fired.push(Rule::HandBackTimeout);
                self.hand_back(ctx, now, effects)
            }
            _ => {
                let _ = p;
                Action::Continue
            }
        }
    }

    fn retry_or_degrade<L, K: Classifier>(
        &mut self,
        ctx: &Context<'_, L, K>,
        env: &Env,
        attempt: u32,
        task: TaskId,
        cancel_old: bool,
        effects: &mut Vec<Directive>,
    ) -> Action {
        let p = &ctx.policy.cfg.pending;
        if cancel_old {
            effects.push(Directive::CancelRoute { task });
        }
        if attempt < p.max_transfer_attempts {
            let h = self.handover(ctx, env, self.layer);
            if let Owner::PendingHuman {
                task,
                queued,
                attempt: a,
                ack_deadline,
                ..
            } = &mut self.owner
            {
                *task = h.task.id;
                *queued = false;
                self.pending_priority = Some(h.task.priority);
                *a = attempt.saturating_add(1);
                *ack_deadline = env.now.plus_millis(p.ack_timeout_ms);
            }
            effects.push(Directive::Route(Box::new(h)));
            Action::Retry
        } else {
            self.degrade(ctx, env, effects)
        }
    }
}

/// Values shared by the steps of one decision.
struct Env {
    now: Time,
    score: f64,
    load: Load,
    pressure: f64,
}
