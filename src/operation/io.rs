//! The composed engine's one input type and one output type.

use crate::escalation::{
    Action, CapacityNeed, ConversationId, Handover, Notice, Rule, Signal, StretchSummary,
};
use crate::expr::AttrValue;
use crate::ledger::{AiOutcome, Outcome};
use crate::policy::PolicySet;
use crate::workflow::WorkflowEffect;
use crate::{AgentId, Effect, Event, TaskId, TaskSpec, TenantId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Everything that can happen to the operation. Every input is plain data (serde), so the
/// [`Driver`](crate::Driver) journals inputs and a replay rebuilds every engine's state.
///
/// # Example
/// ```
/// use switchboard::operation::Input;
/// use switchboard::escalation::{ConversationId, Signal, Turn};
/// let turn = Input::Signal {
///     conversation: ConversationId(7),
///     signal: Signal::Turn(Turn::customer("I want a real person")),
/// };
/// let line = serde_json::to_string(&turn).unwrap();   // what the journal stores
/// assert_eq!(serde_json::from_str::<Input>(&line).unwrap(), turn);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "input", rename_all = "snake_case")]
pub enum Input {
    /// A router event: agent presence and changes, offer answers, completions, wrap-up ends,
    /// transfers, cancels, abandons, share changes. A task that arrives this way skips the
    /// workflows; use [`Input::Request`] to route one through its workflow.
    Router {
        /// The event.
        event: Event,
    },
    /// A human request that does not come from a bot conversation (an outreach, a call-back, a
    /// channel without a bot), through the tenant's workflow for `workflow` if given.
    Request {
        /// The task.
        spec: TaskSpec,
        /// The task type whose workflow routes it (`None`: straight to the router).
        #[serde(default)]
        workflow: Option<String>,
        /// Host attributes for `task.…` in target expressions.
        #[serde(default)]
        attrs: BTreeMap<String, AttrValue>,
    },
    /// A customer starts a conversation; the bot has it.
    Open {
        /// The conversation (its escalation tasks get ids `conversation << 8 | n`).
        conversation: ConversationId,
        /// The brand.
        tenant: TenantId,
    },
    /// What the host knows about a conversation's customer, for the router tasks of its
    /// hand-overs from now on (until it closes): the task type whose workflow routes them
    /// (instead of [`handover_workflow`](super::OperationConfig::handover_workflow)), host
    /// attributes for `task.…` in the workflow's targets (the customer's language…), and the
    /// SLA (instead of the escalation policy's `routing.sla_ms`).
    HandoverContext {
        /// The conversation (open).
        conversation: ConversationId,
        /// The task type whose workflow routes its hand-overs (`None`: the operation's
        /// `handover_workflow`).
        #[serde(default)]
        workflow: Option<String>,
        /// Host attributes for `task.…` in target expressions.
        #[serde(default)]
        attrs: BTreeMap<String, AttrValue>,
        /// The hand-over task's SLA, ms (`None`: the escalation policy's).
        #[serde(default)]
        sla_ms: Option<u64>,
    },
    /// A customer, bot or human turn, evidence between turns, a classifier's answer, the
    /// customer cancelling a pending transfer, the human releasing the conversation, or the
    /// human's answer to a hand-back offer. `Queued` and `Assigned` are the composition's own
    /// and are refused here.
    Signal {
        /// The conversation.
        conversation: ConversationId,
        /// What happened.
        signal: Signal,
    },
    /// The conversation ended: it is counted in the ledger's AI outcomes, and a human request
    /// it still has waiting is cancelled.
    Close {
        /// The conversation.
        conversation: ConversationId,
    },
    /// What a served task achieved (CSAT, conversion), for the ledger.
    Outcome {
        /// The task.
        task: TaskId,
        /// The outcome.
        outcome: Outcome,
    },
    /// Swap the routing policy at run time: new names, shares and workflows, without losing a
    /// task (waiting tasks keep their age and move to the matching step).
    SwapPolicy {
        /// The new policy (validated when applied).
        policy: Box<PolicySet>,
    },
    /// Fire every timer due by now.
    Tick,
}

impl From<Event> for Input {
    fn from(event: Event) -> Self {
        match event {
            Event::Tick => Input::Tick,
            event => Input::Router { event },
        }
    }
}

/// Everything the host must carry out or may want to know, in the order it happened.
///
/// # Example
/// ```
/// use switchboard::operation::Output;
/// use switchboard::{Effect, TaskId};
/// let o = Output::Router { effect: Effect::Cancelled { task: TaskId(3) } };
/// assert!(serde_json::to_string(&o).unwrap().starts_with(r#"{"output":"router""#));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "output", rename_all = "snake_case")]
pub enum Output {
    /// The router's effect: offers (deliver to the agent), rescinds, assignments, queueing,
    /// completions, timeouts.
    Router {
        /// The effect.
        effect: Effect,
    },
    /// A workflow's effect: step entered, exception fired, call-back rule.
    Workflow {
        /// The effect.
        effect: WorkflowEffect,
    },
    /// An escalation decision other than "continue", for audit: what fired and the score.
    Decision {
        /// The conversation.
        conversation: ConversationId,
        /// The headline.
        action: Action,
        /// Rules that fired.
        fired: Vec<Rule>,
        /// The score.
        score: f64,
    },
    /// A conversation was handed to the router; show the packet to the agent who accepts
    /// `task`.
    Handover {
        /// The conversation.
        conversation: ConversationId,
        /// The router task.
        task: TaskId,
        /// The hand-over (task and packet).
        handover: Box<Handover>,
    },
    /// Tell the customer.
    Notice {
        /// The conversation.
        conversation: ConversationId,
        /// What to say.
        notice: Notice,
    },
    /// Do not send the outgoing reply (the guardrail blocked it).
    BlockReply {
        /// The conversation.
        conversation: ConversationId,
    },
    /// Send, store and forward this masked text instead of the original.
    MaskText {
        /// The conversation.
        conversation: ConversationId,
        /// The masked text.
        masked: String,
    },
    /// Run an external classifier; answer with [`Input::Signal`] carrying
    /// [`Signal::Classified`].
    Classify {
        /// The conversation.
        conversation: ConversationId,
        /// Request id to answer with.
        request: u64,
        /// Which classifier.
        classifier: String,
        /// The text.
        text: String,
    },
    /// Schedule a call-back with this hand-over.
    Callback {
        /// The conversation.
        conversation: ConversationId,
        /// The hand-over.
        handover: Box<Handover>,
    },
    /// Open a ticket with this hand-over.
    Ticket {
        /// The conversation.
        conversation: ConversationId,
        /// The hand-over.
        handover: Box<Handover>,
    },
    /// Offer the human to hand the conversation back to the bot (answer with
    /// [`Signal::HandBackAccepted`] or [`Signal::HandBackDeclined`]).
    OfferHandBack {
        /// The conversation.
        conversation: ConversationId,
        /// The agent.
        agent: AgentId,
    },
    /// The bot has the conversation again; here is what happened meanwhile.
    HandBack {
        /// The conversation.
        conversation: ConversationId,
        /// The human stretch.
        summary: Box<StretchSummary>,
    },
    /// More human capacity is needed: call agents in from the talent pool.
    CapacityNeeded {
        /// Who needs it and why.
        need: CapacityNeed,
    },
    /// A conversation closed and was counted in the ledger.
    Closed {
        /// The conversation.
        conversation: ConversationId,
        /// Contained by the bot, escalated, or refused a human.
        outcome: AiOutcome,
    },
}

impl Output {
    /// The router's effect, if this output is one.
    #[must_use]
    pub fn as_router(&self) -> Option<&Effect> {
        match self {
            Output::Router { effect } => Some(effect),
            _ => None,
        }
    }
}

impl From<Effect> for Output {
    fn from(effect: Effect) -> Self {
        Output::Router { effect }
    }
}
