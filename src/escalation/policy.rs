//! The escalation policy as data: three layers, ownership timers, hand-back, routing.
//!
//! [`PolicyConfig`] loads from JSON or TOML (every field has a default, unknown fields are
//! refused); [`PolicyConfig::validate`] names the path of the first bad field;
//! [`EscalationPolicy::compile`] resolves skill names through a [`Catalog`].

use super::{EscalationError, Topic};
use crate::{Catalog, Channel, Requirements, SkillId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Layer (a): hard triggers, never gated by load.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HardTriggers {
    /// Escalate when the customer asks for a human.
    pub explicit_request: bool,
    /// Explicit requests below this confidence are ignored.
    pub explicit_min_confidence: f64,
    /// Answer the first explicit request with one clarifying offer ("shall I connect you, or can I
    /// help with …?"); the next request escalates. Never more than one offer per conversation.
    pub clarify_once: bool,
    /// Topics that escalate at once (legal, safety, compliance).
    pub topics: Vec<Topic>,
    /// Topic evidence below this confidence does not fire a topic trigger.
    pub topic_min_confidence: f64,
    /// Escalate on a bot error.
    pub bot_error: bool,
    /// Escalate after this many consecutive bot fallbacks (the fallback loop); `None` leaves
    /// fallbacks to the score.
    pub max_consecutive_fallbacks: Option<u32>,
    /// A dispute by a customer of this tier or above escalates.
    pub dispute_min_tier: u8,
    /// A dispute over an order of at least this value escalates.
    pub dispute_min_order_value: f64,
}

impl Default for HardTriggers {
    fn default() -> Self {
        HardTriggers {
            explicit_request: true,
            explicit_min_confidence: 0.5,
            clarify_once: false,
            topics: vec![Topic::Legal, Topic::Safety],
            topic_min_confidence: 0.6,
            bot_error: true,
            max_consecutive_fallbacks: Some(3),
            dispute_min_tier: 2,
            dispute_min_order_value: 1000.0,
        }
    }
}

/// Weights of the normalised evidence (all in `[0, 1]` before weighting; weights ≥ 0, so more
/// negative evidence never lowers the score).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Weights {
    /// Smoothed negative sentiment level (`max(0, -level)`).
    pub sentiment_level: f64,
    /// Worsening trend of the smoothed sentiment.
    pub sentiment_trend: f64,
    /// Consecutive bot fallbacks (saturating at `fallback_saturation`).
    pub fallbacks: f64,
    /// Decayed count of repetitions (saturating at `repetition_saturation`).
    pub repetition: f64,
    /// `1 - intent confidence` of the bot's last answer.
    pub low_intent_confidence: f64,
    /// Customer turns so far (saturating at `length_saturation`).
    pub length: f64,
    /// Customer value tier (saturating at `tier_saturation`).
    pub tier: f64,
    /// Decayed count of no-input timeouts (saturating at 3).
    pub no_input: f64,
    /// The topic's risk (from `topic_risk`, times the topic's confidence).
    pub topic: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            sentiment_level: 0.45,
            sentiment_trend: 0.15,
            fallbacks: 0.3,
            repetition: 0.25,
            low_intent_confidence: 0.1,
            length: 0.05,
            tier: 0.1,
            no_input: 0.05,
            topic: 0.2,
        }
    }
}

/// Logistic squashing of the weighted sum: `score = 1 / (1 + exp(-(bias + scale * sum)))`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Logistic {
    /// Bias.
    pub bias: f64,
    /// Scale (> 0).
    pub scale: f64,
}

/// Layer (b): the score over normalised evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScoreConfig {
    /// Weights.
    pub weights: Weights,
    /// `None`: the score is the weighted sum. `Some`: logistic of it.
    pub logistic: Option<Logistic>,
    /// Per customer turn, decayed counts (repetition, no-input) are multiplied by this, in `[0, 1]`.
    pub decay: f64,
    /// Smoothing factor of the sentiment level (exponential moving average), in `(0, 1]`.
    pub sentiment_alpha: f64,
    /// A trend of this size per turn (downwards) counts as 1.
    pub trend_saturation: f64,
    /// Consecutive fallbacks that count as 1 (≥ 1).
    pub fallback_saturation: u32,
    /// Decayed repetitions that count as 1 (> 0).
    pub repetition_saturation: f64,
    /// Customer turns that count as 1 (≥ 1).
    pub length_saturation: u32,
    /// Tier that counts as 1 (≥ 1).
    pub tier_saturation: u8,
    /// Risk of each topic in `[0, 1]` (missing topics: 0).
    pub topic_risk: BTreeMap<Topic, f64>,
}

impl Default for ScoreConfig {
    fn default() -> Self {
        ScoreConfig {
            weights: Weights::default(),
            logistic: None,
            decay: 0.7,
            sentiment_alpha: 0.6,
            trend_saturation: 0.5,
            fallback_saturation: 3,
            repetition_saturation: 2.0,
            length_saturation: 20,
            tier_saturation: 3,
            topic_risk: BTreeMap::from([
                (Topic::Complaint, 0.8),
                (Topic::Refund, 0.4),
                (Topic::Payment, 0.5),
                (Topic::Privacy, 0.6),
                (Topic::PreSale, 0.5),
            ]),
        }
    }
}

/// Layer (c): hysteresis, cooldown and the hand-off cap.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Hysteresis {
    /// Escalate when the score is at or above this for `k_turns` customer turns in a row.
    pub up_threshold: f64,
    /// … or at once when it reaches this (≥ `up_threshold`).
    pub jump_threshold: f64,
    /// Turns above `up_threshold` needed (≥ 1).
    pub k_turns: u32,
    /// After a hand-back, no soft escalation for this many customer turns …
    pub cooldown_turns: u32,
    /// … and this many milliseconds.
    pub cooldown_ms: u64,
    /// At most this many soft escalations per conversation (hard triggers are not capped).
    pub max_handoffs: u32,
}

impl Default for Hysteresis {
    fn default() -> Self {
        Hysteresis {
            up_threshold: 0.5,
            jump_threshold: 0.8,
            k_turns: 2,
            cooldown_turns: 3,
            cooldown_ms: 60_000,
            max_handoffs: 2,
        }
    }
}

/// How the soft thresholds follow the human queue. With `pressure = projected wait / SLA`, both
/// thresholds shift by `clamp(slope * (pressure - 1), -max_relax, max_raise)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoadGate {
    /// Threshold change per unit of pressure above (or below) 1 (≥ 0).
    pub slope: f64,
    /// Largest rise (≥ 0).
    pub max_raise: f64,
    /// Largest fall on a quiet day (≥ 0).
    pub max_relax: f64,
}

impl Default for LoadGate {
    fn default() -> Self {
        LoadGate {
            slope: 0.1,
            max_raise: 0.4,
            max_relax: 0.1,
        }
    }
}

/// Where an escalation goes when no live human can take it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fallback {
    /// A human calls the customer back.
    Callback,
    /// A ticket for asynchronous handling.
    Ticket,
}

/// The pending-human stretch: timers and failed transfers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PendingConfig {
    /// The host must confirm the route request ([`Signal::Queued`](super::Signal::Queued)) within
    /// this many ms, or the transfer counts as failed.
    pub ack_timeout_ms: u64,
    /// A human must be assigned within this many ms of the escalation, or it degrades.
    pub assign_timeout_ms: u64,
    /// Route attempts before degrading (≥ 1).
    pub max_transfer_attempts: u32,
    /// Where to go when no human is staffed, outside hours, or the timers run out.
    pub fallback: Fallback,
}

impl Default for PendingConfig {
    fn default() -> Self {
        PendingConfig {
            ack_timeout_ms: 10_000,
            assign_timeout_ms: 600_000,
            max_transfer_attempts: 2,
            fallback: Fallback::Callback,
        }
    }
}

/// When the human stretch ends and the bot takes over again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HandBackConfig {
    /// Offer a hand-back by rule (besides the human's own release).
    pub by_rule: bool,
    /// The score must stay below this …
    pub down_threshold: f64,
    /// … for this many customer turns (≥ 1) …
    pub m_turns: u32,
    /// … and the last topic must be one of these (routine work).
    pub routine_topics: Vec<Topic>,
    /// The human answers a hand-back offer within this many ms; silence hands back.
    pub offer_timeout_ms: u64,
}

impl Default for HandBackConfig {
    fn default() -> Self {
        HandBackConfig {
            by_rule: true,
            down_threshold: 0.2,
            m_turns: 3,
            routine_topics: vec![Topic::General, Topic::Shipping],
            offer_timeout_ms: 60_000,
        }
    }
}

/// Where a topic's escalations go.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicRoute {
    /// Skill name (interned in the catalog).
    pub skill: String,
    /// Minimum level.
    #[serde(default = "one_u8")]
    pub min_level: u8,
    /// Require brand certification.
    #[serde(default)]
    pub certified: bool,
}

fn one_u8() -> u8 {
    1
}

/// How an escalation becomes a router task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingConfig {
    /// Channel of the task.
    pub channel: Channel,
    /// SLA of the task (ms); also the SLA the load gate compares the projected wait with when the
    /// host reports none.
    pub sla_ms: u64,
    /// Topic → skill. Topics not listed use `default_route`.
    pub topics: BTreeMap<Topic, TopicRoute>,
    /// Skill for topics without their own route; `None` means no skill requirement.
    pub default_route: Option<TopicRoute>,
    /// Base priority points per tier.
    pub priority_per_tier: f64,
    /// Base priority points per unit of score.
    pub priority_per_score: f64,
    /// Base priority points per `ln(1 + order value)`.
    pub priority_per_log_order_value: f64,
    /// Customers of this tier or above get priority class 1; hard triggers add 1.
    pub class_tier: u8,
    /// Base priority points added to the queued task when a hard trigger fires while the
    /// conversation is already pending a human (once per kind of trigger per pending transfer;
    /// the class also rises to the hard-trigger class). See
    /// [`Directive::Reprioritize`](super::Directive::Reprioritize).
    pub pending_hard_boost: f64,
    /// Prefer the previous human agent of the conversation.
    pub prefer_previous_agent: bool,
    /// Turns kept for the hand-over packet.
    pub last_turns: usize,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            channel: Channel::Chat,
            sla_ms: 60_000,
            topics: BTreeMap::new(),
            default_route: None,
            priority_per_tier: 5.0,
            priority_per_score: 10.0,
            priority_per_log_order_value: 1.0,
            class_tier: 3,
            pending_hard_boost: 10.0,
            prefer_previous_agent: true,
            last_turns: 10,
        }
    }
}

/// Which classifiers run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClassifierConfig {
    /// Detect near-duplicate customer turns from their text.
    pub repetition: bool,
    /// Similarity (Jaccard of character bigrams) that counts as a repetition, in `(0, 1]`.
    pub repetition_similarity: f64,
    /// Earlier customer turns compared (≥ 1).
    pub repetition_window: usize,
    /// External classifiers (names): the engine emits one
    /// [`Directive::Classify`](super::Directive::Classify) per customer turn with text for each.
    pub external: Vec<String>,
}

impl Default for ClassifierConfig {
    fn default() -> Self {
        ClassifierConfig {
            repetition: true,
            repetition_similarity: 0.8,
            repetition_window: 6,
            external: Vec::new(),
        }
    }
}

/// The whole escalation policy as data.
///
/// # Example
/// ```
/// use switchboard::escalation::PolicyConfig;
/// let cfg: PolicyConfig = serde_json::from_str(r#"{
///     "version": "2025-11-peak",
///     "hysteresis": { "up_threshold": 0.6, "k_turns": 3 },
///     "routing": { "topics": { "refund": { "skill": "after_sale", "min_level": 3 } } }
/// }"#).unwrap();
/// cfg.validate().unwrap();
/// assert_eq!(cfg.hysteresis.jump_threshold, 0.8); // defaults fill the rest
///
/// let bad: PolicyConfig = serde_json::from_str(r#"{ "hysteresis": { "k_turns": 0 } }"#).unwrap();
/// assert_eq!(bad.validate().unwrap_err().to_string(),
///     "invalid escalation policy: hysteresis.k_turns: must be at least 1");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// Version string, reported in every decision.
    pub version: String,
    /// Hard triggers.
    pub hard: HardTriggers,
    /// Score.
    pub score: ScoreConfig,
    /// Hysteresis.
    pub hysteresis: Hysteresis,
    /// Load gate.
    pub load: LoadGate,
    /// Pending-human stretch.
    pub pending: PendingConfig,
    /// Hand-back.
    pub hand_back: HandBackConfig,
    /// Routing.
    pub routing: RoutingConfig,
    /// Classifiers.
    pub classifiers: ClassifierConfig,
}

fn bad<T>(path: impl Into<String>, problem: impl Into<String>) -> Result<T, EscalationError> {
    Err(EscalationError::InvalidConfig {
        path: path.into(),
        problem: problem.into(),
    })
}

fn check(path: &str, v: f64, lo: f64, hi: f64) -> Result<(), EscalationError> {
    if !v.is_finite() {
        return bad(path, format!("must be finite, got {v}"));
    }
    if v < lo || v > hi {
        return bad(path, format!("must be in [{lo}, {hi}], got {v}"));
    }
    Ok(())
}

impl PolicyConfig {
    /// Checks every field.
    ///
    /// # Errors
    /// [`EscalationError::InvalidConfig`] naming the path of the first bad field.
    pub fn validate(&self) -> Result<(), EscalationError> {
        let h = &self.hard;
        check(
            "hard.explicit_min_confidence",
            h.explicit_min_confidence,
            0.0,
            1.0,
        )?;
        check(
            "hard.topic_min_confidence",
            h.topic_min_confidence,
            0.0,
            1.0,
        )?;
        check(
            "hard.dispute_min_order_value",
            h.dispute_min_order_value,
            0.0,
            f64::MAX,
        )?;
        if h.max_consecutive_fallbacks == Some(0) {
            return bad(
                "hard.max_consecutive_fallbacks",
                "must be at least 1 (or null)",
            );
        }
        let s = &self.score;
        let w = &s.weights;
        for (name, v) in [
            ("sentiment_level", w.sentiment_level),
            ("sentiment_trend", w.sentiment_trend),
            ("fallbacks", w.fallbacks),
            ("repetition", w.repetition),
            ("low_intent_confidence", w.low_intent_confidence),
            ("length", w.length),
            ("tier", w.tier),
            ("no_input", w.no_input),
            ("topic", w.topic),
        ] {
            check(&format!("score.weights.{name}"), v, 0.0, 1e6)?;
        }
        if let Some(l) = &s.logistic {
            check("score.logistic.bias", l.bias, -1e6, 1e6)?;
            check("score.logistic.scale", l.scale, f64::MIN_POSITIVE, 1e6)?;
        }
        check("score.decay", s.decay, 0.0, 1.0)?;
        check(
            "score.sentiment_alpha",
            s.sentiment_alpha,
            f64::MIN_POSITIVE,
            1.0,
        )?;
        check(
            "score.trend_saturation",
            s.trend_saturation,
            f64::MIN_POSITIVE,
            2.0,
        )?;
        check(
            "score.repetition_saturation",
            s.repetition_saturation,
            f64::MIN_POSITIVE,
            1e6,
        )?;
        if s.fallback_saturation == 0 {
            return bad("score.fallback_saturation", "must be at least 1");
        }
        if s.length_saturation == 0 {
            return bad("score.length_saturation", "must be at least 1");
        }
        if s.tier_saturation == 0 {
            return bad("score.tier_saturation", "must be at least 1");
        }
        for (t, v) in &s.topic_risk {
            check(&format!("score.topic_risk.{}", t.name()), *v, 0.0, 1.0)?;
        }
        let y = &self.hysteresis;
        check("hysteresis.up_threshold", y.up_threshold, -1e6, 1e6)?;
        check("hysteresis.jump_threshold", y.jump_threshold, -1e6, 1e6)?;
        if y.jump_threshold < y.up_threshold {
            return bad(
                "hysteresis.jump_threshold",
                format!(
                    "must be at least up_threshold ({}), got {}",
                    y.up_threshold, y.jump_threshold
                ),
            );
        }
        if y.k_turns == 0 {
            return bad("hysteresis.k_turns", "must be at least 1");
        }
        check("load.slope", self.load.slope, 0.0, 1e6)?;
        check("load.max_raise", self.load.max_raise, 0.0, 1e6)?;
        check("load.max_relax", self.load.max_relax, 0.0, 1e6)?;
        if self.pending.max_transfer_attempts == 0 {
            return bad("pending.max_transfer_attempts", "must be at least 1");
        }
        if self.pending.ack_timeout_ms == 0 {
            return bad("pending.ack_timeout_ms", "must be at least 1");
        }
        if self.pending.assign_timeout_ms == 0 {
            return bad("pending.assign_timeout_ms", "must be at least 1");
        }
        let b = &self.hand_back;
        check("hand_back.down_threshold", b.down_threshold, -1e6, 1e6)?;
        if b.down_threshold >= y.up_threshold {
            return bad(
                "hand_back.down_threshold",
                format!(
                    "must be below hysteresis.up_threshold ({}), got {}",
                    y.up_threshold, b.down_threshold
                ),
            );
        }
        if b.m_turns == 0 {
            return bad("hand_back.m_turns", "must be at least 1");
        }
        let r = &self.routing;
        if r.sla_ms == 0 {
            return bad("routing.sla_ms", "must be at least 1");
        }
        let check_route = |path: String, t: &TopicRoute| {
            if t.skill.trim().is_empty() {
                return bad(format!("{path}.skill"), "must not be empty");
            }
            if !(1..=crate::MAX_LEVEL).contains(&t.min_level) {
                return bad(
                    format!("{path}.min_level"),
                    format!("must be in 1..={}, got {}", crate::MAX_LEVEL, t.min_level),
                );
            }
            Ok(())
        };
        for (t, route) in &r.topics {
            check_route(format!("routing.topics.{}", t.name()), route)?;
        }
        if let Some(d) = &r.default_route {
            check_route("routing.default_route".to_owned(), d)?;
        }
        for (p, v) in [
            ("routing.priority_per_tier", r.priority_per_tier),
            ("routing.priority_per_score", r.priority_per_score),
            (
                "routing.priority_per_log_order_value",
                r.priority_per_log_order_value,
            ),
            ("routing.pending_hard_boost", r.pending_hard_boost),
        ] {
            check(p, v, 0.0, 1e6)?;
        }
        let c = &self.classifiers;
        check(
            "classifiers.repetition_similarity",
            c.repetition_similarity,
            f64::MIN_POSITIVE,
            1.0,
        )?;
        if c.repetition_window == 0 {
            return bad("classifiers.repetition_window", "must be at least 1");
        }
        for (i, n) in c.external.iter().enumerate() {
            if n.trim().is_empty() {
                return bad(format!("classifiers.external[{i}]"), "must not be empty");
            }
        }
        Ok(())
    }
}

/// A validated policy with skill names resolved: what the engine runs.
///
/// # Example
/// ```
/// use switchboard::Catalog;
/// use switchboard::escalation::{EscalationPolicy, PolicyConfig, Topic};
/// let cfg: PolicyConfig = serde_json::from_str(
///     r#"{ "routing": { "topics": { "refund": { "skill": "after_sale", "min_level": 3 } } } }"#).unwrap();
/// let mut catalog = Catalog::new();
/// let policy = EscalationPolicy::compile(cfg, &mut catalog).unwrap();
/// let after_sale = catalog.find_skill("after_sale").unwrap();
/// assert_eq!(policy.requirements(Some(Topic::Refund)).skills[0].skill, after_sale);
/// assert!(policy.requirements(Some(Topic::Shipping)).skills.is_empty());
/// ```
#[derive(Clone, Debug)]
pub struct EscalationPolicy {
    pub(crate) cfg: PolicyConfig,
    routes: BTreeMap<Topic, Requirements>,
    default_route: Requirements,
}

fn resolve(t: &TopicRoute, catalog: &mut Catalog) -> Requirements {
    let skill: SkillId = catalog.skill(&t.skill);
    let mut r = Requirements::default().skill(skill, t.min_level);
    if t.certified {
        r = r.certified();
    }
    r
}

impl EscalationPolicy {
    /// Validates `cfg` and interns its skill names in `catalog`.
    ///
    /// # Errors
    /// [`EscalationError::InvalidConfig`] naming the bad field.
    pub fn compile(cfg: PolicyConfig, catalog: &mut Catalog) -> Result<Self, EscalationError> {
        cfg.validate()?;
        let routes = cfg
            .routing
            .topics
            .iter()
            .map(|(t, r)| (*t, resolve(r, catalog)))
            .collect();
        let default_route = cfg
            .routing
            .default_route
            .as_ref()
            .map(|r| resolve(r, catalog))
            .unwrap_or_default();
        Ok(EscalationPolicy {
            cfg,
            routes,
            default_route,
        })
    }

    /// The policy's configuration.
    #[must_use]
    pub fn config(&self) -> &PolicyConfig {
        &self.cfg
    }

    /// The version string.
    #[must_use]
    pub fn version(&self) -> &str {
        &self.cfg.version
    }

    /// Router requirements for an escalation about `topic`.
    #[must_use]
    pub fn requirements(&self, topic: Option<Topic>) -> Requirements {
        topic
            .and_then(|t| self.routes.get(&t))
            .unwrap_or(&self.default_route)
            .clone()
    }
}
