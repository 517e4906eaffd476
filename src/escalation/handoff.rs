//! What goes to the human: the router task and the hand-over packet; and what comes back to the
//! bot after a human stretch.

use super::{Rule, Speaker, Topic};
use crate::guardrail::Hit;
use crate::{AgentId, TaskSpec, Time};
use serde::{Deserialize, Serialize};

/// A turn as kept for hand-over packets (text already masked by the guardrail).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TurnRecord {
    /// When.
    pub at: Time,
    /// Who.
    pub speaker: Speaker,
    /// The text (masked), if the host shared it.
    pub text: Option<String>,
}

/// What the human is for.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Goal {
    /// Resolve the customer's problem.
    Resolve,
    /// High-intent pre-sale: convert (sales-skilled humans; measured by conversion, not
    /// containment).
    Convert,
}

/// Everything the receiving agent needs to pick up without asking again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HandoverPacket {
    /// Summary from the engine's [`Classifier::summarize`](super::Classifier::summarize) hook.
    pub summary: Option<String>,
    /// Why the conversation was escalated.
    pub reasons: Vec<Rule>,
    /// The last turns, oldest first (masked).
    pub last_turns: Vec<TurnRecord>,
    /// Topics seen, in first-seen order.
    pub topics: Vec<Topic>,
    /// Smoothed sentiment after each customer turn that reported one: `(turn, level)`, last 32.
    pub sentiment: Vec<(u32, f64)>,
    /// Guardrail hits (rule, category, action and span; never the matched text), last 32.
    pub guardrail_hits: Vec<Hit>,
    /// The escalation score at the decision.
    pub score: f64,
    /// Customer value tier.
    pub tier: u8,
    /// Order value in question.
    pub order_value: f64,
    /// The human who had the conversation before, if any.
    pub previous_agent: Option<AgentId>,
    /// Projected wait the customer was told (ms).
    pub wait_estimate_ms: u64,
}

/// An escalation ready to route: pass [`Handover::task`] to
/// [`Router::arrive`](crate::Router::arrive) unchanged, and show the packet to the agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Handover {
    /// The router task.
    pub task: TaskSpec,
    /// Resolve or convert.
    pub goal: Goal,
    /// The packet for the agent.
    pub packet: HandoverPacket,
}

/// What the bot receives when a human stretch ends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StretchSummary {
    /// The human.
    pub agent: AgentId,
    /// When the human took over.
    pub from: Time,
    /// When the stretch ended.
    pub to: Time,
    /// Customer turns in the stretch.
    pub customer_turns: u32,
    /// Summary from the classifier hook.
    pub summary: Option<String>,
    /// The last turns of the stretch (masked).
    pub last_turns: Vec<TurnRecord>,
    /// Topics seen during the stretch.
    pub topics: Vec<Topic>,
}
