//! Who owns a conversation: the bot, a pending transfer, a human, or a hand-back in progress.
//!
//! ```text
//!            escalate                 Assigned                 rule: score < down for m turns
//!   Bot ─────────────────▶ PendingHuman ───────────▶ Human ─────────────────────▶ HandBackOffered
//!    ▲  ▲                   │  │  │                   │  ▲                          │   │
//!    │  │ CustomerCancelled │  │  │ TransferFailed    │  │ HandBackDeclined,        │   │
//!    │  └───────────────────┘  │  │ (retry ≤ n)       │  │ customer needs the human │   │
//!    │   timeouts / n failures │  └──▶ PendingHuman   │  └──────────────────────────┘   │
//!    │   → callback / ticket   │                      │ HumanReleased                   │
//!    ├─────────────────────────┘                      │                                 │
//!    ├────────────────────────────────────────────────┘     HandBackAccepted / timeout  │
//!    └──────────────────────────────────────────────────────────────────────────────────┘
//! ```
//!
//! There is no "nobody" state: every stretch ends in another owner, and every waiting state has a
//! deadline ([`Owner::deadline`]).

use crate::{AgentId, TaskId, Time};
use serde::{Deserialize, Serialize};

/// The owner of a conversation.
///
/// # Example
/// ```
/// use switchboard::escalation::Owner;
/// use switchboard::{AgentId, Time};
/// let o = Owner::Human { agent: AgentId(7), since: Time::from_secs(3) };
/// assert_eq!(o.name(), "human");
/// assert_eq!(o.deadline(), None);
/// assert_eq!(o.agent(), Some(AgentId(7)));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "owner", rename_all = "snake_case")]
pub enum Owner {
    /// The AI bot answers.
    Bot,
    /// Waiting for a human; the bot may keep collecting details.
    PendingHuman {
        /// When the escalation was decided.
        since: Time,
        /// The router task, once the host confirmed it.
        task: TaskId,
        /// Whether the host confirmed the route request ([`Signal::Queued`](super::Signal::Queued)).
        queued: bool,
        /// Route attempt, from 1.
        attempt: u32,
        /// The host must confirm by then (while not `queued`).
        ack_deadline: Time,
        /// A human must be assigned by then.
        assign_deadline: Time,
    },
    /// A human answers; the bot is silent or assists.
    Human {
        /// The agent.
        agent: AgentId,
        /// Since when.
        since: Time,
    },
    /// The bot offered to take the conversation back; the human has until `deadline` to object.
    HandBackOffered {
        /// The agent.
        agent: AgentId,
        /// Since when the human has the conversation.
        since: Time,
        /// Silence until then hands back.
        deadline: Time,
    },
}

impl Owner {
    /// Snake-case name.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Owner::Bot => "bot",
            Owner::PendingHuman { .. } => "pending_human",
            Owner::Human { .. } => "human",
            Owner::HandBackOffered { .. } => "hand_back_offered",
        }
    }

    /// When this stretch times out by itself, if it can.
    #[must_use]
    pub fn deadline(&self) -> Option<Time> {
        match self {
            Owner::PendingHuman {
                queued,
                ack_deadline,
                assign_deadline,
                ..
            } => Some(if *queued {
                *assign_deadline
            } else {
                (*ack_deadline).min(*assign_deadline)
            }),
            Owner::HandBackOffered { deadline, .. } => Some(*deadline),
            Owner::Bot | Owner::Human { .. } => None,
        }
    }

    /// The human agent, when one owns the conversation.
    #[must_use]
    pub fn agent(&self) -> Option<AgentId> {
        match self {
            Owner::Human { agent, .. } | Owner::HandBackOffered { agent, .. } => Some(*agent),
            Owner::Bot | Owner::PendingHuman { .. } => None,
        }
    }

    /// Whether a human has (or is about to have) the conversation.
    #[must_use]
    pub fn is_human_side(&self) -> bool {
        !matches!(self, Owner::Bot)
    }
}
