//! Replaying conversation history through an escalation policy, to tune it on your own data.
//!
//! The `switchboard replay` command and the `escalation_replay` example are thin wrappers around
//! [`Replay`].
//!
//! # Transcript format
//!
//! One conversation per line (JSON lines), e.g.
//!
//! ```json
//! {"id": 1, "tenant": "acme", "needs_human_at": 3,
//!  "events": [{"at_ms": 0, "signal": {"type": "turn", "speaker": "customer", "text": "where is my refund"}},
//!             {"at_ms": 4000, "signal": {"type": "turn", "speaker": "bot", "evidence": [{"kind": "fallback"}]}}]}
//! ```
//!
//! * `id`: the conversation id (unique in the file); `tenant`: a name (default `"default"`);
//! * `needs_human_at`: the label — the customer turn (1-based) at which a human was really
//!   needed, or `null` / absent when the bot should have kept the conversation;
//! * `events`: `at_ms` (time from any origin, non-decreasing) and a [`Signal`] in its JSON form.
//!
//! The replay confirms every route request ([`Signal::Queued`]) itself, like a host would, and
//! fires the engine's timers between events; other ownership events (assignment, release,
//! hand-back answers) come from the input.
//!
//! # What comes out
//!
//! A [`ReplayDecision`] per decision (the caller picks which to print, e.g. those whose action is
//! not `continue`) and a [`ReplaySummary`]: confusion counts against the labels, precision,
//! recall, and how many customer turns early (negative) or late (positive) each hand-off came,
//! plus the engine's [`Metrics`]. A conversation counts as handed off when any decision escalated
//! it (to a live human, a callback or a ticket).
//!
//! # Example
//! ```
//! use switchboard::escalation::{Load, PolicyConfig};
//! use switchboard::escalation::replay::{Replay, DEMO};
//!
//! let mut replay = Replay::new(PolicyConfig::default(), Load::quiet())?;
//! let mut escalations = 0;
//! for line in DEMO.lines() {
//!     let errors = replay.replay_line(line, |d| escalations += usize::from(d.action.starts_with("escalate")));
//!     assert!(errors.is_empty());
//! }
//! let s = replay.summary();
//! assert_eq!(s.conversations, 6);
//! assert_eq!(s.true_positive + s.false_negative, 4); // four conversations are labelled
//! assert!(escalations >= s.true_positive as usize);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::{
    Action, BuiltinClassifier, ConversationId, Decision, Directive, EscalationEngine,
    EscalationError, EscalationPolicy, Load, Metrics, PolicyConfig, Signal,
};
use crate::guardrail::{Guardrail, GuardrailConfig, GuardrailError};
use crate::{Catalog, Time};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use thiserror::Error;

/// One conversation of history (one JSON line). See the [module documentation](self).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    /// Conversation id, unique in the input.
    pub id: u64,
    /// Tenant name.
    #[serde(default = "default_tenant")]
    pub tenant: String,
    /// The label: the customer turn (1-based) at which a human was needed; `None` = never.
    #[serde(default)]
    pub needs_human_at: Option<u32>,
    /// The signals, in time order.
    pub events: Vec<TimedSignal>,
}

fn default_tenant() -> String {
    "default".into()
}

/// A signal at a time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimedSignal {
    /// Milliseconds from any origin (non-decreasing within a conversation).
    pub at_ms: u64,
    /// The signal.
    pub signal: Signal,
}

/// One decision, as the replay prints it (one JSON object per line with `--json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplayDecision {
    /// The conversation id.
    pub conversation: u64,
    /// When, ms.
    pub at_ms: u64,
    /// Customer turns so far.
    pub turn: u32,
    /// The action's label ([`Action::label`]): `continue`, `escalate_hard_human`, ….
    pub action: String,
    /// The owner after the decision.
    pub owner: String,
    /// The rules that fired, by name.
    pub fired: Vec<String>,
    /// The score (3 decimals).
    pub score: f64,
    /// The up threshold used, after the load shift (3 decimals).
    pub threshold: f64,
}

impl ReplayDecision {
    /// Whether nothing happened (`continue`).
    #[must_use]
    pub fn is_continue(&self) -> bool {
        self.action == "continue"
    }

    /// One readable line: `conv 3 @15.000s turn 3 escalate_hard_human owner=pending_human …`.
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn to_text(&self) -> String {
        format!(
            "conv {} @{:.3}s turn {} {} owner={} fired={} score={:.3} threshold={:.3}",
            self.conversation,
            self.at_ms as f64 / 1000.0,
            self.turn,
            self.action,
            self.owner,
            if self.fired.is_empty() {
                "-".to_owned()
            } else {
                self.fired.join(",")
            },
            self.score,
            self.threshold
        )
    }
}

/// The replay's totals: hand-offs against labels and the engine's metrics.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplaySummary {
    /// Conversations replayed.
    pub conversations: u64,
    /// Handed off and labelled as needing a human.
    pub true_positive: u64,
    /// Handed off, labelled as not needing one.
    pub false_positive: u64,
    /// Not handed off, labelled as needing one.
    pub false_negative: u64,
    /// Not handed off, labelled as not needing one.
    pub true_negative: u64,
    /// TP ÷ (TP + FP).
    pub precision: Option<f64>,
    /// TP ÷ (TP + FN).
    pub recall: Option<f64>,
    /// Hand-off turn minus labelled turn, for every true positive: count per offset.
    pub offset_histogram: BTreeMap<i64, u64>,
    /// True positives handed off before the labelled turn.
    pub early: u64,
    /// … at the labelled turn.
    pub on_time: u64,
    /// … after it.
    pub late: u64,
    /// Mean hand-off offset in customer turns (negative = early).
    pub mean_offset_turns: Option<f64>,
    /// Lines or events that could not be replayed.
    pub errors: u64,
    /// The engine's metrics (containment, hand-off rate, …).
    pub metrics: Option<Metrics>,
}

impl ReplaySummary {
    /// A readable block of lines.
    #[must_use]
    pub fn to_text(&self) -> String {
        let pct = |x: Option<f64>| x.map_or_else(|| "-".into(), |v| format!("{:.1}%", v * 100.0));
        let mut s = String::new();
        let _ = writeln!(
            s,
            "conversations {}: TP {} FP {} FN {} TN {}; precision {}, recall {}",
            self.conversations,
            self.true_positive,
            self.false_positive,
            self.false_negative,
            self.true_negative,
            pct(self.precision),
            pct(self.recall)
        );
        let _ = writeln!(
            s,
            "hand-offs vs label: {} early, {} on time, {} late; mean offset {} turns",
            self.early,
            self.on_time,
            self.late,
            self.mean_offset_turns
                .map_or_else(|| "-".into(), |v| format!("{v:+.2}"))
        );
        if let Some(m) = &self.metrics {
            let _ = writeln!(
                s,
                "engine: containment {}, hand-off rate {}, hard {} soft {} held back {} refused {}",
                pct(m.containment()),
                pct(m.handoff_rate()),
                m.hard_escalations,
                m.soft_escalations,
                m.held_back,
                m.refused
            );
        }
        if self.errors > 0 {
            let _ = writeln!(s, "errors: {}", self.errors);
        }
        s
    }
}

/// What went wrong with one line or event; the replay goes on with the next.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The line is not a valid [`Transcript`].
    #[error("line {line}: {message}")]
    Parse {
        /// 1-based line number.
        line: usize,
        /// The JSON error.
        message: String,
    },
    /// A conversation id seen before in the input.
    #[error("line {line}: conversation {conversation} twice")]
    DuplicateConversation {
        /// 1-based line number.
        line: usize,
        /// The id.
        conversation: u64,
    },
    /// The engine refused an event (it is skipped).
    #[error("conversation {conversation} at {at_ms} ms: {source}")]
    Event {
        /// The conversation.
        conversation: u64,
        /// The event's time.
        at_ms: u64,
        /// Why.
        source: EscalationError,
    },
    /// The policy is invalid.
    #[error(transparent)]
    Policy(#[from] EscalationError),
    /// The classifier or guardrail could not be built.
    #[error(transparent)]
    Guardrail(#[from] GuardrailError),
}

/// Replays transcripts through one policy and keeps the totals. See the
/// [module documentation](self).
#[derive(Debug)]
pub struct Replay {
    engine: EscalationEngine<Load, (), BuiltinClassifier>,
    catalog: Catalog,
    summary: ReplaySummary,
    offsets: Vec<i64>,
    line: usize,
}

impl Replay {
    /// A replay with `policy` under a fixed `load` and the built-in classifier.
    ///
    /// # Errors
    /// [`ReplayError::Policy`] for an invalid policy, [`ReplayError::Guardrail`] if the built-in
    /// classifier cannot be built.
    pub fn new(policy: PolicyConfig, load: Load) -> Result<Self, ReplayError> {
        let mut catalog = Catalog::new();
        let policy = EscalationPolicy::compile(policy, &mut catalog)?;
        Ok(Replay {
            engine: EscalationEngine::new(policy, load, (), BuiltinClassifier::new()?),
            catalog,
            summary: ReplaySummary::default(),
            offsets: Vec::new(),
            line: 0,
        })
    }

    /// Scans every turn with a guardrail too (its `escalate` rules are hard triggers).
    ///
    /// # Errors
    /// [`ReplayError::Guardrail`] for an invalid configuration.
    pub fn with_guardrail(mut self, cfg: &GuardrailConfig) -> Result<Self, ReplayError> {
        let g = Guardrail::new(cfg, &mut self.catalog)?;
        self.engine = self.engine.with_guardrail(g);
        Ok(self)
    }

    /// The engine (policy, metrics).
    #[must_use]
    pub fn engine(&self) -> &EscalationEngine<Load, (), BuiltinClassifier> {
        &self.engine
    }

    /// Replays one input line (blank lines are skipped but counted), calling `emit` with every
    /// decision. Returns what went wrong, if anything (each counted in
    /// [`ReplaySummary::errors`]).
    pub fn replay_line(
        &mut self,
        line: &str,
        emit: impl FnMut(&ReplayDecision),
    ) -> Vec<ReplayError> {
        self.line += 1;
        if line.trim().is_empty() {
            return Vec::new();
        }
        match serde_json::from_str::<Transcript>(line) {
            Ok(t) => self.replay(t, emit),
            Err(e) => {
                self.summary.errors += 1;
                vec![ReplayError::Parse {
                    line: self.line,
                    message: e.to_string(),
                }]
            }
        }
    }

    /// Replays one conversation, calling `emit` with every decision. Events the engine refuses
    /// are skipped and returned.
    pub fn replay(
        &mut self,
        t: Transcript,
        mut emit: impl FnMut(&ReplayDecision),
    ) -> Vec<ReplayError> {
        let mut errors = Vec::new();
        let id = ConversationId(t.id);
        let tenant = self.catalog.tenant(&t.tenant);
        let start = Time::from_millis(t.events.first().map_or(0, |e| e.at_ms));
        if self.engine.open(start, id, tenant).is_err() {
            self.summary.errors += 1;
            return vec![ReplayError::DuplicateConversation {
                line: self.line,
                conversation: t.id,
            }];
        }
        let mut first_handoff: Option<u32> = None;
        let mut record = |d: &Decision, at_ms: u64| {
            if matches!(d.action, Action::Escalate { .. }) && first_handoff.is_none() {
                first_handoff = Some(d.turn);
            }
            emit(&ReplayDecision {
                conversation: t.id,
                at_ms,
                turn: d.turn,
                action: d.action.label(),
                owner: d.owner.name().to_owned(),
                fired: d.fired.iter().map(|r| r.name().to_owned()).collect(),
                score: (d.score * 1000.0).round() / 1000.0,
                threshold: (d.thresholds.up * 1000.0).round() / 1000.0,
            });
        };
        for ev in t.events {
            let now = Time::from_millis(ev.at_ms);
            // Timers that ran out before this event.
            while let Some(due) = self.engine.poll_timeout() {
                if due > now {
                    break;
                }
                for d in self.engine.handle_timeout(due) {
                    record(&d, due.as_millis());
                    self.confirm_routes(&d, due, &mut errors);
                }
            }
            match self.engine.observe(now, id, ev.signal) {
                Ok(d) => {
                    record(&d, ev.at_ms);
                    self.confirm_routes(&d, now, &mut errors);
                }
                Err(source) => errors.push(ReplayError::Event {
                    conversation: t.id,
                    at_ms: ev.at_ms,
                    source,
                }),
            }
        }
        if self.engine.close(id).is_err() {
            // Opened above; cannot happen.
            self.summary.errors += 1;
        }
        let s = &mut self.summary;
        s.errors += errors.len() as u64;
        s.conversations += 1;
        match (first_handoff, t.needs_human_at) {
            (Some(got), Some(want)) => {
                s.true_positive += 1;
                let off = i64::from(got) - i64::from(want);
                *s.offset_histogram.entry(off).or_default() += 1;
                match off.cmp(&0) {
                    std::cmp::Ordering::Less => s.early += 1,
                    std::cmp::Ordering::Equal => s.on_time += 1,
                    std::cmp::Ordering::Greater => s.late += 1,
                }
                self.offsets.push(off);
            }
            (Some(_), None) => s.false_positive += 1,
            (None, Some(_)) => s.false_negative += 1,
            (None, None) => s.true_negative += 1,
        }
        errors
    }

    /// Like a host: every route request of `d` was queued.
    fn confirm_routes(&mut self, d: &Decision, now: Time, errors: &mut Vec<ReplayError>) {
        for e in &d.effects {
            if let Directive::Route(h) = e
                && let Err(source) =
                    self.engine
                        .observe(now, d.conversation, Signal::Queued { task: h.task.id })
            {
                errors.push(ReplayError::Event {
                    conversation: d.conversation.0,
                    at_ms: now.as_millis(),
                    source,
                });
            }
        }
    }

    /// The totals so far: confusion counts, precision, recall, offsets and the engine's metrics.
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn summary(&self) -> ReplaySummary {
        let mut s = self.summary.clone();
        let tp = s.true_positive as f64;
        let fp = s.false_positive as f64;
        let fneg = s.false_negative as f64;
        s.precision = (tp + fp > 0.0).then(|| tp / (tp + fp));
        s.recall = (tp + fneg > 0.0).then(|| tp / (tp + fneg));
        s.mean_offset_turns = (!self.offsets.is_empty())
            .then(|| self.offsets.iter().sum::<i64>() as f64 / self.offsets.len() as f64);
        s.metrics = Some(self.engine.metrics().clone());
        s
    }
}

/// Six built-in conversations (Chinese and English, labelled) for trying the replay.
pub const DEMO: &str = r#"{"id":1,"tenant":"acme","needs_human_at":2,"events":[{"at_ms":0,"signal":{"type":"turn","speaker":"customer","text":"我的退款怎么还没到"}},{"at_ms":2000,"signal":{"type":"turn","speaker":"bot","text":"请提供订单号","evidence":[{"kind":"intent_confidence","value":0.4}]}},{"at_ms":9000,"signal":{"type":"turn","speaker":"customer","text":"转人工"}}]}
{"id":2,"tenant":"acme","needs_human_at":null,"events":[{"at_ms":0,"signal":{"type":"turn","speaker":"customer","text":"where is my parcel"}},{"at_ms":1000,"signal":{"type":"turn","speaker":"bot","text":"It arrives tomorrow","evidence":[{"kind":"intent_confidence","value":0.95}]}},{"at_ms":5000,"signal":{"type":"turn","speaker":"customer","text":"thanks","evidence":[{"kind":"sentiment","value":0.6}]}}]}
{"id":3,"tenant":"acme","needs_human_at":2,"events":[{"at_ms":0,"signal":{"type":"turn","speaker":"customer","text":"this is the third time the dress is wrong","evidence":[{"kind":"sentiment","value":-0.8},{"kind":"topic","topic":"complaint"}]}},{"at_ms":3000,"signal":{"type":"turn","speaker":"bot","evidence":[{"kind":"fallback"}]}},{"at_ms":8000,"signal":{"type":"turn","speaker":"customer","text":"this is the third time the dress is wrong!!","evidence":[{"kind":"sentiment","value":-0.9}]}},{"at_ms":9000,"signal":{"type":"turn","speaker":"bot","evidence":[{"kind":"fallback"}]}},{"at_ms":15000,"signal":{"type":"turn","speaker":"customer","evidence":[{"kind":"sentiment","value":-0.9}]}}]}
{"id":4,"tenant":"acme","needs_human_at":null,"events":[{"at_ms":0,"signal":{"type":"turn","speaker":"customer","text":"size chart please","evidence":[{"kind":"sentiment","value":-0.5}]}},{"at_ms":1000,"signal":{"type":"turn","speaker":"bot","evidence":[{"kind":"fallback"}]}},{"at_ms":4000,"signal":{"type":"turn","speaker":"customer","evidence":[{"kind":"sentiment","value":-0.6}]}},{"at_ms":5000,"signal":{"type":"turn","speaker":"bot","evidence":[{"kind":"intent_confidence","value":0.9}]}},{"at_ms":8000,"signal":{"type":"turn","speaker":"customer","evidence":[{"kind":"sentiment","value":0.2}]}}]}
{"id":5,"tenant":"acme","needs_human_at":1,"events":[{"at_ms":0,"signal":{"type":"turn","speaker":"customer","text":"I was charged twice, my lawyer will hear about this","evidence":[{"kind":"customer","tier":3,"order_value":2400}]}}]}
{"id":6,"tenant":"acme","needs_human_at":3,"events":[{"at_ms":0,"signal":{"type":"turn","speaker":"customer","evidence":[{"kind":"sentiment","value":-0.3}]}},{"at_ms":1000,"signal":{"type":"turn","speaker":"bot","evidence":[{"kind":"intent_confidence","value":0.5}]}},{"at_ms":4000,"signal":{"type":"turn","speaker":"customer","evidence":[{"kind":"sentiment","value":-0.4}]}},{"at_ms":5000,"signal":{"type":"turn","speaker":"bot","evidence":[{"kind":"intent_confidence","value":0.5}]}},{"at_ms":9000,"signal":{"type":"turn","speaker":"customer","evidence":[{"kind":"sentiment","value":-0.6},{"kind":"topic","topic":"payment"}]}},{"at_ms":10000,"signal":{"type":"turn","speaker":"bot","evidence":[{"kind":"fallback"}]}},{"at_ms":14000,"signal":{"type":"turn","speaker":"customer","evidence":[{"kind":"sentiment","value":-0.8}]}},{"at_ms":18000,"signal":{"type":"turn","speaker":"customer","evidence":[{"kind":"sentiment","value":-0.9}]}}]}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_lines_are_counted_and_replay_goes_on() {
        let mut r = Replay::new(PolicyConfig::default(), Load::quiet()).unwrap();
        let e = r.replay_line("{not json", |_| {});
        assert!(matches!(e[..], [ReplayError::Parse { line: 1, .. }]));
        let ok = r#"{"id": 1, "events": [{"at_ms": 5, "signal": {"type": "turn", "speaker": "customer", "text": "hi"}}, {"at_ms": 1, "signal": {"type": "tick"}}]}"#;
        let e = r.replay_line(ok, |_| {});
        assert!(matches!(
            e[..],
            [ReplayError::Event {
                conversation: 1,
                at_ms: 1,
                ..
            }]
        ));
        let e = r.replay_line("", |_| {});
        assert!(e.is_empty());
        let s = r.summary();
        assert_eq!((s.conversations, s.errors, s.true_negative), (1, 2, 1));
    }
}
