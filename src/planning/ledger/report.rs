//! Guarantees and reports: what the ledger checks ([`Guarantee`], [`Breach`]) and what it sums up
//! per interval, per agent and for the AI front line ([`LedgerReport`]).

use super::*;

/// A promise to a tenant that the ledger can check.
///
/// # Example
/// ```
/// use switchboard::ledger::Guarantee;
/// let g: Guarantee = serde_json::from_str(
///     r#"{"type": "answer_rate", "min_rate": 0.9, "within_ms": 30000}"#).unwrap();
/// assert_eq!(g, Guarantee::answer_rate(0.9, 30_000));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Guarantee {
    /// "Answer rate ≥ `min_rate` within `within_ms` in every interval" ("if we can't answer, it's
    /// free"). Intervals with fewer than `min_offered` contacts are not judged.
    AnswerRate {
        /// The promised share.
        min_rate: f64,
        /// The threshold, ms.
        within_ms: u64,
        /// How abandons count.
        #[serde(default)]
        definition: SlDefinition,
        /// Smallest interval volume judged.
        #[serde(default)]
        min_offered: u64,
    },
    /// "Outreach without conversion is not billable": every outreach task without a reported
    /// conversion is listed.
    OutreachConversion,
}

impl Guarantee {
    /// An answer-rate guarantee, abandons counted as missed, every interval judged.
    #[must_use]
    pub fn answer_rate(min_rate: f64, within_ms: u64) -> Self {
        Guarantee::AnswerRate {
            min_rate,
            within_ms,
            definition: SlDefinition::AbandonsMissed,
            min_offered: 0,
        }
    }
}

/// One breach of a [`Guarantee`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Breach {
    /// The tenant.
    pub tenant: TenantId,
    /// The interval (answer-rate guarantees).
    pub interval_start: Option<Time>,
    /// Human-readable description.
    pub what: String,
    /// The measured value (rate or conversion share).
    pub value: f64,
    /// The tasks that missed (not answered in time / not converted).
    pub tasks: Vec<TaskId>,
}

#[derive(Clone, Debug, Default)]
pub(super) struct Acc {
    pub(super) offered: u64,
    pub(super) answered: u64,
    pub(super) answered_within: u64,
    pub(super) abandoned: u64,
    pub(super) abandoned_within: u64,
    pub(super) timed_out: u64,
    pub(super) cancelled: u64,
    pub(super) waiting: u64,
    pub(super) wait_sum_ms: u64,
    pub(super) waits: Vec<u64>,
    pub(super) handle_sum_ms: u64,
    pub(super) handled: u64,
    pub(super) csat_sum: f64,
    pub(super) csat_n: u64,
    pub(super) outreach: u64,
    pub(super) converted: u64,
}

impl Acc {
    pub(super) fn add(&mut self, r: &TaskRecord) {
        self.add_judged(r, r.sla_ms);
    }

    /// Adds `r` judged against `sla_ms` instead of its own target.
    pub(super) fn add_judged(&mut self, r: &TaskRecord, sla_ms: u64) {
        self.offered += 1;
        match r.fate {
            Fate::Waiting => self.waiting += 1,
            Fate::Answered(w) => {
                self.answered += 1;
                self.answered_within += u64::from(w <= sla_ms);
                self.wait_sum_ms += w;
                self.waits.push(w);
            }
            Fate::Abandoned(w) => {
                self.abandoned += 1;
                self.abandoned_within += u64::from(w <= sla_ms);
            }
            Fate::TimedOut(_) => self.timed_out += 1,
            Fate::Cancelled(_) => self.cancelled += 1,
        }
        if let Some(h) = r.handle_ms {
            self.handle_sum_ms += h;
            self.handled += 1;
        }
        if let Some(c) = r.outcome.csat {
            self.csat_sum += c;
            self.csat_n += 1;
        }
        if r.outreach {
            self.outreach += 1;
            self.converted += u64::from(r.outcome.converted == Some(true));
        }
    }

    #[allow(clippy::cast_precision_loss)]
    pub(super) fn finish(
        mut self,
        tenant: TenantId,
        queue: Option<QueueId>,
        start: Option<Time>,
        def: SlDefinition,
    ) -> IntervalStats {
        let [p50, p90, p99] = percentiles(&mut self.waits, [0.5, 0.9, 0.99]);
        // Cancelled and still-waiting contacts are not judged; timed-out ones count as abandons.
        let judged = (self.offered - self.cancelled - self.waiting) as f64;
        let abandoned = (self.abandoned + self.timed_out) as f64;
        let service_level = def.apply(
            self.answered_within as f64,
            self.abandoned_within as f64,
            abandoned,
            judged,
        );
        IntervalStats {
            tenant,
            queue,
            interval_start: start,
            definition: def,
            offered: self.offered,
            answered: self.answered,
            answered_within: self.answered_within,
            abandoned: self.abandoned,
            abandoned_within: self.abandoned_within,
            timed_out: self.timed_out,
            cancelled: self.cancelled,
            waiting: self.waiting,
            service_level,
            abandon_rate: (judged > 0.0).then(|| abandoned / judged),
            asa_secs: (self.answered > 0)
                .then(|| self.wait_sum_ms as f64 / 1000.0 / self.answered as f64),
            wait_p50_secs: p50,
            wait_p90_secs: p90,
            wait_p99_secs: p99,
            aht_secs: (self.handled > 0)
                .then(|| self.handle_sum_ms as f64 / 1000.0 / self.handled as f64),
            csat_avg: (self.csat_n > 0).then(|| self.csat_sum / self.csat_n as f64),
            csat_n: self.csat_n,
            outreach: self.outreach,
            converted: self.converted,
        }
    }
}

/// Nearest-rank percentiles of `v` (in s, `v` in ms), `ps` ascending in `[0, 1]`; `None` when `v`
/// is empty. Leaves `v` partly reordered.
///
/// The value at a rank is the same as in the sorted slice; selection finds it in linear time,
/// from the highest rank down, each search within the part left of the one before (which holds
/// exactly the smaller ranks).
#[allow(clippy::cast_precision_loss)]
pub(super) fn percentiles<const N: usize>(v: &mut [u64], ps: [f64; N]) -> [Option<f64>; N] {
    let mut out = [None; N];
    let mut end = v.len();
    for (o, &p) in out.iter_mut().zip(&ps).rev() {
        if v.is_empty() {
            break;
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len());
        let i = rank - 1;
        // Ranks only go down, so `i < end` unless two percentiles share a rank.
        let k = if i < end {
            *v[..end].select_nth_unstable(i).1
        } else {
            v[i]
        };
        end = i;
        *o = Some(k as f64 / 1000.0);
    }
    out
}

/// Measures of one tenant (and queue, and interval — or the whole run).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IntervalStats {
    /// Tenant.
    pub tenant: TenantId,
    /// Queue (`None` in per-tenant totals or when unknown).
    pub queue: Option<QueueId>,
    /// Interval start (`None` in totals).
    pub interval_start: Option<Time>,
    /// The service-level definition used.
    pub definition: SlDefinition,
    /// Contacts offered.
    pub offered: u64,
    /// Answered.
    pub answered: u64,
    /// Answered within their SLA target.
    pub answered_within: u64,
    /// Abandoned by the customer.
    pub abandoned: u64,
    /// Abandoned within the SLA target.
    pub abandoned_within: u64,
    /// Removed after their maximum wait (counted as abandons in rates).
    pub timed_out: u64,
    /// Cancelled by the host (not judged).
    pub cancelled: u64,
    /// Still waiting at report time (not judged).
    pub waiting: u64,
    /// Service level ("answer rate") under `definition`.
    pub service_level: Option<f64>,
    /// (Abandoned + timed out) ÷ judged.
    pub abandon_rate: Option<f64>,
    /// Average speed of answer, s.
    pub asa_secs: Option<f64>,
    /// Median wait of answered contacts, s.
    pub wait_p50_secs: Option<f64>,
    /// 90th percentile wait of answered contacts, s.
    pub wait_p90_secs: Option<f64>,
    /// 99th percentile wait of answered contacts, s.
    pub wait_p99_secs: Option<f64>,
    /// Mean handling time, s.
    pub aht_secs: Option<f64>,
    /// Mean satisfaction score.
    pub csat_avg: Option<f64>,
    /// Satisfaction scores reported.
    pub csat_n: u64,
    /// Outreach tasks.
    pub outreach: u64,
    /// Of those, converted.
    pub converted: u64,
}

/// Per-agent measures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentStats {
    /// The agent.
    pub agent: AgentId,
    /// Tasks answered.
    pub answered: u64,
    /// Handling time (answer to wrap-up or completion, summed over tasks; concurrent chats add
    /// up), s.
    pub handle_secs: f64,
    /// Busy slot-time while staffed (answer to release, wrap-up included; two chats held for a
    /// minute are two slot-minutes), s.
    pub busy_secs: f64,
    /// Time not `Offline`, s.
    pub staffed_secs: f64,
    /// Slots occupancy is measured against: the reported capacity over every channel
    /// ([`Ledger::agent_capacity`]), or the most tasks held at once if larger or unreported.
    pub capacity: u32,
    /// `busy_secs ÷ (capacity × staffed_secs)`, in `[0, 1]`.
    pub occupancy: Option<f64>,
    /// Mean satisfaction of the agent's tasks.
    pub csat_avg: Option<f64>,
    /// Outreach tasks with a reported result.
    pub outreach: u64,
    /// Of those, converted.
    pub converted: u64,
}

/// [`Ledger::report`]: rows per tenant × queue × interval, totals per tenant, agents.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LedgerReport {
    /// Interval length, minutes.
    pub interval_minutes: u32,
    /// The service-level definition every row uses.
    pub definition: SlDefinition,
    /// Sorted by tenant, queue, interval.
    pub intervals: Vec<IntervalStats>,
    /// One row per tenant over the whole run.
    pub tenants: Vec<IntervalStats>,
    /// One row per agent, by id.
    pub agents: Vec<AgentStats>,
    /// AI containment and escalation rate per tenant and interval (the interval the
    /// conversations started in), sorted by tenant then interval.
    pub ai: Vec<AiStats>,
    /// The same per tenant over the whole run.
    pub ai_tenants: Vec<AiStats>,
}

/// AI-first conversations of one tenant in one interval (or the whole run): how many the bot
/// contained and how many went to a human.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AiStats {
    /// Tenant.
    pub tenant: TenantId,
    /// Interval start (`None` in totals).
    pub interval_start: Option<Time>,
    /// Conversations that started in the interval.
    pub conversations: u64,
    /// Resolved by the bot without a human, and the customer never asked for one.
    pub contained: u64,
    /// Escalated to a human (live, callback or ticket).
    pub escalated: u64,
    /// The customer asked for a human and was not escalated (not contained).
    pub refused: u64,
    /// Contained ÷ conversations.
    pub containment: Option<f64>,
    /// Escalated ÷ conversations (hand-off rate).
    pub escalation_rate: Option<f64>,
}
