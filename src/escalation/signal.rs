//! What the host reports about a conversation: turns, evidence and ownership events.

use crate::guardrail::{GuardrailError, PhraseMatcher, normalize};
use crate::{AgentId, TaskId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The host's id for a conversation.
///
/// # Example
/// ```
/// use switchboard::escalation::ConversationId;
/// assert_eq!(ConversationId(42).to_string(), "conv#42");
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConversationId(pub u64);

impl fmt::Display for ConversationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conv#{}", self.0)
    }
}

/// Who wrote a turn.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Speaker {
    /// The customer.
    Customer,
    /// The AI bot.
    Bot,
    /// A human agent.
    Human,
}

/// Intent or topic category of a conversation.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    /// Routine questions (order status, opening hours, FAQ).
    General,
    /// Shipping and delivery.
    Shipping,
    /// Refunds and returns (after-sale).
    Refund,
    /// Complaints.
    Complaint,
    /// Payment problems.
    Payment,
    /// Privacy and personal data.
    Privacy,
    /// Legal threats or questions.
    Legal,
    /// Safety: self-harm, threats, dangerous products.
    Safety,
    /// High-intent pre-sale: the goal is conversion, not containment.
    PreSale,
}

impl Topic {
    /// Every topic, in order.
    pub const ALL: [Topic; 9] = [
        Topic::General,
        Topic::Shipping,
        Topic::Refund,
        Topic::Complaint,
        Topic::Payment,
        Topic::Privacy,
        Topic::Legal,
        Topic::Safety,
        Topic::PreSale,
    ];
    /// Snake-case name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Topic::General => "general",
            Topic::Shipping => "shipping",
            Topic::Refund => "refund",
            Topic::Complaint => "complaint",
            Topic::Payment => "payment",
            Topic::Privacy => "privacy",
            Topic::Legal => "legal",
            Topic::Safety => "safety",
            Topic::PreSale => "pre_sale",
        }
    }
}

/// One piece of evidence about the conversation, with its value (and confidence where the host's
/// classifier gives one). Attach it to a [`Turn`] or report it alone with [`Signal::Evidence`].
///
/// # Example
/// ```
/// use switchboard::escalation::Evidence;
/// let e: Evidence = serde_json::from_str(r#"{"kind":"sentiment","value":-0.6,"confidence":0.9}"#).unwrap();
/// assert_eq!(e, Evidence::Sentiment { value: -0.6, confidence: 0.9 });
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Evidence {
    /// Customer sentiment in `[-1, 1]` (negative is unhappy), confidence in `[0, 1]`.
    Sentiment {
        /// The value.
        value: f64,
        /// The classifier's confidence.
        #[serde(default = "one")]
        confidence: f64,
    },
    /// The bot's confidence in the intent it answered, in `[0, 1]`.
    IntentConfidence {
        /// The value.
        value: f64,
    },
    /// The bot replied with a fallback ("I did not understand").
    Fallback,
    /// The bot failed (error, timeout, empty answer).
    BotError,
    /// The customer asked for a human.
    ExplicitRequest {
        /// Confidence in `[0, 1]`.
        #[serde(default = "one")]
        confidence: f64,
    },
    /// The customer repeated an earlier turn; similarity in `[0, 1]`.
    Repetition {
        /// Similarity.
        similarity: f64,
    },
    /// The conversation's topic.
    Topic {
        /// The topic.
        topic: Topic,
        /// Confidence in `[0, 1]`.
        #[serde(default = "one")]
        confidence: f64,
    },
    /// Customer value tier (0 = standard) and order value (in the tenant's currency).
    Customer {
        /// Tier.
        tier: u8,
        /// Value of the order in question, 0 if none.
        #[serde(default)]
        order_value: f64,
    },
    /// The customer disputes an order (chargeback, "not received", fraud claim).
    Dispute {
        /// Value of the disputed order.
        #[serde(default)]
        order_value: f64,
    },
    /// The customer did not answer within the host's no-input timeout.
    NoInput,
}

fn one() -> f64 {
    1.0
}

impl Evidence {
    /// Snake-case name of the kind.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Evidence::Sentiment { .. } => "sentiment",
            Evidence::IntentConfidence { .. } => "intent_confidence",
            Evidence::Fallback => "fallback",
            Evidence::BotError => "bot_error",
            Evidence::ExplicitRequest { .. } => "explicit_request",
            Evidence::Repetition { .. } => "repetition",
            Evidence::Topic { .. } => "topic",
            Evidence::Customer { .. } => "customer",
            Evidence::Dispute { .. } => "dispute",
            Evidence::NoInput => "no_input",
        }
    }
}

/// A message in the conversation, with the evidence the host attaches to it.
///
/// The text is optional: with it, the library detects explicit requests, topics and repetition
/// itself (via the engine's [`Classifier`]) and runs the guardrail over it.
///
/// # Example
/// ```
/// use switchboard::escalation::{Evidence, Speaker, Turn};
/// let t = Turn::customer("where is my parcel?").with(Evidence::Sentiment { value: -0.2, confidence: 1.0 });
/// assert_eq!(t.speaker, Speaker::Customer);
/// assert_eq!(t.evidence.len(), 1);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    /// Who wrote it.
    pub speaker: Speaker,
    /// The text, if the host shares it.
    #[serde(default)]
    pub text: Option<String>,
    /// Evidence about this turn.
    #[serde(default)]
    pub evidence: Vec<Evidence>,
}

impl Turn {
    /// A turn without text.
    #[must_use]
    pub fn new(speaker: Speaker) -> Self {
        Turn {
            speaker,
            text: None,
            evidence: Vec::new(),
        }
    }
    /// A customer turn with text.
    #[must_use]
    pub fn customer(text: &str) -> Self {
        Turn {
            speaker: Speaker::Customer,
            text: Some(text.to_owned()),
            evidence: Vec::new(),
        }
    }
    /// A bot turn with text.
    #[must_use]
    pub fn bot(text: &str) -> Self {
        Turn {
            speaker: Speaker::Bot,
            text: Some(text.to_owned()),
            evidence: Vec::new(),
        }
    }
    /// A human agent's turn with text.
    #[must_use]
    pub fn human(text: &str) -> Self {
        Turn {
            speaker: Speaker::Human,
            text: Some(text.to_owned()),
            evidence: Vec::new(),
        }
    }
    /// Adds evidence.
    #[must_use]
    pub fn with(mut self, e: Evidence) -> Self {
        self.evidence.push(e);
        self
    }
}

/// Why a transfer to a human failed.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferFailure {
    /// The router refused the task (an error from `Router::arrive`).
    Rejected,
    /// The task timed out or was abandoned in the router.
    TimedOut,
    /// The agent who accepted disconnected before joining.
    AgentLost,
}

/// An input to a conversation's state machine. Pair it with the time it happened.
///
/// # Example
/// ```
/// use switchboard::escalation::{Signal, Speaker, Turn};
/// let s = Signal::Turn(Turn::customer("转人工"));
/// let line = serde_json::to_string(&s).unwrap();
/// assert_eq!(line, r#"{"type":"turn","speaker":"customer","text":"转人工","evidence":[]}"#);
/// assert_eq!(serde_json::from_str::<Signal>(&line).unwrap(), s);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Signal {
    /// A message. Customer turns advance the turn count and the hysteresis.
    Turn(Turn),
    /// Evidence reported between turns (e.g. a late classifier result). It updates the score and
    /// can fire hard triggers, but does not advance the hysteresis.
    Evidence(Evidence),
    /// The answer to a [`Directive::Classify`](super::Directive::Classify) request.
    Classified {
        /// The request id.
        request: u64,
        /// What the classifier found.
        #[serde(default)]
        evidence: Vec<Evidence>,
    },
    /// Nothing happened; check the timers (the host calls this at
    /// [`Conversation::poll_timeout`](super::Conversation::poll_timeout)).
    Tick,
    /// The router queued the escalation task (answer to [`Directive::Route`](super::Directive::Route)).
    Queued {
        /// The router task.
        task: TaskId,
    },
    /// A human accepted the conversation.
    Assigned {
        /// The agent.
        agent: AgentId,
    },
    /// The transfer failed.
    TransferFailed {
        /// Why.
        reason: TransferFailure,
    },
    /// The customer no longer wants a human (cancels while queued).
    CustomerCancelled,
    /// The human releases the conversation back to the bot.
    HumanReleased,
    /// The human accepted the bot's hand-back offer.
    HandBackAccepted,
    /// The human declined the hand-back offer and keeps the conversation.
    HandBackDeclined,
}

impl Signal {
    /// Snake-case name of the signal type.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Signal::Turn(_) => "turn",
            Signal::Evidence(_) => "evidence",
            Signal::Classified { .. } => "classified",
            Signal::Tick => "tick",
            Signal::Queued { .. } => "queued",
            Signal::Assigned { .. } => "assigned",
            Signal::TransferFailed { .. } => "transfer_failed",
            Signal::CustomerCancelled => "customer_cancelled",
            Signal::HumanReleased => "human_released",
            Signal::HandBackAccepted => "hand_back_accepted",
            Signal::HandBackDeclined => "hand_back_declined",
        }
    }
}

/// A turn as the classifier sees it.
#[derive(Copy, Clone, Debug)]
pub struct TurnView<'a> {
    /// Who wrote it.
    pub speaker: Speaker,
    /// The original text.
    pub text: &'a str,
    /// The normalised text (NFKC, half-width, lower case).
    pub normalized: &'a str,
}

/// A synchronous, pure classifier the host plugs into the engine (static dispatch). It looks at
/// a turn's text and adds evidence. Classifiers that do I/O are not called from the core: name them
/// in [`ClassifierConfig::external`](super::ClassifierConfig::external) and the engine asks for them
/// with [`Directive::Classify`](super::Directive::Classify); the host answers with
/// [`Signal::Classified`].
///
/// # Example
/// ```
/// use switchboard::escalation::{Classifier, Evidence, Speaker, TurnView};
/// #[derive(Debug)]
/// struct Angry;
/// impl Classifier for Angry {
///     fn classify(&self, turn: TurnView<'_>, out: &mut Vec<Evidence>) {
///         if turn.speaker == Speaker::Customer && turn.text.contains('!') {
///             out.push(Evidence::Sentiment { value: -0.7, confidence: 0.5 });
///         }
///     }
/// }
/// let mut out = Vec::new();
/// Angry.classify(TurnView { speaker: Speaker::Customer, text: "now!", normalized: "now!" }, &mut out);
/// assert_eq!(out.len(), 1);
/// ```
pub trait Classifier {
    /// Adds evidence found in `turn` to `out`.
    fn classify(&self, turn: TurnView<'_>, out: &mut Vec<Evidence>);
    /// A summary of a stretch of turns for the hand-over packet or the bot after a hand-back;
    /// `None` leaves the summary to the receiver.
    fn summarize(&self, _turns: &[super::TurnRecord]) -> Option<String> {
        None
    }
}

/// No classification at all.
impl Classifier for () {
    fn classify(&self, _turn: TurnView<'_>, _out: &mut Vec<Evidence>) {}
}

const EXPLICIT: u32 = 0;
const TOPIC_BASE: u32 = 100;

/// Phrases that ask for a human, Chinese and English.
pub const EXPLICIT_REQUEST_PHRASES: &[&str] = &[
    "人工",
    "转人工",
    "人工客服",
    "真人",
    "客服",
    "找人工",
    "活人",
    "human",
    "a human",
    "agent",
    "real person",
    "live agent",
    "live person",
    "speak to someone",
    "talk to someone",
    "speak to a person",
    "talk to a person",
    "representative",
    "operator",
    "customer service",
];

/// Topic keywords of the built-in classifier.
pub const TOPIC_PHRASES: &[(Topic, &[&str])] = &[
    (
        Topic::Refund,
        &["退款", "退货", "退钱", "refund", "return", "money back"],
    ),
    (
        Topic::Complaint,
        &["投诉", "差评", "complain", "complaint", "unacceptable"],
    ),
    (
        Topic::Payment,
        &[
            "扣款",
            "付款失败",
            "支付失败",
            "charged twice",
            "payment failed",
        ],
    ),
    (
        Topic::Privacy,
        &["隐私", "个人信息", "privacy", "delete my data", "gdpr"],
    ),
    (
        Topic::Legal,
        &[
            "律师",
            "起诉",
            "法院",
            "12315",
            "消协",
            "消费者协会",
            "lawyer",
            "sue",
            "lawsuit",
            "attorney",
        ],
    ),
    (
        Topic::Safety,
        &["自杀", "不想活", "suicide", "kill myself", "起火", "爆炸"],
    ),
    (
        Topic::PreSale,
        &[
            "有货吗",
            "怎么买",
            "优惠",
            "in stock",
            "discount",
            "bulk order",
        ],
    ),
    (
        Topic::Shipping,
        &["快递", "物流", "发货", "shipping", "delivery", "tracking"],
    ),
];

/// The default classifier: explicit requests for a human (Chinese and English, see
/// [`EXPLICIT_REQUEST_PHRASES`]) and topic keywords ([`TOPIC_PHRASES`]) in customer turns, by one
/// aho-corasick pass over the normalised text. Keyword topics get confidence 0.8.
///
/// # Example
/// ```
/// use switchboard::escalation::{BuiltinClassifier, Classifier, Evidence, Speaker, Topic, TurnView};
/// let c = BuiltinClassifier::new().unwrap();
/// let mut out = Vec::new();
/// c.classify(TurnView { speaker: Speaker::Customer, text: "我要退款，转人工", normalized: "我要退款，转人工" }, &mut out);
/// assert_eq!(out, vec![
///     Evidence::Topic { topic: Topic::Refund, confidence: 0.8 },
///     Evidence::ExplicitRequest { confidence: 1.0 },
/// ]);
/// ```
#[derive(Clone, Debug)]
pub struct BuiltinClassifier {
    matcher: PhraseMatcher,
}

impl BuiltinClassifier {
    /// Builds the default phrase tables.
    ///
    /// # Errors
    /// Only if the automaton cannot be built ([`GuardrailError::Build`]).
    pub fn new() -> Result<Self, GuardrailError> {
        Self::with_phrases(EXPLICIT_REQUEST_PHRASES, TOPIC_PHRASES)
    }

    /// Builds a classifier from custom phrase tables.
    ///
    /// # Errors
    /// Only if the automaton cannot be built ([`GuardrailError::Build`]).
    pub fn with_phrases(
        explicit: &[&str],
        topics: &[(Topic, &[&str])],
    ) -> Result<Self, GuardrailError> {
        let mut all: Vec<(&str, u32)> = explicit.iter().map(|p| (*p, EXPLICIT)).collect();
        for (t, phrases) in topics {
            let tag = TOPIC_BASE + topic_index(*t);
            all.extend(phrases.iter().map(|p| (*p, tag)));
        }
        Ok(BuiltinClassifier {
            matcher: PhraseMatcher::new(all)?,
        })
    }
}

fn topic_index(t: Topic) -> u32 {
    Topic::ALL
        .iter()
        .position(|&x| x == t)
        .and_then(|i| u32::try_from(i).ok())
        .unwrap_or(0)
}

impl Classifier for BuiltinClassifier {
    fn classify(&self, turn: TurnView<'_>, out: &mut Vec<Evidence>) {
        if turn.speaker != Speaker::Customer {
            return;
        }
        let mut explicit = false;
        let mut topics = 0u32;
        self.matcher.find(turn.normalized, |tag, _, _| {
            if tag == EXPLICIT {
                explicit = true;
            } else if let Some(i) = tag.checked_sub(TOPIC_BASE) {
                topics |= 1 << i.min(31);
            }
        });
        for (i, t) in Topic::ALL.iter().enumerate() {
            if topics & (1 << i) != 0 {
                out.push(Evidence::Topic {
                    topic: *t,
                    confidence: 0.8,
                });
            }
        }
        if explicit {
            out.push(Evidence::ExplicitRequest { confidence: 1.0 });
        }
    }
}

/// Hashed character-bigram signature of a normalised text, for near-duplicate detection.
pub(crate) fn signature(text: &str) -> Vec<u32> {
    let norm = normalize(text);
    let mut prev: Option<char> = None;
    let mut sig: Vec<u32> = Vec::new();
    for c in norm.text().chars() {
        if c.is_whitespace() || c.is_ascii_punctuation() || matches!(c, '，' | '。' | '？' | '！')
        {
            prev = None;
            continue;
        }
        if let Some(p) = prev {
            // FNV-1a over the two code points: deterministic across platforms and runs.
            let mut h: u32 = 0x811c_9dc5;
            for b in (p as u32)
                .to_le_bytes()
                .into_iter()
                .chain((c as u32).to_le_bytes())
            {
                h ^= u32::from(b);
                h = h.wrapping_mul(0x0100_0193);
            }
            sig.push(h);
        } else if sig.is_empty() {
            sig.push(c as u32);
        }
        prev = Some(c);
        if sig.len() >= 256 {
            break;
        }
    }
    sig.sort_unstable();
    sig.dedup();
    sig
}

/// Jaccard similarity of two sorted signatures.
pub(crate) fn similarity(a: &[u32], b: &[u32]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let (mut i, mut j, mut both) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                both += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let union = a.len() + b.len() - both;
    #[allow(clippy::cast_precision_loss)]
    let s = both as f64 / union as f64;
    s
}
