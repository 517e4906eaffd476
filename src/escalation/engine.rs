//! Many conversations, one policy: the engine, its host traits and its metrics.

use super::{
    Action, BuiltinClassifier, CapacityNeed, Classifier, Context, Conversation, ConversationId,
    Decision, Directive, EscalationError, EscalationPolicy, Layer, Load, Signal, Topic,
};
use crate::guardrail::Guardrail;
use crate::{TenantId, Time};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The host reports how loaded the human side is (projected wait, SLA, staffing, hours).
///
/// # Example
/// ```
/// use switchboard::TenantId;
/// use switchboard::escalation::{Load, LoadSource, Topic};
/// struct Peak;
/// impl LoadSource for Peak {
///     fn load(&self, _t: TenantId, _topic: Option<Topic>) -> Load {
///         Load { projected_wait_ms: 900_000, sla_ms: 60_000, staffed: true, in_hours: true }
///     }
/// }
/// assert_eq!(Peak.load(TenantId(0), None).pressure(60_000), 15.0);
/// // A plain `Load` is a fixed source.
/// assert_eq!(Load::quiet().load(TenantId(0), None), Load::quiet());
/// ```
pub trait LoadSource {
    /// The load for a conversation of `tenant` about `topic`.
    fn load(&self, tenant: TenantId, topic: Option<Topic>) -> Load;
}

impl LoadSource for Load {
    fn load(&self, _tenant: TenantId, _topic: Option<Topic>) -> Load {
        *self
    }
}

impl<T: LoadSource> LoadSource for &T {
    fn load(&self, tenant: TenantId, topic: Option<Topic>) -> Load {
        (**self).load(tenant, topic)
    }
}

/// The engine tells the host that more human capacity is needed (the elastic pool): when no
/// human is staffed, outside hours, when an escalation joins an overloaded queue, and when a soft
/// escalation is held back by load.
///
/// # Example
/// ```
/// use switchboard::escalation::{CapacityNeed, CapacitySignal};
/// let mut needs: Vec<CapacityNeed> = Vec::new();   // a Vec collects them
/// let _ = &mut needs as &mut dyn CapacitySignal;
/// ```
pub trait CapacitySignal {
    /// Called once per need, in decision order.
    fn capacity_needed(&mut self, need: &CapacityNeed);
}

/// Ignores every need.
impl CapacitySignal for () {
    fn capacity_needed(&mut self, _need: &CapacityNeed) {}
}

/// Collects every need.
impl CapacitySignal for Vec<CapacityNeed> {
    fn capacity_needed(&mut self, need: &CapacityNeed) {
        self.push(need.clone());
    }
}

/// Counters over the engine's life.
///
/// *Containment* counts closed conversations that never went to a human **and** whose customer
/// never asked for one: a customer who asked and was refused is not contained, they are
/// [`refused`](Metrics::refused).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Conversations closed.
    pub closed: u64,
    /// Closed without any escalation and without an explicit request.
    pub contained: u64,
    /// Closed with an explicit request but no escalation.
    pub refused: u64,
    /// Closed conversations that escalated at least once.
    pub escalated_conversations: u64,
    /// Escalations by hard trigger.
    pub hard_escalations: u64,
    /// Escalations by score.
    pub soft_escalations: u64,
    /// Escalations that went to a callback or ticket.
    pub offline_escalations: u64,
    /// Soft escalations held back by load.
    pub held_back: u64,
    /// Clarifying offers.
    pub clarifications: u64,
    /// Pending transfers retried.
    pub retries: u64,
    /// Pending transfers degraded to callback / ticket.
    pub degraded: u64,
    /// Pending transfers cancelled by the customer.
    pub cancelled: u64,
    /// Hand-backs to the bot.
    pub hand_backs: u64,
    /// Escalations after a hand-back in the same conversation (hand-backs that reopened).
    pub reopened: u64,
    /// Outgoing replies blocked by the guardrail.
    pub blocked_replies: u64,
    /// Pending transfers whose queued task a hard trigger moved up
    /// ([`Directive::Reprioritize`]).
    #[serde(default)]
    pub raised: u64,
}

impl Metrics {
    /// Contained ÷ closed (`None` before any close).
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn containment(&self) -> Option<f64> {
        (self.closed > 0).then(|| self.contained as f64 / self.closed as f64)
    }
    /// Escalated conversations ÷ closed (`None` before any close).
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn handoff_rate(&self) -> Option<f64> {
        (self.closed > 0).then(|| self.escalated_conversations as f64 / self.closed as f64)
    }
    /// Reopened ÷ hand-backs (`None` before any hand-back).
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn reopen_rate(&self) -> Option<f64> {
        (self.hand_backs > 0).then(|| self.reopened as f64 / self.hand_backs as f64)
    }
}

/// What [`EscalationEngine::export_state`] returns: the open conversations, by id, and the
/// metrics so far.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EscalationState {
    /// Open conversations, sorted by id.
    pub conversations: Vec<Conversation>,
    /// The metrics so far.
    pub metrics: Metrics,
}

/// Many conversations under one policy, with the host's load source, capacity signal and
/// classifier (all static dispatch), and an optional guardrail.
///
/// # Example
/// ```
/// use switchboard::{Time, Router, RouterConfig};
/// use switchboard::escalation::*;
///
/// // Share the router's catalog, so tenant and skill ids agree.
/// let mut router = Router::new(RouterConfig::default())?;
/// let acme = router.catalog_mut().tenant("acme");
/// let policy = EscalationPolicy::compile(PolicyConfig::default(), router.catalog_mut())?;
/// let mut engine = EscalationEngine::new(policy, Load::quiet(), Vec::new(), BuiltinClassifier::new()?);
/// engine.open(Time::ZERO, ConversationId(1), acme)?;
/// let d = engine.observe(Time::from_secs(3), ConversationId(1), Signal::Turn(Turn::customer("I want a real person")))?;
/// assert_eq!(d.action, Action::Escalate { layer: Layer::Hard, route: Route::Human });
/// let Some(Directive::Route(handover)) = d.effects.first() else { panic!() };
/// // The task goes to the router unchanged.
/// router.arrive(Time::from_secs(3), handover.task.clone())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct EscalationEngine<L = Load, C = (), K = BuiltinClassifier> {
    policy: EscalationPolicy,
    guardrail: Option<Guardrail>,
    load: L,
    capacity: C,
    classifier: K,
    /// Boxed: a conversation is ~550 bytes, and B-tree inserts and removals shift values
    /// within a node.
    conversations: BTreeMap<ConversationId, Box<Conversation>>,
    timers: BTreeSet<(Time, ConversationId)>,
    metrics: Metrics,
}

impl<L: LoadSource, C: CapacitySignal, K: Classifier> EscalationEngine<L, C, K> {
    /// An engine with no conversations.
    pub fn new(policy: EscalationPolicy, load: L, capacity: C, classifier: K) -> Self {
        EscalationEngine {
            policy,
            guardrail: None,
            load,
            capacity,
            classifier,
            conversations: BTreeMap::new(),
            timers: BTreeSet::new(),
            metrics: Metrics::default(),
        }
    }

    /// Scans every turn with `guardrail`.
    #[must_use]
    pub fn with_guardrail(mut self, guardrail: Guardrail) -> Self {
        self.guardrail = Some(guardrail);
        self
    }

    /// The policy.
    pub fn policy(&self) -> &EscalationPolicy {
        &self.policy
    }
    /// The load source.
    pub fn load_source(&self) -> &L {
        &self.load
    }
    /// The load source, to update it.
    pub fn load_source_mut(&mut self) -> &mut L {
        &mut self.load
    }
    /// The capacity signal.
    pub fn capacity(&self) -> &C {
        &self.capacity
    }
    /// The capacity signal, to drain it.
    pub fn capacity_mut(&mut self) -> &mut C {
        &mut self.capacity
    }
    /// The metrics so far.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }
    /// A conversation.
    pub fn conversation(&self, id: ConversationId) -> Option<&Conversation> {
        self.conversations.get(&id).map(|c| &**c)
    }
    /// Every open conversation, by id.
    pub fn conversations(&self) -> impl Iterator<Item = &Conversation> {
        self.conversations.values().map(|c| &**c)
    }

    /// Opens a conversation (owned by the bot).
    ///
    /// # Errors
    /// [`EscalationError::DuplicateConversation`] if it is already open.
    pub fn open(
        &mut self,
        now: Time,
        id: ConversationId,
        tenant: TenantId,
    ) -> Result<(), EscalationError> {
        if self.conversations.contains_key(&id) {
            return Err(EscalationError::DuplicateConversation(id));
        }
        self.conversations
            .insert(id, Box::new(Conversation::new(id, tenant, now)));
        Ok(())
    }

    /// Feeds a signal to a conversation; see [`Conversation::observe`].
    ///
    /// # Errors
    /// [`EscalationError::UnknownConversation`], or whatever [`Conversation::observe`] returns;
    /// nothing changes on error.
    pub fn observe(
        &mut self,
        now: Time,
        id: ConversationId,
        signal: Signal,
    ) -> Result<Decision, EscalationError> {
        let conv = self
            .conversations
            .get_mut(&id)
            .ok_or(EscalationError::UnknownConversation(id))?;
        let before = conv.poll_timeout();
        let hand_backs = conv.hand_backs();
        let ctx = Context {
            policy: &self.policy,
            load: &self.load,
            classifier: &self.classifier,
            guardrail: self.guardrail.as_ref(),
        };
        let d = conv.observe(&ctx, now, signal)?;
        let after = conv.poll_timeout();
        if before != after {
            if let Some(t) = before {
                self.timers.remove(&(t, id));
            }
            if let Some(t) = after {
                self.timers.insert((t, id));
            }
        }
        let m = &mut self.metrics;
        match d.action {
            Action::Escalate { layer, route } => {
                match layer {
                    Layer::Hard => m.hard_escalations += 1,
                    Layer::Soft => m.soft_escalations += 1,
                }
                if route != super::Route::Human {
                    m.offline_escalations += 1;
                }
                if hand_backs > 0 {
                    m.reopened += 1;
                }
            }
            Action::HoldBack => m.held_back += 1,
            Action::Clarify => m.clarifications += 1,
            Action::Retry => m.retries += 1,
            Action::Degrade { .. } => m.degraded += 1,
            Action::Cancelled => m.cancelled += 1,
            Action::HandBack => m.hand_backs += 1,
            _ => {}
        }
        for e in &d.effects {
            match e {
                Directive::NeedCapacity(need) => self.capacity.capacity_needed(need),
                Directive::BlockReply => self.metrics.blocked_replies += 1,
                Directive::Reprioritize { .. } => self.metrics.raised += 1,
                _ => {}
            }
        }
        Ok(d)
    }

    /// When the next timer is due: call [`handle_timeout`](Self::handle_timeout) then.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Time> {
        self.timers.first().map(|&(t, _)| t)
    }

    /// Fires every timer due at `now` ([`Signal::Tick`] to each conversation concerned), in
    /// deadline then id order.
    ///
    /// # Complexity
    /// `O(k log n)` for `k` due timers among `n` conversations.
    pub fn handle_timeout(&mut self, now: Time) -> Vec<Decision> {
        let mut out = Vec::new();
        while let Some(&(t, id)) = self.timers.first() {
            if t > now {
                break;
            }
            self.timers.remove(&(t, id));
            // Ticks never fail validation, but a conversation whose clock is ahead of `now`
            // (the host went backwards) is skipped rather than fired early.
            match self.observe(now, id, Signal::Tick) {
                Ok(d) => out.push(d),
                Err(_) => {
                    if let Some(next) = self.conversations.get(&id).and_then(|c| c.poll_timeout())
                        && next > now
                    {
                        self.timers.insert((next, id));
                    }
                }
            }
        }
        out
    }

    /// Everything the engine tracks — open conversations (owner, hysteresis, cooldowns, timers,
    /// pending hand-over) and metrics — for durability. The policy, load source, capacity signal
    /// and classifier are configuration, not state: they are not included.
    #[must_use]
    pub fn export_state(&self) -> EscalationState {
        EscalationState {
            conversations: self.conversations.values().map(|c| (**c).clone()).collect(),
            metrics: self.metrics.clone(),
        }
    }

    /// Replaces the engine's conversations and metrics with `state` (from
    /// [`export_state`](Self::export_state)) and rebuilds the timers from the conversations.
    ///
    /// # Example
    /// ```
    /// use switchboard::{Catalog, Time};
    /// use switchboard::escalation::*;
    /// let mut catalog = Catalog::new();
    /// let tenant = catalog.tenant("acme");
    /// let policy = || EscalationPolicy::compile(PolicyConfig::default(), &mut Catalog::new()).unwrap();
    /// let mut a = EscalationEngine::with_defaults(policy()).unwrap();
    /// a.open(Time::ZERO, ConversationId(1), tenant).unwrap();
    /// a.observe(Time::from_secs(1), ConversationId(1), Signal::Turn(Turn::customer("转人工"))).unwrap();
    /// let mut b = EscalationEngine::with_defaults(policy()).unwrap();
    /// b.restore(a.export_state());
    /// assert_eq!(b.export_state(), a.export_state());
    /// assert_eq!(b.poll_timeout(), a.poll_timeout());
    /// ```
    pub fn restore(&mut self, state: EscalationState) {
        self.conversations.clear();
        self.timers.clear();
        for c in state.conversations {
            if let Some(t) = c.poll_timeout() {
                self.timers.insert((t, c.id()));
            }
            self.conversations.insert(c.id(), Box::new(c));
        }
        self.metrics = state.metrics;
    }

    /// Closes a conversation and counts it in the metrics.
    ///
    /// # Errors
    /// [`EscalationError::UnknownConversation`].
    pub fn close(&mut self, id: ConversationId) -> Result<Conversation, EscalationError> {
        let conv = self
            .conversations
            .remove(&id)
            .map(|c| *c)
            .ok_or(EscalationError::UnknownConversation(id))?;
        if let Some(t) = conv.poll_timeout() {
            self.timers.remove(&(t, id));
        }
        let m = &mut self.metrics;
        m.closed += 1;
        if conv.handoffs() > 0 {
            m.escalated_conversations += 1;
        } else if conv.explicit_requests() > 0 {
            m.refused += 1;
        } else {
            m.contained += 1;
        }
        Ok(conv)
    }
}

impl EscalationEngine<Load, (), BuiltinClassifier> {
    /// An engine with a fixed quiet load, no capacity signal and the built-in classifier.
    ///
    /// # Errors
    /// Only if the built-in phrase automaton cannot be built.
    pub fn with_defaults(
        policy: EscalationPolicy,
    ) -> Result<Self, crate::guardrail::GuardrailError> {
        Ok(Self::new(
            policy,
            Load::quiet(),
            (),
            BuiltinClassifier::new()?,
        ))
    }
}
