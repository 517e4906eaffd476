//! The simulation report.

use super::{Extra, Scenario};
use crate::escalation::Metrics;
use crate::ledger::{Breach, Fate, Ledger};
use crate::staffing::SlDefinition;
use crate::{TenantId, Time};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Totals for one tenant (or `"(all)"`) over the reported part of the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TenantReport {
    /// Tenant name.
    pub tenant: String,
    /// Conversations, including those the AI front line resolved.
    pub conversations: u64,
    /// Resolved by AI without a human.
    pub contained: u64,
    /// AI containment: contained ÷ conversations.
    pub containment: Option<f64>,
    /// Escalation rate: conversations escalated to a human ÷ conversations.
    pub escalation_rate: Option<f64>,
    /// Human requests (offered to the router).
    pub offered: u64,
    /// Answered by an agent.
    pub answered: u64,
    /// Answered within the SLA target.
    pub answered_within: u64,
    /// Abandoned (including timed out).
    pub abandoned: u64,
    /// Still waiting at the end (not judged).
    pub unfinished: u64,
    /// Service level ("answer rate") under [`SimReport::definition`].
    pub service_level: Option<f64>,
    /// Abandoned ÷ judged.
    pub abandon_rate: Option<f64>,
    /// Average speed of answer, s.
    pub asa_secs: Option<f64>,
    /// 90th percentile wait of answered requests, s.
    pub wait_p90_secs: Option<f64>,
    /// Share of served customers satisfied.
    pub csat: Option<f64>,
    /// Outreach tasks and conversions.
    pub outreach: u64,
    /// Converted outreach tasks.
    pub converted: u64,
    /// Breaches of the tenant's guarantees.
    pub breaches: Vec<Breach>,
    /// Bot conversations whose customer asked for a human and was kept by the bot (not
    /// contained, not escalated; `bot` streams only).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub refused: u64,
    /// Bot conversations escalated to a call back or ticket without ever reaching the queue
    /// (no human staffed, or the route failed; `bot` streams only).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub offline: u64,
    /// Human requests withdrawn from the queue for a call back — by a workflow's callback rule,
    /// or by the escalation engine when no human was assigned in time (counted in `offered`,
    /// judged neither answered nor abandoned).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub callbacks: u64,
    /// Soft escalations the escalation engine held back because of load (a conversation can be
    /// held back on several turns).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub held_back: u64,
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero(x: &u64) -> bool {
    *x == 0
}

/// One time bucket for one tenant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeriesPoint {
    /// Tenant.
    pub tenant: String,
    /// Bucket start, seconds from the start.
    pub at_secs: u64,
    /// Conversations arriving in the previous bucket (the sample is taken at its end).
    pub arrivals: u64,
    /// Conversations the AI resolved in the previous bucket. Without a bot model a
    /// conversation is resolved (contained or escalated) as it arrives, so these are of the
    /// bucket's `arrivals`; with one, when the escalation engine decides, possibly a bucket later.
    pub contained: u64,
    /// `contained ÷` conversations resolved in the bucket (contained, escalated or refused).
    pub containment: Option<f64>,
    /// Escalated to a human (live or call back) ÷ conversations resolved in the bucket.
    pub escalation_rate: Option<f64>,
    /// Requests waiting at the sample time.
    pub waiting_now: u64,
    /// Most requests waiting at once during the previous bucket.
    pub waiting_max: u64,
    /// Agents on shift (the whole pool).
    pub agents_on_shift: u64,
    /// Human requests offered in the bucket starting here.
    pub offered: u64,
    /// Their service level.
    pub service_level: Option<f64>,
    /// Their abandonment rate.
    pub abandon_rate: Option<f64>,
}

/// What a simulation run reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SimReport {
    /// Scenario name.
    pub name: String,
    /// Seed.
    pub seed: u64,
    /// The service-level definition every figure uses.
    pub definition: SlDefinition,
    /// Simulated hours.
    pub duration_hours: f64,
    /// Hours excluded at the start.
    pub warmup_hours: f64,
    /// Simulated events processed (arrivals, answers, completions, abandons, shifts, timers).
    pub events: u64,
    /// Offer answers that arrived after the offer was gone (refused by the router).
    pub stale_answers: u64,
    /// Per tenant, by name.
    pub tenants: Vec<TenantReport>,
    /// All tenants together.
    pub total: TenantReport,
    /// Agent occupancy: busy slot-time ÷ (capacity × staffed time), so a chat agent with three
    /// slots holding two chats is at 67% (see [`crate::ledger`]): mean, min, max over agents.
    pub occupancy: [f64; 3],
    /// Time series per tenant, by time then tenant.
    pub series: Vec<SeriesPoint>,
    /// The escalation engine's counters over the run (scenarios with an `escalation` policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation: Option<Metrics>,
}

#[derive(Default)]
struct Acc {
    offered: u64,
    answered: u64,
    within: u64,
    abandoned: u64,
    ab_within: u64,
    unfinished: u64,
    cancelled: u64,
    wait_sum: u64,
    waits: Vec<u64>,
    csat_n: u64,
    csat_yes: f64,
    outreach: u64,
    converted: u64,
}

impl Acc {
    fn add(&mut self, r: &crate::ledger::TaskRecord) {
        self.offered += 1;
        match r.fate {
            Fate::Answered(w) => {
                self.answered += 1;
                self.within += u64::from(w <= r.sla_ms);
                self.wait_sum += w;
                self.waits.push(w);
            }
            Fate::Abandoned(w) | Fate::TimedOut(w) => {
                self.abandoned += 1;
                self.ab_within += u64::from(w <= r.sla_ms);
            }
            Fate::Cancelled(_) => self.cancelled += 1,
            Fate::Waiting => self.unfinished += 1,
        }
        if let Some(c) = r.outcome.csat {
            self.csat_n += 1;
            self.csat_yes += c;
        }
        if r.outreach {
            self.outreach += 1;
            self.converted += u64::from(r.outcome.converted == Some(true));
        }
    }
    #[allow(clippy::cast_precision_loss)]
    fn judged(&self) -> f64 {
        (self.offered - self.unfinished - self.cancelled) as f64
    }
    #[allow(clippy::cast_precision_loss)]
    fn sl(&self, def: SlDefinition) -> Option<f64> {
        def.apply(
            self.within as f64,
            self.ab_within as f64,
            self.abandoned as f64,
            self.judged(),
        )
    }
    #[allow(clippy::cast_precision_loss)]
    fn abandon_rate(&self) -> Option<f64> {
        let j = self.judged();
        (j > 0.0).then(|| self.abandoned as f64 / j)
    }
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    fn finish(mut self, tenant: String, x: Extra, def: SlDefinition) -> TenantReport {
        self.waits.sort_unstable();
        let p90 = (!self.waits.is_empty()).then(|| {
            let rank = ((0.9 * self.waits.len() as f64).ceil() as usize).clamp(1, self.waits.len());
            self.waits[rank - 1] as f64 / 1000.0
        });
        let conversations = self.offered + x.contained + x.refused + x.offline;
        let share = |k: u64| (conversations > 0).then(|| k as f64 / conversations as f64);
        TenantReport {
            tenant,
            conversations,
            contained: x.contained,
            containment: share(x.contained),
            escalation_rate: share(self.offered + x.offline),
            offered: self.offered,
            answered: self.answered,
            answered_within: self.within,
            abandoned: self.abandoned,
            unfinished: self.unfinished,
            service_level: self.sl(def),
            abandon_rate: self.abandon_rate(),
            asa_secs: (self.answered > 0)
                .then(|| self.wait_sum as f64 / 1000.0 / self.answered as f64),
            wait_p90_secs: p90,
            csat: (self.csat_n > 0).then(|| self.csat_yes / self.csat_n as f64),
            outreach: self.outreach,
            converted: self.converted,
            breaches: Vec::new(),
            refused: x.refused,
            offline: x.offline,
            callbacks: x.callbacks,
            held_back: x.held_back,
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn build(
    sc: &Scenario,
    ledger: &Ledger,
    tenants: &[String],
    names: &BTreeMap<TenantId, usize>,
    extra: &[Extra],
    escalation: Option<Metrics>,
    mut series: Vec<SeriesPoint>,
    events: u64,
    stale_answers: u64,
    end_ms: u64,
    ghosts: &rustc_hash::FxHashSet<crate::TaskId>,
) -> SimReport {
    let def = sc.definition();
    let warm = Time::from_secs_f64(sc.warmup_hours * 3600.0).unwrap_or(Time::ZERO);
    let bucket = u64::from(sc.bucket_minutes) * 60_000;
    let mut per: Vec<Acc> = tenants.iter().map(|_| Acc::default()).collect();
    let mut total = Acc::default();
    let mut buckets: BTreeMap<(usize, u64), Acc> = BTreeMap::new();
    for r in ledger.records() {
        let Some(&i) = names.get(&r.tenant) else {
            continue;
        };
        if ghosts.contains(&r.task) {
            continue;
        }
        buckets
            .entry((i, r.created_at.0 / bucket * bucket))
            .or_default()
            .add(r);
        if r.created_at < warm {
            continue;
        }
        per[i].add(r);
        total.add(r);
    }
    for p in &mut series {
        if let Ok(i) = tenants.binary_search(&p.tenant)
            && let Some(acc) = buckets.get(&(i, p.at_secs * 1000))
        {
            p.offered = acc.offered;
            p.service_level = acc.sl(def);
            p.abandon_rate = acc.abandon_rate();
        }
    }
    let mut reports: Vec<TenantReport> = per
        .into_iter()
        .enumerate()
        .map(|(i, acc)| acc.finish(tenants[i].clone(), extra[i], def))
        .collect();
    for (id, &i) in names {
        if let Some(gs) = sc.guarantees.get(&tenants[i]) {
            for g in gs {
                reports[i].breaches.extend(ledger.evaluate(*id, g));
            }
        }
    }
    let report = ledger.report(Time(end_ms));
    let occ: Vec<f64> = report.agents.iter().filter_map(|a| a.occupancy).collect();
    #[allow(clippy::cast_precision_loss)]
    let occupancy = if occ.is_empty() {
        [0.0; 3]
    } else {
        [
            occ.iter().sum::<f64>() / occ.len() as f64,
            occ.iter().copied().fold(f64::INFINITY, f64::min),
            occ.iter().copied().fold(0.0, f64::max),
        ]
    };
    SimReport {
        name: sc.name.clone(),
        seed: sc.seed,
        definition: def,
        duration_hours: sc.duration_hours,
        warmup_hours: sc.warmup_hours,
        events,
        stale_answers,
        tenants: reports,
        total: total.finish("(all)".into(), sum(extra), def),
        occupancy,
        series,
        escalation,
    }
}

fn sum(extra: &[Extra]) -> Extra {
    extra.iter().fold(Extra::default(), |a, x| Extra {
        contained: a.contained + x.contained,
        refused: a.refused + x.refused,
        offline: a.offline + x.offline,
        callbacks: a.callbacks + x.callbacks,
        held_back: a.held_back + x.held_back,
    })
}

fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |v| format!("{:.1}%", v * 100.0))
}
fn secs(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |v| format!("{v:.1}"))
}

impl SimReport {
    /// A readable table: one line per tenant, the total, occupancy, and the guarantee breaches.
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "scenario {:?}, seed {}, {} h simulated ({} h warm-up excluded), {} events",
            self.name, self.seed, self.duration_hours, self.warmup_hours, self.events
        );
        let _ = writeln!(
            s,
            "service level = answered within each request's SLA target, definition: {}",
            self.definition
        );
        let _ = writeln!(
            s,
            "{:<16} {:>9} {:>8} {:>8} {:>8} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>7} {:>9}",
            "tenant",
            "convers.",
            "AI-only",
            "contain",
            "escal.",
            "human",
            "answered",
            "SL",
            "abandon",
            "ASA s",
            "p90 s",
            "CSAT",
            "convert"
        );
        for t in self.tenants.iter().chain(std::iter::once(&self.total)) {
            let conv = if t.outreach > 0 {
                format!("{}/{}", t.converted, t.outreach)
            } else {
                "-".into()
            };
            let _ = writeln!(
                s,
                "{:<16} {:>9} {:>8} {:>8} {:>8} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>7} {:>9}",
                t.tenant,
                t.conversations,
                t.contained,
                pct(t.containment),
                pct(t.escalation_rate),
                t.offered,
                t.answered,
                pct(t.service_level),
                pct(t.abandon_rate),
                secs(t.asa_secs),
                secs(t.wait_p90_secs),
                pct(t.csat),
                conv
            );
        }
        let _ = writeln!(
            s,
            "agent occupancy (busy slots / capacity x staffed time): mean {:.1}%, min {:.1}%, max {:.1}%",
            self.occupancy[0] * 100.0,
            self.occupancy[1] * 100.0,
            self.occupancy[2] * 100.0
        );
        let rows = self.tenants.iter().chain(std::iter::once(&self.total));
        if rows
            .clone()
            .any(|t| t.refused + t.offline + t.callbacks + t.held_back > 0)
        {
            let _ = writeln!(
                s,
                "{:<16} {:>9} {:>9} {:>9} {:>9}",
                "tenant", "refused", "offline", "callback", "held back"
            );
            for t in rows {
                let _ = writeln!(
                    s,
                    "{:<16} {:>9} {:>9} {:>9} {:>9}",
                    t.tenant, t.refused, t.offline, t.callbacks, t.held_back
                );
            }
            let _ = writeln!(
                s,
                "(refused: asked for a human, kept by the bot; offline: escalated to a call back or ticket; callback: withdrawn from the queue by a workflow rule; held back: soft escalations deferred by load)"
            );
        }
        if let Some(m) = &self.escalation {
            let _ = writeln!(
                s,
                "escalation engine: {} hard and {} soft escalations, {} held back by load, {} clarifications, {} priority raises while pending",
                m.hard_escalations, m.soft_escalations, m.held_back, m.clarifications, m.raised
            );
        }
        for t in &self.tenants {
            for b in &t.breaches {
                let when = b.interval_start.map_or_else(String::new, |t| {
                    format!(" at {:.2} h", t.as_secs_f64() / 3600.0)
                });
                let _ = writeln!(
                    s,
                    "BREACH {}{}: {} ({} tasks)",
                    t.tenant,
                    when,
                    b.what,
                    b.tasks.len()
                );
            }
        }
        s
    }
}
